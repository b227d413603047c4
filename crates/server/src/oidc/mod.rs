//! The OpenID Connect provider's HTTP side: discovery, the authorization
//! endpoint and its pages (`pages.rs`: sign-in hand-over, consent,
//! form_post, RP-initiated logout), and the back-channel endpoints
//! (`endpoints.rs`: token, UserInfo, introspection, revocation). Every rule
//! is the core's (`aegis_core::service::oidc`); this is the wire.
//!
//! Served only with `oidc.enabled` (and a `public_url`, the issuer); off, every
//! route answers 404 as if it did not exist.

mod endpoints;
mod pages;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aegis_core::keys::SigningAlg;
use aegis_core::oidc::Grant;
use aegis_core::service::oidc::{ACR_MFA, ACR_PASSWORD, SCOPES};

use crate::state::AppState;

/// The provider's routes (answering 404 while it is off).
pub fn router(state: &AppState) -> Router<AppState> {
    let guard = axum::middleware::from_fn_with_state(state.clone(), enabled);
    documented().split_for_parts().0.route_layer(guard)
}

/// The provider's part of the OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    documented().split_for_parts().1
}

fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery))
        .merge(pages::router())
        .merge(endpoints::router())
}

async fn enabled(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.aegis.config().oidc.enabled {
        next.run(req).await
    } else {
        let body = OAuthErrorBody {
            error: "not_found".into(),
            error_description: "the OpenID provider is off (oidc.enabled)".into(),
        };
        (StatusCode::NOT_FOUND, Json(body)).into_response()
    }
}

/// An OAuth error (RFC 6749 §5.2); also the answer of every route while the
/// provider is off (`not_found`).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OAuthErrorBody {
    pub(crate) error: String,
    pub(crate) error_description: String,
}

/// An endpoint's absolute URL.
pub(crate) fn endpoint(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.aegis.oidc_issuer())
}

/// The provider's metadata (OpenID Connect Discovery 1.0 §3).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProviderMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    end_session_endpoint: String,
    scopes_supported: Vec<&'static str>,
    response_types_supported: Vec<&'static str>,
    response_modes_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    subject_types_supported: Vec<&'static str>,
    id_token_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    code_challenge_methods_supported: Vec<&'static str>,
    acr_values_supported: Vec<&'static str>,
    prompt_values_supported: Vec<&'static str>,
    claims_supported: Vec<&'static str>,
    authorization_response_iss_parameter_supported: bool,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
}

const CONFIDENTIAL_AUTH: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// `GET /.well-known/openid-configuration`.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oidc", operation_id = "oidc_discovery",
    responses(
        (status = 200, description = "The provider's metadata", body = ProviderMetadata),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)))]
async fn discovery(State(state): State<AppState>) -> Response {
    let url = |path: &str| endpoint(&state, path);
    let algs: Vec<&'static str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    let mut auth: Vec<&'static str> = CONFIDENTIAL_AUTH.to_vec();
    auth.push("none");
    let metadata = ProviderMetadata {
        issuer: state.aegis.oidc_issuer().to_owned(),
        authorization_endpoint: url("/oauth2/authorize"),
        token_endpoint: url("/oauth2/token"),
        userinfo_endpoint: url("/oauth2/userinfo"),
        jwks_uri: url("/.well-known/jwks.json"),
        introspection_endpoint: url("/oauth2/introspect"),
        revocation_endpoint: url("/oauth2/revoke"),
        end_session_endpoint: url("/oauth2/logout"),
        scopes_supported: SCOPES.to_vec(),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query", "form_post"],
        grant_types_supported: Grant::ALL.iter().map(|g| g.as_str()).collect(),
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: algs.clone(),
        token_endpoint_auth_methods_supported: auth.clone(),
        token_endpoint_auth_signing_alg_values_supported: algs,
        introspection_endpoint_auth_methods_supported: CONFIDENTIAL_AUTH.to_vec(),
        revocation_endpoint_auth_methods_supported: auth,
        code_challenge_methods_supported: vec!["S256"],
        acr_values_supported: vec![ACR_PASSWORD, ACR_MFA],
        prompt_values_supported: vec!["none", "login", "consent", "select_account"],
        claims_supported: vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "sid",
            "preferred_username",
            "name",
            "given_name",
            "family_name",
            "updated_at",
            "email",
            "email_verified",
            "groups",
            "roles",
        ],
        authorization_response_iss_parameter_supported: true,
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
    };
    let mut res = Json(metadata).into_response();
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("max-age=300"),
    );
    res
}

/// A JSON answer that no cache may keep (RFC 6749 §5.1).
pub(crate) fn no_store(status: StatusCode, body: impl Serialize) -> Response {
    let mut res = (status, Json(body)).into_response();
    let h = res.headers_mut();
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    h.insert(
        axum::http::header::PRAGMA,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    res
}
