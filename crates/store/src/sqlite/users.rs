//! Users and their identifiers (username and email, unique across each other).

use std::collections::BTreeMap;

use aegis_core::identity::{Email, IdentifierKeys, Username};
use aegis_core::store::AdminGuard;
use aegis_core::user::{NewUser, User, UserUpdate};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::{begin_write, micros, opt_time, text, time, uuid};
use crate::admin_guard::{last_admin_sql, may_demote, Outcome};
use crate::convert::role;
use crate::error::{internal, is_unique_violation, DbResultExt};

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: String,
    num_id: i64,
    username: String,
    email: Option<String>,
    password_hash: Option<String>,
    profile: Json<BTreeMap<String, String>>,
    role: String,
    active: bool,
    verified: bool,
    password_expired: bool,
    created_at: i64,
    updated_at: i64,
    last_login_at: Option<i64>,
    last_login_ip: Option<String>,
    login_count: i64,
    phone: Option<String>,
    password_set_at: Option<i64>,
}

impl UserRow {
    pub(super) fn into_user(self) -> Result<(User, Option<String>)> {
        let user = User {
            id: uuid(&self.id)?,
            num_id: self.num_id,
            username: Username::from_stored(self.username),
            email: self.email.map(Email::from_stored),
            profile: self.profile.0,
            role: role(&self.role)?,
            active: self.active,
            verified: self.verified,
            password_expired: self.password_expired,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
            last_login_at: opt_time(self.last_login_at)?,
            last_login_ip: self.last_login_ip,
            login_count: self.login_count,
            phone: self.phone,
            password_set_at: opt_time(self.password_set_at)?,
        };
        Ok((user, self.password_hash))
    }
}

pub(super) async fn insert(pool: &SqlitePool, user: &NewUser) -> Result<User> {
    match try_insert(pool, user).await {
        Ok(row) => Ok(row.into_user()?.0),
        Err(e) if is_unique_violation(&e) => {
            Err(conflict(pool, user.id, Some(&user.username), user.email.as_ref()).await)
        }
        Err(e) => Err(internal(e)),
    }
}

async fn try_insert(pool: &SqlitePool, user: &NewUser) -> sqlx::Result<UserRow> {
    let mut tx = begin_write(pool).await?;
    let row: UserRow = sqlx::query_as(
        "INSERT INTO users (id, username, email, password_hash, profile, role, active, \
         verified, password_expired, created_at, updated_at, password_set_at, phone) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, \
                 CASE WHEN ?4 IS NULL THEN NULL ELSE ?10 END, ?11) RETURNING *",
    )
    .bind(text(user.id))
    .bind(user.username.as_str())
    .bind(user.email.as_ref().map(Email::as_str))
    .bind(user.password_hash.as_deref())
    .bind(Json(&user.profile))
    .bind(user.role.as_str())
    .bind(user.active)
    .bind(user.verified)
    .bind(user.password_expired)
    .bind(micros(user.created_at))
    .bind(user.phone.as_deref())
    .fetch_one(&mut *tx)
    .await?;
    insert_identifiers(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(row)
}

/// Records the keys a user holds in the identifier table (its username and
/// email, and their confusable skeletons: [`IdentifierKeys`]), after making
/// sure no other user holds a look-alike: a probed key held by another user
/// is inserted for this one too, so that it fails as the unique violation
/// any other taken identifier is (and the transaction rolls back).
async fn insert_identifiers(conn: &mut SqliteConnection, row: &UserRow) -> sqlx::Result<()> {
    let keys = IdentifierKeys::of_user(&row.username, row.email.as_deref());
    for key in &keys.probes {
        sqlx::query(
            "INSERT INTO user_identifiers (identifier, user_id) SELECT ?1, ?2 \
             WHERE EXISTS (SELECT 1 FROM user_identifiers WHERE identifier = ?1 AND user_id <> ?2)",
        )
        .bind(key.as_ref())
        .bind(&row.id)
        .execute(&mut *conn)
        .await?;
    }
    for key in &keys.held {
        sqlx::query("INSERT INTO user_identifiers (identifier, user_id) VALUES (?1, ?2)")
            .bind(key.as_ref())
            .bind(&row.id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Names the field of a unique violation (already rolled back): the username
/// when another user holds it, else the email.
async fn conflict(
    pool: &SqlitePool,
    id: Uuid,
    username: Option<&Username>,
    email: Option<&Email>,
) -> Error {
    // A username that is the email (the default) is the email's conflict.
    let username = username.filter(|u| email.is_none_or(|e| e.as_str() != u.as_str()));
    if let Some(username) = username {
        // The username, or a look-alike of it, is another user's.
        let keys = IdentifierKeys::of(username.as_str());
        for key in keys.all() {
            let owner: sqlx::Result<Option<String>> =
                sqlx::query_scalar("SELECT user_id FROM user_identifiers WHERE identifier = ?1")
                    .bind(key)
                    .fetch_optional(pool)
                    .await;
            match owner {
                Ok(Some(owner)) if owner != text(id) => {
                    return Error::Conflict { field: "username" }
                }
                Ok(_) => {}
                Err(e) => return internal(e),
            }
        }
    }
    Error::Conflict { field: "email" }
}

pub(super) async fn find(pool: &SqlitePool, id: Uuid) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as("SELECT * FROM users WHERE id = ?1")
        .bind(text(id))
        .fetch_optional(pool)
        .await
        .db()?;
    row.map(|r| r.into_user().map(|(user, _)| user)).transpose()
}

pub(super) async fn find_by_identifier(
    pool: &SqlitePool,
    ident: &str,
) -> Result<Option<(User, Option<String>)>> {
    let row: Option<UserRow> = sqlx::query_as(
        "SELECT u.* FROM user_identifiers i JOIN users u ON u.id = i.user_id \
         WHERE i.identifier = ?1 AND (u.username = ?1 OR u.email = ?1)",
    )
    .bind(ident)
    .fetch_optional(pool)
    .await
    .db()?;
    row.map(UserRow::into_user).transpose()
}

pub(super) async fn get_password_hash(pool: &SqlitePool, id: Uuid) -> Result<Option<String>> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?1")
            .bind(text(id))
            .fetch_optional(pool)
            .await
            .db()?;
    hash.ok_or(Error::NotFound("user"))
}

pub(super) async fn update(
    pool: &SqlitePool,
    id: Uuid,
    update: &UserUpdate,
    at: DateTime<Utc>,
    guard: AdminGuard,
) -> Result<User> {
    match try_update(pool, id, update, at, guard).await {
        Ok(Outcome::Done(row)) => Ok(row.into_user()?.0),
        Ok(Outcome::Missing) => Err(Error::NotFound("user")),
        Ok(Outcome::LastAdmin) => Err(Error::LastAdmin),
        Err(e) if is_unique_violation(&e) => Err(conflict(
            pool,
            id,
            update.username.as_ref(),
            update.email.as_ref().and_then(Option::as_ref),
        )
        .await),
        Err(e) => Err(internal(e)),
    }
}

/// True when `id` is an active admin and no other is. Run in the write
/// transaction: `BEGIN IMMEDIATE` holds off every other writer until it ends,
/// so the answer stays true up to the commit.
async fn is_last_admin(conn: &mut SqliteConnection, id: Uuid) -> sqlx::Result<bool> {
    let sql = last_admin_sql("?1");
    sqlx::query_scalar(&sql)
        .bind(text(id))
        .fetch_one(conn)
        .await
}

async fn try_update(
    pool: &SqlitePool,
    id: Uuid,
    update: &UserUpdate,
    at: DateTime<Utc>,
    guard: AdminGuard,
) -> sqlx::Result<Outcome<UserRow>> {
    let mut tx = begin_write(pool).await?;
    if guard == AdminGuard::KeepOneActive
        && may_demote(update)
        && is_last_admin(&mut tx, id).await?
    {
        tx.rollback().await?;
        return Ok(Outcome::LastAdmin);
    }
    let row: Option<UserRow> = sqlx::query_as(
        "UPDATE users SET \
           username = COALESCE(?1, username), \
           email = CASE WHEN ?2 THEN ?3 ELSE email END, \
           password_hash = CASE WHEN ?4 THEN ?5 ELSE password_hash END, \
           password_set_at = CASE WHEN ?4 THEN ?6 ELSE password_set_at END, \
           phone = CASE WHEN ?7 THEN ?8 ELSE phone END, \
           profile = COALESCE(?9, profile), \
           role = COALESCE(?10, role), \
           active = COALESCE(?11, active), \
           verified = COALESCE(?12, verified), \
           password_expired = COALESCE(?13, password_expired), \
           updated_at = ?14 \
         WHERE id = ?15 RETURNING *",
    )
    .bind(update.username.as_ref().map(Username::as_str))
    .bind(update.email.is_some())
    .bind(
        update
            .email
            .as_ref()
            .and_then(|e| e.as_ref().map(Email::as_str)),
    )
    .bind(update.password_hash.is_some())
    .bind(update.password_hash.as_ref().and_then(Option::as_deref))
    .bind(
        update
            .password_hash
            .as_ref()
            .and_then(|h| h.as_ref().map(|_| micros(at))),
    )
    .bind(update.phone.is_some())
    .bind(update.phone.as_ref().and_then(Option::as_deref))
    .bind(update.profile.as_ref().map(Json))
    .bind(update.role.map(|r| r.as_str()))
    .bind(update.active)
    .bind(update.verified)
    .bind(update.password_expired)
    .bind(micros(at))
    .bind(text(id))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Outcome::Missing);
    };
    if update.username.is_some() || update.email.is_some() {
        sqlx::query("DELETE FROM user_identifiers WHERE user_id = ?1")
            .bind(&row.id)
            .execute(&mut *tx)
            .await?;
        insert_identifiers(&mut tx, &row).await?;
    }
    tx.commit().await?;
    Ok(Outcome::Done(row))
}

pub(super) async fn delete(pool: &SqlitePool, id: Uuid, guard: AdminGuard) -> Result<()> {
    match try_delete(pool, id, guard).await.db()? {
        Outcome::Done(()) => Ok(()),
        Outcome::Missing => Err(Error::NotFound("user")),
        Outcome::LastAdmin => Err(Error::LastAdmin),
    }
}

async fn try_delete(pool: &SqlitePool, id: Uuid, guard: AdminGuard) -> sqlx::Result<Outcome<()>> {
    let mut tx = begin_write(pool).await?;
    if guard == AdminGuard::KeepOneActive && is_last_admin(&mut tx, id).await? {
        tx.rollback().await?;
        return Ok(Outcome::LastAdmin);
    }
    let done = sqlx::query("DELETE FROM users WHERE id = ?1")
        .bind(text(id))
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(Outcome::Missing);
    }
    tx.commit().await?;
    Ok(Outcome::Done(()))
}

pub(super) async fn record_login(
    pool: &SqlitePool,
    id: Uuid,
    at: DateTime<Utc>,
    ip: Option<&str>,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE users SET last_login_at = ?1, last_login_ip = ?2, login_count = login_count + 1 \
         WHERE id = ?3",
    )
    .bind(micros(at))
    .bind(ip)
    .bind(text(id))
    .execute(pool)
    .await
    .db()?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound("user"));
    }
    Ok(())
}

pub(super) async fn count_active_admins(pool: &SqlitePool) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND active")
        .fetch_one(pool)
        .await
        .db()?;
    Ok(u64::try_from(n).unwrap_or(0))
}
