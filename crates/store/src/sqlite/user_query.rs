//! Filtered, ordered, keyset-paginated user listings: runs the statements
//! [`UserSql`] writes, binding timestamps as unix microseconds and UUIDs as text.

use std::time::{Duration, Instant};

use aegis_core::query::{Page, UserQuery};
use aegis_core::user::User;
use aegis_core::{Error, Result};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, SqlitePool};

use super::search::plan_tree;
use super::users::UserRow;
use super::{micros, text};
use crate::dialect::Dialect;
use crate::error::DbResultExt;
use crate::user_query::{Arg, Statement, UserSql};

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

/// One page of users and the total; see [`crate::user_query`].
pub(super) async fn query(pool: &SqlitePool, query: &UserQuery) -> Result<Page<User>> {
    run(pool, query, None).await
}

/// Like [`query`], also returning how long each statement took (rows fetched
/// and decoded), labelled `range N` and `count`.
pub(super) async fn timed(
    pool: &SqlitePool,
    query: &UserQuery,
) -> Result<(Page<User>, Vec<(String, Duration)>)> {
    let mut timings = Vec::new();
    let page = run(pool, query, Some(&mut timings)).await?;
    Ok((page, timings))
}

async fn run(
    pool: &SqlitePool,
    query: &UserQuery,
    mut timings: Option<&mut Vec<(String, Duration)>>,
) -> Result<Page<User>> {
    let sql = UserSql::new(Dialect::Sqlite, query)?;
    let size = usize::try_from(query.size).unwrap_or(usize::MAX);
    // One more row than the page tells whether another page follows.
    let wanted = size.saturating_add(1);
    // One read transaction: the page and the count see the same snapshot.
    let mut tx = pool.begin().await.db()?;
    let mut rows: Vec<UserRow> = Vec::new();
    for (i, segment) in sql.segments.iter().enumerate() {
        if rows.len() >= wanted {
            break;
        }
        let left = i64::try_from(wanted - rows.len()).unwrap_or(i64::MAX);
        let started = Instant::now();
        let args = arguments(segment, Some(left))?;
        let mut got = sqlx::query_as_with(&segment.sql, args)
            .fetch_all(&mut *tx)
            .await
            .db()?;
        rows.append(&mut got);
        if let Some(t) = timings.as_deref_mut() {
            t.push((format!("range {}", i + 1), started.elapsed()));
        }
    }
    let started = Instant::now();
    let total: i64 = if query.skip_total {
        0
    } else {
        sqlx::query_scalar_with(&sql.count.sql, arguments(&sql.count, None)?)
            .fetch_one(&mut *tx)
            .await
            .db()?
    };
    if let Some(t) = timings {
        t.push(("count".to_owned(), started.elapsed()));
    }
    tx.commit().await.db()?;
    let more = rows.len() > size;
    rows.truncate(size);
    let items = rows
        .into_iter()
        .map(|r| r.into_user().map(|(user, _)| user))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        more,
    })
}

/// `EXPLAIN QUERY PLAN` of every statement of [`query`]: one `-- range N` section
/// per range (each with the limit of a whole page and its probe) and `-- count`.
pub(super) async fn explain(pool: &SqlitePool, query: &UserQuery) -> Result<String> {
    let sql = UserSql::new(Dialect::Sqlite, query)?;
    let limit = i64::from(query.size) + 1;
    let mut sections: Vec<(String, &Statement, Option<i64>)> = sql
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("range {}", i + 1), s, Some(limit)))
        .collect();
    sections.push(("count".to_owned(), &sql.count, None));
    let mut out = String::new();
    for (name, statement, limit) in sections {
        let explain = format!("EXPLAIN QUERY PLAN {}", statement.sql);
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as_with(&explain, arguments(statement, limit)?)
                .fetch_all(pool)
                .await
                .db()?;
        out.push_str(&format!("-- {name}: {}\n", statement.sql));
        out.push_str(&plan_tree(rows));
    }
    Ok(out)
}
