//! One-time login codes: stored as hashes, used at most once.

use aegis_core::session::LoginCode;
use aegis_core::Result;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::convert::hash32;
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct LoginCodeRow {
    hash: Vec<u8>,
    session_id: Uuid,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

impl LoginCodeRow {
    fn into_code(self) -> Result<LoginCode> {
        Ok(LoginCode {
            hash: hash32(self.hash, "login_codes.hash")?,
            session_id: self.session_id,
            user_id: self.user_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            used_at: self.used_at,
        })
    }
}

pub(super) async fn insert(pool: &PgPool, code: &LoginCode) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_codes (hash, session_id, user_id, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&code.hash[..])
    .bind(code.session_id)
    .bind(code.user_id)
    .bind(code.created_at)
    .bind(code.expires_at)
    .bind(code.used_at)
    .execute(pool)
    .await
    .on_insert("login code", "session")?;
    Ok(())
}

/// One conditional statement: of concurrent uses, exactly one matches the row
/// (the loser re-checks `used_at IS NULL` after the winner commits).
pub(super) async fn use_code(
    pool: &PgPool,
    hash: &[u8; 32],
    at: DateTime<Utc>,
) -> Result<Option<LoginCode>> {
    let row: Option<LoginCodeRow> = sqlx::query_as(
        "UPDATE login_codes SET used_at = $1 \
         WHERE hash = $2 AND used_at IS NULL AND expires_at > $1 \
         RETURNING *",
    )
    .bind(at)
    .bind(&hash[..])
    .fetch_optional(pool)
    .await
    .db()?;
    row.map(LoginCodeRow::into_code).transpose()
}
