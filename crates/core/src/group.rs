//! Groups: named sets of users, visible to every dialect.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A group as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: Uuid,
    /// Unique, compared case-insensitively.
    pub name: String,
    /// Free-form kind (e.g. `system`, `team`).
    pub kind: String,
    pub description: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A partial change of a group; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct GroupUpdate {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub description: Option<Option<String>>,
    pub attributes: Option<BTreeMap<String, String>>,
}
