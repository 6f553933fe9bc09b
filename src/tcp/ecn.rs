//! Explicit Congestion Notification (RFC 3168), as Linux's `tcp_ecn`: 0 off, 1 ask for it in
//! our SYN and accept it, 2 (the default) accept it when the peer asks (RFC 9293 SHLD-8).
//!
//! - Setup (§6.1.1): an ECN-setup SYN carries ECE and CWR; the SYN-ACK that accepts it
//!   carries ECE only.
//! - Once negotiated, new data leaves ECT(0) (§6.1.2, §5: retransmissions, pure ACKs, SYNs
//!   and window probes do not; the TOS byte's ECN field, `wire::IpMeta::tos`).
//! - Receiver (§6.1.3): a data segment marked CE makes every ACK carry ECE until a segment
//!   with CWR arrives; the CE segment is ACKed at once.
//! - Sender (§6.1.2): an ACK with ECE enters the CWR state (Linux `tcp_enter_cwr`, ca_state
//!   `TCP_CA_CWR`): ssthresh from the controller (as for a loss, from cwnd: §6.1.2 halves
//!   cwnd), then PRR (RFC 9937, which applies to any reduction) paces the sending down to it
//!   over the next round; the next new data carries CWR. CWR ends when SND.UNA passes the
//!   reduction's SND.MAX (Linux `tcp_end_cwnd_reduction`: something above it acknowledged),
//!   so there is one reduction per window of data. Nothing during fast recovery or after a
//!   timeout, which reduced already; a loss during CWR enters fast recovery, which carries
//!   the reduction on (no second ssthresh). Any reduction queues CWR (§6.1.2: "for any
//!   reason"), as Linux's `tcp_init_cwnd_reduction` and `tcp_enter_loss` do.
//! - Counts: segments delivered by ACKs with ECE (`TCPDeliveredCE`); `ss -i` `ecn` and
//!   `ecnseen` (an ECT or CE segment arrived). The stack counts datagrams by codepoint.
//!
//! What this module does not do: ECN with SYN cookies (the cookie keeps no ECN bit; such
//! connections run without it), CWR for local congestion (Linux enters it when its qdisc
//! drops), ECN nonces or AccECN (RFC 9768).

use super::connection::{Connection, Recovery};
use super::recovery::{prr_sndcnt, PrrState};
use super::seq::SeqNum;
use super::state::State;
use crate::time::Instant;
use crate::wire::{Segment, TcpFlags};

/// The ECN field of the TOS byte (RFC 3168 §5).
pub const ECN_MASK: u8 = 0b11;
/// ECN-Capable Transport codepoint ECT(0) (RFC 3168 §5), the one we send.
pub const ECT0: u8 = 0b10;
/// Congestion Experienced codepoint (RFC 3168 §5).
pub const CE: u8 = 0b11;

/// Per-connection ECN state.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Ecn {
    /// Negotiated on the handshake.
    pub ok: bool,
    /// A CE mark arrived: ECE on every ACK until the peer's CWR.
    pub echo: bool,
    /// cwnd was reduced: CWR on the next new data.
    pub cwr: bool,
    /// The CWR state, while an ECE's reduction runs.
    pub reduction: Option<Cwr>,
    /// A segment with ECT or CE arrived (Linux `TCP_ECN_SEEN`, `ss` `ecnseen`).
    pub seen: bool,
    /// Data segments received with CE, ACKs received with ECE, and CWR states entered
    /// for them.
    pub ce_rcvd: u64,
    pub ece_rcvd: u64,
    pub reductions: u64,
}

/// The CWR state: PRR's quantities (RFC 9937) for a reduction without loss.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cwr {
    /// SND.MAX when it began: CWR ends once SND.UNA is past it.
    pub point: SeqNum,
    /// RecoverFS: in flight when it began, with what that ACK delivered.
    pub recover_fs: u32,
    pub prr_delivered: u32,
    pub prr_out: u32,
    /// The window PRR gives the sender now.
    pub prr_cwnd: u32,
}

impl Connection {
    /// Whether ECN is in use on this connection.
    pub fn ecn_ok(&self) -> bool {
        self.ecn.ok
    }

    /// (data segments received with CE, ACKs received with ECE, cwnd reductions for ECE).
    pub fn ecn_counts(&self) -> (u64, u64, u64) {
        (self.ecn.ce_rcvd, self.ecn.ece_rcvd, self.ecn.reductions)
    }

    /// ECN flags of our SYN (ECE|CWR when asking) or SYN-ACK (ECE when accepting).
    pub(super) fn ecn_syn_flags(&self) -> TcpFlags {
        if self.state == State::SynSent {
            if self.cfg.ecn == 1 {
                return TcpFlags::ECE | TcpFlags::CWR;
            }
        } else if self.ecn.ok {
            return TcpFlags::ECE;
        }
        TcpFlags::NONE
    }

    /// The peer's SYN (or SYN-ACK answering ours) decides (RFC 3168 §6.1.1).
    pub(super) fn ecn_negotiate(&mut self, syn: &Segment<'_>) {
        let f = syn.flags;
        self.ecn.ok = if self.state == State::SynSent {
            // Our SYN asked; an ECN-setup SYN-ACK has ECE without CWR (a SYN-ACK with both
            // is not one: RFC 3168 §6.1.1).
            self.cfg.ecn == 1 && f.ack() && f.ece() && !f.cwr()
                || (self.cfg.ecn != 0 && !f.ack() && f.ece() && f.cwr()) // simultaneous open
        } else {
            self.cfg.ecn != 0 && f.ece() && f.cwr()
        };
    }

    /// An acceptable segment: CWR ends our echo, then a CE mark on data starts it.
    pub(super) fn ecn_on_segment(&mut self, seg: &Segment<'_>) {
        if !self.ecn.ok || seg.flags.syn() {
            return;
        }
        if seg.flags.cwr() {
            self.ecn.echo = false;
        }
        if seg.ip.tos & ECN_MASK != 0 {
            self.ecn.seen = true;
        }
        if !seg.payload.is_empty() && seg.ip.tos & ECN_MASK == CE {
            self.ecn.echo = true;
            self.ecn.ce_rcvd += 1;
            self.ack_now = true; // RFC 3168 §6.1.3; Linux enters quick-ACK mode
        }
    }

    /// Whether the CWR state (an ECE's reduction) is running.
    pub fn in_cwr(&self) -> bool {
        self.ecn.reduction.is_some()
    }

    /// Any cwnd reduction (fast recovery, timeout, ECE): CWR on the next new data
    /// (RFC 3168 §6.1.2).
    pub(super) fn ecn_queue_cwr(&mut self) {
        self.ecn.cwr = self.ecn.ok;
    }

    /// An acceptable ACK, after loss detection and before cwnd is set from it: the end of
    /// the CWR state, then the sender's response to ECE (RFC 3168 §6.1.2), as Linux's
    /// `tcp_fastretrans_alert` orders them. `delivered` is what the ACK delivered.
    pub(super) fn ecn_on_ack(&mut self, now: Instant, seg: &Segment<'_>, delivered: u32) {
        if let Some(c) = self.ecn.reduction {
            // Linux holds CWR until something above the point is acknowledged, so the
            // CWR flag has reached the peer.
            if self.snd_una.gt(c.point) || self.recovery.is_some() || self.in_loss() {
                self.ecn.reduction = None;
                if self.recovery.is_none() && !self.in_loss() {
                    self.cc.on_recovery_end(now); // cwnd = ssthresh from here
                }
            }
        }
        if !self.ecn.ok || !seg.flags.ece() || seg.flags.syn() {
            return;
        }
        self.ecn.ece_rcvd += 1;
        // Linux tcp_newly_delivered: TCPDeliveredCE, in segments.
        self.stats.delivered_ce += u64::from(delivered.div_ceil(self.smss.max(1)));
        if self.recovery.is_some() || self.in_loss() || self.ecn.reduction.is_some() {
            return; // once per window; fast recovery or a timeout reduced already
        }
        // Linux tcp_init_cwnd_reduction: ssthresh from cwnd (§6.1.2 halves cwnd).
        self.cc.on_congestion_event(now, self.cc.cwnd());
        // A reduction outside any undo episode (Linux clears undo_marker).
        self.undo = None;
        let flight = self.snd_max.since(self.snd_una);
        self.ecn.reduction = Some(Cwr {
            point: self.snd_max,
            recover_fs: flight
                .saturating_sub(self.sb.sacked_bytes())
                .saturating_add(delivered),
            prr_delivered: 0,
            prr_out: 0,
            prr_cwnd: self.cc.cwnd(),
        });
        self.ecn_queue_cwr();
        self.ecn.reductions += 1;
    }

    /// RFC 9937 in the CWR state, on each ACK with what it delivered (Linux
    /// `tcp_cwnd_reduction`). Deviation: the slow-start reduction bound (PRR-SSRB, one
    /// SMSS more on an ACK that advanced SND.UNA) is not taken, only PRR-CRB: packetdrill's
    /// `cwnd-moderation-ecn-enter-cwr-no-moderation-700` expects cwnd 4 there (in flight 3,
    /// ssthresh 7), which is PRR-CRB (older Linux took SSRB only when retransmitted data
    /// was acknowledged, which never happens in CWR).
    pub(super) fn cwr_on_ack(&mut self, delivered: u32) {
        let Some(mut c) = self.ecn.reduction else {
            return;
        };
        if delivered == 0 || self.cc.owns_recovery_cwnd() {
            return;
        }
        c.prr_delivered = c.prr_delivered.saturating_add(delivered);
        let pipe = self.reduction_pipe(self.snd_una);
        let (ssthresh, smss) = (self.cc.ssthresh(), self.smss);
        let prr = PrrState {
            delivered: c.prr_delivered,
            out: c.prr_out,
            recover_fs: c.recover_fs,
        };
        let sndcnt = prr_sndcnt(prr, pipe, ssthresh, delivered, false, smss);
        c.prr_cwnd = pipe.saturating_add(sndcnt);
        self.ecn.reduction = Some(c);
    }

    /// A loss during CWR: fast recovery takes the reduction over, with its PRR state and
    /// no second ssthresh (Linux `tcp_enter_recovery` when `tcp_in_cwnd_reduction`).
    pub(super) fn cwr_into_recovery(&mut self, r: &mut Recovery) -> bool {
        let Some(c) = self.ecn.reduction.take() else {
            return false;
        };
        r.recover_fs = c.recover_fs;
        r.prr_delivered = c.prr_delivered;
        r.prr_out = c.prr_out;
        r.prr_cwnd = c.prr_cwnd;
        true
    }

    /// Flags and TOS of a segment about to leave: ECE on ACKs while echoing; ECT(0), and
    /// CWR once after a reduction, on new data.
    pub(super) fn ecn_mark(&mut self, seg: &mut Segment<'_>, new_data: bool) {
        if !self.ecn.ok || seg.flags.syn() || seg.flags.rst() {
            return;
        }
        if self.ecn.echo && seg.flags.ack() {
            seg.flags |= TcpFlags::ECE;
        }
        if new_data {
            seg.ip.tos = (seg.ip.tos & !ECN_MASK) | ECT0;
            if self.ecn.cwr {
                seg.flags |= TcpFlags::CWR;
                self.ecn.cwr = false;
            }
        }
    }
}
