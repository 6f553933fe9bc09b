//! Invariants of one connection, checked after every input, timer and application call in
//! debug builds and by the fuzz targets (issue 15). Cheap: O(out-of-order ranges + SACK
//! ranges). A violation is a bug in this crate, never in the peer: nothing a peer sends may
//! break one.

use super::connection::Connection;
use super::state::State;
use crate::time::Instant;

/// Check that the right edge of the advertised receive window (RCV.NXT + window) never
/// moves left by a window-scale unit or more (RFC 9293 §3.8.6.2.2 SHLD-14, RFC 7323 §2.4;
/// less than a unit is the documented exception of `advertise`), counted from the SYN's
/// edge (a SYN's own edge, unscaled, is not checked). The stack fuzzer's findings, all
/// fixed, replay in `tests/fuzz_regressions.rs`.
pub const CHECK_ADVERTISED_EDGE: bool = true;

/// Check that out-of-order data lies inside the window offered (RCV.ADV), not just inside
/// the receive buffer. The stack fuzzer found segments straddling the offered edge kept
/// up to the buffer's room (`tests/fuzz_regressions.rs`); input now trims text at the
/// offered edge (RFC 9293 §3.10.7.4).
pub const CHECK_OOO_WITHIN_OFFERED_EDGE: bool = true;

/// Largest window a peer can be offered or can offer (65535 << 14, RFC 7323 §2.3).
const MAX_WINDOW: u32 = 65535 << 14;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

impl Connection {
    /// Checks the connection's invariants; `Err` says which one broke, with the numbers.
    ///
    /// - SND.UNA <= SND.NXT <= SND.MAX, and what lies between SND.UNA and SND.MAX is at most
    ///   the buffered bytes plus SYN and FIN;
    /// - a sent FIN is the last octet sent;
    /// - buffered bytes within capacity, send and receive;
    /// - out-of-order ranges sorted, disjoint, past RCV.NXT, inside the window offered and
    ///   within their count bound;
    /// - the SACK scoreboard sorted, disjoint, inside [SND.UNA, SND.MAX];
    /// - RACK's transmit records sorted, disjoint, inside [SND.UNA, SND.MAX], bounded;
    /// - the advertised right edge never moved left (behind [`CHECK_ADVERTISED_EDGE`]).
    pub fn check_invariants(&self) -> Result<(), String> {
        let (una, nxt, max) = (self.snd_una, self.snd_nxt, self.snd_max);
        ensure!(
            una.le(nxt) && nxt.le(max),
            "SND.UNA {} <= SND.NXT {} <= SND.MAX {} broken",
            una.0,
            nxt.0,
            max.0
        );
        if self.state == State::Closed {
            // The TCB is gone (RFC 9293 §3.3.2): buffers released, nothing more to check.
            return Ok(());
        }
        // Sequence space in flight: the SYN (until acknowledged), the bytes, the FIN.
        let syn = u32::from(una == self.iss && max != self.iss);
        let fin = u32::from(self.fin_seq.is_some_and(|f| una.le(f)));
        let flight = max.since(una);
        ensure!(
            u64::from(flight) <= self.sendq.len() as u64 + u64::from(syn + fin),
            "SND.MAX - SND.UNA = {flight} exceeds {} buffered bytes + SYN {syn} + FIN {fin}",
            self.sendq.len()
        );
        if let Some(f) = self.fin_seq {
            ensure!(
                f + 1 == max,
                "FIN at {} but SND.MAX {} (SND.UNA {}, SND.NXT {}; SND.MAX is one past the FIN)",
                f.0,
                max.0,
                una.0,
                nxt.0
            );
        }
        ensure!(self.smss > 0, "SMSS is 0");
        ensure!(
            self.snd_wnd <= MAX_WINDOW,
            "SND.WND {} above 65535 << 14",
            self.snd_wnd
        );
        self.sendq.check_invariants()?;
        self.recvq.check_invariants()?;

        // Out-of-order data lies inside the window offered (RFC 9293 §3.10.7.4: only
        // in-window octets are kept).
        if CHECK_OOO_WITHIN_OFFERED_EDGE {
            self.check_ooo_within_offered_edge()?;
        }

        // The scoreboard only holds octets sent and not cumulatively acknowledged.
        self.sb.check_invariants()?;
        self.rack.check_invariants(una, max)?;
        self.rate.check_invariants(una, max)?;
        if self.sack_ok || !self.sb.is_empty() {
            for (l, r) in self.sb.ranges() {
                ensure!(
                    una.le(l) && l.lt(r) && r.le(max),
                    "SACKed range [{}, {}) outside [SND.UNA {}, SND.MAX {}]",
                    l.0,
                    r.0,
                    una.0,
                    max.0
                );
            }
        }

        if CHECK_ADVERTISED_EDGE {
            self.check_advertised_edge()?;
        }
        // INVARIANT-HOOK(accounting): once `Connection::buffered_bytes()` lands (branch
        // `ooo`), check here that it equals the send plus receive buffer bytes held.
        Ok(())
    }

    /// Out-of-order data lies inside the window offered (RFC 9293 §3.10.7.4: only in-window
    /// octets are kept); whatever [`CHECK_OOO_WITHIN_OFFERED_EDGE`] says.
    pub fn check_ooo_within_offered_edge(&self) -> Result<(), String> {
        if let Some(end) = self.recvq.ooo_end() {
            let offered = if self.rcv_adv.gt(self.rcv_nxt) {
                self.rcv_adv.since(self.rcv_nxt)
            } else {
                0
            };
            ensure!(
                end as u64 <= u64::from(offered),
                "out-of-order data up to RCV.NXT+{end} past the offered edge RCV.NXT+{offered}"
            );
        }
        Ok(())
    }

    /// No segment advertised a right edge (RCV.NXT + window) left of one advertised
    /// before (RFC 9293 §3.8.6.2.2 SHLD-14, RFC 7323 §2.4); whatever
    /// [`CHECK_ADVERTISED_EDGE`] says.
    pub fn check_advertised_edge(&self) -> Result<(), String> {
        if let Some((was, now)) = self.adv_edge_shrunk {
            return Err(format!(
                "advertised right edge moved left: {} then {} ({} bytes, SHLD-14)",
                was.0,
                now.0,
                was.since(now)
            ));
        }
        Ok(())
    }

    /// After `handle_timeout(now)` every deadline is in the future: a due timer was handled
    /// and re-armed later, or disarmed (a deadline that does not move would spin the loop).
    pub fn check_timers_after(&self, now: Instant) -> Result<(), String> {
        for (i, t) in self.timers.iter().enumerate() {
            if let Some(at) = t {
                ensure!(
                    *at > now,
                    "timer {i} still due at {at} after handle_timeout({now})"
                );
            }
        }
        Ok(())
    }

    /// Records the right edge a segment is about to advertise (`window` as sent, unscaled
    /// on a SYN); remembers the first time it is left of one advertised before.
    pub(super) fn note_advertised(&mut self, window: u16, syn: bool) {
        if self.state == State::SynSent {
            return; // RCV.NXT is not known yet
        }
        if syn {
            // A SYN's window is never scaled (RFC 7323 §2.2): a SYN-ACK sent again after a
            // scaled ACK cannot repeat that ACK's edge (the fuzzer found it), so a SYN's edge
            // is not checked. It is a base of the check: the scaled windows after it never
            // need to fall short of it (`syn_window` keeps the rounding reserve).
            let edge = self.rcv_nxt + u32::from(window);
            if self.adv_edge.is_none_or(|prev| edge.gt(prev)) {
                self.adv_edge = Some(edge);
            }
            return;
        }
        let edge = self.rcv_nxt + (u32::from(window) << self.rcv_wscale);
        // Less than one unit of the window scale is the documented exception (`advertise`:
        // RFC 7323 Appendix F); more is a bug.
        let unit = 1u32 << self.rcv_wscale;
        match self.adv_edge {
            Some(prev) if edge.lt(prev) && prev.since(edge) >= unit => {
                if self.adv_edge_shrunk.is_none() {
                    self.adv_edge_shrunk = Some((prev, edge));
                }
            }
            Some(prev) if edge.lt(prev) => {}
            _ => self.adv_edge = Some(edge),
        }
    }
}
