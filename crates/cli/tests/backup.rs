//! `aegis backup` and `aegis restore` on SQLite: an online backup while the
//! server runs, a restore refused under a live server, a restore that brings
//! back exactly the backed-up users (and keeps the replaced database), and
//! clean refusals of bad input. PostgreSQL gets pg_dump instructions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const PASSWORD: &str = "correct horse battery staple";

fn aegis(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aegis"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AEGIS_DATA_DIR", data)
        .env("AEGIS_ARGON2_MEMORY_KIB", "256")
        .env("AEGIS_ARGON2_ITERATIONS", "1")
        .env("AEGIS_LOG", "warn");
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn create_user(data: &Path, email: &str) {
    let mut child = aegis(data)
        .args([
            "user",
            "create",
            "--email",
            email,
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn serve(data: &Path) -> (Child, String) {
    let port = free_port();
    let child = aegis(data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, base)
}

fn stop(mut child: Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

async fn login_status(base: &str, email: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/auth"))
        .json(&json!({"username": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sqlite_backup_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_user(&data, "kept@example.com");
    let backup = dir.path().join("aegis.backup");

    // Online: the server keeps running (and answering) during the backup.
    let (server, base) = serve(&data).await;
    let out = run(aegis(&data).args(["backup", "--to"]).arg(&backup));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("backed up 1 users"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("key-encryption key"),
        "{}",
        stderr(&out)
    );
    assert_eq!(login_status(&base, "kept@example.com").await, 200);

    // A second backup never overwrites the first.
    let out = run(aegis(&data).args(["backup", "--to"]).arg(&backup));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("exists already"), "{}", stderr(&out));

    // Restoring under a live server is refused, and changes nothing.
    let out = run(aegis(&data).args(["restore", "--from"]).arg(&backup));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("server is running"),
        "{}",
        stderr(&out)
    );
    stop(server);

    // A user created after the backup is gone after the restore; the replaced
    // database is kept beside it.
    create_user(&data, "later@example.com");
    let out = run(aegis(&data).args(["restore", "--from"]).arg(&backup));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("restored 1 users"),
        "{}",
        stderr(&out)
    );
    let kept: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "the replaced database is kept");

    let (server, base) = serve(&data).await;
    assert_eq!(login_status(&base, "kept@example.com").await, 200);
    assert_eq!(login_status(&base, "later@example.com").await, 401);
    stop(server);

    // Garbage is refused before anything is touched.
    let junk = dir.path().join("junk.backup");
    std::fs::write(&junk, b"not a database at all").unwrap();
    let out = run(aegis(&data).args(["restore", "--from"]).arg(&junk));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a SQLite database"),
        "{}",
        stderr(&out)
    );
    let out = run(aegis(&data)
        .args(["restore", "--from"])
        .arg(dir.path().join("missing")));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no file"), "{}", stderr(&out));
    let (server, base) = serve(&data).await;
    assert_eq!(login_status(&base, "kept@example.com").await, 200);
    stop(server);
}

#[tokio::test]
async fn postgres_backup_points_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(aegis(dir.path())
        .env(
            "AEGIS_DATABASE_URL",
            "postgres://aegis:hunter2pw@127.0.0.1:1/aegis",
        )
        .args(["backup", "--to"])
        .arg(dir.path().join("b")));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("pg_dump --format=custom"), "{err}");
    assert!(!err.contains("hunter2pw"), "{err}");
}
