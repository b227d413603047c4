//! `/v2/client/*` (client token): login-code exchange, token check and password
//! change (spec §5.1, §5.2, §7.1). The acting user comes from the body's `code`
//! or `token`, never the Bearer.

use aegis_core::{AuthFailure, Error};
use axum::extract::{Request, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body::request_schema;
use super::envelope::{
    BadRequest, Empty, Envelope, Failure, TooLarge, TooManyRequests, Unauthorized, Unavailable,
};
use super::sessions::{body_token, token_object, SessionTokens, TokenBody, TokenObject};
use super::users::finish;
use super::{run, Access, Call};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(userinfo))
        .routes(routes!(token_check))
        .routes(routes!(password_change))
        .routes(routes!(jwks))
}

request_schema! {
    /// `client/userinfo` (spec §5.1).
    UserinfoBody as PangeaClientUserinfoRequest {
        /// The login code from the hosted login's redirect.
        #[schema(pattern = "^p[a-z][a-z2]_[a-z2-7]{32}$")]
        code: String,
        /// Accepted and not checked: aegis has no flows.
        #[schema(pattern = "^pfl_[a-z2-7]{32}$")]
        flow_id: Option<String>,
    }
}

request_schema! {
    /// `client/password/change` (spec §5.2).
    PasswordChangeBody as PangeaClientPasswordChangeRequest {
        /// The user's access token.
        token: String,
        old_password: String,
        /// Checked against the core password policy.
        new_password: String,
    }
}

request_schema! {
    /// `client/jwks` (spec §7.5): no fields.
    JwksBody as PangeaClientJwksRequest {}
}

/// The JWK set (the keys of `/.well-known/jwks.json`).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaJwks)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Jwks {
    keys: Vec<crate::wellknown::Jwk>,
}

/// `^p[a-z][a-z2]_[a-z2-7]{32}$`, the code pattern of spec §5.1.
fn code_pattern(s: &str) -> bool {
    let b = s.as_bytes();
    let base32 = |c: &u8| c.is_ascii_lowercase() || (b'2'..=b'7').contains(c);
    b.len() == 36
        && b[0] == b'p'
        && b[1].is_ascii_lowercase()
        && (b[2].is_ascii_lowercase() || b[2] == b'2')
        && b[3] == b'_'
        && b[4..].iter().all(base32)
}

/// `^pfl_[a-z2-7]{32}$`: a flow id.
fn flow_pattern(s: &str) -> bool {
    s.strip_prefix("pfl_").is_some_and(|rest| {
        rest.len() == 32
            && rest
                .bytes()
                .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))
    })
}

/// Exchange a hosted-login code for the session's tokens — spec §5.1. A
/// well-formed `flow_id` is ignored: aegis has no flows, and the code alone
/// names its session.
#[utoipa::path(post, path = "/v2/client/userinfo", tag = "pangea", operation_id = "pangea_client_userinfo",
    security(("bearer" = [])),
    request_body = UserinfoBody,
    responses(
        (status = 200, description = "Login code exchanged", body = Envelope<SessionTokens>),
        (status = 400, description = "`ValidationError`; `InvalidCode`: the code is unknown, used or expired", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn userinfo(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |mut call: Call| async move {
        let code = call.body.req_string("code");
        call.body.pattern("code", &code, code_pattern);
        let flow = call.body.string("flow_id");
        call.body.pattern("flow_id", &flow, flow_pattern);
        let call = finish(call)?;
        let aegis = &call.state.aegis;
        let login = aegis.exchange_login_code(&code.unwrap_or_default()).await?;
        // The session may end between the exchange and the description.
        let describe = |e: Error| match e {
            Error::Unauthenticated(_) => Failure::from(Error::NotFound("code")),
            e => e.into(),
        };
        let tokens = &login.tokens;
        let active = aegis
            .inspect_token(&tokens.access_token)
            .await
            .map_err(describe)?;
        let refresh = aegis
            .inspect_token(&tokens.refresh_token)
            .await
            .map_err(describe)?;
        Ok((
            "Login code exchanged".into(),
            json!({
                "active_token": token_object(&active, Some(&tokens.access_token)),
                "refresh_token": token_object(&refresh, Some(&tokens.refresh_token)),
            }),
        ))
    })
    .await
}

/// Describe a token — spec §7.1.
#[utoipa::path(post, path = "/v2/client/token/check", tag = "pangea", operation_id = "pangea_client_token_check",
    security(("bearer" = [])),
    request_body = TokenBody,
    responses(
        (status = 200, description = "Token found (`token` itself is not echoed)", body = Envelope<TokenObject>),
        (status = 400, description = "`ValidationError`; `InvalidToken` or `ExpiredToken`", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn token_check(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |mut call: Call| async move {
        let token = call.body.req_string("token");
        let call = finish(call)?;
        let info = call
            .state
            .aegis
            .inspect_token(&token.unwrap_or_default())
            .await
            .map_err(body_token)?;
        Ok(("Token is valid".into(), token_object(&info, None)))
    })
    .await
}

/// Change one's password with the old one — spec §5.2.
#[utoipa::path(post, path = "/v2/client/password/change", tag = "pangea", operation_id = "pangea_client_password_change",
    security(("bearer" = [])),
    request_body = PasswordChangeBody,
    responses(
        (status = 200, description = "Password changed", body = Envelope<Empty>),
        (status = 400, description = "`ValidationError` (`BadFormat` at `/new_password`: the password policy); `InvalidToken` or `ExpiredToken`; `AuthenticationFailure`: wrong `old_password`", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge),
        (status = 429, description = "`TooManyRequests`: too many wrong passwords", body = TooManyRequests, headers(("Retry-After" = u64, description = "seconds"))),
        (status = 503, description = "`ServiceNotAvailable`: the password hashing queue is full", body = Unavailable, headers(("Retry-After" = u64, description = "seconds")))))]
async fn password_change(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |mut call: Call| async move {
        let token = call.body.req_string("token");
        let old = call.body.req_string("old_password");
        let new = call.body.req_string("new_password");
        let call = finish(call)?;
        let aegis = &call.state.aegis;
        let owner = aegis
            .authenticate(&token.unwrap_or_default())
            .await
            .map_err(body_token)?;
        aegis
            .change_password(
                &owner,
                &old.unwrap_or_default(),
                &new.unwrap_or_default(),
                call.ip,
            )
            .await
            .map_err(|e| match e {
                Error::InvalidField { reason, .. } => {
                    Failure::field("BadFormat", "/new_password", reason)
                }
                Error::Forbidden => body_token(Error::Unauthenticated(AuthFailure::Malformed)),
                e => e.into(),
            })?;
        Ok(("Password changed".into(), json!({})))
    })
    .await
}

/// The public keys that verify aegis access tokens — spec §7.5 `client/jwks`
/// (the same set as `/.well-known/jwks.json`).
#[utoipa::path(post, path = "/v2/client/jwks", tag = "pangea", operation_id = "pangea_client_jwks",
    security(("bearer" = [])),
    request_body = JwksBody,
    responses(
        (status = 200, description = "JWK set", body = Envelope<Jwks>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn jwks(State(s): State<AppState>, req: Request) -> Response {
    run(s, req, Access::Client, |call: Call| async move {
        let call = finish(call)?;
        Ok(("JWKS retrieved".into(), call.state.aegis.jwks()))
    })
    .await
}
