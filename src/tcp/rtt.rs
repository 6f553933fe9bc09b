//! Retransmission timeout estimation per RFC 6298.
//!
//! Feeds on round-trip samples and yields the RTO, with exponential backoff (§5.5).
//! Arithmetic is in whole microseconds, rounding down. The minimum RTO is the caller's
//! choice (Deviation: the stack passes 200 ms, not RFC 6298 §2.4's 1 s; see `clamp`).
//!
//! This module does not take samples or run timers: the caller measures RTTs, and
//! follows Karn's algorithm (§3: no samples from retransmitted segments, unless
//! timestamps disambiguate them), arms and restarts the timer (§5), re-initializes the
//! RTO to 3 s after a lost SYN (§5.7, `after_established` in `input.rs`) by building a new
//! estimator, and decides when to give
//! up (RFC 9293 §3.8.3, R1/R2) from [`RttEstimator::backoff_count`].

use crate::time::Duration;

/// Clock granularity G (RFC 6298 §2): our clock counts microseconds, but 1 ms keeps the
/// variance term from collapsing to zero on a perfectly steady path.
const G: Duration = Duration::from_millis(1);

/// The RTT estimator and retransmission timeout of RFC 6298.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    /// RTO before backoff, already clamped to `[min_rto, max_rto]`.
    base_rto: Duration,
    backoff: u32,
    min_rto: Duration,
    max_rto: Duration,
    /// `min_rto` bounds the variance term, not the whole RTO (see `min_on_rttvar`).
    min_on_rttvar: bool,
}

impl RttEstimator {
    /// An estimator with no samples yet; RTO is `initial_rto` (RFC 6298 §2.1: 1 s)
    /// clamped to `[min_rto, max_rto]` (`max_rto` wins if the two cross; §2.5 asks for
    /// a maximum of at least 60 s).
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> RttEstimator {
        let mut e = RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            base_rto: initial_rto,
            backoff: 0,
            min_rto,
            max_rto,
            min_on_rttvar: false,
        };
        e.base_rto = e.clamp(initial_rto);
        e
    }

    /// With `on`, an RTO from samples is SRTT + max(4*RTTVAR, min_rto), as Linux's
    /// `tcp_set_rto` (its variance term never drops below `tcp_rto_min`).
    /// Deviation from RFC 6298 §2.4 (which floors the sum, max(SRTT + 4*RTTVAR, min_rto)):
    /// an option, for matching Linux; it only makes the RTO longer.
    pub fn min_on_rttvar(mut self, on: bool) -> RttEstimator {
        self.min_on_rttvar = on;
        self
    }

    /// Takes one RTT measurement (§2.2, §2.3) and resets the backoff.
    pub fn on_sample(&mut self, rtt: Duration) {
        // Sums of up to 8 u64 terms: u128 keeps them exact.
        let r = u128::from(rtt.micros());
        let (srtt, rttvar) = match self.srtt {
            // §2.2: SRTT <- R, RTTVAR <- R/2.
            None => (r, r / 2),
            // §2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|, then SRTT <- 7/8 SRTT + 1/8 R'
            // (RTTVAR first, with the old SRTT).
            Some(srtt) => {
                let s = u128::from(srtt.micros());
                let v = u128::from(self.rttvar.micros());
                ((7 * s + r) / 8, (3 * v + s.abs_diff(r)) / 4)
            }
        };
        // Both are averages of u64 values, so they fit; saturate rather than assume.
        let narrow = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
        let (srtt, rttvar) = (narrow(srtt), narrow(rttvar));
        self.srtt = Some(Duration::from_micros(srtt));
        self.rttvar = Duration::from_micros(rttvar);
        // §2.3: RTO <- SRTT + max(G, K*RTTVAR), K = 4.
        let mut var = G.max(self.rttvar * 4);
        if self.min_on_rttvar {
            var = var.max(self.min_rto);
        }
        let rto = Duration::from_micros(srtt) + var;
        self.base_rto = self.clamp(rto);
        // §5 (note after 5.7): a new measurement collapses a backed-off RTO.
        self.backoff = 0;
    }

    /// The RTO to arm the retransmission timer with: the base RTO doubled once per
    /// [`RttEstimator::backoff`], never above `max_rto`.
    pub fn rto(&self) -> Duration {
        // 2^backoff, saturating once it no longer fits in a u64.
        let factor = 1u64.checked_shl(self.backoff).unwrap_or(u64::MAX);
        Duration::from_micros(self.base_rto.micros().saturating_mul(factor)).min(self.max_rto)
    }

    /// §5.5: the retransmission timer expired; double the RTO (capped at `max_rto`).
    /// The count keeps rising once the cap is reached, so the caller can count retries.
    pub fn backoff(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Back to the base RTO without a new sample (e.g. an ACK for new data arrived, but
    /// only for retransmitted segments, so Karn forbids sampling it).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// Smoothed RTT, `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variation; zero before the first sample.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Backoffs since the last sample or reset (consecutive timeouts).
    pub fn backoff_count(&self) -> u32 {
        self.backoff
    }

    /// The base RTO clamped to `[min_rto, max_rto]`.
    ///
    /// Deviation: RFC 6298 §2.4 says an RTO below 1 s SHOULD be rounded up to 1 s; the
    /// caller picks `min_rto`, and the stack passes a Linux-like 200 ms (`TCP_RTO_MIN`)
    /// because 1 s stalls recovery on fast paths, as RFC 6298 §2.4 itself anticipates.
    fn clamp(&self, rto: Duration) -> Duration {
        rto.max(self.min_rto).min(self.max_rto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }
    /// Linux-like parameters, as the stack uses them.
    fn linux_like() -> RttEstimator {
        RttEstimator::new(ms(1000), ms(200), ms(60_000))
    }

    #[test]
    fn rfc6298_2_1_initial_rto_before_any_sample() {
        let e = RttEstimator::new(ms(1000), ms(1000), ms(60_000));
        assert_eq!(e.rto(), ms(1000));
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), Duration::ZERO);
        assert_eq!(e.backoff_count(), 0);
    }

    #[test]
    fn initial_rto_is_clamped() {
        assert_eq!(
            RttEstimator::new(ms(1000), ms(2000), ms(60_000)).rto(),
            ms(2000)
        );
        assert_eq!(RttEstimator::new(ms(1000), ms(200), ms(500)).rto(), ms(500));
        // Crossed bounds: the maximum wins.
        assert_eq!(RttEstimator::new(ms(1000), ms(900), ms(300)).rto(), ms(300));
    }

    #[test]
    fn golden_sample_sequence() {
        let mut e = linux_like();
        // §2.2 first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4*RTTVAR.
        e.on_sample(ms(100));
        assert_eq!(
            (e.srtt(), e.rttvar(), e.rto()),
            (Some(ms(100)), ms(50), ms(300))
        );
        // §2.3: RTTVAR = 3/4*50 + 1/4*|100-120| = 42.5; SRTT = 7/8*100 + 1/8*120 = 102.5;
        // RTO = 102.5 + 170 = 272.5 ms.
        e.on_sample(ms(120));
        assert_eq!(
            (e.srtt(), e.rttvar(), e.rto()),
            (Some(us(102_500)), us(42_500), us(272_500))
        );
        // RTTVAR = 3/4*42.5 + 1/4*22.5 = 37.5; SRTT = (7*102.5 + 80)/8 = 99.6875 -> 99.687.
        e.on_sample(ms(80));
        assert_eq!(
            (e.srtt(), e.rttvar(), e.rto()),
            (Some(us(99_687)), us(37_500), us(249_687))
        );
        // RTTVAR = (3*37500 + 313)/4 = 28203; SRTT = (7*99687 + 100000)/8 = 99726.
        e.on_sample(ms(100));
        assert_eq!(
            (e.srtt(), e.rttvar(), e.rto()),
            (Some(us(99_726)), us(28_203), us(212_538))
        );
    }

    #[test]
    fn deviation_min_rto_200ms_floors_a_fast_path() {
        let mut e = linux_like();
        for _ in 0..100 {
            e.on_sample(ms(10));
        }
        assert_eq!(e.srtt(), Some(ms(10)));
        // 10 ms + 4*RTTVAR is far below the floor; RFC 6298 §2.4 would give 1 s.
        assert_eq!(e.rto(), ms(200));
    }

    #[test]
    fn clock_granularity_bounds_the_variance_term() {
        let mut e = RttEstimator::new(ms(1000), Duration::ZERO, ms(60_000));
        for _ in 0..100 {
            e.on_sample(ms(10));
        }
        assert_eq!(e.rttvar(), Duration::ZERO);
        // §2.3: RTO = SRTT + max(G, 4*RTTVAR) with G = 1 ms.
        assert_eq!(e.rto(), ms(11));
    }

    #[test]
    fn rfc6298_5_5_backoff_doubles_up_to_max() {
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(5000));
        e.on_sample(ms(100)); // RTO 300 ms
        let mut seen = Vec::new();
        for _ in 0..6 {
            e.backoff();
            seen.push(e.rto().millis());
        }
        assert_eq!(seen, [600, 1200, 2400, 4800, 5000, 5000]);
        assert_eq!(e.backoff_count(), 6);
        e.reset_backoff();
        assert_eq!(e.rto(), ms(300));
        assert_eq!(e.backoff_count(), 0);
    }

    #[test]
    fn backoff_before_any_sample_uses_initial_rto() {
        let mut e = linux_like();
        e.backoff();
        e.backoff();
        assert_eq!(e.rto(), ms(4000));
    }

    #[test]
    fn a_sample_resets_backoff() {
        let mut e = linux_like();
        e.on_sample(ms(100));
        e.backoff();
        e.backoff();
        e.on_sample(ms(100));
        assert_eq!(e.backoff_count(), 0);
        // RTTVAR = 3/4*50 = 37.5 ms, SRTT = 100 ms: RTO = 250 ms.
        assert_eq!(e.rto(), ms(250));
    }

    #[test]
    fn extreme_values_saturate() {
        let mut e = RttEstimator::new(ms(1000), ms(200), Duration::MAX);
        for _ in 0..200 {
            e.backoff();
        }
        assert_eq!(e.rto(), Duration::MAX);
        e.on_sample(Duration::MAX);
        e.on_sample(Duration::MAX);
        assert_eq!(e.srtt(), Some(Duration::MAX));
        assert_eq!(e.rto(), Duration::MAX);
        e.on_sample(Duration::ZERO);
        assert!(e.rto() <= Duration::MAX);
        assert_eq!(e.backoff_count(), 0);
    }

    #[test]
    fn min_rto_bounds_the_whole_rto_or_with_the_option_only_the_variance_term() {
        // A steady 10 ms path: SRTT 10 ms, RTTVAR 5 ms after the first sample.
        let mut rfc = linux_like();
        rfc.on_sample(ms(10));
        assert_eq!(rfc.rto(), ms(200)); // max(10 + 20, 200)
        let mut linux = linux_like().min_on_rttvar(true);
        linux.on_sample(ms(10));
        assert_eq!(linux.rto(), ms(210)); // 10 + max(20, 200)
                                          // A large variance is taken as it is by both.
        let mut big = linux_like().min_on_rttvar(true);
        big.on_sample(ms(200));
        assert_eq!(big.rto(), ms(600)); // 200 + 4 * 100
    }

    proptest! {
        #[test]
        fn rto_stays_within_bounds(
            min in 0u64..2_000_000,
            span in 0u64..100_000_000,
            events in proptest::collection::vec(proptest::option::of(0u64..10_000_000), 0..50),
        ) {
            let (min, max) = (us(min), us(min + span));
            let mut e = RttEstimator::new(ms(1000), min, max);
            for ev in events {
                match ev {
                    Some(r) => e.on_sample(us(r)),
                    None => e.backoff(),
                }
                prop_assert!(min <= e.rto() && e.rto() <= max);
            }
        }

        #[test]
        fn steady_rtt_converges(r in 1_000u64..5_000_000) {
            let mut e = RttEstimator::new(ms(1000), Duration::ZERO, Duration::MAX);
            for _ in 0..200 {
                e.on_sample(us(r));
            }
            prop_assert_eq!(e.srtt(), Some(us(r)));
            prop_assert_eq!(e.rto(), us(r) + G.max(e.rttvar() * 4));
            prop_assert!(e.rttvar() < us(r / 100 + 1));
        }
    }
}
