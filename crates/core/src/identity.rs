//! Identifiers: usernames and emails, normalised (NFKC + case fold) before every
//! comparison, lookup and uniqueness check, and held to an identifier profile:
//! no invisible, formatting or default-ignorable code points (UTS #39 identifier
//! types, Unicode general categories), and an identifier whose confusable
//! skeleton (UTS #39) is another's is taken, so `аdmin` with a Cyrillic `а`
//! cannot sit beside `admin`.

use std::borrow::Cow;
use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::GeneralSecurityProfile;

use crate::error::{Error, Result};

/// True for a character an identifier may hold: a visible one. Refused:
/// controls, format characters (zero-width space, joiners, bidi controls),
/// separators other than the ASCII space, private-use and unassigned code
/// points, and what UTS #39 types as default-ignorable (Hangul fillers,
/// variation selectors…), deprecated or not a character.
pub fn visible(c: char) -> bool {
    if c.is_ascii() {
        return !c.is_ascii_control();
    }
    if matches!(
        c.identifier_type(),
        Some(
            IdentifierType::Default_Ignorable
                | IdentifierType::Deprecated
                | IdentifierType::Not_Character
        )
    ) {
        return false;
    }
    !matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Unassigned
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
            | GeneralCategory::SpaceSeparator
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// What marks a confusable-skeleton key in the identifier table: a control
/// character, which no identifier may hold.
const SKELETON_MARK: char = '\u{1}';
/// Most ASCII spellings looked up for one skeleton.
const MAX_SPELLINGS: usize = 16;

/// The UTS #39 confusable skeleton of a normalised identifier, normalised
/// again (case folded: identifiers are). Pure ASCII (nearly every identifier,
/// and on every import row) maps character by character through a table.
fn skeleton(ident: &str) -> String {
    if ident.is_ascii() {
        return ident
            .bytes()
            .map(|b| ASCII_SKELETON[usize::from(b)].as_str())
            .collect();
    }
    general_skeleton(ident)
}

/// [`skeleton`] by the definition: NFD, each character mapped, NFD, folded.
fn general_skeleton(ident: &str) -> String {
    fold(&unicode_security::skeleton(ident).collect::<String>())
}

/// The skeleton of each ASCII character as it stands inside an identifier (a
/// space stays a space: fold trims it only alone). For ASCII, NFD changes
/// nothing, so a skeleton is the concatenation of its characters'.
static ASCII_SKELETON: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    (0u8..128)
        .map(char::from)
        .map(|c| match c {
            ' ' => " ".to_owned(),
            _ => general_skeleton(&c.to_string()),
        })
        .collect()
});

/// The ASCII characters (as identifiers hold them: folded, visible) by their
/// skeletons (`m` is `rn`, `1` is `l`, `0` is `o`…).
static ASCII_SKELETONS: std::sync::LazyLock<Vec<(String, char)>> = std::sync::LazyLock::new(|| {
    (b' '..=b'~')
        .map(char::from)
        .filter(|c| !c.is_ascii_uppercase())
        .map(|c| (ASCII_SKELETON[usize::from(c as u8)].clone(), c))
        .collect()
});

/// The pure-ASCII identifiers whose skeleton is `target` (at most
/// [`MAX_SPELLINGS`] of them).
fn ascii_spellings(target: &str) -> Vec<String> {
    fn walk(rest: &str, prefix: &mut String, out: &mut Vec<String>) {
        if out.len() >= MAX_SPELLINGS {
            return;
        }
        if rest.is_empty() {
            out.push(prefix.clone());
            return;
        }
        for (skeleton, c) in ASCII_SKELETONS.iter() {
            if let Some(tail) = rest.strip_prefix(skeleton.as_str()) {
                prefix.push(*c);
                walk(tail, prefix, out);
                prefix.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(target, &mut String::new(), &mut out);
    out
}

/// The keys of the identifier table for one normalised identifier.
///
/// `held` are the rows the user holds (unique, so a second holder conflicts):
/// the identifier itself and, for one that is not pure ASCII, its confusable
/// skeleton (marked), so no two such identifiers look alike. `probes` are
/// the rows whose holder, if another user, makes the identifier taken too:
/// for an ASCII identifier, the skeleton key a non-ASCII look-alike holds;
/// for a non-ASCII one, the ASCII identifiers with its skeleton. Two ASCII
/// identifiers are never compared by skeleton: theirs fold `rn` into `m` and
/// `1` into `l`, which would refuse real, distinct addresses; the look-alikes
/// an attacker registers need other scripts (or invisible characters, which
/// [`visible`] refuses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentifierKeys<'a> {
    pub held: Vec<Cow<'a, str>>,
    pub probes: Vec<Cow<'a, str>>,
}

impl<'a> IdentifierKeys<'a> {
    /// The keys of one identifier.
    pub fn of(ident: &'a str) -> Self {
        let mut keys = Self::default();
        keys.add(ident);
        keys
    }

    /// The keys of a user's identifiers (each key once).
    pub fn of_user(username: &'a str, email: Option<&'a str>) -> Self {
        let keys = Self::of(username);
        match email {
            Some(email) => keys.join(Self::of(email)),
            None => keys,
        }
    }

    /// Both identifiers' keys, each once.
    pub fn join(mut self, other: Self) -> Self {
        for key in other.held {
            push(&mut self.held, key);
        }
        for key in other.probes {
            push(&mut self.probes, key);
        }
        self
    }

    fn add(&mut self, ident: &'a str) {
        push(&mut self.held, Cow::Borrowed(ident));
        let skeleton = skeleton(ident);
        let marked = format!("{SKELETON_MARK}{skeleton}");
        if ident.is_ascii() {
            push(&mut self.probes, Cow::Owned(marked));
        } else {
            push(&mut self.held, Cow::Owned(marked));
            for spelling in ascii_spellings(&skeleton) {
                push(&mut self.probes, Cow::Owned(spelling));
            }
        }
    }

    /// Every key: held, then probed.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.held.iter().chain(&self.probes).map(|k| k.as_ref())
    }
}

/// Adds a key to a list that does not hold it yet.
fn push<'a>(list: &mut Vec<Cow<'a, str>>, key: Cow<'a, str>) {
    if !list.contains(&key) {
        list.push(key);
    }
}

/// Refuses an identifier holding a character that is not [`visible`].
fn check_visible(v: &str, field: &'static str, label: &str) -> Result<()> {
    if v.chars().all(visible) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!("{label} must not contain invisible, formatting or control characters"),
    ))
}

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
        check_visible(&v, "username", "Username")?;
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
        check_visible(&v, "email", "Email")?;
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
    fn invisible_and_ignorable_code_points_are_refused() {
        for bad in [
            "admin\u{200b}", // zero-width space (Cf)
            "ad\u{200d}min", // zero-width joiner
            "ad\u{2060}min", // word joiner
            "\u{202e}nimda", // right-to-left override
            "ad\u{ad}min",   // soft hyphen (default-ignorable)
            "ad\u{3164}min", // Hangul filler: a letter, default-ignorable
            "ad\u{fe0f}min", // variation selector
            "ad\u{e000}min", // private use
            "ad\u{2028}min", // line separator
            "ad\u{180e}min", // Mongolian vowel separator
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
            assert!(
                Email::parse(&format!("{bad}@example.com")).is_err(),
                "{bad:?}"
            );
        }
        for good in ["admin", "zoë", "Ελένη", "李小龍", "ann lee", "o'brien"] {
            assert!(Username::parse(good).is_ok(), "{good:?}");
        }
        assert!(Email::parse("zoë@bücher.de").is_ok());
    }

    #[test]
    fn the_ascii_skeleton_table_is_the_definition() {
        let every: String = (b' '..=b'~').map(char::from).collect();
        for ident in [
            fold(&every),
            "admin@example.com".into(),
            "john1 o'brien|x0".into(),
        ] {
            assert_eq!(skeleton(&ident), general_skeleton(&ident), "{ident:?}");
        }
        assert_eq!(skeleton("admin"), "adrnin");
    }

    #[test]
    fn confusables_share_a_key() {
        let latin = IdentifierKeys::of("admin@example.com");
        let cyrillic = fold("\u{430}dmin@example.com");
        let cyrillic = IdentifierKeys::of(&cyrillic);
        // The Cyrillic look-alike probes the Latin address, and the Latin one
        // probes the key the look-alike holds.
        assert!(
            cyrillic.probes.iter().any(|k| k == "admin@example.com"),
            "{cyrillic:?}"
        );
        assert!(
            latin.probes.iter().any(|k| cyrillic.held.contains(k)),
            "{latin:?}"
        );
        // Two non-ASCII look-alikes hold the same skeleton key.
        let greek = fold("\u{430}dmin@example.c\u{3bf}m");
        let greek = IdentifierKeys::of(&greek);
        assert!(greek.held.iter().any(|k| cyrillic.held[1..].contains(k)));
        // ASCII identifiers hold only themselves, so barn and bam, john1 and
        // johnl stay distinct.
        assert_eq!(IdentifierKeys::of("barn").held, ["barn"]);
        assert!(!IdentifierKeys::of("bam").probes.iter().any(|k| k == "barn"));
        // A distinct accented name is not its plain look-alike.
        let zoe = fold("zoë");
        assert!(!IdentifierKeys::of(&zoe).probes.iter().any(|k| k == "zoe"));
        // A user's keys: each once, the exact identifiers first.
        let keys = IdentifierKeys::of_user("bob", Some("bob@x.io"));
        assert_eq!(&keys.held[..], ["bob", "bob@x.io"]);
    }
}
