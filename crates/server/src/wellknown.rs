//! `/.well-known/jwks.json`: the public keys that verify aegis access tokens.

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

/// One token-signing key, as the core's key ring publishes it (RFC 8037 OKP).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Jwk {
    kty: JwkKeyType,
    crv: JwkCurve,
    alg: JwkAlgorithm,
    #[serde(rename = "use")]
    usage: JwkUse,
    /// The `kid` of the tokens it verifies.
    kid: String,
    /// The public key, base64url without padding.
    #[schema(pattern = "^[A-Za-z0-9_-]+$")]
    x: String,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum JwkKeyType {
    #[serde(rename = "OKP")]
    Okp,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum JwkCurve {
    Ed25519,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum JwkAlgorithm {
    #[serde(rename = "EdDSA")]
    EdDsa,
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
