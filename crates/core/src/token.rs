//! Access tokens: EdDSA JWTs with pinned algorithm, checked issuer and audience.

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{AuthFailure, Error, Result};
use crate::keys::{KeyRing, SigningAlg};

/// The claims of an aegis access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user's UUID.
    pub sub: Uuid,
    /// The session.
    pub sid: Uuid,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// Username at issue time (informational; never used for authorisation).
    pub username: String,
    /// Numeric user id, for clients of the aiohttp library that decode tokens.
    pub id: i64,
}

/// Signs claims with the active Ed25519 key.
pub fn sign(keys: &KeyRing, claims: &AccessClaims) -> Result<String> {
    keys.sign_with(SigningAlg::EdDsa, claims)
}

/// What went wrong with a presented JWT before any state was consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not a token of ours, or not verifiable with a key we know.
    Malformed,
    /// Signed by a key id we do not (yet) know.
    UnknownKey,
}

impl From<Rejection> for Error {
    fn from(_: Rejection) -> Self {
        Error::Unauthenticated(AuthFailure::Malformed)
    }
}

/// Verifies signature, algorithm, issuer and audience. Expiry is *not* checked
/// here: the caller compares `exp` with its injected clock.
pub fn verify(
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
) -> std::result::Result<AccessClaims, Rejection> {
    // decode_header refuses unknown algorithms such as "none".
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Malformed)?;
    if header.alg != Algorithm::EdDSA {
        return Err(Rejection::Malformed);
    }
    let kid = header.kid.ok_or(Rejection::Malformed)?;
    let key = keys.verifying(&kid).ok_or(Rejection::UnknownKey)?;
    let mut v = Validation::new(Algorithm::EdDSA);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &v)
        .map(|d| d.claims)
        .map_err(|_| Rejection::Malformed)
}
