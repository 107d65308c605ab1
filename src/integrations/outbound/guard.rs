//! Which addresses a target a caller named may reach. A caller (an Azure
//! DevOps task's `PlanUrl`, a GitHub event's callback URL) must not turn
//! Greenlight into a proxy to the network it runs in: loopback, private
//! and link-local addresses (the cloud's metadata service among them) are
//! refused. Checked when connecting, on the addresses connected to, so a
//! name that resolves elsewhere between a check and the connection
//! (DNS rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why `ip` is not for a caller's target, or `None` if it may be called.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        // 169.254.169.254 is the metadata service of most clouds.
        Some("a link-local address")
    } else if a == 0 {
        // 0.0.0.0 reaches this machine on Linux; the rest of 0/8 is no
        // destination at all.
        Some("an unspecified address")
    } else if a == 100 && (64..128).contains(&b) {
        // 100.64/10: carrier-grade NAT, and Alibaba Cloud's metadata service.
        Some("a shared (carrier-grade NAT) address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if let Some(v4) = embedded_v4(ip) {
        forbidden_v4(v4)
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private address") // fc00::/7, unique local
    } else if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
        Some("a link-local address") // fe80::/10, and the old site-local fec0::/10
    } else {
        None
    }
}

/// The IPv4 address an IPv6 one stands for: IPv4-mapped (`::ffff:a.b.c.d`,
/// which the OS connects to over IPv4), the old IPv4-compatible
/// (`::a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    (s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0])
        .then(|| Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
}

/// A connection refused because of where it would go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The URL names the address itself (no DNS is asked).
    #[error("the host is {0}")]
    Literal(&'static str),
    /// The name resolves to at least one such address.
    #[error("the host resolves to {0}")]
    Resolved(&'static str),
}

/// A literal IP host, checked (reqwest connects to those without asking
/// the resolver).
pub fn check_literal(url: &url::Url) -> Result<(), Refusal> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    forbidden(ip).map_or(Ok(()), |why| Err(Refusal::Literal(why)))
}

/// The system's resolver, refusing a name if any address it resolves to
/// is forbidden: the connection then goes to none of them.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(why) = addrs.iter().find_map(|a| forbidden(a.ip())) {
                return Err(Refusal::Resolved(why).into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(ip: &str) -> Option<&'static str> {
        forbidden(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_loopback_private_link_local_and_unspecified_are_forbidden() {
        for (ip, expected) in [
            ("127.0.0.1", "a loopback address"),
            ("127.255.0.9", "a loopback address"),
            ("10.0.0.1", "a private address"),
            ("10.255.255.255", "a private address"),
            ("172.16.0.1", "a private address"),
            ("172.31.255.254", "a private address"),
            ("192.168.1.1", "a private address"),
            ("169.254.169.254", "a link-local address"),
            ("169.254.0.1", "a link-local address"),
            ("0.0.0.0", "an unspecified address"),
            ("0.1.2.3", "an unspecified address"),
            ("100.64.0.1", "a shared (carrier-grade NAT) address"),
            ("100.100.100.200", "a shared (carrier-grade NAT) address"),
        ] {
            assert_eq!(why(ip), Some(expected), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "13.107.42.16", // dev.azure.com
            "140.82.112.6", // api.github.com
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "169.253.255.255",
            "100.63.255.255",
            "100.128.0.0",
            "11.0.0.1",
            "1.0.0.0",
        ] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_loopback_unique_local_link_local_and_unspecified_are_forbidden() {
        for (ip, expected) in [
            ("::1", "a loopback address"),
            ("::", "an unspecified address"),
            ("fc00::1", "a private address"),
            ("fd12:3456:789a::1", "a private address"),
            ("fe80::1", "a link-local address"),
            ("febf::1", "a link-local address"),
            ("fec0::1", "a link-local address"),
            ("fd00:ec2::254", "a private address"), // AWS's IPv6 metadata
        ] {
            assert_eq!(why(ip), Some(expected), "{ip}");
        }
        for ip in [
            "2001:4860:4860::8888",
            "2620:1ec:21::16",
            "fb00::1",
            "ff02::1:2", // not link-local unicast; nothing connects to it
        ] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv4_in_ipv6_is_judged_as_the_ipv4_address() {
        for (ip, expected) in [
            ("::ffff:127.0.0.1", Some("a loopback address")),
            ("::ffff:7f00:1", Some("a loopback address")),
            ("::ffff:169.254.169.254", Some("a link-local address")),
            ("::ffff:10.1.2.3", Some("a private address")),
            ("::ffff:192.168.0.1", Some("a private address")),
            ("::ffff:0.0.0.0", Some("an unspecified address")),
            ("64:ff9b::169.254.169.254", Some("a link-local address")),
            ("64:ff9b::10.0.0.1", Some("a private address")),
            ("::127.0.0.1", Some("a loopback address")),
            ("::2", Some("an unspecified address")),
            ("::ffff:8.8.8.8", None),
            ("::8.8.8.8", None),
            ("64:ff9b::8.8.8.8", None),
        ] {
            assert_eq!(why(ip), expected, "{ip}");
        }
    }

    #[test]
    fn literal_hosts_are_checked_in_every_spelling_the_url_parser_accepts() {
        for url in [
            "http://127.0.0.1:8080/x",
            "http://2130706433/", // 127.0.0.1 as one number
            "http://0x7f.1/",     // and in hex
            "http://[::1]/",
            "http://[::ffff:169.254.169.254]/latest",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0:80/",
        ] {
            let parsed = url::Url::parse(url).unwrap();
            assert!(
                matches!(check_literal(&parsed), Err(Refusal::Literal(_))),
                "{url}"
            );
        }
        for url in [
            "https://dev.azure.com/x",
            "https://8.8.8.8/",
            "http://[2001:db8::1]/",
        ] {
            assert_eq!(
                check_literal(&url::Url::parse(url).unwrap()),
                Ok(()),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_by_the_resolver() {
        let refused = match PublicOnly.resolve("localhost".parse().unwrap()).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert_eq!(
            refused.downcast_ref::<Refusal>(),
            Some(&Refusal::Resolved("a loopback address"))
        );
    }
}
