//! Second factors (authenticators) and recovery codes.

use aegis_core::mfa::{Factor, FactorKind};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::convert::{factor_kind, step_value, unsigned};
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct FactorRow {
    id: Uuid,
    user_id: Uuid,
    kind: String,
    name: String,
    secret: Option<Vec<u8>>,
    credential: Option<String>,
    enabled: bool,
    last_step: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl FactorRow {
    fn into_factor(self) -> Result<Factor> {
        Ok(Factor {
            id: self.id,
            user_id: self.user_id,
            kind: factor_kind(&self.kind)?,
            name: self.name,
            secret: self.secret,
            credential: self.credential,
            enabled: self.enabled,
            last_step: self
                .last_step
                .map(|v| unsigned(v, "last_step"))
                .transpose()?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub(super) async fn insert(pool: &PgPool, factor: &Factor) -> Result<()> {
    sqlx::query(
        "INSERT INTO authenticators (id, user_id, kind, name, secret, credential, enabled, \
         last_step, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(factor.id)
    .bind(factor.user_id)
    .bind(factor.kind.as_str())
    .bind(&factor.name)
    .bind(factor.secret.as_deref())
    .bind(factor.credential.as_deref())
    .bind(factor.enabled)
    .bind(factor.last_step.map(step_value).transpose()?)
    .bind(factor.created_at)
    .bind(factor.updated_at)
    .execute(pool)
    .await
    .on_insert("id", "user")?;
    Ok(())
}

pub(super) async fn of_users(pool: &PgPool, users: &[Uuid]) -> Result<Vec<Factor>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<FactorRow> = sqlx::query_as(
        "SELECT * FROM authenticators WHERE user_id = ANY($1) \
         ORDER BY user_id, created_at, id",
    )
    .bind(users)
    .fetch_all(pool)
    .await
    .db()?;
    rows.into_iter().map(FactorRow::into_factor).collect()
}

pub(super) async fn enable(
    pool: &PgPool,
    user: Uuid,
    id: Uuid,
    step: Option<u64>,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE authenticators SET enabled = true, last_step = $1, updated_at = $2 \
         WHERE id = $3 AND user_id = $4 AND NOT enabled",
    )
    .bind(step.map(step_value).transpose()?)
    .bind(at)
    .bind(id)
    .bind(user)
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}

/// One conditional UPDATE: a racing writer with the same step waits on the row
/// lock, then re-checks `last_step < step` on the new row version and finds it false.
pub(super) async fn advance_step(
    pool: &PgPool,
    id: Uuid,
    step: u64,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE authenticators SET last_step = $1, updated_at = $2 \
         WHERE id = $3 AND enabled AND (last_step IS NULL OR last_step < $1)",
    )
    .bind(step_value(step)?)
    .bind(at)
    .bind(id)
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn delete(pool: &PgPool, user: Uuid, id: Uuid) -> Result<bool> {
    let done = sqlx::query("DELETE FROM authenticators WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user)
        .execute(pool)
        .await
        .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn update_credential(
    pool: &PgPool,
    id: Uuid,
    credential: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE authenticators SET credential = $1, updated_at = $2 WHERE id = $3 AND enabled",
    )
    .bind(credential)
    .bind(at)
    .bind(id)
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn delete_pending(pool: &PgPool, user: Uuid, kind: FactorKind) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM authenticators WHERE user_id = $1 AND kind = $2 AND NOT enabled")
            .bind(user)
            .bind(kind.as_str())
            .execute(pool)
            .await
            .db()?;
    Ok(done.rows_affected())
}

pub(super) async fn replace_recovery_codes(
    pool: &PgPool,
    user: Uuid,
    hashes: &[[u8; 32]],
    at: DateTime<Utc>,
) -> Result<()> {
    let mut tx = pool.begin().await.db()?;
    // The user's row lock orders concurrent replacements (otherwise two could
    // each delete the old set and both insert, leaving two sets valid), and
    // an unknown user is one even when there is nothing to insert.
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(user)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
    if exists.is_none() {
        return Err(Error::NotFound("user"));
    }
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await
        .db()?;
    if !hashes.is_empty() {
        let hashes: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
        // A hash given twice is one code.
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, hash, used_at, created_at) \
             SELECT $1, h, NULL, $3 FROM UNNEST($2::bytea[]) AS h ON CONFLICT DO NOTHING",
        )
        .bind(user)
        .bind(hashes)
        .bind(at)
        .execute(&mut *tx)
        .await
        .on_insert("hash", "user")?;
    }
    tx.commit().await.db()
}

pub(super) async fn use_recovery_code(
    pool: &PgPool,
    user: Uuid,
    hash: &[u8; 32],
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 \
         WHERE user_id = $2 AND hash = $3 AND used_at IS NULL",
    )
    .bind(at)
    .bind(user)
    .bind(&hash[..])
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn recovery_codes_left(pool: &PgPool, user: Uuid) -> Result<u32> {
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user)
    .fetch_one(pool)
    .await
    .db()?;
    Ok(u32::try_from(left).unwrap_or(u32::MAX))
}

pub(super) async fn spend_nonce(
    pool: &PgPool,
    hash: &[u8; 32],
    expires_at: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO spent_nonces (hash, expires_at) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING",
    )
    .bind(&hash[..])
    .bind(expires_at)
    .execute(pool)
    .await
    .db()?;
    Ok(done.rows_affected() > 0)
}
