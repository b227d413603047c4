//! Listing users by a wildcard pattern on their login key, served by the
//! `users_login_key_idx` range when the pattern has a literal prefix.

use aegis_core::pattern::Pattern;
use aegis_core::user::User;
use aegis_core::Result;
use sqlx::SqlitePool;

use super::users::UserRow;
use crate::dialect::Dialect;
use crate::error::DbResultExt;
use crate::matching::KeyCondition;

/// Matching users in login-key order, at most `limit`, and how many match.
pub(super) async fn list_matching(
    pool: &SqlitePool,
    pattern: &Pattern,
    limit: u32,
) -> Result<(Vec<User>, u64)> {
    let cond = KeyCondition::new(Dialect::Sqlite, pattern);
    // One read transaction: the page and the count see the same snapshot.
    let mut tx = pool.begin().await.db()?;
    let page_sql = cond.page_sql(Dialect::Sqlite);
    let mut page = sqlx::query_as::<_, UserRow>(&page_sql);
    for bind in &cond.binds {
        page = page.bind(bind);
    }
    let rows = page.bind(i64::from(limit)).fetch_all(&mut *tx).await.db()?;
    let count_sql = cond.count_sql();
    let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
    for bind in &cond.binds {
        count = count.bind(bind);
    }
    let total = count.fetch_one(&mut *tx).await.db()?;
    tx.commit().await.db()?;
    let users = rows
        .into_iter()
        .map(|r| r.into_user().map(|(user, _)| user))
        .collect::<Result<Vec<_>>>()?;
    Ok((users, u64::try_from(total).unwrap_or(0)))
}

/// `EXPLAIN QUERY PLAN` of the page and count queries of [`list_matching`].
pub(super) async fn explain(pool: &SqlitePool, pattern: &Pattern, limit: u32) -> Result<String> {
    let cond = KeyCondition::new(Dialect::Sqlite, pattern);
    let mut out = String::new();
    for (name, sql, with_limit) in [
        ("page", cond.page_sql(Dialect::Sqlite), true),
        ("count", cond.count_sql(), false),
    ] {
        let sql = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&sql);
        for bind in &cond.binds {
            query = query.bind(bind);
        }
        if with_limit {
            query = query.bind(i64::from(limit));
        }
        let rows = query.fetch_all(pool).await.db()?;
        out.push_str(&format!("-- {name}\n"));
        out.push_str(&plan_tree(rows));
    }
    Ok(out)
}

/// The rows of an `EXPLAIN QUERY PLAN` (id, parent, unused, detail), one node a
/// line, indented by depth.
pub(super) fn plan_tree(rows: Vec<(i64, i64, i64, String)>) -> String {
    let mut out = String::new();
    // Rows come parent first; indent each by its depth.
    let mut depth: Vec<(i64, usize)> = Vec::new();
    for (id, parent, _, detail) in rows {
        let level = depth
            .iter()
            .find(|(node, _)| *node == parent)
            .map_or(0, |(_, d)| d + 1);
        depth.push((id, level));
        out.push_str(&format!("{}{detail}\n", "  ".repeat(level)));
    }
    out
}
