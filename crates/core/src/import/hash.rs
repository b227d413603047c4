//! Password cells of an import: turning a value written by another system (and its
//! hash parameters) into a stored text form that [`crate::password`] verifies.
//!
//! The value formats per algorithm are those of spec pangea-authn.md §6.2 ("Hash value
//! formats"). Complete stored forms (bcrypt, PHC, passlib, Django, crypt) are kept as
//! they are; raw hashes are written into the text form [`crate::password::describe`]
//! documents for their family, with the parameters of the mapping. Raw-form salts are
//! text whose UTF-8 bytes are the salt, except Firebase's, which are base64 as Firebase
//! exports them. Reasons never carry a value: they end up in row reports.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::mapping::{HashAlgorithm, HashParams, SaltOrder};
use crate::password::limits::{
    Excess, Work, ARGON2_MAX_T, FIREBASE_MAX_KEY_LEN, FIREBASE_MAX_MEM_COST, FIREBASE_MAX_ROUNDS,
    MAX_BLOCK_SIZE, MAX_ITERATIONS, MAX_KEY_LENGTH, MAX_MEMORY_KIB, MAX_PARALLELISM,
};
use crate::password::{admit, DigestAlg, HashFormat, Refusal};

/// argon2 needs 8 salt bytes; a PHC salt field holds at most 64 characters (48 bytes).
const ARGON2_SALT_LEN: std::ops::RangeInclusive<usize> = 8..=48;
const ARGON2_SALT_REASON: &str = "the salt must be 8 to 48 bytes for ARGON2";

/// scrypt defaults for a raw hash when the mapping names none (N, r, p).
const SCRYPT_DEFAULT_N: u64 = 16_384;
const SCRYPT_DEFAULT_R: u32 = 8;
const SCRYPT_DEFAULT_P: u32 = 1;

/// Standard base64: written without padding (PHC), read with or without it.
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl HashAlgorithm {
    /// The digest of a plain salted digest algorithm.
    fn digest(self) -> Option<DigestAlg> {
        match self {
            Self::Md5 => Some(DigestAlg::Md5),
            Self::Sha1 => Some(DigestAlg::Sha1),
            Self::Sha256 => Some(DigestAlg::Sha256),
            Self::Sha512 => Some(DigestAlg::Sha512),
            _ => None,
        }
    }

    /// Whether the algorithm reads this parameter (the [`HashParams`] field name).
    fn reads(self, param: &str) -> bool {
        let reads: &[&str] = match self {
            Self::Md5 | Self::Sha1 | Self::Sha256 | Self::Sha512 => {
                &["iterations", "salt", "salt_order"]
            }
            Self::Argon2 => &["iterations", "salt", "key_length", "memory", "parallelism"],
            Self::Scrypt => &[
                "salt",
                "key_length",
                "parallelism",
                "block_size",
                "cost_factor",
            ],
            Self::Pbkdf2 => &["iterations", "salt", "key_length", "digest_algorithm"],
            Self::FirebaseScrypt => &[
                "iterations",
                "salt",
                "memory",
                "salt_separator",
                "signer_key",
            ],
            Self::Bcrypt | Self::Auto => &[],
        };
        reads.contains(&param)
    }
}

/// Checks hash parameters against their bounds (the reason is safe to show).
///
/// Besides Pangea's bounds, a parameter that the algorithm does not use is refused (it
/// would be silently ignored, a sign of a wrong algorithm), and so are values the
/// verifier could never accept, so that a bad mapping fails before any row does.
pub fn check_params(params: &HashParams) -> Result<(), String> {
    use HashAlgorithm as A;
    let alg = params.algorithm;
    let given = [
        ("iterations", params.iterations.is_some()),
        ("salt", params.salt.is_some()),
        ("salt_order", params.salt_order.is_some()),
        ("key_length", params.key_length.is_some()),
        ("digest_algorithm", params.digest_algorithm.is_some()),
        ("memory", params.memory.is_some()),
        ("parallelism", params.parallelism.is_some()),
        ("block_size", params.block_size.is_some()),
        ("cost_factor", params.cost_factor.is_some()),
        ("salt_separator", params.salt_separator.is_some()),
        ("signer_key", params.signer_key.is_some()),
    ];
    if let Some((name, _)) = given
        .iter()
        .find(|(name, given)| *given && !alg.reads(name))
    {
        return Err(format!("{name} does not apply to {}", alg.name()));
    }
    in_range("iterations", params.iterations, 1, MAX_ITERATIONS)?;
    in_range("memory", params.memory, 1, MAX_MEMORY_KIB)?;
    in_range("parallelism", params.parallelism, 1, MAX_PARALLELISM)?;
    in_range("block_size", params.block_size, 1, MAX_BLOCK_SIZE)?;
    in_range("key_length", params.key_length, 1, MAX_KEY_LENGTH)?;
    if params
        .cost_factor
        .is_some_and(|n| n < 2 || !n.is_power_of_two())
    {
        return Err("cost_factor must be a power of two of at least 2".into());
    }
    if alg.digest().is_some()
        && non_empty(params.salt.as_deref()).is_some()
        && params.salt_order.is_none()
    {
        return Err("salt_order is required with a salt".into());
    }
    match alg {
        A::Argon2 => check_argon2(params)?,
        A::Scrypt => check_scrypt(params)?,
        A::Pbkdf2 => check_pbkdf2(params)?,
        A::FirebaseScrypt => check_firebase(params)?,
        _ => {}
    }
    // The work a raw hash written with these parameters asks for, against the same
    // table the verifier applies to every stored hash.
    match work(params) {
        Some(w) => w.check().map_err(|e| match e {
            Excess::Memory => "the parameters need more memory than allowed".to_owned(),
            _ => format!("the parameters make a hash that {e}"),
        }),
        None => Ok(()),
    }
}

/// The verifier's work for a raw hash with these parameters, where they fix it.
fn work(params: &HashParams) -> Option<Work> {
    use HashAlgorithm as A;
    Some(match params.algorithm {
        A::Argon2 => Work::Argon2 {
            m_kib: params.memory?,
            t: params.iterations?,
            p: params.parallelism.unwrap_or(1),
        },
        A::Scrypt => Work::Scrypt {
            log_n: params
                .cost_factor
                .unwrap_or(SCRYPT_DEFAULT_N)
                .trailing_zeros(),
            r: params.block_size.unwrap_or(SCRYPT_DEFAULT_R),
            p: params.parallelism.unwrap_or(SCRYPT_DEFAULT_P),
        },
        A::FirebaseScrypt => Work::Scrypt {
            log_n: params.memory?,
            r: params.iterations?,
            p: 1,
        },
        A::Pbkdf2 => {
            let digest = params.digest_algorithm.unwrap_or(DigestAlg::Sha256);
            Work::Pbkdf2 {
                digest,
                iterations: params.iterations.unwrap_or(1),
                key_len: params
                    .key_length
                    .map_or(digest_size(digest) as usize, |l| l as usize),
            }
        }
        A::Md5 | A::Sha1 | A::Sha256 | A::Sha512 => Work::Digest {
            digest: params.algorithm.digest()?,
            iterations: params.iterations.unwrap_or(1),
            salt_len: params.salt.as_deref().map_or(0, str::len),
        },
        A::Bcrypt | A::Auto => return None,
    })
}

fn in_range(name: &str, value: Option<u32>, min: u32, max: u32) -> Result<(), String> {
    match value {
        Some(v) if !(min..=max).contains(&v) => {
            Err(format!("{name} must be between {min} and {max}"))
        }
        _ => Ok(()),
    }
}

fn check_argon2(params: &HashParams) -> Result<(), String> {
    if params.iterations.is_some_and(|t| t > ARGON2_MAX_T) {
        return Err(format!(
            "iterations must be at most {ARGON2_MAX_T} for ARGON2"
        ));
    }
    let p = params.parallelism.unwrap_or(1);
    if params.memory.is_some_and(|m| m < 8 * p) {
        return Err("memory must be at least 8 KiB per lane of parallelism".into());
    }
    if params.key_length.is_some_and(|l| !(10..=64).contains(&l)) {
        return Err("key_length must be between 10 and 64 for ARGON2".into());
    }
    if non_empty(params.salt.as_deref()).is_some_and(|s| !ARGON2_SALT_LEN.contains(&s.len())) {
        return Err(ARGON2_SALT_REASON.into());
    }
    Ok(())
}

fn check_scrypt(params: &HashParams) -> Result<(), String> {
    let n = params.cost_factor.unwrap_or(SCRYPT_DEFAULT_N);
    let r = params.block_size.unwrap_or(SCRYPT_DEFAULT_R);
    let p = params.parallelism.unwrap_or(SCRYPT_DEFAULT_P);
    // scrypt itself needs N < 2^(16·r).
    if n.trailing_zeros() >= 16 * r {
        return Err("cost_factor is too large for block_size".into());
    }
    let memory = Work::Scrypt {
        log_n: n.trailing_zeros(),
        r,
        p,
    }
    .check();
    if memory == Err(Excess::Memory) {
        return Err("cost_factor and block_size need more memory than allowed".into());
    }
    if params.key_length.is_some_and(|l| !(10..=64).contains(&l)) {
        return Err("key_length must be between 10 and 64 for SCRYPT".into());
    }
    Ok(())
}

fn check_pbkdf2(params: &HashParams) -> Result<(), String> {
    let digest = params.digest_algorithm.unwrap_or(DigestAlg::Sha256);
    if digest == DigestAlg::Md5 {
        return Err("digest_algorithm must be SHA1, SHA256 or SHA512".into());
    }
    if let Some(len) = params.key_length {
        if !(10..=128).contains(&len) {
            return Err("key_length must be between 10 and 128 for PBKDF2".into());
        }
        let work = Work::Pbkdf2 {
            digest,
            iterations: params.iterations.unwrap_or(1),
            key_len: len as usize,
        };
        if work.check().is_err() {
            return Err("iterations are too many for this key_length".into());
        }
    }
    Ok(())
}

fn check_firebase(params: &HashParams) -> Result<(), String> {
    let key = params
        .signer_key
        .as_deref()
        .ok_or("signer_key is required for FIREBASE-SCRYPT")?;
    let key = B64
        .decode(key)
        .map_err(|_| "signer_key is not valid base64")?;
    if key.is_empty() || key.len() > FIREBASE_MAX_KEY_LEN {
        return Err(format!(
            "signer_key must be 1 to {FIREBASE_MAX_KEY_LEN} bytes"
        ));
    }
    let separator = params
        .salt_separator
        .as_deref()
        .ok_or("salt_separator is required for FIREBASE-SCRYPT")?;
    B64.decode(separator)
        .map_err(|_| "salt_separator is not valid base64")?;
    match params.iterations {
        Some(r) if (1..=FIREBASE_MAX_ROUNDS).contains(&r) => {}
        _ => {
            return Err(format!(
                "iterations (rounds) between 1 and {FIREBASE_MAX_ROUNDS} are required for FIREBASE-SCRYPT"
            ))
        }
    }
    match params.memory {
        Some(m) if (1..=FIREBASE_MAX_MEM_COST).contains(&m) => {}
        _ => {
            return Err(format!(
                "memory (mem_cost) between 1 and {FIREBASE_MAX_MEM_COST} is required for FIREBASE-SCRYPT"
            ))
        }
    }
    if let Some(salt) = non_empty(params.salt.as_deref()) {
        B64.decode(salt).map_err(|_| "salt is not valid base64")?;
    }
    Ok(())
}

/// The stored form of a password cell; `row_salt` is the row's `password_salt`
/// cell when that column is mapped. The reason never carries the value.
pub fn stored_form(
    params: &HashParams,
    value: &str,
    row_salt: Option<&str>,
) -> Result<String, String> {
    use HashAlgorithm as A;
    let alg = params.algorithm;
    // An empty salt cell is an absent one (spec §6.2); the row's wins over the mapping's.
    let salt = non_empty(row_salt).or_else(|| non_empty(params.salt.as_deref()));
    let stored = match alg {
        A::Bcrypt => keep(alg, value, |f| f == HashFormat::Bcrypt)?,
        A::Auto => keep(alg, value, |_| true)?,
        A::Argon2 if value.starts_with("$argon2") => keep(alg, value, |f| {
            matches!(
                f,
                HashFormat::Argon2id | HashFormat::Argon2i | HashFormat::Argon2d
            )
        })?,
        A::Argon2 => raw_argon2(params, value, salt)?,
        A::Scrypt if value.starts_with("$scrypt$") => {
            keep(alg, value, |f| f == HashFormat::Scrypt)?
        }
        A::Scrypt => raw_scrypt(params, value, salt)?,
        A::Pbkdf2 if value.starts_with("$pbkdf2") || value.starts_with("pbkdf2_") => {
            keep(alg, value, |f| matches!(f, HashFormat::Pbkdf2 { .. }))?
        }
        A::Pbkdf2 => raw_pbkdf2(params, value, salt)?,
        A::Md5 | A::Sha1 | A::Sha256 | A::Sha512 => raw_digest(params, value, salt)?,
        A::FirebaseScrypt => firebase(params, value, salt)?,
    };
    // Every form written here must be one the verifier takes.
    match admit(&stored) {
        Ok(_) => Ok(stored),
        Err(Refusal::TooCostly(_)) => Err(TOO_COSTLY.into()),
        Err(_) => Err(invalid(alg)),
    }
}

/// A hash past the work-factor limits (the same the verifier applies).
const TOO_COSTLY: &str = "the hash's work factor is over the limits";

fn invalid(alg: HashAlgorithm) -> String {
    match alg {
        HashAlgorithm::Auto => "not a password hash in a supported format".into(),
        _ => format!("not a valid {} hash", alg.name()),
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// A complete stored form, kept when the verifier recognises it as `wanted`.
fn keep(
    alg: HashAlgorithm,
    value: &str,
    wanted: impl Fn(HashFormat) -> bool,
) -> Result<String, String> {
    match admit(value) {
        Ok(f) if wanted(f) => Ok(value.to_owned()),
        Err(Refusal::TooCostly(f)) if wanted(f) => Err(TOO_COSTLY.into()),
        _ => Err(invalid(alg)),
    }
}

fn required<T>(value: Option<T>, what: &str, alg: HashAlgorithm) -> Result<T, String> {
    value.ok_or_else(|| format!("{what} is required for a raw {} hash", alg.name()))
}

/// A base64 hash, with or without padding, of `key_length` bytes when that is given.
fn decode_b64(params: &HashParams, value: &str) -> Result<Vec<u8>, String> {
    let hash = B64
        .decode(value)
        .map_err(|_| "not valid base64".to_owned())?;
    check_length(params, &hash)?;
    Ok(hash)
}

fn check_length(params: &HashParams, hash: &[u8]) -> Result<(), String> {
    match params.key_length {
        Some(l) if usize::try_from(l).ok() != Some(hash.len()) => {
            Err("hash length does not match key_length".into())
        }
        _ => Ok(()),
    }
}

/// `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>` from a raw base64 hash.
fn raw_argon2(params: &HashParams, value: &str, salt: Option<&str>) -> Result<String, String> {
    let alg = HashAlgorithm::Argon2;
    let salt = required(salt, "a salt", alg)?;
    let m = required(params.memory, "memory", alg)?;
    let t = required(params.iterations, "iterations", alg)?;
    // libsodium's crypto_pwhash, a common source of raw argon2 hashes, always uses one lane.
    let p = params.parallelism.unwrap_or(1);
    if !ARGON2_SALT_LEN.contains(&salt.len()) {
        return Err(ARGON2_SALT_REASON.into());
    }
    let hash = decode_b64(params, value)?;
    if !(10..=64).contains(&hash.len()) {
        return Err("the hash must be 10 to 64 bytes for ARGON2".into());
    }
    Ok(format!(
        "$argon2id$v=19$m={m},t={t},p={p}${}${}",
        B64.encode(salt),
        B64.encode(hash)
    ))
}

/// `$scrypt$ln=…,r=…,p=…$<salt>$<hash>` from a raw base64 hash.
fn raw_scrypt(params: &HashParams, value: &str, salt: Option<&str>) -> Result<String, String> {
    let salt = required(salt, "a salt", HashAlgorithm::Scrypt)?;
    let n = params.cost_factor.unwrap_or(SCRYPT_DEFAULT_N);
    if n < 2 || !n.is_power_of_two() {
        return Err("cost_factor must be a power of two of at least 2".into());
    }
    let r = params.block_size.unwrap_or(SCRYPT_DEFAULT_R);
    let p = params.parallelism.unwrap_or(SCRYPT_DEFAULT_P);
    let hash = decode_b64(params, value)?;
    if !(10..=64).contains(&hash.len()) {
        return Err("the hash must be 10 to 64 bytes for SCRYPT".into());
    }
    Ok(format!(
        "$scrypt$ln={},r={r},p={p}${}${}",
        n.trailing_zeros(),
        B64.encode(salt),
        B64.encode(hash)
    ))
}

/// `$pbkdf2-sha256$i=…,l=…$<salt>$<hash>` from a raw hex or base64 hash.
fn raw_pbkdf2(params: &HashParams, value: &str, salt: Option<&str>) -> Result<String, String> {
    let alg = HashAlgorithm::Pbkdf2;
    let salt = required(salt, "a salt", alg)?;
    let iterations = required(params.iterations, "iterations", alg)?;
    let ident = match params.digest_algorithm.unwrap_or(DigestAlg::Sha256) {
        DigestAlg::Sha1 => "pbkdf2",
        DigestAlg::Sha256 => "pbkdf2-sha256",
        DigestAlg::Sha512 => "pbkdf2-sha512",
        DigestAlg::Md5 => return Err("digest_algorithm must be SHA1, SHA256 or SHA512".into()),
    };
    // Hex when it reads as hex (of `key_length` bytes, when that is given), else base64:
    // a real base64 hash of hex characters only, and of the right length, is vanishingly rare.
    let hex = decode_hex(value).filter(|h| {
        params
            .key_length
            .is_none_or(|l| usize::try_from(l).ok() == Some(h.len()))
    });
    let hash = match hex {
        Some(h) => h,
        None => B64
            .decode(value)
            .map_err(|_| "not valid hex or base64".to_owned())?,
    };
    check_length(params, &hash)?;
    if !(10..=128).contains(&hash.len()) {
        return Err("the hash must be 10 to 128 bytes for PBKDF2".into());
    }
    Ok(format!(
        "${ident}$i={iterations},l={}${}${}",
        hash.len(),
        B64.encode(salt),
        B64.encode(hash)
    ))
}

/// `$aegis-digest$alg=…,iter=…,order=…$<salt>$<hash>` from a hex digest.
fn raw_digest(params: &HashParams, value: &str, salt: Option<&str>) -> Result<String, String> {
    let alg = params.algorithm;
    let digest = alg.digest().ok_or_else(|| invalid(alg))?;
    let hash = decode_hex(value)
        .filter(|h| h.len() == digest_size(digest) as usize)
        .ok_or_else(|| format!("not a hex {} digest", alg.name()))?;
    let order = match (salt, params.salt_order) {
        (Some(_), None) => return Err("salt_order is required with a salt".into()),
        // Unsalted: the order does not matter.
        (None, _) | (Some(_), Some(SaltOrder::Prefix)) => "salt-first",
        (Some(_), Some(SaltOrder::Suffix)) => "password-first",
    };
    let iter = params.iterations.unwrap_or(1);
    Ok(format!(
        "$aegis-digest$alg={},iter={iter},order={order}${}${}",
        digest.name(),
        B64.encode(salt.unwrap_or_default()),
        B64.encode(hash)
    ))
}

/// `$firebase-scrypt$rounds=…,mem_cost=…$<signer key>$<separator>$<salt>$<hash>`; the
/// four fields stay the base64 text Firebase printed, once checked.
fn firebase(params: &HashParams, value: &str, salt: Option<&str>) -> Result<String, String> {
    let alg = HashAlgorithm::FirebaseScrypt;
    let key = required(params.signer_key.as_deref(), "signer_key", alg)?;
    let separator = required(params.salt_separator.as_deref(), "salt_separator", alg)?;
    let salt = required(salt, "a salt", alg)?;
    let rounds = required(params.iterations, "iterations", alg)?;
    let mem_cost = required(params.memory, "memory", alg)?;
    let key_len = B64
        .decode(key)
        .map_err(|_| "signer_key is not valid base64".to_owned())?
        .len();
    B64.decode(separator)
        .map_err(|_| "salt_separator is not valid base64".to_owned())?;
    B64.decode(salt)
        .map_err(|_| "the salt is not valid base64".to_owned())?;
    let hash = B64
        .decode(value)
        .map_err(|_| "not valid base64".to_owned())?;
    if hash.len() != key_len {
        return Err("the hash is not as long as the signer key".into());
    }
    Ok(format!(
        "$firebase-scrypt$rounds={rounds},mem_cost={mem_cost}${key}${separator}${salt}${value}"
    ))
}

fn digest_size(d: DigestAlg) -> u64 {
    match d {
        DigestAlg::Md5 => 16,
        DigestAlg::Sha1 => 20,
        DigestAlg::Sha256 => 32,
        DigestAlg::Sha512 => 64,
    }
}

/// Hex of either case; `None` unless every character is a hex digit and they pair up.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let pairs = text.as_bytes().chunks_exact(2);
    if text.is_empty() || !pairs.remainder().is_empty() {
        return None;
    }
    let nibble = |b: u8| char::from(b).to_digit(16);
    pairs
        .map(|p| u8::try_from(nibble(p[0])? << 4 | nibble(p[1])?).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde::Deserialize;

    use super::*;
    use crate::config::Argon2Config;
    use crate::password::{describe, Hasher, Password};

    /// tests/vectors/import-hashes.json, written by scripts/gen-import-vectors.py from
    /// reference implementations (pyca bcrypt, argon2-cffi, hashlib/OpenSSL, passlib,
    /// firebase/scrypt's published sample).
    #[derive(Deserialize)]
    struct Vectors {
        vectors: Vec<Vector>,
    }

    #[derive(Deserialize)]
    struct Vector {
        source: String,
        password: String,
        value: String,
        params: HashParams,
        row_salt: Option<String>,
    }

    fn vectors() -> Vec<Vector> {
        let text = include_str!("../../tests/vectors/import-hashes.json");
        serde_json::from_str::<Vectors>(text).unwrap().vectors
    }

    fn hasher() -> Hasher {
        Hasher::new(&Argon2Config {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
            workers: 2,
            queue: 64,
        })
        .unwrap()
    }

    async fn verifies(h: &Hasher, password: &str, stored: &str) -> bool {
        h.verify(&Password::new(password), Some(stored))
            .await
            .unwrap()
            .ok
    }

    fn params(algorithm: HashAlgorithm) -> HashParams {
        HashParams::new(algorithm)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn reference_vectors_verify() {
        let h = hasher();
        let mut algorithms = HashSet::new();
        for v in vectors() {
            let what = format!("{:?} ({})", v.params.algorithm, v.source);
            algorithms.insert(v.params.algorithm);
            // The passwords must survive aegis's NFKC normalisation unchanged.
            assert_eq!(Password::new(&v.password).expose(), v.password, "{what}");
            check_params(&v.params).unwrap_or_else(|e| panic!("{what}: {e}"));
            let stored = stored_form(&v.params, &v.value, v.row_salt.as_deref())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(describe(&stored).is_some(), "{what}");
            assert!(verifies(&h, &v.password, &stored).await, "{what}");
            let wrong = format!("{}!", v.password);
            assert!(
                !verifies(&h, &wrong, &stored).await,
                "{what}: wrong password"
            );
        }
        assert_eq!(algorithms.len(), 10, "every algorithm has a vector");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_salt_and_its_order_matter() {
        let h = hasher();
        for v in vectors() {
            let Some(salt) = v.row_salt.as_deref() else {
                continue;
            };
            let what = format!("{:?} ({})", v.params.algorithm, v.source);
            let other = format!("{salt}x");
            if let Ok(stored) = stored_form(&v.params, &v.value, Some(&other)) {
                assert!(
                    !verifies(&h, &v.password, &stored).await,
                    "{what}: other salt"
                );
            }
            if let Some(order) = v.params.salt_order {
                let mut flipped = v.params.clone();
                flipped.salt_order = Some(match order {
                    SaltOrder::Prefix => SaltOrder::Suffix,
                    SaltOrder::Suffix => SaltOrder::Prefix,
                });
                let stored = stored_form(&flipped, &v.value, Some(salt)).unwrap();
                assert!(
                    !verifies(&h, &v.password, &stored).await,
                    "{what}: other order"
                );
            }
        }
    }

    #[test]
    fn forms_are_the_documented_ones() {
        // tests/vectors/hashes.json holds `$aegis-digest$…$$<b64>` for hashlib's unsalted
        // SHA-256 of "correct horse battery staple"; this is that digest in hex.
        let hex = "c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a";
        assert_eq!(
            stored_form(&params(HashAlgorithm::Sha256), hex, None).unwrap(),
            "$aegis-digest$alg=sha256,iter=1,order=salt-first$$xLvLH77JnWW/WdhcjLYu4tuWPw/hBvSD2a+nO9Tjmoo"
        );
        assert_eq!(
            stored_form(&params(HashAlgorithm::Sha256), &hex.to_uppercase(), None).unwrap(),
            stored_form(&params(HashAlgorithm::Sha256), hex, None).unwrap(),
        );
        // firebase/scrypt README.md's sample, split into its parameters, gives exactly the
        // stored string tests/vectors/hashes.json checks against the verifier.
        let mut fb = params(HashAlgorithm::FirebaseScrypt);
        fb.signer_key = Some("jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==".into());
        fb.salt_separator = Some("Bw==".into());
        fb.iterations = Some(8);
        fb.memory = Some(14);
        let hash = "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==";
        assert_eq!(
            stored_form(&fb, hash, Some("42xEC+ixf3L2lw==")).unwrap(),
            "$firebase-scrypt$rounds=8,mem_cost=14$jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$Bw==$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
        );
        // The mapping's salt when the row has none (an empty cell is none).
        fb.salt = Some("42xEC+ixf3L2lw==".into());
        assert!(stored_form(&fb, hash, Some("")).is_ok());

        let mut a = params(HashAlgorithm::Argon2);
        (a.memory, a.iterations, a.salt) = (Some(256), Some(2), Some("saltsalt".into()));
        let raw = B64.encode([7u8; 16]);
        assert_eq!(
            stored_form(&a, &raw, None).unwrap(),
            format!("$argon2id$v=19$m=256,t=2,p=1$c2FsdHNhbHQ${raw}")
        );
        let mut s = params(HashAlgorithm::Scrypt);
        s.salt = Some("saltsalt".into());
        assert_eq!(
            stored_form(&s, &raw, None).unwrap(),
            format!("$scrypt$ln=14,r=8,p=1$c2FsdHNhbHQ${raw}")
        );
        let mut p = params(HashAlgorithm::Pbkdf2);
        (p.iterations, p.salt) = (Some(1000), Some("saltsalt".into()));
        p.digest_algorithm = Some(DigestAlg::Sha1);
        assert_eq!(
            stored_form(&p, &"07".repeat(16), None).unwrap(),
            format!("$pbkdf2$i=1000,l=16$c2FsdHNhbHQ${raw}")
        );
        p.digest_algorithm = Some(DigestAlg::Sha512);
        assert!(stored_form(&p, &raw, None)
            .unwrap()
            .starts_with("$pbkdf2-sha512$i=1000,l=16$"));
        let mut d = params(HashAlgorithm::Md5);
        (d.salt, d.salt_order, d.iterations) = (Some("s".into()), Some(SaltOrder::Suffix), Some(3));
        assert_eq!(
            stored_form(&d, &"07".repeat(16), None).unwrap(),
            format!("$aegis-digest$alg=md5,iter=3,order=password-first$cw${raw}")
        );
    }

    #[test]
    fn bad_values_have_safe_reasons() {
        let secret = "S3CRET-VALUE-4242";
        let mut raw_argon2 = params(HashAlgorithm::Argon2);
        (raw_argon2.memory, raw_argon2.iterations) = (Some(256), Some(2));
        let mut digest = params(HashAlgorithm::Sha1);
        digest.salt_order = Some(SaltOrder::Prefix);
        let mut fb = params(HashAlgorithm::FirebaseScrypt);
        fb.signer_key = Some(B64.encode([1u8; 64]));
        fb.salt_separator = Some("Bw==".into());
        (fb.iterations, fb.memory) = (Some(8), Some(14));
        let cases: Vec<(HashParams, String, Option<&str>, &str)> = vec![
            (
                params(HashAlgorithm::Bcrypt),
                secret.into(),
                None,
                "not a valid BCRYPT hash",
            ),
            // bcrypt past the verifier's cost bound.
            (
                params(HashAlgorithm::Bcrypt),
                "$2b$17$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6".into(),
                None,
                "the hash's work factor is over the limits",
            ),
            // A valid bcrypt string is not an argon2 one.
            (
                params(HashAlgorithm::Argon2),
                "$argon2id$v=19$m=256,t=1,p=1$garbage".into(),
                None,
                "not a valid ARGON2 hash",
            ),
            (
                params(HashAlgorithm::Auto),
                secret.into(),
                None,
                "not a password hash in a supported format",
            ),
            (
                raw_argon2.clone(),
                B64.encode([1u8; 32]),
                None,
                "a salt is required for a raw ARGON2 hash",
            ),
            (
                raw_argon2.clone(),
                B64.encode([1u8; 32]),
                Some("short"),
                "the salt must be 8 to 48 bytes for ARGON2",
            ),
            (
                raw_argon2.clone(),
                format!("{secret}$"),
                Some("saltsalt"),
                "not valid base64",
            ),
            (
                params(HashAlgorithm::Argon2),
                B64.encode([1u8; 32]),
                Some("saltsalt"),
                "memory is required for a raw ARGON2 hash",
            ),
            (
                params(HashAlgorithm::Pbkdf2),
                "ab".repeat(32),
                Some("saltsalt"),
                "iterations is required for a raw PBKDF2 hash",
            ),
            (
                params(HashAlgorithm::Md5),
                secret.into(),
                None,
                "not a hex MD5 digest",
            ),
            (
                params(HashAlgorithm::Md5),
                "ab".repeat(20),
                None,
                "not a hex MD5 digest",
            ),
            (
                params(HashAlgorithm::Sha1),
                "ab".repeat(20),
                Some(secret),
                "salt_order is required with a salt",
            ),
            (digest.clone(), "ab".repeat(20), Some(secret), ""),
            (
                fb.clone(),
                B64.encode([1u8; 64]),
                None,
                "a salt is required for a raw FIREBASE-SCRYPT hash",
            ),
            (
                fb.clone(),
                B64.encode([1u8; 64]),
                Some(secret),
                "the salt is not valid base64",
            ),
            (
                fb.clone(),
                B64.encode([1u8; 32]),
                Some("Bw=="),
                "the hash is not as long as the signer key",
            ),
        ];
        for (p, value, salt, want) in cases {
            let got = stored_form(&p, &value, salt);
            if want.is_empty() {
                assert!(got.is_ok(), "{:?}: {got:?}", p.algorithm);
                continue;
            }
            let reason = got.unwrap_err();
            assert_eq!(reason, want, "{:?}", p.algorithm);
            assert!(!reason.contains(secret) && !reason.contains(&value));
        }
        let mut kl = raw_argon2;
        kl.key_length = Some(16);
        assert_eq!(
            stored_form(&kl, &B64.encode([1u8; 32]), Some("saltsalt")).unwrap_err(),
            "hash length does not match key_length"
        );
    }

    #[test]
    fn params_are_bounded() {
        let with = |alg, f: fn(&mut HashParams)| {
            let mut p = params(alg);
            f(&mut p);
            check_params(&p)
        };
        use HashAlgorithm as A;
        for alg in [A::Bcrypt, A::Auto, A::Md5, A::Argon2, A::Scrypt, A::Pbkdf2] {
            assert_eq!(with(alg, |_| {}), Ok(()), "{alg:?}");
        }
        let err = |r: Result<(), String>| r.unwrap_err();
        assert_eq!(
            err(with(A::Pbkdf2, |p| p.iterations = Some(1_500_001))),
            "iterations must be between 1 and 1500000"
        );
        assert_eq!(with(A::Pbkdf2, |p| p.iterations = Some(1_500_000)), Ok(()));
        assert_eq!(
            err(with(A::Md5, |p| p.iterations = Some(0))),
            "iterations must be between 1 and 1500000"
        );
        assert_eq!(
            err(with(A::Argon2, |p| p.memory = Some(65_537))),
            "memory must be between 1 and 65536"
        );
        assert_eq!(with(A::Argon2, |p| p.memory = Some(65_536)), Ok(()));
        assert_eq!(
            err(with(A::Argon2, |p| p.parallelism = Some(5))),
            "parallelism must be between 1 and 4"
        );
        assert_eq!(
            err(with(A::Argon2, |p| (p.memory, p.parallelism) =
                (Some(16), Some(4)))),
            "memory must be at least 8 KiB per lane of parallelism"
        );
        assert_eq!(
            err(with(A::Argon2, |p| p.iterations = Some(17))),
            "iterations must be at most 16 for ARGON2"
        );
        assert_eq!(
            err(with(A::Argon2, |p| p.salt = Some("short".into()))),
            "the salt must be 8 to 48 bytes for ARGON2"
        );
        assert_eq!(
            err(with(A::Scrypt, |p| p.block_size = Some(9))),
            "block_size must be between 1 and 8"
        );
        assert_eq!(
            err(with(A::Scrypt, |p| p.cost_factor = Some(1000))),
            "cost_factor must be a power of two of at least 2"
        );
        assert_eq!(
            err(with(A::Scrypt, |p| p.cost_factor = Some(1))),
            "cost_factor must be a power of two of at least 2"
        );
        assert_eq!(
            err(with(A::Scrypt, |p| p.cost_factor = Some(1 << 19))),
            "cost_factor and block_size need more memory than allowed"
        );
        assert_eq!(
            err(with(A::Scrypt, |p| (p.cost_factor, p.block_size) =
                (Some(1 << 16), Some(1)))),
            "cost_factor is too large for block_size"
        );
        assert_eq!(
            err(with(A::Pbkdf2, |p| p.key_length = Some(1025))),
            "key_length must be between 1 and 1024"
        );
        assert_eq!(
            err(with(A::Pbkdf2, |p| p.key_length = Some(129))),
            "key_length must be between 10 and 128 for PBKDF2"
        );
        assert_eq!(
            err(with(A::Pbkdf2, |p| {
                p.digest_algorithm = Some(DigestAlg::Sha1);
                (p.iterations, p.key_length) = (Some(1_500_000), Some(128));
            })),
            "iterations are too many for this key_length"
        );
        assert_eq!(
            err(with(A::Pbkdf2, |p| p.digest_algorithm = Some(DigestAlg::Md5))),
            "digest_algorithm must be SHA1, SHA256 or SHA512"
        );
        assert_eq!(
            err(with(A::Argon2, |p| p.digest_algorithm = Some(DigestAlg::Sha256))),
            "digest_algorithm does not apply to ARGON2"
        );
        assert_eq!(
            err(with(A::Bcrypt, |p| p.salt_order = Some(SaltOrder::Prefix))),
            "salt_order does not apply to BCRYPT"
        );
        assert_eq!(
            err(with(A::Sha256, |p| p.salt = Some("pepper".into()))),
            "salt_order is required with a salt"
        );
        assert_eq!(
            with(A::Sha256, |p| (p.salt, p.salt_order) =
                (Some("pepper".into()), Some(SaltOrder::Prefix))),
            Ok(())
        );
    }

    /// Complete strings are held to the verifier's table, whichever algorithm names them.
    #[test]
    fn complete_hashes_past_the_limits_are_refused() {
        use HashAlgorithm as A;
        let too_costly = "the hash's work factor is over the limits";
        let pbkdf2 = |i: u32| format!("$pbkdf2-sha512$i={i}$c2FsdHNhbHQ${}", B64.encode([7u8; 64]));
        let sha512_crypt = |r: u32| format!("$6$rounds={r}$saltsalt${}", "a".repeat(86));
        let bcrypt =
            |c: u32| format!("$2b${c}$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6");
        let cases = [
            (A::Pbkdf2, pbkdf2(1_000_000), true),
            (A::Auto, pbkdf2(1_500_000), true),
            // The issue's: Pangea's `iterations` stop at 1,500,000, so do complete strings.
            (A::Pbkdf2, pbkdf2(10_000_000), false),
            (A::Auto, pbkdf2(1_500_001), false),
            (A::Auto, sha512_crypt(5000), true),
            (A::Auto, sha512_crypt(656_000), true),
            (A::Auto, sha512_crypt(1_400_000), false),
            (A::Auto, sha512_crypt(10_000_000), false),
            (A::Bcrypt, bcrypt(14), true),
            (A::Bcrypt, bcrypt(15), false),
            (
                A::Auto,
                "$argon2id$v=19$m=262144,t=6,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
                false,
            ),
            (
                A::Scrypt,
                "$scrypt$ln=18,r=8,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA".into(),
                false,
            ),
        ];
        for (alg, value, ok) in cases {
            let got = stored_form(&params(alg), &value, None);
            if ok {
                assert_eq!(got, Ok(value), "{alg:?}");
            } else {
                assert_eq!(got.unwrap_err(), too_costly, "{alg:?} {value}");
            }
        }
    }

    /// Parameters given as mapping fields meet the same table, before any row.
    #[test]
    fn mapping_params_meet_the_verifier_limits() {
        use HashAlgorithm as A;
        let mut p = params(A::Scrypt);
        // 256 MiB of memory is allowed, twice over (p = 2) costs more than a verification may.
        (p.cost_factor, p.block_size, p.parallelism) = (Some(1 << 18), Some(8), Some(1));
        assert_eq!(check_params(&p), Ok(()));
        p.parallelism = Some(2);
        assert_eq!(
            check_params(&p).unwrap_err(),
            "the parameters make a hash that is costlier to verify than allowed"
        );
        // Raw PBKDF2 rows built from these parameters: the same limits as the check.
        let mut p = params(A::Pbkdf2);
        (p.iterations, p.salt) = (Some(1_500_000), Some("saltsalt".into()));
        p.digest_algorithm = Some(DigestAlg::Sha512);
        assert_eq!(check_params(&p), Ok(()));
        assert!(stored_form(&p, &B64.encode([7u8; 64]), None).is_ok());
        p.digest_algorithm = Some(DigestAlg::Sha1);
        // 128 bytes of SHA-1 are 7 blocks: 10.5 million HMACs.
        assert_eq!(
            stored_form(&p, &B64.encode([7u8; 128]), None).unwrap_err(),
            "the hash's work factor is over the limits"
        );
        // Every raw form a good mapping writes is one the verifier admits.
        let mut d = params(A::Sha512);
        d.iterations = Some(1_500_000);
        assert_eq!(check_params(&d), Ok(()));
        assert!(stored_form(&d, &"ab".repeat(64), None).is_ok());
    }

    #[test]
    fn firebase_params_are_required() {
        let good = || {
            let mut p = params(HashAlgorithm::FirebaseScrypt);
            p.signer_key = Some(B64.encode([1u8; 64]));
            p.salt_separator = Some("Bw==".into());
            (p.iterations, p.memory) = (Some(8), Some(14));
            p
        };
        assert_eq!(check_params(&good()), Ok(()));
        type Change = fn(&mut HashParams);
        let cases: [(Change, &str); 8] = [
            (
                |p| p.signer_key = None,
                "signer_key is required for FIREBASE-SCRYPT",
            ),
            (
                |p| p.signer_key = Some("not base64!".into()),
                "signer_key is not valid base64",
            ),
            (
                |p| p.salt_separator = None,
                "salt_separator is required for FIREBASE-SCRYPT",
            ),
            (
                |p| p.salt_separator = Some("B$".into()),
                "salt_separator is not valid base64",
            ),
            (
                |p| p.iterations = None,
                "iterations (rounds) between 1 and 8 are required for FIREBASE-SCRYPT",
            ),
            (
                |p| p.iterations = Some(9),
                "iterations (rounds) between 1 and 8 are required for FIREBASE-SCRYPT",
            ),
            (
                |p| p.memory = Some(15),
                "memory (mem_cost) between 1 and 14 is required for FIREBASE-SCRYPT",
            ),
            (|p| p.salt = Some("%%".into()), "salt is not valid base64"),
        ];
        for (change, want) in cases {
            let mut p = good();
            change(&mut p);
            assert_eq!(check_params(&p).unwrap_err(), want);
        }
    }
}
