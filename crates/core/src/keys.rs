//! Signing keys: generated on first start, kept in the store with the private half
//! encrypted under a key-encryption key (KEK), shared by every instance.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header, Validation};
use jsonwebtoken::{DecodingKey, EncodingKey};
use parking_lot::{Mutex, RwLock};
use rand::RngCore;
use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::{SigningKeyRecord, Store};
use crate::token::Rejection;

mod material;

/// The algorithm of aegis's own access tokens; presented tokens must use it.
pub const ALGORITHM: &str = "EdDSA";

/// A JWS algorithm aegis signs with: EdDSA (Ed25519) for its own tokens, and
/// any of the three for a relying party's ID tokens (RS256 is what OpenID
/// Connect requires every provider to offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SigningAlg {
    #[default]
    Rs256,
    EdDsa,
    Es256,
}

impl SigningAlg {
    /// Every algorithm, in the order discovery lists them.
    pub const ALL: [SigningAlg; 3] = [SigningAlg::Rs256, SigningAlg::EdDsa, SigningAlg::Es256];

    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::EdDsa => "EdDSA",
            SigningAlg::Es256 => "ES256",
        }
    }

    /// From its JOSE name (exact).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

const NONCE_LEN: usize = 24;
/// Shortest interval between two reloads triggered by an unknown `kid`.
const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// The 256-bit key-encryption key.
#[derive(Clone)]
pub struct Kek([u8; 32]);

impl Kek {
    /// From 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// From base64 (standard or url-safe, padded or not) of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| Error::invalid("kek", "is not base64"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("kek", "must be 32 bytes"))?;
        Ok(Self(arr))
    }

    /// A new random KEK.
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(b)
    }

    /// Base64 (standard, padded) text form.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Encrypts `plain`, bound to `context` (a signing key's id, an
    /// authenticator's): a sealed value opens only under the same context.
    pub(crate) fn seal(&self, kid: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = XChaCha20Poly1305::new((&self.0).into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("key encryption failed"))?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    pub(crate) fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::internal("a stored sealed secret is truncated"));
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        XChaCha20Poly1305::new((&self.0).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| {
                Error::internal("cannot decrypt a stored secret: wrong key-encryption key (kek)")
            })
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(***)")
    }
}

/// A public key able to verify tokens.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: String,
    /// The algorithm of the tokens it verifies (and of no others).
    pub alg: SigningAlg,
    /// The stored public key (forms: see [`material`]).
    pub public: Vec<u8>,
    pub decoding: DecodingKey,
    /// Its JWK, `kid` included.
    jwk: Value,
}

impl VerifyingKey {
    /// From a stored record; `None` if its algorithm or public key is not one we
    /// know how to use.
    fn from_record(record: &SigningKeyRecord) -> Option<Self> {
        let alg = SigningAlg::parse(&record.algorithm)?;
        let (decoding, mut jwk) = material::public_parts(alg, &record.public_key)?;
        jwk["alg"] = alg.as_str().into();
        jwk["use"] = "sig".into();
        jwk["kid"] = record.kid.as_str().into();
        Some(Self {
            kid: record.kid.clone(),
            alg,
            public: record.public_key.clone(),
            decoding,
            jwk,
        })
    }
}

/// The active private key of one algorithm.
struct Signer {
    kid: String,
    encoding: EncodingKey,
}

/// The active signing key of each algorithm the ring signs with (Ed25519 always),
/// and every known verifying key of any algorithm.
pub struct KeyRing {
    signers: HashMap<SigningAlg, Signer>,
    verifying: RwLock<Arc<HashMap<String, VerifyingKey>>>,
    last_reload: Mutex<Option<Instant>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: HashMap<&str, &str> = self
            .signers
            .iter()
            .map(|(alg, s)| (alg.as_str(), s.kid.as_str()))
            .collect();
        f.debug_struct("KeyRing").field("kids", &kids).finish()
    }
}

fn verifying_map(records: &[SigningKeyRecord]) -> Arc<HashMap<String, VerifyingKey>> {
    let keys = records.iter().filter_map(|r| {
        let key = VerifyingKey::from_record(r);
        if key.is_none() {
            tracing::warn!(kid = %r.kid, algorithm = %r.algorithm, "ignoring an unusable stored signing key");
        }
        key
    });
    Arc::new(keys.map(|k| (k.kid.clone(), k)).collect())
}

/// The newest stored key of `alg` (ties broken by kid, so every instance agrees).
fn newest(records: &[SigningKeyRecord], alg: SigningAlg) -> Option<&SigningKeyRecord> {
    records
        .iter()
        .filter(|r| r.algorithm == alg.as_str())
        .max_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.kid.cmp(&b.kid))
        })
}

/// A new key of `alg` with a random kid, its private half sealed under `kek`.
/// Slow for RSA: call it off the async runtime.
fn new_record(alg: SigningAlg, kek: &Kek, now: DateTime<Utc>) -> Result<SigningKeyRecord> {
    let (pkcs8, public_key) = material::generate(alg)?;
    let mut kid_bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut kid_bytes);
    let kid = URL_SAFE_NO_PAD.encode(kid_bytes);
    Ok(SigningKeyRecord {
        private_key_enc: kek.seal(&kid, &pkcs8)?,
        kid,
        algorithm: alg.as_str().into(),
        public_key,
        created_at: now,
    })
}

/// Ed25519 first, then each of `extra` once.
fn wanted(extra: &[SigningAlg]) -> Vec<SigningAlg> {
    let mut algs = vec![SigningAlg::EdDsa];
    for alg in extra {
        if !algs.contains(alg) {
            algs.push(*alg);
        }
    }
    algs
}

/// The jsonwebtoken algorithm of `alg`.
fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::Rs256 => Algorithm::RS256,
        SigningAlg::EdDsa => Algorithm::EdDSA,
        SigningAlg::Es256 => Algorithm::ES256,
    }
}

impl KeyRing {
    /// Loads the keys from the store: for Ed25519 (aegis's own access tokens)
    /// and each algorithm of `extra`, the newest stored key signs, generating
    /// one if there is none. Every stored key of every algorithm verifies.
    pub async fn load_or_create(
        store: &dyn Store,
        kek: &Kek,
        clock: &dyn Clock,
        extra: &[SigningAlg],
    ) -> Result<Self> {
        let algs = wanted(extra);
        let mut records = store.list_signing_keys().await?;
        let missing: Vec<SigningAlg> = algs
            .iter()
            .copied()
            .filter(|alg| newest(&records, *alg).is_none())
            .collect();
        for &alg in &missing {
            let (kek, now) = (kek.clone(), clock.now());
            let record = tokio::task::spawn_blocking(move || new_record(alg, &kek, now))
                .await
                .map_err(Error::internal)??;
            store.insert_signing_key(&record).await?;
            tracing::info!(kid = %record.kid, alg = alg.as_str(), "generated a new signing key");
        }
        if !missing.is_empty() {
            // Another instance may have raced us: re-read and use whatever is newest.
            records = store.list_signing_keys().await?;
        }
        Self::from_records(&records, kek, &algs)
    }

    /// A ring signing with the newest record of each of `algs` (each must have
    /// one) and verifying with every record.
    fn from_records(records: &[SigningKeyRecord], kek: &Kek, algs: &[SigningAlg]) -> Result<Self> {
        let mut signers = HashMap::new();
        for &alg in algs {
            let record = newest(records, alg)
                .ok_or_else(|| Error::internal(format!("no {} signing key", alg.as_str())))?;
            let pkcs8 = kek.open(&record.kid, &record.private_key_enc)?;
            let encoding = material::encoding_key(alg, &pkcs8)?;
            let kid = record.kid.clone();
            signers.insert(alg, Signer { kid, encoding });
        }
        Ok(Self {
            signers,
            verifying: RwLock::new(verifying_map(records)),
            last_reload: Mutex::new(None),
        })
    }

    /// The id of the Ed25519 key that signs aegis's own access tokens.
    pub fn kid(&self) -> &str {
        self.signers
            .get(&SigningAlg::EdDsa)
            .map_or("", |s| s.kid.as_str())
    }

    /// Whether the ring signs with `alg`.
    pub fn has(&self, alg: SigningAlg) -> bool {
        self.signers.contains_key(&alg)
    }

    /// Signs `claims` as a JWT with the active key of `alg` (header: `alg`,
    /// that key's `kid`, `typ: JWT`). Internal error if the ring has no key of `alg`.
    pub fn sign_with<T: Serialize>(&self, alg: SigningAlg, claims: &T) -> Result<String> {
        let signer = self
            .signers
            .get(&alg)
            .ok_or_else(|| Error::internal(format!("no {} signing key", alg.as_str())))?;
        let mut header = Header::new(jwt_alg(alg));
        header.kid = Some(signer.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &signer.encoding).map_err(Error::internal)
    }

    /// The Ed25519 verifying key of `kid`, if known: the only keys aegis's own
    /// access tokens may be signed with.
    pub fn verifying(&self, kid: &str) -> Option<VerifyingKey> {
        self.verifying
            .read()
            .get(kid)
            .filter(|k| k.alg == SigningAlg::EdDsa)
            .cloned()
    }

    /// Verifies a JWT signed by any of our keys, under that key's own algorithm,
    /// and issued by `issuer`; returns its claims. Expiry and audience are *not*
    /// checked (for `id_token_hint`, where an expired token is still a hint).
    /// An unknown `kid` is [`Rejection::UnknownKey`]: the caller may
    /// [`reload`](Self::reload) and retry.
    pub fn verify_any(&self, token: &str, issuer: &str) -> std::result::Result<Value, Rejection> {
        // decode_header refuses unknown algorithms such as "none".
        let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
        let kid = header.kid.ok_or(Rejection::Malformed)?;
        let key = self
            .verifying
            .read()
            .get(&kid)
            .cloned()
            .ok_or(Rejection::UnknownKey)?;
        if header.alg != jwt_alg(key.alg) {
            return Err(Rejection::Malformed);
        }
        let mut v = Validation::new(header.alg);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.leeway = 0;
        v.set_required_spec_claims(&["iss"]);
        v.set_issuer(&[issuer]);
        jsonwebtoken::decode::<Value>(token, &key.decoding, &v)
            .map(|d| d.claims)
            .map_err(|_| Rejection::Malformed)
    }

    /// Re-reads the public keys of every algorithm (another instance may have
    /// added one), at most once per ten seconds.
    pub async fn reload(&self, store: &dyn Store) -> Result<()> {
        {
            let mut last = self.last_reload.lock();
            if last.is_some_and(|t| t.elapsed() < RELOAD_EVERY) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let records = store.list_signing_keys().await?;
        *self.verifying.write() = verifying_map(&records);
        Ok(())
    }

    /// The public keys of every algorithm as a JWK set, sorted by kid.
    pub fn jwks(&self) -> Value {
        let map = self.verifying.read().clone();
        let mut keys: Vec<&VerifyingKey> = map.values().collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        json!({ "keys": keys.iter().map(|k| &k.jwk).collect::<Vec<_>>() })
    }
}

#[cfg(test)]
mod tests;
