//! Where a sender's time goes, as Linux's chronograph keeps it (`tcp_chrono_start` /
//! `tcp_chrono_stop`, `tcpi_busy_time`, `tcpi_rwnd_limited`, `tcpi_sndbuf_limited`): one
//! condition is timed at a time, the most interesting one that holds, in the order
//! busy < limited by the peer's window < limited by the send buffer.
//!
//! - busy: data is queued (sent and unacknowledged, or unsent);
//! - rwnd limited: the next segment fits cwnd but not the peer's window;
//! - sndbuf limited: everything queued was sent, cwnd did not limit, and the writer waits
//!   for room in the send buffer.
//!
//! `tcpi_busy_time` is the sum of all three. What this module does not do: decide when a
//! condition holds (the connection calls `start`/`stop` where Linux does).

use crate::time::{Duration, Instant};

/// A condition being timed; a later variant takes precedence over an earlier one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum ChronoKind {
    None,
    Busy,
    RwndLimited,
    SndbufLimited,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Chrono {
    kind: ChronoKind,
    since: Instant,
    /// Time spent in busy, rwnd limited and sndbuf limited before `since`.
    spent: [Duration; 3],
}

impl Chrono {
    pub fn new(now: Instant) -> Self {
        Chrono {
            kind: ChronoKind::None,
            since: now,
            spent: [Duration::ZERO; 3],
        }
    }

    fn set(&mut self, now: Instant, kind: ChronoKind) {
        if let Some(i) = Self::index(self.kind) {
            self.spent[i] = self.spent[i] + now.saturating_since(self.since);
        }
        self.since = now;
        self.kind = kind;
    }

    fn index(kind: ChronoKind) -> Option<usize> {
        match kind {
            ChronoKind::None => None,
            ChronoKind::Busy => Some(0),
            ChronoKind::RwndLimited => Some(1),
            ChronoKind::SndbufLimited => Some(2),
        }
    }

    /// `kind` begins; it replaces the current condition only when more interesting.
    pub fn start(&mut self, now: Instant, kind: ChronoKind) {
        if kind > self.kind {
            self.set(now, kind);
        }
    }

    /// `kind` ends: with nothing queued, timing stops; otherwise, when `kind` was the one
    /// timed, busy takes over.
    pub fn stop(&mut self, now: Instant, kind: ChronoKind, queues_empty: bool) {
        if queues_empty {
            if self.kind != ChronoKind::None {
                self.set(now, ChronoKind::None);
            }
        } else if kind == self.kind {
            self.set(now, ChronoKind::Busy);
        }
    }

    /// (busy, rwnd limited, sndbuf limited) up to `now`; busy includes the other two, as
    /// `tcpi_busy_time` does.
    pub fn totals(&self, now: Instant) -> (Duration, Duration, Duration) {
        let mut t = self.spent;
        if let Some(i) = Self::index(self.kind) {
            t[i] = t[i] + now.saturating_since(self.since);
        }
        (t[0] + t[1] + t[2], t[1], t[2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Instant {
        Instant::from_micros(v * 1000)
    }

    #[test]
    fn the_most_interesting_condition_is_timed_and_busy_sums_them_all() {
        let mut c = Chrono::new(ms(0));
        c.start(ms(10), ChronoKind::Busy);
        c.start(ms(20), ChronoKind::RwndLimited);
        c.start(ms(25), ChronoKind::Busy); // less interesting: no change
        c.stop(ms(50), ChronoKind::RwndLimited, false); // busy again
        c.start(ms(60), ChronoKind::SndbufLimited);
        c.stop(ms(65), ChronoKind::RwndLimited, false); // not the one timed
        c.stop(ms(80), ChronoKind::Busy, true); // nothing queued: stops
        let d = Duration::from_millis;
        assert_eq!(c.totals(ms(500)), (d(70), d(30), d(20)));
    }
}
