//! Arbitrary bytes into `Segment::parse`: never panics; what parses round-trips. The same
//! bytes with checksums recomputed must not fail on a checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuntcp::wire::Segment;
use tuntcp_fuzz::{assert_no_checksum_error, check_segment_round_trip, with_checksums_fixed};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Segment::parse(data) {
        check_segment_round_trip(&s);
    }
    if let Some(fixed) = with_checksums_fixed(data) {
        let r = Segment::parse(&fixed);
        assert_no_checksum_error(&r);
        if let Ok(s) = r {
            check_segment_round_trip(&s);
        }
    }
});
