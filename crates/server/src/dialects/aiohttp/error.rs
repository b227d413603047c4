//! RFC 7807 problems in the exact texts of the aiohttp library's seed
//! (`shared/spec/aiohttp-aegis.md` §2): five keys, `status` as a string.

use aegis_core::{AuthFailure, Error};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use crate::extract::BodyError;

const TYPE_BASE: &str = "https://mgurdal.github.io/aegis/api.html#";

/// The library's exceptions, plus plain HTTP problems for everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    AuthRequired,
    InvalidToken,
    TokenExpired,
    AuthenticationFailed,
    InvalidRefreshToken,
    Forbidden,
    /// `about:blank` with the status's reason phrase as title.
    Plain {
        status: StatusCode,
        detail: String,
        retry_after: Option<u64>,
    },
}

impl Kind {
    fn plain(status: StatusCode, detail: impl Into<String>) -> Self {
        Kind::Plain {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// The generic mapping of a core error on an authenticated route.
    pub fn from_core(e: Error) -> Self {
        match e {
            Error::Unauthenticated(AuthFailure::Missing) => Kind::AuthRequired,
            Error::Unauthenticated(AuthFailure::Expired) => Kind::TokenExpired,
            Error::Unauthenticated(AuthFailure::InvalidCredentials) => Kind::AuthenticationFailed,
            Error::Unauthenticated(AuthFailure::InvalidRefreshToken) => Kind::InvalidRefreshToken,
            Error::Unauthenticated(_) => Kind::InvalidToken,
            Error::Forbidden => Kind::Forbidden,
            Error::Locked { retry_after } => Kind::Plain {
                status: StatusCode::TOO_MANY_REQUESTS,
                detail: "Too many failed attempts; try again later.".into(),
                retry_after: Some(retry_after),
            },
            Error::Unavailable { retry_after } => Kind::Plain {
                status: StatusCode::SERVICE_UNAVAILABLE,
                detail: "The service is busy; try again shortly.".into(),
                retry_after: Some(retry_after),
            },
            Error::NotFound(what) => {
                Kind::plain(StatusCode::NOT_FOUND, format!("{what} not found"))
            }
            Error::Conflict { field } => {
                Kind::plain(StatusCode::CONFLICT, format!("{field} already exists"))
            }
            Error::LastAdmin => {
                Kind::plain(StatusCode::CONFLICT, "Cannot remove the last active admin")
            }
            Error::InvalidField { reason, .. } => Kind::plain(StatusCode::BAD_REQUEST, reason),
            Error::TooLarge => Kind::plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is too large.",
            ),
            Error::PasswordExpired => Kind::plain(
                StatusCode::FORBIDDEN,
                "The password has expired and must be changed.",
            ),
            Error::MfaRequired => {
                Kind::plain(StatusCode::FORBIDDEN, "A second factor is required.")
            }
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Kind::plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An internal error occurred.",
                )
            }
        }
    }

    /// A refused body.
    pub fn from_body(e: BodyError) -> Self {
        let detail = match &e {
            BodyError::TooLarge => "The request body is too large.",
            BodyError::UnsupportedMediaType => "The request body must be JSON (UTF-8).",
            BodyError::Invalid(_) => "The request body is not valid JSON.",
            BodyError::Nul(_) => "The request body must not contain NUL characters.",
        };
        Kind::plain(e.status(), detail)
    }
}

/// A problem ready to render: the kind, where it happened, and the status style.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: Kind,
    pub instance: String,
    pub status_as_string: bool,
}

// What `Problem` renders.
/// The RFC 7807 problem body (spec §2).
#[derive(Serialize, ToSchema)]
#[schema(as = AiohttpProblem)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ProblemBody {
    /// `https://mgurdal.github.io/aegis/api.html#<Exception>`, or `about:blank`.
    #[serde(rename = "type")]
    kind: String,
    title: String,
    detail: String,
    /// The public base URL (else `http://` + `Host`) and the path.
    instance: String,
    /// The HTTP status: a string by default (`"401"`), an integer with
    /// `aiohttp.problem_status_as_string = false`.
    #[schema(schema_with = status_schema)]
    status: String,
}

fn status_schema() -> RefOr<utoipa::openapi::schema::Schema> {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[1-5][0-9][0-9]$")),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(100))
                .maximum(Some(599)),
        )
        .into()
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let (status, class, title, detail, retry_after) = match self.kind {
            Kind::AuthRequired => (
                StatusCode::UNAUTHORIZED,
                Some("AuthRequiredException"),
                "Authentication Required",
                "You did not specify the required token information in headers or you provided it incorrectly.".to_owned(),
                None,
            ),
            Kind::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                Some("InvalidTokenException"),
                "Invalid Token",
                "You have provided an invalid token signature.".to_owned(),
                None,
            ),
            Kind::TokenExpired => (
                StatusCode::UNAUTHORIZED,
                Some("TokenExpiredException"),
                "Invalid Token",
                "The access token provided has expired.".to_owned(),
                None,
            ),
            Kind::AuthenticationFailed => (
                StatusCode::UNAUTHORIZED,
                Some("AuthenticationFailedException"),
                "Authentication Failed",
                "The credentials you supplied were not correct.".to_owned(),
                None,
            ),
            Kind::InvalidRefreshToken => (
                StatusCode::UNAUTHORIZED,
                Some("InvalidRefreshTokenException"),
                "Invalid Token",
                "You have provided an invalid refresh token.".to_owned(),
                None,
            ),
            Kind::Forbidden => (
                StatusCode::FORBIDDEN,
                Some("ForbiddenException"),
                "Forbidden Access",
                format!("User permissions does not meet access requests for {}", self.instance),
                None,
            ),
            Kind::Plain {
                status,
                detail,
                retry_after,
            } => (
                status,
                None,
                status.canonical_reason().unwrap_or("Error"),
                detail,
                retry_after,
            ),
        };
        let ty = class.map_or_else(|| "about:blank".to_owned(), |c| format!("{TYPE_BASE}{c}"));
        let status_value = if self.status_as_string {
            json!(status.as_u16().to_string())
        } else {
            json!(status.as_u16())
        };
        let body = json!({
            "type": ty,
            "title": title,
            "detail": detail,
            "instance": self.instance,
            "status": status_value,
        });
        let res = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        crate::dialects::with_retry_after(res, retry_after)
    }
}
