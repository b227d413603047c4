//! Firebase Authentication's modified scrypt (github.com/firebase/scrypt).
//!
//! The key `scrypt(password, salt‖separator, N = 2^mem_cost, r = rounds, p = 1)` (its
//! first 32 bytes) drives AES-256-CTR with an all-zero IV, which encrypts the project's
//! signer key; the result is the stored hash. aegis keeps every parameter in the row:
//! `$firebase-scrypt$rounds=<r>,mem_cost=<m>$<signer key>$<salt separator>$<salt>$<hash>`,
//! each field standard base64 as the Firebase console and `auth:export` print it.

use aes::Aes256;
use base64::Engine as _;
use ctr::cipher::{KeyIvInit as _, StreamCipher as _};

use super::format::{ct_eq, decimal, params, HashFormat, Refusal, B64};
use super::kdf::{scrypt_cost_check, scrypt_work};
use super::limits::Work;
use super::limits::FIREBASE_MAX_KEY_LEN as MAX_KEY_LEN;

/// AES in CTR mode with a 128-bit big-endian counter, as OpenSSL's `AES_ctr128_encrypt`.
type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// A Firebase scrypt hash with its project parameters.
pub(in crate::password) struct FirebaseHash {
    params: scrypt::Params,
    signer_key: Vec<u8>,
    /// The user's salt followed by the project's salt separator.
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl FirebaseHash {
    pub(super) fn work(&self) -> Work {
        scrypt_work(&self.params)
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        let mut key = [0u8; 32];
        if scrypt::scrypt(password, &self.salt, &self.params, &mut key).is_err() {
            return false;
        }
        let mut out = self.signer_key.clone();
        Aes256Ctr::new(&key.into(), &[0u8; 16].into()).apply_keystream(&mut out);
        ct_eq(&out, &self.hash)
    }
}

/// `body` follows `$firebase-scrypt$`.
pub(super) fn parse(body: &str) -> Result<FirebaseHash, Refusal> {
    let format = HashFormat::FirebaseScrypt;
    let bad = Refusal::Malformed(format);
    let mut fields = body.split('$');
    let mut next = || fields.next().ok_or(bad);
    let text = next()?;
    let mut field = || next().and_then(|f| B64.decode(f).map_err(|_| bad));
    let (signer_key, separator, mut salt, hash) = (field()?, field()?, field()?, field()?);
    if fields.next().is_some() {
        return Err(bad);
    }
    let [rounds, mem_cost] = params(text, ["rounds", "mem_cost"]).ok_or(bad)?;
    let (rounds, mem_cost) = match (rounds.and_then(decimal), mem_cost.and_then(decimal)) {
        (Some(r), Some(m)) if r > 0 && (1..64).contains(&m) => (r, m),
        _ => return Err(bad),
    };
    if signer_key.is_empty() || signer_key.len() > MAX_KEY_LEN || hash.len() != signer_key.len() {
        return Err(bad);
    }
    scrypt_cost_check(format, mem_cost, rounds, 1)?;
    let log_n = u8::try_from(mem_cost).map_err(|_| bad)?;
    let params = scrypt::Params::new(log_n, rounds, 1, 32).map_err(|_| bad)?;
    salt.extend_from_slice(&separator);
    Ok(FirebaseHash {
        params,
        signer_key,
        salt,
        hash,
    })
}
