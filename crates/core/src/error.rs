//! The one error type of the core; every dialect maps it to its own status and body.

use std::fmt;

/// Why a request could not be authenticated. Dialects need the distinction to pick
/// their exact wire message; the core never reveals more than this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential was presented at all.
    Missing,
    /// A credential was presented but is not one of ours: unparsable, bad signature,
    /// wrong algorithm, unknown key, unknown API token.
    Malformed,
    /// A genuine credential whose lifetime is over.
    Expired,
    /// A genuine, unexpired credential that no longer counts: its session was revoked,
    /// its token deleted, or its owner deleted or deactivated.
    Revoked,
    /// A login with a wrong identifier/password pair (or an inactive account).
    InvalidCredentials,
    /// A refresh token that is unknown, expired, already used, or of a dead session.
    InvalidRefreshToken,
}

/// Every failure the core can report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named thing does not exist (or the caller may not know that it does).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule would be broken by the change; `field` names the rule.
    #[error("{field} already exists")]
    Conflict { field: &'static str },
    /// An input value breaks a rule; `reason` is safe to show to the caller.
    #[error("invalid {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// The caller is not (or no longer) authenticated.
    #[error("unauthenticated: {0:?}")]
    Unauthenticated(AuthFailure),
    /// The caller is authenticated but not allowed to do this.
    #[error("forbidden")]
    Forbidden,
    /// The change would leave the system without an active administrator.
    #[error("cannot remove the last active admin")]
    LastAdmin,
    /// Too many failed attempts; try again after `retry_after` seconds.
    #[error("locked, retry after {retry_after}s")]
    Locked { retry_after: u64 },
    /// The password is correct but has expired and must be changed first.
    #[error("password expired")]
    PasswordExpired,
    /// The password is correct but a second factor is required.
    #[error("second factor required")]
    MfaRequired,
    /// The input is larger than allowed.
    #[error("too large")]
    TooLarge,
    /// The service is saturated for now; try again after `retry_after` seconds.
    #[error("unavailable, retry after {retry_after}s")]
    Unavailable { retry_after: u64 },
    /// Something broke that the caller cannot fix; the detail is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for an [`Error::InvalidField`].
    pub fn invalid(field: &'static str, reason: impl fmt::Display) -> Self {
        Error::InvalidField {
            field,
            reason: reason.to_string(),
        }
    }

    /// Shorthand for an [`Error::Internal`] from anything displayable.
    pub fn internal(detail: impl fmt::Display) -> Self {
        Error::Internal(detail.to_string())
    }
}
