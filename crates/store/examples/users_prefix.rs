//! Benchmark of `Store::list_users_matching` on a large user table.
//!
//! ```text
//! cargo run --release -p aegis-store --example users_prefix -- <DATABASE> [N]
//! ```
//!
//! `DATABASE` is `sqlite` (a fresh file in a temporary directory), a `sqlite:`
//! URL naming a new file, or a `postgres://` URL (a fresh schema, dropped at the
//! end). `N` users (default 1,000,000) are bulk-inserted in SQL: usernames
//! `user<i>`, emails `<name>.<i>@example.com` with `<name>` cycling through 50
//! first names (one of them `ragu`, so `ragu*` matches N/50), and no email for
//! every tenth user (listed by username, so `user12345*` matches a couple).
//! Then each pattern is listed with a limit of 1000, 20 times after a warm-up,
//! and the median, fastest and slowest times are printed with the query plans.

use std::error::Error;
use std::str::FromStr;
use std::time::{Duration, Instant};

use aegis_core::pattern::Pattern;
use aegis_core::Store;
use aegis_store::testing::{drop_schema, isolated_postgres};
use aegis_store::{PgStore, SqliteStore};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Executor};

type AnyResult<T> = Result<T, Box<dyn Error>>;

/// First names the emails cycle through; `ragu` is number 7 (never a user without email).
const NAMES: [&str; 50] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "ragu", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "quentin", "rupert", "sybil", "trent", "ursula",
    "victor", "walter", "xena", "yusuf", "zoe", "amir", "bea", "chen", "dana", "eli", "fatima",
    "gus", "hana", "igor", "jin", "kai", "lena", "mo", "nina", "omar", "pia", "raj", "sara", "tom",
    "uma", "vera", "wen", "xiu", "yara", "zeke",
];

/// The listed patterns: a broad prefix, a narrow prefix, and (for comparison)
/// one with no prefix, which no index can serve.
const PATTERNS: [&str; 3] = ["ragu*", "user12345*", "*.12346@example.com"];
const LIMIT: u32 = 1000;
const RUNS: usize = 20;
/// Users per bulk `INSERT` (one transaction each).
const BATCH: i64 = 100_000;
/// `created_at`/`updated_at` of every user: 2026-01-01T00:00:00Z.
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

#[tokio::main]
async fn main() -> AnyResult<()> {
    let mut args = std::env::args().skip(1);
    let target = args
        .next()
        .ok_or("usage: users_prefix <sqlite | sqlite:PATH | postgres://URL> [N]")?;
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
    let (name, store): (&str, &dyn Store) = match backend {
        Backend::Sqlite { store, url, .. } => {
            fill_sqlite(url, n).await?;
            ("SQLite", store)
        }
        Backend::Postgres {
            store, url, schema, ..
        } => {
            fill_postgres(url, schema, n).await?;
            ("PostgreSQL", store)
        }
    };
    println!(
        "{name}: inserted {n} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for raw in PATTERNS {
        let pattern = Pattern::parse(raw)?;
        let (users, total) = store.list_users_matching(&pattern, LIMIT).await?;
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t0 = Instant::now();
            store.list_users_matching(&pattern, LIMIT).await?;
            times.push(t0.elapsed());
        }
        times.sort();
        println!(
            "\n{raw:<22} listed {:>4} of {total:>6}: median {}, min {}, max {} ({RUNS} runs)",
            users.len(),
            ms(times[RUNS / 2]),
            ms(times[0]),
            ms(times[RUNS - 1]),
        );
        let plan = match backend {
            Backend::Sqlite { store, .. } => store.explain_users_matching(&pattern, LIMIT).await?,
            Backend::Postgres { store, .. } => {
                store.explain_users_matching(&pattern, LIMIT).await?
            }
        };
        println!("{plan}");
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The batches `[from, to]` of `1..=n`.
fn batches(n: i64) -> impl Iterator<Item = (i64, i64)> {
    (0..(n + BATCH - 1) / BATCH).map(move |b| (b * BATCH + 1, ((b + 1) * BATCH).min(n)))
}

async fn fill_sqlite(url: &str, n: i64) -> AnyResult<()> {
    let mut conn = SqliteConnection::connect(url).await?;
    let names = serde_json::to_string(&NAMES[..])?;
    let created = CREATED_S * 1_000_000;
    for (from, to) in batches(n) {
        let mut tx = conn.begin().await?;
        sqlx::query(
            "WITH RECURSIVE seq(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?2) \
             INSERT INTO users (id, username, email, role, active, verified, password_expired, \
                                created_at, updated_at) \
             SELECT printf('00000000-0000-4000-8000-%012d', i), 'user' || i, \
                    CASE WHEN i % 10 = 5 THEN NULL \
                         ELSE json_extract(?3, '$[' || (i % 50) || ']') || '.' || i || '@example.com' \
                    END, \
                    'user', 1, 0, 0, ?4, ?4 \
             FROM seq",
        )
        .bind(from)
        .bind(to)
        .bind(&names)
        .bind(created)
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
    let names: Vec<String> = NAMES.iter().map(|s| (*s).to_owned()).collect();
    let created = chrono::DateTime::from_timestamp(CREATED_S, 0).ok_or("bad time")?;
    for (from, to) in batches(n) {
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, username, email, role, active, verified, password_expired, \
                                created_at, updated_at) \
             SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'user' || i, \
                    CASE WHEN i % 10 = 5 THEN NULL \
                         ELSE ($3::text[])[i % 50 + 1] || '.' || i || '@example.com' \
                    END, \
                    'user', true, false, false, $4, $4 \
             FROM generate_series($1::bigint, $2::bigint) AS i",
        )
        .bind(from)
        .bind(to)
        .bind(&names)
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
