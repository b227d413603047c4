//! The `aiohttp` dialect: the "aegis" library for aiohttp (seed 002), exactly as
//! `shared/spec/aiohttp-aegis.md` pins it: `POST /auth`, `GET /me`,
//! `POST /auth/refresh`, RFC 7807 problems.

mod error;

use aegis_core::service::LoginRequest;
use aegis_core::Role;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use error::ProblemBody;
pub use error::{Kind, Problem};

use crate::extract::{authorization, read_json_value, Authorization, ClientIp};
use crate::state::AppState;

/// The aiohttp routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(me))
        .routes(routes!(refresh))
}

/// True for the paths this dialect owns (`/auth…` except Pegasys's, `/me`).
pub fn owns(path: &str) -> bool {
    let pegasys = matches!(path, "/auth/me" | "/auth/logout");
    !pegasys && (path == "/auth" || path.starts_with("/auth/") || path == "/me" || path == "/me/")
}

/// Where a problem happened: the public base URL (or `http://` + `Host`, else the
/// request target's authority, as HTTP/2 and absolute-form requests carry it) +
/// path, without the query.
fn instance(state: &AppState, headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri.path();
    let base = match &state.config.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| uri.authority().map(|a| a.as_str()))
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    format!("{base}{path}")
}

/// The request context every problem needs.
pub struct Ctx {
    instance: String,
    status_as_string: bool,
}

impl Ctx {
    fn problem(&self, kind: Kind) -> Problem {
        Problem {
            kind,
            instance: self.instance.clone(),
            status_as_string: self.status_as_string,
        }
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self {
            instance: instance(state, &parts.headers, &parts.uri),
            status_as_string: state.config.aiohttp.problem_status_as_string,
        })
    }
}

/// A 404/405 (or any bare status) as a problem.
pub fn status_problem(state: &AppState, req: &Request, status: StatusCode) -> Response {
    let detail = match status {
        StatusCode::NOT_FOUND => "The requested resource was not found.",
        StatusCode::METHOD_NOT_ALLOWED => "The method is not allowed for this resource.",
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large.",
        _ => "The request could not be served.",
    };
    Problem {
        kind: Kind::Plain {
            status,
            detail: detail.into(),
            retry_after: None,
        },
        instance: instance(state, req.headers(), req.uri()),
        status_as_string: state.config.aiohttp.problem_status_as_string,
    }
    .into_response()
}

/// A core error as a problem document, for a path of this dialect.
pub fn error_problem(state: &AppState, req: &Request, e: aegis_core::Error) -> Response {
    Problem {
        kind: Kind::from_core(e),
        instance: instance(state, req.headers(), req.uri()),
        status_as_string: state.config.aiohttp.problem_status_as_string,
    }
    .into_response()
}

/// Permissions of a role, exactly as spec §3 lists them.
fn permissions(role: Role) -> Vec<&'static str> {
    match role {
        Role::Admin => vec!["user", "admin"],
        Role::User => vec!["user"],
        Role::View => vec!["view"],
    }
}

/// Reads the body as JSON whatever its `Content-Type`, as aiohttp's
/// `request.json()` does (spec §2: a body that is not JSON is a 400; there is no
/// 415). NUL characters are left to the fields that read them: a login or a
/// refresh token holding one fails like any other wrong value.
async fn json_body(state: &AppState, ctx: &Ctx, req: Request) -> Result<Value, Problem> {
    read_json_value(req.into_body(), state.config.max_body_bytes)
        .await
        .map_err(|e| ctx.problem(Kind::from_body(e)))
}

/// `POST /auth` body (unknown fields are ignored).
#[derive(Deserialize, ToSchema)]
#[schema(as = AiohttpLoginRequest)]
#[allow(dead_code)]
struct LoginBody {
    /// Username or email.
    username: String,
    password: String,
    /// A current TOTP code or an unused recovery code; required once the user
    /// has a second factor.
    otp: Option<String>,
}

/// A session's tokens.
#[derive(Serialize, ToSchema)]
#[schema(as = AiohttpTokens)]
#[serde(deny_unknown_fields)]
struct TokenResponse {
    /// EdDSA JWT, the bare token (no `Bearer ` prefix).
    access_token: String,
    /// Opaque refresh token, rotated on every use.
    refresh_token: String,
}

/// The authenticated user, from live state.
#[derive(Serialize, ToSchema)]
#[schema(as = AiohttpMe)]
#[serde(deny_unknown_fields)]
struct MeResponse {
    /// Numeric user id.
    #[schema(minimum = 1)]
    id: i64,
    username: String,
    #[schema(value_type = Vec<Permission>)]
    permissions: Vec<&'static str>,
    /// Expiry of the presented credential, epoch seconds.
    exp: i64,
}

/// A permission of the library's user dict (spec §3).
#[derive(Serialize, ToSchema)]
#[schema(as = AiohttpPermission)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Permission {
    User,
    Admin,
    View,
}

/// `POST /auth/refresh` body (unknown fields are ignored).
#[derive(Deserialize, ToSchema)]
#[schema(as = AiohttpRefreshRequest)]
#[allow(dead_code)]
struct RefreshBody {
    refresh_token: String,
}

fn tokens(access_token: String, refresh_token: String) -> Json<TokenResponse> {
    Json(TokenResponse {
        access_token,
        refresh_token,
    })
}

/// Log in with username (or email) and password — spec §3 `POST /auth`.
#[utoipa::path(post, path = "/auth", tag = "aiohttp", operation_id = "aiohttp_login",
    request_body = LoginBody, responses(
    (status = 200, description = "Signed in", body = TokenResponse),
    (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
    (status = 401, description = "`AuthenticationFailedException`, or a second factor is required", body = ProblemBody, content_type = "application/problem+json"),
    (status = 403, description = "The password has expired", body = ProblemBody, content_type = "application/problem+json"),
    (status = 413, description = "The body is too large", body = ProblemBody, content_type = "application/problem+json"),
    (status = 429, description = "Throttled", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "seconds"))),
    (status = 503, description = "The password hashing queue is full", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "seconds")))))]
async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    ClientIp(ip): ClientIp,
    req: Request,
) -> Result<Json<TokenResponse>, Problem> {
    let body = json_body(&state, &ctx, req).await?;
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let otp = match body.get("otp") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(otp)) => Ok(Some(otp.clone())),
        Some(_) => Err(()),
    };
    // A missing or wrongly typed field fails as a wrong password does, through
    // the same login (spec §3: identical bodies, dummy-hash timing, throttled).
    let request = match (field("username"), field("password"), otp) {
        (Some(identifier), Some(password), Ok(otp)) => LoginRequest {
            identifier,
            password,
            otp,
            ip,
        },
        _ => LoginRequest {
            identifier: String::new(),
            password: String::new(),
            otp: None,
            ip,
        },
    };
    let login = state.aegis.login(request).await.map_err(|e| {
        ctx.problem(match e {
            aegis_core::Error::InvalidField { .. } => Kind::AuthenticationFailed,
            aegis_core::Error::MfaRequired => Kind::Plain {
                status: StatusCode::UNAUTHORIZED,
                detail: "A second factor is required: send the current code in \"otp\".".into(),
                retry_after: None,
            },
            e => Kind::from_core(e),
        })
    })?;
    Ok(tokens(
        login.tokens.access_token,
        login.tokens.refresh_token,
    ))
}

/// The authenticated user, from live state — spec §3 `GET /me`.
#[utoipa::path(get, path = "/me", tag = "aiohttp", operation_id = "aiohttp_me",
    security(("bearer" = [])), responses(
    (status = 200, description = "The user", body = MeResponse),
    (status = 401, description = "`AuthRequiredException`, `InvalidTokenException` or `TokenExpiredException`", body = ProblemBody, content_type = "application/problem+json")))]
async fn me(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
) -> Result<Json<MeResponse>, Problem> {
    let token = match authorization(&headers, true) {
        Authorization::Absent => return Err(ctx.problem(Kind::AuthRequired)),
        Authorization::Invalid => return Err(ctx.problem(Kind::InvalidToken)),
        Authorization::Token(t) => t,
    };
    let p = state
        .aegis
        .authenticate(&token)
        .await
        .map_err(|e| ctx.problem(Kind::from_core(e)))?;
    Ok(Json(MeResponse {
        id: p.user.num_id,
        username: p.user.username.to_string(),
        permissions: permissions(p.role()),
        exp: p.expires_at().timestamp(),
    }))
}

/// Exchange a refresh token (rotated unless `aiohttp.refresh_rotation` is off) —
/// spec §3 `POST /auth/refresh`.
#[utoipa::path(post, path = "/auth/refresh", tag = "aiohttp", operation_id = "aiohttp_refresh",
    request_body = RefreshBody, responses(
    (status = 200, description = "The rotated pair", body = TokenResponse),
    (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = "application/problem+json"),
    (status = 401, description = "`InvalidRefreshTokenException`, or `InvalidTokenException` for a bad `Authorization`", body = ProblemBody, content_type = "application/problem+json"),
    (status = 413, description = "The body is too large", body = ProblemBody, content_type = "application/problem+json")))]
async fn refresh(
    State(state): State<AppState>,
    ctx: Ctx,
    req: Request,
) -> Result<Json<TokenResponse>, Problem> {
    let access = match authorization(req.headers(), true) {
        Authorization::Absent => None,
        Authorization::Invalid => return Err(ctx.problem(Kind::InvalidToken)),
        Authorization::Token(t) => Some(t),
    };
    let body = json_body(&state, &ctx, req).await?;
    let Some(presented) = body.get("refresh_token").and_then(Value::as_str) else {
        return Err(ctx.problem(Kind::InvalidRefreshToken));
    };
    let rotate = state
        .config
        .aiohttp
        .refresh_rotation
        .unwrap_or(state.config.core.refresh_rotation);
    let pair = state
        .aegis
        .refresh_rotating(presented, access.as_deref(), rotate)
        .await
        .map_err(|e| ctx.problem(Kind::from_core(e)))?;
    Ok(tokens(pair.access_token, pair.refresh_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership() {
        assert!(owns("/auth"));
        assert!(owns("/auth/refresh"));
        assert!(owns("/auth/other"));
        assert!(owns("/me"));
        assert!(!owns("/auth/me"));
        assert!(!owns("/auth/logout"));
        assert!(!owns("/api/auth/state"));
        assert!(!owns("/authx"));
    }

    #[test]
    fn permissions_follow_spec() {
        assert_eq!(permissions(Role::Admin), ["user", "admin"]);
        assert_eq!(permissions(Role::User), ["user"]);
        assert_eq!(permissions(Role::View), ["view"]);
    }
}
