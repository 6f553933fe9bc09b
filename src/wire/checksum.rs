//! The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words.
//!
//! Used to verify received IPv4, TCP and ICMP checksums; the header writers of etherparse
//! compute the ones we send.

use std::net::Ipv4Addr;

/// Adds `data` to a running 32-bit accumulator; an odd last byte is padded with zero.
pub fn add(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        acc += u64::from(u16::from_be_bytes([rest[i], rest[i + 1]]));
        i += 2;
    }
    if i < rest.len() {
        acc += u64::from(rest[i]) << 8;
    }
    acc
}

/// Folds the accumulator to 16 bits and complements it.
pub fn finish(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

/// The IPv4 pseudo-header sum (RFC 9293 §3.1) for `protocol` and an upper-layer `len`.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> u64 {
    let mut acc = add(0, &src.octets());
    acc = add(acc, &dst.octets());
    acc + u64::from(protocol) + len as u64
}

/// True when `data` (with its checksum field in place) sums to all ones.
pub fn verifies(acc: u64, data: &[u8]) -> bool {
    finish(add(acc, data)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement 220d).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(add(0, &data)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(finish(add(0, &[0xab])), finish(add(0, &[0xab, 0x00])));
        assert_eq!(
            finish(add(0, &[1, 2, 3, 4, 5])),
            finish(add(0, &[1, 2, 3, 4, 5, 0]))
        );
    }
}
