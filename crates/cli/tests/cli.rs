//! The `aegis` binary end to end: migrate, create a user and a token with the
//! CLI, serve, use them over HTTP, stop on SIGTERM. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple";

fn aegis(data: &Path, db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aegis"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AEGIS_DATA_DIR", data)
        .env("AEGIS_DATABASE_URL", db)
        // Cheap hashing through configuration, as an operator could choose.
        .env("AEGIS_ARGON2_MEMORY_KIB", "256")
        .env("AEGIS_ARGON2_ITERATIONS", "1")
        .env("AEGIS_LOG", "warn");
    c
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `aegis user create --email EMAIL --role ROLE --password-stdin`, the
/// password written to its stdin.
fn create_user(
    data: &Path,
    db: &str,
    email: &str,
    role: &str,
    password: &str,
) -> std::process::Output {
    let mut child = aegis(data, db)
        .args([
            "user",
            "create",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

async fn scenario(data: &Path, db: &str) {
    ok(aegis(data, db).arg("migrate").output().unwrap());
    ok(create_user(
        data,
        db,
        "Admin@Example.com",
        "admin",
        PASSWORD,
    ));
    // A weak password is refused with a clear message and a failing exit code.
    let out = create_user(data, db, "weak@example.com", "user", "password123");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("too common"));
    // A taken email is named as the email (the username defaults to it).
    let out = create_user(data, db, "admin@example.com", "user", PASSWORD);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("email already exists"), "{stderr}");

    let token = ok(aegis(data, db)
        .args([
            "token",
            "create",
            "--email",
            "admin@example.com",
            "--role",
            "view",
            "--expiry",
            "3600",
        ])
        .output()
        .unwrap());
    let token = token.trim();
    assert!(
        token.starts_with("aeg_") && token.len() == 47,
        "only the token: {token:?}"
    );

    let port = free_port();
    // Every log line, as JSON, at trace level for aegis: searched below for
    // each secret this scenario used.
    let log_path = data.join("serve.log");
    let mut server = aegis(data, db)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env(
            "AEGIS_LOG",
            "debug,aegis_core=trace,aegis_server=trace,aegis_store=trace,hyper=info,hyper_util=info",
        )
        .env("AEGIS_LOG_FORMAT", "json")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let start = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let me: Value = http
        .get(format!("{base}/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "admin@example.com");
    assert_eq!(me["permissions"], json!(["view"]));
    let res = http
        .post(format!("{base}/auth"))
        .json(&json!({"username": "admin@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let pair = res.json::<Value>().await.unwrap();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let wrong = http
        .post(format!("{base}/auth"))
        .json(&json!({"username": "admin@example.com", "password": "Tr0ub4dor&3-wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let renewed = http
        .post(format!("{base}/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200);
    let renewed = renewed.json::<Value>().await.unwrap();
    let me: Value = http
        .get(format!("{base}/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["permissions"], json!(["user", "admin"]));

    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics
        .text()
        .await
        .unwrap()
        .contains("aegis_logins_total{method=\"password\",outcome=\"success\"}"));

    // Graceful stop on SIGTERM.
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    loop {
        if let Some(code) = server.try_wait().unwrap() {
            assert!(code.success(), "exit status {code}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no graceful exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The logs: JSON lines, the request id on each line of a request, and not
    // one of the secrets used above.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.lines().count() > 10, "{log}");
    let mut tagged = 0;
    for line in log.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if v["span"]["name"] == "request" {
            assert!(v["span"]["request_id"].is_string(), "{line}");
            if v["span"]["request_id"] == request_id.as_str() {
                tagged += 1;
            }
        }
    }
    assert!(
        tagged >= 1,
        "the login's lines carry its request id {request_id}: {log}"
    );
    let secrets = [
        PASSWORD,
        "Tr0ub4dor&3-wrong",
        token,
        &access,
        &refresh,
        renewed["access_token"].as_str().unwrap(),
        renewed["refresh_token"].as_str().unwrap(),
    ];
    for secret in secrets {
        assert!(!log.contains(secret), "a secret is in the logs: {secret}");
    }
}

#[tokio::test]
async fn cli_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = format!("sqlite://{}", data.join("aegis.db").display());
    scenario(&data, &db).await;
    // Nested settings from the environment take effect (cheap hashing here).
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
    let (hash,): (String,) =
        sqlx::query_as("SELECT password_hash FROM users WHERE username = 'admin@example.com'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(hash.contains("m=256,t=1"), "{hash}");
    let mode = std::fs::metadata(data.join("kek"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key-encryption key is private");
}

#[tokio::test]
async fn cli_on_postgres() {
    let Ok(url) = std::env::var("AEGIS_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set AEGIS_TEST_POSTGRES_URL"
        );
        eprintln!("skipping PostgreSQL case: AEGIS_TEST_POSTGRES_URL is not set");
        return;
    };
    use sqlx::Connection;
    let name = format!("aegis_cli_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    let db = format!("{base}/{name}");
    let dir = tempfile::tempdir().unwrap();
    scenario(&dir.path().join("data"), &db).await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
