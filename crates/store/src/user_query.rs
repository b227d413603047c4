//! SQL for [`Store::query_users`](aegis_core::Store::query_users): filtered,
//! ordered, keyset-paginated user listings, shared by both backends.
//!
//! The SQL text is assembled from fixed fragments and parameter numbers only;
//! every value travels as a bound [`Arg`]. The backends differ only in what
//! [`Dialect`] writes (placeholders, byte-order collation, substring test) and in
//! how they bind an [`Arg`] (SQLite stores timestamps as unix microseconds and
//! UUIDs as text).
//!
//! The listing order is `(key, id)`, both in the query's direction, with NULL keys
//! after every other key in ascending order and before them in descending order
//! (so descending is exactly ascending reversed). NULL and non-NULL keys are two
//! ranges of the `(key, id)` index, so a page is read as up to two
//! [`UserSql::segments`], each one index range in listing order: the second is
//! only read when the first ends before the page is full. No NULLS FIRST/LAST
//! clause is needed (SQLite indexes put NULLs first, PostgreSQL last), and each
//! cursor is a plain row comparison the index answers.

use aegis_core::query::{After, Condition, Order, UserField, UserOrder, UserQuery, Value};
use aegis_core::{Error, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::dialect::Dialect;

/// A bound parameter; each backend converts it to its column type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Bool(bool),
    Time(DateTime<Utc>),
    Id(Uuid),
}

/// A statement and its parameters, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
}

/// The statements of one [`UserQuery`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserSql {
    /// The page, in listing order: read each in turn, binding its arguments and
    /// then the number of rows still wanted (its `LIMIT`), until the page and its
    /// probe row are full.
    pub segments: Vec<Statement>,
    /// `COUNT(*)` of every matching user, whatever the cursor.
    pub count: Statement,
}

/// The type of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    Time,
    Bool,
    Id,
}

fn kind(field: UserField) -> Kind {
    match field {
        UserField::Id => Kind::Id,
        UserField::Email | UserField::Username | UserField::LastLoginIp => Kind::Text,
        UserField::CreatedAt | UserField::LastLoginAt => Kind::Time,
        UserField::LoginCount => Kind::Int,
        UserField::Disabled | UserField::Verified => Kind::Bool,
    }
}

/// The field's name in errors (the Pangea filter key).
fn name(field: UserField) -> &'static str {
    match field {
        UserField::Id => "id",
        UserField::Email => "email",
        UserField::Username => "username",
        UserField::CreatedAt => "created_at",
        UserField::LastLoginAt => "last_login_at",
        UserField::LastLoginIp => "last_login_ip",
        UserField::LoginCount => "login_count",
        UserField::Disabled => "disabled",
        UserField::Verified => "verified",
    }
}

fn unfit(field: UserField) -> Error {
    Error::invalid(name(field), "the value does not fit the field")
}

/// The cursor's error: its key is not of the sort key's type.
fn bad_cursor() -> Error {
    Error::invalid("last", "the cursor does not fit the order")
}

/// The stored column of a field; `Disabled` is stored negated as `active`.
fn column(field: UserField) -> &'static str {
    match field {
        UserField::Id => "id",
        UserField::Email => "email",
        UserField::Username => "username",
        UserField::CreatedAt => "created_at",
        UserField::LastLoginAt => "last_login_at",
        UserField::LastLoginIp => "last_login_ip",
        UserField::LoginCount => "login_count",
        UserField::Disabled => "active",
        UserField::Verified => "verified",
    }
}

/// A value compared with `field`, type-checked; `Disabled` values are negated to
/// compare with `active`.
fn arg(field: UserField, value: &Value) -> Result<Arg> {
    Ok(match (kind(field), value) {
        (Kind::Text, Value::Text(v)) => Arg::Text(v.clone()),
        (Kind::Int, Value::Int(v)) => Arg::Int(*v),
        (Kind::Time, Value::Time(v)) => Arg::Time(*v),
        (Kind::Id, Value::Id(v)) => Arg::Id(*v),
        (Kind::Bool, Value::Bool(v)) if field == UserField::Disabled => Arg::Bool(!v),
        (Kind::Bool, Value::Bool(v)) => Arg::Bool(*v),
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
    fn condition(&mut self, cond: &Condition) -> Result<String> {
        let d = self.dialect;
        Ok(match cond {
            Condition::Never => "0 = 1".to_owned(),
            Condition::SecondFactor(has) => format!(
                "{}EXISTS (SELECT 1 FROM authenticators a \
                 WHERE a.user_id = users.id AND a.enabled = TRUE)",
                if *has { "" } else { "NOT " }
            ),
            Condition::Eq(UserField::Email, value) => self.email_in(std::slice::from_ref(value))?,
            Condition::In(UserField::Email, values) => self.email_in(values)?,
            Condition::Eq(field, value) => {
                let arg = arg(*field, value)?;
                format!("{} = {}", column(*field), self.push(arg))
            }
            Condition::In(field, values) => {
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
            Condition::Gt(field, value) => self.range(*field, ">", value)?,
            Condition::Gte(field, value) => self.range(*field, ">=", value)?,
            Condition::Lt(field, value) => self.range(*field, "<", value)?,
            Condition::Lte(field, value) => self.range(*field, "<=", value)?,
            Condition::Contains(field, parts) => {
                let text = match field {
                    UserField::Id => d.uuid_text("id"),
                    UserField::Email => "COALESCE(email, '')".to_owned(),
                    UserField::Username | UserField::LastLoginIp => column(*field).to_owned(),
                    _ => return Err(unfit(*field)),
                };
                if parts.is_empty() {
                    return Ok("1 = 1".to_owned());
                }
                let tests: Vec<String> = parts
                    .iter()
                    .map(|p| {
                        let param = self.push(Arg::Text(p.clone()));
                        d.contains(&text, &param)
                    })
                    .collect();
                tests.join(" AND ")
            }
        })
    }

    /// The email equals one of `values`, `""` standing for no email. Written on
    /// the bare column so that the unique index on `email` serves it.
    fn email_in(&mut self, values: &[Value]) -> Result<String> {
        let mut params = Vec::new();
        let mut none = false;
        for value in values {
            match arg(UserField::Email, value)? {
                Arg::Text(v) if v.is_empty() => none = true,
                a => params.push(self.push(a)),
            }
        }
        let mut alternatives = Vec::new();
        if !params.is_empty() {
            alternatives.push(format!("email IN ({})", params.join(", ")));
        }
        if none {
            alternatives.push("email IS NULL".to_owned());
        }
        Ok(match alternatives.len() {
            0 => "0 = 1".to_owned(),
            1 => alternatives.join(""),
            _ => format!("({})", alternatives.join(" OR ")),
        })
    }

    /// `field <op> value`; text compares in byte order, NULLs never match (but a
    /// missing email is `""`); booleans have no order.
    fn range(&mut self, field: UserField, op: &str, value: &Value) -> Result<String> {
        let arg = arg(field, value)?;
        let lhs = match (kind(field), field) {
            (Kind::Bool, _) => return Err(unfit(field)),
            (_, UserField::Email) => self.dialect.bytewise("COALESCE(email, '')"),
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
    /// NULL keys, after the id when given.
    Nulls(Option<Uuid>),
}

/// The sort key of an order: its column and whether it may be NULL.
struct SortKey {
    column: &'static str,
    nullable: bool,
    kind: Kind,
}

fn sort_key(order: UserOrder) -> SortKey {
    let (column, nullable, kind) = match order {
        UserOrder::Id => ("id", false, Kind::Id),
        UserOrder::CreatedAt => ("created_at", false, Kind::Time),
        UserOrder::LastLoginAt => ("last_login_at", true, Kind::Time),
        UserOrder::LastLoginIp => ("last_login_ip", true, Kind::Text),
        UserOrder::LoginCount => ("login_count", false, Kind::Int),
        UserOrder::Email => ("email", true, Kind::Text),
    };
    SortKey {
        column,
        nullable,
        kind,
    }
}

/// The cursor's key as an argument, `None` for a NULL key (an email of `""` is no
/// email); a key of the wrong type is an invalid cursor.
fn cursor_key(order: UserOrder, key: &SortKey, value: Option<&Value>) -> Result<Option<Arg>> {
    Ok(match (key.kind, value) {
        (_, None) => None,
        (Kind::Text, Some(Value::Text(v))) if order == UserOrder::Email && v.is_empty() => None,
        (Kind::Text, Some(Value::Text(v))) => Some(Arg::Text(v.clone())),
        (Kind::Time, Some(Value::Time(v))) => Some(Arg::Time(*v)),
        (Kind::Int, Some(Value::Int(v))) => Some(Arg::Int(*v)),
        _ => return Err(bad_cursor()),
    })
}

/// The regions still to read, in listing order, after the cursor.
fn regions(order: UserOrder, dir: Order, after: Option<&After>) -> Result<Vec<Region>> {
    let key = sort_key(order);
    if order == UserOrder::Id {
        // The key is the id itself: one range.
        return Ok(vec![Region::Keys(None)]);
    }
    let cursor = match after {
        None => None,
        Some(a) => Some((cursor_key(order, &key, a.key.as_ref())?, a.id)),
    };
    let regions = match (dir, cursor) {
        (Order::Asc, None) => vec![Region::Keys(None), Region::Nulls(None)],
        (Order::Asc, Some((Some(k), id))) => vec![Region::Keys(Some((k, id))), Region::Nulls(None)],
        (Order::Asc, Some((None, id))) => vec![Region::Nulls(Some(id))],
        (Order::Desc, None) => vec![Region::Nulls(None), Region::Keys(None)],
        (Order::Desc, Some((None, id))) => vec![Region::Nulls(Some(id)), Region::Keys(None)],
        (Order::Desc, Some((Some(k), id))) => vec![Region::Keys(Some((k, id)))],
    };
    // A key that cannot be NULL has no NULL range.
    Ok(regions
        .into_iter()
        .filter(|r| key.nullable || matches!(r, Region::Keys(_)))
        .collect())
}

impl UserSql {
    /// The statements of `query`; a condition or cursor whose value does not
    /// fit its field is `InvalidField` (named after the field, or `last`).
    pub(crate) fn new(dialect: Dialect, query: &UserQuery) -> Result<Self> {
        let mut filter = Params {
            dialect,
            args: Vec::new(),
        };
        let conditions = query
            .conditions
            .iter()
            .map(|c| filter.condition(c))
            .collect::<Result<Vec<_>>>()?;

        let key = sort_key(query.order_by);
        let (dir, cmp) = match query.order {
            Order::Asc => ("ASC", ">"),
            Order::Desc => ("DESC", "<"),
        };
        let sorted = match key.kind {
            Kind::Text => dialect.bytewise(key.column),
            _ => key.column.to_owned(),
        };
        let order_by = if query.order_by == UserOrder::Id {
            format!("id {dir}")
        } else {
            format!("{sorted} {dir}, id {dir}")
        };

        let mut segments = Vec::new();
        let after_id = query.after.as_ref().map(|a| a.id);
        for region in regions(query.order_by, query.order, query.after.as_ref())? {
            let mut params = filter.clone();
            let mut clauses = conditions.clone();
            match region {
                Region::Keys(_) if query.order_by == UserOrder::Id => {
                    if let Some(id) = after_id {
                        clauses.push(format!("id {cmp} {}", params.push(Arg::Id(id))));
                    }
                }
                Region::Keys(None) if key.nullable => {
                    clauses.push(format!("{} IS NOT NULL", key.column));
                }
                Region::Keys(None) => {}
                Region::Keys(Some((k, id))) => {
                    let k = params.push(k);
                    let id = params.push(Arg::Id(id));
                    // A NULL key compares as unknown: the row comparison keeps none.
                    clauses.push(format!("({sorted}, id) {cmp} ({k}, {id})"));
                }
                Region::Nulls(after) => {
                    clauses.push(dialect.null_range(key.column));
                    if let Some(id) = after {
                        clauses.push(format!("id {cmp} {}", params.push(Arg::Id(id))));
                    }
                }
            }
            let limit = dialect.param(params.args.len() + 1);
            segments.push(Statement {
                sql: format!(
                    "SELECT * FROM users{} ORDER BY {order_by} LIMIT {limit}",
                    where_clause(&clauses)
                ),
                args: params.args,
            });
        }
        let count = Statement {
            sql: format!("SELECT COUNT(*) FROM users{}", where_clause(&conditions)),
            args: filter.args,
        };
        Ok(Self { segments, count })
    }
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

#[cfg(test)]
#[path = "user_query_tests.rs"]
mod tests;
