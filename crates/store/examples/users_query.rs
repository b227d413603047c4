//! Benchmark of `Store::query_users` (Pangea `user/list`) on a large user table.
//!
//! ```text
//! cargo run --release -p aegis-store --example users_query -- <DATABASE> [N]
//! ```
//!
//! `DATABASE` is `sqlite` (a fresh file in a temporary directory), a `sqlite:`
//! URL naming a new file, or a `postgres://` URL (a fresh schema, dropped at the
//! end). `N` users (default 1,000,000) are bulk-inserted in SQL (see `fill_*`).
//! For each query, page 1 and page 50 (reached by walking 49 pages with their
//! cursors) are each timed 20 times after a warm-up; the median, fastest and
//! slowest of the whole call and the medians of its statements (page ranges,
//! count) are printed with the query plans.

use std::collections::BTreeMap;
use std::error::Error;
use std::str::FromStr;
use std::time::{Duration, Instant};

use aegis_core::query::{After, Condition, Order, Page, UserField, UserOrder, UserQuery, Value};
use aegis_core::user::User;
use aegis_store::testing::{drop_schema, isolated_postgres};
use aegis_store::{PgStore, SqliteStore};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Executor};

type AnyResult<T> = Result<T, Box<dyn Error>>;

const RUNS: usize = 20;
/// The page timed after page 1.
const FAR_PAGE: usize = 50;
/// Users per bulk `INSERT` (one transaction each).
const BATCH: i64 = 100_000;
/// `created_at` of user 1: 2026-01-01T00:00:00Z; then one minute per two users.
const CREATED_S: i64 = 1_767_225_600;

/// The backend under test, with what it needs to be cleaned up.
enum Backend {
    Sqlite {
        store: SqliteStore,
        url: String,
        _dir: Option<tempfile::TempDir>,
    },
    Postgres {
        store: PgStore,
        url: String,
        schema: String,
    },
}

impl Backend {
    async fn timed(&self, q: &UserQuery) -> AnyResult<(Page<User>, Vec<(String, Duration)>)> {
        Ok(match self {
            Backend::Sqlite { store, .. } => store.time_query_users(q).await?,
            Backend::Postgres { store, .. } => store.time_query_users(q).await?,
        })
    }

    async fn explain(&self, q: &UserQuery) -> AnyResult<String> {
        Ok(match self {
            Backend::Sqlite { store, .. } => store.explain_query_users(q).await?,
            Backend::Postgres { store, .. } => store.explain_query_users(q).await?,
        })
    }
}

/// The two benchmarked listings.
fn queries() -> [(&'static str, UserQuery); 2] {
    [
        (
            r#"{disabled:false, email__contains:["@example.com"]} order_by created_at asc, size 20"#,
            UserQuery {
                conditions: vec![
                    Condition::Eq(UserField::Disabled, Value::Bool(false)),
                    Condition::Contains(UserField::Email, vec!["@example.com".into()]),
                ],
                order_by: UserOrder::CreatedAt,
                order: Order::Asc,
                size: 20,
                after: None,
                skip_total: false,
            },
        ),
        (
            "{} order_by login_count desc, size 100",
            UserQuery {
                conditions: vec![],
                order_by: UserOrder::LoginCount,
                order: Order::Desc,
                size: 100,
                after: None,
                skip_total: false,
            },
        ),
    ]
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let mut args = std::env::args().skip(1);
    let target = args
        .next()
        .ok_or("usage: users_query <sqlite | sqlite:PATH | postgres://URL> [N]")?;
    let n: i64 = args.next().map_or(Ok(1_000_000), |v| v.parse())?;
    let backend = open(&target).await?;
    let outcome = run(&backend, n).await;
    if let Backend::Postgres { url, schema, .. } = &backend {
        drop_schema(url, schema).await?;
        println!("dropped schema {schema}");
    }
    outcome
}

async fn open(target: &str) -> AnyResult<Backend> {
    if target == "sqlite" {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = SqliteStore::open(&url).await?;
        Ok(Backend::Sqlite {
            store,
            url,
            _dir: Some(dir),
        })
    } else if target.starts_with("sqlite:") {
        let store = SqliteStore::open(target).await?;
        Ok(Backend::Sqlite {
            store,
            url: target.to_owned(),
            _dir: None,
        })
    } else {
        let (store, schema) = isolated_postgres(target).await?;
        Ok(Backend::Postgres {
            store,
            url: target.to_owned(),
            schema,
        })
    }
}

async fn run(backend: &Backend, n: i64) -> AnyResult<()> {
    let started = Instant::now();
    let name = match backend {
        Backend::Sqlite { url, .. } => {
            fill_sqlite(url, n).await?;
            "SQLite"
        }
        Backend::Postgres { url, schema, .. } => {
            fill_postgres(url, schema, n).await?;
            "PostgreSQL"
        }
    };
    println!(
        "{name}: inserted {n} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (label, first) in queries() {
        println!("\n=== {label}");
        // Walk to the far page with cursors, timing the walk.
        let mut q = first.clone();
        let walk = Instant::now();
        for _ in 1..FAR_PAGE {
            let (page, _) = backend.timed(&q).await?;
            let last = page.items.last().ok_or("fewer pages than the far page")?;
            q.after = Some(After {
                key: sort_key(last, q.order_by),
                id: last.id,
            });
        }
        println!(
            "walking pages 1..{} with cursors took {:.1} ms",
            FAR_PAGE - 1,
            walk.elapsed().as_secs_f64() * 1000.0
        );
        for (which, query) in [("page 1", &first), ("page 50", &q)] {
            measure(backend, which, query).await?;
            println!("{}", backend.explain(query).await?);
        }
    }
    Ok(())
}

/// Times a query `RUNS` times after a warm-up; prints the whole call and the
/// median of each of its statements.
async fn measure(backend: &Backend, which: &str, q: &UserQuery) -> AnyResult<()> {
    let (page, _) = backend.timed(q).await?;
    let mut total = Vec::with_capacity(RUNS);
    let mut parts: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let (_, timings) = backend.timed(q).await?;
        total.push(t0.elapsed());
        for (label, d) in timings {
            parts.entry(label).or_default().push(d);
        }
    }
    total.sort();
    let split: Vec<String> = parts
        .iter_mut()
        .map(|(label, times)| {
            times.sort();
            format!("{label} {}", ms(times[times.len() / 2]))
        })
        .collect();
    println!(
        "\n{which}: {} users of {} (more: {}); median {}, min {}, max {} ({RUNS} runs); \
         statement medians: {}",
        page.items.len(),
        page.total,
        page.more,
        ms(total[RUNS / 2]),
        ms(total[0]),
        ms(total[RUNS - 1]),
        split.join(", ")
    );
    Ok(())
}

/// The cursor key of a user, as a dialect would put it in `last`.
fn sort_key(u: &User, by: UserOrder) -> Option<Value> {
    match by {
        UserOrder::Id => Some(Value::Id(u.id)),
        UserOrder::CreatedAt => Some(Value::Time(u.created_at)),
        UserOrder::LastLoginAt => u.last_login_at.map(Value::Time),
        UserOrder::LastLoginIp => u.last_login_ip.clone().map(Value::Text),
        UserOrder::LoginCount => Some(Value::Int(u.login_count)),
        UserOrder::Email => u.email.as_ref().map(|e| Value::Text(e.as_str().to_owned())),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The batches `[from, to]` of `1..=n`.
fn batches(n: i64) -> impl Iterator<Item = (i64, i64)> {
    (0..(n + BATCH - 1) / BATCH).map(move |b| (b * BATCH + 1, ((b + 1) * BATCH).min(n)))
}

/// The users, numbered i = 1..N (the same on both backends):
/// - id `00000000-0000-4000-8000-<i, 12 digits>` (id order is creation order);
/// - created one minute per two users (pairs tie on `created_at`);
/// - email `user<i>@<domain>`, the domain cycling example.com, example.com,
///   example.org, mail.test; none for i % 10 = 5 (so 45% contain "@example.com");
/// - disabled when i % 7 = 0;
/// - login_count (i * 7919) % 1000 (ties everywhere), with a last login (and
///   an address) only when it is above 0.
const USER_COLUMNS: &str = "id, username, email, role, active, verified, password_expired, \
                            created_at, updated_at, login_count, last_login_at, last_login_ip";

async fn fill_sqlite(url: &str, n: i64) -> AnyResult<()> {
    let mut conn = SqliteConnection::connect(url).await?;
    for (from, to) in batches(n) {
        let mut tx = conn.begin().await?;
        sqlx::query(&format!(
            "WITH RECURSIVE seq(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?2), \
             u(i, created, logins) AS \
               (SELECT i, (?3 + (i / 2) * 60) * 1000000, (i * 7919) % 1000 FROM seq) \
             INSERT INTO users ({USER_COLUMNS}) \
             SELECT printf('00000000-0000-4000-8000-%012d', i), 'user' || i, \
                    CASE WHEN i % 10 = 5 THEN NULL \
                         ELSE 'user' || i || '@' || \
                              CASE i % 4 WHEN 2 THEN 'example.org' WHEN 3 THEN 'mail.test' \
                                         ELSE 'example.com' END \
                    END, \
                    'user', i % 7 <> 0, 0, 0, created, created, logins, \
                    CASE WHEN logins > 0 THEN created + logins * 3600000000 END, \
                    CASE WHEN logins > 0 THEN '192.0.2.' || (i % 250) END \
             FROM u"
        ))
        .bind(from)
        .bind(to)
        .bind(CREATED_S)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&identifiers_sql("?1", "?2"))
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn fill_postgres(url: &str, schema: &str, n: i64) -> AnyResult<()> {
    let options = PgConnectOptions::from_str(url)?.options([("search_path", schema)]);
    let mut conn = PgConnection::connect_with(&options).await?;
    let created = chrono::DateTime::from_timestamp(CREATED_S, 0).ok_or("bad time")?;
    for (from, to) in batches(n) {
        let mut tx = conn.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO users ({USER_COLUMNS}) \
             SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'user' || i, \
                    CASE WHEN i % 10 = 5 THEN NULL \
                         ELSE 'user' || i || '@' || \
                              CASE i % 4 WHEN 2 THEN 'example.org' WHEN 3 THEN 'mail.test' \
                                         ELSE 'example.com' END \
                    END, \
                    'user', i % 7 <> 0, false, false, created, created, logins, \
                    CASE WHEN logins > 0 THEN created + logins * interval '1 hour' END, \
                    CASE WHEN logins > 0 THEN '192.0.2.' || (i % 250) END \
             FROM generate_series($1::bigint, $2::bigint) AS i, \
                  LATERAL (SELECT $3::timestamptz + (i / 2) * interval '1 minute' AS created, \
                                  (i * 7919) % 1000 AS logins) AS u"
        ))
        .bind(from)
        .bind(to)
        .bind(created)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&identifiers_sql("$1", "$2"))
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    // What autovacuum would have done by the time a table is this big.
    conn.execute("VACUUM (ANALYZE) users").await?;
    conn.execute("ANALYZE user_identifiers").await?;
    Ok(())
}

/// Fills `user_identifiers` for the users whose `num_id` is between the two
/// given parameters (a fresh table numbers users 1, 2, … in insertion order).
fn identifiers_sql(from: &str, to: &str) -> String {
    format!(
        "INSERT INTO user_identifiers (identifier, user_id) \
         SELECT username, id FROM users WHERE num_id BETWEEN {from} AND {to} \
         UNION ALL \
         SELECT email, id FROM users WHERE num_id BETWEEN {from} AND {to} AND email IS NOT NULL"
    )
}
