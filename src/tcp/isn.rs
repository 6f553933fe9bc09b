//! Initial sequence numbers per RFC 9293 §3.4.1 and RFC 6528:
//! `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)`.
//!
//! M is a 4-microsecond clock read from the `Instant` the caller passes (MUST-8); F is
//! SipHash-2-4 keyed with a secret derived from the caller's seed, so it cannot be computed
//! from outside (MUST-9) and each 4-tuple gets its own sequence space (SHLD-1).
//!
//! This module does not read a clock, draw randomness or rotate the key: the stack keys
//! it with a subkey of its seed (`stack::keyed`), which comes from the OS unless fixed. It does not enforce the quiet time
//! (§3.4.3) or keep per-tuple state.

use std::net::{IpAddr, SocketAddr};

use crate::tcp::SeqNum;
use crate::time::Instant;

/// Initial sequence numbers (RFC 6528): a 4-microsecond clock plus SipHash of the 4-tuple.
#[derive(Clone)]
pub struct IsnGenerator {
    key: (u64, u64),
}

impl core::fmt::Debug for IsnGenerator {
    /// The key stays secret, even in logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IsnGenerator { .. }")
    }
}

impl IsnGenerator {
    /// A generator whose 128-bit SipHash key is expanded from `seed` with SplitMix64.
    /// The seed must be unpredictable (e.g. from the OS RNG) for MUST-9 to hold.
    pub fn new(seed: u64) -> IsnGenerator {
        let mut state = seed;
        let k0 = splitmix64(&mut state);
        let k1 = splitmix64(&mut state);
        IsnGenerator { key: (k0, k1) }
    }

    /// A generator with the SipHash key `key` (the stack passes its ISN subkey).
    pub(crate) fn with_key(key: (u64, u64)) -> IsnGenerator {
        IsnGenerator { key }
    }

    /// The ISN for a connection between `local` and `remote` started at `now`.
    /// (IPv6 addresses hash as their 16 bytes; IPv4 ones as the 4 they always did.)
    pub fn isn(
        &self,
        now: Instant,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
    ) -> SeqNum {
        // M: a clock ticking every 4 us, wrapping at 2^32 (RFC 9293 §3.4.1).
        let m = (now.micros() / 4) as u32;
        let mut msg = [0u8; 36];
        let mut at = 0;
        for a in [local.into(), remote.into()] {
            let ip: &[u8] = match a.ip() {
                IpAddr::V4(ip) => &ip.octets(),
                IpAddr::V6(ip) => &ip.octets(),
            };
            msg[at..at + ip.len()].copy_from_slice(ip);
            msg[at + ip.len()..at + ip.len() + 2].copy_from_slice(&a.port().to_be_bytes());
            at += ip.len() + 2;
        }
        // F: the low 32 bits of a keyed PRF of the 4-tuple (RFC 6528 §3).
        let f = siphash24(self.key.0, self.key.1, &msg[..at]) as u32;
        SeqNum(m.wrapping_add(f))
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): spreads a seed into well-mixed 64-bit words.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SipHash-2-4 lives in the wire layer (the flow label uses it too); the ISN, SYN cookies and
/// the stack's keyed hashes use it from there.
pub(crate) use crate::wire::siphash24;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn addr(a: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, a), port)
    }

    /// The key 00 01 .. 0f as the paper reads it (two little-endian words).
    fn paper_key() -> (u64, u64) {
        let k: Vec<u8> = (0..16).collect();
        (
            u64::from_le_bytes(k[..8].try_into().unwrap()),
            u64::from_le_bytes(k[8..].try_into().unwrap()),
        )
    }

    #[test]
    fn siphash_paper_test_vector() {
        // SipHash paper, Appendix A: key 00..0f, message 00..0e (15 bytes).
        let (k0, k1) = paper_key();
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(k0, k1, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn siphash_reference_vectors() {
        // First and ninth entries of `vectors_sip64` in the reference implementation
        // (messages 00..(n-1) for n = 0 and n = 8), read little-endian.
        let (k0, k1) = paper_key();
        assert_eq!(siphash24(k0, k1, &[]), 0x726f_db47_dd0e_0e31);
        let msg: Vec<u8> = (0..8).collect();
        assert_eq!(siphash24(k0, k1, &msg), 0x93f5_f579_9a93_2462);
    }

    #[test]
    fn must_8_isn_advances_with_4us_clock() {
        let g = IsnGenerator::new(42);
        let (l, r) = (addr(1, 80), addr(2, 40000));
        let t0 = Instant::from_secs(1000);
        let a = g.isn(t0, l, r);
        for dt_us in [4u64, 400, 1_000_000, 4 * (1 << 32), 4 * (1 << 32) + 12] {
            let b = g.isn(t0 + Duration::from_micros(dt_us), l, r);
            assert_eq!(b.since(a), (dt_us / 4) as u32, "dt = {dt_us} us");
        }
        // Within one 4 us tick the ISN does not change.
        assert_eq!(g.isn(t0 + Duration::from_micros(3), l, r), a);
    }

    #[test]
    fn shld_1_different_ports_differ_at_the_same_instant() {
        let g = IsnGenerator::new(42);
        let now = Instant::from_millis(5);
        let base = g.isn(now, addr(1, 80), addr(2, 40000));
        assert_ne!(g.isn(now, addr(1, 80), addr(2, 40001)), base);
        assert_ne!(g.isn(now, addr(1, 81), addr(2, 40000)), base);
        assert_ne!(g.isn(now, addr(1, 80), addr(3, 40000)), base);
        // Swapping the ends is a different tuple too.
        assert_ne!(g.isn(now, addr(2, 40000), addr(1, 80)), base);
    }

    #[test]
    fn must_9_different_seeds_differ() {
        let now = Instant::from_millis(5);
        let (l, r) = (addr(1, 80), addr(2, 40000));
        let isns: Vec<SeqNum> = (0..16)
            .map(|s| IsnGenerator::new(s).isn(now, l, r))
            .collect();
        for (i, a) in isns.iter().enumerate() {
            for b in &isns[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn same_seed_is_deterministic() {
        let now = Instant::from_millis(5);
        let (l, r) = (addr(1, 80), addr(2, 40000));
        assert_eq!(
            IsnGenerator::new(7).isn(now, l, r),
            IsnGenerator::new(7).isn(now, l, r)
        );
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        assert_eq!(format!("{:?}", IsnGenerator::new(7)), "IsnGenerator { .. }");
    }

    proptest! {
        /// Cross-check against std's (deprecated but still shipped) SipHash-2-4.
        #[test]
        fn siphash_matches_std(k0: u64, k1: u64, msg in proptest::collection::vec(any::<u8>(), 0..64)) {
            #[allow(deprecated)]
            let mut h = std::hash::SipHasher::new_with_keys(k0, k1);
            std::hash::Hasher::write(&mut h, &msg);
            prop_assert_eq!(siphash24(k0, k1, &msg), std::hash::Hasher::finish(&h));
        }

        #[test]
        fn isn_offset_is_the_clock(seed: u64, t in 0u64..u64::MAX / 2, dt in 0u64..u64::MAX / 2) {
            let g = IsnGenerator::new(seed);
            let (l, r) = (addr(1, 80), addr(2, 40000));
            let a = g.isn(Instant::from_micros(t), l, r);
            let b = g.isn(Instant::from_micros(t + dt), l, r);
            let ticks = ((t + dt) / 4).wrapping_sub(t / 4) as u32;
            prop_assert_eq!(b.since(a), ticks);
        }
    }
}
