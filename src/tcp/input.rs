//! Segment arrival, in the order of RFC 9293 §3.10.7.3 (SYN-SENT) and §3.10.7.4 (the rest),
//! with RFC 5961 (blind RST/SYN/data protection), RFC 7323 (PAWS, RTTM) and RFC 1337.

use super::chrono::ChronoKind;
use super::connection::{Connection, Error, Event, Timer};
use super::rtt::RttEstimator;
use super::seq::SeqNum;
use super::state::State;
use super::undo::AckFacts;
use crate::time::{Duration, Instant};
use crate::wire::Segment;

/// RFC 6298 §5.7: the RTO once data starts after a SYN or SYN-ACK timed out.
const SYN_LOST_RTO: Duration = Duration::from_secs(3);

impl Connection {
    /// Processes one segment addressed to this connection.
    pub fn handle_segment(&mut self, now: Instant, seg: &Segment<'_>) {
        self.stamp_states(now);
        self.queue_owed_ack(now);
        self.stats.segs_in += 1;
        if !seg.payload.is_empty() {
            self.stats.data_segs_in += 1;
        }
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent => self.on_syn_sent(now, seg),
            _ => self.on_segment(now, seg),
        }
        self.stamp_states(now);
    }

    /// RFC 9293 §3.10.7.3.
    fn on_syn_sent(&mut self, now: Instant, seg: &Segment<'_>) {
        let f = seg.flags;
        let ack = SeqNum(seg.ack);
        // First: the ACK must cover our SYN and nothing we did not send.
        let ack_ok = f.ack() && self.iss.lt(ack) && ack.le(self.snd_max);
        if f.ack() && !ack_ok {
            if !f.rst() {
                self.rst = Some((ack, None));
            }
            return;
        }
        // Second: RST is acceptable only with an acceptable ACK.
        if f.rst() {
            if ack_ok {
                self.fail(Error::Refused, "rcvd RST");
            }
            return;
        }
        // Fourth: SYN.
        if !f.syn() {
            return;
        }
        self.irs = SeqNum(seg.seq);
        self.rcv_nxt = self.irs + 1;
        self.negotiate(now, seg);
        self.rcv_adv = self.rcv_nxt + u32::from(self.syn_window()); // what our SYN offered
        self.snd_wnd = u32::from(seg.window); // RFC 7323 §2.2: unscaled in a SYN
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = self.irs;
        self.ack_now = true;
        self.heard_from_peer(now);
        if ack_ok {
            self.snd_una = ack;
            self.snd_wl2 = ack;
            self.on_new_ack_timing(now, seg, ack);
            self.set_state(State::Established, "rcvd SYN-ACK");
            self.after_established(now);
        } else {
            // MUST-10 simultaneous open: answer SYN-ACK (SEQ=ISS) from SYN-RECEIVED.
            self.snd_nxt = self.iss;
            self.set_state(State::SynReceived, "rcvd SYN (simultaneous open)");
        }
    }

    /// RFC 9293 §3.10.7.4 for SYN-RECEIVED and the synchronized states.
    fn on_segment(&mut self, now: Instant, seg: &Segment<'_>) {
        let f = seg.flags;
        let mut seq = SeqNum(seg.seq);
        let mut payload = seg.payload;
        let mut syn = f.syn();
        let fin = f.fin();

        // TIME-WAIT: the only thing expected is the peer's FIN again: ACK it, restart 2MSL.
        if self.state == State::TimeWait {
            if f.rst() {
                // Deviation: RFC 1337 §3 (ignore RST in TIME-WAIT) instead of RFC 9293's
                // close, to avoid TIME-WAIT assassination.
                return;
            }
            if fin && !syn && (seq + seg.seq_len()) == self.rcv_nxt {
                self.heard_from_peer(now);
                self.ack_now = true;
                self.arm(Timer::TimeWait, now + self.cfg.msl * 2);
                return;
            }
        }

        // SYN-RECEIVED after a simultaneous open: the peer's SYN-ACK repeats SEQ=IRS. Accept
        // it as Linux does (docs/conformance.md, case 1): drop the SYN already counted, keep
        // the ACK. A retransmitted bare SYN on a passive open: answer SYN-ACK again (case 15).
        if self.state == State::SynReceived && syn && seq == self.irs && !f.rst() {
            if !f.ack() {
                self.snd_nxt = self.iss;
                return;
            }
            syn = false;
            seq += 1;
        }

        // Deviation: a segment with none of ACK, RST and SYN is dropped here, silently, as
        // Linux does (tcp_rcv_established, before tcp_validate_incoming), not at the fifth
        // step of RFC 9293 §3.10.7.4 after the PAWS and sequence checks have answered it with
        // an ACK: nothing it carries can be accepted, and a blind flood of them cost us a
        // duplicate ACK each (12,207 for 100,000 in scripts/attacks.sh; Linux: 1).
        if !f.ack() && !f.rst() && !syn {
            return;
        }

        // PAWS (RFC 7323 §5.3): an older TSval than TS.Recent is an old duplicate, unless
        // TS.Recent expired (§5.5: then the segment goes on and TS.Recent is replaced below).
        if self.ts_ok && !f.rst() {
            if let Some(ts) = seg.options.timestamps {
                if (ts.tsval.wrapping_sub(self.ts_recent) as i32) < 0
                    && !self.ts_recent_expired(now)
                {
                    self.stats.paws_estab += 1;
                    self.ack_invalid(now, seg, true);
                    return;
                }
            }
        }

        let rcv_wnd = self
            .rcv_adv
            .since(self.rcv_nxt)
            .min(self.recvq.window() as u32);
        // RST first (RFC 5961 §3.2, MUST-66: even with a zero window; SHLD-2: data allowed).
        if f.rst() {
            if seq == self.rcv_nxt {
                self.on_rst();
            } else if seq.in_window(self.rcv_nxt, rcv_wnd.max(1)) {
                self.challenge_ack(now);
            }
            return;
        }

        // First: sequence number acceptability (RFC 9293 §3.10.7.4 table 6).
        let seg_len = payload.len() as u32 + u32::from(syn) + u32::from(fin);
        if !self.acceptable(seq, seg_len, rcv_wnd) {
            if rcv_wnd == 0 && !payload.is_empty() && seq == self.rcv_nxt {
                // Linux counts in-order data refused by a zero window (tcp_data_queue).
                self.stats.zero_window_drop += 1;
            }
            // MUST-66: the urgent pointer still counts on a zero-window probe (RFC 9293
            // §3.10.7.4: "special allowance should be made to accept valid ACKs, URGs and
            // RSTs") - a probe at RCV.NXT whose ACK is acceptable, not any segment: spoofed
            // URG segments outside the window once raised `Urgent` events by the hundred.
            if rcv_wnd == 0 && seq == self.rcv_nxt && f.ack() && self.ack_acceptable(seg.ack) {
                self.note_urgent(seg, seq);
            }
            self.ack_invalid(now, seg, false);
            return;
        }
        // RFC 7323 §4.3: the peer's TSval from a segment covering Last.ACK.sent becomes
        // TS.Recent - once the segment has passed the ACK checks below.
        // Deviation: RFC 7323 §5.3 (R3) records it here, before the SYN, ACK-flag and RFC 5961
        // ACK-range checks; one blind segment with SEQ = RCV.NXT, no ACK (or an ACK outside
        // the window) and a TSval far ahead would then be dropped yet leave every genuine
        // segment failing PAWS. Linux updates it only after tcp_ack() accepted the ACK
        // (tcp_replace_ts_recent), and so do we.
        let new_ts_recent = seg
            .options
            .timestamps
            .filter(|_| self.ts_ok && seq.le(self.last_ack_sent))
            .map(|ts| ts.tsval);
        // Trim what lies before RCV.NXT (a SYN there was already counted).
        if seq.lt(self.rcv_nxt) {
            let mut skip = self.rcv_nxt.since(seq);
            if syn {
                syn = false;
                skip -= 1;
            }
            let cut = (skip as usize).min(payload.len());
            payload = &payload[cut..];
            seq = self.rcv_nxt;
            // RFC 2883 §4: the part below RCV.NXT arrived twice (Linux `tcp_data_queue`).
            if cut > 0 {
                self.note_duplicate(seq - cut as u32, seq);
            }
        }

        // Fourth: a SYN in a synchronized state (RFC 5961 §4) gets a challenge ACK.
        if syn {
            if self.state == State::SynReceived && self.passive {
                // RFC 9293 §3.10.7.4: a new SYN for a passive open returns it to LISTEN.
                self.stats.embryonic_rsts += 1;
                self.set_state(State::Closed, "rcvd SYN in SYN-RECEIVED");
                return;
            }
            self.stats.syn_challenges += 1;
            self.challenge_ack(now);
            return;
        }

        // Fifth: the ACK field.
        if !f.ack() {
            return;
        }
        let ack = SeqNum(seg.ack);
        if self.state == State::SynReceived {
            if self.snd_una.lt(ack) && ack.le(self.snd_max) {
                self.snd_una = ack;
                // A retransmitted SYN in the same burst rewound SND.NXT to resend the
                // SYN-ACK this ACK acknowledges: nothing to resend now.
                if self.snd_nxt.lt(ack) {
                    self.snd_nxt = ack;
                }
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.on_new_ack_timing(now, seg, ack);
                self.set_state(State::Established, "rcvd ACK");
                self.after_established(now);
            } else {
                self.rst = Some((ack, None));
                return;
            }
        } else if !self.process_ack(now, seg, seq, ack) {
            return;
        }
        // The ACK was acceptable (RFC 5961 §5.2): now TS.Recent may move, and the peer
        // counts as heard from (keep-alive).
        if let Some(v) = new_ts_recent {
            self.set_ts_recent(now, v);
        }
        self.heard_from_peer(now);
        if self.state == State::Closed {
            return;
        }

        // Sixth: URG.
        self.note_urgent(seg, seq);

        // Seventh: segment text, trimmed to the window offered (RFC 9293 §3.10.7.4: "portions
        // ... that lie outside the window should be trimmed"): the buffer may have room
        // beyond the edge the peer was given (the rounding reserve), which is not the peer's.
        let fin_seq = seq + payload.len() as u32;
        let offered = if self.rcv_adv.gt(seq) {
            self.rcv_adv.since(seq) as usize
        } else {
            0
        };
        let payload = &payload[..payload.len().min(offered)];
        self.ecn_on_segment(seg);
        if !payload.is_empty() {
            self.on_data(now, seq, ack, payload);
            if self.state == State::Closed {
                return;
            }
        }

        // Eighth: FIN, only once everything before it has arrived.
        if fin {
            let window_end = self.rcv_nxt + self.recvq.window() as u32;
            if fin_seq.le(window_end) {
                self.rcv_fin = Some(fin_seq);
            }
            self.ack_now = true;
        }
        self.try_consume_fin(now);
    }

    /// A segment from the peer passed the checks: the connection is alive (keep-alive
    /// idles from here, as Linux's rcv_tstamp moves only in tcp_ack). Garbage - a segment
    /// outside the window, failing PAWS or with an unacceptable ACK - no longer keeps a
    /// dead peer's connection open.
    fn heard_from_peer(&mut self, now: Instant) {
        self.last_rx = now;
        self.keepalive_sent = 0;
    }

    /// RFC 5961 §5.2's acceptable ACK range: SND.UNA - MAX.SND.WND <= ACK <= SND.MAX.
    fn ack_acceptable(&self, ack: u32) -> bool {
        let ack = SeqNum(ack);
        !(ack.gt(self.snd_max) || ack.lt(self.snd_una - self.max_snd_wnd))
    }

    /// The duplicate ACK that answers a segment outside the window or failing PAWS (RFC
    /// 9293 §3.10.7.4, RFC 7323 §5.3), rate-limited as Linux's `tcp_oow_rate_limited`
    /// (RFC 5961 §7): a segment without data (or a SYN) gets at most one answer per
    /// `invalid_ratelimit`, counted as TCPACKSkippedSeq / TCPACKSkippedPAWS when skipped; a
    /// segment with data is always answered (its sender may be retransmitting into a lost
    /// ACK), one ACK for one segment.
    fn ack_invalid(&mut self, now: Instant, seg: &Segment<'_>, paws: bool) {
        let limited = seg.payload.is_empty() || seg.flags.syn();
        if limited {
            if self
                .last_oow_ack
                .is_some_and(|t| now.saturating_since(t) < self.cfg.invalid_ratelimit)
            {
                if paws {
                    self.stats.ack_skipped_paws += 1;
                } else {
                    self.stats.ack_skipped_seq += 1;
                }
                return;
            }
            self.last_oow_ack = Some(now);
        } else {
            self.ack_per_segment = true;
        }
        // RFC 2883 §4: data wholly below RCV.NXT arrived twice (as Linux's
        // `tcp_send_dupack`, also when PAWS refused it).
        let start = SeqNum(seg.seq) + u32::from(seg.flags.syn());
        if !seg.payload.is_empty() && start.lt(self.rcv_nxt) {
            let end = start + seg.payload.len() as u32;
            let end = if end.lt(self.rcv_nxt) {
                end
            } else {
                self.rcv_nxt
            };
            self.note_duplicate(start, end);
        }
        self.ack_now = true;
    }

    /// Table 6 of RFC 9293 §3.10.7.4.
    fn acceptable(&self, seq: SeqNum, len: u32, wnd: u32) -> bool {
        match (len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => seq.in_window(self.rcv_nxt, wnd),
            (_, 0) => false,
            (_, _) => {
                seq.in_window(self.rcv_nxt, wnd) || (seq + len - 1).in_window(self.rcv_nxt, wnd)
            }
        }
    }

    /// RST with SEQ = RCV.NXT (RFC 9293 §3.10.7.4 second step, per state).
    fn on_rst(&mut self) {
        match self.state {
            State::SynReceived if self.passive => {
                // MUST-11: back to LISTEN; the listener lives on in the stack.
                self.stats.embryonic_rsts += 1;
                self.set_state(State::Closed, "rcvd RST (passive open)");
            }
            State::SynReceived => self.fail(Error::Refused, "rcvd RST"),
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                self.sendq.ack(usize::MAX);
                self.fail(Error::Reset, "rcvd RST");
            }
            State::Closing | State::LastAck => self.set_state(State::Closed, "rcvd RST"),
            _ => {}
        }
    }

    /// Fifth step for synchronized states. Returns false when the segment is to be dropped.
    fn process_ack(&mut self, now: Instant, seg: &Segment<'_>, seq: SeqNum, ack: SeqNum) -> bool {
        // RFC 5961 §5.2 (MAY-12): ACKs outside [SND.UNA - MAX.SND.WND, SND.NXT] are dropped
        // with an ACK; ACKs of unsent data likewise (RFC 9293).
        let oldest = self.snd_una - self.max_snd_wnd;
        if ack.gt(self.snd_max) || ack.lt(oldest) {
            if ack.lt(oldest) || self.cfg.answer_unsent_ack {
                self.challenge_ack(now);
            }
            return false;
        }
        self.last_ack_rx = now;
        self.release_more();
        let window = u32::from(seg.window) << self.snd_wscale;
        let advanced = self.snd_una.lt(ack);
        // The peer answers: zero-window probes are no longer unanswered (Linux resets
        // icsk_probes_out on every acceptable ACK).
        self.probes_out = 0;
        if advanced {
            self.probes_since = None;
        }
        let flight_before = self.snd_max.since(self.snd_una);
        let mut acked = 0;
        if advanced {
            acked = ack.since(self.snd_una);
            // Our FIN counts one in sequence space but has no byte in the buffer.
            let fin_acked = self.fin_seq.is_some_and(|f| f.lt(ack));
            let bytes = acked - u32::from(fin_acked);
            self.sendq.ack(bytes as usize);
            self.stats.bytes_acked += u64::from(bytes);
            if self.nospace && self.sndbuf_writable() {
                // tcp_check_space: the writer is woken; the send buffer no longer limits.
                self.nospace = false;
                let empty = self.sendq.is_empty();
                self.chrono.stop(now, ChronoKind::SndbufLimited, empty);
            }
            self.snd_una = ack;
            self.autotune_on_ack();
            if self.snd_nxt.lt(ack) {
                self.snd_nxt = ack;
            }
            self.on_new_ack_timing(now, seg, ack);
            if self.snd_up.is_some_and(|up| up.le(self.snd_una)) {
                self.snd_up = None;
            }
            self.retries = 0;
            self.first_rto_at = None;
            self.mtu_probe_on_ack(now);
            if self.snd_una == self.snd_max {
                self.disarm(Timer::Retransmit);
                // tcp_clean_rtx_queue emptied the retransmission queue.
                self.chrono
                    .stop(now, ChronoKind::Busy, self.sendq.is_empty());
            } else {
                self.arm(Timer::Retransmit, self.rto_deadline(now));
            }
        }
        if self.snd_una.le(ack) {
            self.on_ack_loss_recovery(now, seg, ack, advanced, acked, window, flight_before);
        } else if self.sack_ok && !seg.options.sack.as_slice().is_empty() {
            // An ACK below SND.UNA (reordered, still within RFC 5961's range) may bring SACK
            // blocks: RFC 6675 §5 updates the scoreboard on "any ACK containing SACK
            // information", and what it newly SACKs counts as delivered (Linux `tcp_ack`'s
            // `old_ack` path). It does not grow cwnd.
            self.on_ack_loss_recovery(now, seg, ack, false, 0, window, flight_before);
        }
        // Window update (RFC 9293 §3.10.7.4): only from a newer segment, never an old ACK.
        let newer = self.snd_wl1.lt(seq) || (self.snd_wl1 == seq && self.snd_wl2.le(ack));
        if self.snd_una.le(ack) && newer {
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            if window > 0 {
                self.disarm(Timer::Persist);
                self.persist_backoff = 0;
                self.probes_since = None;
            }
        }
        let fin_acked = self.fin_seq.is_some_and(|f| f.lt(self.snd_una));
        match self.state {
            State::FinWait1 if fin_acked => {
                self.set_state(State::FinWait2, "our FIN acked");
            }
            State::Closing if fin_acked => {
                self.enter_time_wait(now, "our FIN acked");
            }
            State::LastAck if fin_acked => {
                self.set_state(State::Closed, "our FIN acked");
                return false;
            }
            _ => {}
        }
        true
    }

    /// RTT sample on an ACK of new data: from the timestamp echo (RFC 7323 §4) or from the
    /// one timed segment (Karn: never from a retransmission, RFC 6298 §3).
    fn on_new_ack_timing(&mut self, now: Instant, seg: &Segment<'_>, ack: SeqNum) {
        self.last_ack_rx = now;
        let mut sample = None;
        if self.ts_ok {
            if let Some(ts) = seg.options.timestamps {
                // Deviation: RFC 7323 §4.3 takes the echo whatever it is; an echo older than
                // our last retransmission timeout is not taken (as Eifel, RFC 3522, reads
                // it: it names a transmission from before the timeout, whose ACK was lost).
                // Its "RTT" is the ACK loss plus our backoff, and feeding it back inflated
                // the next RTO: a loss grid run at 20% loss spiralled to a 120 s RTO on
                // samples of 1 to 176 s over a 10 ms path.
                let stale = self
                    .last_rto_at
                    .is_some_and(|t| (ts.tsecr.wrapping_sub(self.ts_now(t)) as i32) < 0);
                if ts.tsecr != 0 && !stale {
                    let ms = self.ts_now(now).wrapping_sub(ts.tsecr);
                    if ms < 60_000 {
                        sample = Some(Duration::from_millis(u64::from(ms)));
                    }
                }
            }
        }
        if let Some((probe, sent)) = self.rtt_probe {
            if probe.le(ack) {
                self.rtt_probe = None;
                if sample.is_none() {
                    sample = Some(now.saturating_since(sent));
                }
            }
        }
        if let Some(r) = sample {
            self.rtt.on_sample(r);
            self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
        }
    }

    /// Loss detection and congestion control on an ACK that is not old: the SACK
    /// scoreboard (RFC 6675), duplicate ACKs (RFC 5681 §3.2), entering and leaving fast
    /// recovery, NewReno partial ACKs (RFC 6582) for peers without SACK, and cwnd growth.
    #[allow(clippy::too_many_arguments)]
    fn on_ack_loss_recovery(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        ack: SeqNum,
        advanced: bool,
        acked: u32,
        window: u32,
        flight_before: u32,
    ) {
        // An ACK below SND.UNA that SACKs (see `process_ack`): the scoreboard, RACK and PRR
        // take it; cwnd growth, HyStart and the rate sample do not (nor Linux's `old_ack`).
        let old_ack = ack.lt(self.snd_una);
        let mut newly_sacked = 0;
        // Bytes this ACK newly delivered (RFC 6675 / RFC 5681 byte counting): the cumulative
        // advance plus the change in SACKed bytes above SND.UNA. Bytes SACKed earlier and
        // cumulatively acknowledged now were credited when SACKed: `acked + newly_sacked`
        // counted them twice.
        let sacked_before = self.sb.sacked_bytes();
        let mut sacked_after = sacked_before;
        let blocks = seg.options.sack.as_slice();
        let mut dsack = None;
        // F-RTO: original data (sent before the timeout, never resent) this ACK delivered.
        let orig_before = self.frto_orig_before(acked);
        if self.sack_ok {
            self.note_dsack(ack, blocks);
            let mut b = [(SeqNum(0), SeqNum(0)); 4];
            for (i, blk) in blocks.iter().enumerate().take(4) {
                b[i] = (SeqNum(blk.left), SeqNum(blk.right));
            }
            let u = self
                .sb
                .update(self.snd_una, self.snd_max, &b[..blocks.len().min(4)]);
            newly_sacked = u.newly_sacked;
            sacked_after = u.sacked_above_una;
            dsack = u.dsack;
            if u.reneged && advanced {
                // RFC 2018 §8: the receiver may have dropped SACKed data. As Linux
                // (`tcp_check_sack_reneging`): the SACKs stay (RFC 6675 §5.1: nothing SACKed
                // is resent), the timer is cut to max(SRTT/2, 10 ms), and the timeout
                // forgets them if the head is still SACKed then (`on_rto`); a later ACK
                // past the range ends it with nothing resent.
                let half = Duration::from_micros(self.rtt.srtt().map_or(0, |d| d.micros() / 2));
                let at = now + half.max(Duration::from_millis(10));
                if self.timers[Timer::Retransmit as usize].is_none_or(|t| at < t) {
                    self.arm(Timer::Retransmit, at);
                }
            }
        }
        let mut rs = self
            .rate
            .on_ack(now, self.snd_una, self.sb.ranges(), self.min_rtt);
        let in_rto_recovery = self.rack.in_rto_recovery();
        let newly_lost = self.rack_on_ack(now, seg, advanced, dsack);
        if in_rto_recovery && !self.rack.in_rto_recovery() {
            self.cc.on_rto_recovery_end(now);
        }
        rs.lost = newly_lost.saturating_mul(self.smss);
        if let Some(rtt) = rs.rtt.filter(|_| !old_ack) {
            // Linux's pkts_acked hook, before cwnd grows (HyStart, `hystart_linux.rs`).
            // hystart_ack_delay: min(1 ms, 4 GSO super-segments at the pacing rate).
            let gso = self.cfg.gso_max_payload.max(self.smss as usize) as u64;
            let ack_delay = match self.pacing_rate {
                0 => Duration::from_millis(1),
                r => Duration::from_micros((gso * 4 * 1_000_000 / r).min(1000)),
            };
            let paced = self.pacing_rate > 0;
            self.cc
                .on_rtt_sample(now, self.snd_una, self.snd_nxt, rtt, paced, ack_delay);
        }
        // RFC 5681 §2 duplicate ACK, or (RFC 6675 §2) any ACK bringing new SACK information.
        let dup = !advanced
            && ack == self.snd_una
            && self.snd_max.gt(self.snd_una)
            && seg.payload.is_empty()
            && !seg.flags.fin()
            && window > 0
            && (newly_sacked > 0 || (blocks.is_empty() && window == self.snd_wnd));
        let prior_dupacks = self.dupacks;
        if advanced {
            self.dupacks = 0;
        } else if dup {
            self.dupacks += 1;
        }
        let facts = AckFacts {
            advanced,
            dup,
            newly_sacked,
            orig_delivered: self.frto_orig_delivered(orig_before),
        };
        self.undo_on_ack(seg, facts);
        let smss = self.smss;
        let mut delivered = (u64::from(acked) + u64::from(sacked_after))
            .saturating_sub(u64::from(sacked_before))
            .min(u64::from(u32::MAX)) as u32;
        if !self.sack_ok && advanced && prior_dupacks > 0 {
            // Without SACK each duplicate ACK stood for one segment delivered (RFC 9937
            // §5); the ACK that fills the hole delivered the rest, at least one segment
            // (as Linux's tcp_remove_reno_sacks).
            let counted = prior_dupacks.saturating_mul(smss);
            delivered = delivered.saturating_sub(counted).max(smss.min(delivered));
        }
        let in_recovery = self.recovery.is_some();
        let in_cwr = self.in_cwr();
        match self.recovery {
            Some(r) if self.snd_una.ge(r.point) => {
                // RFC 6675 §5 / RFC 6582 §3.2: the recovery point is acknowledged.
                self.recovery = None;
                self.cc.on_recovery_end(now);
                self.rack.recovery_ended();
            }
            Some(mut r) if advanced => {
                // A partial ACK: the next hole goes out now (RFC 6582 §3.2 step 3); with SACK
                // the scoreboard picks it (RFC 6675 NextSeg).
                if r.high_rxt.lt(self.snd_una) {
                    r.high_rxt = self.snd_una;
                }
                self.recovery = Some(r);
                if !self.sack_ok && self.resent_since_rto().is_none() {
                    self.retransmit_one = true;
                }
            }
            Some(_) => {}
            None if self.rack_on() => {
                // RFC 8985: RACK's marks start recovery.
                if self.rack_lost_starts_recovery() {
                    self.enter_recovery(now);
                }
            }
            None => {
                let lost = self.sack_ok && self.sb.is_lost(self.snd_una, smss, 3);
                if (self.dupacks >= 3 || lost) && self.snd_max.gt(self.snd_una) {
                    // RFC 6675 §5 step 4 / RFC 5681 §3.2: enter fast recovery, resend the
                    // first unacknowledged segment at once.
                    self.enter_recovery(now);
                }
            }
        }
        self.rack_after_ack(now, advanced);
        // RFC 3168 §6.1.2: the end of CWR, then ECE (`ecn.rs`).
        self.ecn_on_ack(now, seg, delivered);
        self.cwr_on_ack(delivered);
        if let Some(r) = self.recovery.as_mut() {
            if !in_recovery && !in_cwr {
                // RFC 9937: RecoverFS counts what this ACK delivered too.
                r.recover_fs = r.recover_fs.saturating_add(delivered);
            }
            if !self.sack_ok && dup {
                // RFC 9937 without SACK: a duplicate ACK delivered one segment.
                delivered = smss;
            }
            // "No further loss": nothing newly marked lost (RACK) or newly SACKed above a
            // hole (DupThresh), as Linux's `!newly_lost`.
            let more_loss = if self.rack_on() {
                newly_lost > 0
            } else {
                newly_sacked > 0
            };
            self.prr_on_ack(delivered, advanced && !more_loss);
        }
        // RFC 5681 §3.1: cwnd grows on ACKs that cumulatively acknowledge new data, not on
        // duplicate ACKs that only SACK (Linux `tcp_may_raise_cwnd`). Deviation, as Linux:
        // once reordering beyond DupThresh was measured, SACK-only ACKs grow it too, as
        // most deliveries then arrive as SACKs and cwnd would stall.
        let may_raise = advanced || (self.rack_on() && self.rack.reordering() > 3 && !old_ack);
        let reducing = self.recovery.is_some() || self.in_cwr();
        if !reducing && delivered > 0 && may_raise {
            // RFC 7661 §4.3: cwnd is validated (may grow) while at least half of it was
            // used; as Linux's tcp_is_cwnd_limited, in slow start only: cwnd grows while
            // below twice the most in flight during the last window (`max_packets_out`).
            let validated = self.cc.in_slow_start()
                && u64::from(self.cc.cwnd()) < 2 * u64::from(self.max_flight);
            let limited = self.cwnd_limited || flight_before >= self.cc.cwnd() || validated;
            self.cc
                .on_ack(now, delivered, self.rtt.srtt(), self.min_rtt, limited);
        }
        if !old_ack {
            self.on_rate_sample(now, &rs);
        }
    }

    /// Where the go-back-N resend after a retransmission timeout has reached, when it is
    /// under way and has resent SND.UNA (SND.UNA < SND.NXT < SND.MAX).
    fn resent_since_rto(&self) -> Option<SeqNum> {
        (self.snd_una.lt(self.snd_nxt) && self.snd_nxt.lt(self.snd_max)).then_some(self.snd_nxt)
    }

    /// RFC 2883 §4: a first SACK block below the cumulative ACK, or inside the second
    /// block, reports data received twice (D-SACK); counted in segments, as Linux does.
    fn note_dsack(&mut self, ack: SeqNum, blocks: &[crate::wire::SackBlock]) {
        let Some(first) = blocks.first() else { return };
        let (l, r) = (SeqNum(first.left), SeqNum(first.right));
        let inside_second = blocks
            .get(1)
            .is_some_and(|b| SeqNum(b.left).le(l) && r.le(SeqNum(b.right)));
        let sent = self.iss.lt(l) && r.le(self.snd_max);
        if l.lt(r) && sent && (r.le(ack) || inside_second) {
            let dups = r.since(l).div_ceil(self.smss.max(1));
            self.stats.dsack_dups += u64::from(dups);
            self.undo_on_dsack(r, dups);
        }
    }

    fn note_urgent(&mut self, seg: &Segment<'_>, seq: SeqNum) {
        if !seg.flags.urg() || !self.state.can_receive_data() && self.state != State::SynReceived {
            return;
        }
        // MUST-62: the pointer names the first octet after the urgent data.
        let up = seq + u32::from(seg.urgent);
        if self.rcv_up.is_none_or(|old| up.gt(old)) {
            self.rcv_up = Some(up);
            self.events.push_back(Event::Urgent(up)); // MUST-32: once per advance
        }
    }

    /// Seventh step: place the text, advance RCV.NXT, decide when to ACK.
    fn on_data(&mut self, now: Instant, seq: SeqNum, ack: SeqNum, payload: &[u8]) {
        if !self.state.can_receive_data() {
            return; // after the peer's FIN, text is ignored (RFC 9293 §3.10.7.4)
        }
        if self.app_closed {
            // RFC 2525 §2.17 / SHLD-3: nobody will read this; tell the peer with a RST. It
            // takes the reset-generation form <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.5.2): the
            // peer's RCV.NXT as it just told us, which RFC 5961 §3.2 needs exactly; SND.NXT
            // may be past it (a FIN not yet acknowledged) and draw a challenge ACK instead.
            self.rst = Some((ack, None));
            self.stats.abort_on_data += 1;
            self.fail(Error::Aborted, "data after close");
            return;
        }
        let offset = seq.since(self.rcv_nxt) as usize;
        let had_hole = self.recvq.has_ooo();
        let unread = self.recvq.readable();
        let advanced = self.recvq.insert(offset, payload);
        if let Some((a, b)) = self.recvq.last_dup() {
            // RFC 2883 §4: a duplicate of data held out of order.
            self.note_duplicate(self.rcv_nxt + a as u32, self.rcv_nxt + b as u32);
        }
        self.stats.bytes_received += advanced as u64;
        let idle = now.saturating_since(self.last_data_rx);
        self.last_data_rx = now;
        self.rcv_mss = self
            .rcv_mss
            .max((payload.len() as u32).min(u32::from(self.cfg.mss)));
        if offset > 0 {
            self.stats.ofo_queue += 1;
        } else if unread > 0 && advanced > 0 {
            self.stats.rcv_coalesce += 1;
        }
        if advanced > 0 {
            self.rcv_nxt += advanced as u32;
            self.autotune_on_data(now);
        }
        if offset > 0 || had_hole {
            // RFC 5681 §4.2: out-of-order data, and data filling a hole, are ACKed at once
            // (unless SACK compression holds the ACK).
            // The block the segment landed in: itself alone when it opened a new range.
            let alone = self.recvq.sack_blocks().next() == Some((offset, offset + payload.len()));
            if !self.compress_sack(now, alone) {
                self.ack_now = true;
                self.ack_per_segment = true;
            }
        } else {
            if advanced > 0 && (!self.data_seen || idle > self.rtt.rto()) {
                // Quick-ACK mode, as Linux's tcp_event_data_recv: the first data of a
                // connection, and the first after an idle RTO, are ACKed at once so the
                // sender's slow start is not held back by delayed ACKs (RFC 5681 §4.2
                // allows ACKing more often than every second segment).
                self.data_seen = true;
                self.incr_quick_acks();
            }
            // RFC 5681 §4.2 / SHLD-19: at least every second full-sized segment. A
            // super-segment from an offloading device (GRO/TSO) counts as the full-sized
            // segments it holds, so it is ACKed at once, as Linux does.
            let full = payload.len() / usize::from(self.cfg.mss.max(1));
            self.delack_segs += full.max(1) as u32;
            if self.delack_segs >= 2 || (self.quick_acks > 0 && !self.pingpong) {
                self.ack_now = true;
                self.space_batch_acks(now, payload.len());
            } else if !self.armed(Timer::DelayedAck) {
                self.arm(Timer::DelayedAck, now + self.cfg.delayed_ack);
            }
        }
    }

    /// In-order data read in one batch (the runtime hands the stack up to 256 packets at
    /// one instant before it polls) used to draw one cumulative ACK for the whole batch.
    /// When the batch was a small sender's whole flight, that one ACK clocked out the next
    /// flight as one burst, and its loss stalled the sender until a tail loss probe (whose
    /// lone segment then waited for the delayed ACK): 1% loss each way measured 290 Mbit/s,
    /// 690 with this spacing (README, issue 17). So the ACK owed here is set apart from
    /// the later ones (`ack_per_segment`) after 2, 4, 8, ... segments since the last one
    /// of this batch: Linux-like (RFC 5681 §4.2, every second segment) for the first few, and
    /// log2(n) ACKs for a batch of n, so a stack busy enough to read large batches keeps most
    /// of the batching's gain. Only full-sized segments count (RFC 5681 §4.2's rule is for
    /// them; smaller ones keep one ACK per batch, MUST-58/59), and not a super-segment (an
    /// offloading device's, ACKed whole).
    /// Deviation: RFC 5681 §4.2 SHOULD ACK every second full-sized segment; past the first
    /// two ACKs of a batch we stretch more, as Linux's GRO and backlog coalescing do.
    fn space_batch_acks(&mut self, now: Instant, len: usize) {
        if len < self.rcv_mss as usize || len > usize::from(self.cfg.mss) {
            return;
        }
        let n = if self.batch_acks.0 == now {
            self.batch_acks.1
        } else {
            0
        };
        if self.delack_segs >= 2 << n.min(7) {
            self.ack_per_segment = true;
            self.batch_acks = (now, n + 1);
        }
    }

    /// SACK compression, as Linux's `__tcp_ack_snd_check` (`tcp_comp_sack_nr`): whether the
    /// ACK owed to this out-of-order segment is held. While out-of-order data is held and
    /// the peer uses SACK, the first three ACKs for one RCV.NXT go at once (a DupThresh
    /// sender's fast retransmit needs them); after those, ACKs are held until the
    /// `CompSack` timer (`comp_sack_delay` or 5% of the RTT, whichever is less) or
    /// `comp_sack_nr` of them, and the ACK that goes carries the SACK blocks of all. Only
    /// segments that extend a range already held are held this way (see `alone` below).
    /// Deviation: RFC 5681 §4.2 SHOULD send an immediate ACK for each out-of-order segment
    /// (RFC 2018 §4 in the SACK case); as Linux since 4.18, we merge them once the sender
    /// has had three. Measured: 1% loss each way with a Linux BBR sender (which keeps a
    /// hole open most of the time) drew an ACK for 88% of the data segments, and the TUN
    /// writes of those ACKs took most of our CPU (84% in the kernel).
    ///
    /// Unlike Linux, a segment that opens a new range (`alone`: a new hole below it) is
    /// ACKed at once: its block is news of a loss, and the ACKs held could push older
    /// blocks out of the three an ACK carries before they were ever reported (Linux sends
    /// the held ACK when its four-block list overflows). Measured first without this rule,
    /// with a Linux BBR sender at 10% loss: 42-48% of its segments into us were
    /// retransmissions, against 11-19% into Linux.
    fn compress_sack(&mut self, now: Instant, alone: bool) -> bool {
        if self.cfg.comp_sack_nr == 0 || !self.sack_ok || !self.recvq.has_ooo() {
            return false; // a hole just filled is ACKed at once (RFC 5681 §4.2)
        }
        if self.comp_rcv_nxt != self.rcv_nxt {
            self.comp_rcv_nxt = self.rcv_nxt;
            self.comp_dup_acks = 0;
        }
        if self.comp_dup_acks < 3 {
            self.comp_dup_acks += 1;
            return false;
        }
        if alone || self.compressed_acks >= self.cfg.comp_sack_nr {
            return false;
        }
        self.compressed_acks += 1;
        if !self.armed(Timer::CompSack) {
            // Linux: 5% of the lesser of the receiver's RTT and SRTT, at most the delay.
            let rtt = match (self.rcv_rtt_measured(), self.rtt.srtt()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let delay = rtt.map_or(self.cfg.comp_sack_delay, |r| {
                Duration::from_micros(r.micros() / 20).min(self.cfg.comp_sack_delay)
            });
            self.arm(Timer::CompSack, now + delay);
        }
        true
    }

    /// Linux's tcp_incr_quickack: half the window in receiver-MSS segments, at least 2, at
    /// most `Config::quick_acks`.
    fn incr_quick_acks(&mut self) {
        let wnd = self.recvq.window() as u32;
        let n = match wnd / (2 * self.rcv_mss.max(1)) {
            0 => 2,
            n => n,
        }
        .min(self.cfg.quick_acks);
        self.quick_acks = self.quick_acks.max(n);
    }

    /// Consumes a FIN once RCV.NXT has reached it (RFC 9293 §3.10.7.4 eighth step).
    fn try_consume_fin(&mut self, now: Instant) {
        let Some(fin) = self.rcv_fin else { return };
        if fin != self.rcv_nxt || self.peer_fin {
            return;
        }
        self.rcv_fin = None;
        self.peer_fin = true;
        self.rcv_nxt += 1;
        // Data the peer queued beyond its own FIN is not part of the stream (RFC 9293
        // §3.10.7.4 eighth step): dropped, as Linux's `tcp_fin` purges its out-of-order
        // queue, or its offsets, kept past RCV.NXT, would sit one past the window offered
        // (the stack fuzzer found it, twice).
        self.recvq.clear_ooo();
        self.ack_now = true;
        self.events.push_back(Event::PeerClosed);
        let fin_acked = self.fin_seq.is_some_and(|f| f.lt(self.snd_una));
        match self.state {
            State::SynReceived | State::Established => self.set_state(State::CloseWait, "rcvd FIN"),
            State::FinWait1 if fin_acked => self.enter_time_wait(now, "rcvd FIN"),
            State::FinWait1 => self.set_state(State::Closing, "rcvd FIN"),
            State::FinWait2 => self.enter_time_wait(now, "rcvd FIN"),
            _ => {}
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant, why: &str) {
        self.set_state(State::TimeWait, why);
        self.disarm(Timer::Retransmit);
        self.disarm(Timer::Persist);
        self.disarm(Timer::FinWait2);
        self.arm(Timer::TimeWait, now + self.cfg.msl * 2);
    }

    /// Runs after the handshake completes.
    fn after_established(&mut self, now: Instant) {
        self.first_syn_at = None;
        // "Last data received" starts here, as Linux sets `icsk_ack.lrcvtime` in
        // tcp_finish_connect and when a passive open completes (`tcpi_last_data_recv`).
        self.last_data_rx = now;
        self.retries = 0;
        if self.snd_una == self.snd_max {
            self.disarm(Timer::Retransmit);
        }
        if self.rtt.srtt().is_none() && self.rtt.backoff_count() > 0 {
            // RFC 6298 §5.7: our SYN or SYN-ACK timed out and no RTT was measured, so data
            // starts with an RTO of 3 s, not the 1 s initial one. Deviation: as Linux
            // (`tcp_init_metrics`), not when a timestamp echo measured the RTT across the
            // retransmission: the 3 s stands in for a missing sample.
            let (min, max) = (self.cfg.min_rto, self.cfg.max_rto);
            self.rtt = RttEstimator::new(self.cfg.initial_rto.max(SYN_LOST_RTO), min, max)
                .min_on_rttvar(self.cfg.rto_min_on_rttvar);
        }
        self.rtt.reset_backoff();
        self.update_pacing_rate();
        self.sndbuf_expand(); // Linux tcp_init_buffer_space
        self.mtu_probing_start(now);
        if self.fin_queued {
            // CLOSE was called in SYN-RECEIVED: the FIN goes out now (RFC 9293 §3.10.4).
            self.set_state(State::FinWait1, "close queued");
        }
    }
}
