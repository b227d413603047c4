//! Groups and memberships. A group's `name_key` is its case-folded name
//! ([`fold`]), unique, in the "C" collation; listings are in `name_key` order.

use std::collections::{BTreeMap, HashMap};

use aegis_core::group::{Group, GroupUpdate};
use aegis_core::identity::fold;
use aegis_core::query::Page;
use aegis_core::user::User;
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::users::UserRow;
use crate::error::{internal, is_unique_violation, DbResultExt};

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: Uuid,
    name: String,
    kind: String,
    description: Option<String>,
    attributes: Json<BTreeMap<String, String>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl GroupRow {
    fn into_group(self) -> Group {
        Group {
            id: self.id,
            name: self.name,
            kind: self.kind,
            description: self.description,
            attributes: self.attributes.0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

pub(super) async fn insert(pool: &PgPool, group: &Group) -> Result<()> {
    sqlx::query(
        "INSERT INTO groups (id, name, name_key, kind, description, attributes, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(group.id)
    .bind(&group.name)
    .bind(fold(&group.name))
    .bind(&group.kind)
    .bind(group.description.as_deref())
    .bind(Json(&group.attributes))
    .bind(group.created_at)
    .bind(group.updated_at)
    .execute(pool)
    .await
    .on_insert("name", "group")?;
    Ok(())
}

pub(super) async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Group>> {
    let row: Option<GroupRow> = sqlx::query_as("SELECT * FROM groups WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .db()?;
    Ok(row.map(GroupRow::into_group))
}

pub(super) async fn update(
    pool: &PgPool,
    id: Uuid,
    update: &GroupUpdate,
    at: DateTime<Utc>,
) -> Result<Group> {
    let row: Option<GroupRow> = sqlx::query_as(
        "UPDATE groups SET \
           name = COALESCE($1, name), \
           name_key = COALESCE($2, name_key), \
           kind = COALESCE($3, kind), \
           description = CASE WHEN $4 THEN $5 ELSE description END, \
           attributes = COALESCE($6, attributes), \
           updated_at = $7 \
         WHERE id = $8 RETURNING *",
    )
    .bind(update.name.as_deref())
    .bind(update.name.as_deref().map(fold))
    .bind(update.kind.as_deref())
    .bind(update.description.is_some())
    .bind(update.description.as_ref().and_then(Option::as_deref))
    .bind(update.attributes.as_ref().map(Json))
    .bind(at)
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            Error::Conflict { field: "name" }
        } else {
            internal(e)
        }
    })?;
    Ok(row.ok_or(Error::NotFound("group"))?.into_group())
}

pub(super) async fn delete(pool: &PgPool, id: Uuid) -> Result<bool> {
    let done = sqlx::query("DELETE FROM groups WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .db()?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn list(
    pool: &PgPool,
    after: Option<(String, Uuid)>,
    size: u32,
) -> Result<Page<Group>> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let probe = i64::try_from(size.saturating_add(1)).unwrap_or(i64::MAX);
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .db()?;
    let mut rows: Vec<GroupRow> = match after {
        None => sqlx::query_as("SELECT * FROM groups ORDER BY name_key, id LIMIT $1").bind(probe),
        Some((key, id)) => sqlx::query_as(
            "SELECT * FROM groups WHERE (name_key, id) > ($1, $2) \
             ORDER BY name_key, id LIMIT $3",
        )
        .bind(key)
        .bind(id)
        .bind(probe),
    }
    .fetch_all(&mut *tx)
    .await
    .db()?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM groups")
        .fetch_one(&mut *tx)
        .await
        .db()?;
    tx.commit().await.db()?;
    let more = rows.len() > size;
    rows.truncate(size);
    Ok(Page {
        items: rows.into_iter().map(GroupRow::into_group).collect(),
        total: u64::try_from(total).unwrap_or(0),
        more,
    })
}

async fn exists(conn: &mut PgConnection, table: &'static str, id: Uuid) -> Result<bool> {
    // `table` is one of two literals of this module, never input.
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)");
    sqlx::query_scalar(&sql).bind(id).fetch_one(conn).await.db()
}

pub(super) async fn assign(
    pool: &PgPool,
    user: Uuid,
    group_ids: &[Uuid],
    at: DateTime<Utc>,
) -> Result<Option<Uuid>> {
    let mut tx = pool.begin().await.db()?;
    // FOR KEY SHARE: the user and the groups cannot be deleted before the commit.
    let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE")
        .bind(user)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
    if known.is_none() {
        return Err(Error::NotFound("user"));
    }
    let found: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM groups WHERE id = ANY($1) FOR KEY SHARE")
            .bind(group_ids)
            .fetch_all(&mut *tx)
            .await
            .db()?;
    if let Some(missing) = group_ids.iter().find(|g| !found.contains(g)) {
        // Dropping the transaction rolls it back: nothing was written.
        return Ok(Some(*missing));
    }
    sqlx::query(
        "INSERT INTO user_groups (user_id, group_id, created_at) \
         SELECT $1, g, $3 FROM unnest($2::uuid[]) AS g ON CONFLICT DO NOTHING",
    )
    .bind(user)
    .bind(group_ids)
    .bind(at)
    .execute(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    Ok(None)
}

pub(super) async fn remove(pool: &PgPool, user: Uuid, group: Uuid) -> Result<()> {
    let mut tx = pool.begin().await.db()?;
    let done = sqlx::query("DELETE FROM user_groups WHERE user_id = $1 AND group_id = $2")
        .bind(user)
        .bind(group)
        .execute(&mut *tx)
        .await
        .db()?;
    if done.rows_affected() == 0 {
        // Not a member: fine, unless either does not exist.
        if !exists(&mut tx, "users", user).await? {
            return Err(Error::NotFound("user"));
        }
        if !exists(&mut tx, "groups", group).await? {
            return Err(Error::NotFound("group"));
        }
    }
    tx.commit().await.db()
}

pub(super) async fn of_user(pool: &PgPool, user: Uuid) -> Result<Vec<Group>> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .db()?;
    let rows: Vec<GroupRow> = sqlx::query_as(
        "SELECT g.* FROM user_groups m JOIN groups g ON g.id = m.group_id \
         WHERE m.user_id = $1 ORDER BY g.name_key, g.id",
    )
    .bind(user)
    .fetch_all(&mut *tx)
    .await
    .db()?;
    if rows.is_empty() && !exists(&mut tx, "users", user).await? {
        return Err(Error::NotFound("user"));
    }
    tx.commit().await.db()?;
    Ok(rows.into_iter().map(GroupRow::into_group).collect())
}

pub(super) async fn ids_of(pool: &PgPool, users: &[Uuid]) -> Result<HashMap<Uuid, Vec<Uuid>>> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT m.user_id, m.group_id FROM user_groups m JOIN groups g ON g.id = m.group_id \
         WHERE m.user_id = ANY($1) ORDER BY m.user_id, g.name_key, g.id",
    )
    .bind(users)
    .fetch_all(pool)
    .await
    .db()?;
    let mut out: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (user, group) in rows {
        out.entry(user).or_default().push(group);
    }
    Ok(out)
}

pub(super) async fn members(
    pool: &PgPool,
    group: Uuid,
    after: Option<Uuid>,
    size: u32,
) -> Result<Page<User>> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let probe = i64::try_from(size.saturating_add(1)).unwrap_or(i64::MAX);
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .db()?;
    // Two texts rather than `$2 IS NULL OR …`, which no index range can serve.
    let mut rows: Vec<UserRow> = match after {
        None => sqlx::query_as(
            "SELECT u.* FROM user_groups m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = $1 ORDER BY m.user_id LIMIT $2",
        )
        .bind(group)
        .bind(probe),
        Some(after) => sqlx::query_as(
            "SELECT u.* FROM user_groups m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3",
        )
        .bind(group)
        .bind(after)
        .bind(probe),
    }
    .fetch_all(&mut *tx)
    .await
    .db()?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_groups WHERE group_id = $1")
        .bind(group)
        .fetch_one(&mut *tx)
        .await
        .db()?;
    if total == 0 && !exists(&mut tx, "groups", group).await? {
        return Err(Error::NotFound("group"));
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
