//! Throughput of `Store::commit_import_batch`: how many imported users per second
//! a backend takes, the users' records and the row reports included.
//!
//! ```text
//! cargo run --release -p aegis-store --example import_batch -- [TARGET]... [--users N] [--batch B] [--usernames]
//! ```
//!
//! `TARGET` is `sqlite` (a fresh file in a temporary directory) or a `postgres://`
//! URL (a fresh schema, dropped at the end); without one, SQLite and then the
//! server in `AEGIS_TEST_POSTGRES_URL`, if set. `N` users (default 200,000) are
//! committed in batches of `B` rows (default 2,000) to one job, one batch after
//! another as the import runner does. Every user has an email (its username, as
//! when no column maps to `username`; `--usernames` gives each a distinct username,
//! so two identifiers), a bcrypt hash, a two-key profile and a phone. Every 100th
//! row is a failed row and every 50th repeats an earlier email (skipped).
//! The batches are built before the clock starts.

use std::collections::BTreeMap;
use std::error::Error;
use std::time::{Duration, Instant};

use aegis_core::identity::{Email, Username};
use aegis_core::import::{
    Batch, Counters, ImportJob, JobStatus, Mapping, RowInput, SourceFormat, Target, Turn,
};
use aegis_core::user::{NewUser, Role};
use aegis_core::Store;
use aegis_store::testing::{drop_schema, isolated_postgres, POSTGRES_URL_ENV};
use aegis_store::SqliteStore;
use chrono::{DateTime, Utc};
use uuid::Uuid;

type AnyResult<T> = Result<T, Box<dyn Error>>;

struct Options {
    targets: Vec<String>,
    users: u64,
    batch: u64,
    usernames: bool,
}

fn options() -> AnyResult<Options> {
    let mut opts = Options {
        targets: Vec::new(),
        users: 200_000,
        batch: 2_000,
        usernames: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--users" => opts.users = args.next().ok_or("--users N")?.parse()?,
            "--batch" => opts.batch = args.next().ok_or("--batch B")?.parse()?,
            "--usernames" => opts.usernames = true,
            _ => opts.targets.push(arg),
        }
    }
    if opts.targets.is_empty() {
        opts.targets.push("sqlite".to_owned());
        if let Ok(url) = std::env::var(POSTGRES_URL_ENV) {
            opts.targets.push(url);
        }
    }
    Ok(opts)
}

#[tokio::main]
async fn main() -> AnyResult<()> {
    let opts = options()?;
    for target in &opts.targets {
        let batches = batches(&opts);
        if target == "sqlite" {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            let store = SqliteStore::open(&url).await?;
            run("SQLite", &store, &batches).await?;
            store.close().await;
        } else {
            let (store, schema) = isolated_postgres(target).await?;
            let outcome = run("PostgreSQL", &store, &batches).await;
            store.close().await;
            drop_schema(target, &schema).await?;
            outcome?;
        }
    }
    Ok(())
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap_or_default()
}

/// Every batch of the import, numbered from row 1.
fn batches(opts: &Options) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut rows = Vec::new();
    for row in 1..=opts.users {
        let input = if row % 100 == 0 {
            RowInput::Failed(format!("row {row}: email: does not match pattern"))
        } else {
            // Every 50th row repeats the email of the row 25 before it.
            let n = if row % 50 == 25 && row > 25 {
                row - 25
            } else {
                row
            };
            let email = format!("user.{n}@example.com");
            let username = if opts.usernames {
                format!("user{row}")
            } else {
                email.clone()
            };
            RowInput::Create(Box::new(NewUser {
                id: Uuid::now_v7(),
                username: Username::from_stored(username),
                email: Some(Email::from_stored(email)),
                password_hash: Some(format!(
                    "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZ{row:08}"
                )),
                profile: BTreeMap::from([
                    ("first_name".to_owned(), "Ann".to_owned()),
                    ("last_name".to_owned(), format!("Example {row}")),
                ]),
                role: Role::User,
                active: true,
                verified: row % 3 == 0,
                password_expired: false,
                phone: Some(format!("+1555{row:07}")),
                created_at: at(0),
            }))
        };
        rows.push((row, input));
        if rows.len() as u64 == opts.batch || row == opts.users {
            out.push(Batch {
                rows: std::mem::take(&mut rows),
                offset: row * 100,
            });
        }
    }
    out
}

async fn run(name: &str, store: &dyn Store, batches: &[Batch]) -> AnyResult<()> {
    let job = ImportJob {
        id: Uuid::now_v7(),
        name: "bench".to_owned(),
        source_id: Uuid::now_v7(),
        format: SourceFormat::Csv,
        mapping: Mapping {
            fields: vec![aegis_core::import::mapping::FieldMapping {
                column: "email".to_owned(),
                target: Target::Email,
            }],
            password: None,
        },
        status: JobStatus::Pending,
        counters: Counters::default(),
        offset: 0,
        error: None,
        created_at: at(0),
        updated_at: at(0),
    };
    store.insert_import_job(&job).await?;
    let owner = Uuid::now_v7();
    store
        .claim_import_job(owner, at(0), at(3600))
        .await?
        .ok_or("job not claimed")?;

    let mut times = Vec::with_capacity(batches.len());
    let started = Instant::now();
    let mut counters = Counters::default();
    for batch in batches {
        let t0 = Instant::now();
        counters = store
            .commit_import_batch(job.id, owner, batch, at(1), at(3600), &mut Turn::now())
            .await?;
        times.push(t0.elapsed());
    }
    let elapsed = started.elapsed();
    store
        .finish_import_job(job.id, owner, JobStatus::Success, None, at(2))
        .await?;

    let rows = counters.total as f64;
    println!(
        "{name}: {} rows ({} created, {} skipped, {} failed) in {} batches, {:.2} s: {:.0} rows/s",
        counters.total,
        counters.successful,
        counters.skipped,
        counters.failed,
        batches.len(),
        elapsed.as_secs_f64(),
        rows / elapsed.as_secs_f64(),
    );
    // The first and last tenth show what a growing table costs.
    let tenth = (times.len() / 10).max(1);
    let mean = |d: &[Duration]| d.iter().sum::<Duration>() / d.len().max(1) as u32;
    let (first, last) = (mean(&times[..tenth]), mean(&times[times.len() - tenth..]));
    let mut sorted = times.clone();
    sorted.sort();
    let pct = |p: usize| ms(sorted[(sorted.len() - 1) * p / 100]);
    println!(
        "  per batch: median {}, p90 {}, max {}; mean of the first tenth {}, of the last {}",
        pct(50),
        pct(90),
        pct(100),
        ms(first),
        ms(last),
    );
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
