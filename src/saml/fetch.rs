//! Fetching an SP's metadata from the URL an admin gives (console, API, CLI) without
//! letting that URL reach into the network sesame sits in (SECURITY 19, issue 11).
//!
//! The checks, in order: the URL must be http(s) (the admin's to fix, so said plainly);
//! an IP-literal host is vetted before anything is sent; a host name is resolved by
//! [`VettedResolver`], which hands the connector only the addresses that pass, so the
//! address connected to is the address vetted (no second lookup to rebind); the peer of
//! the answer is vetted once more; redirects are followed by hand, each hop through the
//! same checks. Only public addresses pass, unless `metadata_fetch_allow` names the host
//! or a network holding the address. Every refusal and every network failure reads the
//! same ([`FetchError::Unreachable`]), so the answer cannot map ports or hosts; the cause
//! goes to the log.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::StatusCode;
use url::{Host, Url};

use super::metadata::MAX_METADATA;

/// Redirects followed before giving up; each one is vetted like the first URL.
const MAX_HOPS: usize = 5;
/// The whole fetch, every hop included.
const DEADLINE: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// What the admin typed: safe to say as it is.
    #[error("{0:?} is not an http(s) URL")]
    NotHttp(String),
    #[error("the SP metadata at that URL is larger than {MAX_METADATA} bytes")]
    TooLarge,
    #[error("the SP metadata at that URL is not UTF-8")]
    NotUtf8,
    /// A refused address, a closed port, a timeout, an HTTP error, a bad redirect: all
    /// alike on purpose. The cause is logged.
    #[error("could not fetch SP metadata from that URL (it must be a public http(s) address; see metadata_fetch_allow)")]
    Unreachable,
}

/// Where an address may be reached from; only [`Scope::Public`] is fetched by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Public,
    /// 0.0.0.0/8, `::`
    Unspecified,
    /// 127.0.0.0/8, `::1`
    Loopback,
    /// RFC 1918, fc00::/7 (RFC 4193)
    Private,
    /// 100.64.0.0/10, carrier-grade NAT (RFC 6598)
    Shared,
    /// 169.254.0.0/16 (cloud metadata services live here), fe80::/10
    LinkLocal,
    /// RFC 5737, 2001:db8::/32 (RFC 3849), 3fff::/20 (RFC 9637)
    Documentation,
    /// 198.18.0.0/15 (RFC 2544), 2001:2::/48 (RFC 5180)
    Benchmark,
    /// 224.0.0.0/4, ff00::/8
    Multicast,
    /// 255.255.255.255
    Broadcast,
    /// Everything else that is not global unicast: 240.0.0.0/4, 192.0.0.0/24, 6to4 relays,
    /// IPv6 outside 2000::/3, 2001::/23, 2002::/16 (RFC 6890 registries).
    Reserved,
}

/// The scope of an address; an IPv4-mapped or NAT64 (RFC 6052) IPv6 address has the
/// scope of the IPv4 address it carries.
pub fn scope(ip: IpAddr) -> Scope {
    match ip {
        IpAddr::V4(v4) => scope_v4(v4),
        IpAddr::V6(v6) => scope_v6(v6),
    }
}

fn scope_v4(ip: Ipv4Addr) -> Scope {
    match ip.octets() {
        [0, ..] => Scope::Unspecified,
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => Scope::Private,
        [100, 64..=127, ..] => Scope::Shared,
        [127, ..] => Scope::Loopback,
        [169, 254, ..] => Scope::LinkLocal,
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Scope::Documentation,
        [198, 18..=19, ..] => Scope::Benchmark,
        [192, 0, 0, _] | [192, 88, 99, _] => Scope::Reserved,
        [224..=239, ..] => Scope::Multicast,
        [255, 255, 255, 255] => Scope::Broadcast,
        [240..=255, ..] => Scope::Reserved,
        _ => Scope::Public,
    }
}

fn scope_v6(ip: Ipv6Addr) -> Scope {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return scope_v4(v4);
    }
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // A NAT64 gateway connects to the IPv4 address in the low 32 bits.
        let [.., a, b, c, d] = ip.octets();
        return scope_v4(Ipv4Addr::new(a, b, c, d));
    }
    match s[0] {
        _ if ip.is_unspecified() => Scope::Unspecified,
        _ if ip.is_loopback() => Scope::Loopback,
        x if x & 0xfe00 == 0xfc00 => Scope::Private,
        x if x & 0xffc0 == 0xfe80 => Scope::LinkLocal,
        x if x & 0xff00 == 0xff00 => Scope::Multicast,
        // Global unicast is 2000::/3 (RFC 4291 §2.4); this covers ::/96, 100::/64, fec0::/10.
        x if x & 0xe000 != 0x2000 => Scope::Reserved,
        0x2001 if s[1] == 0x0db8 => Scope::Documentation,
        0x3fff if s[1] < 0x1000 => Scope::Documentation,
        0x2001 if s[1] == 0x0002 && s[2] == 0 => Scope::Benchmark,
        // 2001::/23 (Teredo, ORCHID, ...) and 6to4 carry or reach other networks.
        0x2001 if s[1] < 0x0200 => Scope::Reserved,
        0x2002 => Scope::Reserved,
        _ => Scope::Public,
    }
}

/// `metadata_fetch_allow`: host names and networks fetched even when not public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchAllow {
    hosts: Vec<String>,
    nets: Vec<(IpAddr, u8)>,
}

impl FetchAllow {
    /// Comma-separated host names, IP addresses and CIDRs (`metadata.corp, 10.1.0.0/16,
    /// 127.0.0.1`); empty allows nothing extra.
    pub fn parse(v: &str) -> Result<FetchAllow, String> {
        let mut allow = FetchAllow::default();
        for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad =
                || format!("{entry:?} is not a host name, an IP address or a CIDR like 10.0.0.0/8");
            if let Some((addr, len)) = entry.split_once('/') {
                let ip: IpAddr = addr.parse().map_err(|_| bad())?;
                let width = if ip.is_ipv4() { 32 } else { 128 };
                let len: u8 = len.parse().ok().filter(|l| *l <= width).ok_or_else(bad)?;
                if masked(ip, len) != ip {
                    return Err(format!("{entry:?} has bits set after the /{len}"));
                }
                allow.nets.push((ip, len));
            } else if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
                let ip = ip.to_canonical();
                allow.nets.push((ip, if ip.is_ipv4() { 32 } else { 128 }));
            } else {
                let host = entry.trim_end_matches('.').to_ascii_lowercase();
                let label_ok = |l: &str| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                };
                if host.len() > 253 || !host.split('.').all(label_ok) {
                    return Err(bad());
                }
                allow.hosts.push(host);
            }
        }
        Ok(allow)
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.nets.is_empty()
    }

    /// Whether `ip`, reached under the host name `host` (none for an IP-literal URL), may
    /// be fetched.
    pub fn permits(&self, host: Option<&str>, ip: IpAddr) -> bool {
        scope(ip) == Scope::Public
            || host.is_some_and(|h| {
                let h = h.trim_end_matches('.');
                self.hosts.iter().any(|a| a.eq_ignore_ascii_case(h))
            })
            || self
                .nets
                .iter()
                .any(|(net, len)| masked(ip.to_canonical(), *len) == *net)
    }
}

/// `ip` with the bits after the first `len` cleared (also `serve::proxy`'s networks).
pub(crate) fn masked(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let keep = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & keep))
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & keep))
        }
    }
}

impl fmt::Display for FetchAllow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nets = self.nets.iter().map(|(ip, len)| format!("{ip}/{len}"));
        let all: Vec<String> = self.hosts.iter().cloned().chain(nets).collect();
        f.write_str(&all.join(","))
    }
}

impl serde::Serialize for FetchAllow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Resolves a name and keeps only the addresses the allow-list permits: the connector
/// connects to exactly these.
struct VettedResolver {
    allow: FetchAllow,
}

impl Resolve for VettedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let (kept, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                tokio::net::lookup_host((host.as_str(), 0))
                    .await?
                    .partition(|a| allow.permits(Some(&host), a.ip()));
            if kept.is_empty() {
                let refused: Vec<String> = refused
                    .iter()
                    .map(|a| format!("{} ({:?})", a.ip(), scope(a.ip())))
                    .collect();
                return Err(format!(
                    "{host} resolves to no permitted address: {}",
                    refused.join(", ")
                )
                .into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The SP's metadata at `url`: http(s) only, public addresses only unless `allow` says
/// otherwise, at most [`MAX_METADATA`] bytes, UTF-8, within 20 s including redirects.
pub async fn sp_metadata(url: &str, allow: &FetchAllow) -> Result<String, FetchError> {
    let start = http_url(url.trim()).ok_or_else(|| FetchError::NotHttp(url.to_string()))?;
    let origin = origin(&start);
    let outcome = tokio::time::timeout(DEADLINE, follow(start, allow))
        .await
        .unwrap_or_else(|_| Err(Failure::Network(format!("no answer within {DEADLINE:?}"))));
    match outcome {
        Ok(body) => String::from_utf8(body).map_err(|_| FetchError::NotUtf8),
        Err(Failure::TooLarge) => Err(FetchError::TooLarge),
        Err(Failure::Network(cause)) => {
            // Info, not warn: the CLI shows warnings, and its one line must stay uniform.
            tracing::info!(url = %origin, %cause, "SP metadata not fetched");
            Err(FetchError::Unreachable)
        }
    }
}

/// Why a fetch failed; only `TooLarge` reaches the admin as itself.
enum Failure {
    TooLarge,
    Network(String),
}

fn http_url(s: &str) -> Option<Url> {
    Url::parse(s)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// Scheme, host and port: enough for the log, without credentials, path or query.
fn origin(u: &Url) -> String {
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{}{port}", u.scheme(), u.host_str().unwrap_or(""))
}

fn domain(u: &Url) -> Option<&str> {
    match u.host() {
        Some(Host::Domain(d)) => Some(d),
        _ => None,
    }
}

async fn follow(mut url: Url, allow: &FetchAllow) -> Result<Vec<u8>, Failure> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve and connect out of our sight.
        .no_proxy()
        .dns_resolver(Arc::new(VettedResolver {
            allow: allow.clone(),
        }))
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(network)?;
    for _ in 0..=MAX_HOPS {
        // An IP literal never reaches the resolver: vet it here.
        let literal = match url.host() {
            Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal.filter(|ip| !allow.permits(None, *ip)) {
            return Err(refused(&url, ip));
        }
        let res = client.get(url.clone()).send().await.map_err(network)?;
        if let Some(peer) = res.remote_addr() {
            if !allow.permits(domain(&url), peer.ip()) {
                return Err(refused(&url, peer.ip()));
            }
        }
        let status = res.status();
        if matches!(
            status,
            StatusCode::MOVED_PERMANENTLY
                | StatusCode::FOUND
                | StatusCode::SEE_OTHER
                | StatusCode::TEMPORARY_REDIRECT
                | StatusCode::PERMANENT_REDIRECT
        ) {
            let next = res
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            url = next.ok_or_else(|| {
                Failure::Network(format!("{} redirected nowhere fetchable", origin(&url)))
            })?;
            continue;
        }
        if !status.is_success() {
            return Err(Failure::Network(format!(
                "{} answered HTTP {status}",
                origin(&url)
            )));
        }
        return read_capped(res).await;
    }
    Err(Failure::Network(format!("more than {MAX_HOPS} redirects")))
}

fn refused(url: &Url, ip: IpAddr) -> Failure {
    Failure::Network(format!(
        "{} is at {ip}, which is {:?} and not in metadata_fetch_allow",
        origin(url),
        scope(ip)
    ))
}

async fn read_capped(mut res: reqwest::Response) -> Result<Vec<u8>, Failure> {
    if res
        .content_length()
        .is_some_and(|n| n > MAX_METADATA as u64)
    {
        return Err(Failure::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(network)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_METADATA {
            return Err(Failure::TooLarge);
        }
    }
    Ok(body)
}

/// The error and its causes on one line, without the URL (it may carry credentials).
fn network(e: reqwest::Error) -> Failure {
    let e = e.without_url();
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    Failure::Network(cause)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_scopes() {
        for (addr, want) in [
            ("8.8.8.8", Scope::Public),
            ("1.1.1.1", Scope::Public),
            ("172.32.0.1", Scope::Public),
            ("100.128.0.1", Scope::Public),
            ("0.0.0.0", Scope::Unspecified),
            ("0.1.2.3", Scope::Unspecified),
            ("127.0.0.1", Scope::Loopback),
            ("127.255.255.254", Scope::Loopback),
            ("10.0.0.1", Scope::Private),
            ("172.16.0.1", Scope::Private),
            ("172.31.255.255", Scope::Private),
            ("192.168.1.1", Scope::Private),
            ("100.64.0.1", Scope::Shared),
            ("100.127.255.255", Scope::Shared),
            ("169.254.169.254", Scope::LinkLocal),
            ("192.0.2.1", Scope::Documentation),
            ("198.51.100.7", Scope::Documentation),
            ("203.0.113.9", Scope::Documentation),
            ("198.18.0.1", Scope::Benchmark),
            ("198.19.255.255", Scope::Benchmark),
            ("192.0.0.170", Scope::Reserved),
            ("192.88.99.1", Scope::Reserved),
            ("224.0.0.1", Scope::Multicast),
            ("239.255.255.250", Scope::Multicast),
            ("240.0.0.1", Scope::Reserved),
            ("255.255.255.255", Scope::Broadcast),
        ] {
            assert_eq!(scope(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn ipv6_scopes() {
        for (addr, want) in [
            ("2606:4700:4700::1111", Scope::Public),
            ("2001:4860:4860::8888", Scope::Public),
            ("::", Scope::Unspecified),
            ("::1", Scope::Loopback),
            ("fc00::1", Scope::Private),
            ("fd12:3456::1", Scope::Private),
            ("fe80::1", Scope::LinkLocal),
            ("febf::1", Scope::LinkLocal),
            ("fec0::1", Scope::Reserved),
            ("ff02::1", Scope::Multicast),
            ("2001:db8::1", Scope::Documentation),
            ("3fff:0fff::1", Scope::Documentation),
            ("2001:2::1", Scope::Benchmark),
            ("2001::1", Scope::Reserved),
            ("2002:7f00:1::1", Scope::Reserved),
            ("100::1", Scope::Reserved),
            ("::7f00:1", Scope::Reserved),
            ("64:ff9b:1::1", Scope::Reserved),
        ] {
            assert_eq!(scope(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn mapped_and_nat64_addresses_take_the_ipv4_scope() {
        for (addr, want) in [
            ("::ffff:127.0.0.1", Scope::Loopback),
            ("::ffff:7f00:1", Scope::Loopback),
            ("::ffff:10.1.2.3", Scope::Private),
            ("::ffff:169.254.169.254", Scope::LinkLocal),
            ("::ffff:100.64.0.1", Scope::Shared),
            ("::ffff:0.0.0.0", Scope::Unspecified),
            ("::ffff:8.8.8.8", Scope::Public),
            ("64:ff9b::127.0.0.1", Scope::Loopback),
            ("64:ff9b::a9fe:a9fe", Scope::LinkLocal),
            ("64:ff9b::8.8.8.8", Scope::Public),
        ] {
            assert_eq!(scope(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn the_allow_list_names_hosts_and_networks() {
        let a =
            FetchAllow::parse(" Metadata.Corp. , 10.1.0.0/16,127.0.0.1, [::1], fd00::/8 ").unwrap();
        assert_eq!(
            a.to_string(),
            "metadata.corp,10.1.0.0/16,127.0.0.1/32,::1/128,fd00::/8"
        );
        assert!(a.permits(Some("METADATA.corp."), ip("192.168.0.5")));
        assert!(!a.permits(Some("other.corp"), ip("192.168.0.5")));
        assert!(a.permits(None, ip("10.1.200.3")));
        assert!(!a.permits(None, ip("10.2.0.1")));
        assert!(a.permits(None, ip("127.0.0.1")));
        assert!(a.permits(None, ip("::ffff:127.0.0.1")));
        assert!(!a.permits(None, ip("127.0.0.2")));
        assert!(a.permits(None, ip("::1")));
        assert!(a.permits(None, ip("fd12::1")));
        assert!(!a.permits(None, ip("fc00::1")));
        assert!(a.permits(None, ip("8.8.8.8")));

        let none = FetchAllow::parse("").unwrap();
        assert!(none.is_empty());
        assert!(!none.permits(Some("localhost"), ip("127.0.0.1")));
        assert!(none.permits(Some("example.com"), ip("93.184.215.14")));
        let everything = FetchAllow::parse("0.0.0.0/0").unwrap();
        assert!(everything.permits(None, ip("169.254.169.254")));
        assert!(!everything.permits(None, ip("::1")));

        for bad in [
            "10.0.0.0/33",
            "10.0.0.1/8",
            "host:8080",
            "a b",
            "http://x",
            "x..y",
            "::1/129",
        ] {
            assert!(FetchAllow::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn refusals_read_alike_and_name_no_address() {
        let none = FetchAllow::default();
        // A listener nothing answers (open) and a port nothing listens on (closed).
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let urls = [
            format!("http://{}/metadata", open.local_addr().unwrap()),
            format!("http://127.0.0.1:{closed_port}/metadata"),
            "http://localhost/".to_string(),
            "http://[::1]/".to_string(),
            "http://[::ffff:127.0.0.1]/".to_string(),
            "http://2130706433/".to_string(),
            "https://169.254.169.254/latest/meta-data/".to_string(),
            "http://10.0.0.1/".to_string(),
        ];
        for url in &urls {
            let e = sp_metadata(url, &none).await.unwrap_err();
            assert!(matches!(e, FetchError::Unreachable), "{url}: {e}");
        }
        let e = sp_metadata("ftp://example.com/x", &none).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"ftp://example.com/x\" is not an http(s) URL"
        );
        assert!(matches!(
            sp_metadata("/etc/passwd", &none).await,
            Err(FetchError::NotHttp(_))
        ));
    }
}
