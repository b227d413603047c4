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
use jsonwebtoken::{DecodingKey, EncodingKey};
use parking_lot::{Mutex, RwLock};
use rand::RngCore;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::{SigningKeyRecord, Store};

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
    pub public: Vec<u8>,
    pub decoding: DecodingKey,
}

/// The active signing key and every known verifying key.
pub struct KeyRing {
    kid: String,
    encoding: EncodingKey,
    verifying: RwLock<Arc<HashMap<String, VerifyingKey>>>,
    last_reload: Mutex<Option<Instant>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("kid", &self.kid).finish()
    }
}

fn verifying_map(records: &[SigningKeyRecord]) -> Arc<HashMap<String, VerifyingKey>> {
    Arc::new(
        records
            .iter()
            .filter(|r| r.algorithm == ALGORITHM)
            .map(|r| {
                (
                    r.kid.clone(),
                    VerifyingKey {
                        kid: r.kid.clone(),
                        public: r.public_key.clone(),
                        decoding: DecodingKey::from_ed_der(&r.public_key),
                    },
                )
            })
            .collect(),
    )
}

impl KeyRing {
    /// Loads the keys from the store, generating the first one if there is none.
    /// The newest key signs; all verify.
    pub async fn load_or_create(store: &dyn Store, kek: &Kek, clock: &dyn Clock) -> Result<Self> {
        let mut records = store.list_signing_keys().await?;
        if !records.iter().any(|r| r.algorithm == ALGORITHM) {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| Error::internal("key generation failed"))?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                .map_err(|_| Error::internal("key generation failed"))?;
            let mut kid_bytes = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut kid_bytes);
            let kid = URL_SAFE_NO_PAD.encode(kid_bytes);
            let record = SigningKeyRecord {
                private_key_enc: kek.seal(&kid, pkcs8.as_ref())?,
                kid,
                algorithm: ALGORITHM.into(),
                public_key: pair.public_key().as_ref().to_vec(),
                created_at: clock.now(),
            };
            store.insert_signing_key(&record).await?;
            tracing::info!(kid = %record.kid, "generated a new signing key");
            // Another instance may have raced us: re-read and use whatever is newest.
            records = store.list_signing_keys().await?;
        }
        let newest = records
            .iter()
            .filter(|r| r.algorithm == ALGORITHM)
            .max_by(|a, b| {
                a.created_at
                    .cmp(&b.created_at)
                    .then_with(|| a.kid.cmp(&b.kid))
            })
            .ok_or_else(|| Error::internal("no signing key"))?;
        let pkcs8 = kek.open(&newest.kid, &newest.private_key_enc)?;
        Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| Error::internal("stored signing key is not a valid Ed25519 key"))?;
        Ok(Self {
            kid: newest.kid.clone(),
            encoding: EncodingKey::from_ed_der(&pkcs8),
            verifying: RwLock::new(verifying_map(&records)),
            last_reload: Mutex::new(None),
        })
    }

    /// The id of the signing key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The verifying key of `kid`, if known.
    pub fn verifying(&self, kid: &str) -> Option<VerifyingKey> {
        self.verifying.read().get(kid).cloned()
    }

    /// Re-reads the public keys (another instance may have added one), at most
    /// once per ten seconds.
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

    /// The public keys as a JWK set.
    pub fn jwks(&self) -> Value {
        let map = self.verifying.read().clone();
        let mut keys: Vec<&VerifyingKey> = map.values().collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        json!({
            "keys": keys.iter().map(|k| json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": ALGORITHM,
                "use": "sig",
                "kid": k.kid,
                "x": URL_SAFE_NO_PAD.encode(&k.public),
            })).collect::<Vec<_>>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kek_seals_and_opens() {
        let kek = Kek::generate();
        let sealed = kek.seal("kid1", b"secret").unwrap();
        assert_eq!(kek.open("kid1", &sealed).unwrap(), b"secret");
        assert!(kek.open("kid2", &sealed).is_err(), "kid is bound as AAD");
        assert!(Kek::generate().open("kid1", &sealed).is_err());
        assert!(kek.open("kid1", &sealed[..10]).is_err());
        let round = Kek::from_base64(&kek.to_base64()).unwrap();
        assert_eq!(round.0, kek.0);
        assert!(Kek::from_base64("c2hvcnQ=").is_err());
    }
}
