//! Sessions (one per login) and their refresh-token families.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A login session. Access tokens carry its id (`sid`); revoking it ends them all.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Absolute end of the session, whatever the refreshes.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    /// True when the session still counts at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// One refresh token of a session, stored only as the SHA-256 of the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    pub hash: [u8; 32],
    pub session_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set when the token was exchanged; presenting it again is reuse.
    pub used_at: Option<DateTime<Utc>>,
}
