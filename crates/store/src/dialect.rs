//! The SQL flavour a shared statement builder writes: placeholders, byte-order
//! text comparison and substring tests differ between SQLite and PostgreSQL;
//! everything else the builders write is the same on both.

/// The SQL flavour to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The placeholder of the `n`th parameter (1-based).
    pub(crate) fn param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// A text expression compared and ordered in byte (code-point) order.
    /// PostgreSQL must name the "C" collation (its indexes on text sort keys
    /// use it); SQLite's default BINARY already is byte order.
    pub(crate) fn bytewise(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => expr.to_owned(),
            Dialect::Postgres => format!(r#"{expr} COLLATE "C""#),
        }
    }

    /// True when the text `expr` contains the text `param` (case-sensitive, no
    /// wildcards: nothing in the parameter needs escaping).
    pub(crate) fn contains(self, expr: &str, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("instr({expr}, {param}) > 0"),
            Dialect::Postgres => format!("strpos({expr}, {param}) > 0"),
        }
    }

    /// `column IS NULL`, as the condition of a NULL-key range read in
    /// `(column, id)` order. SQLite's planner (without statistics) expects an
    /// `IS NULL` to match a handful of rows, so on `email` it would rather probe
    /// the UNIQUE index and sort every NULL row than read `(email, id)` in order;
    /// `likelihood` tells it many rows match, and leaves the term usable by any
    /// index.
    pub(crate) fn null_range(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("likelihood({column} IS NULL, 0.9)"),
            Dialect::Postgres => format!("{column} IS NULL"),
        }
    }

    /// The hyphenated lowercase text of the UUID column `column`.
    pub(crate) fn uuid_text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres => format!("{column}::text"),
        }
    }
}
