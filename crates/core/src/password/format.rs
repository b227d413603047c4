//! Stored password hash formats: recognising a stored string, parsing its parameters
//! within the work-factor bounds, and dispatching to the verifier for its family.
//!
//! Imported users keep the hash their old system made; it verifies as it is and is
//! replaced by an argon2id hash on the next successful login. The accepted text forms:
//!
//! | format | text form |
//! |---|---|
//! | argon2id/i/d | `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>` (PHC; `v=` absent means 16) |
//! | bcrypt | `$2a$NN$…`, `$2b$NN$…`, `$2y$NN$…` (22 salt + 31 hash characters) |
//! | scrypt | `$scrypt$ln=…,r=…,p=…$<salt>$<hash>` (PHC; passlib writes the same) |
//! | PBKDF2, Django | `pbkdf2_sha256$<iter>$<salt>$<base64 hash>`, `pbkdf2_sha1$…` |
//! | PBKDF2, passlib | `$pbkdf2-sha256$<iter>$<ab64 salt>$<ab64 hash>`, `$pbkdf2-sha512$…`, `$pbkdf2$…` (sha1) |
//! | PBKDF2, PHC | `$pbkdf2-sha256$i=<iter>[,l=<len>]$<salt>$<hash>`, `$pbkdf2-sha512$…`, `$pbkdf2$…` (sha1) |
//! | salted digest | `$aegis-digest$alg=<md5\|sha1\|sha256\|sha512>,iter=<N>,order=<salt-first\|password-first>$<salt>$<hash>` |
//! | Django legacy | `sha1$<salt>$<hex>`, `md5$<salt>$<hex>` (an empty salt is Django's unsalted form) |
//! | md5-crypt | `$1$<salt>$<hash>` |
//! | sha-crypt | `$5$[rounds=N$]<salt>$<hash>`, `$6$[rounds=N$]<salt>$<hash>` |
//! | Firebase scrypt | `$firebase-scrypt$rounds=<r>,mem_cost=<m>$<signer key>$<salt separator>$<salt>$<hash>` |
//!
//! `<salt>`/`<hash>` are standard base64 without padding (PHC), except: passlib's "ab64"
//! (`.` for `+`), Django's padded base64 hash and raw-text salt, the crypt alphabet of
//! bcrypt/md5-crypt/sha-crypt, and Firebase's four fields, which are standard base64
//! exactly as the Firebase console and `auth:export` print them (padding optional).
//! `aegis-digest` computes `d1 = H(salt‖password)` (salt-first) or `H(password‖salt)`
//! (password-first), then `d(k+1) = H(dk)` on the raw digest; the stored hash is `dN`.
//! Firebase scrypt follows github.com/firebase/scrypt: `scrypt(password, salt‖separator,
//! N = 2^mem_cost, r = rounds, p = 1)` keys AES-256-CTR (zero IV) to encrypt the signer key.
//!
//! So that a hostile import cannot stall the hasher, each family's parameters are
//! checked against the one table of [`super::limits`] before any work.

use std::fmt;

use argon2::Params;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use subtle::ConstantTimeEq as _;

pub(super) use super::limits::Limits;
use super::limits::{Work, MAX_STORED_LEN};
use super::{digest, firebase, kdf};

/// Standard base64, padding optional (PHC strings omit it; Firebase and Django keep it).
pub(super) const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// bcrypt's alphabet; the unused low bits of the last character are ignored, as
/// OpenBSD's implementation does.
pub(super) const BCRYPT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::BCRYPT,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// A digest used by PBKDF2 or a plain salted digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DigestAlg {
    /// MD5 (plain digests only).
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl DigestAlg {
    /// The lowercase name used in the text forms (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }
}

/// How a PBKDF2 hash is written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pbkdf2Encoding {
    /// Django: `pbkdf2_sha256$iter$salt$base64`.
    Django,
    /// passlib: `$pbkdf2-sha256$iter$ab64 salt$ab64 hash`.
    Passlib,
    /// PHC string: `$pbkdf2-sha256$i=iter,l=len$salt$hash`.
    Phc,
}

/// The format of a stored password hash, as recognised by [`describe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashFormat {
    /// `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`: the format aegis writes.
    Argon2id,
    /// `$argon2i$…` (PHC).
    Argon2i,
    /// `$argon2d$…` (PHC).
    Argon2d,
    /// `$2a$NN$…`, `$2b$NN$…` or `$2y$NN$…` (22 salt and 31 hash characters).
    Bcrypt,
    /// `$scrypt$ln=…,r=…,p=…$<salt>$<hash>` (PHC; passlib writes the same).
    Scrypt,
    /// PBKDF2-HMAC-SHA1/256/512: `pbkdf2_sha256$<iter>$<salt>$<hash>` (Django),
    /// `$pbkdf2-sha256$<iter>$<salt>$<hash>` (passlib) or
    /// `$pbkdf2-sha256$i=<iter>[,l=<len>]$<salt>$<hash>` (PHC); SHA-1 is
    /// `pbkdf2_sha1$` (Django) or `$pbkdf2$` (passlib, PHC).
    Pbkdf2 {
        /// The HMAC digest.
        digest: DigestAlg,
        /// The text form.
        encoding: Pbkdf2Encoding,
    },
    /// aegis's salted, iterated digest:
    /// `$aegis-digest$alg=<md5|sha1|sha256|sha512>,iter=<N>,order=<salt-first|password-first>$<salt>$<hash>`.
    AegisDigest(DigestAlg),
    /// Django's legacy salted digest, `sha1$<salt>$<hex>` or `md5$<salt>$<hex>`.
    DjangoDigest(DigestAlg),
    /// md5-crypt, `$1$<salt>$<hash>`.
    Md5Crypt,
    /// sha256-crypt, `$5$[rounds=N$]<salt>$<hash>`.
    Sha256Crypt,
    /// sha512-crypt, `$6$[rounds=N$]<salt>$<hash>`.
    Sha512Crypt,
    /// Firebase's modified scrypt:
    /// `$firebase-scrypt$rounds=<r>,mem_cost=<m>$<signer key>$<salt separator>$<salt>$<hash>`.
    FirebaseScrypt,
}

/// Stable names (`bcrypt`, `django-pbkdf2-sha256`, `aegis-digest-md5`, …) for logs and reports.
impl fmt::Display for HashFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Argon2id => f.write_str("argon2id"),
            Self::Argon2i => f.write_str("argon2i"),
            Self::Argon2d => f.write_str("argon2d"),
            Self::Bcrypt => f.write_str("bcrypt"),
            Self::Scrypt => f.write_str("scrypt"),
            Self::Pbkdf2 { digest, encoding } => {
                let enc = match encoding {
                    Pbkdf2Encoding::Django => "django",
                    Pbkdf2Encoding::Passlib => "passlib",
                    Pbkdf2Encoding::Phc => "phc",
                };
                write!(f, "{enc}-pbkdf2-{}", digest.name())
            }
            Self::AegisDigest(d) => write!(f, "aegis-digest-{}", d.name()),
            Self::DjangoDigest(d) => write!(f, "django-{}", d.name()),
            Self::Md5Crypt => f.write_str("md5-crypt"),
            Self::Sha256Crypt => f.write_str("sha256-crypt"),
            Self::Sha512Crypt => f.write_str("sha512-crypt"),
            Self::FirebaseScrypt => f.write_str("firebase-scrypt"),
        }
    }
}

/// Recognises a stored hash and checks that it parses and that its work factors are
/// within the bounds, without verifying anything: an importer's check. `None` for any
/// string [`Hasher::verify`](super::Hasher::verify) would refuse (argon2 is held to the
/// import bounds here, even where the configured parameters are higher).
pub fn describe(stored: &str) -> Option<HashFormat> {
    admit(stored).ok()
}

/// [`describe`], saying why a string is refused.
pub fn admit(stored: &str) -> Result<HashFormat, Refusal> {
    parse(stored, &Limits::IMPORT).map(|h| h.format())
}

/// Why a stored string is not verified. Never carries the string itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No supported format starts like this.
    Unknown,
    /// Looks like this format but does not parse.
    Malformed(HashFormat),
    /// Parses, but asks for more work or memory than the [`super::limits`] allow.
    TooCostly(HashFormat),
}

impl Refusal {
    pub(super) fn log(self) {
        match self {
            Self::Unknown => tracing::warn!("stored password hash is in no supported format"),
            Self::Malformed(f) => tracing::warn!(format = %f, "stored password hash is malformed"),
            Self::TooCostly(f) => {
                tracing::warn!(format = %f, "stored password hash exceeds the work-factor bounds")
            }
        }
    }
}

/// A parsed stored hash, ready to verify.
pub(super) enum Parsed<'a> {
    Argon2(kdf::Argon2Hash),
    Bcrypt(kdf::BcryptHash),
    Scrypt(kdf::ScryptHash),
    Pbkdf2(kdf::Pbkdf2Hash),
    Digest(digest::SaltedDigest),
    Md5Crypt(digest::Md5Crypt<'a>),
    ShaCrypt(digest::ShaCrypt<'a>),
    Firebase(firebase::FirebaseHash),
}

impl Parsed<'_> {
    pub(super) fn format(&self) -> HashFormat {
        match self {
            Self::Argon2(h) => h.format(),
            Self::Bcrypt(_) => HashFormat::Bcrypt,
            Self::Scrypt(_) => HashFormat::Scrypt,
            Self::Pbkdf2(h) => h.format(),
            Self::Digest(h) => h.format(),
            Self::Md5Crypt(_) => HashFormat::Md5Crypt,
            Self::ShaCrypt(h) => h.format(),
            Self::Firebase(_) => HashFormat::FirebaseScrypt,
        }
    }

    /// The work a verification does (see [`super::limits`]).
    pub(super) fn work(&self) -> Work {
        match self {
            Self::Argon2(h) => h.work(),
            Self::Bcrypt(h) => h.work(),
            Self::Scrypt(h) => h.work(),
            Self::Pbkdf2(h) => h.work(),
            Self::Digest(h) => h.work(),
            Self::Md5Crypt(h) => h.work(),
            Self::ShaCrypt(h) => h.work(),
            Self::Firebase(h) => h.work(),
        }
    }

    /// Whether `password` matches. Does the (bounded) work; compares in constant time.
    pub(super) fn verify(&self, password: &[u8], scratch: &mut super::Scratch) -> bool {
        match self {
            Self::Argon2(h) => h.verify(password, scratch),
            Self::Bcrypt(h) => h.verify(password),
            Self::Scrypt(h) => h.verify(password),
            Self::Pbkdf2(h) => h.verify(password),
            Self::Digest(h) => h.verify(password),
            Self::Md5Crypt(h) => h.verify(password),
            Self::ShaCrypt(h) => h.verify(password),
            Self::Firebase(h) => h.verify(password),
        }
    }

    /// argon2id, version 0x13, with exactly `current`'s costs: no rehash needed.
    pub(super) fn is_current(&self, current: &Params) -> bool {
        match self {
            Self::Argon2(h) => h.is_current(current),
            _ => false,
        }
    }
}

/// Recognises `stored` by its prefix and parses it.
pub(super) fn parse<'a>(stored: &'a str, limits: &Limits) -> Result<Parsed<'a>, Refusal> {
    if stored.len() > MAX_STORED_LEN {
        return Err(Refusal::Unknown);
    }
    let Some(rest) = stored.strip_prefix('$') else {
        // The Django forms have no leading `$`.
        let (ident, rest) = stored.split_once('$').ok_or(Refusal::Unknown)?;
        return match ident {
            "pbkdf2_sha256" => {
                kdf::parse_pbkdf2_django(DigestAlg::Sha256, rest).map(Parsed::Pbkdf2)
            }
            "pbkdf2_sha1" => kdf::parse_pbkdf2_django(DigestAlg::Sha1, rest).map(Parsed::Pbkdf2),
            "sha1" => digest::parse_django(DigestAlg::Sha1, rest).map(Parsed::Digest),
            "md5" => digest::parse_django(DigestAlg::Md5, rest).map(Parsed::Digest),
            _ => Err(Refusal::Unknown),
        };
    };
    let (ident, body) = rest.split_once('$').ok_or(Refusal::Unknown)?;
    match ident {
        "argon2id" | "argon2i" | "argon2d" => kdf::parse_argon2(stored, limits).map(Parsed::Argon2),
        "2a" | "2b" | "2y" => kdf::parse_bcrypt(body).map(Parsed::Bcrypt),
        "scrypt" => kdf::parse_scrypt(body).map(Parsed::Scrypt),
        "pbkdf2" => kdf::parse_pbkdf2(DigestAlg::Sha1, body).map(Parsed::Pbkdf2),
        "pbkdf2-sha256" => kdf::parse_pbkdf2(DigestAlg::Sha256, body).map(Parsed::Pbkdf2),
        "pbkdf2-sha512" => kdf::parse_pbkdf2(DigestAlg::Sha512, body).map(Parsed::Pbkdf2),
        "aegis-digest" => digest::parse_aegis(body).map(Parsed::Digest),
        "1" => digest::parse_md5_crypt(body).map(Parsed::Md5Crypt),
        "5" => digest::parse_sha_crypt(HashFormat::Sha256Crypt, body).map(Parsed::ShaCrypt),
        "6" => digest::parse_sha_crypt(HashFormat::Sha512Crypt, body).map(Parsed::ShaCrypt),
        "firebase-scrypt" => firebase::parse(body).map(Parsed::Firebase),
        _ => Err(Refusal::Unknown),
    }
}

/// Constant-time equality (lengths are not secret).
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Parses `k=v,k=v` parameters into the values of `keys`, in that order; every key
/// at most once, no others. Absent keys are `None`.
pub(super) fn params<'a, const N: usize>(
    text: &'a str,
    keys: [&str; N],
) -> Option<[Option<&'a str>; N]> {
    let mut out = [None; N];
    for pair in text.split(',') {
        let (k, v) = pair.split_once('=')?;
        let i = keys.iter().position(|key| *key == k)?;
        if out[i].replace(v).is_some() {
            return None;
        }
    }
    Some(out)
}

/// A decimal number without sign or leading `+` (`u32::from_str` accepts `+5`).
pub(super) fn decimal(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
