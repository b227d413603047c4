//! The Pegasys dialect (`shared/spec/pegasys-aegis.md`), end to end.

use aegis_core::Role;
use serde_json::json;

use crate::both;
use crate::harness::{Reply, Srv};

fn fail(r: &Reply, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body, json!({"status": "fail", "error": message}));
    assert_eq!(r.headers["content-type"], "application/json");
}

both!(
    me_and_logout,
    tokens_lifecycle,
    capability_table,
    user_listing_by_pattern,
    user_update_and_delete,
    last_admin_rule,
    bad_input_is_400,
);

async fn me_and_logout(srv: Srv) {
    srv.user("Admin@Example.com", Role::Admin).await;
    let t = srv.argon_login("admin@example.com").await;
    let r = srv.call("GET", "/auth/me", Some(&t), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"email": "admin@example.com", "role": "admin", "isActive": true})
    );
    // Scheme is case-insensitive; anything else is 401 with WWW-Authenticate.
    let res = srv
        .http
        .get(srv.url("/auth/me"))
        .header("Authorization", format!("bearer {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for h in [format!("Basic {t}"), t.clone(), String::new()] {
        let res = srv
            .http
            .get(srv.url("/auth/me"))
            .header("Authorization", h)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body, json!({"status": "fail", "error": "Unauthorized"}));
    }
    fail(
        &srv.call("GET", "/auth/me", None, None).await,
        401,
        "Unauthorized",
    );
    fail(
        &srv.call("GET", "/auth/me", Some("garbage"), None).await,
        401,
        "Unauthorized",
    );
    // Logout ends that session only; GET and POST both work; twice is 401.
    let other = srv.argon_login("admin@example.com").await;
    let r = srv.call("GET", "/auth/logout", Some(&t), None).await;
    assert_eq!((r.status, r.body), (200, json!({"status": "pass"})));
    fail(
        &srv.call("GET", "/auth/me", Some(&t), None).await,
        401,
        "Unauthorized",
    );
    fail(
        &srv.call("GET", "/auth/logout", Some(&t), None).await,
        401,
        "Unauthorized",
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&other), None).await.status,
        200
    );
    assert_eq!(
        srv.call("POST", "/auth/logout", Some(&other), None)
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&other), None).await.status,
        401
    );
    // Logout with an API token revokes that token.
    let admin = srv.argon_login("admin@example.com").await;
    let api = srv.mint(&admin, "view", 600).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = srv.call("GET", "/auth/me", Some(&api), None).await;
    assert_eq!(
        r.body,
        json!({"email": "admin@example.com", "role": "view", "isActive": true})
    );
    assert_eq!(
        srv.call("GET", "/auth/logout", Some(&api), None)
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&api), None).await.status,
        401
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&admin), None).await.status,
        200
    );
}

async fn tokens_lifecycle(srv: Srv) {
    srv.user("admin@example.com", Role::Admin).await;
    srv.user("bob@example.com", Role::User).await;
    let admin = srv.argon_login("admin@example.com").await;
    let bob = srv.argon_login("bob@example.com").await;
    let before = srv.state.aegis.now();
    let r = srv
        .call(
            "POST",
            "/api/tokens/local",
            Some(&admin),
            Some(json!({"role": "view", "expiry": 3600, "name": "CI/CD"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let obj = r.body.as_object().unwrap();
    assert_eq!(obj.len(), 3);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let secret = r.body["token"].as_str().unwrap().to_owned();
    assert!(id.starts_with("tok_") && secret.starts_with("aeg_"));
    let expiry = chrono::DateTime::parse_from_rfc3339(r.body["expiry"].as_str().unwrap()).unwrap();
    assert!(r.body["expiry"].as_str().unwrap().ends_with('Z'));
    assert!((expiry.timestamp() - before.timestamp() - 3600).abs() <= 1);
    // The token works on every dialect.
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&secret), None).await.body["role"],
        "view"
    );
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(&secret), None)
            .await
            .body["permissions"],
        json!(["servers.view"])
    );
    assert_eq!(
        srv.call("GET", "/me", Some(&secret), None).await.body["permissions"],
        json!(["view"])
    );
    // Listing: exact keys, no secret, newest first; last use recorded.
    let bob_token = srv.mint(&bob, "user", 60).await;
    assert_eq!(bob_token.status, 200);
    let r = srv
        .call("GET", "/api/tokens/local", Some(&admin), None)
        .await;
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["createdBy"], "bob@example.com");
    let item = &list[1];
    let mut keys: Vec<_> = item.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "createdAt",
            "createdBy",
            "expiry",
            "id",
            "lastUsedAt",
            "name",
            "provider",
            "role"
        ]
    );
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["name"], "CI/CD");
    assert_eq!(item["provider"], "local");
    assert_eq!(item["createdBy"], "admin@example.com");
    assert!(item["lastUsedAt"].is_string(), "used above: {item}");
    assert!(!r.body.to_string().contains(&secret));
    // Others see only their own; an unknown provider lists nothing.
    let r = srv.call("GET", "/api/tokens/local", Some(&bob), None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = srv
        .call("GET", "/api/tokens/aaaa", Some(&admin), None)
        .await;
    assert_eq!((r.status, r.body), (200, json!([])));
    fail(
        &srv.call(
            "POST",
            "/api/tokens/aaaa",
            Some(&admin),
            Some(json!({"role": "view", "expiry": 5})),
        )
        .await,
        404,
        "Unknown provider",
    );
    // Delete: IDOR is a 404; the owner or an admin may; then it is gone everywhere.
    fail(
        &srv.call("DELETE", &format!("/api/tokens/{id}"), Some(&bob), None)
            .await,
        404,
        "Token not found",
    );
    let r = srv
        .call("DELETE", &format!("/api/tokens/{id}"), Some(&admin), None)
        .await;
    assert_eq!((r.status, r.body), (200, json!({"status": "pass"})));
    assert_eq!(
        srv.call("GET", "/me", Some(&secret), None).await.status,
        401
    );
    fail(
        &srv.call("DELETE", &format!("/api/tokens/{id}"), Some(&admin), None)
            .await,
        404,
        "Token not found",
    );
    fail(
        &srv.call("DELETE", "/api/tokens/tok_garbage", Some(&admin), None)
            .await,
        404,
        "Token not found",
    );
    let bob_id = bob_token.body["id"].as_str().unwrap();
    assert_eq!(
        srv.call("DELETE", &format!("/api/tokens/{bob_id}"), Some(&bob), None)
            .await
            .status,
        200
    );
}

async fn capability_table(srv: Srv) {
    srv.user("admin@example.com", Role::Admin).await;
    srv.user("viewer@example.com", Role::View).await;
    srv.user("bob@example.com", Role::User).await;
    srv.user("carol@example.com", Role::User).await;
    let admin = srv.argon_login("admin@example.com").await;
    let viewer = srv.argon_login("viewer@example.com").await;
    let bob = srv.argon_login("bob@example.com").await;
    // view: mints nothing, lists users and all tokens, changes nothing.
    fail(&srv.mint(&viewer, "view", 60).await, 403, "Forbidden");
    fail(&srv.mint(&viewer, "admin", 60).await, 403, "Forbidden");
    assert_eq!(
        srv.call("GET", "/api/users/*", Some(&viewer), None)
            .await
            .status,
        200
    );
    let admin_tok = srv.mint(&admin, "admin", 600).await;
    let tok_id = admin_tok.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        srv.call("GET", "/api/tokens/local", Some(&viewer), None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    fail(
        &srv.call(
            "PUT",
            "/api/users/bob@example.com",
            Some(&viewer),
            Some(json!({"role": "admin"})),
        )
        .await,
        403,
        "Forbidden",
    );
    fail(
        &srv.call("DELETE", "/api/users/bob@example.com", Some(&viewer), None)
            .await,
        403,
        "Forbidden",
    );
    fail(
        &srv.call(
            "DELETE",
            &format!("/api/tokens/{tok_id}"),
            Some(&viewer),
            None,
        )
        .await,
        403,
        "Forbidden",
    );
    // A viewer may mint nothing: 403 whatever its body (spec §2).
    fail(
        &srv.call(
            "POST",
            "/api/tokens/local",
            Some(&viewer),
            Some(json!({"role": "nonsense"})),
        )
        .await,
        403,
        "Forbidden",
    );
    // user: own tokens only, never admin ones, no user administration, no listing.
    fail(&srv.mint(&bob, "admin", 60).await, 403, "Forbidden");
    let bob_view = srv.mint(&bob, "view", 60).await;
    assert_eq!(bob_view.status, 200);
    assert_eq!(srv.mint(&bob, "user", 60).await.status, 200);
    // A `view` token of a `user` has what both roles grant: reading its owner's
    // identity, not the directory a `view` account could read (spec §2).
    let bob_view = bob_view.body["token"].as_str().unwrap().to_owned();
    let me = srv.call("GET", "/auth/me", Some(&bob_view), None).await;
    assert_eq!(me.status, 200, "{}", me.body);
    fail(
        &srv.call("GET", "/api/users/*", Some(&bob_view), None).await,
        403,
        "Forbidden",
    );
    let listed = srv
        .call("GET", "/api/tokens/local", Some(&bob_view), None)
        .await;
    assert_eq!(listed.status, 200);
    let owners: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["createdBy"].as_str().unwrap_or("?"))
        .collect();
    assert!(
        owners.iter().all(|o| *o == "bob@example.com"),
        "only its owner's tokens: {}",
        listed.body
    );
    fail(
        &srv.call("GET", "/api/users/*", Some(&bob), None).await,
        403,
        "Forbidden",
    );
    fail(
        &srv.call(
            "PUT",
            "/api/users/carol@example.com",
            Some(&bob),
            Some(json!({"isActive": false})),
        )
        .await,
        403,
        "Forbidden",
    );
    fail(
        &srv.call("DELETE", "/api/users/carol@example.com", Some(&bob), None)
            .await,
        403,
        "Forbidden",
    );
    fail(
        &srv.call("DELETE", &format!("/api/tokens/{tok_id}"), Some(&bob), None)
            .await,
        404,
        "Token not found",
    );
    // A view token of an admin is read-only; an admin token is capped by a demoted owner.
    let admin_view = srv.mint(&admin, "view", 600).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    fail(&srv.mint(&admin_view, "view", 60).await, 403, "Forbidden");
    fail(
        &srv.call(
            "DELETE",
            "/api/users/bob@example.com",
            Some(&admin_view),
            None,
        )
        .await,
        403,
        "Forbidden",
    );
    srv.user("root@example.com", Role::Admin).await;
    let root = srv.argon_login("root@example.com").await;
    let admin_secret = admin_tok.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&admin_secret), None)
            .await
            .body["role"],
        "admin"
    );
    assert_eq!(
        srv.call(
            "PUT",
            "/api/users/admin@example.com",
            Some(&root),
            Some(json!({"role": "view"}))
        )
        .await
        .status,
        200
    );
    let r = srv.call("GET", "/auth/me", Some(&admin_secret), None).await;
    assert_eq!(
        r.body["role"], "view",
        "the token is lowered to its owner's new role at once"
    );
    fail(
        &srv.call(
            "DELETE",
            "/api/users/bob@example.com",
            Some(&admin_secret),
            None,
        )
        .await,
        403,
        "Forbidden",
    );
}

async fn user_listing_by_pattern(srv: Srv) {
    srv.user("admin@example.com", Role::Admin).await;
    srv.user("viewer@example.com", Role::View).await;
    for e in [
        "ragu@example.com",
        "ragu.two@example.com",
        "raguel@test.io",
        "xragu@example.com",
        "r%gu@example.com",
        "r_gu@example.com",
    ] {
        srv.user(e, Role::User).await;
    }
    // An account without email is listed by its username.
    srv.call(
        "POST",
        "/api/auth/register",
        None,
        Some(json!({"username": "ragnar", "password": crate::harness::PASSWORD})),
    )
    .await;
    let viewer = srv.argon_login("viewer@example.com").await;
    let list = |pattern: &'static str| {
        let srv = srv.clone();
        let viewer = viewer.clone();
        async move {
            let r = srv
                .call("GET", &format!("/api/users/{pattern}"), Some(&viewer), None)
                .await;
            assert_eq!(r.status, 200, "{pattern}: {}", r.body);
            let total: usize = r.headers["x-total-count"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let emails: Vec<String> = r
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(total, emails.len());
            (emails, r.body)
        }
    };
    let (emails, body) = list("ragu*").await;
    assert_eq!(
        emails,
        ["ragu.two@example.com", "ragu@example.com", "raguel@test.io"]
    );
    assert_eq!(
        body[1],
        json!({"email": "ragu@example.com", "name": null, "provider": "local", "role": "user", "isActive": true})
    );
    assert_eq!(list("RAGU*").await.0.len(), 3, "case-insensitive");
    assert_eq!(list("rag*").await.0.len(), 4, "username fallback: ragnar");
    assert_eq!(list("*@test.io").await.0, ["raguel@test.io"]);
    assert_eq!(
        list("ragu@example.com").await.0,
        ["ragu@example.com"],
        "no wildcard: exact"
    );
    assert_eq!(
        list("r%3Fgu@example.com").await.0,
        ["r%gu@example.com", "r_gu@example.com", "ragu@example.com"]
    );
    assert_eq!(
        list("r%25gu*").await.0,
        ["r%gu@example.com"],
        "% is literal"
    );
    assert_eq!(list("r_gu*").await.0, ["r_gu@example.com"], "_ is literal");
    assert!(list("nobody*").await.0.is_empty());
    for hostile in [
        "%25",
        "_",
        "%5C",
        "'%20OR%201=1--",
        "%22",
        "[a-z]*",
        "*%00*",
    ] {
        let r = srv
            .call("GET", &format!("/api/users/{hostile}"), Some(&viewer), None)
            .await;
        assert!(
            r.status == 200 || r.status == 400,
            "{hostile}: {}",
            r.status
        );
        if r.status == 200 {
            assert_eq!(r.body, json!([]), "{hostile}");
        }
    }
    fail(
        &srv.call(
            "GET",
            &format!("/api/users/{}", "a".repeat(257)),
            Some(&viewer),
            None,
        )
        .await,
        400,
        "Pattern must be at most 256 characters",
    );
    let stars = "*a".repeat(17);
    assert_eq!(
        srv.call("GET", &format!("/api/users/{stars}"), Some(&viewer), None)
            .await
            .status,
        400
    );
}

async fn user_update_and_delete(srv: Srv) {
    srv.user("admin@example.com", Role::Admin).await;
    srv.user("dave+tag@example.com", Role::User).await;
    let admin = srv.argon_login("admin@example.com").await;
    let dave = srv.argon_login("dave+tag@example.com").await;
    let dave_api = srv.mint(&dave, "user", 600).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = srv
        .call(
            "PUT",
            "/api/users/Dave+Tag@example.com",
            Some(&admin),
            Some(json!({"role": "view", "extra": 1})),
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (
            200,
            json!({"status": "pass", "email": "dave+tag@example.com"})
        )
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&dave), None).await.body["role"],
        "view"
    );
    // Deprecated POST: same effect plus Deprecation and Link headers.
    let r = srv
        .call(
            "POST",
            "/api/users/dave+tag@example.com",
            Some(&admin),
            Some(json!({"role": "user"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["deprecation"], "true");
    assert_eq!(
        r.headers["link"],
        "</api/users/dave%2Btag@example.com>; rel=\"successor-version\""
    );
    // Deactivation: sessions die for good, API tokens are suspended.
    let r = srv
        .call(
            "PUT",
            "/api/users/dave+tag@example.com",
            Some(&admin),
            Some(json!({"isActive": false})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&dave), None).await.status,
        401
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&dave_api), None)
            .await
            .status,
        401
    );
    let r = srv
        .call("GET", "/api/users/dave*", Some(&admin), None)
        .await;
    assert_eq!(r.body[0]["isActive"], false);
    srv.call(
        "PUT",
        "/api/users/dave+tag@example.com",
        Some(&admin),
        Some(json!({"isActive": true})),
    )
    .await;
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&dave_api), None)
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&dave), None).await.status,
        401
    );
    fail(
        &srv.call(
            "PUT",
            "/api/users/ghost@example.com",
            Some(&admin),
            Some(json!({"role": "view"})),
        )
        .await,
        404,
        "User not found",
    );
    // Delete: everything of the user stops at once; deleting again is 404.
    let dave2 = srv.argon_login("dave+tag@example.com").await;
    let r = srv
        .call(
            "DELETE",
            "/api/users/dave+tag@example.com",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (
            200,
            json!({"status": "pass", "email": "dave+tag@example.com"})
        )
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&dave2), None).await.status,
        401
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&dave_api), None)
            .await
            .status,
        401
    );
    fail(
        &srv.call(
            "DELETE",
            "/api/users/dave+tag@example.com",
            Some(&admin),
            None,
        )
        .await,
        404,
        "User not found",
    );
    // Tokens an admin minted disappear with that admin.
    srv.user("second@example.com", Role::Admin).await;
    let second = srv.argon_login("second@example.com").await;
    let minted = srv.mint(&second, "view", 600).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&minted), None)
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call(
            "DELETE",
            "/api/users/second@example.com",
            Some(&admin),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&minted), None)
            .await
            .status,
        401
    );
}

async fn last_admin_rule(srv: Srv) {
    srv.user("admin@example.com", Role::Admin).await;
    let admin = srv.argon_login("admin@example.com").await;
    let last = "Cannot remove the last active admin";
    fail(
        &srv.call(
            "PUT",
            "/api/users/admin@example.com",
            Some(&admin),
            Some(json!({"role": "user"})),
        )
        .await,
        409,
        last,
    );
    fail(
        &srv.call(
            "PUT",
            "/api/users/admin@example.com",
            Some(&admin),
            Some(json!({"isActive": false})),
        )
        .await,
        409,
        last,
    );
    fail(
        &srv.call(
            "POST",
            "/api/users/admin@example.com",
            Some(&admin),
            Some(json!({"role": "view"})),
        )
        .await,
        409,
        last,
    );
    fail(
        &srv.call("DELETE", "/api/users/admin@example.com", Some(&admin), None)
            .await,
        409,
        last,
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&admin), None).await.body["role"],
        "admin",
        "nothing changed"
    );
    // With a second active admin, the first may step down.
    srv.user("other@example.com", Role::Admin).await;
    let r = srv
        .call(
            "PUT",
            "/api/users/admin@example.com",
            Some(&admin),
            Some(json!({"role": "user"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let other = srv.argon_login("other@example.com").await;
    fail(
        &srv.call("DELETE", "/api/users/other@example.com", Some(&other), None)
            .await,
        409,
        last,
    );
    // An inactive admin does not count.
    srv.user("sleepy@example.com", Role::Admin).await;
    srv.call(
        "PUT",
        "/api/users/sleepy@example.com",
        Some(&other),
        Some(json!({"isActive": false})),
    )
    .await;
    fail(
        &srv.call(
            "PUT",
            "/api/users/other@example.com",
            Some(&other),
            Some(json!({"role": "view"})),
        )
        .await,
        409,
        last,
    );
}

async fn bad_input_is_400(srv: Srv) {
    srv.user("admin@example.com", Role::Admin).await;
    let admin = srv.argon_login("admin@example.com").await;
    for (body, msg) in [
        (
            json!({"role": "view", "expiry": "60"}),
            "expiry must be an integer number of seconds",
        ),
        (
            json!({"role": "view", "expiry": 1.5}),
            "expiry must be an integer number of seconds",
        ),
        (
            json!({"role": "god", "expiry": 60}),
            "role must be one of admin, view, user",
        ),
        (json!({"role": "view"}), "expiry is required"),
        (
            json!({"role": "view", "expiry": 0}),
            "Expiry must be between 1 and 31536000 seconds",
        ),
        (
            json!({"role": "view", "expiry": 31_536_001}),
            "Expiry must be between 1 and 31536000 seconds",
        ),
        (
            json!({"role": "view", "expiry": 60, "name": "x".repeat(65)}),
            "Name must be at most 64 characters",
        ),
        (json!([1, 2]), "Request body must be a JSON object"),
    ] {
        fail(
            &srv.call("POST", "/api/tokens/local", Some(&admin), Some(body))
                .await,
            400,
            msg,
        );
    }
    // A path segment that does not decode to UTF-8: the dialect's 400.
    for (method, path) in [
        ("GET", "/api/users/%FF"),
        ("DELETE", "/api/users/%C3"),
        ("GET", "/api/tokens/%FF"),
        ("DELETE", "/api/tokens/%FF"),
    ] {
        let r = srv.call(method, path, Some(&admin), None).await;
        fail(&r, 400, "Invalid path");
    }
    // A body that is not JSON by its content type: 400 (the contract has no 415).
    let res = srv
        .http
        .post(srv.url("/api/tokens/local"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body(r#"{"role": "view", "expiry": 60}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "fail", "{body}");
    fail(
        &srv.call(
            "POST",
            "/api/tokens/Bad!",
            Some(&admin),
            Some(json!({"role": "view", "expiry": 60})),
        )
        .await,
        400,
        "Provider must match [a-z0-9][a-z0-9_-]{0,31}",
    );
    for body in [json!({}), json!({"isActive": "yes"}), json!({"role": 1})] {
        assert_eq!(
            srv.call(
                "PUT",
                "/api/users/admin@example.com",
                Some(&admin),
                Some(body)
            )
            .await
            .status,
            400
        );
    }
    let res = srv
        .http
        .put(srv.url("/api/users/admin@example.com"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let big = format!("{{\"role\": \"{}\"}}", "a".repeat(1024 * 1024 + 1));
    let res = srv
        .http
        .put(srv.url("/api/users/admin@example.com"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    // Wrong method and unknown path under /api/: the dialect's shape.
    fail(
        &srv.call("PATCH", "/api/users/admin@example.com", Some(&admin), None)
            .await,
        405,
        "Method not allowed",
    );
    fail(
        &srv.call("GET", "/api/nothing", Some(&admin), None).await,
        404,
        "Not found",
    );
    fail(
        &srv.call("DELETE", "/auth/me", Some(&admin), None).await,
        405,
        "Method not allowed",
    );
}
