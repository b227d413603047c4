//! The user record every dialect reads, and the role ladder.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;
use crate::identity::{Email, Username};

/// A user's role. Ranked `admin` > `user` > `view`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only access to other users and tokens.
    View,
    /// An ordinary self-service account.
    User,
    /// Full administration.
    Admin,
}

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::View => 0,
            Role::User => 1,
            Role::Admin => 2,
        }
    }

    /// The lower-ranked of two roles.
    pub fn min(self, other: Role) -> Role {
        if self.rank() <= other.rank() {
            self
        } else {
            other
        }
    }

    /// True when `self` ranks at or above `other`.
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::View => "view",
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "view" => Ok(Role::View),
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            _ => Err(Error::invalid(
                "role",
                "Role must be one of admin, view, user",
            )),
        }
    }
}

/// A user as stored, without credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Stable UUIDv7 identity.
    pub id: Uuid,
    /// Positive numeric id, assigned at creation and never reused.
    pub num_id: i64,
    /// Normalised username (unique across usernames and emails).
    pub username: Username,
    /// Normalised email, if any (unique across usernames and emails).
    pub email: Option<Email>,
    /// Free-form string profile.
    pub profile: BTreeMap<String, String>,
    /// Role.
    pub role: Role,
    /// Inactive users cannot log in and their credentials do not work.
    pub active: bool,
    /// Email verified.
    pub verified: bool,
    /// The password must be changed before the next password login completes.
    pub password_expired: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change time.
    pub updated_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Client address of the last successful login.
    pub last_login_ip: Option<String>,
    /// Number of successful logins.
    pub login_count: i64,
    /// Phone number (E.164), if any.
    pub phone: Option<String>,
    /// When the current password was set; `None` when the user has no password.
    pub password_set_at: Option<DateTime<Utc>>,
}

impl User {
    /// The identifier other systems key on: the email, else the username.
    pub fn login_key(&self) -> &str {
        self.email
            .as_ref()
            .map(Email::as_str)
            .unwrap_or(self.username.as_str())
    }
}

/// A user to insert; `num_id` is assigned by the store.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub username: Username,
    pub email: Option<Email>,
    pub password_hash: Option<String>,
    pub profile: BTreeMap<String, String>,
    pub role: Role,
    pub active: bool,
    pub verified: bool,
    pub password_expired: bool,
    /// Phone number (E.164), if any.
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl NewUser {
    /// The keys of the identifier table the user holds and probes: its
    /// username and email, and their confusable skeletons (see
    /// [`crate::identity::IdentifierKeys`]).
    pub fn identifier_keys(&self) -> crate::identity::IdentifierKeys<'_> {
        crate::identity::IdentifierKeys::of_user(
            self.username.as_str(),
            self.email.as_ref().map(Email::as_str),
        )
    }
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub username: Option<Username>,
    pub email: Option<Option<Email>>,
    /// `Some(None)` removes the password; setting one also sets `password_set_at`.
    pub password_hash: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub profile: Option<BTreeMap<String, String>>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub verified: Option<bool>,
    pub password_expired: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ranking() {
        assert_eq!(Role::Admin.min(Role::View), Role::View);
        assert_eq!(Role::User.min(Role::Admin), Role::User);
        assert!(Role::Admin.at_least(Role::User));
        assert!(!Role::View.at_least(Role::User));
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
    }
}
