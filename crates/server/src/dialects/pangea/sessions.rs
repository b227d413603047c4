//! Sessions (spec §7.2): refresh, logout and invalidation for clients (the
//! user of the body's token) and for admins. Sessions are the core sessions of
//! every dialect: ending one here ends it on all of them.

use std::collections::BTreeMap;

use aegis_core::authz::Capability;
use aegis_core::service::{TokenInfo, TokenKind};
use aegis_core::{AuthFailure, Error};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body::request_schema;
use super::envelope::{
    time, BadRequest, Empty, Envelope, Failure, Forbidden, NotFound, TooLarge, Unauthorized,
};
use super::users::finish;
use super::{ids, run, Access, Call};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(client_refresh))
        .routes(routes!(client_logout))
        .routes(routes!(client_invalidate))
        .routes(routes!(admin_invalidate))
        .routes(routes!(admin_logout))
}

/// A login-token object (spec §5.1, §7.1): `token` only where the answer hands
/// the token out.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaLoginToken)]
#[serde(deny_unknown_fields)]
pub struct TokenObject {
    /// The token itself: an access token (JWT) or a refresh token (`ptr_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    token: Option<String>,
    /// `pmt_…`: the session (or API token) id.
    #[schema(pattern = "^pmt_[a-z2-7]{32}$")]
    id: String,
    #[serde(rename = "type")]
    kind: TokenType,
    /// Total lifetime, seconds.
    #[schema(minimum = 1)]
    life: i64,
    #[schema(format = DateTime)]
    expire: String,
    enabled: bool,
    /// The user, `pui_…`.
    #[schema(pattern = "^pui_[a-z2-7]{32}$")]
    identity: String,
    /// `""` for a user without an email.
    email: String,
    profile: BTreeMap<String, String>,
    #[schema(format = DateTime)]
    created_at: String,
}

/// `user`: an access token; `session`: a refresh token; `service`: an API token.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaTokenType)]
#[serde(rename_all = "lowercase")]
enum TokenType {
    User,
    Session,
    Service,
}

/// The login-token object (`token` included when `secret` is given).
pub fn token_object(info: &TokenInfo, secret: Option<&str>) -> Value {
    let kind = match info.kind {
        TokenKind::Access => TokenType::User,
        TokenKind::Refresh => TokenType::Session,
        TokenKind::Api => TokenType::Service,
    };
    json!(TokenObject {
        token: secret.map(str::to_owned),
        id: ids::encode(ids::TOKEN, info.id),
        kind,
        life: (info.expires_at - info.created_at).num_seconds().max(1),
        expire: time(info.expires_at),
        enabled: true,
        identity: ids::encode(ids::USER, info.user.id),
        email: info
            .user
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        profile: info.user.profile.clone(),
        created_at: time(info.created_at),
    })
}

/// The tokens of a session (`client/userinfo`, `client/session/refresh`).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSessionTokens)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SessionTokens {
    /// The access token (`type` `user`).
    active_token: TokenObject,
    /// The refresh token (`type` `session`).
    refresh_token: TokenObject,
}

request_schema! {
    /// `client/session/refresh` (spec §7.2).
    RefreshBody as PangeaClientSessionRefreshRequest {
        refresh_token: String,
        /// The session's (possibly expired) access token.
        user_token: Option<String>,
    }
}

request_schema! {
    /// A user's token in the body: the user the client endpoint acts for.
    TokenBody as PangeaClientTokenRequest {
        token: String,
    }
}

request_schema! {
    /// `client/session/invalidate` (spec §7.2).
    ClientInvalidateBody as PangeaClientSessionInvalidateRequest {
        token: String,
        #[schema(pattern = "^pmt_[a-z2-7]{32}$")]
        session_id: String,
    }
}

request_schema! {
    /// `session/invalidate` (spec §7.2).
    SessionIdBody as PangeaSessionInvalidateRequest {
        #[schema(pattern = "^pmt_[a-z2-7]{32}$")]
        session_id: String,
    }
}

request_schema! {
    /// `session/logout` (spec §7.2): every session of the user the identity
    /// names (a `pui_` id, a session id, or a token); one naming nobody ends
    /// nothing.
    UserIdBody as PangeaSessionLogoutRequest {
        #[schema(pattern = "^[a-zA-Z0-9 '.:/_-]+$")]
        user_id: String,
    }
}

/// `session/logout`'s `user_id` (spec §7.2, Pangea's schema): any string of
/// `^[a-zA-Z0-9 '.:/_-]+$`.
fn logout_identity(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" '.:/_-".contains(&b))
}

/// A token in the body that does not (or no longer) work.
pub fn body_token(e: Error) -> Failure {
    match e {
        Error::Unauthenticated(AuthFailure::Expired) => Failure::status(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The token has expired",
        ),
        Error::Unauthenticated(_) => Failure::status(
            StatusCode::BAD_REQUEST,
            "InvalidToken",
            "The token is not valid",
        ),
        e => e.into(),
    }
}

fn session_id(call: &mut Call) -> Option<String> {
    let id = call.body.req_string("session_id");
    call.body.pattern("session_id", &id, |s| {
        !matches!(ids::decode(ids::TOKEN, s), Err(ids::IdError::Pattern))
    });
    id
}

fn decode_session(id: Option<String>) -> Result<uuid::Uuid, Failure> {
    ids::decode(ids::TOKEN, id.as_deref().unwrap_or_default())
        .map_err(|_| Failure::not_found("session"))
}

/// Rotate a refresh token: a new pair — spec §7.2 `client/session/refresh`.
#[utoipa::path(post, path = "/v2/client/session/refresh", tag = "pangea", operation_id = "pangea_client_session_refresh",
    security(("bearer" = [])),
    request_body = RefreshBody,
    responses(
        (status = 200, description = "Session refreshed: the rotated pair", body = Envelope<SessionTokens>),
        (status = 400, description = "`ValidationError`; `CantRefreshToken`: the refresh token is unknown, rotated out, revoked or expired (a rotated-out one ends its session)", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn client_refresh(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |mut call: Call| async move {
        let refresh = call.body.req_string("refresh_token");
        let user_token = call.body.string("user_token");
        let call = finish(call)?;
        let aegis = &call.state.aegis;
        let pair = aegis
            .refresh(&refresh.unwrap_or_default(), user_token.as_deref())
            .await
            .map_err(|e| match e {
                Error::Unauthenticated(_) => Failure::status(
                    StatusCode::BAD_REQUEST,
                    "CantRefreshToken",
                    "The refresh token cannot be used",
                ),
                e => e.into(),
            })?;
        let active = aegis.inspect_token(&pair.access_token).await?;
        let refresh = aegis.inspect_token(&pair.refresh_token).await?;
        Ok((
            "Session refreshed".into(),
            json!({
                "active_token": token_object(&active, Some(&pair.access_token)),
                "refresh_token": token_object(&refresh, Some(&pair.refresh_token)),
            }),
        ))
    })
    .await
}

/// End the session of the body's token — spec §7.2 `client/session/logout`.
#[utoipa::path(post, path = "/v2/client/session/logout", tag = "pangea", operation_id = "pangea_client_session_logout",
    security(("bearer" = [])),
    request_body = TokenBody,
    responses(
        (status = 200, description = "Session ended", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError`; `InvalidToken` or `ExpiredToken`: the body's `token` does not work", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn client_logout(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |mut call: Call| async move {
        let token = call.body.req_string("token");
        let call = finish(call)?;
        let aegis = &call.state.aegis;
        let owner = aegis
            .authenticate(&token.unwrap_or_default())
            .await
            .map_err(body_token)?;
        aegis.logout(&owner).await?;
        Ok(("Session ended".into(), json!({})))
    })
    .await
}

/// End one of the token owner's sessions — spec §7.2 `client/session/invalidate`.
#[utoipa::path(post, path = "/v2/client/session/invalidate", tag = "pangea", operation_id = "pangea_client_session_invalidate",
    security(("bearer" = [])),
    request_body = ClientInvalidateBody,
    responses(
        (status = 200, description = "Session invalidated", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError`; `InvalidToken` or `ExpiredToken`: the body's `token` does not work", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 404, description = "`NotFound`: the token's owner has no such live session", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn client_invalidate(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |mut call: Call| async move {
        let token = call.body.req_string("token");
        let sid = session_id(&mut call);
        let call = finish(call)?;
        let aegis = &call.state.aegis;
        let owner = aegis
            .authenticate(&token.unwrap_or_default())
            .await
            .map_err(body_token)?;
        let user = owner.user.id;
        aegis
            .invalidate_session(
                &aegis_core::Actor::Principal(owner),
                decode_session(sid)?,
                Some(user),
            )
            .await?;
        Ok(("Session invalidated".into(), json!({})))
    })
    .await
}

/// End any session — spec §7.2 `session/invalidate`.
#[utoipa::path(post, path = "/v2/session/invalidate", tag = "pangea", operation_id = "pangea_session_invalidate",
    security(("bearer" = [])),
    request_body = SessionIdBody,
    responses(
        (status = 200, description = "Session invalidated", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`NotFound`: there is no such live session", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn admin_invalidate(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let sid = session_id(&mut call);
            let call = finish(call)?;
            call.state
                .aegis
                .invalidate_session(&call.actor(), decode_session(sid)?, None)
                .await?;
            Ok(("Session invalidated".into(), json!({})))
        },
    )
    .await
}

/// End every session of a user — spec §7.2 `session/logout`.
#[utoipa::path(post, path = "/v2/session/logout", tag = "pangea", operation_id = "pangea_session_logout",
    security(("bearer" = [])),
    request_body = UserIdBody,
    responses(
        (status = 200, description = "Sessions ended", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn admin_logout(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let user = call.body.req_string("user_id");
            call.body.pattern("user_id", &user, logout_identity);
            let call = finish(call)?;
            let text = user.unwrap_or_default();
            let (aegis, actor) = (&call.state.aegis, call.actor());
            // The user the identity names: a user id, a session id, or a
            // live token of theirs. One that names nobody ends nothing.
            let owner = if let Ok(id) = ids::decode(ids::USER, &text) {
                Some(id)
            } else if let Ok(sid) = ids::decode(ids::TOKEN, &text) {
                aegis.session_owner(&actor, sid).await?
            } else {
                aegis.inspect_token(&text).await.ok().map(|t| t.user.id)
            };
            if let Some(id) = owner {
                match aegis.logout_user(&actor, id).await {
                    Err(Error::NotFound(_)) => {}
                    other => other?,
                }
            }
            Ok(("Sessions ended".into(), json!({})))
        },
    )
    .await
}
