//! Undoing a congestion response that proves spurious, as Linux does (`tcp_input.c`:
//! `undo_marker`, `undo_retrans`, `retrans_stamp`, `tcp_try_undo_*`, `tcp_process_loss`).
//!
//! - D-SACK (RFC 3708 §3): once every retransmission of an episode is reported received
//!   twice, nothing was lost: the reduction is undone (`TCPDSACKUndo`, in or after recovery).
//! - Timestamps (Eifel detection, RFC 3522 §2): an ACK that advances SND.UNA while echoing a
//!   TSval older than the episode's first retransmission was sent for the original: undone at
//!   the end of fast recovery (`TCPFullUndo`) and after a timeout (`TCPLossUndo`).
//! - F-RTO (RFC 5682 §3, SACK-enhanced; Linux `tcp_frto`): after a first timeout, the ACK of
//!   the retransmission lets new data go instead of the go-back-N resend; an ACK or SACK of
//!   data never retransmitted then shows the timeout was spurious (`TCPSpuriousRTOs`, also
//!   `TCPLossUndo`); a duplicate ACK or a SACK of the new data shows it was not.
//!
//! The response (RFC 5682 §4 leaves it open): Linux's `tcp_undo_cwnd_reduction`, cwnd and
//! ssthresh (and CUBIC's W_max) back to their values before the reduction
//! ([`Controller::undo`](super::congestion::Controller::undo)), the lost marks of a timeout
//! cleared, and sending goes on with new data.
//! Deviation: not RFC 4015's Eifel response (cwnd = FlightSize + min(bytes acked, IW),
//! ssthresh kept), to behave as the Linux peers this stack is measured against.
//!
//! What it does not do: Linux's undo on a partial ACK (`TCPPartialUndo`: the hole filled
//! by a delayed original while no retransmission is outstanding); undo after two reductions in one episode (a timeout during fast
//! recovery, a second timeout) - the controller keeps only the last reduction's prior state,
//! so such an episode is dropped (Linux keeps the first); F-RTO without RACK-TLP (without
//! SACK, or `recovery` 0), where the go-back-N resend has no lost marks to pause.

use super::connection::Connection;
use super::seq::SeqNum;
use crate::time::Instant;
use crate::wire::Segment;

/// One loss episode that may yet be undone (Linux `undo_marker` set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Undo {
    /// SND.UNA when the reduction was made (`undo_marker`).
    pub marker: SeqNum,
    /// Retransmissions (in segments) not yet reported by a D-SACK (`undo_retrans`), those
    /// outstanding when the episode began included.
    pub retrans: u32,
    /// Some retransmission belongs to the episode (Linux's `undo_retrans` of -1 until then).
    pub resent: bool,
    /// TSval of the episode's first retransmission (`retrans_stamp`), while the episode
    /// lasts (Eifel needs an ACK of the hole it filled).
    pub first_retrans_ts: Option<u32>,
    /// A timeout's episode: SND.MAX when it fired, until SND.UNA passes it (Linux's Loss
    /// state and `high_seq`).
    pub loss_high: Option<SeqNum>,
    /// No ACK has advanced SND.UNA since the timeout (RFC 3522 §2 reads the first one).
    pub first_ack: bool,
}

/// F-RTO's progress after a timeout (RFC 5682 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Frto {
    /// SND.MAX when the timeout fired ("recover").
    pub high: SeqNum,
    /// Step 2b: new data goes instead of the lost marks, until the next ACK.
    pub send_new: bool,
}

/// What an ACK showed, for [`Connection::undo_on_ack`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AckFacts {
    pub advanced: bool,
    /// A duplicate ACK (RFC 5681 §2).
    pub dup: bool,
    /// Bytes newly SACKed.
    pub newly_sacked: u32,
    /// Bytes sent before the timeout and never resent that the ACK newly showed delivered
    /// (F-RTO only).
    pub orig_delivered: u32,
}

impl Connection {
    /// Retransmitted and unacknowledged bytes between SND.UNA and the highest
    /// retransmission, in segments (Linux `retrans_out`, less exact: SACKed ones count).
    fn retrans_outstanding(&self) -> u32 {
        if self.retrans_high.gt(self.snd_una) {
            self.retrans_high
                .since(self.snd_una)
                .div_ceil(self.smss.max(1))
        } else {
            0
        }
    }

    /// A reduction begins an episode (Linux `tcp_init_undo`); `loss_high` for a timeout.
    pub(super) fn undo_begin(&mut self, loss_high: Option<SeqNum>) {
        let retrans = self.retrans_outstanding();
        self.undo = Some(Undo {
            marker: self.snd_una,
            retrans,
            resent: retrans > 0,
            first_retrans_ts: None,
            loss_high,
            first_ack: true,
        });
    }

    /// A segment of `pieces` left again (Linux `tcp_retransmit_skb`).
    pub(super) fn undo_on_retransmit(&mut self, now: Instant, pieces: u32) {
        let ts = self.ts_now(now);
        if let Some(u) = self.undo.as_mut() {
            u.retrans = u.retrans.saturating_add(pieces);
            u.resent = true;
            u.first_retrans_ts.get_or_insert(ts);
        }
    }

    /// RFC 3708 §3: a D-SACK for `dups` segments ending at `end` (Linux `tcp_check_dsack`):
    /// counted against the episode's retransmissions when it reports data sent since the
    /// episode began and retransmitted (a copy the network made is not ours to count).
    pub(super) fn undo_on_dsack(&mut self, end: SeqNum, dups: u32) {
        let high = self.retrans_high;
        if let Some(u) = self.undo.as_mut() {
            if end.gt(u.marker) && end.le(high) {
                u.retrans = u.retrans.saturating_sub(dups);
            }
        }
    }

    /// The retransmission timer fired with data outstanding (`tcp_retransmit_timer`,
    /// `tcp_enter_loss`): the failure counters, a new undo episode and F-RTO step 1 on the
    /// first timeout outside fast recovery; an episode with a second reduction is dropped.
    pub(super) fn undo_on_rto(&mut self) {
        let first = self.retries == 1;
        let in_recovery = self.recovery.is_some();
        if first && in_recovery {
            if self.sack_ok {
                self.stats.sack_recovery_fail += 1;
            } else {
                self.stats.reno_recovery_fail += 1;
            }
        }
        self.frto = None;
        if first && !in_recovery {
            self.undo_begin(Some(self.snd_max));
            // RFC 5682 §3 step 1: the first timeout, not one during RTO recovery.
            if self.cfg.frto != 0 && self.rack_on() {
                self.frto = Some(Frto {
                    high: self.snd_max,
                    send_new: false,
                });
            }
        } else {
            self.undo = None;
        }
    }

    /// Eifel detection (RFC 3522 §2, Linux `tcp_packet_delayed`): the ACK echoes a TSval
    /// sent before the episode's first retransmission.
    fn ack_is_for_original(&self, seg: &Segment<'_>) -> bool {
        let Some(first) = self.undo.and_then(|u| u.first_retrans_ts) else {
            return false;
        };
        self.ts_ok
            && seg
                .options
                .timestamps
                .is_some_and(|ts| ts.tsecr != 0 && (ts.tsecr.wrapping_sub(first) as i32) < 0)
    }

    /// Every retransmission of the episode was D-SACKed (Linux: `undo_retrans` is 0).
    fn all_retrans_dsacked(&self) -> bool {
        self.undo.is_some_and(|u| u.resent && u.retrans == 0)
    }

    /// Restores the window from before the episode (`tcp_undo_cwnd_reduction`).
    fn undo_reduction(&mut self, unmark_lost: bool) {
        self.undo = None;
        self.frto = None;
        self.cc.undo();
        if unmark_lost {
            self.rack.unmark_lost();
            // Nothing below SND.MAX waits for a resend any more.
            self.snd_nxt = self.snd_max;
        }
    }

    /// On an acceptable ACK, after the scoreboard and RACK took it and before recovery is
    /// entered or left (Linux `tcp_fastretrans_alert` D-E, `tcp_process_loss`). Returns
    /// true when the reduction was undone.
    pub(super) fn undo_on_ack(&mut self, seg: &Segment<'_>, a: AckFacts) -> bool {
        let Some(u) = self.undo else { return false };
        if let Some(high) = u.loss_high {
            return self.undo_after_rto(seg, a, high);
        }
        let eifel = a.advanced && self.ack_is_for_original(seg);
        match self.recovery {
            Some(r) if self.snd_una.ge(r.point) => {
                if eifel || self.all_retrans_dsacked() {
                    // `tcp_try_undo_recovery`: the whole episode was for nothing.
                    self.end_recovery_undone();
                    self.stats.full_undo += 1;
                    return true;
                }
                if let Some(u) = self.undo.as_mut() {
                    u.first_retrans_ts = None;
                }
            }
            Some(_) if self.all_retrans_dsacked() => {
                self.end_recovery_undone();
                self.stats.dsack_undo += 1;
                return true;
            }
            Some(_) => {}
            None if self.all_retrans_dsacked() => {
                // After recovery: the last D-SACK came in (`tcp_try_undo_dsack`).
                self.undo_reduction(false);
                self.stats.dsack_undo += 1;
                return true;
            }
            None => {}
        }
        false
    }

    fn end_recovery_undone(&mut self) {
        self.recovery = None;
        self.rack.recovery_ended();
        self.undo_reduction(false);
    }

    /// RTO recovery (Linux `tcp_process_loss`), RFC 5682 §3 steps 2 and 3.
    fn undo_after_rto(&mut self, seg: &Segment<'_>, a: AckFacts, high: SeqNum) -> bool {
        let recovered = self.snd_una.ge(high);
        // RFC 3522 §2: the first acceptable ACK after the retransmission shows whether the
        // original got through (Linux asks every ACK advancing SND.UNA in RTO recovery; on
        // the loss grid the two measured the same).
        let first = self.undo.is_some_and(|u| u.first_ack);
        if a.advanced {
            if let Some(u) = self.undo.as_mut() {
                u.first_ack = false;
            }
        }
        let eifel = first && self.ack_is_for_original(seg);
        if a.advanced && (eifel || self.all_retrans_dsacked()) {
            self.undo_reduction(true);
            self.stats.loss_undo += 1;
            return true;
        }
        if let Some(mut f) = self.frto {
            f.send_new = false;
            // Step 3b: after new data went (step 2b), the ACK shows data sent before the
            // timeout and never resent delivered. Deviation: Linux (since 2013) checks every
            // ACK after the timeout, the first included, which also undoes a real timeout
            // whose first ACK jumps over segments received earlier with their SACKs lost
            // (loss grid, 20% loss into our receiver: 1.74 Mbit/s, 2.25 with step 3 alone).
            if a.orig_delivered > 0 && self.snd_max.gt(f.high) {
                self.undo_reduction(true);
                self.stats.loss_undo += 1;
                self.stats.spurious_rtos += 1;
                return true;
            }
            if self.snd_max.gt(f.high) {
                // Step 3a: new data went and the ACK is a duplicate or SACKs only it.
                if a.newly_sacked > 0 || a.dup {
                    self.frto = None;
                } else {
                    self.frto = Some(f);
                }
            } else if a.advanced && !recovered {
                // Step 2b: new data instead of the resend, if there is some and the
                // window takes it; else step 2a: the resend goes on.
                let unsent = self.sendq.len() > self.snd_max.since(self.snd_una) as usize;
                if unsent && self.new_data_room() > 0 {
                    f.send_new = true;
                    self.frto = Some(f);
                } else {
                    self.frto = None;
                }
            } else if a.dup || a.newly_sacked > 0 {
                // Step 2a: a duplicate ACK first: a real loss.
                self.frto = None;
            } else {
                self.frto = Some(f);
            }
        }
        if recovered {
            if let Some(u) = self.undo.as_mut() {
                u.loss_high = None;
                u.first_retrans_ts = None;
            }
            self.frto = None;
        }
        false
    }

    /// F-RTO step 2b is under way: RACK's lost marks wait, new data goes.
    pub(super) fn frto_sends_new(&self) -> bool {
        self.frto.is_some_and(|f| f.send_new)
    }

    /// Bytes in `[lo, hi)` the scoreboard holds SACKed.
    pub(super) fn sacked_between(&self, lo: SeqNum, hi: SeqNum) -> u32 {
        self.sb
            .ranges()
            .map(|(l, r)| {
                let l = if l.lt(lo) { lo } else { l };
                let r = if r.gt(hi) { hi } else { r };
                if r.gt(l) {
                    r.since(l)
                } else {
                    0
                }
            })
            .fold(0u32, u32::saturating_add)
    }

    /// F-RTO, before the scoreboard takes an ACK that acknowledged `acked` bytes: what
    /// [`Connection::frto_orig_delivered`] needs (Linux's `FLAG_ORIG_SACK_ACKED`): the
    /// bytes it cumulatively acknowledged that were sent before the timeout, never resent
    /// (above every retransmission) and not SACKed before, and the bytes of that kind
    /// SACKed so far above SND.UNA.
    pub(super) fn frto_orig_before(&self, acked: u32) -> Option<(u32, u32)> {
        let f = self.frto?;
        let later = |a: SeqNum, b: SeqNum| if a.lt(b) { b } else { a };
        let lo = later(self.retrans_high, self.snd_una - acked);
        let hi = if self.snd_una.lt(f.high) {
            self.snd_una
        } else {
            f.high
        };
        let cum = if lo.lt(hi) {
            hi.since(lo).saturating_sub(self.sacked_between(lo, hi))
        } else {
            0
        };
        let lo = later(self.retrans_high, self.snd_una);
        Some((cum, self.sacked_between(lo, f.high)))
    }

    /// After the scoreboard took the ACK: bytes of original data it showed delivered, by
    /// cumulative ACK or by SACK (0 outside F-RTO).
    pub(super) fn frto_orig_delivered(&self, before: Option<(u32, u32)>) -> u32 {
        let (Some((cum, sacked)), Some(f)) = (before, self.frto) else {
            return 0;
        };
        let lo = if self.retrans_high.gt(self.snd_una) {
            self.retrans_high
        } else {
            self.snd_una
        };
        let now = self.sacked_between(lo, f.high);
        cum.saturating_add(now.saturating_sub(sacked))
    }
}
