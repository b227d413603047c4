//! Sessions and their refresh tokens.

use aegis_core::session::{RefreshToken, Session};
use aegis_core::Result;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::convert::hash32;
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl SessionRow {
    fn into_session(self) -> Result<Session> {
        Ok(Session {
            id: self.id,
            user_id: self.user_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RefreshTokenRow {
    hash: Vec<u8>,
    session_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

impl RefreshTokenRow {
    fn into_token(self) -> Result<RefreshToken> {
        Ok(RefreshToken {
            hash: hash32(self.hash, "refresh_tokens.hash")?,
            session_id: self.session_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            used_at: self.used_at,
        })
    }
}

pub(super) async fn insert(pool: &PgPool, session: &Session, refresh: &RefreshToken) -> Result<()> {
    let mut tx = pool.begin().await.db()?;
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(session.id)
    .bind(session.user_id)
    .bind(session.created_at)
    .bind(session.expires_at)
    .bind(session.revoked_at)
    .execute(&mut *tx)
    .await
    .on_insert("session", "user")?;
    insert_refresh_token(&mut tx, refresh)
        .await
        .on_insert("refresh token", "session")?;
    tx.commit().await.db()
}

async fn insert_refresh_token(conn: &mut PgConnection, token: &RefreshToken) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&token.hash[..])
    .bind(token.session_id)
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.used_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as("SELECT * FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(SessionRow::into_session).transpose()
}

pub(super) async fn revoke(pool: &PgPool, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
    let done =
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(at)
            .bind(id)
            .execute(pool)
            .await
            .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn revoke_for_user(
    pool: &PgPool,
    user_id: Uuid,
    except: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE user_id = $2 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3) \
         RETURNING id",
    )
    .bind(at)
    .bind(user_id)
    .bind(except)
    .fetch_all(pool)
    .await
    .db()
}

pub(super) async fn find_refresh_token(
    pool: &PgPool,
    hash: &[u8; 32],
) -> Result<Option<RefreshToken>> {
    let row: Option<RefreshTokenRow> =
        sqlx::query_as("SELECT * FROM refresh_tokens WHERE hash = $1")
            .bind(&hash[..])
            .fetch_optional(pool)
            .await
            .db()?;
    row.map(RefreshTokenRow::into_token).transpose()
}

pub(super) async fn use_refresh_token(
    pool: &PgPool,
    hash: &[u8; 32],
    at: DateTime<Utc>,
    next: Option<&RefreshToken>,
) -> Result<bool> {
    let mut tx = pool.begin().await.db()?;
    let done =
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL")
            .bind(at)
            .bind(&hash[..])
            .execute(&mut *tx)
            .await
            .db()?;
    if done.rows_affected() == 0 {
        tx.rollback().await.db()?;
        return Ok(false);
    }
    if let Some(next) = next {
        insert_refresh_token(&mut tx, next)
            .await
            .on_insert("refresh token", "session")?;
    }
    tx.commit().await.db()?;
    Ok(true)
}
