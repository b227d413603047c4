//! The aiohttp dialect (`shared/spec/aiohttp-aegis.md`), end to end.

use aegis_core::api_token::CreateApiTokenRequest;
use aegis_core::service::UserChange;
use aegis_core::{Actor, Clock, Role};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::both;
use crate::harness::{parts, run_with, Backend, Srv, PASSWORD};

const TYPE: &str = "https://mgurdal.github.io/aegis/api.html#";

fn assert_problem(
    body: &Value,
    class: &str,
    title: &str,
    detail: &str,
    instance: &str,
    status: &str,
) {
    let expected = json!({
        "type": format!("{TYPE}{class}"),
        "title": title,
        "detail": detail,
        "instance": instance,
        "status": status,
    });
    assert_eq!(body, &expected);
}

fn auth_failed(srv: &Srv, body: &Value) {
    assert_problem(
        body,
        "AuthenticationFailedException",
        "Authentication Failed",
        "The credentials you supplied were not correct.",
        &srv.url("/auth"),
        "401",
    );
}

fn invalid_token(srv: &Srv, body: &Value) {
    assert_problem(
        body,
        "InvalidTokenException",
        "Invalid Token",
        "You have provided an invalid token signature.",
        &srv.url("/me"),
        "401",
    );
}

fn invalid_refresh(srv: &Srv, body: &Value) {
    assert_problem(
        body,
        "InvalidRefreshTokenException",
        "Invalid Token",
        "You have provided an invalid refresh token.",
        &srv.url("/auth/refresh"),
        "401",
    );
}

async fn login(srv: &Srv, username: &str) -> (String, String) {
    let res = srv
        .post("/auth", json!({"username": username, "password": PASSWORD}))
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let (status, body) = parts(res).await;
    assert_eq!(status, 200, "{body}");
    let obj = body.as_object().unwrap();
    assert_eq!(
        obj.len(),
        2,
        "exactly access_token and refresh_token: {body}"
    );
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    // Pangea's refresh-token form, for every dialect: ptr_ + 160 bits of base32.
    assert!(
        refresh.starts_with("ptr_") && refresh.len() == 36,
        "{refresh}"
    );
    (access, refresh)
}

async fn me(srv: &Srv, token: &str) -> (u16, Value) {
    parts(srv.get_bearer("/me", token).await).await
}

async fn refresh(srv: &Srv, token: &str) -> (u16, Value) {
    parts(
        srv.post("/auth/refresh", json!({"refresh_token": token}))
            .await,
    )
    .await
}

both!(
    login_and_me,
    refresh_rotates_and_reuse_revokes,
    refresh_header_rules,
    access_tokens_expire,
    forged_tokens_are_rejected,
    unknown_user_and_wrong_password_look_alike,
    lockout_after_ten_failures,
    api_token_is_a_bearer,
    deactivation_and_deletion_bite_at_once,
    bad_bodies_get_problems,
    json_is_read_whatever_its_content_type,
    nul_characters_fail_like_wrong_values,
    concurrent_refresh_lets_one_through,
);

async fn login_and_me(srv: Srv) {
    let user = srv.user("Alice@Example.com", Role::User).await;
    let (access, _) = login(&srv, "alice@example.com").await;
    let (status, body) = me(&srv, &access).await;
    assert_eq!(status, 200);
    let exp = body["exp"].as_i64().unwrap();
    assert_eq!(
        body,
        json!({"id": user.num_id, "username": "alice@example.com", "permissions": ["user"], "exp": exp})
    );
    assert!(body["id"].is_i64() && user.num_id > 0);
    let now = srv.clock.now().timestamp();
    assert!((exp - now - 3600).abs() <= 2, "exp is now + 3600");
    // A bare token (no "Bearer ") is accepted, like the library does.
    let res = srv
        .http
        .get(srv.url("/me"))
        .header("Authorization", &access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Login identifiers are case- and width-insensitive.
    login(&srv, "ＡLICE@example.COM").await;
    // Admin and view permissions.
    srv.user("root@example.com", Role::Admin).await;
    let (a, _) = login(&srv, "root@example.com").await;
    assert_eq!(
        me(&srv, &a).await.1["permissions"],
        json!(["user", "admin"])
    );
    srv.user("viewer@example.com", Role::View).await;
    let (v, _) = login(&srv, "viewer@example.com").await;
    assert_eq!(me(&srv, &v).await.1["permissions"], json!(["view"]));
    // No credential at all.
    let (status, body) = parts(srv.http.get(srv.url("/me")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_problem(
        &body,
        "AuthRequiredException",
        "Authentication Required",
        "You did not specify the required token information in headers or you provided it incorrectly.",
        &srv.url("/me"),
        "401",
    );
    let res = srv
        .http
        .get(srv.url("/me"))
        .header("Authorization", "")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(
        parts(res).await.1["type"],
        format!("{TYPE}AuthRequiredException")
    );
}

async fn refresh_rotates_and_reuse_revokes(srv: Srv) {
    srv.user("bob@example.com", Role::User).await;
    let (access1, refresh1) = login(&srv, "bob@example.com").await;
    let (status, body) = refresh(&srv, &refresh1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2);
    let access2 = body["access_token"].as_str().unwrap().to_owned();
    let refresh2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2);
    assert_eq!(me(&srv, &access2).await.0, 200);
    assert_eq!(me(&srv, &access1).await.0, 200, "same session, still live");
    // Presenting the rotated-out token is theft: the whole session dies.
    let (status, body) = refresh(&srv, &refresh1).await;
    assert_eq!(status, 401);
    invalid_refresh(&srv, &body);
    let (status, body) = me(&srv, &access2).await;
    assert_eq!(status, 401);
    invalid_token(&srv, &body);
    assert_eq!(me(&srv, &access1).await.0, 401);
    assert_eq!(refresh(&srv, &refresh2).await.0, 401, "the family is dead");
    // Another login is a new, unaffected session.
    let (access3, refresh3) = login(&srv, "bob@example.com").await;
    assert_eq!(me(&srv, &access3).await.0, 200);
    assert_eq!(refresh(&srv, &refresh3).await.0, 200);
    // Garbage refresh tokens.
    for bad in [
        json!({"refresh_token": "Invalid refresh token"}),
        json!({}),
        json!({"refresh_token": 5}),
        json!([]),
    ] {
        let (status, body) = parts(srv.post("/auth/refresh", bad).await).await;
        assert_eq!(status, 401);
        invalid_refresh(&srv, &body);
    }
}

async fn refresh_header_rules(srv: Srv) {
    srv.user("carol@example.com", Role::User).await;
    srv.user("dave@example.com", Role::User).await;
    let (carol_access, carol_refresh) = login(&srv, "carol@example.com").await;
    let (dave_access, _) = login(&srv, "dave@example.com").await;
    // Another user's access token in the header.
    let res = srv
        .http
        .post(srv.url("/auth/refresh"))
        .bearer_auth(&dave_access)
        .json(&json!({"refresh_token": carol_refresh}))
        .send()
        .await
        .unwrap();
    let (status, body) = parts(res).await;
    assert_eq!(status, 401);
    invalid_refresh(&srv, &body);
    // A header with a bad signature.
    let res = srv
        .http
        .post(srv.url("/auth/refresh"))
        .bearer_auth(format!("{carol_access}x"))
        .json(&json!({"refresh_token": carol_refresh}))
        .send()
        .await
        .unwrap();
    let (status, body) = parts(res).await;
    assert_eq!(status, 401);
    assert_eq!(body["type"], format!("{TYPE}InvalidTokenException"));
    assert_eq!(body["instance"], srv.url("/auth/refresh"));
    // The owner's expired access token is fine (the library sends it).
    srv.clock.advance(4000);
    assert_eq!(me(&srv, &carol_access).await.0, 401);
    let res = srv
        .http
        .post(srv.url("/auth/refresh"))
        .header("Authorization", &carol_access)
        .json(&json!({"refresh_token": carol_refresh}))
        .send()
        .await
        .unwrap();
    let (status, body) = parts(res).await;
    assert_eq!(status, 200, "{body}");
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(me(&srv, fresh).await.0, 200);
    // Refresh tokens expire after 14 days.
    let refresh_now = body["refresh_token"].as_str().unwrap().to_owned();
    srv.clock.advance(14 * 24 * 3600 + 1);
    assert_eq!(refresh(&srv, &refresh_now).await.0, 401);
}

async fn access_tokens_expire(srv: Srv) {
    srv.user("erin@example.com", Role::User).await;
    let (access, _) = login(&srv, "erin@example.com").await;
    srv.clock.advance(3600 + 4);
    assert_eq!(me(&srv, &access).await.0, 200, "within the 5 s leeway");
    srv.clock.advance(2);
    let (status, body) = me(&srv, &access).await;
    assert_eq!(status, 401);
    assert_problem(
        &body,
        "TokenExpiredException",
        "Invalid Token",
        "The access token provided has expired.",
        &srv.url("/me"),
        "401",
    );
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn forged_tokens_are_rejected(srv: Srv) {
    srv.user("frank@example.com", Role::Admin).await;
    let (access, _) = login(&srv, "frank@example.com").await;
    let segs: Vec<&str> = access.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segs[0]).unwrap()).unwrap();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segs[1]).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let kid = header["kid"].as_str().unwrap().to_owned();
    for k in ["iss", "aud", "sub", "sid", "jti", "iat", "exp"] {
        assert!(claims.get(k).is_some(), "claim {k}");
    }
    // Tampered payload, original signature.
    claims["username"] = json!("mallory");
    let tampered = format!("{}.{}.{}", segs[0], b64(&claims), segs[2]);
    // alg:none.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        segs[1]
    );
    // HS256 signed with the public key as the secret (the classic confusion).
    let jwks: Value = srv
        .http
        .get(srv.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some(kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
    )
    .unwrap();
    // A well-formed EdDSA token from another key, with our kid and an unknown kid.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let other = jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref());
    let mut ed = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    ed.kid = Some(kid.clone());
    let wrong_key = jsonwebtoken::encode(&ed, &claims, &other).unwrap();
    ed.kid = Some("unknown".into());
    let unknown_kid = jsonwebtoken::encode(&ed, &claims, &other).unwrap();
    ed.kid = None;
    let no_kid = jsonwebtoken::encode(&ed, &claims, &other).unwrap();
    for forged in [
        tampered,
        none,
        hs256,
        wrong_key,
        unknown_kid,
        no_kid,
        "x".repeat(5000),
        "a.b.c".into(),
        "aeg_short".into(),
        format!("aeg_{}", "A".repeat(43)),
    ] {
        let (status, body) = me(&srv, &forged).await;
        assert_eq!(status, 401, "{forged}");
        invalid_token(&srv, &body);
    }
    assert_eq!(
        me(&srv, &access).await.0,
        200,
        "the genuine token still works"
    );
}

async fn unknown_user_and_wrong_password_look_alike(srv: Srv) {
    srv.user("gina@example.com", Role::User).await;
    let wrong = srv
        .post(
            "/auth",
            json!({"username": "gina@example.com", "password": "not the password"}),
        )
        .await;
    let unknown = srv
        .post(
            "/auth",
            json!({"username": "nobody@example.com", "password": "not the password"}),
        )
        .await;
    let missing = srv
        .post("/auth", json!({"username": "gina@example.com"}))
        .await;
    let wrong_type = srv
        .post("/auth", json!({"username": 5, "password": ["x"]}))
        .await;
    let mut bodies = Vec::new();
    let oversize = srv
        .post(
            "/auth",
            json!({"username": "g".repeat(5000), "password": "p".repeat(10_000)}),
        )
        .await;
    for res in [wrong, unknown, missing, wrong_type, oversize] {
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let (status, text) = (res.status().as_u16(), res.text().await.unwrap());
        assert_eq!(status, 401);
        bodies.push(text);
    }
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "byte-identical: {bodies:?}"
    );
    auth_failed(&srv, &serde_json::from_str(&bodies[0]).unwrap());
}

async fn lockout_after_ten_failures(srv: Srv) {
    srv.user("hank@example.com", Role::User).await;
    let bad = json!({"username": "hank@example.com", "password": "wrong password!"});
    // A success before the tenth failure resets the count.
    for _ in 0..9 {
        assert_eq!(srv.post("/auth", bad.clone()).await.status(), 401);
    }
    login(&srv, "hank@example.com").await;
    for _ in 0..9 {
        assert_eq!(srv.post("/auth", bad.clone()).await.status(), 401);
    }
    login(&srv, "hank@example.com").await;
    for _ in 0..10 {
        assert_eq!(srv.post("/auth", bad.clone()).await.status(), 401);
    }
    // Locked: even the right password gets 429, whichever identifier is used.
    let res = srv
        .post(
            "/auth",
            json!({"username": "HANK@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    let (_, body) = parts(res).await;
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["title"], "Too Many Requests");
    assert_eq!(body["status"], "429");
    assert_eq!(body.as_object().unwrap().len(), 5);
    // Unknown accounts lock the same way (no enumeration through the lock).
    let ghost = json!({"username": "ghost@example.com", "password": "wrong password!"});
    for _ in 0..10 {
        assert_eq!(srv.post("/auth", ghost.clone()).await.status(), 401);
    }
    assert_eq!(srv.post("/auth", ghost).await.status(), 429);
    // Concurrent guesses cannot slip past the limit: at most 10 are checked.
    srv.user("quinn@example.com", Role::User).await;
    let guesses = (0..30).map(|i| {
        let srv = srv.clone();
        tokio::spawn(async move {
            let body =
                json!({"username": "quinn@example.com", "password": format!("guess number {i}")});
            srv.post("/auth", body).await.status().as_u16()
        })
    });
    let mut checked = 0;
    for g in guesses {
        match g.await.unwrap() {
            401 => checked += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(checked <= 10, "{checked} guesses were checked");
    // Other accounts are unaffected; after 15 minutes the lock is gone.
    srv.user("ivy@example.com", Role::User).await;
    login(&srv, "ivy@example.com").await;
    srv.clock.advance(15 * 60 + 1);
    login(&srv, "hank@example.com").await;
}

async fn api_token_is_a_bearer(srv: Srv) {
    let owner = srv.user("jane@example.com", Role::Admin).await;
    let minted = srv
        .state
        .aegis
        .create_api_token(
            &Actor::System,
            owner.id,
            CreateApiTokenRequest {
                provider: "local".into(),
                role: Role::View,
                expiry_s: 600,
                name: None,
            },
        )
        .await
        .unwrap();
    assert!(minted.secret.starts_with("aeg_") && minted.secret.len() == 47);
    let (status, body) = me(&srv, &minted.secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["permissions"], json!(["view"]), "the token's own role");
    assert_eq!(body["exp"], minted.token.expires_at.timestamp());
    assert_eq!(body["id"], owner.num_id);
    // A view token mints nothing, and a token minted with a token lives no
    // longer than the token presented.
    let principal = srv.state.aegis.authenticate(&minted.secret).await.unwrap();
    let child = srv
        .state
        .aegis
        .create_api_token(
            &Actor::Principal(principal),
            owner.id,
            CreateApiTokenRequest {
                provider: "local".into(),
                role: Role::View,
                expiry_s: 86_400,
                name: None,
            },
        )
        .await;
    assert!(matches!(child, Err(aegis_core::Error::Forbidden)));
    let admin_api = srv
        .state
        .aegis
        .create_api_token(
            &Actor::System,
            owner.id,
            CreateApiTokenRequest {
                provider: "local".into(),
                role: Role::Admin,
                expiry_s: 60,
                name: None,
            },
        )
        .await
        .unwrap();
    let principal = srv
        .state
        .aegis
        .authenticate(&admin_api.secret)
        .await
        .unwrap();
    let child = srv
        .state
        .aegis
        .create_api_token(
            &Actor::Principal(principal),
            owner.id,
            CreateApiTokenRequest {
                provider: "local".into(),
                role: Role::User,
                expiry_s: 86_400,
                name: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(child.token.expires_at, admin_api.token.expires_at);
    // A user cannot hold a token above their role.
    let low = srv.user("kim@example.com", Role::View).await;
    let err = srv
        .state
        .aegis
        .create_api_token(
            &Actor::System,
            low.id,
            CreateApiTokenRequest {
                provider: "local".into(),
                role: Role::Admin,
                expiry_s: 600,
                name: None,
            },
        )
        .await;
    assert!(matches!(err, Err(aegis_core::Error::Forbidden)));
    // Demoting the owner lowers the token at once.
    srv.state
        .aegis
        .update_user(
            &Actor::System,
            owner.id,
            UserChange {
                role: Some(Role::User),
                active: None,
            },
        )
        .await
        .ok();
    // (jane is the only admin: the last-admin rule keeps her admin.)
    srv.user("root@example.com", Role::Admin).await;
    srv.state
        .aegis
        .update_user(
            &Actor::System,
            owner.id,
            UserChange {
                role: Some(Role::User),
                active: None,
            },
        )
        .await
        .unwrap();
    let admin_token = srv
        .state
        .aegis
        .create_api_token(
            &Actor::System,
            owner.id,
            CreateApiTokenRequest {
                provider: "local".into(),
                role: Role::User,
                expiry_s: 1,
                name: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        me(&srv, &admin_token.secret).await.1["permissions"],
        json!(["user"])
    );
    // API tokens expire too.
    srv.clock.advance(1 + 6);
    let (status, body) = me(&srv, &admin_token.secret).await;
    assert_eq!(status, 401);
    assert_eq!(body["type"], format!("{TYPE}TokenExpiredException"));
}

async fn deactivation_and_deletion_bite_at_once(srv: Srv) {
    srv.user("root@example.com", Role::Admin).await;
    let user = srv.user("leo@example.com", Role::User).await;
    let (access, refresh_token) = login(&srv, "leo@example.com").await;
    let api = srv
        .state
        .aegis
        .create_api_token(
            &Actor::System,
            user.id,
            CreateApiTokenRequest {
                provider: "local".into(),
                role: Role::User,
                expiry_s: 3600,
                name: None,
            },
        )
        .await
        .unwrap()
        .secret;
    assert_eq!(me(&srv, &access).await.0, 200);
    assert_eq!(me(&srv, &api).await.0, 200);
    let aegis = &srv.state.aegis;
    aegis
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
    let (status, body) = me(&srv, &access).await;
    assert_eq!(status, 401);
    invalid_token(&srv, &body);
    assert_eq!(me(&srv, &api).await.0, 401);
    assert_eq!(refresh(&srv, &refresh_token).await.0, 401);
    // Login fails exactly like a wrong password.
    let (status, body) = parts(
        srv.post(
            "/auth",
            json!({"username": "leo@example.com", "password": PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);
    auth_failed(&srv, &body);
    // Reactivation restores API tokens, not sessions.
    aegis
        .update_user(
            &Actor::System,
            user.id,
            UserChange {
                role: None,
                active: Some(true),
            },
        )
        .await
        .unwrap();
    assert_eq!(me(&srv, &api).await.0, 200);
    assert_eq!(me(&srv, &access).await.0, 401);
    let (access2, _) = login(&srv, "leo@example.com").await;
    // Deletion kills everything at once.
    aegis.delete_user(&Actor::System, user.id).await.unwrap();
    assert_eq!(me(&srv, &access2).await.0, 401);
    assert_eq!(me(&srv, &api).await.0, 401);
    assert_eq!(
        srv.post(
            "/auth",
            json!({"username": "leo@example.com", "password": PASSWORD})
        )
        .await
        .status(),
        401
    );
    // A new account with the same email inherits nothing.
    let again = srv.user("leo@example.com", Role::User).await;
    assert!(again.num_id > user.num_id, "numeric ids are never reused");
    assert_eq!(me(&srv, &access2).await.0, 401);
}

async fn bad_bodies_get_problems(srv: Srv) {
    let check = |status: u16, body: &Value, path: &str, expect: u16| {
        assert_eq!(status, expect, "{body}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(5), "{body}");
        assert_eq!(body["status"], expect.to_string());
        assert_eq!(body["instance"], srv.url(path));
    };
    for path in ["/auth", "/auth/refresh"] {
        let res = srv
            .http
            .post(srv.url(path))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        let (status, body) = parts(res).await;
        check(status, &body, path, 400);
        assert_eq!(body["detail"], "The request body is not valid JSON.");
        assert_eq!(body["type"], "about:blank");
        let big = format!("{{\"username\": \"{}\"}}", "a".repeat(1024 * 1024 + 10));
        let res = srv
            .http
            .post(srv.url(path))
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap();
        let (status, body) = parts(res).await;
        check(status, &body, path, 413);
        // A form is not JSON, whatever its content type says (there is no 415).
        let res = srv
            .http
            .post(srv.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("username=a&password=b")
            .send()
            .await
            .unwrap();
        let (status, body) = parts(res).await;
        check(status, &body, path, 400);
        assert_eq!(body["detail"], "The request body is not valid JSON.");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let res = srv
            .http
            .post(srv.url(path))
            .header("content-type", "application/json")
            .body(deep)
            .send()
            .await
            .unwrap();
        let (status, body) = parts(res).await;
        check(status, &body, path, 400);
    }
    for (method, path, expect) in [
        ("GET", "/auth", 405),
        ("PUT", "/me", 405),
        ("GET", "/auth/refresh", 405),
        ("GET", "/auth/nope", 404),
        ("TRACE", "/me", 405),
    ] {
        let res = srv
            .http
            .request(method.parse().unwrap(), srv.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let (status, body) = parts(res).await;
        check(status, &body, path, expect);
    }
}

/// aiohttp's `request.json()` reads the body whatever its `Content-Type`, so a
/// client of the library may send JSON as `text/plain` (aiohttp's
/// `data=json.dumps(…)`) or with no type at all.
async fn json_is_read_whatever_its_content_type(srv: Srv) {
    srv.user("tess@example.com", Role::User).await;
    let body = json!({"username": "tess@example.com", "password": PASSWORD}).to_string();
    let mut refresh_token = String::new();
    for kind in [Some("text/plain; charset=utf-8"), None] {
        let mut req = srv.http.post(srv.url("/auth")).body(body.clone());
        if let Some(kind) = kind {
            req = req.header("content-type", kind);
        }
        let (status, tokens) = parts(req.send().await.unwrap()).await;
        assert_eq!(status, 200, "{kind:?}: {tokens}");
        refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    }
    let res = srv
        .http
        .post(srv.url("/auth/refresh"))
        .header("content-type", "text/plain")
        .body(json!({"refresh_token": refresh_token}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// A NUL character is a wrong value like any other: the login fails with the
/// same body as a wrong password, a refresh as an unknown token.
async fn nul_characters_fail_like_wrong_values(srv: Srv) {
    srv.user("ugo@example.com", Role::User).await;
    let wrong = srv
        .post(
            "/auth",
            json!({"username": "ugo@example.com", "password": "not the password"}),
        )
        .await
        .text()
        .await
        .unwrap();
    for body in [
        json!({"username": "ugo\u{0}@example.com", "password": PASSWORD}),
        json!({"username": "ugo@example.com", "password": "pass\u{0}word"}),
    ] {
        let res = srv.post("/auth", body.clone()).await;
        assert_eq!(res.status(), 401, "{body}");
        assert_eq!(res.text().await.unwrap(), wrong, "{body}");
    }
    let (status, body) = refresh(&srv, "nul\u{0}token").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["detail"], "You have provided an invalid refresh token.",
        "{body}"
    );
    // The body's other strings are not looked at.
    let res = srv
        .post(
            "/auth",
            json!({"username": "ugo@example.com", "password": PASSWORD, "note": "\u{0}"}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

async fn concurrent_refresh_lets_one_through(srv: Srv) {
    srv.user("max@example.com", Role::User).await;
    let (_, token) = login(&srv, "max@example.com").await;
    let calls = (0..4).map(|_| {
        let srv = srv.clone();
        let token = token.clone();
        tokio::spawn(async move { refresh(&srv, &token).await.0 })
    });
    let mut ok = 0;
    for c in calls {
        if c.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert!(ok <= 1, "{ok} refreshes succeeded with one token");
}

#[tokio::test]
async fn ip_throttle_and_numeric_status_are_configurable() {
    run_with(
        Backend::Sqlite,
        |c| {
            c.core.throttle.ip_failures = 3;
            c.aiohttp.problem_status_as_string = false;
            c.public_url = Some("https://id.example.com/".into());
        },
        |srv: Srv| async move {
            srv.user("nia@example.com", Role::User).await;
            for i in 0..3 {
                let who = format!("user{i}@example.com");
                let (status, body) = parts(
                    srv.post(
                        "/auth",
                        json!({"username": who, "password": "wrong password!"}),
                    )
                    .await,
                )
                .await;
                assert_eq!(status, 401);
                assert_eq!(body["status"], 401);
                assert_eq!(body["instance"], "https://id.example.com/auth");
            }
            let res = srv
                .post(
                    "/auth",
                    json!({"username": "nia@example.com", "password": PASSWORD}),
                )
                .await;
            assert_eq!(res.status(), 429, "the address is throttled");
        },
    )
    .await;
}

/// A malformed login runs the same login as a wrong password (spec §3: dummy-hash
/// timing), so it counts against the client address too.
#[tokio::test]
async fn malformed_logins_count_like_failed_ones() {
    run_with(
        Backend::Sqlite,
        |c| c.core.throttle.ip_failures = 3,
        |srv: Srv| async move {
            srv.user("vic@example.com", Role::User).await;
            for body in [
                json!({"username": "vic@example.com"}),
                json!({"username": 5, "password": ["x"]}),
                json!({"username": "vic@example.com", "password": PASSWORD, "otp": 7}),
            ] {
                let (status, problem) = parts(srv.post("/auth", body).await).await;
                assert_eq!(status, 401);
                auth_failed(&srv, &problem);
            }
            let res = srv
                .post(
                    "/auth",
                    json!({"username": "vic@example.com", "password": PASSWORD}),
                )
                .await;
            assert_eq!(res.status(), 429, "the address is throttled");
        },
    )
    .await;
}

/// `aiohttp.refresh_rotation = false` (spec §6.1) turns rotation off on
/// `/auth/refresh` whatever the core's `refresh_rotation` says.
#[tokio::test]
async fn aiohttp_rotation_setting_overrides_the_core() {
    run_with(
        Backend::Sqlite,
        |c| {
            c.core.refresh_rotation = true;
            c.aiohttp.refresh_rotation = Some(false);
        },
        |srv: Srv| async move {
            srv.user("wes@example.com", Role::User).await;
            let (_, token) = login(&srv, "wes@example.com").await;
            for _ in 0..3 {
                let (status, body) = refresh(&srv, &token).await;
                assert_eq!(status, 200);
                assert_eq!(body["refresh_token"], token.as_str());
            }
        },
    )
    .await;
}

#[tokio::test]
async fn without_rotation_refresh_tokens_are_reusable() {
    run_with(
        Backend::Sqlite,
        |c| c.core.refresh_rotation = false,
        |srv: Srv| async move {
            srv.user("otto@example.com", Role::User).await;
            let (_, token) = login(&srv, "otto@example.com").await;
            for _ in 0..3 {
                let (status, body) = refresh(&srv, &token).await;
                assert_eq!(status, 200);
                assert_eq!(body["refresh_token"], token.as_str());
            }
        },
    )
    .await;
}

/// Without a `Host` header (HTTP/1.0, or a request in absolute form), the problem's
/// `instance` takes the request target's authority, else `localhost`.
#[tokio::test]
async fn instance_without_a_host_header() {
    run_with(
        Backend::Sqlite,
        |_| {},
        |srv: Srv| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let addr = srv.base.trim_start_matches("http://").to_owned();
            for (target, expect) in [
                ("http://id.example.com:8080/auth?x=1", "http://id.example.com:8080/auth"),
                ("/auth", "http://localhost/auth"),
            ] {
                let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let head = format!(
                    "POST {target} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
                );
                s.write_all(head.as_bytes()).await.unwrap();
                let mut text = String::new();
                s.read_to_string(&mut text).await.unwrap();
                assert!(text.starts_with("HTTP/1.0 401"), "{text}");
                let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
                assert_eq!(body["instance"], expect, "{text}");
            }
        },
    )
    .await;
}
