//! The Pangea response envelope (spec §2): exactly six keys, `prq_` request
//! ids, RFC 3339 times with microseconds, the status catalogue, and
//! `ValidationError` results with JSON-pointer sources.

use aegis_core::{AuthFailure, Error};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

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
