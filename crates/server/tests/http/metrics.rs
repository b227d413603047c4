//! `GET /metrics`: requests by route, dialect and status with latency
//! histograms, logins by outcome, lockouts, the hash queue, sessions and the pool.
//! The recorder is one per process, so the counts seen here include other
//! tests': every check is "at least" or "present".

use aegis_core::Role;
use serde_json::json;

use crate::both;
use crate::harness::{run_with, Backend, Srv, PASSWORD};

both!(metrics_count_requests_logins_and_lockouts);

/// The value of the first sample of `name` whose labels include all of `labels`.
pub(crate) fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse().ok())?
        })
        .next()
}

pub(crate) async fn scrape(srv: &Srv) -> String {
    let res = srv.http.get(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ctype = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    res.text().await.unwrap()
}

async fn metrics_count_requests_logins_and_lockouts(srv: Srv) {
    srv.user("metrics@example.com", Role::User).await;
    let ok = srv
        .post(
            "/auth",
            json!({"username": "metrics@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(ok.status(), 200);
    // Enough failures to lock the account (10 by default).
    for _ in 0..11 {
        let res = srv
            .post(
                "/auth",
                json!({"username": "metrics@example.com", "password": "wrong password"}),
            )
            .await;
        assert!(matches!(res.status().as_u16(), 401 | 429));
    }
    let missing = srv
        .http
        .get(srv.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // Answers the shared layers give before routing are counted too.
    let trace = srv
        .http
        .request(reqwest::Method::TRACE, srv.url("/api/auth/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(trace.status(), 405);

    let text = scrape(&srv).await;
    assert!(
        sample(
            &text,
            "aegis_http_requests_total",
            &[
                ("route", "unrouted"),
                ("dialect", "argon"),
                ("status", "405")
            ]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    let route = [("route", "/auth"), ("dialect", "aiohttp")];
    assert!(
        sample(
            &text,
            "aegis_http_requests_total",
            &[route[0], route[1], ("status", "200")]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "aegis_http_requests_total",
            &[route[0], route[1], ("status", "401")]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // Unknown paths share one label value: raw paths never become labels.
    assert!(text.contains("route=\"unmatched\""), "{text}");
    assert!(!text.contains("/no/such/route"), "{text}");
    assert!(
        sample(
            &text,
            "aegis_http_request_duration_seconds_bucket",
            &[route[0], ("le", "+Inf")]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    for outcome in ["success", "invalid", "locked"] {
        assert!(
            sample(
                &text,
                "aegis_logins_total",
                &[("method", "password"), ("outcome", outcome)]
            )
            .is_some_and(|n| n >= 1.0),
            "{outcome}: {text}"
        );
    }
    assert!(
        sample(&text, "aegis_lockouts_total", &[("scope", "account")]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "aegis_password_hash_wait_seconds_count", &[]).is_some_and(|n| n >= 12.0),
        "{text}"
    );
    assert!(text.contains("aegis_password_hash_queue_depth"), "{text}");
    assert!(
        sample(&text, "aegis_sessions_active", &[]).is_some(),
        "{text}"
    );
    assert!(
        sample(&text, "aegis_db_pool_connections", &[("state", "max")]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // No secret reaches the metrics.
    assert!(!text.contains(PASSWORD) && !text.contains("wrong password"));
}

async fn metrics_status(srv: &Srv, forwarded_for: Option<&str>) -> (u16, String) {
    let mut req = srv.http.get(srv.url("/metrics"));
    if let Some(xff) = forwarded_for {
        req = req.header("X-Forwarded-For", xff);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// On the main port the socket peer decides (loopback by default); a trusted
/// proxy on loopback forwarding for a public client does not open them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_the_main_port_follow_the_socket_peer() {
    run_with(
        Backend::Sqlite,
        |c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()],
        |srv: Srv| async move {
            assert_eq!(metrics_status(&srv, None).await.0, 200);
            assert_eq!(metrics_status(&srv, Some("127.0.0.1")).await.0, 200);
            let unknown = srv
                .http
                .get(srv.url("/no/such/thing"))
                .send()
                .await
                .unwrap();
            let unknown = (unknown.status().as_u16(), unknown.text().await.unwrap());
            assert_eq!(metrics_status(&srv, Some("203.0.113.9")).await, unknown);
            assert_eq!(
                metrics_status(&srv, Some("::ffff:203.0.113.9")).await,
                unknown
            );
        },
    )
    .await;
    // A peer that is no trusted proxy is judged by its own address: what it
    // says it forwards for is not believed either way.
    run_with(
        Backend::Sqlite,
        |_| {},
        |srv: Srv| async move {
            assert_eq!(metrics_status(&srv, Some("203.0.113.9")).await.0, 200);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_networks_and_public_are_settings() {
    // Loopback not among the allowed networks: refused like an unknown path.
    run_with(
        Backend::Sqlite,
        |c| c.metrics.allowed_networks = vec!["10.0.0.0/8".parse().unwrap()],
        |srv: Srv| async move {
            let (status, body) = metrics_status(&srv, None).await;
            assert_eq!(status, 404, "{body}");
            assert!(!body.contains("aegis_http_requests_total"), "{body}");
        },
    )
    .await;
    // Public: everyone, forwarded or not.
    run_with(
        Backend::Sqlite,
        |c| {
            c.metrics.allowed_networks = vec!["10.0.0.0/8".parse().unwrap()];
            c.metrics.public = true;
            c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        },
        |srv: Srv| async move {
            assert_eq!(metrics_status(&srv, None).await.0, 200);
            assert_eq!(metrics_status(&srv, Some("203.0.113.9")).await.0, 200);
        },
    )
    .await;
}
