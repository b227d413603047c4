//! Listing users by a wildcard pattern on their login key (email, else username).

use std::sync::Arc;

use aegis_core::pattern::Pattern;
use aegis_core::user::User;
use aegis_core::Store;

use crate::fixtures::new_user;

/// The login key of a listed user.
fn key(user: &User) -> String {
    user.email
        .as_ref()
        .map_or_else(|| user.username.as_str(), |e| e.as_str())
        .to_owned()
}

/// The login keys listed for a raw pattern, and the total.
async fn list(s: &dyn Store, raw: &str, limit: u32) -> (Vec<String>, u64) {
    let pattern = Pattern::parse(raw).unwrap();
    let (users, total) = s.list_users_matching(&pattern, limit).await.unwrap();
    (users.iter().map(key).collect(), total)
}

/// Inserts users by (username, email).
async fn insert(s: &dyn Store, users: &[(&str, Option<&str>)]) {
    for (name, email) in users {
        s.insert_user(&new_user(name, *email)).await.unwrap();
    }
}

const PEOPLE: &[(&str, Option<&str>)] = &[
    ("ragu", Some("ragu@example.com")),
    ("ragub", Some("ragu.b@example.com")),
    ("ragua", Some("ragu-a@example.com")),
    ("raguz", None),
    ("ragué", None),
    ("ragu_x", None),
    // Its username matches, its login key does not.
    ("ragu-user", Some("other@example.com")),
    ("rag", Some("rag@example.com")),
    ("ragv", Some("ragv@example.com")),
    ("bob", Some("bob@example.org")),
];

pub async fn users_match_by_login_key(store: Arc<dyn Store>) {
    let s = &*store;
    insert(s, PEOPLE).await;
    // Byte (code-point) order: '-' < '.' < '@' < '_' < 'z' < 'é'.
    let ragu = [
        "ragu-a@example.com",
        "ragu.b@example.com",
        "ragu@example.com",
        "ragu_x",
        "raguz",
        "ragué",
    ]
    .map(str::to_owned)
    .to_vec();
    assert_eq!(list(s, "ragu*", 1000).await, (ragu.clone(), 6));
    // Patterns are case-insensitive: literals are folded like stored keys.
    assert_eq!(list(s, "RAGU*", 1000).await, (ragu.clone(), 6));
    assert_eq!(list(s, "Ragu*", 1000).await, (ragu.clone(), 6));

    // The limit cuts the page, never the total.
    assert_eq!(list(s, "ragu*", 2).await, (ragu[..2].to_vec(), 6));
    assert_eq!(list(s, "ragu*", 0).await, (vec![], 6));

    // Suffixes, with no prefix to bound a range.
    let (keys, total) = list(s, "*@example.com", 1000).await;
    assert_eq!(
        keys,
        [
            "other@example.com",
            "rag@example.com",
            "ragu-a@example.com",
            "ragu.b@example.com",
            "ragu@example.com",
            "ragv@example.com",
        ]
    );
    assert_eq!(total, 6);
    assert_eq!(list(s, "*", 1000).await.1, PEOPLE.len() as u64);

    // `?` is exactly one character, a multi-byte one included.
    assert_eq!(
        list(s, "ragu?", 1000).await,
        (vec!["raguz".to_owned(), "ragué".to_owned()], 2)
    );
    assert_eq!(
        list(s, "rag?@example.com", 1000).await,
        (
            vec!["ragu@example.com".to_owned(), "ragv@example.com".to_owned()],
            2
        )
    );
    assert_eq!(list(s, "r*u?x", 1000).await, (vec!["ragu_x".to_owned()], 1));

    // No wildcard: exact match on the login key only.
    assert_eq!(
        list(s, "RAGU@example.com", 1000).await,
        (vec!["ragu@example.com".to_owned()], 1)
    );
    assert_eq!(list(s, "raguz", 1000).await, (vec!["raguz".to_owned()], 1));
    assert_eq!(list(s, "ragu", 1000).await, (vec![], 0), "has an email");
    assert_eq!(list(s, "ragu-user", 1000).await, (vec![], 0));

    // No match.
    assert_eq!(list(s, "zzz*", 1000).await, (vec![], 0));
    assert_eq!(list(s, "*@example.net", 1000).await, (vec![], 0));
    assert_eq!(list(s, "nobody", 1000).await, (vec![], 0));
}

/// Usernames made of the characters LIKE, GLOB and SQL treat specially, and
/// neighbours an unescaped pattern would wrongly match.
const HOSTILE: &[&str] = &[
    "a%c",
    "abc",
    "a_c",
    "axc",
    r"a\c",
    r"a\\c",
    "a'c",
    "a\"c",
    "a[b]c",
    "ab",
    "a[c",
    "a]c",
    "a;--c",
    "a;c",
    "a%",
    "a_",
    "[a]x",
    "ax",
    "a'); drop table users;--",
];

pub async fn hostile_literals_match_only_themselves(store: Arc<dyn Store>) {
    let s = &*store;
    for name in HOSTILE {
        s.insert_user(&new_user(name, None)).await.unwrap();
    }
    let single = |k: &str| (vec![k.to_owned()], 1);
    assert_eq!(list(s, "a%c", 1000).await, single("a%c"));
    assert_eq!(list(s, "a_c", 1000).await, single("a_c"));
    assert_eq!(list(s, r"a\c", 1000).await, single(r"a\c"));
    assert_eq!(list(s, "a[b]c", 1000).await, single("a[b]c"));
    assert_eq!(list(s, "a%*c", 1000).await, single("a%c"));
    assert_eq!(list(s, "a_*c", 1000).await, single("a_c"));
    assert_eq!(list(s, r"a\*", 1000).await.1, 2);
    assert_eq!(list(s, r"*\\c", 1000).await, single(r"a\\c"));
    assert_eq!(list(s, "a'?", 1000).await, single("a'c"));
    assert_eq!(list(s, "a\"*", 1000).await, single("a\"c"));
    assert_eq!(list(s, "a[b]*", 1000).await, single("a[b]c"));
    assert_eq!(list(s, "[a]*", 1000).await, single("[a]x"));
    assert_eq!(list(s, "a]*", 1000).await, single("a]c"));
    assert_eq!(list(s, "a;--*", 1000).await, single("a;--c"));
    assert_eq!(list(s, "*%", 1000).await, single("a%"));
    assert_eq!(list(s, "*_", 1000).await, single("a_"));
    assert_eq!(list(s, "%*", 1000).await, (vec![], 0));
    assert_eq!(list(s, "_*", 1000).await, (vec![], 0));
    assert_eq!(
        list(s, "a'); drop table users;--", 1000).await,
        single("a'); drop table users;--")
    );
    // Every user is still there.
    assert_eq!(list(s, "*", 1000).await.1, HOSTILE.len() as u64);

    // The core matcher is the reference: the store agrees with it everywhere.
    let mut all: Vec<String> = HOSTILE.iter().map(|k| (*k).to_owned()).collect();
    all.sort();
    for raw in [
        "a?c", "a*c", "*c", "a*", "*]*", "*[*", "*\\*", "*'*", "*\"*", "*;*", "a[?]c", "??", "a%?",
        "?_", "[*", "*]", "a\\\\*", "*--*",
    ] {
        let pattern = Pattern::parse(raw).unwrap();
        let expected: Vec<String> = all.iter().filter(|k| pattern.matches(k)).cloned().collect();
        let n = expected.len() as u64;
        assert_eq!(list(s, raw, 1000).await, (expected, n), "pattern {raw:?}");
    }
}
