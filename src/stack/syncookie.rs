//! SYN cookies (RFC 4987 §3.6; Bernstein's cr.yp.to/syncookies.html; Linux's layout).
//!
//! When the SYN queue is full a listener can answer a SYN without keeping any state: the
//! SYN-ACK's ISS is a cookie that the final ACK echoes back as `SEG.ACK - 1`. Before an
//! additive keyed mask (so the ISS looks random from outside, as Linux's does), the
//! cookie is
//!
//! ```text
//!  31      26 25 24 23                                       0
//! +----------+-----+------------------------------------------+
//! | t mod 64 | mss | H(key; 4-tuple, peer ISN, t, mss) mod 2^24 |
//! +----------+-----+------------------------------------------+
//! ```
//!
//! with `t` a counter of 64-second slices and `mss` an index into [`MSS_TABLE`]. The
//! hash covers the full 64-bit `t`, so a cookie from 64 slices ago (same low bits) fails.
//! A cookie validates during its own slice and the next one: 64 to 128 s.
//!
//! With timestamps on, the SYN's window scale and SACK-permitted ride in the low 6 bits
//! of our TSval and come back in the peer's TSecr ([`SynCookies::encode_ts`]).
//!
//! Deviation: a cookie ISS does not follow the 4 us ISN clock (RFC 9293 §3.4.1, SHLD-1),
//! so a listener should not answer a SYN that reopens a TIME-WAIT tuple with a cookie.
//! Deviation: a SYN-ACK carrying a cookie is never retransmitted (no state remains to do
//! it with; RFC 4987 §3.6 lists this cost); the peer's SYN retransmission recovers.
//!
//! What this module does not do: decide when to use cookies (the listener does, when
//! its SYN queue is full), parse segments, clamp the MSS to our own MTU, rotate the
//! secret, or check that the final ACK carries timestamps when the SYN did.

use std::net::SocketAddr;
#[cfg(test)]
use std::net::SocketAddrV4;

use super::keyed::{label, put, put_addr, Prf};
use crate::time::Instant;

/// MSS values a cookie can carry (Linux `msstab`): the largest not above the peer's is used.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// Length of a counter slice (Bernstein: "t ... increases every 64 seconds").
const SLICE_MICROS: u64 = 64 * 1_000_000;
/// Counter slices accepted: the current one and the previous one.
const MAX_AGE: u64 = 1;
const HASH_BITS: u32 = 24;
const HASH_MASK: u32 = (1 << HASH_BITS) - 1;
const MSS_BITS: u32 = 2;
const COUNTER_SHIFT: u32 = HASH_BITS + MSS_BITS;
const COUNTER_MASK: u32 = u32::MAX >> COUNTER_SHIFT;

/// TSval bits that carry the SYN's options (Linux `TSBITS`).
const TS_BITS: u32 = 6;
const TS_MASK: u32 = (1 << TS_BITS) - 1;
const TS_WSCALE_MASK: u32 = 0xf;
/// The wscale field value meaning "no window scale option".
const TS_NO_WSCALE: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;
/// RFC 7323 §2.3: larger shift counts are used as 14.
const MAX_WSCALE: u8 = 14;

/// Stateless SYN-ACK sequence numbers for a listener under SYN flood.
#[derive(Clone, Debug)]
pub struct SynCookies {
    prf: Prf,
}

impl SynCookies {
    /// Cookies keyed from `seed` (a subkey of it: the ISN key is not reused). The seed must
    /// be unpredictable, as for `IsnGenerator`.
    pub fn new(seed: u64) -> SynCookies {
        SynCookies {
            prf: Prf::new(seed, label::SYNCOOKIE),
        }
    }

    /// Our ISS for a SYN-ACK answering a SYN with sequence number `peer_isn` and MSS option
    /// `peer_mss` (536 if it had none, RFC 9293 §3.7.1), and the MSS the connection will
    /// use. The caller takes the minimum with its own MSS.
    ///
    /// Deviation: a peer MSS below 536 is rounded up to 536 (as Linux does), so we may
    /// send segments above the peer's MSS option; every host must accept 576-byte
    /// datagrams (RFC 1122 §3.3.2), so such a peer still receives them.
    pub fn generate(
        &self,
        now: Instant,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
        peer_isn: u32,
        peer_mss: u16,
    ) -> (u32, u16) {
        let (local, remote) = (local.into(), remote.into());
        let idx = mss_index(peer_mss);
        let t = counter(now);
        let hash = self.hash(local, remote, peer_isn, t, idx) & HASH_MASK;
        let raw =
            ((t as u32 & COUNTER_MASK) << COUNTER_SHIFT) | (u32::from(idx) << HASH_BITS) | hash;
        let cookie = raw.wrapping_add(self.mask(local, remote, peer_isn));
        (cookie, mss_of(idx))
    }

    /// Checks the final ACK of a cookie handshake: `peer_isn = SEG.SEQ - 1` and
    /// `cookie = SEG.ACK - 1`. Returns the MSS the cookie encodes if it was made by this
    /// secret for this 4-tuple and peer ISN during the current or previous slice.
    pub fn validate(
        &self,
        now: Instant,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
        peer_isn: u32,
        cookie: u32,
    ) -> Option<u16> {
        let (local, remote) = (local.into(), remote.into());
        let raw = cookie.wrapping_sub(self.mask(local, remote, peer_isn));
        let now_t = counter(now);
        // How many slices ago the cookie was made, from the low counter bits.
        let age = u64::from((now_t as u32).wrapping_sub(raw >> COUNTER_SHIFT) & COUNTER_MASK);
        if age > MAX_AGE {
            return None;
        }
        let t = now_t.checked_sub(age)?;
        let idx = ((raw >> HASH_BITS) & ((1 << MSS_BITS) - 1)) as u8;
        let hash = self.hash(local, remote, peer_isn, t, idx) & HASH_MASK;
        (hash == raw & HASH_MASK).then(|| mss_of(idx))
    }

    /// A TSval for the SYN-ACK carrying the SYN's window scale (`None` if it had no such
    /// option) and SACK-permitted in its low 6 bits: the largest such value not above
    /// `tsval_now` (modulo 2^32), so our clock never jumps forward and lags at most 63
    /// ticks. Only sound when the SYN carried timestamps (RFC 7323 §3.2).
    pub fn encode_ts(tsval_now: u32, wscale: Option<u8>, sack_ok: bool) -> u32 {
        let ws = wscale.map_or(TS_NO_WSCALE, |w| u32::from(w.min(MAX_WSCALE)));
        let opts = ws | if sack_ok { TS_SACK } else { 0 };
        let ts = (tsval_now & !TS_MASK) | opts;
        if ts > tsval_now {
            // Same low bits one 64-tick block earlier (wraps below zero like the clock).
            ts.wrapping_sub(1 << TS_BITS)
        } else {
            ts
        }
    }

    /// The SYN's window scale and SACK-permitted from the TSecr of the final ACK.
    pub fn decode_ts(tsecr: u32) -> (Option<u8>, bool) {
        let ws = tsecr & TS_WSCALE_MASK;
        let wscale = if ws == TS_NO_WSCALE {
            None
        } else {
            Some((ws as u8).min(MAX_WSCALE))
        };
        (wscale, tsecr & TS_SACK != 0)
    }

    /// The 24-bit check value: a keyed hash of everything the cookie vouches for.
    fn hash(&self, local: SocketAddr, remote: SocketAddr, peer_isn: u32, t: u64, idx: u8) -> u32 {
        let mut msg = [0u8; 50];
        let at = put(&mut msg, 0, &[1]);
        let at = put_addr(&mut msg, at, local);
        let at = put_addr(&mut msg, at, remote);
        let at = put(&mut msg, at, &peer_isn.to_be_bytes());
        let at = put(&mut msg, at, &t.to_be_bytes());
        let at = put(&mut msg, at, &[idx]);
        self.prf.hash(&msg[..at]) as u32
    }

    /// The additive mask that hides the layout (Linux adds a tuple hash and the peer ISN).
    fn mask(&self, local: SocketAddr, remote: SocketAddr, peer_isn: u32) -> u32 {
        let mut msg = [0u8; 17];
        let at = put(&mut msg, 0, &[0]);
        let at = put_addr(&mut msg, at, local);
        let at = put_addr(&mut msg, at, remote);
        put(&mut msg, at, &peer_isn.to_be_bytes());
        self.prf.hash(&msg) as u32
    }
}

/// The 64-second slice counter `t`.
fn counter(now: Instant) -> u64 {
    now.micros() / SLICE_MICROS
}

/// Index of the largest table MSS not above `peer_mss` (0 if all are above it).
fn mss_index(peer_mss: u16) -> u8 {
    MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u8
}

fn mss_of(idx: u8) -> u16 {
    MSS_TABLE
        .get(usize::from(idx))
        .copied()
        .unwrap_or(MSS_TABLE[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn addr(a: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, a), port)
    }

    fn ours() -> SocketAddrV4 {
        addr(1, 80)
    }
    fn peer() -> SocketAddrV4 {
        addr(2, 40000)
    }

    #[test]
    fn round_trip_now_and_63_s_later_from_any_point_of_a_slice() {
        let c = SynCookies::new(7);
        for start_s in [0u64, 1, 30, 63, 64, 1000, 4095, 1 << 40] {
            let t0 = Instant::from_secs(start_s);
            let (iss, mss) = c.generate(t0, ours(), peer(), 12345, 1460);
            assert_eq!(mss, 1460);
            for dt in [0, 1, 63] {
                let t = t0 + Duration::from_secs(dt);
                assert_eq!(
                    c.validate(t, ours(), peer(), 12345, iss),
                    Some(1460),
                    "made at {t0}, checked at {t}"
                );
            }
        }
    }

    #[test]
    fn rfc_4987_old_cookies_are_rejected() {
        let c = SynCookies::new(7);
        for start_s in [0u64, 10, 63, 100_000] {
            let t0 = Instant::from_secs(start_s);
            let (iss, _) = c.generate(t0, ours(), peer(), 1, 1460);
            // Two slices on (at most 192 s later) it is always stale.
            for dt in [129, 192, 3 * 64, 10 * 64] {
                let t = t0 + Duration::from_secs(dt);
                assert_eq!(c.validate(t, ours(), peer(), 1, iss), None, "age {dt} s");
            }
        }
    }

    #[test]
    fn counter_wrap_does_not_revive_a_cookie() {
        // 64 slices later the low 6 counter bits repeat; the hash covers the full counter.
        let c = SynCookies::new(7);
        let t0 = Instant::from_secs(5);
        let (iss, _) = c.generate(t0, ours(), peer(), 1, 1460);
        for slices in [64u64, 65, 128, 256] {
            let t = t0 + Duration::from_secs(64 * slices);
            assert_eq!(
                c.validate(t, ours(), peer(), 1, iss),
                None,
                "{slices} slices"
            );
        }
    }

    #[test]
    fn cookie_from_the_future_is_rejected() {
        let c = SynCookies::new(7);
        let (iss, _) = c.generate(Instant::from_secs(640), ours(), peer(), 1, 1460);
        assert_eq!(
            c.validate(Instant::from_secs(500), ours(), peer(), 1, iss),
            None
        );
        // Slice 0 has no previous slice to fall back to.
        let (iss, _) = c.generate(Instant::from_secs(64), ours(), peer(), 1, 1460);
        assert_eq!(c.validate(Instant::ZERO, ours(), peer(), 1, iss), None);
    }

    #[test]
    fn must_9_other_secret_rejects() {
        let now = Instant::from_secs(1000);
        let (iss, _) = SynCookies::new(7).generate(now, ours(), peer(), 99, 1460);
        for seed in [0, 6, 8, u64::MAX] {
            assert_eq!(
                SynCookies::new(seed).validate(now, ours(), peer(), 99, iss),
                None
            );
        }
    }

    #[test]
    fn cookie_is_bound_to_tuple_and_peer_isn() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        let (iss, _) = c.generate(now, ours(), peer(), 99, 1460);
        assert_eq!(c.validate(now, ours(), peer(), 99, iss), Some(1460));
        assert_eq!(c.validate(now, ours(), peer(), 100, iss), None);
        assert_eq!(c.validate(now, ours(), peer(), 98, iss), None);
        assert_eq!(c.validate(now, ours(), addr(2, 40001), 99, iss), None);
        assert_eq!(c.validate(now, ours(), addr(3, 40000), 99, iss), None);
        assert_eq!(c.validate(now, addr(1, 81), peer(), 99, iss), None);
        assert_eq!(c.validate(now, peer(), ours(), 99, iss), None);
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        let (iss, _) = c.generate(now, ours(), peer(), 99, 1300);
        for bit in 0..32 {
            assert_eq!(
                c.validate(now, ours(), peer(), 99, iss ^ (1 << bit)),
                None,
                "bit {bit}"
            );
        }
        assert_eq!(
            c.validate(now, ours(), peer(), 99, iss.wrapping_add(1)),
            None
        );
    }

    #[test]
    fn mss_table_mapping() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        let cases = [
            (65535, 1460),
            (9000, 1460),
            (1460, 1460),
            (1459, 1440),
            (1440, 1440),
            (1400, 1300),
            (1300, 1300),
            (1299, 536),
            (600, 536),
            (536, 536),
            (100, 536),
            (0, 536),
        ];
        for (peer_mss, want) in cases {
            let (iss, mss) = c.generate(now, ours(), peer(), 5, peer_mss);
            assert_eq!(mss, want, "peer MSS {peer_mss}");
            assert_eq!(
                c.validate(now, ours(), peer(), 5, iss),
                Some(want),
                "peer MSS {peer_mss}"
            );
        }
    }

    #[test]
    fn same_inputs_same_cookie_and_tuples_differ() {
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        let a = c.generate(now, ours(), peer(), 5, 1460);
        assert_eq!(a, c.generate(now, ours(), peer(), 5, 1460));
        assert_ne!(a.0, c.generate(now, ours(), addr(2, 40001), 5, 1460).0);
        assert_ne!(a.0, c.generate(now, ours(), peer(), 6, 1460).0);
    }

    #[test]
    fn the_mask_hides_the_slice_and_mss_fields() {
        // The ISS must look random from outside (RFC 4987 §3.6; Linux adds a keyed mask):
        // unmasked, every cookie of one slice and MSS would share its top 8 bits, telling an
        // observer our clock and the cookie layout.
        let c = SynCookies::new(7);
        let now = Instant::from_secs(1000);
        let tops: std::collections::HashSet<u32> = (0..32u32)
            .map(|isn| c.generate(now, ours(), peer(), isn, 1460).0 >> COUNTER_SHIFT)
            .collect();
        assert!(tops.len() > 16, "top bits of 32 cookies: {tops:?}");
    }

    #[test]
    fn ts_round_trip_all_options() {
        for tsval_now in [
            0u32,
            1,
            63,
            64,
            65,
            1000,
            0x8000_0000,
            u32::MAX - 1,
            u32::MAX,
        ] {
            for ws in (0..=14).map(Some).chain([None]) {
                for sack in [false, true] {
                    let ts = SynCookies::encode_ts(tsval_now, ws, sack);
                    assert_eq!(SynCookies::decode_ts(ts), (ws, sack), "now {tsval_now}");
                    // Never ahead of the clock, and at most 63 ticks behind (mod 2^32).
                    assert!(tsval_now.wrapping_sub(ts) < 64, "now {tsval_now} ts {ts}");
                }
            }
        }
    }

    #[test]
    fn ts_wscale_above_14_is_sent_as_14() {
        let ts = SynCookies::encode_ts(5000, Some(200), false);
        assert_eq!(SynCookies::decode_ts(ts), (Some(14), false));
    }

    #[test]
    fn ts_when_low_bits_fit_the_clock_is_kept_exact() {
        // Low bits of 64*k + 0x1f are "no wscale, SACK": encoding those gives the clock itself.
        assert_eq!(SynCookies::encode_ts(640 + 0x1f, None, true), 640 + 0x1f);
        assert_eq!(SynCookies::encode_ts(640, Some(0), false), 640);
        assert_eq!(SynCookies::encode_ts(640, Some(1), false), 640 - 63);
        // Below 64 with options above the clock's low bits: wraps like the TS clock.
        assert_eq!(
            SynCookies::encode_ts(0, Some(3), false),
            3u32.wrapping_sub(64)
        );
    }

    proptest! {
        #[test]
        fn generated_cookies_validate(
            seed: u64,
            t_s in 0u64..(1 << 40),
            dt_ms in 0u64..64_000,
            la: u32, lp: u16, ra: u32, rp: u16,
            isn: u32,
            mss: u16,
        ) {
            let c = SynCookies::new(seed);
            let l = SocketAddrV4::new(Ipv4Addr::from(la), lp);
            let r = SocketAddrV4::new(Ipv4Addr::from(ra), rp);
            let t0 = Instant::from_secs(t_s);
            let (iss, used) = c.generate(t0, l, r, isn, mss);
            prop_assert!(MSS_TABLE.contains(&used));
            prop_assert!(used <= mss.max(536));
            let t = t0 + Duration::from_millis(dt_ms);
            prop_assert_eq!(c.validate(t, l, r, isn, iss), Some(used));
        }

    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4))]

        /// 100k random (peer ISN, cookie) pairs per case; expected accepts about
        /// 1e5 * 2/64 * 2^-24 = 2e-4.
        #[test]
        fn random_cookies_almost_never_validate(seed: u64, t_s in 0u64..(1 << 40), stream: u64) {
            let c = SynCookies::new(seed);
            let now = Instant::from_secs(t_s);
            let mut x = stream;
            let mut accepted = 0;
            for _ in 0..100_000 {
                let r = crate::tcp::isn::splitmix64(&mut x);
                if c.validate(now, ours(), peer(), r as u32, (r >> 32) as u32).is_some() {
                    accepted += 1;
                }
            }
            prop_assert!(accepted < 3, "{} random cookies accepted", accepted);
        }
    }
}
