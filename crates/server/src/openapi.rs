//! The OpenAPI document: every route is registered through utoipa-axum, so it
//! cannot be served without being documented. The hosted pages (`web`) are
//! served by their own router; their half of the document is merged here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;
use crate::{dialects, health, oidc, web, wellknown};

#[derive(OpenApi)]
#[openapi(
    info(title = "aegis", description = "Self-hosted authentication and user management"),
    modifiers(&BearerAuth),
    tags(
        (name = "pegasys", description = "Aegis API of Pegasys cloud (seed 000)"),
        (name = "argon", description = "Argon panel authentication API (seed 001)"),
        (name = "aiohttp", description = "aegis for aiohttp (seed 002)"),
        (name = "pangea", description = "Pangea AuthN v2 (seed 003)"),
        (name = "web", description = "Hosted sign-in and account pages: HTML forms with a CSRF token (double submit), session cookie"),
        (name = "oidc", description = "OpenID Connect provider: discovery, authorization (code + PKCE), token, UserInfo, introspection, revocation, RP-initiated logout"),
        (name = "ops", description = "health, keys, documentation"),
    )
)]
struct ApiDoc;

/// The `bearer` scheme the operations name: a session access token (JWT) of
/// any dialect, or an API token.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session access token (JWT) from any dialect's login, or an API token",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "An OpenID client's id and secret (client_secret_basic)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every documented route.
pub fn router() -> OpenApiRouter<AppState> {
    let mut doc = ApiDoc::openapi();
    doc.merge(web::document());
    doc.merge(oidc::document());
    OpenApiRouter::with_openapi(doc)
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

/// An OpenAPI 3.1 document (this one).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct OpenApiDocument {
    #[schema(pattern = r"^3\.1\.\d+$")]
    openapi: String,
    info: BTreeMap<String, Value>,
    paths: BTreeMap<String, Value>,
    components: Option<BTreeMap<String, Value>>,
    tags: Option<Vec<Value>>,
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", operation_id = "openapi_json",
    responses((status = 200, description = "OpenAPI 3.1 document", body = OpenApiDocument)))]
async fn openapi_json() -> Json<Option<utoipa::openapi::OpenApi>> {
    Json(DOCUMENT.get().cloned())
}
