//! Explicit Congestion Notification (RFC 3168), as Linux's `tcp_ecn`: 0 off, 1 ask for it in
//! our SYN and accept it, 2 (the default) accept it when the peer asks (RFC 9293 SHLD-8).
//!
//! - Setup (§6.1.1): an ECN-setup SYN carries ECE and CWR; the SYN-ACK that accepts it
//!   carries ECE only.
//! - Once negotiated, new data leaves ECT(0) (§6.1.2, §5: retransmissions, pure ACKs, SYNs
//!   and window probes do not; the TOS byte's ECN field, `wire::IpMeta::tos`).
//! - Receiver (§6.1.3): a data segment marked CE makes every ACK carry ECE until a segment
//!   with CWR arrives; the CE segment is ACKed at once.
//! - Sender (§6.1.2): an ACK with ECE reduces cwnd as a loss would, at most once per window
//!   of data, and the next new data carries CWR. Deviation: the reduction is made at once
//!   (the controller's congestion event), not spread over the window by PRR as Linux's CWR
//!   state does; not during loss recovery, which already reduced it.
//!
//! What this module does not do: ECN with SYN cookies (the cookie keeps no ECN bit; such
//! connections run without it), ECN nonces or AccECN (RFC 9768).

use super::connection::Connection;
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
    /// An ECE was answered by a reduction: CWR on the next new data.
    pub cwr: bool,
    /// SND.MAX at the last reduction: ECE reduces again only once SND.UNA passes it.
    pub high: Option<SeqNum>,
    /// Data segments received with CE, ACKs received with ECE, and cwnd reductions made
    /// for them.
    pub ce_rcvd: u64,
    pub ece_rcvd: u64,
    pub reductions: u64,
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
        if !seg.payload.is_empty() && seg.ip.tos & ECN_MASK == CE {
            self.ecn.echo = true;
            self.ecn.ce_rcvd += 1;
            self.ack_now = true; // RFC 3168 §6.1.3; Linux enters quick-ACK mode
        }
    }

    /// An acceptable ACK: the sender's response to ECE (RFC 3168 §6.1.2).
    pub(super) fn ecn_on_ack(&mut self, now: Instant, seg: &Segment<'_>) {
        if !self.ecn.ok || !seg.flags.ece() || seg.flags.syn() {
            return;
        }
        self.ecn.ece_rcvd += 1;
        if self.recovery.is_some() || self.ecn.high.is_some_and(|h| self.snd_una.lt(h)) {
            return; // once per window; a loss recovery already reduced it
        }
        let flight = self.snd_max.since(self.snd_una);
        self.cc
            .on_congestion_event(now, flight.max(self.sent_flight));
        self.cc.on_recovery_end(now);
        self.ecn.high = Some(self.snd_max);
        self.ecn.cwr = true;
        self.ecn.reductions += 1;
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
