//! Access tokens: `token::verify` on arbitrary text, sign/verify round trips of
//! arbitrary claims, and single-byte edits of genuine tokens; plus the API token
//! shape check every bearer goes through.
//!
//! Input: the first byte picks the mode, the rest is its data.
//! - `0`: the rest is a bearer as presented (JWT or `aeg_…`).
//! - `1`: the rest is a JOSE header (JSON) `\n` a payload (JSON): both signed
//!   with a known key that the ring trusts under kid `fuzz` (its public half is in
//!   the store, as another instance's would be), then verified.
//! - otherwise: the rest is split on `\n` into issuer, audience, username and an
//!   edit (`op`, `position` (2 bytes), `byte`) applied to the signed token.
//!
//! Invariants: nothing the fuzzer writes verifies unsigned (the ring's own key is
//! random per process); a validly signed header and payload verify only with
//! algorithm EdDSA, kid `fuzz`, and the expected issuer and audience, to the
//! payload's claims; a token the ring signs verifies to exactly its claims under
//! its issuer and audience and under no other, another ring's token is an unknown
//! key, and an edited token either fails or still carries the very same claims.

#![no_main]

use std::sync::OnceLock;

use aegis_core::api_token;
use aegis_core::keys::{Kek, KeyRing, ALGORITHM};
use aegis_core::store::{SigningKeyRecord, Store};
use aegis_core::token::{self, AccessClaims, Rejection};
use aegis_core::SystemClock;
use aegis_store::SqliteStore;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use ring::signature::{Ed25519KeyPair, KeyPair};
use uuid::Uuid;

/// Issuer and audience the rings' tokens are checked against in modes 0 and 1.
const ISSUER: &str = "aegis";
const AUDIENCE: &str = "aegis";
/// The kid of the known key.
const KNOWN_KID: &str = "fuzz";

struct Fixture {
    /// Trusts its own (random) key and [`KNOWN_KID`].
    a: KeyRing,
    /// Another ring, with a key of its own only.
    b: KeyRing,
    /// The private half of [`KNOWN_KID`].
    known: Ed25519KeyPair,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let known = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("a seed");
        let public = known.public_key().as_ref().to_vec();
        let (a, b) = rt.block_on(async {
            let store = SqliteStore::open("sqlite::memory:")
                .await
                .expect("in-memory store");
            let kek = Kek::generate();
            // The ring's own key first, then an older public key it does not sign with.
            KeyRing::load_or_create(&store, &kek, &SystemClock, &[])
                .await
                .expect("key ring");
            let record = SigningKeyRecord {
                kid: KNOWN_KID.into(),
                algorithm: ALGORITHM.into(),
                public_key: public,
                private_key_enc: Vec::new(),
                created_at: DateTime::<Utc>::UNIX_EPOCH,
            };
            store.insert_signing_key(&record).await.expect("insert");
            let a = KeyRing::load_or_create(&store, &kek, &SystemClock, &[])
                .await
                .expect("key ring");
            store.close().await;
            let other = SqliteStore::open("sqlite::memory:")
                .await
                .expect("in-memory store");
            let b = KeyRing::load_or_create(&other, &Kek::generate(), &SystemClock, &[])
                .await
                .expect("key ring");
            other.close().await;
            (a, b)
        });
        assert_ne!(a.kid(), b.kid());
        assert!(a.verifying(KNOWN_KID).is_some());
        Fixture { a, b, known }
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
    for (iss, aud) in [(ISSUER, AUDIENCE), ("", "")] {
        if let Ok(claims) = token::verify(keys, bearer, iss, aud) {
            panic!("a token the fuzzer wrote verified: {claims:?}");
        }
    }
}

/// A header and a payload of the fuzzer's, validly signed with the known key.
fn signed(f: &Fixture, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (header, payload) = text.split_once('\n').unwrap_or((text, "{}"));
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = f.known.sign(message.as_bytes());
    let jwt = format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
    let Ok(claims) = token::verify(&f.a, &jwt, ISSUER, AUDIENCE) else {
        return;
    };
    let header: serde_json::Value =
        serde_json::from_str(header).expect("a verified header is JSON");
    assert_eq!(header["alg"], "EdDSA", "{header}");
    assert_eq!(header["kid"], KNOWN_KID, "{header}");
    assert_eq!(
        (claims.iss.as_str(), claims.aud.as_str()),
        (ISSUER, AUDIENCE)
    );
    let direct: AccessClaims = serde_json::from_str(payload).expect("verified claims parse");
    assert_eq!(claims, direct);
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
    // Another issuer, another audience (each made from its own value: one made
    // from the issuer could be the audience itself, e.g. issuer "" and audience "x").
    assert_eq!(
        token::verify(a, &jwt, &format!("{iss}x"), aud),
        Err(Rejection::Malformed)
    );
    assert_eq!(
        token::verify(a, &jwt, iss, &format!("{aud}x")),
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
    let f = fixture();
    match data.split_first() {
        Some((0, rest)) => raw_bearer(&f.a, &String::from_utf8_lossy(rest)),
        Some((1, rest)) => signed(f, rest),
        Some((_, rest)) => round_trip(&f.a, &f.b, rest),
        None => raw_bearer(&f.a, ""),
    }
});
