//! Key material of each signing algorithm: generating a pair, opening a stored
//! private key into a signer, and reading a stored public key into a verifier
//! and its JWK.
//!
//! Stored forms (`SigningKeyRecord`): the private half is always PKCS#8 DER
//! (sealed under the KEK); the public half is, by algorithm,
//! - `EdDSA`: the 32-byte Ed25519 public key;
//! - `ES256`: the 65-byte uncompressed P-256 point (`0x04 || x || y`);
//! - `RS256`: the PKCS#1 `RSAPublicKey` DER (modulus and exponent).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};

use super::SigningAlg;
use crate::error::{Error, Result};

/// Size of the RSA keys aegis generates, and the least it accepts.
pub(super) const RSA_BITS: usize = 2048;
/// Length of an uncompressed P-256 point.
const P256_POINT_LEN: usize = 65;
/// Length of an Ed25519 public key.
const ED25519_LEN: usize = 32;

/// A new key pair of `alg`: (PKCS#8 private key, public key in its stored form).
pub(super) fn generate(alg: SigningAlg) -> Result<(Vec<u8>, Vec<u8>)> {
    match alg {
        SigningAlg::EdDsa => generate_ed25519(),
        SigningAlg::Es256 => generate_p256(),
        SigningAlg::Rs256 => generate_rsa(),
    }
}

fn generate_ed25519() -> Result<(Vec<u8>, Vec<u8>)> {
    let failed = || Error::internal("Ed25519 key generation failed");
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| failed())?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| failed())?;
    Ok((pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec()))
}

fn generate_p256() -> Result<(Vec<u8>, Vec<u8>)> {
    let failed = || Error::internal("P-256 key generation failed");
    let rng = SystemRandom::new();
    let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| failed())?;
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|_| failed())?;
    Ok((pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec()))
}

/// Slow (a prime search): call it off the async runtime.
fn generate_rsa() -> Result<(Vec<u8>, Vec<u8>)> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS).map_err(Error::internal)?;
    let pkcs8 = key.to_pkcs8_der().map_err(Error::internal)?;
    let public = RsaPublicKey::from(&key)
        .to_pkcs1_der()
        .map_err(Error::internal)?;
    Ok((pkcs8.as_bytes().to_vec(), public.into_vec()))
}

/// The signing key of a PKCS#8 private key, checked to be a valid key of `alg`
/// in the form the signer (ring, under jsonwebtoken) takes it.
pub(super) fn encoding_key(alg: SigningAlg, pkcs8: &[u8]) -> Result<EncodingKey> {
    let invalid = || Error::internal(format!("a stored signing key is not a valid {alg:?} key"));
    match alg {
        SigningAlg::EdDsa => {
            Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| invalid())?;
            Ok(EncodingKey::from_ed_der(pkcs8))
        }
        SigningAlg::Es256 => {
            let rng = SystemRandom::new();
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|_| invalid())?;
            Ok(EncodingKey::from_ec_der(pkcs8))
        }
        SigningAlg::Rs256 => {
            // jsonwebtoken signs RSA with a PKCS#1 `RSAPrivateKey`.
            let key = RsaPrivateKey::from_pkcs8_der(pkcs8).map_err(|_| invalid())?;
            let pkcs1 = key.to_pkcs1_der().map_err(|_| invalid())?;
            RsaKeyPair::from_der(pkcs1.as_bytes()).map_err(|_| invalid())?;
            Ok(EncodingKey::from_rsa_der(pkcs1.as_bytes()))
        }
    }
}

/// A stored public key's verifier and JWK members (all but `kid`), or `None`
/// if it is not a well-formed public key of `alg`.
pub(super) fn public_parts(alg: SigningAlg, public: &[u8]) -> Option<(DecodingKey, Value)> {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    match alg {
        SigningAlg::EdDsa => (public.len() == ED25519_LEN).then(|| {
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(public)});
            (DecodingKey::from_ed_der(public), jwk)
        }),
        SigningAlg::Es256 => {
            if public.len() != P256_POINT_LEN || public[0] != 0x04 {
                return None;
            }
            let (x, y) = public[1..].split_at(32);
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)});
            Some((DecodingKey::from_ec_der(public), jwk))
        }
        SigningAlg::Rs256 => {
            let key = RsaPublicKey::from_pkcs1_der(public).ok()?;
            if key.n().bits() < RSA_BITS {
                return None;
            }
            // Big-endian, minimal: `to_bytes_be` has no leading zero bytes.
            let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
            let jwk = json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)});
            Some((DecodingKey::from_rsa_raw_components(&n, &e), jwk))
        }
    }
}
