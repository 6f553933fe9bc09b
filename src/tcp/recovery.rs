//! The connection's side of RACK-TLP (RFC 8985; the algorithm is in `rack.rs`): feeding it
//! every data segment sent and every acceptable ACK, its reorder and probe timers, entering
//! fast recovery on its marks, choosing the tail loss probe, and the counters.
//!
//! Used only with SACK and `Config::recovery` & [`RECOVERY_RACK`]; otherwise the sender
//! keeps RFC 6675's DupThresh (and RFC 6582 without SACK), as before.

use super::config::RECOVERY_RACK;
use super::connection::{Connection, Recovery, Timer};
use super::rack::{AckInput, Outcome, ProbePiece, Rack};
use super::seq::SeqNum;
use super::state::State;
use crate::time::{Duration, Instant};
use crate::wire::Segment;

/// What the sender does next under RACK ([`Connection::rack_next`]).
pub(super) enum RackSend {
    /// Resend `len` bytes at `seq` (marked lost).
    Resend(SeqNum, usize),
    /// Something is marked lost but cwnd or the peer's window holds it back: send nothing.
    Wait,
    /// Nothing marked lost: new data may go, with this much in flight.
    Pipe(u32),
}

/// PRR's counters (RFC 9937): prr_delivered and prr_out since the reduction began, and
/// RecoverFS.
#[derive(Clone, Copy, Debug)]
pub(super) struct PrrState {
    pub delivered: u32,
    pub out: u32,
    pub recover_fs: u32,
}

/// RFC 9937's sndcnt for one ACK that delivered `delivered` (prr_delivered already counts
/// it). While pipe > ssthresh, Proportional Rate Reduction sends ssthresh/RecoverFS of
/// what is delivered; below, the slow-start reduction bound (PRR-SSRB) catches up to
/// ssthresh by at most one SMSS more than delivered on an ACK that advanced SND.UNA and
/// showed no further loss (`safe`, SafeACK), else as much as delivered (PRR-CRB). The
/// first send of a reduction goes whatever it says (Linux: "force a fast retransmit").
pub(super) fn prr_sndcnt(
    p: PrrState,
    pipe: u32,
    ssthresh: u32,
    delivered: u32,
    safe: bool,
    smss: u32,
) -> u32 {
    let sndcnt = if pipe > ssthresh {
        let target =
            (u64::from(p.delivered) * u64::from(ssthresh)).div_ceil(u64::from(p.recover_fs.max(1)));
        target
            .saturating_sub(u64::from(p.out))
            .min(u64::from(u32::MAX)) as u32
    } else {
        let mut n = p.delivered.saturating_sub(p.out).max(delivered);
        if safe {
            n = n.saturating_add(smss);
        }
        n.min(ssthresh - pipe)
    };
    if p.out == 0 && sndcnt == 0 {
        smss
    } else {
        sndcnt
    }
}

impl Connection {
    /// RFC 8985 with cwnd - pipe (pipe: sent, not SACKed, not lost unless resent): the
    /// lowest segment marked lost first, inside the peer's window (a zero window is the
    /// persist timer's), up to `cap` bytes.
    pub(super) fn rack_next(&mut self, cwnd: u32, cap: usize) -> RackSend {
        let pipe = self.rack.pipe();
        // F-RTO step 2b (RFC 5682 §3): new data first, the lost marks wait an ACK.
        if let Some((seq, len)) = self.rack.next_lost().filter(|_| !self.frto_sends_new()) {
            let edge = self.snd_una + self.snd_wnd;
            if cwnd.saturating_sub(pipe) < self.smss || !seq.lt(edge) {
                return RackSend::Wait;
            }
            let len = (len.min(edge.since(seq)) as usize)
                .min(cap)
                .min(self.unsacked_run(seq) as usize);
            return RackSend::Resend(seq, len);
        }
        // After a timeout every unSACKed segment was marked lost and has been resent by
        // now: nothing below SND.MAX waits for a go-back-N pass.
        self.snd_nxt = self.snd_max;
        RackSend::Pipe(pipe)
    }

    /// The congestion window the sender fills: PRR's in fast recovery and in ECN's CWR
    /// state (RFC 9937), else the controller's.
    pub(super) fn send_cwnd(&self) -> u32 {
        if self.cc.owns_recovery_cwnd() {
            return self.cc.cwnd();
        }
        match (self.recovery, self.ecn.reduction) {
            (Some(r), _) => r.prr_cwnd,
            (None, Some(c)) => c.prr_cwnd,
            _ => self.cc.cwnd(),
        }
    }

    /// RFC 9937's pipe during a reduction: RACK's (sent, not SACKed, not lost unless
    /// resent), RFC 6675's (with `high_rxt`), or without SACK RFC 6582's estimate (each
    /// duplicate ACK is a segment that left the network) - the same that `next_data`
    /// compares with the window.
    pub(super) fn reduction_pipe(&self, high_rxt: SeqNum) -> u32 {
        if self.rack_on() {
            self.rack.pipe()
        } else if self.sack_ok {
            self.sb
                .pipe(self.snd_una, self.snd_max, high_rxt, self.smss, 3)
        } else {
            self.snd_nxt
                .since(self.snd_una)
                .saturating_sub(self.dupacks.saturating_mul(self.smss))
        }
    }

    /// RFC 9937 on each ACK that starts or continues fast recovery (not the one that ends
    /// it), with the bytes it delivered (DeliveredData): sets the window to pipe + sndcnt
    /// ([`prr_sndcnt`]). Linux `tcp_cwnd_reduction`.
    pub(super) fn prr_on_ack(&mut self, delivered: u32, safe: bool) {
        let Some(mut r) = self.recovery else { return };
        if delivered == 0 {
            return;
        }
        r.prr_delivered = r.prr_delivered.saturating_add(delivered);
        let pipe = self.reduction_pipe(r.high_rxt);
        let prr = PrrState {
            delivered: r.prr_delivered,
            out: r.prr_out,
            recover_fs: r.recover_fs,
        };
        let sndcnt = prr_sndcnt(prr, pipe, self.cc.ssthresh(), delivered, safe, self.smss);
        r.prr_cwnd = pipe.saturating_add(sndcnt);
        self.recovery = Some(r);
    }

    /// Whether the sender is in Linux's `TCP_CA_Loss`: from a timeout until SND.UNA passes
    /// its SND.MAX (RACK keeps that point; without SACK, while timeouts are unanswered).
    pub(super) fn in_loss(&self) -> bool {
        if self.rack_on() {
            self.rack.in_rto_recovery()
        } else {
            self.retries > 0 && self.snd_max.gt(self.snd_una) && self.state.is_synchronized()
        }
    }

    /// RACK-TLP decides what is lost (else RFC 6675 DupThresh).
    pub(super) fn rack_on(&self) -> bool {
        self.sack_ok && self.cfg.recovery & RECOVERY_RACK != 0
    }

    /// A data segment `[seq, seq + seq_len)` left; `snd_max` is SND.MAX before it.
    /// Also counts it in PRR's prr_out (RFC 9937) during fast recovery.
    pub(super) fn rack_sent(&mut self, now: Instant, seq: SeqNum, seq_len: u32, snd_max: SeqNum) {
        if let Some(r) = self.recovery.as_mut() {
            r.prr_out = r.prr_out.saturating_add(seq_len);
        } else if let Some(c) = self.ecn.reduction.as_mut() {
            c.prr_out = c.prr_out.saturating_add(seq_len);
        }
        let probe = self.rack.take_probing();
        if !self.rack_on() || seq_len == 0 {
            return;
        }
        let end = seq + seq_len;
        self.rack.on_send(now, seq, end, snd_max);
        if let Some(piece) = probe {
            // RFC 8985 §7.3: TLP.end_seq = SND.NXT (after a second piece, its end); the RTO
            // was restarted when the PTO fired.
            self.rack.on_probe_sent(self.snd_max, !end.gt(snd_max));
            if piece == ProbePiece::First {
                self.stats.loss_probes += 1;
            }
        } else if end.gt(snd_max) || self.recovery.is_some() {
            // §7.2: (re)start the PTO after new data, and in fast recovery after a
            // retransmission (see `tlp_allowed`).
            self.arm_pto(now);
        }
    }

    /// RFC 8985 §6.2 on an acceptable ACK, after the scoreboard took its blocks. Returns
    /// the number of segments it newly marked lost.
    pub(super) fn rack_on_ack(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        advanced: bool,
        dsack: Option<(SeqNum, SeqNum)>,
    ) -> u32 {
        if !self.rack_on() {
            return 0;
        }
        let echo = seg
            .options
            .timestamps
            .filter(|ts| self.ts_ok && ts.tsecr != 0)
            .and_then(|ts| {
                let age = self.ts_now(now).wrapping_sub(ts.tsecr);
                (age < 1 << 31).then(|| {
                    Instant::from_micros(now.micros().saturating_sub(u64::from(age) * 1000))
                })
            });
        let a = AckInput {
            now,
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            advanced,
            dsack,
            min_rtt: self.min_rtt,
            srtt: self.rtt.srtt(),
            in_recovery: self.recovery.is_some(),
            smss: self.smss,
            echo,
        };
        let o = self.rack.on_ack(&a, self.sb.ranges());
        self.rack_outcome(now, o);
        o.newly_lost
    }

    fn rack_outcome(&mut self, now: Instant, o: Outcome) {
        self.stats.lost_retransmit += u64::from(o.lost_retransmits);
        match o.reorder_timeout {
            Some(d) => self.arm(Timer::Reorder, now + d),
            None => self.disarm(Timer::Reorder),
        }
        if o.tlp_repaired_loss && self.recovery.is_none() {
            // RFC 8985 §7.4.2: the probe repaired a loss: one cwnd reduction, as Linux
            // (`tcp_process_tlp_ack`: enter CWR and leave it at once). From cwnd, as Linux's
            // ssthresh does: the flight is empty once the probe's ACK is in.
            let cwnd = self.cc.cwnd();
            self.cc.on_congestion_event(now, cwnd);
            self.cc.on_recovery_end(now);
            self.stats.loss_probe_recovery += 1;
            // A reduction outside the undo episode: its prior state is gone.
            self.undo = None;
        }
    }

    /// RFC 8985 §6.3: the reorder timer fired.
    pub(super) fn on_reorder_timeout(&mut self, now: Instant) {
        if !self.rack_on() {
            return;
        }
        let in_recovery = self.recovery.is_some();
        let o = self
            .rack
            .detect(now, self.min_rtt, self.rtt.srtt(), in_recovery, self.smss);
        self.rack_outcome(now, o);
        if self.rack_lost_starts_recovery() {
            self.enter_recovery(now);
        }
    }

    /// RACK marked a segment lost outside any recovery: fast recovery begins (Linux enters
    /// Recovery when `lost_out` > 0; not from RTO recovery, which resends all anyway).
    pub(super) fn rack_lost_starts_recovery(&self) -> bool {
        self.recovery.is_none()
            && self.rack.has_lost()
            && !self.rack.in_rto_recovery()
            && self.snd_max.gt(self.snd_una)
    }

    /// RFC 6675 §5 step 4 / RFC 5681 §3.2 (or a RACK mark): enter fast recovery and resend
    /// the first lost segment at once.
    pub(super) fn enter_recovery(&mut self, now: Instant) {
        if self.mtu_probe_lost() {
            return; // the probe was too big for the path: no congestion (pmtu.rs)
        }
        let flight = self.snd_max.since(self.snd_una);
        let go_back = self.snd_nxt.lt(self.snd_max);
        let mut r = Recovery {
            point: self.snd_max,
            // After a timeout the go-back-N resend may be under way (SND.NXT below
            // SND.MAX): what lies below SND.NXT went out again already, so it counts as
            // retransmitted in this episode (RFC 6675 HighRxt), and SND.UNA is resent only
            // if the resend has not passed it (issue 21: it was resent twice). The resend
            // goes on; see `next_data`.
            high_rxt: if go_back { self.snd_nxt } else { self.snd_una },
            rescue: None,
            prr_delivered: 0,
            prr_out: 0,
            // RFC 9937: SND.NXT - SND.UNA less what is SACKed (the ACK that starts recovery
            // adds what it delivered, `prr_on_ack`). Until an ACK sets it, the window is
            // nothing: only the fast retransmission goes (`retransmit_one`).
            recover_fs: flight.saturating_sub(self.sb.sacked_bytes()),
            prr_cwnd: 0,
        };
        if self.cwr_into_recovery(&mut r) {
            // ECN's CWR reduced already: the reduction goes on, outside any undo episode.
            self.undo = None;
        } else {
            self.ecn_queue_cwr();
            self.enter_recovery_reduce(now, flight);
        }
        self.recovery = Some(r);
        self.retransmit_one = !go_back || self.snd_nxt == self.snd_una;
        self.rtt_probe = None;
        if self.sack_ok {
            self.stats.sack_recovery += 1;
        } else {
            self.stats.reno_recovery += 1;
        }
        self.rack.end_tlp_episode();
        self.disarm(Timer::LossProbe);
    }

    /// The congestion event of fast recovery (not after ECN's CWR, which had it).
    fn enter_recovery_reduce(&mut self, now: Instant, flight: u32) {
        // Deviation: FlightSize (RFC 9438 §4.6, RFC 5681 eq. 4) is taken as it was after
        // the last send if that was more: the runtime handles a batch of ACKs before it
        // sends, and the ACKs ahead of this one drained the flight without a refill (1% loss
        // to a Linux receiver: ssthresh 2 segments in most samples, cwnd a third of Linux's).
        let basis = self.loss_basis(flight.max(self.sent_flight));
        self.cc.on_congestion_event(now, basis);
        self.undo_begin(None);
    }

    /// After an ACK: restart the PTO if it cumulatively acknowledged new data and a probe
    /// may be sent, cancel it when not (RFC 8985 §7.2).
    pub(super) fn rack_after_ack(&mut self, now: Instant, advanced: bool) {
        if !self.rack_on() {
            return;
        }
        if !self.tlp_allowed() {
            self.disarm(Timer::LossProbe);
        } else if advanced || !self.armed(Timer::LossProbe) {
            self.arm_pto(now);
        }
    }

    /// RFC 8985 §7.2: data in flight, not in fast or RTO recovery, nothing SACKed (RACK's
    /// reorder timer has those), no probe outstanding.
    ///
    /// Deviation: also in fast recovery once every segment marked lost has been resent,
    /// with new data to probe with and room for it in the peer's window. A retransmission
    /// that is lost again is found by RACK only when a segment sent after it is delivered
    /// (§6.2); with a small window PRR often sends nothing after it, and the loss then waited
    /// for the RTO (200 ms, thousands of round trips on a short path): at 5% random loss to
    /// a Linux receiver, 3-10 of a transfer's 7-11 RTOs. The probe is new data, so it costs
    /// no spurious retransmission, and its SACK lets RACK mark the lost retransmission.
    fn tlp_allowed(&self) -> bool {
        self.rack_on()
            && self.rack.tlp_armable()
            && self.snd_max.gt(self.snd_una)
            && matches!(
                self.state,
                State::Established
                    | State::CloseWait
                    | State::FinWait1
                    | State::LastAck
                    | State::Closing
            )
            && match self.recovery {
                None => self.sb.is_empty(),
                Some(_) => !self.rack.has_lost() && self.probe_new_data() > 0,
            }
    }

    /// Bytes of new data a probe may send: unsent data inside the peer's window, none
    /// while a go-back-N resend is under way (SND.NXT below SND.MAX).
    pub(super) fn probe_new_data(&self) -> usize {
        if self.snd_nxt != self.snd_max {
            return 0;
        }
        let offset = self.snd_nxt.since(self.snd_una) as usize;
        let unsent = self.sendq.len().saturating_sub(offset);
        unsent.min(self.new_data_room() as usize)
    }

    /// §7.2 TLP_calc_PTO, capped by the retransmission timer's expiry.
    fn arm_pto(&mut self, now: Instant) {
        if !self.tlp_allowed() {
            return;
        }
        let flight = self.snd_max.since(self.snd_una);
        // In fast recovery the receiver holds out-of-order data and ACKs at once (RFC 5681
        // §4.2): no allowance for a delayed ACK.
        let one = flight <= self.smss && self.recovery.is_none();
        let mut at = now + Rack::pto(self.rtt.srtt(), one);
        let rto_at = self.timers[Timer::Retransmit as usize].unwrap_or(self.rto_deadline(now));
        if rto_at < at {
            at = rto_at;
        }
        self.arm(Timer::LossProbe, at);
    }

    /// §7.3: the PTO fired: the next segment is the probe, and the RTO restarts.
    pub(super) fn on_pto(&mut self, now: Instant) {
        if !self.tlp_allowed() {
            return;
        }
        self.rack.set_tlp_due();
        self.arm(Timer::Retransmit, self.rto_deadline(now));
    }

    /// The probe to send (§7.3): up to `cap` bytes of new data if there are some and the
    /// peer's window allows (cwnd does not limit a probe, as Linux; a second segment
    /// may follow, `Rack::set_probe_more`), else the last segment sent
    /// again. `(seq, payload bytes)`; `None` when there is nothing to probe with.
    pub(super) fn tlp_probe(&mut self, cap: usize, window_room: u32) -> Option<(SeqNum, usize)> {
        let offset = self.snd_nxt.since(self.snd_una) as usize;
        let unsent = self.sendq.len().saturating_sub(offset);
        let probe = if unsent > 0 && window_room > 0 && self.snd_nxt == self.snd_max {
            let len = unsent.min(cap).min(window_room as usize);
            if unsent > len && window_room as usize > len {
                self.rack.set_probe_more(); // a second segment follows (Deviation there)
            }
            Some((self.snd_nxt, len))
        } else if self.recovery.is_some() {
            None // in fast recovery only new data probes (`tlp_allowed`)
        } else {
            let (start, end) = self.rack.last_seg()?;
            // The FIN takes a sequence number but no byte.
            let data_end = match self.fin_seq {
                Some(f) if f.lt(end) => f,
                _ => end,
            };
            let len = data_end.since(start).min(cap as u32);
            Some((data_end - len, len as usize))
        };
        if probe.is_some() {
            self.rack.start_probe();
        }
        probe
    }

    /// The retransmission timer fired (RFC 8985 §6.3): all unSACKed data is lost.
    pub(super) fn rack_on_rto(&mut self) {
        self.disarm(Timer::Reorder);
        self.disarm(Timer::LossProbe);
        if self.rack_on() {
            self.rack.on_rto(self.snd_max);
        }
    }

    /// The reordering window RACK would use now (for tests and `ss`).
    pub fn rack_reo_wnd(&self) -> Duration {
        self.rack.reo_wnd(
            self.min_rtt,
            self.rtt.srtt(),
            self.recovery.is_some(),
            self.smss,
        )
    }
}
