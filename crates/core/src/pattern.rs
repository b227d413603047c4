//! The wildcard grammar of user listings: `*` is any run of characters (maybe
//! none), `?` exactly one character, everything else literal; anchored and
//! case-insensitive (literals are folded like stored identifiers).

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};
use crate::identity::fold;

/// Longest pattern accepted, in characters.
pub const MAX_LEN: usize = 256;
/// Most `*` in one pattern.
pub const MAX_STARS: usize = 16;

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text, already folded.
    Literal(String),
    /// `*`: any run of characters.
    AnyRun,
    /// `?`: exactly one character.
    AnyOne,
}

/// A parsed, normalised pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses a pattern; too long or too many stars is an `InvalidField`.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.chars().count() > MAX_LEN {
            return Err(Error::invalid(
                "pattern",
                format!("Pattern must be at most {MAX_LEN} characters"),
            ));
        }
        if raw.chars().filter(|c| *c == '*').count() > MAX_STARS {
            return Err(Error::invalid(
                "pattern",
                format!("Pattern must contain at most {MAX_STARS} '*'"),
            ));
        }
        if raw.trim().is_empty() {
            return Err(Error::invalid("pattern", "Pattern must not be empty"));
        }
        if raw.chars().any(char::is_control) {
            return Err(Error::invalid(
                "pattern",
                "Pattern must not contain control characters",
            ));
        }
        let mut segments = Vec::new();
        let mut lit = String::new();
        let flush = |lit: &mut String, segments: &mut Vec<Segment>| {
            if !lit.is_empty() {
                segments.push(Segment::Literal(fold_piece(lit)));
                lit.clear();
            }
        };
        for c in raw.trim().chars() {
            match c {
                '*' => {
                    flush(&mut lit, &mut segments);
                    // Consecutive stars mean the same as one.
                    if segments.last() != Some(&Segment::AnyRun) {
                        segments.push(Segment::AnyRun);
                    }
                }
                '?' => {
                    flush(&mut lit, &mut segments);
                    segments.push(Segment::AnyOne);
                }
                c => lit.push(c),
            }
        }
        flush(&mut lit, &mut segments);
        Ok(Self { segments })
    }

    /// The pieces, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The literal text every match starts with (may be empty).
    pub fn prefix(&self) -> &str {
        match self.segments.first() {
            Some(Segment::Literal(s)) => s,
            _ => "",
        }
    }

    /// The whole pattern when it has no wildcard.
    pub fn exact(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [Segment::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// The smallest string greater than every string starting with `prefix()`
    /// (code-point order), if any: with `prefix()` it bounds an index range scan.
    pub fn prefix_upper_bound(&self) -> Option<String> {
        let mut chars: Vec<char> = self.prefix().chars().collect();
        while let Some(last) = chars.pop() {
            let mut next = last as u32 + 1;
            if (0xD800..=0xDFFF).contains(&next) {
                next = 0xE000;
            }
            if let Some(c) = char::from_u32(next) {
                chars.push(c);
                return Some(chars.into_iter().collect());
            }
        }
        None
    }

    /// True when `candidate` (a stored, folded identifier) matches.
    pub fn matches(&self, candidate: &str) -> bool {
        let text: Vec<char> = candidate.chars().collect();
        matches_from(&self.segments, &text)
    }
}

/// Folds a literal piece without trimming it (spaces inside a pattern count):
/// the whitespace around it normalised as [`fold`] normalises it inside an
/// identifier (NFKC), the rest folded.
fn fold_piece(s: &str) -> String {
    let core = s.trim();
    let lead = s.len() - s.trim_start().len();
    let (before, after) = (&s[..lead], &s[lead + core.len()..]);
    let nfkc = |w: &str| w.nfkc().collect::<String>();
    format!("{}{}{}", nfkc(before), fold(core), nfkc(after))
}

/// One position of a pattern: a literal character or a wildcard.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    One,
    Run,
}

/// The classic two-pointer wildcard match: on a mismatch, only the most recent
/// `*` is retried one character further, so it runs in O(pattern × text).
fn matches_from(segs: &[Segment], text: &[char]) -> bool {
    let toks: Vec<Tok> = segs
        .iter()
        .flat_map(|s| match s {
            Segment::Literal(l) => l.chars().map(Tok::Char).collect::<Vec<_>>(),
            Segment::AnyOne => vec![Tok::One],
            Segment::AnyRun => vec![Tok::Run],
        })
        .collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Run) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn grammar() {
        assert!(p("ragu*").matches("ragu@example.com"));
        assert!(p("RAGU*").matches("ragu"));
        assert!(!p("ragu*").matches("xragu"));
        assert!(p("*@example.com").matches("a@example.com"));
        assert!(p("a?c").matches("abc"));
        assert!(!p("a?c").matches("ac"));
        assert!(p("a%_\\[.c").matches("a%_\\[.c"));
        assert!(!p("a%c").matches("abc"), "% is literal");
        assert!(!p("a_c").matches("abc"), "_ is literal");
        assert_eq!(p("a**b"), p("a*b"));
        assert_eq!(p("Bob@X.io").exact(), Some("bob@x.io"));
        assert_eq!(p("ragu*").prefix(), "ragu");
        assert_eq!(p("*x").prefix(), "");
    }

    #[test]
    fn limits() {
        assert!(Pattern::parse(&"a".repeat(257)).is_err());
        assert!(Pattern::parse(&"*a".repeat(17)).is_err());
        assert!(Pattern::parse(&"*a".repeat(16)).is_ok());
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse("a\u{0}b").is_err());
    }

    #[test]
    fn whitespace_between_wildcards_is_kept_once() {
        // Found by fuzzing (fuzz/fuzz_targets/pattern.rs): a piece of only
        // whitespace was doubled, so "a* *b" wanted two spaces.
        let pat = p("jc#n J* * ?uou");
        assert!(pat.matches("jc#n jz z quou"));
        assert_eq!(
            p("a* *b").segments(),
            [
                Segment::Literal("a".into()),
                Segment::AnyRun,
                Segment::Literal(" ".into()),
                Segment::AnyRun,
                Segment::Literal("b".into()),
            ]
        );
        assert!(p("a* *b").matches("ax yb"));
        assert!(!p("a* *b").matches("axb"));
        assert!(p("a? ?").matches("ax y"));
        // Whitespace at a piece's edge is normalised like inside an identifier.
        assert!(p("ann\u{a0}*").matches("ann lee"));
        assert!(p("*\u{3000}lee").matches("ann lee"));
    }

    #[test]
    fn upper_bound() {
        assert_eq!(p("ragu*").prefix_upper_bound().as_deref(), Some("ragv"));
        assert_eq!(p("*").prefix_upper_bound(), None);
        assert_eq!(p("a\u{10FFFF}*").prefix_upper_bound().as_deref(), Some("b"));
    }

    #[test]
    fn hostile_patterns_stay_fast() {
        let pat = p(&"*a".repeat(16));
        let text = "a".repeat(60) + "b";
        // Backtracking is bounded by the pattern limits; this must finish.
        assert!(!pat.matches(&text));
    }
}
