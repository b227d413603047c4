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
