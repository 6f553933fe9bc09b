//! HyStart++ (RFC 9406): leave the initial slow start when the RTT starts to rise.
//!
//! Fed once per ACK while the controller is in its *initial* slow start. Each round it
//! keeps the minimum RTT of the round; when a round's minimum (after at least
//! `N_RTT_SAMPLE` samples) exceeds the previous round's by
//! `clamp(last/8, 4 ms, 16 ms)`, it enters Conservative Slow Start (CSS), where the
//! controller grows by a quarter of the slow-start increase. If the RTT falls back below
//! the CSS baseline, slow start resumes (the rise was spurious); after `CSS_ROUNDS` rounds
//! in CSS the controller sets `ssthresh = cwnd` and moves to congestion avoidance.
//!
//! Deviation: RFC 9406 ends a round when the ACK covers `windowEnd` (SND.NXT at the start
//! of the round). A value-only controller has no sequence numbers, so a round ends once
//! the bytes acked since it started reach the cwnd it started with (equal when the sender
//! is cwnd-limited, the only time we grow).
//!
//! The samples are whatever RTT the connection passes to `on_ack` (the smoothed RTT); the
//! minimum per round of those still rises with a standing queue, a round or so later than
//! raw samples would.
//!
//! Not done: HyStart++ in slow starts after an RTO (§4.3 leaves it optional; we use it only
//! in the initial slow start), and the paced-sender L = infinity (we keep RFC 3465 L).

use crate::time::Duration;

/// RFC 9406 §4.3 constants.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u64 = 8;
const N_RTT_SAMPLE: u32 = 8;
/// Slow-start increase divisor while in CSS.
pub(crate) const CSS_GROWTH_DIVISOR: u32 = 4;
const CSS_ROUNDS: u32 = 5;

/// What the controller should do with this ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Standard slow start.
    SlowStart,
    /// Conservative slow start: grow by the slow-start increase / `CSS_GROWTH_DIVISOR`.
    Conservative,
    /// Leave slow start: set `ssthresh = cwnd` (RFC 9406 §4.2, after `CSS_ROUNDS`).
    Exit,
}

/// HyStart++ (RFC 9406): leaves slow start early when the RTT rises.
#[derive(Clone, Debug, Default)]
pub struct HyStart {
    started: bool,
    round_target: u64,
    round_acked: u64,
    last_round_min: Option<Duration>,
    current_round_min: Option<Duration>,
    samples: u32,
    /// `Some((cssBaselineMinRtt, rounds spent in CSS))` while in CSS.
    css: Option<(Duration, u32)>,
}

impl HyStart {
    /// A detector in its initial slow-start round.
    pub fn new() -> HyStart {
        HyStart::default()
    }

    /// True while in Conservative Slow Start.
    pub fn in_css(&self) -> bool {
        self.css.is_some()
    }

    /// One ACK of `bytes` in slow start, with `cwnd` the current window and `rtt` the RTT.
    /// `cwnd` is the window before this ACK's increase.
    pub fn on_ack(&mut self, bytes: u32, cwnd: u32, rtt: Option<Duration>) -> Phase {
        if !self.started {
            // The round starts with this ACK; it covers the window in flight now.
            self.started = true;
            self.round_target = u64::from(cwnd);
            self.round_acked = 0;
        }
        self.round_acked += u64::from(bytes);
        if let Some(r) = rtt {
            self.current_round_min = Some(self.current_round_min.map_or(r, |m| m.min(r)));
            self.samples = self.samples.saturating_add(1);
        }
        if self.samples >= N_RTT_SAMPLE {
            match (self.css, self.last_round_min, self.current_round_min) {
                // §4.2: delay increase detected in slow start: enter CSS.
                (None, Some(last), Some(cur)) => {
                    let thresh = Duration::from_micros(last.micros() / MIN_RTT_DIVISOR)
                        .min(MAX_RTT_THRESH)
                        .max(MIN_RTT_THRESH);
                    if cur >= last + thresh {
                        self.css = Some((cur, 0));
                    }
                }
                // §4.2: the RTT fell below the baseline: the increase was spurious.
                (Some((baseline, _)), _, Some(cur)) if cur < baseline => self.css = None,
                _ => {}
            }
        }
        if self.round_acked >= self.round_target {
            // The round is over; the next starts with the next ACK, at the cwnd of then.
            self.last_round_min = self.current_round_min.take();
            self.samples = 0;
            self.started = false;
            if let Some((_, rounds)) = &mut self.css {
                *rounds += 1;
                if *rounds >= CSS_ROUNDS {
                    return Phase::Exit;
                }
            }
        }
        if self.css.is_some() {
            Phase::Conservative
        } else {
            Phase::SlowStart
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounds of 10 ACKs of 1000 bytes at cwnd 10000 (no growth, to isolate the detector),
    /// each round with its own RTT; returns the phase after each round.
    fn phases(rtts_ms: &[u64]) -> Vec<Phase> {
        let mut h = HyStart::new();
        rtts_ms
            .iter()
            .map(|&ms| {
                let mut p = Phase::SlowStart;
                for _ in 0..10 {
                    p = h.on_ack(1000, 10_000, Some(Duration::from_millis(ms)));
                }
                p
            })
            .collect()
    }

    use Phase::{Conservative as C, Exit as X, SlowStart as S};

    #[test]
    fn steady_rtt_stays_in_slow_start() {
        assert_eq!(phases(&[100; 8]), vec![S; 8]);
    }

    #[test]
    fn rtt_rise_of_an_eighth_enters_css_then_exits_after_five_rounds() {
        // 100 ms -> threshold clamp(12.5 ms, 4, 16) = 12.5 ms; 112 ms is below it.
        assert_eq!(phases(&[100, 112, 112]), vec![S, S, S]);
        assert_eq!(
            phases(&[100, 100, 113, 113, 113, 113, 113, 113]),
            vec![S, S, C, C, C, C, X, X]
        );
    }

    #[test]
    fn rtt_threshold_is_clamped_to_4_and_16_ms() {
        // 10 ms path: last/8 = 1.25 ms, clamped up to 4 ms.
        assert_eq!(phases(&[10, 13]), vec![S, S]);
        assert_eq!(phases(&[10, 14]), vec![S, C]);
        // 400 ms path: last/8 = 50 ms, clamped down to 16 ms.
        assert_eq!(phases(&[400, 416]), vec![S, C]);
    }

    #[test]
    fn rtt_back_below_baseline_resumes_slow_start() {
        assert_eq!(phases(&[100, 120, 119, 119]), vec![S, C, S, S]);
    }

    #[test]
    fn too_few_samples_per_round_decide_nothing() {
        let mut h = HyStart::new();
        // Rounds of 7 ACKs (< N_RTT_SAMPLE = 8), RTT doubling each round.
        for round in 0..6u64 {
            for _ in 0..7 {
                let p = h.on_ack(1000, 7000, Some(Duration::from_millis(100 << round)));
                assert_eq!(p, Phase::SlowStart);
            }
        }
        assert!(!h.in_css());
    }
}
