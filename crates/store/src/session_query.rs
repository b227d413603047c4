//! SQL for [`Store::query_sessions`](aegis_core::Store::query_sessions):
//! filtered, ordered, keyset-paginated listings of live sessions with their
//! users, shared by both backends. It follows [`crate::user_query`]: the text is
//! fixed fragments and parameter numbers, every value a bound [`Arg`].
//!
//! Only live sessions are read (`revoked_at IS NULL AND expires_at > now`); the
//! indexes behind the orders are partial on `revoked_at IS NULL`, so revoked
//! sessions are not even scanned. Each order reads one index range in listing
//! order: `(created_at, id)`, `(expires_at, id)`, `(user_id, id)` or the primary
//! key, and with a user filter the same keys after `user_id`. Ordering by the
//! owner's email walks `users (email, id)` and each user's sessions by
//! `(user_id, id)`; sessions of users without an email are a second range, by
//! session id, after every email in ascending order (before them descending,
//! so that descending is exactly ascending reversed).

use aegis_core::query::{After, Order, Value};
use aegis_core::session::{SessionCondition, SessionField, SessionOrder, SessionQuery};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::dialect::Dialect;
use crate::user_query::{Arg, Statement};

/// The columns of a page row: the session's, prefixed `session_`, then the user's.
const COLUMNS: &str = "s.id AS session_id, s.user_id AS session_user_id, \
     s.created_at AS session_created_at, s.expires_at AS session_expires_at, \
     s.revoked_at AS session_revoked_at, s.second_factor AS session_second_factor, \
     s.client_id AS session_client_id, s.scope AS session_scope, s.parent_id AS session_parent_id, u.*";

/// The statements of one [`SessionQuery`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionSql {
    /// The page, in listing order: read each in turn, binding its arguments and
    /// then the number of rows still wanted (its `LIMIT`), until the page and its
    /// probe row are full.
    pub segments: Vec<Statement>,
    /// `COUNT(*)` of every matching live session, whatever the cursor.
    pub count: Statement,
}

/// The type of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Time,
    Id,
}

fn kind(field: SessionField) -> Kind {
    match field {
        SessionField::Id | SessionField::Identity => Kind::Id,
        SessionField::Email | SessionField::Username => Kind::Text,
        SessionField::CreatedAt | SessionField::Expire => Kind::Time,
    }
}

/// The field's name in errors (the Pangea filter key).
fn name(field: SessionField) -> &'static str {
    match field {
        SessionField::Id => "id",
        SessionField::Identity => "identity",
        SessionField::Email => "email",
        SessionField::Username => "username",
        SessionField::CreatedAt => "created_at",
        SessionField::Expire => "expire",
    }
}

/// The column of a field in `sessions s JOIN users u`.
fn column(field: SessionField) -> &'static str {
    match field {
        SessionField::Id => "s.id",
        SessionField::Identity => "s.user_id",
        SessionField::Email => "u.email",
        SessionField::Username => "u.username",
        SessionField::CreatedAt => "s.created_at",
        SessionField::Expire => "s.expires_at",
    }
}

/// True when the field lives on the user, so the count must join `users`.
fn on_user(field: SessionField) -> bool {
    matches!(field, SessionField::Email | SessionField::Username)
}

fn unfit(field: SessionField) -> Error {
    Error::invalid(name(field), "the value does not fit the field")
}

/// The cursor's error: its key is not of the sort key's type.
fn bad_cursor() -> Error {
    Error::invalid("last", "the cursor does not fit the order")
}

/// A value compared with `field`, type-checked.
fn arg(field: SessionField, value: &Value) -> Result<Arg> {
    Ok(match (kind(field), value) {
        (Kind::Text, Value::Text(v)) => Arg::Text(v.clone()),
        (Kind::Time, Value::Time(v)) => Arg::Time(*v),
        (Kind::Id, Value::Id(v)) => Arg::Id(*v),
        _ => return Err(unfit(field)),
    })
}

/// Numbers the parameters of one statement.
#[derive(Clone)]
struct Params {
    dialect: Dialect,
    args: Vec<Arg>,
}

impl Params {
    /// Adds a parameter; returns its placeholder.
    fn push(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        self.dialect.param(self.args.len())
    }

    /// The SQL of one condition.
    fn condition(&mut self, cond: &SessionCondition) -> Result<String> {
        use SessionCondition as C;
        Ok(match cond {
            C::Never => "0 = 1".to_owned(),
            C::Eq(SessionField::Email, value) => self.email_in(std::slice::from_ref(value))?,
            C::In(SessionField::Email, values) => self.email_in(values)?,
            C::Eq(field, value) => {
                let arg = arg(*field, value)?;
                format!("{} = {}", column(*field), self.push(arg))
            }
            C::In(field, values) => {
                let args = values
                    .iter()
                    .map(|v| arg(*field, v))
                    .collect::<Result<Vec<_>>>()?;
                if args.is_empty() {
                    return Ok("0 = 1".to_owned());
                }
                let params: Vec<String> = args.into_iter().map(|a| self.push(a)).collect();
                format!("{} IN ({})", column(*field), params.join(", "))
            }
            C::Gt(field, value) => self.range(*field, ">", value)?,
            C::Gte(field, value) => self.range(*field, ">=", value)?,
            C::Lt(field, value) => self.range(*field, "<", value)?,
            C::Lte(field, value) => self.range(*field, "<=", value)?,
            C::Contains(field, parts) => {
                let text = match kind(*field) {
                    Kind::Id => self.dialect.uuid_text(column(*field)),
                    Kind::Text if *field == SessionField::Email => {
                        "COALESCE(u.email, '')".to_owned()
                    }
                    Kind::Text => column(*field).to_owned(),
                    Kind::Time => return Err(unfit(*field)),
                };
                if parts.is_empty() {
                    return Ok("1 = 1".to_owned());
                }
                let tests: Vec<String> = parts
                    .iter()
                    .map(|p| {
                        let param = self.push(Arg::Text(p.clone()));
                        self.dialect.contains(&text, &param)
                    })
                    .collect();
                tests.join(" AND ")
            }
        })
    }

    /// The owner's email equals one of `values`, `""` standing for no email.
    /// Written on the bare column so that the unique index on `email` serves it.
    fn email_in(&mut self, values: &[Value]) -> Result<String> {
        let mut params = Vec::new();
        let mut none = false;
        for value in values {
            match arg(SessionField::Email, value)? {
                Arg::Text(v) if v.is_empty() => none = true,
                a => params.push(self.push(a)),
            }
        }
        let mut alternatives = Vec::new();
        if !params.is_empty() {
            alternatives.push(format!("u.email IN ({})", params.join(", ")));
        }
        if none {
            alternatives.push("u.email IS NULL".to_owned());
        }
        Ok(match alternatives.len() {
            0 => "0 = 1".to_owned(),
            1 => alternatives.join(""),
            _ => format!("({})", alternatives.join(" OR ")),
        })
    }

    /// `field <op> value`; text compares in byte order, a missing email is `""`.
    fn range(&mut self, field: SessionField, op: &str, value: &Value) -> Result<String> {
        let arg = arg(field, value)?;
        let lhs = match (kind(field), field) {
            (_, SessionField::Email) => self.dialect.bytewise("COALESCE(u.email, '')"),
            (Kind::Text, _) => self.dialect.bytewise(column(field)),
            _ => column(field).to_owned(),
        };
        Ok(format!("{lhs} {op} {}", self.push(arg)))
    }
}

/// One index range of the listing order.
enum Region {
    /// Non-NULL keys, after `(key, id)` when given.
    Keys(Option<(Arg, Uuid)>),
    /// Sessions of users without an email, after the session id when given.
    Nulls(Option<Uuid>),
}

/// The sort column of an order (`None` for the session id itself) and its type.
fn sort_key(order: SessionOrder) -> (Option<&'static str>, Kind) {
    match order {
        SessionOrder::Id => (None, Kind::Id),
        SessionOrder::CreatedAt => (Some("s.created_at"), Kind::Time),
        SessionOrder::Identity => (Some("s.user_id"), Kind::Id),
        SessionOrder::Email => (Some("u.email"), Kind::Text),
        SessionOrder::Expire => (Some("s.expires_at"), Kind::Time),
    }
}

/// The cursor's key as an argument, `None` for a NULL key (an email of `""` is
/// no email); a key of the wrong type is an invalid cursor.
fn cursor_key(order: SessionOrder, value: Option<&Value>) -> Result<Option<Arg>> {
    Ok(match (sort_key(order).1, value) {
        (_, None) if order == SessionOrder::Email => None,
        (_, None) => return Err(bad_cursor()),
        (Kind::Text, Some(Value::Text(v))) if v.is_empty() => None,
        (Kind::Text, Some(Value::Text(v))) => Some(Arg::Text(v.clone())),
        (Kind::Time, Some(Value::Time(v))) => Some(Arg::Time(*v)),
        (Kind::Id, Some(Value::Id(v))) => Some(Arg::Id(*v)),
        _ => return Err(bad_cursor()),
    })
}

/// The regions still to read, in listing order, after the cursor.
fn regions(order: SessionOrder, dir: Order, after: Option<&After>) -> Result<Vec<Region>> {
    if order == SessionOrder::Id {
        return Ok(vec![Region::Keys(None)]);
    }
    let cursor = match after {
        None => None,
        Some(a) => Some((cursor_key(order, a.key.as_ref())?, a.id)),
    };
    let nullable = order == SessionOrder::Email;
    let regions = match (dir, cursor) {
        (Order::Asc, None) => vec![Region::Keys(None), Region::Nulls(None)],
        (Order::Asc, Some((Some(k), id))) => vec![Region::Keys(Some((k, id))), Region::Nulls(None)],
        (Order::Asc, Some((None, id))) => vec![Region::Nulls(Some(id))],
        (Order::Desc, None) => vec![Region::Nulls(None), Region::Keys(None)],
        (Order::Desc, Some((None, id))) => vec![Region::Nulls(Some(id)), Region::Keys(None)],
        (Order::Desc, Some((Some(k), id))) => vec![Region::Keys(Some((k, id)))],
    };
    // Only the email can be NULL.
    Ok(regions
        .into_iter()
        .filter(|r| nullable || matches!(r, Region::Keys(_)))
        .collect())
}

impl SessionSql {
    /// The statements of `query` for the sessions live at `now`; a condition or
    /// cursor whose value does not fit its field is `InvalidField` (named after
    /// the field, or `last`).
    pub(crate) fn new(dialect: Dialect, query: &SessionQuery, now: DateTime<Utc>) -> Result<Self> {
        let mut filter = Params {
            dialect,
            args: Vec::new(),
        };
        // Written literally: the partial indexes need `revoked_at IS NULL`.
        let mut conditions = vec!["s.revoked_at IS NULL".to_owned()];
        // Unless the listing is by expiry, SQLite must not take the expiry bound
        // for an index range: it would trade the order's index for a sort.
        let expires = match (dialect, query.order_by) {
            (Dialect::Sqlite, order) if order != SessionOrder::Expire => "+s.expires_at",
            _ => "s.expires_at",
        };
        let alive = format!("{expires} > {}", filter.push(Arg::Time(now)));
        if let Some(user) = query.user {
            conditions.push(format!("s.user_id = {}", filter.push(Arg::Id(user))));
        }
        for c in &query.conditions {
            conditions.push(filter.condition(c)?);
        }
        // Ascending by expiry after a key still in the future, the cursor alone
        // bounds the range (and implies `expires_at > now`): a second lower
        // bound could take its place in the index range.
        let cursor_bounds = query.order_by == SessionOrder::Expire
            && query.order == Order::Asc
            && matches!(
                query.after.as_ref().and_then(|a| a.key.as_ref()),
                Some(Value::Time(k)) if *k > now
            );
        let (dir, cmp) = match query.order {
            Order::Asc => ("ASC", ">"),
            Order::Desc => ("DESC", "<"),
        };
        let (key, _) = sort_key(query.order_by);
        let sorted = match query.order_by {
            SessionOrder::Email => dialect.bytewise("u.email"),
            _ => key.unwrap_or("s.id").to_owned(),
        };
        let by_key = match key {
            None => format!("s.id {dir}"),
            Some(_) => format!("{sorted} {dir}, s.id {dir}"),
        };
        // Sessions drive the join (their index gives the order), except by email,
        // where users do (`users (email, id)` gives it): a CROSS JOIN pins
        // SQLite's loop order; PostgreSQL plans it as any inner join.
        let sessions_first = "sessions s CROSS JOIN users u";
        let users_first = "users u CROSS JOIN sessions s";
        let plain = "sessions s JOIN users u ON u.id = s.user_id";

        let mut segments = Vec::new();
        for region in regions(query.order_by, query.order, query.after.as_ref())? {
            let mut params = filter.clone();
            let mut clauses = conditions.clone();
            if !cursor_bounds {
                clauses.push(alive.clone());
            }
            let mut order_by = by_key.clone();
            let mut from = plain;
            match region {
                Region::Keys(_) if key.is_none() => {
                    if let Some(a) = &query.after {
                        clauses.push(format!("s.id {cmp} {}", params.push(Arg::Id(a.id))));
                    }
                }
                Region::Keys(None) if query.order_by == SessionOrder::Email => {
                    clauses.push("u.email IS NOT NULL".to_owned());
                    from = users_first;
                }
                Region::Keys(None) => {}
                Region::Keys(Some((Arg::Id(k), id)))
                    if query.order_by == SessionOrder::Identity && query.user == Some(k) =>
                {
                    // One user's sessions: the key is fixed, the id decides.
                    clauses.push(format!("s.id {cmp} {}", params.push(Arg::Id(id))));
                }
                Region::Keys(Some((k, id))) => {
                    let k = params.push(k);
                    let id = params.push(Arg::Id(id));
                    if query.order_by == SessionOrder::Email {
                        // The key alone bounds the walk of `users (email, id)`;
                        // the row comparison spans two tables, so no index takes it.
                        clauses.push(format!("{sorted} {cmp}= {k}"));
                        from = users_first;
                    }
                    clauses.push(format!("({sorted}, s.id) {cmp} ({k}, {id})"));
                }
                Region::Nulls(after) => {
                    clauses.push(dialect.null_range("u.email"));
                    if let Some(id) = after {
                        clauses.push(format!("s.id {cmp} {}", params.push(Arg::Id(id))));
                    }
                    order_by = format!("s.id {dir}");
                    from = sessions_first;
                }
            }
            if from != plain {
                clauses.push("u.id = s.user_id".to_owned());
            }
            let limit = dialect.param(params.args.len() + 1);
            segments.push(Statement {
                sql: format!(
                    "SELECT {COLUMNS} FROM {from} WHERE {} ORDER BY {order_by} LIMIT {limit}",
                    clauses.join(" AND ")
                ),
                args: params.args,
            });
        }
        let join = query.conditions.iter().any(|c| match c {
            SessionCondition::Eq(f, _)
            | SessionCondition::In(f, _)
            | SessionCondition::Contains(f, _)
            | SessionCondition::Gt(f, _)
            | SessionCondition::Gte(f, _)
            | SessionCondition::Lt(f, _)
            | SessionCondition::Lte(f, _) => on_user(*f),
            SessionCondition::Never => false,
        });
        conditions.push(alive);
        let count = Statement {
            sql: format!(
                "SELECT COUNT(*) FROM {} WHERE {}",
                if join { plain } else { "sessions s" },
                conditions.join(" AND ")
            ),
            args: filter.args,
        };
        Ok(Self { segments, count })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use SessionCondition as C;
    use SessionField as F;

    fn invalid_field(query: &SessionQuery) -> &'static str {
        match SessionSql::new(Dialect::Sqlite, query, DateTime::UNIX_EPOCH) {
            Err(Error::InvalidField { field, .. }) => field,
            other => panic!("expected InvalidField, got {other:?}"),
        }
    }

    #[test]
    fn conditions_bind_every_value() {
        let now = DateTime::UNIX_EPOCH;
        let user = Uuid::nil();
        let q = SessionQuery {
            user: Some(user),
            conditions: vec![
                C::In(
                    F::Email,
                    vec![Value::Text("a@x".into()), Value::Text(String::new())],
                ),
                C::Contains(F::Username, vec!["%'_".into()]),
                C::Gte(F::Expire, Value::Time(now)),
            ],
            size: 20,
            ..Default::default()
        };
        let s = SessionSql::new(Dialect::Postgres, &q, now).unwrap();
        let filter = "s.revoked_at IS NULL AND s.user_id = $2 \
                      AND (u.email IN ($3) OR u.email IS NULL) \
                      AND strpos(u.username, $4) > 0 AND s.expires_at >= $5";
        assert_eq!(
            s.count.sql,
            format!(
                "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE {filter} AND s.expires_at > $1"
            )
        );
        assert_eq!(
            s.count.args,
            [
                Arg::Time(now),
                Arg::Id(user),
                Arg::Text("a@x".into()),
                Arg::Text("%'_".into()),
                Arg::Time(now),
            ]
        );
        assert_eq!(s.segments.len(), 1);
        assert!(s.segments[0]
            .sql
            .ends_with("AND s.expires_at > $1 ORDER BY s.created_at ASC, s.id ASC LIMIT $6"));

        // Without conditions on the user, counting needs no join; SQLite keeps
        // the expiry bound out of index ranges unless listing by expiry.
        let q = SessionQuery {
            size: 1,
            ..Default::default()
        };
        let s = SessionSql::new(Dialect::Sqlite, &q, now).unwrap();
        assert_eq!(
            s.count.sql,
            "SELECT COUNT(*) FROM sessions s WHERE s.revoked_at IS NULL AND +s.expires_at > ?1"
        );
    }

    #[test]
    fn cursors_bound_the_range() {
        let now = DateTime::UNIX_EPOCH;
        let id = Uuid::nil();
        let user = Uuid::max();
        let after = |key| Some(After { key, id });
        // Ascending by expiry after a future key: the cursor is the only bound.
        let q = SessionQuery {
            order_by: SessionOrder::Expire,
            size: 5,
            after: after(Some(Value::Time(now + chrono::Duration::seconds(1)))),
            ..Default::default()
        };
        let s = SessionSql::new(Dialect::Sqlite, &q, now).unwrap();
        assert!(!s.segments[0].sql.contains("expires_at > ?1"));
        assert!(s.segments[0]
            .sql
            .contains("(s.expires_at, s.id) > (?2, ?3)"));
        assert!(s.count.sql.contains("s.expires_at > ?1"));
        // By identity within one user: the session id decides.
        let q = SessionQuery {
            user: Some(user),
            order_by: SessionOrder::Identity,
            order: Order::Desc,
            size: 5,
            after: after(Some(Value::Id(user))),
            ..Default::default()
        };
        let s = SessionSql::new(Dialect::Postgres, &q, now).unwrap();
        assert!(s.segments[0]
            .sql
            .contains("AND s.id < $3 ORDER BY s.user_id DESC"));
        // By email: the key bounds the walk of users, then the sessions without
        // an email; after no email only those are left.
        let q = SessionQuery {
            order_by: SessionOrder::Email,
            size: 5,
            after: after(Some(Value::Text("b@x".into()))),
            ..Default::default()
        };
        let s = SessionSql::new(Dialect::Postgres, &q, now).unwrap();
        assert_eq!(s.segments.len(), 2);
        assert!(s.segments[0]
            .sql
            .contains(r#"u.email COLLATE "C" >= $2 AND (u.email COLLATE "C", s.id) > ($2, $3)"#));
        assert!(s.segments[1].sql.contains("u.email IS NULL"));
        let q = SessionQuery {
            after: after(None),
            ..q
        };
        let s = SessionSql::new(Dialect::Postgres, &q, now).unwrap();
        assert_eq!(s.segments.len(), 1);
        assert!(s.segments[0].sql.contains("u.email IS NULL AND s.id > $2"));
    }

    #[test]
    fn values_must_fit_their_fields() {
        for cond in [
            C::Eq(F::Id, Value::Text("x".into())),
            C::Eq(F::Email, Value::Int(1)),
            C::In(F::Identity, vec![Value::Time(DateTime::UNIX_EPOCH)]),
            C::Lt(F::CreatedAt, Value::Bool(true)),
            C::Contains(F::Expire, vec!["1".into()]),
        ] {
            let q = SessionQuery {
                conditions: vec![cond.clone()],
                size: 1,
                ..Default::default()
            };
            assert_ne!(invalid_field(&q), "last", "{cond:?}");
        }
        for (order_by, key) in [
            (SessionOrder::CreatedAt, Some(Value::Text("3".into()))),
            (SessionOrder::Identity, None),
            (SessionOrder::Email, Some(Value::Int(1))),
        ] {
            let q = SessionQuery {
                order_by,
                after: Some(After {
                    key,
                    id: Uuid::nil(),
                }),
                size: 1,
                ..Default::default()
            };
            assert_eq!(invalid_field(&q), "last", "{order_by:?}");
        }
    }
}
