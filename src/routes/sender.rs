//! Who sent a ping: the connection's peer address, or, when that peer is one of the configured
//! `trusted_proxies` (a reverse proxy in front of the service), the client address the proxy
//! reports in `X-Forwarded-For`. Rate limits, rules and the `sender_not_source_host` signal all
//! key on it, so behind a proxy without this every sender would share the proxy's limits.
//!
//! Only trusted proxies are believed, and the header is read from the right: each proxy
//! appends the address it received from, so the right-most entry that is not itself a trusted
//! proxy is the first one no proxy of ours vouches for. Anything to its left was written by the
//! client and can be forged.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// The sender's address, as an extractor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sender(pub(crate) IpAddr);

impl FromRequestParts<AppState> for Sender {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        let trusted = &state.receiver.config().trusted_proxies;
        Ok(Self(client_address(peer, &forwarded, trusted)))
    }
}

/// Most `X-Forwarded-For` entries looked at; a longer chain is not one of ours.
const MAX_HOPS: usize = 16;

/// The client address of a request from `peer` carrying the `X-Forwarded-For` header values
/// `forwarded` (in order), when `trusted` lists our proxies.
pub(crate) fn client_address(peer: IpAddr, forwarded: &[&str], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    if !is_trusted(peer) {
        return peer;
    }
    let mut current = peer;
    let entries = forwarded
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in entries.iter().rev().take(MAX_HOPS) {
        let Some(ip) = parse_entry(entry) else {
            // A garbled hop: the last address vouched for is as far as we can trust.
            return current;
        };
        current = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    current
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`[v6]:port`, `v4:port`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    #[test]
    fn only_a_trusted_peer_is_believed() {
        let proxies = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let direct = ip("198.51.100.7");
        assert_eq!(client_address(direct, &["203.0.113.9"], &proxies), direct);
        assert_eq!(
            client_address(ip("127.0.0.1"), &["203.0.113.9"], &proxies),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &["203.0.113.9"], &[]),
            ip("127.0.0.1"),
            "no proxies configured: the header means nothing"
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &[], &proxies),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_wins_so_clients_cannot_forge_it() {
        let proxies = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let peer = ip("127.0.0.1");
        assert_eq!(
            client_address(peer, &["1.2.3.4, 203.0.113.9, 10.1.2.3"], &proxies),
            ip("203.0.113.9"),
            "1.2.3.4 was written by the client"
        );
        assert_eq!(
            client_address(peer, &["1.2.3.4", "203.0.113.9"], &proxies),
            ip("203.0.113.9"),
            "several header lines read as one list"
        );
        assert_eq!(
            client_address(peer, &["[2001:db8::1]:4711"], &proxies),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_address(peer, &["198.51.100.1:80"], &proxies),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(peer, &["203.0.113.9, garbage, 10.0.0.2"], &proxies),
            ip("10.0.0.2"),
            "a garbled hop stops the walk at the last vouched address"
        );
        assert_eq!(
            client_address(peer, &["10.0.0.3, 10.0.0.2"], &proxies),
            ip("10.0.0.3"),
            "only proxies: the left-most"
        );
    }
}
