//! aegis-store: the [`Store`] implementations, SQLite (embedded default) and
//! PostgreSQL (scale-out), with their migrations.
//!
//! Pick a backend by URL with [`connect`]; `aegis migrate` uses [`migrate`].

mod admin_guard;
pub mod backup;
mod convert;
mod dialect;
mod error;
mod import_plan;
mod matching;
mod postgres;
mod session_query;
mod sqlite;
pub mod testing;
mod user_query;

use std::sync::Arc;
use std::time::Duration;

use aegis_core::{Error, Result, Store};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// How long the store waits for a database that does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// The longest a statement waits for a connection (a new one included, so
    /// it bounds connecting to a server that is down or unreachable) and, on
    /// SQLite, for another writer's lock. Past it the call fails with
    /// [`Error::Unavailable`] instead of piling requests up.
    pub timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
        }
    }
}

/// The backend a database URL names.
enum Backend {
    Sqlite,
    Postgres,
}

fn backend(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        // The URL itself is not echoed: it may carry a password.
        Err(Error::invalid(
            "database",
            "unsupported URL scheme (use sqlite: or postgres://)",
        ))
    }
}

/// Opens (creating and migrating if needed) the store a URL names:
/// `sqlite://path`, `sqlite:path` or `sqlite::memory:` for SQLite,
/// `postgres://…` or `postgresql://…` for PostgreSQL.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    connect_with(url, StoreOptions::default()).await
}

/// [`connect`] with explicit [`StoreOptions`].
pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Arc<dyn Store>> {
    Ok(match backend(url)? {
        Backend::Sqlite => Arc::new(SqliteStore::open_with_options(url, options).await?),
        Backend::Postgres => Arc::new(PgStore::open_with_options(url, options).await?),
    })
}

/// Brings the database a URL names up to the latest schema, then closes it.
pub async fn migrate(url: &str) -> Result<()> {
    match backend(url)? {
        Backend::Sqlite => SqliteStore::open(url).await?.close().await,
        Backend::Postgres => PgStore::open(url).await?.close().await,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_schemes_are_refused() {
        let err = connect("mysql://localhost/aegis").await.err();
        assert!(matches!(
            err,
            Some(Error::InvalidField {
                field: "database",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn in_memory_sqlite_opens_and_migrates() {
        let store = connect("sqlite::memory:").await.unwrap();
        store.ping().await.unwrap();
        assert_eq!(store.count_active_admins().await.unwrap(), 0);
        assert!(store.subscribe().is_none());
    }

    #[tokio::test]
    async fn in_memory_sqlite_survives_a_failed_transaction() {
        // One connection: the failed insert must hand it back before the
        // conflict is named with a second query.
        let store = connect("sqlite::memory:").await.unwrap();
        let user = |name: &str| aegis_core::user::NewUser {
            id: uuid::Uuid::now_v7(),
            username: aegis_core::identity::Username::parse(name).unwrap(),
            email: None,
            password_hash: None,
            profile: Default::default(),
            role: aegis_core::Role::User,
            active: true,
            verified: false,
            password_expired: false,
            phone: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
        };
        store.insert_user(&user("zoe")).await.unwrap();
        let err = store.insert_user(&user("zoe")).await.err();
        assert!(matches!(err, Some(Error::Conflict { field: "username" })));
        store.insert_user(&user("zed")).await.unwrap();
    }

    #[tokio::test]
    async fn sqlite_file_and_parent_directory_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/aegis.db");
        let url = format!("sqlite://{}", path.display());
        migrate(&url).await.unwrap();
        assert!(path.exists());
        // Opening again finds the schema already applied.
        connect(&url).await.unwrap().ping().await.unwrap();
    }
}
