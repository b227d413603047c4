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
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::{Aegis, Credential, Login, Principal};
use crate::config::PasskeyConfig;
use crate::error::{AuthFailure, Error, Result};
use crate::identity::fold;
use crate::mfa::{Factor, FactorKind};
use crate::secret::sha256;
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

/// What a ceremony's sealed state holds besides webauthn-rs's own: whom it
/// is for (a registration: the user; a sign-in: the identifier typed, folded,
/// or none for a usernameless one) and until when.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed<T> {
    /// Unix seconds.
    until: i64,
    /// A registration's user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<Uuid>,
    /// A sign-in's identifier, folded (empty: any account's passkey).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    identifier: String,
    state: T,
}

impl Aegis {
    /// Seals a ceremony's state under the KEK: one base64url text, nothing in
    /// the clear, so there is exactly one spelling of it.
    fn seal_ceremony<T: serde::Serialize>(
        &self,
        kind: &str,
        user: Option<Uuid>,
        identifier: String,
        state: T,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let sealed = Sealed {
            until: (now + Duration::seconds(CEREMONY_S)).timestamp(),
            user,
            identifier,
            state,
        };
        let body = serde_json::to_vec(&sealed).map_err(|e| Error::internal(e.to_string()))?;
        let bytes = self.kek.seal(&format!("passkey-{kind}"), &body)?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A sealed ceremony still valid at `now`, spent: single use is keyed on
    /// the sealed bytes (which hold the challenge), not on their text, so no
    /// other spelling of the same state can be used again. `None` when it does
    /// not open, has expired or was used.
    async fn spend_ceremony<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Sealed<T>>> {
        if text.len() > MAX_RESPONSE {
            return Ok(None);
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(text) else {
            return Ok(None);
        };
        let Ok(plain) = self.kek.open(&format!("passkey-{kind}"), &bytes) else {
            return Ok(None);
        };
        let Ok(sealed) = serde_json::from_slice::<Sealed<T>>(&plain) else {
            return Ok(None);
        };
        if now.timestamp() >= sealed.until {
            return Ok(None);
        }
        let until = now + Duration::seconds(CEREMONY_S);
        if !self.store.spend_nonce(&sha256(&bytes), until).await? {
            return Ok(None);
        }
        Ok(Some(sealed))
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
        let mut options =
            serde_json::to_value(options).map_err(|e| Error::internal(e.to_string()))?;
        // A discoverable credential (resident key), so the browser can offer
        // it for a sign-in that names no account. webauthn-rs asks for none;
        // its finish step does not depend on the choice.
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection["residentKey"] = Value::from("required");
            selection["requireResidentKey"] = Value::from(true);
        }
        Ok(PasskeyCeremony {
            options,
            state: self.seal_ceremony(
                "reg",
                Some(user.id),
                String::new(),
                state,
                self.clock.now(),
            )?,
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
        if response.len() > MAX_RESPONSE {
            return Err(bad());
        }
        let sealed: Sealed<PasskeyRegistration> = self
            .spend_ceremony("reg", state, now)
            .await?
            .filter(|s| s.user == Some(user.id))
            .ok_or_else(bad)?;
        let state = sealed.state;
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

    /// Begins a passkey sign-in. The browser picks a discoverable passkey
    /// (no account is named to it), so the answer is the same for every
    /// identifier, known or not, with or without passkeys: nothing is looked
    /// up here. An identifier typed on the page is sealed into the ceremony,
    /// and the sign-in then succeeds only as that account.
    pub async fn begin_passkey_login(&self, identifier: &str) -> Result<PasskeyCeremony> {
        let identifier = if identifier.len() > 1024 {
            // Names no account (no identifier holds a NUL): the finish step
            // refuses it without a lookup.
            "\u{0}".to_owned()
        } else {
            fold(identifier)
        };
        let (options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| Error::internal(format!("passkey sign-in: {e}")))?;
        let mut options =
            serde_json::to_value(options).map_err(|e| Error::internal(e.to_string()))?;
        // webauthn-rs marks this for conditional UI (autofill); the page asks
        // on a button instead.
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        Ok(PasskeyCeremony {
            options,
            state: self.seal_ceremony("auth", None, identifier, state, self.clock.now())?,
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
        // A ceremony serves once: an answer replayed with it opens nothing.
        let Some(sealed) = self
            .spend_ceremony::<DiscoverableAuthentication>("auth", state, now)
            .await?
        else {
            return Err(failed());
        };
        let answer = serde_json::from_str::<PublicKeyCredential>(response)
            .ok()
            .filter(|_| response.len() <= MAX_RESPONSE);
        // The account is the one the passkey names (its user handle is the
        // user id it was registered with), and the one typed, if any.
        let named = answer
            .as_ref()
            .and_then(|a| self.webauthn.identify_discoverable_authentication(a).ok())
            .map(|(user, _)| user);
        let user = match named {
            Some(id) => self.store.find_user(id).await?,
            None => None,
        };
        let user = match user {
            Some(u) if u.active && self.names(&sealed.identifier, &u).await? => u,
            _ => {
                if let Some(key) = &ip_key {
                    self.count_failure(key, limits.ip_failures, now).await?;
                }
                return Err(failed());
            }
        };
        let acct = account_key(&user.id);
        let attempt = self
            .admit_attempt(&acct, limits.account_failures, now)
            .await?;
        let keys = self.passkeys_of(user.id).await?;
        let discoverable: Vec<DiscoverableKey> =
            keys.iter().map(|(_, k)| DiscoverableKey::from(k)).collect();
        let verified = answer
            .as_ref()
            .filter(|_| !discoverable.is_empty())
            .and_then(|a| {
                self.webauthn
                    .finish_discoverable_authentication(a, sealed.state, &discoverable)
                    .ok()
            });
        let Some(result) = verified else {
            self.count_failed_login(&acct, attempt, ip_key.as_deref(), now)
                .await?;
            return Err(failed());
        };
        // Keep the signature counter: an answer replayed (or made by a cloned
        // authenticator) with a counter that did not move on is refused next time.
        for (factor, mut key) in keys {
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

    /// True when a sign-in bound to `identifier` (folded; empty: none) may
    /// finish as `user`.
    async fn names(&self, identifier: &str, user: &crate::user::User) -> Result<bool> {
        if identifier.is_empty() {
            return Ok(true);
        }
        // Text no identifier may hold (a NUL, an over-long one sealed as a
        // NUL at the start) names nobody: nothing to look up.
        if !identifier.chars().all(crate::identity::visible) {
            return Ok(false);
        }
        Ok(self
            .store
            .find_user_by_identifier(identifier)
            .await?
            .is_some_and(|(u, _)| u.id == user.id))
    }
}
