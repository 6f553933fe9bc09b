//! The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words.
//!
//! Used to verify received IPv4, TCP and ICMP checksums; the header writers of etherparse
//! compute the ones we send.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` to a running accumulator; an odd last byte is padded with zero.
///
/// The bytes are summed as 64-bit words in the machine's byte order with end-around carry
/// (RFC 1071 §2(C): a one's-complement sum may be taken in wider words and folded) and the
/// folded 16-bit result swapped once at the end: the sum does not depend on byte order
/// (RFC 1071 §2(B)), so no per-word swapping is needed. Each 128-byte block is one
/// add-with-carry chain (an `adc` per word); the rest goes a word at a time.
pub fn add(acc: u64, data: &[u8]) -> u64 {
    let mut s: u64 = 0;
    // Carries out of each block, added back once at the end (end-around carry).
    let mut carries: u64 = 0;
    let mut blocks = data.chunks_exact(128);
    for c in &mut blocks {
        let mut carry = false;
        for w in c.chunks_exact(8) {
            let x = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            // A full adder: the carrying-add idiom that LLVM turns into one `adc`.
            let (t, c1) = s.overflowing_add(x);
            let (t, c2) = t.overflowing_add(u64::from(carry));
            s = t;
            carry = c1 | c2;
        }
        carries += u64::from(carry);
    }
    s = add_carry(s, carries);
    let mut chunks = blocks.remainder().chunks_exact(8);
    for w in &mut chunks {
        s = add_carry(
            s,
            u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
        );
    }
    let mut pairs = chunks.remainder().chunks_exact(2);
    for p in &mut pairs {
        s = add_carry(s, u64::from(u16::from_ne_bytes([p[0], p[1]])));
    }
    if let [last] = pairs.remainder() {
        s = add_carry(s, u64::from(u16::from_ne_bytes([*last, 0])));
    }
    let mut s = (s >> 32) + (s & 0xFFFF_FFFF);
    while s >> 16 != 0 {
        s = (s & 0xFFFF) + (s >> 16);
    }
    // The folded sum's bytes, read as a big-endian word: the same sum in network order.
    acc + u64::from(u16::from_be_bytes((s as u16).to_ne_bytes()))
}

/// One's-complement 64-bit addition: the carry out wraps around to bit 0 (no overflow:
/// with a carry the wrapped sum is at most 2^64 - 2).
#[inline(always)]
fn add_carry(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s + u64::from(carry)
}

/// Folds the accumulator to 16 bits and complements it.
pub fn finish(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

/// `finish(add(0, h))` for an IPv4 header without options: five 32-bit words summed in
/// one expression (no loop, no tail), since a header is summed for every packet in and out.
pub fn ipv4_header(h: &[u8; 20]) -> u16 {
    let w = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let s = w(0) + w(4) + w(8) + w(12) + w(16);
    let mut s = (s >> 32) + (s & 0xFFFF_FFFF);
    while s >> 16 != 0 {
        s = (s & 0xFFFF) + (s >> 16);
    }
    finish(u64::from(u16::from_be_bytes((s as u16).to_ne_bytes())))
}

/// The IPv4 pseudo-header sum (RFC 9293 §3.1) for `protocol` and an upper-layer `len`.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> u64 {
    let mut acc = add(0, &src.octets());
    acc = add(acc, &dst.octets());
    acc + u64::from(protocol) + len as u64
}

/// The IPv6 pseudo-header sum (RFC 8200 §8.1): both addresses, the upper-layer packet
/// length as 32 bits and `next_header` (the upper-layer protocol, not that of an extension
/// header). The same shape as [`pseudo_header`]: a length up to 2^32 - 1 folds correctly,
/// since 2^16 = 1 in one's-complement arithmetic.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: usize) -> u64 {
    let mut acc = add(0, &src.octets());
    acc = add(acc, &dst.octets());
    acc + u64::from(next_header) + len as u64
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

    proptest::proptest! {
        /// The 8-bytes-at-a-time sum equals the textbook 16-bit-word sum (RFC 1071 §4.1).
        #[test]
        fn matches_the_word_by_word_sum(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), start in 0u64..0x1_0000_0000) {
            let mut naive = start;
            for w in data.chunks(2) {
                naive += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
            }
            proptest::prop_assert_eq!(finish(add(start, &data)), finish(naive));
        }
    }

    #[test]
    fn carries_out_of_every_word_wrap_around() {
        // All-ones words carry out of every 64-bit addition, in the blocks and the tail.
        for len in [64, 127, 128, 255, 1500] {
            let data = vec![0xff; len];
            let mut naive = 0xffff_ffffu64;
            for w in data.chunks(2) {
                naive += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
            }
            assert_eq!(finish(add(0xffff_ffff, &data)), finish(naive), "len {len}");
        }
    }

    proptest::proptest! {
        /// The five-word header sum is the general sum's result.
        #[test]
        fn ipv4_header_sum_matches_add(h in proptest::prelude::any::<[u8; 20]>()) {
            proptest::prop_assert_eq!(ipv4_header(&h), finish(add(0, &h)));
        }
    }

    #[test]
    fn ipv4_header_sum_edges() {
        for h in [[0u8; 20], [0xff; 20]] {
            assert_eq!(ipv4_header(&h), finish(add(0, &h)));
        }
    }

    #[test]
    fn ipv6_pseudo_header_is_the_rfc_8200_layout() {
        // RFC 8200 §8.1: src, dst, 32-bit length, three zero bytes, next header.
        let src: Ipv6Addr = "fd66::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8:ffff::ffff:2".parse().unwrap();
        for len in [0usize, 20, 1500, 65535, 70000] {
            let mut ph = Vec::new();
            ph.extend_from_slice(&src.octets());
            ph.extend_from_slice(&dst.octets());
            ph.extend_from_slice(&(len as u32).to_be_bytes());
            ph.extend_from_slice(&[0, 0, 0, 6]);
            assert_eq!(
                finish(pseudo_header_v6(src, dst, 6, len)),
                finish(add(0, &ph)),
                "len {len}"
            );
        }
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
