//! Routes outside the dialects: health, JWKS, OpenAPI, global hygiene.

use aegis_core::Role;
use serde_json::{json, Value};

use crate::both;
use crate::harness::{parts, Srv};

both!(health_keys_and_docs, hygiene_headers_and_fallbacks);

async fn health_keys_and_docs(srv: Srv) {
    let (status, body) = parts(srv.http.get(srv.url("/healthz")).send().await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, _) = parts(srv.http.get(srv.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let (status, jwks) = parts(
        srv.http
            .get(srv.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(key.get("d").is_none(), "never the private key");
    let (status, doc) = parts(srv.http.get(srv.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/auth", "post"),
        ("/me", "get"),
        ("/auth/refresh", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} documented"
        );
    }
}

async fn hygiene_headers_and_fallbacks(srv: Srv) {
    srv.user("pat@example.com", Role::User).await;
    let res = srv.http.get(srv.url("/nowhere")).send().await.unwrap();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers().get("x-request-id").is_some());
    let (status, body) = parts(res).await;
    assert_eq!((status, body), (404, json!({"error": "Not found"})));
    let res = srv
        .http
        .request("TRACE".parse().unwrap(), srv.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let res = srv.http.post(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"error": "Method not allowed"}));
}

/// Two instances on one PostgreSQL: a deactivation made through one reaches the
/// other's caches (LISTEN/NOTIFY) without waiting for their expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_crosses_instances() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use aegis_core::clock::ManualClock;
    use aegis_core::service::UserChange;
    use aegis_core::Actor;

    let Some(url) = aegis_store::testing::postgres_test_url() else {
        eprintln!("skipping PostgreSQL case: AEGIS_TEST_POSTGRES_URL is not set");
        return;
    };
    let (store_a, schema) = aegis_store::testing::isolated_postgres(&url).await.unwrap();
    let store_b = aegis_store::testing::open_schema(&url, &schema)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = crate::harness::test_config(dir.path());
    let clock = Arc::new(ManualClock::new());
    let a =
        aegis_server::bootstrap::state_with_store(config.clone(), Arc::new(store_a), clock.clone())
            .await
            .unwrap();
    let b = aegis_server::bootstrap::state_with_store(config, Arc::new(store_b), clock)
        .await
        .unwrap();
    assert_eq!(
        a.aegis.jwks(),
        b.aegis.jwks(),
        "instances share signing keys"
    );
    let srv = Srv {
        base: String::new(),
        http: reqwest::Client::new(),
        state: a.clone(),
        clock: Arc::new(ManualClock::new()),
    };
    srv.user("root@example.com", Role::Admin).await;
    let user = srv.user("sam@example.com", Role::User).await;
    let login = a
        .aegis
        .login(aegis_core::service::LoginRequest {
            identifier: "sam@example.com".into(),
            password: crate::harness::PASSWORD.into(),
            otp: None,
            ip: None,
        })
        .await
        .unwrap();
    let token = login.tokens.access_token;
    // B verifies A's token and caches the session and user state.
    assert!(b.aegis.authenticate(&token).await.is_ok());
    a.aegis
        .update_user(
            &Actor::System,
            user.id,
            UserChange {
                role: None,
                active: Some(false),
            },
        )
        .await
        .unwrap();
    assert!(
        a.aegis.authenticate(&token).await.is_err(),
        "at once where it happened"
    );
    let start = Instant::now();
    while b.aegis.authenticate(&token).await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "B never heard of the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "revocation reached the other instance in {:?}",
        start.elapsed()
    );
    aegis_store::testing::drop_schema(&url, &schema)
        .await
        .unwrap();
}

/// An early answer (401 before the body is looked at) must not break a
/// keep-alive connection whose body arrives late — clients pool connections.
#[tokio::test]
async fn early_errors_keep_the_connection_usable() {
    crate::harness::run(crate::harness::Backend::Sqlite, |srv: Srv| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = srv.base.trim_start_matches("http://").to_owned();
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let body = r#"{"email":"a@b.c","profile":{}}"#;
        for path in ["/v2/user/create", "/api/tokens/local", "/v2/nowhere"] {
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            s.write_all(body.as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(text.starts_with("HTTP/1.1 401") || text.starts_with("HTTP/1.1 404"), "{text}");
            assert!(!text.to_ascii_lowercase().contains("connection: close"), "{text}");
        }
        // The same connection still serves.
        s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    })
    .await;
}
