//! The client's address for per-client limits: the TCP peer, or, when the peer is a reverse
//! proxy listed in `trusted_proxies`, the address that proxy reports in the header it writes
//! (`forwarded_header`: `X-Forwarded-For` or `Forwarded`). IPv6 clients are keyed by their /64, which one subscriber holds whole.
//! Addresses are personal data: nothing here logs them.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::{web, HttpRequest};
use ipnet::IpNet;

use super::AppState;

/// The proxies whose forwarding headers are believed, and the one header they write.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

/// Which header the trusted proxies append to. Only that one is read: a proxy passes the other
/// through as the client wrote it (nginx and HAProxy append `X-Forwarded-For` and leave a
/// client's own `Forwarded` alone), so believing both would let clients pick their address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    Forwarded,
}

impl TrustedProxies {
    /// Comma-separated addresses (`10.0.0.7`, `::1`) and networks (`10.0.0.0/8`); a bad entry
    /// is an error that names it.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!("trusted_proxies: `{entry}` is not an IP address or a CIDR network")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|nets| TrustedProxies {
                nets,
                header: ForwardedHeader::default(),
            })
    }

    /// `x-forwarded-for` or `forwarded` (any case).
    pub fn reading(mut self, header: &str) -> Result<TrustedProxies, String> {
        self.header = match header.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => ForwardedHeader::XForwardedFor,
            "forwarded" => ForwardedHeader::Forwarded,
            other => {
                return Err(format!(
                    "forwarded_header: `{other}` is neither x-forwarded-for nor forwarded"
                ))
            }
        };
        Ok(self)
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }
}

/// The client's address as per-client limits key it (see the module docs).
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let proxies = req
        .app_data::<web::Data<AppState>>()
        .map(|state| &state.trusted_proxies);
    let client = match proxies {
        Some(proxies) if !proxies.is_empty() => {
            walk(peer, &forwarded_chain(req, proxies.header), proxies)
        }
        _ => peer,
    };
    limit_key(client)
}

/// The addresses the proxies reported in `header`, oldest first. `None` stands for a hop that
/// gave no usable address (`unknown`, an obfuscated name, garbage).
fn forwarded_chain(req: &HttpRequest, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let joined = |name: &str| {
        let values: Vec<&str> = req
            .headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    match header {
        ForwardedHeader::Forwarded => joined("forwarded")
            .map(|v| parse_forwarded(&v))
            .unwrap_or_default(),
        ForwardedHeader::XForwardedFor => joined("x-forwarded-for")
            .map(|v| parse_x_forwarded_for(&v))
            .unwrap_or_default(),
    }
}

/// `for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"` → the `for` of each element.
fn parse_forwarded(value: &str) -> Vec<Option<IpAddr>> {
    value
        .split(',')
        .map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| node_address(value))
            })?
        })
        .collect()
}

/// `203.0.113.7, 10.0.0.2` → each entry.
fn parse_x_forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    value.split(',').map(node_address).collect()
}

/// One hop's address, with or without quotes, brackets and a port.
fn node_address(raw: &str) -> Option<IpAddr> {
    let node = raw.trim().trim_matches('"');
    node.parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
        })
}

/// Walks from the TCP peer back through the chain while each hop is a trusted proxy; the first
/// address that is not one is the client. Entries further left were written by the client or
/// by proxies nobody vouches for, so they are never believed. A hop that gave no address stops
/// the walk at the proxy that reported it; a chain of trusted proxies only ends at its oldest.
pub fn walk(peer: IpAddr, chain: &[Option<IpAddr>], trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    for hop in chain.iter().rev() {
        if !trusted.contains(client) {
            break;
        }
        match hop {
            Some(addr) => client = addr.to_canonical(),
            None => break,
        }
    }
    client
}

/// IPv4 addresses as they are (IPv4-mapped IPv6 ones included); IPv6 reduced to its /64,
/// since a subscriber is given at least a /64 and could otherwise use a fresh address for
/// every request.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn chain(entries: &[&str]) -> Vec<Option<IpAddr>> {
        entries.iter().map(|e| node_address(e)).collect()
    }

    #[test]
    fn proxies_parse_addresses_and_networks() {
        let proxies =
            TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.7 ,, ::1, 2001:db8::/32").unwrap();
        assert!(proxies.contains(ip("10.200.3.4")));
        assert!(proxies.contains(ip("192.168.1.7")));
        assert!(!proxies.contains(ip("192.168.1.8")));
        assert!(proxies.contains(ip("::1")));
        assert!(proxies.contains(ip("2001:db8:ffff::1")));
        assert!(!proxies.contains(ip("2001:db9::1")));
        assert!(
            proxies.contains(ip("::ffff:10.1.2.3")),
            "an IPv4-mapped peer is its IPv4 address"
        );
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }

    #[test]
    fn a_bad_proxy_entry_is_named() {
        let err = TrustedProxies::parse("10.0.0.1, proxy.local").unwrap_err();
        assert!(err.contains("proxy.local"), "{err}");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn header_values_parse() {
        assert_eq!(
            parse_forwarded(
                r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711", for=unknown, proto=https"#
            ),
            vec![
                Some(ip("192.0.2.60")),
                Some(ip("2001:db8:cafe::17")),
                None,
                None
            ]
        );
        assert_eq!(
            parse_forwarded(r#"for="198.51.100.17:8443""#),
            vec![Some(ip("198.51.100.17"))]
        );
        assert_eq!(
            parse_x_forwarded_for("203.0.113.7, 10.0.0.2:51000 ,[::1], nonsense"),
            vec![
                Some(ip("203.0.113.7")),
                Some(ip("10.0.0.2")),
                Some(ip("::1")),
                None
            ]
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let claims = chain(&["198.51.100.1"]);
        assert_eq!(
            walk(ip("203.0.113.9"), &claims, &trusted),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(walk(ip("10.0.0.1"), &claims, &none), ip("10.0.0.1"));
    }

    #[test]
    fn the_walk_skips_trusted_hops_from_the_right() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // The client forged the first entry; the proxies appended the rest.
        let hops = chain(&["6.6.6.6", "203.0.113.9", "10.0.0.3"]);
        assert_eq!(walk(ip("10.0.0.2"), &hops, &trusted), ip("203.0.113.9"));
        // Only trusted proxies all the way: the oldest one is the client.
        let inside = chain(&["10.1.1.1", "10.0.0.3"]);
        assert_eq!(walk(ip("10.0.0.2"), &inside, &trusted), ip("10.1.1.1"));
        // A hop without an address stops at the proxy that reported it.
        let blind = chain(&["203.0.113.9", "unknown"]);
        assert_eq!(walk(ip("10.0.0.2"), &blind, &trusted), ip("10.0.0.2"));
        // No header at all from a trusted proxy: the proxy itself.
        assert_eq!(walk(ip("10.0.0.2"), &[], &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:ffff:1:2:3"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(limit_key(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
    }
}
