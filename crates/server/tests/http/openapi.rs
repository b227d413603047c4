//! `/openapi.json` against the router that serves it: every served route is
//! documented (and nothing else is), every operation has its real request and
//! response schemas, and every documented error has its dialect's shape. Run by
//! `scripts/schemathesis` as the contract of the fuzzing; here, the structure.

use std::collections::{BTreeMap, BTreeSet};

use aegis_core::Role;
use serde_json::{json, Value};

use crate::harness::{parts, run_with, Backend, Srv};
use crate::pangea::service_token;

macro_rules! with_provider {
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

// With every part on (the OpenID provider too), so that every documented
// route is served.
with_provider!(
    documented_routes_are_the_served_routes,
    every_operation_has_its_schemas,
    nul_characters_are_refused_cleanly,
    hash_param_ranges_are_the_cores
);

async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Srv) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run_with(
        backend,
        |c| {
            c.public_url = Some("https://id.example.test".into());
            c.core.oidc.enabled = true;
        },
        case,
    )
    .await
}

/// Routes aegis must serve and document, by dialect (the specs' endpoint lists).
const ROUTES: &[(&str, &str)] = &[
    // pegasys
    ("get", "/auth/me"),
    ("get", "/auth/logout"),
    ("post", "/auth/logout"),
    ("post", "/api/tokens/{provider}"),
    ("get", "/api/tokens/{provider}"),
    ("delete", "/api/tokens/{provider}"),
    ("get", "/api/users/{user}"),
    ("put", "/api/users/{user}"),
    ("post", "/api/users/{user}"),
    ("delete", "/api/users/{user}"),
    // argon
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("get", "/api/auth/state"),
    ("put", "/api/auth/profile"),
    // aiohttp
    ("post", "/auth"),
    ("get", "/me"),
    ("post", "/auth/refresh"),
    // pangea
    ("post", "/v2/user/create"),
    ("post", "/v2/user/delete"),
    ("post", "/v2/user/list"),
    ("post", "/v2/user/profile/get"),
    ("post", "/v2/user/profile/update"),
    ("post", "/v2/user/update"),
    ("post", "/v2/user/password/expire"),
    ("post", "/v2/user/authenticators/list"),
    ("post", "/v2/user/authenticators/delete"),
    ("post", "/v2/user/group/assign"),
    ("post", "/v2/user/group/remove"),
    ("post", "/v2/user/group/list"),
    ("post", "/v2/group/create"),
    ("post", "/v2/group/get"),
    ("post", "/v2/group/update"),
    ("post", "/v2/group/delete"),
    ("post", "/v2/group/list"),
    ("post", "/v2/group/user/list"),
    ("post", "/v2/client/userinfo"),
    ("post", "/v2/client/token/check"),
    ("post", "/v2/client/password/change"),
    ("post", "/v2/client/jwks"),
    ("post", "/v2/client/session/refresh"),
    ("post", "/v2/client/session/logout"),
    ("post", "/v2/client/session/invalidate"),
    ("post", "/v2/client/session/list"),
    ("post", "/v2/session/invalidate"),
    ("post", "/v2/session/logout"),
    ("post", "/v2/session/list"),
    ("post", "/v2/users/sources/upload"),
    ("post", "/v2/users/import"),
    ("post", "/v2/users/import/get"),
    ("post", "/v2/users/import/list"),
    // hosted pages
    ("get", "/login"),
    ("post", "/login"),
    ("post", "/login/otp"),
    ("post", "/logout"),
    ("get", "/web/aegis.css"),
    ("get", "/web/passkey.js"),
    ("get", "/account"),
    ("post", "/account/password"),
    ("post", "/account/totp"),
    ("post", "/account/totp/confirm"),
    ("post", "/account/recovery"),
    ("post", "/account/factors/remove"),
    ("post", "/account/sessions/end"),
    ("post", "/login/passkey/begin"),
    ("post", "/login/passkey/finish"),
    ("post", "/account/passkey/begin"),
    ("post", "/account/passkey/finish"),
    // ops
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/.well-known/jwks.json"),
    // the OpenID provider
    ("get", "/.well-known/openid-configuration"),
    ("get", "/oauth2/authorize"),
    ("post", "/oauth2/authorize"),
    ("post", "/oauth2/token"),
    ("get", "/oauth2/userinfo"),
    ("post", "/oauth2/userinfo"),
    ("post", "/oauth2/introspect"),
    ("post", "/oauth2/revoke"),
    ("get", "/oauth2/logout"),
    ("post", "/oauth2/logout"),
    ("get", "/openapi.json"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

async fn document(srv: &Srv) -> Value {
    let (status, doc) = parts(srv.http.get(srv.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    doc
}

fn operations(doc: &Value) -> BTreeMap<(String, String), &Value> {
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            ops.insert((method.clone(), path.clone()), op);
        }
    }
    ops
}

/// The document lists every route above; each documented operation is served
/// (no 404 or 405 for it), and no other method is served on its path.
/// With `no_route_escapes_the_document`, which keeps every route declared through
/// `utoipa_axum::routes!`, an undocumented route cannot be added unnoticed.
async fn documented_routes_are_the_served_routes(srv: Srv) {
    let doc = document(&srv).await;
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    // Routes may be added (the probe below checks they are served); none may
    // go missing.
    assert_eq!(
        expected.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "in ROUTES but not documented"
    );
    let paths: BTreeSet<&str> = documented.iter().map(|(_, p)| p.as_str()).collect();
    for path in paths {
        let url = srv.url(&path.replace("{provider}", "local").replace("{user}", "x"));
        for method in METHODS {
            // No credential, no body: every documented operation answers with
            // something of its own (401, 400, 403, a page…), never 404 or 405.
            let res = srv
                .http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            if documented.contains(&(method.to_string(), path.to_string())) {
                assert!(
                    status != 404 && status != 405,
                    "{method} {path} is documented but answers {status}"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not documented");
            }
        }
    }
}

/// The schema a `$ref` (or an inline schema) stands for.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "dangling {r}");
            resolve(doc, target)
        }
        None => schema,
    }
}

/// The component name of a `$ref` schema.
fn ref_name(schema: &Value) -> Option<&str> {
    schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
}

/// Every `$ref` anywhere in the document resolves.
fn check_refs(doc: &Value, v: &Value) {
    match v {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| {
                    panic!("only schema references are used, not {r}");
                });
                assert!(
                    doc["components"]["schemas"].get(name).is_some(),
                    "dangling {r}"
                );
            }
            map.values().for_each(|v| check_refs(doc, v));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(doc, v)),
        _ => {}
    }
}

/// A schema that says something: a type, a reference, or a composition.
fn is_real(schema: &Value) -> bool {
    ["type", "$ref", "oneOf", "anyOf", "allOf"]
        .iter()
        .any(|k| schema.get(*k).is_some())
}

/// The one content of a response or request body: media type and schema.
fn content(holder: &Value) -> Option<(&str, &Value)> {
    let content = holder["content"].as_object()?;
    assert_eq!(content.len(), 1, "one media type: {holder}");
    content
        .iter()
        .next()
        .map(|(media, c)| (media.as_str(), &c["schema"]))
}

/// Every operation has an id, its request body where it reads one, a schema
/// for each documented answer but a redirect, and each dialect's error shape on
/// its errors; every `/v2` operation documents its request body, its envelope
/// with its own `result`, and the envelope's failures.
async fn every_operation_has_its_schemas(srv: Srv) {
    let doc = document(&srv).await;
    check_refs(&doc, &doc);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut ids = BTreeSet::new();
    for ((method, path), op) in operations(&doc) {
        let at = format!("{method} {path}");
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no operationId"));
        assert!(
            ids.insert(id.to_owned()),
            "{at}: operationId {id} is not unique"
        );
        let tag = op["tags"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no tag"));
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.contains_key("200") || responses.contains_key("303"),
            "{at}"
        );
        for (status, response) in responses {
            if status == "303" {
                assert!(response["headers"]["Location"].is_object(), "{at} {status}");
                continue;
            }
            let (media, schema) =
                content(response).unwrap_or_else(|| panic!("{at} {status}: no content"));
            assert!(is_real(schema), "{at} {status}: schema {schema}");
            if status.starts_with('2') {
                continue;
            }
            let error = ref_name(schema);
            match tag {
                "pegasys" => assert_eq!(error, Some("PegasysError"), "{at} {status}"),
                "argon" => assert_eq!(error, Some("ArgonErrorBody"), "{at} {status}"),
                "aiohttp" => {
                    assert_eq!(error, Some("AiohttpProblem"), "{at} {status}");
                    assert_eq!(media, "application/problem+json", "{at} {status}");
                }
                "pangea" => {
                    let error = resolve(&doc, schema);
                    let keys: BTreeSet<&str> = error["properties"]
                        .as_object()
                        .unwrap()
                        .keys()
                        .map(String::as_str)
                        .collect();
                    assert_eq!(
                        keys,
                        BTreeSet::from([
                            "request_id",
                            "request_time",
                            "response_time",
                            "status",
                            "summary",
                            "result"
                        ]),
                        "{at} {status}: the envelope"
                    );
                    assert_eq!(error["additionalProperties"], false, "{at} {status}");
                }
                "web" => assert!(
                    media == "text/html" || ref_name(schema) == Some("PasskeyError"),
                    "{at} {status}: {media}"
                ),
                "oidc" => assert!(
                    media == "text/html" || error == Some("OAuthErrorBody"),
                    "{at} {status}: {media} {schema}"
                ),
                _ => {}
            }
        }
        if tag == "pangea" {
            check_pangea(&doc, &at, op);
        } else if method == "put" || (method == "post" && !path.ends_with("/logout")) {
            let body = &op["requestBody"];
            let (_, schema) = content(body).unwrap_or_else(|| panic!("{at}: no request body"));
            assert!(is_real(schema), "{at}: request schema");
        }
    }
}

/// A `/v2` operation: its request body (no keys but its own), its envelope
/// around a real `result`, and the failures every `/v2` call can meet.
fn check_pangea(doc: &Value, at: &str, op: &Value) {
    let (media, schema) =
        content(&op["requestBody"]).unwrap_or_else(|| panic!("{at}: no request body"));
    let request = resolve(doc, schema);
    assert!(request["properties"].is_object(), "{at}: request fields");
    if media == "application/json" {
        assert_eq!(
            request["additionalProperties"], false,
            "{at}: closed request"
        );
        assert!(
            request["properties"]["config_id"].is_object(),
            "{at}: config_id is accepted"
        );
    } else {
        assert_eq!(media, "multipart/form-data", "{at}");
    }
    let (_, ok) = content(&op["responses"]["200"]).unwrap_or_else(|| panic!("{at}: no 200"));
    let envelope = resolve(doc, ok);
    assert_eq!(
        envelope["additionalProperties"], false,
        "{at}: the envelope"
    );
    assert_eq!(
        ref_name(&envelope["properties"]["status"]),
        Some("PangeaSuccessStatus"),
        "{at}"
    );
    let result = resolve(doc, &envelope["properties"]["result"]);
    // An object with its fields, or `{}` exactly (`additionalProperties: false`).
    assert!(
        result["type"] == "object"
            && (result["properties"].is_object() || result["additionalProperties"] == false),
        "{at}: result schema {result}"
    );
    for status in ["400", "401", "413"] {
        assert!(op["responses"][status].is_object(), "{at}: no {status}");
    }
    let service = op["security"].is_array() && !at.contains("/v2/client/");
    assert_eq!(
        op["responses"]["403"].is_object(),
        service,
        "{at}: 403 exactly for service endpoints"
    );
}

/// Found by `scripts/schemathesis` and the probing around it: text with a NUL
/// character reached PostgreSQL (which refuses it) and came back as a 500. Each
/// is now a clean 4xx in its dialect's shape, on both backends.
async fn nul_characters_are_refused_cleanly(srv: Srv) {
    let admin = service_token(&srv, "root@example.com", Role::Admin).await;
    // Any JSON body: refused at the door, the pointer names the string.
    let r = srv
        .call(
            "POST",
            "/v2/group/create",
            Some(&admin),
            Some(json!({"name": "g", "type": "t", "attributes": {"k": "a\u{0}b"}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["status"], "ValidationError");
    assert_eq!(
        r.body["result"]["errors"][0],
        json!({"code": "InvalidString", "detail": "Text must not contain NUL characters",
               "source": "/attributes/k"})
    );
    let r = srv
        .call(
            "POST",
            "/auth",
            None,
            Some(json!({"username": "a\u{0}", "password": "x"})),
        )
        .await;
    // aiohttp: a wrong value like any other (spec §3: 401, the login's own body).
    assert_eq!((r.status, &r.body["status"]), (401, &json!("401")));
    let r = srv
        .call(
            "PUT",
            "/api/auth/profile",
            Some(&admin),
            Some(json!({"newUsername": "\u{0}"})),
        )
        .await;
    assert_eq!(r.status, 400);
    // A Pegasys path naming a user.
    for method in ["PUT", "POST", "DELETE"] {
        let r = srv
            .call(
                method,
                "/api/users/a%00b",
                Some(&admin),
                Some(json!({"role": "view"})),
            )
            .await;
        assert_eq!(
            (r.status, r.body.clone()),
            (404, json!({"status": "fail", "error": "User not found"})),
            "{method}"
        );
    }
    // The hosted sign-in: an identifier that names no account.
    let csrf_cookie = if srv.state.config.web.secure_cookies {
        "__Host-aegis_csrf"
    } else {
        "aegis_csrf"
    };
    let res = srv
        .http
        .post(srv.url("/login"))
        .header("Cookie", format!("{csrf_cookie}=t0ken"))
        .form(&[
            ("csrf", "t0ken"),
            ("identifier", "a\u{0}b"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = srv
        .http
        .post(srv.url("/login/passkey/begin"))
        .header("Cookie", format!("{csrf_cookie}=t0ken"))
        .form(&[("csrf", "t0ken"), ("identifier", "a\u{0}b")])
        .send()
        .await
        .unwrap();
    // A passkey sign-in begins alike for every identifier (nothing is looked
    // up); the identifier sealed in names nobody, so no passkey finishes it.
    assert_eq!(res.status(), 200);
    let begun: serde_json::Value = res.json().await.unwrap();
    // An answer whose user handle names a real account reaches the check of
    // the sealed identifier: a failed sign-in, never a lookup's bad input.
    let root = srv
        .state
        .aegis
        .store()
        .find_user_by_identifier("root@example.com")
        .await
        .unwrap()
        .unwrap()
        .0;
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let answer = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
        "response": {
            "authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA",
            "userHandle": b64(root.id.as_bytes()),
        },
    });
    let res = srv
        .http
        .post(srv.url("/login/passkey/finish"))
        .header("Cookie", format!("{csrf_cookie}=t0ken"))
        .form(&[
            ("csrf", "t0ken"),
            ("ceremony", begun["state"].as_str().unwrap()),
            ("credential", &answer.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// Routes are declared only through `utoipa_axum::routes!` (documented by
/// construction): a plain axum `.route(…)` or `.nest(…)` anywhere in the server
/// would serve a path the document does not know.
#[test]
fn no_route_escapes_the_document() {
    fn scan(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                scan(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or_default();
                    if [".route(", ".nest(", ".route_service(", ".nest_service("]
                        .iter()
                        .any(|call| code.contains(call))
                    {
                        found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    scan(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(
        found.is_empty(),
        "undocumented routes:\n{}",
        found.join("\n")
    );
}

/// Pangea's `password_hash_params` ranges are documented as the core's limits table
/// has them (utoipa takes literals, so this keeps the two from drifting).
async fn hash_param_ranges_are_the_cores(srv: Srv) {
    use aegis_core::password::limits;
    let doc = document(&srv).await;
    let props = &doc["components"]["schemas"]["PangeaPasswordHashParams"]["properties"];
    for (key, max) in [
        ("iterations", u64::from(limits::MAX_ITERATIONS)),
        ("key_length", u64::from(limits::MAX_KEY_LENGTH)),
        ("memory", u64::from(limits::MAX_MEMORY_KIB)),
        ("parallelism", u64::from(limits::MAX_PARALLELISM)),
        ("block_size", u64::from(limits::MAX_BLOCK_SIZE)),
        ("cost_factor", limits::MAX_COST_FACTOR),
    ] {
        assert_eq!(
            props[key]["maximum"].as_f64(),
            Some(max as f64),
            "{key}: {props}"
        );
    }
}
