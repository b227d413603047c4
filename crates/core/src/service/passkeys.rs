//! Passkeys (WebAuthn, through webauthn-rs): registration from a recent session,
//! and sign-in with a passkey alone (no password: a passkey is possession and
//! user verification in one).
//!
//! A ceremony's state travels with the browser, sealed under the KEK and bound
//! to its user and kind, valid for five minutes, so any instance can finish
//! what another began. A passkey is a second factor too: a user who has one
//! cannot sign in through a single-step API login with a password alone.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::{Aegis, Credential, Login, Principal};
use crate::config::PasskeyConfig;
use crate::error::{AuthFailure, Error, Result};
use crate::identity::fold;
use crate::mfa::{Factor, FactorKind};
use crate::secret::hash_token;
use crate::store::Invalidation;
use crate::throttle::account_key;

/// How long a ceremony may take.
const CEREMONY_S: i64 = 300;
/// Longest passkey name.
const MAX_NAME: usize = 64;
/// Longest credential response looked at.
const MAX_RESPONSE: usize = 64 * 1024;

/// A ceremony begun: the options for `navigator.credentials.create/get` and
/// the sealed state to send back with the browser's answer.
#[derive(Clone)]
pub struct PasskeyCeremony {
    pub options: Value,
    pub state: String,
}

impl std::fmt::Debug for PasskeyCeremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasskeyCeremony { .. }")
    }
}

/// The relying party of a configuration.
pub(crate) fn relying_party(config: &PasskeyConfig) -> Result<Webauthn> {
    let origin = Url::parse(&config.origin)
        .map_err(|_| Error::invalid("passkeys.origin", "is not a URL"))?;
    WebauthnBuilder::new(&config.rp_id, &origin)
        .and_then(|b| b.rp_name("aegis").build())
        .map_err(|_| {
            Error::invalid(
                "passkeys.rp_id",
                "must be a domain that the origin's host is or is under",
            )
        })
}

fn failed() -> Error {
    Error::Unauthenticated(AuthFailure::InvalidCredentials)
}

impl Aegis {
    fn seal_ceremony(
        &self,
        kind: &str,
        user: Uuid,
        state: &impl serde::Serialize,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let until = (now + Duration::seconds(CEREMONY_S)).timestamp();
        let body = serde_json::to_vec(state).map_err(|e| Error::internal(e.to_string()))?;
        let plain = [until.to_be_bytes().as_slice(), &body].concat();
        let sealed = self.kek.seal(&format!("passkey-{kind}:{user}"), &plain)?;
        Ok(format!(
            "{}.{}",
            user.simple(),
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    /// The user and state of a sealed ceremony still valid at `now`.
    fn open_ceremony<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        sealed: &str,
        now: DateTime<Utc>,
    ) -> Option<(Uuid, T)> {
        if sealed.len() > MAX_RESPONSE {
            return None;
        }
        let (user, body) = sealed.split_once('.')?;
        let user = Uuid::try_parse(user).ok()?;
        let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
        let plain = self
            .kek
            .open(&format!("passkey-{kind}:{user}"), &bytes)
            .ok()?;
        let (until, state) = plain.split_at_checked(8)?;
        let until = i64::from_be_bytes(until.try_into().ok()?);
        if now.timestamp() >= until {
            return None;
        }
        Some((user, serde_json::from_slice(state).ok()?))
    }

    /// The stored passkeys of a user (enabled ones).
    async fn passkeys_of(&self, user: Uuid) -> Result<Vec<(Factor, Passkey)>> {
        Ok(self
            .factors(user)
            .await?
            .into_iter()
            .filter(|f| f.kind == FactorKind::Passkey && f.enabled)
            .filter_map(|f| {
                let key = serde_json::from_str(f.credential.as_deref()?).ok()?;
                Some((f, key))
            })
            .collect())
    }

    /// Begins registering a passkey for the caller (a session signed in within
    /// the last `web.reauth_window_s` seconds).
    pub async fn begin_passkey_registration(&self, caller: &Principal) -> Result<PasskeyCeremony> {
        let user = self.recent_session_user(caller).await?;
        let exclude = self
            .passkeys_of(user.id)
            .await?
            .iter()
            .map(|(_, k)| k.cred_id().clone())
            .collect();
        let name = user.login_key();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(user.id, name, name, Some(exclude))
            .map_err(|e| Error::internal(format!("passkey registration: {e}")))?;
        Ok(PasskeyCeremony {
            options: serde_json::to_value(options).map_err(|e| Error::internal(e.to_string()))?,
            state: self.seal_ceremony("reg", user.id, &state, self.clock.now())?,
        })
    }

    /// Finishes a registration with the browser's answer (JSON); the passkey is
    /// stored under `name`, and the user's other sessions end (as for TOTP).
    pub async fn finish_passkey_registration(
        &self,
        caller: &Principal,
        state: &str,
        response: &str,
        name: &str,
    ) -> Result<()> {
        let user = self.recent_session_user(caller).await?;
        let now = self.clock.now();
        let bad = || Error::invalid("passkey", "The passkey could not be registered");
        let sealed = state;
        let (owner, state): (Uuid, PasskeyRegistration) =
            self.open_ceremony("reg", sealed, now).ok_or_else(bad)?;
        if owner != user.id || response.len() > MAX_RESPONSE {
            return Err(bad());
        }
        let until = now + Duration::seconds(CEREMONY_S);
        if !self.store.spend_nonce(&hash_token(sealed), until).await? {
            return Err(bad());
        }
        let name = name.trim();
        if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "name",
                "A passkey name is at most 64 characters",
            ));
        }
        let response: RegisterPublicKeyCredential =
            serde_json::from_str(response).map_err(|_| bad())?;
        let key = self
            .webauthn
            .finish_passkey_registration(&response, &state)
            .map_err(|e| {
                tracing::info!(error = %e, "passkey registration refused");
                bad()
            })?;
        let id = Uuid::now_v7();
        self.store
            .insert_factor(&Factor {
                id,
                user_id: user.id,
                kind: FactorKind::Passkey,
                name: name.to_owned(),
                secret: None,
                credential: Some(
                    serde_json::to_string(&key).map_err(|e| Error::internal(e.to_string()))?,
                ),
                enabled: true,
                last_step: None,
                created_at: now,
                updated_at: now,
            })
            .await?;
        let current = match caller.credential {
            Credential::Session { sid, .. } => Some(sid),
            Credential::ApiToken { .. } => None,
        };
        self.revoke_user_sessions(user.id, current).await?;
        self.changed(Invalidation::User(user.id)).await;
        Ok(())
    }

    /// Begins a passkey sign-in for the account `identifier` names. An unknown
    /// account and one without a passkey get the same refusal.
    pub async fn begin_passkey_login(&self, identifier: &str) -> Result<PasskeyCeremony> {
        let ident = fold(identifier);
        if ident.is_empty() || identifier.len() > 1024 {
            return Err(failed());
        }
        let Some((user, _)) = self.store.find_user_by_identifier(&ident).await? else {
            return Err(failed());
        };
        let keys: Vec<Passkey> = self
            .passkeys_of(user.id)
            .await?
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        if keys.is_empty() || !user.active {
            return Err(failed());
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(|e| Error::internal(format!("passkey sign-in: {e}")))?;
        Ok(PasskeyCeremony {
            options: serde_json::to_value(options).map_err(|e| Error::internal(e.to_string()))?,
            state: self.seal_ceremony("auth", user.id, &state, self.clock.now())?,
        })
    }

    /// Finishes a passkey sign-in: a session, with no password asked. Throttled
    /// and recorded like every other login.
    pub async fn finish_passkey_login(
        &self,
        state: &str,
        response: &str,
        ip: Option<IpAddr>,
    ) -> Result<Login> {
        let result = self.passkey_login(state, response, ip).await;
        crate::telemetry::login("passkey", crate::telemetry::login_outcome(&result));
        result
    }

    async fn passkey_login(
        &self,
        state: &str,
        response: &str,
        ip: Option<IpAddr>,
    ) -> Result<Login> {
        let now = self.clock.now();
        let limits = &self.config.throttle;
        let ip_key = self.admit_address(ip, now).await?;
        let (user_id, ceremony): (Uuid, PasskeyAuthentication) =
            self.open_ceremony("auth", state, now).ok_or_else(failed)?;
        // A ceremony serves once: an answer replayed with it opens nothing.
        let until = now + Duration::seconds(CEREMONY_S);
        if !self.store.spend_nonce(&hash_token(state), until).await? {
            return Err(failed());
        }
        let state = ceremony;
        let user = match self.store.find_user(user_id).await? {
            Some(user) if user.active => user,
            _ => return Err(failed()),
        };
        let acct = account_key(&user.id);
        let attempt = self
            .admit_attempt(&acct, limits.account_failures, now)
            .await?;
        let verified = serde_json::from_str::<PublicKeyCredential>(response)
            .ok()
            .filter(|_| response.len() <= MAX_RESPONSE)
            .and_then(|r| self.webauthn.finish_passkey_authentication(&r, &state).ok());
        let Some(result) = verified else {
            self.count_failed_login(&acct, attempt, ip_key.as_deref(), now)
                .await?;
            return Err(failed());
        };
        // Keep the signature counter: an answer replayed (or made by a cloned
        // authenticator) with a counter that did not move on is refused next time.
        for (factor, mut key) in self.passkeys_of(user.id).await? {
            if key.cred_id() == result.cred_id() && key.update_credential(&result) == Some(true) {
                let stored =
                    serde_json::to_string(&key).map_err(|e| Error::internal(e.to_string()))?;
                self.store
                    .update_factor_credential(factor.id, &stored, now)
                    .await?;
            }
        }
        self.finish_login(user, &acct, ip, now, None, true).await
    }
}
