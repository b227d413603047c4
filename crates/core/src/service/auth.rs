//! Logins (password, second step), sessions, refresh rotation and logout.
//! Bearer checks are in `bearer.rs`, throttling in `throttle.rs`, token
//! descriptions in `token_info.rs`, ending sessions by id in `session_admin.rs`.

use std::net::IpAddr;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use super::mfa::SecondFactor;
use super::{Aegis, Credential, Principal};

use crate::error::{AuthFailure, Error, Result};
use crate::identity::fold;
use crate::password::Password;
use crate::secret::{hash_token, prefixed_token};
use crate::session::{RefreshToken, Session};
use crate::store::{AdminGuard, Invalidation};
use crate::telemetry;
use crate::throttle::{account_key, unknown_account_key};
use crate::token::{self, AccessClaims};
use crate::user::{User, UserUpdate};

/// Longest bearer value looked at; anything longer is not ours.
pub(super) const MAX_BEARER_LEN: usize = 4096;
/// Longest login identifier looked at (bytes, before normalisation).
const MAX_IDENTIFIER_BYTES: usize = 1024;
/// Longest password looked at (bytes; the policy allows 256 characters).
const MAX_PASSWORD_BYTES: usize = 4096;
/// What every refresh token starts with.
const REFRESH_PREFIX: &str = "ptr_";
/// Minimum spacing of `last_used_at` writes for one API token.
pub(super) const TOUCH_EVERY_S: i64 = 60;

/// A password login attempt.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// Username or email, as typed.
    pub identifier: String,
    /// The password, as typed.
    pub password: String,
    /// A current TOTP code or an unused recovery code: required when the user
    /// has a second factor.
    pub otp: Option<String>,
    /// The client address, for throttling and the login record.
    pub ip: Option<IpAddr>,
}

/// Where a hosted login stands after its first step.
#[derive(Clone)]
pub enum LoginStep {
    /// Signed in.
    Done(Login),
    /// The password was right and the user has a second factor: the ticket
    /// carries the login to [`Aegis::login_second_step`].
    SecondFactor { ticket: String },
}

/// When the user's password was set (micros; 0 without one): what a ticket
/// binds so that a password change voids it.
fn password_epoch(user: &User) -> i64 {
    user.password_set_at.map_or(0, |t| t.timestamp_micros())
}

impl std::fmt::Debug for LoginStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginStep::Done(login) => f.debug_tuple("Done").field(&login.session_id).finish(),
            LoginStep::SecondFactor { .. } => f.write_str("SecondFactor { .. }"),
        }
    }
}

/// How long a second-step ticket is good for.
const TICKET_TTL_S: i64 = 300;
/// The KEK context of second-step tickets.
const TICKET_CONTEXT: &str = "login-ticket";

/// A successful login: the user and a fresh session's tokens.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: Arc<User>,
    pub session_id: Uuid,
    pub tokens: TokenPair,
}

/// What a new session stands on.
#[derive(Debug, Clone)]
pub(super) enum SessionBasis {
    /// An authentication made just now: a password, with `second_factor`
    /// when a TOTP or recovery code passed too, or a passkey (`true`).
    SignIn { second_factor: bool },
    /// Another live session, which the new one replaces or accompanies (Argon's
    /// profile change answers with a fresh token): its sign-in time,
    /// second-factor state and absolute end carry over.
    Replaces(Session),
}

/// An access token with its refresh token.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: String,
}

pub(super) fn unauthenticated(why: AuthFailure) -> Error {
    Error::Unauthenticated(why)
}

impl Aegis {
    /// Password login on any dialect: throttled per account and per client address,
    /// identical failure for unknown users, wrong passwords and inactive accounts.
    /// A user with a second factor must send its code in the same request
    /// ([`LoginRequest::otp`]); without one this is [`Error::MfaRequired`].
    pub async fn login(&self, req: LoginRequest) -> Result<Login> {
        let result = match self.password_step(req, false).await {
            Ok(LoginStep::Done(login)) => Ok(login),
            Ok(LoginStep::SecondFactor { .. }) => Err(Error::MfaRequired),
            Err(e) => Err(e),
        };
        telemetry::login("password", telemetry::login_outcome(&result));
        result
    }

    /// The hosted login's first step: like [`Aegis::login`], but a user with a
    /// second factor and no code in the request gets a ticket for
    /// [`Aegis::login_second_step`] instead of an error.
    pub async fn login_first_step(&self, req: LoginRequest) -> Result<LoginStep> {
        let result = self.password_step(req, true).await;
        let outcome = match &result {
            Ok(LoginStep::SecondFactor { .. }) => "second_factor",
            other => telemetry::login_outcome(other),
        };
        telemetry::login("password", outcome);
        result
    }

    /// The hosted login's second step: a ticket from the first step (valid for
    /// five minutes) and a TOTP or recovery code. Throttled like the first step;
    /// every failure is the same `InvalidCredentials`.
    pub async fn login_second_step(
        &self,
        ticket: &str,
        otp: &str,
        ip: Option<IpAddr>,
    ) -> Result<Login> {
        let result = self.second_step(ticket, otp, ip).await;
        telemetry::login("second_step", telemetry::login_outcome(&result));
        result
    }

    async fn second_step(&self, ticket: &str, otp: &str, ip: Option<IpAddr>) -> Result<Login> {
        let now = self.clock.now();
        let limits = &self.config.throttle;
        let fail = || unauthenticated(AuthFailure::InvalidCredentials);
        let ip_key = self.admit_address(ip, now).await?;
        let Some((user_id, epoch)) = self.open_ticket(ticket, now) else {
            return Err(fail());
        };
        // A password changed since the first step voids the ticket.
        let user = match self.store.find_user(user_id).await? {
            Some(user) if user.active && password_epoch(&user) == epoch => user,
            _ => return Err(fail()),
        };
        let acct = account_key(&user.id);
        let attempt = self
            .admit_attempt(&acct, limits.account_failures, now)
            .await?;
        let factor = self.second_factor(&user, Some(otp), now).await?;
        match factor {
            SecondFactor::NotNeeded | SecondFactor::Passed => {
                // A ticket opens one session: used once, it is spent.
                let until = now + Duration::seconds(TICKET_TTL_S);
                if !self.store.spend_nonce(&hash_token(ticket), until).await? {
                    return Err(fail());
                }
                let proved = factor == SecondFactor::Passed;
                self.finish_login(user, &acct, ip, now, None, proved).await
            }
            SecondFactor::Missing | SecondFactor::Wrong => {
                self.count_failed_login(&acct, attempt, ip_key.as_deref(), now)
                    .await?;
                Err(fail())
            }
        }
    }

    async fn password_step(&self, req: LoginRequest, ticket: bool) -> Result<LoginStep> {
        let now = self.clock.now();
        let limits = &self.config.throttle;
        let fail = || unauthenticated(AuthFailure::InvalidCredentials);
        let ip = self.admit_address(req.ip, now).await?;
        // Over-long input names no account and is no acceptable password:
        // refuse it without normalising or storing it (same answer, same cost).
        let oversize =
            req.identifier.len() > MAX_IDENTIFIER_BYTES || req.password.len() > MAX_PASSWORD_BYTES;
        let ident = if oversize {
            String::new()
        } else {
            fold(&req.identifier)
        };
        let found = if ident.is_empty() {
            None
        } else {
            self.store.find_user_by_identifier(&ident).await?
        };
        let acct = match &found {
            Some((user, _)) => account_key(&user.id),
            None => unknown_account_key(&ident),
        };
        // The attempt is counted before the slow hash, so concurrent guesses
        // cannot all pass the lock check; a success clears the count.
        let attempt = self
            .admit_attempt(&acct, limits.account_failures, now)
            .await?;
        let password = Password::new(if oversize { "" } else { &req.password });
        let stored = found.as_ref().and_then(|(_, h)| h.as_deref());
        let verified = self.hasher.verify(&password, stored).await?;
        let user = match found {
            Some((user, _)) if verified.ok && user.active => user,
            _ => {
                self.count_failed_login(&acct, attempt, ip.as_deref(), now)
                    .await?;
                return Err(fail());
            }
        };
        // A right password is not enough for a user with a second factor. A
        // missing code says so (or gets a ticket for the hosted second step),
        // but still counts as a failed attempt until the second factor passes:
        // the answer would otherwise confirm passwords without limit.
        let factor = self.second_factor(&user, req.otp.as_deref(), now).await?;
        match factor {
            SecondFactor::NotNeeded | SecondFactor::Passed => {}
            SecondFactor::Missing => {
                // Counted for the account only: a client address signing in
                // many users with second factors is not guessing passwords.
                self.count_failed_login(&acct, attempt, None, now).await?;
                if ticket {
                    let ticket = self.seal_ticket(&user, now)?;
                    return Ok(LoginStep::SecondFactor { ticket });
                }
                return Err(Error::MfaRequired);
            }
            SecondFactor::Wrong => {
                self.count_failed_login(&acct, attempt, ip.as_deref(), now)
                    .await?;
                return Err(fail());
            }
        }
        let rehash = verified.needs_rehash.then_some(&password);
        let proved = factor == SecondFactor::Passed;
        let login = self
            .finish_login(user, &acct, req.ip, now, rehash, proved)
            .await?;
        Ok(LoginStep::Done(login))
    }

    /// Every factor passed: clears the failure count, records the login and
    /// opens the session.
    pub(super) async fn finish_login(
        &self,
        user: User,
        acct: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
        rehash: Option<&Password>,
        second_factor: bool,
    ) -> Result<Login> {
        let fail = || unauthenticated(AuthFailure::InvalidCredentials);
        if self.config.throttle.account_failures > 0 {
            self.store.clear_throttle(acct).await?;
        }
        // The password is right but must be replaced first: no session. The
        // user changes it from a session they already hold (Argon profile,
        // Pangea client/password/change) or through the hosted login.
        if user.password_expired {
            return Err(Error::PasswordExpired);
        }
        let ip_text = ip.map(|ip| ip.to_string());
        match self
            .store
            .record_login(user.id, now, ip_text.as_deref())
            .await
        {
            Err(Error::NotFound(_)) => return Err(fail()), // deleted meanwhile
            other => other?,
        }
        if let Some(password) = rehash {
            self.rehash(user.id, password).await;
        }
        self.changed(Invalidation::User(user.id)).await;
        let basis = SessionBasis::SignIn { second_factor };
        let login = match self.open_session(Arc::new(user), basis).await {
            Err(Error::NotFound(_)) => return Err(fail()),
            other => other?,
        };
        // A deactivation that ran while we hashed revoked every session but
        // could not see this one: look again now that it exists.
        match self.store.find_user(login.user.id).await? {
            Some(u) if u.active => Ok(login),
            _ => {
                self.revoke_session(login.session_id).await?;
                Err(fail())
            }
        }
    }

    /// A second-step ticket: the user, an expiry and the age of the password
    /// that was checked, sealed under the KEK.
    fn seal_ticket(&self, user: &User, now: DateTime<Utc>) -> Result<String> {
        let until = (now + Duration::seconds(TICKET_TTL_S)).timestamp();
        let plain = [
            user.id.as_bytes().as_slice(),
            &until.to_be_bytes(),
            &password_epoch(user).to_be_bytes(),
        ]
        .concat();
        Ok(URL_SAFE_NO_PAD.encode(self.kek.seal(TICKET_CONTEXT, &plain)?))
    }

    /// The user and password age of a ticket still valid at `now`.
    fn open_ticket(&self, ticket: &str, now: DateTime<Utc>) -> Option<(Uuid, i64)> {
        if ticket.len() > 256 {
            return None;
        }
        let sealed = URL_SAFE_NO_PAD.decode(ticket).ok()?;
        let plain = self.kek.open(TICKET_CONTEXT, &sealed).ok()?;
        let (user, rest) = plain.split_at_checked(16)?;
        let (until, epoch) = rest.split_at_checked(8)?;
        let until = i64::from_be_bytes(until.try_into().ok()?);
        let epoch = i64::from_be_bytes(epoch.try_into().ok()?);
        if now.timestamp() >= until {
            return None;
        }
        Some((Uuid::from_slice(user).ok()?, epoch))
    }

    /// Upgrades a stored hash to the current parameters; best effort (a busy
    /// hasher or a failed write leaves the old, still valid hash).
    async fn rehash(&self, id: Uuid, password: &Password) {
        let result = async {
            let hash = self.hasher.hash(password).await?;
            let update = UserUpdate {
                password_hash: Some(Some(hash)),
                ..Default::default()
            };
            self.store
                .update_user(id, &update, self.clock.now(), AdminGuard::Off)
                .await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not upgrade a password hash");
        }
    }

    /// Opens a session. Only a real authentication ([`SessionBasis::SignIn`])
    /// starts a new sign-in; a session that replaces another keeps its
    /// sign-in time, second-factor state and absolute end, so that renaming
    /// oneself (or any other path that hands out a fresh token) never makes
    /// an old or stolen session "recent" or longer-lived. No session is issued
    /// to an inactive user or to one whose password has expired.
    pub(super) async fn open_session(&self, user: Arc<User>, basis: SessionBasis) -> Result<Login> {
        if !user.active {
            return Err(unauthenticated(AuthFailure::InvalidCredentials));
        }
        if user.password_expired {
            return Err(Error::PasswordExpired);
        }
        let now = self.clock.now();
        let (created_at, expires_at, second_factor) = match basis {
            SessionBasis::SignIn { second_factor } => (
                now,
                now + Duration::seconds(self.config.session_max_s as i64),
                second_factor,
            ),
            SessionBasis::Replaces(old) => {
                if !old.is_live(now) || old.user_id != user.id {
                    return Err(unauthenticated(AuthFailure::Revoked));
                }
                (old.created_at, old.expires_at, old.second_factor)
            }
        };
        let session = Session {
            id: Uuid::now_v7(),
            user_id: user.id,
            created_at,
            expires_at,
            revoked_at: None,
            second_factor,
            client_id: None,
            scopes: Vec::new(),
            parent_id: None,
        };
        let (refresh_token, refresh) = self.new_refresh_token(&session, now);
        self.store.insert_session(&session, &refresh).await?;
        let (access_token, access_expires_at) = self.issue_access(&user, session.id, now)?;
        Ok(Login {
            user,
            session_id: session.id,
            tokens: TokenPair {
                access_token,
                access_expires_at,
                refresh_token,
            },
        })
    }

    /// The live session a session credential names: what a replacement of it
    /// stands on.
    pub(super) async fn live_session(&self, sid: Uuid) -> Result<Session> {
        let now = self.clock.now();
        self.store
            .find_session(sid)
            .await?
            .filter(|s| s.is_live(now))
            .ok_or(unauthenticated(AuthFailure::Revoked))
    }

    pub(super) fn new_refresh_token(
        &self,
        session: &Session,
        now: DateTime<Utc>,
    ) -> (String, RefreshToken) {
        // Pangea's refresh-token form (pangea-authn §5.1), for every dialect:
        // opaque, 160 random bits.
        let secret = prefixed_token(REFRESH_PREFIX);
        let expires = now + Duration::seconds(self.config.refresh_ttl_s as i64);
        let record = RefreshToken {
            hash: hash_token(&secret),
            session_id: session.id,
            created_at: now,
            expires_at: expires.min(session.expires_at),
            used_at: None,
        };
        (secret, record)
    }

    pub(super) fn issue_access(
        &self,
        user: &User,
        sid: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>)> {
        let exp = now.timestamp() + self.config.access_ttl_s as i64;
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: user.id,
            sid,
            jti: Uuid::now_v7(),
            iat: now.timestamp(),
            exp,
            username: user.username.as_str().to_owned(),
            id: user.num_id,
        };
        let token = token::sign(&self.keys, &claims)?;
        Ok((token, epoch(exp)))
    }

    /// Exchanges a refresh token for a new access token (and, with rotation, a new
    /// refresh token). Reuse of a rotated-out token revokes its whole session.
    /// `access_token`, if given, must be a genuine session token (expiry ignored)
    /// of the same user. Rotation as configured (`refresh_rotation`).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        access_token: Option<&str>,
    ) -> Result<TokenPair> {
        self.refresh_rotating(refresh_token, access_token, self.config.refresh_rotation)
            .await
    }

    /// [`Aegis::refresh`] with rotation on or off whatever `refresh_rotation`
    /// says: for a dialect with a setting of its own (aiohttp's).
    pub async fn refresh_rotating(
        &self,
        refresh_token: &str,
        access_token: Option<&str>,
        rotate: bool,
    ) -> Result<TokenPair> {
        let invalid = || unauthenticated(AuthFailure::InvalidRefreshToken);
        let subject = match access_token.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) if t.len() <= MAX_BEARER_LEN => Some(self.verified_claims(t).await?.sub),
            Some(_) => return Err(unauthenticated(AuthFailure::Malformed)),
            None => None,
        };
        if refresh_token.is_empty() || refresh_token.len() > MAX_BEARER_LEN {
            return Err(invalid());
        }
        let now = self.clock.now();
        let hash = hash_token(refresh_token);
        let record = self
            .store
            .find_refresh_token(&hash)
            .await?
            .ok_or_else(invalid)?;
        if record.used_at.is_some() && rotate {
            tracing::warn!(session = %record.session_id, "refresh token reused: revoking its session");
            self.revoke_session(record.session_id).await?;
            return Err(invalid());
        }
        if record.expires_at <= now {
            return Err(invalid());
        }
        // A relying party's refresh token is refreshed at the token endpoint only.
        let session = self
            .store
            .find_session(record.session_id)
            .await?
            .filter(|s| s.is_live(now) && s.client_id.is_none())
            .ok_or_else(invalid)?;
        let user = self
            .user_state(session.user_id)
            .await?
            .filter(|u| u.active)
            .ok_or_else(invalid)?;
        if subject.is_some_and(|s| s != user.id) {
            return Err(invalid());
        }
        let refresh_token = if rotate {
            let (secret, next) = self.new_refresh_token(&session, now);
            let won = match self.store.use_refresh_token(&hash, now, Some(&next)).await {
                Err(Error::NotFound(_)) => return Err(invalid()), // session deleted meanwhile
                other => other?,
            };
            if !won {
                // Another request used it first: that is reuse too.
                self.revoke_session(session.id).await?;
                return Err(invalid());
            }
            secret
        } else {
            refresh_token.to_owned()
        };
        let (access_token, access_expires_at) = self.issue_access(&user, session.id, now)?;
        Ok(TokenPair {
            access_token,
            access_expires_at,
            refresh_token,
        })
    }

    /// Ends the presented credential: a session (with its refresh family) or an
    /// API token. Other sessions of the user are untouched.
    pub async fn logout(&self, principal: &Principal) -> Result<()> {
        match &principal.credential {
            Credential::Session { sid, .. } => self.revoke_session(*sid).await,
            Credential::ApiToken { id, hash, .. } => {
                self.store.delete_api_token(*id).await?;
                self.changed(Invalidation::ApiToken(*hash)).await;
                Ok(())
            }
        }
    }

    pub(super) async fn revoke_session(&self, sid: Uuid) -> Result<()> {
        self.store.revoke_session(sid, self.clock.now()).await?;
        self.changed(Invalidation::Session(sid)).await;
        Ok(())
    }

    /// Revokes every session of a user except `except`.
    pub(super) async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        except: Option<Uuid>,
    ) -> Result<()> {
        let ids = self
            .store
            .revoke_user_sessions(user_id, except, self.clock.now())
            .await?;
        for sid in ids {
            self.changed(Invalidation::Session(sid)).await;
        }
        Ok(())
    }
}

pub(super) fn epoch(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}
