//! IPv4 address validation for a host with one address on one subnet (RFC 1122 §3.2.1.3,
//! RFC 9293 MUST-46, MUST-57, MUST-63).
//!
//! Three questions, asked at three places:
//! - input, destination: is this datagram for us? Only our own unicast address is
//!   ([`is_unicast_destination_for`]); TCP silently drops anything sent to a broadcast or
//!   multicast address (MUST-57), and hosts do not forward (RFC 1122 §3.2.1.3).
//! - input, source: could a single host have sent it? ([`is_valid_source`], MUST-63.)
//! - `connect()`: is the remote a unicast host we could reach? ([`is_valid_remote`], MUST-46.)
//!
//! What this module does not do: multi-homing, secondary addresses, multicast group
//! membership, routing or ARP. It answers yes/no; the stack counts and drops.

use std::net::Ipv4Addr;

/// The stack's own address and the prefix length of the subnet it sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subnet {
    /// The stack's address.
    pub addr: Ipv4Addr,
    /// 0..=32; [`Subnet::new`] clamps larger values to 32.
    pub prefix_len: u8,
}

impl Subnet {
    /// `prefix_len` above 32 is clamped to 32 (configuration, not wire input: no panic).
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Subnet {
        Subnet {
            addr,
            prefix_len: prefix_len.min(32),
        }
    }

    /// The netmask, e.g. 255.255.255.0 for /24.
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }

    /// The network address (host part all zeros).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The directed broadcast address `{<Network-number>, -1}` (RFC 1122 §3.2.1.3 (d)).
    ///
    /// /31 (RFC 3021 point-to-point) and /32 have no directed broadcast: both return the
    /// limited broadcast 255.255.255.255, which is a broadcast on every subnet anyway.
    pub fn broadcast(&self) -> Ipv4Addr {
        if self.prefix_len >= 31 {
            return Ipv4Addr::BROADCAST;
        }
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// True if `a` lies inside the subnet (network and broadcast addresses included).
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// True for any broadcast form this subnet knows: limited, directed, and the obsolete
    /// all-zeros host part `{<Network-number>, 0}` that RFC 1122 §3.3.6 says hosts SHOULD
    /// recognise (4.2BSD). The last two only exist for prefixes up to /30.
    pub fn is_broadcast(&self, a: Ipv4Addr) -> bool {
        a == Ipv4Addr::BROADCAST
            || (self.prefix_len <= 30 && (a == self.broadcast() || a == self.network()))
    }

    fn mask(&self) -> u32 {
        // checked_shl: a shift by 32 (prefix 0) would overflow.
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len.min(32)))
            .unwrap_or(0)
    }
}

/// 224.0.0.0/4 (RFC 5771).
fn is_multicast(a: Ipv4Addr) -> bool {
    a.octets()[0] & 0xF0 == 0xE0
}

/// 240.0.0.0/4, "Class E" (RFC 1112 §4), 255.255.255.255 included.
fn is_reserved(a: Ipv4Addr) -> bool {
    a.octets()[0] & 0xF0 == 0xF0
}

/// 0.0.0.0/8: "this host" / "specified host on this network" (RFC 1122 §3.2.1.3 (a), (b)),
/// never valid on the wire except as a source during bootstrapping, which we do not do.
fn is_this_network(a: Ipv4Addr) -> bool {
    a.octets()[0] == 0
}

/// True for broadcast (any form, see [`Subnet::is_broadcast`]) or multicast: addresses
/// that name more than one host. RFC 1122 §3.2.2 forbids ICMP errors about datagrams sent
/// to them, RFC 9293 MUST-57 forbids TCP to answer them.
pub fn is_broadcast_or_multicast(subnet: &Subnet, a: Ipv4Addr) -> bool {
    subnet.is_broadcast(a) || is_multicast(a)
}

/// Is a received datagram addressed to us? Only our own unicast address is.
///
/// Broadcast and multicast are false (MUST-57: silently drop such SYNs, and we accept no
/// broadcast traffic at all: we run no protocol that needs it). Any other address is false
/// too: a host does not forward (RFC 1122 §3.2.1.3, §3.3.1.1).
pub fn is_unicast_destination_for(subnet: &Subnet, dst: Ipv4Addr) -> bool {
    dst == subnet.addr && !is_broadcast_or_multicast(subnet, dst) && !dst.is_unspecified()
}

/// Could a single host have sent this datagram? (RFC 1122 §3.2.1.3, MUST-63.)
///
/// Rejects 0.0.0.0/8, 255.255.255.255, the subnet's broadcast forms, multicast 224/4,
/// reserved 240/4, loopback 127/8 (it never arrives from a wire: RFC 1122 §3.2.1.3 (g))
/// and our own address (a martian: nobody else may use it, and a packet from ourselves
/// to ourselves never crosses the TUN).
pub fn is_valid_source(subnet: &Subnet, src: Ipv4Addr) -> bool {
    !(is_this_network(src)
        || subnet.is_broadcast(src)
        || is_multicast(src)
        || is_reserved(src)
        || src.is_loopback()
        || src == subnet.addr)
}

/// May `connect()` open a connection to `a`? (RFC 9293 MUST-46: reject an OPEN to a
/// broadcast or multicast address, as an error.)
///
/// Rejects 0.0.0.0/8, 255.255.255.255, the subnet's broadcast forms, multicast 224/4 and
/// reserved 240/4. Also rejects loopback 127/8: this stack has no loopback path and the
/// kernel at the other end of the TUN drops 127/8 from a device as martian, so such a SYN
/// could never be answered. Our own address is allowed: whether to loop it back is the
/// stack's business, not an address-validity question.
pub fn is_valid_remote(subnet: &Subnet, a: Ipv4Addr) -> bool {
    !(is_this_network(a)
        || subnet.is_broadcast(a)
        || is_multicast(a)
        || is_reserved(a)
        || a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn net24() -> Subnet {
        Subnet::new(ip("10.66.0.2"), 24)
    }

    #[test]
    fn subnet_arithmetic() {
        let s = net24();
        assert_eq!(s.netmask(), ip("255.255.255.0"));
        assert_eq!(s.network(), ip("10.66.0.0"));
        assert_eq!(s.broadcast(), ip("10.66.0.255"));
        assert!(s.contains(ip("10.66.0.1")));
        assert!(s.contains(ip("10.66.0.255")));
        assert!(!s.contains(ip("10.66.1.1")));
    }

    #[test]
    fn subnet_edge_prefixes() {
        let s0 = Subnet::new(ip("10.0.0.1"), 0);
        assert_eq!(s0.netmask(), ip("0.0.0.0"));
        assert!(s0.contains(ip("192.168.1.1")));
        assert_eq!(s0.broadcast(), Ipv4Addr::BROADCAST);

        let s32 = Subnet::new(ip("10.0.0.1"), 32);
        assert!(s32.contains(ip("10.0.0.1")));
        assert!(!s32.contains(ip("10.0.0.2")));
        assert_eq!(s32.broadcast(), Ipv4Addr::BROADCAST);

        // RFC 3021: both /31 addresses are hosts, neither is a broadcast.
        let s31 = Subnet::new(ip("10.0.0.0"), 31);
        assert_eq!(s31.broadcast(), Ipv4Addr::BROADCAST);
        assert!(!s31.is_broadcast(ip("10.0.0.1")));
        assert!(is_valid_source(&s31, ip("10.0.0.1")));

        assert_eq!(Subnet::new(ip("10.0.0.1"), 200).prefix_len, 32);
    }

    #[test]
    fn must_57_broadcast_destination_rejected() {
        let s = net24();
        assert!(is_unicast_destination_for(&s, ip("10.66.0.2")));
        for d in ["255.255.255.255", "10.66.0.255", "10.66.0.0"] {
            assert!(!is_unicast_destination_for(&s, ip(d)), "{d}");
        }
    }

    #[test]
    fn must_57_multicast_destination_rejected() {
        let s = net24();
        for d in ["224.0.0.1", "239.255.255.255", "224.0.0.251"] {
            assert!(!is_unicast_destination_for(&s, ip(d)), "{d}");
        }
    }

    #[test]
    fn foreign_unicast_destination_rejected() {
        // RFC 1122 §3.2.1.3: a host does not forward; a neighbour's address is not ours.
        let s = net24();
        assert!(!is_unicast_destination_for(&s, ip("10.66.0.3")));
        assert!(!is_unicast_destination_for(&s, ip("8.8.8.8")));
        assert!(!is_unicast_destination_for(&s, ip("0.0.0.0")));
    }

    #[test]
    fn must_63_invalid_sources_rejected() {
        let s = net24();
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "10.66.0.255",
            "10.66.0.0",
            "224.0.0.1",
            "239.1.1.1",
            "240.0.0.1",
            "250.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "10.66.0.2",
        ] {
            assert!(!is_valid_source(&s, ip(a)), "{a} accepted as source");
        }
    }

    #[test]
    fn must_63_ordinary_sources_accepted() {
        let s = net24();
        for a in [
            "10.66.0.1",
            "10.66.0.254",
            "192.168.1.1",
            "8.8.8.8",
            "1.0.0.0",
        ] {
            assert!(is_valid_source(&s, ip(a)), "{a} rejected as source");
        }
        // Another subnet's broadcast address is just an address to us.
        assert!(is_valid_source(&s, ip("10.77.0.255")));
    }

    #[test]
    fn must_46_connect_to_broadcast_or_multicast_rejected() {
        let s = net24();
        for a in [
            "255.255.255.255",
            "10.66.0.255",
            "10.66.0.0",
            "224.0.0.1",
            "239.0.0.9",
            "0.0.0.0",
            "240.0.0.1",
            "127.0.0.1",
        ] {
            assert!(!is_valid_remote(&s, ip(a)), "{a} accepted as remote");
        }
    }

    #[test]
    fn must_46_connect_to_unicast_accepted() {
        let s = net24();
        for a in ["10.66.0.1", "93.184.216.34", "10.66.0.2"] {
            assert!(is_valid_remote(&s, ip(a)), "{a} rejected as remote");
        }
    }

    #[test]
    fn broadcast_or_multicast_classification() {
        let s = net24();
        assert!(is_broadcast_or_multicast(&s, ip("224.0.0.1")));
        assert!(is_broadcast_or_multicast(&s, ip("10.66.0.255")));
        assert!(is_broadcast_or_multicast(&s, Ipv4Addr::BROADCAST));
        assert!(!is_broadcast_or_multicast(&s, ip("10.66.0.1")));
        assert!(!is_broadcast_or_multicast(&s, ip("240.0.0.1")));
    }
}
