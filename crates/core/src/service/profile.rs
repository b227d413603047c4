//! Self-service: registration and changes of one's own username and password.

use std::net::IpAddr;
use std::sync::Arc;

use uuid::Uuid;

use super::auth::SessionBasis;
use super::{Aegis, Credential, Login, Principal};
use crate::authz::{require, Capability};
use crate::error::{AuthFailure, Error, Result};
use crate::identity::{Email, Username};
use crate::password::{check_length, check_policy, Password};
use crate::store::{AdminGuard, Invalidation};
use crate::throttle::account_key;
use crate::user::{NewUser, Role, User, UserUpdate};

/// A change of one's own profile; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub new_username: Option<String>,
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    /// The caller's address: a wrong current password counts against it as a
    /// failed login does.
    pub ip: Option<IpAddr>,
}

impl Aegis {
    /// Open registration: a `user` account with a session. A username that is an
    /// email address also becomes the account's email.
    pub async fn register(&self, username: &str, password: &str) -> Result<Login> {
        if !self.config.open_registration {
            return Err(Error::Forbidden);
        }
        let username = Username::parse(username)?;
        let password = Password::new(password);
        check_policy(&password, &username)?;
        let email = Email::parse(username.as_str()).ok();
        let hash = self.hasher.hash(&password).await?;
        let user = self
            .store
            .insert_user(&NewUser {
                id: Uuid::now_v7(),
                username,
                email,
                password_hash: Some(hash),
                profile: Default::default(),
                role: Role::User,
                active: true,
                verified: false,
                password_expired: false,
                phone: None,
                created_at: self.clock.now(),
            })
            .await?;
        let basis = SessionBasis::SignIn {
            second_factor: false,
        };
        self.open_session(Arc::new(user), basis).await
    }

    /// Verifies a user's current password as a throttled login attempt from
    /// `ip` would: a lock (of the account or the address) refuses it, a failure
    /// counts for both, a success clears the account's count.
    async fn check_current_password(
        &self,
        user: &User,
        raw: &str,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        let now = self.clock.now();
        let max = self.config.throttle.account_failures;
        let ip = self.admit_address(ip, now).await?;
        let key = account_key(&user.id);
        let attempt = self.admit_attempt(&key, max, now).await?;
        let stored = self.store.get_password_hash(user.id).await?;
        let verified = self
            .hasher
            .verify(&Password::new(raw), stored.as_deref())
            .await?;
        if !verified.ok {
            self.count_failed_login(&key, attempt, ip.as_deref(), now)
                .await?;
            return Err(Error::Unauthenticated(AuthFailure::InvalidCredentials));
        }
        if max > 0 {
            self.store.clear_throttle(&key).await?;
        }
        Ok(())
    }

    /// Changes one's own username and/or password, all or nothing, in the order
    /// of checks the Argon contract fixes. A password change ends every session of
    /// the user (the caller's too); either way the caller gets a fresh session
    /// that replaces its own: it keeps the caller's sign-in time, second-factor
    /// state and absolute end (a rename is not a sign-in). A user whose
    /// password has expired can change it here, but not only the username
    /// (that would hand them a session without the new password).
    pub async fn change_own_profile(
        &self,
        caller: &Principal,
        change: ProfileChange,
    ) -> Result<Login> {
        require(caller.rights(), Capability::ManageSelf)?;
        // The answer is a fresh session: an API token must not be turned into
        // one (it would skip the password and any second factor).
        let sid = match caller.credential {
            Credential::Session { sid, .. } => sid,
            Credential::ApiToken { .. } => return Err(Error::Forbidden),
        };
        if change.new_username.is_none() && change.new_password.is_none() {
            return Err(Error::invalid("profile", "Nothing to update"));
        }
        let new_username = change
            .new_username
            .as_deref()
            .map(Username::parse)
            .transpose()?;
        let new_password = change.new_password.as_deref().map(Password::new);
        if let Some(pw) = &new_password {
            check_length(pw)?;
            if change.current_password.is_none() {
                return Err(Error::invalid(
                    "currentPassword",
                    "Current password is required to change password",
                ));
            }
        }
        let user = &caller.user;
        if let Some(current) = &change.current_password {
            self.check_current_password(user, current, change.ip)
                .await?;
        }
        if user.password_expired && new_password.is_none() {
            return Err(Error::PasswordExpired);
        }
        let original = self.live_session(sid).await?;
        if let Some(name) = &new_username {
            if let Some((other, _)) = self.store.find_user_by_identifier(name.as_str()).await? {
                if other.id != user.id {
                    return Err(Error::Conflict { field: "username" });
                }
            }
        }
        let password_hash = match &new_password {
            Some(pw) => {
                check_policy(pw, new_username.as_ref().unwrap_or(&user.username))?;
                Some(self.hasher.hash(pw).await?)
            }
            None => None,
        };
        let update = UserUpdate {
            username: new_username,
            password_expired: password_hash.is_some().then_some(false),
            password_hash: password_hash.map(Some),
            ..Default::default()
        };
        let updated = self
            .store
            .update_user(user.id, &update, self.clock.now(), AdminGuard::Off)
            .await?;
        self.changed(Invalidation::User(user.id)).await;
        if update.password_hash.is_some() {
            self.revoke_user_sessions(user.id, None).await?;
        }
        let basis = SessionBasis::Replaces(original);
        self.open_session(Arc::new(updated), basis).await
    }
}

impl Aegis {
    /// Changes the caller's own password given the old one (Pangea client API):
    /// clears the expired flag and ends every *other* session of the user; the
    /// caller's session continues. API tokens cannot change passwords.
    pub async fn change_password(
        &self,
        caller: &Principal,
        old: &str,
        new: &str,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        require(caller.rights(), Capability::ManageSelf)?;
        let sid = match &caller.credential {
            Credential::Session { sid, .. } => *sid,
            Credential::ApiToken { .. } => return Err(Error::Forbidden),
        };
        let new = Password::new(new);
        check_length(&new)?;
        let user = &caller.user;
        self.check_current_password(user, old, ip).await?;
        check_policy(&new, &user.username)?;
        let update = UserUpdate {
            password_hash: Some(Some(self.hasher.hash(&new).await?)),
            password_expired: Some(false),
            ..Default::default()
        };
        self.store
            .update_user(user.id, &update, self.clock.now(), AdminGuard::Off)
            .await?;
        self.changed(Invalidation::User(user.id)).await;
        self.revoke_user_sessions(user.id, Some(sid)).await
    }
}
