//! Sessions and their refresh tokens, and the listing of live sessions (the
//! statements [`SessionSql`] writes).

use aegis_core::query::Page;
use aegis_core::session::{RefreshToken, Session, SessionQuery};
use aegis_core::user::User;
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, PgConnection, PgPool};
use uuid::Uuid;

use super::users::UserRow;
use crate::convert::hash32;
use crate::dialect::Dialect;
use crate::error::DbResultExt;
use crate::session_query::SessionSql;
use crate::user_query::{Arg, Statement};

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    second_factor: bool,
    client_id: Option<String>,
    scope: String,
    parent_id: Option<Uuid>,
}

impl SessionRow {
    fn into_session(self) -> Result<Session> {
        Ok(Session {
            id: self.id,
            user_id: self.user_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            second_factor: self.second_factor,
            client_id: self.client_id,
            scopes: self.scope.split_whitespace().map(str::to_owned).collect(),
            parent_id: self.parent_id,
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
    // `client_id` is no foreign key (a deleted client's sessions stay, revoked):
    // the client is checked here and held, as a foreign key would, so that a
    // concurrent deletion either waits for this session (then revokes it) or
    // has removed the client already.
    if let Some(client) = &session.client_id {
        let known: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM oidc_clients WHERE id = $1 FOR KEY SHARE")
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(session.id)
    .bind(session.user_id)
    .bind(session.created_at)
    .bind(session.expires_at)
    .bind(session.revoked_at)
    .bind(session.second_factor)
    .bind(&session.client_id)
    .bind(session.scopes.join(" "))
    .bind(session.parent_id)
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

/// Adds a refresh token to an existing session's family.
pub(super) async fn add_refresh_token(pool: &PgPool, token: &RefreshToken) -> Result<()> {
    let mut conn = pool.acquire().await.db()?;
    insert_refresh_token(&mut conn, token)
        .await
        .on_insert("refresh token", "session")
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
    // The session and the live sessions opened from it, in one statement.
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE (id = $2 OR parent_id = $2) AND revoked_at IS NULL RETURNING id",
    )
    .bind(at)
    .bind(id)
    .fetch_all(pool)
    .await
    .db()?;
    Ok(ids.contains(&id))
}

pub(super) async fn find_child(
    pool: &PgPool,
    parent: Uuid,
    client: &str,
) -> Result<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT * FROM sessions WHERE parent_id = $1 AND client_id = $2 AND revoked_at IS NULL \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(parent)
    .bind(client)
    .fetch_optional(pool)
    .await
    .db()?;
    row.map(SessionRow::into_session).transpose()
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

/// A listed session with its user.
#[derive(sqlx::FromRow)]
struct ListedRow {
    session_id: Uuid,
    session_user_id: Uuid,
    session_created_at: DateTime<Utc>,
    session_expires_at: DateTime<Utc>,
    session_revoked_at: Option<DateTime<Utc>>,
    session_second_factor: bool,
    session_client_id: Option<String>,
    session_scope: String,
    session_parent_id: Option<Uuid>,
    #[sqlx(flatten)]
    user: UserRow,
}

impl ListedRow {
    fn into_pair(self) -> Result<(Session, User)> {
        let session = Session {
            id: self.session_id,
            user_id: self.session_user_id,
            created_at: self.session_created_at,
            expires_at: self.session_expires_at,
            revoked_at: self.session_revoked_at,
            second_factor: self.session_second_factor,
            client_id: self.session_client_id,
            scopes: self
                .session_scope
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            parent_id: self.session_parent_id,
        };
        let (user, _) = self.user.into_user()?;
        Ok((session, user))
    }
}

/// The arguments of a statement, then the limit if any.
fn arguments(statement: &Statement, limit: Option<i64>) -> Result<PgArguments> {
    let mut out = PgArguments::default();
    for arg in &statement.args {
        match arg {
            Arg::Text(v) => out.add(v.clone()),
            Arg::Int(v) => out.add(*v),
            Arg::Bool(v) => out.add(*v),
            Arg::Time(v) => out.add(*v),
            Arg::Id(v) => out.add(*v),
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
    pool: &PgPool,
    query: &SessionQuery,
    now: DateTime<Utc>,
) -> Result<Page<(Session, User)>> {
    let sql = SessionSql::new(Dialect::Postgres, query, now)?;
    let size = usize::try_from(query.size).unwrap_or(usize::MAX);
    // One more row than the page tells whether another page follows.
    let wanted = size.saturating_add(1);
    // One snapshot for the page and the count.
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .db()?;
    let mut rows: Vec<ListedRow> = Vec::new();
    for segment in &sql.segments {
        if rows.len() >= wanted {
            break;
        }
        let left = i64::try_from(wanted - rows.len()).unwrap_or(i64::MAX);
        // Unprepared: the texts vary with the filter, and each execution is
        // planned with its values.
        let mut got = sqlx::query_as_with(&segment.sql, arguments(segment, Some(left))?)
            .persistent(false)
            .fetch_all(&mut *tx)
            .await
            .db()?;
        rows.append(&mut got);
    }
    let total: i64 = if query.skip_total {
        0
    } else {
        sqlx::query_scalar_with(&sql.count.sql, arguments(&sql.count, None)?)
            .persistent(false)
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
    //! Query plans of `query_sessions` on PostgreSQL (with statistics): every
    //! order, both directions, with and without a user and a cursor, reads its
    //! page from an index without sorting the listing.
    #![allow(clippy::unwrap_used)]

    use aegis_core::identity::{Email, Username};
    use aegis_core::query::{After, Order, Value};
    use aegis_core::session::{SessionOrder, SessionQuery};
    use aegis_core::user::{NewUser, Role};
    use aegis_core::Store;
    use chrono::TimeZone;

    use super::super::PgStore;
    use super::*;
    use crate::testing::{drop_schema, isolated_postgres, postgres_test_url};

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000 + secs, 0).unwrap()
    }

    /// 1000 users (a tenth without an email), each with 20 sessions of which a
    /// third are revoked and some expired.
    async fn populate(store: &PgStore) -> Vec<Uuid> {
        let mut users = Vec::new();
        for i in 0..1000 {
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
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) \
             SELECT gen_random_uuid(), u.id, $1 + n * interval '1 second', \
                    $1 + (n + CASE WHEN n % 7 = 4 THEN 10 ELSE 86400 END) * interval '1 second', \
                    CASE WHEN n % 3 = 0 THEN $1 END \
             FROM users u CROSS JOIN generate_series(0, 19) AS n",
        )
        .bind(at(0))
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE users, sessions")
            .execute(&store.pool)
            .await
            .unwrap();
        users
    }

    async fn explain(store: &PgStore, q: &SessionQuery) -> Vec<String> {
        let sql = SessionSql::new(Dialect::Postgres, q, at(50)).unwrap();
        let mut out = Vec::new();
        for s in &sql.segments {
            let lines: Vec<String> = sqlx::query_scalar_with(
                &format!("EXPLAIN {}", s.sql),
                arguments(s, Some(i64::from(q.size) + 1)).unwrap(),
            )
            .persistent(false)
            .fetch_all(&store.pool)
            .await
            .unwrap();
            out.push(format!("{}\n{}", s.sql, lines.join("\n")));
        }
        out
    }

    /// The plan reads an index of the order: no sort of the listing (by email,
    /// only an incremental sort of each user's sessions). One user's sessions
    /// are few: the planner may read them by user and sort them.
    fn check(q: &SessionQuery, plan: &str) -> Option<String> {
        if q.user.is_some() {
            let ok = plan.contains("sessions_live_user") && !plan.contains("Seq Scan");
            return (!ok).then(|| format!("{q:?}: not a read of the user's sessions:\n{plan}"));
        }
        let index = match (q.order_by, q.user.is_some()) {
            (SessionOrder::Id, false) => "sessions_pkey",
            // Any index led by the user id (the row comparison's estimate is rough).
            (SessionOrder::Identity, _) => "sessions_live_user",
            (SessionOrder::Id, true) => "sessions_live_user_id_idx",
            (SessionOrder::CreatedAt, false) => "sessions_live_created_at_idx",
            (SessionOrder::CreatedAt, true) => "sessions_live_user_created_at_idx",
            (SessionOrder::Expire, false) => "sessions_live_expires_at_idx",
            (SessionOrder::Expire, true) => "sessions_live_user_expires_at_idx",
            (SessionOrder::Email, true) => "sessions_live_user",
            (SessionOrder::Email, false) if plan.contains("u.email IS NULL") => "sessions_pkey",
            (SessionOrder::Email, false) => "users_email_idx",
        };
        let sorts = plan
            .lines()
            .filter(|l| l.contains("Sort") && !l.contains("Sort Key") && !l.contains("Presorted"))
            .all(|l| l.contains("Incremental Sort"));
        let ok = plan.contains(index) && sorts && !plan.contains("Seq Scan");
        (!ok).then(|| format!("{q:?}: not an ordered read of {index}:\n{plan}"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_order_reads_an_index_in_order() {
        let Some(url) = postgres_test_url() else {
            eprintln!("skipping PostgreSQL");
            return;
        };
        let (store, schema) = isolated_postgres(&url).await.unwrap();
        let outcome = tokio::spawn(async move {
            let users = populate(&store).await;
            // A session id in the middle.
            let pivot: Uuid =
                sqlx::query_scalar("SELECT id FROM sessions ORDER BY id OFFSET 10000")
                    .fetch_one(&store.pool)
                    .await
                    .unwrap();
            let mut failures = Vec::new();
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
                        vec![Some(Value::Id(users[500])), Some(Value::Id(users[7]))]
                    }
                    SessionOrder::CreatedAt => vec![Some(Value::Time(at(10)))],
                    SessionOrder::Expire => {
                        vec![Some(Value::Time(at(20))), Some(Value::Time(at(86_405)))]
                    }
                    SessionOrder::Email => {
                        vec![Some(Value::Text("user5@example.com".into())), None]
                    }
                };
                let cursors: Vec<_> = std::iter::once(None)
                    .chain(keys.into_iter().map(|key| Some(After { key, id: pivot })))
                    .collect();
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
                                failures.extend(check(&q, &plan));
                            }
                        }
                    }
                }
            }
            assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        })
        .await;
        drop_schema(&url, &schema).await.unwrap();
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}
