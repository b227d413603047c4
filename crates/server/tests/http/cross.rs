//! Cross-dialect behaviour: one user store, one session model, every dialect.

use aegis_core::Role;
use serde_json::json;

use crate::both;
use crate::harness::{Srv, PASSWORD};

both!(
    argon_token_everywhere_and_logout_kills_it,
    deactivation_through_pegasys,
    panics_answer_in_the_dialect_shape
);

async fn argon_token_everywhere_and_logout_kills_it(srv: Srv) {
    srv.user("kim@example.com", Role::User).await;
    let argon = srv.argon_login("kim@example.com").await;
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&argon), None).await.status,
        200
    );
    assert_eq!(srv.call("GET", "/me", Some(&argon), None).await.status, 200);
    // An aiohttp login's tokens work on the others; Pegasys logout kills the
    // session everywhere, its refresh token included.
    let pair: serde_json::Value = srv
        .post(
            "/auth",
            json!({"username": "kim@example.com", "password": PASSWORD}),
        )
        .await
        .json()
        .await
        .unwrap();
    let access = pair["access_token"].as_str().unwrap();
    let refresh = pair["refresh_token"].as_str().unwrap();
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(access), None)
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call("GET", "/auth/logout", Some(access), None)
            .await
            .status,
        200
    );
    assert_eq!(srv.call("GET", "/me", Some(access), None).await.status, 401);
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(access), None)
            .await
            .status,
        401
    );
    assert_eq!(
        srv.post("/auth/refresh", json!({"refresh_token": refresh}))
            .await
            .status(),
        401
    );
    // The Argon session is another session: untouched until it logs out itself.
    assert_eq!(srv.call("GET", "/me", Some(&argon), None).await.status, 200);
    assert_eq!(
        srv.call("POST", "/auth/logout", Some(&argon), None)
            .await
            .status,
        200
    );
    assert_eq!(srv.call("GET", "/me", Some(&argon), None).await.status, 401);
}

async fn deactivation_through_pegasys(srv: Srv) {
    srv.user("admin@example.com", Role::Admin).await;
    srv.user("lea@example.com", Role::User).await;
    let admin = srv.argon_login("admin@example.com").await;
    let argon = srv.argon_login("lea@example.com").await;
    let pair: serde_json::Value = srv
        .post(
            "/auth",
            json!({"username": "lea@example.com", "password": PASSWORD}),
        )
        .await
        .json()
        .await
        .unwrap();
    let api = srv.mint(&argon, "user", 600).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = srv
        .call(
            "PUT",
            "/api/users/lea@example.com",
            Some(&admin),
            Some(json!({"isActive": false})),
        )
        .await;
    assert_eq!(r.status, 200);
    for t in [
        argon.as_str(),
        pair["access_token"].as_str().unwrap(),
        api.as_str(),
    ] {
        assert_eq!(srv.call("GET", "/auth/me", Some(t), None).await.status, 401);
        assert_eq!(
            srv.call("GET", "/api/auth/state", Some(t), None)
                .await
                .status,
            401
        );
        assert_eq!(srv.call("GET", "/me", Some(t), None).await.status, 401);
    }
    assert_eq!(
        srv.post(
            "/auth/refresh",
            json!({"refresh_token": pair["refresh_token"]})
        )
        .await
        .status(),
        401
    );
    // Every login fails exactly like a wrong password.
    let a = srv
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "lea@example.com", "password": PASSWORD})),
        )
        .await;
    let b = srv
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "lea@example.com", "password": "wrong password"})),
        )
        .await;
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    let a = srv
        .post(
            "/auth",
            json!({"username": "lea@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(a.status(), 401);
    // Reactivation restores API tokens, not sessions.
    srv.call(
        "PUT",
        "/api/users/lea@example.com",
        Some(&admin),
        Some(json!({"isActive": true})),
    )
    .await;
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&api), None).await.status,
        200
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&argon), None).await.status,
        401
    );
    assert_eq!(
        srv.call(
            "GET",
            "/me",
            Some(pair["access_token"].as_str().unwrap()),
            None
        )
        .await
        .status,
        401
    );
    assert!(
        !srv.argon_login("lea@example.com").await.is_empty(),
        "login works again"
    );
}

/// A handler that panics answers a 500 in the shape of the dialect owning its
/// path (the error bodies each client parses), the panic message never reaches
/// the client, and the server keeps serving. No real handler panics, so the
/// shared layers are put around a router of panicking ones.
async fn panics_answer_in_the_dialect_shape(srv: Srv) {
    use axum::routing::post;
    let boom = || async { panic!("boom: secret detail") as &'static str };
    let mut router = axum::Router::new();
    for path in [
        "/auth/refresh",
        "/auth/me",
        "/api/auth/state",
        "/v2/user/profile/get",
        "/readyz",
    ] {
        router = router.route(path, post(boom));
    }
    let router = router.route("/fine", post(|| async { "fine" }));
    let app = aegis_server::middleware::apply(router, srv.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = srv.state.config.clone();
    let server = tokio::spawn(async move {
        aegis_server::serve(listener, app, &config, std::future::pending()).await
    });
    let http = reqwest::Client::new();
    let call = |path: &'static str| {
        let req = http.post(format!("{base}{path}")).json(&json!({}));
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let kind = res.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned();
            let text = res.text().await.unwrap();
            assert!(!text.contains("boom"), "{path}: {text}");
            (
                status,
                kind,
                serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            )
        }
    };

    let (status, kind, body) = call("/auth/refresh").await;
    assert_eq!((status, kind.as_str()), (500, "application/problem+json"));
    let as_string = srv.state.config.aiohttp.problem_status_as_string;
    assert_eq!(
        body["status"],
        if as_string { json!("500") } else { json!(500) }
    );
    assert_eq!(body["instance"], format!("{base}/auth/refresh"));
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );

    let (status, _, body) = call("/auth/me").await;
    assert_eq!(status, 500);
    assert_eq!(body["status"], "fail", "{body}");
    assert!(body["error"].is_string(), "{body}");

    let (status, _, body) = call("/api/auth/state").await;
    assert_eq!((status, body), (500, json!({"error": "Server error"})));

    let (status, _, body) = call("/v2/user/profile/get").await;
    assert_eq!(status, 500);
    assert_eq!(body["status"], "InternalError", "{body}");
    assert!(
        body["request_id"].is_string() && body["result"].is_null(),
        "{body}"
    );

    let (status, _, body) = call("/readyz").await;
    assert_eq!((status, body), (500, json!({"error": "Internal error"})));

    let fine = http.post(format!("{base}/fine")).send().await.unwrap();
    assert_eq!(fine.status(), 200);
    assert_eq!(fine.text().await.unwrap(), "fine");
    server.abort();

    // Each is counted, under its dialect: the panic unwound past the router,
    // so without a route (`unrouted`).
    let text = crate::metrics::scrape(&srv).await;
    for dialect in ["aiohttp", "pegasys", "argon", "pangea", "other"] {
        let labels = [
            ("route", "unrouted"),
            ("dialect", dialect),
            ("status", "500"),
        ];
        let counted = crate::metrics::sample(&text, "aegis_http_requests_total", &labels);
        assert!(counted.is_some_and(|n| n >= 1.0), "{dialect}: {text}");
    }
}
