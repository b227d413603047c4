//! Who may do what: the capability table shared by every dialect.

use crate::error::{Error, Result};
use crate::user::Role;

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Read one's own identity, log out.
    ReadSelf,
    /// Mint, list and delete one's own API tokens; change one's own profile.
    ManageSelf,
    /// List users and every API token.
    ReadDirectory,
    /// Update and delete users, delete anyone's tokens, mint admin tokens.
    Administer,
}

/// True when `role` grants `cap`.
pub fn allows(role: Role, cap: Capability) -> bool {
    match cap {
        Capability::ReadSelf => true,
        Capability::ManageSelf => matches!(role, Role::Admin | Role::User),
        Capability::ReadDirectory => matches!(role, Role::Admin | Role::View),
        Capability::Administer => role == Role::Admin,
    }
}

/// What a caller may do: the capabilities of its role, or for an API token the
/// capabilities both its own role and its owner's current role grant (the
/// roles are not nested: `view` reads the directory, `user` manages itself, and
/// a `view` token of a `user` may only read its owner's identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    role: Role,
    within: Option<Role>,
}

impl Rights {
    /// Every capability of `role`.
    pub fn of(role: Role) -> Self {
        Self { role, within: None }
    }

    /// The capabilities `role` and `owner` both grant.
    pub fn both(role: Role, owner: Role) -> Self {
        Self {
            role,
            within: Some(owner),
        }
    }

    /// True when these rights include `cap`.
    pub fn allows(self, cap: Capability) -> bool {
        allows(self.role, cap) && self.within.is_none_or(|owner| allows(owner, cap))
    }
}

impl From<Role> for Rights {
    fn from(role: Role) -> Self {
        Self::of(role)
    }
}

/// [`Rights::allows`], as a `Forbidden` error.
pub fn require(rights: impl Into<Rights>, cap: Capability) -> Result<()> {
    if rights.into().allows(cap) {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        use Capability::*;
        let row = |r| [ReadSelf, ManageSelf, ReadDirectory, Administer].map(|c| allows(r, c));
        assert_eq!(row(Role::Admin), [true, true, true, true]);
        assert_eq!(row(Role::View), [true, false, true, false]);
        assert_eq!(row(Role::User), [true, true, false, false]);
        assert!(require(Role::View, Administer).is_err());
    }

    #[test]
    fn a_token_has_what_both_roles_grant() {
        use Capability::*;
        let row =
            |r: Rights| [ReadSelf, ManageSelf, ReadDirectory, Administer].map(|c| r.allows(c));
        // A `view` token of a `user`, or a `user` token of a demoted owner: only
        // their own identity.
        assert_eq!(
            row(Rights::both(Role::View, Role::User)),
            [true, false, false, false]
        );
        assert_eq!(
            row(Rights::both(Role::User, Role::View)),
            [true, false, false, false]
        );
        assert_eq!(
            row(Rights::both(Role::View, Role::Admin)),
            row(Rights::of(Role::View))
        );
        assert_eq!(
            row(Rights::both(Role::Admin, Role::User)),
            row(Rights::of(Role::User))
        );
        assert_eq!(
            row(Rights::both(Role::Admin, Role::Admin)),
            row(Rights::of(Role::Admin))
        );
    }
}
