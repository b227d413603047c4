//! Client authentication at the token, introspection and revocation
//! endpoints (RFC 6749 §2.3, OpenID Connect Core §9): `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt`, and `none` for public clients.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::grants::OAuthError;
use crate::error::{Error, Result};
use crate::oidc::Client;
use crate::secret::{ct_eq, hash_token, sha256};
use crate::service::Aegis;

/// The only client assertion type (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest client id or secret looked at.
const MAX_CREDENTIAL: usize = 512;
/// Longest client assertion looked at.
const MAX_ASSERTION: usize = 8192;
/// Most keys a client may register.
const MAX_CLIENT_KEYS: usize = 16;
/// Longest life of a client assertion, in seconds (its `jti` is kept that
/// long): an hour, what common client libraries (authlib) sign for.
const MAX_ASSERTION_LIFE_S: i64 = 3600;

/// What a request presented to authenticate its client.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    /// From `Authorization: Basic` (already form-decoded, RFC 6749 §2.3.1).
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

/// The claims of a client assertion aegis reads.
#[derive(Deserialize)]
struct Assertion {
    sub: String,
    jti: String,
    exp: i64,
}

/// Checks a JWK set a client registers: JSON, public keys only, each one
/// usable for RS256, ES256 or EdDSA. Returns it as given.
pub(super) fn check_jwks(text: &str) -> Result<String> {
    let bad = |why: &str| Err(Error::invalid("jwks", why));
    if text.len() > super::MAX_JWKS {
        return bad("is larger than 64 KiB");
    }
    let raw: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return bad("is not JSON"),
    };
    let Some(keys) = raw["keys"].as_array() else {
        return bad("is not a JWK set");
    };
    if keys.is_empty() || keys.len() > MAX_CLIENT_KEYS {
        return bad("must hold 1 to 16 keys");
    }
    // Public keys only, of the three kinds aegis verifies with: no shared
    // secret (`oct`) and no private part.
    let secret = ["d", "k", "p", "q", "dp", "dq", "qi", "oth"];
    for key in keys {
        if secret.iter().any(|part| key.get(*part).is_some()) {
            return bad("holds a private or secret key: register the public keys only");
        }
        let kind = (key["kty"].as_str(), key["crv"].as_str());
        if !matches!(
            kind,
            (Some("RSA"), _) | (Some("EC"), Some("P-256")) | (Some("OKP"), Some("Ed25519"))
        ) {
            return bad("may hold RSA, EC P-256 and OKP Ed25519 keys only");
        }
    }
    let Ok(set) = serde_json::from_value::<JwkSet>(raw) else {
        return bad("is not a JWK set");
    };
    if set.keys.is_empty() || set.keys.iter().any(|k| DecodingKey::from_jwk(k).is_err()) {
        return bad("must hold at least one RSA, P-256 or Ed25519 public key");
    }
    Ok(text.to_owned())
}

impl Aegis {
    /// The client a request authenticates as, by exactly one method.
    /// `allow_public`: a public client may name itself (`none`) here.
    pub(super) async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
        endpoint: &str,
        allow_public: bool,
    ) -> std::result::Result<Client, OAuthError> {
        let methods = [
            creds.basic.is_some(),
            creds.client_secret.is_some(),
            creds.client_assertion.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(OAuthError::invalid_request(
                "use exactly one client authentication method",
            ));
        }
        if let Some((id, secret)) = &creds.basic {
            if creds.client_id.as_ref().is_some_and(|c| c != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the Authorization header",
                ));
            }
            return self.by_secret(id, secret).await;
        }
        let id = creds.client_id.as_deref().unwrap_or_default();
        if let Some(secret) = &creds.client_secret {
            return self.by_secret(id, secret).await;
        }
        if let Some(assertion) = &creds.client_assertion {
            if creds.client_assertion_type.as_deref() != Some(JWT_BEARER) {
                return Err(OAuthError::invalid_request(
                    "client_assertion_type must be jwt-bearer",
                ));
            }
            return self
                .by_assertion(creds.client_id.as_deref(), assertion, endpoint)
                .await;
        }
        let client = self.client_named(id).await?;
        if client.public && allow_public {
            Ok(client)
        } else {
            Err(OAuthError::invalid_client(
                "client authentication is required",
            ))
        }
    }

    async fn client_named(&self, id: &str) -> std::result::Result<Client, OAuthError> {
        if id.is_empty() || id.len() > MAX_CREDENTIAL {
            return Err(OAuthError::invalid_client("unknown client"));
        }
        self.store
            .find_client(id)
            .await?
            .ok_or_else(|| OAuthError::invalid_client("unknown client"))
    }

    /// `client_secret_basic` / `client_secret_post`: the SHA-256 of the
    /// presented secret against the stored one, in constant time.
    async fn by_secret(&self, id: &str, secret: &str) -> std::result::Result<Client, OAuthError> {
        let presented = hash_token(if secret.len() > MAX_CREDENTIAL {
            ""
        } else {
            secret
        });
        let client = self.client_named(id).await;
        let ok = match &client {
            Ok(c) => c
                .secret_hash
                .is_some_and(|stored| ct_eq(&stored, &presented) && !secret.is_empty()),
            Err(_) => {
                // the same work for an unknown client
                let _ = ct_eq(&presented, &sha256(b""));
                false
            }
        };
        match client {
            Ok(c) if ok => Ok(c),
            _ => Err(OAuthError::invalid_client("wrong client credentials")),
        }
    }

    /// `private_key_jwt` (RFC 7523 §3): signed by one of the client's
    /// registered keys, `iss` = `sub` = the client, `aud` this endpoint or
    /// the issuer, unexpired, its `jti` used once.
    async fn by_assertion(
        &self,
        named: Option<&str>,
        assertion: &str,
        endpoint: &str,
    ) -> std::result::Result<Client, OAuthError> {
        let fail = || OAuthError::invalid_client("the client assertion is not valid");
        if assertion.len() > MAX_ASSERTION {
            return Err(fail());
        }
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| fail())?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
        ) {
            return Err(fail());
        }
        // The client is the token's own `sub`, read before the signature
        // check only to find the keys that must verify it.
        let unverified: Assertion = {
            let mut v = Validation::new(header.alg);
            v.insecure_disable_signature_validation();
            v.validate_exp = false;
            v.validate_aud = false;
            jsonwebtoken::decode::<Assertion>(assertion, &DecodingKey::from_secret(&[]), &v)
                .map_err(|_| fail())?
                .claims
        };
        if named.is_some_and(|n| n != unverified.sub) {
            return Err(fail());
        }
        let client = self.client_named(&unverified.sub).await?;
        let set: JwkSet = client
            .jwks
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .ok_or_else(fail)?;
        let keys = set.keys.iter().filter(|k| {
            header.kid.is_none() || k.common.key_id.as_deref() == header.kid.as_deref()
        });
        let mut v = Validation::new(header.alg);
        v.leeway = self.config.leeway_s;
        v.set_required_spec_claims(&["exp", "iss", "sub", "aud", "jti"]);
        v.set_issuer(&[client.id.as_str()]);
        let issuer = self.config.oidc.issuer.as_str();
        v.set_audience(&[endpoint, issuer]);
        let verified = keys
            .filter_map(|k| DecodingKey::from_jwk(k).ok())
            .find_map(|key| jsonwebtoken::decode::<Assertion>(assertion, &key, &v).ok())
            .ok_or_else(fail)?
            .claims;
        if verified.sub != client.id || verified.jti.is_empty() || verified.jti.len() > 256 {
            return Err(fail());
        }
        // A short-lived assertion: its spent `jti` is kept only that long.
        let now = self.clock.now().timestamp();
        if verified.exp > now + MAX_ASSERTION_LIFE_S + self.config.leeway_s as i64 {
            return Err(OAuthError::invalid_client(
                "the client assertion must expire within an hour",
            ));
        }
        let until = chrono::DateTime::from_timestamp(verified.exp, 0).ok_or_else(fail)?;
        let key = hash_token(&format!(
            "client-assertion\0{}\0{}",
            client.id, verified.jti
        ));
        if !self.store.spend_nonce(&key, until).await? {
            return Err(fail());
        }
        Ok(client)
    }
}
