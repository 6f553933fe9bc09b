//! NewReno window arithmetic: RFC 5681 §3.1 with RFC 3465 byte counting.
//!
//! - Initial window: [`initial_window`] (RFC 6928 IW10 when the caller passes 10).
//! - Slow start (`cwnd < ssthresh`): per ACK `cwnd += min(bytes, L)`, L = 2*SMSS
//!   (RFC 3465 §2.2), 1*SMSS in the slow start after an RTO (§2.3). Slow start stops at
//!   `ssthresh` (the rest of that ACK is not carried into congestion avoidance).
//! - Congestion avoidance: byte counting, the method RFC 5681 §3.1 recommends (RFC 3465
//!   §2.1): acked bytes accumulate, and each time they reach `cwnd`, `cwnd += SMSS`. That is
//!   exactly one SMSS per window of data, integer-exact, and at most one SMSS per ACK.
//! - Loss (dupacks/SACK): `ssthresh = max(FlightSize/2, 2*SMSS)` (RFC 5681 eq. (4)) and
//!   `cwnd = ssthresh` at once. There is no `ssthresh + 3*SMSS` inflation nor per-dupack
//!   inflation (RFC 5681 §3.2 steps 4-5): the connection runs RFC 6675 pipe-based
//!   recovery, in which the window is not inflated; the RFC 6582 full-ACK rule then reduces
//!   to "cwnd stays at ssthresh".
//! - RTO: same `ssthresh`, `cwnd` = LW = 1 SMSS (RFC 5681 §3.1).
//! - No growth while not cwnd-limited (RFC 7661 §4.1 spirit: the window has not been
//!   validated by use), and none during recovery.
//!
//! Not here: the `recover` point and partial ACKs (RFC 6582 §3.2), dupack counting,
//! Limited Transmit (RFC 3042) — all the sender's.
//!
//! Golden trajectory (SMSS 1000, IW10, one ACK per segment, loss at the start of round 5
//! with cwnd in flight, RTO at round 12); cwnd in bytes at the end of each round:
//!
//! ```text
//! round:    0      1      2      3      4      5      6      7      8      9
//! cwnd:  20000  40000  80000 160000 320000 160000 161000 162000 163000 164000
//! round:   10     11     12     13     14     15     16     17     18     19
//! cwnd: 165000 166000   2000   4000   8000  16000  32000  64000  83000  84000
//! ```
//!
//! Slow start doubles per round; the loss halves FlightSize (320 segments -> 160);
//! congestion avoidance adds one segment per round; the RTO sets ssthresh to
//! 166 segments / 2 = 83 and restarts slow start from one segment with L = 1 SMSS
//! (still doubling with one ACK per segment), which stops at ssthresh.

use super::hystart::{Phase, CSS_GROWTH_DIVISOR};
use super::{abc_limit, initial_window, Controller, HyStart, Options};
use crate::time::{Duration, Instant};

/// NewReno (RFC 5681 slow start and congestion avoidance, RFC 6582 recovery).
#[derive(Debug, Clone)]
pub struct NewReno {
    mss: u32,
    iw_segments: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acked in congestion avoidance since the last `cwnd += SMSS` (RFC 3465 §2.1).
    ca_acked: u32,
    in_recovery: bool,
    /// In the slow start that follows an RTO (RFC 3465 §2.3: L = 1*SMSS).
    after_rto: bool,
    /// Nothing acked or lost yet: `set_mss` may recompute the initial window.
    pristine: bool,
    /// `(cwnd, ssthresh)` before the last reduction, for [`Controller::undo`].
    prior: Option<(u32, u32)>,
    /// HyStart++ during the initial slow start, if enabled and not yet finished.
    hystart: Option<HyStart>,
    /// RFC 3465's L ([`Options::abc_limit`]).
    abc: Option<u32>,
}

impl NewReno {
    /// A controller for `mss`-byte segments starting at `initial_window_segments`.
    pub fn new(mss: u32, initial_window_segments: u32, _now: Instant, opts: Options) -> NewReno {
        let mss = mss.max(1);
        NewReno {
            mss,
            iw_segments: initial_window_segments,
            cwnd: initial_window(initial_window_segments, mss),
            ssthresh: u32::MAX,
            ca_acked: 0,
            in_recovery: false,
            after_rto: false,
            pristine: true,
            prior: None,
            hystart: opts.hystart.then(HyStart::new),
            abc: opts.abc_limit,
        }
    }

    /// RFC 5681 eq. (4).
    fn loss_ssthresh(&self, in_flight: u32) -> u32 {
        (in_flight / 2).max(self.mss.saturating_mul(2))
    }

    fn reduce(&mut self, in_flight: u32) {
        self.prior = Some((self.cwnd, self.ssthresh));
        self.pristine = false;
        self.ssthresh = self.loss_ssthresh(in_flight);
        self.ca_acked = 0;
        // RFC 9406 §4.2: a loss ends slow start and CSS for good.
        self.hystart = None;
    }
}

impl Controller for NewReno {
    fn on_ack(
        &mut self,
        _now: Instant,
        bytes: u32,
        rtt: Option<Duration>,
        _min_rtt: Option<Duration>,
        cwnd_limited: bool,
    ) {
        if bytes == 0 || self.in_recovery {
            return;
        }
        self.pristine = false;
        if !cwnd_limited {
            return;
        }
        if self.cwnd < self.ssthresh {
            let mut inc = bytes.min(abc_limit(self.mss, self.after_rto, self.abc));
            if let Some(h) = &mut self.hystart {
                match h.on_ack(bytes, self.cwnd, rtt) {
                    Phase::SlowStart => {}
                    Phase::Conservative => inc /= CSS_GROWTH_DIVISOR,
                    Phase::Exit => {
                        self.ssthresh = self.cwnd;
                        self.hystart = None;
                        return;
                    }
                }
            }
            self.cwnd = self.cwnd.saturating_add(inc).min(self.ssthresh);
            return;
        }
        self.after_rto = false;
        self.hystart = None;
        self.ca_acked = self.ca_acked.saturating_add(bytes);
        if self.ca_acked >= self.cwnd {
            self.ca_acked = (self.ca_acked - self.cwnd).min(self.cwnd);
            self.cwnd = self.cwnd.saturating_add(self.mss);
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, in_flight: u32) {
        if self.in_recovery {
            return;
        }
        self.reduce(in_flight);
        self.cwnd = self.ssthresh;
        self.in_recovery = true;
    }

    fn on_recovery_end(&mut self, _now: Instant) {
        self.in_recovery = false;
    }

    fn on_rto(&mut self, _now: Instant, in_flight: u32) {
        self.reduce(in_flight);
        self.cwnd = self.mss;
        self.in_recovery = false;
        self.after_rto = true;
    }

    fn undo(&mut self) {
        if let Some((cwnd, ssthresh)) = self.prior.take() {
            self.cwnd = self.cwnd.max(cwnd);
            self.ssthresh = ssthresh;
            self.in_recovery = false;
            self.after_rto = false;
        }
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        self.cwnd = self.cwnd.min(initial_window(self.iw_segments, self.mss));
    }

    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn set_mss(&mut self, mss: u32) {
        self.mss = mss.max(1);
        if self.pristine {
            self.cwnd = initial_window(self.iw_segments, self.mss);
        }
        self.cwnd = self.cwnd.max(self.mss);
        if self.ssthresh != u32::MAX {
            self.ssthresh = self.ssthresh.max(self.mss.saturating_mul(2));
        }
    }

    fn name(&self) -> &'static str {
        "newreno"
    }
}

#[cfg(test)]
mod tests {
    use super::super::sim::{show, Ev, Sim};
    use super::*;

    const MSS: u32 = 1000;
    const RTT: Duration = Duration::from_millis(100);

    fn reno() -> NewReno {
        NewReno::new(MSS, 10, Instant::ZERO, Options::default())
    }

    #[track_caller]
    fn assert_trajectory(got: &[u32], want: &[u32]) {
        assert_eq!(got, want, "\ngot:\n{}want:\n{}", show(got), show(want));
    }

    #[test]
    fn golden_trajectory_slow_start_loss_avoidance_rto() {
        let mut c = reno();
        let got = Sim::new(MSS, RTT).trajectory(&mut c, 20, &[(5, Ev::Loss), (12, Ev::Rto)]);
        #[rustfmt::skip]
        let want = [
             20000,  40000,  80000, 160000, 320000, 160000, 161000, 162000, 163000, 164000,
            165000, 166000,   2000,   4000,   8000,  16000,  32000,  64000,  83000,  84000,
        ];
        assert_trajectory(&got, &want);
        assert_eq!(c.ssthresh(), 83_000);
    }

    #[test]
    fn initial_window_is_ten_segments() {
        // RFC 6928 §2.
        let c = reno();
        assert_eq!(c.cwnd(), 10 * MSS);
        assert_eq!(c.ssthresh(), u32::MAX);
        assert!(c.in_slow_start());
    }

    #[test]
    fn slow_start_doubles_per_round_trip() {
        let mut c = reno();
        let got = Sim::new(MSS, RTT).trajectory(&mut c, 5, &[]);
        assert_trajectory(&got, &[20_000, 40_000, 80_000, 160_000, 320_000]);
    }

    #[test]
    fn abc_limits_slow_start_to_two_smss_per_ack() {
        // RFC 3465 §2.2: one stretch ACK for 5 segments grows cwnd by L = 2*SMSS only.
        let mut c = reno();
        c.on_ack(Instant::ZERO, 5 * MSS, Some(RTT), Some(RTT), true);
        assert_eq!(c.cwnd(), 12 * MSS);
        // Smaller ACKs count their bytes.
        c.on_ack(Instant::ZERO, 300, Some(RTT), Some(RTT), true);
        assert_eq!(c.cwnd(), 12 * MSS + 300);
    }

    #[test]
    fn abc_limit_is_one_smss_in_slow_start_after_rto() {
        // RFC 3465 §2.3.
        let mut c = reno();
        c.on_rto(Instant::ZERO, 20 * MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 10 * MSS));
        c.on_ack(Instant::ZERO, 3 * MSS, Some(RTT), Some(RTT), true);
        assert_eq!(c.cwnd(), 2 * MSS);
    }

    #[test]
    fn slow_start_stops_at_ssthresh() {
        let mut c = reno();
        c.on_congestion_event(Instant::ZERO, 30 * MSS); // ssthresh 15 segments
        c.on_recovery_end(Instant::ZERO);
        c.on_rto(Instant::ZERO, 30 * MSS); // cwnd 1 segment, ssthresh 15
        let got = Sim::new(MSS, RTT).trajectory(&mut c, 6, &[]);
        assert_trajectory(&got, &[2000, 4000, 8000, 15_000, 16_000, 17_000]);
    }

    #[test]
    fn congestion_avoidance_adds_one_smss_per_round_trip() {
        // RFC 5681 §3.1 with byte counting (RFC 3465 §2.1).
        let mut c = reno();
        c.on_congestion_event(Instant::ZERO, 40 * MSS);
        c.on_recovery_end(Instant::ZERO);
        assert_eq!(c.cwnd(), 20 * MSS);
        assert!(!c.in_slow_start());
        let got = Sim::new(MSS, RTT).trajectory(&mut c, 4, &[]);
        assert_trajectory(&got, &[21_000, 22_000, 23_000, 24_000]);
    }

    #[test]
    fn congestion_avoidance_gives_at_most_one_smss_per_ack() {
        let mut c = reno();
        c.on_congestion_event(Instant::ZERO, 8 * MSS);
        c.on_recovery_end(Instant::ZERO);
        assert_eq!(c.cwnd(), 4 * MSS);
        // A huge stretch ACK (three windows' worth) still adds one SMSS.
        c.on_ack(Instant::ZERO, 12 * MSS, Some(RTT), Some(RTT), true);
        assert_eq!(c.cwnd(), 5 * MSS);
    }

    #[test]
    fn loss_halves_flight_size_not_cwnd_and_floors_at_two_smss() {
        // RFC 5681 eq. (4): ssthresh = max(FlightSize/2, 2*SMSS); cwnd = ssthresh.
        let mut c = reno();
        c.on_congestion_event(Instant::ZERO, 6 * MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (3 * MSS, 3 * MSS));
        c.on_recovery_end(Instant::ZERO);
        let mut c = reno();
        c.on_congestion_event(Instant::ZERO, MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (2 * MSS, 2 * MSS));
    }

    #[test]
    fn one_reduction_per_recovery_episode_and_no_growth_inside_it() {
        // RFC 6582 §3.2: repeated loss signals in one episode reduce once.
        let mut c = reno();
        c.on_congestion_event(Instant::ZERO, 40 * MSS);
        c.on_congestion_event(Instant::ZERO, 20 * MSS);
        c.on_ack(Instant::ZERO, 10 * MSS, Some(RTT), Some(RTT), true);
        assert_eq!((c.cwnd(), c.ssthresh()), (20 * MSS, 20 * MSS));
        c.on_recovery_end(Instant::ZERO);
        c.on_congestion_event(Instant::ZERO, 20 * MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (10 * MSS, 10 * MSS));
    }

    #[test]
    fn rto_collapses_cwnd_to_one_smss() {
        // RFC 5681 §3.1: cwnd = LW = 1 SMSS; ssthresh from FlightSize.
        let mut c = reno();
        c.on_congestion_event(Instant::ZERO, 40 * MSS); // rto also ends this episode
        c.on_rto(Instant::ZERO, 30 * MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 15 * MSS));
        c.on_ack(Instant::ZERO, MSS, Some(RTT), Some(RTT), true);
        assert_eq!(c.cwnd(), 2 * MSS, "grows again: the RTO closed the episode");
    }

    #[test]
    fn no_growth_when_not_cwnd_limited() {
        // RFC 7661: an application-limited sender does not grow cwnd, in either phase.
        let mut c = reno();
        for _ in 0..20 {
            c.on_ack(Instant::ZERO, MSS, Some(RTT), Some(RTT), false);
        }
        assert_eq!(c.cwnd(), 10 * MSS);
        c.on_congestion_event(Instant::ZERO, 20 * MSS);
        c.on_recovery_end(Instant::ZERO);
        let got = Sim::new(MSS, RTT).trajectory(&mut c, 3, &[(1, Ev::AppLimited)]);
        assert_trajectory(&got, &[11_000, 11_000, 12_000]);
    }

    #[test]
    fn set_mss_before_any_ack_recomputes_the_initial_window() {
        let mut c = reno();
        c.set_mss(1460);
        assert_eq!(c.cwnd(), 14_600);
        c.set_mss(536);
        assert_eq!(c.cwnd(), 5360);
    }

    #[test]
    fn set_mss_after_acks_keeps_cwnd_bytes_and_uses_the_new_smss() {
        let mut c = reno();
        c.on_ack(Instant::ZERO, MSS, Some(RTT), Some(RTT), true);
        assert_eq!(c.cwnd(), 11_000);
        c.set_mss(1460);
        assert_eq!(c.cwnd(), 11_000);
        c.on_ack(Instant::ZERO, 4000, Some(RTT), Some(RTT), true);
        assert_eq!(c.cwnd(), 11_000 + 2920, "ABC limit is 2 * the new SMSS");
        c.on_rto(Instant::ZERO, 10_000);
        assert_eq!((c.cwnd(), c.ssthresh()), (1460, 5000));
        // Shrinking SMSS after a loss keeps ssthresh >= 2*SMSS and cwnd >= SMSS.
        c.set_mss(4000);
        assert_eq!((c.cwnd(), c.ssthresh()), (4000, 8000));
    }

    #[test]
    fn undo_restores_the_window_before_a_spurious_reduction() {
        let mut c = reno();
        c.on_congestion_event(Instant::ZERO, 40 * MSS);
        c.on_recovery_end(Instant::ZERO);
        c.on_rto(Instant::ZERO, 20 * MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 10 * MSS));
        c.undo();
        assert_eq!((c.cwnd(), c.ssthresh()), (20 * MSS, 20 * MSS));
        c.undo(); // only the last reduction can be undone
        assert_eq!((c.cwnd(), c.ssthresh()), (20 * MSS, 20 * MSS));
    }

    #[test]
    fn idle_restart_shrinks_cwnd_to_the_initial_window() {
        // RFC 5681 §4.1: RW = min(IW, cwnd).
        let mut c = reno();
        Sim::new(MSS, RTT).trajectory(&mut c, 2, &[]);
        assert_eq!(c.cwnd(), 40 * MSS);
        c.on_idle_restart(Instant::ZERO);
        assert_eq!(c.cwnd(), 10 * MSS);
    }

    #[test]
    fn hystart_leaves_slow_start_on_rtt_rise_without_loss() {
        // RFC 9406: RTT 100 ms for two rounds, then 120 ms (a standing queue).
        let mut c = NewReno::new(
            MSS,
            10,
            Instant::ZERO,
            Options {
                hystart: true,
                ..Options::default()
            },
        );
        let mut sim = Sim::new(MSS, RTT);
        let mut per_round = Vec::new();
        for round in 0..9 {
            sim.rtt = Duration::from_millis(if round < 2 { 100 } else { 120 });
            sim.round(&mut c, None);
            per_round.push((c.cwnd(), c.ssthresh()));
        }
        let max = u32::MAX;
        #[rustfmt::skip]
        let want = [
            (20_000, max), (40_000, max),
            // Round 2: the 8th ACK sees 120 >= 100 + 12.5 ms: CSS, growth / 4.
            (55_250, max),
            (69_062, max), (86_327, max), (107_908, max),
            // At the end of the fifth CSS round: ssthresh = cwnd, congestion avoidance.
            (134_658, 134_658),
            (135_658, 134_658), (136_658, 134_658),
        ];
        assert_eq!(per_round, want);
    }

    #[test]
    fn huge_and_zero_inputs_do_not_panic() {
        let mut c = NewReno::new(
            0,
            u32::MAX,
            Instant::ZERO,
            Options {
                hystart: true,
                ..Options::default()
            },
        );
        assert_eq!(c.cwnd(), u32::MAX);
        c.on_ack(Instant::ZERO, u32::MAX, Some(Duration::ZERO), None, true);
        c.on_ack(Instant::ZERO, 0, None, None, true);
        c.on_congestion_event(Instant::ZERO, u32::MAX);
        c.on_recovery_end(Instant::ZERO);
        c.on_ack(Instant::ZERO, u32::MAX, Some(Duration::MAX), None, true);
        c.on_rto(Instant::ZERO, 0);
        assert_eq!((c.cwnd(), c.ssthresh()), (1, 2));
        c.set_mss(u32::MAX);
        assert_eq!((c.cwnd(), c.ssthresh()), (u32::MAX, u32::MAX));
    }
}
