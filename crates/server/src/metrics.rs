//! Prometheus metrics: the recorder (one per process), the layer that times
//! every request by route, dialect and status, and `GET /metrics`, which also
//! reads the gauges that are cheaper to sample than to track (active sessions,
//! the database pool).
//!
//! The core records logins, lockouts, the password-hash queue and import rows
//! through the same `metrics` facade (`aegis_core::telemetry`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::MetricsConfig;
use crate::dialects::{owner, Owner};
use crate::extract::client_ip;
use crate::net::any_contains;
use crate::state::AppState;

/// Requests by route, dialect and status.
pub const REQUESTS: &str = "aegis_http_requests_total";
/// Request latency by route, dialect and status.
pub const REQUEST_DURATION: &str = "aegis_http_request_duration_seconds";
/// Requests being answered now.
pub const IN_FLIGHT: &str = "aegis_http_requests_in_flight";
/// Live sessions (sampled at scrape time, at most every 15 s).
pub const SESSIONS_ACTIVE: &str = "aegis_sessions_active";
/// Database pool connections by state (`idle`, `in_use`) and the pool's `max`.
pub const DB_POOL: &str = "aegis_db_pool_connections";

/// Latency buckets, in seconds: from a cached token check (≈100 µs) to a slow
/// argon2id login under a full queue.
const BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

const SESSIONS_SAMPLE: Duration = Duration::from_secs(15);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process; later calls return the
/// same handle). `None` if another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Histogram samples pile up in the recorder until they are drained: by a
/// scrape, or here every few seconds, so memory stays bounded when nobody
/// scrapes (22 bytes a request otherwise, measured by bench/run).
fn spawn_upkeep(handle: PrometheusHandle) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

/// `GET /metrics`, for the main router or a router of its own.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// On the main listener, `/metrics` answers only the peers the settings allow;
/// others get the 404 an unknown path gets (`metrics.listen` is private by
/// choice and has no such check).
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let allowed = peer.is_some_and(|peer| {
        let client = client_ip(peer, req.headers(), &state.config.trusted_proxies);
        may_scrape(&state.config.metrics, peer, client)
    });
    if allowed {
        next.run(req).await
    } else {
        crate::dialects::status_response(&state, &req, StatusCode::NOT_FOUND)
    }
}

/// Whether a request may read the metrics on the main listener: every one when
/// `metrics.public`; else the socket peer must be in `allowed_networks` — an
/// `X-Forwarded-For` value never grants — and so must the client a trusted
/// proxy forwarded the request for, so that a reverse proxy on the same host
/// does not open the metrics to everyone it serves.
pub fn may_scrape(config: &MetricsConfig, peer: IpAddr, client: IpAddr) -> bool {
    config.public
        || (any_contains(&config.allowed_networks, peer)
            && any_contains(&config.allowed_networks, client))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses(
    (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = install() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    sample_gauges(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

async fn sample_gauges(state: &AppState) {
    let store = state.aegis.store();
    let pool = store.pool_state();
    metrics::gauge!(DB_POOL, "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!(DB_POOL, "state" => "in_use")
        .set(f64::from(pool.size.saturating_sub(pool.idle)));
    metrics::gauge!(DB_POOL, "state" => "max").set(f64::from(pool.max));

    // Counting sessions is a scan: at most once per SESSIONS_SAMPLE, and
    // counted again at the next scrape if it failed.
    {
        let mut last = state.sampled.lock();
        if last.is_some_and(|t| t.elapsed() < SESSIONS_SAMPLE) {
            return;
        }
        *last = Some(Instant::now());
    }
    match store.count_active_sessions(state.aegis.now()).await {
        Ok(n) => metrics::gauge!(SESSIONS_ACTIVE).set(n as f64),
        Err(e) => {
            *state.sampled.lock() = None;
            tracing::warn!(error = %e, "counting active sessions failed");
        }
    }
}

/// Counts and times every request. The route is the matched pattern
/// (`/v2/user/get`, `/api/users/{user}`), never the raw path, so the label set
/// stays small; unmatched requests share `route="unmatched"`.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let dialect = dialect_label(req.uri().path());
    let started = Instant::now();
    let in_flight = InFlight::enter();
    let res = next.run(req).await;
    drop(in_flight);
    record(route, dialect, res.status(), started);
    res
}

/// Counts a response the shared layers gave before or instead of the router
/// (TRACE, a body over the limit, a panic): `route="unrouted"`.
pub fn record_unrouted(path: &str, status: StatusCode, started: Instant) {
    record("unrouted".to_owned(), dialect_label(path), status, started);
}

fn record(route: String, dialect: &'static str, status: StatusCode, started: Instant) {
    let labels = [
        ("route", route),
        ("dialect", dialect.to_owned()),
        ("status", status.as_str().to_owned()),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(REQUEST_DURATION, &labels).record(started.elapsed().as_secs_f64());
}

/// One request in the in-flight gauge, until answered or dropped (a client
/// that goes away).
struct InFlight(metrics::Gauge);

impl InFlight {
    fn enter() -> Self {
        let gauge = metrics::gauge!(IN_FLIGHT);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

fn dialect_label(path: &str) -> &'static str {
    match owner(path) {
        Owner::Aiohttp => "aiohttp",
        Owner::Argon => "argon",
        Owner::Pangea => "pangea",
        Owner::Pegasys => "pegasys",
        Owner::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_loopback_peers_scrape_by_default() {
        let c = MetricsConfig::default();
        for local in ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"] {
            assert!(may_scrape(&c, ip(local), ip(local)), "{local}");
        }
        for remote in [
            "203.0.113.9",
            "10.0.0.1",
            "::ffff:203.0.113.9",
            "2001:db8::1",
        ] {
            assert!(!may_scrape(&c, ip(remote), ip(remote)), "{remote}");
        }
        // A forwarded address never grants: the socket peer decides first…
        assert!(!may_scrape(&c, ip("203.0.113.9"), ip("127.0.0.1")));
        // …and a local proxy forwarding for a remote client does not open them.
        assert!(!may_scrape(&c, ip("127.0.0.1"), ip("203.0.113.9")));
    }

    #[test]
    fn the_settings_open_them() {
        let c = MetricsConfig {
            public: true,
            ..MetricsConfig::default()
        };
        assert!(may_scrape(&c, ip("203.0.113.9"), ip("203.0.113.9")));
        let c = MetricsConfig {
            allowed_networks: vec!["10.0.0.0/8".parse().unwrap()],
            ..MetricsConfig::default()
        };
        assert!(may_scrape(&c, ip("10.1.2.3"), ip("10.1.2.3")));
        assert!(may_scrape(&c, ip("::ffff:10.1.2.3"), ip("10.1.2.3")));
        assert!(!may_scrape(&c, ip("127.0.0.1"), ip("127.0.0.1")));
    }
}
