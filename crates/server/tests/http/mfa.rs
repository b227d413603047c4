//! Second factors over HTTP: once a user has a confirmed TOTP authenticator, no
//! API login (Argon, aiohttp) opens a session without a current code or an
//! unused recovery code; codes and recovery codes work once; Pangea lists and
//! deletes the factor.

use aegis_core::mfa::{TotpSecret, TOTP_STEP};
use aegis_core::service::TotpEnrollment;
use aegis_core::{Principal, Role};
use serde_json::{json, Value};

use crate::both;
use crate::harness::{Reply, Srv, PASSWORD};
use crate::pangea::{ok, service_token, status, v2};

both!(
    api_logins_need_the_second_factor,
    codes_and_recovery_codes_work_once,
    pangea_lists_and_deletes_factors,
    missing_codes_count_towards_the_lockout,
    changes_need_a_recent_session_and_end_the_others,
    a_password_change_voids_second_step_tickets,
    a_passkey_is_listed_and_counts_as_a_second_factor,
);

async fn principal(srv: &Srv, email: &str) -> Principal {
    let token = srv.argon_login(email).await;
    srv.state.aegis.authenticate(&token).await.unwrap()
}

/// Enrolls and confirms TOTP for `email`; returns the secret. The confirming
/// code's step is used up, so the clock moves on to the next step.
async fn enroll(srv: &Srv, email: &str) -> (TotpEnrollment, TotpSecret) {
    let caller = principal(srv, email).await;
    let aegis = &srv.state.aegis;
    let e = aegis.begin_totp(&caller).await.unwrap();
    assert!(e.uri.starts_with("otpauth://totp/"), "{}", e.uri);
    let secret = TotpSecret::from_base32(&e.secret).unwrap();
    let wrong = aegis.confirm_totp(&caller, e.id, "000000").await;
    assert!(
        matches!(
            wrong,
            Err(aegis_core::Error::InvalidField { field: "code", .. })
        ),
        "{wrong:?}"
    );
    aegis
        .confirm_totp(&caller, e.id, &code(srv, &secret))
        .await
        .unwrap();
    srv.clock.advance(TOTP_STEP as i64);
    (e, secret)
}

fn code(srv: &Srv, secret: &TotpSecret) -> String {
    let now = srv.state.aegis.now().timestamp() as u64;
    secret.code_at(now).unwrap()
}

async fn argon(srv: &Srv, email: &str, password: &str, otp: Option<Value>) -> Reply {
    let mut body = json!({"username": email, "password": password});
    if let Some(otp) = otp {
        body["otp"] = otp;
    }
    srv.call("POST", "/api/auth/login", None, Some(body)).await
}

async fn aiohttp(srv: &Srv, email: &str, otp: Option<&str>) -> Reply {
    let mut body = json!({"username": email, "password": PASSWORD});
    if let Some(otp) = otp {
        body["otp"] = json!(otp);
    }
    srv.call("POST", "/auth", None, Some(body)).await
}

async fn api_logins_need_the_second_factor(srv: Srv) {
    srv.user("ann@example.com", Role::User).await;
    // An enrollment that was never confirmed changes nothing.
    let caller = principal(&srv, "ann@example.com").await;
    srv.state.aegis.begin_totp(&caller).await.unwrap();
    assert_eq!(
        argon(&srv, "ann@example.com", PASSWORD, None).await.status,
        200
    );

    let (_, secret) = enroll(&srv, "ann@example.com").await;

    // Password alone: the dialect's 401, saying what is missing.
    let r = argon(&srv, "ann@example.com", PASSWORD, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"error": "Second factor required: send the current code in \"otp\""})
    );
    let r = aiohttp(&srv, "ann@example.com", None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.body["type"], "about:blank");
    assert_eq!(
        r.body["detail"],
        "A second factor is required: send the current code in \"otp\"."
    );
    assert!(r.body.get("access_token").is_none());

    // A wrong password with a right code is a plain failure (no hint about MFA).
    let r = argon(
        &srv,
        "ann@example.com",
        "wrong password",
        Some(json!(code(&srv, &secret))),
    )
    .await;
    assert_eq!(
        (r.status, &r.body),
        (401, &json!({"error": "Invalid credentials"}))
    );
    // A wrong code, or a code that is not a string, never opens a session.
    let r = argon(&srv, "ann@example.com", PASSWORD, Some(json!("123456"))).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = argon(&srv, "ann@example.com", PASSWORD, Some(json!(123456))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = aiohttp(&srv, "ann@example.com", Some("12345x")).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.body["title"], "Authentication Failed");

    // The current code opens a session on either dialect (one step each).
    let r = argon(
        &srv,
        "ann@example.com",
        PASSWORD,
        Some(json!(code(&srv, &secret))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["token"].is_string());
    srv.clock.advance(TOTP_STEP as i64);
    let r = aiohttp(&srv, "ann@example.com", Some(&code(&srv, &secret))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["access_token"].is_string());
    // The code of the step before still works within the skew; the one before that does not.
    srv.clock.advance(TOTP_STEP as i64);
    let now = srv.state.aegis.now().timestamp() as u64;
    let old = secret.code_at(now - 2 * TOTP_STEP).unwrap();
    let r = argon(&srv, "ann@example.com", PASSWORD, Some(json!(old))).await;
    assert_eq!(r.status, 401, "{}", r.body);

    // A user without a factor logs in as before, an `otp` or not.
    srv.user("bob@example.com", Role::User).await;
    assert_eq!(
        argon(&srv, "bob@example.com", PASSWORD, None).await.status,
        200
    );
    let r = argon(&srv, "bob@example.com", PASSWORD, Some(json!("123456"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn codes_and_recovery_codes_work_once(srv: Srv) {
    srv.user("cat@example.com", Role::User).await;
    let (_, secret) = enroll(&srv, "cat@example.com").await;
    let now_code = code(&srv, &secret);
    let r = argon(&srv, "cat@example.com", PASSWORD, Some(json!(now_code))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The same code again (same step): refused, on any dialect.
    let r = argon(&srv, "cat@example.com", PASSWORD, Some(json!(now_code))).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = aiohttp(&srv, "cat@example.com", Some(&now_code)).await;
    assert_eq!(r.status, 401, "{}", r.body);

    // Recovery codes: shown once, each good for one login, in any spelling.
    let token = srv.argon_login_with(&secret, "cat@example.com").await;
    let caller = srv.state.aegis.authenticate(&token).await.unwrap();
    let codes = srv.state.aegis.new_recovery_codes(&caller).await.unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        srv.state.aegis.recovery_codes_left(&caller).await.unwrap(),
        10
    );
    let typed = codes[0].to_uppercase().replace('-', " ");
    let r = argon(&srv, "cat@example.com", PASSWORD, Some(json!(typed))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = argon(&srv, "cat@example.com", PASSWORD, Some(json!(codes[0]))).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = aiohttp(&srv, "cat@example.com", Some(&codes[1])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        srv.state.aegis.recovery_codes_left(&caller).await.unwrap(),
        8
    );
    // A new set replaces the old one entirely.
    let fresh = srv.state.aegis.new_recovery_codes(&caller).await.unwrap();
    let r = argon(&srv, "cat@example.com", PASSWORD, Some(json!(codes[2]))).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = argon(&srv, "cat@example.com", PASSWORD, Some(json!(fresh[0]))).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn pangea_lists_and_deletes_factors(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    srv.user("dee@example.com", Role::User).await;
    let (e, _) = enroll(&srv, "dee@example.com").await;
    let list = |srv: &Srv, admin: &str| {
        let (srv, admin) = (srv.clone(), admin.to_owned());
        async move {
            let r = v2(
                &srv,
                "/v2/user/authenticators/list",
                &admin,
                json!({"email": "dee@example.com"}),
            )
            .await;
            ok(&r)["authenticators"].as_array().unwrap().clone()
        }
    };
    let listed = list(&srv, &admin).await;
    let kinds: Vec<_> = listed.iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["password", "totp"]);
    let totp = &listed[1];
    assert_eq!(totp["provider"], "totp");
    assert_eq!(totp["enabled"], true);
    assert!(totp.get("secret").is_none() && !totp.to_string().contains(&e.secret));
    // The user's record shows it too.
    let r = v2(
        &srv,
        "/v2/user/profile/get",
        &admin,
        json!({"email": "dee@example.com"}),
    )
    .await;
    assert_eq!(ok(&r)["authenticators"].as_array().unwrap().len(), 2);

    // `require_mfa` lists the users with (or without) a second factor.
    let listed = |srv: &Srv, admin: &str, has: bool| {
        let (srv, admin) = (srv.clone(), admin.to_owned());
        async move {
            let r = v2(
                &srv,
                "/v2/user/list",
                &admin,
                json!({"filter": {"require_mfa": has}}),
            )
            .await;
            let mut emails: Vec<String> = ok(&r)["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned())
                .collect();
            emails.sort();
            emails
        }
    };
    assert_eq!(listed(&srv, &admin, true).await, ["dee@example.com"]);
    assert_eq!(listed(&srv, &admin, false).await, ["admin@example.com"]);

    // Deleting the TOTP authenticator lifts the second-factor requirement.
    assert_eq!(
        argon(&srv, "dee@example.com", PASSWORD, None).await.status,
        401
    );
    ok(&v2(
        &srv,
        "/v2/user/authenticators/delete",
        &admin,
        json!({"email": "dee@example.com", "authenticator_id": totp["id"]}),
    )
    .await);
    let kinds: Vec<_> = list(&srv, &admin)
        .await
        .iter()
        .map(|a| a["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["password"]);
    assert_eq!(
        argon(&srv, "dee@example.com", PASSWORD, None).await.status,
        200
    );
    assert!(listed(&srv, &admin, true).await.is_empty());
    status(
        &v2(
            &srv,
            "/v2/user/authenticators/delete",
            &admin,
            json!({"email": "dee@example.com", "authenticator_id": totp["id"]}),
        )
        .await,
        404,
        "NotFound",
    );
}

async fn missing_codes_count_towards_the_lockout(srv: Srv) {
    srv.user("eve@example.com", Role::User).await;
    let (_, secret) = enroll(&srv, "eve@example.com").await;
    let limit = srv.state.aegis.config().throttle.account_failures;
    for _ in 0..limit {
        let r = argon(&srv, "eve@example.com", PASSWORD, None).await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    // Locked now: even the right password and code answer 429.
    let r = argon(
        &srv,
        "eve@example.com",
        PASSWORD,
        Some(json!(code(&srv, &secret))),
    )
    .await;
    assert_eq!(r.status, 429, "{}", r.body);
}

impl Srv {
    /// An Argon login with the password and the current TOTP code.
    async fn argon_login_with(&self, secret: &TotpSecret, email: &str) -> String {
        self.clock.advance(TOTP_STEP as i64);
        let r = argon(self, email, PASSWORD, Some(json!(code(self, secret)))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }
}

async fn changes_need_a_recent_session_and_end_the_others(srv: Srv) {
    srv.user("gil@example.com", Role::User).await;
    let aegis = &srv.state.aegis;
    // Two sessions on the password alone, then an enrollment from the first.
    let first = srv.argon_login("gil@example.com").await;
    let second = srv.argon_login("gil@example.com").await;
    let caller = aegis.authenticate(&first).await.unwrap();
    let e = aegis.begin_totp(&caller).await.unwrap();
    let secret = TotpSecret::from_base32(&e.secret).unwrap();
    aegis
        .confirm_totp(&caller, e.id, &code(&srv, &secret))
        .await
        .unwrap();
    // The session that never saw the second factor is over; the enrolling one goes on.
    assert_eq!(srv.get_bearer("/auth/me", &second).await.status(), 401);
    assert_eq!(srv.get_bearer("/auth/me", &first).await.status(), 200);
    aegis.new_recovery_codes(&caller).await.unwrap();

    // Ten minutes on, the same session may no longer change second factors.
    srv.clock.advance(601);
    let forbidden = |r: aegis_core::Result<()>| matches!(r, Err(aegis_core::Error::Forbidden));
    assert!(forbidden(aegis.begin_totp(&caller).await.map(drop)));
    assert!(forbidden(aegis.new_recovery_codes(&caller).await.map(drop)));
    assert!(forbidden(aegis.remove_own_factor(&caller, e.id).await));
    assert_eq!(aegis.factors(caller.user.id).await.unwrap().len(), 1);

    // An API token never counts as a session for any of it, nor can it be
    // turned into one through the Argon profile update.
    let token = service_token(&srv, "hal@example.com", Role::User).await;
    let holder = aegis.authenticate(&token).await.unwrap();
    assert!(forbidden(aegis.begin_totp(&holder).await.map(drop)));
    let r = srv
        .call(
            "PUT",
            "/api/auth/profile",
            Some(&token),
            Some(json!({"newUsername": "hal2"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.get("token").is_none());
}

async fn a_password_change_voids_second_step_tickets(srv: Srv) {
    use aegis_core::service::{LoginRequest, LoginStep};
    srv.user("ivy@example.com", Role::User).await;
    let (_, secret) = enroll(&srv, "ivy@example.com").await;
    let aegis = &srv.state.aegis;
    let first = |password: &str| LoginRequest {
        identifier: "ivy@example.com".into(),
        password: password.into(),
        otp: None,
        ip: None,
    };
    let LoginStep::SecondFactor { ticket } = aegis.login_first_step(first(PASSWORD)).await.unwrap()
    else {
        panic!("a second step is due");
    };
    // A ticket is no key for another user, and forged ones are just failures.
    assert!(aegis.login_second_step("x", "123456", None).await.is_err());

    // The password changes (from a session that passed both factors).
    let token = srv.argon_login_with(&secret, "ivy@example.com").await;
    let me = aegis.authenticate(&token).await.unwrap();
    aegis
        .change_password(&me, PASSWORD, "another long passphrase", None)
        .await
        .unwrap();
    srv.clock.advance(TOTP_STEP as i64);
    let r = aegis
        .login_second_step(&ticket, &code(&srv, &secret), None)
        .await;
    assert!(r.is_err(), "{r:?}");
    // A fresh first step with the new password works.
    let LoginStep::SecondFactor { ticket } = aegis
        .login_first_step(first("another long passphrase"))
        .await
        .unwrap()
    else {
        panic!("a second step is due");
    };
    aegis
        .login_second_step(&ticket, &code(&srv, &secret), None)
        .await
        .unwrap();
    // A ticket opens one session: the next code with the same ticket opens none.
    srv.clock.advance(TOTP_STEP as i64);
    let again = aegis
        .login_second_step(&ticket, &code(&srv, &secret), None)
        .await;
    assert!(again.is_err(), "{again:?}");
}

async fn a_passkey_is_listed_and_counts_as_a_second_factor(srv: Srv) {
    use aegis_core::mfa::{Factor, FactorKind};
    let admin = service_token(&srv, "root2@example.com", Role::Admin).await;
    let jo = srv.user("jo@example.com", Role::User).await;
    let now = srv.state.aegis.now();
    // As a registration stores it (the ceremony itself runs in the browser suite).
    let id = uuid::Uuid::now_v7();
    srv.state
        .aegis
        .store()
        .insert_factor(&Factor {
            id,
            user_id: jo.id,
            kind: FactorKind::Passkey,
            name: "YubiKey 5".into(),
            secret: None,
            credential: Some("{}".into()),
            enabled: true,
            last_step: None,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    let r = v2(
        &srv,
        "/v2/user/authenticators/list",
        &admin,
        json!({"email": "jo@example.com"}),
    )
    .await;
    let list = ok(&r)["authenticators"].as_array().unwrap().clone();
    let key = &list[1];
    assert_eq!(
        (
            &key["type"],
            &key["provider"],
            &key["provider_name"],
            &key["rpid"]
        ),
        (
            &json!("passkey"),
            &json!("passkey"),
            &json!("YubiKey 5"),
            &json!("localhost")
        )
    );
    // A password alone opens no API session now; a recovery code would stand in.
    let r = argon(&srv, "jo@example.com", PASSWORD, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = aiohttp(&srv, "jo@example.com", Some("123456")).await;
    assert_eq!(r.status, 401, "{}", r.body);
}
