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
    let mut scratch = Scratch::new(&params, Default::default());
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
    assert_eq!(describe(&bcrypt("14")), Some(HashFormat::Bcrypt));
    assert!(too_costly(&bcrypt("15")) && too_costly(&bcrypt("31")));

    let scrypt =
        |p: &str| format!("$scrypt${p}$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA");
    // 128 · r · 2^ln bytes: ln=18, r=8 is 256 MiB, the memory bound.
    assert_eq!(describe(&scrypt("ln=18,r=8,p=1")), Some(HashFormat::Scrypt));
    assert_eq!(describe(&scrypt("ln=16,r=8,p=7")), Some(HashFormat::Scrypt));
    assert!(too_costly(&scrypt("ln=16,r=8,p=8")));
    assert!(too_costly(&scrypt("ln=19,r=8,p=1")));
    assert!(too_costly(&scrypt("ln=18,r=8,p=2")));
    assert!(too_costly(&scrypt("ln=63,r=8,p=1")));
    assert!(too_costly(&scrypt("ln=10,r=4294967295,p=1")));

    // The iteration bound is the one a mapping's `iterations` has, for complete strings too.
    let phc =
        |alg: &str, i: u32| format!("${alg}$i={i}$c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA");
    assert!(describe(&phc("pbkdf2-sha256", 1_500_000)).is_some());
    assert!(too_costly(&phc("pbkdf2-sha256", 1_500_001)));
    assert!(too_costly(&phc("pbkdf2-sha512", 10_000_000)));
    // 32 bytes of SHA-1 output are two blocks: the iterations count twice in the cost.
    let sha1_128 = |i: u32| {
        format!(
            "$pbkdf2$i={i}$c2FsdA${}",
            base64::Engine::encode(&format::B64, [7u8; 128])
        )
    };
    assert!(describe(&sha1_128(1_000_000)).is_some());
    assert!(too_costly(&sha1_128(1_500_000)));
    assert!(too_costly(
        "pbkdf2_sha256$4294967295$salt$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA="
    ));

    let sha256 = |r: u32| format!("$5$rounds={r}$salt$66fVbxOYP0gz1993GAwRRuE1nXDdaNMfjejmy9.iXG8");
    assert!(describe(&sha256(1_800_000)).is_some());
    assert!(too_costly(&sha256(1_900_000)));
    assert!(too_costly(&sha256(u32::MAX)));
    let sha512 = |r: u32| format!("$6$rounds={r}$saltsaltsaltsalt${}", "a".repeat(86));
    // passlib's default, and glibc's (no `rounds=`).
    assert!(describe(&sha512(656_000)).is_some());
    assert!(describe(&format!("$6$saltsaltsaltsalt${}", "a".repeat(86))).is_some());
    assert!(describe(&sha512(1_300_000)).is_some());
    assert!(too_costly(&sha512(1_400_000)));
    assert!(too_costly(&sha512(10_000_000)));

    let digest = |n: u32| {
        format!("$aegis-digest$alg=sha256,iter={n},order=salt-first$$xLvLH77JnWW/WdhcjLYu4tuWPw/hBvSD2a+nO9Tjmoo")
    };
    assert!(describe(&digest(1_500_000)).is_some());
    assert!(too_costly(&digest(1_500_001)));

    let argon = |p: &str| format!("$argon2id$v=19${p}$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA");
    assert!(describe(&argon("m=262144,t=5,p=1")).is_some());
    assert!(too_costly(&argon("m=262145,t=1,p=1")));
    assert!(too_costly(&argon("m=262144,t=6,p=1")));
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

/// The model's figures for hashes met in the wild, and its bound on the worst case.
#[test]
fn cost_model() {
    use limits::{Work, ADMIT_PASSWORD_BYTES, MAX_COST_NS, MAX_PASSWORD_BYTES};
    let ms = |w: Work, len: usize| w.cost_ns(len) / 1_000_000;
    let sha512 = |rounds| Work::ShaCrypt {
        sha512: true,
        rounds,
        salt_len: 16,
    };
    // sha-crypt grows with the password: twice per round, and L² at the start.
    assert!(ms(sha512(5000), 8) < 2);
    assert!((60..80).contains(&ms(sha512(5000), 4096)), "measured 65 ms");
    assert!(sha512(1000).cost_ns(16384) > 300_000_000, "measured 340 ms");
    // The hash: a 4096-byte password against a million rounds took 15 s.
    assert!(ms(sha512(1_000_000), 4096) > 9_000);
    assert_eq!(sha512(1_000_000).check(), Ok(()));
    // Within the bound for the policy's longest ASCII password, not for any password.
    assert!(sha512(1_000_000).cost_ns(ADMIT_PASSWORD_BYTES) <= MAX_COST_NS);
    assert!(sha512(1_000_000).cost_ns(MAX_PASSWORD_BYTES) > MAX_COST_NS);
    assert!(sha512(656_000).cost_ns(580) <= MAX_COST_NS);
    assert!(sha512(5000).cost_ns(MAX_PASSWORD_BYTES) <= MAX_COST_NS);
    // Common real-world parameters are admitted.
    let admitted = [
        Work::Bcrypt { cost: 14 },
        Work::Pbkdf2 {
            digest: DigestAlg::Sha256,
            iterations: 1_000_000,
            key_len: 32,
        },
        Work::Pbkdf2 {
            digest: DigestAlg::Sha1,
            iterations: 1_300_000,
            key_len: 20,
        },
        Work::Pbkdf2 {
            digest: DigestAlg::Sha512,
            iterations: 210_000,
            key_len: 64,
        },
        Work::ShaCrypt {
            sha512: false,
            rounds: 535_000,
            salt_len: 16,
        },
        sha512(656_000),
        Work::Scrypt {
            log_n: 16,
            r: 8,
            p: 1,
        },
        Work::Argon2 {
            m_kib: 262_144,
            t: 3,
            p: 1,
        },
        Work::Md5Crypt { salt_len: 8 },
    ];
    for w in admitted {
        assert_eq!(w.check(), Ok(()), "{w:?}");
    }
    // Default argon2id (19 MiB, t=2; measured 12–20 ms) is a few tens of ms.
    let argon2 = Work::Argon2 {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    assert!((10..40).contains(&ms(argon2, 0)));
    assert!(Work::Md5Crypt { salt_len: 8 }.cost_ns(MAX_PASSWORD_BYTES) < argon2.cost_ns(0));
}

#[tokio::test]
async fn long_passwords_never_reach_a_costly_verifier() {
    let h = Hasher::new(&cheap()).unwrap();
    // sha512-crypt of "a long enough one" with 1,000,000 rounds.
    let stored = sha_crypt_of("a long enough one", 1_000_000);
    assert_eq!(describe(&stored), Some(HashFormat::Sha512Crypt));
    // 4096 bytes (what a login takes) against a million rounds: about 15 s if it ran.
    let long = Password::new(&"x".repeat(4096));
    let runs = h.argon2_runs();
    let start = std::time::Instant::now();
    let v = h.verify(&long, Some(&stored)).await.unwrap();
    assert!(!v.ok);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // Refused at the cost of a normal login: one argon2id hash.
    assert_eq!(h.argon2_runs() - runs, 1);
    // NFKC can make a short input long: U+FDFA is 3 bytes and normalises to 33.
    let expanding = Password::new(&"\u{FDFA}".repeat(100));
    assert!(expanding.expose().len() > limits::MAX_PASSWORD_BYTES);
    assert!(!h.verify(&expanding, Some(&stored)).await.unwrap().ok);
}

/// sha512-crypt of `password`, computed here (the verifier is the crate's).
fn sha_crypt_of(password: &str, rounds: usize) -> String {
    let p = sha_crypt::Sha512Params::new(rounds).unwrap();
    let hash = sha_crypt::sha512_crypt_b64(password.as_bytes(), b"saltsalt", &p).unwrap();
    format!("$6$rounds={rounds}$saltsalt${hash}")
}

/// Every verification costs at least one argon2id hash with the configured parameters:
/// counted, not timed.
#[tokio::test]
async fn every_verification_runs_argon2_at_least_once() {
    // 8 MiB: costlier in the model than md5-crypt (a few ms at most), as the default is.
    let config = Argon2Config {
        memory_kib: 8 * 1024,
        ..cheap()
    };
    let h = Hasher::new(&config).unwrap();
    let pw = Password::new("a long enough one");
    let current = h.hash(&pw).await.unwrap();
    let cheaper = Hasher::new(&Argon2Config {
        memory_kib: 64,
        ..config
    })
    .unwrap()
    .hash(&pw)
    .await
    .unwrap();
    let md5_crypt = reference_hashes()
        .into_iter()
        .find(|(_, s)| s.starts_with("$1$"))
        .unwrap();
    let sha1 = reference_hashes()
        .into_iter()
        .find(|(_, s)| s.starts_with("sha1$"))
        .unwrap();
    let sha_crypt = sha_crypt_of("a long enough one", 5000);
    let cases: Vec<(&str, Option<&str>, bool, u64)> = vec![
        // (password, stored, matches, argon2 runs)
        ("a long enough one", None, false, 1),
        ("a long enough one", Some(&current), true, 1),
        // An argon2 hash cheaper than the configured one is padded.
        ("a long enough one", Some(&cheaper), true, 2),
        (&md5_crypt.0, Some(&md5_crypt.1), true, 1),
        ("wrong one!", Some(&md5_crypt.1), false, 1),
        (&sha1.0, Some(&sha1.1), true, 1),
        ("a long enough one", Some(&sha_crypt), true, 1),
        // Refused strings: nothing of theirs runs, the dummy does.
        ("a long enough one", Some("garbage"), false, 1),
        (
            "a long enough one",
            Some("$2b$31$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6"),
            false,
            1,
        ),
    ];
    for (password, stored, ok, runs) in cases {
        let before = h.argon2_runs();
        let v = h.verify(&Password::new(password), stored).await.unwrap();
        assert_eq!(v.ok, ok, "{stored:?}");
        assert_eq!(h.argon2_runs() - before, runs, "{stored:?}");
    }
    // A hash costlier than one argon2id (bcrypt at cost 12, ~200 ms) is not padded.
    let bcrypt = bcrypt::hash_with_salt(b"pw", 12, [3u8; 16]).unwrap();
    let bcrypt = bcrypt.format_for_version(bcrypt::Version::TwoB);
    let before = h.argon2_runs();
    assert!(
        h.verify(&Password::new("pw"), Some(&bcrypt))
            .await
            .unwrap()
            .ok
    );
    assert_eq!(h.argon2_runs(), before);
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
