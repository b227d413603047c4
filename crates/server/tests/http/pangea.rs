//! The Pangea dialect (`shared/spec/pangea-authn.md`): envelope, validation,
//! roles, users, groups, authenticators, client endpoints — on both backends.

use aegis_core::api_token::CreateApiTokenRequest;
use aegis_core::{Actor, Role};
use serde_json::{json, Value};

use crate::both;
use crate::harness::{Reply, Srv, PASSWORD};

/// Mints an API token of `role` for a fresh user of that role.
pub(crate) async fn service_token(srv: &Srv, email: &str, role: Role) -> String {
    let user = srv.user(email, role).await;
    srv.state
        .aegis
        .create_api_token(
            &Actor::System,
            user.id,
            CreateApiTokenRequest {
                provider: "local".into(),
                role,
                expiry_s: 86_400,
                name: None,
            },
        )
        .await
        .unwrap()
        .secret
}

pub(crate) async fn v2(srv: &Srv, path: &str, token: &str, body: Value) -> Reply {
    let r = srv.call("POST", path, Some(token), Some(body)).await;
    check_envelope(&r);
    r
}

fn is_time(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.ends_with('Z') && s.len() == 27 && chrono::DateTime::parse_from_rfc3339(s).is_ok()
    })
}

fn check_envelope(r: &Reply) {
    let obj = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("not an envelope: {}", r.body));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "request_id",
            "request_time",
            "response_time",
            "result",
            "status",
            "summary"
        ],
        "{}",
        r.body
    );
    let id = r.body["request_id"].as_str().unwrap();
    assert!(id.starts_with("prq_") && id.len() == 36, "{id}");
    assert_eq!(r.headers["x-request-id"], id);
    assert!(
        is_time(&r.body["request_time"]) && is_time(&r.body["response_time"]),
        "{}",
        r.body
    );
    assert!(!r.body["summary"].as_str().unwrap().is_empty());
    assert_eq!(r.headers["content-type"], "application/json");
}

pub(crate) fn ok(r: &Reply) -> &Value {
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("Success")),
        "{}",
        r.body
    );
    &r.body["result"]
}

pub(crate) fn status(r: &Reply, http: u16, status: &str) {
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (http, Some(status)),
        "{}",
        r.body
    );
    if status != "ValidationError" {
        assert_eq!(r.body["result"], Value::Null);
    }
}

fn invalid(r: &Reply, code: &str, source: &str) {
    status(r, 400, "ValidationError");
    let errors = r.body["result"]["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["code"] == code && e["source"] == source && e["detail"].is_string()),
        "want {code} at {source}: {}",
        r.body
    );
}

both!(
    envelope_and_user_create,
    validation_errors,
    roles_and_order_of_checks,
    selectors_and_profiles,
    disable_unlock_expire,
    authenticators,
    groups_and_memberships,
    user_listing,
    client_endpoints,
    sessions,
);

async fn sessions(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    srv.user("ora@example.com", Role::User).await;
    srv.user("pia@example.com", Role::User).await;
    let pair: Value = srv
        .post(
            "/auth",
            json!({"username": "ora@example.com", "password": PASSWORD}),
        )
        .await
        .json()
        .await
        .unwrap();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    // Refresh through Pangea: a rotated pair of login-token objects.
    let r = v2(
        &srv,
        "/v2/client/session/refresh",
        &admin,
        json!({"refresh_token": pair["refresh_token"], "user_token": access}),
    )
    .await;
    let res = ok(&r).clone();
    for k in ["active_token", "refresh_token"] {
        let t = &res[k];
        for f in [
            "token",
            "id",
            "type",
            "life",
            "expire",
            "identity",
            "email",
            "profile",
            "created_at",
        ] {
            assert!(t.get(f).is_some(), "{k}.{f}: {t}");
        }
    }
    assert_eq!(
        (
            res["active_token"]["type"].as_str(),
            res["refresh_token"]["type"].as_str()
        ),
        (Some("user"), Some("session"))
    );
    let session_id = res["refresh_token"]["id"].as_str().unwrap().to_owned();
    let new_access = res["active_token"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        srv.call("GET", "/me", Some(&new_access), None).await.status,
        200
    );
    // The old refresh token is spent: reuse revokes the session.
    status(
        &v2(
            &srv,
            "/v2/client/session/refresh",
            &admin,
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await,
        400,
        "CantRefreshToken",
    );
    assert_eq!(
        srv.call("GET", "/me", Some(&new_access), None).await.status,
        401
    );
    // Client logout ends the token's session on every dialect.
    let t = srv.argon_login("ora@example.com").await;
    ok(&v2(
        &srv,
        "/v2/client/session/logout",
        &admin,
        json!({"token": t}),
    )
    .await);
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(&t), None)
            .await
            .status,
        401
    );
    status(
        &v2(
            &srv,
            "/v2/client/session/logout",
            &admin,
            json!({"token": t}),
        )
        .await,
        400,
        "InvalidToken",
    );
    // Invalidate: a client may end only its own user's sessions.
    let ora: Value = srv
        .post(
            "/auth",
            json!({"username": "ora@example.com", "password": PASSWORD}),
        )
        .await
        .json()
        .await
        .unwrap();
    let pia = srv.argon_login("pia@example.com").await;
    let r = v2(
        &srv,
        "/v2/client/token/check",
        &admin,
        json!({"token": ora["refresh_token"]}),
    )
    .await;
    let ora_sid = ok(&r)["id"].as_str().unwrap().to_owned();
    status(
        &v2(
            &srv,
            "/v2/client/session/invalidate",
            &admin,
            json!({"token": pia, "session_id": ora_sid}),
        )
        .await,
        404,
        "NotFound",
    );
    ok(&v2(
        &srv,
        "/v2/client/session/invalidate",
        &admin,
        json!({"token": ora["access_token"], "session_id": ora_sid}),
    )
    .await);
    assert_eq!(
        srv.call(
            "GET",
            "/me",
            Some(ora["access_token"].as_str().unwrap()),
            None
        )
        .await
        .status,
        401
    );
    status(
        &v2(
            &srv,
            "/v2/session/invalidate",
            &admin,
            json!({"session_id": session_id}),
        )
        .await,
        404,
        "NotFound",
    );
    invalid(
        &v2(
            &srv,
            "/v2/session/invalidate",
            &admin,
            json!({"session_id": "x"}),
        )
        .await,
        "DoesNotMatchPattern",
        "/session_id",
    );
    // Admin: end one session, or all of a user's.
    let p2 = srv.argon_login("pia@example.com").await;
    let r = v2(&srv, "/v2/client/token/check", &admin, json!({"token": p2})).await;
    let pia_id = ok(&r)["identity"].as_str().unwrap().to_owned();
    ok(&v2(
        &srv,
        "/v2/session/logout",
        &admin,
        json!({"user_id": pia_id}),
    )
    .await);
    assert_eq!(srv.call("GET", "/me", Some(&pia), None).await.status, 401);
    assert_eq!(srv.call("GET", "/me", Some(&p2), None).await.status, 401);
    // issue 15 §10: any identity of Pangea's pattern (the SDK's own tests
    // send such values): one that names nobody ends nothing and is a
    // success; a token names its user, as a session id does.
    for nobody in [
        "some-user",
        "user:42",
        "a b/c.d_e'f",
        "pui_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        ok(&v2(
            &srv,
            "/v2/session/logout",
            &admin,
            json!({"user_id": nobody}),
        )
        .await);
    }
    let p3 = srv.argon_login("pia@example.com").await;
    ok(&v2(
        &srv,
        "/v2/session/logout",
        &admin,
        json!({"user_id": p3.clone()}),
    )
    .await);
    assert_eq!(srv.call("GET", "/me", Some(&p3), None).await.status, 401);
    invalid(
        &v2(
            &srv,
            "/v2/session/logout",
            &admin,
            json!({"user_id": "a;b"}),
        )
        .await,
        "DoesNotMatchPattern",
        "/user_id",
    );
    let view = service_token(&srv, "viewer@example.com", Role::View).await;
    status(
        &v2(
            &srv,
            "/v2/session/logout",
            &view,
            json!({"user_id": pia_id}),
        )
        .await,
        403,
        "Forbidden",
    );
}

async fn envelope_and_user_create(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    let r = v2(
        &srv,
        "/v2/user/create",
        &admin,
        json!({"email": "Joe.User@Email.com", "username": "joe", "profile": {"first_name": "Joe"}}),
    )
    .await;
    let u = ok(&r).clone();
    assert_eq!(r.body["summary"], "User created");
    let id = u["id"].as_str().unwrap();
    assert!(id.starts_with("pui_") && id.len() == 36);
    assert_eq!(u["email"], "joe.user@email.com");
    assert_eq!(u["username"], "joe");
    assert_eq!(u["profile"], json!({"first_name": "Joe"}));
    assert_eq!(
        (
            u["verified"].clone(),
            u["disabled"].clone(),
            u["locked_out"].clone()
        ),
        (json!(false), json!(false), json!(false))
    );
    assert_eq!(u["login_count"], 0);
    assert_eq!(
        (u["authenticators"].clone(), u["groups"].clone()),
        (json!([]), json!([]))
    );
    assert!(is_time(&u["created_at"]));
    assert!(
        u.get("last_login_at").is_none() && u.get("phone").is_none(),
        "absent, not null"
    );
    // Username defaults to the email; duplicates are UserExists.
    let r = v2(
        &srv,
        "/v2/user/create",
        &admin,
        json!({"email": "ann@email.com", "profile": {}}),
    )
    .await;
    assert_eq!(ok(&r)["username"], "ann@email.com");
    status(
        &v2(
            &srv,
            "/v2/user/create",
            &admin,
            json!({"email": "ANN@email.com", "profile": {}}),
        )
        .await,
        409,
        "UserExists",
    );
    status(
        &v2(
            &srv,
            "/v2/user/create",
            &admin,
            json!({"email": "other@email.com", "username": "JOE", "profile": {}}),
        )
        .await,
        409,
        "UserExists",
    );
    // The password extension creates a password authenticator and a working login.
    let r = v2(
        &srv,
        "/v2/user/create",
        &admin,
        json!({"email": "pw@email.com", "profile": {}, "password": PASSWORD}),
    )
    .await;
    assert_eq!(ok(&r)["authenticators"][0]["type"], "password");
    srv.argon_login("pw@email.com").await;
    invalid(
        &v2(
            &srv,
            "/v2/user/create",
            &admin,
            json!({"email": "weak@email.com", "profile": {}, "password": "password1"}),
        )
        .await,
        "BadFormat",
        "/password",
    );
    // Unknown routes and wrong methods are envelopes too.
    let r = v2(&srv, "/v2/user/nothing", &admin, json!({})).await;
    status(&r, 404, "NotFound");
    let r = srv.call("GET", "/v2/user/create", Some(&admin), None).await;
    check_envelope(&r);
    status(&r, 405, "MethodNotAllowed");
}

async fn validation_errors(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    invalid(
        &v2(&srv, "/v2/user/create", &admin, json!({"profile": {}})).await,
        "FieldRequired",
        "/email",
    );
    invalid(
        &v2(&srv, "/v2/user/create", &admin, json!({"email": "a@b.c"})).await,
        "FieldRequired",
        "/profile",
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/create",
            &admin,
            json!({"email": "a@b.c", "profile": {}, "shoe_size": 9}),
        )
        .await,
        "UnexpectedProperty",
        "/shoe_size",
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/create",
            &admin,
            json!({"email": 5, "profile": {}}),
        )
        .await,
        "InvalidString",
        "/email",
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/create",
            &admin,
            json!({"email": "not an email", "profile": {}}),
        )
        .await,
        "DoesNotMatchPattern",
        "/email",
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/create",
            &admin,
            json!({"email": "a@b.c", "profile": {"age": 5}}),
        )
        .await,
        "InvalidString",
        "/profile/age",
    );
    invalid(
        &v2(&srv, "/v2/user/create", &admin, json!([1])).await,
        "InvalidObject",
        "/",
    );
    // config_id is accepted and ignored everywhere.
    ok(&v2(
        &srv,
        "/v2/user/create",
        &admin,
        json!({"email": "c@b.c", "profile": {}, "config_id": "pci_x"}),
    )
    .await);
    // Several problems are reported together.
    let r = v2(
        &srv,
        "/v2/user/create",
        &admin,
        json!({"email": 1, "profile": [], "x": 1}),
    )
    .await;
    assert_eq!(
        r.body["result"]["errors"].as_array().unwrap().len(),
        3,
        "{}",
        r.body
    );
    assert_eq!(
        r.body["summary"],
        "There were 3 errors validating the request"
    );
    let res = srv
        .http
        .post(srv.url("/v2/user/create"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    let r = Reply {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.json().await.unwrap(),
    };
    check_envelope(&r);
    invalid(&r, "InvalidObject", "/");
    let big = format!("{{\"email\": \"{}\"}}", "a".repeat(1024 * 1024 + 1));
    let res = srv
        .http
        .post(srv.url("/v2/user/create"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let r = Reply {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.json().await.unwrap(),
    };
    status(&r, 413, "PayloadTooLarge");
}

async fn roles_and_order_of_checks(srv: Srv) {
    let _admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    let view = service_token(&srv, "viewer@example.com", Role::View).await;
    let user = service_token(&srv, "user@example.com", Role::User).await;
    status(
        &v2(
            &srv,
            "/v2/user/profile/get",
            "garbage",
            json!({"email": "admin@example.com"}),
        )
        .await,
        401,
        "Unauthorized",
    );
    let r = srv
        .call("POST", "/v2/user/profile/get", None, Some(json!({})))
        .await;
    check_envelope(&r);
    status(&r, 401, "Unauthorized");
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    ok(&v2(
        &srv,
        "/v2/user/profile/get",
        &view,
        json!({"email": "admin@example.com"}),
    )
    .await);
    // A view token may read, never write; a user token may do neither. The
    // role check comes before the body check.
    status(
        &v2(&srv, "/v2/user/create", &view, json!({"bad": true})).await,
        403,
        "Forbidden",
    );
    status(
        &v2(
            &srv,
            "/v2/user/delete",
            &view,
            json!({"email": "admin@example.com"}),
        )
        .await,
        403,
        "Forbidden",
    );
    status(
        &v2(
            &srv,
            "/v2/user/profile/get",
            &user,
            json!({"email": "admin@example.com"}),
        )
        .await,
        403,
        "Forbidden",
    );
    status(
        &v2(
            &srv,
            "/v2/group/create",
            &view,
            json!({"name": "x", "type": "y"}),
        )
        .await,
        403,
        "Forbidden",
    );
    ok(&v2(&srv, "/v2/group/list", &view, json!({})).await);
    // A session token of an admin is a service token too.
    srv.user("root@example.com", Role::Admin).await;
    let session = srv.argon_login("root@example.com").await;
    ok(&v2(
        &srv,
        "/v2/user/create",
        &session,
        json!({"email": "s@example.com", "profile": {}}),
    )
    .await);
}

async fn selectors_and_profiles(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    let created = ok(&v2(&srv, "/v2/user/create", &admin, json!({"email": "joe@email.com", "username": "joe", "profile": {"first_name": "Joe", "last_name": "User"}})).await).clone();
    let id = created["id"].as_str().unwrap();
    for sel in [
        json!({"id": id}),
        json!({"email": "JOE@email.com"}),
        json!({"username": "joe"}),
        json!({"id": id, "email": "joe@email.com", "username": "joe"}),
    ] {
        assert_eq!(
            ok(&v2(&srv, "/v2/user/profile/get", &admin, sel).await)["id"],
            id
        );
    }
    status(
        &v2(
            &srv,
            "/v2/user/profile/get",
            &admin,
            json!({"id": id, "email": "admin@example.com"}),
        )
        .await,
        404,
        "UserNotFound",
    );
    status(
        &v2(
            &srv,
            "/v2/user/profile/get",
            &admin,
            json!({"email": "nobody@email.com"}),
        )
        .await,
        404,
        "UserNotFound",
    );
    status(
        &v2(
            &srv,
            "/v2/user/profile/get",
            &admin,
            json!({"id": "pui_xpkhwpnz2cmegsws737xbsqnmnuwtbm5"}),
        )
        .await,
        404,
        "UserNotFound",
    );
    // A username that is another user's email does not select that user.
    status(
        &v2(
            &srv,
            "/v2/user/profile/get",
            &admin,
            json!({"username": "joe@email.com"}),
        )
        .await,
        404,
        "UserNotFound",
    );
    invalid(
        &v2(&srv, "/v2/user/profile/get", &admin, json!({})).await,
        "FieldRequired",
        "/id",
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/profile/get",
            &admin,
            json!({"id": "bad id!"}),
        )
        .await,
        "DoesNotMatchPattern",
        "/id",
    );
    // Profile edits merge; null deletes.
    let r = v2(
        &srv,
        "/v2/user/profile/update",
        &admin,
        json!({"id": id, "profile": {"phone": "+18085550173", "last_name": null, "absent": null}}),
    )
    .await;
    assert_eq!(
        ok(&r)["profile"],
        json!({"first_name": "Joe", "phone": "+18085550173"})
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/profile/update",
            &admin,
            json!({"id": id, "profile": {"n": 1}}),
        )
        .await,
        "InvalidString",
        "/profile/n",
    );
    invalid(
        &v2(&srv, "/v2/user/profile/update", &admin, json!({"id": id})).await,
        "FieldRequired",
        "/profile",
    );
    let r = v2(
        &srv,
        "/v2/user/profile/update",
        &admin,
        json!({"id": id, "profile": {"bad key!": "x"}}),
    )
    .await;
    status(&r, 400, "ValidationError");
    // Delete, then it is gone.
    assert_eq!(
        ok(&v2(&srv, "/v2/user/delete", &admin, json!({"username": "joe"})).await),
        &json!({})
    );
    status(
        &v2(&srv, "/v2/user/delete", &admin, json!({"id": id})).await,
        404,
        "UserNotFound",
    );
}

async fn disable_unlock_expire(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    srv.user("kim@example.com", Role::User).await;
    let session = srv.argon_login("kim@example.com").await;
    let r = v2(
        &srv,
        "/v2/user/update",
        &admin,
        json!({"email": "kim@example.com", "disabled": true}),
    )
    .await;
    assert_eq!(ok(&r)["disabled"], true);
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&session), None)
            .await
            .status,
        401
    );
    assert_eq!(
        srv.call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "kim@example.com", "password": PASSWORD}))
        )
        .await
        .status,
        401
    );
    let r = v2(
        &srv,
        "/v2/user/update",
        &admin,
        json!({"email": "kim@example.com", "disabled": false, "phone": "+15551234567"}),
    )
    .await;
    assert_eq!(
        (
            ok(&r)["disabled"].clone(),
            r.body["result"]["phone"].clone()
        ),
        (json!(false), json!("+15551234567"))
    );
    srv.argon_login("kim@example.com").await;
    // Lock the account, see locked_out, unlock it.
    for _ in 0..10 {
        srv.call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "kim@example.com", "password": "wrong password"})),
        )
        .await;
    }
    assert_eq!(
        ok(&v2(
            &srv,
            "/v2/user/profile/get",
            &admin,
            json!({"email": "kim@example.com"})
        )
        .await)["locked_out"],
        true
    );
    let r = v2(
        &srv,
        "/v2/user/update",
        &admin,
        json!({"email": "kim@example.com", "unlock": true}),
    )
    .await;
    assert_eq!(ok(&r)["locked_out"], false);
    srv.argon_login("kim@example.com").await;
    invalid(
        &v2(
            &srv,
            "/v2/user/update",
            &admin,
            json!({"email": "kim@example.com", "disabled": "yes"}),
        )
        .await,
        "InvalidBool",
        "/disabled",
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/update",
            &admin,
            json!({"email": "kim@example.com", "phone": "555"}),
        )
        .await,
        "DoesNotMatchPattern",
        "/phone",
    );
    // No change field just returns the user.
    ok(&v2(
        &srv,
        "/v2/user/update",
        &admin,
        json!({"email": "kim@example.com"}),
    )
    .await);
    let kept = srv.argon_login("kim@example.com").await;
    let r = v2(
        &srv,
        "/v2/user/password/expire",
        &admin,
        json!({"email": "kim@example.com"}),
    )
    .await;
    assert_eq!(ok(&r), &json!({}));
    assert!(
        srv.state
            .aegis
            .find_user("kim@example.com")
            .await
            .unwrap()
            .password_expired
    );
    // The right password no longer opens a session, on any dialect; a wrong one
    // is still just wrong.
    let login = json!({"username": "kim@example.com", "password": PASSWORD});
    let r = srv
        .call("POST", "/api/auth/login", None, Some(login.clone()))
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (403, json!({"error": "Password expired"}))
    );
    let r = srv
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "kim@example.com", "password": "wrong password"})),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = srv.call("POST", "/auth", None, Some(login.clone())).await;
    assert_eq!(
        (r.status, r.body["detail"].as_str()),
        (403, Some("The password has expired and must be changed."))
    );
    // Existing sessions continue; changing the password there lifts the expiry.
    assert_eq!(
        srv.call("GET", "/api/auth/state", Some(&kept), None)
            .await
            .status,
        200
    );
    let change =
        json!({"token": kept, "old_password": PASSWORD, "new_password": "a fresh long passphrase"});
    ok(&v2(&srv, "/v2/client/password/change", &admin, change).await);
    let login = json!({"username": "kim@example.com", "password": "a fresh long passphrase"});
    assert_eq!(
        srv.call("POST", "/api/auth/login", None, Some(login))
            .await
            .status,
        200
    );
    status(
        &v2(
            &srv,
            "/v2/user/password/expire",
            &admin,
            json!({"email": "zed@example.com"}),
        )
        .await,
        404,
        "UserNotFound",
    );
}

async fn authenticators(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    srv.user("lee@example.com", Role::User).await;
    let r = v2(
        &srv,
        "/v2/user/authenticators/list",
        &admin,
        json!({"email": "lee@example.com"}),
    )
    .await;
    let list = ok(&r)["authenticators"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    let a = &list[0];
    assert_eq!(
        (
            a["type"].as_str(),
            a["provider"].as_str(),
            a["enabled"].as_bool()
        ),
        (Some("password"), Some("password"), Some(true))
    );
    assert!(
        a["id"].as_str().unwrap().starts_with("pau_")
            && is_time(&a["created_at"])
            && is_time(&a["updated_at"])
    );
    // Someone else's authenticator id is NotFound, like an unknown one.
    srv.user("max@example.com", Role::User).await;
    status(
        &v2(
            &srv,
            "/v2/user/authenticators/delete",
            &admin,
            json!({"email": "max@example.com", "authenticator_id": a["id"]}),
        )
        .await,
        404,
        "NotFound",
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/authenticators/delete",
            &admin,
            json!({"email": "lee@example.com", "authenticator_id": "nope"}),
        )
        .await,
        "DoesNotMatchPattern",
        "/authenticator_id",
    );
    ok(&v2(
        &srv,
        "/v2/user/authenticators/delete",
        &admin,
        json!({"email": "lee@example.com", "authenticator_id": a["id"]}),
    )
    .await);
    assert_eq!(
        srv.call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "lee@example.com", "password": PASSWORD}))
        )
        .await
        .status,
        401
    );
    let r = v2(
        &srv,
        "/v2/user/authenticators/list",
        &admin,
        json!({"email": "lee@example.com"}),
    )
    .await;
    assert_eq!(ok(&r)["authenticators"], json!([]));
    status(
        &v2(
            &srv,
            "/v2/user/authenticators/delete",
            &admin,
            json!({"email": "lee@example.com", "authenticator_id": a["id"]}),
        )
        .await,
        404,
        "NotFound",
    );
}

async fn groups_and_memberships(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    let user = ok(&v2(
        &srv,
        "/v2/user/create",
        &admin,
        json!({"email": "gus@example.com", "profile": {}}),
    )
    .await)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g1 = ok(&v2(
        &srv,
        "/v2/group/create",
        &admin,
        json!({"name": "Console Users", "type": "system", "attributes": {"source": "ACME"}}),
    )
    .await)
    .clone();
    let gid = g1["id"].as_str().unwrap().to_owned();
    assert!(gid.starts_with("pgi_"));
    assert_eq!(
        (g1["name"].as_str(), g1["type"].as_str()),
        (Some("Console Users"), Some("system"))
    );
    assert_eq!(g1["attributes"], json!({"source": "ACME"}));
    invalid(
        &v2(
            &srv,
            "/v2/group/create",
            &admin,
            json!({"name": "console users", "type": "x"}),
        )
        .await,
        "InvalidValue",
        "/name",
    );
    invalid(
        &v2(&srv, "/v2/group/create", &admin, json!({"type": "x"})).await,
        "FieldRequired",
        "/name",
    );
    let g2 = ok(&v2(
        &srv,
        "/v2/group/create",
        &admin,
        json!({"name": "Admins", "type": "team", "description": "the admins"}),
    )
    .await)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ok(&v2(&srv, "/v2/group/get", &admin, json!({"id": gid})).await)["name"],
        "Console Users"
    );
    let r = v2(
        &srv,
        "/v2/group/update",
        &admin,
        json!({"id": g2, "description": "updated"}),
    )
    .await;
    assert_eq!(ok(&r)["description"], "updated");
    // Assign: idempotent and atomic.
    ok(&v2(
        &srv,
        "/v2/user/group/assign",
        &admin,
        json!({"id": user, "group_ids": [gid, g2]}),
    )
    .await);
    ok(&v2(
        &srv,
        "/v2/user/group/assign",
        &admin,
        json!({"id": user, "group_ids": [gid]}),
    )
    .await);
    let r = v2(&srv, "/v2/user/group/list", &admin, json!({"id": user})).await;
    let res = ok(&r);
    assert_eq!(res["count"], 2);
    assert_eq!(res["groups"][0]["name"], "Admins", "by name");
    assert_eq!(res["group_ids"], json!([g2, gid]));
    let user2 = ok(&v2(
        &srv,
        "/v2/user/create",
        &admin,
        json!({"email": "hal@example.com", "profile": {}}),
    )
    .await)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = "pgi_xpkhwpnz2cmegsws737xbsqnmnuwtbm5";
    status(
        &v2(
            &srv,
            "/v2/user/group/assign",
            &admin,
            json!({"id": user2, "group_ids": [gid, foreign]}),
        )
        .await,
        404,
        "NotFound",
    );
    assert_eq!(
        ok(&v2(&srv, "/v2/user/group/list", &admin, json!({"id": user2})).await)["count"],
        0,
        "nothing assigned"
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/group/assign",
            &admin,
            json!({"id": user2, "group_ids": []}),
        )
        .await,
        "BelowMinItems",
        "/group_ids",
    );
    status(
        &v2(
            &srv,
            "/v2/user/group/assign",
            &admin,
            json!({"id": "pui_xpkhwpnz2cmegsws737xbsqnmnuwtbm5", "group_ids": [gid]}),
        )
        .await,
        404,
        "UserNotFound",
    );
    // user-info carries the groups; members are listed.
    let info = ok(&v2(&srv, "/v2/user/profile/get", &admin, json!({"id": user})).await).clone();
    assert_eq!(info["groups"].as_array().unwrap().len(), 2);
    let r = v2(&srv, "/v2/group/user/list", &admin, json!({"id": gid})).await;
    assert_eq!(ok(&r)["count"], 1);
    assert_eq!(r.body["result"]["users"][0]["id"], user.as_str());
    // Remove (twice is fine), unknown group is NotFound.
    ok(&v2(
        &srv,
        "/v2/user/group/remove",
        &admin,
        json!({"id": user, "group_id": g2}),
    )
    .await);
    ok(&v2(
        &srv,
        "/v2/user/group/remove",
        &admin,
        json!({"id": user, "group_id": g2}),
    )
    .await);
    status(
        &v2(
            &srv,
            "/v2/user/group/remove",
            &admin,
            json!({"id": user, "group_id": foreign}),
        )
        .await,
        404,
        "NotFound",
    );
    // Group list pages by name.
    for i in 0..3 {
        ok(&v2(
            &srv,
            "/v2/group/create",
            &admin,
            json!({"name": format!("Team {i}"), "type": "team"}),
        )
        .await);
    }
    let p1 = v2(&srv, "/v2/group/list", &admin, json!({"size": 2})).await;
    assert_eq!(ok(&p1)["count"], 5);
    let last = p1.body["result"]["last"].as_str().unwrap().to_owned();
    let p2 = v2(
        &srv,
        "/v2/group/list",
        &admin,
        json!({"size": 2, "last": last}),
    )
    .await;
    let names: Vec<&str> = ok(&p2)["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Team 0", "Team 1"]);
    // Filters and every order.
    let names = |r: &Reply| -> Vec<String> {
        ok(r)["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = v2(
        &srv,
        "/v2/group/list",
        &admin,
        json!({"filter": {"name__contains": ["TEAM"]}, "order": "desc"}),
    )
    .await;
    assert_eq!(names(&r), ["Team 2", "Team 1", "Team 0"]);
    let r = v2(
        &srv,
        "/v2/group/list",
        &admin,
        json!({"filter": {"type": "team"}, "order_by": "created_at", "order": "desc", "size": 2}),
    )
    .await;
    assert_eq!(
        (names(&r), r.body["result"]["count"].as_u64()),
        (vec!["Team 2".to_owned(), "Team 1".to_owned()], Some(4))
    );
    let next = r.body["result"]["last"].as_str().unwrap().to_owned();
    let r = v2(&srv, "/v2/group/list", &admin, json!({"filter": {"type": "team"}, "order_by": "created_at", "order": "desc", "size": 2, "last": next})).await;
    assert_eq!(names(&r), ["Team 0", "Admins"]);
    assert!(r.body["result"].get("last").is_none());
    let r = v2(
        &srv,
        "/v2/group/list",
        &admin,
        json!({"filter": {"id__in": [gid]}}),
    )
    .await;
    assert_eq!(names(&r), ["Console Users"]);
    invalid(
        &v2(
            &srv,
            "/v2/group/list",
            &admin,
            json!({"filter": {"colour": "red"}}),
        )
        .await,
        "UnexpectedProperty",
        "/filter/colour",
    );
    invalid(
        &v2(
            &srv,
            "/v2/group/list",
            &admin,
            json!({"order_by": "colour"}),
        )
        .await,
        "NotEnumMember",
        "/order_by",
    );
    invalid(
        &v2(
            &srv,
            "/v2/group/list",
            &admin,
            json!({"filter": {"created_at__gt": "soon"}}),
        )
        .await,
        "BadFormatDateTime",
        "/filter/created_at__gt",
    );
    // Deleting a group removes memberships.
    ok(&v2(&srv, "/v2/group/delete", &admin, json!({"id": gid})).await);
    status(
        &v2(&srv, "/v2/group/get", &admin, json!({"id": gid})).await,
        404,
        "NotFound",
    );
    assert_eq!(
        ok(&v2(&srv, "/v2/user/group/list", &admin, json!({"id": user})).await)["count"],
        0
    );
}

async fn user_listing(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    for i in 0..7 {
        ok(&v2(
            &srv,
            "/v2/user/create",
            &admin,
            json!({"email": format!("u{i}@list.io"), "profile": {}}),
        )
        .await);
        srv.clock.advance(1);
    }
    ok(&v2(
        &srv,
        "/v2/user/update",
        &admin,
        json!({"email": "u3@list.io", "disabled": true}),
    )
    .await);
    let filter = json!({"email__contains": ["@list.io"], "disabled": false});
    let mut seen = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let mut body =
            json!({"filter": filter, "order": "desc", "order_by": "created_at", "size": 2});
        if let Some(l) = &last {
            body["last"] = json!(l);
        }
        let r = v2(&srv, "/v2/user/list", &admin, body).await;
        let res = ok(&r).clone();
        assert_eq!(res["count"], 6);
        seen.extend(
            res["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned()),
        );
        match res.get("last") {
            Some(l) => last = Some(l.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "u6@list.io",
            "u5@list.io",
            "u4@list.io",
            "u2@list.io",
            "u1@list.io",
            "u0@list.io"
        ]
    );
    // Operators.
    let count = |f: Value| {
        let srv = srv.clone();
        let admin = admin.clone();
        async move {
            ok(&v2(&srv, "/v2/user/list", &admin, json!({"filter": f})).await)["count"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(
        count(json!({"email__in": ["u1@list.io", "U2@LIST.IO", "zz@list.io"]})).await,
        2
    );
    assert_eq!(count(json!({"email": "u1@list.io"})).await, 1);
    assert_eq!(count(json!({"disabled": true})).await, 1);
    assert_eq!(count(json!({"login_count__gt": 0})).await, 0);
    assert_eq!(count(json!({"scopes": ["x"]})).await, 0);
    assert_eq!(count(json!({"email__contains": ["%"]})).await, 0, "literal");
    let u0 = ok(&v2(
        &srv,
        "/v2/user/profile/get",
        &admin,
        json!({"email": "u0@list.io"}),
    )
    .await)["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        count(json!({"created_at__gt": u0, "email__contains": ["@list.io"]})).await,
        6
    );
    // Bad requests.
    invalid(
        &v2(&srv, "/v2/user/list", &admin, json!({"size": 0})).await,
        "NotWithinRange",
        "/size",
    );
    invalid(
        &v2(&srv, "/v2/user/list", &admin, json!({"order": "up"})).await,
        "NotEnumMember",
        "/order",
    );
    invalid(
        &v2(&srv, "/v2/user/list", &admin, json!({"order_by": "shoe"})).await,
        "NotEnumMember",
        "/order_by",
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/list",
            &admin,
            json!({"filter": {"shoe": 1}}),
        )
        .await,
        "UnexpectedProperty",
        "/filter/shoe",
    );
    invalid(
        &v2(
            &srv,
            "/v2/user/list",
            &admin,
            json!({"filter": {"created_at__gt": "yesterday"}}),
        )
        .await,
        "BadFormatDateTime",
        "/filter/created_at__gt",
    );
    invalid(
        &v2(&srv, "/v2/user/list", &admin, json!({"last": "garbage"})).await,
        "BadFormat",
        "/last",
    );
    // A cursor made for another filter is refused.
    let r = v2(&srv, "/v2/user/list", &admin, json!({"size": 1})).await;
    let c = ok(&r)["last"].as_str().unwrap().to_owned();
    invalid(
        &v2(
            &srv,
            "/v2/user/list",
            &admin,
            json!({"size": 1, "last": c, "order": "desc"}),
        )
        .await,
        "BadFormat",
        "/last",
    );
}

async fn client_endpoints(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    srv.user("nia@example.com", Role::User).await;
    let access = srv.argon_login("nia@example.com").await;
    let other = srv.argon_login("nia@example.com").await;
    let pair: Value = srv
        .post(
            "/auth",
            json!({"username": "nia@example.com", "password": PASSWORD}),
        )
        .await
        .json()
        .await
        .unwrap();
    // Token check: access, refresh and API tokens.
    let r = v2(
        &srv,
        "/v2/client/token/check",
        &admin,
        json!({"token": access}),
    )
    .await;
    let t = ok(&r).clone();
    assert_eq!(t["type"], "user");
    assert!(
        t["id"].as_str().unwrap().starts_with("pmt_")
            && t["identity"].as_str().unwrap().starts_with("pui_")
    );
    assert_eq!(t["email"], "nia@example.com");
    assert!(t["life"].as_i64().unwrap() > 0 && is_time(&t["expire"]) && is_time(&t["created_at"]));
    let r = v2(
        &srv,
        "/v2/client/token/check",
        &admin,
        json!({"token": pair["refresh_token"]}),
    )
    .await;
    assert_eq!(ok(&r)["type"], "session");
    let r = v2(
        &srv,
        "/v2/client/token/check",
        &admin,
        json!({"token": admin}),
    )
    .await;
    assert_eq!(
        (ok(&r)["type"].as_str(), r.body["result"]["email"].as_str()),
        (Some("service"), Some("admin@example.com"))
    );
    status(
        &v2(
            &srv,
            "/v2/client/token/check",
            &admin,
            json!({"token": "garbage"}),
        )
        .await,
        400,
        "InvalidToken",
    );
    invalid(
        &v2(&srv, "/v2/client/token/check", &admin, json!({})).await,
        "FieldRequired",
        "/token",
    );
    // The JWK set, as on /.well-known/jwks.json.
    let r = v2(&srv, "/v2/client/jwks", &admin, json!({})).await;
    assert_eq!(ok(&r), &srv.state.aegis.jwks());
    // Password change: the calling session stays, the others end.
    let change =
        |old: &str, new: &str| json!({"token": access, "old_password": old, "new_password": new});
    status(
        &v2(
            &srv,
            "/v2/client/password/change",
            &admin,
            change("wrong one!", "a new long passphrase"),
        )
        .await,
        400,
        "AuthenticationFailure",
    );
    invalid(
        &v2(
            &srv,
            "/v2/client/password/change",
            &admin,
            change(PASSWORD, "password1"),
        )
        .await,
        "BadFormat",
        "/new_password",
    );
    ok(&v2(
        &srv,
        "/v2/client/password/change",
        &admin,
        change(PASSWORD, "a new long passphrase"),
    )
    .await);
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&access), None)
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call("GET", "/auth/me", Some(&other), None).await.status,
        401
    );
    assert_eq!(
        srv.post(
            "/auth/refresh",
            json!({"refresh_token": pair["refresh_token"]})
        )
        .await
        .status(),
        401
    );
    srv.call(
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"username": "nia@example.com", "password": "a new long passphrase"})),
    )
    .await;
    // Expired body tokens.
    srv.clock.advance(3600 + 6);
    status(
        &v2(
            &srv,
            "/v2/client/token/check",
            &admin,
            json!({"token": access}),
        )
        .await,
        400,
        "ExpiredToken",
    );
}

both!(hostile_values);

/// Values no backend can store, or lists that would overflow bind parameters,
/// are validation errors, never 500s (the SDK retries 5xx).
async fn hostile_values(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    let id = ok(&v2(
        &srv,
        "/v2/user/create",
        &admin,
        json!({"email": "nul@example.com", "profile": {}}),
    )
    .await)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = v2(
        &srv,
        "/v2/user/profile/update",
        &admin,
        json!({"id": id, "profile": {"a": "x\u{0}y"}}),
    )
    .await;
    status(&r, 400, "ValidationError");
    let r = v2(
        &srv,
        "/v2/user/create",
        &admin,
        json!({"email": "nul2@example.com", "profile": {"a": "\u{0}"}}),
    )
    .await;
    status(&r, 400, "ValidationError");
    let r = v2(
        &srv,
        "/v2/user/list",
        &admin,
        json!({"filter": {"email__contains": ["\u{0}"]}}),
    )
    .await;
    status(&r, 400, "ValidationError");
    let many: Vec<String> = (0..70_000).map(|i| format!("u{i}")).collect();
    let r = v2(
        &srv,
        "/v2/user/list",
        &admin,
        json!({"filter": {"email__in": many}}),
    )
    .await;
    status(&r, 400, "ValidationError");
    let r = v2(
        &srv,
        "/v2/session/list",
        &admin,
        json!({"filter": {"email__contains": ["\u{0}"]}}),
    )
    .await;
    status(&r, 400, "ValidationError");
    let r = v2(
        &srv,
        "/v2/group/create",
        &admin,
        json!({"name": "a\u{0}", "type": "t"}),
    )
    .await;
    status(&r, 400, "ValidationError");
    // A view account may not change its password through the client API.
    srv.user("viewer@example.com", Role::View).await;
    let token = srv.argon_login("viewer@example.com").await;
    let body = json!({"token": token, "old_password": PASSWORD, "new_password": "another long passphrase"});
    let r = v2(&srv, "/v2/client/password/change", &admin, body).await;
    assert_ne!(r.status, 200, "{}", r.body);
    assert!(r.status < 500);
}
