//! Middleware shared by every route: request ids and tracing, CORS for the JSON
//! APIs, security headers, body read limits and timeouts,
//! `WWW-Authenticate` on 401, TRACE refusal, panic containment, and the
//! dialect-shaped 404 and 405 fallbacks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use futures::FutureExt as _;
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutBody;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::Level;

use crate::config::CorsConfig;
use crate::state::AppState;
use crate::{dialects, metrics};

const REQUEST_ID: &str = "x-request-id";

/// Wraps the router in the shared layers.
pub fn apply(router: Router, state: AppState) -> Router {
    let request_id = header::HeaderName::from_static(REQUEST_ID);
    let cors = cors_layer(&state.config.cors);
    let mut router = router.layer(axum::middleware::from_fn_with_state(state, hygiene));
    if let Some(cors) = cors {
        router = router.layer(axum::middleware::from_fn_with_state(cors, cors_for_apis));
    }
    router
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http()
            .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Micros))
            .make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// CORS for the listed origins, or `None` while none is listed (then an
/// `OPTIONS` preflight gets the 405 any unrouted method gets).
///
/// Exact origins only and no credentials mode: the APIs take their bearer in
/// `Authorization`, which a page sends itself; no cookie is needed or allowed.
fn cors_layer(config: &CorsConfig) -> Option<Cors> {
    let origins: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        // A browser's `Origin` has its scheme and host in lower case.
        .filter_map(|o| HeaderValue::from_str(&o.to_ascii_lowercase()).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.clone()))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        // What a page may read besides the safelisted headers: none secret.
        .expose_headers([
            header::RETRY_AFTER,
            header::HeaderName::from_static(REQUEST_ID),
            header::HeaderName::from_static("x-total-count"),
        ])
        .max_age(Duration::from_secs(600));
    Some(Cors {
        origins: Arc::new(origins),
        layer,
    })
}

/// The CORS settings in force.
#[derive(Clone)]
struct Cors {
    origins: Arc<Vec<HeaderValue>>,
    layer: CorsLayer,
}

/// Applies CORS to the four JSON APIs only, for the listed origins only; the
/// hosted pages (`/login`, `/account`…), health, keys and metrics are
/// same-origin, and a request from another origin is answered as if CORS were
/// off (no `Access-Control-*` header at all; a preflight gets a 405).
async fn cors_for_apis(State(cors): State<Cors>, req: Request, next: Next) -> Response {
    if dialects::owner(req.uri().path()) == dialects::Owner::Other {
        return next.run(req).await;
    }
    let listed = req
        .headers()
        .get(header::ORIGIN)
        .is_some_and(|o| cors.origins.contains(o));
    let mut res = if listed {
        match cors.layer.layer(next).oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    } else {
        next.run(req).await
    };
    // The answer depends on the origin: caches must not mix them.
    if !res.headers().contains_key(header::VARY) {
        res.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("origin"));
    }
    res
}

/// Refuses TRACE, reads the request body (bounded) before any handler runs,
/// turns a panic into the owning dialect's 500, and adds the headers every
/// response carries.
///
/// Reading the body first means an early answer (401, 403, 404) never leaves
/// unread bytes on a keep-alive connection, which would make hyper close it
/// under a client that pools connections (the Pangea SDK does). A body over the
/// limit gets the owning dialect's 413 at once, one that does not arrive whole
/// within `http.body_read_timeout_s` a 408. The one exception is an import
/// upload, which streams (bounded) into the store, and may not stall for longer
/// than that timeout between two reads.
///
/// The answers it gives itself are counted in the request metrics as
/// `route="unrouted"` (the router's own layer never sees them).
async fn hygiene(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let body_timeout = Duration::from_secs(state.config.http.body_read_timeout_s);
    let mut res = if req.method() == Method::TRACE {
        let res = dialects::status_response(&state, &req, StatusCode::METHOD_NOT_ALLOWED);
        metrics::record_unrouted(req.uri().path(), res.status(), started);
        res
    } else if req.method() == Method::POST && req.uri().path() == dialects::pangea::UPLOAD_PATH {
        // An import upload streams into the store; the uploaded file is bounded by
        // the import limit, and everything else in the body by a little more.
        let limit = usize::try_from(state.aegis.config().import.max_upload_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(state.config.max_body_bytes);
        // It may take as long as it needs while it moves: the timeout is
        // between two reads, not for the whole.
        let (parts, body) = req.into_parts();
        let body = http_body_util::Limited::new(body, limit);
        let body = Body::new(TimeoutBody::new(body_timeout, body));
        contain_panic(&state, next, Request::from_parts(parts, body), started).await
    } else {
        let (parts, body) = req.into_parts();
        let read = axum::body::to_bytes(body, state.config.max_body_bytes);
        match tokio::time::timeout(body_timeout, read).await {
            Ok(Ok(bytes)) => {
                let req = Request::from_parts(parts, Body::from(bytes));
                contain_panic(&state, next, req, started).await
            }
            failed => {
                let req = Request::from_parts(parts, Body::empty());
                let status = match failed {
                    Ok(Err(e))
                        if std::error::Error::source(&e)
                            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) =>
                    {
                        StatusCode::PAYLOAD_TOO_LARGE
                    }
                    Err(_) => StatusCode::REQUEST_TIMEOUT,
                    _ => StatusCode::BAD_REQUEST,
                };
                let mut res = dialects::status_response(&state, &req, status);
                metrics::record_unrouted(req.uri().path(), status, started);
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                res
            }
        }
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

/// Runs the rest of the stack; a panic in it becomes a 500 in the shape of the
/// dialect owning the path (logged with its message), and the server goes on.
async fn contain_panic(state: &AppState, next: Next, req: Request, started: Instant) -> Response {
    // What the error body needs, kept before the request moves on: the URI and
    // the host (aiohttp's problem `instance`). Both clones share the request's
    // bytes: nothing is copied on the way of a request that does not panic.
    let uri = req.uri().clone();
    let host = req.headers().get(header::HOST).cloned();
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(res) => res,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string payload".into());
            let mut head = Request::new(Body::empty());
            *head.uri_mut() = uri;
            if let Some(host) = host {
                head.headers_mut().insert(header::HOST, host);
            }
            let res =
                dialects::internal_response(state, &head, format!("handler panicked: {message}"));
            metrics::record_unrouted(head.uri().path(), res.status(), started);
            res
        }
    }
}

/// Unknown path: a 404 in the shape of the dialect owning the prefix.
pub async fn not_found(State(state): State<AppState>, req: Request<Body>) -> Response {
    dialects::status_response(&state, &req, StatusCode::NOT_FOUND)
}

/// Known path, wrong method: a 405 in the dialect's shape.
pub async fn method_not_allowed(State(state): State<AppState>, req: Request<Body>) -> Response {
    dialects::status_response(&state, &req, StatusCode::METHOD_NOT_ALLOWED)
}
