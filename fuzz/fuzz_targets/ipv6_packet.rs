//! Arbitrary bytes into `Packet6::parse` (IPv6 header, extension-header walk, TCP and
//! ICMPv6): never panics; the walk stays inside the packet and within its bounds; whatever
//! parses prints one line; TCP and ICMPv6 round-trip through emit. Also run with the
//! upper-layer checksum recomputed, so mutations reach the option and message parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuntcp::wire::{ExtAction, Ipv6Packet, Packet6, IPV6_HEADER_LEN, MAX_EXT_HEADERS};
use tuntcp_fuzz::{
    assert_no_checksum_error, check_icmpv6_round_trip, check_segment6_round_trip,
    with_v6_checksums_fixed,
};

fn check(p: &Packet6<'_>) {
    let line = p.to_string();
    assert!(!line.is_empty() && !line.contains('\n'));
    match p {
        Packet6::Tcp(s) => check_segment6_round_trip(s),
        Packet6::Icmp(i) => check_icmpv6_round_trip(i),
        Packet6::Fragment(_, c) => assert!(c.needs_reassembly()),
        Packet6::Refused(_, a) => assert_ne!(*a, ExtAction::Proceed),
    }
}

/// The walk of a whole or quoted packet stays inside it and within its bounds.
fn check_walk(ip: &Ipv6Packet<'_>) {
    if let Ok(c) = ip.chain() {
        let end = IPV6_HEADER_LEN + ip.payload.len();
        assert!(c.headers <= MAX_EXT_HEADERS);
        assert!(c.upper_offset <= end && c.next_header_pointer < c.upper_offset);
        assert_eq!(c.payload.len(), end - c.upper_offset);
        if let ExtAction::ParameterProblem { pointer, .. } = c.action {
            assert!((pointer as usize) < end);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(ip) = Ipv6Packet::parse(data) {
        check_walk(&ip);
    }
    if let Ok(ip) = Ipv6Packet::parse_quoted(data) {
        check_walk(&ip);
    }
    if let Ok(p) = Packet6::parse(data) {
        check(&p);
    }
    if let Some(fixed) = with_v6_checksums_fixed(data) {
        let r = Packet6::parse(&fixed);
        assert_no_checksum_error(&r);
        if let Ok(p) = r {
            check(&p);
        }
    }
});
