//! One-time login codes: stored as hashes, used at most once.

use aegis_core::session::LoginCode;
use aegis_core::Result;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::{micros, opt_time, text, time, uuid};
use crate::convert::hash32;
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct LoginCodeRow {
    hash: Vec<u8>,
    session_id: String,
    user_id: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl LoginCodeRow {
    fn into_code(self) -> Result<LoginCode> {
        Ok(LoginCode {
            hash: hash32(self.hash, "login_codes.hash")?,
            session_id: uuid(&self.session_id)?,
            user_id: uuid(&self.user_id)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            used_at: opt_time(self.used_at)?,
        })
    }
}

pub(super) async fn insert(pool: &SqlitePool, code: &LoginCode) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_codes (hash, session_id, user_id, created_at, expires_at, used_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(&code.hash[..])
    .bind(text(code.session_id))
    .bind(text(code.user_id))
    .bind(micros(code.created_at))
    .bind(micros(code.expires_at))
    .bind(code.used_at.map(micros))
    .execute(pool)
    .await
    .on_insert("login code", "session")?;
    Ok(())
}

/// One conditional statement: of concurrent uses, exactly one matches the row.
pub(super) async fn use_code(
    pool: &SqlitePool,
    hash: &[u8; 32],
    at: DateTime<Utc>,
) -> Result<Option<LoginCode>> {
    let row: Option<LoginCodeRow> = sqlx::query_as(
        "UPDATE login_codes SET used_at = ?1 \
         WHERE hash = ?2 AND used_at IS NULL AND expires_at > ?1 \
         RETURNING *",
    )
    .bind(micros(at))
    .bind(&hash[..])
    .fetch_optional(pool)
    .await
    .db()?;
    row.map(LoginCodeRow::into_code).transpose()
}
