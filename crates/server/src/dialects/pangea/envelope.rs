//! The Pangea response envelope (spec §2): exactly six keys, `prq_` request
//! ids, RFC 3339 times with microseconds, the status catalogue, and
//! `ValidationError` results with JSON-pointer sources.

use aegis_core::{AuthFailure, Error};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::ToSchema;

use super::ids;
use crate::extract::BodyError;

/// RFC 3339, UTC, microseconds, `Z`.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// One entry of a `ValidationError` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub code: &'static str,
    pub detail: String,
    /// JSON pointer into the request.
    pub source: String,
}

impl FieldError {
    pub fn new(code: &'static str, source: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            source: source.into(),
        }
    }
}

/// A non-success answer.
#[derive(Debug)]
pub enum Failure {
    /// 400 with `result.errors`.
    Validation(Vec<FieldError>),
    /// Any other status: HTTP code, status name, summary.
    Status {
        http: StatusCode,
        status: &'static str,
        summary: String,
        retry_after: Option<u64>,
    },
}

impl Failure {
    pub fn status(http: StatusCode, status: &'static str, summary: impl Into<String>) -> Self {
        Failure::Status {
            http,
            status,
            summary: summary.into(),
            retry_after: None,
        }
    }

    pub fn field(code: &'static str, source: &str, detail: impl Into<String>) -> Self {
        Failure::Validation(vec![FieldError::new(code, source, detail)])
    }

    pub fn unauthorized() -> Self {
        Self::status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Not authorized to access this resource",
        )
    }

    pub fn user_not_found() -> Self {
        Self::status(
            StatusCode::NOT_FOUND,
            "UserNotFound",
            "The user does not exist",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("The {what} does not exist"),
        )
    }

    /// The generic mapping of a core error.
    pub fn from_core(e: Error) -> Self {
        match e {
            Error::Unauthenticated(AuthFailure::InvalidCredentials) => Self::status(
                StatusCode::BAD_REQUEST,
                "AuthenticationFailure",
                "The password is not correct",
            ),
            Error::Unauthenticated(_) => Self::unauthorized(),
            Error::Forbidden => Self::status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The token's role may not call this endpoint",
            ),
            Error::NotFound("user") => Self::user_not_found(),
            // Every failed login-code exchange, whatever the reason (spec §5.1).
            Error::NotFound("code") => Self::status(
                StatusCode::BAD_REQUEST,
                "InvalidCode",
                "The code is not valid",
            ),
            Error::NotFound(what) => Self::not_found(what),
            Error::Conflict { field } => Self::status(
                StatusCode::CONFLICT,
                if field == "name" {
                    "GroupExists"
                } else {
                    "UserExists"
                },
                format!("The {field} is already taken"),
            ),
            Error::LastAdmin => Self::status(
                StatusCode::CONFLICT,
                "LastAdmin",
                "Cannot remove the last active admin",
            ),
            Error::InvalidField { field, reason } => {
                Self::field("BadFormat", &format!("/{field}"), reason)
            }
            Error::TooLarge => Self::status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
                "The request body is too large",
            ),
            Error::Locked { retry_after } => Failure::Status {
                http: StatusCode::TOO_MANY_REQUESTS,
                status: "TooManyRequests",
                summary: "Too many failed attempts; try again later".into(),
                retry_after: Some(retry_after),
            },
            Error::Unavailable { retry_after } => Failure::Status {
                http: StatusCode::SERVICE_UNAVAILABLE,
                status: "ServiceNotAvailable",
                summary: "The service is busy; try again shortly".into(),
                retry_after: Some(retry_after),
            },
            Error::PasswordExpired => Self::status(
                StatusCode::FORBIDDEN,
                "PasswordExpired",
                "The password has expired and must be changed",
            ),
            Error::MfaRequired => Self::status(
                StatusCode::FORBIDDEN,
                "MfaRequired",
                "A second factor is required",
            ),
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Self::status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "An internal error occurred",
                )
            }
        }
    }

    /// A refused body.
    pub fn from_body(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => Self::from_core(Error::TooLarge),
            BodyError::UnsupportedMediaType => Self::field(
                "InvalidObject",
                "/",
                "The request body must be JSON (UTF-8)",
            ),
            BodyError::Invalid(_) => Self::field(
                "InvalidObject",
                "/",
                "The request body is not a JSON object",
            ),
            BodyError::Nul(pointer) => Self::field(
                "InvalidString",
                &pointer,
                "Text must not contain NUL characters",
            ),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::from_core(e)
    }
}

/// Renders a whole envelope.
pub fn render(
    http: StatusCode,
    status: &str,
    summary: &str,
    result: Value,
    request_time: DateTime<Utc>,
    now: DateTime<Utc>,
    retry_after: Option<u64>,
) -> Response {
    let request_id = ids::request_id();
    let body = json!({
        "request_id": request_id,
        "request_time": time(request_time),
        "response_time": time(now),
        "status": status,
        "summary": summary,
        "result": result,
    });
    let res = (
        http,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    let mut res = crate::dialects::with_retry_after(res, retry_after);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// Renders a failure.
pub fn render_failure(f: Failure, request_time: DateTime<Utc>, now: DateTime<Utc>) -> Response {
    match f {
        Failure::Validation(errors) => {
            let n = errors.len();
            let summary = format!(
                "There {} {n} error{} validating the request",
                if n == 1 { "was" } else { "were" },
                if n == 1 { "" } else { "s" }
            );
            let errors: Vec<Value> = errors
                .into_iter()
                .map(|e| json!({"code": e.code, "detail": e.detail, "source": e.source}))
                .collect();
            render(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                &summary,
                json!({ "errors": errors }),
                request_time,
                now,
                None,
            )
        }
        Failure::Status {
            http,
            status,
            summary,
            retry_after,
        } => render(
            http,
            status,
            &summary,
            Value::Null,
            request_time,
            now,
            retry_after,
        ),
    }
}

// ---- The envelope as the OpenAPI document describes it --------------------
//
// What `render` and `render_failure` write, as schemas: the success envelope
// around each endpoint's `result`, and one failure envelope per HTTP status with
// the `status` names that status carries (spec §2.3).

/// The schema of `result` on every failure but `ValidationError`: `null`.
fn null_result() -> Object {
    ObjectBuilder::new().schema_type(Type::Null).build()
}

/// A successful answer (spec §2.1): `status` `Success` and the endpoint's `result`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Envelope<T> {
    /// `prq_…`; also the `x-request-id` response header.
    #[schema(pattern = "^prq_[a-z2-7]{32}$")]
    request_id: String,
    /// When the request arrived (UTC, microseconds).
    #[schema(format = DateTime)]
    request_time: String,
    /// When the answer was produced.
    #[schema(format = DateTime)]
    response_time: String,
    status: SuccessStatus,
    #[schema(min_length = 1)]
    summary: String,
    result: T,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSuccessStatus)]
#[allow(dead_code)]
enum SuccessStatus {
    Success,
}

/// `{}`: the result of an endpoint that only acts.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaEmpty)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// A `ValidationError` result: what was wrong, where (spec §2.2).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaValidationErrors)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ValidationErrors {
    #[schema(min_items = 1)]
    errors: Vec<FieldErrorDoc>,
}

// What `FieldError` renders.
/// One entry of `errors`.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaFieldError)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FieldErrorDoc {
    code: FieldErrorCode,
    detail: String,
    /// A JSON pointer into the request (`/` for the whole body).
    #[schema(pattern = "^/")]
    source: String,
}

/// The `code`s aegis uses (spec §2.2, §9.3).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaFieldErrorCode)]
#[allow(dead_code)]
enum FieldErrorCode {
    FieldRequired,
    UnexpectedProperty,
    InvalidString,
    InvalidInteger,
    InvalidBool,
    InvalidObject,
    InvalidArray,
    InvalidNull,
    InvalidValue,
    DoesNotMatchPattern,
    NotEnumMember,
    BelowMinItems,
    AboveMaxItems,
    NotWithinRange,
    BadFormat,
    BadFormatDateTime,
    BelowMinLength,
    AboveMaxLength,
}

/// A 400: `ValidationError` with `result.errors`, or a refused token, code or
/// password in the body with `result` `null`.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaBadRequest)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BadRequest {
    #[schema(pattern = "^prq_[a-z2-7]{32}$")]
    request_id: String,
    #[schema(format = DateTime)]
    request_time: String,
    #[schema(format = DateTime)]
    response_time: String,
    status: BadRequestStatus,
    #[schema(min_length = 1)]
    summary: String,
    /// `{"errors": […]}` with `ValidationError`, else `null`.
    #[schema(required = true)]
    result: Option<ValidationErrors>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaBadRequestStatus)]
#[allow(dead_code)]
enum BadRequestStatus {
    ValidationError,
    InvalidToken,
    ExpiredToken,
    InvalidCode,
    AuthenticationFailure,
    CantRefreshToken,
}

/// Every other failure: a status name, a sentence, `result` `null`.
macro_rules! failure_schema {
    ($(#[$doc:meta])* $name:ident as $schema:ident, $status:ident as $status_schema:ident { $($s:ident),+ }) => {
        $(#[$doc])*
        #[derive(Serialize, ToSchema)]
        #[schema(as = $schema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        pub struct $name {
            #[schema(pattern = "^prq_[a-z2-7]{32}$")]
            request_id: String,
            #[schema(format = DateTime)]
            request_time: String,
            #[schema(format = DateTime)]
            response_time: String,
            status: $status,
            #[schema(min_length = 1)]
            summary: String,
            #[schema(schema_with = null_result)]
            result: (),
        }

        #[derive(Serialize, ToSchema)]
        #[schema(as = $status_schema)]
        #[allow(dead_code)]
        enum $status {
            $($s),+
        }
    };
}

failure_schema!(
    /// 401: the Bearer is missing, malformed, unknown, expired or revoked.
    Unauthorized as PangeaUnauthorized,
    UnauthorizedStatus as PangeaUnauthorizedStatus { Unauthorized }
);
failure_schema!(
    /// 403: the Bearer's role may not call the endpoint, or its user must first
    /// change the password or give a second factor.
    Forbidden as PangeaForbidden,
    ForbiddenStatus as PangeaForbiddenStatus { Forbidden, PasswordExpired, MfaRequired }
);
failure_schema!(
    /// 404: the user the selectors name, or the group, authenticator, session,
    /// import job or source, does not exist.
    NotFound as PangeaNotFound,
    NotFoundStatus as PangeaNotFoundStatus { UserNotFound, NotFound }
);
failure_schema!(
    /// 409: the email, username or group name is taken, or the change would
    /// leave no active admin.
    Conflict as PangeaConflict,
    ConflictStatus as PangeaConflictStatus { UserExists, GroupExists, LastAdmin }
);
failure_schema!(
    /// 413: the body (or upload) is over the limit.
    TooLarge as PangeaPayloadTooLarge,
    TooLargeStatus as PangeaPayloadTooLargeStatus { PayloadTooLarge }
);
failure_schema!(
    /// 429: throttled; `Retry-After` says for how long.
    TooManyRequests as PangeaTooManyRequests,
    TooManyRequestsStatus as PangeaTooManyRequestsStatus { TooManyRequests }
);
failure_schema!(
    /// 503: the password hashing queue is full; `Retry-After` says when to retry.
    Unavailable as PangeaServiceNotAvailable,
    UnavailableStatus as PangeaServiceNotAvailableStatus { ServiceNotAvailable }
);
