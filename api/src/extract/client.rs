//! The client's address (DESIGN §8): the socket peer, or, when the peer is a
//! trusted proxy, the right-most `X-Forwarded-For` entry that is not itself
//! one. Login throttling and rate limits key on it.
use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use ipnet::IpNet;

use crate::{error::ApiError, state::AppState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .ok_or_else(|| anyhow::anyhow!("the server runs without peer addresses"))?;
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok());
        Ok(Self(client_address(
            peer.ip(),
            forwarded,
            &state.config.trusted_proxies,
        )))
    }
}

/// Walks the proxies from the peer back towards the client: each trusted hop
/// vouches for the address before it. An entry that is not an address ends
/// the walk at the last hop that could be believed.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_headers: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = forwarded_headers
        .flat_map(|header| header.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(address) if is_trusted(&address) => client = address,
            Ok(address) => return address,
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|n| n.parse().unwrap_or_else(|e| panic!("{n}: {e}")))
            .collect()
    }

    #[test]
    fn the_forwarded_address_is_believed_from_trusted_proxies_only() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let from = |peer: &str, headers: &[&str]| {
            client_address(ip(peer), headers.iter().copied(), &trusted)
        };
        // an untrusted peer's header is the client's own claim: ignored
        assert_eq!(from("203.0.113.5", &["198.51.100.1"]), ip("203.0.113.5"));
        // behind one trusted proxy: the entry it appended
        assert_eq!(from("10.0.0.2", &["198.51.100.1"]), ip("198.51.100.1"));
        // a client forging entries: only the right-most untrusted one counts
        assert_eq!(
            from("10.0.0.2", &["1.2.3.4, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        // two proxies, headers split over several lines
        assert_eq!(
            from("127.0.0.1", &["1.2.3.4", "198.51.100.1, 10.1.1.1"]),
            ip("198.51.100.1")
        );
        // no header, or only trusted hops: the last hop believed
        assert_eq!(from("10.0.0.2", &[]), ip("10.0.0.2"));
        assert_eq!(from("10.0.0.2", &["10.9.9.9"]), ip("10.9.9.9"));
        // garbage stops the walk at the hop that wrote it
        assert_eq!(from("10.0.0.2", &["198.51.100.1, unknown"]), ip("10.0.0.2"));
        assert_eq!(
            from("10.0.0.2", &["unknown, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        // IPv6
        assert_eq!(from("10.0.0.2", &["2001:db8::1"]), ip("2001:db8::1"));
        // nothing trusted: always the peer
        assert_eq!(
            client_address(ip("10.0.0.2"), ["198.51.100.1"].into_iter(), &[]),
            ip("10.0.0.2")
        );
    }
}
