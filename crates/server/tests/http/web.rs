//! The hosted pages over HTTP: sign-in with CSRF tokens and cookies, the second
//! factor, throttling, the code redirect to a registered application and its
//! exchange on `/v2/client/userinfo`, the account page and sign-out.

use aegis_core::mfa::{TotpSecret, TOTP_STEP};
use aegis_core::Role;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::harness::{run_with, Backend, Srv, PASSWORD};
use crate::pangea::{ok, service_token, status, v2};

const APP: &str = "https://app.example/callback";

macro_rules! web_cases {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::run(crate::harness::Backend::Sqlite, super::$case).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::run(crate::harness::Backend::Postgres, super::$case).await
            }
        }
    )*};
}

web_cases!(
    sign_in_and_out,
    csrf_and_bad_forms_are_refused,
    redirects_only_to_registered_applications,
    second_factor_page,
    wrong_passwords_are_throttled,
    account_page,
    view_users_and_token_cookies,
    passkey_endpoints_refuse_bad_input,
    a_fresh_token_is_not_a_sign_in,
);

async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Srv) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run_with(
        backend,
        |c| c.web.redirect_uris = vec![APP.to_owned()],
        case,
    )
    .await
}

/// A browser: no automatic redirects, cookies kept by hand.
pub(crate) struct Browser {
    srv: Srv,
    http: Client,
    cookies: Vec<(String, String)>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of a hidden form field.
    pub(crate) fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("{name} in {}", self.body));
        let rest = &self.body[start + marker.len()..];
        // As a browser reads it: HTML character references decoded.
        rest[..rest.find('"').unwrap()]
            .replace("&#34;", "\"")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#38;", "&")
            .replace("&amp;", "&")
    }
}

impl Browser {
    pub(crate) fn new(srv: &Srv) -> Self {
        Self {
            srv: srv.clone(),
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    /// A cookie by its base name (`Secure` cookies carry the `__Host-` prefix).
    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        let name = format!("__Host-{name}");
        self.cookies
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let text = v.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (k, v) = pair.split_once('=').unwrap();
            assert!(
                attrs.contains("HttpOnly") && attrs.contains("SameSite=Lax"),
                "{text}"
            );
            assert!(
                attrs.contains("Secure"),
                "cookies are Secure by default: {text}"
            );
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let res = req
            .header("Cookie", cookie.join("; "))
            .send()
            .await
            .unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        self.keep(&headers);
        let body = res.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(self.srv.url(path));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.http.post(self.srv.url(path)).form(form);
        self.send(req).await
    }

    /// Opens the sign-in page and submits it.
    pub(crate) async fn sign_in(&mut self, query: &str, who: &str, password: &str) -> Page {
        let page = self.get(&format!("/login{query}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let form = [
            ("csrf", page.field("csrf")),
            ("redirect_uri", page.field("redirect_uri")),
            ("state", page.field("state")),
            ("resume", page.field("resume")),
            ("identifier", who.to_owned()),
            ("password", password.to_owned()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post("/login", &form).await
    }
}

async fn sign_in_and_out(srv: Srv) {
    srv.user("ann@example.com", Role::User).await;
    let mut b = Browser::new(&srv);
    let page = b.get("/login").await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    // The form's token is the cookie's.
    assert_eq!(Some(page.field("csrf").as_str()), b.cookie("aegis_csrf"));
    assert!(page.body.contains("id=\"login-form\""));

    // A wrong password shows the form again, with the identifier kept.
    let page = b.sign_in("", "ann@example.com", "wrong password").await;
    assert_eq!(page.status, 401);
    assert!(
        page.body.contains("Invalid username, password or code."),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"ann@example.com\""));
    assert!(b.cookie("aegis_session").is_none());

    // The right one: the session cookie, then the account page.
    let page = b.sign_in("", "ANN@example.com", PASSWORD).await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/account")
    );
    let token = b.cookie("aegis_session").unwrap().to_owned();
    let account = b.get("/account").await;
    assert_eq!(account.status, 200, "{}", account.body);
    assert!(account
        .body
        .contains("<strong id=\"who\">ann@example.com</strong>"));
    // The session is the same on every dialect.
    assert_eq!(srv.get_bearer("/auth/me", &token).await.status(), 200);

    // Signing out ends it everywhere and forgets the cookie.
    let csrf = account.field("csrf");
    let out = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (out.status, out.location()),
        (StatusCode::SEE_OTHER, "/login")
    );
    assert!(b.cookie("aegis_session").is_none());
    assert_eq!(srv.get_bearer("/auth/me", &token).await.status(), 401);
    let page = b.get("/account").await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/login")
    );
}

async fn csrf_and_bad_forms_are_refused(srv: Srv) {
    srv.user("bob@example.com", Role::User).await;
    let form = [
        ("csrf", "forged"),
        ("identifier", "bob@example.com"),
        ("password", PASSWORD),
    ];
    // No cookie at all (another site's form).
    let mut b = Browser::new(&srv);
    let page = b.post("/login", &form).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(b.cookie("aegis_session").is_none());
    // A cookie, but not the token in the form.
    b.get("/login").await;
    let page = b.post("/login", &form).await;
    assert_eq!(page.status, 403, "{}", page.body);
    let csrf = b.cookie("aegis_csrf").unwrap().to_owned();
    let page = b.post("/logout", &[("csrf", "nope")]).await;
    assert_eq!(page.status, 403);
    // No token in the form at all, or not a form.
    let page = b.post("/login", &[("identifier", "bob@example.com")]).await;
    assert_eq!(page.status, 403);
    let req = b.http.post(srv.url("/login")).json(&json!({"csrf": csrf}));
    let page = b.send(req).await;
    assert_eq!(page.status, 400, "{}", page.body);
    // Hostile input is escaped, never echoed raw.
    let page = b
        .get("/login?state=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
        .await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>"), "{}", page.body);
}

async fn redirects_only_to_registered_applications(srv: Srv) {
    srv.user("cat@example.com", Role::User).await;
    let client = service_token(&srv, "app@example.com", Role::User).await;
    let mut b = Browser::new(&srv);
    // Not registered: refused outright, with or without a sign-in.
    for evil in [
        "https://evil.example/callback",
        "https://app.example/callback/../x",
        "https://app.example/callbackx",
        "//evil.example",
    ] {
        let q = serde_urlencoded::to_string([("redirect_uri", evil), ("state", "s")]).unwrap();
        let page = b.get(&format!("/login?{q}")).await;
        assert_eq!(page.status, 400, "{evil}");
        assert!(page.location().is_empty());
    }
    let csrf = b.cookie("aegis_csrf").unwrap_or_default().to_owned();
    let page = b.get("/login").await;
    let csrf = if csrf.is_empty() {
        page.field("csrf")
    } else {
        csrf
    };
    let page = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("redirect_uri", "https://evil.example/callback"),
                ("identifier", "cat@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location().is_empty() && b.cookie("aegis_session").is_none());

    // Registered: back to the application with a code and the state.
    let q = serde_urlencoded::to_string([("redirect_uri", APP), ("state", "x y&z")]).unwrap();
    let page = b
        .sign_in(&format!("?{q}"), "cat@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location().to_owned();
    let query = location.strip_prefix(&format!("{APP}?")).unwrap();
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    assert_eq!(params[0].0, "code");
    assert_eq!(params[1], ("state".to_owned(), "x y&z".to_owned()));
    let code = &params[0].1;
    assert!(code.starts_with("pmc_") && code.len() == 36, "{code}");

    // The application exchanges the code once for the user's tokens.
    let r = v2(&srv, "/v2/client/userinfo", &client, json!({"code": code})).await;
    let result = ok(&r);
    let access = result["active_token"]["token"].as_str().unwrap();
    assert_eq!(result["active_token"]["email"], "cat@example.com");
    assert_eq!(srv.get_bearer("/auth/me", access).await.status(), 200);
    let again = v2(&srv, "/v2/client/userinfo", &client, json!({"code": code})).await;
    status(&again, 400, "InvalidCode");
}

async fn second_factor_page(srv: Srv) {
    srv.user("dee@example.com", Role::User).await;
    // Enroll TOTP through the core.
    let token = srv.argon_login("dee@example.com").await;
    let me = srv.state.aegis.authenticate(&token).await.unwrap();
    let e = srv.state.aegis.begin_totp(&me).await.unwrap();
    let secret = TotpSecret::from_base32(&e.secret).unwrap();
    let now = || srv.state.aegis.now().timestamp() as u64;
    srv.state
        .aegis
        .confirm_totp(&me, e.id, &secret.code_at(now()).unwrap())
        .await
        .unwrap();
    srv.clock.advance(TOTP_STEP as i64);

    let mut b = Browser::new(&srv);
    let page = b.sign_in("", "dee@example.com", PASSWORD).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"otp-form\""), "{}", page.body);
    assert!(
        b.cookie("aegis_session").is_none(),
        "no session before the code"
    );
    let (csrf, ticket) = (page.field("csrf"), page.field("ticket"));
    assert!(!page.body.contains(PASSWORD));

    let page = b
        .post(
            "/login/otp",
            &[("csrf", &csrf), ("ticket", &ticket), ("otp", "000000")],
        )
        .await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("id=\"otp-form\""));
    // A forged ticket is just a failure.
    let page = b
        .post(
            "/login/otp",
            &[("csrf", &csrf), ("ticket", "AAAA"), ("otp", "123456")],
        )
        .await;
    assert_eq!(page.status, 401);
    let code = secret.code_at(now()).unwrap();
    let page = b
        .post(
            "/login/otp",
            &[("csrf", &csrf), ("ticket", &ticket), ("otp", &code)],
        )
        .await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/account")
    );
    assert!(b.cookie("aegis_session").is_some());
    // Signing in rotated the CSRF token: the old one is refused now.
    let page = b
        .post(
            "/login/otp",
            &[("csrf", &csrf), ("ticket", &ticket), ("otp", &code)],
        )
        .await;
    assert_eq!(page.status, 403);
    let csrf = b.cookie("aegis_csrf").unwrap().to_owned();
    // The same code cannot serve twice.
    let page = b
        .post(
            "/login/otp",
            &[("csrf", &csrf), ("ticket", &ticket), ("otp", &code)],
        )
        .await;
    assert_eq!(page.status, 401);
    // The ticket ages out after five minutes.
    srv.clock.advance(301);
    let code = secret.code_at(now()).unwrap();
    let page = b
        .post(
            "/login/otp",
            &[("csrf", &csrf), ("ticket", &ticket), ("otp", &code)],
        )
        .await;
    assert_eq!(page.status, 401);
}

async fn wrong_passwords_are_throttled(srv: Srv) {
    srv.user("eve@example.com", Role::User).await;
    let mut b = Browser::new(&srv);
    let limit = srv.state.aegis.config().throttle.account_failures;
    for _ in 0..limit {
        let page = b.sign_in("", "eve@example.com", "wrong password").await;
        assert_eq!(page.status, 401);
    }
    let page = b.sign_in("", "eve@example.com", PASSWORD).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.headers.contains_key("retry-after"));
    assert!(page.body.contains("Too many failed attempts"));
    // The lock is the core's: the API login is locked too.
    let r = srv
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "eve@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 429);
}

async fn account_page(srv: Srv) {
    srv.user("fay@example.com", Role::User).await;
    let mut b = Browser::new(&srv);
    let page = b.sign_in("", "fay@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = b.get("/account").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("id=\"recovery-left\">0<"),
        "{}",
        page.body
    );
    let csrf = page.field("csrf");

    // Enroll TOTP: a QR code and the key, confirmed by a code.
    let page = b.post("/account/totp", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg"), "{}", page.body);
    let key = {
        let start = page.body.find("id=\"totp-secret\">").unwrap() + "id=\"totp-secret\">".len();
        page.body[start..start + 32].to_owned()
    };
    let secret = TotpSecret::from_base32(&key).unwrap();
    let id = page.field("id");
    let now = || srv.state.aegis.now().timestamp() as u64;
    let page = b
        .post(
            "/account/totp/confirm",
            &[("csrf", &csrf), ("id", &id), ("code", "000000")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("The code is not valid"), "{}", page.body);
    let code = secret.code_at(now()).unwrap();
    let page = b
        .post(
            "/account/totp/confirm",
            &[("csrf", &csrf), ("id", &id), ("code", &code)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Authenticator app added"));
    assert!(page.body.contains("class=\"factor\""));
    // The API login now wants the code.
    let r = srv
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "fay@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 401);

    // Recovery codes, shown once, each good for one API login.
    let page = b.post("/account/recovery", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 200);
    let start = page.body.find("<ul class=\"codes\">").unwrap();
    let first = &page.body[start..];
    let first = &first[first.find("<code>").unwrap() + 6..];
    let first = first[..first.find('<').unwrap()].to_owned();
    assert_eq!(first.len(), 11, "{first}");
    assert!(page.body.contains("id=\"recovery-left\">10<"));
    let r = srv
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "fay@example.com", "password": PASSWORD, "otp": first})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let other = r.body["token"].as_str().unwrap().to_owned();
    let page = b.get("/account").await;
    assert!(page.body.contains("id=\"recovery-left\">9<"));

    // Sessions: this one and the API one; ending the other works at once.
    assert_eq!(
        page.body.matches("class=\"session\"").count(),
        2,
        "{}",
        page.body
    );
    assert!(page.body.contains("(this one)"));
    let other_sid = srv.state.aegis.authenticate(&other).await.unwrap();
    let other_sid = match other_sid.credential {
        aegis_core::Credential::Session { sid, .. } => sid.to_string(),
        _ => unreachable!(),
    };
    let page = b
        .post(
            "/account/sessions/end",
            &[("csrf", &csrf), ("id", &other_sid)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Session ended."));
    assert_eq!(srv.get_bearer("/auth/me", &other).await.status(), 401);
    // Someone else's session id: refused, nothing ended.
    let page = b
        .post(
            "/account/sessions/end",
            &[("csrf", &csrf), ("id", &uuid::Uuid::now_v7().to_string())],
        )
        .await;
    assert_eq!(page.status, 400);

    // Password change: the current one is required.
    let page = b
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", "nope nope"),
                ("new", "a new long passphrase"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("The current password is not right."),
        "{}",
        page.body
    );
    let page = b
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", "a new long passphrase"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Password changed."));

    // Removing the authenticator app lifts the second factor.
    let page = b.get("/account").await;
    let id = page.field("id");
    let page = b
        .post("/account/factors/remove", &[("csrf", &csrf), ("id", &id)])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("class=\"factor\""));
    let r = srv
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"username": "fay@example.com", "password": "a new long passphrase"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Every change needs the form's token.
    let page = b.post("/account/recovery", &[("csrf", "forged")]).await;
    assert_eq!(page.status, 403);
}

async fn view_users_and_token_cookies(srv: Srv) {
    srv.user("vic@example.com", Role::View).await;
    let mut b = Browser::new(&srv);
    let page = b.sign_in("", "vic@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // A read-only role manages no second factors: the page leaves them out.
    let page = b.get("/account").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("id=\"factors\""));
    let csrf = page.field("csrf");
    let page = b.post("/account/totp", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 400, "{}", page.body);
    // An API token put in the session cookie is not a sign-in.
    let token = crate::pangea::service_token(&srv, "tok@example.com", Role::Admin).await;
    let res = b
        .http
        .get(srv.url("/account"))
        .header("Cookie", format!("__Host-aegis_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn passkey_endpoints_refuse_bad_input(srv: Srv) {
    srv.user("pia@example.com", Role::User).await;
    let mut b = Browser::new(&srv);
    let page = b.get("/login").await;
    let csrf = page.field("csrf");
    let json = |p: &Page| serde_json::from_str::<serde_json::Value>(&p.body).unwrap();

    // Without the CSRF token: refused before anything else.
    let p = b
        .post("/login/passkey/begin", &[("identifier", "pia@example.com")])
        .await;
    assert_eq!(p.status, 403);
    // issue 15 §2: every identifier gets the same answer (a discoverable
    // ceremony; nothing about the account is looked up or told), an account
    // without a passkey, an unknown one and none at all (usernameless).
    let mut shapes = Vec::new();
    for who in ["pia@example.com", "nobody@example.com", ""] {
        let p = b
            .post(
                "/login/passkey/begin",
                &[("csrf", &csrf), ("identifier", who)],
            )
            .await;
        assert_eq!(p.status, 200, "{who}: {}", p.body);
        let begun = json(&p);
        let options = &begun["options"];
        assert!(options.get("mediation").is_none(), "{options}");
        let public = &options["publicKey"];
        assert!(
            public["allowCredentials"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "{public}"
        );
        assert_eq!(public["userVerification"], "required");
        let mut keys: Vec<String> = public.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let state = begun["state"].as_str().unwrap();
        // The sealed state names nobody in the clear.
        assert!(!state.contains('.'), "{state}");
        shapes.push(keys);
    }
    assert!(shapes.windows(2).all(|w| w[0] == w[1]), "{shapes:?}");
    // Forged ceremonies and answers are failures, not errors.
    for (ceremony, credential) in [("", ""), ("x.y", "{}"), ("0.AAAA", "not json")] {
        let p = b
            .post(
                "/login/passkey/finish",
                &[
                    ("csrf", &csrf),
                    ("ceremony", ceremony),
                    ("credential", credential),
                ],
            )
            .await;
        assert_eq!(p.status, 401, "{}", p.body);
    }
    assert!(b.cookie("aegis_session").is_none());

    // Registration needs a signed-in, recent session.
    let p = b.post("/account/passkey/begin", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 401);
    b.sign_in("", "pia@example.com", PASSWORD).await;
    let csrf = b.cookie("aegis_csrf").unwrap().to_owned();
    let p = b.post("/account/passkey/begin", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let begun = json(&p);
    let options = &begun["options"]["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert!(options["challenge"].as_str().unwrap().len() >= 43);
    // A discoverable credential, for sign-ins that name no account.
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    let ceremony = begun["state"].as_str().unwrap().to_owned();
    let p = b
        .post(
            "/account/passkey/finish",
            &[
                ("csrf", &csrf),
                ("ceremony", &ceremony),
                ("credential", "{}"),
                ("name", "k"),
            ],
        )
        .await;
    assert_eq!(p.status, 400, "{}", p.body);
    // Another user's ceremony is no use, nor a stale session.
    srv.clock.advance(601);
    let p = b.post("/account/passkey/begin", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(srv
        .state
        .aegis
        .factors(
            srv.state
                .aegis
                .authenticate(b.cookie("aegis_session").unwrap())
                .await
                .unwrap()
                .user
                .id
        )
        .await
        .unwrap()
        .is_empty());
}

/// The session behind a session token.
async fn session_of(srv: &Srv, token: &str) -> aegis_core::session::Session {
    let principal = srv.state.aegis.authenticate(token).await.unwrap();
    let aegis_core::Credential::Session { sid, .. } = principal.credential else {
        panic!("not a session token");
    };
    srv.state
        .aegis
        .store()
        .find_session(sid)
        .await
        .unwrap()
        .unwrap()
}

/// issue 15 §1: the fresh token an Argon profile change answers with replaces
/// the caller's session; it keeps that session's sign-in time, second-factor
/// state and absolute end, so an old (or stolen) token cannot rename itself
/// into a "recent" session and change second factors on `/account`, nor
/// outlive its session, and no rename hands a session to a user whose
/// password has expired.
async fn a_fresh_token_is_not_a_sign_in(srv: Srv) {
    let user = srv.user("gus@example.com", Role::User).await;
    let login = srv
        .post(
            "/api/auth/login",
            json!({"username": "gus@example.com", "password": PASSWORD}),
        )
        .await;
    let (status, body) = crate::harness::parts(login).await;
    assert_eq!(status, 200, "{body}");
    let original = body["token"].as_str().unwrap().to_owned();
    let rename = |name: &'static str| {
        let srv = srv.clone();
        let token = original.clone();
        async move {
            srv.call(
                "PUT",
                "/api/auth/profile",
                Some(&token),
                Some(json!({"newUsername": name})),
            )
            .await
        }
    };
    // The account page with a token as its session cookie, as a browser
    // (or an attacker who set the cookie) would send it.
    let begin_totp = |token: String| {
        let srv = srv.clone();
        async move {
            let mut b = Browser::new(&srv);
            b.cookies = vec![
                ("__Host-aegis_session".into(), token),
                ("__Host-aegis_csrf".into(), "c".repeat(43)),
            ];
            b.post("/account/totp", &[("csrf", &"c".repeat(43))]).await
        }
    };

    // Within the window, the replacement may change second factors (the
    // check below is not vacuous).
    let r = rename("gus1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = r.body["token"].as_str().unwrap().to_owned();
    let page = begin_totp(fresh).await;
    assert!(page.body.contains("<svg"), "{}", page.body);

    // Eleven minutes on, a rename is not a sign-in.
    srv.clock.advance(660);
    let r = rename("gus2").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let renamed = r.body["token"].as_str().unwrap().to_owned();
    let page = begin_totp(renamed.clone()).await;
    assert!(!page.body.contains("<svg"), "{}", page.body);
    assert!(
        page.body.contains("Not allowed from this session"),
        "{}",
        page.body
    );
    let (before, after) = (
        session_of(&srv, &original).await,
        session_of(&srv, &renamed).await,
    );
    assert_ne!(before.id, after.id);
    assert_eq!(
        after.created_at, before.created_at,
        "the sign-in time carries over"
    );
    assert_eq!(
        after.expires_at, before.expires_at,
        "the absolute end carries over"
    );
    assert!(!after.second_factor);

    // An expired password: the rename opens no session and changes nothing.
    let admin = aegis_core::Actor::System;
    srv.state
        .aegis
        .expire_password(&admin, user.id)
        .await
        .unwrap();
    let r = rename("gus3").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body, json!({"error": "Password expired"}));
    let stored = srv
        .state
        .aegis
        .store()
        .find_user(user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.username.as_str(), "gus2");
}

/// `web.reauth_window_s` sets how recent a sign-in must be on `/account`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reauth_window_is_configurable() {
    run_with(
        Backend::Sqlite,
        |c| c.web.reauth_window_s = 60,
        |srv| async move {
            srv.user("hal@example.com", Role::User).await;
            let mut b = Browser::new(&srv);
            b.sign_in("", "hal@example.com", PASSWORD).await;
            let csrf = b.get("/account").await.field("csrf");
            srv.clock.advance(61);
            let page = b.post("/account/totp", &[("csrf", &csrf)]).await;
            assert!(
                page.body.contains("Not allowed from this session"),
                "{}",
                page.body
            );
            b.sign_in("", "hal@example.com", PASSWORD).await;
            let csrf = b.get("/account").await.field("csrf");
            let page = b.post("/account/totp", &[("csrf", &csrf)]).await;
            assert!(page.body.contains("<svg"), "{}", page.body);
        },
    )
    .await
}
