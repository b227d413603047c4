//! Failed-login throttling state (the rule itself is in the service).

use std::net::{IpAddr, Ipv6Addr};

use chrono::{DateTime, Utc};

/// The failure counter of one key (an account or a client address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    /// Failures counted in the current window.
    pub failures: u32,
    /// While set and in the future, every attempt is refused.
    pub locked_until: Option<DateTime<Utc>>,
}

/// The throttle key of an existing account.
pub fn account_key(id: &uuid::Uuid) -> String {
    format!("acct:{id}")
}

/// The throttle key of an identifier that names no account: a fixed-size hash,
/// so neither its length nor its text (often a mistyped password) is stored.
pub fn unknown_account_key(identifier: &str) -> String {
    let hex: String = crate::secret::hash_token(identifier)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("acct?:{hex}")
}

/// The throttle key of a client address: IPv4 (also when IPv4-mapped), or the
/// IPv6 /64 (one subscriber usually holds a whole /64).
pub fn ip_key(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("ip:{net}/64")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let v6a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(ip_key(&v6a), ip_key(&v6b));
        assert_eq!(ip_key(&v6a), "ip:2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ip_key(&mapped), "ip:10.0.0.1");
        let k = unknown_account_key(&"x".repeat(100_000));
        assert_eq!(k.len(), "acct?:".len() + 64);
    }
}
