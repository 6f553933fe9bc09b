//! BBR congestion control, version 1 (draft-cardwell-iccrg-bbr-congestion-control-00).
//!
//! Why v1 and not BBRv3 (draft-ietf-ccwg-bbr): v1 is the published, stable algorithm that
//! Linux's `tcp_bbr.c` still implements as "bbr", so `--cc bbr` here compares with
//! `tcp_congestion_control = bbr` on a stock kernel; the v3 draft is still changing between
//! revisions (its loss and ECN response, `inflight_hi`/`inflight_lo` bounds, probe phases)
//! and is not in mainline Linux. v1's known weakness follows from it: it does not react to
//! loss beyond packet conservation in recovery, so on shallow buffers it can keep a high
//! retransmission rate.
//!
//! The model: BtlBw, the windowed maximum of the delivery rate over 10 round trips
//! (§4.1.1, from `rate.rs` samples; app-limited samples only when they raise it), and
//! RTprop, the minimum RTT over 10 s (§4.1.2). From them: pacing rate = pacing_gain *
//! BtlBw, cwnd = cwnd_gain * BDP (+ 3 send quanta for offloads and delayed ACKs). The
//! state machine (§4.3): STARTUP (gains 2/ln 2) until BtlBw grew less than 25% in three
//! non-app-limited rounds; DRAIN (pacing gain ln 2 / 2) until the flight is at most one
//! BDP; PROBE_BW cycling pacing gains 5/4, 3/4, 1 x 6 (cwnd gain 2), one RTprop each;
//! PROBE_RTT (cwnd 4 segments for 200 ms and a round) when RTprop was not refreshed for
//! 10 s, then back to PROBE_BW (or STARTUP if the pipe was never filled).
//!
//! Loss (§4.2.3.4): on entering fast recovery cwnd falls to what is in flight and grows
//! only with what is delivered (packet conservation) for one round, then as usual; on
//! leaving it returns to at least its value before. On an RTO cwnd is one segment, and when
//! SND.UNA passes what was outstanding at the timeout it returns to its value before. The
//! sender's PRR does not apply ([`Controller::owns_recovery_cwnd`]).
//!
//! Deviations: RTprop is refreshed by a strictly lower RTT only, as Linux; the PROBE_BW
//! cycle starts at a phase drawn from the time of entry (the
//! core has no random source; the draft picks at random, excluding the 3/4 phase); no
//! idle-restart handling (§4.3.4.4); cwnd is in bytes, the floor is 4 SMSS.

use super::BbrInfo;
use super::{initial_window, Controller, Options};
use crate::tcp::rate::RateSample;
use crate::time::{Duration, Instant};

/// 2/ln(2) in 1/1000 units (§4.3.2.1 BBRHighGain).
const HIGH_GAIN: u64 = 2885;
/// ln(2)/2 (§4.3.3 drain gain: 1/BBRHighGain).
const DRAIN_GAIN: u64 = 347;
const UNIT: u64 = 1000;
/// §4.3.4.3 the PROBE_BW pacing gain cycle.
const CYCLE: [u64; 8] = [1250, 750, 1000, 1000, 1000, 1000, 1000, 1000];
/// §4.1.1 BtlBwFilterLen, in round trips.
const BW_WINDOW: usize = 10;
/// §4.1.2 RTpropFilterLen.
const RTPROP_WINDOW: Duration = Duration::from_secs(10);
/// §4.3.5 ProbeRTTDuration.
const PROBE_RTT_TIME: Duration = Duration::from_millis(200);
/// §4.2.3.2 BBRMinPipeCwnd, in segments.
const MIN_PIPE_SEGS: u32 = 4;

/// §4.3 states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// §4.3.2: high gains until the pipe is full.
    Startup,
    /// §4.3.3: drain the queue STARTUP built, down to one BDP in flight.
    Drain,
    /// §4.3.4: cycle the pacing gain to probe for more bandwidth.
    ProbeBw,
    /// §4.3.5: cwnd of 4 segments for 200 ms and a round, to refresh RTprop.
    ProbeRtt,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct Bbr {
    mss: u32,
    iw_segments: u32,
    cwnd: u32,
    mode: Mode,
    pacing_gain: u64,
    cwnd_gain: u64,
    /// Per-round maxima of the delivery rate, by round % BW_WINDOW: (round, bytes/s).
    bw_rounds: [(u64, u64); BW_WINDOW],
    btl_bw: u64,
    rtprop: Option<Duration>,
    rtprop_stamp: Instant,
    rtprop_expired: bool,
    /// Bytes delivered so far (C.delivered) and the round trip counter (§4.1.1.3).
    delivered: u64,
    round_count: u64,
    next_round_delivered: u64,
    round_start: bool,
    filled_pipe: bool,
    full_bw: u64,
    full_bw_count: u32,
    cycle_index: usize,
    cycle_stamp: Instant,
    probe_rtt_done: Option<Instant>,
    probe_rtt_round_done: bool,
    prior_cwnd: u32,
    packet_conservation: bool,
    /// Fast recovery began since the last sample (cwnd is set at the next ACK).
    recovery_start: bool,
    in_recovery: bool,
    /// An RTO's recovery is open (until [`Controller::on_rto_recovery_end`]).
    in_rto_recovery: bool,
    pacing_rate: Option<u64>,
    /// Whether anything was acked or lost yet (set_mss recomputes the IW until then).
    started: bool,
}

impl Bbr {
    /// A controller for `mss`-byte segments starting at `initial_window_segments`, in
    /// STARTUP at `now`.
    pub fn new(mss: u32, initial_window_segments: u32, now: Instant, _opts: Options) -> Bbr {
        let mss = mss.max(1);
        Bbr {
            mss,
            iw_segments: initial_window_segments,
            cwnd: initial_window(initial_window_segments, mss),
            mode: Mode::Startup,
            pacing_gain: HIGH_GAIN,
            cwnd_gain: HIGH_GAIN,
            bw_rounds: [(0, 0); BW_WINDOW],
            btl_bw: 0,
            rtprop: None,
            rtprop_stamp: now,
            rtprop_expired: false,
            delivered: 0,
            round_count: 0,
            next_round_delivered: 0,
            round_start: false,
            filled_pipe: false,
            full_bw: 0,
            full_bw_count: 0,
            cycle_index: 0,
            cycle_stamp: now,
            probe_rtt_done: None,
            probe_rtt_round_done: false,
            prior_cwnd: 0,
            packet_conservation: false,
            recovery_start: false,
            in_recovery: false,
            in_rto_recovery: false,
            pacing_rate: None,
            started: false,
        }
    }

    /// The current state (for tests and `ss`).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The bottleneck bandwidth estimate in bytes per second.
    pub fn btl_bw(&self) -> u64 {
        self.btl_bw
    }

    /// RTprop, the minimum RTT over the last 10 s (§4.1.2); `None` before a sample.
    pub fn rtprop(&self) -> Option<Duration> {
        self.rtprop
    }

    fn min_pipe_cwnd(&self) -> u32 {
        MIN_PIPE_SEGS.saturating_mul(self.mss)
    }

    /// §4.2.3.2 BBRInflight: gain * BDP in bytes (the IW before any estimate).
    fn inflight(&self, gain: u64) -> u32 {
        let Some(rtprop) = self.rtprop.filter(|_| self.btl_bw > 0) else {
            return initial_window(self.iw_segments, self.mss);
        };
        let bdp = u128::from(self.btl_bw) * u128::from(rtprop.micros()) / 1_000_000;
        (bdp * u128::from(gain) / u128::from(UNIT)).min(u128::from(u32::MAX)) as u32
    }

    /// §4.2.2 send quantum: about 1 ms at the pacing rate, at most 64 KiB, at least two
    /// segments (as the sender's super-segments, `pacing.rs`).
    fn send_quantum(&self) -> u32 {
        let r = self.pacing_rate.unwrap_or(0) / 1000;
        (r.min(64 * 1024) as u32).max(2 * self.mss)
    }

    /// §4.1.1.3 round counting and §4.1.1.5 the BtlBw max filter.
    fn update_btl_bw(&mut self, rs: &RateSample) {
        self.round_start = false;
        if rs.acked_sacked > 0 && rs.prior_delivered >= self.next_round_delivered {
            self.next_round_delivered = self.delivered;
            self.round_count += 1;
            self.round_start = true;
            self.packet_conservation = false;
        }
        let Some(rate) = rs.delivery_rate() else {
            return;
        };
        if rate >= self.btl_bw || !rs.is_app_limited {
            let slot = &mut self.bw_rounds[(self.round_count % BW_WINDOW as u64) as usize];
            if slot.0 != self.round_count {
                *slot = (self.round_count, 0);
            }
            slot.1 = slot.1.max(rate);
        }
        let oldest = self.round_count.saturating_sub(BW_WINDOW as u64 - 1);
        self.btl_bw = self
            .bw_rounds
            .iter()
            .filter(|(r, _)| *r >= oldest && *r <= self.round_count)
            .map(|&(_, b)| b)
            .max()
            .unwrap_or(0);
    }

    /// §4.3.4.3: advance the PROBE_BW gain cycle.
    fn check_cycle_phase(&mut self, now: Instant, prior_inflight: u32, lost: u32) {
        if self.mode != Mode::ProbeBw {
            return;
        }
        let full = self
            .rtprop
            .is_some_and(|r| now.saturating_since(self.cycle_stamp) > r);
        let next = match self.pacing_gain {
            g if g == UNIT => full,
            g if g > UNIT => full && (lost > 0 || prior_inflight >= self.inflight(g)),
            _ => full || prior_inflight <= self.inflight(UNIT),
        };
        if next {
            self.cycle_index = (self.cycle_index + 1) % CYCLE.len();
            self.cycle_stamp = now;
            self.pacing_gain = CYCLE[self.cycle_index];
        }
    }

    /// §4.3.2.2 BBRCheckFullPipe.
    fn check_full_pipe(&mut self, rs: &RateSample) {
        if self.filled_pipe || !self.round_start || rs.is_app_limited {
            return;
        }
        if u128::from(self.btl_bw) * 4 >= u128::from(self.full_bw) * 5 {
            self.full_bw = self.btl_bw;
            self.full_bw_count = 0;
            return;
        }
        self.full_bw_count += 1;
        if self.full_bw_count >= 3 {
            self.filled_pipe = true;
        }
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.mode = Mode::ProbeBw;
        self.cwnd_gain = 2 * UNIT;
        // Deviation (module doc): the draft draws the phase at random from all but the 3/4
        // one; here from the time of entry.
        let mix = now.micros().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61; // 0..=7
        self.cycle_index = match mix as usize % 7 {
            0 => 0,
            i => i + 1,
        };
        self.cycle_stamp = now;
        self.pacing_gain = CYCLE[self.cycle_index];
    }

    fn enter_startup(&mut self) {
        self.mode = Mode::Startup;
        self.pacing_gain = HIGH_GAIN;
        self.cwnd_gain = HIGH_GAIN;
    }

    /// §4.3.3 BBRCheckDrain.
    fn check_drain(&mut self, now: Instant, in_flight: u32) {
        if self.mode == Mode::Startup && self.filled_pipe {
            self.mode = Mode::Drain;
            self.pacing_gain = DRAIN_GAIN;
            self.cwnd_gain = HIGH_GAIN;
        }
        if self.mode == Mode::Drain && in_flight <= self.inflight(UNIT) {
            self.enter_probe_bw(now);
        }
    }

    /// §4.1.2.3 BBRUpdateRTprop.
    fn update_rtprop(&mut self, now: Instant, rs: &RateSample) {
        self.rtprop_expired = now > self.rtprop_stamp + RTPROP_WINDOW;
        if let Some(rtt) = rs.rtt {
            // Deviation: as Linux, only a lower RTT refreshes the estimate (the draft:
            // lower or equal), so a path with no queue still probes every 10 s.
            if self.rtprop.is_none_or(|m| rtt < m) || self.rtprop_expired {
                self.rtprop = Some(rtt);
                self.rtprop_stamp = now;
            }
        }
    }

    fn save_cwnd(&mut self) {
        self.prior_cwnd =
            if !self.in_recovery && !self.in_rto_recovery && self.mode != Mode::ProbeRtt {
                self.cwnd
            } else {
                self.prior_cwnd.max(self.cwnd)
            };
    }

    /// §4.3.5 BBRCheckProbeRTT / BBRHandleProbeRTT.
    fn check_probe_rtt(&mut self, now: Instant, in_flight: u32) {
        if self.mode != Mode::ProbeRtt && self.rtprop_expired {
            self.save_cwnd();
            self.mode = Mode::ProbeRtt;
            self.pacing_gain = UNIT;
            self.cwnd_gain = UNIT;
            self.probe_rtt_done = None;
        }
        if self.mode != Mode::ProbeRtt {
            return;
        }
        match self.probe_rtt_done {
            None if in_flight <= self.min_pipe_cwnd() => {
                self.probe_rtt_done = Some(now + PROBE_RTT_TIME);
                self.probe_rtt_round_done = false;
                self.next_round_delivered = self.delivered;
            }
            None => {}
            Some(done) => {
                if self.round_start {
                    self.probe_rtt_round_done = true;
                }
                if self.probe_rtt_round_done && now >= done {
                    self.rtprop_stamp = now;
                    self.cwnd = self.cwnd.max(self.prior_cwnd);
                    if self.filled_pipe {
                        self.enter_probe_bw(now);
                    } else {
                        self.enter_startup();
                    }
                }
            }
        }
    }

    /// §4.2.1 BBRSetPacingRate, from BBRInitPacingRate (high_gain x cwnd / RTprop) at the
    /// first RTT sample: STARTUP only raises it, so a slow first sample (a trickle of
    /// application data) does not pace a later bulk transfer below that.
    fn set_pacing_rate(&mut self) {
        if self.pacing_rate.is_none() {
            if let Some(rtt) = self.rtprop.filter(|r| r.micros() > 0) {
                let init =
                    u128::from(self.cwnd) * u128::from(HIGH_GAIN) * 1000 / u128::from(rtt.micros());
                self.pacing_rate = Some((init.min(u128::from(u64::MAX)) as u64).max(1));
            }
        }
        if self.btl_bw == 0 {
            return;
        }
        let rate = (u128::from(self.btl_bw) * u128::from(self.pacing_gain) / u128::from(UNIT))
            .min(u128::from(u64::MAX)) as u64;
        if self.filled_pipe || self.pacing_rate.is_none_or(|r| rate > r) {
            self.pacing_rate = Some(rate.max(1));
        }
    }

    /// §4.2.3 BBRSetCwnd with §4.2.3.4 recovery and §4.2.3.5 PROBE_RTT.
    fn set_cwnd(&mut self, rs: &RateSample, in_flight: u32) {
        let acked = rs.acked_sacked;
        let target = self
            .inflight(self.cwnd_gain)
            .saturating_add(3 * self.send_quantum());
        if self.in_recovery {
            if rs.lost > 0 {
                self.cwnd = self.cwnd.saturating_sub(rs.lost).max(self.mss);
            }
            if self.packet_conservation {
                self.cwnd = self.cwnd.max(in_flight.saturating_add(acked));
            }
        }
        if !self.packet_conservation {
            if self.filled_pipe {
                self.cwnd = self.cwnd.saturating_add(acked).min(target);
            } else if self.cwnd < target || self.delivered < u64::from(self.iw_bytes()) {
                self.cwnd = self.cwnd.saturating_add(acked);
            }
            self.cwnd = self.cwnd.max(self.min_pipe_cwnd());
        }
        if self.mode == Mode::ProbeRtt {
            self.cwnd = self.cwnd.min(self.min_pipe_cwnd());
        }
    }

    fn iw_bytes(&self) -> u32 {
        initial_window(self.iw_segments, self.mss)
    }
}

impl Controller for Bbr {
    /// BBR grows cwnd from rate samples ([`Controller::on_rate_sample`]), not here.
    fn on_ack(
        &mut self,
        _now: Instant,
        _bytes: u32,
        _rtt: Option<Duration>,
        _min_rtt: Option<Duration>,
        _cwnd_limited: bool,
    ) {
    }

    fn on_rate_sample(&mut self, now: Instant, rs: &RateSample, in_flight: u32) {
        self.started |= rs.acked_sacked > 0;
        self.delivered += u64::from(rs.acked_sacked);
        let prior_inflight = in_flight.saturating_add(rs.acked_sacked);
        self.update_btl_bw(rs);
        self.check_cycle_phase(now, prior_inflight, rs.lost);
        self.check_full_pipe(rs);
        self.check_drain(now, in_flight);
        self.update_rtprop(now, rs);
        self.check_probe_rtt(now, in_flight);
        self.set_pacing_rate();
        if self.recovery_start {
            // §4.2.3.4: packet conservation for one round from the start of recovery.
            self.recovery_start = false;
            self.packet_conservation = true;
            self.next_round_delivered = self.delivered;
            self.cwnd = in_flight
                .saturating_add(rs.acked_sacked.max(self.mss))
                .max(self.mss);
            if self.mode == Mode::ProbeRtt {
                self.cwnd = self.cwnd.min(self.min_pipe_cwnd());
            }
            return;
        }
        self.set_cwnd(rs, in_flight);
    }

    fn on_congestion_event(&mut self, _now: Instant, _in_flight: u32) {
        if self.in_recovery {
            return;
        }
        self.started = true;
        self.save_cwnd();
        self.in_recovery = true;
        self.recovery_start = true;
    }

    fn on_recovery_end(&mut self, _now: Instant) {
        if !self.in_recovery {
            return;
        }
        self.in_recovery = false;
        self.recovery_start = false;
        self.packet_conservation = false;
        self.cwnd = self.cwnd.max(self.prior_cwnd);
    }

    fn on_rto(&mut self, _now: Instant, _in_flight: u32) {
        self.started = true;
        self.save_cwnd();

        self.in_rto_recovery = true;
        self.in_recovery = false;
        self.recovery_start = false;
        self.packet_conservation = false;
        self.cwnd = self.mss;
    }

    /// §4.2.3.4 BBROnExitRecovery for RTO recovery as for fast recovery: the cwnd from
    /// before the timeout comes back (the next rate sample caps it at the target), as
    /// Linux's `bbr_set_cwnd_to_recover_or_restore` leaving `TCP_CA_Loss`. Without it cwnd
    /// regrows from one segment for about log2(BDP) rounds, and those rounds' low delivery
    /// rates push the real bandwidth out of the 10-round BtlBw filter.
    fn on_rto_recovery_end(&mut self, _now: Instant) {
        if std::mem::take(&mut self.in_rto_recovery) {
            self.cwnd = self.cwnd.max(self.prior_cwnd);
        }
    }

    fn undo(&mut self) {
        self.in_rto_recovery = false;
        self.cwnd = self.cwnd.max(self.prior_cwnd);
    }

    fn cwnd(&self) -> u32 {
        self.cwnd.max(self.mss)
    }

    /// BBR keeps no slow-start threshold (as Linux: `TCP_INFINITE_SSTHRESH`).
    fn ssthresh(&self) -> u32 {
        u32::MAX
    }

    fn set_mss(&mut self, mss: u32) {
        let mss = mss.max(1);
        self.mss = mss;
        if !self.started {
            self.cwnd = initial_window(self.iw_segments, mss);
        } else {
            self.cwnd = self.cwnd.max(mss);
        }
    }

    fn in_slow_start(&self) -> bool {
        self.mode == Mode::Startup
    }

    fn name(&self) -> &'static str {
        "bbr"
    }

    fn pacing_rate(&self) -> Option<u64> {
        self.pacing_rate
    }

    fn wants_pacing(&self) -> bool {
        true
    }

    fn owns_recovery_cwnd(&self) -> bool {
        true
    }

    fn bbr_info(&self) -> Option<BbrInfo> {
        Some(BbrInfo {
            mode: self.mode,
            bw: self.btl_bw,
            min_rtt: self.rtprop,
            pacing_gain: self.pacing_gain as f64 / UNIT as f64,
            cwnd_gain: self.cwnd_gain as f64 / UNIT as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// One round trip's worth of ACKs as one sample: `bw` bytes/s for `rtt_ms`, with
    /// `in_flight` bytes left after it.
    fn round(b: &mut Bbr, now: Instant, bw: u64, rtt_ms: u64, in_flight: u32) {
        let rtt = Duration::from_millis(rtt_ms);
        let bytes = bw * rtt_ms / 1000;
        let rs = RateSample {
            acked_sacked: bytes as u32,
            prior_delivered: b.delivered,
            delivered: bytes,
            interval: Some(rtt),
            is_app_limited: false,
            rtt: Some(rtt),
            lost: 0,
        };
        b.on_rate_sample(now, &rs, in_flight);
    }

    fn bbr() -> Bbr {
        Bbr::new(MSS, 10, ms(0), Options::default())
    }

    #[test]
    fn startup_ends_after_three_rounds_without_growth_then_drains_to_probe_bw() {
        let mut b = bbr();
        // 1 MB/s, 10 ms: BDP 10,000 bytes.
        round(&mut b, ms(10), 1_000_000, 10, 20_000);
        assert_eq!(b.mode(), Mode::Startup);
        assert_eq!(b.btl_bw(), 1_000_000);
        assert_eq!(b.pacing_rate(), Some(2_885_000), "high gain");
        round(&mut b, ms(20), 1_000_000, 10, 20_000);
        round(&mut b, ms(30), 1_100_000, 10, 20_000); // +10%: not growth
        assert_eq!(b.mode(), Mode::Startup);
        round(&mut b, ms(40), 1_100_000, 10, 20_000);
        assert_eq!(b.mode(), Mode::Drain, "3 rounds under +25%");
        assert_eq!(b.pacing_rate(), Some(1_100_000 * 347 / 1000));
        // Still more than a BDP (11,000) in flight: draining.
        round(&mut b, ms(50), 1_100_000, 10, 11_001);
        assert_eq!(b.mode(), Mode::Drain);
        round(&mut b, ms(60), 1_100_000, 10, 11_000);
        assert_eq!(b.mode(), Mode::ProbeBw);
        let i = b.bbr_info().unwrap();
        assert_eq!(i.cwnd_gain, 2.0);
        assert!(CYCLE.contains(&b.pacing_gain) && b.pacing_gain != 750);
        // cwnd = 2 x BDP + 3 quanta (2 segments each at this rate).
        assert_eq!(b.inflight(2 * UNIT), 22_000);
        for t in 7..20 {
            round(&mut b, ms(t * 10), 1_100_000, 10, 11_000);
        }
        assert_eq!(b.cwnd(), 22_000 + 3 * 2 * MSS);
    }

    #[test]
    fn a_trickle_first_does_not_pace_below_the_initial_rate() {
        let mut b = bbr();
        // 100 application-limited bytes in a 10 ms round: 10,000 B/s.
        let rs = RateSample {
            acked_sacked: 100,
            prior_delivered: 0,
            delivered: 100,
            interval: Some(Duration::from_millis(10)),
            is_app_limited: true,
            rtt: Some(Duration::from_millis(10)),
            lost: 0,
        };
        b.on_rate_sample(ms(10), &rs, 0);
        assert_eq!(b.btl_bw(), 10_000);
        // BBRInitPacingRate: 2.885 x IW (10,000) / 10 ms, not 2.885 x 10,000 B/s.
        assert_eq!(b.pacing_rate(), Some(2_885_000));
    }

    #[test]
    fn growth_of_a_quarter_keeps_startup_going() {
        let mut b = bbr();
        let mut bw = 1_000_000;
        for t in 1..10 {
            round(&mut b, ms(t * 10), bw, 10, 20_000);
            bw = bw * 5 / 4;
        }
        assert_eq!(b.mode(), Mode::Startup);
    }

    #[test]
    fn the_bandwidth_filter_forgets_a_peak_after_ten_rounds() {
        let mut b = bbr();
        round(&mut b, ms(10), 5_000_000, 10, 0);
        for t in 2..=10 {
            round(&mut b, ms(t * 10), 1_000_000, 10, 0);
            assert_eq!(b.btl_bw(), 5_000_000, "round {t}");
        }
        round(&mut b, ms(110), 1_000_000, 10, 0);
        assert_eq!(b.btl_bw(), 1_000_000);
    }

    #[test]
    fn probe_rtt_after_ten_seconds_without_a_lower_rtt() {
        let mut b = bbr();
        for t in 1..=6 {
            round(&mut b, ms(t * 10), 1_000_000, 10, 10_000);
        }
        assert_eq!(b.mode(), Mode::ProbeBw);
        let before = b.cwnd();
        // RTT 12 ms from now on: RTprop (10 ms, stamped at 10 ms: equal samples do not
        // refresh it) expires 10 s later.
        let mut t = 60;
        while t <= 10_010 {
            round(&mut b, ms(t), 1_000_000, 12, 10_000);
            assert_eq!(b.mode(), Mode::ProbeBw, "at {t} ms");
            t += 12;
        }
        round(&mut b, ms(10_011), 1_000_000, 12, 10_000);
        assert_eq!(b.mode(), Mode::ProbeRtt);
        assert_eq!(b.rtprop(), Some(Duration::from_millis(12)));
        assert_eq!(b.cwnd(), 4 * MSS, "4 segments");
        // The flight drains to 4 segments at 10,023 ms: 200 ms and a round later PROBE_BW
        // returns with the cwnd from before.
        round(&mut b, ms(10_023), 1_000_000, 12, 4 * MSS);
        round(&mut b, ms(10_035), 1_000_000, 12, 4 * MSS);
        round(&mut b, ms(10_222), 1_000_000, 12, 4 * MSS);
        assert_eq!(b.mode(), Mode::ProbeRtt);
        round(&mut b, ms(10_223), 1_000_000, 12, 4 * MSS);
        assert_eq!(b.mode(), Mode::ProbeBw);
        assert!(b.cwnd() >= before, "{} < {before}", b.cwnd());
    }

    #[test]
    fn recovery_conserves_packets_for_a_round_then_restores() {
        let mut b = bbr();
        for t in 1..=8 {
            round(&mut b, ms(t * 10), 1_000_000, 10, 10_000);
        }
        let before = b.cwnd();
        b.on_congestion_event(ms(90), 20_000);
        // The ACK that began recovery: 5000 in flight, 2000 delivered.
        let rs = RateSample {
            acked_sacked: 2000,
            prior_delivered: b.delivered,
            delivered: 2000,
            interval: Some(Duration::from_millis(10)),
            is_app_limited: false,
            rtt: Some(Duration::from_millis(10)),
            lost: 1000,
        };
        b.on_rate_sample(ms(90), &rs, 5000);
        assert_eq!(b.cwnd(), 7000, "in flight + delivered");
        assert!(b.owns_recovery_cwnd());
        b.on_recovery_end(ms(100));
        assert_eq!(b.cwnd(), before);
        b.on_rto(ms(500), 10_000);
        assert_eq!(b.cwnd(), MSS);
        assert_eq!(b.ssthresh(), u32::MAX);
    }
}
