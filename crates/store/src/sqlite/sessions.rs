//! Sessions and their refresh tokens, and the listing of live sessions (the
//! statements [`SessionSql`] writes, binding timestamps as unix microseconds and
//! UUIDs as text).

use aegis_core::query::Page;
use aegis_core::session::{RefreshToken, Session, SessionQuery};
use aegis_core::user::User;
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::users::UserRow;
use super::{begin_write, micros, opt_time, text, time, uuid};
use crate::convert::hash32;
use crate::dialect::Dialect;
use crate::error::DbResultExt;
use crate::session_query::SessionSql;
use crate::user_query::{Arg, Statement};

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    user_id: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    second_factor: bool,
    client_id: Option<String>,
    scope: String,
    parent_id: Option<String>,
}

impl SessionRow {
    fn into_session(self) -> Result<Session> {
        Ok(Session {
            id: uuid(&self.id)?,
            user_id: uuid(&self.user_id)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            revoked_at: opt_time(self.revoked_at)?,
            second_factor: self.second_factor,
            client_id: self.client_id,
            scopes: self.scope.split_whitespace().map(str::to_owned).collect(),
            parent_id: self.parent_id.as_deref().map(uuid).transpose()?,
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
    // `client_id` is no foreign key (a deleted client's sessions stay, revoked):
    // the client is checked here, under the write lock.
    if let Some(client) = &session.client_id {
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM oidc_clients WHERE id = ?1")
            .bind(client)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if known.is_none() {
            return Err(Error::NotFound("client"));
        }
    }
    sqlx::query(
        "INSERT INTO sessions \
         (id, user_id, created_at, expires_at, revoked_at, second_factor, client_id, scope, parent_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(text(session.id))
    .bind(text(session.user_id))
    .bind(micros(session.created_at))
    .bind(micros(session.expires_at))
    .bind(session.revoked_at.map(micros))
    .bind(session.second_factor)
    .bind(&session.client_id)
    .bind(session.scopes.join(" "))
    .bind(session.parent_id.map(text))
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

/// Adds a refresh token to an existing session's family.
pub(super) async fn add_refresh_token(pool: &SqlitePool, token: &RefreshToken) -> Result<()> {
    let mut conn = pool.acquire().await.db()?;
    insert_refresh_token(&mut conn, token)
        .await
        .on_insert("refresh token", "session")
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
    // The session and the live sessions opened from it, in one statement.
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = ?1 \
         WHERE (id = ?2 OR parent_id = ?2) AND revoked_at IS NULL RETURNING id",
    )
    .bind(micros(at))
    .bind(text(id))
    .fetch_all(pool)
    .await
    .db()?;
    Ok(ids.contains(&text(id)))
}

pub(super) async fn find_child(
    pool: &SqlitePool,
    parent: Uuid,
    client: &str,
) -> Result<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT * FROM sessions WHERE parent_id = ?1 AND client_id = ?2 AND revoked_at IS NULL \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(text(parent))
    .bind(client)
    .fetch_optional(pool)
    .await
    .db()?;
    row.map(SessionRow::into_session).transpose()
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

/// A listed session with its user.
#[derive(sqlx::FromRow)]
struct ListedRow {
    session_id: String,
    session_user_id: String,
    session_created_at: i64,
    session_expires_at: i64,
    session_revoked_at: Option<i64>,
    session_second_factor: bool,
    session_client_id: Option<String>,
    session_scope: String,
    session_parent_id: Option<String>,
    #[sqlx(flatten)]
    user: UserRow,
}

impl ListedRow {
    fn into_pair(self) -> Result<(Session, User)> {
        let session = SessionRow {
            id: self.session_id,
            user_id: self.session_user_id,
            created_at: self.session_created_at,
            expires_at: self.session_expires_at,
            revoked_at: self.session_revoked_at,
            second_factor: self.session_second_factor,
            client_id: self.session_client_id,
            scope: self.session_scope,
            parent_id: self.session_parent_id,
        }
        .into_session()?;
        let (user, _) = self.user.into_user()?;
        Ok((session, user))
    }
}

/// The arguments of a statement, then the limit if any.
fn arguments(statement: &Statement, limit: Option<i64>) -> Result<SqliteArguments<'static>> {
    let mut out = SqliteArguments::default();
    for arg in &statement.args {
        match arg {
            Arg::Text(v) => out.add(v.clone()),
            Arg::Int(v) => out.add(*v),
            Arg::Bool(v) => out.add(*v),
            Arg::Time(v) => out.add(micros(*v)),
            Arg::Id(v) => out.add(text(*v)),
        }
        .map_err(Error::internal)?;
    }
    if let Some(limit) = limit {
        out.add(limit).map_err(Error::internal)?;
    }
    Ok(out)
}

/// One page of live sessions with their users, and the total; see
/// [`crate::session_query`].
pub(super) async fn query(
    pool: &SqlitePool,
    query: &SessionQuery,
    now: DateTime<Utc>,
) -> Result<Page<(Session, User)>> {
    let sql = SessionSql::new(Dialect::Sqlite, query, now)?;
    let size = usize::try_from(query.size).unwrap_or(usize::MAX);
    // One more row than the page tells whether another page follows.
    let wanted = size.saturating_add(1);
    // One read transaction: the page and the count see the same snapshot.
    let mut tx = pool.begin().await.db()?;
    let mut rows: Vec<ListedRow> = Vec::new();
    for segment in &sql.segments {
        if rows.len() >= wanted {
            break;
        }
        let left = i64::try_from(wanted - rows.len()).unwrap_or(i64::MAX);
        let mut got = sqlx::query_as_with(&segment.sql, arguments(segment, Some(left))?)
            .fetch_all(&mut *tx)
            .await
            .db()?;
        rows.append(&mut got);
    }
    let total: i64 = if query.skip_total {
        0
    } else {
        sqlx::query_scalar_with(&sql.count.sql, arguments(&sql.count, None)?)
            .fetch_one(&mut *tx)
            .await
            .db()?
    };
    tx.commit().await.db()?;
    let more = rows.len() > size;
    rows.truncate(size);
    let items = rows
        .into_iter()
        .map(ListedRow::into_pair)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        more,
    })
}

#[cfg(test)]
mod plans {
    //! Query plans of `query_sessions` on SQLite: every order, both directions,
    //! with and without a user and a cursor, reads its page in index order.
    #![allow(clippy::unwrap_used)]

    use aegis_core::identity::{Email, Username};
    use aegis_core::query::{After, Order, Value};
    use aegis_core::session::{SessionOrder, SessionQuery};
    use aegis_core::user::{NewUser, Role};
    use aegis_core::Store;
    use chrono::{Duration, TimeZone};

    use super::super::search::plan_tree;
    use super::super::SqliteStore;
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000 + secs, 0).unwrap()
    }

    /// 400 users (a tenth without an email), each with 10 sessions of which a
    /// third are revoked and some expired.
    async fn populate(store: &SqliteStore) -> Vec<Uuid> {
        let mut users = Vec::new();
        for i in 0..400 {
            let user = NewUser {
                id: Uuid::now_v7(),
                username: Username::parse(&format!("user{i}")).unwrap(),
                email: (i % 10 != 3).then(|| Email::from_stored(format!("user{i}@example.com"))),
                password_hash: None,
                profile: Default::default(),
                role: Role::User,
                active: true,
                verified: false,
                password_expired: false,
                phone: None,
                created_at: at(0),
            };
            store.insert_user(&user).await.unwrap();
            users.push(user.id);
        }
        let mut tx = store.pool.begin().await.unwrap();
        for (i, user) in users.iter().enumerate() {
            for j in 0..10i64 {
                let n = i as i64 * 10 + j;
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .bind(text(Uuid::now_v7()))
                .bind(text(*user))
                .bind(micros(at(n)))
                .bind(micros(
                    at(n) + Duration::seconds(if j == 4 { 10 } else { 86_400 }),
                ))
                .bind((j % 3 == 0).then(|| micros(at(n + 1))))
                .execute(&mut *tx)
                .await
                .unwrap();
            }
        }
        tx.commit().await.unwrap();
        users
    }

    async fn explain(store: &SqliteStore, q: &SessionQuery) -> Vec<String> {
        let sql = SessionSql::new(Dialect::Sqlite, q, at(50_000)).unwrap();
        let mut out = Vec::new();
        for s in &sql.segments {
            let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as_with(
                &format!("EXPLAIN QUERY PLAN {}", s.sql),
                arguments(s, Some(i64::from(q.size) + 1)).unwrap(),
            )
            .fetch_all(&store.pool)
            .await
            .unwrap();
            out.push(format!("{}\n{}", s.sql, plan_tree(rows)));
        }
        out
    }

    #[tokio::test]
    async fn every_order_reads_an_index_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("aegis.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let users = populate(&store).await;
        // A session id in the middle.
        let pivot: String =
            sqlx::query_scalar("SELECT id FROM sessions ORDER BY id LIMIT 1 OFFSET 2000")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        let pivot = uuid(&pivot).unwrap();
        for order_by in [
            SessionOrder::Id,
            SessionOrder::CreatedAt,
            SessionOrder::Identity,
            SessionOrder::Email,
            SessionOrder::Expire,
        ] {
            let keys = match order_by {
                SessionOrder::Id => vec![Some(Value::Id(pivot))],
                SessionOrder::Identity => {
                    vec![Some(Value::Id(users[200])), Some(Value::Id(users[7]))]
                }
                SessionOrder::CreatedAt => vec![Some(Value::Time(at(2000)))],
                // Before now, and after it (then the cursor bounds the range).
                SessionOrder::Expire => {
                    vec![Some(Value::Time(at(2000))), Some(Value::Time(at(60_000)))]
                }
                // An email, and no email (only the sessions of such users are left).
                SessionOrder::Email => vec![Some(Value::Text("user5@example.com".into())), None],
            };
            let cursors = std::iter::once(None)
                .chain(keys.into_iter().map(|key| Some(After { key, id: pivot })));
            let cursors: Vec<_> = cursors.collect();
            for order in [Order::Asc, Order::Desc] {
                for user in [None, Some(users[7])] {
                    for after in cursors.clone() {
                        let q = SessionQuery {
                            user,
                            order_by,
                            order,
                            size: 20,
                            after,
                            ..Default::default()
                        };
                        for plan in explain(&store, &q).await {
                            check(&q, &plan);
                        }
                    }
                }
            }
        }
    }

    /// The plan reads the order's index in order: no sort but, by email over
    /// every user, of each user's few sessions.
    fn check(q: &SessionQuery, plan: &str) {
        let index = match (q.order_by, q.user.is_some()) {
            (SessionOrder::Id, false) => "sqlite_autoindex_sessions_1",
            (SessionOrder::Id | SessionOrder::Identity, _) => "sessions_live_user_id_idx",
            (SessionOrder::CreatedAt, false) => "sessions_live_created_at_idx",
            (SessionOrder::CreatedAt, true) => "sessions_live_user_created_at_idx",
            (SessionOrder::Expire, false) => "sessions_live_expires_at_idx",
            (SessionOrder::Expire, true) => "sessions_live_user_expires_at_idx",
            (SessionOrder::Email, true) => "sessions_live_user_id_idx",
            (SessionOrder::Email, false) if plan.contains("u.email IS NULL") => {
                "sqlite_autoindex_sessions_1"
            }
            (SessionOrder::Email, false) => "(email",
        };
        let by_user_email = q.order_by == SessionOrder::Email && q.user.is_none();
        assert!(
            plan.contains(index)
                && !plan.contains("TEMP B-TREE FOR ORDER BY")
                && !plan.contains("SCAN u")
                && (by_user_email || !plan.contains("TEMP B-TREE")),
            "{q:?}: not an ordered read of {index}:\n{plan}"
        );
    }
}
