//! Cross-dialect behaviour: one user store, one session model, every dialect.

use aegis_core::Role;
use serde_json::json;

use crate::both;
use crate::harness::{Srv, PASSWORD};

both!(
    argon_token_everywhere_and_logout_kills_it,
    deactivation_through_pegasys
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
