//! Routes outside the dialects: health, JWKS, OpenAPI, global hygiene.

use aegis_core::Role;
use serde_json::{json, Value};

use crate::both;
use crate::harness::{parts, Srv};

both!(health_keys_and_docs, hygiene_headers_and_fallbacks);

async fn health_keys_and_docs(srv: Srv) {
    let (status, body) = parts(srv.http.get(srv.url("/healthz")).send().await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, _) = parts(srv.http.get(srv.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let (status, jwks) = parts(
        srv.http
            .get(srv.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(key.get("d").is_none(), "never the private key");
    let (status, doc) = parts(srv.http.get(srv.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/auth", "post"),
        ("/me", "get"),
        ("/auth/refresh", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} documented"
        );
    }
}

async fn hygiene_headers_and_fallbacks(srv: Srv) {
    srv.user("pat@example.com", Role::User).await;
    let res = srv.http.get(srv.url("/nowhere")).send().await.unwrap();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers().get("x-request-id").is_some());
    let (status, body) = parts(res).await;
    assert_eq!((status, body), (404, json!({"error": "Not found"})));
    let res = srv
        .http
        .request("TRACE".parse().unwrap(), srv.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let res = srv.http.post(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"error": "Method not allowed"}));
}
