//! Mapping of sqlx errors onto the core [`Error`], shared by both backends.
//!
//! Details go to the log only; the core error never carries SQL or values.

use aegis_core::{Error, Result};

/// What `Retry-After` says when the database does not answer: long enough
/// for a restart or a fail-over to be worth waiting for, short enough that
/// clients come back soon after it.
pub(crate) const RETRY_AFTER_S: u64 = 5;

/// Logs a database failure and turns it into a core error: `Unavailable` when
/// the database cannot be reached in time (see [`is_unavailable`]), else an
/// opaque internal error.
pub(crate) fn internal(e: sqlx::Error) -> Error {
    if is_unavailable(&e) {
        tracing::warn!(error = %e, "database unavailable");
        return Error::Unavailable {
            retry_after: RETRY_AFTER_S,
        };
    }
    tracing::error!(error = %e, "database error");
    Error::internal("database error")
}

/// True when the failure says nothing about the request, only that the
/// database is away or busy for now: no connection within the pool's acquire
/// timeout, a connection that broke, a server shutting down, starting up or
/// out of connections (SQLSTATE classes 08 and 57P, 53300), a statement
/// cancelled by its timeout (57014), or a SQLite file locked by another
/// writer past the busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`).
pub(crate) fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(d) => {
            if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                code.starts_with("08")
                    || code.starts_with("57P")
                    || matches!(code, "53300" | "57014")
            } else if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The primary result code is the low byte of the extended one.
                let primary = d
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .map(|c| c & 0xff);
                matches!(primary, Some(5 | 6))
            } else {
                false
            }
        }
        _ => false,
    }
}

/// True when the error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

/// True when PostgreSQL refused a text value it cannot store (a NUL:
/// SQLSTATE 22021 `character_not_in_repertoire`, 22P05 `untranslatable_character`).
/// The core refuses NULs before they get here; this is the last line, so such
/// input is the caller's mistake (4xx), never an internal error.
fn is_unstorable_text(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("22021" | "22P05")))
}

fn unstorable() -> Error {
    Error::invalid("value", "Text values must not contain NUL characters")
}

/// Conversions of sqlx results into core results.
pub(crate) trait DbResultExt<T> {
    /// `RowNotFound` is `NotFound`, an unreachable database `Unavailable`,
    /// anything else internal.
    fn db(self) -> Result<T>;
    /// A unique violation is `Conflict { field }`, a missing referenced row
    /// `NotFound(parent)`; everything else as [`DbResultExt::db`].
    fn on_insert(self, field: &'static str, parent: &'static str) -> Result<T>;
}

impl<T> DbResultExt<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T> {
        self.map_err(|e| match e {
            sqlx::Error::RowNotFound => Error::NotFound("record"),
            e if is_unstorable_text(&e) => unstorable(),
            e => internal(e),
        })
    }

    fn on_insert(self, field: &'static str, parent: &'static str) -> Result<T> {
        self.map_err(|e| {
            if is_unique_violation(&e) {
                Error::Conflict { field }
            } else if is_foreign_key_violation(&e) {
                Error::NotFound(parent)
            } else if is_unstorable_text(&e) {
                unstorable()
            } else {
                internal(e)
            }
        })
    }
}
