//! The OpenAPI document: every route is registered through utoipa-axum, so it
//! cannot be served without being documented.

use std::sync::OnceLock;

use axum::Json;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;
use crate::{dialects, health, wellknown};

#[derive(OpenApi)]
#[openapi(
    info(title = "aegis", description = "Self-hosted authentication and user management"),
    tags(
        (name = "pegasys", description = "Aegis API of Pegasys cloud (seed 000)"),
        (name = "argon", description = "Argon panel authentication API (seed 001)"),
        (name = "aiohttp", description = "aegis for aiohttp (seed 002)"),
        (name = "pangea", description = "Pangea AuthN v2 (seed 003)"),
        (name = "ops", description = "health, keys, documentation"),
    )
)]
struct ApiDoc;

/// Every documented route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(wellknown::router())
        .merge(dialects::router())
        .routes(routes!(openapi_json))
}

static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();

/// Records the finished document (the same for every app built in a process).
pub fn publish(doc: utoipa::openapi::OpenApi) {
    let _ = DOCUMENT.set(doc);
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1 document")))]
async fn openapi_json() -> Json<Option<utoipa::openapi::OpenApi>> {
    Json(DOCUMENT.get().cloned())
}
