//! IPv6 flow labels per RFC 6437 §3: a keyed hash of the flow's 5-tuple, stateless,
//! the same for every packet of a connection and hard to guess from outside.
//!
//! The key is passed in (the stack derives it from its seed); nothing here draws
//! randomness. SipHash-2-4 is the same function `tcp::isn` uses for ISNs; the copy here
//! keeps `wire` below `tcp`.

use super::ipv6::FLOW_LABEL_MAX;
use std::net::SocketAddrV6;

/// The flow label for TCP packets from `src` to `dst` under `key` (RFC 6437 §3: a hash of
/// source and destination address and port and the protocol, with a secret). Never 0,
/// which means "not labelled" (RFC 6437 §2). The two directions of a connection get
/// different labels, as two flows.
pub fn flow_label(key: (u64, u64), src: SocketAddrV6, dst: SocketAddrV6) -> u32 {
    let mut msg = [0u8; 37];
    msg[0..16].copy_from_slice(&src.ip().octets());
    msg[16..32].copy_from_slice(&dst.ip().octets());
    msg[32..34].copy_from_slice(&src.port().to_be_bytes());
    msg[34..36].copy_from_slice(&dst.port().to_be_bytes());
    msg[36] = super::IPPROTO_TCP;
    let h = siphash24(key.0, key.1, &msg);
    // Fold all 64 bits into 20 (RFC 6437 §3: the bits should vary as much as possible).
    let label = ((h ^ (h >> 20) ^ (h >> 40)) as u32) & FLOW_LABEL_MAX;
    label.max(1)
}

/// SipHash-2-4 (Aumasson, Bernstein, "SipHash: a fast short-input PRF", 2012) of `msg`
/// under the key `(k0, k1)` (the 16 key bytes read as two little-endian words).
pub(crate) fn siphash24(k0: u64, k1: u64, msg: &[u8]) -> u64 {
    // Initialization: the key xored with "somepseudorandomlygeneratedbytes".
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    // Compression: 2 SipRounds per 8-byte little-endian word.
    let mut chunks = msg.chunks_exact(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        compress(&mut v, u64::from_le_bytes(w), 2);
    }
    // The last word: remaining bytes, zero padded, with the length (mod 256) on top.
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = msg.len() as u8;
    compress(&mut v, u64::from_le_bytes(last), 2);
    // Finalization: 4 SipRounds.
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

fn compress(v: &mut [u64; 4], m: u64, rounds: usize) {
    v[3] ^= m;
    for _ in 0..rounds {
        sip_round(v);
    }
    v[0] ^= m;
}

fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (u64, u64) {
        let k: Vec<u8> = (0..16).collect();
        (
            u64::from_le_bytes(k[..8].try_into().unwrap()),
            u64::from_le_bytes(k[8..].try_into().unwrap()),
        )
    }

    #[test]
    fn siphash_paper_test_vector() {
        // SipHash paper, Appendix A: key 00..0f, message 00..0e (15 bytes).
        let (k0, k1) = key();
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(k0, k1, &msg), 0xa129_ca61_49be_45e5);
        assert_eq!(siphash24(k0, k1, &[]), 0x726f_db47_dd0e_0e31);
    }

    fn sa(s: &str) -> SocketAddrV6 {
        s.parse().unwrap()
    }

    #[test]
    fn labels_are_20_bit_nonzero_stable_and_keyed() {
        let (a, b) = (sa("[fd66::1]:45678"), sa("[fd66::2]:80"));
        let l = flow_label(key(), a, b);
        assert!((1..=FLOW_LABEL_MAX).contains(&l));
        assert_eq!(
            flow_label(key(), a, b),
            l,
            "stateless: same flow, same label"
        );
        assert_ne!(flow_label((1, 2), a, b), l, "another key, another label");
        assert_ne!(flow_label(key(), b, a), l, "each direction is a flow");
        assert_ne!(flow_label(key(), sa("[fd66::1]:45679"), b), l);
    }

    #[test]
    fn labels_spread_over_the_20_bits() {
        // 4096 ports: every bit of the label is set in some labels and clear in others,
        // and almost no two ports collide (about 8 expected of 4096 in 2^20).
        let b = sa("[fd66::2]:80");
        let labels: Vec<u32> = (0..4096u16)
            .map(|p| {
                flow_label(
                    key(),
                    SocketAddrV6::new("fd66::1".parse().unwrap(), 40000 + p, 0, 0),
                    b,
                )
            })
            .collect();
        let (or, and) = labels
            .iter()
            .fold((0, FLOW_LABEL_MAX), |(o, a), &l| (o | l, a & l));
        assert_eq!((or, and), (FLOW_LABEL_MAX, 0));
        let mut sorted = labels.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert!(sorted.len() > 4096 - 40, "{} distinct", sorted.len());
    }
}
