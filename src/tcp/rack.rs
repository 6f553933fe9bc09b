//! RACK-TLP loss detection (RFC 8985), the sender's default with SACK (Linux
//! `tcp_recovery` = 1); RFC 6675's DupThresh stays as the fallback (`Config::recovery` 0).
//!
//! What it is: one record per segment sent, from SND.UNA to SND.MAX (its sequence range,
//! when it was last sent, and whether it is SACKed, marked lost, retransmitted); the RACK
//! state of §6.1 (the most recently sent segment delivered: its transmit time, end and RTT;
//! RACK.fack; whether reordering was seen; the reordering window's multiplier, §6.2 step 4);
//! and the TLP state of §7 (one probe per episode: its end and whether it resent data).
//!
//! What it does not do: choose what to send, change cwnd, arm timers or parse SACK blocks.
//! The connection (`recovery.rs`) calls [`Rack::on_send`] for every data segment,
//! [`Rack::on_ack`] for every acceptable ACK (after its scoreboard took the blocks),
//! [`Rack::detect`] when the reorder timer fires, [`Rack::on_rto`] on a timeout, and asks
//! [`Rack::pipe`] and [`Rack::next_lost`] what is in flight and what to resend.
//!
//! Memory: at most [`MAX_SEGS`] records (24 bytes each). At the bound, neighbours both
//! SACKed or both lost and not yet resent are merged first (nothing they tell is lost);
//! beyond that a new segment is merged into the last record and records are no longer
//! split at SACK edges: detection gets coarser (a record is SACKed only when all of it is),
//! never wrong in the unsafe direction (data is at worst resent late, by the RTO). Nothing
//! here panics on any input.

use super::seq::SeqNum;
use crate::time::{Duration, Instant};
use std::collections::VecDeque;

/// Most transmit records kept (see the module doc).
pub const MAX_SEGS: usize = 1024;

/// RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time added to the PTO when one
/// segment is in flight.
pub const WC_DEL_ACK: Duration = Duration::from_millis(200);

/// Deviation: as Linux (`TCP_TIMEOUT_MIN`), 2 ms are added to a PTO of more than one
/// segment, so a zero SRTT (a virtual or loopback path) does not probe at once.
const PTO_MIN_EXTRA: Duration = Duration::from_millis(2);

/// RFC 8985 §6.2 step 4: recoveries a grown reordering window outlives.
const REO_WND_PERSIST: u32 = 16;

/// RFC 8985 §6.2 step 5: with this many segments SACKed and no reordering seen, the
/// reordering window is zero (DupThresh, as RFC 6675).
const DUPTHRESH: u32 = 3;

/// The largest reordering degree kept, in segments (Linux `tcp_max_reordering`).
const MAX_REORDERING: u32 = 300;

/// One transmitted segment (or super-segment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seg {
    start: SeqNum,
    end: SeqNum,
    xmit: Instant,
    retrans: bool,
    lost: bool,
    sacked: bool,
}

impl Seg {
    fn len(&self) -> u32 {
        self.end.since(self.start)
    }
    /// Counted in flight (Linux: out - sacked - lost + retrans).
    fn in_flight(&self) -> bool {
        !self.sacked && (!self.lost || self.retrans)
    }
    /// Marked lost and not yet sent again.
    fn awaits_resend(&self) -> bool {
        !self.sacked && self.lost && !self.retrans
    }
    /// SACKed, lost or retransmitted: counted in `Rack::marked`.
    fn marked(&self) -> bool {
        self.sacked || self.lost || self.retrans
    }
}

/// RFC 8985 §6.2 RACK_sent_after: was (t1, s1) sent after (t2, s2)?
fn sent_after(t1: Instant, s1: SeqNum, t2: Instant, s2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && s1.gt(s2))
}

/// What one ACK (or reorder timeout) taught.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Records newly marked lost.
    pub newly_lost: u32,
    /// Of those, retransmissions found lost (Linux `TCPLostRetransmit`).
    pub lost_retransmits: u32,
    /// When to look again (the reorder timer), if some segment may yet be declared lost.
    pub reorder_timeout: Option<Duration>,
    /// RFC 8985 §7.4: a retransmitting probe repaired a loss; the caller reduces cwnd.
    pub tlp_repaired_loss: bool,
}

/// What the connection knows at an ACK.
#[derive(Clone, Copy, Debug)]
pub struct AckInput {
    /// The time of the ACK.
    pub now: Instant,
    /// After this ACK.
    pub snd_una: SeqNum,
    /// SND.NXT after this ACK.
    pub snd_nxt: SeqNum,
    /// SND.UNA moved.
    pub advanced: bool,
    /// The ACK's D-SACK block (RFC 2883), if any.
    pub dsack: Option<(SeqNum, SeqNum)>,
    /// The smallest RTT sampled.
    pub min_rtt: Option<Duration>,
    /// The smoothed RTT.
    pub srtt: Option<Duration>,
    /// In fast recovery (RTO recovery is known here).
    pub in_recovery: bool,
    /// The sender's MSS.
    pub smss: u32,
    /// The ACK's timestamp echo, as the `Instant` it names at millisecond precision
    /// (RFC 8985 §6.2 step 2: an echo older than a retransmission means the original got
    /// through).
    pub echo: Option<Instant>,
}

/// RACK and TLP state for one connection. See the module documentation.
#[derive(Clone, Debug)]
pub struct Rack {
    segs: VecDeque<Seg>,
    /// Records SACKed, lost or retransmitted, and the bytes of all records: with none
    /// marked, every record is in flight and none awaits a resend, so `pipe` and
    /// `next_lost` need no scan (the common case without loss).
    marked: usize,
    bytes: u64,
    /// RACK.xmit_ts and RACK.end_seq: the most recently sent segment delivered.
    latest: Option<(Instant, SeqNum)>,
    /// RACK.rtt: the RTT of that segment.
    rtt: Duration,
    /// RACK.fack: the highest end delivered.
    fack: Option<SeqNum>,
    reordering_seen: bool,
    /// ACKs that showed reordering (`ss -i` reord_seen, Linux `tp->reord_seen`).
    reord_events: u32,
    /// The reordering degree in segments (Linux `tp->reordering`, `tcpi_reordering`): 3
    /// until a reordered delivery lies further below RACK.fack, and the lowest start of a
    /// reordered segment delivered by the ACK being processed.
    degree: u32,
    reord_low: Option<SeqNum>,
    /// RACK.reo_wnd_mult, RACK.reo_wnd_persist, RACK.dsack_round (§6.2 step 4).
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    dsack_round: Option<SeqNum>,
    /// SND.MAX when the last RTO fired, until SND.UNA passes it (RTO recovery).
    loss_point: Option<SeqNum>,
    /// TLP.end_seq and TLP.is_retrans (§7.1).
    tlp_end: Option<SeqNum>,
    tlp_retrans: bool,
    /// The PTO fired: the next send is the probe.
    tlp_due: bool,
    /// Linux `TCP_RACK_NO_DUPTHRESH`: no zero window at DupThresh SACKed segments.
    no_dupthresh: bool,
    /// RACK.rtt as Linux's `tcp_rack_advance` sets it (see [`Rack::linux_rtt`]).
    linux_rtt: bool,
    /// The segment being built is a piece of the probe (the first, or the second).
    probing: Option<ProbePiece>,
    /// The probe was new data and its second segment has not left yet (see
    /// [`Rack::take_probe_more`]).
    probe_more: bool,
}

/// Which segment of a tail loss probe is being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbePiece {
    /// The probe (counted in `TcpExtTCPLossProbes`).
    First,
    /// The second segment of a probe of new data (see [`Rack::set_probe_more`]).
    Second,
}

impl Default for Rack {
    fn default() -> Rack {
        Rack::new()
    }
}

impl Rack {
    /// RACK-TLP state for a new connection (nothing sent yet).
    pub fn new() -> Rack {
        Rack {
            segs: VecDeque::new(),
            marked: 0,
            bytes: 0,
            latest: None,
            rtt: Duration::ZERO,
            fack: None,
            reordering_seen: false,
            reord_events: 0,
            degree: DUPTHRESH,
            reord_low: None,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            dsack_round: None,
            loss_point: None,
            tlp_end: None,
            tlp_retrans: false,
            tlp_due: false,
            no_dupthresh: false,
            linux_rtt: false,
            probing: None,
            probe_more: false,
        }
    }

    /// With `on`, RACK.rtt is taken as Linux's `tcp_rack_advance` takes it: from the last
    /// segment an ACK delivers in Linux's order (the SACKed ones, lowest first, then the
    /// cumulatively ACKed ones), whenever it was sent, not from the most recently sent one
    /// (RFC 8985 §6.2 step 2). Deviation (off by default): after an ACK that delivers a
    /// resent hole together with an older original above it, Linux's RACK.rtt is the
    /// original's longer RTT, so it waits longer before marking later segments lost.
    pub fn linux_rtt(self, on: bool) -> Rack {
        Rack {
            linux_rtt: on,
            ..self
        }
    }

    /// As [`Rack::new`]; with `no_dupthresh` (Linux's `TCP_RACK_NO_DUPTHRESH`) the
    /// reordering window is not zeroed once DupThresh segments are SACKed.
    pub fn with_no_dupthresh(no_dupthresh: bool) -> Rack {
        Rack {
            no_dupthresh,
            ..Rack::new()
        }
    }

    /// Forgets every record and gives the memory back (the connection closed).
    pub fn clear(&mut self) {
        self.segs = VecDeque::new();
        self.marked = 0;
        self.bytes = 0;
        self.tlp_end = None;
        self.tlp_due = false;
        self.probe_more = false;
    }

    /// Records a data segment `[start, end)` (sequence space, FIN included) sent at `now`;
    /// what lies below `snd_max` (SND.MAX before this send) is a retransmission.
    pub fn on_send(&mut self, now: Instant, start: SeqNum, end: SeqNum, snd_max: SeqNum) {
        if !start.lt(end) {
            return;
        }
        if start.lt(snd_max) {
            let re_end = if end.lt(snd_max) { end } else { snd_max };
            self.mark_retransmitted(now, start, re_end);
        }
        if end.gt(snd_max) {
            let new_start = if start.gt(snd_max) { start } else { snd_max };
            self.push_new(now, new_start, end);
        }
    }

    fn push_new(&mut self, now: Instant, start: SeqNum, end: SeqNum) {
        let full = self.segs.len() >= MAX_SEGS;
        if let Some(last) = self.segs.back_mut() {
            if !last.end.le(start) {
                return; // already recorded (a caller bug): keep the records sorted
            }
            if full {
                // At the bound: the newest record grows instead (see the module doc).
                self.marked = self.marked.saturating_sub(usize::from(last.marked()));
                self.bytes += u64::from(end.since(last.end));
                *last = Seg {
                    end,
                    xmit: now,
                    retrans: false,
                    lost: false,
                    sacked: false,
                    ..*last
                };
                return;
            }
        }
        self.bytes += u64::from(end.since(start));
        self.segs.push_back(Seg {
            start,
            end,
            xmit: now,
            retrans: false,
            lost: false,
            sacked: false,
        });
    }

    /// Splits the record holding `seq` strictly inside it; false if at the bound.
    fn split_at(&mut self, seq: SeqNum) -> bool {
        let i = self.segs.partition_point(|s| s.end.le(seq));
        let Some(s) = self.segs.get(i).copied() else {
            return true;
        };
        if !(s.start.lt(seq) && seq.lt(s.end)) {
            return true;
        }
        if self.segs.len() >= MAX_SEGS {
            return false;
        }
        self.segs[i].end = seq;
        self.segs.insert(i + 1, Seg { start: seq, ..s });
        self.marked += usize::from(s.marked());
        true
    }

    fn mark_retransmitted(&mut self, now: Instant, start: SeqNum, end: SeqNum) {
        // At the bound an unsplit record would be marked resent whole, and pipe would
        // count all of it in flight (issue 17): make room first.
        self.make_room(2);
        self.split_at(start);
        self.split_at(end);
        let mut i = self.segs.partition_point(|s| s.end.le(start));
        while let Some(s) = self.segs.get_mut(i) {
            if !s.start.lt(end) {
                break;
            }
            if !s.sacked {
                self.marked += usize::from(!s.marked());
                s.xmit = now;
                s.retrans = true;
            }
            i += 1;
        }
    }

    /// RFC 8985 §6.2 steps 1-5 for one acceptable ACK; `sacked` are the scoreboard's SACKed
    /// ranges after it, lowest first.
    pub fn on_ack(
        &mut self,
        a: &AckInput,
        sacked: impl Iterator<Item = (SeqNum, SeqNum)>,
    ) -> Outcome {
        let mut out = Outcome::default();
        // The RTT of the last segment delivered by the cumulative ACK and by the SACK
        // blocks (for `linux_rtt`).
        let (mut cum_rtt, mut sack_rtt) = (None, None);
        // Step 1-3 for what the cumulative ACK delivered.
        while let Some(front) = self.segs.front().copied() {
            if front.end.le(a.snd_una) {
                self.segs.pop_front();
                self.marked = self.marked.saturating_sub(usize::from(front.marked()));
                self.bytes = self.bytes.saturating_sub(u64::from(front.len()));
                if !front.sacked {
                    cum_rtt = self.delivered(a, &front).or(cum_rtt);
                }
            } else {
                if front.start.lt(a.snd_una) {
                    if !front.sacked {
                        let part = Seg {
                            end: a.snd_una,
                            ..front
                        };
                        cum_rtt = self.delivered(a, &part).or(cum_rtt);
                    }
                    self.segs[0].start = a.snd_una;
                    self.bytes = self
                        .bytes
                        .saturating_sub(u64::from(a.snd_una.since(front.start)));
                }
                break;
            }
        }
        // ... and for what the SACK blocks delivered, splitting records at block edges.
        for (l, r) in sacked {
            self.make_room(2);
            self.split_at(l);
            self.split_at(r);
            let mut i = self.segs.partition_point(|s| s.end.le(l));
            while let Some(s) = self.segs.get(i).copied() {
                if !s.start.lt(r) {
                    break;
                }
                if !s.sacked && l.le(s.start) && s.end.le(r) {
                    self.marked += usize::from(!s.marked());
                    self.segs[i].sacked = true;
                    sack_rtt = self.delivered(a, &s).or(sack_rtt);
                }
                i += 1;
            }
        }
        if self.linux_rtt {
            if let Some(rtt) = cum_rtt.or(sack_rtt) {
                self.rtt = rtt;
            }
        }
        // Linux `tcp_check_sack_reordering`: the degree grows to the distance from the
        // lowest reordered start to RACK.fack, in segments (at most 300,
        // `tcp_max_reordering`).
        // `reord_seen` counts the ACKs that showed reordering, as Linux's does.
        if let (Some(low), Some(fack)) = (self.reord_low.take(), self.fack) {
            self.reord_events = self.reord_events.saturating_add(1);
            let metric = fack.since(low);
            if a.smss > 0 && metric > self.degree.saturating_mul(a.smss) {
                self.degree = metric.div_ceil(a.smss).min(MAX_REORDERING);
            }
        }
        if self.loss_point.is_some_and(|p| p.le(a.snd_una)) {
            self.loss_point = None;
            self.recovery_ended();
        }
        // Step 4: a D-SACK grows the reordering window, once per round trip.
        if self.dsack_round.is_some_and(|r| r.le(a.snd_una)) {
            self.dsack_round = None;
        }
        if a.dsack.is_some() && !self.reordering_seen {
            // Deviation: RFC 8985 §6.2 step 3 sees reordering only in an original delivered
            // below RACK.fack; a hole resent (spurious) before its late original arrived
            // never qualifies, and without reordering seen step 5 keeps the window at zero
            // in recovery and once 3 segments are SACKed, whatever step 4 grew. A D-SACK
            // shows the resend was not needed, so it counts as reordering seen, as other
            // implementations do; Linux gets there from the hole's timestamp echo
            // (`tcp_try_undo_partial` -> `tcp_check_sack_reordering`).
            self.reordering_seen = true;
            self.reord_events = self.reord_events.saturating_add(1);
        }
        if a.dsack.is_some() && self.dsack_round.is_none() {
            self.dsack_round = Some(a.snd_nxt);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1).min(255);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
        out.tlp_repaired_loss = self.tlp_on_ack(a);
        // The ACK the probe was for came first: no second probe segment.
        self.probe_more = false;
        // Step 5.
        let reo_wnd = self.reo_wnd(a.min_rtt, a.srtt, a.in_recovery, a.smss);
        self.detect_into(a.now, reo_wnd, &mut out);
        out
    }

    /// Steps 2 and 3 for one delivered segment; its RTT unless ambiguous.
    fn delivered(&mut self, a: &AckInput, s: &Seg) -> Option<Duration> {
        let rtt = a.now.saturating_since(s.xmit);
        // Step 2: an ACK for a retransmitted segment may be the original's: skip it when the
        // RTT is shorter than the minimum or the echo predates the retransmission.
        let ambiguous = s.retrans
            && (a.min_rtt.is_some_and(|m| rtt < m)
                || a.echo.is_some_and(|e| e.millis() < s.xmit.millis()));
        if !ambiguous
            && self
                .latest
                .is_none_or(|(t, e)| sent_after(s.xmit, s.end, t, e))
        {
            self.latest = Some((s.xmit, s.end));
            self.rtt = rtt;
        }
        // Step 3: a segment never retransmitted delivered below RACK.fack was reordered.
        match self.fack {
            Some(f) if s.end.lt(f) => {
                if !s.retrans {
                    if self.reord_low.is_none_or(|l| s.start.lt(l)) {
                        self.reord_low = Some(s.start);
                    }
                    self.reordering_seen = true;
                }
            }
            Some(f) if s.end.le(f) => {}
            _ => self.fack = Some(s.end),
        }
        (!ambiguous).then_some(rtt)
    }

    /// RFC 8985 §6.2 step 5 RACK_update_reo_wnd (with Linux's cap at SRTT).
    pub fn reo_wnd(
        &self,
        min_rtt: Option<Duration>,
        srtt: Option<Duration>,
        in_recovery: bool,
        smss: u32,
    ) -> Duration {
        if !self.reordering_seen && (in_recovery || self.loss_point.is_some()) {
            return Duration::ZERO;
        }
        if !self.reordering_seen && !self.no_dupthresh && self.sacked_segs(smss) >= DUPTHRESH {
            return Duration::ZERO;
        }
        let quarter = Duration::from_micros(min_rtt.unwrap_or(Duration::ZERO).micros() / 4);
        (quarter * self.reo_wnd_mult).min(srtt.unwrap_or(Duration::ZERO))
    }

    /// SACKed segments of at most `smss` (Linux `sacked_out`).
    fn sacked_segs(&self, smss: u32) -> u32 {
        if self.marked == 0 {
            return 0;
        }
        let smss = smss.max(1);
        self.segs
            .iter()
            .filter(|s| s.sacked)
            .map(|s| s.len().div_ceil(smss))
            .fold(0u32, u32::saturating_add)
    }

    /// The reorder timer fired (RFC 8985 §6.3): detect losses again.
    pub fn detect(
        &mut self,
        now: Instant,
        min_rtt: Option<Duration>,
        srtt: Option<Duration>,
        in_recovery: bool,
        smss: u32,
    ) -> Outcome {
        let mut out = Outcome::default();
        let reo_wnd = self.reo_wnd(min_rtt, srtt, in_recovery, smss);
        self.detect_into(now, reo_wnd, &mut out);
        out
    }

    /// RFC 8985 §6.2 step 5 RACK_detect_loss.
    fn detect_into(&mut self, now: Instant, reo_wnd: Duration, out: &mut Outcome) {
        let Some((xt, xe)) = self.latest else { return };
        let mut timeout = Duration::ZERO;
        for s in self.segs.iter_mut() {
            if s.sacked || (s.lost && !s.retrans) || !sent_after(xt, xe, s.xmit, s.end) {
                continue;
            }
            let deadline = s.xmit + self.rtt + reo_wnd;
            if deadline <= now {
                if s.retrans {
                    out.lost_retransmits += 1;
                } else {
                    self.marked += 1; // neither SACKed, lost nor resent before
                }
                s.lost = true;
                s.retrans = false;
                out.newly_lost += 1;
            } else {
                timeout = timeout.max(deadline - now);
            }
        }
        if timeout > Duration::ZERO {
            out.reorder_timeout = Some(timeout);
        }
    }

    /// A fast recovery ended (RFC 8985 §6.2 step 4: the grown window persists 16 of them).
    pub fn recovery_ended(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 1;
        }
    }

    /// The retransmission timer fired: everything not SACKed is lost (RFC 8985 §6.3, Linux
    /// `tcp_enter_loss`), RTO recovery lasts until SND.UNA passes `snd_max`, and any TLP
    /// episode ends.
    pub fn on_rto(&mut self, snd_max: SeqNum) {
        for s in self.segs.iter_mut().filter(|s| !s.sacked) {
            s.lost = true;
            s.retrans = false;
        }
        self.loss_point = Some(snd_max);
        self.tlp_end = None;
        self.tlp_due = false;
        self.probe_more = false;
        self.recount();
    }

    /// The reduction proved spurious (undo, `undo.rs`): nothing is marked lost any more and
    /// RTO recovery ends (Linux `tcp_undo_cwnd_reduction` clearing `TCPCB_LOST`).
    pub fn unmark_lost(&mut self) {
        for s in self.segs.iter_mut() {
            s.lost = false;
        }
        self.loss_point = None;
        self.recount();
    }

    /// The path MTU fell (Linux `tcp_simple_retransmit`): the records longer than `mss`
    /// and not SACKed are lost (the path drops them); if there are any, RTO-style recovery
    /// lasts until SND.UNA passes `snd_max`, so they are resent without starting a fast
    /// recovery and its window reduction. Returns how many were marked.
    pub fn mark_longer_lost(&mut self, mss: u32, snd_max: SeqNum) -> u32 {
        let mut n = 0;
        for s in self.segs.iter_mut().filter(|s| !s.sacked && s.len() > mss) {
            s.lost = true;
            s.retrans = false;
            n += 1;
        }
        if n > 0 {
            self.recount();
            self.loss_point = Some(snd_max);
            self.tlp_end = None;
            self.tlp_due = false;
            self.probe_more = false;
        }
        n
    }

    /// The receiver reneged (RFC 2018 §8): nothing counts as SACKed any more.
    pub fn forget_sacks(&mut self) {
        for s in self.segs.iter_mut() {
            s.sacked = false;
        }
        self.recount();
    }

    /// Room for `splits` more records, if merging can make it (see `compact`).
    fn make_room(&mut self, splits: usize) {
        if self.segs.len() + splits > MAX_SEGS {
            self.compact();
        }
    }

    /// Merges adjacent records that are both SACKed or both lost and not yet resent:
    /// neither is in flight nor judged by its send time (RFC 8985 §6.2 step 5 skips
    /// them), so nothing but the record count changes. After a timeout every unSACKed
    /// record is lost: at [`MAX_SEGS`] this frees the room go-back-N needs to split off
    /// the segment it resends.
    fn compact(&mut self) {
        let n = self.segs.len();
        let mut w = 0;
        for r in 0..n {
            let s = self.segs[r];
            if w > 0 {
                let last = &mut self.segs[w - 1];
                let alike =
                    (last.sacked && s.sacked) || (last.awaits_resend() && s.awaits_resend());
                if alike && last.end == s.start {
                    last.end = s.end;
                    last.xmit = last.xmit.max(s.xmit);
                    continue;
                }
            }
            self.segs[w] = s;
            w += 1;
        }
        self.segs.truncate(w);
        self.recount();
    }

    /// Counts the marked records again (after a change to many of them).
    fn recount(&mut self) {
        self.marked = self.segs.iter().filter(|s| s.marked()).count();
    }

    /// In RTO recovery (SND.UNA below SND.MAX of the last timeout).
    pub fn in_rto_recovery(&self) -> bool {
        self.loss_point.is_some()
    }

    /// Bytes in flight: sent, not SACKed, and not lost unless sent again.
    pub fn pipe(&self) -> u32 {
        if self.marked == 0 {
            return self.bytes.min(u64::from(u32::MAX)) as u32;
        }
        self.segs
            .iter()
            .filter(|s| s.in_flight())
            .map(|s| u64::from(s.len()))
            .sum::<u64>()
            .min(u64::from(u32::MAX)) as u32
    }

    /// The lowest record marked lost and not yet resent: `(start, length)`.
    pub fn next_lost(&self) -> Option<(SeqNum, u32)> {
        if self.marked == 0 {
            return None;
        }
        self.segs
            .iter()
            .find(|s| s.awaits_resend())
            .map(|s| (s.start, s.len()))
    }

    /// Some record is marked lost and not yet resent.
    pub fn has_lost(&self) -> bool {
        self.marked > 0 && self.segs.iter().any(Seg::awaits_resend)
    }

    /// Segments marked lost now, in SMSS units (`ss -i` lost, Linux `lost_out`).
    pub fn lost_segs(&self, smss: u32) -> u32 {
        if self.marked == 0 {
            return 0;
        }
        let smss = smss.max(1);
        self.segs
            .iter()
            .filter(|s| s.lost && !s.sacked)
            .map(|s| s.len().div_ceil(smss))
            .fold(0u32, u32::saturating_add)
    }

    /// The reordering degree in segments (Linux `tcpi_reordering`; see `degree`).
    pub fn reordering(&self) -> u32 {
        self.degree
    }

    /// Reordering noticed (RACK.reordering_seen) this many times (`ss -i` reord_seen).
    pub fn reord_seen(&self) -> u32 {
        self.reord_events
    }

    /// Records held (for tests and memory bounds).
    pub fn len(&self) -> usize {
        self.segs.len()
    }

    /// Nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    // ---- TLP (RFC 8985 §7) ----

    /// §7.2 TLP_calc_PTO, before the cap at the RTO's expiry (the caller's): 2*SRTT, plus
    /// WCDelAckT when one segment is in flight; 1 s without an RTT sample.
    pub fn pto(srtt: Option<Duration>, one_segment: bool) -> Duration {
        match srtt {
            Some(s) if one_segment => s * 2 + WC_DEL_ACK,
            Some(s) => s * 2 + PTO_MIN_EXTRA,
            None => Duration::from_secs(1),
        }
    }

    /// No probe is outstanding: a PTO may be armed (one probe per episode).
    pub fn tlp_armable(&self) -> bool {
        self.tlp_end.is_none() && !self.tlp_due && self.loss_point.is_none()
    }

    /// The PTO fired: the next segment sent is the probe.
    pub fn set_tlp_due(&mut self) {
        self.tlp_due = true;
    }

    /// Takes the probe request (the caller sends the probe or finds nothing to send).
    pub fn take_tlp_due(&mut self) -> bool {
        std::mem::take(&mut self.tlp_due)
    }

    /// The segment about to be built is the probe (`take_probing` tells the builder).
    pub fn start_probe(&mut self) {
        self.probing = Some(ProbePiece::First);
    }

    /// The probe is new data and one more new segment may follow it, outside cwnd.
    ///
    /// Deviation from RFC 8985 §7.3 (one segment): a receiver that delays ACKs (RFC 5681
    /// §4.2 asks for an ACK of at least every second full-sized segment; Linux delays a
    /// lone one 40 ms, others 200 ms) answers one in-order segment only when its timer
    /// fires. That is the common case of a probe of new data: the flight arrived and its
    /// ACK was lost (a Linux receiver reading in bursts sends one ACK per read, so one
    /// loss takes a whole flight's ACKs). Two segments draw the ACK at once, which either
    /// reports the flight delivered or SACKs past the hole. Measured on the TUN path at 1%
    /// loss each way: the lone probe's ACK came 40-43 ms later, 4-5 times per 10 MiB.
    pub fn set_probe_more(&mut self) {
        self.probe_more = true;
    }

    /// Whether the probe's second segment is still to go; the segment about to be built
    /// is then that one (see [`Rack::set_probe_more`]).
    pub fn take_probe_more(&mut self) -> bool {
        let more = std::mem::take(&mut self.probe_more);
        if more {
            self.probing = Some(ProbePiece::Second);
        }
        more
    }

    /// Which piece of a probe is being built, if any; clears it.
    pub fn take_probing(&mut self) -> Option<ProbePiece> {
        self.probing.take()
    }

    /// §7.3: the probe left; the episode lasts until its end is acknowledged.
    pub fn on_probe_sent(&mut self, snd_nxt: SeqNum, retransmission: bool) {
        self.tlp_end = Some(snd_nxt);
        self.tlp_retrans = retransmission;
    }

    /// A fast recovery began: it ends any TLP episode (Linux `tcp_init_cwnd_reduction`).
    pub fn end_tlp_episode(&mut self) {
        self.tlp_end = None;
        self.tlp_due = false;
        self.probe_more = false;
    }

    /// The last record: `(start, end)` of the highest segment sent.
    pub fn last_seg(&self) -> Option<(SeqNum, SeqNum)> {
        self.segs.back().map(|s| (s.start, s.end))
    }

    /// §7.4 TLP loss detection, as Linux `tcp_process_tlp_ack`: true when the probe
    /// resent data and the ACK went past it without a D-SACK saying both copies arrived.
    fn tlp_on_ack(&mut self, a: &AckInput) -> bool {
        let Some(end) = self.tlp_end else {
            return false;
        };
        if a.snd_una.lt(end) {
            return false;
        }
        if !self.tlp_retrans || a.dsack.is_some_and(|(_, r)| r.ge(end)) {
            // New data probed, or both the original and the probe arrived: no loss.
            self.tlp_end = None;
            return false;
        }
        if a.snd_una.gt(end) {
            self.tlp_end = None;
            return true;
        }
        if !a.advanced {
            // A duplicate ACK at the probe's end: the probe arrived after the original.
            self.tlp_end = None;
        }
        false
    }

    /// Records sorted, disjoint, inside `[snd_una, snd_max]`, within [`MAX_SEGS`].
    pub fn check_invariants(&self, snd_una: SeqNum, snd_max: SeqNum) -> Result<(), String> {
        if self.segs.len() > MAX_SEGS {
            return Err(format!("rack: {} records > {MAX_SEGS}", self.segs.len()));
        }
        let mut prev = snd_una;
        for s in &self.segs {
            if s.start.lt(prev) || !s.start.lt(s.end) || s.end.gt(snd_max) {
                return Err(format!(
                    "rack record [{}, {}) after {} (SND.UNA {}, SND.MAX {})",
                    s.start.0, s.end.0, prev.0, snd_una.0, snd_max.0
                ));
            }
            prev = s.end;
        }
        let marked = self.segs.iter().filter(|s| s.marked()).count();
        let bytes: u64 = self.segs.iter().map(|s| u64::from(s.len())).sum();
        if (marked, bytes) != (self.marked, self.bytes) {
            return Err(format!(
                "rack: {} marked records and {} bytes counted, {marked} and {bytes} held",
                self.marked, self.bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn input(now: u64, una: u32, nxt: u32) -> AckInput {
        AckInput {
            now: ms(now),
            snd_una: SeqNum(una),
            snd_nxt: SeqNum(nxt),
            advanced: true,
            dsack: None,
            min_rtt: Some(Duration::from_millis(20)),
            srtt: Some(Duration::from_millis(20)),
            in_recovery: false,
            smss: 100,
            echo: None,
        }
    }

    /// Ten segments of 100 bytes from 0, sent at `t`.
    fn ten(t: u64) -> Rack {
        let mut r = Rack::new();
        for i in 0..10u32 {
            r.on_send(
                ms(t),
                SeqNum(i * 100),
                SeqNum(i * 100 + 100),
                SeqNum(i * 100),
            );
        }
        r
    }

    fn sacks(b: &[(u32, u32)]) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        b.iter().map(|&(l, r)| (SeqNum(l), SeqNum(r)))
    }

    #[test]
    fn a_hole_below_three_sacked_segments_is_lost_at_once() {
        let mut r = ten(0);
        let o = r.on_ack(&input(20, 100, 1000), sacks(&[(200, 500)]));
        assert_eq!(o.newly_lost, 1);
        assert_eq!(r.next_lost(), Some((SeqNum(100), 100)));
        // In flight: 500..1000 (5 segments); 100..200 lost, 200..500 SACKed.
        assert_eq!(r.pipe(), 500);
        r.check_invariants(SeqNum(100), SeqNum(1000)).unwrap();
    }

    #[test]
    fn one_sacked_segment_waits_a_quarter_of_min_rtt() {
        let mut r = ten(0);
        let o = r.on_ack(&input(20, 100, 1000), sacks(&[(200, 300)]));
        assert_eq!(o.newly_lost, 0);
        assert_eq!(o.reorder_timeout, Some(Duration::from_millis(5)));
        let (m, s) = (
            Some(Duration::from_millis(20)),
            Some(Duration::from_millis(20)),
        );
        assert_eq!(r.detect(ms(24), m, s, false, 100).newly_lost, 0);
        assert_eq!(r.detect(ms(25), m, s, false, 100).newly_lost, 1);
    }

    #[test]
    fn without_the_dupthresh_rule_three_sacked_segments_still_wait() {
        let mut r = Rack::with_no_dupthresh(true);
        for i in 0..10u32 {
            r.on_send(
                ms(0),
                SeqNum(i * 100),
                SeqNum(i * 100 + 100),
                SeqNum(i * 100),
            );
        }
        let o = r.on_ack(&input(20, 100, 1000), sacks(&[(200, 500)]));
        assert_eq!(o.newly_lost, 0);
        assert_eq!(o.reorder_timeout, Some(Duration::from_millis(5)));
    }

    #[test]
    fn a_lost_retransmission_is_found_by_a_later_delivery() {
        let mut r = ten(0);
        r.on_ack(&input(20, 100, 1000), sacks(&[(200, 1000)]));
        assert_eq!(r.next_lost(), Some((SeqNum(100), 100)));
        r.on_send(ms(20), SeqNum(100), SeqNum(200), SeqNum(1000));
        r.on_send(ms(21), SeqNum(1000), SeqNum(1100), SeqNum(1000));
        assert_eq!(r.next_lost(), None);
        let mut a = input(41, 100, 1100);
        a.advanced = false;
        a.in_recovery = true;
        let o = r.on_ack(&a, sacks(&[(200, 1100)]));
        assert_eq!((o.newly_lost, o.lost_retransmits), (1, 1));
        assert_eq!(r.next_lost(), Some((SeqNum(100), 100)));
    }

    #[test]
    fn reordering_is_seen_and_dsack_widens_the_window() {
        let mut r = ten(0);
        r.on_ack(&input(20, 100, 1000), sacks(&[(200, 300)]));
        // 100..200 arrives late, never resent: reordering.
        r.on_ack(&input(22, 300, 1000), sacks(&[]));
        assert_eq!(r.reord_seen(), 1);
        let w = |r: &Rack| {
            r.reo_wnd(
                Some(Duration::from_millis(20)),
                Some(Duration::from_millis(40)),
                true,
                100,
            )
        };
        assert_eq!(
            w(&r),
            Duration::from_millis(5),
            "reordering seen: not zero in recovery"
        );
        let mut a = input(30, 300, 1000);
        a.dsack = Some((SeqNum(100), SeqNum(200)));
        r.on_ack(&a, sacks(&[]));
        assert_eq!(w(&r), Duration::from_millis(10));
        // A second D-SACK in the same round trip does not grow it again.
        r.on_ack(&a, sacks(&[]));
        assert_eq!(w(&r), Duration::from_millis(10));
        for _ in 0..REO_WND_PERSIST {
            r.recovery_ended();
        }
        assert_eq!(w(&r), Duration::from_millis(5));
    }

    #[test]
    fn a_dsack_counts_as_reordering_seen() {
        let mut r = ten(0);
        let w = |r: &Rack| r.reo_wnd(Some(Duration::from_millis(20)), None, true, 100);
        r.on_ack(&input(20, 300, 1000), sacks(&[]));
        assert_eq!(r.reord_seen(), 0);
        assert_eq!(
            w(&r),
            Duration::ZERO,
            "no reordering seen: zero in recovery"
        );
        // 100..200 was resent and the peer got it twice (the original was late).
        let mut a = input(30, 300, 1000);
        a.dsack = Some((SeqNum(100), SeqNum(200)));
        r.on_ack(&a, sacks(&[]));
        assert_eq!(r.reord_seen(), 1);
        let w = |r: &Rack| {
            r.reo_wnd(
                Some(Duration::from_millis(20)),
                Some(Duration::from_millis(40)),
                true,
                100,
            )
        };
        assert_eq!(
            w(&r),
            Duration::from_millis(10),
            "grown, and used in recovery"
        );
    }

    #[test]
    fn rto_marks_all_unsacked_lost_and_go_back_n_resends_them() {
        let mut r = ten(0);
        r.on_ack(&input(20, 100, 1000), sacks(&[(500, 600)]));
        r.on_rto(SeqNum(1000));
        assert_eq!(r.pipe(), 0);
        assert_eq!(r.lost_segs(100), 8);
        r.on_send(ms(300), SeqNum(100), SeqNum(250), SeqNum(1000));
        assert_eq!(r.pipe(), 150);
        assert_eq!(r.next_lost(), Some((SeqNum(250), 50)));
        r.check_invariants(SeqNum(100), SeqNum(1000)).unwrap();
    }

    #[test]
    fn tlp_of_a_retransmission_then_an_ack_past_it_is_a_repaired_loss() {
        let mut r = ten(0);
        r.on_ack(&input(20, 800, 1000), sacks(&[]));
        r.on_send(ms(62), SeqNum(900), SeqNum(1000), SeqNum(1000));
        r.on_probe_sent(SeqNum(1000), true);
        assert!(!r.tlp_armable());
        let o = r.on_ack(&input(82, 1000, 1000), sacks(&[]));
        assert!(!o.tlp_repaired_loss, "at the probe's end: not yet known");
        r.on_send(ms(90), SeqNum(1000), SeqNum(1100), SeqNum(1000));
        let o = r.on_ack(&input(110, 1100, 1100), sacks(&[]));
        assert!(o.tlp_repaired_loss);
        assert!(r.tlp_armable());
    }

    #[test]
    fn a_dsack_for_the_probe_means_no_loss() {
        let mut r = ten(0);
        r.on_send(ms(62), SeqNum(900), SeqNum(1000), SeqNum(1000));
        r.on_probe_sent(SeqNum(1000), true);
        let mut a = input(82, 1000, 1000);
        a.dsack = Some((SeqNum(900), SeqNum(1000)));
        assert!(!r.on_ack(&a, sacks(&[])).tlp_repaired_loss);
        assert!(r.tlp_armable());
    }

    #[test]
    fn pto_is_two_srtt_plus_the_delayed_ack_allowance_for_one_segment() {
        let s = Some(Duration::from_millis(20));
        assert_eq!(Rack::pto(s, false), Duration::from_millis(42));
        assert_eq!(Rack::pto(s, true), Duration::from_millis(240));
        assert_eq!(Rack::pto(None, false), Duration::from_secs(1));
    }

    #[test]
    fn records_stay_bounded() {
        let mut r = Rack::new();
        for i in 0..(MAX_SEGS as u32 + 100) {
            r.on_send(
                ms(u64::from(i)),
                SeqNum(2 * i),
                SeqNum(2 * i + 2),
                SeqNum(2 * i),
            );
        }
        assert_eq!(r.len(), MAX_SEGS);
        let top = 2 * (MAX_SEGS as u32 + 100);
        // SACK every other byte: no split beyond the bound.
        let blocks: Vec<_> = (0..200)
            .map(|k| (SeqNum(4 * k + 1), SeqNum(4 * k + 2)))
            .collect();
        r.on_ack(&input(5000, 0, top), blocks.into_iter());
        assert!(r.len() <= MAX_SEGS);
        r.check_invariants(SeqNum(0), SeqNum(top)).unwrap();
    }

    /// Linux's RACK.rtt follows the last segment an ACK delivers (`tcp_rack_advance`), the
    /// RFC's the most recently sent one: after a resent hole and an older original are
    /// ACKed together, a segment sent with that original is lost by the RFC at once, by
    /// Linux only after the reordering window (packetdrill
    /// `fast_recovery/prr-ss-ack-below-snd_una-cubic`).
    #[test]
    fn linux_rtt_takes_the_last_delivered_segments_rtt_not_the_latest_sent() {
        for linux in [false, true] {
            let mut r = ten(0).linux_rtt(linux);
            let mut a = input(20, 0, 1000);
            a.advanced = false;
            a.min_rtt = Some(Duration::from_millis(10));
            a.srtt = Some(Duration::from_millis(10));
            // Three SACKed: 0..100 and 300..800 are lost at once; 0..100 goes again at 20.
            let o = r.on_ack(&a, sacks(&[(100, 300), (800, 900)]));
            assert_eq!(o.newly_lost, 6);
            r.on_send(ms(20), SeqNum(0), SeqNum(100), SeqNum(1000));
            // At 32 the ACK of 400 delivers the resend (RTT 12 ms) and the original
            // 300..400 (RTT 32 ms), below RACK.fack: reordering, a window of 2.5 ms.
            a.now = ms(32);
            a.snd_una = SeqNum(400);
            a.advanced = true;
            a.in_recovery = true;
            let o = r.on_ack(&a, sacks(&[(800, 900)]));
            if linux {
                // 900..1000, sent at 0: 0 + 32 + 2.5 > 32, not yet.
                assert_eq!(o.newly_lost, 0);
                assert_eq!(o.reorder_timeout, Some(Duration::from_micros(2500)));
            } else {
                // 0 + 12 + 2.5 <= 32: lost now.
                assert_eq!(o.newly_lost, 1);
                assert_eq!(o.reorder_timeout, None);
            }
        }
    }

    /// The marked-record and byte counters behind `pipe` and `next_lost` stay equal to a
    /// walk of the records through SACKs, losses, resends, an RTO, an undo, reneging and
    /// records trimmed by a partial ACK (`check_invariants` compares them).
    #[test]
    fn counters_match_the_records_through_loss_and_recovery() {
        let mut r = ten(0);
        let ok = |r: &Rack, una: u32, max: u32| r.check_invariants(SeqNum(una), SeqNum(max));
        ok(&r, 0, 1000).unwrap();
        assert_eq!((r.pipe(), r.next_lost()), (1000, None));
        // A partial ACK trims the first record; SACK edges split records.
        r.on_ack(&input(20, 50, 1000), sacks(&[(250, 450)]));
        ok(&r, 50, 1000).unwrap();
        r.on_ack(&input(21, 50, 1000), sacks(&[(250, 450), (500, 650)]));
        ok(&r, 50, 1000).unwrap();
        assert_eq!(r.next_lost(), Some((SeqNum(50), 50)));
        // Resend the lost head, then lose it again.
        r.on_send(ms(21), SeqNum(50), SeqNum(100), SeqNum(1000));
        ok(&r, 50, 1000).unwrap();
        let mut a = input(60, 50, 1000);
        a.in_recovery = true;
        r.on_ack(&a, sacks(&[(250, 450), (500, 700)]));
        ok(&r, 50, 1000).unwrap();
        r.on_rto(SeqNum(1000));
        ok(&r, 50, 1000).unwrap();
        assert_eq!(r.pipe(), 0);
        // Go-back-N resends part of a lost record: the split copy is marked too.
        r.on_send(ms(300), SeqNum(50), SeqNum(75), SeqNum(1000));
        ok(&r, 50, 1000).unwrap();
        assert_eq!((r.pipe(), r.next_lost()), (25, Some((SeqNum(75), 25))));
        r.unmark_lost();
        ok(&r, 50, 1000).unwrap();
        r.forget_sacks();
        ok(&r, 50, 1000).unwrap();
        assert_eq!(
            r.mark_longer_lost(40, SeqNum(1000)),
            12,
            "all but the two 25-byte halves"
        );
        ok(&r, 50, 1000).unwrap();
        // Everything acknowledged: nothing marked, nothing counted.
        r.on_ack(&input(80, 1000, 1000), sacks(&[]));
        ok(&r, 1000, 1000).unwrap();
        assert_eq!((r.pipe(), r.len()), (0, 0));
        // New data after it is plain again, and the bound merges into the last record.
        for i in 0..(MAX_SEGS as u32 + 5) {
            let s = 1000 + 10 * i;
            r.on_send(ms(90), SeqNum(s), SeqNum(s + 10), SeqNum(s));
        }
        let top = 1000 + 10 * (MAX_SEGS as u32 + 5);
        ok(&r, 1000, top).unwrap();
        assert_eq!((r.pipe(), r.next_lost()), (top - 1000, None));
        // A probe resends the last (merged) record, never marked before.
        r.on_send(ms(95), SeqNum(top - 10), SeqNum(top), SeqNum(top));
        ok(&r, 1000, top).unwrap();
        assert_eq!((r.pipe(), r.next_lost()), (top - 1000, None));
        r.clear();
        ok(&r, top, top).unwrap();
    }
}
