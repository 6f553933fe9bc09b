//! Building the next segment: RST, SYN/SYN-ACK, data and FIN, window probes, pure ACKs.
//! Sender rules: Nagle (RFC 9293 §3.7.4), sender SWS avoidance (§3.8.6.2.1), PSH at the end
//! of each write and of the queue (MUST-61), the receiver's window rules (§3.8.6.2.2, SHLD-14).

use super::chrono::ChronoKind;
use super::connection::{Connection, Recovery, Timer, MAX_QUEUED_ACKS};
use super::pmtu::ProbeDue;
use super::recovery::RackSend;
use super::recv_buffer::MemMode;
use super::seq::SeqNum;
use super::state::State;
use crate::time::Instant;
use crate::wire::{IpMeta, Segment, TcpFlags, TcpOptions, Timestamps};

/// What `next_data` chose.
#[derive(Clone, Copy, Debug)]
enum Send {
    /// A retransmission of `len` bytes at `seq` (SND.NXT does not move).
    At { seq: SeqNum, len: usize },
    /// `len` bytes (maybe plus FIN) at SND.NXT.
    Next(usize),
}

impl Connection {
    /// The next segment to send, its payload borrowed from the send buffer (or copied into
    /// `buf` when it straddles the ring's wrap; at most `buf.len()` bytes either way);
    /// `None` when there is nothing to send now. Call until `None` after every input and
    /// timeout.
    pub fn poll_transmit<'b>(&'b mut self, now: Instant, buf: &'b mut [u8]) -> Option<Segment<'b>> {
        self.stamp_states(now); // a close() or abort() since the last timed call
        if let Some((seq, ack)) = self.rst.take() {
            let flags = if ack.is_some() {
                TcpFlags::RST | TcpFlags::ACK
            } else {
                TcpFlags::RST
            };
            let mut s = self.build(now, seq, flags, &[]);
            s.ack = ack.map_or(0, |a| a.0);
            s.window = 0;
            // RFC 7323 §3.2: TSopt SHOULD be sent in a <RST> too (as Linux does); no other
            // option.
            s.options = TcpOptions {
                timestamps: s.options.timestamps,
                ..TcpOptions::default()
            };
            return Some(s);
        }
        match self.state {
            State::Closed | State::Listen => return None,
            State::FinWait2 if self.app_closed && !self.armed(Timer::FinWait2) => {
                self.arm(Timer::FinWait2, now + self.cfg.fin_timeout);
            }
            _ => {}
        }
        if let Some(ack) = self.queued_acks.pop_front() {
            if self.queued_acks.is_empty() && self.queued_acks.capacity() > 16 {
                self.queued_acks = Default::default();
            }
            return Some(ack);
        }
        if matches!(self.state, State::SynSent | State::SynReceived) && self.snd_nxt == self.iss {
            return Some(self.syn_segment(now));
        }
        if let Some(what) = self.next_data(now, buf.len()) {
            return Some(self.data_segment(now, what, buf));
        }
        if self.keepalive_due {
            // SHLD-12: no data; SEQ = SND.NXT - 1 makes the peer answer with an ACK.
            self.keepalive_due = false;
            return Some(self.build(now, self.snd_nxt - 1, TcpFlags::ACK, &[]));
        }
        if self.cfg.keepalive && !self.armed(Timer::Keepalive) && self.state.is_synchronized() {
            self.arm(Timer::Keepalive, self.last_rx + self.cfg.keepalive_time);
        }
        if self.force_send {
            // RFC 9293 §3.8.6.1 zero-window probe. Like Linux it carries SEQ=SND.UNA-1 and no
            // data, so an answered probe never counts as a retransmission (MUST-37).
            self.force_send = false;
            let offset = self.snd_nxt.since(self.snd_una) as usize;
            let fin_waits = self.fin_queued && offset <= self.sendq.len();
            if self.sendq.len() > offset || fin_waits {
                self.arm_persist(now);
                return Some(self.build(now, self.snd_una - 1, TcpFlags::ACK, &[]));
            }
        }
        if self.ack_now {
            return Some(self.build(now, self.ack_seq(), TcpFlags::ACK, &[]));
        }
        None
    }

    /// Called as each segment arrives, before it is processed: an ACK still owed to the
    /// previous segment on its own (`ack_per_segment`: it was out of order, filled a hole,
    /// or lay outside the window) is built now and queued for `poll_transmit`.
    ///
    /// Why here: the runtime hands the stack a batch of packets (up to 256) before it polls,
    /// and the ACK decided at poll time reflected only the last of them, so a batch of
    /// out-of-order segments drew one ACK where RFC 5681 §4.2 wants one each (a sender
    /// without SACK counts duplicate ACKs; one with SACK learns each block from the ACK of
    /// the segment that made it, RFC 2018 §4). The connection cannot send, so the ACK is
    /// frozen as it would have left, with the state after the previous segment, the moment
    /// that state is about to change. In-order data is queued this way only after 2, 4,
    /// 8, ... full-sized segments of one batch (`space_batch_acks`); between those its ACKs
    /// merge (the batching's gain), and the last segment's ACK is built at poll time as
    /// before, where it may ride on data.
    pub(super) fn queue_owed_ack(&mut self, now: Instant) {
        if !(self.ack_now && self.ack_per_segment) {
            return;
        }
        self.ack_per_segment = false;
        if !self.state.is_synchronized()
            || self.rst.is_some()
            || self.queued_acks.len() >= MAX_QUEUED_ACKS
        {
            return; // the ACK at poll time covers it
        }
        let ack = self.build(now, self.ack_seq(), TcpFlags::ACK, &[]);
        self.queued_acks.push_back(ack);
    }

    fn syn_segment(&mut self, now: Instant) -> Segment<'static> {
        if self.first_syn_at.is_none() {
            self.first_syn_at = Some(now);
        }
        if self.snd_max != self.iss {
            self.stats.retrans_segs += 1;
            self.stats.syn_retrans += 1;
            self.rtt_probe = None; // Karn: no sample from a retransmitted SYN
        } else {
            self.rtt_probe = Some((self.iss + 1, now));
        }
        let flags = match self.state {
            State::SynSent => TcpFlags::SYN,
            _ => TcpFlags::SYN | TcpFlags::ACK,
        } | self.ecn_syn_flags();
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.snd_max.max(self.snd_nxt);
        if !self.armed(Timer::Retransmit) {
            self.arm(Timer::Retransmit, self.rto_deadline(now));
        }
        self.build(now, self.iss, flags, &[])
    }

    /// Decides what data (or bare FIN) to send next, if anything: a retransmission at some
    /// sequence number, or new (or timed-out) data at SND.NXT.
    fn next_data(&mut self, now: Instant, buf_len: usize) -> Option<Send> {
        if !matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::LastAck
                | State::Closing
        ) {
            return None;
        }
        if !self.sendq.is_empty() {
            // Linux starts it as data is queued (tcp_add_write_queue_tail): here at the
            // first timed call after the write.
            self.chrono.start(now, ChronoKind::Busy);
        }
        if self.pacing_hold(now) {
            return None; // pacing.rs
        }
        let smss = self.send_mss() as usize;
        let cap = smss.min(buf_len);
        if self.rack.take_probe_more() {
            // The probe's second segment of new data (rack.rs `set_probe_more`).
            let room = self.probe_new_data();
            if room > 0 {
                return Some(Send::Next(room.min(cap)));
            }
            self.rack.take_probing();
        }
        if self.rack.take_tlp_due() {
            // RFC 8985 §7.3 tail loss probe.
            if let Some((seq, len)) = self.tlp_probe(cap, self.new_data_room()) {
                return Some(if seq == self.snd_nxt && seq == self.snd_max {
                    Send::Next(len)
                } else {
                    Send::At { seq, len }
                });
            }
        }
        if self.retransmit_one {
            // Fast retransmit of the first unacknowledged segment (RFC 5681 §3.2 / RFC 6675
            // §5 step 4.2), or of the first RACK marked lost, inside the window only (SHLD-16).
            self.retransmit_one = false;
            let (seq, most) = match self.rack.next_lost().filter(|_| self.rack_on()) {
                Some(lost) => lost,
                None => (self.snd_una, u32::MAX),
            };
            let room = (self.snd_wnd as usize).max(1);
            let off = seq.since(self.snd_una) as usize;
            let len = self
                .sendq
                .len()
                .saturating_sub(off)
                .min(cap)
                .min(room)
                .min(most as usize)
                .min(self.unsacked_run(seq) as usize);
            if len > 0 || self.fin_seq == Some(seq) {
                return Some(Send::At { seq, len });
            }
        }
        if self.cfg.slow_start_after_idle
            && self.snd_una == self.snd_max
            && !self.sendq.is_empty()
            && self.new_data_room() > 0
            && now.saturating_since(self.last_data_tx) > self.rtt.rto()
        {
            // RFC 5681 §4.1: nothing sent for more than an RTO, nothing in flight: new
            // data starts from cwnd = min(IW, cwnd) (Linux checks on a write and on a
            // window update, tcp_slow_start_after_idle_check; here when the window lets
            // data go, so not while probing a zero window).
            self.cc.on_idle_restart(now);
        }
        let cwnd = self.send_cwnd(); // PRR in fast recovery (RFC 9937)
        let mut pipe = self.snd_nxt.since(self.snd_una);
        let rack = self.rack_on();
        if rack {
            // RFC 8985: what RACK marked lost goes first (recovery.rs).
            match self.rack_next(cwnd, cap) {
                RackSend::Resend(seq, len) => return Some(Send::At { seq, len }),
                RackSend::Wait => return None,
                RackSend::Pipe(p) => pipe = p,
            }
        } else if let Some(r) = self.recovery {
            if self.sack_ok {
                // RFC 6675 §5: send while cwnd - pipe >= 1 SMSS, choosing by NextSeg().
                pipe = self
                    .sb
                    .pipe(self.snd_una, self.snd_max, r.high_rxt, self.smss, 3);
                if cwnd.saturating_sub(pipe) < self.smss {
                    return None;
                }
                let (una, max) = (self.snd_una, self.snd_max);
                // Recovery may begin while the go-back-N resend after a timeout is under
                // way (SND.NXT < SND.MAX): that resend goes on (below, skipping SACKed
                // data) and NextSeg() waits until it reaches SND.MAX. Both at once resent
                // the same holes, twice or three times in one pass with the same TSval
                // (issue 21). Stopping the resend instead cost goodput in the loss
                // benchmark: data the peer dropped, unSACKed but not lost by IsLost(),
                // waited for the next timeout.
                let go_back = self.snd_nxt.lt(max);
                if let Some((seq, len)) = self
                    .sb
                    .next_seg(una, max, r.high_rxt, self.smss, 3)
                    .filter(|_| !go_back)
                {
                    return Some(Send::At {
                        seq,
                        len: (len as usize).min(cap),
                    });
                }
                if go_back || self.new_data_room() > 0 {
                    // The go-back-N resend, or rule 2: new data (below).
                } else if let Some((seq, len)) =
                    self.sb.next_seg_rule3(una, max, r.high_rxt, self.smss)
                {
                    return Some(Send::At {
                        seq,
                        len: (len as usize).min(cap),
                    });
                } else if r.rescue.is_none_or(|x| self.snd_una.gt(x)) {
                    // The rescue is for the tail of what was in flight when recovery began:
                    // below the recovery point (not new data this episode sent, which it
                    // resent at once), and not a segment resent in this episode already
                    // (below HighRxt: rule 1 had just sent it). Both repeated a segment
                    // back to back, TSval unchanged (issue 21).
                    if let Some((seq, len)) = self
                        .sb
                        .rescue(una, r.point, self.smss)
                        .filter(|&(seq, len)| (seq + len).gt(r.high_rxt))
                    {
                        self.recovery = Some(Recovery {
                            rescue: Some(r.point),
                            ..r
                        });
                        return Some(Send::At {
                            seq,
                            len: (len as usize).min(cap),
                        });
                    }
                }
            } else {
                // RFC 6582 without SACK: each duplicate ACK means a segment left the network.
                pipe = pipe.saturating_sub(self.dupacks.saturating_mul(self.smss));
            }
        }
        // RFC 4821 PLPMTUD: the next new data may be a probe (pmtu.rs).
        match self.mtu_probe_due(buf_len) {
            ProbeDue::Probe(len) => {
                self.pmtu.sending_probe = true;
                return Some(Send::Next(len));
            }
            ProbeDue::Wait => return None,
            ProbeDue::No => {}
        }
        if self.sack_ok && self.snd_nxt.lt(self.snd_max) {
            // Resending after a timeout: skip what the peer already SACKed (RFC 6675 §5.1).
            while let Some(end) = self.sacked_run_end(self.snd_nxt) {
                self.snd_nxt = end;
            }
        }
        let offset = self.snd_nxt.since(self.snd_una) as usize;
        let queued = self.sendq.len();
        let unsent = queued.saturating_sub(offset);
        let fin_pending = self.fin_queued && offset <= queued;
        let in_flight = self.snd_nxt.since(self.snd_una);
        let wnd_avail = self.new_data_room();
        let is_retx = self.snd_nxt.lt(self.snd_max);
        // RFC 3042 limited transmit: one new segment for each of the first two dupacks.
        let extra = if self.recovery.is_none() && !is_retx && !rack {
            self.dupacks.min(2) * self.smss
        } else {
            0
        };
        let cwnd_avail = (cwnd + extra).saturating_sub(pipe);
        // New data may leave as one super-segment that the device splits at SMSS (TSO/GSO);
        // retransmissions stay one SMSS.
        let mut gso = self.cfg.gso_max_payload.min(buf_len);
        if self.cfg.gso_half_cwnd {
            gso = gso.min((cwnd as usize / 2).max(smss));
        }
        let gso = gso / smss * smss;
        let gso = self.tso_autosize(gso, smss);
        let cap = if gso > smss && !is_retx && self.recovery.is_none() {
            gso
        } else {
            cap
        };
        let want = unsent.min(wnd_avail as usize).min(cap);
        self.cwnd_limited = (cwnd_avail as usize) < want;
        if !is_retx {
            // As tcp_write_xmit ends: limited by the peer's window when the next segment
            // fits cwnd but not the window (tcp_cwnd_test, then tcp_snd_wnd_test).
            if unsent > 0 && pipe < cwnd && (wnd_avail as usize) < unsent.min(smss) {
                self.chrono.start(now, ChronoKind::RwndLimited);
            } else {
                let empty = self.sendq.is_empty();
                self.chrono.stop(now, ChronoKind::RwndLimited, empty);
            }
        }
        let mut len = want.min(cwnd_avail as usize);
        if is_retx {
            len = len.min(self.unsacked_run(self.snd_nxt) as usize);
        }
        // MSG_EOR: a segment ends at the end of a record (`sendopts.rs`); one that does
        // is a push point, not a runt in mid-stream.
        let mut record_end = false;
        if let Some(end) = self.record_end_after(self.snd_nxt) {
            let to_end = end.since(self.snd_nxt) as usize;
            if len >= to_end {
                len = to_end;
                record_end = len < unsent;
            }
        }
        let fin_here = fin_pending && offset + len == queued;
        if len == unsent && len > 0 && !is_retx && !fin_here && !self.force_send && self.send_held()
        {
            // TCP_CORK / MSG_MORE: whole segments go, the partial tail waits.
            len -= len % smss;
        }
        if len > smss && len < unsent && !record_end {
            // Whole segments only while more data waits: the device's last piece would
            // otherwise be a runt in mid-stream.
            len -= len % smss;
        }
        if len > 0 && len < smss && !is_retx && !self.force_send && !record_end {
            // Nagle (SHLD-7, off with MUST-17's switch) with Minshall's refinement (as Linux):
            // a short segment that empties the queue waits only while an earlier short
            // segment is unacknowledged. Sender SWS avoidance (MUST-38): otherwise a short
            // segment leaves only if it is at least half the largest window seen.
            let drains = len == unsent;
            let small_unacked = self.snd_sml.gt(self.snd_una);
            let ok = (drains
                && (self.cfg.nodelay || in_flight == 0 || !small_unacked || fin_pending))
                || len as u32 >= self.max_snd_wnd / 2;
            if !ok {
                len = 0;
            }
        }
        // A FIN takes a sequence number, which must lie inside the window like any other
        // (the peer drops it otherwise; Linux's tcp_snd_wnd_test): into a zero window it
        // waits for the persist timer's probes like data, instead of going out on every RTO.
        let send_fin = fin_pending && offset + len == queued && (len as u32) < wnd_avail;
        if len == 0 && !send_fin {
            // Data or a FIN waits on the window with nothing in flight: the persist timer
            // probes.
            if (unsent > 0 || fin_pending)
                && in_flight == 0
                && !self.armed(Timer::Retransmit)
                && !self.armed(Timer::Persist)
            {
                self.arm_persist(now);
            }
            return None;
        }
        if len == unsent && !is_retx && self.nospace && !self.sndbuf_writable() {
            // tcp_cwnd_validate: all queued data leaves, cwnd does not limit, and a writer
            // waits for room: the send buffer limits.
            let flight = pipe + len as u32;
            let validated = self.cc.in_slow_start()
                && u64::from(cwnd) < 2 * u64::from(self.max_flight.max(flight));
            let limited = self.cwnd_limited || flight >= cwnd || validated;
            if !limited && matches!(self.state, State::Established | State::CloseWait) {
                self.chrono.start(now, ChronoKind::SndbufLimited);
            }
        }
        Some(Send::Next(len))
    }

    /// Whether a writer would be woken as Linux wakes one (`sk_stream_is_writeable`): at
    /// least half as much room as is queued.
    pub(super) fn sndbuf_writable(&self) -> bool {
        self.sendq.free() >= self.sendq.len() / 2
    }

    /// The largest segment to send: SMSS, but at most half the largest window the peer
    /// has offered, as Linux bounds it (`tcp_bound_to_half_wnd`), so a window always holds
    /// two segments: a peer without window scaling on an MTU 65000 path offers 64 KB, and
    /// one 64,948-byte segment per window then waited for the peer's delayed ACK (issue 21).
    /// Not below a floor of 68 octets of IPv4 datagram less the TCP header (Linux's), and
    /// the whole window when it is at most 536 (RFC 9293's default MSS: halving tiny
    /// windows gains nothing).
    pub(super) fn send_mss(&self) -> u32 {
        let cutoff = if self.max_snd_wnd > 536 {
            self.max_snd_wnd / 2
        } else {
            self.max_snd_wnd
        };
        if cutoff == 0 || self.smss <= cutoff {
            return self.smss;
        }
        let header = 20 + if self.ts_ok { 12 } else { 0 };
        cutoff.max(68 - header).min(self.smss)
    }

    /// SEQ of a pure ACK: SND.NXT as RFC 9293 §3.10.7.4 has it, which for us is the highest
    /// sequence number sent (SND.MAX): after a timeout rewinds our SND.NXT for go-back-N,
    /// the rewound value lies below what the peer already received, and a peer that checks
    /// acceptability by SEQ drops such ACKs (two stacks doing so can stall each other).
    /// Kept inside the peer's window, as Linux's `tcp_acceptable_seq`.
    fn ack_seq(&self) -> SeqNum {
        let wnd_end = self.snd_una + self.snd_wnd;
        if self.snd_max.le(wnd_end) {
            self.snd_max
        } else if wnd_end.gt(self.snd_nxt) {
            wnd_end
        } else {
            self.snd_nxt
        }
    }

    /// Room in the peer's window past SND.NXT (MUST-34: zero when it shrank, never negative).
    pub(super) fn new_data_room(&self) -> u32 {
        let edge = self.snd_una + self.snd_wnd;
        if edge.gt(self.snd_nxt) {
            edge.since(self.snd_nxt)
        } else {
            0
        }
    }

    /// The end of the SACKed range holding `seq`, if any.
    fn sacked_run_end(&self, seq: SeqNum) -> Option<SeqNum> {
        self.sb
            .ranges()
            .find(|&(l, r)| l.le(seq) && seq.lt(r))
            .map(|(_, r)| r)
    }

    /// Bytes from `seq` up to the next SACKed range (no limit when there is none).
    pub(super) fn unsacked_run(&self, seq: SeqNum) -> u32 {
        self.sb
            .ranges()
            .find(|&(l, _)| seq.lt(l))
            .map_or(u32::MAX, |(l, _)| l.since(seq))
    }

    fn data_segment<'b>(&'b mut self, now: Instant, what: Send, buf: &'b mut [u8]) -> Segment<'b> {
        let queued = self.sendq.len();
        let (seq, len) = match what {
            Send::At { seq, len } => (seq, len),
            Send::Next(len) => (self.snd_nxt, len),
        };
        let offset = seq.since(self.snd_una) as usize;
        let retx = seq.lt(self.snd_max);
        let mut n = len.min(queued.saturating_sub(offset));
        if let Some(end) = self.record_end_after(seq) {
            // MSG_EOR: retransmissions do not span records either.
            n = n.min(end.since(seq) as usize);
        }
        let mut flags = TcpFlags::ACK;
        // A PLPMTUD probe is one segment larger than SMSS, never split (pmtu.rs).
        let probe = std::mem::take(&mut self.pmtu.sending_probe);
        if probe {
            self.mtu_probe_sent(seq, n);
        }
        // GSO pieces, as Linux counts tcp_skb_pcount() (retransmissions are one SMSS).
        let pieces = if probe {
            1
        } else {
            n.div_ceil(self.send_mss() as usize).max(1) as u64
        };
        while self.push_marks.front().is_some_and(|m| m.le(self.snd_una)) {
            self.push_marks.pop_front();
        }
        let end = seq + n as u32;
        let write_end = self
            .push_marks
            .iter()
            .take_while(|m| m.le(end))
            .any(|m| m.gt(seq));
        // PSH (RFC 9293 §3.9.1.2, the sender's choice): on the segment that empties the
        // queue (MUST-61), on one that ends an application write, and, as Linux's
        // `__tcp_transmit_skb` does, on every super-segment of more than one SMSS (the device
        // splits it and keeps PSH on the last piece only).
        // Data written with MSG_MORE and not followed by a plain write gets none; a
        // persist-timer send of held data gets it (Linux `tcp_write_wakeup`).
        let unpushed =
            self.sendopts.unpushed_tail && self.push_marks.back().is_none_or(|m| m.le(seq));
        if n > 0
            && (write_end
                || (self.force_send && !retx)
                || (!unpushed && (offset + n == queued || pieces > 1)))
        {
            flags |= TcpFlags::PSH;
        }
        let fin_here = match self.fin_seq {
            Some(f) => f == seq + n as u32,
            None => self.fin_queued && offset + n == queued,
        };
        if fin_here && self.fin_queued {
            flags |= TcpFlags::FIN;
            self.fin_seq = Some(seq + n as u32);
        }
        let seq_len = n as u32 + u32::from(flags.fin());
        let mss = self.send_mss() as usize;
        if !probe && (n < mss || n % mss != 0) {
            self.snd_sml = seq + seq_len; // the last (or only) piece on the wire is short
        }
        self.stats.bytes_sent += n as u64;
        if n > 0 {
            self.stats.data_segs_out += pieces;
            self.last_data_tx = now;
            if !retx
                && self.data_seen
                && now.saturating_since(self.last_data_rx) < self.cfg.delayed_ack
            {
                // Data answers data within the delayed-ACK time: an interactive exchange,
                // whose ACKs ride on the answers (Linux tcp_event_data_sent's pingpong).
                self.pingpong = true;
            }
        }
        if retx {
            self.stats.retrans_segs += 1;
            self.stats.bytes_retrans += n as u64;
            self.undo_on_retransmit(now, pieces as u32);
            if self.retrans_high.lt(seq + seq_len) {
                self.retrans_high = seq + seq_len;
            }
            if self.recovery.is_some() {
                self.stats.fast_retrans += pieces;
            }
            if let Some(r) = self.recovery.as_mut() {
                if r.high_rxt.lt(seq + seq_len) {
                    r.high_rxt = seq + seq_len;
                }
            }
        } else if n > 0 {
            self.stats.orig_data_sent += pieces;
            if self.rtt_probe.is_none() {
                self.rtt_probe = Some((seq + seq_len, now));
            }
        }
        let max_before = self.snd_max;
        if seq == self.snd_nxt {
            self.snd_nxt += seq_len;
            self.snd_max = self.snd_max.max(self.snd_nxt);
            // Linux tcp_cwnd_validate: the most in flight during the current window.
            let flight = self.snd_nxt.since(self.snd_una);
            if !self.snd_una.lt(self.max_flight_seq) || flight > self.max_flight {
                self.max_flight = flight;
                self.max_flight_seq = self.snd_nxt;
            }
        } else if flags.fin() && self.snd_max.lt(seq + seq_len) {
            // The FIN, queued after every byte went out, rides on a retransmission of the
            // tail (recovery resends above SND.NXT): it is sent, so SND.MAX covers it and the
            // peer's ACK of it is acceptable (RFC 9293 §3.10.7.4). SND.NXT catches up when
            // the go-back-N resend reaches it.
            self.snd_max = seq + seq_len;
        }
        self.force_send = false;
        self.sent_flight = self.snd_max.since(self.snd_una);
        self.disarm(Timer::Persist);
        if !self.armed(Timer::Retransmit) || (retx && seq == self.snd_una) {
            // A resend of the first unacknowledged segment restarts the timer, so that its
            // ACK has a whole RTO to come back in (Linux `tcp_xmit_retransmit_queue` rearms
            // for the head); from the last ACK, it could fire before one RTT.
            self.arm(Timer::Retransmit, self.rto_deadline(now));
        }
        self.rack_sent(now, seq, seq_len, max_before);
        self.rate.on_send(now, seq, seq + seq_len, max_before);
        self.paced_sent(now, n);
        let mut seg = self.build(now, seq, flags, &[]);
        if !retx && n > 0 {
            self.ecn_mark(&mut seg, true); // RFC 3168 §6.1.5: never on a retransmission
        }
        // build() counted one segment; a super-segment leaves as `pieces` (Linux: pcount).
        self.stats.segs_out += pieces - 1;
        seg.payload = match self.sendq.slice_at(offset, n) {
            Some(p) => p,
            None => {
                let k = self.sendq.read_at(offset, &mut buf[..n]);
                &buf[..k]
            }
        };
        seg
    }

    /// The send-buffer bytes of `[seq, seq + len)` when they lie in one piece of the ring
    /// (`None` if they wrap, or are not in the buffer): the payload of the segment
    /// `poll_transmit` just returned, for a gather write (see `Stack::poll_transmit_gather`).
    pub fn send_slice(&self, seq: SeqNum, len: usize) -> Option<&[u8]> {
        let offset = seq.since(self.snd_una) as usize;
        self.sendq.slice_at(offset, len)
    }

    /// RFC 9293 §3.8.6.1 / SHLD-29/30: first probe after one RTO, then doubling (capped).
    fn arm_persist(&mut self, now: Instant) {
        self.arm(Timer::Persist, now + self.persist_interval());
    }

    /// The window field: the receive buffer's room, moved right only in steps worth
    /// announcing (MUST-39) and never moved left (SHLD-14, RFC 7323 §2.4).
    ///
    /// With window scaling the peer sees `ACK + (field << scale)`, a multiple of the unit
    /// past RCV.NXT, which moves by any amount: keeping the peer's right edge from moving
    /// left means rounding up. `rcv_adv` is the rightmost edge the peer was ever shown, and
    /// it is what input accepts (RFC 7323 §2.4: accept what you advertised). Each ACK that
    /// finds RCV.NXT off the unit rounds the edge up by up to `unit - 1` bytes (RFC 7323
    /// Appendix F): a reserve of the buffer that the window never offers otherwise pays for it,
    /// `max(unit - 1, capacity / 64)` (MSS-sized segments creep by under 0.6% of the window
    /// with scale 5). Deviation: when the rounding would still promise room the buffer does
    /// not have (a peer sending tiny segments into a buffer nobody reads creeps without
    /// end, or SO_RCVBUF shrank it below `rcv_adv`), the edge sent is less than one unit
    /// left of `rcv_adv` instead, as Linux's `tcp_shrink_window` allows: memory stays
    /// bounded.
    fn advertise(&mut self) -> u16 {
        let unit = 1u32 << self.rcv_wscale;
        let room = self.recvq.window() as u32;
        let mut edge = self.offer_edge();
        if self.recvq.mode() != MemMode::Normal {
            // Stack memory pressure (Linux `tcp_under_memory_pressure`): the window grows
            // to at most 4 segments past RCV.NXT (rcv_ssthresh clamped to 4 * advmss).
            let cap = self.rcv_nxt + 4 * self.rcv_mss;
            if cap.lt(edge) {
                edge = cap;
            }
        }
        // The field holds 65535 units at most (SO_RCVBUF may have grown past it).
        let most = self.rcv_nxt + (65535 << self.rcv_wscale);
        if most.lt(edge) {
            edge = most;
        }
        if edge.gt(self.rcv_adv) && edge.since(self.rcv_adv) >= self.sws_threshold() {
            self.rcv_adv = edge;
        }
        if self.rcv_adv.lt(self.rcv_nxt) {
            self.rcv_adv = self.rcv_nxt;
        }
        let wnd = self.rcv_adv.since(self.rcv_nxt);
        let mut scaled = wnd.div_ceil(unit);
        if u64::from(scaled) * u64::from(unit) > u64::from(room) {
            // Less than one unit back, never more: room below the edge for other reasons
            // (memory pressure, the out-of-order charge) keeps the edge as before.
            scaled = (wnd / unit).max(room / unit);
        }
        let scaled = scaled.min(65535);
        // RCV.ADV stays the rightmost edge ever advertised: what input accepts (RFC 7323
        // §2.4) and what the rounding down above counts from, so that steps of less than a
        // unit never add up to more (they did after SO_RCVBUF shrank the buffer below it).
        let adv = self.rcv_nxt + scaled * unit;
        if adv.gt(self.rcv_adv) {
            self.rcv_adv = adv;
        }
        scaled as u16
    }

    /// Fills in the fields every segment of this connection carries.
    fn build<'b>(
        &mut self,
        now: Instant,
        seq: SeqNum,
        flags: TcpFlags,
        payload: &'b [u8],
    ) -> Segment<'b> {
        let mut options = TcpOptions::default();
        let window;
        if flags.syn() {
            let active = self.state == State::SynSent;
            // MUST-14, SHLD-5; never on a non-SYN (MUST-65)
            options.mss = Some(self.cfg.advmss.unwrap_or(self.cfg.mss));
            if (active && self.cfg.window_scaling) || (!active && self.ws_ok) {
                options.window_scale = Some(self.rcv_wscale);
            }
            options.sack_permitted = if active { self.cfg.sack } else { self.sack_ok };
            if (active && self.cfg.timestamps) || (!active && self.ts_ok) {
                let tsecr = if active { 0 } else { self.ts_recent };
                options.timestamps = Some(Timestamps {
                    tsval: self.ts_now(now),
                    tsecr,
                });
            }
            // RFC 7323 §2.2: the window in a SYN is never scaled.
            window = self.syn_window();
            let edge = self.rcv_nxt + u32::from(window);
            if !active && edge.gt(self.rcv_adv) {
                self.rcv_adv = edge;
            }
        } else {
            if self.ts_ok {
                options.timestamps = Some(Timestamps {
                    tsval: self.ts_now(now),
                    tsecr: self.ts_recent,
                });
            }
            if self.sack_ok && (self.recvq.has_ooo() || self.dsack_out.is_some()) {
                // RFC 2018 §4, RFC 2883 (dsack.rs).
                options.sack = self.sack_blocks();
            }
            window = self.advertise();
        }
        let mut flags = flags;
        let mut urgent = 0;
        if let Some(up) = self
            .snd_up
            .filter(|up| up.gt(seq) && !flags.syn() && !flags.rst())
        {
            // MUST-62: the pointer is the offset of the first octet after the urgent data.
            flags |= TcpFlags::URG;
            urgent = up.since(seq).min(65535) as u16;
        }
        if flags.ack() && !flags.rst() {
            self.note_advertised(window, flags.syn());
        }
        if flags.ack() {
            if self.last_ack_sent != self.rcv_nxt {
                // An ACK of new data: one quick ACK used (Linux tcp_dec_quickack_mode).
                self.quick_acks = self.quick_acks.saturating_sub(1);
            }
            self.last_ack_sent = self.rcv_nxt;
            self.ack_now = false;
            self.ack_per_segment = false;
            self.delack_segs = 0;
            self.disarm(Timer::DelayedAck);
            if self.compressed_acks > 0 {
                // This ACK carries what the held ones would have (Linux tcp_event_ack_sent).
                self.stats.ack_compressed += u64::from(self.compressed_acks);
                self.compressed_acks = 0;
                self.disarm(Timer::CompSack);
            }
        }
        self.stats.segs_out += 1;
        let mut seg = Segment {
            src: self.local,
            dst: self.remote,
            seq: seq.0,
            ack: if flags.ack() { self.rcv_nxt.0 } else { 0 },
            flags,
            window,
            urgent,
            options,
            payload,
            ip: IpMeta {
                ttl: self.cfg.ttl,
                tos: self.cfg.tos,
                ident: 0,
                dont_frag: true,
            },
        };
        self.ecn_mark(&mut seg, false);
        seg
    }
}
