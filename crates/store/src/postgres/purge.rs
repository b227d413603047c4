//! Removal of records whose life has ended.

use aegis_core::Result;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::DbResultExt;

/// The deletions of a purge, each with `$1` = the cut-off. Refresh tokens,
/// login codes and authorization codes of expiring sessions go explicitly
/// before their sessions so that they are counted (a cascade's rows are not).
const PURGES: [&str; 7] = [
    "DELETE FROM api_tokens WHERE expires_at < $1",
    "DELETE FROM refresh_tokens WHERE expires_at < $1 \
     OR session_id IN (SELECT id FROM sessions WHERE expires_at < $1)",
    "DELETE FROM login_codes WHERE expires_at < $1 \
     OR session_id IN (SELECT id FROM sessions WHERE expires_at < $1)",
    "DELETE FROM oidc_codes WHERE expires_at < $1 \
     OR session_id IN (SELECT id FROM sessions WHERE expires_at < $1)",
    "DELETE FROM sessions WHERE expires_at < $1",
    "DELETE FROM spent_nonces WHERE expires_at < $1",
    // A lock that ended, or with no lock a count whose window opened before the
    // cut-off (a count without a first failure has no window left).
    "DELETE FROM login_throttle WHERE (locked_until IS NOT NULL AND locked_until < $1) \
     OR (locked_until IS NULL AND (first_failure_at IS NULL OR first_failure_at < $1))",
];

/// Deletes what ended before `before` in one transaction; returns the row count.
pub(super) async fn purge_expired(pool: &PgPool, before: DateTime<Utc>) -> Result<u64> {
    let mut tx = pool.begin().await.db()?;
    let mut total = 0;
    for sql in PURGES {
        let done = sqlx::query(sql).bind(before).execute(&mut *tx).await.db()?;
        total += done.rows_affected();
    }
    tx.commit().await.db()?;
    Ok(total)
}
