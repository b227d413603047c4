//! Second factors: TOTP enrollment, recovery codes, and the check every login of
//! a user who has a factor must pass.
//!
//! A user "has a second factor" once a TOTP authenticator is confirmed or a
//! passkey is registered. From then on no login opens a session on a password
//! alone: a single-step API login must carry a current TOTP code or an unused
//! recovery code, and a missing one is [`Error::MfaRequired`].

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Aegis, Credential, Principal};
use crate::authz::{require, Capability};
use crate::error::{Error, Result};
use crate::mfa::{recovery_codes, recovery_hash, Factor, FactorKind, TotpSecret};
use crate::store::Invalidation;
use crate::user::User;

/// A TOTP secret being enrolled: shown once, enabled by its first code.
#[derive(Clone)]
pub struct TotpEnrollment {
    /// The authenticator, disabled until confirmed.
    pub id: Uuid,
    /// Base32 secret, for typing into an app.
    pub secret: String,
    /// `otpauth://` URI, for a QR code.
    pub uri: String,
}

impl std::fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrollment")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a login's second-factor check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SecondFactor {
    /// The user has no second factor.
    NotNeeded,
    /// A current TOTP code or an unused recovery code was given (and is now used).
    Passed,
    /// The user has a factor and none was given.
    Missing,
    /// The code given is wrong, replayed or already used.
    Wrong,
}

/// The user a self-service call acts for: a signed-in session, never an API token.
fn session_user(caller: &Principal) -> Result<&User> {
    require(caller.rights(), Capability::ManageSelf)?;
    match caller.credential {
        Credential::Session { .. } => Ok(&caller.user),
        Credential::ApiToken { .. } => Err(Error::Forbidden),
    }
}

impl Aegis {
    /// The caller's user, for a change of second factors: a session whose
    /// sign-in (kept by every session that replaces another) is within the
    /// last `reauth_window_s` seconds, so that a stolen session (or a stolen
    /// token) cannot swap the factors out ("sudo mode"); an older one is
    /// `Forbidden` and the user signs in again.
    pub(super) async fn recent_session_user<'a>(&self, caller: &'a Principal) -> Result<&'a User> {
        let user = session_user(caller)?;
        let Credential::Session { sid, .. } = caller.credential else {
            return Err(Error::Forbidden);
        };
        let now = self.clock.now();
        let window = i64::try_from(self.config.reauth_window_s).unwrap_or(i64::MAX);
        match self.store.find_session(sid).await? {
            Some(s) if s.is_live(now) && (now - s.created_at).num_seconds() <= window => Ok(user),
            _ => Err(Error::Forbidden),
        }
    }

    /// Every second factor of a user, enabled or not, oldest first.
    pub async fn factors(&self, user: Uuid) -> Result<Vec<Factor>> {
        self.store.factors_of(&[user]).await
    }

    /// Starts enrolling a TOTP authenticator for the caller: a new secret, kept
    /// sealed and disabled until [`Aegis::confirm_totp`] sees a code from it. An
    /// earlier enrollment that was never confirmed is dropped.
    pub async fn begin_totp(&self, caller: &Principal) -> Result<TotpEnrollment> {
        let user = self.recent_session_user(caller).await?;
        self.store
            .delete_pending_factors(user.id, FactorKind::Totp)
            .await?;
        let now = self.clock.now();
        let id = Uuid::now_v7();
        let secret = TotpSecret::generate();
        self.store
            .insert_factor(&Factor {
                id,
                user_id: user.id,
                kind: FactorKind::Totp,
                name: String::new(),
                secret: Some(secret.seal(&self.kek, id)?),
                credential: None,
                enabled: false,
                last_step: None,
                created_at: now,
                updated_at: now,
            })
            .await?;
        Ok(TotpEnrollment {
            id,
            secret: secret.base32(),
            uri: secret.uri(&self.config.issuer, user.login_key())?,
        })
    }

    /// Confirms a TOTP enrollment with a code from the authenticator app; the
    /// factor is enabled, that code's step is used up, and the user's other
    /// sessions end.
    pub async fn confirm_totp(&self, caller: &Principal, id: Uuid, code: &str) -> Result<()> {
        let user = session_user(caller)?;
        let factor = self
            .factors(user.id)
            .await?
            .into_iter()
            .find(|f| f.id == id && f.kind == FactorKind::Totp && !f.enabled)
            .ok_or(Error::NotFound("authenticator"))?;
        let secret = self.totp_secret(&factor)?;
        let step = secret
            .verify(code, self.clock.now(), None)?
            .ok_or_else(|| Error::invalid("code", "The code is not valid"))?;
        if !self
            .store
            .enable_factor(user.id, id, Some(step), self.clock.now())
            .await?
        {
            return Err(Error::NotFound("authenticator"));
        }
        // Sessions opened on the password alone end: from now on every session
        // of the user has passed the second factor (the caller's continues).
        let current = match caller.credential {
            Credential::Session { sid, .. } => Some(sid),
            Credential::ApiToken { .. } => None,
        };
        self.revoke_user_sessions(user.id, current).await?;
        self.changed(Invalidation::User(user.id)).await;
        Ok(())
    }

    /// Replaces the caller's recovery codes with a new set, returned once.
    pub async fn new_recovery_codes(&self, caller: &Principal) -> Result<Vec<String>> {
        let user = self.recent_session_user(caller).await?;
        let (codes, hashes) = recovery_codes();
        self.store
            .replace_recovery_codes(user.id, &hashes, self.clock.now())
            .await?;
        Ok(codes)
    }

    /// How many unused recovery codes the caller has.
    pub async fn recovery_codes_left(&self, caller: &Principal) -> Result<u32> {
        let user = session_user(caller)?;
        self.store.recovery_codes_left(user.id).await
    }

    /// Removes one of the caller's own second factors.
    pub async fn remove_own_factor(&self, caller: &Principal, id: Uuid) -> Result<()> {
        let user = self.recent_session_user(caller).await?;
        if !self.store.delete_factor(user.id, id).await? {
            return Err(Error::NotFound("authenticator"));
        }
        self.changed(Invalidation::User(user.id)).await;
        Ok(())
    }

    fn totp_secret(&self, factor: &Factor) -> Result<TotpSecret> {
        let sealed = factor
            .secret
            .as_deref()
            .ok_or_else(|| Error::internal("TOTP authenticator without a secret"))?;
        TotpSecret::unseal(&self.kek, factor.id, sealed)
    }

    /// The second-factor check of a login whose password was right. A TOTP code
    /// is tried against every enabled TOTP authenticator; anything else that
    /// looks like a recovery code is tried as one. Using either is final: the
    /// TOTP step and the recovery code cannot serve again.
    pub(super) async fn second_factor(
        &self,
        user: &User,
        otp: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SecondFactor> {
        let factors: Vec<Factor> = self
            .factors(user.id)
            .await?
            .into_iter()
            .filter(|f| f.enabled)
            .collect();
        if factors.is_empty() {
            return Ok(SecondFactor::NotNeeded);
        }
        let Some(otp) = otp.map(str::trim).filter(|o| !o.is_empty()) else {
            return Ok(SecondFactor::Missing);
        };
        if otp.len() > 64 {
            return Ok(SecondFactor::Wrong);
        }
        for factor in factors.iter().filter(|f| f.kind == FactorKind::Totp) {
            let secret = self.totp_secret(factor)?;
            if let Some(step) = secret.verify(otp, now, factor.last_step)? {
                if self.store.advance_factor_step(factor.id, step, now).await? {
                    return Ok(SecondFactor::Passed);
                }
            }
        }
        if let Some(hash) = recovery_hash(otp) {
            if self.store.use_recovery_code(user.id, &hash, now).await? {
                tracing::info!(user = %user.id, "recovery code used");
                return Ok(SecondFactor::Passed);
            }
        }
        Ok(SecondFactor::Wrong)
    }
}
