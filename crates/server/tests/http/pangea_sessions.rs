//! Pangea session listings (spec §7.2): `client/session/list` and
//! `session/list` — item shape, scoping to the token's owner, live sessions
//! only, pages and cursors, filters, and every error path — on both backends.

use std::collections::BTreeSet;

use aegis_core::api_token::CreateApiTokenRequest;
use aegis_core::{Actor, Role};
use serde_json::{json, Value};

use crate::both;
use crate::harness::{Reply, Srv};

const CLIENT: &str = "/v2/client/session/list";
const SERVICE: &str = "/v2/session/list";

/// Mints a year-long API token of `role` for a fresh user of that role.
async fn service_token(srv: &Srv, email: &str, role: Role) -> String {
    let user = srv.user(email, role).await;
    srv.state
        .aegis
        .create_api_token(
            &Actor::System,
            user.id,
            CreateApiTokenRequest {
                provider: "local".into(),
                role,
                expiry_s: 365 * 86_400,
                name: None,
            },
        )
        .await
        .unwrap()
        .secret
}

async fn v2(srv: &Srv, path: &str, token: Option<&str>, body: Value) -> Reply {
    let r = srv.call("POST", path, token, Some(body)).await;
    let obj = r.body.as_object().unwrap_or_else(|| panic!("{}", r.body));
    let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    let want = [
        "request_id",
        "request_time",
        "response_time",
        "result",
        "status",
        "summary",
    ];
    assert_eq!(keys, want.into_iter().collect(), "{}", r.body);
    r
}

fn ok(r: &Reply) -> &Value {
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("Success")),
        "{}",
        r.body
    );
    &r.body["result"]
}

fn status(r: &Reply, http: u16, status: &str) {
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (http, Some(status)),
        "{}",
        r.body
    );
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

fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

/// The ids of a listing's sessions, checking each item's shape.
fn ids(result: &Value) -> Vec<String> {
    let sessions = result["sessions"].as_array().unwrap();
    assert!(result["count"].is_u64(), "{result}");
    assert!(result["last"].is_string(), "last is always sent: {result}");
    sessions
        .iter()
        .map(|s| {
            let id = s["id"].as_str().unwrap();
            assert!(id.starts_with("pmt_") && id.len() == 36, "{s}");
            assert_eq!(s["type"], "session");
            assert!(s["life"].as_i64().unwrap() > 0, "{s}");
            assert!(is_time(&s["expire"]) && is_time(&s["created_at"]), "{s}");
            assert!(s["email"].is_string() && s["profile"].is_object(), "{s}");
            assert!(s["identity"].as_str().unwrap().starts_with("pui_"), "{s}");
            assert!(s.get("active_token").is_none());
            id.to_owned()
        })
        .collect()
}

/// Every page of a listing, following `last`; the count is the same on each.
async fn walk(srv: &Srv, path: &str, bearer: &str, body: Value) -> Vec<String> {
    let mut body = body;
    let mut out = Vec::new();
    let mut count = None;
    for _ in 0..100 {
        let r = v2(srv, path, Some(bearer), body.clone()).await;
        let res = ok(&r).clone();
        out.extend(ids(&res));
        assert_eq!(*count.get_or_insert(res["count"].clone()), res["count"]);
        let last = res["last"].as_str().unwrap();
        if last.is_empty() {
            assert_eq!(Some(json!(out.len())), count, "{res}");
            return out;
        }
        body["last"] = json!(last);
    }
    panic!("pages never end");
}

/// The `pui_` id of a token's owner and the `pmt_` id of its session.
async fn identity(srv: &Srv, bearer: &str, token: &str) -> String {
    let r = v2(
        srv,
        "/v2/client/token/check",
        Some(bearer),
        json!({"token": token}),
    )
    .await;
    ok(&r)["identity"].as_str().unwrap().to_owned()
}

both!(
    listings_are_scoped_and_live,
    pages_orders_and_filters,
    errors
);

async fn listings_are_scoped_and_live(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    let view = service_token(&srv, "viewer@example.com", Role::View).await;
    srv.user("ora@example.com", Role::User).await;
    srv.user("pia@example.com", Role::User).await;
    let mut ora = Vec::new();
    for _ in 0..3 {
        ora.push(srv.argon_login("ora@example.com").await);
    }
    let pia = srv.argon_login("pia@example.com").await;
    let ora_id = identity(&srv, &admin, &ora[0]).await;

    // The client listing: the body token's owner's sessions, whoever the Bearer.
    for bearer in [&admin, &pia, &view] {
        let r = v2(&srv, CLIENT, Some(bearer), json!({"token": ora[1]})).await;
        let res = ok(&r);
        assert_eq!(
            (res["count"].as_u64(), res["last"].as_str()),
            (Some(3), Some(""))
        );
        assert_eq!(ids(res).len(), 3);
        for s in res["sessions"].as_array().unwrap() {
            assert_eq!(
                (s["identity"].as_str(), s["email"].as_str()),
                (Some(ora_id.as_str()), Some("ora@example.com"))
            );
        }
    }
    let r = v2(&srv, CLIENT, Some(&admin), json!({"token": pia})).await;
    let pia_sessions = ids(ok(&r));
    assert_eq!(pia_sessions.len(), 1);

    // The service listing: everyone's, for admins and viewers.
    let all = walk(&srv, SERVICE, &view, json!({})).await;
    assert_eq!(all.len(), 4);
    assert!(all.contains(&pia_sessions[0]));
    assert_eq!(walk(&srv, SERVICE, &admin, json!({})).await, all);

    // A logout removes its session from both listings at once.
    ok(&v2(
        &srv,
        "/v2/client/session/logout",
        Some(&admin),
        json!({"token": ora[2]}),
    )
    .await);
    let r = v2(&srv, CLIENT, Some(&admin), json!({"token": ora[0]})).await;
    assert_eq!(ok(&r)["count"], 2);
    assert_eq!(walk(&srv, SERVICE, &admin, json!({})).await.len(), 3);
    // So does an invalidation by id.
    let r = v2(&srv, CLIENT, Some(&admin), json!({"token": ora[0]})).await;
    let other = ids(ok(&r))[0].clone();
    ok(&v2(
        &srv,
        "/v2/session/invalidate",
        Some(&admin),
        json!({"session_id": other}),
    )
    .await);
    let left = walk(&srv, SERVICE, &admin, json!({})).await;
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&other));

    // Sessions that reached their end are not listed.
    srv.clock.advance(31 * 86_400);
    let r = v2(&srv, SERVICE, Some(&admin), json!({})).await;
    let res = ok(&r);
    assert_eq!(
        (res["count"].as_u64(), res["last"].as_str()),
        (Some(0), Some(""))
    );
    assert_eq!(res["sessions"], json!([]));
}

async fn pages_orders_and_filters(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    srv.user("ora@example.com", Role::User).await;
    srv.user("pia@example.com", Role::User).await;
    let mut ora = Vec::new();
    for _ in 0..5 {
        ora.push(srv.argon_login("ora@example.com").await);
        srv.clock.advance(1);
    }
    let pia = [
        srv.argon_login("pia@example.com").await,
        srv.argon_login("pia@example.com").await,
    ];
    let pia_id = identity(&srv, &admin, &pia[0]).await;

    // Pages of every size give the same listing; descending is ascending reversed.
    let all = walk(&srv, SERVICE, &admin, json!({"size": 1000})).await;
    assert_eq!(all.len(), 7);
    for by in [
        "id",
        "created_at",
        "type",
        "identity",
        "email",
        "expire",
        "active_token_id",
    ] {
        let asc = walk(&srv, SERVICE, &admin, json!({"order_by": by})).await;
        let mut sorted = asc.clone();
        sorted.sort();
        let mut every = all.clone();
        every.sort();
        assert_eq!(sorted, every, "{by}");
        for size in [1, 2, 3] {
            let body = json!({"order_by": by, "size": size});
            assert_eq!(
                walk(&srv, SERVICE, &admin, body).await,
                asc,
                "{by} size {size}"
            );
            let body = json!({"order_by": by, "order": "desc", "size": size});
            let mut desc = walk(&srv, SERVICE, &admin, body).await;
            desc.reverse();
            assert_eq!(desc, asc, "{by} desc size {size}");
        }
    }
    let by_time = walk(&srv, SERVICE, &admin, json!({"order_by": "created_at"})).await;
    assert_eq!(by_time, all, "created_at is the default order");
    let by_email = walk(
        &srv,
        SERVICE,
        &admin,
        json!({"order_by": "email", "size": 2}),
    )
    .await;
    let client = walk(
        &srv,
        CLIENT,
        &admin,
        json!({"token": ora[0], "order_by": "email", "size": 2}),
    )
    .await;
    assert_eq!(client, by_email[..5], "ora's before pia's");

    // Filters.
    let count = |filter: Value| {
        let srv = &srv;
        let admin = &admin;
        async move {
            let r = v2(
                srv,
                SERVICE,
                Some(admin),
                json!({"filter": filter, "size": 2}),
            )
            .await;
            ok(&r)["count"].as_u64().unwrap()
        }
    };
    let one = all[3].clone();
    let cases = [
        (json!({"identity": pia_id}), 2),
        (
            json!({"identity__in": [pia_id, "pui_xpkhwpnz2cmegsws737xbsqnmnuwtbm5"]}),
            2,
        ),
        (json!({"email": "PIA@example.com"}), 2),
        (
            json!({"email__in": ["ora@example.com", "nobody@example.com"]}),
            5,
        ),
        (json!({"email__contains": ["ora", "example"]}), 5),
        (json!({"username__contains": ["pia"]}), 2),
        (json!({"id": one}), 1),
        (json!({"id__in": [one, all[0]]}), 2),
        (json!({"id": "pmt_xpkhwpnz2cmegsws737xbsqnmnuwtbm5"}), 0),
        (json!({"created_at__gt": "2999-01-01T00:00:00Z"}), 0),
        (
            json!({"created_at__lte": "2999-01-01T00:00:00+02:00", "expire__gt": "2000-01-01T00:00:00Z"}),
            7,
        ),
        (json!({"type": "session"}), 7),
        (json!({"type__in": ["user", "session"]}), 7),
        (json!({"type": "user"}), 0),
        (json!({"enabled": true}), 7),
        (json!({"enabled": false}), 0),
        (json!({"scopes": []}), 7),
        (json!({"scopes": ["admin"]}), 0),
        (
            json!({"active_token_id": "pmt_xpkhwpnz2cmegsws737xbsqnmnuwtbm5"}),
            0,
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(count(filter.clone()).await, want, "{filter}");
    }
    // A filtered walk, and one on the client listing.
    let filtered = walk(
        &srv,
        SERVICE,
        &admin,
        json!({"filter": {"identity": pia_id}, "size": 1}),
    )
    .await;
    assert_eq!(filtered.len(), 2);
    let r = v2(
        &srv,
        CLIENT,
        Some(&admin),
        json!({"token": pia[1], "filter": {"id": filtered[0]}}),
    )
    .await;
    assert_eq!(ids(ok(&r)), filtered[..1]);
    let r = v2(
        &srv,
        CLIENT,
        Some(&admin),
        json!({"token": pia[1], "filter": {"id": all[0]}}),
    )
    .await;
    assert_eq!(ok(&r)["count"], 0, "another user's session is not listed");

    // A cursor belongs to its listing: same endpoint, filter, order and owner.
    let r = v2(&srv, SERVICE, Some(&admin), json!({"size": 1})).await;
    let service_last = ok(&r)["last"].as_str().unwrap().to_owned();
    let r = v2(
        &srv,
        CLIENT,
        Some(&admin),
        json!({"token": ora[0], "size": 1}),
    )
    .await;
    let client_last = ok(&r)["last"].as_str().unwrap().to_owned();
    let foreign = [
        (SERVICE, json!({"last": client_last})),
        (SERVICE, json!({"last": service_last, "order": "desc"})),
        (
            SERVICE,
            json!({"last": service_last, "filter": {"type": "session"}}),
        ),
        (CLIENT, json!({"token": ora[0], "last": service_last})),
        (CLIENT, json!({"token": pia[0], "last": client_last})),
    ];
    for (path, body) in foreign {
        invalid(
            &v2(&srv, path, Some(&admin), body.clone()).await,
            "BadFormat",
            "/last",
        );
    }
    // The size may change between pages; the count carries over.
    let r = v2(
        &srv,
        SERVICE,
        Some(&admin),
        json!({"last": service_last, "size": 100}),
    )
    .await;
    let res = ok(&r);
    assert_eq!(
        (res["count"].as_u64(), res["last"].as_str()),
        (Some(7), Some(""))
    );
    assert_eq!(ids(res), all[1..]);
}

async fn errors(srv: Srv) {
    let admin = service_token(&srv, "admin@example.com", Role::Admin).await;
    let plain = service_token(&srv, "user@example.com", Role::User).await;
    srv.user("ora@example.com", Role::User).await;
    let ora = srv.argon_login("ora@example.com").await;

    // Bearer, then role, then body: a caller that may not call learns nothing.
    for path in [CLIENT, SERVICE] {
        status(
            &v2(&srv, path, None, json!({"token": ora})).await,
            401,
            "Unauthorized",
        );
        status(
            &v2(&srv, path, Some("nonsense"), json!({"size": 0})).await,
            401,
            "Unauthorized",
        );
    }
    status(
        &v2(&srv, SERVICE, Some(&plain), json!({"size": 0})).await,
        403,
        "Forbidden",
    );
    ok(&v2(&srv, CLIENT, Some(&plain), json!({"token": ora})).await);

    // Body validation, on both listings.
    let cases = [
        (json!({"size": 0}), "NotWithinRange", "/size"),
        (json!({"size": -3}), "NotWithinRange", "/size"),
        (json!({"size": "x"}), "InvalidInteger", "/size"),
        (json!({"order": "up"}), "NotEnumMember", "/order"),
        (json!({"order_by": "name"}), "NotEnumMember", "/order_by"),
        (json!({"filter": "x"}), "InvalidObject", "/filter"),
        (
            json!({"filter": {"foo": 1}}),
            "UnexpectedProperty",
            "/filter/foo",
        ),
        (
            json!({"filter": {"email__gt": "a"}}),
            "UnexpectedProperty",
            "/filter/email__gt",
        ),
        (
            json!({"filter": {"created_at__contains": ["1"]}}),
            "UnexpectedProperty",
            "/filter/created_at__contains",
        ),
        (
            json!({"filter": {"enabled__in": [true]}}),
            "UnexpectedProperty",
            "/filter/enabled__in",
        ),
        (
            json!({"filter": {"created_at": "yesterday"}}),
            "BadFormatDateTime",
            "/filter/created_at",
        ),
        (
            json!({"filter": {"expire__lt": 5}}),
            "InvalidString",
            "/filter/expire__lt",
        ),
        (
            json!({"filter": {"id": "x"}}),
            "DoesNotMatchPattern",
            "/filter/id",
        ),
        (
            json!({"filter": {"identity__in": ["pmt_x"]}}),
            "DoesNotMatchPattern",
            "/filter/identity__in",
        ),
        (
            json!({"filter": {"email__in": "a@b.c"}}),
            "InvalidArray",
            "/filter/email__in",
        ),
        (
            json!({"filter": {"enabled": "yes"}}),
            "InvalidBool",
            "/filter/enabled",
        ),
        (
            json!({"filter": {"scopes": "x"}}),
            "InvalidArray",
            "/filter/scopes",
        ),
        (
            json!({"filter": {"type": 1}}),
            "InvalidString",
            "/filter/type",
        ),
        (json!({"last": "garbage"}), "BadFormat", "/last"),
        (json!({"last": 5}), "InvalidString", "/last"),
        (json!({"extra": 1}), "UnexpectedProperty", "/extra"),
    ];
    for (body, code, source) in cases {
        invalid(
            &v2(&srv, SERVICE, Some(&admin), body.clone()).await,
            code,
            source,
        );
        let mut client = body.clone();
        client["token"] = json!(ora);
        invalid(&v2(&srv, CLIENT, Some(&admin), client).await, code, source);
    }
    invalid(
        &v2(&srv, SERVICE, Some(&admin), json!([])).await,
        "InvalidObject",
        "/",
    );

    // The client token: required, a string, valid, unexpired — validation first.
    invalid(
        &v2(&srv, CLIENT, Some(&admin), json!({})).await,
        "FieldRequired",
        "/token",
    );
    invalid(
        &v2(&srv, CLIENT, Some(&admin), json!({"token": 5})).await,
        "InvalidString",
        "/token",
    );
    invalid(
        &v2(
            &srv,
            CLIENT,
            Some(&admin),
            json!({"token": "bad", "size": 0}),
        )
        .await,
        "NotWithinRange",
        "/size",
    );
    status(
        &v2(&srv, CLIENT, Some(&admin), json!({"token": "bad"})).await,
        400,
        "InvalidToken",
    );
    ok(&v2(
        &srv,
        "/v2/client/session/logout",
        Some(&admin),
        json!({"token": ora}),
    )
    .await);
    status(
        &v2(&srv, CLIENT, Some(&admin), json!({"token": ora})).await,
        400,
        "InvalidToken",
    );
    let fresh = srv.argon_login("ora@example.com").await;
    srv.clock.advance(2 * 3600);
    status(
        &v2(&srv, CLIENT, Some(&admin), json!({"token": fresh})).await,
        400,
        "ExpiredToken",
    );
}
