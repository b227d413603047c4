//! The OpenID Connect provider over HTTP, both backends: discovery, the code
//! flow through the hosted sign-in with PKCE, consent, refresh rotation and
//! reuse, client credentials, introspection, revocation, RP-initiated logout,
//! and every refusal the issue lists. (Real relying-party libraries drive it
//! in tests/browser/oidc.test.mjs and tests/oidc/test_authlib.py.)

use aegis_core::keys::SigningAlg;
use aegis_core::oidc::Grant;
use aegis_core::service::oidc::NewClient;
use aegis_core::service::UserChange;
use aegis_core::{Actor, Role};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::harness::{parts, run_with, Backend, Srv, PASSWORD};
use crate::web::{Browser, Page};

const ISSUER: &str = "https://id.example.test";
const CB: &str = "https://rp.example/cb";
const LOGGED_OUT: &str = "https://rp.example/bye";

macro_rules! oidc_cases {
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

oidc_cases!(
    discovery_and_keys,
    code_flow_with_pkce,
    authorization_refusals,
    token_refusals,
    refresh_rotation_and_reuse,
    client_credentials_and_introspection,
    consent_is_asked_remembered_and_revoked,
    prompt_max_age_and_acr,
    rp_initiated_logout,
    client_sessions_are_sessions,
    a_sign_out_ends_the_applications_sessions,
    scopes_are_what_was_granted,
);

async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Srv) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run_with(
        backend,
        |c| {
            c.public_url = Some(ISSUER.into());
            c.core.oidc.enabled = true;
        },
        case,
    )
    .await
}

struct Rp {
    id: String,
    secret: Option<String>,
}

async fn rp(srv: &Srv, public: bool, first_party: bool, grants: &[Grant], alg: SigningAlg) -> Rp {
    let made = srv
        .state
        .aegis
        .create_client(
            &Actor::System,
            NewClient {
                name: "Test app".into(),
                redirect_uris: vec![CB.into(), "http://127.0.0.1/native".into()],
                post_logout_redirect_uris: vec![LOGGED_OUT.into()],
                public,
                first_party,
                grants: grants.to_vec(),
                id_token_alg: alg,
                jwks: None,
                scopes: vec!["reports:read".into()],
            },
        )
        .await
        .unwrap();
    Rp {
        id: made.client.id,
        secret: made.secret,
    }
}

async fn web_rp(srv: &Srv) -> Rp {
    rp(srv, false, true, &[], SigningAlg::Rs256).await
}

fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_bytes() -> [u8; 32] {
    rand::random()
}

fn authorize_path(client: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("client_id", client),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("scope", "openid profile email groups"),
        ("state", "st-1"),
        ("nonce", "n-1"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        params.push((k, v));
    }
    format!(
        "/oauth2/authorize?{}",
        serde_urlencoded::to_string(&params).unwrap()
    )
}

/// The query of a redirect to the client.
fn answer(location: &str) -> Value {
    let (base, query) = location.split_once('?').unwrap_or((location, ""));
    assert!(
        base == CB || base.starts_with("http://127.0.0.1"),
        "{location}"
    );
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    Value::Object(pairs.into_iter().map(|(k, v)| (k, json!(v))).collect())
}

/// Runs an authorization through the sign-in (when asked) to its redirect
/// back to the client; returns the last page.
async fn authorize(b: &mut Browser, path: &str, who: &str) -> Page {
    let mut page = b.get(path).await;
    if page.status == 303 && page.location().starts_with("/login?") {
        let query = page.location().trim_start_matches("/login").to_owned();
        let signed = b.sign_in(&query, who, PASSWORD).await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        assert!(
            signed.location().starts_with("/oauth2/authorize/resume?"),
            "{}",
            signed.location()
        );
        page = b.get(signed.location()).await;
    }
    page
}

async fn code_for(b: &mut Browser, client: &str, who: &str, extra: &[(&str, &str)]) -> String {
    let page = authorize(b, &authorize_path(client, extra), who).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let a = answer(page.location());
    assert_eq!(a["iss"], ISSUER, "RFC 9207: iss in every answer");
    a["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{a}"))
        .to_owned()
}

async fn token(srv: &Srv, rp: &Rp, form: &[(&str, &str)]) -> (u16, Value) {
    let mut req = srv.http.post(srv.url("/oauth2/token")).form(form);
    if let Some(secret) = &rp.secret {
        req = req.basic_auth(&rp.id, Some(secret));
    }
    parts(req.send().await.unwrap()).await
}

async fn exchange(srv: &Srv, rp: &Rp, code: &str, verifier: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    if rp.secret.is_none() {
        form.push(("client_id", &rp.id));
    }
    token(srv, rp, &form).await
}

/// Verifies a JWT against the published JWKS and returns its claims.
async fn verified(srv: &Srv, jwt: &str, aud: &str) -> (jsonwebtoken::Header, Value) {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let (_, jwks) = parts(
        srv.http
            .get(srv.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let set: JwkSet = serde_json::from_value(jwks).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[ISSUER]);
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims;
    (header, claims)
}

async fn userinfo(srv: &Srv, access: &str) -> (u16, Value) {
    parts(srv.get_bearer("/oauth2/userinfo", access).await).await
}

async fn discovery_and_keys(srv: Srv) {
    let (status, d) = parts(
        srv.http
            .get(srv.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(d["issuer"], ISSUER);
    assert_eq!(
        d["authorization_endpoint"],
        format!("{ISSUER}/oauth2/authorize")
    );
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["response_modes_supported"], json!(["query", "form_post"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    let algs = d["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert_eq!(algs, &vec![json!("RS256"), json!("EdDSA"), json!("ES256")]);
    assert!(!algs.contains(&json!("none")));
    for g in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(d["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(g)));
    }
    let (_, jwks) = parts(
        srv.http
            .get(srv.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let kinds: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].as_str().unwrap())
        .collect();
    for kty in ["RSA", "EC", "OKP"] {
        assert!(kinds.contains(&kty), "{jwks}");
    }
}

async fn code_flow_with_pkce(srv: Srv) {
    let user = srv.user("ann@example.com", Role::User).await;
    for alg in [SigningAlg::Rs256, SigningAlg::EdDsa, SigningAlg::Es256] {
        let rp = rp(&srv, false, true, &[], alg).await;
        let mut b = Browser::new(&srv);
        let (verifier, challenge) = pkce();
        let extra = [
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let code = code_for(&mut b, &rp.id, "ann@example.com", &extra).await;
        let (status, t) = exchange(&srv, &rp, &code, Some(&verifier)).await;
        assert_eq!(status, 200, "{t}");
        assert_eq!(t["token_type"], "Bearer");
        let (header, id) = verified(&srv, t["id_token"].as_str().unwrap(), &rp.id).await;
        assert_eq!(
            format!("{:?}", header.alg),
            alg.as_str().to_uppercase().replace("EDDSA", "EdDSA")
        );
        assert_eq!(id["sub"], user.id.to_string());
        assert_eq!(id["nonce"], "n-1");
        assert_eq!(id["email"], "ann@example.com");
        assert_eq!(id["acr"], "urn:aegis:acr:pwd");
        for claim in [
            "auth_time",
            "iat",
            "exp",
            "sid",
            "amr",
            "preferred_username",
        ] {
            assert!(id.get(claim).is_some(), "{claim} in {id}");
        }
        // The access token is the client's: UserInfo takes it, aegis's own APIs do not.
        let access = t["access_token"].as_str().unwrap();
        let (status, info) = userinfo(&srv, access).await;
        assert_eq!(status, 200, "{info}");
        assert_eq!(info["sub"], user.id.to_string());
        assert_eq!(info["groups"], json!([]));
        assert_eq!(srv.get_bearer("/auth/me", access).await.status(), 401);
        assert_eq!(srv.get_bearer("/me", access).await.status(), 401);
        // A second use of the code fails and ends what the first one issued.
        let (status, again) = exchange(&srv, &rp, &code, Some(&verifier)).await;
        assert_eq!(
            (status, again["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(userinfo(&srv, access).await.0, 401);
        // SSO: the browser session serves the next authorization without a sign-in.
        let page = b.get(&authorize_path(&rp.id, &extra)).await;
        assert_eq!(page.status, 303);
        assert!(page.location().starts_with(CB), "{}", page.location());
    }
    // form_post: an auto-submitting form to the redirect URI.
    let rp = web_rp(&srv).await;
    let mut b = Browser::new(&srv);
    let page = authorize(
        &mut b,
        &authorize_path(&rp.id, &[("response_mode", "form_post")]),
        "ann@example.com",
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("action=\"{CB}\"")),
        "{}",
        page.body
    );
    let code = page.field("code");
    assert_eq!(page.field("iss"), ISSUER);
    assert_eq!(exchange(&srv, &rp, &code, None).await.0, 200);
    // A native app's loopback redirect URI matches on any port.
    let path = authorize_path(&rp.id, &[("redirect_uri", "http://127.0.0.1:49152/native")]);
    let page = b.get(&path).await;
    assert_eq!(page.status, 303);
    assert!(
        page.location()
            .starts_with("http://127.0.0.1:49152/native?code="),
        "{}",
        page.location()
    );
}

async fn authorization_refusals(srv: Srv) {
    srv.user("ann@example.com", Role::User).await;
    let rp = web_rp(&srv).await;
    let public = rp_public(&srv).await;
    let mut b = Browser::new(&srv);
    // An unknown client or an unregistered redirect URI: a page, never a redirect.
    for path in [
        authorize_path("oc_nosuchclient", &[]),
        authorize_path(&rp.id, &[("redirect_uri", "https://evil.example/cb")]),
        authorize_path(&rp.id, &[("redirect_uri", "https://rp.example/cb/../x")]),
        authorize_path(&rp.id, &[("redirect_uri", "https://rp.example/cb?x=1")]),
        authorize_path(&rp.id, &[("redirect_uri", "")]),
        "/oauth2/authorize?client_id=a&client_id=b".to_owned(),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.body);
        assert!(page.headers.get("location").is_none(), "{path}");
    }
    // Errors in the request itself go back to the client, with state and iss.
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("response_type", "token")], "unsupported_response_type"),
        (
            &[
                ("code_challenge", "abc"),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            &[(
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            )],
            "invalid_request",
        ),
        (&[("prompt", "none")], "login_required"),
        (&[("prompt", "none login")], "invalid_request"),
        (&[("max_age", "soon")], "invalid_request"),
    ];
    for (extra, error) in cases {
        let page = b.get(&authorize_path(&rp.id, extra)).await;
        assert_eq!(page.status, 303, "{extra:?}");
        let a = answer(page.location());
        assert_eq!(a["error"], error, "{extra:?}: {a}");
        assert_eq!(a["state"], "st-1");
        assert_eq!(a["iss"], ISSUER);
    }
    // A public client must use PKCE.
    let page = b.get(&authorize_path(&public.id, &[])).await;
    assert_eq!(answer(page.location())["error"], "invalid_request");
}

async fn rp_public(srv: &Srv) -> Rp {
    rp(
        srv,
        true,
        true,
        &[Grant::AuthorizationCode],
        SigningAlg::Rs256,
    )
    .await
}

async fn token_refusals(srv: Srv) {
    let user = srv.user("ann@example.com", Role::User).await;
    let a = web_rp(&srv).await;
    let other = web_rp(&srv).await;
    let public = rp_public(&srv).await;
    let mut b = Browser::new(&srv);
    let (verifier, challenge) = pkce();
    let extra = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // PKCE mismatch, and the code is then spent.
    let code = code_for(&mut b, &a.id, "ann@example.com", &extra).await;
    let (_, wrong) = pkce();
    let (status, e) = exchange(&srv, &a, &code, Some(&wrong)).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(exchange(&srv, &a, &code, Some(&verifier)).await.0, 400);
    // A verifier for a code issued without a challenge.
    let code = code_for(&mut b, &a.id, "ann@example.com", &[]).await;
    assert_eq!(exchange(&srv, &a, &code, Some(&verifier)).await.0, 400);
    // Client A's code at client B.
    let code = code_for(&mut b, &a.id, "ann@example.com", &[]).await;
    let (status, e) = exchange(&srv, &other, &code, None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    // An expired code.
    let code = code_for(&mut b, &a.id, "ann@example.com", &[]).await;
    srv.clock.advance(61);
    assert_eq!(
        exchange(&srv, &a, &code, None).await.1["error"],
        "invalid_grant"
    );
    // A redirect URI that differs from the request's.
    let code = code_for(&mut b, &a.id, "ann@example.com", &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://rp.example/other"),
    ];
    assert_eq!(token(&srv, &a, &form).await.1["error"], "invalid_grant");
    // A wrong secret: 401 invalid_client with a Basic challenge.
    let res = srv
        .http
        .post(srv.url("/oauth2/token"))
        .basic_auth(&a.id, Some("ocs_wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(parts(res).await.1["error"], "invalid_client");
    // Two authentication methods at once, an unknown grant, a grant not allowed.
    let secret = a.secret.clone().unwrap();
    let both = [
        ("grant_type", "authorization_code"),
        ("client_secret", secret.as_str()),
    ];
    assert_eq!(token(&srv, &a, &both).await.1["error"], "invalid_request");
    assert_eq!(
        token(&srv, &a, &[("grant_type", "password")]).await.1["error"],
        "unsupported_grant_type"
    );
    assert_eq!(
        token(&srv, &a, &[("grant_type", "client_credentials")])
            .await
            .1["error"],
        "unauthorized_client"
    );
    // A public client cannot pass for a confidential one, nor skip PKCE's verifier.
    let (pv, pc) = pkce();
    let code = code_for(
        &mut b,
        &public.id,
        "ann@example.com",
        &[("code_challenge", &pc), ("code_challenge_method", "S256")],
    )
    .await;
    assert_eq!(
        exchange(&srv, &public, &code, None).await.1["error"],
        "invalid_grant"
    );
    let code = code_for(
        &mut b,
        &public.id,
        "ann@example.com",
        &[("code_challenge", &pc), ("code_challenge_method", "S256")],
    )
    .await;
    assert_eq!(exchange(&srv, &public, &code, Some(&pv)).await.0, 200);
    // An inactive user's code is refused.
    let code = code_for(&mut b, &a.id, "ann@example.com", &[]).await;
    let change = UserChange {
        active: Some(false),
        role: None,
    };
    srv.state
        .aegis
        .update_user(&Actor::System, user.id, change)
        .await
        .unwrap();
    assert_eq!(
        exchange(&srv, &a, &code, None).await.1["error"],
        "invalid_grant"
    );
    // Unreadable bodies are clean 400s.
    let res = srv
        .http
        .post(srv.url("/oauth2/token"))
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

async fn refresh_rotation_and_reuse(srv: Srv) {
    srv.user("ann@example.com", Role::User).await;
    let rp = web_rp(&srv).await;
    let mut b = Browser::new(&srv);
    let code = code_for(
        &mut b,
        &rp.id,
        "ann@example.com",
        &[("scope", "openid offline_access")],
    )
    .await;
    let (_, t) = exchange(&srv, &rp, &code, None).await;
    let first = t["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        let srv = srv.clone();
        let rp = Rp {
            id: rp.id.clone(),
            secret: rp.secret.clone(),
        };
        async move {
            token(
                &srv,
                &rp,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await
        }
    };
    let (status, t2) = refresh(first.clone()).await;
    assert_eq!(status, 200, "{t2}");
    let second = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert!(t2["id_token"].is_string());
    // aegis's own refresh endpoints do not take a client's refresh token.
    let r = srv
        .call(
            "POST",
            "/auth/refresh",
            None,
            Some(json!({"refresh_token": second})),
        )
        .await;
    assert_ne!(r.status, 200, "{}", r.body);
    // Reuse of the first ends the family: the second dies too.
    assert_eq!(refresh(first).await.1["error"], "invalid_grant");
    assert_eq!(refresh(second).await.1["error"], "invalid_grant");
    assert_eq!(
        userinfo(&srv, t2["access_token"].as_str().unwrap()).await.0,
        401
    );
}

async fn client_credentials_and_introspection(srv: Srv) {
    srv.user("ann@example.com", Role::User).await;
    let service = rp(
        &srv,
        false,
        false,
        &[Grant::ClientCredentials],
        SigningAlg::Rs256,
    )
    .await;
    let web = web_rp(&srv).await;
    let secret = service.secret.clone().unwrap();
    // client_secret_post
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", service.id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", "reports:read"),
    ];
    let (status, t) = parts(
        srv.http
            .post(srv.url("/oauth2/token"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
    assert_eq!(t["scope"], "reports:read");
    let access = t["access_token"].as_str().unwrap().to_owned();
    let (_, claims) = verified(&srv, &access, &service.id).await;
    assert_eq!(claims["sub"], service.id);
    assert_eq!(
        userinfo(&srv, &access).await.0,
        401,
        "no user behind a service token"
    );
    let introspect = |rp: &Rp, tok: &str| {
        let req = srv
            .http
            .post(srv.url("/oauth2/introspect"))
            .basic_auth(&rp.id, rp.secret.as_deref())
            .form(&[("token", tok)]);
        async move { parts(req.send().await.unwrap()).await }
    };
    let (status, i) = introspect(&service, &access).await;
    assert_eq!(status, 200);
    assert_eq!(
        (i["active"].as_bool(), i["client_id"].as_str()),
        (Some(true), Some(service.id.as_str()))
    );
    // Another client's token is inactive to it; no client authentication is 401.
    assert_eq!(introspect(&web, &access).await.1, json!({"active": false}));
    let res = srv
        .http
        .post(srv.url("/oauth2/introspect"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // A user's tokens: active until revoked, then every token of the session is dead.
    let mut b = Browser::new(&srv);
    let code = code_for(
        &mut b,
        &web.id,
        "ann@example.com",
        &[("scope", "openid offline_access")],
    )
    .await;
    let (_, t) = exchange(&srv, &web, &code, None).await;
    let (at, rt) = (
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(introspect(&web, rt).await.1["active"], true);
    assert_eq!(introspect(&web, at).await.1["active"], true);
    let revoke = srv
        .http
        .post(srv.url("/oauth2/revoke"))
        .basic_auth(&web.id, web.secret.as_deref())
        .form(&[("token", rt)]);
    assert_eq!(revoke.send().await.unwrap().status(), 200);
    assert_eq!(introspect(&web, at).await.1["active"], false);
    assert_eq!(introspect(&web, rt).await.1["active"], false);
    assert_eq!(userinfo(&srv, at).await.0, 401);
    // Grants are counted by type and outcome.
    let text = crate::metrics::scrape(&srv).await;
    for (kind, outcome) in [
        ("client_credentials", "success"),
        ("authorization_code", "success"),
    ] {
        let labels = [("grant_type", kind), ("outcome", outcome)];
        let n = crate::metrics::sample(&text, "aegis_oidc_grants_total", &labels);
        assert!(n.is_some_and(|n| n >= 1.0), "{kind} {outcome}: {text}");
    }
    // Unknown tokens are revoked "successfully" (RFC 7009).
    let again = srv
        .http
        .post(srv.url("/oauth2/revoke"))
        .basic_auth(&web.id, web.secret.as_deref())
        .form(&[("token", "nonsense")]);
    assert_eq!(again.send().await.unwrap().status(), 200);
}

async fn consent_is_asked_remembered_and_revoked(srv: Srv) {
    srv.user("ann@example.com", Role::User).await;
    let third = rp(&srv, false, false, &[], SigningAlg::Rs256).await;
    let mut b = Browser::new(&srv);
    let page = authorize(&mut b, &authorize_path(&third.id, &[]), "ann@example.com").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"allow\"") && page.body.contains("id=\"deny\""));
    assert!(page.body.contains("Test app"));
    // prompt=none cannot ask.
    let none = b
        .get(&authorize_path(&third.id, &[("prompt", "none")]))
        .await;
    assert_eq!(answer(none.location())["error"], "consent_required");
    // Deny.
    let deny = b
        .post(
            "/oauth2/consent",
            &[
                ("csrf", &page.field("csrf")),
                ("resume", &page.field("resume")),
                ("decision", "deny"),
            ],
        )
        .await;
    assert_eq!(answer(deny.location())["error"], "access_denied");
    // A forged post without the CSRF token.
    let forged = b
        .post(
            "/oauth2/consent",
            &[
                ("csrf", "x"),
                ("resume", &page.field("resume")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    // Allow, then remembered.
    let page = b.get(&authorize_path(&third.id, &[])).await;
    let allow = b
        .post(
            "/oauth2/consent",
            &[
                ("csrf", &page.field("csrf")),
                ("resume", &page.field("resume")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert!(answer(allow.location())["code"].is_string());
    let again = b.get(&authorize_path(&third.id, &[])).await;
    assert_eq!(again.status, 303, "remembered");
    // A wider scope asks again; prompt=consent always asks.
    assert_eq!(
        b.get(&authorize_path(&third.id, &[("scope", "openid roles")]))
            .await
            .status,
        200
    );
    assert_eq!(
        b.get(&authorize_path(&third.id, &[("prompt", "consent")]))
            .await
            .status,
        200
    );
    // Listed on /account and revocable there; then asked again.
    let account = b.get("/account").await;
    assert!(
        account.body.contains(&format!("revoke-{}", third.id)),
        "{}",
        account.body
    );
    let revoked = b
        .post(
            "/account/applications/revoke",
            &[("csrf", &account.field("csrf")), ("client_id", &third.id)],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(!revoked.body.contains(&format!("revoke-{}", third.id)));
    assert_eq!(b.get(&authorize_path(&third.id, &[])).await.status, 200);
}

async fn prompt_max_age_and_acr(srv: Srv) {
    srv.user("ann@example.com", Role::User).await;
    let rp = web_rp(&srv).await;
    let mut b = Browser::new(&srv);
    let code = code_for(&mut b, &rp.id, "ann@example.com", &[]).await;
    let (_, t) = exchange(&srv, &rp, &code, None).await;
    let (_, first) = verified(&srv, t["id_token"].as_str().unwrap(), &rp.id).await;
    // prompt=none with a session: straight back with a code.
    let page = b.get(&authorize_path(&rp.id, &[("prompt", "none")])).await;
    assert!(answer(page.location())["code"].is_string());
    // prompt=login and max_age=0 demand a new sign-in, and auth_time moves.
    srv.clock.advance(5);
    for extra in [("prompt", "login"), ("max_age", "0")] {
        let page = b.get(&authorize_path(&rp.id, &[extra])).await;
        assert!(
            page.location().starts_with("/login?"),
            "{extra:?}: {}",
            page.location()
        );
    }
    let code = code_for(&mut b, &rp.id, "ann@example.com", &[("max_age", "0")]).await;
    let (_, t) = exchange(&srv, &rp, &code, None).await;
    let (_, second) = verified(&srv, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert!(second["auth_time"].as_i64() > first["auth_time"].as_i64());
    // max_age long enough: no sign-in.
    let page = b.get(&authorize_path(&rp.id, &[("max_age", "3600")])).await;
    assert!(page.location().starts_with(CB));
    // A second factor demanded of a password-only user: to the sign-in, then denied.
    let path = authorize_path(&rp.id, &[("acr_values", "urn:aegis:acr:mfa")]);
    let page = authorize(&mut b, &path, "ann@example.com").await;
    assert_eq!(answer(page.location())["error"], "access_denied");
    // login_hint prefills the sign-in form.
    let mut fresh = Browser::new(&srv);
    let page = fresh
        .get(&authorize_path(
            &rp.id,
            &[("login_hint", "ann@example.com")],
        ))
        .await;
    let login = fresh.get(page.location()).await;
    assert!(
        login.body.contains("value=\"ann@example.com\""),
        "{}",
        login.body
    );
    // A sealed request that was altered is refused with a page.
    let bad = fresh.get("/oauth2/authorize/resume?request=AAAA").await;
    assert_eq!(bad.status, 400);
}

async fn rp_initiated_logout(srv: Srv) {
    srv.user("ann@example.com", Role::User).await;
    let rp = web_rp(&srv).await;
    let mut b = Browser::new(&srv);
    let code = code_for(&mut b, &rp.id, "ann@example.com", &[]).await;
    let (_, t) = exchange(&srv, &rp, &code, None).await;
    let id_token = t["id_token"].as_str().unwrap();
    let access = t["access_token"].as_str().unwrap();
    // An unregistered post-logout URI is a page, never followed.
    let q = serde_urlencoded::to_string([
        ("id_token_hint", id_token),
        ("post_logout_redirect_uri", "https://evil.example/"),
    ])
    .unwrap();
    let page = b.get(&format!("/oauth2/logout?{q}")).await;
    assert_eq!(page.status, 400);
    // Without a hint: a confirmation page; nothing ends until it is confirmed.
    let page = b.get("/oauth2/logout").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"sign-out\""));
    assert_eq!(userinfo(&srv, access).await.0, 200);
    // With a valid hint: signed out and sent back with state.
    let q = serde_urlencoded::to_string([
        ("id_token_hint", id_token),
        ("post_logout_redirect_uri", LOGGED_OUT),
        ("state", "bye-1"),
    ])
    .unwrap();
    let page = b.get(&format!("/oauth2/logout?{q}")).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), format!("{LOGGED_OUT}?state=bye-1"));
    assert_eq!(userinfo(&srv, access).await.0, 401);
    let none = b.get(&authorize_path(&rp.id, &[("prompt", "none")])).await;
    assert_eq!(answer(none.location())["error"], "login_required");
    // The confirmation page's post signs out too.
    let code = code_for(&mut b, &rp.id, "ann@example.com", &[]).await;
    assert_eq!(exchange(&srv, &rp, &code, None).await.0, 200);
    let page = b.get("/oauth2/logout").await;
    let done = b
        .post(
            "/oauth2/logout",
            &[("csrf", &page.field("csrf")), ("confirm", "1")],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let none = b.get(&authorize_path(&rp.id, &[("prompt", "none")])).await;
    assert_eq!(answer(none.location())["error"], "login_required");
}

async fn client_sessions_are_sessions(srv: Srv) {
    let user = srv.user("ann@example.com", Role::User).await;
    let rp = web_rp(&srv).await;
    let mut b = Browser::new(&srv);
    let code = code_for(&mut b, &rp.id, "ann@example.com", &[]).await;
    let (_, t) = exchange(&srv, &rp, &code, None).await;
    let access = t["access_token"].as_str().unwrap();
    // Listed on /account with the application.
    let account = b.get("/account").await;
    assert!(
        account.body.contains(&format!("application {}", rp.id)),
        "{}",
        account.body
    );
    // A password change anywhere ends it.
    let token = srv.argon_login("ann@example.com").await;
    let r = srv
        .call(
            "POST",
            "/api/auth/profile",
            Some(&token),
            Some(json!({"password": "a new horse battery staple", "currentPassword": PASSWORD})),
        )
        .await;
    if r.status == 200 {
        assert_eq!(
            userinfo(&srv, access).await.0,
            401,
            "ended by the password change"
        );
    } else {
        // Fall back on an admin ending every session of the user.
        srv.state
            .aegis
            .logout_user(&Actor::System, user.id)
            .await
            .unwrap();
        assert_eq!(userinfo(&srv, access).await.0, 401);
    }
    // Deleting the client ends its sessions and refuses its codes.
    let code = code_for(&mut Browser::new(&srv), &rp.id, "ann@example.com", &[]).await;
    srv.state
        .aegis
        .delete_client(&Actor::System, &rp.id)
        .await
        .unwrap();
    assert_eq!(exchange(&srv, &rp, &code, None).await.0, 401);
}

#[tokio::test]
async fn the_provider_is_off_by_default() {
    crate::harness::run(Backend::Sqlite, |srv| async move {
        let res = srv
            .http
            .get(srv.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        let res = srv
            .http
            .post(srv.url("/oauth2/token"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
    })
    .await
}

async fn a_sign_out_ends_the_applications_sessions(srv: Srv) {
    srv.user("ann@example.com", Role::User).await;
    srv.user("bob@example.com", Role::User).await;
    let rp = web_rp(&srv).await;
    let mut b = Browser::new(&srv);
    let code = code_for(
        &mut b,
        &rp.id,
        "ann@example.com",
        &[("scope", "openid offline_access")],
    )
    .await;
    let (_, t) = exchange(&srv, &rp, &code, None).await;
    let (at, rt) = (
        t["access_token"].as_str().unwrap().to_owned(),
        t["refresh_token"].as_str().unwrap().to_owned(),
    );
    // However often the browser authorizes the client, one session stands for it.
    for _ in 0..5 {
        let page = b
            .get(&authorize_path(
                &rp.id,
                &[("scope", "openid offline_access")],
            ))
            .await;
        assert!(answer(page.location())["code"].is_string());
    }
    let account = b.get("/account").await;
    assert_eq!(
        account
            .body
            .matches(&format!("application {}", rp.id))
            .count(),
        1,
        "{}",
        account.body
    );
    // Another user's ID token as a hint: a confirmation page, and the browser stays signed in.
    let mut bob = Browser::new(&srv);
    let code = code_for(&mut bob, &rp.id, "bob@example.com", &[]).await;
    let (_, bt) = exchange(&srv, &rp, &code, None).await;
    let q =
        serde_urlencoded::to_string([("id_token_hint", bt["id_token"].as_str().unwrap())]).unwrap();
    let page = b.get(&format!("/oauth2/logout?{q}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"sign-out\""));
    assert!(b.cookie("aegis_session").is_some(), "the cookie is kept");
    assert_eq!(userinfo(&srv, &at).await.0, 200);
    // Signing out on aegis's own page ends the application's session too.
    let account = b.get("/account").await;
    let out = b.post("/logout", &[("csrf", &account.field("csrf"))]).await;
    assert_eq!(out.status, 303);
    assert_eq!(userinfo(&srv, &at).await.0, 401);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    assert_eq!(token(&srv, &rp, &form).await.1["error"], "invalid_grant");
}

async fn scopes_are_what_was_granted(srv: Srv) {
    srv.user("ann@example.com", Role::User).await;
    // A service client gets only the scopes registered for it.
    let service = rp(
        &srv,
        false,
        false,
        &[Grant::ClientCredentials],
        SigningAlg::Rs256,
    )
    .await;
    let cc = |scope: &'static str| {
        let srv = srv.clone();
        let rp = Rp {
            id: service.id.clone(),
            secret: service.secret.clone(),
        };
        async move {
            token(
                &srv,
                &rp,
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await
        }
    };
    assert_eq!(cc("admin").await.1["error"], "invalid_scope");
    assert_eq!(cc("reports:read").await.1["scope"], "reports:read");
    let (_, all) = token(&srv, &service, &[("grant_type", "client_credentials")]).await;
    assert_eq!(all["scope"], "reports:read");
    // A refresh may narrow the scopes, and the new token is that narrow.
    let web = web_rp(&srv).await;
    let mut b = Browser::new(&srv);
    let code = code_for(
        &mut b,
        &web.id,
        "ann@example.com",
        &[("scope", "openid email offline_access")],
    )
    .await;
    let (_, t) = exchange(&srv, &web, &code, None).await;
    let rt = t["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("scope", "openid"),
    ];
    let (status, narrow) = token(&srv, &web, &form).await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "openid");
    let (_, info) = userinfo(&srv, narrow["access_token"].as_str().unwrap()).await;
    assert!(info.get("email").is_none(), "{info}");
    let rt2 = narrow["refresh_token"].as_str().unwrap();
    let wider = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt2),
        ("scope", "openid groups"),
    ];
    assert_eq!(token(&srv, &web, &wider).await.1["error"], "invalid_scope");
    // A client's key set holds public keys only.
    let secret_key = NewClient {
        name: "jwt".into(),
        grants: vec![Grant::ClientCredentials],
        jwks: Some(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.into()),
        ..NewClient::default()
    };
    assert!(srv
        .state
        .aegis
        .create_client(&Actor::System, secret_key)
        .await
        .is_err());
}
