//! The OpenID Connect provider: client registration (here), the
//! authorization endpoint's decisions (`authorize`), the token endpoint and
//! client authentication (`grants`), and what tokens say and who may read
//! them (`tokens`). The protocol's HTTP shapes live in the server's `oidc`
//! module; every rule lives here.

mod authorize;
mod client_auth;
mod grants;
mod redirect;
mod request;
mod tokens;

use super::{Actor, Aegis};
use crate::authz::{require, Capability};
use crate::error::{Error, Result};
use crate::keys::SigningAlg;
use crate::oidc::{Client, Consent, Grant};
use crate::secret::{hash_token, prefixed_token, random_token};
use crate::store::Invalidation;

pub use authorize::{AuthorizeOutcome, AuthorizeParams, AuthorizeResponse, ResponseMode};
pub use client_auth::ClientCredentials;
pub use grants::{OAuthError, TokenRequest, TokenResponse};
pub use tokens::{Introspection, LogoutOutcome, LogoutRequest};

/// The `acr` of a sign-in that proved a second factor; an `acr_values`
/// naming it demands one.
pub const ACR_MFA: &str = "urn:aegis:acr:mfa";
/// The `acr` of a sign-in by password alone.
pub const ACR_PASSWORD: &str = "urn:aegis:acr:pwd";
/// The scopes aegis knows; others are ignored.
pub const SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "groups",
    "offline_access",
    "roles",
];
/// Most redirect URIs one client may register.
const MAX_URIS: usize = 32;
/// Longest client name.
const MAX_NAME: usize = 200;
/// Longest JWK set a client may register (bytes).
const MAX_JWKS: usize = 64 * 1024;
/// What every client id starts with.
const CLIENT_PREFIX: &str = "oc_";
/// What every client secret starts with.
const SECRET_PREFIX: &str = "ocs_";

/// A client to register.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// No secret; PKCE required.
    pub public: bool,
    /// Never asked for consent.
    pub first_party: bool,
    /// Empty: authorization_code and refresh_token.
    pub grants: Vec<Grant>,
    pub id_token_alg: SigningAlg,
    /// A JWK set (JSON) of the client's public keys, for `private_key_jwt`.
    pub jwks: Option<String>,
    /// The scopes `client_credentials` may grant it.
    pub scopes: Vec<String>,
}

/// A registered client and, for a confidential one, its secret (shown once).
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client: Client,
    pub secret: Option<String>,
}

impl Aegis {
    /// Registers a client (administrators).
    pub async fn create_client(&self, actor: &Actor, new: NewClient) -> Result<RegisteredClient> {
        require(actor.rights(), Capability::Administer)?;
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "name",
                "must be 1 to 200 characters, no control characters",
            ));
        }
        let mut grants = if new.grants.is_empty() {
            vec![Grant::AuthorizationCode, Grant::RefreshToken]
        } else {
            new.grants.clone()
        };
        grants.sort();
        grants.dedup();
        if new.public && grants.contains(&Grant::ClientCredentials) {
            return Err(Error::invalid(
                "grant",
                "a public client cannot use client_credentials",
            ));
        }
        let redirect_uris = redirect::check_all("redirect_uri", &new.redirect_uris, new.public)?;
        if grants.contains(&Grant::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(Error::invalid(
                "redirect_uri",
                "at least one is needed for the authorization_code grant",
            ));
        }
        let post_logout = redirect::check_all(
            "post_logout_redirect_uri",
            &new.post_logout_redirect_uris,
            new.public,
        )?;
        let jwks = match new.jwks {
            Some(_) if new.public => {
                return Err(Error::invalid(
                    "jwks",
                    "a public client has no keys to sign with",
                ))
            }
            Some(text) => Some(client_auth::check_jwks(&text)?),
            None => None,
        };
        let scopes = check_scopes(&new.scopes)?;
        let secret = (!new.public).then(|| format!("{SECRET_PREFIX}{}", random_token()));
        let now = self.clock.now();
        let client = Client {
            id: prefixed_token(CLIENT_PREFIX),
            name,
            secret_hash: secret.as_deref().map(hash_token),
            redirect_uris,
            post_logout_redirect_uris: post_logout,
            public: new.public,
            first_party: new.first_party,
            grants,
            id_token_alg: new.id_token_alg,
            jwks,
            scopes,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_client(&client).await?;
        Ok(RegisteredClient { client, secret })
    }

    /// Every client (directory readers).
    pub async fn list_clients(&self, actor: &Actor) -> Result<Vec<Client>> {
        require(actor.rights(), Capability::ReadDirectory)?;
        self.store.list_clients().await
    }

    /// Deletes a client, its consents and codes, and ends its sessions
    /// (administrators).
    pub async fn delete_client(&self, actor: &Actor, id: &str) -> Result<()> {
        require(actor.rights(), Capability::Administer)?;
        let ended = self
            .store
            .delete_client(id, self.clock.now())
            .await?
            .ok_or(Error::NotFound("client"))?;
        for sid in ended {
            self.changed(Invalidation::Session(sid)).await;
        }
        Ok(())
    }

    /// Gives a confidential client a new secret (the old one stops working at
    /// once) and returns it (administrators).
    pub async fn rotate_client_secret(&self, actor: &Actor, id: &str) -> Result<String> {
        require(actor.rights(), Capability::Administer)?;
        let mut client = self
            .store
            .find_client(id)
            .await?
            .ok_or(Error::NotFound("client"))?;
        if client.public {
            return Err(Error::invalid("client", "a public client has no secret"));
        }
        let secret = format!("{SECRET_PREFIX}{}", random_token());
        client.secret_hash = Some(hash_token(&secret));
        client.updated_at = self.clock.now();
        self.store.update_client(&client).await?;
        Ok(secret)
    }

    /// The consents a signed-in user gave, with each client's name.
    pub async fn consents_of(&self, actor: &Actor) -> Result<Vec<(Consent, String)>> {
        let Actor::Principal(p) = actor else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for consent in self.store.list_consents(p.user.id).await? {
            let name = match self.store.find_client(&consent.client_id).await? {
                Some(c) => c.name,
                None => continue,
            };
            out.push((consent, name));
        }
        Ok(out)
    }

    /// Withdraws the caller's consent to a client and ends the caller's
    /// sessions of that client; `NotFound("consent")` when there was none.
    pub async fn revoke_consent(&self, actor: &Actor, client: &str) -> Result<()> {
        let Actor::Principal(p) = actor else {
            return Err(Error::NotFound("consent"));
        };
        require(actor.rights(), Capability::ReadSelf)?;
        let ended = self
            .store
            .delete_consent(p.user.id, client, self.clock.now())
            .await?
            .ok_or(Error::NotFound("consent"))?;
        for sid in ended {
            self.changed(Invalidation::Session(sid)).await;
        }
        Ok(())
    }

    /// The issuer (the server's public URL).
    pub fn oidc_issuer(&self) -> &str {
        &self.config.oidc.issuer
    }
}

/// The scopes a service client may be granted: scope tokens (RFC 6749 §3.3),
/// at most 64 of 128 bytes, once each.
fn check_scopes(scopes: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in scopes {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if !ok {
            return Err(Error::invalid(
                "scope",
                format!("{s:?} is not a scope token"),
            ));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    if out.len() > 64 {
        return Err(Error::invalid("scope", "at most 64 may be registered"));
    }
    Ok(out)
}
