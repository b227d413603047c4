//! Key-derivation hashes: argon2 (what aegis writes), bcrypt, scrypt and PBKDF2 in its
//! Django, passlib and PHC forms. Each parser checks the work factors against the
//! bounds in [`super::format`] before anything is computed.

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::format::{
    ct_eq, decimal, params, DigestAlg, HashFormat, Pbkdf2Encoding, Refusal, B64, BCRYPT_B64,
};
use super::limits::{Limits, Work};

/// An argon2 PHC string.
pub(in crate::password) struct Argon2Hash {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Argon2Hash {
    pub(super) fn format(&self) -> HashFormat {
        match self.algorithm {
            Algorithm::Argon2d => HashFormat::Argon2d,
            Algorithm::Argon2i => HashFormat::Argon2i,
            Algorithm::Argon2id => HashFormat::Argon2id,
        }
    }

    pub(super) fn work(&self) -> Work {
        Work::Argon2 {
            m_kib: self.params.m_cost(),
            t: self.params.t_cost(),
            p: self.params.p_cost(),
        }
    }

    pub(super) fn verify(&self, password: &[u8], scratch: &mut super::Scratch) -> bool {
        let mut out = vec![0u8; self.hash.len()];
        let argon2 = Argon2::new(self.algorithm, self.version, self.params.clone());
        scratch
            .with(self.params.block_count(), |blocks| {
                argon2.hash_password_into_with_memory(password, &self.salt, &mut out, blocks)
            })
            .is_ok()
            && ct_eq(&out, &self.hash)
    }

    pub(super) fn is_current(&self, current: &Params) -> bool {
        self.algorithm == Algorithm::Argon2id
            && self.version == Version::V0x13
            && self.params.m_cost() == current.m_cost()
            && self.params.t_cost() == current.t_cost()
            && self.params.p_cost() == current.p_cost()
    }
}

pub(super) fn parse_argon2(stored: &str, limits: &Limits) -> Result<Argon2Hash, Refusal> {
    let format = if stored.starts_with("$argon2id$") {
        HashFormat::Argon2id
    } else if stored.starts_with("$argon2i$") {
        HashFormat::Argon2i
    } else {
        HashFormat::Argon2d
    };
    let bad = Refusal::Malformed(format);
    let phc = PasswordHash::new(stored).map_err(|_| bad)?;
    let algorithm = Algorithm::try_from(phc.algorithm).map_err(|_| bad)?;
    // The reference implementation reads a missing `v=` as 0x10 (the argon2 crate
    // would assume 0x13).
    let version = Version::try_from(phc.version.unwrap_or(0x10)).map_err(|_| bad)?;
    let params = Params::try_from(&phc).map_err(|_| bad)?;
    let (Some(salt), Some(hash)) = (phc.salt, phc.hash) else {
        return Err(bad);
    };
    let mut buf = [0u8; 64];
    let salt = salt.decode_b64(&mut buf).map_err(|_| bad)?.to_vec();
    let parsed = Argon2Hash {
        algorithm,
        version,
        params,
        salt,
        hash: hash.as_bytes().to_vec(),
    };
    parsed
        .work()
        .check_within(limits)
        .map_err(|_| Refusal::TooCostly(format))?;
    Ok(parsed)
}

/// A bcrypt hash: `$2b$NN$` then 22 characters of salt and 31 of hash.
pub(in crate::password) struct BcryptHash {
    cost: u32,
    salt: [u8; 16],
    hash: Vec<u8>,
}

impl BcryptHash {
    pub(super) fn work(&self) -> Work {
        Work::Bcrypt { cost: self.cost }
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        // hash_with_salt reads at most 72 bytes, as every bcrypt that made these did.
        let Ok(parts) = bcrypt::hash_with_salt(password, self.cost, self.salt) else {
            return false;
        };
        let text = parts.format_for_version(bcrypt::Version::TwoB);
        let ours = text
            .get(text.len().saturating_sub(31)..)
            .and_then(|h| BCRYPT_B64.decode(h).ok());
        ours.is_some_and(|h| ct_eq(&h, &self.hash))
    }
}

/// `body` is what follows `$2b$`.
pub(super) fn parse_bcrypt(body: &str) -> Result<BcryptHash, Refusal> {
    let bad = Refusal::Malformed(HashFormat::Bcrypt);
    let (cost, rest) = body.split_once('$').ok_or(bad)?;
    if cost.len() != 2 || rest.len() != 53 || !rest.is_ascii() {
        return Err(bad);
    }
    let cost = decimal(cost).ok_or(bad)?;
    let salt: [u8; 16] = BCRYPT_B64
        .decode(&rest[..22])
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(bad)?;
    let hash = BCRYPT_B64.decode(&rest[22..]).map_err(|_| bad)?;
    if cost < 4 || hash.len() != 23 {
        return Err(bad);
    }
    let parsed = BcryptHash { cost, salt, hash };
    parsed
        .work()
        .check()
        .map_err(|_| Refusal::TooCostly(HashFormat::Bcrypt))?;
    Ok(parsed)
}

/// An scrypt PHC string (`$scrypt$ln=…,r=…,p=…$salt$hash`).
pub(in crate::password) struct ScryptHash {
    params: scrypt::Params,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl ScryptHash {
    pub(super) fn work(&self) -> Work {
        scrypt_work(&self.params)
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        let mut out = vec![0u8; self.hash.len()];
        scrypt::scrypt(password, &self.salt, &self.params, &mut out).is_ok()
            && ct_eq(&out, &self.hash)
    }
}

pub(super) fn parse_scrypt(body: &str) -> Result<ScryptHash, Refusal> {
    let format = HashFormat::Scrypt;
    let bad = Refusal::Malformed(format);
    let [text, salt, hash] = phc_fields(body).ok_or(bad)?;
    let [ln, r, p] = params(text, ["ln", "r", "p"]).ok_or(bad)?;
    let (ln, r, p) = match (
        ln.and_then(decimal),
        r.and_then(decimal),
        p.and_then(decimal),
    ) {
        (Some(ln), Some(r), Some(p)) if (1..64).contains(&ln) && r > 0 && p > 0 => (ln, r, p),
        _ => return Err(bad),
    };
    scrypt_cost_check(format, ln, r, p)?;
    let salt = B64.decode(salt).map_err(|_| bad)?;
    let hash = B64.decode(hash).map_err(|_| bad)?;
    // ln < 64 was checked above.
    let ln = u8::try_from(ln).map_err(|_| bad)?;
    let params = scrypt::Params::new(ln, r, p, hash.len()).map_err(|_| bad)?;
    Ok(ScryptHash { params, salt, hash })
}

/// Refuses scrypt parameters past the [`super::limits`], before anything is computed.
pub(super) fn scrypt_cost_check(
    format: HashFormat,
    ln: u32,
    r: u32,
    p: u32,
) -> Result<(), Refusal> {
    Work::Scrypt { log_n: ln, r, p }
        .check()
        .map_err(|_| Refusal::TooCostly(format))
}

/// The work of verifying with these scrypt parameters.
pub(super) fn scrypt_work(params: &scrypt::Params) -> Work {
    Work::Scrypt {
        log_n: u32::from(params.log_n()),
        r: params.r(),
        p: params.p(),
    }
}

/// PBKDF2-HMAC in any of its three forms.
pub(in crate::password) struct Pbkdf2Hash {
    digest: DigestAlg,
    encoding: Pbkdf2Encoding,
    rounds: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Pbkdf2Hash {
    pub(super) fn format(&self) -> HashFormat {
        HashFormat::Pbkdf2 {
            digest: self.digest,
            encoding: self.encoding,
        }
    }

    pub(super) fn work(&self) -> Work {
        Work::Pbkdf2 {
            digest: self.digest,
            iterations: self.rounds,
            key_len: self.hash.len(),
        }
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        let mut out = vec![0u8; self.hash.len()];
        let (pw, salt, rounds) = (password, self.salt.as_slice(), self.rounds);
        match self.digest {
            DigestAlg::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(pw, salt, rounds, &mut out),
            DigestAlg::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(pw, salt, rounds, &mut out),
            DigestAlg::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(pw, salt, rounds, &mut out),
            DigestAlg::Md5 => return false,
        }
        ct_eq(&out, &self.hash)
    }

    /// Output between 10 and 128 bytes, at least one round, work within the limits.
    fn checked(self) -> Result<Self, Refusal> {
        if self.rounds == 0 || !(10..=128).contains(&self.hash.len()) {
            return Err(Refusal::Malformed(self.format()));
        }
        self.work()
            .check()
            .map_err(|_| Refusal::TooCostly(self.format()))?;
        Ok(self)
    }
}

/// `$pbkdf2-<digest>$` then passlib's `iter$ab64 salt$ab64 hash` or PHC's
/// `i=iter[,l=len]$salt$hash`; `body` follows the identifier.
pub(super) fn parse_pbkdf2(digest: DigestAlg, body: &str) -> Result<Pbkdf2Hash, Refusal> {
    let passlib = body.split('$').next().and_then(decimal).is_some();
    let encoding = if passlib {
        Pbkdf2Encoding::Passlib
    } else {
        Pbkdf2Encoding::Phc
    };
    let bad = Refusal::Malformed(HashFormat::Pbkdf2 { digest, encoding });
    let [text, salt, hash] = phc_fields(body).ok_or(bad)?;
    let (rounds, salt, hash) = if passlib {
        // passlib's "ab64": standard base64 with `.` for `+`, unpadded.
        let ab64 = |s: &str| B64.decode(s.replace('.', "+")).map_err(|_| bad);
        (decimal(text).ok_or(bad)?, ab64(salt)?, ab64(hash)?)
    } else {
        let [i, l] = params(text, ["i", "l"]).ok_or(bad)?;
        let hash = B64.decode(hash).map_err(|_| bad)?;
        if l.is_some_and(|l| decimal(l).and_then(|l| usize::try_from(l).ok()) != Some(hash.len())) {
            return Err(bad);
        }
        let salt = B64.decode(salt).map_err(|_| bad)?;
        (i.and_then(decimal).ok_or(bad)?, salt, hash)
    };
    Pbkdf2Hash {
        digest,
        encoding,
        rounds,
        salt,
        hash,
    }
    .checked()
}

/// Django's `pbkdf2_sha256$iter$salt$base64 hash`; `body` follows `pbkdf2_sha256$`.
/// The salt is used as the text it is.
pub(super) fn parse_pbkdf2_django(digest: DigestAlg, body: &str) -> Result<Pbkdf2Hash, Refusal> {
    let encoding = Pbkdf2Encoding::Django;
    let bad = Refusal::Malformed(HashFormat::Pbkdf2 { digest, encoding });
    let [rounds, salt, hash] = phc_fields(body).ok_or(bad)?;
    Pbkdf2Hash {
        digest,
        encoding,
        rounds: decimal(rounds).ok_or(bad)?,
        salt: salt.as_bytes().to_vec(),
        hash: B64.decode(hash).map_err(|_| bad)?,
    }
    .checked()
}

/// Exactly three `$`-separated fields: parameters, salt, hash.
pub(super) fn phc_fields(body: &str) -> Option<[&str; 3]> {
    let mut it = body.split('$');
    let fields = [it.next()?, it.next()?, it.next()?];
    it.next().is_none().then_some(fields)
}
