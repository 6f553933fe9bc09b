//! Test driver: plays whole round trips against a [`Controller`] with plain numbers.
//!
//! Each round the sender fills `cwnd` (so it is cwnd-limited), splits it into SMSS-sized
//! segments, and every segment is acked by its own ACK, the ACKs spread evenly over one
//! RTT. Events happen at the start of a round.

use super::Controller;
use crate::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    /// Dupack/SACK loss at the start of the round with cwnd in flight; the recovery
    /// episode covers the round and ends with its last ACK.
    Loss,
    /// Retransmission timeout at the start of the round with cwnd in flight.
    Rto,
    /// The application sends only half of cwnd this round (not cwnd-limited).
    AppLimited,
}

pub(crate) struct Sim {
    pub mss: u32,
    pub rtt: Duration,
    pub now: Instant,
}

impl Sim {
    pub fn new(mss: u32, rtt: Duration) -> Sim {
        Sim {
            mss,
            rtt,
            now: Instant::ZERO,
        }
    }

    /// One round; returns cwnd at its end.
    pub fn round(&mut self, c: &mut dyn Controller, ev: Option<Ev>) -> u32 {
        let start = self.now;
        let mut window = c.cwnd();
        let mut limited = true;
        match ev {
            Some(Ev::Loss) => c.on_congestion_event(start, window),
            Some(Ev::Rto) => {
                c.on_rto(start, window);
                window = c.cwnd();
            }
            Some(Ev::AppLimited) => {
                window /= 2;
                limited = false;
            }
            None => {}
        }
        let n = window.div_ceil(self.mss.max(1)).max(1);
        let rtt_us = self.rtt.micros();
        let mut left = window;
        for i in 0..n {
            let bytes = left.min(self.mss);
            left -= bytes;
            let at = start + Duration::from_micros(rtt_us * u64::from(i + 1) / u64::from(n));
            c.on_ack(at, bytes, Some(self.rtt), Some(self.rtt), limited);
        }
        self.now = start + self.rtt;
        if ev == Some(Ev::Loss) {
            c.on_recovery_end(self.now);
        }
        c.cwnd()
    }

    /// cwnd at the end of each of `rounds` rounds; `events` are (round index, event).
    pub fn trajectory(
        &mut self,
        c: &mut dyn Controller,
        rounds: u32,
        events: &[(u32, Ev)],
    ) -> Vec<u32> {
        (0..rounds)
            .map(|r| {
                let ev = events.iter().find(|(at, _)| *at == r).map(|(_, e)| *e);
                self.round(c, ev)
            })
            .collect()
    }
}

/// `cwnd` values as rows of ten, for failure messages and doc tables.
pub(crate) fn show(v: &[u32]) -> String {
    v.chunks(10)
        .enumerate()
        .map(|(i, row)| {
            let cells: Vec<String> = row.iter().map(|x| format!("{x:>7}")).collect();
            format!("{:>3}: {}\n", i * 10, cells.join(""))
        })
        .collect()
}
