//! Which addresses a delivery may connect to. A webhook URL is the
//! tenant's to choose, so without a check it could reach the platform's
//! own network: loopback, private ranges, cloud metadata (169.254.169.254).
//! The sender resolves a name once, checks every address here, and
//! connects only to an address that passed (so a second lookup cannot
//! return another one).
//!
//! Refused unless `notifier.allowed_networks` lists them: loopback,
//! unspecified, private (10/8, 172.16/12, 192.168/16), link-local
//! (169.254/16, fe80::/10), CGNAT (100.64/10), multicast, broadcast,
//! reserved and documentation ranges, benchmarking (198.18/15), IETF
//! protocol assignments (192.0.0/24), unique-local (fc00::/7), discard
//! (100::/64), NAT64 (64:ff9b::/96) and IPv4-mapped (::ffff:0:0/96)
//! addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Networks a deployment allows although they are refused by default
/// (tests, on-premises receivers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// `127.0.0.0/8, ::1/128`: comma-separated CIDR networks.
    pub fn parse(allowed: &str) -> Result<Self, String> {
        let allowed = allowed
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.parse::<IpNet>().map_err(|_| format!("{n:?} is not a network in CIDR form (e.g. 10.0.0.0/8 or fd00::/8)")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AddressPolicy { allowed })
    }

    /// `None` when `address` may be connected to, else why not.
    pub fn refusal(&self, address: IpAddr) -> Option<&'static str> {
        let why = refused_by_default(address)?;
        if self.allowed.iter().any(|net| net.contains(&address)) { None } else { Some(why) }
    }
}

fn refused_by_default(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(a: Ipv4Addr) -> Option<&'static str> {
    let [first, second, third, _] = a.octets();
    Some(match () {
        () if a.is_loopback() => "loopback",
        () if a.is_unspecified() || first == 0 => "unspecified (0.0.0.0/8)",
        () if a.is_private() => "private",
        () if a.is_link_local() => "link-local (169.254.0.0/16, cloud metadata among them)",
        () if first == 100 && (64..128).contains(&second) => "shared address space (CGNAT, 100.64.0.0/10)",
        () if a.is_multicast() => "multicast",
        () if a.is_broadcast() => "broadcast",
        () if first >= 240 => "reserved (240.0.0.0/4)",
        () if a.is_documentation() => "documentation",
        () if first == 198 && (second == 18 || second == 19) => "benchmarking (198.18.0.0/15)",
        () if first == 192 && second == 0 && third == 0 => "IETF protocol assignments (192.0.0.0/24)",
        () => return None,
    })
}

fn refused_v6(a: Ipv6Addr) -> Option<&'static str> {
    let segments = a.segments();
    Some(match () {
        () if a.is_loopback() => "loopback",
        () if a.is_unspecified() => "unspecified",
        () if a.is_multicast() => "multicast",
        () if segments[0] & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
        () if segments[0] & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        () if a.to_ipv4_mapped().is_some() => "IPv4-mapped (::ffff:0:0/96)",
        () if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => "NAT64 (64:ff9b::/96)",
        () if segments[..4] == [0x100, 0, 0, 0] => "discard (100::/64)",
        () if segments[0] == 0x2001 && segments[1] == 0xdb8 => "documentation (2001:db8::/32)",
        () => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &AddressPolicy, address: &str) -> bool {
        policy.refusal(address.parse().expect("address")).is_some()
    }

    #[test]
    fn the_platforms_own_networks_are_refused_and_public_addresses_pass() {
        let policy = AddressPolicy::default();
        for address in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fd00::1",
            "fc12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::a00:1",
            "100::1",
            "2001:db8::1",
        ] {
            assert!(refused(&policy, address), "{address} must be refused");
        }
        for address in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "198.20.0.1", "2606:4700:4700::1111", "2a00:1450:4001::200e"] {
            assert!(!refused(&policy, address), "{address} must pass");
        }
    }

    #[test]
    fn allowed_networks_open_only_themselves() {
        let policy = AddressPolicy::parse("127.0.0.0/8, ::1/128").expect("policy");
        assert!(!refused(&policy, "127.0.0.1") && !refused(&policy, "::1"));
        assert!(refused(&policy, "10.0.0.1") && refused(&policy, "169.254.169.254") && refused(&policy, "::ffff:127.0.0.1"));
        assert_eq!(AddressPolicy::parse(""), Ok(AddressPolicy::default()));
        assert!(AddressPolicy::parse("127.0.0.1/33").is_err());
        assert!(AddressPolicy::parse("localhost").is_err());
    }
}
