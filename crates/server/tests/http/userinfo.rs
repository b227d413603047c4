//! Pangea `client/userinfo` (spec §5.1): a login code, issued by the core after a
//! login as the hosted login page does, exchanged once for tokens of that
//! session; every dead code is `InvalidCode` — on both backends.

use aegis_core::service::{Login, LoginRequest, UserChange};
use aegis_core::{Actor, Role};
use serde_json::{json, Value};

use crate::both;
use crate::harness::{Reply, Srv, PASSWORD};
use crate::pangea::{ok, service_token, status, v2};

const USERINFO: &str = "/v2/client/userinfo";

/// Signs `email` in through the core and issues a code for that session.
async fn code_for(srv: &Srv, email: &str) -> (Login, String) {
    let aegis = &srv.state.aegis;
    let login = aegis
        .login(LoginRequest {
            identifier: email.into(),
            password: PASSWORD.into(),
            otp: None,
            ip: None,
        })
        .await
        .unwrap();
    let code = aegis.issue_login_code(&login).await.unwrap();
    (login, code)
}

fn invalid_code(r: &Reply) {
    status(r, 400, "InvalidCode");
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

/// Checks a login-token object and returns its secret.
fn token(v: &Value, kind: &str, identity: &str, email: &str) -> String {
    assert_eq!(v["type"], kind, "{v}");
    let id = v["id"].as_str().unwrap();
    assert!(id.starts_with("pmt_") && id.len() == 36, "{v}");
    assert!(v["life"].as_i64().unwrap() > 0, "{v}");
    assert_eq!(
        (v["identity"].as_str(), v["email"].as_str()),
        (Some(identity), Some(email)),
        "{v}"
    );
    assert!(v["profile"].is_object() && v["enabled"] == true, "{v}");
    for t in ["expire", "created_at"] {
        assert!(v[t].as_str().is_some_and(|s| s.ends_with('Z')), "{v}");
    }
    v["token"].as_str().unwrap().to_owned()
}

both!(
    exchange_once_for_working_tokens,
    dead_codes_are_invalid,
    malformed_bodies_and_bearers
);

async fn exchange_once_for_working_tokens(srv: Srv) {
    let client = service_token(&srv, "app@example.com", Role::User).await;
    srv.user("ann@example.com", Role::User).await;
    let (login, code) = code_for(&srv, "ann@example.com").await;
    assert!(code.starts_with("pmc_") && code.len() == 36, "{code}");
    let r = v2(
        &srv,
        "/v2/client/token/check",
        &client,
        json!({"token": login.tokens.refresh_token}),
    )
    .await;
    let session = ok(&r)["id"].as_str().unwrap().to_owned();
    let identity = ok(&r)["identity"].as_str().unwrap().to_owned();

    // A well-formed flow id is accepted and ignored.
    let flow = "pfl_d6chl6qulpn3it34oerwm3cqwsjd6dxw";
    let r = v2(
        &srv,
        USERINFO,
        &client,
        json!({"code": code, "flow_id": flow}),
    )
    .await;
    assert_eq!(r.body["summary"], "Login code exchanged");
    let res = ok(&r);
    assert_eq!(res.as_object().unwrap().len(), 2, "{res}");
    let active = token(&res["active_token"], "user", &identity, "ann@example.com");
    let refresh = token(
        &res["refresh_token"],
        "session",
        &identity,
        "ann@example.com",
    );
    // The tokens are new, and of the session the login opened.
    assert_ne!(active, login.tokens.access_token);
    assert_ne!(refresh, login.tokens.refresh_token);
    assert_eq!(res["refresh_token"]["id"], session.as_str());
    // pangea-authn §5.1: `ptr_` + 32 base32 characters.
    let form = refresh.strip_prefix("ptr_").unwrap_or_default();
    assert!(
        form.len() == 32
            && form
                .bytes()
                .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)),
        "{refresh}"
    );

    // Once only.
    invalid_code(&v2(&srv, USERINFO, &client, json!({"code": code})).await);

    // The access token works as a bearer and in the body.
    let r = v2(
        &srv,
        "/v2/client/token/check",
        &active,
        json!({"token": active}),
    )
    .await;
    assert_eq!(
        (ok(&r)["type"].as_str(), ok(&r)["identity"].as_str()),
        (Some("user"), Some(identity.as_str()))
    );
    // The refresh token rotates like any other of the session.
    let r = v2(
        &srv,
        "/v2/client/session/refresh",
        &client,
        json!({"refresh_token": refresh, "user_token": active}),
    )
    .await;
    let res = ok(&r);
    assert_eq!(res["refresh_token"]["id"], session.as_str());
    let rotated = res["active_token"]["token"].as_str().unwrap();
    ok(&v2(
        &srv,
        "/v2/client/token/check",
        &client,
        json!({"token": rotated}),
    )
    .await);
    // The login's own refresh token is untouched by the exchange.
    ok(&v2(
        &srv,
        "/v2/client/token/check",
        &client,
        json!({"token": login.tokens.refresh_token}),
    )
    .await);
}

async fn dead_codes_are_invalid(srv: Srv) {
    let client = service_token(&srv, "app@example.com", Role::User).await;
    let bob = srv.user("bob@example.com", Role::User).await;

    // Expired: 120 s of life.
    let (_, late) = code_for(&srv, "bob@example.com").await;
    let (_, in_time) = code_for(&srv, "bob@example.com").await;
    srv.clock.advance(119);
    ok(&v2(&srv, USERINFO, &client, json!({"code": in_time})).await);
    srv.clock.advance(2);
    invalid_code(&v2(&srv, USERINFO, &client, json!({"code": late})).await);

    // Unknown, and well-formed but of another kind.
    for unknown in [
        "pmc_d6chl6qulpn3it34oerwm3cqwsjd6dxw",
        "pmt_d6chl6qulpn3it34oerwm3cqwsjd6dxw",
    ] {
        invalid_code(&v2(&srv, USERINFO, &client, json!({"code": unknown})).await);
    }

    // The session was logged out before the exchange.
    let (login, code) = code_for(&srv, "bob@example.com").await;
    ok(&v2(
        &srv,
        "/v2/client/session/logout",
        &client,
        json!({"token": login.tokens.access_token}),
    )
    .await);
    invalid_code(&v2(&srv, USERINFO, &client, json!({"code": code})).await);

    // The password expired after the sign-in: no tokens are handed out
    // (issue 15 §1: no path issues a session to such a user).
    let (_, code) = code_for(&srv, "bob@example.com").await;
    srv.state
        .aegis
        .expire_password(&Actor::System, bob.id)
        .await
        .unwrap();
    invalid_code(&v2(&srv, USERINFO, &client, json!({"code": code})).await);
    let cleared = aegis_core::user::UserUpdate {
        password_expired: Some(false),
        ..Default::default()
    };
    srv.state
        .aegis
        .store()
        .update_user(
            bob.id,
            &cleared,
            srv.state.aegis.now(),
            aegis_core::store::AdminGuard::Off,
        )
        .await
        .unwrap();

    // The user was deactivated, then deleted.
    let (_, code) = code_for(&srv, "bob@example.com").await;
    let (_, other) = code_for(&srv, "bob@example.com").await;
    let aegis = &srv.state.aegis;
    let change = |active| UserChange {
        role: None,
        active: Some(active),
    };
    aegis
        .update_user(&Actor::System, bob.id, change(false))
        .await
        .unwrap();
    invalid_code(&v2(&srv, USERINFO, &client, json!({"code": code})).await);
    aegis
        .update_user(&Actor::System, bob.id, change(true))
        .await
        .unwrap();
    // Deactivation ended the sessions: reactivating does not revive the code.
    invalid_code(&v2(&srv, USERINFO, &client, json!({"code": other})).await);
    let (_, code) = code_for(&srv, "bob@example.com").await;
    aegis.delete_user(&Actor::System, bob.id).await.unwrap();
    invalid_code(&v2(&srv, USERINFO, &client, json!({"code": code})).await);
}

async fn malformed_bodies_and_bearers(srv: Srv) {
    let client = service_token(&srv, "app@example.com", Role::User).await;
    srv.user("cat@example.com", Role::User).await;
    let (_, code) = code_for(&srv, "cat@example.com").await;

    for (body, error, source) in [
        (json!({}), "FieldRequired", "/code"),
        (json!({"code": 7}), "InvalidString", "/code"),
        (json!({"code": "pmc_short"}), "DoesNotMatchPattern", "/code"),
        (
            json!({"code": code.to_uppercase()}),
            "DoesNotMatchPattern",
            "/code",
        ),
        (
            json!({"code": format!("{code}a")}),
            "DoesNotMatchPattern",
            "/code",
        ),
        (
            json!({"code": code, "flow_id": "pfl_x"}),
            "DoesNotMatchPattern",
            "/flow_id",
        ),
        (
            json!({"code": code, "flow_id": 1}),
            "InvalidString",
            "/flow_id",
        ),
        (
            json!({"code": code, "state": "x"}),
            "UnexpectedProperty",
            "/state",
        ),
    ] {
        invalid(&v2(&srv, USERINFO, &client, body).await, error, source);
    }

    // A client token is required, and checked before the body.
    for bearer in [None, Some("not-a-token")] {
        let r = srv
            .call("POST", USERINFO, bearer, Some(json!({"code": "x"})))
            .await;
        status(&r, 401, "Unauthorized");
    }
    // None of that used the code up.
    ok(&v2(
        &srv,
        USERINFO,
        &client,
        json!({"code": code, "flow_id": null}),
    )
    .await);
}
