//! IPv6 address checks for a host with one address on a point-to-point link (RFC 4291,
//! RFC 8200), the counterpart of [`super::addr`].
//!
//! - input, destination: only our own address ([`is_destination_for`]). Multicast is
//!   dropped: a TUN needs no Neighbor Discovery or MLD, and TCP answers no multicast
//!   (RFC 9293 MUST-57).
//! - input, source: could a single host have sent it? ([`is_valid_source`].)
//! - `connect()`: may the remote be opened? ([`is_valid_remote`], MUST-46.)
//!
//! What this module does not do: prefixes, scopes and zone ids, SLAAC, ND, or the
//! IPv4-mapped form as a way to reach IPv4 peers (it is refused: the stack speaks IPv4 as
//! IPv4).

use std::net::Ipv6Addr;

/// `::ffff:0:0/96` (RFC 4291 §2.5.5.2): an IPv4 address written as IPv6, never on the wire.
fn is_v4_mapped(a: Ipv6Addr) -> bool {
    a.to_ipv4_mapped().is_some()
}

/// Is a received packet addressed to us? Only our own unicast address is.
pub fn is_destination_for(ours: Ipv6Addr, dst: Ipv6Addr) -> bool {
    dst == ours && !dst.is_multicast() && !dst.is_unspecified()
}

/// Could a single host have sent this packet? Not from the unspecified address (it
/// appears only in DAD, which we do not answer), multicast (RFC 4291 §2.7: never a
/// source), loopback (RFC 4291 §2.5.3: never sent on a link), IPv4-mapped, or our own
/// address.
pub fn is_valid_source(ours: Ipv6Addr, src: Ipv6Addr) -> bool {
    !(src.is_unspecified()
        || src.is_multicast()
        || src.is_loopback()
        || is_v4_mapped(src)
        || src == ours)
}

/// May `connect()` open a connection to `a`? Not to the unspecified address, multicast
/// (MUST-46), loopback (no loopback path: the kernel would drop `::1` from a device) or an
/// IPv4-mapped address.
pub fn is_valid_remote(a: Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_multicast() || a.is_loopback() || is_v4_mapped(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn destination_is_our_unicast_only() {
        let us = ip("fd66::2");
        assert!(is_destination_for(us, us));
        for d in ["fd66::1", "ff02::1", "ff02::1:ff00:2", "::"] {
            assert!(!is_destination_for(us, ip(d)), "{d}");
        }
    }

    #[test]
    fn sources_a_host_cannot_have() {
        let us = ip("fd66::2");
        for s in ["::", "ff02::1", "::1", "::ffff:10.0.0.1", "fd66::2"] {
            assert!(!is_valid_source(us, ip(s)), "{s} accepted as source");
        }
        for s in ["fd66::1", "2001:db8::7", "fe80::1"] {
            assert!(is_valid_source(us, ip(s)), "{s} rejected as source");
        }
    }

    #[test]
    fn must_46_connect_to_multicast_rejected_v6() {
        for a in ["ff02::1", "ff0e::1", "::", "::1", "::ffff:10.66.0.1"] {
            assert!(!is_valid_remote(ip(a)), "{a} accepted as remote");
        }
        assert!(is_valid_remote(ip("fd66::1")));
        assert!(is_valid_remote(ip("2001:db8::1")));
    }
}
