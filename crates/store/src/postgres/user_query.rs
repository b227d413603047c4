//! Filtered, ordered, keyset-paginated user listings: runs the statements
//! [`UserSql`] writes.

use std::time::{Duration, Instant};

use aegis_core::query::{Page, UserQuery};
use aegis_core::user::User;
use aegis_core::{Error, Result};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, PgPool};

use super::users::UserRow;
use crate::dialect::Dialect;
use crate::error::DbResultExt;
use crate::user_query::{Arg, Statement, UserSql};

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

/// One page of users and the total; see [`crate::user_query`].
pub(super) async fn query(pool: &PgPool, query: &UserQuery) -> Result<Page<User>> {
    run(pool, query, None).await
}

/// Like [`query`], also returning how long each statement took (rows fetched
/// and decoded), labelled `range N` and `count`.
pub(super) async fn timed(
    pool: &PgPool,
    query: &UserQuery,
) -> Result<(Page<User>, Vec<(String, Duration)>)> {
    let mut timings = Vec::new();
    let page = run(pool, query, Some(&mut timings)).await?;
    Ok((page, timings))
}

async fn run(
    pool: &PgPool,
    query: &UserQuery,
    mut timings: Option<&mut Vec<(String, Duration)>>,
) -> Result<Page<User>> {
    let sql = UserSql::new(Dialect::Postgres, query)?;
    let size = usize::try_from(query.size).unwrap_or(usize::MAX);
    // One more row than the page tells whether another page follows.
    let wanted = size.saturating_add(1);
    // One snapshot for the page and the count.
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .db()?;
    let mut rows: Vec<UserRow> = Vec::new();
    for (i, segment) in sql.segments.iter().enumerate() {
        if rows.len() >= wanted {
            break;
        }
        let left = i64::try_from(wanted - rows.len()).unwrap_or(i64::MAX);
        let started = Instant::now();
        // Unprepared: the texts vary with the filter (they would churn the
        // statement cache), and each execution is planned with its values.
        let mut got = sqlx::query_as_with(&segment.sql, arguments(segment, Some(left))?)
            .persistent(false)
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
            .persistent(false)
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

/// `EXPLAIN (ANALYZE, BUFFERS)` of every statement of [`query`] (they run): one
/// `-- range N` section per range (each with the limit of a whole page and its
/// probe) and `-- count`.
pub(super) async fn explain(pool: &PgPool, query: &UserQuery) -> Result<String> {
    let sql = UserSql::new(Dialect::Postgres, query)?;
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
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS) {}", statement.sql);
        let lines: Vec<String> = sqlx::query_scalar_with(&explain, arguments(statement, limit)?)
            .persistent(false)
            .fetch_all(pool)
            .await
            .db()?;
        out.push_str(&format!("-- {name}: {}\n", statement.sql));
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}
