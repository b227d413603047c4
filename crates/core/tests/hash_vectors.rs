//! Foreign password hashes made by the reference implementations
//! (tests/vectors/hashes.json, written by scripts/gen-hash-vectors.py) verify with the
//! right password, fail with a wrong one, and ask to be rehashed to argon2id.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use aegis_core::config::Argon2Config;
use aegis_core::password::{describe, Hasher, Password};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    hasher: HasherParams,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct HasherParams {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

#[derive(Deserialize)]
struct Vector {
    format: String,
    source: String,
    password: String,
    stored: String,
    needs_rehash: bool,
}

fn load() -> Vectors {
    serde_json::from_str(include_str!("vectors/hashes.json")).unwrap()
}

fn hasher(p: &HasherParams) -> Hasher {
    Hasher::new(&Argon2Config {
        memory_kib: p.memory_kib,
        iterations: p.iterations,
        parallelism: p.parallelism,
        workers: 2,
        queue: 8,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn reference_vectors_verify() {
    let file = load();
    let h = hasher(&file.hasher);
    for v in &file.vectors {
        let what = format!("{} ({})", v.format, v.source);
        let pw = Password::new(&v.password);
        // The vectors must survive aegis's NFKC normalisation unchanged.
        assert_eq!(
            pw.expose(),
            v.password,
            "{what}: password is not NFKC-stable"
        );
        assert_eq!(
            describe(&v.stored).map(|f| f.to_string()).as_deref(),
            Some(v.format.as_str()),
            "{what}: describe"
        );
        let right = h.verify(&pw, Some(&v.stored)).await.unwrap();
        assert!(right.ok, "{what}: the right password must verify");
        assert_eq!(right.needs_rehash, v.needs_rehash, "{what}: needs_rehash");
        for wrong in [format!("x{}", v.password), String::new(), "wrong".into()] {
            let got = h
                .verify(&Password::new(&wrong), Some(&v.stored))
                .await
                .unwrap();
            assert!(!got.ok, "{what}: a wrong password must not verify");
        }
    }
}

#[test]
fn every_format_has_reference_vectors() {
    let have: BTreeSet<_> = load().vectors.into_iter().map(|v| v.format).collect();
    let want = [
        "argon2id",
        "argon2i",
        "argon2d",
        "bcrypt",
        "scrypt",
        "django-pbkdf2-sha1",
        "django-pbkdf2-sha256",
        "passlib-pbkdf2-sha1",
        "passlib-pbkdf2-sha256",
        "passlib-pbkdf2-sha512",
        "phc-pbkdf2-sha1",
        "phc-pbkdf2-sha256",
        "phc-pbkdf2-sha512",
        "aegis-digest-md5",
        "aegis-digest-sha1",
        "aegis-digest-sha256",
        "aegis-digest-sha512",
        "django-sha1",
        "django-md5",
        "md5-crypt",
        "sha256-crypt",
        "sha512-crypt",
        "firebase-scrypt",
    ];
    for f in want {
        assert!(have.contains(f), "no reference vector for {f}");
    }
    let stored: Vec<_> = load().vectors.into_iter().map(|v| v.stored).collect();
    assert!(stored.iter().any(|s| s.starts_with("$2a$")));
    assert!(stored.iter().any(|s| s.starts_with("$2y$")));
    // Firebase's own published sample is among them.
    assert!(stored.iter().any(|s| s.ends_with(
        "$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
    )));
}
