//! Second factors (authenticators) and recovery codes.

use aegis_core::mfa::{Factor, FactorKind};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::SqlitePool;
use uuid::Uuid;

use super::{begin_write, micros, text, time, uuid};
use crate::convert::{factor_kind, step_value, unsigned};
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct FactorRow {
    id: String,
    user_id: String,
    kind: String,
    name: String,
    secret: Option<Vec<u8>>,
    credential: Option<String>,
    enabled: bool,
    last_step: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl FactorRow {
    fn into_factor(self) -> Result<Factor> {
        Ok(Factor {
            id: uuid(&self.id)?,
            user_id: uuid(&self.user_id)?,
            kind: factor_kind(&self.kind)?,
            name: self.name,
            secret: self.secret,
            credential: self.credential,
            enabled: self.enabled,
            last_step: self
                .last_step
                .map(|v| unsigned(v, "last_step"))
                .transpose()?,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

pub(super) async fn insert(pool: &SqlitePool, factor: &Factor) -> Result<()> {
    sqlx::query(
        "INSERT INTO authenticators (id, user_id, kind, name, secret, credential, enabled, \
         last_step, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(text(factor.id))
    .bind(text(factor.user_id))
    .bind(factor.kind.as_str())
    .bind(&factor.name)
    .bind(factor.secret.as_deref())
    .bind(factor.credential.as_deref())
    .bind(factor.enabled)
    .bind(factor.last_step.map(step_value).transpose()?)
    .bind(micros(factor.created_at))
    .bind(micros(factor.updated_at))
    .execute(pool)
    .await
    .on_insert("id", "user")?;
    Ok(())
}

pub(super) async fn of_users(pool: &SqlitePool, users: &[Uuid]) -> Result<Vec<Factor>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = users.iter().map(|u| text(*u)).collect();
    let rows: Vec<FactorRow> = sqlx::query_as(
        "SELECT * FROM authenticators WHERE user_id IN (SELECT value FROM json_each(?1)) \
         ORDER BY user_id, created_at, id",
    )
    .bind(Json(ids))
    .fetch_all(pool)
    .await
    .db()?;
    rows.into_iter().map(FactorRow::into_factor).collect()
}

pub(super) async fn enable(
    pool: &SqlitePool,
    user: Uuid,
    id: Uuid,
    step: Option<u64>,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE authenticators SET enabled = 1, last_step = ?1, updated_at = ?2 \
         WHERE id = ?3 AND user_id = ?4 AND enabled = 0",
    )
    .bind(step.map(step_value).transpose()?)
    .bind(micros(at))
    .bind(text(id))
    .bind(text(user))
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}

/// One conditional UPDATE: of two racing writers with the same step, the second
/// finds `last_step < step` false.
pub(super) async fn advance_step(
    pool: &SqlitePool,
    id: Uuid,
    step: u64,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE authenticators SET last_step = ?1, updated_at = ?2 \
         WHERE id = ?3 AND enabled = 1 AND (last_step IS NULL OR last_step < ?1)",
    )
    .bind(step_value(step)?)
    .bind(micros(at))
    .bind(text(id))
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn delete(pool: &SqlitePool, user: Uuid, id: Uuid) -> Result<bool> {
    let done = sqlx::query("DELETE FROM authenticators WHERE id = ?1 AND user_id = ?2")
        .bind(text(id))
        .bind(text(user))
        .execute(pool)
        .await
        .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn update_credential(
    pool: &SqlitePool,
    id: Uuid,
    credential: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE authenticators SET credential = ?1, updated_at = ?2 WHERE id = ?3 AND enabled = 1",
    )
    .bind(credential)
    .bind(micros(at))
    .bind(text(id))
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn delete_pending(pool: &SqlitePool, user: Uuid, kind: FactorKind) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM authenticators WHERE user_id = ?1 AND kind = ?2 AND enabled = 0")
            .bind(text(user))
            .bind(kind.as_str())
            .execute(pool)
            .await
            .db()?;
    Ok(done.rows_affected())
}

pub(super) async fn replace_recovery_codes(
    pool: &SqlitePool,
    user: Uuid,
    hashes: &[[u8; 32]],
    at: DateTime<Utc>,
) -> Result<()> {
    let mut tx = begin_write(pool).await.db()?;
    if hashes.is_empty() {
        // No insert to trip the foreign key: an unknown user must still be one.
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)")
            .bind(text(user))
            .fetch_one(&mut *tx)
            .await
            .db()?;
        if !exists {
            return Err(Error::NotFound("user"));
        }
    }
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?1")
        .bind(text(user))
        .execute(&mut *tx)
        .await
        .db()?;
    for hash in hashes {
        // A hash given twice is one code.
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, hash, used_at, created_at) \
             VALUES (?1, ?2, NULL, ?3) ON CONFLICT DO NOTHING",
        )
        .bind(text(user))
        .bind(&hash[..])
        .bind(micros(at))
        .execute(&mut *tx)
        .await
        .on_insert("hash", "user")?;
    }
    tx.commit().await.db()
}

pub(super) async fn use_recovery_code(
    pool: &SqlitePool,
    user: Uuid,
    hash: &[u8; 32],
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = ?1 \
         WHERE user_id = ?2 AND hash = ?3 AND used_at IS NULL",
    )
    .bind(micros(at))
    .bind(text(user))
    .bind(&hash[..])
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn recovery_codes_left(pool: &SqlitePool, user: Uuid) -> Result<u32> {
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
    )
    .bind(text(user))
    .fetch_one(pool)
    .await
    .db()?;
    Ok(u32::try_from(left).unwrap_or(u32::MAX))
}

pub(super) async fn spend_nonce(
    pool: &SqlitePool,
    hash: &[u8; 32],
    expires_at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO spent_nonces (hash, expires_at) VALUES (?1, ?2) ON CONFLICT (hash) DO NOTHING",
    )
    .bind(&hash[..])
    .bind(micros(expires_at))
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}
