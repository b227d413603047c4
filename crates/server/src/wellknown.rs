//! `/.well-known/jwks.json`: the public keys that verify aegis access tokens.

use axum::extract::State;
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

/// The JWK set of the token-signing keys.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "ops",
    responses((status = 200, description = "JWK set")))]
async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.aegis.jwks())
}
