//! Starts an isolated aegis per test and tears it down afterwards.

use std::future::Future;
use std::sync::Arc;

use aegis_core::clock::ManualClock;
use aegis_core::service::CreateUserRequest;
use aegis_core::{Actor, Role, Store, User};
use aegis_server::{AppState, Config};
use reqwest::{Client, Response};
use serde_json::Value;

/// Which store a case runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server and handles on its insides.
#[derive(Clone)]
pub struct Srv {
    pub base: String,
    pub http: Client,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Cheap hashing for tests, chosen through configuration like any operator would.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.core.argon2.memory_kib = 256;
    c.core.argon2.iterations = 1;
    c
}

/// Runs `case` on a fresh server of `backend`; PostgreSQL cases are skipped (with a
/// note) when no test database is configured outside CI.
pub async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Srv) -> Fut,
    Fut: Future<Output = ()>,
{
    run_with(backend, |_| {}, case).await
}

/// [`run`] with a configuration tweak.
pub async fn run_with<F, Fut>(backend: Backend, tweak: impl FnOnce(&mut Config), case: F)
where
    F: FnOnce(Srv) -> Fut,
    Fut: Future<Output = ()>,
{
    logs::scan();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    tweak(&mut config);
    let clock = Arc::new(ManualClock::new());
    let (store, schema): (Arc<dyn Store>, Option<(String, String)>) = match backend {
        Backend::Sqlite => {
            config.database = Some(format!("sqlite://{}", dir.path().join("t.db").display()));
            (
                aegis_store::connect(&config.database_url()).await.unwrap(),
                None,
            )
        }
        Backend::Postgres => {
            let Some(url) = aegis_store::testing::postgres_test_url() else {
                eprintln!("skipping PostgreSQL case: AEGIS_TEST_POSTGRES_URL is not set");
                return;
            };
            let (store, schema) = aegis_store::testing::isolated_postgres(&url).await.unwrap();
            (Arc::new(store), Some((url, schema)))
        }
    };
    run_on(config, store, clock, case).await;
    if let Some((url, schema)) = schema {
        aegis_store::testing::drop_schema(&url, &schema)
            .await
            .unwrap();
    }
}

/// Runs `case` on a server over an already opened store (which the caller
/// owns and cleans up), as `aegis serve` would run it.
pub async fn run_on<F, Fut>(config: Config, store: Arc<dyn Store>, clock: Arc<ManualClock>, case: F)
where
    F: FnOnce(Srv) -> Fut,
    Fut: Future<Output = ()>,
{
    logs::scan();
    let state = aegis_server::bootstrap::state_with_store(config, store, clock.clone())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let importer = aegis_server::bootstrap::spawn_import_worker(&state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = aegis_server::app(state.clone());
    let served = state.config.clone();
    let server = tokio::spawn(async move {
        aegis_server::serve(listener, app, &served, async move {
            let _ = stopped.await;
        })
        .await
    });
    let srv = Srv {
        base,
        http: Client::new(),
        state,
        clock,
    };
    case(srv).await;
    logs::assert_clean();
    if let Some(importer) = importer {
        importer.abort();
    }
    let _ = stop.send(());
    let _ = server.await;
}

/// Generates `sqlite` and `postgres` tests for each named case.
#[macro_export]
macro_rules! both {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::harness::run($crate::harness::Backend::Sqlite, super::$case).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::harness::run($crate::harness::Backend::Postgres, super::$case).await
            }
        }
    )*};
}

impl Srv {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a user through the core, as the operator would with the CLI.
    pub async fn user(&self, email: &str, role: Role) -> User {
        self.state
            .aegis
            .create_user(
                &Actor::System,
                CreateUserRequest {
                    username: None,
                    email: Some(email.into()),
                    password: Some(PASSWORD.into()),
                    role,
                    profile: Default::default(),
                },
            )
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.http
            .get(self.url(path))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
    }
}

/// Status and JSON body of a response.
pub async fn parts(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// A response's status, headers and JSON body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Srv {
    /// Any request, with an optional bearer and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let headers = res.headers().clone();
        let (status, body) = parts(res).await;
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Logs in through Argon and returns the session token.
    pub async fn argon_login(&self, username: &str) -> String {
        let r = self
            .call(
                "POST",
                "/api/auth/login",
                None,
                Some(serde_json::json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// Mints an API token through Pegasys with `bearer`.
    pub async fn mint(&self, bearer: &str, role: &str, expiry: i64) -> Reply {
        self.call(
            "POST",
            "/api/tokens/local",
            Some(bearer),
            Some(serde_json::json!({"role": role, "expiry": expiry})),
        )
        .await
    }
}

/// Every log line of every test, at trace level for aegis and debug for its
/// libraries (SQL statements, requests), is scanned for secrets: the
/// passwords the tests use, access tokens (JWTs), API tokens and login codes,
/// TOTP secrets and password hashes. A line holding one fails the test run.
mod logs {
    use std::io;
    use std::sync::{Mutex, Once};

    static LEAKS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    /// Passwords the HTTP tests send (right and wrong: a wrong password is
    /// often a typo of the right one).
    const PASSWORDS: &[&str] = &[
        super::PASSWORD,
        "wrong password",
        "not the password",
        "a new long passphrase",
        "a fresh long passphrase",
        "a brand new passphrase",
        "Dan The Man",
        "password123",
    ];

    /// Shapes of secrets aegis issues or stores.
    const SHAPES: &[&str] = &[
        "eyJhbGci", // a JWT header
        "aeg_",     // API token
        "pmc_",     // login code
        "otpauth://",
        "$argon2",
        "$2b$",
    ];

    fn leaks(line: &str) -> bool {
        PASSWORDS.iter().chain(SHAPES).any(|s| line.contains(s))
    }

    struct Scanner;

    impl io::Write for Scanner {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let line = String::from_utf8_lossy(buf);
            if leaks(&line) {
                LEAKS.lock().unwrap().push(line.into_owned());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    pub fn scan() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let filter = tracing_subscriber::EnvFilter::new(
                "debug,aegis_core=trace,aegis_server=trace,aegis_store=trace,\
                 hyper=info,hyper_util=info,h2=info,reqwest=info",
            );
            let _ = tracing_subscriber::fmt()
                .json()
                .with_env_filter(filter)
                .with_writer(|| Scanner)
                .try_init();
        });
    }

    pub fn assert_clean() {
        let leaks = LEAKS.lock().unwrap().clone();
        assert!(
            leaks.is_empty(),
            "secrets in the logs:\n{}",
            leaks.join("\n")
        );
    }

    #[test]
    fn the_scanner_sees_secrets() {
        assert!(leaks(
            r#"{"fields":{"token":"eyJhbGciOiJFZERTQSJ9.e30.x"}}"#
        ));
        assert!(leaks("login failed for correct horse battery staple"));
        assert!(leaks("aeg_0123456789abcdef"));
        assert!(!leaks(
            r#"{"fields":{"message":"request finished","status":200}}"#
        ));
    }
}
