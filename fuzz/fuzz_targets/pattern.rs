//! The wildcard patterns of user listings: `Pattern::parse`, `matches`, `prefix`,
//! `exact` and `prefix_upper_bound`.
//!
//! Input: a pattern, then optionally `\n` and a candidate (a pattern cannot hold a
//! control character, so the first `\n` always separates them).
//!
//! Invariants (from pattern.rs's documentation):
//! - the segments are normalised: no empty literal, no two literals or two `*` in a row;
//! - `matches` agrees with a plain dynamic-programming matcher over the segments;
//! - a match starts with `prefix()` and sorts below `prefix_upper_bound()`, which is
//!   greater than every string starting with the prefix;
//! - `exact()`, when set, is the one string that matches;
//! - literals are folded like stored identifiers, pieces without trimming: a pattern
//!   matches the folded text it describes (wildcards filled in).

#![no_main]

use aegis_core::identity::fold;
use aegis_core::pattern::{Pattern, Segment};
use libfuzzer_sys::fuzz_target;
use unicode_normalization::UnicodeNormalization;

/// Longest candidate the reference matcher is run on, in characters.
const REFERENCE_MAX: usize = 600;

/// Whether `text` matches `segs`, by dynamic programming over (token, char).
fn reference(segs: &[Segment], text: &[char]) -> bool {
    let mut toks: Vec<Option<Option<char>>> = Vec::new(); // None = `*`, Some(None) = `?`
    for s in segs {
        match s {
            Segment::Literal(l) => toks.extend(l.chars().map(|c| Some(Some(c)))),
            Segment::AnyOne => toks.push(Some(None)),
            Segment::AnyRun => toks.push(None),
        }
    }
    // row[j]: toks[..i] matches text[..j]
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for tok in &toks {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match tok {
                None => row[j] || (j > 0 && next[j - 1]),
                Some(None) => j > 0 && row[j - 1],
                Some(Some(c)) => j > 0 && row[j - 1] && text[j - 1] == *c,
            };
        }
        row = next;
    }
    row[text.len()]
}

/// A piece folded as `fold` folds an identifier, but without trimming it.
fn fold_untrimmed(piece: &str) -> String {
    if piece.is_ascii() {
        return piece.to_ascii_lowercase();
    }
    let nfkc: String = piece.nfkc().collect();
    caseless::default_case_fold_str(&nfkc).nfkc().collect()
}

fn check_candidate(p: &Pattern, candidate: &str) {
    let matched = p.matches(candidate);
    let chars: Vec<char> = candidate.chars().collect();
    if chars.len() <= REFERENCE_MAX {
        assert_eq!(
            matched,
            reference(p.segments(), &chars),
            "matches disagrees with the reference on {candidate:?}"
        );
    }
    if let Some(exact) = p.exact() {
        assert_eq!(matched, candidate == exact);
    }
    if matched {
        assert!(candidate.starts_with(p.prefix()));
        if let Some(bound) = p.prefix_upper_bound() {
            assert!(candidate < bound.as_str(), "{candidate:?} !< {bound:?}");
        }
    }
}

fn check(raw: &str, candidate: Option<&str>) {
    let Ok(p) = Pattern::parse(raw) else {
        return;
    };
    let segs = p.segments();
    assert!(!segs.is_empty());
    for pair in segs.windows(2) {
        match pair {
            [Segment::Literal(_), Segment::Literal(_)] | [Segment::AnyRun, Segment::AnyRun] => {
                panic!("segments not normalised: {segs:?}")
            }
            _ => {}
        }
    }
    assert!(!segs
        .iter()
        .any(|s| matches!(s, Segment::Literal(l) if l.is_empty())));
    match segs.first() {
        Some(Segment::Literal(l)) => assert_eq!(p.prefix(), l),
        _ => assert_eq!(p.prefix(), ""),
    }
    if let Some(bound) = p.prefix_upper_bound() {
        assert!(bound.as_str() > p.prefix());
        assert!(!bound.starts_with(p.prefix()) || p.prefix().is_empty());
    }
    if let Some(exact) = p.exact() {
        assert_eq!(
            exact,
            fold(raw),
            "a wildcard-free pattern is its folded text"
        );
        check_candidate(&p, exact);
    }

    // The text the pattern describes, wildcards filled in, folded piece by piece
    // (`*` as "z", `?` as "q"): the pattern must match it.
    let trimmed = raw.trim();
    let mut described = String::new();
    let mut piece = String::new();
    for c in trimmed.chars() {
        if c == '*' || c == '?' {
            described.push_str(&fold_untrimmed(&piece));
            piece.clear();
            described.push(if c == '*' { 'z' } else { 'q' });
        } else {
            piece.push(c);
        }
    }
    described.push_str(&fold_untrimmed(&piece));
    assert!(
        p.matches(&described),
        "{raw:?} does not match the text it describes, {described:?}: {segs:?}"
    );
    check_candidate(&p, &described);

    if let Some(candidate) = candidate {
        check_candidate(&p, candidate);
        check_candidate(&p, &fold(candidate));
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.split_once('\n') {
        Some((raw, candidate)) => check(raw, Some(candidate)),
        None => check(text, None),
    }
});
