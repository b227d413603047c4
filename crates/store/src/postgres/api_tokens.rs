//! API tokens.

use aegis_core::api_token::{ApiToken, ApiTokenListing};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::convert::{hash32, role};
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct ApiTokenRow {
    id: Uuid,
    hash: Vec<u8>,
    owner_id: Uuid,
    created_by: Option<Uuid>,
    provider: String,
    role: String,
    name: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl ApiTokenRow {
    fn into_token(self) -> Result<ApiToken> {
        Ok(ApiToken {
            id: self.id,
            hash: hash32(self.hash, "api_tokens.hash")?,
            owner_id: self.owner_id,
            created_by: self.created_by,
            provider: self.provider,
            role: role(&self.role)?,
            name: self.name,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ListingRow {
    #[sqlx(flatten)]
    token: ApiTokenRow,
    created_by_key: String,
}

pub(super) async fn insert(pool: &PgPool, token: &ApiToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, hash, owner_id, created_by, provider, role, name, \
         created_at, expires_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(token.id)
    .bind(&token.hash[..])
    .bind(token.owner_id)
    .bind(token.created_by)
    .bind(&token.provider)
    .bind(token.role.as_str())
    .bind(token.name.as_deref())
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.last_used_at)
    .execute(pool)
    .await
    .on_insert("api token", "user")?;
    Ok(())
}

pub(super) async fn find_by_hash(pool: &PgPool, hash: &[u8; 32]) -> Result<Option<ApiToken>> {
    let row: Option<ApiTokenRow> = sqlx::query_as("SELECT * FROM api_tokens WHERE hash = $1")
        .bind(&hash[..])
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(ApiTokenRow::into_token).transpose()
}

pub(super) async fn find(pool: &PgPool, id: Uuid) -> Result<Option<ApiToken>> {
    let row: Option<ApiTokenRow> = sqlx::query_as("SELECT * FROM api_tokens WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(ApiTokenRow::into_token).transpose()
}

pub(super) async fn touch(pool: &PgPool, id: Uuid, at: DateTime<Utc>) -> Result<()> {
    let done = sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(pool)
        .await
        .db()?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound("api token"));
    }
    Ok(())
}

pub(super) async fn delete(pool: &PgPool, id: Uuid) -> Result<bool> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn list(
    pool: &PgPool,
    provider: &str,
    owner: Option<Uuid>,
) -> Result<Vec<ApiTokenListing>> {
    // Tokens the operator minted (no creator) are shown as the owner's.
    let rows: Vec<ListingRow> = sqlx::query_as(
        "SELECT t.*, COALESCE(c.login_key, o.login_key) AS created_by_key \
         FROM api_tokens t \
         JOIN users o ON o.id = t.owner_id \
         LEFT JOIN users c ON c.id = t.created_by \
         WHERE t.provider = $1 AND ($2::uuid IS NULL OR t.owner_id = $2) \
         ORDER BY t.created_at DESC, t.id DESC",
    )
    .bind(provider)
    .bind(owner)
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
