//! The back-channel endpoints: token (RFC 6749 §3.2), UserInfo (OpenID
//! Connect Core §5.3, bearer per RFC 6750), introspection (RFC 7662) and
//! revocation (RFC 7009). Bodies are form-encoded; answers JSON, never cached.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Form;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aegis_core::service::oidc::{ClientCredentials, OAuthError, TokenRequest};
use aegis_core::Error;

use super::{endpoint, no_store, OAuthErrorBody};
use crate::state::AppState;
use crate::web::FORM;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(userinfo_get, userinfo_post))
        .routes(routes!(introspect))
        .routes(routes!(revoke))
}

/// A token request (and the client's credentials when sent in the body).
#[derive(Default, Deserialize, ToSchema)]
#[serde(default)]
struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// A token to introspect or revoke, with the client's credentials.
#[derive(Default, Deserialize, ToSchema)]
#[serde(default)]
struct TokenTypeForm {
    token: Option<String>,
    /// `access_token` or `refresh_token` (a hint; both are looked for).
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// The UserInfo POST body: the bearer in the body (RFC 6750 §2.2).
#[derive(Default, Deserialize, ToSchema)]
#[serde(default)]
struct UserInfoForm {
    access_token: Option<String>,
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenAnswer {
    access_token: String,
    /// `Bearer`.
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    scope: String,
}

/// An introspection answer (RFC 7662 §2.2): `active`, and for an active
/// token its claims (`sub`, `client_id`, `scope`, `exp`, `iat`, `iss`, `aud`,
/// `sid`, `jti`, `token_type`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct IntrospectionBody {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

/// The answer to a revocation: an empty object.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Revoked {}

/// The claims of the token's scopes (OpenID Connect Core §5.1).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct UserInfoBody {
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
}

/// The OAuth error answer: 401 for `invalid_client` (with a Basic
/// challenge when the client tried Basic), 503 when aegis is saturated, 500
/// when it broke, 400 otherwise.
fn oauth_error(e: OAuthError, basic: bool) -> Response {
    let (status, description) = match &e {
        OAuthError::Protocol { code, description } => {
            let status = match *code {
                "invalid_client" => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            (status, description.clone())
        }
        OAuthError::Core(Error::Unavailable { retry_after }) => {
            let body = json!({"error": e.code(), "error_description": "try again shortly"});
            let res = no_store(StatusCode::SERVICE_UNAVAILABLE, body);
            return crate::dialects::with_retry_after(res, Some(*retry_after));
        }
        OAuthError::Core(inner) => {
            tracing::error!(error = %inner, "OpenID endpoint failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_owned(),
            )
        }
    };
    let body = OAuthErrorBody {
        error: e.code().to_owned(),
        error_description: description,
    };
    let mut res = no_store(status, body);
    if status == StatusCode::UNAUTHORIZED && basic {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"aegis\""),
        );
    }
    res
}

/// A form body that could not be read: `invalid_request`.
fn unreadable() -> Response {
    oauth_error(
        OAuthError::Protocol {
            code: "invalid_request",
            description: "the body must be application/x-www-form-urlencoded, each parameter once"
                .into(),
        },
        false,
    )
}

/// `Authorization: Basic` credentials, each half form-decoded (RFC 6749 §2.3.1).
/// `Err` when the header is there but is not readable Basic credentials.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ())?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| ())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ())?;
    let (id, secret) = decoded.split_once(':').ok_or(())?;
    let part = |s: &str| -> Result<String, ()> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&format!("v={s}")).map_err(|_| ())?;
        Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
    };
    Ok(Some((part(id)?, part(secret)?)))
}

/// The client's credentials from the header and the body.
fn credentials(
    headers: &HeaderMap,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
) -> Result<ClientCredentials, Box<Response>> {
    let basic = basic_credentials(headers).map_err(|()| {
        Box::new(oauth_error(
            OAuthError::Protocol {
                code: "invalid_client",
                description: "the Authorization header is not Basic client credentials".into(),
            },
            true,
        ))
    })?;
    Ok(ClientCredentials {
        basic,
        client_id,
        client_secret,
        client_assertion_type,
        client_assertion,
    })
}

/// `POST /oauth2/token`.
#[utoipa::path(post, path = "/oauth2/token", tag = "oidc", operation_id = "oidc_token",
    request_body(content = TokenForm, content_type = FORM),
    responses(
        (status = 200, description = "Tokens", body = TokenAnswer),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody),
        (status = 503, description = "Saturated; retry", body = OAuthErrorBody, headers(("Retry-After" = u64)))),
    security(("client_basic" = []), ()))]
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return unreadable();
    };
    let creds = match credentials(
        &headers,
        f.client_id,
        f.client_secret,
        f.client_assertion_type,
        f.client_assertion,
    ) {
        Ok(c) => c,
        Err(res) => return *res,
    };
    let basic = creds.basic.is_some();
    let req = TokenRequest {
        grant_type: f.grant_type,
        code: f.code,
        redirect_uri: f.redirect_uri,
        code_verifier: f.code_verifier,
        refresh_token: f.refresh_token,
        scope: f.scope,
    };
    let url = endpoint(&state, "/oauth2/token");
    match state.aegis.token(&creds, req, &url).await {
        Ok(t) => no_store(
            StatusCode::OK,
            TokenAnswer {
                access_token: t.access_token,
                token_type: "Bearer",
                expires_in: t.expires_in,
                refresh_token: t.refresh_token,
                id_token: t.id_token,
                scope: t.scope,
            },
        ),
        Err(e) => oauth_error(e, basic),
    }
}

/// The bearer of `Authorization: Bearer …`; `Err` for another scheme.
fn bearer(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ())?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(()),
    }
}

/// A UserInfo refusal with its `WWW-Authenticate` challenge (RFC 6750 §3).
fn bearer_error(code: &str, description: &str) -> Response {
    let status = match code {
        "invalid_request" => StatusCode::BAD_REQUEST,
        "insufficient_scope" => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    };
    let mut res = no_store(
        status,
        json!({"error": code, "error_description": description}),
    );
    let challenge =
        format!("Bearer realm=\"aegis\", error=\"{code}\", error_description=\"{description}\"");
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

async fn userinfo(state: &AppState, token: Option<String>) -> Response {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        let mut res = no_store(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_token", "error_description": "no access token"}),
        );
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"aegis\""),
        );
        return res;
    };
    match state.aegis.userinfo(&token).await {
        Ok(claims) => no_store(StatusCode::OK, claims),
        Err(OAuthError::Protocol { code, description }) => bearer_error(code, &description),
        Err(e) => oauth_error(e, false),
    }
}

/// `GET /oauth2/userinfo`.
#[utoipa::path(get, path = "/oauth2/userinfo", tag = "oidc", operation_id = "oidc_userinfo",
    responses(
        (status = 200, description = "The user's claims", body = UserInfoBody),
        (status = 400, description = "`invalid_request` (an Authorization header that is not Bearer)", body = OAuthErrorBody),
        (status = 401, description = "`invalid_token`", body = OAuthErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`insufficient_scope`: no `openid` scope", body = OAuthErrorBody),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)),
    security(("bearer" = [])))]
async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match bearer(&headers) {
        Ok(token) => userinfo(&state, token).await,
        Err(()) => bearer_error(
            "invalid_request",
            "the Authorization header is not a Bearer token",
        ),
    }
}

/// `POST /oauth2/userinfo`: the bearer in the header or the form body, not both.
#[utoipa::path(post, path = "/oauth2/userinfo", tag = "oidc", operation_id = "oidc_userinfo_post",
    request_body(content = UserInfoForm, content_type = FORM),
    responses(
        (status = 200, description = "The user's claims", body = UserInfoBody),
        (status = 400, description = "`invalid_request`: two bearers, or an unreadable body", body = OAuthErrorBody),
        (status = 401, description = "`invalid_token`", body = OAuthErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 403, description = "`insufficient_scope`", body = OAuthErrorBody),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)),
    security(("bearer" = []), ()))]
async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<UserInfoForm>, FormRejection>,
) -> Response {
    let in_body = match form {
        Ok(Form(f)) => f.access_token,
        Err(_) if headers.get(header::CONTENT_TYPE).is_none() => None,
        Err(_) => return bearer_error("invalid_request", "the body is not a readable form"),
    };
    let in_header = match bearer(&headers) {
        Ok(t) => t,
        Err(()) => {
            return bearer_error(
                "invalid_request",
                "the Authorization header is not a Bearer token",
            )
        }
    };
    match (in_header, in_body) {
        (Some(_), Some(_)) => bearer_error("invalid_request", "send the access token once"),
        (a, b) => userinfo(&state, a.or(b)).await,
    }
}

/// An introspection or revocation request: the client's credentials and the
/// token, or the refusal.
fn token_request(
    headers: &HeaderMap,
    form: Result<Form<TokenTypeForm>, FormRejection>,
) -> Result<(ClientCredentials, String), Box<Response>> {
    let Ok(Form(f)) = form else {
        return Err(Box::new(unreadable()));
    };
    let creds = credentials(
        headers,
        f.client_id,
        f.client_secret,
        f.client_assertion_type,
        f.client_assertion,
    )?;
    let token = f.token.ok_or_else(|| {
        Box::new(oauth_error(
            OAuthError::Protocol {
                code: "invalid_request",
                description: "token is missing".into(),
            },
            false,
        ))
    })?;
    Ok((creds, token))
}

/// `POST /oauth2/introspect` (confidential clients; their own tokens only).
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oidc", operation_id = "oidc_introspect",
    request_body(content = TokenTypeForm, content_type = FORM),
    responses(
        (status = 200, description = "What the token is", body = IntrospectionBody),
        (status = 400, description = "`invalid_request`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)),
    security(("client_basic" = []), ()))]
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenTypeForm>, FormRejection>,
) -> Response {
    let (creds, token) = match token_request(&headers, form) {
        Ok(parts) => parts,
        Err(res) => return *res,
    };
    let basic = creds.basic.is_some();
    let url = endpoint(&state, "/oauth2/introspect");
    match state.aegis.introspect(&creds, &token, &url).await {
        Ok(answer) => no_store(StatusCode::OK, answer),
        Err(e) => oauth_error(e, basic),
    }
}

/// `POST /oauth2/revoke`: ends the token's session; 200 for unknown tokens too.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oidc", operation_id = "oidc_revoke",
    request_body(content = TokenTypeForm, content_type = FORM),
    responses(
        (status = 200, description = "Revoked (or nothing to revoke)", body = Revoked),
        (status = 400, description = "`invalid_request`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody),
        (status = 404, description = "The OpenID provider is off", body = OAuthErrorBody)),
    security(("client_basic" = []), ()))]
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenTypeForm>, FormRejection>,
) -> Response {
    let (creds, token) = match token_request(&headers, form) {
        Ok(parts) => parts,
        Err(res) => return *res,
    };
    let basic = creds.basic.is_some();
    let url = endpoint(&state, "/oauth2/revoke");
    match state.aegis.revoke_token(&creds, &token, &url).await {
        Ok(()) => no_store(StatusCode::OK, Revoked {}),
        Err(e) => oauth_error(e, basic),
    }
}
