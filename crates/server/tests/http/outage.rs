//! The database goes away (issue 15, item 8): on a throwaway PostgreSQL
//! cluster the test stops and starts itself, `/readyz` answers 503 at once,
//! requests that need the database fail fast as 503 + `Retry-After` in each
//! dialect's shape, token checks served from the caches keep working, and
//! service resumes by itself when the database is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aegis_core::clock::ManualClock;
use aegis_core::Role;
use aegis_store::testing::cluster::ScratchCluster;
use serde_json::json;

use crate::harness::{run_on, test_config, Reply, Srv, PASSWORD};
use crate::pangea::service_token;

/// The readiness bound of the issue (1 s), with slack for a loaded machine.
const READY_BOUND: Duration = Duration::from_millis(1500);
/// `database_timeout_ms` of the test (1 s) plus generous slack; sqlx's
/// default wait, the bug, was 30 s.
const REQUEST_BOUND: Duration = Duration::from_secs(3);

/// A request and how long it took.
async fn timed(
    srv: &Srv,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<serde_json::Value>,
) -> (Reply, Duration) {
    let started = Instant::now();
    let r = srv.call(method, path, bearer, body).await;
    (r, started.elapsed())
}

/// 503 with a positive `Retry-After`, answered in time.
fn unavailable(what: &str, (r, took): &(Reply, Duration)) {
    assert_eq!(r.status, 503, "{what}: {}", r.body);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0, "{what}: Retry-After {retry}");
    assert!(*took < REQUEST_BOUND, "{what} took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage() {
    let Some(cluster) = ScratchCluster::create().await.unwrap() else {
        eprintln!("skipping: no PostgreSQL server binaries (initdb, pg_ctl)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.database = Some(cluster.url());
    config.database_timeout_ms = 1000;
    let store = aegis_store::connect_with(&cluster.url(), config.store_options())
        .await
        .unwrap();
    run_on(
        config,
        store,
        Arc::new(ManualClock::new()),
        |srv| async move {
            outage_case(srv, &cluster).await;
        },
    )
    .await;
}

async fn outage_case(srv: Srv, cluster: &ScratchCluster) {
    srv.user("kim@example.com", Role::Admin).await;
    let admin = service_token(&srv, "svc@example.com", Role::Admin).await;
    let login = json!({"username": "kim@example.com", "password": PASSWORD});
    let argon = srv.argon_login("kim@example.com").await;
    let pair = srv.call("POST", "/auth", None, Some(login.clone())).await;
    assert_eq!(pair.status, 200, "{}", pair.body);
    let access = pair.body["access_token"].as_str().unwrap().to_owned();
    let refresh = pair.body["refresh_token"].as_str().unwrap().to_owned();
    // A session never checked (a login updates the user: it comes first).
    let unused = srv.call("POST", "/auth", None, Some(login.clone())).await;
    let unused_access = unused.body["access_token"].as_str().unwrap().to_owned();
    // Token checks load the session, user and API token state into the caches.
    let cached = |srv: &Srv| {
        let (srv, argon, access, admin) =
            (srv.clone(), argon.clone(), access.clone(), admin.clone());
        async move {
            for (path, token) in [
                ("/me", &access),
                ("/api/auth/state", &argon),
                ("/auth/me", &argon),
            ] {
                let r = srv.call("GET", path, Some(token), None).await;
                assert_eq!(r.status, 200, "{path}: {}", r.body);
            }
            let r = srv
                .call(
                    "POST",
                    "/v2/client/token/check",
                    Some(&admin),
                    Some(json!({"token": access})),
                )
                .await;
            assert_eq!(r.status, 200, "token/check: {}", r.body);
        }
    };
    cached(&srv).await;
    cached(&srv).await;
    // An API token never used: its state is not cached.
    let unused_service = service_token(&srv, "svc2@example.com", Role::Admin).await;
    let r = srv.call("GET", "/readyz", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);

    cluster.stop().await.unwrap();

    let ready = timed(&srv, "GET", "/readyz", None, None).await;
    assert_eq!(ready.0.status, 503, "{}", ready.0.body);
    assert_eq!(ready.0.body, json!({"status": "unavailable"}));
    assert!(ready.1 < READY_BOUND, "/readyz took {:?}", ready.1);

    // Argon (spec §3): its own `{"error": …}` body.
    let r = timed(&srv, "POST", "/api/auth/login", None, Some(login.clone())).await;
    unavailable("argon login", &r);
    assert_eq!(r.0.body, json!({"error": "Service unavailable"}));
    // aiohttp: an RFC 7807 problem like its 429 and 500.
    let r = timed(&srv, "POST", "/auth", None, Some(login.clone())).await;
    unavailable("aiohttp login", &r);
    assert_eq!(r.0.body["type"], "about:blank");
    assert_eq!(r.0.body["title"], "Service Unavailable");
    assert_eq!(r.0.body["status"], "503");
    assert!(r.0.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/problem+json"));
    // Pangea: the envelope with `ServiceNotAvailable` (spec: 503 + Retry-After).
    let r = timed(
        &srv,
        "POST",
        "/v2/client/session/refresh",
        Some(&admin),
        Some(json!({"refresh_token": refresh, "user_token": access})),
    )
    .await;
    unavailable("pangea refresh", &r);
    assert_eq!(r.0.body["status"], "ServiceNotAvailable");
    // Pegasys: `{"status": "fail", "error": …}`, minting a token.
    let r = timed(
        &srv,
        "POST",
        "/api/tokens/local",
        Some(&argon),
        Some(json!({"role": "user", "expiry": 3600})),
    )
    .await;
    unavailable("pegasys mint", &r);
    assert_eq!(
        r.0.body,
        json!({"status": "fail", "error": "Service unavailable"})
    );

    // A credential whose state is not cached cannot be checked: 503 too, not
    // a 401 that would make a client drop a good token.
    let r = timed(&srv, "GET", "/me", Some(&unused_access), None).await;
    unavailable("aiohttp me, uncached", &r);
    assert_eq!(r.0.body["status"], "503");
    let r = timed(
        &srv,
        "POST",
        "/v2/client/token/check",
        Some(&unused_service),
        Some(json!({"token": access})),
    )
    .await;
    unavailable("pangea token/check, uncached service token", &r);
    assert_eq!(r.0.body["status"], "ServiceNotAvailable");

    // Sessions and users known to the caches still authenticate.
    let started = Instant::now();
    cached(&srv).await;
    assert!(
        started.elapsed() < REQUEST_BOUND,
        "cached checks took {:?}",
        started.elapsed()
    );

    cluster.start().await.unwrap();

    // Back by itself: readiness, then a login, within some seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = srv.call("GET", "/readyz", None, None).await;
        let login = srv
            .call("POST", "/api/auth/login", None, Some(login.clone()))
            .await;
        if ready.status == 200 && login.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not back: {} {}",
            ready.body,
            login.body
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let r = srv.call("POST", "/auth", None, Some(login)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    cached(&srv).await;
}
