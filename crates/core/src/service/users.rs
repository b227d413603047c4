//! Creating, changing and deleting users, with the rules that guard them.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{check_profile, Actor, Aegis};
use crate::authz::{require, Capability};
use crate::error::{Error, Result};
use crate::identity::{fold, Email, Username};
use crate::password::{check_policy, Password};
use crate::pattern::Pattern;
use crate::store::{AdminGuard, Invalidation};
use crate::user::{NewUser, Role, User, UserUpdate};

/// Most users one listing returns.
pub const LIST_LIMIT: u32 = 1000;

/// A user to create.
#[derive(Debug, Clone)]
pub struct CreateUserRequest {
    /// Defaults to the email when absent.
    pub username: Option<String>,
    pub email: Option<String>,
    /// Checked against the password policy; `None` makes a user who cannot log
    /// in with a password.
    pub password: Option<String>,
    pub role: Role,
    pub profile: BTreeMap<String, String>,
}

/// An administrative change of a user.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

impl Aegis {
    /// Creates a user (admins and the operator only).
    pub async fn create_user(&self, actor: &Actor, req: CreateUserRequest) -> Result<User> {
        require(actor.rights(), Capability::Administer)?;
        let email = req.email.as_deref().map(Email::parse).transpose()?;
        let username = match (&req.username, &email) {
            (Some(u), _) => Username::parse(u)?,
            (None, Some(e)) => Username::parse(e.as_str())?,
            (None, None) => return Err(Error::invalid("username", "Username is required")),
        };
        let password_hash = match &req.password {
            Some(raw) => {
                let pw = Password::new(raw);
                check_policy(&pw, &username)?;
                Some(self.hasher.hash(&pw).await?)
            }
            None => None,
        };
        check_profile(&req.profile)?;
        let user = NewUser {
            id: Uuid::now_v7(),
            username,
            email,
            password_hash,
            profile: req.profile,
            role: req.role,
            active: true,
            verified: false,
            password_expired: false,
            phone: None,
            created_at: self.clock.now(),
        };
        self.store.insert_user(&user).await
    }

    /// Users whose email (else username) matches a wildcard pattern (admins and
    /// viewers): at most 1000, ascending, with the total number of matches.
    pub async fn list_users(&self, actor: &Actor, pattern: &str) -> Result<(Vec<User>, u64)> {
        require(actor.rights(), Capability::ReadDirectory)?;
        let pattern = Pattern::parse(pattern)?;
        self.store.list_users_matching(&pattern, LIST_LIMIT).await
    }

    /// A user by username or email (normalised before lookup).
    pub async fn find_user(&self, identifier: &str) -> Result<User> {
        let ident = fold(identifier);
        if ident.is_empty() {
            return Err(Error::NotFound("user"));
        }
        self.store
            .find_user_by_identifier(&ident)
            .await?
            .map(|(u, _)| u)
            .ok_or(Error::NotFound("user"))
    }

    /// Changes a user's role or active flag (admins only). Deactivation revokes
    /// every session at once; the user's API tokens are suspended while inactive.
    pub async fn update_user(&self, actor: &Actor, id: Uuid, change: UserChange) -> Result<User> {
        require(actor.rights(), Capability::Administer)?;
        let update = UserUpdate {
            role: change.role,
            active: change.active,
            ..Default::default()
        };
        let updated = self
            .store
            .update_user(id, &update, self.clock.now(), AdminGuard::KeepOneActive)
            .await?;
        self.changed(Invalidation::User(id)).await;
        if change.active == Some(false) {
            self.revoke_user_sessions(id, None).await?;
        }
        Ok(updated)
    }

    /// Deletes a user with every session and token (admins only).
    pub async fn delete_user(&self, actor: &Actor, id: Uuid) -> Result<()> {
        require(actor.rights(), Capability::Administer)?;
        self.store
            .delete_user(id, AdminGuard::KeepOneActive)
            .await?;
        // The cascade also removed API tokens this user minted for others,
        // which caches know only by hash: drop everything (deletions are rare).
        self.changed(Invalidation::All).await;
        Ok(())
    }
}
