//! The last-admin guard of user updates and deletions, shared by both backends.
//!
//! Each backend checks, inside the write transaction and under a lock that
//! serialises every guarded change, that the target is not the only active
//! admin before writing (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a transaction
//! advisory lock).

use aegis_core::user::{Role, UserUpdate};

/// What a guarded write came to.
pub(crate) enum Outcome<T> {
    Done(T),
    /// No such user.
    Missing,
    /// Refused and rolled back: it would leave no active admin.
    LastAdmin,
}

/// True when an update can take its user out of the active admins.
pub(crate) fn may_demote(update: &UserUpdate) -> bool {
    update.role.is_some_and(|r| r != Role::Admin) || update.active == Some(false)
}

/// True when the given user (`?1`/`$1`) is an active admin and no other is.
pub(crate) fn last_admin_sql(param: &str) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = {param} AND role = 'admin' AND active) \
         AND NOT EXISTS (SELECT 1 FROM users WHERE id <> {param} AND role = 'admin' AND active)"
    )
}
