//! The wire dialects. Each is a thin adapter: parse its request shapes, call the
//! core, render its responses and errors. This module merges their routers and
//! picks the dialect that renders a 404 or 405 for a path.

pub mod aiohttp;
pub mod argon;
pub mod pangea;
pub mod pegasys;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Adds `Retry-After` (seconds) to a throttled or busy response.
pub fn with_retry_after(mut res: Response, retry_after: Option<u64>) -> Response {
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
    }
    res
}

/// Every dialect's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(aiohttp::router())
        .merge(pegasys::router())
        .merge(argon::router())
        .merge(pangea::router())
}

/// The dialect that owns a path prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Aiohttp,
    Argon,
    Pangea,
    Pegasys,
    Other,
}

/// Which dialect renders errors for `path`.
pub fn owner(path: &str) -> Owner {
    if aiohttp::owns(path) {
        Owner::Aiohttp
    } else if pangea::owns(path) {
        Owner::Pangea
    } else if argon::owns(path) {
        Owner::Argon
    } else if pegasys::owns(path) {
        Owner::Pegasys
    } else {
        Owner::Other
    }
}

fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": message }).to_string(),
    )
        .into_response()
}

/// A 500 in the shape of the dialect owning the path, for a request whose
/// handler never answered (it panicked). `detail` is logged, never sent.
pub fn internal_response(state: &AppState, req: &Request, detail: String) -> Response {
    let e = aegis_core::Error::Internal(detail);
    match owner(req.uri().path()) {
        Owner::Aiohttp => aiohttp::error_problem(state, req, e),
        Owner::Pegasys => pegasys::Fail::from(e).into_response(),
        Owner::Argon => argon::ArgonError::from(e).into_response(),
        Owner::Pangea => pangea::error_envelope(state, e),
        Owner::Other => {
            tracing::error!(error = %e, "internal error");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
        }
    }
}

/// A bare-status answer (404, 405, 413, 400) in the shape of the dialect owning
/// the path.
pub fn status_response(state: &AppState, req: &Request, status: StatusCode) -> Response {
    match owner(req.uri().path()) {
        Owner::Aiohttp => aiohttp::status_problem(state, req, status),
        Owner::Pegasys => pegasys::status_fail(status),
        Owner::Argon => argon::status_error(status),
        Owner::Pangea => pangea::status_envelope(state, status),
        Owner::Other => plain(
            status,
            match status {
                StatusCode::NOT_FOUND => "Not found",
                StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
                StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
                _ => "Bad request",
            },
        ),
    }
}
