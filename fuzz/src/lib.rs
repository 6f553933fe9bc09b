//! Checks shared by the fuzz targets, and the stack target's driver.

pub mod stack_driver;

use tuntcp::wire::{
    checksum_add, checksum_finish, checksum_pseudo_header_v6, EmitError, IcmpPacket, Icmpv6Packet,
    Ipv6Packet, Packet6, SackList, Segment, Segment6, WireError, IPPROTO_ICMPV6, IPPROTO_TCP,
};

/// A parsed segment emits and parses back to itself. The one allowed difference: emit keeps
/// only the SACK blocks that fit beside the other options (RFC 2018 §3, 40 option bytes),
/// so the blocks that come back must be a prefix of the ones parsed.
pub fn check_segment_round_trip(s: &Segment<'_>) {
    let mut buf = vec![0; s.buffer_len()];
    match s.emit(&mut buf) {
        Ok(n) => assert_eq!(n, buf.len(), "emit wrote buffer_len() bytes"),
        // Dropped IP options never make a packet longer, but added option padding can.
        Err(EmitError::TooLong(n)) => return assert!(n > usize::from(u16::MAX)),
        Err(e) => panic!("emit of a parsed segment failed: {e}"),
    }
    let again = Segment::parse(&buf).expect("our own output parses");
    let kept = again.options.sack.len();
    assert!(kept <= s.options.sack.len());
    let mut want = *s;
    want.options.sack = SackList::new(&s.options.sack.as_slice()[..kept]);
    assert_eq!(again, want);
}

/// A parsed ICMP packet emits and parses back to itself.
pub fn check_icmp_round_trip(p: &IcmpPacket<'_>) {
    let mut buf = vec![0; p.buffer_len()];
    match p.emit(&mut buf) {
        Ok(n) => assert_eq!(n, buf.len(), "emit wrote buffer_len() bytes"),
        Err(EmitError::TooLong(n)) => return assert!(n > usize::from(u16::MAX)),
        Err(e) => panic!("emit of a parsed ICMP packet failed: {e}"),
    }
    assert_eq!(IcmpPacket::parse(&buf), Ok(*p));
}

/// A copy of `data` with the IPv4 header checksum and the TCP or ICMP checksum recomputed
/// where the lengths allow, so mutations reach the option and message parsers instead of
/// stopping at a checksum. `None` when the bytes are not even a plausible IPv4 header.
pub fn with_checksums_fixed(data: &[u8]) -> Option<Vec<u8>> {
    let mut p = data.to_vec();
    let hl = usize::from(*p.first()? & 0x0F) * 4;
    if p[0] >> 4 != 4 || hl < 20 || p.len() < hl {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    p[10..12].fill(0);
    let sum = checksum_finish(checksum_add(0, &p[..hl]));
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    if total < hl || total > p.len() {
        return Some(p);
    }
    let body = hl..total;
    let (field, acc) = match p[9] {
        // RFC 9293 §3.1: the pseudo-header is source, destination, zero, protocol, length.
        6 if body.len() >= 18 => {
            let mut acc = checksum_add(0, &p[12..20]);
            acc += 6 + body.len() as u64;
            (hl + 16, acc)
        }
        1 if body.len() >= 4 => (hl + 2, 0),
        _ => return Some(p),
    };
    p[field..field + 2].fill(0);
    let sum = checksum_finish(checksum_add(acc, &p[body]));
    p[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    Some(p)
}

/// What the checksum fix-up guarantees: no checksum error, whatever else is wrong.
pub fn assert_no_checksum_error(r: &Result<impl core::fmt::Debug, WireError>) {
    assert!(
        !matches!(
            r,
            Err(WireError::BadIpChecksum
                | WireError::BadTcpChecksum
                | WireError::BadIcmpChecksum
                | WireError::BadIcmpv6Checksum)
        ),
        "checksum recomputed but rejected: {r:?}"
    );
}

/// [`check_segment_round_trip`] for TCP over IPv6 (extension headers are not re-emitted).
pub fn check_segment6_round_trip(s: &Segment6<'_>) {
    let mut buf = vec![0; s.buffer_len()];
    match s.emit(&mut buf) {
        Ok(n) => assert_eq!(n, buf.len(), "emit wrote buffer_len() bytes"),
        Err(EmitError::TooLong(n)) => return assert!(n > usize::from(u16::MAX)),
        Err(e) => panic!("emit of a parsed IPv6 segment failed: {e}"),
    }
    let Ok(Packet6::Tcp(again)) = Packet6::parse(&buf) else {
        panic!(
            "our own IPv6 segment does not parse: {:?}",
            Packet6::parse(&buf)
        );
    };
    let kept = again.options.sack.len();
    assert!(kept <= s.options.sack.len());
    let mut want = *s;
    want.options.sack = SackList::new(&s.options.sack.as_slice()[..kept]);
    assert_eq!(again, want);
}

/// A parsed ICMPv6 packet emits and parses back to itself.
pub fn check_icmpv6_round_trip(p: &Icmpv6Packet<'_>) {
    let mut buf = vec![0; p.buffer_len()];
    match p.emit(&mut buf) {
        Ok(n) => assert_eq!(n, buf.len(), "emit wrote buffer_len() bytes"),
        Err(EmitError::TooLong(n)) => return assert!(n > usize::from(u16::MAX)),
        Err(e) => panic!("emit of a parsed ICMPv6 packet failed: {e}"),
    }
    assert_eq!(Packet6::parse(&buf), Ok(Packet6::Icmp(*p)));
}

/// A copy of `data` with the TCP or ICMPv6 checksum recomputed where the extension
/// headers can be walked to it (IPv6 has no header checksum). `None` when the bytes are
/// not a walkable IPv6 packet.
pub fn with_v6_checksums_fixed(data: &[u8]) -> Option<Vec<u8>> {
    let ip = Ipv6Packet::parse(data).ok()?;
    let chain = ip.chain().ok()?;
    let field = match chain.upper {
        IPPROTO_TCP if chain.payload.len() >= 18 => 16,
        IPPROTO_ICMPV6 if chain.payload.len() >= 4 => 2,
        _ => return None,
    };
    if chain.needs_reassembly() {
        return None;
    }
    let (start, end) = (chain.upper_offset, chain.upper_offset + chain.payload.len());
    let acc = checksum_pseudo_header_v6(ip.src, ip.dst, chain.upper, end - start);
    let mut p = data.to_vec();
    p[start + field..start + field + 2].fill(0);
    let sum = checksum_finish(checksum_add(acc, &p[start..end]));
    p[start + field..start + field + 2].copy_from_slice(&sum.to_be_bytes());
    Some(p)
}
