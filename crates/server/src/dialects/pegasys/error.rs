//! Pegasys errors: `{"status": "fail", "error": "<message>"}` with the exact
//! messages of `shared/spec/pegasys-aegis.md` §3.

use aegis_core::Error;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::extract::BodyError;

/// A Pegasys error response.
#[derive(Debug)]
pub struct Fail {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl Fail {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        match e {
            Error::Unauthenticated(_) => Fail::unauthorized(),
            Error::Forbidden | Error::PasswordExpired | Error::MfaRequired => {
                Fail::new(StatusCode::FORBIDDEN, "Forbidden")
            }
            Error::NotFound("user") => Fail::new(StatusCode::NOT_FOUND, "User not found"),
            Error::NotFound("token") => Fail::new(StatusCode::NOT_FOUND, "Token not found"),
            Error::NotFound("provider") => Fail::new(StatusCode::NOT_FOUND, "Unknown provider"),
            Error::NotFound(_) => Fail::new(StatusCode::NOT_FOUND, "Not found"),
            Error::LastAdmin => {
                Fail::new(StatusCode::CONFLICT, "Cannot remove the last active admin")
            }
            Error::Conflict { field } => {
                Fail::new(StatusCode::CONFLICT, format!("{field} already exists"))
            }
            Error::InvalidField { reason, .. } => Fail::bad_request(reason),
            Error::TooLarge => Fail::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
            Error::Locked { retry_after } => Fail {
                retry_after: Some(retry_after),
                ..Fail::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests")
            },
            Error::Unavailable { retry_after } => Fail {
                retry_after: Some(retry_after),
                ..Fail::new(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
            },
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Fail::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
            }
        }
    }
}

impl From<BodyError> for Fail {
    fn from(e: BodyError) -> Self {
        let message = match &e {
            BodyError::TooLarge => "Request body too large",
            BodyError::UnsupportedMediaType => "Request body must be JSON",
            BodyError::Invalid(_) => "Request body is not valid JSON",
            BodyError::Nul(_) => "Request body must not contain NUL characters",
        };
        Fail::new(e.status(), message)
    }
}

// What `Fail` renders.
/// The error body (spec §3).
#[derive(Serialize, ToSchema)]
#[schema(as = PegasysError)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FailBody {
    status: FailStatus,
    /// A sentence: `Unauthorized`, `Forbidden`, `User not found`, `Token not
    /// found`, `Cannot remove the last active admin`, … .
    error: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PegasysFailStatus)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum FailStatus {
    Fail,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let body = json!({"status": "fail", "error": self.message});
        let res = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        crate::dialects::with_retry_after(res, self.retry_after)
    }
}
