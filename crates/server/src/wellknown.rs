//! `/.well-known/jwks.json`: the public keys that verify aegis access tokens and
//! OpenID Connect ID tokens.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

/// A JWK set.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// One token-signing key, as the core's key ring publishes it: Ed25519 signs
/// aegis's own access tokens; any of the three may sign OpenID Connect ID tokens.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum Jwk {
    Okp(OkpJwk),
    Ec(EcJwk),
    Rsa(RsaJwk),
}

/// An Ed25519 key (RFC 8037).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct OkpJwk {
    kty: OkpKeyType,
    crv: OkpCurve,
    alg: OkpAlgorithm,
    #[serde(rename = "use")]
    usage: JwkUse,
    /// The `kid` of the tokens it verifies.
    kid: String,
    /// The public key, base64url without padding.
    #[schema(pattern = "^[A-Za-z0-9_-]+$")]
    x: String,
}

/// A P-256 key (RFC 7518 §6.2).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EcJwk {
    kty: EcKeyType,
    crv: EcCurve,
    alg: EcAlgorithm,
    #[serde(rename = "use")]
    usage: JwkUse,
    /// The `kid` of the tokens it verifies.
    kid: String,
    /// The point's x coordinate (32 bytes), base64url without padding.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    x: String,
    /// The point's y coordinate (32 bytes), base64url without padding.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    y: String,
}

/// An RSA key (RFC 7518 §6.3).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RsaJwk {
    kty: RsaKeyType,
    alg: RsaAlgorithm,
    #[serde(rename = "use")]
    usage: JwkUse,
    /// The `kid` of the tokens it verifies.
    kid: String,
    /// The modulus, big-endian, base64url without padding.
    #[schema(pattern = "^[A-Za-z0-9_-]+$")]
    n: String,
    /// The public exponent, big-endian, base64url without padding.
    #[schema(pattern = "^[A-Za-z0-9_-]+$")]
    e: String,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum OkpKeyType {
    #[serde(rename = "OKP")]
    Okp,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum OkpCurve {
    Ed25519,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum OkpAlgorithm {
    #[serde(rename = "EdDSA")]
    EdDsa,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum EcKeyType {
    #[serde(rename = "EC")]
    Ec,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum EcCurve {
    #[serde(rename = "P-256")]
    P256,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum EcAlgorithm {
    #[serde(rename = "ES256")]
    Es256,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum RsaKeyType {
    #[serde(rename = "RSA")]
    Rsa,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum RsaAlgorithm {
    #[serde(rename = "RS256")]
    Rs256,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum JwkUse {
    Sig,
}

/// The JWK set of the token-signing keys.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "ops", operation_id = "jwks",
    responses((status = 200, description = "JWK set", body = JwkSet)))]
async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.aegis.jwks())
}
