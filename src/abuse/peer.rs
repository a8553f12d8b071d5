//! Who is on the other end: the client's IP address as the node can trust it.
//!
//! Behind HAProxy every connection comes from the proxy, so limits keyed by the socket's peer
//! would lump every visitor together. `X-Forwarded-For` carries the real address, but anyone
//! can send that header: it is believed only when the connection comes from a configured
//! trusted proxy (`trusted_proxies`), and then read from the right, skipping the trusted hops,
//! so the first untrusted address is the client (a client cannot push its own entries past
//! the proxy that appended the real one).

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;

/// The proxies whose `X-Forwarded-For` is believed: addresses or CIDR ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// From `10.0.0.0/8`, `127.0.0.1`, `::1` ... ; a typo is an error, not a silent no-op.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let (addr, bits) = match entry.split_once('/') {
                Some((addr, bits)) => (addr, Some(bits)),
                None => (entry.as_str(), None),
            };
            let ip: IpAddr = addr.trim().parse().map_err(|_| {
                format!("trusted_proxies: {entry:?} is not an address or CIDR range")
            })?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("trusted_proxies: bad prefix length in {entry:?}"))?,
            };
            out.push((ip, bits));
        }
        Ok(TrustedProxies(out))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0
            .iter()
            .any(|&(net, bits)| in_range(ip, canonical(net), bits))
    }
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`, what a dual-stack socket reports) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The client's address: the peer, or (from a trusted proxy) the first untrusted address of
/// `X-Forwarded-For` read from the right.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // Garbage where an address should be: stop believing the header here.
            break;
        };
        client = canonical(ip);
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

/// [`client_ip`] of an HTTP request (or WebSocket upgrade).
pub fn request_ip(req: &HttpRequest, trusted: &TrustedProxies) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a: SocketAddr| a.ip());
    let header = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|h| h.to_str().ok());
    client_ip(peer, header, trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        let header = Some("198.51.100.7, 203.0.113.9");
        // From a stranger: the header is ignored.
        assert_eq!(
            client_ip(ip("192.0.2.1"), header, &trusted),
            ip("192.0.2.1")
        );
        // From the proxy: the last hop it appended is the client.
        assert_eq!(
            client_ip(ip("10.1.2.3"), header, &trusted),
            ip("203.0.113.9")
        );
        // Trusted hops are skipped from the right.
        let chained = Some("203.0.113.9, 10.9.9.9");
        assert_eq!(
            client_ip(ip("10.1.2.3"), chained, &trusted),
            ip("203.0.113.9")
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(client_ip(ip("10.1.2.3"), None, &trusted), ip("10.1.2.3"));
        assert_eq!(
            client_ip(ip("10.1.2.3"), Some("nonsense"), &trusted),
            ip("10.1.2.3")
        );
        // A dual-stack socket's mapped address is the IPv4 one.
        assert!(trusted.contains(ip("::ffff:10.0.0.1")));
        assert!(trusted.contains(ip("::1")));
        assert!(!trusted.contains(ip("11.0.0.1")));
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
        assert!(TrustedProxies::parse(&["0.0.0.0/0".into()])
            .unwrap()
            .contains(ip("8.8.8.8")));
    }
}
