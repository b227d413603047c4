//! The client address: the socket peer, or — only when the peer is a trusted
//! proxy — the right-most untrusted `X-Forwarded-For` hop. Every address is
//! canonical ([`crate::net::canonical`]): an IPv4 client seen through a
//! dual-stack listener as `::ffff:a.b.c.d` is `a.b.c.d`, for the trust check
//! and for everything keyed on the result (throttling, the recorded login
//! address).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::net::{any_contains, canonical, Network};
use crate::state::AppState;

/// The client's IP address, if known.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(peer.map(|peer| {
            client_ip(peer, &parts.headers, &state.config.trusted_proxies)
        })))
    }
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy; then,
/// walking `X-Forwarded-For` from the right, the first hop that is not a
/// trusted proxy. A hop that is not an address (`unknown`, garbage) ends the
/// walk at the last trusted hop: what stands left of it was written by whoever
/// the proxies could not name, and is not believed.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Network]) -> IpAddr {
    let peer = canonical(peer);
    if !any_contains(trusted, peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .map(parse_hop)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) if any_contains(trusted, ip) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, or an address with a port
/// (`203.0.113.9:5123`, `[2001:db8::1]:443`, as some proxies write it).
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<Network> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client() {
        let h = xff(&["198.51.100.7"]);
        assert_eq!(client_ip(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
        // Mapped or not, the same client.
        assert_eq!(
            client_ip(ip("::ffff:203.0.113.9"), &h, &[]),
            ip("203.0.113.9")
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_mapped_proxy_address_is_trusted() {
        // A proxy at 127.0.0.1 connecting to a `[::]` listener.
        let trusted = nets(&["127.0.0.1"]);
        let h = xff(&["198.51.100.7"]);
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.7"));
        // Mapped hops are canonical too.
        let h = xff(&["::ffff:198.51.100.7"]);
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_wins() {
        let trusted = nets(&["10.0.0.0/8", "::1/128"]);
        // The client wrote a spoofed first hop; two proxies appended theirs.
        let h = xff(&["127.0.0.1, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(client_ip(ip("::1"), &h, &trusted), ip("198.51.100.7"));
        // All hops trusted: the left-most one.
        let h = xff(&["10.2.2.2, 10.1.1.1"]);
        assert_eq!(client_ip(ip("10.9.9.9"), &h, &trusted), ip("10.2.2.2"));
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.9.9.9"), &HeaderMap::new(), &trusted),
            ip("10.9.9.9")
        );
        // Ports are dropped.
        let h = xff(&["198.51.100.7:5123"]);
        assert_eq!(client_ip(ip("10.9.9.9"), &h, &trusted), ip("198.51.100.7"));
        let h = xff(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(ip("10.9.9.9"), &h, &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn garbage_stops_the_walk() {
        let trusted = nets(&["10.0.0.0/8"]);
        // What is left of an unreadable hop is not believed.
        let h = xff(&["198.51.100.7, unknown, 10.1.1.1"]);
        assert_eq!(client_ip(ip("10.9.9.9"), &h, &trusted), ip("10.1.1.1"));
        let h = xff(&["198.51.100.7, unknown"]);
        assert_eq!(client_ip(ip("10.9.9.9"), &h, &trusted), ip("10.9.9.9"));
    }
}
