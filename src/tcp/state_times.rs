//! How long a connection spent in each state, like bcc's `tcpstates`: the states entered,
//! in order, each with the time it was entered (the `now` of the call that changed it).
//!
//! A state change made by a call that carries no time (`close`, `abort`) is stamped with
//! the `now` of the next call that does (the stack's next `poll_transmit` of it, in the
//! same event-loop turn). What it does not do: read a clock, or keep more than
//! [`MAX_VISITS`] entries (a connection visits at most eight of the eleven states).

use super::state::State;
use crate::time::{Duration, Instant};
use std::fmt::Write as _;

/// Entries kept; later changes replace the last one, so CLOSED always shows.
pub const MAX_VISITS: usize = 16;

/// Entries reserved at the first state change (a whole short life, CLOSED included).
const TYPICAL_VISITS: usize = 8;

/// The states a connection entered, in order, with their entry times.
#[derive(Clone, Debug, Default)]
pub struct StateTimes {
    /// `None`: entered by a call without a time, not yet stamped.
    visits: Vec<(State, Option<Instant>)>,
}

impl StateTimes {
    /// Notes that `state` was entered (stamped by the next [`StateTimes::stamp`]).
    pub fn enter(&mut self, state: State) {
        if self.visits.len() == MAX_VISITS {
            self.visits.pop();
        }
        if self.visits.capacity() == 0 {
            // One allocation for a whole life (a short connection enters five or six
            // states), not two and a copy as the `Vec` grows 0 -> 4 -> 8.
            self.visits.reserve_exact(TYPICAL_VISITS);
        }
        self.visits.push((state, None));
    }

    /// Some entry awaits its time (a state changed since the last [`StateTimes::stamp`]).
    #[inline]
    pub fn unstamped(&self) -> bool {
        self.visits.last().is_some_and(|v| v.1.is_none())
    }

    /// Gives every unstamped entry the time `now`; true if CLOSED was among them (the
    /// connection's history is complete).
    pub fn stamp(&mut self, now: Instant) -> bool {
        let mut closed = false;
        for (s, at) in self.visits.iter_mut().rev() {
            if at.is_some() {
                break;
            }
            *at = Some(now);
            closed |= *s == State::Closed;
        }
        closed
    }

    /// Each state entered and how long it lasted: until the next entry's time, the last
    /// one until `now` (zero for CLOSED). Unstamped entries count as entered at `now`.
    pub fn spans(&self, now: Instant) -> Vec<(State, Duration)> {
        let at = |i: usize| self.visits[i].1.unwrap_or(now);
        (0..self.visits.len())
            .map(|i| {
                let (s, _) = self.visits[i];
                let end = if i + 1 < self.visits.len() {
                    at(i + 1)
                } else if s == State::Closed {
                    at(i)
                } else {
                    now
                };
                (s, end.saturating_since(at(i)))
            })
            .collect()
    }

    /// The entry time of the first state (the connection's open), once stamped.
    pub fn opened(&self) -> Option<Instant> {
        self.visits.first().and_then(|v| v.1)
    }

    /// One line, as `-v` prints it when the connection closes:
    /// `SYN-RECEIVED 0.001s, ESTABLISHED 1.200s, ... (1.203s in all)`. CLOSED is left out.
    pub fn summary(&self, now: Instant) -> String {
        let mut out = String::new();
        let mut total = Duration::ZERO;
        for (s, d) in self.spans(now) {
            if s == State::Closed {
                continue;
            }
            if !out.is_empty() {
                out.push_str(", ");
            }
            let _ = write!(out, "{s} {d}");
            total = total + d;
        }
        let _ = write!(out, " ({total} in all)");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    #[test]
    fn spans_run_from_entry_to_the_next_entry() {
        let mut t = StateTimes::default();
        t.enter(State::SynReceived);
        assert!(!t.stamp(at(0)));
        t.enter(State::Established);
        t.stamp(at(10));
        t.enter(State::CloseWait);
        t.stamp(at(1010));
        // close() carries no time: stamped by the next timed call.
        t.enter(State::LastAck);
        t.enter(State::Closed);
        assert_eq!(t.spans(at(1500))[3], (State::LastAck, Duration::ZERO));
        assert!(t.stamp(at(1020)));
        assert_eq!(
            t.spans(at(5000)),
            vec![
                (State::SynReceived, Duration::from_millis(10)),
                (State::Established, Duration::from_millis(1000)),
                (State::CloseWait, Duration::from_millis(10)),
                (State::LastAck, Duration::ZERO),
                (State::Closed, Duration::ZERO),
            ]
        );
        assert_eq!(
            t.summary(at(5000)),
            "SYN-RECEIVED 0.010s, ESTABLISHED 1.000s, CLOSE-WAIT 0.010s, LAST-ACK 0.000s \
             (1.020s in all)"
        );
    }

    #[test]
    fn visits_are_bounded_and_closed_stays_last() {
        let mut t = StateTimes::default();
        for i in 0..100 {
            t.enter(if i % 2 == 0 {
                State::Established
            } else {
                State::CloseWait
            });
            t.stamp(at(i));
        }
        t.enter(State::Closed);
        assert!(t.stamp(at(200)));
        let s = t.spans(at(300));
        assert_eq!(s.len(), MAX_VISITS);
        assert_eq!(s.last().unwrap().0, State::Closed);
    }
}
