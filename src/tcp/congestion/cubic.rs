//! CUBIC window arithmetic (RFC 9438).
//!
//! In congestion avoidance the window follows the cubic
//! `W_cubic(t) = C*(t - K)^3 + W_max` (§4.2, C = 0.4, in segments and seconds), where
//! `t` is the time since the current congestion-avoidance epoch began (application-limited
//! time excluded, §5.8), `W_max` the window just before the last reduction and
//! `K = cbrt((W_max - cwnd_epoch)/C)` the time the curve takes to climb back to it
//! (`cwnd_epoch = beta*W_max` after a loss, so K = cbrt(W_max*(1-beta)/C)). Below `W_max`
//! the curve is concave (§4.4), above it convex (§4.5). Per ACK, cwnd moves towards
//! `target = W_cubic(t + RTT)` clamped to `[cwnd, 1.5*cwnd]` by
//! `(target - cwnd)/cwnd` per segment acked.
//!
//! Reno-friendly region (§4.3): `W_est` starts at `cwnd_epoch` and grows by
//! `alpha_cubic * segments_acked / cwnd`, alpha_cubic = 3*(1-beta)/(1+beta) ≈ 0.53 until
//! `W_est` reaches the window held before the reduction, 1 after. When `W_cubic(t) < W_est`
//! cwnd follows `W_est`: this dominates on short-RTT, small-window paths, where the cubic
//! is slower than Reno.
//!
//! Loss (§4.6): `ssthresh = max(beta*FlightSize, 2*SMSS)`, beta = 0.7, `cwnd = ssthresh`
//! (no inflation: the sender does RFC 6675 pipe-based recovery). Fast convergence (§4.7):
//! a loss below the previous `W_max` sets `W_max = cwnd*(1+beta)/2`. RTO (§4.8): the same
//! `ssthresh`, `cwnd` = 1 SMSS, and the first epoch after it starts with K = 0 and
//! `W_max = W_est = cwnd` at the epoch start. Below `ssthresh` CUBIC slow-starts exactly
//! like [`super::NewReno`] (RFC 3465 L = 2*SMSS, 1*SMSS after an RTO), optionally with
//! HyStart++ (§4.10, RFC 9406).
//!
//! Arithmetic is f64 internally (segments and seconds in the formulas, bytes in the
//! state); `cwnd` is whole bytes, with the fractional growth carried between ACKs.
//!
//! Not here: loss detection, pacing, ECN (§4.6's ECE case), HyStart++ after an RTO.
//!
//! Golden trajectory (SMSS 1000, IW 25 segments, RTT 100 ms, one ACK per segment spread
//! over the RTT; loss at the start of round 2 with 100 segments in flight, so
//! W_max = 100 segments, cwnd = 70, K = cbrt(30/0.4) = 4.217 s; cwnd in bytes at the end
//! of each round):
//!
//! ```text
//! round:      0      1      2      3      4      5      6      7      8      9
//!   0:    50000 100000  70000  72023  73987  75880  77678  79383  80998  82531
//!  10:    83976  85341  86623  87830  88963  90023  91009  91929  92788  93581
//!  20:    94314  94987  95608  96173  96687  97153  97573  97950  98286  98582
//!  30:    98842  99068  99262  99427  99565  99679  99771  99843  99898  99938
//!  40:    99965  99983  99993  99997  99999 100000 100004 100012 100026 100050
//!  50:   100085 100134 100200 100284 100390 100519 100674 100857 101072 101318
//!  60:   101601 102145 103140 104136 105131 106126 107122 108117 109112 110108
//! ```
//!
//! Rounds 0-1 slow start; round 2 the loss (beta = 0.7); rounds 3-44 concave, growth
//! shrinking as cwnd nears W_max (reached at t ≈ K); rounds 45-60 convex, growth rising
//! again; from round 61 the Reno-friendly W_est (0.53 segments per RTT from 70, then 1
//! per RTT once past the pre-loss 100) overtakes the cubic, which at 100 ms RTT and this
//! small window grows more slowly than Reno would.

use super::hystart::{Phase, CSS_GROWTH_DIVISOR};
use super::hystart_linux::LinuxHyStart;
use super::{abc_limit, initial_window, Controller, HyStart, Options};
use crate::time::{Duration, Instant};

/// §5.1: the cubic's scaling constant, in segments per second cubed.
pub const C: f64 = 0.4;
/// §4.6: multiplicative decrease factor.
pub const BETA: f64 = 0.7;
/// §4.3: Reno-friendly additive increase per RTT, in segments.
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// One congestion-avoidance epoch (§4.2).
#[derive(Debug, Clone, Copy)]
struct Epoch {
    /// t_epoch, moved forward by application-limited periods (§5.8).
    start: Instant,
    /// K in seconds.
    k: f64,
    /// W_est in bytes (§4.3).
    w_est: f64,
}

/// State restored by [`Controller::undo`] (§4.9).
#[derive(Debug, Clone, Copy)]
struct Prior {
    cwnd: u32,
    ssthresh: u32,
    w_max: f64,
    cwnd_prior: f64,
}

/// CUBIC (RFC 9438): the window grows as a cubic function of the time since the last
/// reduction, with a Reno-friendly region.
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    iw_segments: u32,
    cwnd: u32,
    ssthresh: u32,
    /// W_max in bytes (after fast convergence).
    w_max: f64,
    /// cwnd just before the last reduction, in bytes (§4.3 alpha switch).
    cwnd_prior: f64,
    epoch: Option<Epoch>,
    /// The next epoch follows an RTO: K = 0, W_max = cwnd_epoch (§4.8).
    timeout_epoch: bool,
    /// Fractional bytes of growth not yet added to `cwnd`.
    frac: f64,
    /// Since when the sender has been application-limited.
    app_limited_since: Option<Instant>,
    in_recovery: bool,
    after_rto: bool,
    pristine: bool,
    prior: Option<Prior>,
    hystart: Option<HyStart>,
    /// Linux's HyStart ([`Options::linux_hystart`]); `None` once it ended slow start.
    linux_hystart: Option<LinuxHyStart>,
    /// RFC 3465's L ([`Options::abc_limit`]).
    abc: Option<u32>,
}

fn secs(d: Duration) -> f64 {
    d.micros() as f64 / 1e6
}

/// Whole bytes from a non-negative f64, saturating (NaN gives 0).
fn to_bytes(x: f64) -> u32 {
    x as u32
}

impl Cubic {
    /// A controller for `mss`-byte segments starting at `initial_window_segments`.
    pub fn new(mss: u32, initial_window_segments: u32, _now: Instant, opts: Options) -> Cubic {
        let mss = mss.max(1);
        Cubic {
            mss,
            iw_segments: initial_window_segments,
            cwnd: initial_window(initial_window_segments, mss),
            ssthresh: u32::MAX,
            w_max: 0.0,
            cwnd_prior: 0.0,
            epoch: None,
            timeout_epoch: false,
            frac: 0.0,
            app_limited_since: None,
            in_recovery: false,
            after_rto: false,
            pristine: true,
            prior: None,
            hystart: opts.hystart.then(HyStart::new),
            linux_hystart: opts.linux_hystart.then(|| LinuxHyStart::new(_now)),
            abc: opts.abc_limit,
        }
    }

    /// W_max in bytes (0 before the first reduction).
    pub fn w_max(&self) -> u32 {
        to_bytes(self.w_max)
    }

    /// K of the current congestion-avoidance epoch, if one has started.
    pub fn k(&self) -> Option<Duration> {
        self.epoch
            .map(|e| Duration::from_micros((e.k * 1e6).round() as u64))
    }

    /// W_cubic(t) in bytes (§4.2).
    fn w_cubic(&self, k: f64, t: f64) -> f64 {
        C * (t - k).powi(3) * f64::from(self.mss) + self.w_max
    }

    fn start_epoch(&mut self, now: Instant) -> Epoch {
        let cwnd_epoch = f64::from(self.cwnd);
        let k = if self.timeout_epoch || self.w_max <= cwnd_epoch {
            // §4.8 after an RTO; and with no W_max above us (first epoch after a HyStart++
            // exit, or after undo), the curve starts at its inflection point.
            self.w_max = cwnd_epoch;
            0.0
        } else {
            ((self.w_max - cwnd_epoch) / f64::from(self.mss) / C).cbrt()
        };
        self.timeout_epoch = false;
        Epoch {
            start: now,
            k,
            w_est: cwnd_epoch,
        }
    }

    fn reduce(&mut self, in_flight: u32) {
        self.prior = Some(Prior {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            w_max: self.w_max,
            cwnd_prior: self.cwnd_prior,
        });
        self.pristine = false;
        let cwnd = f64::from(self.cwnd);
        // §4.7 fast convergence: a loss below the last W_max releases bandwidth.
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        self.cwnd_prior = cwnd;
        // §4.6: ssthresh = flight_size * beta_cubic, at least 2 SMSS (integer 7/10: exact).
        let beta_flight = u64::from(in_flight) * 7 / 10;
        self.ssthresh = (beta_flight as u32).max(self.mss.saturating_mul(2));
        self.epoch = None;
        self.frac = 0.0;
        self.app_limited_since = None;
        // RFC 9406 §4.2: a loss ends slow start and CSS for good.
        self.hystart = None;
    }

    fn slow_start(&mut self, bytes: u32, rtt: Option<Duration>) {
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
    }

    fn congestion_avoidance(&mut self, now: Instant, bytes: u32, rtt: Option<Duration>) {
        let mut epoch = match self.epoch {
            Some(e) => e,
            None => self.start_epoch(now),
        };
        let mss = f64::from(self.mss);
        let cwnd = f64::from(self.cwnd);
        let acked = f64::from(bytes);
        let t = secs(now.saturating_since(epoch.start));
        // §4.3: W_est += alpha * segments_acked / cwnd (segments); here in bytes.
        let alpha = if epoch.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        epoch.w_est += alpha * mss * acked / cwnd;
        self.epoch = Some(epoch);
        if self.w_cubic(epoch.k, t) < epoch.w_est {
            // Reno-friendly region: cwnd = W_est.
            self.cwnd = self.cwnd.max(to_bytes(epoch.w_est));
            return;
        }
        // §4.4/4.5: towards W_cubic(t + RTT), clamped to [cwnd, 1.5*cwnd].
        let rtt = rtt.map_or(0.0, secs);
        let target = self.w_cubic(epoch.k, t + rtt).min(1.5 * cwnd).max(cwnd);
        self.frac += (target - cwnd) * acked / cwnd;
        let whole = self.frac.floor();
        self.frac -= whole;
        self.cwnd = to_bytes(cwnd + whole);
    }
}

impl Controller for Cubic {
    fn on_ack(
        &mut self,
        now: Instant,
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
            self.app_limited_since.get_or_insert(now);
            return;
        }
        if let Some(since) = self.app_limited_since.take() {
            // §5.8: t does not include application-limited periods.
            if let Some(e) = &mut self.epoch {
                e.start += now.saturating_since(since);
            }
        }
        if self.cwnd < self.ssthresh {
            self.slow_start(bytes, rtt);
        } else {
            self.after_rto = false;
            self.hystart = None;
            self.congestion_avoidance(now, bytes, rtt);
        }
    }

    fn on_rtt_sample(
        &mut self,
        now: Instant,
        snd_una: crate::tcp::seq::SeqNum,
        snd_nxt: crate::tcp::seq::SeqNum,
        rtt: Duration,
        paced: bool,
        ack_delay: Duration,
    ) {
        if self.in_recovery || self.cwnd >= self.ssthresh {
            return;
        }
        let segs = self.cwnd / self.mss;
        if let Some(h) = &mut self.linux_hystart {
            if h.on_sample(now, snd_una, snd_nxt, rtt, segs, paced, ack_delay) {
                self.ssthresh = self.cwnd; // tcp_cubic.c: found
            }
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
        self.timeout_epoch = true;
        self.in_recovery = false;
        self.after_rto = true;
    }

    fn undo(&mut self) {
        if let Some(p) = self.prior.take() {
            self.cwnd = self.cwnd.max(p.cwnd);
            self.ssthresh = p.ssthresh;
            self.w_max = p.w_max;
            self.cwnd_prior = p.cwnd_prior;
            self.epoch = None;
            self.timeout_epoch = false;
            self.in_recovery = false;
            self.after_rto = false;
        }
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        self.cwnd = self.cwnd.min(initial_window(self.iw_segments, self.mss));
        self.epoch = None;
        self.app_limited_since = None;
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
        "cubic"
    }
}

#[cfg(test)]
mod tests {
    use super::super::sim::{show, Ev, Sim};
    use super::*;

    const MSS: u32 = 1000;
    const RTT: Duration = Duration::from_millis(100);

    fn cubic(iw: u32) -> Cubic {
        Cubic::new(MSS, iw, Instant::ZERO, Options::default())
    }

    #[track_caller]
    fn assert_trajectory(got: &[u32], want: &[u32]) {
        assert_eq!(got, want, "\ngot:\n{}want:\n{}", show(got), show(want));
    }

    /// K from §4.2 for a loss at `w_max` segments: cbrt(W_max*(1-beta)/C), in microseconds.
    fn k_formula_us(w_max_segments: f64) -> u64 {
        ((w_max_segments * (1.0 - BETA) / C).cbrt() * 1e6).round() as u64
    }

    #[test]
    fn golden_trajectory_loss_at_100_segments() {
        let mut c = cubic(25);
        let got = Sim::new(MSS, RTT).trajectory(&mut c, 70, &[(2, Ev::Loss)]);
        #[rustfmt::skip]
        let want = [
             50000, 100000,  70000,  72023,  73987,  75880,  77678,  79383,  80998,  82531,
             83976,  85341,  86623,  87830,  88963,  90023,  91009,  91929,  92788,  93581,
             94314,  94987,  95608,  96173,  96687,  97153,  97573,  97950,  98286,  98582,
             98842,  99068,  99262,  99427,  99565,  99679,  99771,  99843,  99898,  99938,
             99965,  99983,  99993,  99997,  99999, 100000, 100004, 100012, 100026, 100050,
            100085, 100134, 100200, 100284, 100390, 100519, 100674, 100857, 101072, 101318,
            101601, 102145, 103140, 104136, 105131, 106126, 107122, 108117, 109112, 110108,
        ];
        assert_trajectory(&got, &want);
        // K = cbrt(100 * 0.3 / 0.4) = cbrt(75) = 4.217 s.
        assert_eq!(c.k(), Some(Duration::from_micros(k_formula_us(100.0))));
        assert_eq!(c.k(), Some(Duration::from_micros(4_217_163)));
        assert_eq!(c.w_max(), 100_000);
    }

    #[test]
    fn growth_is_concave_below_w_max_and_convex_above() {
        // §4.4, §4.5, on the golden run: per-round increments shrink until cwnd reaches
        // W_max (round 45, ~K after the epoch began at 0.3 s), then grow, until the
        // Reno-friendly region takes over (round 61).
        let mut c = cubic(25);
        let cw = Sim::new(MSS, RTT).trajectory(&mut c, 61, &[(2, Ev::Loss)]);
        let inc: Vec<i64> = cw
            .windows(2)
            .map(|w| i64::from(w[1]) - i64::from(w[0]))
            .collect();
        let top = 3 + cw[3..].iter().position(|&w| w >= 100_000).unwrap();
        assert_eq!(top, 45);
        assert!(
            inc[2..top].windows(2).all(|d| d[1] <= d[0]),
            "concave: {inc:?}"
        );
        assert!(
            inc[top..].windows(2).all(|d| d[1] >= d[0]),
            "convex: {inc:?}"
        );
        assert!(cw[3..top].iter().all(|&w| w < 100_000));
    }

    #[test]
    fn k_matches_the_formula_for_several_w_max() {
        // §4.2: K = cbrt((W_max - cwnd_epoch)/C), cwnd_epoch = beta*W_max after a loss.
        for w_max in [10u32, 100, 1000, 12_345] {
            // IW = w_max segments, all in flight at the loss: W_max = w_max segments.
            let mut c = cubic(w_max);
            c.on_congestion_event(Instant::ZERO, w_max * MSS);
            c.on_recovery_end(Instant::ZERO);
            assert_eq!(
                c.k(),
                None,
                "the epoch starts with the first ACK after recovery"
            );
            c.on_ack(Instant::ZERO, MSS, Some(RTT), Some(RTT), true);
            let k = c.k().unwrap().micros();
            let want = k_formula_us(f64::from(w_max));
            assert!(
                k.abs_diff(want) <= 1,
                "W_max {w_max}: K {k} us, formula {want} us"
            );
        }
    }

    #[test]
    fn loss_reduces_to_seventy_percent_of_flight_size() {
        // §4.6: ssthresh = max(flight_size * 0.7, 2 SMSS); cwnd = ssthresh.
        let mut c = cubic(100);
        c.on_congestion_event(Instant::ZERO, 100 * MSS);
        assert_eq!(
            (c.cwnd(), c.ssthresh(), c.w_max()),
            (70_000, 70_000, 100_000)
        );
        let mut c = cubic(10);
        c.on_congestion_event(Instant::ZERO, 2 * MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (2 * MSS, 2 * MSS));
    }

    #[test]
    fn fast_convergence_lowers_w_max_after_a_loss_below_it() {
        // §4.7: second loss at cwnd 90 < W_max 100: W_max = 90 * (1 + 0.7) / 2 = 76.5.
        let mut c = cubic(100);
        c.on_congestion_event(Instant::ZERO, 100 * MSS);
        c.on_recovery_end(Instant::ZERO);
        c.cwnd = 90 * MSS;
        c.on_congestion_event(Instant::ZERO, 90 * MSS);
        assert_eq!((c.cwnd(), c.w_max()), (63_000, 76_500));
        c.on_recovery_end(Instant::ZERO);
        // A loss at or above W_max sets W_max = cwnd.
        c.cwnd = 80 * MSS;
        c.on_congestion_event(Instant::ZERO, 80 * MSS);
        assert_eq!((c.cwnd(), c.w_max()), (56_000, 80_000));
    }

    #[test]
    fn rto_collapses_to_one_smss_and_restarts_the_curve_at_its_inflection() {
        // §4.8: cwnd = 1 SMSS, ssthresh via beta; the next epoch has K = 0 and
        // W_max = cwnd at its start.
        let mut c = cubic(25);
        let mut sim = Sim::new(MSS, RTT);
        let got = sim.trajectory(&mut c, 10, &[(2, Ev::Loss), (8, Ev::Rto)]);
        #[rustfmt::skip]
        assert_trajectory(&got, &[
            50000, 100000, 70000, 72023, 73987, 75880, 77678, 79383, 2000, 4000,
        ]);
        // FlightSize at the RTO was 79383: ssthresh = 55568.
        assert_eq!(c.ssthresh(), 55_568);
        let got = sim.trajectory(&mut c, 6, &[]);
        // Slow start stops at ssthresh (round 3); then Reno-friendly growth, ~0.53 SMSS
        // per RTT, because a K = 0 cubic starts flat.
        assert_trajectory(&got, &[8000, 16000, 32000, 55644, 56171, 56698]);
        assert_eq!(c.k(), Some(Duration::ZERO));
        assert_eq!(c.w_max(), 55_568);
    }

    #[test]
    fn reno_friendly_region_dominates_at_small_rtt() {
        // §4.3: 1 ms RTT, loss at 40 segments: the cubic would need K = 3.1 s to climb
        // back, so W_est (alpha = 0.53 segments per RTT, then 1 past the old 40) sets cwnd.
        let mut c = cubic(20);
        let mut sim = Sim::new(MSS, Duration::from_millis(1));
        let got = sim.trajectory(&mut c, 30, &[(1, Ev::Loss)]);
        #[rustfmt::skip]
        let want = [
            40000, 28000, 28524, 29049, 29574, 30099, 30624, 31149, 31674, 32199,
            32724, 33250, 33775, 34300, 34826, 35352, 35877, 36403, 36929, 37454,
            37980, 38506, 39032, 39558, 40149, 41137, 42126, 43114, 44103, 45092,
        ];
        assert_trajectory(&got, &want);
        assert_eq!(c.k(), Some(Duration::from_micros(3_107_233)));
        // The cubic itself is still below 40 segments after 29 ms, far below cwnd.
        let e = c.epoch.unwrap();
        let t = secs(sim.now.saturating_since(e.start));
        assert!(c.w_cubic(e.k, t) < 29_000.0);
        // 0.53 segments per RTT, as ALPHA says.
        assert_eq!((ALPHA * 1000.0).round(), 529.0);
    }

    #[test]
    fn no_growth_when_not_cwnd_limited_and_the_pause_is_not_counted_in_t() {
        // §5.8 / RFC 7661. Run A: ACKs every 10 ms. Run B: the same ACKs, with a 2 s
        // application-limited pause after the fifth; B's later ACKs come 2 s later.
        let ack = |c: &mut Cubic, ms: u64, limited: bool| {
            c.on_ack(Instant::from_millis(ms), MSS, Some(RTT), Some(RTT), limited);
        };
        let start = |c: &mut Cubic| {
            c.on_congestion_event(Instant::ZERO, 100 * MSS);
            c.on_recovery_end(Instant::ZERO);
        };
        let (mut a, mut b) = (cubic(100), cubic(100));
        start(&mut a);
        start(&mut b);
        for i in 0..50 {
            ack(&mut a, 10 * i, true);
        }
        for i in 0..5 {
            ack(&mut b, 10 * i, true);
        }
        let before = b.cwnd();
        for ms in (50..2050).step_by(10) {
            ack(&mut b, ms, false);
        }
        assert_eq!(b.cwnd(), before, "no growth while application-limited");
        for i in 5..50 {
            ack(&mut b, 10 * i + 2000, true);
        }
        assert_eq!(a.cwnd(), b.cwnd());
        assert!(a.cwnd() > 70_000);
    }

    #[test]
    fn one_reduction_per_recovery_episode_and_no_growth_inside_it() {
        let mut c = cubic(100);
        c.on_congestion_event(Instant::ZERO, 100 * MSS);
        c.on_congestion_event(Instant::ZERO, 70 * MSS);
        c.on_ack(Instant::ZERO, 10 * MSS, Some(RTT), Some(RTT), true);
        assert_eq!((c.cwnd(), c.ssthresh()), (70_000, 70_000));
    }

    #[test]
    fn set_mss_before_and_after_sending() {
        let mut c = cubic(10);
        c.set_mss(1460);
        assert_eq!(c.cwnd(), 14_600, "nothing acked yet: IW10 at the new SMSS");
        c.on_ack(Instant::ZERO, 1460, Some(RTT), Some(RTT), true);
        assert_eq!(c.cwnd(), 16_060);
        c.set_mss(1000);
        assert_eq!(c.cwnd(), 16_060, "after an ACK the byte window stays");
        c.on_rto(Instant::ZERO, 16_060);
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 11_242));
    }

    #[test]
    fn undo_restores_window_and_w_max() {
        // §4.9 spurious congestion event.
        let mut c = cubic(100);
        c.on_congestion_event(Instant::ZERO, 100 * MSS);
        c.on_recovery_end(Instant::ZERO);
        c.on_rto(Instant::ZERO, 70 * MSS);
        // The RTO came below W_max 100: fast convergence, 70 * 0.85 = 59.5.
        assert_eq!((c.cwnd(), c.ssthresh(), c.w_max()), (1000, 49_000, 59_500));
        c.undo();
        assert_eq!(
            (c.cwnd(), c.ssthresh(), c.w_max()),
            (70_000, 70_000, 100_000)
        );
        // The next ACK starts a fresh epoch aimed back at the restored W_max.
        c.on_ack(Instant::ZERO, MSS, Some(RTT), Some(RTT), true);
        assert_eq!(c.k(), Some(Duration::from_micros(k_formula_us(100.0))));
    }

    #[test]
    fn hystart_exit_starts_a_convex_epoch_at_the_exit_window() {
        // RFC 9406 + RFC 9438 §4.10: no loss, so W_max = cwnd at the exit and K = 0.
        let mut c = Cubic::new(
            MSS,
            10,
            Instant::ZERO,
            Options {
                hystart: true,
                ..Options::default()
            },
        );
        let mut sim = Sim::new(MSS, RTT);
        for round in 0..8 {
            sim.rtt = Duration::from_millis(if round < 2 { 100 } else { 120 });
            sim.round(&mut c, None);
        }
        // Same detector as NewReno's test: CSS from round 2, exit at the end of round 6.
        assert_eq!(c.ssthresh(), 134_658);
        assert!(!c.in_slow_start());
        assert_eq!(c.k(), Some(Duration::ZERO));
        assert_eq!(c.w_max(), 134_658);
        assert!(c.cwnd() > 134_658);
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let mut c = Cubic::new(
            0,
            0,
            Instant::ZERO,
            Options {
                hystart: true,
                ..Options::default()
            },
        );
        assert_eq!(c.cwnd(), 4);
        c.on_congestion_event(Instant::ZERO, 0);
        c.on_recovery_end(Instant::ZERO);
        assert_eq!((c.cwnd(), c.ssthresh()), (2, 2));
        // Zero RTT, then an absurd RTT and a time far in the future: clamped to 1.5*cwnd.
        c.on_ack(
            Instant::ZERO,
            1,
            Some(Duration::ZERO),
            Some(Duration::ZERO),
            true,
        );
        c.on_ack(
            Instant::from_secs(1 << 40),
            u32::MAX,
            Some(Duration::MAX),
            None,
            true,
        );
        assert!(c.cwnd() >= 2);
        for _ in 0..200 {
            c.on_ack(
                Instant::from_secs(1 << 40),
                u32::MAX,
                Some(Duration::MAX),
                None,
                true,
            );
        }
        assert_eq!(c.cwnd(), u32::MAX);
        c.on_congestion_event(Instant::ZERO, u32::MAX);
        assert_eq!(c.cwnd(), 3_006_477_106); // (2^32 - 1) * 7 / 10, rounded down
        c.on_recovery_end(Instant::ZERO);
        c.on_rto(Instant::ZERO, 0);
        c.set_mss(u32::MAX);
        assert_eq!(c.cwnd(), u32::MAX);
        c.on_ack(Instant::ZERO, u32::MAX, None, None, true);
        c.on_ack(Instant::ZERO, u32::MAX, None, None, false);
        c.undo();
        c.on_idle_restart(Instant::ZERO);
        assert!(c.cwnd() >= 1);
    }
}
