//! Failed-login throttling state (the rule itself is in the service).

use chrono::{DateTime, Utc};

/// The failure counter of one key (an account or a client address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    /// Failures counted in the current window.
    pub failures: u32,
    /// While set and in the future, every attempt is refused.
    pub locked_until: Option<DateTime<Utc>>,
}

/// The throttle key of an account.
pub fn account_key(id: &str) -> String {
    format!("acct:{id}")
}

/// The throttle key of a client address.
pub fn ip_key(ip: &std::net::IpAddr) -> String {
    format!("ip:{ip}")
}
