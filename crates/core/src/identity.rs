//! Identifiers: usernames and emails, normalised (NFKC + case fold) before every
//! comparison, lookup and uniqueness check.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// NFKC, case-folded, NFKC again (case folding can denormalise), trimmed.
pub fn fold(raw: &str) -> String {
    let raw = raw.trim();
    // NFKC leaves ASCII as it is, and its case folding is lower-casing.
    if raw.is_ascii() {
        return raw.to_ascii_lowercase();
    }
    let nfkc: String = raw.nfkc().collect();
    caseless::default_case_fold_str(&nfkc).nfkc().collect()
}

/// A normalised username: 1..=254 characters, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Normalises and validates a username.
    pub fn parse(raw: &str) -> Result<Self> {
        let v = fold(raw);
        let n = v.chars().count();
        if n == 0 {
            return Err(Error::invalid("username", "Username must not be empty"));
        }
        if n > 254 {
            return Err(Error::invalid(
                "username",
                "Username must be at most 254 characters",
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(Error::invalid(
                "username",
                "Username must not contain control characters",
            ));
        }
        Ok(Self(v))
    }

    /// The normalised form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a value that was normalised when stored (store use only).
    pub fn from_stored(v: String) -> Self {
        Self(v)
    }
}

/// A normalised email address (NFKC + case folded, syntactically valid, ≤ 254 chars).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Normalises and validates an email address.
    pub fn parse(raw: &str) -> Result<Self> {
        let v = fold(raw);
        if v.chars().count() > 254 {
            return Err(Error::invalid(
                "email",
                "Email must be at most 254 characters",
            ));
        }
        if !email_address::EmailAddress::is_valid(&v) || v.contains(char::is_whitespace) {
            return Err(Error::invalid(
                "email",
                "Email is not a valid email address",
            ));
        }
        Ok(Self(v))
    }

    /// True when `raw` would parse as an email address.
    pub fn looks_like(raw: &str) -> bool {
        Self::parse(raw).is_ok()
    }

    /// The normalised form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a value that was normalised when stored (store use only).
    pub fn from_stored(v: String) -> Self {
        Self(v)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({:?})", self.0)
    }
}
impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.0)
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_folds_as_the_general_path_does() {
        let general = |raw: &str| -> String {
            let nfkc: String = raw.trim().nfkc().collect();
            caseless::default_case_fold_str(&nfkc).nfkc().collect()
        };
        let every: String = (0u8..128).map(char::from).collect();
        for raw in [every.as_str(), "  Ann.Lee+X@Example.COM\t", "", " \n "] {
            assert_eq!(fold(raw), general(raw), "{raw:?}");
        }
        assert_eq!(fold(" ÅSA@Bücher.DE "), general(" ÅSA@Bücher.DE "));
        assert_eq!(fold("ﬁ@EXAMPLE.com"), "fi@example.com");
    }

    #[test]
    fn usernames_fold_case_and_width() {
        let a = Username::parse("  Ａlice ").unwrap();
        let b = Username::parse("ALICE").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "alice");
        assert_eq!(Username::parse("Straße").unwrap().as_str(), "strasse");
    }

    #[test]
    fn usernames_reject_empty_long_and_control() {
        assert!(Username::parse("   ").is_err());
        assert!(Username::parse(&"a".repeat(255)).is_err());
        assert!(Username::parse(&"a".repeat(254)).is_ok());
        assert!(Username::parse("a\u{0}b").is_err());
        assert!(Username::parse("a\nb").is_err());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("Bob@Example.COM").unwrap().as_str(),
            "bob@example.com"
        );
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("a b@c.d").is_err());
        assert!(Email::looks_like("x@y.io"));
    }
}
