//! The connection's side of delivery-rate estimation (`rate.rs`) and pacing.
//!
//! Pacing as Linux's internal TCP pacing (`tcp_update_pacing_rate`,
//! `tcp_update_skb_after_send`, `tcp_pacing_check`, `tcp_tso_autosize`): after each data
//! segment the release time of the next one moves on by the segment's length at the pacing
//! rate; until then the sender holds data (retransmissions too) and arms [`Timer::Pace`].
//! The rate is the controller's (BBR) or, for the others, `cwnd * SMSS... / SRTT` scaled by
//! 2 in slow start (cwnd below half ssthresh) and by 1.2 after. Super-segments hold about
//! 1 ms of data at the pacing rate (at least 2 segments), plus more on short paths (Linux
//! adds `gso_max_size >> (min_rtt_us >> 9)`), so offloads keep their gains.
//!
//! What it does not do: read a clock (the time is passed in; the stack's timer queue wakes
//! the connection at [`Connection::next_send_time`]) or pace ACKs and control segments.

use super::config::Pacing;
use super::connection::{Connection, Timer};
use super::rate::RateSample;
use crate::time::Instant;

/// Linux `sysctl_tcp_pacing_ss_ratio` and `sysctl_tcp_pacing_ca_ratio`, in percent.
const SS_RATIO: u64 = 200;
const CA_RATIO: u64 = 120;
/// Linux `sk_pacing_shift` 10: a super-segment holds rate / 1024, about 1 ms of data.
const PACING_SHIFT: u32 = 10;
/// Linux `tcp_min_tso_segs`.
const MIN_TSO_SEGS: usize = 2;
/// Linux `tcp_tso_rtt_log`: below 2^9 us of min RTT, super-segments grow towards the max.
const TSO_RTT_LOG: u32 = 9;

impl Connection {
    /// Bytes in flight: RACK's pipe with RACK, else SND.MAX - SND.UNA less what is SACKed.
    pub(super) fn bytes_in_flight(&self) -> u32 {
        if self.rack_on() {
            self.rack.pipe()
        } else {
            self.snd_max
                .since(self.snd_una)
                .saturating_sub(self.sb.sacked_bytes())
        }
    }

    /// The application writes: is the sender application-limited (draft-cheng §3.4)?
    pub(super) fn note_app_write(&mut self) {
        let offset = self.snd_nxt.since(self.snd_una) as usize;
        let unsent = self.sendq.len().saturating_sub(offset);
        let lost = self.recovery.is_some() || (self.rack_on() && self.rack.has_lost());
        let flight = self.bytes_in_flight();
        let cwnd = self.cc.cwnd();
        self.rate
            .check_app_limited(unsent, self.smss, flight, cwnd, lost);
    }

    /// Every acceptable ACK, after loss detection and cwnd: the rate sample goes to the
    /// controller, and the pacing rate follows (Linux `tcp_cong_control`).
    pub(super) fn on_rate_sample(&mut self, now: Instant, rs: &RateSample) {
        // The flight (RACK's pipe: a walk over its records) only for a controller that
        // uses the samples (the pacing ones: BBR); the others ignore it.
        let flight = if self.cc.wants_pacing() {
            self.bytes_in_flight()
        } else {
            0
        };
        self.cc.on_rate_sample(now, rs, flight);
        self.update_pacing_rate();
    }

    /// Linux `tcp_update_pacing_rate`, or the controller's own rate.
    pub(super) fn update_pacing_rate(&mut self) {
        let pace = match self.cfg.pacing {
            Pacing::Off => false,
            Pacing::Auto => self.cc.wants_pacing(),
            Pacing::On => true,
        };
        self.pacing_rate = match self.cc.pacing_rate() {
            _ if !pace => 0,
            Some(r) => r.max(1),
            None => {
                let Some(srtt) = self.rtt.srtt() else {
                    self.pacing_rate = 0;
                    return;
                };
                let ratio = if self.cc.cwnd() < self.cc.ssthresh() / 2 {
                    SS_RATIO
                } else {
                    CA_RATIO
                };
                let window = u64::from(self.cc.cwnd().max(self.snd_max.since(self.snd_una)));
                let us = srtt.micros().max(1);
                (u128::from(window) * u128::from(ratio) * 10_000 / u128::from(us))
                    .min(u128::from(u64::MAX)) as u64
            }
        };
    }

    /// The current pacing rate in bytes per second (`ss -i` pacing_rate), if pacing.
    pub fn pacing_rate(&self) -> Option<u64> {
        (self.pacing_rate > 0).then_some(self.pacing_rate)
    }

    /// BBR's model and state, with BBR.
    pub fn bbr_info(&self) -> Option<super::congestion::BbrInfo> {
        self.cc.bbr_info()
    }

    /// The latest delivery rate in bytes per second (`ss -i` delivery_rate) and whether it
    /// was measured while application-limited.
    pub fn delivery_rate(&self) -> Option<(u64, bool)> {
        self.rate.delivery_rate()
    }

    /// When pacing lets the next data segment leave (`None`: now, or not pacing).
    pub fn next_send_time(&self) -> Option<Instant> {
        (self.pacing_rate > 0).then(|| {
            let release = self.pace_ns.saturating_sub(self.pace_allowance_ns());
            Instant::from_micros(release.div_ceil(1000))
        })
    }

    /// Without segmentation offload, one send quantum (what a super-segment would hold,
    /// [`Connection::tso_autosize`]) leaves as back-to-back segments: the sender may run
    /// ahead of its pacing schedule by the quantum less one segment. Linux gets the same
    /// from software GSO (it always builds autosized super-segments; BBR's draft §4.2.2
    /// paces in send quanta): one wake-up per quantum instead of one per segment. With
    /// offload the super-segment is the quantum: no allowance.
    fn pace_allowance_ns(&self) -> u64 {
        let smss = self.send_mss() as usize;
        if self.pacing_rate == 0 || self.cfg.gso_max_payload >= 2 * smss {
            return 0;
        }
        let quantum = self.tso_autosize(64 * 1024 / smss.max(1) * smss, smss);
        let ahead = quantum.saturating_sub(smss) as u128;
        (ahead * 1_000_000_000 / u128::from(self.pacing_rate)).min(u128::from(u64::MAX)) as u64
    }

    /// Linux `tcp_pacing_check`: data waits for its release time; the pace timer is armed
    /// for it.
    pub(super) fn pacing_hold(&mut self, now: Instant) -> bool {
        let Some(at) = self.next_send_time() else {
            return false;
        };
        if at <= now {
            return false;
        }
        self.arm(Timer::Pace, at);
        true
    }

    /// Linux `tcp_update_skb_after_send`: `bytes` just left at `now`; the next release is
    /// `bytes` at the pacing rate later, less up to half of that when this send was late
    /// (credit for time the timer overshot).
    pub(super) fn paced_sent(&mut self, now: Instant, bytes: usize) {
        if self.pacing_rate == 0 || bytes == 0 {
            return;
        }
        if self.cfg.pace_after_iw && self.stats.data_segs_out < 10 {
            // Linux: "Original sch_fq does not pace first 10 MSS".
            return;
        }
        let now_ns = now.micros().saturating_mul(1000);
        let prior = self.pace_ns;
        let stamp = prior.max(now_ns);
        let credit = stamp - prior;
        let len_ns = (bytes as u128 * 1_000_000_000 / u128::from(self.pacing_rate))
            .min(u128::from(u64::MAX / 4)) as u64;
        let len_ns = len_ns - (len_ns / 2).min(credit);
        self.pace_ns = stamp.saturating_add(len_ns);
    }

    /// Linux `tcp_tso_autosize`: the largest super-segment (whole `smss`) for `gso` bytes
    /// of offload: about 1 ms at the pacing rate, more on paths under 512 us, at least
    /// two segments.
    pub(super) fn tso_autosize(&self, gso: usize, smss: usize) -> usize {
        if self.pacing_rate == 0 || smss == 0 {
            return gso;
        }
        let mut bytes = (self.pacing_rate >> PACING_SHIFT) as usize;
        let r = self.min_rtt.map_or(u64::MAX, |m| m.micros()) >> TSO_RTT_LOG;
        if r < usize::BITS as u64 {
            bytes = bytes.saturating_add(gso >> r);
        }
        ((bytes.min(gso) / smss).max(MIN_TSO_SEGS) * smss).min(gso)
    }
}
