//! aegis-server: the axum application. Shared extractors and middleware, one
//! module per dialect under `dialects/`, health, JWKS and the OpenAPI document.

pub mod bootstrap;
pub mod config;
pub mod connections;
pub mod dialects;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod middleware;
pub mod net;
pub mod oidc;
pub mod openapi;
pub mod state;
pub mod web;
pub mod wellknown;

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

pub use config::Config;
pub use state::AppState;

/// The whole application: every dialect, health, JWKS, OpenAPI, and the shared
/// middleware (body limit, security headers, request ids, dialect-shaped 404/405).
pub fn app(state: AppState) -> Router {
    let metrics = &state.config.metrics;
    let mut documented = openapi::router();
    if metrics.enabled {
        metrics::install();
        if metrics.listen.is_none() {
            let guard = axum::middleware::from_fn_with_state(state.clone(), metrics::guard);
            documented = documented.merge(metrics::router().route_layer(guard));
        }
    }
    let (router, api) = documented.split_for_parts();
    openapi::publish(api);
    let mut router = router
        .merge(web::router())
        .merge(oidc::router(&state))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed);
    if metrics.enabled {
        router = router.layer(axum::middleware::from_fn(metrics::track));
    }
    middleware::apply(router.with_state(state.clone()), state)
}

/// `GET /metrics` alone, for `metrics.listen` (a separate, private address).
pub fn metrics_app(state: AppState) -> Router {
    metrics::install();
    let (router, _) = metrics::router().split_for_parts();
    router.with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight
/// requests; within the connection limits and timeouts of `config.http`
/// ([`connections`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(listener, app, config, shutdown).await
}
