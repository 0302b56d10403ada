//! Who a request comes from: the one rule for the client address (login throttling, events,
//! the sessions list) and for whether it arrived over HTTPS (HSTS). `X-Forwarded-For` and
//! `X-Forwarded-Proto` are believed only from a TCP peer listed in `trusted_proxies`, and
//! only with `behind_proxy = true`; from anyone else they are ignored, so a forged header
//! cannot move a client out of its per-address throttle.

use std::fmt;
use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::saml::fetch::masked;

/// `trusted_proxies`: the addresses and networks of the reverse proxies in front of sesame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Comma-separated IP addresses and CIDRs (`10.0.0.0/8, 127.0.0.1, ::1`); no host names
    /// (a proxy is recognised by the address it connects from).
    pub fn parse(v: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || format!("{entry:?} is not an IP address or a CIDR like 10.0.0.0/8");
            let (ip, len) = match entry.split_once('/') {
                Some((addr, len)) => {
                    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
                    let width = if ip.is_ipv4() { 32 } else { 128 };
                    let len: u8 = len.parse().ok().filter(|l| *l <= width).ok_or_else(bad)?;
                    if masked(ip, len) != ip {
                        return Err(format!("{entry:?} has bits set after the /{len}"));
                    }
                    (ip, len)
                }
                None => {
                    let ip = entry
                        .trim_matches(['[', ']'])
                        .parse::<IpAddr>()
                        .map_err(|_| bad())?
                        .to_canonical();
                    (ip, if ip.is_ipv4() { 32 } else { 128 })
                }
            };
            nets.push((ip, len));
        }
        Ok(TrustedProxies { nets })
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets
            .iter()
            .any(|(net, len)| net.is_ipv4() == ip.is_ipv4() && masked(ip, *len) == *net)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all: Vec<String> = self
            .nets
            .iter()
            .map(|(ip, l)| format!("{ip}/{l}"))
            .collect();
        f.write_str(&all.join(","))
    }
}

impl serde::Serialize for TrustedProxies {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How requests reach this listener: directly (over TLS or not), or through proxies whose
/// forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct ProxyRule {
    /// The main listener speaks TLS itself.
    pub tls: bool,
    /// `behind_proxy = true`: the proxies in `trusted_proxies`. None: headers ignored.
    pub trusted: Option<TrustedProxies>,
}

/// Where one request comes from, worked out once by [`ProxyRule::origin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOrigin {
    /// The client's address: the TCP peer, or the address a trusted proxy forwarded.
    pub ip: IpAddr,
    /// The client reached sesame over HTTPS (our TLS, or a trusted proxy's).
    pub https: bool,
}

/// Hops of `X-Forwarded-For` looked at, at most: a longer chain is not a real deployment.
const MAX_HOPS: usize = 32;

impl ProxyRule {
    pub fn origin(&self, peer: IpAddr, headers: &HeaderMap) -> ClientOrigin {
        let peer = peer.to_canonical();
        let direct = ClientOrigin {
            ip: peer,
            https: self.tls,
        };
        let Some(trusted) = self.trusted.as_ref().filter(|t| t.contains(peer)) else {
            return direct;
        };
        ClientOrigin {
            ip: forwarded_for(trusted, peer, headers),
            https: self.tls || forwarded_https(headers).unwrap_or(false),
        }
    }
}

/// The right-most `X-Forwarded-For` address that is not a trusted proxy: each trusted hop
/// vouches for the one before it, and the first untrusted one is the client (everything
/// left of it is whatever that client chose to send). Several header lines are one list,
/// in order (RFC 9110 §5.3). An entry that is not an address stops the walk at the last
/// trusted hop, so garbage can never choose the address.
fn forwarded_for(trusted: &TrustedProxies, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev().take(MAX_HOPS) {
        if !trusted.contains(client) {
            break;
        }
        match parse_hop(entry) {
            Some(ip) => client = ip,
            None => break,
        }
    }
    client
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = e.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse::<IpAddr>().ok().map(|i| i.to_canonical());
    }
    let (ip, port) = e.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// `X-Forwarded-Proto` as the nearest proxy set it (the right-most value: a proxy that
/// appends rather than replaces leaves the client's own value on the left).
fn forwarded_https(headers: &HeaderMap) -> Option<bool> {
    let last = headers
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()?;
    Some(last.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn rule(trusted: &str) -> ProxyRule {
        ProxyRule {
            tls: false,
            trusted: Some(TrustedProxies::parse(trusted).unwrap()),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_addresses_and_networks() {
        let t = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1, [::1], fd00::/8").unwrap();
        assert_eq!(t.to_string(), "10.0.0.0/8,127.0.0.1/32,::1/128,fd00::/8");
        assert!(t.contains(ip("10.9.8.7")) && t.contains(ip("::ffff:127.0.0.1")));
        assert!(!t.contains(ip("11.0.0.1")) && !t.contains(ip("127.0.0.2")));
        for bad in ["proxy.corp", "10.0.0.1/8", "10.0.0.0/33", "1.2.3"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_from_an_untrusted_peer_change_nothing() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let o = rule("10.0.0.0/8").origin(ip("192.0.2.1"), &h);
        assert_eq!(
            o,
            ClientOrigin {
                ip: ip("192.0.2.1"),
                https: false
            }
        );
        // Not behind a proxy: ignored even from a listed address.
        let off = ProxyRule::default().origin(ip("10.0.0.1"), &h);
        assert_eq!(off.ip, ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let r = rule("10.0.0.0/8, 127.0.0.1");
        // The client forged the left-most entry; the proxies appended the rest.
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7, 203.0.113.9"),
            ("x-forwarded-for", "10.1.1.1"),
            ("x-forwarded-proto", "https"),
        ]);
        let o = r.origin(ip("127.0.0.1"), &h);
        assert_eq!(
            o,
            ClientOrigin {
                ip: ip("203.0.113.9"),
                https: true
            }
        );
        // Only proxies: the left-most of them.
        let h = headers(&[("x-forwarded-for", "10.2.2.2, 10.1.1.1")]);
        assert_eq!(r.origin(ip("127.0.0.1"), &h).ip, ip("10.2.2.2"));
        // No header: the proxy itself.
        assert_eq!(
            r.origin(ip("127.0.0.1"), &HeaderMap::new()).ip,
            ip("127.0.0.1")
        );
        // Garbage stops the walk at the last trusted hop, never at a chosen value.
        let h = headers(&[("x-forwarded-for", "198.51.100.7, unknown")]);
        assert_eq!(r.origin(ip("127.0.0.1"), &h).ip, ip("127.0.0.1"));
        // Ports and brackets.
        let h = headers(&[("x-forwarded-for", "[2001:db8::5]:443")]);
        assert_eq!(r.origin(ip("10.0.0.1"), &h).ip, ip("2001:db8::5"));
        let h = headers(&[("x-forwarded-for", "192.0.2.44:5000")]);
        assert_eq!(r.origin(ip("10.0.0.1"), &h).ip, ip("192.0.2.44"));
    }

    #[test]
    fn the_nearest_proxy_says_the_scheme() {
        let r = rule("127.0.0.1");
        let h = headers(&[("x-forwarded-proto", "https, http")]);
        assert!(!r.origin(ip("127.0.0.1"), &h).https);
        let h = headers(&[("x-forwarded-proto", "HTTPS")]);
        assert!(r.origin(ip("127.0.0.1"), &h).https);
        let tls = ProxyRule {
            tls: true,
            trusted: None,
        };
        assert!(tls.origin(ip("192.0.2.1"), &HeaderMap::new()).https);
    }
}
