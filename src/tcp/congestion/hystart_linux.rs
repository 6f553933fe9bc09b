//! Linux CUBIC's HyStart (`tcp_cubic.c`: `hystart_update`, `hystart_detect` 3): leave the
//! initial slow start, setting ssthresh to cwnd, when
//! - delay: the lowest of the first 8+ RTT samples of a round exceeds the connection's
//!   minimum by an eighth of it (clamped to 4..16 ms), or
//! - ACK train: ACKs no more than 2 ms apart span more than half the minimum RTT (the
//!   whole of it when paced) since the round began.
//!
//! Only from a cwnd of 16 segments (`hystart_low_window`). A round ends when SND.UNA
//! passes the SND.NXT noted at its start. The packetdrill profile selects it; ours is RFC
//! 9406 HyStart++ (`hystart.rs`). What it does not do: measure RTTs (the caller passes each
//! ACK's sample).

use crate::tcp::seq::SeqNum;
use crate::time::{Duration, Instant};

const LOW_WINDOW: u32 = 16;
const MIN_SAMPLES: u32 = 8;
const DELAY_MIN: Duration = Duration::from_micros(4_000);
const DELAY_MAX: Duration = Duration::from_micros(16_000);
const ACK_DELTA: Duration = Duration::from_micros(2_000);

#[derive(Clone, Copy, Debug)]
pub struct LinuxHyStart {
    delay_min: Option<Duration>,
    end_seq: Option<SeqNum>,
    round_start: Instant,
    last_ack: Instant,
    curr_rtt: Option<Duration>,
    samples: u32,
}

impl LinuxHyStart {
    pub fn new(now: Instant) -> Self {
        LinuxHyStart {
            delay_min: None,
            end_seq: None,
            round_start: now,
            last_ack: now,
            curr_rtt: None,
            samples: 0,
        }
    }

    fn reset_round(&mut self, now: Instant, snd_nxt: SeqNum) {
        self.round_start = now;
        self.last_ack = now;
        self.end_seq = Some(snd_nxt);
        self.curr_rtt = None;
        self.samples = 0;
    }

    /// One ACK's RTT sample in slow start (`bictcp_acked`); true when slow start should end.
    /// `ack_delay` is Linux's `hystart_ack_delay` allowance.
    #[allow(clippy::too_many_arguments)]
    pub fn on_sample(
        &mut self,
        now: Instant,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        rtt: Duration,
        cwnd_segs: u32,
        paced: bool,
        ack_delay: Duration,
    ) -> bool {
        let rtt = rtt.max(Duration::from_micros(1));
        let min = self.delay_min.map_or(rtt, |m| m.min(rtt));
        self.delay_min = Some(min);
        if self.end_seq.is_none_or(|e| snd_una.gt(e)) {
            self.reset_round(now, snd_nxt);
        }
        if cwnd_segs < LOW_WINDOW {
            return false;
        }
        let mut found = false;
        if now.saturating_since(self.last_ack) <= ACK_DELTA {
            self.last_ack = now;
            let mut threshold = min + ack_delay;
            if !paced {
                threshold = Duration::from_micros(threshold.micros() / 2);
            }
            found |= now.saturating_since(self.round_start) > threshold;
        }
        let curr = self.curr_rtt.map_or(rtt, |c| c.min(rtt));
        self.curr_rtt = Some(curr);
        if self.samples < MIN_SAMPLES {
            self.samples += 1;
        } else {
            let eighth = Duration::from_micros(min.micros() / 8);
            found |= curr > min + eighth.max(DELAY_MIN).min(DELAY_MAX);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_samples_an_eighth_above_the_minimum_end_slow_start() {
        let ms = |v: u64| Instant::from_micros(v * 1000);
        let d = Duration::from_millis;
        let mut h = LinuxHyStart::new(ms(0));
        // Round 1 (cwnd 10): the minimum, 200 ms.
        assert!(!h.on_sample(
            ms(400),
            SeqNum(10_001),
            SeqNum(10_001),
            d(200),
            10,
            false,
            d(1)
        ));
        // Round 2 (cwnd 20..): samples of 240 ms, 1 ms apart: no ACK train (8 ms < 100.5),
        // the ninth sample decides (240 > 200 + 16).
        let mut una = 12_001;
        for i in 0..8u64 {
            let f = h.on_sample(
                ms(640 + i),
                SeqNum(una),
                SeqNum(30_001),
                d(240),
                20,
                false,
                d(1),
            );
            assert!(!f, "sample {i}");
            una += 2000;
        }
        assert!(h.on_sample(
            ms(648),
            SeqNum(una),
            SeqNum(30_001),
            d(240),
            36,
            false,
            d(1)
        ));
    }
}
