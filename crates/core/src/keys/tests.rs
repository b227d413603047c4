//! KeyRing tests on rings built from records (core has no in-memory store).

use std::sync::OnceLock;

use chrono::TimeZone;
use jsonwebtoken::jwk::Jwk;

use super::*;
use crate::token::{self, AccessClaims};

const ISSUER: &str = "https://id.example";

/// One KEK and one record of each algorithm, generated once (RSA is slow).
fn fixture() -> &'static (Kek, Vec<SigningKeyRecord>) {
    static FIXTURE: OnceLock<(Kek, Vec<SigningKeyRecord>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let kek = Kek::generate();
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let records = SigningAlg::ALL
            .iter()
            .map(|alg| new_record(*alg, &kek, now).unwrap())
            .collect();
        (kek, records)
    })
}

/// A ring signing with every algorithm.
fn ring() -> KeyRing {
    let (kek, records) = fixture();
    KeyRing::from_records(records, kek, &wanted(&SigningAlg::ALL)).unwrap()
}

fn kid_of(ring: &KeyRing, alg: SigningAlg) -> String {
    ring.signers[&alg].kid.clone()
}

fn id_claims() -> Value {
    // Long expired: verify_any leaves expiry to its caller.
    json!({"iss": ISSUER, "sub": "u1", "aud": "client-1", "exp": 1, "nonce": "n"})
}

/// `header.payload.` with the given JSON header and payload and no signature.
fn unsigned(header: Value, payload: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", part(&header), part(payload))
}

/// Flips one character of the signature.
fn tamper(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = bytes.len() - 3;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn kek_seals_and_opens() {
    let kek = Kek::generate();
    let sealed = kek.seal("kid1", b"secret").unwrap();
    assert_eq!(kek.open("kid1", &sealed).unwrap(), b"secret");
    assert!(kek.open("kid2", &sealed).is_err(), "kid is bound as AAD");
    assert!(Kek::generate().open("kid1", &sealed).is_err());
    assert!(kek.open("kid1", &sealed[..10]).is_err());
    let round = Kek::from_base64(&kek.to_base64()).unwrap();
    assert_eq!(round.0, kek.0);
    assert!(Kek::from_base64("c2hvcnQ=").is_err());
}

#[test]
fn each_algorithm_signs_and_verify_any_accepts() {
    let ring = ring();
    for alg in SigningAlg::ALL {
        assert!(ring.has(alg));
        let token = ring.sign_with(alg, &id_claims()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jwt_alg(alg));
        assert_eq!(header.kid.as_deref(), Some(kid_of(&ring, alg).as_str()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(ring.verify_any(&token, ISSUER), Ok(id_claims()), "{alg:?}");
    }
}

#[test]
fn a_ring_without_an_algorithm_does_not_sign_with_it() {
    let (kek, records) = fixture();
    let ring = KeyRing::from_records(records, kek, &wanted(&[])).unwrap();
    assert!(ring.has(SigningAlg::EdDsa));
    assert!(!ring.has(SigningAlg::Rs256));
    assert!(ring.sign_with(SigningAlg::Rs256, &id_claims()).is_err());
    // It still verifies the RS256 key's tokens (another instance may sign with it).
    let token = self::ring()
        .sign_with(SigningAlg::Rs256, &id_claims())
        .unwrap();
    assert_eq!(ring.verify_any(&token, ISSUER), Ok(id_claims()));
}

#[test]
fn jwks_publishes_each_key_in_its_shape() {
    let ring = ring();
    let jwks = ring.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.windows(2).all(|w| w[0] < w[1]), "sorted by kid");
    let b64 = |v: &Value| URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap();
    for key in keys {
        assert_eq!(key["use"], "sig");
        match key["alg"].as_str().unwrap() {
            "EdDSA" => {
                assert_eq!(
                    (&key["kty"], &key["crv"]),
                    (&json!("OKP"), &json!("Ed25519"))
                );
                assert_eq!(b64(&key["x"]).len(), 32);
            }
            "ES256" => {
                assert_eq!((&key["kty"], &key["crv"]), (&json!("EC"), &json!("P-256")));
                assert_eq!((b64(&key["x"]).len(), b64(&key["y"]).len()), (32, 32));
            }
            "RS256" => {
                assert_eq!(key["kty"], "RSA");
                let n = b64(&key["n"]);
                assert_eq!(
                    (n.len(), n[0] != 0),
                    (256, true),
                    "2048 bits, no leading zero"
                );
                assert_eq!(key["e"], "AQAB");
            }
            other => panic!("unexpected alg {other}"),
        }
    }
}

#[test]
fn the_published_jwk_verifies_the_token() {
    let ring = ring();
    let jwks = ring.jwks();
    for alg in SigningAlg::ALL {
        let token = ring.sign_with(alg, &id_claims()).unwrap();
        let kid = kid_of(&ring, alg);
        let jwk = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .unwrap();
        let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();
        let key = DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = Validation::new(jwt_alg(alg));
        v.validate_exp = false;
        v.set_audience(&["client-1"]);
        let claims = jsonwebtoken::decode::<Value>(&token, &key, &v)
            .unwrap()
            .claims;
        assert_eq!(claims, id_claims(), "{alg:?}");
    }
}

#[test]
fn a_key_verifies_only_under_its_own_algorithm() {
    let ring = ring();
    let rsa_kid = kid_of(&ring, SigningAlg::Rs256);
    // A genuine Ed25519 signature, but naming the RSA key.
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(rsa_kid.clone());
    let ed = &ring.signers[&SigningAlg::EdDsa].encoding;
    let token = jsonwebtoken::encode(&header, &id_claims(), ed).unwrap();
    assert_eq!(ring.verify_any(&token, ISSUER), Err(Rejection::Malformed));
    // aegis's own access tokens never verify with a non-Ed25519 key.
    assert!(ring.verifying(&rsa_kid).is_none());
    assert!(ring.verifying(&kid_of(&ring, SigningAlg::Es256)).is_none());
    assert!(ring.verifying(ring.kid()).is_some());
    let claims = access_claims();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(rsa_kid);
    let token = jsonwebtoken::encode(&header, &claims, ed).unwrap();
    let verified = token::verify(&ring, &token, ISSUER, "aegis");
    assert_eq!(verified, Err(Rejection::UnknownKey));
}

fn access_claims() -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        aud: "aegis".into(),
        sub: uuid::Uuid::nil(),
        sid: uuid::Uuid::nil(),
        jti: uuid::Uuid::nil(),
        iat: 0,
        exp: 1,
        username: "ann".into(),
        id: 1,
    }
}

#[test]
fn access_tokens_still_round_trip() {
    let ring = ring();
    let token = token::sign(&ring, &access_claims()).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(
        (header.alg, header.kid.as_deref()),
        (Algorithm::EdDSA, Some(ring.kid()))
    );
    assert_eq!(
        token::verify(&ring, &token, ISSUER, "aegis"),
        Ok(access_claims())
    );
    // An ID token of another algorithm is no access token.
    let rs = ring.sign_with(SigningAlg::Rs256, &access_claims()).unwrap();
    assert_eq!(
        token::verify(&ring, &rs, ISSUER, "aegis"),
        Err(Rejection::Malformed)
    );
}

#[test]
fn unsigned_and_hmac_tokens_are_refused() {
    let ring = ring();
    for alg in SigningAlg::ALL {
        let kid = kid_of(&ring, alg);
        let none = unsigned(json!({"alg": "none", "kid": kid}), &id_claims());
        assert_eq!(ring.verify_any(&none, ISSUER), Err(Rejection::Malformed));
        // HMAC keyed with the public key: the classic algorithm confusion.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        let public = &ring.verifying.read()[&kid].public.clone();
        let key = EncodingKey::from_secret(public);
        let hs = jsonwebtoken::encode(&header, &id_claims(), &key).unwrap();
        assert_eq!(ring.verify_any(&hs, ISSUER), Err(Rejection::Malformed));
    }
}

#[test]
fn wrong_or_missing_issuer_is_refused() {
    let ring = ring();
    for alg in SigningAlg::ALL {
        let token = ring.sign_with(alg, &id_claims()).unwrap();
        let refused = ring.verify_any(&token, "https://other.example");
        assert_eq!(refused, Err(Rejection::Malformed));
        let no_iss = ring.sign_with(alg, &json!({"sub": "u1"})).unwrap();
        assert_eq!(ring.verify_any(&no_iss, ISSUER), Err(Rejection::Malformed));
    }
}

#[test]
fn tampered_tokens_are_refused() {
    let ring = ring();
    for alg in SigningAlg::ALL {
        let token = ring.sign_with(alg, &id_claims()).unwrap();
        assert_eq!(
            ring.verify_any(&tamper(&token), ISSUER),
            Err(Rejection::Malformed)
        );
        let forged = json!({"iss": ISSUER, "sub": "admin"});
        let (head, rest) = token.split_once('.').unwrap();
        let sig = rest.rsplit_once('.').unwrap().1;
        let swapped = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(forged.to_string())
        );
        assert_eq!(ring.verify_any(&swapped, ISSUER), Err(Rejection::Malformed));
    }
}

#[test]
fn unknown_or_missing_kid() {
    let ring = ring();
    let (kek, _) = fixture();
    let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let other = vec![new_record(SigningAlg::Es256, kek, now).unwrap()];
    let other = KeyRing::from_records(&other, kek, &[SigningAlg::Es256]).unwrap();
    let token = other.sign_with(SigningAlg::Es256, &id_claims()).unwrap();
    assert_eq!(ring.verify_any(&token, ISSUER), Err(Rejection::UnknownKey));
    let no_kid = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &id_claims(),
        &ring.signers[&SigningAlg::Es256].encoding,
    )
    .unwrap();
    assert_eq!(ring.verify_any(&no_kid, ISSUER), Err(Rejection::Malformed));
    assert_eq!(
        ring.verify_any("not a jwt", ISSUER),
        Err(Rejection::Malformed)
    );
}

#[test]
fn the_newest_key_of_each_algorithm_signs() {
    let (kek, records) = fixture();
    let later = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let newer = new_record(SigningAlg::Es256, kek, later).unwrap();
    let mut all = records.clone();
    all.push(newer.clone());
    let ring = KeyRing::from_records(&all, kek, &wanted(&[SigningAlg::Es256])).unwrap();
    assert_eq!(kid_of(&ring, SigningAlg::Es256), newer.kid);
    assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 4);
    let old = KeyRing::from_records(records, kek, &wanted(&[SigningAlg::Es256])).unwrap();
    let token = old.sign_with(SigningAlg::Es256, &id_claims()).unwrap();
    assert_eq!(
        ring.verify_any(&token, ISSUER),
        Ok(id_claims()),
        "older keys verify"
    );
}

#[test]
fn unusable_records_are_left_out() {
    let (kek, records) = fixture();
    let mut all = records.clone();
    let mut bad_point = records[2].clone();
    bad_point.kid = "bad-ec".into();
    bad_point.public_key[0] = 0x02;
    let mut short_rsa = records[0].clone();
    short_rsa.kid = "bad-rsa".into();
    short_rsa.public_key.truncate(40);
    let mut unknown = records[1].clone();
    unknown.kid = "bad-alg".into();
    unknown.algorithm = "HS256".into();
    all.extend([bad_point, short_rsa, unknown]);
    let ring = KeyRing::from_records(&all, kek, &wanted(&[])).unwrap();
    assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 3);
    assert!(ring.verifying.read().get("bad-ec").is_none());
}

#[test]
fn a_private_key_opens_only_as_its_own_algorithm() {
    let (kek, records) = fixture();
    let mut swapped = records.clone();
    // The RS256 record now claims to be the newest Ed25519 key.
    swapped[0].algorithm = "EdDSA".into();
    swapped[0].created_at = Utc.timestamp_opt(1_900_000_000, 0).unwrap();
    assert!(KeyRing::from_records(&swapped, kek, &wanted(&[])).is_err());
    assert!(KeyRing::from_records(records, &Kek::generate(), &wanted(&[])).is_err());
    assert_eq!(
        wanted(&[SigningAlg::Rs256, SigningAlg::EdDsa, SigningAlg::Rs256]),
        [SigningAlg::EdDsa, SigningAlg::Rs256]
    );
}
