//! Failed-login counters.

use aegis_core::throttle::ThrottleState;
use aegis_core::Result;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::{micros, opt_time};
use crate::convert::failures;
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct ThrottleRow {
    failures: i64,
    locked_until: Option<i64>,
}

impl ThrottleRow {
    fn into_state(self) -> Result<ThrottleState> {
        Ok(ThrottleState {
            failures: failures(self.failures),
            locked_until: opt_time(self.locked_until)?,
        })
    }
}

pub(super) async fn find(pool: &SqlitePool, key: &str) -> Result<Option<ThrottleState>> {
    let row: Option<ThrottleRow> =
        sqlx::query_as("SELECT failures, locked_until FROM login_throttle WHERE key = ?1")
            .bind(key)
            .fetch_optional(pool)
            .await
            .db()?;
    row.map(ThrottleRow::into_state).transpose()
}

/// When a stored count starts again at `at` (?2) with the window opening at
/// `window_start` (?3): the lock has ended, or, with no lock in force, the first
/// counted failure is older than the window. A lock in force is never lifted here.
macro_rules! restart {
    () => {
        "(t.locked_until IS NOT NULL AND t.locked_until <= ?2) \
         OR (t.locked_until IS NULL AND (t.first_failure_at IS NULL OR t.first_failure_at < ?3))"
    };
}

/// Counts one failure in a single atomic upsert.
pub(super) async fn record_failure(
    pool: &SqlitePool,
    key: &str,
    at: DateTime<Utc>,
    window_start: DateTime<Utc>,
) -> Result<ThrottleState> {
    let row: ThrottleRow = sqlx::query_as(concat!(
        "INSERT INTO login_throttle AS t (key, failures, first_failure_at, locked_until) \
         VALUES (?1, 1, ?2, NULL) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN ",
        restart!(),
        " THEN 1 ELSE t.failures + 1 END, first_failure_at = CASE WHEN ",
        restart!(),
        " THEN ?2 ELSE t.first_failure_at END, locked_until = CASE WHEN ",
        restart!(),
        " THEN NULL ELSE t.locked_until END \
         RETURNING failures, locked_until"
    ))
    .bind(key)
    .bind(micros(at))
    .bind(micros(window_start))
    .fetch_one(pool)
    .await
    .db()?;
    row.into_state()
}

pub(super) async fn lock(pool: &SqlitePool, key: &str, until: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_throttle (key, failures, first_failure_at, locked_until) \
         VALUES (?1, 0, NULL, ?2) \
         ON CONFLICT (key) DO UPDATE SET locked_until = excluded.locked_until",
    )
    .bind(key)
    .bind(micros(until))
    .execute(pool)
    .await
    .db()?;
    Ok(())
}

pub(super) async fn clear(pool: &SqlitePool, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_throttle WHERE key = ?1")
        .bind(key)
        .execute(pool)
        .await
        .db()?;
    Ok(())
}
