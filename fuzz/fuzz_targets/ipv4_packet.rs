//! Arbitrary bytes into `Packet::parse`: never panics; whatever parses prints one line;
//! TCP and ICMP round-trip through emit. Also run with checksums recomputed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuntcp::wire::Packet;
use tuntcp_fuzz::{
    assert_no_checksum_error, check_icmp_round_trip, check_segment_round_trip, with_checksums_fixed,
};

fn check(p: &Packet<'_>) {
    let line = p.to_string();
    assert!(!line.is_empty() && !line.contains('\n'));
    match p {
        Packet::Tcp(s) => check_segment_round_trip(s),
        Packet::Icmp(i) => check_icmp_round_trip(i),
        Packet::Fragment(ip) => assert!(ip.is_fragment()),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::parse(data) {
        check(&p);
    }
    if let Some(fixed) = with_checksums_fixed(data) {
        let r = Packet::parse(&fixed);
        assert_no_checksum_error(&r);
        if let Ok(p) = r {
            check(&p);
        }
    }
});
