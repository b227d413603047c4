//! Sessions (one per login), their refresh-token families, the one-time login
//! codes bound to them, and the filtered, keyset-paginated listing of live
//! sessions ([`SessionQuery`]).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::query::{After, Order, Value};

/// A login session. Access tokens carry its id (`sid`); revoking it ends them all.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    /// When the user signed in: a session that replaces another (a profile
    /// change's fresh token) keeps its original's, so this is never later than
    /// the authentication the session stands on. Listings show it as the start.
    pub created_at: DateTime<Utc>,
    /// Absolute end of the session, whatever the refreshes (a replacement
    /// keeps its original's).
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The sign-in proved a second factor (a TOTP or recovery code, or a
    /// passkey), not a password alone.
    pub second_factor: bool,
    /// The OpenID Connect client the session was opened for (its tokens carry
    /// that client's audience); `None` for aegis's own sign-ins.
    pub client_id: Option<String>,
    /// The scopes granted to that client (empty for aegis's own sessions).
    pub scopes: Vec<String>,
    /// The browser session a client's session was opened from: revoking it
    /// revokes this one too.
    pub parent_id: Option<Uuid>,
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

/// A one-time login code (Pangea `client/userinfo`): issued right after a login
/// and exchanged once for fresh tokens of that session. Stored only as the
/// SHA-256 of its text.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginCode {
    pub hash: [u8; 32],
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set when the code was exchanged; a code is exchanged at most once.
    pub used_at: Option<DateTime<Utc>>,
}

/// A session attribute a listing can filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionField {
    /// The session id.
    Id,
    /// The owner's user id.
    Identity,
    /// The owner's normalised email (users without one compare as `""`).
    Email,
    /// The owner's normalised username.
    Username,
    CreatedAt,
    /// The absolute end of the session (`expires_at`).
    Expire,
}

/// One condition of a session listing; a filter is the conjunction of its conditions.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionCondition {
    /// Field equals value.
    Eq(SessionField, Value),
    /// Field (text) contains *each* substring.
    Contains(SessionField, Vec<String>),
    /// Field equals one of the values.
    In(SessionField, Vec<Value>),
    Gt(SessionField, Value),
    Gte(SessionField, Value),
    Lt(SessionField, Value),
    Lte(SessionField, Value),
    /// Matches nothing (a filter on something aegis sessions never have).
    Never,
}

/// Fields a session listing can be ordered by (ties broken by session id, same
/// direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SessionOrder {
    Id,
    #[default]
    CreatedAt,
    /// The owner's user id.
    Identity,
    /// The owner's email; sessions of users without one come after every
    /// email in ascending order.
    Email,
    /// `expires_at`.
    Expire,
}

/// A listing of live sessions (not revoked, not expired): only those are ever
/// listed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionQuery {
    /// Only this user's sessions.
    pub user: Option<Uuid>,
    pub conditions: Vec<SessionCondition>,
    pub order_by: SessionOrder,
    pub order: Order,
    /// Page size, 1..=1000.
    pub size: u32,
    /// The previous page's last session: its sort key and session id.
    pub after: Option<After>,
    /// Do not count the matches (`Page::total` is then 0), as for user listings.
    pub skip_total: bool,
}

impl SessionCondition {
    /// Bounded lists, no NUL in text (see [`crate::query::check_values`]).
    pub fn check(&self) -> crate::error::Result<()> {
        use crate::query::{check_values, value_text};
        match self {
            SessionCondition::Contains(_, l) => {
                check_values("filter", l.iter().map(String::as_str), l.len())
            }
            SessionCondition::In(_, l) => {
                check_values("filter", l.iter().filter_map(value_text), l.len())
            }
            SessionCondition::Eq(_, v)
            | SessionCondition::Gt(_, v)
            | SessionCondition::Gte(_, v)
            | SessionCondition::Lt(_, v)
            | SessionCondition::Lte(_, v) => check_values("filter", value_text(v), 0),
            SessionCondition::Never => Ok(()),
        }
    }
}
