//! The SSRF guard: decides whether an address, a host name or a port may be fetched from.
//!
//! Pure (std and ipnet): it judges values and never resolves or connects. The fetcher calls
//! [`check_ip`] on every address its resolver returns and on IP-literal hosts, so the address
//! that is connected to is always one that passed here. Refusing too much is a bug we can fix;
//! letting a private range through is the bug this module exists to prevent (WordPress
//! CVE-2013-0235), so when in doubt a range is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// Why a fetch target is refused. Messages are short and only ever logged: callers answer every
/// refusal with the same fault so that nothing about the inside network leaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    /// The address is in a range that is not the public internet.
    #[error("address {ip} is {range}")]
    Address {
        /// The refused address, as given (an IPv6 form that embeds IPv4 is not rewritten).
        ip: IpAddr,
        /// The name of the range it falls in.
        range: &'static str,
    },
    /// The host name always means this machine (`localhost` and its subdomains).
    #[error("host name {host} is local")]
    HostName {
        /// The refused name, as given.
        host: String,
    },
    /// The port is not in `fetch.allowed_ports`.
    #[error("port {port} is not allowed")]
    Port {
        /// The refused port.
        port: u16,
    },
}

/// IPv4 ranges that are refused, each with the name logged for it. Order matters only where
/// ranges overlap: the more specific one comes first so that its name is used.
const REFUSED_V4: [(Ipv4Net, &str); 16] = [
    (v4(0, 0, 0, 0, 8), "unspecified (this network)"),
    (v4(10, 0, 0, 0, 8), "private"),
    (v4(100, 64, 0, 0, 10), "shared address space (cgnat)"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (v4(169, 254, 0, 0, 16), "link-local"),
    (v4(172, 16, 0, 0, 12), "private"),
    (v4(192, 0, 0, 0, 24), "ietf protocol assignments"),
    (v4(192, 0, 2, 0, 24), "documentation"),
    (v4(192, 88, 99, 0, 24), "6to4 relay anycast"),
    (v4(192, 168, 0, 0, 16), "private"),
    (v4(198, 18, 0, 0, 15), "benchmarking"),
    (v4(198, 51, 100, 0, 24), "documentation"),
    (v4(203, 0, 113, 0, 24), "documentation"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (v4(255, 255, 255, 255, 32), "broadcast"),
    (v4(240, 0, 0, 0, 4), "reserved"),
];

/// IPv6 ranges that are refused outright. Ranges that embed an IPv4 address are not here: they
/// are unwrapped by [`embedded_ipv4`] and judged by the IPv4 table.
const REFUSED_V6: [(Ipv6Net, &str); 9] = [
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only"),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique-local"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
    // Local-use NAT64 (RFC 8215): what it translates to is a local decision, so it is refused.
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), "local-use nat64"),
];

/// `::ffff:a.b.c.d`. This and the forms below embed an IPv4 address that the packet ends up
/// at, so that address is what gets judged.
const IPV4_MAPPED: Ipv6Net = v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96);
/// `::ffff:0:a.b.c.d` (RFC 2765 IPv4-translated).
const IPV4_TRANSLATED: Ipv6Net = v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96);
/// `::a.b.c.d`, deprecated but still accepted by some stacks; `::` and `::1` are judged first.
const IPV4_COMPATIBLE: Ipv6Net = v6([0, 0, 0, 0, 0, 0, 0, 0], 96);
/// `64:ff9b::a.b.c.d` (RFC 6052 well-known NAT64 prefix).
const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
/// `2002:AABB:CCDD::/48` (RFC 3056 6to4) embeds the IPv4 address `AA.BB.CC.DD`.
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// Refuses every address that is not on the public internet: loopback, private, link-local
/// (cloud metadata at 169.254.169.254), CGNAT, unique-local, multicast, unspecified,
/// documentation, benchmarking, reserved and broadcast ranges, and IPv6 forms that embed such an
/// IPv4 address (mapped, compatible, translated, NAT64, 6to4).
pub fn check_ip(ip: IpAddr) -> Result<(), Blocked> {
    let refused = match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    };
    match refused {
        Some(range) => Err(Blocked::Address { ip, range }),
        None => Ok(()),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    REFUSED_V4
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, range)| *range)
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some((_, range)) = REFUSED_V6.iter().find(|(net, _)| net.contains(&ip)) {
        return Some(range);
    }
    embedded_ipv4(ip).and_then(refused_v4)
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms that embed one.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    if [IPV4_MAPPED, IPV4_TRANSLATED, IPV4_COMPATIBLE, NAT64]
        .iter()
        .any(|net| net.contains(&ip))
    {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if SIX_TO_FOUR.contains(&ip) {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Refuses `localhost`, any `*.localhost` and the same with a trailing dot, in any case
/// (RFC 6761: these names always mean this machine, whatever DNS says).
pub fn check_host_name(host: &str) -> Result<(), Blocked> {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return Err(Blocked::HostName {
            host: host.to_owned(),
        });
    }
    Ok(())
}

/// Refuses a port that is not in `allowed`.
pub fn check_port(port: u16, allowed: &[u16]) -> Result<(), Blocked> {
    if allowed.contains(&port) {
        Ok(())
    } else {
        Err(Blocked::Port { port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// `(address, refused range or None when allowed)`: every refused range with its first and
    /// last address, and the public addresses just outside it.
    const CASES: &[(&str, Option<&str>)] = &[
        // this network
        ("0.0.0.0", Some("unspecified (this network)")),
        ("0.255.255.255", Some("unspecified (this network)")),
        ("1.0.0.0", None),
        ("1.1.1.1", None),
        // private 10/8
        ("9.255.255.255", None),
        ("10.0.0.0", Some("private")),
        ("10.255.255.255", Some("private")),
        ("11.0.0.0", None),
        // cgnat 100.64/10
        ("100.63.255.255", None),
        ("100.64.0.0", Some("shared address space (cgnat)")),
        ("100.127.255.255", Some("shared address space (cgnat)")),
        ("100.128.0.0", None),
        // loopback
        ("126.255.255.255", None),
        ("127.0.0.1", Some("loopback")),
        ("127.255.255.254", Some("loopback")),
        ("128.0.0.0", None),
        // link-local and cloud metadata
        ("169.253.255.255", None),
        ("169.254.0.0", Some("link-local")),
        ("169.254.169.254", Some("link-local")),
        ("169.254.255.255", Some("link-local")),
        ("169.255.0.0", None),
        // private 172.16/12
        ("172.15.255.255", None),
        ("172.16.0.0", Some("private")),
        ("172.31.255.255", Some("private")),
        ("172.32.0.0", None),
        // 192.0.0/24, 192.0.2/24
        ("191.255.255.255", None),
        ("192.0.0.0", Some("ietf protocol assignments")),
        ("192.0.0.255", Some("ietf protocol assignments")),
        ("192.0.1.0", None),
        ("192.0.2.0", Some("documentation")),
        ("192.0.2.255", Some("documentation")),
        ("192.0.3.0", None),
        // 6to4 relay anycast
        ("192.88.98.255", None),
        ("192.88.99.0", Some("6to4 relay anycast")),
        ("192.88.99.255", Some("6to4 relay anycast")),
        ("192.88.100.0", None),
        // private 192.168/16
        ("192.167.255.255", None),
        ("192.168.0.0", Some("private")),
        ("192.168.255.255", Some("private")),
        ("192.169.0.0", None),
        // benchmarking 198.18/15
        ("198.17.255.255", None),
        ("198.18.0.0", Some("benchmarking")),
        ("198.19.255.255", Some("benchmarking")),
        ("198.20.0.0", None),
        // documentation 198.51.100/24, 203.0.113/24
        ("198.51.99.255", None),
        ("198.51.100.0", Some("documentation")),
        ("198.51.100.255", Some("documentation")),
        ("198.51.101.0", None),
        ("203.0.112.255", None),
        ("203.0.113.0", Some("documentation")),
        ("203.0.113.255", Some("documentation")),
        ("203.0.114.0", None),
        // multicast, reserved, broadcast
        ("223.255.255.255", None),
        ("224.0.0.0", Some("multicast")),
        ("239.255.255.255", Some("multicast")),
        ("240.0.0.0", Some("reserved")),
        ("254.255.255.255", Some("reserved")),
        ("255.255.255.254", Some("reserved")),
        ("255.255.255.255", Some("broadcast")),
        // public
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        // IPv6 unspecified, loopback
        ("::", Some("unspecified")),
        ("::1", Some("loopback")),
        ("::2", Some("unspecified (this network)")),
        // IPv4-mapped, -compatible, -translated, NAT64, 6to4: the embedded address decides
        ("::ffff:127.0.0.1", Some("loopback")),
        ("::ffff:10.1.2.3", Some("private")),
        ("::ffff:169.254.169.254", Some("link-local")),
        ("::ffff:0.0.0.0", Some("unspecified (this network)")),
        ("::ffff:8.8.8.8", None),
        ("::127.0.0.1", Some("loopback")),
        ("::192.168.1.1", Some("private")),
        ("::8.8.8.8", None),
        ("::ffff:0:127.0.0.1", Some("loopback")),
        ("::ffff:0:8.8.8.8", None),
        ("64:ff9b::127.0.0.1", Some("loopback")),
        ("64:ff9b::a9fe:a9fe", Some("link-local")),
        ("64:ff9b::8.8.8.8", None),
        ("64:ff9b:1::1", Some("local-use nat64")),
        ("2002:7f00:1::", Some("loopback")),
        ("2002:c0a8:101::1", Some("private")),
        ("2002:808:808::1", None),
        // discard-only 100::/64
        ("100::", Some("discard-only")),
        ("100::ffff:ffff:ffff:ffff", Some("discard-only")),
        ("100:0:0:1::", None),
        // documentation 2001:db8::/32
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("2001:db8::", Some("documentation")),
        (
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            Some("documentation"),
        ),
        ("2001:db9::", None),
        // unique-local fc00::/7
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("fc00::", Some("unique-local")),
        ("fd12:3456::1", Some("unique-local")),
        (
            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            Some("unique-local"),
        ),
        // link-local fe80::/10, site-local fec0::/10
        ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("fe80::", Some("link-local")),
        (
            "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            Some("link-local"),
        ),
        ("fec0::", Some("site-local")),
        (
            "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            Some("site-local"),
        ),
        // multicast ff00::/8
        ("ff00::", Some("multicast")),
        ("ff02::1", Some("multicast")),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some("multicast")),
        // public
        ("2606:4700::1", None),
        ("2a00:1450:4001:80b::200e", None),
    ];

    #[test]
    fn every_range_is_refused_and_its_neighbours_allowed() {
        for &(text, expected) in CASES {
            let ip: IpAddr = text.parse().expect(text);
            let got = check_ip(ip);
            match expected {
                None => assert_eq!(got, Ok(()), "{text} should be allowed"),
                Some(range) => assert_eq!(got, Err(Blocked::Address { ip, range }), "{text}"),
            }
        }
    }

    #[test]
    fn host_names_for_this_machine_are_refused() {
        for host in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "LocalHost.",
            "a.localhost",
            "deep.sub.Localhost",
            "x.localhost.",
        ] {
            assert_eq!(
                check_host_name(host),
                Err(Blocked::HostName {
                    host: host.to_owned()
                }),
                "{host}"
            );
        }
        for host in [
            "example.com",
            "localhost.example.com",
            "notlocalhost",
            "localhostx",
            "xlocalhost.",
            "",
        ] {
            assert_eq!(check_host_name(host), Ok(()), "{host}");
        }
    }

    #[test]
    fn only_listed_ports_pass() {
        let allowed = [80, 443, 8080];
        for port in allowed {
            assert_eq!(check_port(port, &allowed), Ok(()));
        }
        for port in [0, 22, 25, 81, 3306, 6379, 8081, 65535] {
            assert_eq!(check_port(port, &allowed), Err(Blocked::Port { port }));
        }
        assert_eq!(check_port(80, &[]), Err(Blocked::Port { port: 80 }));
    }

    #[test]
    fn messages_are_short_and_lowercase() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(
            Blocked::Address {
                ip,
                range: "loopback"
            }
            .to_string(),
            "address 127.0.0.1 is loopback"
        );
        assert_eq!(
            Blocked::HostName {
                host: "localhost".to_owned()
            }
            .to_string(),
            "host name localhost is local"
        );
        assert_eq!(
            Blocked::Port { port: 22 }.to_string(),
            "port 22 is not allowed"
        );
    }

    /// The WHATWG parser turns every odd spelling of an address into an IP host, so checking
    /// `url::Host::Ipv4`/`Ipv6` is enough; no spelling reaches the resolver as a "name".
    #[test]
    fn odd_spellings_of_loopback_parse_to_refused_ip_hosts() {
        for raw in [
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://127.0.0.1./",
            "http://0x7f.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[0:0:0:0:0:0:0:1]/",
            "http://0/",
        ] {
            let url = url::Url::parse(raw).expect(raw);
            let ip = match url.host() {
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
                other => panic!("{raw} parsed to {other:?}"),
            };
            assert!(
                matches!(check_ip(ip), Err(Blocked::Address { .. })),
                "{raw} → {ip} must be refused"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics_v4(bits in any::<u32>()) {
            let _ = check_ip(IpAddr::V4(Ipv4Addr::from(bits)));
        }

        #[test]
        fn never_panics_v6(bits in any::<u128>()) {
            let _ = check_ip(IpAddr::V6(Ipv6Addr::from(bits)));
        }

        #[test]
        fn never_panics_on_names(host in any::<String>(), port in any::<u16>()) {
            let _ = check_host_name(&host);
            let _ = check_port(port, &[80, 443]);
        }

        /// An IPv4 address and its IPv4-mapped IPv6 form always get the same verdict.
        #[test]
        fn mapped_form_judged_like_ipv4(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            prop_assert_eq!(check_ip(IpAddr::V4(v4)).is_ok(), check_ip(mapped).is_ok());
        }
    }
}
