//! Which address a request comes from, believing `X-Forwarded-For` only from trusted proxies.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address: the peer, or, when the peer is a trusted proxy, the first hop of
/// `X-Forwarded-For` (read from the right) that is not itself a trusted proxy.
///
/// A request with no known peer (an in-process test) counts as coming from 0.0.0.0.
pub fn client_address(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| {
        peer.ip().to_canonical()
    });
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }

    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
        .collect();
    hops.iter()
        .rev()
        .map(|hop| hop.to_canonical())
        .find(|hop| !is_trusted(hop))
        .or_else(|| hops.first().copied())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    fn peer(address: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(address.parse().unwrap(), 40000))
    }

    #[test]
    fn untrusted_peers_cannot_claim_another_address() {
        let headers = forwarded("203.0.113.9");
        assert_eq!(
            client_address(peer("198.51.100.7"), &headers, &[]).to_string(),
            "198.51.100.7"
        );
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let headers = forwarded("203.0.113.9, 198.51.100.1, 10.0.0.2");
        let address = client_address(peer("10.0.0.1"), &headers, &trusted);
        assert_eq!(address.to_string(), "198.51.100.1");
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let address = client_address(peer("10.0.0.1"), &HeaderMap::new(), &trusted);
        assert_eq!(address.to_string(), "10.0.0.1");
    }
}
