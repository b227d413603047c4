//! The `pegasys` dialect: the Aegis API of Pegasys cloud (seed 000), exactly as
//! `shared/spec/pegasys-aegis.md` pins it: identity, logout, API tokens and user
//! administration by wildcard. Errors are `{"status":"fail","error":…}`.

mod error;
mod wire;

use aegis_core::api_token::CreateApiTokenRequest;
use aegis_core::service::UserChange;
use aegis_core::{Actor, Error, Principal, User};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::Fail;
use error::FailBody;
use wire::{
    parse_token_id, rfc3339, token_id, MeResponse, MintResponse, PassResponse, TokenItem,
    TokenRequest, UserItem, UserPassResponse, UserUpdateRequest,
};

use crate::extract::{authorization, read_json, Authorization};
use crate::state::AppState;

/// The Pegasys routes.
#[allow(deprecated)] // `POST /api/users/{email}` is served, and documented as deprecated.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(logout, logout_post))
        .routes(routes!(create_token, list_tokens, delete_token))
        .routes(routes!(
            list_users,
            update_user,
            update_user_deprecated,
            delete_user
        ))
}

/// True for the paths this dialect owns: `/api/…` except Argon's `/api/auth/…`,
/// and `/auth/me`, `/auth/logout`.
pub fn owns(path: &str) -> bool {
    matches!(path, "/auth/me" | "/auth/logout")
        || (path.starts_with("/api/") && !path.starts_with("/api/auth/") && path != "/api/auth")
}

/// A bare-status error in this dialect's shape (404, 405).
pub fn status_fail(status: StatusCode) -> Response {
    let message = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
        _ => "Request body could not be read",
    };
    Fail::new(status, message).into_response()
}

/// The caller, from `Authorization: Bearer …` (scheme case-insensitive).
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, Fail> {
    match authorization(headers, false) {
        Authorization::Token(t) => Ok(state.aegis.authenticate(&t).await?),
        _ => Err(Fail::unauthorized()),
    }
}

/// The route's path parameter, percent-decoded once. One that does not decode
/// to UTF-8 is a 400 in this dialect's shape (axum's own rejection is plain text).
struct Segment(String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Fail> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(segment)| Segment(segment))
            .map_err(|_| Fail::new(StatusCode::BAD_REQUEST, "Invalid path"))
    }
}

/// The body as a JSON object (400 otherwise, whatever the content type; 413 by size).
async fn object(state: &AppState, req: Request) -> Result<serde_json::Map<String, Value>, Fail> {
    let (parts, body) = req.into_parts();
    match read_json::<Value>(&parts.headers, body, state.config.max_body_bytes).await? {
        Value::Object(map) => Ok(map),
        _ => Err(Fail::bad_request("Request body must be a JSON object")),
    }
}

fn pass() -> Json<PassResponse> {
    Json(PassResponse::default())
}

/// The caller's identity — spec §4 `GET /auth/me`.
#[utoipa::path(get, path = "/auth/me", tag = "pegasys", operation_id = "pegasys_me",
    security(("bearer" = [])), responses(
    (status = 200, description = "The caller", body = MeResponse),
    (status = 401, description = "`Unauthorized`: no valid Bearer", body = FailBody)))]
async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<MeResponse>, Fail> {
    let p = caller(&state, &headers).await?;
    Ok(Json(MeResponse {
        email: p.user.login_key().to_owned(),
        role: p.role().as_str(),
        is_active: p.user.active,
    }))
}

/// Ends the presented credential (session or API token) — spec §4 `GET /auth/logout`.
#[utoipa::path(get, path = "/auth/logout", tag = "pegasys", operation_id = "pegasys_logout",
    security(("bearer" = [])), responses(
    (status = 200, description = "The credential is revoked", body = PassResponse),
    (status = 401, description = "`Unauthorized`: no valid Bearer", body = FailBody)))]
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<PassResponse>, Fail> {
    let p = caller(&state, &headers).await?;
    state.aegis.logout(&p).await?;
    Ok(pass())
}

/// Same as `GET /auth/logout`.
#[utoipa::path(post, path = "/auth/logout", tag = "pegasys", operation_id = "pegasys_logout_post",
    security(("bearer" = [])), responses(
    (status = 200, description = "The credential is revoked", body = PassResponse),
    (status = 401, description = "`Unauthorized`: no valid Bearer", body = FailBody),
    (status = 413, description = "Request body too large", body = FailBody)))]
async fn logout_post(
    state: State<AppState>,
    headers: HeaderMap,
) -> Result<Json<PassResponse>, Fail> {
    logout(state, headers).await
}

/// Mint an API token owned by the caller — spec §4 `POST /api/tokens/{provider}`.
#[utoipa::path(post, path = "/api/tokens/{provider}", tag = "pegasys", operation_id = "pegasys_create_token",
    security(("bearer" = [])),
    params(("provider" = String, Path, description = "authentication provider, `[a-z0-9][a-z0-9_-]{0,31}`, e.g. `local`")),
    request_body = TokenRequest, responses(
    (status = 200, description = "The token; its secret is shown only here", body = MintResponse),
    (status = 400, description = "Invalid body, role, expiry, name or provider", body = FailBody),
    (status = 401, description = "`Unauthorized`: no valid Bearer", body = FailBody),
    (status = 403, description = "`Forbidden`: the caller may not mint tokens, or not of that role", body = FailBody),
    (status = 404, description = "`Unknown provider`", body = FailBody),
    (status = 413, description = "Request body too large", body = FailBody)))]
async fn create_token(
    State(state): State<AppState>,
    Segment(provider): Segment,
    req: Request,
) -> Result<Json<MintResponse>, Fail> {
    let p = caller(&state, req.headers()).await?;
    // A caller who may mint nothing hears so before its body is looked at.
    aegis_core::authz::require(p.rights(), aegis_core::authz::Capability::ManageSelf)?;
    let body = TokenRequest::parse(object(&state, req).await?)?;
    let owner = p.user.id;
    let minted = state
        .aegis
        .create_api_token(
            &Actor::Principal(p),
            owner,
            CreateApiTokenRequest {
                provider,
                role: body.role,
                expiry_s: body.expiry,
                name: body.name,
            },
        )
        .await?;
    Ok(Json(MintResponse {
        id: token_id(minted.token.id),
        token: minted.secret,
        expiry: rfc3339(minted.token.expires_at),
    }))
}

/// API tokens of a provider — spec §4 `GET /api/tokens/{provider}`.
#[utoipa::path(get, path = "/api/tokens/{provider}", tag = "pegasys", operation_id = "pegasys_list_tokens",
    security(("bearer" = [])),
    params(("provider" = String, Path, description = "authentication provider, `[a-z0-9][a-z0-9_-]{0,31}`")),
    responses(
    (status = 200, description = "Newest first: every token of the provider for admins and viewers, one's own for others", body = Vec<TokenItem>),
    (status = 400, description = "Not a provider name", body = FailBody),
    (status = 401, description = "`Unauthorized`: no valid Bearer", body = FailBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    Segment(provider): Segment,
    headers: HeaderMap,
) -> Result<Json<Vec<TokenItem>>, Fail> {
    let p = caller(&state, &headers).await?;
    let tokens = state.aegis.list_api_tokens(&p, &provider).await?;
    Ok(Json(tokens.into_iter().map(TokenItem::from).collect()))
}

/// Delete an API token — spec §4 `DELETE /api/tokens/{token_id}` (the path
/// segment is the token id, `tok_…`).
#[utoipa::path(delete, path = "/api/tokens/{provider}", tag = "pegasys", operation_id = "pegasys_delete_token",
    security(("bearer" = [])),
    params(("provider" = String, Path, description = "for DELETE: the token id, `tok_…`")),
    responses(
    (status = 200, description = "The token stops working at once", body = PassResponse),
    (status = 401, description = "`Unauthorized`: no valid Bearer", body = FailBody),
    (status = 403, description = "`Forbidden`", body = FailBody),
    (status = 404, description = "`Token not found`: unknown, or not the caller's", body = FailBody)))]
async fn delete_token(
    State(state): State<AppState>,
    Segment(id): Segment,
    headers: HeaderMap,
) -> Result<Json<PassResponse>, Fail> {
    let p = caller(&state, &headers).await?;
    aegis_core::authz::require(p.rights(), aegis_core::authz::Capability::ManageSelf)?;
    let id = parse_token_id(&id).ok_or(Fail::new(StatusCode::NOT_FOUND, "Token not found"))?;
    state.aegis.delete_api_token(&p, id).await?;
    Ok(pass())
}

/// Users whose email (else username) matches a wildcard pattern — spec §4
/// `GET /api/users/{pattern}`.
#[utoipa::path(get, path = "/api/users/{user}", tag = "pegasys", operation_id = "pegasys_list_users",
    security(("bearer" = [])),
    params(("user" = String, Path, description = "for GET: a pattern (`*` any run, `?` one character), ≤ 256 characters and ≤ 16 `*`")),
    responses(
    (status = 200, description = "By email, at most 1000", body = Vec<UserItem>,
        headers(("X-Total-Count" = u64, description = "users matching the pattern"))),
    (status = 400, description = "Bad pattern", body = FailBody),
    (status = 401, description = "`Unauthorized`: no valid Bearer", body = FailBody),
    (status = 403, description = "`Forbidden`", body = FailBody)))]
async fn list_users(
    State(state): State<AppState>,
    Segment(pattern): Segment,
    headers: HeaderMap,
) -> Result<Response, Fail> {
    let p = caller(&state, &headers).await?;
    let (users, total) = state
        .aegis
        .list_users(&Actor::Principal(p), &pattern)
        .await?;
    let items: Vec<UserItem> = users.iter().map(UserItem::from).collect();
    let mut res = Json(items).into_response();
    res.headers_mut()
        .insert("x-total-count", HeaderValue::from(total));
    Ok(res)
}

/// The user a path names (email, else username). No identifier holds a NUL
/// (the core refuses control characters in both), so a segment with one names
/// nobody; it is not looked up, as PostgreSQL cannot compare it.
async fn named_user(state: &AppState, who: &str) -> Result<User, Fail> {
    if who.contains('\0') {
        return Err(Error::NotFound("user").into());
    }
    Ok(state.aegis.find_user(who).await?)
}

async fn apply_update(
    state: &AppState,
    who: &str,
    req: Request,
) -> Result<Json<UserPassResponse>, Fail> {
    let p = caller(state, req.headers()).await?;
    aegis_core::authz::require(p.rights(), aegis_core::authz::Capability::Administer)?;
    let body = UserUpdateRequest::parse(object(state, req).await?)?;
    let user = named_user(state, who).await?;
    let updated = state
        .aegis
        .update_user(
            &Actor::Principal(p),
            user.id,
            UserChange {
                role: body.role,
                active: body.is_active,
            },
        )
        .await?;
    Ok(Json(UserPassResponse {
        status: "pass",
        email: updated.login_key().to_owned(),
    }))
}

/// Change a user's role or active flag — spec §4 `PUT /api/users/{email}`.
#[utoipa::path(put, path = "/api/users/{user}", tag = "pegasys", operation_id = "pegasys_update_user",
    security(("bearer" = [])),
    params(("user" = String, Path, description = "email (or username of an account without one)")),
    request_body = UserUpdateRequest, responses(
    (status = 200, description = "Updated", body = UserPassResponse),
    (status = 400, description = "Invalid body, role or isActive; neither given", body = FailBody),
    (status = 401, description = "`Unauthorized`: no valid Bearer", body = FailBody),
    (status = 403, description = "`Forbidden`", body = FailBody),
    (status = 404, description = "`User not found`", body = FailBody),
    (status = 409, description = "`Cannot remove the last active admin`", body = FailBody),
    (status = 413, description = "Request body too large", body = FailBody)))]
async fn update_user(
    State(state): State<AppState>,
    Segment(who): Segment,
    req: Request,
) -> Result<Json<UserPassResponse>, Fail> {
    apply_update(&state, &who, req).await
}

/// Deprecated alias of `PUT` — spec §4 `POST /api/users/{email}`.
#[utoipa::path(post, path = "/api/users/{user}", tag = "pegasys", operation_id = "pegasys_update_user_deprecated",
    security(("bearer" = [])),
    params(("user" = String, Path, description = "email (or username)")), request_body = UserUpdateRequest,
    responses(
    (status = 200, description = "Updated", body = UserPassResponse,
        headers(("Deprecation" = String, description = "`true`"), ("Link" = String, description = "the `successor-version`, `PUT`"))),
    (status = 400, description = "Invalid body, role or isActive; neither given", body = FailBody),
    (status = 401, description = "`Unauthorized`: no valid Bearer", body = FailBody),
    (status = 403, description = "`Forbidden`", body = FailBody),
    (status = 404, description = "`User not found`", body = FailBody),
    (status = 409, description = "`Cannot remove the last active admin`", body = FailBody),
    (status = 413, description = "Request body too large", body = FailBody)))]
#[deprecated = "use `PUT /api/users/{email}`"]
async fn update_user_deprecated(
    State(state): State<AppState>,
    Segment(who): Segment,
    req: Request,
) -> Response {
    let link = format!(
        "</api/users/{}>; rel=\"successor-version\"",
        wire::path_segment(&who)
    );
    let mut res = apply_update(&state, &who, req).await.into_response();
    let h = res.headers_mut();
    h.insert("deprecation", HeaderValue::from_static("true"));
    if let Ok(v) = HeaderValue::from_str(&link) {
        h.insert(header::LINK, v);
    }
    res
}

/// Delete a user with every session and token — spec §4 `DELETE /api/users/{email}`.
#[utoipa::path(delete, path = "/api/users/{user}", tag = "pegasys", operation_id = "pegasys_delete_user",
    security(("bearer" = [])),
    params(("user" = String, Path, description = "email (or username)")),
    responses(
    (status = 200, description = "Deleted, with every session and token", body = UserPassResponse),
    (status = 401, description = "`Unauthorized`: no valid Bearer", body = FailBody),
    (status = 403, description = "`Forbidden`", body = FailBody),
    (status = 404, description = "`User not found`", body = FailBody),
    (status = 409, description = "`Cannot remove the last active admin`", body = FailBody)))]
async fn delete_user(
    State(state): State<AppState>,
    Segment(who): Segment,
    headers: HeaderMap,
) -> Result<Json<UserPassResponse>, Fail> {
    let p = caller(&state, &headers).await?;
    aegis_core::authz::require(p.rights(), aegis_core::authz::Capability::Administer)?;
    let user = named_user(&state, &who).await?;
    state
        .aegis
        .delete_user(&Actor::Principal(p), user.id)
        .await?;
    Ok(Json(UserPassResponse {
        status: "pass",
        email: user.login_key().to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::owns;

    #[test]
    fn ownership() {
        assert!(owns("/auth/me"));
        assert!(owns("/auth/logout"));
        assert!(owns("/api/users/x"));
        assert!(owns("/api/anything"));
        assert!(!owns("/api/auth/state"));
        assert!(!owns("/auth"));
        assert!(!owns("/me"));
    }
}
