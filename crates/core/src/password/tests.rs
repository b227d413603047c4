//! Tests of the password policy, the hasher and the stored-hash formats.

use super::*;

fn cheap() -> Argon2Config {
    Argon2Config {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
        workers: 1,
        queue: 1,
    }
}

#[test]
fn blocklist_is_real() {
    assert!(BLOCKLIST.len() >= 10_000);
    assert!(BLOCKLIST.contains("password"));
}

#[test]
fn policy() {
    let u = Username::parse("alice").unwrap();
    let ok = |p: &str| check_policy(&Password::new(p), &u);
    assert!(ok("correct horse battery").is_ok());
    assert!(ok("short").is_err());
    assert!(ok(&"x".repeat(257)).is_err());
    assert!(ok(&"xy".repeat(128)).is_ok());
    assert!(ok("password1").is_err());
    assert!(ok("PASSWORD1").is_err());
    assert!(ok("iloveyou").is_err());
    let long = Username::parse("alice-in-chains").unwrap();
    assert!(check_policy(&Password::new("Alice-In-Chains"), &long).is_err());
    // 8 code points, NFKC: fullwidth letters count as one each.
    assert!(ok("ｚｑｘｗｖｋｊｐ").is_ok());
}

#[tokio::test]
async fn hash_and_verify() {
    let h = Hasher::new(&cheap()).unwrap();
    let pw = Password::new("a long enough one");
    let phc = h.hash(&pw).await.unwrap();
    assert!(phc.starts_with("$argon2id$"));
    let v = h.verify(&pw, Some(&phc)).await.unwrap();
    assert!(v.ok && !v.needs_rehash);
    assert!(
        !h.verify(&Password::new("wrong one!"), Some(&phc))
            .await
            .unwrap()
            .ok
    );
    assert!(!h.verify(&pw, None).await.unwrap().ok);
    assert!(!h.verify(&pw, Some("garbage")).await.unwrap().ok);
    let stronger = Hasher::new(&Argon2Config {
        memory_kib: 512,
        ..cheap()
    })
    .unwrap();
    assert!(stronger.verify(&pw, Some(&phc)).await.unwrap().needs_rehash);
}

/// The PHC strings built around the reused working memory are what the argon2
/// crate's own verifier accepts, and hashes larger than the kept buffer (costlier
/// imports) or smaller than it (cheaper ones) verify on the same worker in any order.
#[tokio::test]
async fn working_memory_is_reused_across_costs() {
    use argon2::password_hash::PasswordVerifier as _;
    let h = Hasher::new(&cheap()).unwrap();
    let bigger = Hasher::new(&Argon2Config {
        memory_kib: 1024,
        iterations: 2,
        ..cheap()
    })
    .unwrap();
    let smaller = Hasher::new(&Argon2Config {
        memory_kib: 64,
        ..cheap()
    })
    .unwrap();
    let pw = Password::new("a long enough one");
    let mine = h.hash(&pw).await.unwrap();
    let parsed = PasswordHash::new(&mine).unwrap();
    assert_eq!(parsed.params.get_decimal("m"), Some(256));
    assert!(Argon2::default()
        .verify_password(pw.expose().as_bytes(), &parsed)
        .is_ok());
    let hashes = [
        bigger.hash(&pw).await.unwrap(),
        mine.clone(),
        smaller.hash(&pw).await.unwrap(),
        mine,
    ];
    for stored in &hashes {
        let v = h.verify(&pw, Some(stored)).await.unwrap();
        assert!(v.ok, "{stored}");
        let wrong = Password::new("not the password");
        assert!(
            !h.verify(&wrong, Some(stored)).await.unwrap().ok,
            "{stored}"
        );
    }
    // A costlier hash grows the buffer for its run only; a cheaper one uses
    // the front of it.
    let params = Params::new(256, 1, 1, None).unwrap();
    let mut scratch = Scratch::new(&params);
    assert_eq!(scratch.with(1024, |b| b.len()), 1024);
    assert_eq!(scratch.blocks.len(), 256);
    assert_eq!(scratch.with(64, |b| b.len()), 64);
    assert_eq!(scratch.blocks.len(), 256);
    // Two hashes of one password differ (fresh salt each time).
    assert_ne!(h.hash(&pw).await.unwrap(), hashes[1]);
}

#[tokio::test]
async fn full_queue_is_unavailable() {
    let h = Hasher::new(&Argon2Config {
        memory_kib: 8192,
        iterations: 3,
        ..cheap()
    })
    .unwrap();
    let pw = Password::new("a long enough one");
    let jobs: Vec<_> = (0..8)
        .map(|_| {
            let h = h.clone();
            let pw = pw.clone();
            tokio::spawn(async move { h.hash(&pw).await })
        })
        .collect();
    let mut busy = 0;
    for j in jobs {
        if let Err(Error::Unavailable { .. }) = j.await.unwrap() {
            busy += 1;
        }
    }
    assert!(
        busy > 0,
        "a queue of 1 behind 1 worker must refuse some of 8"
    );
}

// ---- stored-hash formats ----

use format::{parse, Limits, Refusal};

/// The stored strings of the reference vectors (tests/vectors/hashes.json).
fn reference_hashes() -> Vec<(String, String)> {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/vectors/hashes.json")).unwrap();
    doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap().to_owned();
            (s("password"), s("stored"))
        })
        .collect()
}

fn refusal(stored: &str) -> Option<Refusal> {
    parse(stored, &Limits::IMPORT).err()
}

fn too_costly(stored: &str) -> bool {
    matches!(refusal(stored), Some(Refusal::TooCostly(_)))
}

#[test]
fn garbled_hashes_are_refused() {
    let long = format!("$2b$04${}", "a".repeat(2000));
    let garbled = [
        "",
        "$",
        "$$",
        "$$$$",
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ",
        "$argon2id$v=99$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$2b$",
        "$2b$04$",
        "$2b$4$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6",
        "$2b$+4$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr",
        "$2b$03$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6",
        "$2b$04$éLg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr",
        "$2x$04$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6",
        &long,
        "$scrypt$ln=,r=8,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "$scrypt$ln=10,r=0,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "$scrypt$ln=10,r=8,p=1,x=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "$scrypt$ln=10,r=8,p=1$c2FsdA$aGFz",
        "$scrypt$ln=10,ln=10,r=8,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "$pbkdf2-sha256$i=abc$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "$pbkdf2-sha256$i=0$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "$pbkdf2-sha256$i=10,l=31$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "$pbkdf2-sha256$1000$c2FsdA$aGFz",
        "$pbkdf2-sha256$1000$c2F!dA$aGFzaGhhc2hoYXNoaGFzaA",
        "$pbkdf2-sha1$1000$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "pbkdf2_sha256$$$",
        "pbkdf2_sha256$1000$salt$not base64!",
        "pbkdf2_sha512$1000$salt$aGFzaGhhc2hoYXNoaGFzaA==",
        "sha1$abc",
        "sha1$salt$abf7aad6438836dbe526aa231abde2d0eef74d4",
        "md5$salt$zzf21609fcf45be2d85e33b68c1e8050",
        "md5$salt$+af21609fcf45be2d85e33b68c1e805",
        "$aegis-digest$alg=sha3,iter=1,order=salt-first$$AAAA",
        "$aegis-digest$alg=sha256,iter=0,order=salt-first$$xLvLH77JnWW/WdhcjLYu4tuWPw/hBvSD2a+nO9Tjmoo",
        "$aegis-digest$alg=sha256,iter=1,order=sideways$$xLvLH77JnWW/WdhcjLYu4tuWPw/hBvSD2a+nO9Tjmoo",
        "$aegis-digest$alg=md5,iter=1,order=salt-first$$xLvLH77JnWW/WdhcjLYu4tuWPw/hBvSD2a+nO9Tjmoo",
        "$1$toolongsalt$oqFwbuj0XntM59c/JweZd0",
        "$1$9UrKsDTi$oqFwbuj0XntM59c/JweZd",
        "$1$9UrKsDTi$oqFwbuj0XntM59c/JweZd!",
        "$5$rounds=$salt$66fVbxOYP0gz1993GAwRRuE1nXDdaNMfjejmy9.iXG8",
        "$5$rounds=-5$salt$66fVbxOYP0gz1993GAwRRuE1nXDdaNMfjejmy9.iXG8",
        "$6$salt$short",
        "$5$saltsaltsaltsaltX$66fVbxOYP0gz1993GAwRRuE1nXDdaNMfjejmy9.iXG8",
        "$firebase-scrypt$rounds=8$AAAA$Bw==$AAAA$AAAA",
        "$firebase-scrypt$rounds=8,mem_cost=14$AAAA$Bw==$AAAA$AAAAAAAA",
        "$firebase-scrypt$rounds=0,mem_cost=14$AAAA$Bw==$AAAA$AAAA",
        "$firebase-scrypt$rounds=8,mem_cost=14$$Bw==$AAAA$",
        "$firebase-scrypt$rounds=8,mem_cost=14$AAAA$Bw==$AAAA$AAAA$extra",
    ];
    for s in garbled {
        assert!(describe(s).is_none(), "{s:?} must not describe");
        assert!(
            !matches!(refusal(s), None | Some(Refusal::TooCostly(_))),
            "{s:?} is garbled"
        );
    }
}

#[test]
fn mangled_reference_hashes_never_panic() {
    for (_, stored) in reference_hashes() {
        let chars: Vec<char> = stored.chars().collect();
        for i in 0..=chars.len() {
            let prefix: String = chars[..i].iter().collect();
            let _ = describe(&prefix);
            for c in ['$', 'A', '.', '=', ',', 'é', '0'] {
                let mut m = chars.clone();
                if i < m.len() {
                    m[i] = c;
                } else {
                    m.push(c);
                }
                let _ = describe(&m.into_iter().collect::<String>());
            }
        }
    }
}

#[tokio::test]
async fn garbled_hashes_verify_as_false() {
    let h = Hasher::new(&cheap()).unwrap();
    let pw = Password::new("a long enough one");
    for s in [
        "",
        "$2b$04$nope",
        "sha1$$",
        "$aegis-digest$$$",
        "$firebase-scrypt$",
    ] {
        let v = h.verify(&pw, Some(s)).await.unwrap();
        assert_eq!(
            v,
            Verified {
                ok: false,
                needs_rehash: false
            }
        );
    }
}

#[test]
fn work_factor_bounds() {
    let bcrypt =
        |cost: &str| format!("$2b${cost}$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6");
    assert_eq!(describe(&bcrypt("16")), Some(HashFormat::Bcrypt));
    assert!(too_costly(&bcrypt("17")) && too_costly(&bcrypt("31")));

    let scrypt =
        |p: &str| format!("$scrypt${p}$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA");
    // 128 · r · 2^ln bytes: ln=18, r=8 is 256 MiB.
    assert_eq!(describe(&scrypt("ln=18,r=8,p=1")), Some(HashFormat::Scrypt));
    assert_eq!(
        describe(&scrypt("ln=16,r=8,p=16")),
        Some(HashFormat::Scrypt)
    );
    assert!(too_costly(&scrypt("ln=19,r=8,p=1")));
    assert!(too_costly(&scrypt("ln=18,r=8,p=5")));
    assert!(too_costly(&scrypt("ln=63,r=8,p=1")));
    assert!(too_costly(&scrypt("ln=10,r=4294967295,p=1")));

    let phc =
        |alg: &str, i: u32| format!("${alg}$i={i}$c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA");
    assert!(describe(&phc("pbkdf2-sha256", 10_000_000)).is_some());
    assert!(too_costly(&phc("pbkdf2-sha256", 10_000_001)));
    // 32 bytes of SHA-1 output are two blocks: the iterations count twice.
    assert!(describe(&phc("pbkdf2", 5_000_000)).is_some());
    assert!(too_costly(&phc("pbkdf2", 5_000_001)));
    assert!(too_costly(
        "pbkdf2_sha256$4294967295$salt$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA="
    ));

    let sha = |r: u32| format!("$5$rounds={r}$salt$66fVbxOYP0gz1993GAwRRuE1nXDdaNMfjejmy9.iXG8");
    assert!(describe(&sha(10_000_000)).is_some());
    assert!(too_costly(&sha(10_000_001)));
    assert!(too_costly(&sha(u32::MAX)));

    let digest = |n: u32| {
        format!("$aegis-digest$alg=sha256,iter={n},order=salt-first$$xLvLH77JnWW/WdhcjLYu4tuWPw/hBvSD2a+nO9Tjmoo")
    };
    assert!(describe(&digest(10_000_000)).is_some());
    assert!(too_costly(&digest(10_000_001)));

    let argon = |p: &str| format!("$argon2id$v=19${p}$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA");
    assert!(describe(&argon("m=262144,t=4,p=1")).is_some());
    assert!(too_costly(&argon("m=262145,t=1,p=1")));
    assert!(too_costly(&argon("m=262144,t=5,p=1")));
    assert!(too_costly(&argon("m=65536,t=17,p=1")));
    assert!(too_costly(&argon("m=65536,t=1,p=17")));
    // Parameters the hasher is configured with always pass.
    let big = Params::new(512 * 1024, 3, 1, None).unwrap();
    assert!(parse(&argon("m=524288,t=3,p=1"), &Limits::admitting(&big)).is_ok());

    let firebase = |p: &str| format!("$firebase-scrypt${p}$AAAA$Bw==$AAAA$AAAA");
    assert!(describe(&firebase("rounds=8,mem_cost=18")).is_some());
    assert!(too_costly(&firebase("rounds=8,mem_cost=19")));
    assert!(too_costly(&firebase("rounds=9,mem_cost=18")));
    assert!(too_costly(&firebase("rounds=8,mem_cost=63")));
}

#[tokio::test]
async fn costly_hashes_are_refused_without_work() {
    let h = Hasher::new(&cheap()).unwrap();
    let pw = Password::new("a long enough one");
    let start = std::time::Instant::now();
    for s in [
        "$2b$31$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6",
        "$scrypt$ln=30,r=8,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
        "$pbkdf2-sha512$4000000000$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    ] {
        assert!(!h.verify(&pw, Some(s)).await.unwrap().ok);
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
}

#[tokio::test]
async fn argon2_without_version_is_0x10() {
    // The reference implementation reads a PHC string without `v=` as version 0x10.
    let (password, stored) = reference_hashes()
        .into_iter()
        .find(|(_, s)| s.starts_with("$argon2id$v=16$"))
        .unwrap();
    let unversioned = stored.replace("$v=16$", "$");
    let h = Hasher::new(&cheap()).unwrap();
    let v = h
        .verify(&Password::new(&password), Some(&unversioned))
        .await
        .unwrap();
    assert!(v.ok && v.needs_rehash);
}

#[test]
fn format_names_are_distinct() {
    let names: std::collections::HashSet<String> = reference_hashes()
        .iter()
        .filter_map(|(_, s)| describe(s))
        .map(|f| f.to_string())
        .collect();
    assert!(names.len() >= 23, "{names:?}");
}
