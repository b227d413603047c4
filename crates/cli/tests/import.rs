//! Bulk import with the real binary: `aegis import` (summary, failed rows, JSONL,
//! `--dry-run`, `--mapping`) and then logging in as an imported user; and the crash
//! test: `kill -9` of `aegis serve` twice in the middle of a job, restarts, and every
//! row lands exactly once. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Connection;

const PASSWORD: &str = "correct horse battery staple";
/// A bcrypt hash (cost 4) of [`PASSWORD`], made by Python's `bcrypt`.
const BCRYPT: &str = "$2b$04$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6";

/// A fresh database and data directory for one test.
struct Db {
    dir: tempfile::TempDir,
    url: String,
    /// PostgreSQL: the server URL the database was created from, and its name.
    pg: Option<(String, String)>,
}

impl Db {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}",
            dir.path().join("data").join("aegis.db").display()
        );
        Self { dir, url, pg: None }
    }

    /// A new database on `AEGIS_TEST_POSTGRES_URL`'s server; `None` (skip) without it,
    /// unless `CI` is set.
    async fn postgres() -> Option<Self> {
        let Ok(server) = std::env::var("AEGIS_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set AEGIS_TEST_POSTGRES_URL"
            );
            eprintln!("skipping PostgreSQL case: AEGIS_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("aegis_import_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&server).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let (base, _) = server.rsplit_once('/').unwrap();
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            url: format!("{base}/{name}"),
            pg: Some((server, name)),
        })
    }

    async fn drop_database(self) {
        if let Some((server, name)) = &self.pg {
            let mut conn = sqlx::PgConnection::connect(server).await.unwrap();
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn aegis(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_aegis"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AEGIS_DATA_DIR", self.path("data"))
            .env("AEGIS_DATABASE_URL", &self.url)
            .env("AEGIS_ARGON2_MEMORY_KIB", "256")
            .env("AEGIS_ARGON2_ITERATIONS", "1")
            .env("AEGIS_LOG", "warn");
        c
    }

    /// `aegis import ARGS…`.
    fn import(&self, args: &[&str]) -> std::process::Output {
        self.aegis().arg("import").args(args).output().unwrap()
    }

    /// A query's single integer.
    async fn int(&self, sql: &str) -> i64 {
        if self.pg.is_some() {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }

    /// The stored outcome of every row of the job `job` (a query of its id): row number,
    /// status and user id. Failed and skipped rows (and created rows written
    /// before `import_created`) are reported one by one in `import_rows`; the
    /// created rows of a batch are packed in one `import_created` record, 24
    /// bytes each: the row number (little-endian) and the user id.
    async fn reports(&self, job: &str) -> Vec<(u64, String, Option<String>)> {
        let of_job = format!("job_id = ({job})");
        let one_by_one =
            format!("SELECT row, status, CAST(user_id AS TEXT) FROM import_rows WHERE {of_job}");
        let packed = format!("SELECT packed FROM import_created WHERE {of_job}");
        type Reported = Vec<(i64, String, Option<String>)>;
        let (rows, records): (Reported, Vec<Vec<u8>>) = if self.pg.is_some() {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let rows = sqlx::query_as(&one_by_one).fetch_all(&mut c).await.unwrap();
            (
                rows,
                sqlx::query_scalar(&packed).fetch_all(&mut c).await.unwrap(),
            )
        } else {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            let rows = sqlx::query_as(&one_by_one).fetch_all(&mut c).await.unwrap();
            (
                rows,
                sqlx::query_scalar(&packed).fetch_all(&mut c).await.unwrap(),
            )
        };
        let mut out: Vec<_> = rows
            .into_iter()
            .map(|(row, status, id)| (u64::try_from(row).unwrap(), status, id))
            .collect();
        for record in records {
            assert_eq!(record.len() % 24, 0, "a packed record of whole entries");
            for entry in record.chunks_exact(24) {
                let row = u64::from_le_bytes(entry[..8].try_into().unwrap());
                let id = uuid::Uuid::from_slice(&entry[8..]).unwrap();
                out.push((row, "success".to_owned(), Some(id.hyphenated().to_string())));
            }
        }
        out.sort();
        out
    }

    /// Every user's id.
    async fn user_ids(&self) -> std::collections::HashSet<String> {
        let sql = "SELECT CAST(id AS TEXT) FROM users";
        let ids: Vec<String> = if self.pg.is_some() {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        };
        ids.into_iter().collect()
    }

    /// A query's single text value.
    async fn text(&self, sql: &str) -> Option<String> {
        if self.pg.is_some() {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

/// An import that ran with `failed` failed rows: it says so and exits non-zero
/// (issue 15 §11), after printing its summary.
fn with_failures(out: std::process::Output, failed: u64) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{failed} rows failed (--allow-failed-rows accepts that)"
        )),
        "{stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
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

/// A running `aegis serve`; dropping it kills it.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(db: &Db, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut cmd = db.aegis();
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut server = Self {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let start = Instant::now();
        while http
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_err()
        {
            assert!(server.child.try_wait().unwrap().is_none(), "server exited");
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// `kill -9`.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// `kill -TERM`, and wait for the graceful exit.
    fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(self.child.wait().unwrap().success(), "graceful exit");
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn login(&self, email: &str, password: &str) -> u16 {
        self.post(
            "/api/auth/login",
            None,
            json!({"username": email, "password": password}),
        )
        .await
        .0
    }

    /// `import/get`'s result (asserting 200).
    async fn job(&self, token: &str, id: &str, verbose: Value) -> Value {
        let mut body = json!({ "id": id });
        body.as_object_mut()
            .unwrap()
            .extend(verbose.as_object().unwrap().clone());
        let (status, body) = self.post("/v2/users/import/get", Some(token), body).await;
        assert_eq!(status, 200, "{body}");
        body["result"].clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// `aegis import`

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn lines(stdout: &str) -> Vec<&str> {
    stdout.lines().collect()
}

async fn cli_scenario(db: &Db) {
    ok(db.aegis().arg("migrate").output().unwrap());

    // CSV with the default mapping: a bad email, a plaintext password, a duplicate,
    // a formula, a short row. CRLF and a BOM, as spreadsheets write them.
    let csv = db.path("users.csv");
    write(
        &csv,
        &format!(
            "\u{feff}email,first_name,last_name,password,shoe_size\r\n\
             Ann@Example.org,Ann,Lee,{BCRYPT},38\r\n\
             bob@example.org,Bob,,,\r\n\
             not-an-email,X,,,\r\n\
             carl@example.org,Carl,,hunter2,\r\n\
             ann@example.org,Dup,,,\r\n\
             \"=HYPERLINK(\"\"http://x\"\")\"@x,Eve,,,\r\n\
             dana@example.org,Dana,\"Smith, Jr.\",{BCRYPT},41\r\n\
             short,row\r\n"
        ),
    );
    let out = db.import(&[csv.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = with_failures(out, 4);
    assert!(
        stderr.contains("ignoring columns without a mapping: shoe_size"),
        "{stderr}"
    );
    let l = lines(&stdout);
    assert_eq!(
        l[..4],
        [
            "row 3: email: does not match pattern",
            "row 4: password: not a password hash in a supported format",
            "row 6: email: does not match pattern",
            "row 8: row: expected 5 fields, found 2",
        ],
        "{stdout}"
    );
    assert_eq!(l.len(), 5, "{stdout}");
    assert!(l[4].starts_with("import "), "{stdout}");
    assert!(
        l[4].contains(" success: 8 rows, 3 created, 1 skipped, 4 failed in "),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2") && !stdout.contains("HYPERLINK"));
    assert_eq!(
        db.int("SELECT COUNT(*) FROM import_jobs WHERE name = 'users.csv' AND status = 'success'")
            .await,
        1
    );
    assert_eq!(
        db.text("SELECT profile->>'last_name' FROM users WHERE email = 'dana@example.org'")
            .await
            .as_deref(),
        Some("Smith, Jr.")
    );

    // JSONL (chosen with --format), with a job name: a bad boolean, a line that is
    // not an object, a nested value, a blank line (not a row).
    let jsonl = db.path("more.txt");
    write(
        &jsonl,
        &format!(
            "{{\"email\":\"erin@example.org\",\"first_name\":\"Erin\",\"password\":\"{BCRYPT}\",\"verified\":true}}\n\
             {{\"email\":\"frank@example.org\",\"verified\":\"maybe\"}}\n\
             not json\n\
             \n\
             {{\"email\":\"gus@example.org\",\"first_name\":{{\"a\":1}}}}\n\
             {{\"email\":\"hal@example.org\",\"username\":\"Hal_9000\",\"phone\":\"+15551234567\",\"disabled\":false,\"verified\":null}}\n"
        ),
    );
    let stdout = with_failures(
        db.import(&[
            jsonl.to_str().unwrap(),
            "--format",
            "jsonl",
            "--name",
            "legacy-jsonl",
        ]),
        3,
    );
    let l = lines(&stdout);
    assert_eq!(
        l[..3],
        [
            "row 2: verified: not a boolean",
            "row 3: row: not a JSON object",
            "row 4: row: nested values are not supported",
        ],
        "{stdout}"
    );
    assert_eq!(l.len(), 4, "{stdout}");
    assert!(
        l[3].contains(" success: 5 rows, 2 created, 0 skipped, 3 failed in "),
        "{stdout}"
    );
    assert_eq!(
        db.int("SELECT COUNT(*) FROM import_jobs WHERE name = 'legacy-jsonl'")
            .await,
        1
    );
    assert_eq!(
        db.text("SELECT username FROM users WHERE email = 'hal@example.org'")
            .await
            .as_deref(),
        Some("hal_9000")
    );

    // --dry-run reports the same failures and writes nothing at all.
    let users = db.int("SELECT COUNT(*) FROM users").await;
    let sources = db.int("SELECT COUNT(*) FROM import_sources").await;
    let dry = db.path("dry.csv");
    write(
        &dry,
        "email,first_name\nivy@example.org,Ivy\nbad,X\njay@example.org,Jay\n",
    );
    let stdout = with_failures(db.import(&[dry.to_str().unwrap(), "--dry-run"]), 1);
    let l = lines(&stdout);
    assert_eq!(l.len(), 2, "{stdout}");
    assert_eq!(l[0], "row 2: email: does not match pattern");
    assert!(
        l[1].starts_with("dry run: 3 rows, 2 valid, 1 invalid (")
            && l[1].ends_with("); nothing was written"),
        "{stdout}"
    );
    // Hashes past the work-factor limits fail their rows (the core's one table): a
    // sha512-crypt of 10,000,000 rounds, a PBKDF2 past 1,500,000 iterations.
    let costly = db.path("costly.csv");
    write(
        &costly,
        &format!(
            "email,password\n\
             mo@example.org,$6$rounds=10000000$saltsalt${}\n\
             ned@example.org,$6$rounds=656000$saltsalt${}\n\
             ola@example.org,pbkdf2_sha256$10000000$salt$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA==\n",
            "a".repeat(86),
            "a".repeat(86)
        ),
    );
    let stdout = with_failures(db.import(&[costly.to_str().unwrap(), "--dry-run"]), 2);
    let l = lines(&stdout);
    assert_eq!(
        l[..2],
        [
            "row 1: password: the hash's work factor is over the limits",
            "row 3: password: the hash's work factor is over the limits",
        ],
        "{stdout}"
    );
    assert!(
        l[2].starts_with("dry run: 3 rows, 1 valid, 2 invalid ("),
        "{stdout}"
    );
    assert_eq!(db.int("SELECT COUNT(*) FROM users").await, users);
    assert_eq!(db.int("SELECT COUNT(*) FROM import_sources").await, sources);
    assert_eq!(db.int("SELECT COUNT(*) FROM import_jobs").await, 2);

    // A mapping file (the core `Mapping`'s JSON form).
    let mapped = db.path("crm.csv");
    write(
        &mapped,
        &format!("mail,dept,pw,notes\nkim@example.org,R&D,{BCRYPT},zzz\nlee@example.org,Ops,$2b$04$short,\n"),
    );
    let mapping = db.path("mapping.json");
    write(
        &mapping,
        r#"{"fields":[{"column":"mail","target":"email"},
                      {"column":"dept","target":{"profile":"dept"}},
                      {"column":"pw","target":"password"}],
            "password":{"algorithm":"BCRYPT"}}"#,
    );
    // Failed rows may be accepted.
    let stdout = ok(db.import(&[
        mapped.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
        "--allow-failed-rows",
    ]));
    let l = lines(&stdout);
    assert_eq!(l[0], "row 2: password: not a valid BCRYPT hash", "{stdout}");
    assert!(
        l[1].contains(" success: 2 rows, 1 created, 0 skipped, 1 failed in "),
        "{stdout}"
    );
    assert_eq!(
        db.text("SELECT profile->>'dept' FROM users WHERE email = 'kim@example.org'")
            .await
            .as_deref(),
        Some("R&D")
    );
    // A mapping that cannot work fails before anything is uploaded, naming the column.
    let jobs = db.int("SELECT COUNT(*) FROM import_jobs").await;
    for (text, want) in [
        (
            r#"{"fields":[{"column":"nope","target":"email"}]}"#,
            "\"nope\"",
        ),
        (
            r#"{"fields":[{"column":"dept","target":{"profile":"dept"}}]}"#,
            "no column holds the email: add an `email` column, or map one to `email` with --mapping FILE",
        ),
        (
            r#"{"fields":[{"column":"mail","target":"mail"}]}"#,
            "not valid",
        ),
        // Hash parameters as mapping fields meet the same limits.
        (
            r#"{"fields":[{"column":"mail","target":"email"},{"column":"pw","target":"password"}],
                "password":{"algorithm":"PBKDF2","iterations":2000000}}"#,
            "iterations must be between 1 and 1500000",
        ),
    ] {
        write(&mapping, text);
        let out = db.import(&[
            mapped.to_str().unwrap(),
            "--mapping",
            mapping.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(stderr.contains(want), "{text}: {stderr}");
    }
    assert_eq!(db.int("SELECT COUNT(*) FROM import_jobs").await, jobs);
    let missing = db.import(&[db.path("absent.csv").to_str().unwrap()]);
    assert!(!missing.status.success());
    // A file that is not comma-separated: the message says what to do and
    // names the delimiter it saw.
    let semi = db.path("semi.csv");
    write(&semi, "email;first_name\nzed@example.org;Zed\n");
    let out = db.import(&[semi.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no column holds the email: add an `email` column"),
        "{stderr}"
    );
    assert!(stderr.contains("contains ';'"), "{stderr}");

    let created = db
        .int("SELECT COUNT(*) FROM users WHERE email LIKE '%@example.org'")
        .await;
    assert_eq!(created, 3 + 2 + 1, "ann bob dana, erin hal, kim");

    // The imported hashes log in over HTTP and are replaced by argon2id.
    let server = Server::start(db, &[("AEGIS_IMPORT_POLL_MS", "10")]).await;
    for email in ["ann@example.org", "dana@example.org", "erin@example.org"] {
        assert_eq!(server.login(email, PASSWORD).await, 200, "{email}");
    }
    assert_eq!(server.login("kim@example.org", PASSWORD).await, 200);
    assert_eq!(server.login("ann@example.org", "wrong password").await, 401);
    assert_eq!(server.login("bob@example.org", PASSWORD).await, 401);
    let hash = db
        .text("SELECT password_hash FROM users WHERE email = 'ann@example.org'")
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "rehashed at login: {hash}");
    let hash = db
        .text("SELECT password_hash FROM users WHERE email = 'hal@example.org'")
        .await;
    assert_eq!(hash, None);

    // With a server on the same database, either may run the CLI's job; the CLI
    // follows it to the end all the same.
    for i in 0..3 {
        let late = db.path("late.csv");
        write(
            &late,
            &format!("email,password\nlate{i}@example.org,{BCRYPT}\n"),
        );
        let stdout = ok(db.import(&[late.to_str().unwrap()]));
        assert!(
            stdout.contains(" success: 1 rows, 1 created, 0 skipped, 0 failed in "),
            "{stdout}"
        );
        let email = format!("late{i}@example.org");
        assert_eq!(server.login(&email, PASSWORD).await, 200);
    }
}

#[tokio::test]
async fn cli_import_on_sqlite() {
    cli_scenario(&Db::sqlite()).await;
}

#[tokio::test]
async fn cli_import_on_postgres() {
    let Some(db) = Db::postgres().await else {
        return;
    };
    cli_scenario(&db).await;
    db.drop_database().await;
}

// ---------------------------------------------------------------------------
// The crash test

/// Data rows of the crash test's file.
const ROWS: u64 = 200_000;

/// What row `i` (from 1) of the crash file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A new user `user{i}@example.com`.
    New,
    /// The admin's email: skipped.
    Admin,
    /// The email of row `i - 777`, created earlier (often in an earlier batch, or
    /// before a restart): skipped.
    Duplicate,
    /// No `@` in the email: failed.
    BadEmail,
    /// A quoted line break in `first_name`: failed (a CSV record over two lines).
    LineBreak,
}

fn kind(i: u64) -> Kind {
    match i % 1000 {
        _ if i == 1 => Kind::Admin,
        500 => Kind::BadEmail,
        700 => Kind::LineBreak,
        900 => Kind::Duplicate,
        _ => Kind::New,
    }
}

fn crash_csv() -> String {
    let mut s = String::with_capacity(ROWS as usize * 100);
    s.push_str("email,first_name,password\r\n");
    for i in 1..=ROWS {
        let _ = match kind(i) {
            Kind::Admin => write!(s, "admin@example.com,\"Ad, Min\",{BCRYPT}\r\n"),
            Kind::New => write!(s, "user{i}@example.com,\"First, {i}\",{BCRYPT}\r\n"),
            Kind::Duplicate => write!(s, "user{}@example.com,Dup {i},{BCRYPT}\r\n", i - 777),
            Kind::BadEmail => write!(s, "user{i}.example.com,Bad {i},{BCRYPT}\r\n"),
            Kind::LineBreak => write!(s, "user{i}@example.com,\"Line\r\nbreak\",{BCRYPT}\r\n"),
        };
    }
    s
}

async fn upload(server: &Server, token: &str, csv: String) -> String {
    let form = reqwest::multipart::Form::new()
        .part(
            "request",
            reqwest::multipart::Part::text(r#"{"transfer_method":"multipart","file_type":"csv"}"#)
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "upload",
            reqwest::multipart::Part::bytes(csv.into_bytes())
                .file_name("crash.csv")
                .mime_str("text/csv")
                .unwrap(),
        );
    let res = reqwest::Client::new()
        .post(format!("{}/v2/users/sources/upload", server.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["result"]["object"]["id"].as_str().unwrap().to_owned()
}

/// Creates the admin user and an admin API token with the CLI.
fn admin_token(db: &Db) -> String {
    let mut child = db
        .aegis()
        .args([
            "user",
            "create",
            "--email",
            "admin@example.com",
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
    ok(child.wait_with_output().unwrap());
    let token = ok(db
        .aegis()
        .args([
            "token",
            "create",
            "--email",
            "admin@example.com",
            "--role",
            "admin",
            "--expiry",
            "3600",
        ])
        .output()
        .unwrap());
    token.trim().to_owned()
}

async fn crash_scenario(db: &Db) {
    let began = Instant::now();
    ok(db.aegis().arg("migrate").output().unwrap());
    let token = admin_token(db);
    // Small batches and a short lease: the job takes seconds and a restarted server
    // takes it over one second after the last commit of the killed one.
    let env = [
        ("AEGIS_IMPORT_LEASE_S", "1"),
        ("AEGIS_IMPORT_BATCH_ROWS", "500"),
        ("AEGIS_IMPORT_POLL_MS", "100"),
    ];
    let mut server = Server::start(db, &env).await;
    let csv = crash_csv();
    let size = csv.len() as i64;
    let source = upload(&server, &token, csv).await;
    let (status, body) = server
        .post(
            "/v2/users/import",
            Some(&token),
            json!({"name": "crash", "source_id": source, "field_mappings": [
                {"source_field": {"source_field_name": "email", "source_field_type": "string"},
                 "pangea_field": {"pangea_field_name": "email", "pangea_field_type": "email"}},
                {"source_field": {"source_field_name": "first_name", "source_field_type": "string"},
                 "pangea_field": {"pangea_field_name": "first_name", "pangea_field_type": "string"}},
                {"source_field": {"source_field_name": "password", "source_field_type": "string"},
                 "pangea_field": {"pangea_field_name": "password", "pangea_field_type": "string",
                                  "password_hash_params": {"algorithm": "BCRYPT"}}}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"]["id"].as_str().unwrap().to_owned();

    // Kill twice: early, and past the middle, at a varying time after a commit;
    // then stop gracefully (SIGTERM), which gives the job back at once.
    for (kill_at, delay_ms, graceful) in [
        (ROWS / 10, 0, false),
        (ROWS / 2, 30, false),
        (ROWS * 3 / 4, 0, true),
    ] {
        let start = Instant::now();
        let total = loop {
            let job = server.job(&token, &id, json!({})).await;
            let total = job["summary"]["total"].as_u64().unwrap();
            if total >= kill_at {
                assert_eq!(job["status"], "pending", "{job}");
                break total;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no progress");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        assert!(total < ROWS, "the job ended before the kill: {total}");
        if graceful {
            server.terminate();
            let released = db
                .int(
                    "SELECT COUNT(*) FROM import_jobs WHERE name = 'crash' \
                     AND (status <> 'pending' OR lease_owner IS NULL)",
                )
                .await;
            assert_eq!(released, 1, "a graceful stop gives the lease back");
        } else {
            server.kill();
        }
        server = Server::start(db, &env).await;
        let job = server.job(&token, &id, json!({})).await;
        let after = job["summary"]["total"].as_u64().unwrap();
        assert!(
            after >= total,
            "committed rows were lost: {after} < {total}"
        );
        eprintln!("killed at {total} rows; restarted at {after}");
    }

    let start = Instant::now();
    let job = loop {
        let job = server
            .job(
                &token,
                &id,
                json!({"verbose_failed": true, "verbose_skipped": true}),
            )
            .await;
        if job["status"] != "pending" {
            break job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the job did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["status"], "success", "{}", job["summary"]);

    // Exactly the expected outcome for every row.
    let mut want_failed = Vec::new();
    let mut want_skipped = Vec::new();
    for i in 1..=ROWS {
        match kind(i) {
            Kind::New => {}
            Kind::Admin | Kind::Duplicate => {
                want_skipped.push(format!("row {i}: email: already exists"));
            }
            Kind::BadEmail => want_failed.push(format!("row {i}: email: does not match pattern")),
            Kind::LineBreak => {
                want_failed.push(format!("row {i}: first_name: contains a control character"));
            }
        }
    }
    let created = ROWS - want_failed.len() as u64 - want_skipped.len() as u64;
    let s = &job["summary"];
    assert_eq!(
        (s["total"].as_u64(), s["successful"].as_u64()),
        (Some(ROWS), Some(created)),
        "{s}"
    );
    assert_eq!(s["failed"].as_u64(), Some(want_failed.len() as u64), "{s}");
    assert_eq!(
        s["skipped"].as_u64(),
        Some(want_skipped.len() as u64),
        "{s}"
    );
    let details = job["details"].as_array().unwrap();
    let messages = |status: &str| -> Vec<String> {
        details
            .iter()
            .filter(|d| d["status"] == status)
            .map(|d| d["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(messages("failed"), want_failed);
    assert_eq!(messages("skipped"), want_skipped);

    // And in the database: every valid row once, one report per row.
    assert_eq!(
        db.int("SELECT COUNT(*) FROM users WHERE email LIKE 'user%@example.com'")
            .await,
        created as i64
    );
    assert_eq!(
        db.int("SELECT COUNT(*) FROM users").await,
        created as i64 + 1
    );
    let reports = db
        .reports("SELECT id FROM import_jobs WHERE name = 'crash'")
        .await;
    let rows: Vec<u64> = reports.iter().map(|r| r.0).collect();
    assert_eq!(
        rows,
        (1..=ROWS).collect::<Vec<_>>(),
        "every row reported once"
    );
    // Every success row names a distinct user that exists.
    let users = db.user_ids().await;
    let created_ids: std::collections::HashSet<&String> = reports
        .iter()
        .filter(|r| r.1 == "success")
        .map(|r| r.2.as_ref().unwrap())
        .collect();
    assert_eq!(created_ids.len() as u64, created);
    assert!(created_ids.iter().all(|id| users.contains(*id)));
    // The checkpoint is the end of the file (the CSV reader stops after the last CR
    // of a CRLF file: the LF left over is an empty line).
    let checkpoint = db
        .int("SELECT checkpoint FROM import_jobs WHERE name = 'crash'")
        .await;
    assert!(
        (size - 1..=size).contains(&checkpoint),
        "{checkpoint} of {size}"
    );
    assert_eq!(server.login("user2@example.com", PASSWORD).await, 200);
    assert_eq!(server.login("user123@example.com", PASSWORD).await, 200);
    eprintln!("crash test took {:.1}s", began.elapsed().as_secs_f64());
}

#[tokio::test]
async fn crash_mid_import_on_sqlite() {
    crash_scenario(&Db::sqlite()).await;
}

#[tokio::test]
async fn crash_mid_import_on_postgres() {
    let Some(db) = Db::postgres().await else {
        return;
    };
    crash_scenario(&db).await;
    db.drop_database().await;
}

// ---------------------------------------------------------------------------
// Two batches in flight (PostgreSQL)

/// On PostgreSQL a batch is written while the one before it commits, and waits
/// for its turn at most `import.lease_s`. Here the first batch is held up by
/// another transaction (an uncommitted user with the email of its first row)
/// for longer than that: the second batch's turn comes too late, it rolls back
/// and is written again once the first is in. The import ends well, every row
/// once.
#[tokio::test]
async fn late_turn_is_written_again_on_postgres() {
    let Some(db) = Db::postgres().await else {
        return;
    };
    ok(db.aegis().arg("migrate").output().unwrap());
    let csv = db.path("users.csv");
    let mut text = String::from("email,first_name\n");
    for i in 1..=6 {
        writeln!(text, "a{i}@example.com,A{i}").unwrap();
    }
    write(&csv, &text);

    let mut blocker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query(
        "INSERT INTO users (id, username, email, role, active, verified, password_expired, \
         created_at, updated_at) VALUES (gen_random_uuid(), 'blocker', 'a1@example.com', 'user', \
         true, true, false, now(), now())",
    )
    .execute(&mut blocker)
    .await
    .unwrap();

    let started = Instant::now();
    let import = db
        .aegis()
        .env("AEGIS_IMPORT_BATCH_ROWS", "2")
        .env("AEGIS_IMPORT_LEASE_S", "1")
        .arg("import")
        .arg(&csv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    let out = tokio::task::spawn_blocking(move || import.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = ok(out);
    assert!(started.elapsed() >= Duration::from_secs(3));
    // It never stopped to resume from its checkpoint.
    assert!(!stderr.contains("interrupted"), "{stderr}");
    assert!(
        stdout.contains("6 rows, 6 created, 0 skipped, 0 failed"),
        "{stdout}"
    );
    assert_eq!(
        db.int("SELECT count(*) FROM users WHERE email LIKE 'a_@example.com'")
            .await,
        6
    );
    let reports = db.reports("SELECT id FROM import_jobs").await;
    let rows: Vec<_> = reports.iter().map(|r| (r.0, r.1.as_str())).collect();
    assert_eq!(
        rows,
        (1..=6).map(|row| (row, "success")).collect::<Vec<_>>()
    );
    db.drop_database().await;
}
