//! The one table of work-factor limits: what a stored password hash may ask of the
//! verifier, whichever way it arrives (an import's complete hash string, a hash the
//! importer writes from a mapping's parameters, the CLI's import) and again at every
//! verification, so a hash admitted once is never refused later and a hash refused at
//! import never runs.
//!
//! Each stored hash is a [`Work`]; [`Work::cost_ns`] models what one verification costs
//! for a password of a given length, in nanoseconds as measured on the reference
//! machine (a shared 2-core AMD EPYC VM, release build, under load: the `NS_*` table).
//! A hash is admitted when verifying a password of [`ADMIT_PASSWORD_BYTES`] costs at
//! most [`MAX_COST_NS`] (about 1 s; default argon2id costs about 27 ms in the same
//! model), and it needs no more memory than [`MAX_MEMORY_BYTES`]. Only md5-crypt,
//! sha-crypt and the first digest of a salted digest grow with the password: sha-crypt
//! hashes the password twice per round and the password's own length times at the
//! start (rounds × (2L + salt + digest) + L² bytes). At verification a password is
//! also bounded: none longer than [`MAX_PASSWORD_BYTES`] reaches a verifier, nor one
//! whose cost against its hash would pass [`MAX_COST_NS`]; such a login fails as a
//! wrong password would, at the cost of one argon2id hash.
//!
//! What this admits, e.g.: bcrypt cost ≤ 14; sha512-crypt ≤ 1,300,000 rounds
//! (passlib's 656,000 verify passwords up to ~590 bytes, 5,000 rounds any password);
//! sha256-crypt ≤ 1,850,000 rounds; PBKDF2 ≤ 1,500,000 iterations, and iterations ×
//! output blocks within the budget (SHA-512: ~3,300,000); scrypt and argon2 up to
//! 256 MiB, scrypt memory × p ≤ ~475 MiB, argon2 memory × passes ≤ ~1.4 GiB;
//! salted digests ≤ 1,500,000 iterations.
//!
//! The parameter ranges an import mapping may name ([`MAX_ITERATIONS`] …
//! [`MAX_COST_FACTOR`]) are the ones of Pangea's schema (spec pangea-authn.md §6.2);
//! the dialect and the core's mapping check read them here.

use argon2::Params;

use super::{DigestAlg, MAX_LEN};

/// The most one verification may cost in the model: about 1 s here.
pub const MAX_COST_NS: u64 = 1_000_000_000;
/// Every admitted hash verifies a password this long (256 ASCII characters, the
/// policy's maximum) within [`MAX_COST_NS`].
pub const ADMIT_PASSWORD_BYTES: usize = MAX_LEN;
/// No verifier is given a longer password (NFKC-normalised bytes): 256 characters of
/// at most 4 bytes each, the longest the policy lets anyone set.
pub const MAX_PASSWORD_BYTES: usize = 4 * MAX_LEN;
/// Most memory one verification may use (argon2 `m`, scrypt 128·r·N).
pub const MAX_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// Longest stored string looked at; anything longer is refused unparsed.
pub const MAX_STORED_LEN: usize = 1024;

/// Most iterations: PBKDF2, salted digests, and a mapping's `iterations` (Pangea's bound).
pub const MAX_ITERATIONS: u32 = 1_500_000;
/// Most argon2 memory a mapping may name, KiB (Pangea's bound).
pub const MAX_MEMORY_KIB: u32 = 65_536;
/// Most argon2/scrypt parallelism a mapping may name (Pangea's bound).
pub const MAX_PARALLELISM: u32 = 4;
/// Largest scrypt block size `r` a mapping may name (Pangea's bound).
pub const MAX_BLOCK_SIZE: u32 = 8;
/// Longest `key_length` a mapping may name.
pub const MAX_KEY_LENGTH: u32 = 1024;
/// Largest scrypt `cost_factor` (N) a mapping may name.
pub const MAX_COST_FACTOR: u64 = 1 << 40;
/// argon2 passes and lanes of a stored hash.
pub const ARGON2_MAX_T: u32 = 16;
pub const ARGON2_MAX_P: u32 = 16;
/// Firebase's own ranges for `rounds` and `mem_cost` (a mapping's).
pub const FIREBASE_MAX_ROUNDS: u32 = 8;
pub const FIREBASE_MAX_MEM_COST: u32 = 14;
/// Longest Firebase signer key, bytes (Firebase's are 64).
pub const FIREBASE_MAX_KEY_LEN: usize = 256;

// The model, in nanoseconds per unit of work (measured; see the module doc).
/// One compression of each digest (a 1-block digest call, overhead included).
const NS_MD5: u64 = 100;
const NS_SHA1: u64 = 60;
const NS_SHA256: u64 = 60;
const NS_SHA512: u64 = 150;
/// bcrypt, per 2^cost: cost 10 took 50 ms, 14 took 805 ms.
const NS_BCRYPT: u64 = 50_000;
/// scrypt, per byte of 128·r·N·p: 256 MiB took 495 ms.
const NS_SCRYPT_BYTE: u64 = 2;
/// argon2, per KiB of memory and pass: 256 MiB × 4 passes took 680 ms.
const NS_ARGON2_KIB_PASS: u64 = 700;

/// The work one verification of a stored hash does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// argon2 (any variant): memory KiB, passes, lanes.
    Argon2 { m_kib: u32, t: u32, p: u32 },
    /// bcrypt: 2^cost rounds of the key schedule (reads at most 72 bytes).
    Bcrypt { cost: u32 },
    /// scrypt (and Firebase's): N = 2^log_n.
    Scrypt { log_n: u32, r: u32, p: u32 },
    /// PBKDF2-HMAC: iterations per output block of `key_len` bytes.
    Pbkdf2 {
        digest: DigestAlg,
        iterations: u32,
        key_len: usize,
    },
    /// `H(salt‖password)` then `iterations - 1` more digests.
    Digest {
        digest: DigestAlg,
        iterations: u32,
        salt_len: usize,
    },
    /// md5-crypt: 1000 rounds over the password.
    Md5Crypt { salt_len: usize },
    /// sha256-crypt or sha512-crypt.
    ShaCrypt {
        sha512: bool,
        rounds: u32,
        salt_len: usize,
    },
}

/// Why a [`Work`] is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excess {
    /// Needs more memory than [`MAX_MEMORY_BYTES`].
    Memory,
    /// A parameter past its range (argon2 passes or lanes, iterations).
    Parameter,
    /// Would cost more than [`MAX_COST_NS`].
    Cost,
}

impl std::fmt::Display for Excess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Memory => "needs more memory than allowed",
            Self::Parameter => "has a work factor out of range",
            Self::Cost => "is costlier to verify than allowed",
        })
    }
}

/// Bytes hashed in blocks of `block`, with the final padding of `pad` bytes.
fn blocks(bytes: u64, block: u64, pad: u64) -> u64 {
    (bytes + pad).div_ceil(block)
}

impl DigestAlg {
    /// Block size in bytes, finalisation padding in bytes, model cost of one block.
    fn model(self) -> (u64, u64, u64) {
        match self {
            Self::Md5 => (64, 9, NS_MD5),
            Self::Sha1 => (64, 9, NS_SHA1),
            Self::Sha256 => (64, 9, NS_SHA256),
            Self::Sha512 => (128, 17, NS_SHA512),
        }
    }
}

impl Work {
    /// Model cost, ns, of verifying a password of `password_len` bytes; saturates.
    pub fn cost_ns(&self, password_len: usize) -> u64 {
        let l = password_len as u64;
        let cost: u128 = match *self {
            Self::Argon2 { m_kib, t, .. } => {
                u128::from(m_kib) * u128::from(t) * u128::from(NS_ARGON2_KIB_PASS)
            }
            Self::Bcrypt { cost } => {
                let rounds = 1u128.checked_shl(cost).unwrap_or(u128::MAX);
                rounds.saturating_mul(u128::from(NS_BCRYPT))
            }
            Self::Scrypt { log_n, r, p } => {
                let n = 1u128.checked_shl(log_n).unwrap_or(u128::MAX);
                n.saturating_mul(128 * u128::from(r) * u128::from(p))
                    .saturating_mul(u128::from(NS_SCRYPT_BYTE))
            }
            Self::Pbkdf2 {
                digest,
                iterations,
                key_len,
            } => {
                let (_, _, ns) = digest.model();
                let out_blocks = (key_len as u64).div_ceil(digest.size() as u64).max(1);
                // Two compressions per HMAC; the keyed states are set up once.
                u128::from(iterations) * u128::from(out_blocks) * 2 * u128::from(ns)
            }
            Self::Digest {
                digest,
                iterations,
                salt_len,
            } => {
                let (block, pad, ns) = digest.model();
                let first = blocks(salt_len as u64 + l, block, pad);
                let rest = u64::from(iterations.saturating_sub(1))
                    * blocks(digest.size() as u64, block, pad);
                u128::from(first + rest) * u128::from(ns)
            }
            Self::Md5Crypt { salt_len } => {
                let (block, pad, ns) = DigestAlg::Md5.model();
                let round = blocks(16 + salt_len as u64 + 2 * l, block, pad);
                u128::from(1000 * round + blocks(4 * l + 64, block, pad)) * u128::from(ns)
            }
            Self::ShaCrypt {
                sha512,
                rounds,
                salt_len,
            } => {
                let digest = if sha512 {
                    DigestAlg::Sha512
                } else {
                    DigestAlg::Sha256
                };
                let (block, pad, ns) = digest.model();
                let size = digest.size() as u64;
                // Each round: the last digest, the salt, the password twice.
                let round = blocks(size + salt_len as u64 + 2 * l, block, pad);
                // The start: digests over the password (once per byte of it: L²) and
                // the salt (up to 271 times).
                let start = blocks(l * l + 4 * l + 271 * salt_len as u64, block, pad) + 8;
                (u128::from(rounds) * u128::from(round) + u128::from(start)) * u128::from(ns)
            }
        };
        u64::try_from(cost).unwrap_or(u64::MAX)
    }

    /// Memory one verification needs, bytes.
    fn memory(&self) -> u64 {
        match *self {
            Self::Argon2 { m_kib, .. } => u64::from(m_kib) * 1024,
            Self::Scrypt { log_n, r, .. } => 1u64
                .checked_shl(log_n)
                .and_then(|n| n.checked_mul(128 * u64::from(r)))
                .unwrap_or(u64::MAX),
            _ => 0,
        }
    }

    /// Checks the work against the table: memory, parameter ranges, and the cost of
    /// verifying a password of [`ADMIT_PASSWORD_BYTES`].
    pub fn check(&self) -> Result<(), Excess> {
        self.check_within(&Limits::IMPORT)
    }

    pub(super) fn check_within(&self, limits: &Limits) -> Result<(), Excess> {
        if let Self::Argon2 { m_kib, t, p } = *self {
            if limits
                .current
                .is_some_and(|(cm, ct, cp)| m_kib <= cm && t <= ct && p <= cp)
            {
                return Ok(());
            }
            if t > ARGON2_MAX_T || p > ARGON2_MAX_P {
                return Err(Excess::Parameter);
            }
        }
        if let Self::Pbkdf2 { iterations, .. } | Self::Digest { iterations, .. } = *self {
            if iterations > MAX_ITERATIONS {
                return Err(Excess::Parameter);
            }
        }
        if self.memory() > MAX_MEMORY_BYTES {
            return Err(Excess::Memory);
        }
        if self.cost_ns(ADMIT_PASSWORD_BYTES) > MAX_COST_NS {
            return Err(Excess::Cost);
        }
        Ok(())
    }

    /// Whether a password of `password_len` bytes may be given to this (admitted)
    /// hash's verifier: not past [`MAX_PASSWORD_BYTES`], nor past the cost bound.
    pub(super) fn takes_password(&self, password_len: usize, limits: &Limits) -> bool {
        password_len <= MAX_PASSWORD_BYTES
            && self.cost_ns(password_len) <= MAX_COST_NS.max(limits.floor_ns)
    }
}

/// [`Work::check`]'s table, optionally widened to admit the configured argon2id
/// parameters (whatever they cost).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// argon2 hashes no costlier than these (m KiB, t, p) in every parameter pass.
    current: Option<(u32, u32, u32)>,
    /// The model cost of one argon2id hash with the configured parameters.
    pub(super) floor_ns: u64,
}

impl Limits {
    /// The table as it is, for hashes from elsewhere.
    pub(super) const IMPORT: Self = Self {
        current: None,
        floor_ns: 0,
    };

    /// [`Self::IMPORT`], and hashes made with `current` (or cheaper argon2) always pass.
    pub(super) fn admitting(current: &Params) -> Self {
        let work = Work::Argon2 {
            m_kib: current.m_cost(),
            t: current.t_cost(),
            p: current.p_cost(),
        };
        Self {
            current: Some((current.m_cost(), current.t_cost(), current.p_cost())),
            floor_ns: work.cost_ns(0),
        }
    }
}
