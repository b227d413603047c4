//! The `pangea` migration on a database holding users made before it: a user
//! with a password gets `password_set_at = created_at`, one without gets none.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use aegis_core::Store;
use aegis_store::testing::{drop_schema, open_schema, postgres_test_url};
use aegis_store::SqliteStore;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{Connection, Executor};
use uuid::Uuid;

use crate::fixtures::t;

/// The first migration of the version under test.
const PANGEA: &str = "20261123020000";

/// A directory holding a backend's migrations older than [`PANGEA`].
fn migrations_before(backend: &str) -> tempfile::TempDir {
    let source: PathBuf = [env!("CARGO_MANIFEST_DIR"), "migrations", backend]
        .iter()
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < PANGEA {
            std::fs::copy(&path, dir.path().join(&name)).unwrap();
        }
    }
    dir
}

async fn old_migrator(dir: &Path) -> Migrator {
    let migrator = Migrator::new(dir).await.unwrap();
    assert!(
        migrator.iter().count() >= 2,
        "the older migrations were found"
    );
    migrator
}

/// Checks the two users after the migration.
async fn check(store: &dyn Store, with: Uuid, without: Uuid) {
    let user = store.get_user(with).await.unwrap();
    assert_eq!(user.password_set_at, Some(t(1)));
    assert_eq!(user.phone, None);
    let user = store.get_user(without).await.unwrap();
    assert_eq!(user.password_set_at, None);
    assert!(store.groups_of(with).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pangea_migration_backfills_password_set_at() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("aegis.db").display()
    );
    let old = migrations_before("sqlite");
    let pool = SqlitePoolOptions::new().connect(&url).await.unwrap();
    old_migrator(old.path()).await.run(&pool).await.unwrap();
    let (with, without) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, name, hash) in [(with, "old", Some("$argon2id$x")), (without, "bare", None)] {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, active, verified, \
             password_expired, created_at, updated_at) VALUES (?1, ?2, ?3, 'user', 1, 0, 0, ?4, ?5)",
        )
        .bind(id.hyphenated().to_string())
        .bind(name)
        .bind(hash)
        .bind(t(1).timestamp_micros())
        .bind(t(2).timestamp_micros())
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = SqliteStore::open(&url).await.unwrap();
    check(&store, with, without).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pangea_migration_backfills_password_set_at() {
    let Some(url) = postgres_test_url() else {
        eprintln!("skipping PostgreSQL");
        return;
    };
    let schema = format!("aegis_t_{}", Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&url).await.unwrap();
    conn.execute(format!(r#"CREATE SCHEMA "{schema}""#).as_str())
        .await
        .unwrap();
    conn.close().await.unwrap();
    let outcome = tokio::spawn({
        let url = url.clone();
        let schema = schema.clone();
        async move {
            let options = PgConnectOptions::from_str(&url)
                .unwrap()
                .options([("search_path", schema.as_str())]);
            let pool = PgPoolOptions::new().connect_with(options).await.unwrap();
            let old = migrations_before("postgres");
            old_migrator(old.path()).await.run(&pool).await.unwrap();
            let (with, without) = (Uuid::now_v7(), Uuid::now_v7());
            for (id, name, hash) in [(with, "old", Some("$argon2id$x")), (without, "bare", None)] {
                sqlx::query(
                    "INSERT INTO users (id, username, password_hash, role, active, verified, \
                     password_expired, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'user', true, false, false, $4, $5)",
                )
                .bind(id)
                .bind(name)
                .bind(hash)
                .bind(t(1))
                .bind(t(2))
                .execute(&pool)
                .await
                .unwrap();
            }
            pool.close().await;

            let store = open_schema(&url, &schema).await.unwrap();
            check(&store, with, without).await;
            store.close().await;
        }
    })
    .await;
    drop_schema(&url, &schema).await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
