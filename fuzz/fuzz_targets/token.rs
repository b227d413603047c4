//! Access tokens: `token::verify` on arbitrary text, sign/verify round trips of
//! arbitrary claims, and single-byte edits of genuine tokens; plus the API token
//! shape check every bearer goes through.
//!
//! Input: the first byte picks the mode, the rest is its data.
//! - `0`: the rest is a bearer as presented (JWT or `aeg_…`).
//! - otherwise: the rest is split on `\n` into issuer, audience, username and an
//!   edit (`position`, `byte`) applied to the signed token.
//!
//! Invariants: nothing the fuzzer writes verifies (the signing key is random per
//! process), a signed token verifies to exactly its claims under its issuer and
//! audience and under no other, another ring's token is an unknown key, and an
//! edited token either fails or still carries the very same claims.

#![no_main]

use std::sync::OnceLock;

use aegis_core::api_token;
use aegis_core::keys::{Kek, KeyRing};
use aegis_core::token::{self, AccessClaims, Rejection};
use aegis_core::SystemClock;
use aegis_store::SqliteStore;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

/// Two independent key rings, each from its own in-memory store.
fn rings() -> &'static (KeyRing, KeyRing) {
    static RINGS: OnceLock<(KeyRing, KeyRing)> = OnceLock::new();
    RINGS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ring = || async {
            let store = SqliteStore::open("sqlite::memory:")
                .await
                .expect("in-memory store");
            let ring = KeyRing::load_or_create(&store, &Kek::generate(), &SystemClock)
                .await
                .expect("key ring");
            store.close().await;
            ring
        };
        let a = rt.block_on(ring());
        let b = rt.block_on(ring());
        assert_ne!(a.kid(), b.kid());
        (a, b)
    })
}

fn check_api_token_shape(bearer: &str) {
    if api_token::is_well_formed(bearer) {
        assert!(bearer.starts_with(api_token::PREFIX));
        assert_eq!(bearer.len(), api_token::PREFIX.len() + 43);
    }
}

fn raw_bearer(keys: &KeyRing, bearer: &str) {
    check_api_token_shape(bearer);
    for (iss, aud) in [("aegis", "aegis"), ("", "")] {
        if let Ok(claims) = token::verify(keys, bearer, iss, aud) {
            panic!("a token the fuzzer wrote verified: {claims:?}");
        }
    }
}

fn u64_of(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .fold(0u64, |acc, b| acc.rotate_left(8) ^ u64::from(*b))
}

fn round_trip(a: &KeyRing, b: &KeyRing, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let iss = parts.next().unwrap_or_default();
    let aud = parts.next().unwrap_or_default();
    let username = parts.next().unwrap_or_default();
    let edit = parts.next().unwrap_or_default().as_bytes();
    let seed = u64_of(data);
    let claims = AccessClaims {
        iss: iss.to_owned(),
        aud: aud.to_owned(),
        sub: Uuid::from_u64_pair(seed, 1),
        sid: Uuid::from_u64_pair(seed, 2),
        jti: Uuid::from_u64_pair(seed, 3),
        // Issued tokens carry real times: `exp` is never negative.
        iat: (seed >> 2) as i64,
        exp: (seed >> 1) as i64,
        username: username.to_owned(),
        id: seed.rotate_left(17) as i64,
    };
    let jwt = token::sign(a, &claims).expect("signing never fails");
    check_api_token_shape(&jwt);
    assert_eq!(token::verify(a, &jwt, iss, aud).as_ref(), Ok(&claims));
    let other = format!("{iss}x");
    assert_eq!(
        token::verify(a, &jwt, &other, aud),
        Err(Rejection::Malformed)
    );
    assert_eq!(
        token::verify(a, &jwt, iss, &other),
        Err(Rejection::Malformed)
    );
    assert_eq!(token::verify(b, &jwt, iss, aud), Err(Rejection::UnknownKey));

    // One edit: overwrite, insert or truncate at a position of the token.
    if let [op, hi, lo, byte, ..] = *edit {
        let mut bytes = jwt.clone().into_bytes();
        let at = (usize::from(hi) << 8 | usize::from(lo)) % (bytes.len() + 1);
        match op % 3 {
            0 if at < bytes.len() => bytes[at] = byte,
            0 | 1 => bytes.insert(at, byte),
            _ => bytes.truncate(at),
        }
        let edited = String::from_utf8_lossy(&bytes);
        check_api_token_shape(&edited);
        if let Ok(got) = token::verify(a, &edited, iss, aud) {
            assert_eq!(got, claims, "an edited token verified to other claims");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (a, b) = rings();
    match data.split_first() {
        Some((0, rest)) => raw_bearer(a, &String::from_utf8_lossy(rest)),
        Some((_, rest)) => round_trip(a, b, rest),
        None => raw_bearer(a, ""),
    }
});
