//! API tokens: long-lived opaque bearer secrets with their own role.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::user::Role;

/// Prefix of every API token secret.
pub const PREFIX: &str = "aeg_";

/// An API token as stored (the secret itself is never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: Uuid,
    /// SHA-256 of the whole secret, prefix included.
    pub hash: [u8; 32],
    /// The user whose rights the token carries.
    pub owner_id: Uuid,
    /// The user who minted it (the owner, or an admin / the CLI acting for it).
    pub created_by: Option<Uuid>,
    /// Authentication provider the token belongs to (e.g. `local`).
    pub provider: String,
    /// The token's own role; its effective role is capped by the owner's.
    pub role: Role,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// An API token as listed: the record and who created it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiTokenListing {
    pub token: ApiToken,
    /// Login key (email, else username) of the creator, or of the owner when
    /// the operator minted it.
    pub created_by_key: String,
}

/// What to mint.
#[derive(Debug, Clone)]
pub struct CreateApiTokenRequest {
    pub provider: String,
    pub role: Role,
    /// Lifetime in seconds.
    pub expiry_s: i64,
    pub name: Option<String>,
}

/// A freshly minted token: the record and the secret, shown once.
#[derive(Debug, Clone)]
pub struct MintedApiToken {
    pub token: ApiToken,
    pub secret: String,
}

/// True for `aeg_` followed by 43 base64url characters.
pub fn is_well_formed(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|s| {
        s.len() == 43
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}
