//! SQL for matching `users.login_key` against a wildcard [`Pattern`], shared by
//! both backends.
//!
//! The SQL text is assembled from fixed fragments and parameter numbers only;
//! every piece of the pattern travels as a bound parameter. A literal prefix
//! becomes an index range (`>= prefix AND < upper bound`), the whole pattern a
//! `GLOB` (SQLite) or `LIKE … ESCAPE` (PostgreSQL) filter with the pattern's
//! literals escaped, and a pattern without wildcards an equality.

use aegis_core::pattern::{Pattern, Segment};

use crate::dialect::Dialect;

impl Dialect {
    /// The login key as compared: PostgreSQL must name the index's collation.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Dialect::Sqlite => "login_key",
            Dialect::Postgres => r#"login_key COLLATE "C""#,
        }
    }

    /// `<key> <matcher>` is true when the key matches the `n`th parameter as
    /// written by [`Dialect::wildcard`].
    fn matcher(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("GLOB ?{n}"),
            // E'\\' is one backslash whatever standard_conforming_strings says.
            Dialect::Postgres => format!(r"LIKE ${n} ESCAPE E'\\'"),
        }
    }

    /// The pattern in this dialect's wildcard syntax, literals escaped.
    pub(crate) fn wildcard(self, pattern: &Pattern) -> String {
        match self {
            Dialect::Sqlite => glob(pattern),
            Dialect::Postgres => like(pattern),
        }
    }
}

/// A `WHERE` condition on `users` and the text parameters it binds, in order
/// (`?1`/`$1` first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyCondition {
    pub sql: String,
    pub binds: Vec<String>,
}

impl KeyCondition {
    /// The condition selecting the users whose login key matches `pattern`.
    pub(crate) fn new(dialect: Dialect, pattern: &Pattern) -> Self {
        let key = dialect.key();
        let mut binds = Vec::new();
        let mut clauses = Vec::new();
        if let Some(exact) = pattern.exact() {
            binds.push(exact.to_owned());
            clauses.push(format!("{key} = {}", dialect.param(1)));
        } else {
            let prefix = pattern.prefix();
            let mut bounded = false;
            if !prefix.is_empty() {
                binds.push(prefix.to_owned());
                clauses.push(format!("{key} >= {}", dialect.param(binds.len())));
                if let Some(upper) = pattern.prefix_upper_bound() {
                    binds.push(upper);
                    clauses.push(format!("{key} < {}", dialect.param(binds.len())));
                    bounded = true;
                }
            }
            // `prefix*` is exactly the range: the filter would only cost (and keep
            // PostgreSQL from counting on the index alone).
            let pure_prefix = matches!(pattern.segments(), [Segment::Literal(_), Segment::AnyRun]);
            if !(bounded && pure_prefix) {
                binds.push(dialect.wildcard(pattern));
                clauses.push(format!("{key} {}", dialect.matcher(binds.len())));
            }
        }
        Self {
            sql: clauses.join(" AND "),
            binds,
        }
    }

    /// The page query: matching users in login-key order, the limit being the
    /// parameter after the condition's.
    pub(crate) fn page_sql(&self, dialect: Dialect) -> String {
        format!(
            "SELECT * FROM users WHERE {} ORDER BY {} LIMIT {}",
            self.sql,
            dialect.key(),
            dialect.param(self.binds.len() + 1)
        )
    }

    /// The count query: how many users match.
    pub(crate) fn count_sql(&self) -> String {
        format!("SELECT COUNT(*) FROM users WHERE {}", self.sql)
    }
}

/// The pattern as a SQL `LIKE` pattern with `\` as its escape character.
pub(crate) fn like(pattern: &Pattern) -> String {
    let mut out = String::new();
    for segment in pattern.segments() {
        match segment {
            Segment::AnyRun => out.push('%'),
            Segment::AnyOne => out.push('_'),
            Segment::Literal(text) => {
                for c in text.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The pattern as an SQLite `GLOB` pattern: GLOB has no escape character, so
/// the special characters of a literal are written as one-character classes.
pub(crate) fn glob(pattern: &Pattern) -> String {
    let mut out = String::new();
    for segment in pattern.segments() {
        match segment {
            Segment::AnyRun => out.push('*'),
            Segment::AnyOne => out.push('?'),
            Segment::Literal(text) => {
                for c in text.chars() {
                    match c {
                        // A lone `]` is literal outside a class.
                        '*' | '?' | '[' => {
                            out.push('[');
                            out.push(c);
                            out.push(']');
                        }
                        c => out.push(c),
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn like_escapes_its_specials() {
        assert_eq!(like(&p("ragu*")), "ragu%");
        assert_eq!(like(&p("a?c*")), "a_c%");
        assert_eq!(like(&p(r"a%b_c\d*")), r"a\%b\_c\\d%");
        assert_eq!(like(&p("*'\";--[x]?")), "%'\";--[x]_");
    }

    #[test]
    fn glob_escapes_its_specials() {
        assert_eq!(glob(&p("ragu*")), "ragu*");
        assert_eq!(glob(&p("a?c*")), "a?c*");
        assert_eq!(glob(&p("[x]*")), "[[]x]*");
        assert_eq!(glob(&p(r"*%_\'^")), r"*%_\'^");
    }

    #[test]
    fn conditions_bind_everything() {
        let c = KeyCondition::new(Dialect::Sqlite, &p("RAGU*x"));
        assert_eq!(
            c.sql,
            "login_key >= ?1 AND login_key < ?2 AND login_key GLOB ?3"
        );
        assert_eq!(c.binds, ["ragu", "ragv", "ragu*x"]);
        assert_eq!(
            c.page_sql(Dialect::Sqlite),
            "SELECT * FROM users WHERE login_key >= ?1 AND login_key < ?2 \
             AND login_key GLOB ?3 ORDER BY login_key LIMIT ?4"
        );

        // A bare prefix is the range alone.
        let c = KeyCondition::new(Dialect::Postgres, &p("RAGU*"));
        assert_eq!(
            c.sql,
            r#"login_key COLLATE "C" >= $1 AND login_key COLLATE "C" < $2"#
        );
        assert_eq!(c.binds, ["ragu", "ragv"]);

        let c = KeyCondition::new(Dialect::Postgres, &p("*@x.io"));
        assert_eq!(c.sql, r#"login_key COLLATE "C" LIKE $1 ESCAPE E'\\'"#);
        assert_eq!(c.binds, ["%@x.io"]);

        let c = KeyCondition::new(Dialect::Postgres, &p("Bob@X.io"));
        assert_eq!(c.sql, r#"login_key COLLATE "C" = $1"#);
        assert_eq!(c.binds, ["bob@x.io"]);
        assert_eq!(
            c.count_sql(),
            format!("SELECT COUNT(*) FROM users WHERE {}", c.sql)
        );

        // A prefix with no upper bound only bounds from below, so it keeps the filter.
        let c = KeyCondition::new(Dialect::Sqlite, &p("\u{10FFFF}*"));
        assert_eq!(c.sql, "login_key >= ?1 AND login_key GLOB ?2");
        assert_eq!(c.binds, ["\u{10FFFF}", "\u{10FFFF}*"]);
    }
}
