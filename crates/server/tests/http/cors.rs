//! CORS for the JSON APIs (`[cors] allowed_origins`): preflights and actual
//! cross-origin calls from a listed origin, nothing for other origins, the
//! hosted pages or with the setting empty.

use aegis_core::Role;
use aegis_server::Config;
use reqwest::header::HeaderMap;
use reqwest::Method;

use crate::harness::{run_with, Backend, Srv};

const PANEL: &str = "https://panel.example.com";

fn allow_panel(c: &mut Config) {
    c.cors.allowed_origins = vec![PANEL.into()];
}

async fn preflight(srv: &Srv, path: &str, origin: &str, method: &str) -> (u16, HeaderMap) {
    let res = srv
        .http
        .request(Method::OPTIONS, srv.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.headers().clone())
}

fn cors_headers(h: &HeaderMap) -> Vec<String> {
    h.keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_origin_may_call_the_apis() {
    run_with(Backend::Sqlite, allow_panel, |srv: Srv| async move {
        for (path, method) in [
            ("/api/auth/login", "POST"),
            ("/api/auth/state", "GET"),
            ("/auth", "POST"),
            ("/v2/user/profile/get", "POST"),
            ("/api/users/1", "DELETE"),
        ] {
            let (status, h) = preflight(&srv, path, PANEL, method).await;
            assert!((200..300).contains(&status), "{path}: {status}");
            assert_eq!(h["access-control-allow-origin"], PANEL, "{path}");
            let methods = h["access-control-allow-methods"].to_str().unwrap();
            assert!(methods.contains(method), "{path}: {methods}");
            let headers = h["access-control-allow-headers"].to_str().unwrap();
            assert!(headers.contains("authorization"), "{headers}");
            assert!(headers.contains("content-type"), "{headers}");
            assert!(h.get("access-control-allow-credentials").is_none());
        }
        // The actual call carries the origin back, and is answered as usual.
        srv.user("cors@example.com", Role::User).await;
        let token = srv.argon_login("cors@example.com").await;
        let res = srv
            .http
            .get(srv.url("/api/auth/state"))
            .header("Origin", PANEL)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["access-control-allow-origin"], PANEL);
        let vary = res.headers()["vary"].to_str().unwrap().to_owned();
        assert!(vary.contains("origin"), "{vary}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_origins_and_the_pages_get_no_cors() {
    run_with(Backend::Sqlite, allow_panel, |srv: Srv| async move {
        // Another origin (a look-alike too): no Access-Control-* header at all.
        for origin in [
            "https://evil.example.com",
            "https://panel.example.com.evil.net",
        ] {
            let (_, h) = preflight(&srv, "/api/auth/login", origin, "POST").await;
            assert!(cors_headers(&h).is_empty(), "{origin}: {h:?}");
            let res = srv
                .http
                .get(srv.url("/api/auth/state"))
                .header("Origin", origin)
                .send()
                .await
                .unwrap();
            assert!(cors_headers(res.headers()).is_empty(), "{origin}");
        }
        // The hosted pages are not cross-origin APIs, even for the panel.
        for path in ["/login", "/account", "/healthz"] {
            let (status, h) = preflight(&srv, path, PANEL, "POST").await;
            assert!(cors_headers(&h).is_empty(), "{path}: {h:?}");
            assert!(status >= 400, "{path}: {status}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_origins_there_is_no_cors() {
    run_with(
        Backend::Sqlite,
        |_| {},
        |srv: Srv| async move {
            let (status, h) = preflight(&srv, "/api/auth/login", PANEL, "POST").await;
            assert_eq!(status, 405);
            assert!(cors_headers(&h).is_empty(), "{h:?}");
            let res = srv
                .http
                .get(srv.url("/api/auth/state"))
                .header("Origin", PANEL)
                .send()
                .await
                .unwrap();
            assert!(cors_headers(res.headers()).is_empty());
        },
    )
    .await;
}
