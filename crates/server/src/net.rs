//! Client addresses: one canonical form (an IPv4 client of a dual-stack
//! listener is `127.0.0.1`, never `::ffff:127.0.0.1`), and the networks the
//! settings name (`trusted_proxies`, `metrics.allowed_networks`), written as an
//! address (`127.0.0.1`, a host) or a CIDR range (`10.0.0.0/8`, `::1/128`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The address every comparison and every per-address key uses: an
/// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address it maps.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// A socket address with its IP made [`canonical`].
pub fn canonical_peer(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(canonical(addr.ip()), addr.port())
}

/// A network from the settings: an address (a single host) or a CIDR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(IpNet);

impl Network {
    /// Whether `ip` (made canonical first) is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }

    /// The loopback networks, `127.0.0.0/8` and `::1/128`.
    pub fn loopback() -> Vec<Network> {
        ["127.0.0.0/8", "::1/128"]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect()
    }
}

/// Whether any of `networks` holds `ip`.
pub fn any_contains(networks: &[Network], ip: IpAddr) -> bool {
    networks.iter().any(|n| n.contains(ip))
}

/// Why a network could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkParseError(String);

impl fmt::Display for NetworkParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is neither an IP address nor a CIDR range (like 10.0.0.0/8 or ::1/128)",
            self.0
        )
    }
}

impl std::error::Error for NetworkParseError {}

impl FromStr for Network {
    type Err = NetworkParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let net = match s.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => match s.parse::<IpAddr>() {
                Ok(ip) => IpNet::from(ip),
                Err(_) => return Err(NetworkParseError(s.to_owned())),
            },
        };
        // `::ffff:10.0.0.0/104` names IPv4 addresses: keep it as `10.0.0.0/8`,
        // since addresses are compared in their canonical form.
        let net = match net {
            IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
                Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                    .map(IpNet::V4)
                    .unwrap_or(net),
                None => net,
            },
            other => other,
        };
        // Host bits set (`10.1.2.3/8`) are dropped: the range is what counts.
        Ok(Self(net.trunc()))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Network {
        s.parse().unwrap()
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_address() {
        assert_eq!(canonical(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(canonical(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(canonical(ip("::1")), ip("::1"));
        assert_eq!(canonical(ip("2001:db8::1")), ip("2001:db8::1"));
        assert_eq!(canonical(ip("10.0.0.1")), ip("10.0.0.1"));
    }

    #[test]
    fn a_host_matches_its_mapped_form() {
        let n = net("127.0.0.1");
        assert!(n.contains(ip("127.0.0.1")));
        assert!(n.contains(ip("::ffff:127.0.0.1")));
        assert!(!n.contains(ip("127.0.0.2")));
        assert!(!n.contains(ip("::1")));
        // A mapped address in the settings is its IPv4 address too.
        let n = net("::ffff:127.0.0.1");
        assert!(n.contains(ip("127.0.0.1")));
        assert_eq!(n.to_string(), "127.0.0.1");
        let n = net("::ffff:10.0.0.0/104");
        assert!(n.contains(ip("10.20.30.40")));
        assert!(n.contains(ip("::ffff:10.20.30.40")));
        assert_eq!(n.to_string(), "10.0.0.0/8");
    }

    #[test]
    fn cidr_ranges_match() {
        let n = net("10.0.0.0/8");
        assert!(n.contains(ip("10.255.0.1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")));
        assert!(!n.contains(ip("11.0.0.1")));
        let n = net("::1/128");
        assert!(n.contains(ip("::1")));
        assert!(!n.contains(ip("::2")));
        let n = net("2001:db8::/32");
        assert!(n.contains(ip("2001:db8:1::5")));
        assert!(!n.contains(ip("2001:db9::5")));
        // Host bits are dropped.
        assert_eq!(net("192.168.1.7/24").to_string(), "192.168.1.0/24");
        assert!(net("0.0.0.0/0").contains(ip("::ffff:8.8.8.8")));
    }

    #[test]
    fn bad_networks_are_refused() {
        for bad in [
            "",
            "localhost",
            "10.0.0.0/33",
            "1.2.3",
            "::1/129",
            "10.0.0.0/",
        ] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }

    #[test]
    fn networks_round_trip_as_strings() {
        let nets: Vec<Network> =
            serde_json::from_value(serde_json::json!(["127.0.0.1", "10.0.0.0/8", "::1/128"]))
                .unwrap();
        assert_eq!(
            serde_json::to_value(&nets).unwrap(),
            serde_json::json!(["127.0.0.1", "10.0.0.0/8", "::1"])
        );
        let e = serde_json::from_value::<Vec<Network>>(serde_json::json!(["nope"])).unwrap_err();
        assert!(e.to_string().contains("CIDR"), "{e}");
    }
}
