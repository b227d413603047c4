//! Filtered, ordered, keyset-paginated listings (Pangea `user/list`,
//! `group/list`). The dialect parses the wire form into these types; the store
//! turns them into index-backed queries (never OFFSET).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A value compared in a filter or carried by a cursor.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    Time(DateTime<Utc>),
    Id(Uuid),
}

/// A user attribute that can be filtered or sorted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserField {
    Id,
    /// Normalised email (users without one compare as `""`).
    Email,
    /// Normalised username.
    Username,
    CreatedAt,
    LastLoginAt,
    LastLoginIp,
    LoginCount,
    /// `!active`.
    Disabled,
    Verified,
}

/// One condition; a filter is the conjunction of its conditions.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Field equals value.
    Eq(UserField, Value),
    /// Field (text) contains *each* substring.
    Contains(UserField, Vec<String>),
    /// Field equals one of the values.
    In(UserField, Vec<Value>),
    Gt(UserField, Value),
    Gte(UserField, Value),
    Lt(UserField, Value),
    Lte(UserField, Value),
    /// The user has (true) or has not (false) an enabled second factor (a
    /// confirmed TOTP authenticator or a passkey).
    SecondFactor(bool),
    /// Matches nothing (a filter on something aegis never has, e.g. scopes).
    Never,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

/// Fields a user listing can be ordered by (ties broken by id, same direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UserOrder {
    Id,
    #[default]
    CreatedAt,
    LastLoginAt,
    LastLoginIp,
    LoginCount,
    Email,
}

/// Where the previous page ended: its last item's sort key and id.
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    /// The sort key of the last item (`None` for a NULL key).
    pub key: Option<Value>,
    pub id: Uuid,
}

/// A user listing request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserQuery {
    pub conditions: Vec<Condition>,
    pub order_by: UserOrder,
    pub order: Order,
    /// Page size, 1..=1000.
    pub size: u32,
    pub after: Option<After>,
    /// Do not count the matches (`Page::total` is then 0): later pages of a
    /// listing reuse the count of its first page instead of paying for it again.
    pub skip_total: bool,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Number of records matching the filter, all pages together.
    pub total: u64,
    /// True when another page follows this one.
    pub more: bool,
}

/// Most values one `__in` / `__contains` condition may carry.
pub const MAX_LIST_VALUES: usize = 100;

/// Checks the values of one condition: lists bounded, no NUL in text (no
/// backend can store it). `field` names the condition for the error.
pub fn check_values<'a>(
    field: &'static str,
    texts: impl IntoIterator<Item = &'a str>,
    list_len: usize,
) -> crate::error::Result<()> {
    if list_len > MAX_LIST_VALUES {
        return Err(crate::error::Error::invalid(
            field,
            format!("A filter list may hold at most {MAX_LIST_VALUES} values"),
        ));
    }
    if texts.into_iter().any(|t| t.contains('\0')) {
        return Err(crate::error::Error::invalid(
            field,
            "Filter values must not contain NUL characters",
        ));
    }
    Ok(())
}

fn text_of(v: &Value) -> Option<&str> {
    match v {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

impl Condition {
    /// [`check_values`] for a user-listing condition.
    pub fn check(&self) -> crate::error::Result<()> {
        match self {
            Condition::Contains(_, l) => {
                check_values("filter", l.iter().map(String::as_str), l.len())
            }
            Condition::In(_, l) => check_values("filter", l.iter().filter_map(text_of), l.len()),
            Condition::Eq(_, v)
            | Condition::Gt(_, v)
            | Condition::Gte(_, v)
            | Condition::Lt(_, v)
            | Condition::Lte(_, v) => check_values("filter", text_of(v), 0),
            Condition::Never | Condition::SecondFactor(_) => Ok(()),
        }
    }
}

/// The text of a value, if it is text (for checks of other listings).
pub fn value_text(v: &Value) -> Option<&str> {
    text_of(v)
}
