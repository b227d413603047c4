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

/// [`allows`], as a `Forbidden` error.
pub fn require(role: Role, cap: Capability) -> Result<()> {
    if allows(role, cap) {
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
}
