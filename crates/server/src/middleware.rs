//! Middleware shared by every route: request ids and tracing, security headers,
//! `WWW-Authenticate` on 401, TRACE refusal, panic containment, and the
//! dialect-shaped 404 and 405 fallbacks.

use axum::body::Body;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::dialects;
use crate::state::AppState;

const REQUEST_ID: &str = "x-request-id";

/// Wraps the router in the shared layers.
pub fn apply(router: Router, state: AppState) -> Router {
    let request_id = header::HeaderName::from_static(REQUEST_ID);
    router
        .layer(CatchPanicLayer::custom(|_| internal_error()))
        .layer(axum::middleware::from_fn_with_state(state, hygiene))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"error":"Internal error"}"#,
    )
        .into_response()
}

/// Refuses TRACE and adds the headers every response carries.
async fn hygiene(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = if req.method() == Method::TRACE {
        dialects::method_not_allowed(&state, &req)
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if res.status() == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .entry(header::WWW_AUTHENTICATE)
            .or_insert(HeaderValue::from_static("Bearer"));
    }
    res
}

/// Unknown path: a 404 in the shape of the dialect owning the prefix.
pub async fn not_found(State(state): State<AppState>, req: Request<Body>) -> Response {
    dialects::not_found(&state, &req)
}

/// Known path, wrong method: a 405 in the dialect's shape.
pub async fn method_not_allowed(State(state): State<AppState>, req: Request<Body>) -> Response {
    dialects::method_not_allowed(&state, &req)
}
