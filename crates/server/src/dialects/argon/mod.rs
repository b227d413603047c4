//! The `argon` dialect: the Argon panel's authentication API (seed 001), exactly
//! as `shared/spec/argon.md` pins it: register, login, state, profile. Errors are
//! `{"error": "<message>"}`; permissions are derived from the core role.

use aegis_core::service::{Login, LoginRequest, ProfileChange};
use aegis_core::{AuthFailure, Error, Principal, Role};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{authorization, read_json, Authorization, BodyError, ClientIp};
use crate::state::AppState;

/// The Argon routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(auth_state))
        .routes(routes!(update_profile))
}

/// True for the paths this dialect owns (`/api/auth…`).
pub fn owns(path: &str) -> bool {
    path == "/api/auth" || path.starts_with("/api/auth/")
}

/// An Argon error: a status and `{"error": …}` (plus `required` on 403).
#[derive(Debug)]
pub struct ArgonError {
    status: StatusCode,
    message: String,
    required: Option<&'static str>,
    retry_after: Option<u64>,
}

impl ArgonError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            required: None,
            retry_after: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn invalid_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Invalid credentials")
    }
}

/// A bare-status error in this dialect's shape (404, 405).
pub fn status_error(status: StatusCode) -> Response {
    let message = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
        _ => "Invalid request body",
    };
    ArgonError::new(status, message).into_response()
}

impl From<Error> for ArgonError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unauthenticated(AuthFailure::Missing) => Self::new(
                StatusCode::UNAUTHORIZED,
                "Authorization header missing or invalid format",
            ),
            Error::Unauthenticated(AuthFailure::Malformed) => {
                Self::new(StatusCode::UNAUTHORIZED, "Invalid token format")
            }
            Error::Unauthenticated(AuthFailure::Expired) => {
                Self::new(StatusCode::UNAUTHORIZED, "Token has expired")
            }
            Error::Unauthenticated(AuthFailure::Revoked) => {
                Self::new(StatusCode::UNAUTHORIZED, "Invalid token")
            }
            Error::Unauthenticated(_) => Self::invalid_credentials(),
            Error::PasswordExpired => Self::new(StatusCode::FORBIDDEN, "Password expired"),
            Error::Forbidden | Error::MfaRequired => Self {
                required: Some("profile.update"),
                ..Self::new(StatusCode::FORBIDDEN, "Insufficient permissions")
            },
            Error::Conflict { .. } => Self::bad_request("Username already exists"),
            Error::InvalidField { reason, .. } => Self::bad_request(reason),
            Error::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "Not found"),
            Error::LastAdmin => {
                Self::new(StatusCode::CONFLICT, "Cannot remove the last active admin")
            }
            Error::TooLarge => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
            Error::Locked { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "Too many login attempts")
            },
            Error::Unavailable { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
            },
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Server error")
            }
        }
    }
}

impl From<BodyError> for ArgonError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
            }
            // The contract has no 415: a body that is not JSON is a 400 whatever
            // its content type says (spec §3).
            BodyError::UnsupportedMediaType | BodyError::Invalid(_) | BodyError::Nul(_) => {
                Self::bad_request("Invalid request body")
            }
        }
    }
}

impl IntoResponse for ArgonError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.message});
        if let Some(required) = self.required {
            body["required"] = json!(required);
        }
        let res = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        crate::dialects::with_retry_after(res, self.retry_after)
    }
}

/// Argon permission strings of a role (spec §2), exactly, in this order.
fn permissions(role: Role) -> Vec<&'static str> {
    match role {
        Role::Admin => vec!["admin.*"],
        Role::User => vec!["servers.manage", "servers.view"],
        Role::View => vec!["servers.view"],
    }
}

async fn object(state: &AppState, req: Request) -> Result<Map<String, Value>, ArgonError> {
    let (parts, body) = req.into_parts();
    match read_json::<Value>(&parts.headers, body, state.config.max_body_bytes).await? {
        Value::Object(map) => Ok(map),
        _ => Err(ArgonError::bad_request("Invalid request body")),
    }
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, ArgonError> {
    match authorization(headers, false) {
        Authorization::Token(t) => Ok(state.aegis.authenticate(&t).await?),
        _ => Err(Error::Unauthenticated(AuthFailure::Missing).into()),
    }
}

/// `username` and `password`, both present strings (non-empty for login).
fn credentials(body: &Map<String, Value>, non_empty: bool) -> Result<(String, String), ArgonError> {
    let get = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .filter(|s| !non_empty || !s.is_empty())
            .map(str::to_owned)
    };
    match (get("username"), get("password")) {
        (Some(u), Some(p)) => Ok((u, p)),
        _ => Err(ArgonError::bad_request("Username and password required")),
    }
}

/// A session: its access token and the permissions of the user's role.
#[derive(Serialize, ToSchema)]
#[schema(as = ArgonToken)]
#[serde(deny_unknown_fields)]
struct TokenResponse {
    /// Session access token (JWT).
    token: String,
    #[schema(value_type = Vec<Permission>)]
    permissions: Vec<&'static str>,
}

/// Who the bearer is, read live.
#[derive(Serialize, ToSchema)]
#[schema(as = ArgonState)]
#[serde(deny_unknown_fields)]
struct StateResponse {
    /// Always `true` (an unauthenticated caller gets a 401).
    authenticated: bool,
    username: String,
    #[schema(value_type = Vec<Permission>)]
    permissions: Vec<&'static str>,
}

/// The profile changed; a fresh session for the caller.
#[derive(Serialize, ToSchema)]
#[schema(as = ArgonProfileUpdated)]
#[serde(deny_unknown_fields)]
struct ProfileResponse {
    #[schema(value_type = String, pattern = "^Profile updated successfully$")]
    message: &'static str,
    token: String,
    #[schema(value_type = Vec<Permission>)]
    permissions: Vec<&'static str>,
}

/// An Argon permission string (spec §2).
#[derive(Serialize, ToSchema)]
#[schema(as = ArgonPermission)]
#[allow(dead_code)]
enum Permission {
    #[serde(rename = "admin.*")]
    Admin,
    #[serde(rename = "servers.manage")]
    ServersManage,
    #[serde(rename = "servers.view")]
    ServersView,
}

// What `ArgonError` renders.
/// The error body (spec §3).
#[derive(Serialize, ToSchema)]
#[schema(as = ArgonErrorBody)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ErrorBody {
    error: String,
    /// On a 403 for a missing permission: the permission required.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    required: Option<String>,
}

/// `POST /api/auth/register` body (unknown fields are ignored).
#[derive(serde::Deserialize, ToSchema)]
#[schema(as = ArgonRegisterRequest)]
#[allow(dead_code)]
struct RegisterBody {
    /// 1–254 characters after trimming and NFKC; not another account's
    /// username or email.
    username: String,
    /// 8–256 characters; the core password policy.
    password: String,
}

/// `POST /api/auth/login` body (unknown fields are ignored).
#[derive(serde::Deserialize, ToSchema)]
#[schema(as = ArgonLoginRequest)]
#[allow(dead_code)]
struct Credentials {
    /// Username or email.
    #[schema(min_length = 1)]
    username: String,
    #[schema(min_length = 1)]
    password: String,
    /// A current TOTP code or an unused recovery code; required once the user
    /// has a second factor.
    otp: Option<String>,
}

/// `PUT /api/auth/profile` body: `newUsername` and/or `newPassword` (unknown
/// fields are ignored).
#[derive(serde::Deserialize, ToSchema)]
#[schema(as = ArgonProfileRequest)]
#[allow(dead_code, non_snake_case)]
struct ProfileBody {
    /// 1–254 characters after trimming and NFKC.
    newUsername: Option<String>,
    /// Required with `newPassword`; checked whenever given.
    currentPassword: Option<String>,
    /// 8–256 characters; the core password policy.
    newPassword: Option<String>,
}

fn token_response(login: Login) -> Json<TokenResponse> {
    Json(TokenResponse {
        permissions: permissions(login.user.role),
        token: login.tokens.access_token,
    })
}

/// Create an account and a session — spec §4 `POST /api/auth/register`.
#[utoipa::path(post, path = "/api/auth/register", tag = "argon", operation_id = "argon_register",
    request_body = RegisterBody, responses(
    (status = 200, description = "Registered and signed in", body = TokenResponse),
    (status = 400, description = "`Username and password required`, `Username already exists`, a password policy failure, `Invalid request body`", body = ErrorBody),
    (status = 403, description = "`Registration is disabled`", body = ErrorBody),
    (status = 413, description = "`Request body too large`", body = ErrorBody),
    (status = 503, description = "`Service unavailable`: the password hashing queue is full", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))))]
async fn register(
    State(state): State<AppState>,
    req: Request,
) -> Result<Json<TokenResponse>, ArgonError> {
    let body = object(&state, req).await?;
    let (username, password) = credentials(&body, false)?;
    let login = state
        .aegis
        .register(&username, &password)
        .await
        .map_err(|e| match e {
            Error::Forbidden => ArgonError::new(StatusCode::FORBIDDEN, "Registration is disabled"),
            e => e.into(),
        })?;
    Ok(token_response(login))
}

/// Log in with username (or email) and password — spec §4 `POST /api/auth/login`.
#[utoipa::path(post, path = "/api/auth/login", tag = "argon", operation_id = "argon_login",
    request_body = Credentials, responses(
    (status = 200, description = "Signed in", body = TokenResponse),
    (status = 400, description = "`Username and password required`, `otp must be a string`, `Invalid request body`", body = ErrorBody),
    (status = 401, description = "`Invalid credentials`, or a second factor is required", body = ErrorBody),
    (status = 403, description = "`Password expired`", body = ErrorBody),
    (status = 413, description = "`Request body too large`", body = ErrorBody),
    (status = 429, description = "`Too many login attempts`", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds"))),
    (status = 503, description = "`Service unavailable`: the password hashing queue is full", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    req: Request,
) -> Result<Json<TokenResponse>, ArgonError> {
    let body = object(&state, req).await?;
    let (identifier, password) = credentials(&body, true)?;
    let otp = match body.get("otp") {
        None | Some(Value::Null) => None,
        Some(Value::String(otp)) => Some(otp.clone()),
        Some(_) => return Err(ArgonError::bad_request("otp must be a string")),
    };
    let login = state
        .aegis
        .login(LoginRequest {
            identifier,
            password,
            otp,
            ip,
        })
        .await
        .map_err(|e| match e {
            Error::InvalidField { .. } => ArgonError::invalid_credentials(),
            Error::MfaRequired => ArgonError::new(
                StatusCode::UNAUTHORIZED,
                "Second factor required: send the current code in \"otp\"",
            ),
            e => e.into(),
        })?;
    Ok(token_response(login))
}

/// Who the bearer is — spec §4 `GET /api/auth/state`.
#[utoipa::path(get, path = "/api/auth/state", tag = "argon", operation_id = "argon_state",
    security(("bearer" = [])), responses(
    (status = 200, description = "The bearer", body = StateResponse),
    (status = 401, description = "No valid Bearer (`Authorization header missing or invalid format`, `Invalid token format`, `Token has expired`, `Invalid token`)", body = ErrorBody)))]
async fn auth_state(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<StateResponse>, ArgonError> {
    let p = caller(&state, &headers).await?;
    Ok(Json(StateResponse {
        authenticated: true,
        username: p.user.username.to_string(),
        permissions: permissions(p.role()),
    }))
}

fn optional_string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ArgonError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ArgonError::bad_request(format!("{key} must be a string"))),
    }
}

/// Change one's username and/or password — spec §4 `PUT /api/auth/profile`.
#[utoipa::path(put, path = "/api/auth/profile", tag = "argon", operation_id = "argon_update_profile",
    security(("bearer" = [])), request_body = ProfileBody, responses(
    (status = 200, description = "Updated; a fresh session", body = ProfileResponse),
    (status = 400, description = "`Nothing to update`, `Current password is required to change password`, `Username already exists`, a field or policy failure, `Invalid request body`", body = ErrorBody),
    (status = 401, description = "No valid Bearer, or `Invalid credentials`: wrong `currentPassword`", body = ErrorBody),
    (status = 403, description = "`Insufficient permissions` (`required`: `profile.update`), or `Password expired`", body = ErrorBody),
    (status = 413, description = "`Request body too large`", body = ErrorBody),
    (status = 429, description = "`Too many login attempts`", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds"))),
    (status = 503, description = "`Service unavailable`: the password hashing queue is full", body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))))]
async fn update_profile(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    req: Request,
) -> Result<Json<ProfileResponse>, ArgonError> {
    let p = caller(&state, req.headers()).await?;
    let body = object(&state, req).await?;
    let change = ProfileChange {
        new_username: optional_string(&body, "newUsername")?,
        current_password: optional_string(&body, "currentPassword")?,
        new_password: optional_string(&body, "newPassword")?,
        ip,
    };
    let login = state.aegis.change_own_profile(&p, change).await?;
    Ok(Json(ProfileResponse {
        message: "Profile updated successfully",
        permissions: permissions(login.user.role),
        token: login.tokens.access_token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_and_permissions() {
        assert!(owns("/api/auth/state"));
        assert!(owns("/api/auth/x"));
        assert!(!owns("/api/users/x"));
        assert_eq!(permissions(Role::Admin), ["admin.*"]);
        assert_eq!(permissions(Role::User), ["servers.manage", "servers.view"]);
        assert_eq!(permissions(Role::View), ["servers.view"]);
    }
}
