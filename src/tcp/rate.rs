//! Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation-02): on each ACK, a
//! rate sample of how fast data was delivered over the flight that ended with it.
//!
//! What it is: the connection-wide counters of §3.1 (C.delivered in bytes, C.delivered_time,
//! C.first_sent_time, C.app_limited) and one record per segment sent, from SND.UNA to
//! SND.MAX, holding the snapshot of those counters taken when it was (last) sent (§3.2:
//! P.delivered, P.delivered_time, P.first_sent_time, P.is_app_limited). An ACK delivers
//! records cumulatively or by SACK; the most recently sent of them gives the sample (§3.3),
//! `delivered / max(send interval, ack interval)`. SACKed records count once: when SACKed,
//! not again when the cumulative ACK passes them (nor after the receiver reneged: the
//! delivered count then runs ahead by what it threw away, which only inflates one sample).
//!
//! What it does not do: decide anything. BBR (`congestion/bbr.rs`) and `ss -i`'s
//! delivery_rate read the samples; loss detection stays with RACK (`rack.rs`), which keeps
//! its own records (RACK exists only with SACK; this runs on every connection).
//!
//! Memory: at most [`MAX_RECORDS`] records (56 bytes each), given back when nothing is in
//! flight; a burst sent in one instant with one snapshot is one record. Beyond the bound a
//! new segment merges into the last record (keeping that record's older snapshot: the
//! sample spans a longer interval, never a shorter one, so the rate errs low) and records
//! are no longer split at SACK edges (a record counts as delivered when all of it is).
//! Nothing here panics on any input.

use super::seq::SeqNum;
use crate::time::{Duration, Instant};
use std::collections::VecDeque;

/// Most records kept (see the module doc).
pub const MAX_RECORDS: usize = 1024;

/// The connection's counters at the moment a segment was sent (§3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot {
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
    app_limited: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    start: SeqNum,
    end: SeqNum,
    sent: Instant,
    snap: Snapshot,
    retrans: bool,
    sacked: bool,
    /// Holds segments sent at different times (merged beyond [`MAX_RECORDS`]): `sent` is
    /// the last of them, so it gives no RTT sample (an ACK of its first bytes would look a
    /// round trip shorter than it was).
    merged: bool,
}

/// One rate sample (§3.3), produced by [`RateEstimator::on_ack`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateSample {
    /// Bytes newly delivered by this ACK (cumulatively or by SACK).
    pub acked_sacked: u32,
    /// C.delivered of the most recently sent record delivered (P.delivered): BBR counts
    /// round trips with it.
    pub prior_delivered: u64,
    /// Bytes delivered between that record's send and this ACK (rs.delivered).
    pub delivered: u64,
    /// max(send interval, ACK interval); `None` when no valid sample (nothing delivered,
    /// or the interval is shorter than the minimum RTT, §3.3).
    pub interval: Option<Duration>,
    /// The record was sent while the sender was application-limited.
    pub is_app_limited: bool,
    /// The RTT of the most recently sent record delivered, unless it was a retransmission
    /// (Karn) or merged from segments sent at different times.
    pub rtt: Option<Duration>,
    /// Bytes newly marked lost by the same ACK (rs.losses; the connection fills it in
    /// from RACK, about one SMSS per record).
    pub lost: u32,
}

impl RateSample {
    /// `delivered / interval` in bytes per second, when the sample is valid.
    pub fn delivery_rate(&self) -> Option<u64> {
        let us = self.interval?.micros();
        (us > 0).then(|| rate(self.delivered, us))
    }
}

/// Bytes per second for `bytes` over `us` microseconds (saturating; `us` > 0).
pub(crate) fn rate(bytes: u64, us: u64) -> u64 {
    (u128::from(bytes) * 1_000_000 / u128::from(us.max(1))).min(u128::from(u64::MAX)) as u64
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct RateEstimator {
    records: VecDeque<Record>,
    /// C.delivered: bytes delivered so far (SACKed or cumulatively ACKed, once each).
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
    /// C.app_limited: the `delivered` value past which the pipe is full again; 0 = not
    /// application-limited.
    app_limited: u64,
    /// The last valid sample that was not app-limited, or an app-limited one at a higher
    /// rate (as Linux's `rate_delivered`/`rate_interval_us`, `ss -i` delivery_rate).
    last: Option<(u64, u64, bool)>,
}

impl Default for RateEstimator {
    fn default() -> RateEstimator {
        RateEstimator::new(Instant::ZERO)
    }
}

impl RateEstimator {
    /// An estimator with nothing sent or delivered, its clocks at `now`.
    pub fn new(now: Instant) -> RateEstimator {
        RateEstimator {
            records: VecDeque::new(),
            delivered: 0,
            delivered_time: now,
            first_sent_time: now,
            app_limited: 0,
            last: None,
        }
    }

    /// Bytes delivered so far (C.delivered).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// The sender is application-limited (C.app_limited set).
    pub fn is_app_limited(&self) -> bool {
        self.app_limited != 0
    }

    /// The latest delivery rate worth showing (bytes/s) and whether it was app-limited.
    pub fn delivery_rate(&self) -> Option<(u64, bool)> {
        self.last.map(|(d, us, al)| (rate(d, us), al))
    }

    /// Records held (tests, memory bounds).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// No records held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Forgets every record (the connection closed).
    pub fn clear(&mut self) {
        self.records = VecDeque::new();
    }

    /// §3.2 on sending `[start, end)` (sequence space) at `now`; below `snd_max` (SND.MAX
    /// before this send) it is a retransmission, whose records take a new snapshot.
    pub fn on_send(&mut self, now: Instant, start: SeqNum, end: SeqNum, snd_max: SeqNum) {
        if !start.lt(end) {
            return;
        }
        if self.records.is_empty() {
            // Nothing in flight: the send phase and the ACK phase both start now.
            self.first_sent_time = now;
            self.delivered_time = now;
        }
        let snap = Snapshot {
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_sent_time: self.first_sent_time,
            app_limited: self.app_limited != 0,
        };
        if start.lt(snd_max) {
            let re_end = if end.lt(snd_max) { end } else { snd_max };
            self.split_at(start);
            self.split_at(re_end);
            let mut i = self.records.partition_point(|r| r.end.le(start));
            while let Some(r) = self.records.get_mut(i) {
                if !r.start.lt(re_end) {
                    break;
                }
                if !r.sacked {
                    r.sent = now;
                    r.snap = snap;
                    r.retrans = true;
                }
                i += 1;
            }
        }
        if end.gt(snd_max) {
            let new_start = if start.gt(snd_max) { start } else { snd_max };
            self.push_new(now, new_start, end, snap);
        }
    }

    fn push_new(&mut self, now: Instant, start: SeqNum, end: SeqNum, snap: Snapshot) {
        let full = self.records.len() >= MAX_RECORDS;
        if let Some(last) = self.records.back_mut() {
            if !last.end.le(start) {
                return; // already recorded: keep the records sorted
            }
            if last.end == start
                && last.sent == now
                && last.snap == snap
                && !last.retrans
                && !last.sacked
            {
                // Sent in the same instant with the same snapshot: one record is exact (a
                // split copies every field), and a burst costs one record, not one each.
                last.end = end;
                return;
            }
            if full {
                last.end = end;
                last.sent = now;
                last.sacked = false;
                last.merged = true;
                return;
            }
        }
        self.records.push_back(Record {
            start,
            end,
            sent: now,
            snap,
            retrans: false,
            sacked: false,
            merged: false,
        });
    }

    /// Splits the record holding `seq` strictly inside it (not at the bound).
    fn split_at(&mut self, seq: SeqNum) {
        let i = self.records.partition_point(|r| r.end.le(seq));
        let Some(r) = self.records.get(i).copied() else {
            return;
        };
        if r.start.lt(seq) && seq.lt(r.end) && self.records.len() < MAX_RECORDS {
            self.records[i].end = seq;
            self.records.insert(i + 1, Record { start: seq, ..r });
        }
    }

    /// §3.3 on an acceptable ACK: `snd_una` after it, `sacked` the scoreboard's SACKed
    /// ranges after it (lowest first), `min_rtt` the connection's minimum RTT.
    pub fn on_ack(
        &mut self,
        now: Instant,
        snd_una: SeqNum,
        sacked: impl Iterator<Item = (SeqNum, SeqNum)>,
        min_rtt: Option<Duration>,
    ) -> RateSample {
        let mut acc = Acc::default();
        while let Some(front) = self.records.front().copied() {
            if front.end.le(snd_una) {
                self.records.pop_front();
                if !front.sacked {
                    self.deliver(&mut acc, &front);
                }
            } else {
                if front.start.lt(snd_una) {
                    if !front.sacked {
                        self.deliver(
                            &mut acc,
                            &Record {
                                end: snd_una,
                                ..front
                            },
                        );
                    }
                    self.records[0].start = snd_una;
                }
                break;
            }
        }
        for (l, r) in sacked {
            self.split_at(l);
            self.split_at(r);
            let mut i = self.records.partition_point(|x| x.end.le(l));
            while let Some(x) = self.records.get(i).copied() {
                if !x.start.lt(r) {
                    break;
                }
                if !x.sacked && l.le(x.start) && x.end.le(r) {
                    self.records[i].sacked = true;
                    self.deliver(&mut acc, &x);
                }
                i += 1;
            }
        }
        if self.records.is_empty() && self.records.capacity() > 16 {
            // Nothing in flight: an idle connection keeps no record memory.
            self.records = VecDeque::new();
        }
        self.generate(now, acc, min_rtt)
    }

    /// §3.3 UpdateRateSample for one delivered record.
    fn deliver(&mut self, acc: &mut Acc, r: &Record) {
        let len = r.end.since(r.start);
        self.delivered += u64::from(len);
        acc.bytes = acc.bytes.saturating_add(len);
        let newer = acc
            .newest
            .is_none_or(|(sent, end, _)| r.sent > sent || (r.sent == sent && r.end.gt(end)));
        if newer {
            acc.newest = Some((r.sent, r.end, *r));
            // The send phase starts where the newest delivered record's did.
            self.first_sent_time = r.sent;
        }
    }

    /// §3.3 GenerateRateSample.
    fn generate(&mut self, now: Instant, acc: Acc, min_rtt: Option<Duration>) -> RateSample {
        if self.app_limited != 0 && self.delivered > self.app_limited {
            self.app_limited = 0;
        }
        let mut rs = RateSample {
            acked_sacked: acc.bytes,
            ..RateSample::default()
        };
        let Some((_, _, r)) = acc.newest else {
            return rs;
        };
        self.delivered_time = now;
        rs.prior_delivered = r.snap.delivered;
        rs.is_app_limited = r.snap.app_limited;
        rs.delivered = self.delivered - r.snap.delivered;
        if !r.retrans && !r.merged {
            rs.rtt = Some(now.saturating_since(r.sent));
        }
        let send = r.sent.saturating_since(r.snap.first_sent_time);
        let ack = now.saturating_since(r.snap.delivered_time);
        let interval = send.max(ack);
        // §3.3: an interval below the minimum RTT means a bogus (compressed) sample.
        if interval == Duration::ZERO || min_rtt.is_some_and(|m| interval < m) {
            return rs;
        }
        rs.interval = Some(interval);
        let us = interval.micros();
        let higher = self.last.is_none_or(|(d, lus, _)| {
            u128::from(rs.delivered) * u128::from(lus) >= u128::from(d) * u128::from(us)
        });
        if !rs.is_app_limited || higher {
            self.last = Some((rs.delivered, us, rs.is_app_limited));
        }
        rs
    }

    /// §3.4: called when the application writes (as Linux's `tcp_rate_check_app_limited`
    /// in `sendmsg`): less than a segment waits unsent, less than cwnd is in flight and
    /// nothing waits to be resent, so the flight is the application's, not the path's.
    pub fn check_app_limited(
        &mut self,
        unsent: usize,
        smss: u32,
        in_flight: u32,
        cwnd: u32,
        lost: bool,
    ) {
        if unsent < smss as usize && in_flight < cwnd && !lost {
            self.app_limited = (self.delivered + u64::from(in_flight)).max(1);
        }
    }

    /// Records sorted, disjoint, inside `[snd_una, snd_max]`, within [`MAX_RECORDS`].
    pub fn check_invariants(&self, snd_una: SeqNum, snd_max: SeqNum) -> Result<(), String> {
        if self.records.len() > MAX_RECORDS {
            return Err(format!("rate: {} records", self.records.len()));
        }
        let mut prev = snd_una;
        for r in &self.records {
            if r.start.lt(prev) || !r.start.lt(r.end) || r.end.gt(snd_max) {
                return Err(format!(
                    "rate record [{}, {}) after {} (SND.UNA {}, SND.MAX {})",
                    r.start.0, r.end.0, prev.0, snd_una.0, snd_max.0
                ));
            }
            prev = r.end;
        }
        Ok(())
    }
}

/// What one ACK delivered so far.
#[derive(Default)]
struct Acc {
    bytes: u32,
    /// (sent, end, record) of the most recently sent record delivered.
    newest: Option<(Instant, SeqNum, Record)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn none() -> std::iter::Empty<(SeqNum, SeqNum)> {
        std::iter::empty()
    }

    /// Sends `n` segments of 1000 bytes from `seq` at `at`.
    fn send(r: &mut RateEstimator, at: Instant, seq: u32, n: u32, snd_max: &mut u32) {
        for i in 0..n {
            let s = seq + i * 1000;
            r.on_send(at, SeqNum(s), SeqNum(s + 1000), SeqNum(*snd_max));
            *snd_max = (*snd_max).max(s + 1000);
        }
    }

    #[test]
    fn a_flight_acked_at_once_gives_its_bytes_over_the_round_trip() {
        let mut r = RateEstimator::new(ms(0));
        let mut max = 0;
        send(&mut r, ms(0), 0, 10, &mut max);
        let rs = r.on_ack(
            ms(100),
            SeqNum(10_000),
            none(),
            Some(Duration::from_millis(100)),
        );
        assert_eq!(rs.acked_sacked, 10_000);
        assert_eq!(rs.delivered, 10_000);
        assert_eq!(rs.prior_delivered, 0);
        assert_eq!(rs.interval, Some(Duration::from_millis(100)));
        assert_eq!(rs.delivery_rate(), Some(100_000));
        assert_eq!(rs.rtt, Some(Duration::from_millis(100)));
        // The next flight, sent at the ACK, is measured from it.
        send(&mut r, ms(100), 10_000, 20, &mut max);
        let rs = r.on_ack(
            ms(200),
            SeqNum(30_000),
            none(),
            Some(Duration::from_millis(100)),
        );
        assert_eq!((rs.prior_delivered, rs.delivered), (10_000, 20_000));
        assert_eq!(rs.delivery_rate(), Some(200_000));
        assert_eq!(r.delivery_rate(), Some((200_000, false)));
        assert!(r.is_empty());
    }

    #[test]
    fn acks_spread_over_the_round_trip_measure_the_ack_rate() {
        // Ten segments sent 1 ms apart from t=0; each acked 50 ms after it left.
        let mut r = RateEstimator::new(ms(0));
        let mut max = 0;
        for i in 0..10u64 {
            send(&mut r, ms(i), i as u32 * 1000, 1, &mut max);
        }
        let mut last = RateSample::default();
        for i in 0..10u64 {
            last = r.on_ack(ms(50 + i), SeqNum((i as u32 + 1) * 1000), none(), None);
        }
        // The last segment's snapshot (taken at 9 ms, before any ACK): delivered 0 at
        // t=0, send phase from 0. Send interval 9 ms, ACK interval 59 ms.
        assert_eq!(last.delivered, 10_000);
        assert_eq!(last.interval, Some(Duration::from_millis(59)));
        assert_eq!(last.rtt, Some(Duration::from_millis(50)));
    }

    #[test]
    fn sacked_bytes_count_once() {
        let mut r = RateEstimator::new(ms(0));
        let mut max = 0;
        send(&mut r, ms(0), 0, 4, &mut max);
        // Segment 2 ([2000, 3000)) SACKed; SND.UNA still 0.
        let rs = r.on_ack(
            ms(40),
            SeqNum(0),
            [(SeqNum(2000), SeqNum(3000))].into_iter(),
            None,
        );
        assert_eq!((rs.acked_sacked, rs.delivered), (1000, 1000));
        assert_eq!(r.delivered(), 1000);
        // Everything acked: 3000 more, not 4000.
        let rs = r.on_ack(ms(50), SeqNum(4000), none(), None);
        assert_eq!(rs.acked_sacked, 3000);
        assert_eq!(r.delivered(), 4000);
        assert!(r.is_empty());
    }

    #[test]
    fn a_sack_inside_a_super_segment_splits_it() {
        let mut r = RateEstimator::new(ms(0));
        r.on_send(ms(0), SeqNum(0), SeqNum(10_000), SeqNum(0));
        let rs = r.on_ack(
            ms(30),
            SeqNum(0),
            [(SeqNum(3000), SeqNum(5000))].into_iter(),
            None,
        );
        assert_eq!(rs.acked_sacked, 2000);
        assert_eq!(r.len(), 3);
        r.check_invariants(SeqNum(0), SeqNum(10_000)).unwrap();
        let rs = r.on_ack(ms(31), SeqNum(10_000), none(), None);
        assert_eq!(rs.acked_sacked, 8000);
    }

    #[test]
    fn a_sample_shorter_than_min_rtt_is_not_valid() {
        let mut r = RateEstimator::new(ms(0));
        let mut max = 0;
        send(&mut r, ms(0), 0, 2, &mut max);
        let rs = r.on_ack(
            ms(10),
            SeqNum(2000),
            none(),
            Some(Duration::from_millis(20)),
        );
        assert_eq!(rs.acked_sacked, 2000);
        assert_eq!(rs.interval, None);
        assert_eq!(rs.delivery_rate(), None);
        assert_eq!(r.delivery_rate(), None);
    }

    #[test]
    fn a_record_merged_beyond_the_bound_gives_no_rtt() {
        // MAX_RECORDS segments, 1 ms apart, fill the records; the next one, at 2 s, merges
        // into the last record. 31 us later an ACK reaches into that record: its first
        // bytes were sent at 1.023 s, so now - 2 s is no round trip (before: a 31 us RTT,
        // which BBR took as its RTprop at 50 ms one way and shrank cwnd to 4 segments).
        let mut r = RateEstimator::new(ms(0));
        let mut max = 0;
        for i in 0..MAX_RECORDS as u32 {
            send(&mut r, ms(u64::from(i)), i * 1000, 1, &mut max);
        }
        send(&mut r, ms(2000), MAX_RECORDS as u32 * 1000, 1, &mut max);
        let at = Instant::from_micros(2_000_031);
        let rs = r.on_ack(at, SeqNum(MAX_RECORDS as u32 * 1000), none(), None);
        assert_eq!(rs.acked_sacked, MAX_RECORDS as u32 * 1000);
        assert_eq!(rs.rtt, None);
    }

    #[test]
    fn a_retransmission_takes_a_new_snapshot_and_gives_no_rtt() {
        let mut r = RateEstimator::new(ms(0));
        let mut max = 0;
        send(&mut r, ms(0), 0, 3, &mut max);
        let _ = r.on_ack(ms(100), SeqNum(1000), none(), None);
        // [1000, 2000) resent at 300 ms.
        r.on_send(ms(300), SeqNum(1000), SeqNum(2000), SeqNum(max));
        let rs = r.on_ack(ms(400), SeqNum(2000), none(), None);
        assert_eq!(rs.rtt, None);
        assert_eq!(rs.prior_delivered, 1000);
        assert_eq!(rs.delivered, 1000);
        // Send phase 300 - 0 (the send time of the newest record the first ACK delivered),
        // ACK phase 400 - 100.
        assert_eq!(rs.interval, Some(Duration::from_millis(300)));
    }

    #[test]
    fn app_limited_marks_last_until_the_flight_of_that_time_is_delivered() {
        let mut r = RateEstimator::new(ms(0));
        let mut max = 0;
        send(&mut r, ms(0), 0, 2, &mut max);
        // The application wrote little: 2000 in flight, cwnd 10,000, nothing queued.
        r.check_app_limited(0, 1000, 2000, 10_000, false);
        assert!(r.is_app_limited());
        send(&mut r, ms(10), 2000, 1, &mut max);
        let rs = r.on_ack(ms(100), SeqNum(2000), none(), None);
        assert!(!rs.is_app_limited, "sent before the mark");
        assert!(r.is_app_limited(), "2000 delivered, the mark is at 2000");
        let rs = r.on_ack(ms(110), SeqNum(3000), none(), None);
        assert!(rs.is_app_limited, "sent after the mark");
        assert!(!r.is_app_limited(), "delivered past the mark");
        // A queue holding a segment, a full cwnd or a loss: not application-limited.
        r.check_app_limited(1000, 1000, 0, 10_000, false);
        r.check_app_limited(0, 1000, 10_000, 10_000, false);
        r.check_app_limited(0, 1000, 0, 10_000, true);
        assert!(!r.is_app_limited());
    }

    #[test]
    fn records_stay_bounded() {
        let mut r = RateEstimator::new(ms(0));
        let mut max = 0;
        // A burst sent in one instant is one record.
        send(&mut r, ms(0), 0, 3000, &mut max);
        assert_eq!(r.len(), 1);
        let _ = r.on_ack(ms(1), SeqNum(max), none(), None);
        // Segments sent 1 us apart are one each, up to the bound.
        for i in 0..3000u32 {
            let s = max;
            r.on_send(
                Instant::from_micros(2000 + u64::from(i)),
                SeqNum(s),
                SeqNum(s + 1000),
                SeqNum(s),
            );
            max += 1000;
        }
        assert_eq!(r.len(), MAX_RECORDS);
        r.check_invariants(SeqNum(0), SeqNum(max)).unwrap();
        // Every other segment SACKed: no splits beyond the bound.
        let blocks: Vec<_> = (0..1500u32)
            .map(|i| (SeqNum(3_001_000 + i * 2000), SeqNum(3_002_000 + i * 2000)))
            .collect();
        let _ = r.on_ack(ms(50), SeqNum(3_000_000), blocks.into_iter(), None);
        assert!(r.len() <= MAX_RECORDS);
        r.check_invariants(SeqNum(3_000_000), SeqNum(max)).unwrap();
        let rs = r.on_ack(ms(60), SeqNum(max), none(), None);
        assert!(r.is_empty());
        assert_eq!(r.delivered(), 6_000_000);
        assert!(rs.acked_sacked > 0);
    }
}
