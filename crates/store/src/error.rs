//! Mapping of sqlx errors onto the core [`Error`], shared by both backends.
//!
//! Details go to the log only; the core error never carries SQL or values.

use aegis_core::{Error, Result};

/// Logs a database failure and turns it into an opaque internal error.
pub(crate) fn internal(e: sqlx::Error) -> Error {
    tracing::error!(error = %e, "database error");
    Error::internal("database error")
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
    /// Every error is internal.
    fn db(self) -> Result<T>;
    /// A unique violation is `Conflict { field }`, a missing referenced row
    /// `NotFound(parent)`; everything else is internal.
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
