//! Bulk import over HTTP (spec §6): multipart upload, jobs, progress, row
//! outcomes; every stored-hash format logs in and is rehashed. On both backends.

use std::time::Duration;

use aegis_core::api_token::CreateApiTokenRequest;
use aegis_core::import::mapping::FieldMapping;
use aegis_core::import::{HashAlgorithm, HashParams, JobStatus, Mapping, SourceFormat, Target};
use aegis_core::{Actor, Role};
use serde_json::{json, Value};

use crate::both;
use crate::harness::{Reply, Srv};

/// A bcrypt hash (cost 4) of "correct horse battery staple", made by Python's `bcrypt`
/// (from `crates/core/tests/vectors/hashes.json`).
const BCRYPT: &str = "$2b$04$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6";

async fn token(srv: &Srv, email: &str, role: Role) -> String {
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

async fn v2(srv: &Srv, path: &str, token: &str, body: Value) -> Reply {
    srv.call("POST", path, Some(token), Some(body)).await
}

/// Uploads `csv` as the SDK does (`request` JSON part, then `upload`).
async fn upload(srv: &Srv, token: &str, csv: impl Into<Vec<u8>>) -> Reply {
    let form = reqwest::multipart::Form::new()
        .part(
            "request",
            reqwest::multipart::Part::text(r#"{"transfer_method":"multipart","file_type":"csv"}"#)
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "upload",
            reqwest::multipart::Part::bytes(csv.into())
                .file_name("users.csv")
                .mime_str("text/csv")
                .unwrap(),
        );
    send_form(srv, token, form).await
}

async fn send_form(srv: &Srv, token: &str, form: reqwest::multipart::Form) -> Reply {
    let res = srv
        .http
        .post(srv.url("/v2/users/sources/upload"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

fn mapping(source: &str, pangea: &str, kind: &str) -> Value {
    json!({"source_field": {"source_field_name": source, "source_field_type": "string"},
           "pangea_field": {"pangea_field_name": pangea, "pangea_field_type": kind}})
}

fn bcrypt_mappings() -> Value {
    let mut pw = mapping("pw", "password", "string");
    pw["pangea_field"]["password_hash_params"] = json!({"algorithm": "BCRYPT"});
    json!([
        mapping("email", "email", "email"),
        mapping("first_name", "first_name", "string"),
        pw
    ])
}

/// Polls `import/get` until the job is no longer pending.
async fn wait(srv: &Srv, token: &str, id: &str, verbose: Value) -> Value {
    for _ in 0..1200 {
        let mut body = json!({"id": id});
        body.as_object_mut()
            .unwrap()
            .extend(verbose.as_object().unwrap().clone());
        let r = v2(srv, "/v2/users/import/get", token, body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body["result"]["status"] != "pending" {
            return r.body["result"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the import did not finish");
}

async fn start(srv: &Srv, token: &str, source: &str, mappings: Value) -> Reply {
    v2(
        srv,
        "/v2/users/import",
        token,
        json!({"name": "legacy-crm", "source_id": source, "field_mappings": mappings}),
    )
    .await
}

async fn login(srv: &Srv, email: &str, password: &str) -> u16 {
    srv.call(
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"username": email, "password": password})),
    )
    .await
    .status
}

async fn upload_import_and_log_in(srv: Srv) {
    let admin = token(&srv, "admin@example.org", Role::Admin).await;
    srv.user("taken@example.org", Role::User).await;
    let csv = format!(
        "\u{feff}email,first_name,pw\r\nann@example.org,Ann,{BCRYPT}\r\nnot-an-email,Bob,\r\nTaken@example.org,T,\r\n\"=cmd\"@x,\"Q\",\r\n"
    );
    let r = upload(&srv, &admin, csv).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let obj = &r.body["result"]["object"];
    let source = obj["id"].as_str().unwrap().to_owned();
    assert!(source.starts_with("pus_") && source.len() == 36, "{source}");
    let names: Vec<&str> = obj["source_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["source_field_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["email", "first_name", "pw"], "BOM dropped");
    assert_eq!(obj["pangea_fields"].as_array().unwrap().len(), 9);
    assert_eq!(obj["password_hash_algorithms"].as_array().unwrap().len(), 9);

    let r = start(&srv, &admin, &source, bcrypt_mappings()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["summary"], "Import started");
    let job = &r.body["result"];
    let id = job["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("pum_"));
    assert_eq!(job["details"], json!([]));
    for k in [
        "total",
        "successful",
        "failed",
        "skipped",
        "created_at",
        "updated_at",
    ] {
        assert!(job["summary"].get(k).is_some(), "{k}");
    }

    let done = wait(
        &srv,
        &admin,
        &id,
        json!({"verbose_failed": true, "verbose_skipped": true}),
    )
    .await;
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["summary"]["total"], 4, "{done}");
    assert_eq!(done["summary"]["successful"], 1);
    assert_eq!(done["summary"]["failed"], 2);
    assert_eq!(done["summary"]["skipped"], 1);
    let details = done["details"].as_array().unwrap();
    let messages: Vec<&str> = details
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "row 2: email: does not match pattern",
            "row 3: email: already exists",
            "row 4: email: does not match pattern"
        ],
        "{done}"
    );
    assert_eq!(details[0]["user_id"], "");
    assert_eq!(details[1]["status"], "skipped");
    assert!(details[1]["user_id"].as_str().unwrap().starts_with("pui_"));
    // Success rows only when asked.
    let ok = wait(&srv, &admin, &id, json!({"verbose_success": true})).await;
    assert_eq!(ok["details"].as_array().unwrap().len(), 1);
    assert_eq!(ok["details"][0]["message"], "row 1: created");

    // The imported user logs in with the old system's password; the hash is replaced.
    assert_eq!(
        login(&srv, "ann@example.org", "wrong password here").await,
        401
    );
    assert_eq!(
        login(&srv, "ann@example.org", "correct horse battery staple").await,
        200
    );
    let user = srv.state.aegis.find_user("ann@example.org").await.unwrap();
    assert_eq!(user.profile["first_name"], "Ann");
    let hash = srv
        .state
        .aegis
        .store()
        .get_password_hash(user.id)
        .await
        .unwrap()
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{hash}");
    assert_eq!(
        login(&srv, "ann@example.org", "correct horse battery staple").await,
        200
    );

    // The user-info shows a password authenticator.
    let r = v2(
        &srv,
        "/v2/user/profile/get",
        &admin,
        json!({"email": "ann@example.org"}),
    )
    .await;
    assert_eq!(
        r.body["result"]["authenticators"][0]["type"], "password",
        "{}",
        r.body
    );

    // A source can be imported again: everything is skipped or failed now.
    let r = start(&srv, &admin, &source, bcrypt_mappings()).await;
    let again = wait(
        &srv,
        &admin,
        r.body["result"]["id"].as_str().unwrap(),
        json!({}),
    )
    .await;
    assert_eq!(again["summary"]["skipped"], 2, "{again}");
    assert_eq!(again["summary"]["successful"], 0);

    // Listing, newest first, filtered by name, paged.
    let r = v2(
        &srv,
        "/v2/users/import/list",
        &admin,
        json!({"filter": {"name__contains": ["crm"]}, "order": "desc", "size": 1}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["result"]["count"], 2);
    let first = &r.body["result"]["user_imports"][0];
    assert_eq!(first["details"], json!([]));
    let last = r.body["result"]["last"].as_str().unwrap().to_owned();
    let r = v2(
        &srv,
        "/v2/users/import/list",
        &admin,
        json!({"filter": {"name__contains": ["crm"]}, "order": "desc", "size": 1, "last": last}),
    )
    .await;
    assert_eq!(
        r.body["result"]["user_imports"][0]["id"],
        json!(id),
        "{}",
        r.body
    );
    assert!(r.body["result"].get("last").is_none());
    // A cursor of another filter is refused.
    let r = v2(&srv, "/v2/users/import/list", &admin, json!({"last": last})).await;
    assert_eq!(r.status, 400);
    // It binds the effective filter and order: an empty filter is no filter,
    // no `order` is "asc", `type` sorts as `created_at`.
    let r = v2(&srv, "/v2/users/import/list", &admin, json!({"size": 1})).await;
    let last = r.body["result"]["last"].as_str().unwrap().to_owned();
    let r = v2(
        &srv,
        "/v2/users/import/list",
        &admin,
        json!({"filter": {}, "order": "asc", "order_by": "type", "size": 1, "last": last}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Oldest first: the second page is the newer job, the first of the listing above.
    assert_eq!(r.body["result"]["user_imports"][0]["id"], first["id"]);
    // A time filter that is not a string is a wrong type, not a bad date.
    let r = v2(
        &srv,
        "/v2/users/import/list",
        &admin,
        json!({"filter": {"created_at__gt": 5}}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["result"]["errors"][0]["code"], "InvalidString",
        "{}",
        r.body
    );
    let r = v2(
        &srv,
        "/v2/users/import/list",
        &admin,
        json!({"filter": {"name": "other"}}),
    )
    .await;
    assert_eq!(r.body["result"]["count"], 0);
}

async fn upload_and_mapping_errors(srv: Srv) {
    let admin = token(&srv, "admin@example.org", Role::Admin).await;
    let viewer = token(&srv, "viewer@example.org", Role::View).await;
    // Roles: a viewer may read jobs but not upload or start one.
    let r = upload(&srv, &viewer, "email\na@b.c\n").await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (403, Some("Forbidden"))
    );
    let r = v2(&srv, "/v2/users/import/list", &viewer, json!({})).await;
    assert_eq!(r.status, 200);
    // Missing parts, bad request part, bad files.
    let only_upload = reqwest::multipart::Form::new().part(
        "upload",
        reqwest::multipart::Part::bytes(b"email\n".to_vec()).file_name("u.csv"),
    );
    let r = send_form(&srv, &admin, only_upload).await;
    assert_eq!(
        r.body["result"]["errors"][0]["source"], "/request",
        "{}",
        r.body
    );
    let only_request = reqwest::multipart::Form::new().text(
        "request",
        r#"{"transfer_method":"multipart","file_type":"csv"}"#,
    );
    let r = send_form(&srv, &admin, only_request).await;
    assert_eq!(
        r.body["result"]["errors"][0]["source"], "/upload",
        "{}",
        r.body
    );
    let bad_type = reqwest::multipart::Form::new()
        .text(
            "request",
            r#"{"transfer_method":"put-url","file_type":"json"}"#,
        )
        .part(
            "upload",
            reqwest::multipart::Part::bytes(b"email\n".to_vec()).file_name("u.csv"),
        );
    let r = send_form(&srv, &admin, bad_type).await;
    let sources: Vec<&str> = r.body["result"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["/request/transfer_method", "/request/file_type"],
        "{}",
        r.body
    );
    for bad in [&b""[..], b"\xff\xfe,x\n", b"a,a\n1,2\n"] {
        let r = upload(&srv, &admin, bad.to_vec()).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body["result"]["errors"][0]["source"], "/upload");
        assert_eq!(r.body["result"]["errors"][0]["code"], "InvalidValue");
    }
    let two = reqwest::multipart::Form::new()
        .text(
            "request",
            r#"{"transfer_method":"multipart","file_type":"csv"}"#,
        )
        .part(
            "upload",
            reqwest::multipart::Part::bytes(b"email\n".to_vec()).file_name("a.csv"),
        )
        .part(
            "upload",
            reqwest::multipart::Part::bytes(b"email\n".to_vec()).file_name("b.csv"),
        );
    assert_eq!(
        send_form(&srv, &admin, two).await.body["result"]["errors"][0]["source"],
        "/upload"
    );
    let r = srv
        .call(
            "POST",
            "/v2/users/sources/upload",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["result"]["errors"][0]["source"].as_str()),
        (400, Some("/"))
    );

    let r = upload(&srv, &admin, "email,pw,dept\na@b.c,x,y\n").await;
    let source = r.body["result"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let err = |r: &Reply| {
        (
            r.status,
            r.body["result"]["errors"][0]["source"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    // No email mapping.
    let r = start(
        &srv,
        &admin,
        &source,
        json!([mapping("dept", "dept", "string")]),
    )
    .await;
    assert_eq!(
        err(&r),
        (
            400,
            "/field_mappings/0/pangea_field/pangea_field_name".into()
        ),
        "{}",
        r.body
    );
    let mut dept = mapping("dept", "dept", "string");
    dept["pangea_field"]["is_profile_field"] = json!(true);
    let r = start(&srv, &admin, &source, json!([dept])).await;
    assert_eq!(err(&r), (400, "/field_mappings".into()), "{}", r.body);
    // A profile field's type is one of the spec's.
    let mut dept = mapping("dept", "dept", "banana");
    dept["pangea_field"]["is_profile_field"] = json!(true);
    let r = start(
        &srv,
        &admin,
        &source,
        json!([mapping("email", "email", "email"), dept]),
    )
    .await;
    assert_eq!(
        err(&r),
        (
            400,
            "/field_mappings/1/pangea_field/pangea_field_type".into()
        ),
        "{}",
        r.body
    );
    // Twice the same field.
    let r = start(
        &srv,
        &admin,
        &source,
        json!([
            mapping("email", "email", "email"),
            mapping("pw", "email", "email")
        ]),
    )
    .await;
    assert_eq!(
        err(&r),
        (
            400,
            "/field_mappings/1/pangea_field/pangea_field_name".into()
        ),
        "{}",
        r.body
    );
    // A password without hash parameters.
    let r = start(
        &srv,
        &admin,
        &source,
        json!([
            mapping("email", "email", "email"),
            mapping("pw", "password", "string")
        ]),
    )
    .await;
    assert_eq!(
        err(&r),
        (
            400,
            "/field_mappings/1/pangea_field/password_hash_params".into()
        ),
        "{}",
        r.body
    );
    // A wrong type for an offered field.
    let r = start(
        &srv,
        &admin,
        &source,
        json!([mapping("email", "email", "string")]),
    )
    .await;
    assert_eq!(
        err(&r),
        (
            400,
            "/field_mappings/0/pangea_field/pangea_field_type".into()
        ),
        "{}",
        r.body
    );
    // A column the source lacks — checked after the source lookup.
    let r = start(
        &srv,
        &admin,
        &source,
        json!([mapping("mail", "email", "email")]),
    )
    .await;
    assert_eq!(
        err(&r),
        (
            400,
            "/field_mappings/0/source_field/source_field_name".into()
        ),
        "{}",
        r.body
    );
    let foreign = "pus_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let r = start(
        &srv,
        &admin,
        foreign,
        json!([mapping("mail", "email", "email")]),
    )
    .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (404, Some("NotFound")),
        "{}",
        r.body
    );
    let r = v2(
        &srv,
        "/v2/users/import/get",
        &admin,
        json!({"id": "pum_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (404, Some("NotFound"))
    );
    let r = v2(&srv, "/v2/users/import/get", &admin, json!({"id": "nope"})).await;
    assert_eq!(r.status, 400);
    // Unknown keys anywhere are refused.
    let r = v2(
        &srv,
        "/v2/users/import",
        &admin,
        json!({"name": "x", "source_id": source, "field_mappings": [], "extra": 1}),
    )
    .await;
    assert_eq!(r.status, 400);
}

async fn upload_limit(srv: Srv) {
    let admin = token(&srv, "admin@example.org", Role::Admin).await;
    let mut big = b"email\n".to_vec();
    big.resize(5000, b'a');
    let r = upload(&srv, &admin, big).await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (413, Some("PayloadTooLarge")),
        "{}",
        r.body
    );
    // Nothing of the refused upload is left behind.
    let r = upload(&srv, &admin, "email\na@b.c\n").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn many_rows_with_bad_ones(srv: Srv) {
    let admin = token(&srv, "admin@example.org", Role::Admin).await;
    const ROWS: usize = 100_000;
    let mut csv = String::from("email,first_name,pw\n");
    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    for row in 1..=ROWS {
        let line = if row % 997 == 0 {
            failed.push(format!("row {row}: email: does not match pattern"));
            format!("bad-{row},B,{BCRYPT}\n")
        } else if row % 1499 == 0 {
            failed.push(format!("row {row}: row: expected 3 fields, found 2"));
            format!("short-{row}@example.org,S\n")
        } else if row % 1999 == 0 {
            failed.push(format!(
                "row {row}: first_name: contains a control character"
            ));
            format!("ctl-{row}@example.org,\"a\u{1}b\",\n")
        } else if row % 2503 == 0 {
            // The same email as the row before: skipped.
            skipped.push(row);
            format!("user-{}@example.org,D,\n", row - 1)
        } else {
            format!("user-{row}@example.org,U,{BCRYPT}\n")
        };
        csv.push_str(&line);
    }
    let r = upload(&srv, &admin, csv).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let source = r.body["result"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = start(&srv, &admin, &source, bcrypt_mappings()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["result"]["id"].as_str().unwrap().to_owned();
    // Progress is visible while the job runs: counters only grow.
    let mut seen = 0u64;
    let done = loop {
        let r = v2(
            &srv,
            "/v2/users/import/get",
            &admin,
            json!({"id": id, "verbose_failed": true}),
        )
        .await;
        let result = &r.body["result"];
        let total = result["summary"]["total"].as_u64().unwrap();
        assert!(total >= seen, "counters went back: {total} < {seen}");
        seen = total;
        if result["status"] != "pending" {
            break result.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "success", "{}", done["summary"]);
    let s = &done["summary"];
    assert_eq!(s["total"], ROWS);
    assert_eq!(s["failed"], failed.len());
    assert_eq!(s["skipped"], skipped.len());
    assert_eq!(s["successful"], ROWS - failed.len() - skipped.len());
    let messages: Vec<String> = done["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages, failed);
    let r = v2(
        &srv,
        "/v2/users/import/get",
        &admin,
        json!({"id": id, "verbose_skipped": true}),
    )
    .await;
    let rows: Vec<usize> = r.body["result"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let m = d["message"].as_str().unwrap();
            m.trim_start_matches("row ")
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(rows, skipped);
    // Exactly the valid rows are users (plus the admin).
    let r = v2(&srv, "/v2/user/list", &admin, json!({"size": 1})).await;
    assert_eq!(
        r.body["result"]["count"],
        ROWS - failed.len() - skipped.len() + 1
    );
}

/// Every stored-hash format of the reference vectors imports (through the core
/// importer with `Auto`, as the CLI does), logs in over HTTP and is rehashed.
async fn every_format_logs_in_and_is_rehashed(srv: Srv) {
    let vectors: Value =
        serde_json::from_str(include_str!("../../../core/tests/vectors/hashes.json")).unwrap();
    let vectors: Vec<(String, String)> = vectors["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["password"].as_str().unwrap().to_owned(),
                v["stored"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["email", "password"]).unwrap();
    for (i, (_, stored)) in vectors.iter().enumerate() {
        csv.write_record([format!("v{i}@example.org"), stored.clone()])
            .unwrap();
    }
    let aegis = &srv.state.aegis;
    let mut w = aegis
        .begin_upload(&Actor::System, SourceFormat::Csv)
        .await
        .unwrap();
    w.write(&csv.into_inner().unwrap()).await.unwrap();
    let source = w.finish().await.unwrap();
    let mapping = Mapping {
        fields: vec![
            FieldMapping {
                column: "email".into(),
                target: Target::Email,
            },
            FieldMapping {
                column: "password".into(),
                target: Target::Password,
            },
        ],
        password: Some(HashParams::new(HashAlgorithm::Auto)),
    };
    let job = aegis
        .start_import(&Actor::System, "vectors", source.id, mapping)
        .await
        .unwrap();
    let job = loop {
        let j = aegis.import_job(&Actor::System, job.id).await.unwrap();
        if j.status != JobStatus::Pending {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(job.counters.successful, vectors.len() as u64, "{job:?}");
    for (i, (password, stored)) in vectors.iter().enumerate() {
        let email = format!("v{i}@example.org");
        assert_eq!(login(&srv, &email, password).await, 200, "{stored}");
        let user = aegis.find_user(&email).await.unwrap();
        let hash = aegis
            .store()
            .get_password_hash(user.id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"),
            "{stored} → {hash}"
        );
    }
}

/// A complete hash past the work-factor limits fails its row, whatever the mapping's own
/// parameter ranges let through: Pangea's `iterations` stop at 1,500,000, and so does
/// a `$pbkdf2-sha512$i=…$` string in the file (it took 10,000,000 before).
async fn costly_hashes_fail_their_rows(srv: Srv) {
    let admin = token(&srv, "admin@example.org", Role::Admin).await;
    let good = "$pbkdf2-sha512$i=1000,l=32$9UzWygkFZ+7okXKS49vRVQ$IchnEU4hJ1HDfRxvDxKgcqJHsblmeh3fRWBUwhH0pWg";
    let costly = good.replace("i=1000,", "i=10000000,");
    let over = good.replace("i=1000,", "i=1500001,");
    let csv = format!(
        "email,first_name,pw\nok@example.org,A,\"{good}\"\ncostly@example.org,B,\"{costly}\"\nover@example.org,C,\"{over}\"\n"
    );
    let r = upload(&srv, &admin, csv).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let source = r.body["result"]["object"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut pw = mapping("pw", "password", "string");
    pw["pangea_field"]["password_hash_params"] = json!({"algorithm": "PBKDF2"});
    let mappings = json!([
        mapping("email", "email", "email"),
        mapping("first_name", "first_name", "string"),
        pw
    ]);
    let r = start(&srv, &admin, &source, mappings).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["result"]["id"].as_str().unwrap().to_owned();
    let done = wait(&srv, &admin, &id, json!({"verbose_failed": true})).await;
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["summary"]["successful"], 1, "{done}");
    assert_eq!(done["summary"]["failed"], 2, "{done}");
    let messages: Vec<&str> = done["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "row 2: password: the hash's work factor is over the limits",
            "row 3: password: the hash's work factor is over the limits",
        ]
    );
    assert_eq!(
        login(&srv, "ok@example.org", "correct horse battery staple").await,
        200
    );
    assert!(srv
        .state
        .aegis
        .find_user("costly@example.org")
        .await
        .is_err());
}

both!(
    upload_import_and_log_in,
    upload_and_mapping_errors,
    many_rows_with_bad_ones,
    every_format_logs_in_and_is_rehashed,
    costly_hashes_fail_their_rows,
);

mod upload_limit {
    fn small(c: &mut aegis_server::Config) {
        c.core.import.max_upload_bytes = 1000;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        crate::harness::run_with(crate::harness::Backend::Sqlite, small, super::upload_limit).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        crate::harness::run_with(
            crate::harness::Backend::Postgres,
            small,
            super::upload_limit,
        )
        .await
    }
}
