//! Helpers for tests that need a PostgreSQL database of their own: each test
//! gets a fresh schema, so suites can run in parallel against one server.
//! Tests that stop and start the database use a [`cluster::ScratchCluster`].
//!
//! ```no_run
//! # async fn demo() -> aegis_core::Result<()> {
//! use aegis_store::testing::{drop_schema, isolated_postgres, postgres_test_url};
//! let Some(url) = postgres_test_url() else {
//!     eprintln!("skipping PostgreSQL");
//!     return Ok(());
//! };
//! let (store, schema) = isolated_postgres(&url).await?;
//! // ... use `store` ...
//! drop_schema(&url, &schema).await?;
//! # Ok(()) }
//! ```

pub mod cluster;

use std::str::FromStr;

use aegis_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};

use crate::error::internal;
use crate::PgStore;

/// The environment variable naming the PostgreSQL server tests may use.
pub const POSTGRES_URL_ENV: &str = "AEGIS_TEST_POSTGRES_URL";

/// The PostgreSQL URL tests should use, from `AEGIS_TEST_POSTGRES_URL`; `None`
/// when unset (the caller skips its PostgreSQL tests).
///
/// # Panics
/// When the variable is unset and `CI` is set: CI must test PostgreSQL.
pub fn postgres_test_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{POSTGRES_URL_ENV} must be set in CI: the PostgreSQL tests may not be skipped")
        }
        _ => None,
    }
}

/// Creates a fresh schema `aegis_t_<uuid>` on the server `base_url` names and
/// opens a migrated [`PgStore`] confined to it; returns the store and the schema.
pub async fn isolated_postgres(base_url: &str) -> Result<(PgStore, String)> {
    let schema = format!("aegis_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(base_url).await.map_err(internal)?;
    conn.execute(format!(r#"CREATE SCHEMA "{schema}""#).as_str())
        .await
        .map_err(internal)?;
    conn.close().await.map_err(internal)?;
    let store = open_schema(base_url, &schema).await?;
    Ok((store, schema))
}

/// Opens another [`PgStore`] on an existing schema (e.g. a second instance
/// sharing the database of [`isolated_postgres`]).
pub async fn open_schema(base_url: &str, schema: &str) -> Result<PgStore> {
    let options = PgConnectOptions::from_str(base_url)
        .map_err(|_| Error::invalid("database", "not a valid PostgreSQL URL"))?
        .options([("search_path", schema)]);
    PgStore::open_with(options).await
}

/// Drops a schema made by [`isolated_postgres`] with everything in it.
pub async fn drop_schema(base_url: &str, schema: &str) -> Result<()> {
    let mut conn = PgConnection::connect(base_url).await.map_err(internal)?;
    let sql = format!(
        r#"DROP SCHEMA IF EXISTS "{}" CASCADE"#,
        schema.replace('"', "\"\"")
    );
    conn.execute(sql.as_str()).await.map_err(internal)?;
    conn.close().await.map_err(internal)?;
    Ok(())
}
