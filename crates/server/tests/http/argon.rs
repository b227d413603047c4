//! The Argon dialect (`shared/spec/argon.md`), end to end.

use aegis_core::Role;
use serde_json::json;

use crate::both;
use crate::harness::{run_with, Backend, Reply, Srv, PASSWORD};

fn error(r: &Reply, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body, json!({"error": message}));
    assert_eq!(r.headers["content-type"], "application/json");
}

both!(
    register_login_state,
    register_rules,
    login_failures,
    profile_changes,
    auth_errors,
    look_alike_identifiers_are_taken
);

async fn register_login_state(srv: Srv) {
    let r = srv
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"username": "Alice", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.as_object().unwrap().len(), 2);
    assert_eq!(
        r.body["permissions"],
        json!(["servers.manage", "servers.view"])
    );
    let token = r.body["token"].as_str().unwrap().to_owned();
    let r = srv.call("GET", "/api/auth/state", Some(&token), None).await;
    assert_eq!(
        r.body,
        json!({"authenticated": true, "username": "alice", "permissions": ["servers.manage", "servers.view"]})
    );
    // No email: Pegasys addresses the account by username.
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&token), None).await.body["email"],
        "alice"
    );
    let r = srv
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "ALICE", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_object().unwrap().len(), 2);
    // A username that is an email address becomes the email too.
    let r = srv
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"username": "Bob@X.io", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200);
    let bob = r.body["token"].as_str().unwrap();
    assert_eq!(
        srv.call("GET", "/auth/me", Some(bob), None).await.body["email"],
        "bob@x.io"
    );
    // Roles map to permissions.
    srv.user("root@example.com", Role::Admin).await;
    srv.user("viewer@example.com", Role::View).await;
    let r = srv
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "root@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.body["permissions"], json!(["admin.*"]));
    let v = srv.argon_login("viewer@example.com").await;
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(&v), None)
            .await
            .body["permissions"],
        json!(["servers.view"])
    );
}

async fn register_rules(srv: Srv) {
    let reg = |body: serde_json::Value| {
        let srv = srv.clone();
        async move {
            srv.call("POST", "/api/auth/register", None, Some(body))
                .await
        }
    };
    assert_eq!(
        reg(json!({"username": "carol", "password": PASSWORD}))
            .await
            .status,
        200
    );
    error(
        &reg(json!({"username": "CAROL", "password": PASSWORD})).await,
        400,
        "Username already exists",
    );
    error(
        &reg(json!({"username": "ｃａｒｏｌ", "password": PASSWORD})).await,
        400,
        "Username already exists",
    );
    error(
        &reg(json!({"username": "dan", "password": "short"})).await,
        400,
        "Password must be at least 8 characters",
    );
    error(
        &reg(json!({"username": "dan"})).await,
        400,
        "Username and password required",
    );
    error(
        &reg(json!({"username": 5, "password": PASSWORD})).await,
        400,
        "Username and password required",
    );
    error(
        &reg(json!("just a string")).await,
        400,
        "Invalid request body",
    );
    let r = reg(json!({"username": "dan", "password": "password123"})).await;
    assert_eq!(r.status, 400, "common password");
    let r = reg(json!({"username": "dan the man", "password": "Dan The Man"})).await;
    assert_eq!(r.status, 400, "password equal to the username");
    assert_eq!(
        reg(json!({"username": "   ", "password": PASSWORD}))
            .await
            .status,
        400
    );
    assert_eq!(
        reg(json!({"username": "a\u{7}b", "password": PASSWORD}))
            .await
            .status,
        400
    );
    assert_eq!(
        reg(json!({"username": "x".repeat(255), "password": PASSWORD}))
            .await
            .status,
        400
    );
    // A username may not equal another account's email, nor the reverse.
    srv.user("erin@example.com", Role::User).await;
    let r = srv
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"username": "erin@example.com", "password": PASSWORD})),
        )
        .await;
    error(&r, 400, "Username already exists");
    // Role and permissions in the body are never assigned.
    let r = reg(json!({"username": "frank", "password": PASSWORD, "role": "admin", "permissions": ["admin.*"]})).await;
    assert_eq!(
        r.body["permissions"],
        json!(["servers.manage", "servers.view"])
    );
}

async fn login_failures(srv: Srv) {
    srv.user("gina@example.com", Role::User).await;
    let login = |body: serde_json::Value| {
        let srv = srv.clone();
        async move { srv.call("POST", "/api/auth/login", None, Some(body)).await }
    };
    let wrong = login(json!({"username": "gina@example.com", "password": "wrong password"})).await;
    let unknown = login(json!({"username": "nobody", "password": "wrong password"})).await;
    error(&wrong, 401, "Invalid credentials");
    error(&unknown, 401, "Invalid credentials");
    assert_eq!(wrong.headers["www-authenticate"], "Bearer");
    error(
        &login(json!({"username": "", "password": "x"})).await,
        400,
        "Username and password required",
    );
    error(
        &login(json!({"username": "gina@example.com"})).await,
        400,
        "Username and password required",
    );
    for _ in 0..9 {
        login(json!({"username": "gina@example.com", "password": "wrong password"})).await;
    }
    let r = login(json!({"username": "gina@example.com", "password": PASSWORD})).await;
    error(&r, 429, "Too many login attempts");
    assert!(r.headers.get("retry-after").is_some());
    // The lock is shared with the other dialects.
    let r = srv
        .post(
            "/auth",
            json!({"username": "gina@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 429);
}

async fn profile_changes(srv: Srv) {
    srv.user("root@example.com", Role::Admin).await;
    let r = srv
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"username": "hank", "password": PASSWORD})),
        )
        .await;
    let t1 = r.body["token"].as_str().unwrap().to_owned();
    let t2 = srv.argon_login("hank").await;
    let refresh = srv
        .post("/auth", json!({"username": "hank", "password": PASSWORD}))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = srv.mint(&t1, "user", 600).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = |token: String, body: serde_json::Value| {
        let srv = srv.clone();
        async move {
            srv.call("PUT", "/api/auth/profile", Some(&token), Some(body))
                .await
        }
    };
    error(&put(t1.clone(), json!({})).await, 400, "Nothing to update");
    error(
        &put(t1.clone(), json!({"newPassword": "another long one"})).await,
        400,
        "Current password is required to change password",
    );
    error(
        &put(
            t1.clone(),
            json!({"newPassword": "short", "currentPassword": PASSWORD}),
        )
        .await,
        400,
        "Password must be at least 8 characters",
    );
    error(
        &put(
            t1.clone(),
            json!({"newPassword": "another long one", "currentPassword": "wrong!"}),
        )
        .await,
        401,
        "Invalid credentials",
    );
    error(
        &put(t1.clone(), json!({"newUsername": "root@example.com"})).await,
        400,
        "Username already exists",
    );
    error(
        &put(t1.clone(), json!({"newUsername": 7})).await,
        400,
        "newUsername must be a string",
    );
    // All or nothing: a bad password keeps the username.
    let r = put(
        t1.clone(),
        json!({"newUsername": "hank2", "newPassword": "password123", "currentPassword": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(&t1), None)
            .await
            .body["username"],
        "hank"
    );
    // A rename keeps sessions and shows at once.
    let r = put(t1.clone(), json!({"newUsername": "Henry"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut keys: Vec<_> = r.body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["message", "permissions", "token"]);
    assert_eq!(r.body["message"], "Profile updated successfully");
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(&t2), None)
            .await
            .body["username"],
        "henry"
    );
    // A password change ends every session on every dialect, keeps API tokens,
    // and hands the caller a fresh session.
    let r = put(
        t1.clone(),
        json!({"newPassword": "a brand new passphrase", "currentPassword": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(&t1), None)
            .await
            .status,
        401
    );
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(&t2), None)
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
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(&fresh), None)
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(&api), None)
            .await
            .status,
        200
    );
    let r = srv
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "henry", "password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(r.status, 200);
    // A view credential may not change the profile.
    let view_api = srv.mint(&fresh, "view", 600).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = put(view_api, json!({"newUsername": "henry3"})).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        json!({"error": "Insufficient permissions", "required": "profile.update"})
    );
}

async fn auth_errors(srv: Srv) {
    srv.user("ivy@example.com", Role::User).await;
    let token = srv.argon_login("ivy@example.com").await;
    error(
        &srv.call("GET", "/api/auth/state", None, None).await,
        401,
        "Authorization header missing or invalid format",
    );
    let res = srv
        .http
        .get(srv.url("/api/auth/state"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        json!({"error": "Authorization header missing or invalid format"})
    );
    error(
        &srv.call("GET", "/api/auth/state", Some("not.a.jwt"), None)
            .await,
        401,
        "Invalid token format",
    );
    srv.call("GET", "/auth/logout", Some(&token), None).await;
    error(
        &srv.call("GET", "/api/auth/state", Some(&token), None).await,
        401,
        "Invalid token",
    );
    let token = srv.argon_login("ivy@example.com").await;
    srv.clock.advance(3600 + 6);
    error(
        &srv.call("GET", "/api/auth/state", Some(&token), None).await,
        401,
        "Token has expired",
    );
    error(
        &srv.call("GET", "/api/auth/login", None, None).await,
        405,
        "Method not allowed",
    );
    error(
        &srv.call("GET", "/api/auth/nothing", None, None).await,
        404,
        "Not found",
    );
    // A body that is not JSON, by its text or by its content type, is the same
    // 400 (the contract has no 415).
    for (kind, body) in [
        ("application/json", "{bad"),
        ("application/x-www-form-urlencoded", "username=a&password=b"),
    ] {
        let res = srv
            .http
            .post(srv.url("/api/auth/login"))
            .header("content-type", kind)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{kind}");
        assert_eq!(
            res.json::<serde_json::Value>().await.unwrap(),
            json!({"error": "Invalid request body"})
        );
    }
}

#[tokio::test]
async fn registration_can_be_closed() {
    run_with(
        Backend::Sqlite,
        |c| c.core.open_registration = false,
        |srv: Srv| async move {
            let r = srv
                .call(
                    "POST",
                    "/api/auth/register",
                    None,
                    Some(json!({"username": "jo", "password": PASSWORD})),
                )
                .await;
            error(&r, 403, "Registration is disabled");
        },
    )
    .await;
}

/// A wrong `currentPassword` counts as a failed login (spec §4): against the
/// account and against the client's address.
#[tokio::test]
async fn wrong_current_password_counts_against_the_address() {
    run_with(
        Backend::Sqlite,
        |c| c.core.throttle.ip_failures = 3,
        |srv: Srv| async move {
            srv.user("kim@example.com", Role::User).await;
            let token = srv.argon_login("kim@example.com").await;
            for _ in 0..3 {
                let r = srv
                    .call(
                        "PUT",
                        "/api/auth/profile",
                        Some(&token),
                        Some(json!({"currentPassword": "not the password", "newPassword": "another long one"})),
                    )
                    .await;
                error(&r, 401, "Invalid credentials");
            }
            let r = srv
                .call(
                    "POST",
                    "/api/auth/login",
                    None,
                    Some(json!({"username": "kim@example.com", "password": PASSWORD})),
                )
                .await;
            error(&r, 429, "Too many login attempts");
        },
    )
    .await;
}

/// issue 15 §6: an identifier with an invisible or default-ignorable code
/// point is refused, and one whose confusable skeleton is another's is taken,
/// whichever registered first; distinct names stay distinct.
async fn look_alike_identifiers_are_taken(srv: Srv) {
    srv.user("admin@example.com", Role::Admin).await;
    let register = |name: &str| {
        srv.call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"username": name, "password": PASSWORD})),
        )
    };
    // A Cyrillic а, then a Greek ο in the domain too.
    for look_alike in ["\u{430}dmin@example.com", "\u{430}dmin@example.c\u{3bf}m"] {
        let r = register(look_alike).await;
        error(&r, 400, "Username already exists");
    }
    for hidden in [
        "admin@example.com\u{200b}",
        "ad\u{200d}min@example.com",
        "ad\u{3164}min",
        "\u{202e}nimda",
    ] {
        let r = register(hidden).await;
        assert_eq!(r.status, 400, "{hidden:?}: {}", r.body);
        assert!(
            r.body["error"].as_str().unwrap().contains("invisible"),
            "{hidden:?}: {}",
            r.body
        );
    }
    // The other way round: a non-Latin name first, then its Latin look-alike.
    let r = register("\u{441}\u{43e}de").await; // "code" with a Cyrillic с and о
    assert_eq!(r.status, 200, "{}", r.body);
    error(&register("code").await, 400, "Username already exists");
    // Distinct names stay distinct, ASCII look-alikes included.
    for name in ["zoe", "zoë", "barn", "bam", "john1", "johnl"] {
        let r = register(name).await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
    }
    // Only the exact spelling signs in.
    let login = |name: &str| {
        srv.call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": name, "password": PASSWORD})),
        )
    };
    assert_eq!(login("admin@example.com").await.status, 200);
    error(
        &login("\u{430}dmin@example.com").await,
        401,
        "Invalid credentials",
    );
    // A rename into a look-alike is refused like a taken name.
    let r = login("zoe").await;
    let token = r.body["token"].as_str().unwrap().to_owned();
    let r = srv
        .call(
            "PUT",
            "/api/auth/profile",
            Some(&token),
            Some(json!({"newUsername": "b\u{430}rn"})),
        )
        .await;
    error(&r, 400, "Username already exists");
}
