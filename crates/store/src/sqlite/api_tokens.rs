//! API tokens.

use aegis_core::api_token::{ApiToken, ApiTokenListing};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use uuid::Uuid;

use super::{micros, opt_time, text, time, uuid};
use crate::convert::{hash32, role};
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct ApiTokenRow {
    id: String,
    hash: Vec<u8>,
    owner_id: String,
    created_by: Option<String>,
    provider: String,
    role: String,
    name: Option<String>,
    created_at: i64,
    expires_at: i64,
    last_used_at: Option<i64>,
}

impl ApiTokenRow {
    fn into_token(self) -> Result<ApiToken> {
        Ok(ApiToken {
            id: uuid(&self.id)?,
            hash: hash32(self.hash, "api_tokens.hash")?,
            owner_id: uuid(&self.owner_id)?,
            created_by: self.created_by.as_deref().map(uuid).transpose()?,
            provider: self.provider,
            role: role(&self.role)?,
            name: self.name,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            last_used_at: opt_time(self.last_used_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ListingRow {
    #[sqlx(flatten)]
    token: ApiTokenRow,
    created_by_key: String,
}

pub(super) async fn insert(pool: &SqlitePool, token: &ApiToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, hash, owner_id, created_by, provider, role, name, \
         created_at, expires_at, last_used_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(text(token.id))
    .bind(&token.hash[..])
    .bind(text(token.owner_id))
    .bind(token.created_by.map(text))
    .bind(&token.provider)
    .bind(token.role.as_str())
    .bind(token.name.as_deref())
    .bind(micros(token.created_at))
    .bind(micros(token.expires_at))
    .bind(token.last_used_at.map(micros))
    .execute(pool)
    .await
    .on_insert("api token", "user")?;
    Ok(())
}

pub(super) async fn find_by_hash(pool: &SqlitePool, hash: &[u8; 32]) -> Result<Option<ApiToken>> {
    let row: Option<ApiTokenRow> = sqlx::query_as("SELECT * FROM api_tokens WHERE hash = ?1")
        .bind(&hash[..])
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(ApiTokenRow::into_token).transpose()
}

pub(super) async fn find(pool: &SqlitePool, id: Uuid) -> Result<Option<ApiToken>> {
    let row: Option<ApiTokenRow> = sqlx::query_as("SELECT * FROM api_tokens WHERE id = ?1")
        .bind(text(id))
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(ApiTokenRow::into_token).transpose()
}

pub(super) async fn touch(pool: &SqlitePool, id: Uuid, at: DateTime<Utc>) -> Result<()> {
    let done = sqlx::query("UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2")
        .bind(micros(at))
        .bind(text(id))
        .execute(pool)
        .await
        .db()?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound("api token"));
    }
    Ok(())
}

pub(super) async fn delete(pool: &SqlitePool, id: Uuid) -> Result<bool> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE id = ?1")
        .bind(text(id))
        .execute(pool)
        .await
        .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn list(
    pool: &SqlitePool,
    provider: &str,
    owner: Option<Uuid>,
) -> Result<Vec<ApiTokenListing>> {
    // Tokens the operator minted (no creator) are shown as the owner's.
    let rows: Vec<ListingRow> = sqlx::query_as(
        "SELECT t.*, COALESCE(c.login_key, o.login_key) AS created_by_key \
         FROM api_tokens t \
         JOIN users o ON o.id = t.owner_id \
         LEFT JOIN users c ON c.id = t.created_by \
         WHERE t.provider = ?1 AND (?2 IS NULL OR t.owner_id = ?2) \
         ORDER BY t.created_at DESC, t.id DESC",
    )
    .bind(provider)
    .bind(owner.map(text))
    .fetch_all(pool)
    .await
    .db()?;
    rows.into_iter()
        .map(|r| {
            Ok(ApiTokenListing {
                token: r.token.into_token()?,
                created_by_key: r.created_by_key,
            })
        })
        .collect()
}
