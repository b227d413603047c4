//! Sessions and their refresh tokens.

use aegis_core::session::{RefreshToken, Session};
use aegis_core::Result;
use chrono::{DateTime, Utc};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{begin_write, micros, opt_time, text, time, uuid};
use crate::convert::hash32;
use crate::error::DbResultExt;

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    user_id: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl SessionRow {
    fn into_session(self) -> Result<Session> {
        Ok(Session {
            id: uuid(&self.id)?,
            user_id: uuid(&self.user_id)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            revoked_at: opt_time(self.revoked_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RefreshTokenRow {
    hash: Vec<u8>,
    session_id: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl RefreshTokenRow {
    fn into_token(self) -> Result<RefreshToken> {
        Ok(RefreshToken {
            hash: hash32(self.hash, "refresh_tokens.hash")?,
            session_id: uuid(&self.session_id)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            used_at: opt_time(self.used_at)?,
        })
    }
}

pub(super) async fn insert(
    pool: &SqlitePool,
    session: &Session,
    refresh: &RefreshToken,
) -> Result<()> {
    let mut tx = begin_write(pool).await.db()?;
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(text(session.id))
    .bind(text(session.user_id))
    .bind(micros(session.created_at))
    .bind(micros(session.expires_at))
    .bind(session.revoked_at.map(micros))
    .execute(&mut *tx)
    .await
    .on_insert("session", "user")?;
    insert_refresh_token(&mut tx, refresh)
        .await
        .on_insert("refresh token", "session")?;
    tx.commit().await.db()
}

async fn insert_refresh_token(
    conn: &mut SqliteConnection,
    token: &RefreshToken,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at, used_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&token.hash[..])
    .bind(text(token.session_id))
    .bind(micros(token.created_at))
    .bind(micros(token.expires_at))
    .bind(token.used_at.map(micros))
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn find(pool: &SqlitePool, id: Uuid) -> Result<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as("SELECT * FROM sessions WHERE id = ?1")
        .bind(text(id))
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(SessionRow::into_session).transpose()
}

pub(super) async fn revoke(pool: &SqlitePool, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
    let done =
        sqlx::query("UPDATE sessions SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL")
            .bind(micros(at))
            .bind(text(id))
            .execute(pool)
            .await
            .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn revoke_for_user(
    pool: &SqlitePool,
    user_id: Uuid,
    except: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = ?1 \
         WHERE user_id = ?2 AND revoked_at IS NULL AND (?3 IS NULL OR id <> ?3) \
         RETURNING id",
    )
    .bind(micros(at))
    .bind(text(user_id))
    .bind(except.map(text))
    .fetch_all(pool)
    .await
    .db()?;
    ids.iter().map(|id| uuid(id)).collect()
}

pub(super) async fn find_refresh_token(
    pool: &SqlitePool,
    hash: &[u8; 32],
) -> Result<Option<RefreshToken>> {
    let row: Option<RefreshTokenRow> =
        sqlx::query_as("SELECT * FROM refresh_tokens WHERE hash = ?1")
            .bind(&hash[..])
            .fetch_optional(pool)
            .await
            .db()?;
    row.map(RefreshTokenRow::into_token).transpose()
}

pub(super) async fn use_refresh_token(
    pool: &SqlitePool,
    hash: &[u8; 32],
    at: DateTime<Utc>,
    next: Option<&RefreshToken>,
) -> Result<bool> {
    let mut tx = begin_write(pool).await.db()?;
    let done =
        sqlx::query("UPDATE refresh_tokens SET used_at = ?1 WHERE hash = ?2 AND used_at IS NULL")
            .bind(micros(at))
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
