//! The receive buffer: in-order bytes for the application plus out-of-order data
//! held in the same storage (RFC 9293 §3.10.7.4, SHLD-31: keep in-window segments beyond
//! RCV.NXT for later processing).
//!
//! Offsets given to [`RecvBuffer::insert`] and returned by [`RecvBuffer::ooo_ranges`] are
//! bytes past RCV.NXT (offset 0 is the next expected byte). The ring holds, in order,
//! `readable()` bytes not yet read by the application, then the receive window: out-of-order
//! bytes sit at their offset in that window, and a sorted map of disjoint, non-touching
//! ranges records which window bytes are present.
//!
//! Memory is bounded whatever the peer sends: bytes past [`RecvBuffer::window`] are cut off,
//! storage is allocated on the first insert and grows by doubling up to the capacity, and
//! the buffer is charged like Linux's `sk_rmem_alloc` ([`RecvBuffer::charge`]: its bytes
//! plus [`OOO_RANGE_COST`] per out-of-order range, as each skb costs its truesize) against
//! a limit of twice the capacity (Linux's `sk_rcvbuf` with `tcp_adv_win_scale` 1). Past the
//! limit the out-of-order ranges are pruned from the highest down (Linux
//! `tcp_prune_ofo_queue`) or the segment is dropped, so at most
//! `max(2 * capacity / OOO_RANGE_COST, 1)` ranges are ever held. Each insert costs
//! O(log n) map operations in the number of ranges held, amortised over pruning.
//!
//! The SACK blocks to report (RFC 2018 §4) are kept here too, updated on each insert in
//! O(1) blocks: the range holding the most recent out-of-order segment first, then the
//! ranges reported most recently.
//!
//! This module does not know sequence numbers, SYN/FIN, PUSH or URG: the connection trims
//! a segment to start at or after RCV.NXT, converts its sequence number to an offset, and
//! advances RCV.NXT by what `insert` returns. It does not advertise windows either: the
//! connection decides what to announce (and must not shrink what it announced, §3.8.6).

use std::cell::Cell;
use std::collections::BTreeMap;

/// Smallest storage allocated on the first insert (or the capacity, if smaller). Small, so
/// a short request (an HTTP GET is ~100 bytes) does not cost a zeroed 4 KiB page per
/// connection; a bulk flow doubles past it in a few steps.
const MIN_ALLOC: usize = 256;

/// What each out-of-order range is charged besides its bytes, like the per-skb overhead in
/// Linux's truesize (a one-byte segment costs an skb, about 256 bytes of `sk_buff` alone).
/// It bounds the ranges held: a flood of one-byte segments at every other offset of a
/// 256 KiB window holds at most 2,048 ranges, not 131,072.
pub const OOO_RANGE_COST: usize = 256;

/// Receive bytes a connection may always hold, even above the stack's hard memory limit
/// (Linux `tcp_rmem[0]`), so every connection can make progress.
pub const RMEM_MIN: usize = 4096;

/// The stack-wide memory state a connection obeys (Linux `tcp_mem`, see `stack::mem`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemMode {
    /// Below the pressure threshold (or back below the low one).
    #[default]
    Normal,
    /// Under memory pressure: windows do not grow past 4 segments ahead, and pruning an
    /// out-of-order queue goes all the way down to the incoming segment.
    Pressure,
    /// Above the hard limit: no new buffers (out-of-order data dropped, in-order data only
    /// while fewer than [`RMEM_MIN`] bytes are unread, sends only up to the minimum send
    /// buffer).
    Exceeded,
}

/// What the out-of-order limits did, counted as Linux counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// The charge would pass the limit: pruning was tried (`PruneCalled`).
    pub prune_called: u64,
    /// Out-of-order ranges were dropped to make room (`OfoPruned`, once per pruning).
    pub ofo_pruned: u64,
    /// An out-of-order segment was dropped for lack of room (`TCPOFODrop`).
    pub ofo_drop: u64,
    /// An in-order segment was dropped above the hard memory limit (`TCPRcvQDrop`).
    pub rcvq_drop: u64,
}

/// SACK blocks kept for reporting: at most this many (4 fit without timestamps).
const SACK_KEPT: usize = 4;

/// The receive side: in-order bytes not yet read (a ring) and out-of-order segments
/// waiting for the gap before them, under the memory limits.
#[derive(Debug, Clone)]
pub struct RecvBuffer {
    /// Ring storage; empty until the first insert.
    buf: Vec<u8>,
    /// Ring index of the first readable byte.
    head: usize,
    /// In-order bytes not yet read.
    readable: usize,
    capacity: usize,
    /// Stream position of RCV.NXT (bytes made in order since creation); positions are
    /// 64-bit so out-of-order ranges need no rebasing when RCV.NXT moves.
    nxt: u64,
    /// Out-of-order ranges present, `start -> end` in stream positions, all `> nxt`,
    /// disjoint and not touching each other.
    ooo: BTreeMap<u64, u64>,
    /// Bytes in `ooo` (the sum of its ranges' lengths).
    ooo_bytes: usize,
    /// Charge per range besides its bytes ([`OOO_RANGE_COST`]; 0 only in tests).
    range_cost: usize,
    mode: MemMode,
    /// Ranges of `ooo` to report as SACK blocks, most recent first (RFC 2018 §4).
    sack: [(u64, u64); SACK_KEPT],
    sack_len: usize,
    /// The first run of bytes the last `insert` found already held (RFC 2883 D-SACK), as
    /// offsets past RCV.NXT as it was before that insert.
    dup: Option<(usize, usize)>,
    stats: PruneStats,
    /// Range-map operations (lookups, inserts, removals, entries visited): the work the
    /// out-of-order path does, for tests that bound it.
    ops: Cell<u64>,
}

impl RecvBuffer {
    /// An empty buffer of `capacity` bytes. Allocates nothing.
    pub fn new(capacity: usize) -> RecvBuffer {
        RecvBuffer {
            buf: Vec::new(),
            head: 0,
            readable: 0,
            capacity,
            nxt: 0,
            ooo: BTreeMap::new(),
            ooo_bytes: 0,
            range_cost: OOO_RANGE_COST,
            mode: MemMode::Normal,
            sack: [(0, 0); SACK_KEPT],
            sack_len: 0,
            dup: None,
            stats: PruneStats::default(),
            ops: Cell::new(0),
        }
    }

    /// What the buffer is charged: in-order and out-of-order bytes plus
    /// [`OOO_RANGE_COST`] per out-of-order range (Linux: the truesize of its skbs).
    pub fn charge(&self) -> usize {
        self.readable + self.ooo_bytes + self.ooo.len() * self.range_cost
    }

    /// The most [`RecvBuffer::charge`] may reach (Linux `sk_rcvbuf`): twice the capacity,
    /// half for data and half for overhead, as Linux's default `tcp_adv_win_scale` splits it.
    pub fn limit(&self) -> usize {
        self.capacity.saturating_mul(2)
    }

    /// Out-of-order ranges held now.
    pub fn ooo_count(&self) -> usize {
        self.ooo.len()
    }

    /// Range-map operations done so far (see the field).
    pub fn ops(&self) -> u64 {
        self.ops.get()
    }

    /// How often the out-of-order limits acted.
    pub fn prune_stats(&self) -> PruneStats {
        self.stats
    }

    /// The memory mode it runs under (normal, pressure, hard limit).
    pub fn mode(&self) -> MemMode {
        self.mode
    }

    /// Sets the memory mode (the stack's accounting decides it).
    pub fn set_mode(&mut self, mode: MemMode) {
        self.mode = mode;
    }

    #[cfg(test)]
    fn set_range_cost(&mut self, cost: usize) {
        self.range_cost = cost;
    }

    fn op(&self, n: u64) {
        self.ops.set(self.ops.get() + n);
    }

    /// The SACK blocks to send, as (start, end) offsets past RCV.NXT: the range holding the
    /// most recent out-of-order segment first, then the others most recently reported
    /// (RFC 2018 §4). At most four; the option writer keeps as many as fit.
    pub fn sack_blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.sack[..self.sack_len]
            .iter()
            .map(move |&(s, e)| ((s - self.nxt) as usize, (e - self.nxt) as usize))
    }

    /// Keeps the SACK blocks that are still held ranges (pruned or now in-order ones go),
    /// and puts `first`, the range just extended, in front. O(log n) per kept block.
    fn update_sack(&mut self, first: Option<(u64, u64)>) {
        let mut kept = [(0, 0); SACK_KEPT];
        let mut n = 0;
        if let Some(f) = first {
            kept[0] = f;
            n = 1;
        }
        for i in 0..self.sack_len {
            let b = self.sack[i];
            if n == SACK_KEPT {
                break;
            }
            self.op(1);
            if Some(b) != first && self.ooo.get(&b.0) == Some(&b.1) {
                kept[n] = b;
                n += 1;
            }
        }
        self.sack = kept;
        self.sack_len = n;
    }

    /// Linux `tcp_prune_ofo_queue`: drops out-of-order ranges from the highest down, but
    /// none starting at or below `floor` (the incoming segment), in steps of an eighth of
    /// the limit, until `need` more bytes fit under the limit (under memory
    /// pressure or above the hard limit: until nothing above `floor` is left). True if it
    /// dropped anything (counted as `OfoPruned`).
    fn prune_ofo(&mut self, floor: u64, need: usize) -> bool {
        let limit = self.limit();
        let step = (limit / 8).max(1) as isize;
        let mut goal = step;
        let mut pruned = false;
        loop {
            self.op(1);
            let Some((&s, &e)) = self.ooo.last_key_value() else {
                break;
            };
            if s <= floor {
                break; // the incoming segment would land last: stop (as Linux)
            }
            self.op(1);
            self.ooo.remove(&s);
            self.ooo_bytes -= (e - s) as usize;
            pruned = true;
            goal -= ((e - s) as usize + self.range_cost) as isize;
            if goal <= 0 {
                if self.charge() + need <= limit && self.mode == MemMode::Normal {
                    break;
                }
                goal = step;
            }
        }
        if pruned {
            self.stats.ofo_pruned += 1;
            self.update_sack(None);
        }
        pruned
    }

    /// Linux `tcp_try_rmem_schedule`: makes room for `need` more bytes charged at `start`
    /// by pruning higher out-of-order ranges; false if there is none to be had (the
    /// segment is to be dropped). In-order data (`start == nxt`) always finds room below
    /// the hard limit: with every range pruned the charge is at most the capacity. So the
    /// charge never passes `max(limit, capacity + OOO_RANGE_COST)`.
    fn make_room(&mut self, start: u64, need: usize) -> bool {
        let exceeded = self.mode == MemMode::Exceeded;
        if start == self.nxt {
            if exceeded && self.readable >= RMEM_MIN {
                // Above the hard limit: refuse (Linux: sk_rmem_schedule fails).
                // Deviation: Linux refuses even below tcp_rmem[0] there; we keep that
                // minimum so a connection whose application reads always progresses.
                self.stats.prune_called += 1;
                self.prune_ofo(start, usize::MAX);
                self.stats.rcvq_drop += 1;
                return false;
            }
            // Past the limit only with the one range a small buffer may always hold.
            let bound = self.limit().max(self.capacity + self.range_cost);
            if self.charge() + need > bound && !self.ooo.is_empty() {
                self.stats.prune_called += 1;
                self.prune_ofo(start, need);
            }
            return true;
        }
        if !exceeded && (self.charge() + need <= self.limit() || self.ooo.is_empty()) {
            // Within the limit; or the first range, which a buffer smaller than its cost
            // could otherwise never hold.
            return true;
        }
        self.stats.prune_called += 1;
        self.prune_ofo(start, need);
        if exceeded || self.charge() + need > self.limit() {
            self.stats.ofo_drop += 1;
            return false;
        }
        true
    }

    /// The buffer's size in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets the capacity, but never below what is held (readable bytes plus the end of the
    /// last out-of-order range), so no byte is ever dropped. Shrinking the window the peer
    /// was already offered is the caller's concern (RFC 9293 §3.8.6, SHLD-14).
    pub fn set_capacity(&mut self, n: usize) {
        self.capacity = n.max(self.held());
        if self.buf.len() > self.capacity {
            self.relayout(self.capacity);
        }
    }

    /// Gives back the storage if nothing is held (e.g. in TIME-WAIT once all was read); a
    /// later insert allocates again.
    pub fn release_storage(&mut self) {
        if self.held() == 0 {
            self.buf = Vec::new();
            self.head = 0;
        }
    }

    /// In-order bytes the application can read now.
    pub fn readable(&self) -> usize {
        self.readable
    }

    /// Moves up to `out.len()` in-order bytes to `out`; returns how many.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(out);
        self.consume(n)
    }

    /// The in-order bytes that are contiguous in storage, from the first: all of them
    /// unless the ring wraps (the rest follow once these are consumed). No copy.
    pub fn readable_slice(&self) -> &[u8] {
        let n = self.readable.min(self.buf.len() - self.head);
        &self.buf[self.head..self.head + n]
    }

    /// Drops the first `n` in-order bytes (at most `readable()`), as `read` would.
    pub fn consume(&mut self, n: usize) -> usize {
        let n = n.min(self.readable);
        self.readable -= n;
        if n > 0 {
            self.head = (self.head + n) % self.buf.len();
        }
        n
    }

    /// Copies up to `out.len()` in-order bytes to `out` without consuming them.
    pub fn peek(&self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.readable);
        self.copy_out(0, &mut out[..n]);
        n
    }

    /// Room from RCV.NXT to the end of the buffer: `capacity - readable`.
    pub fn window(&self) -> usize {
        self.capacity.saturating_sub(self.readable)
    }

    /// Places `data` at `offset` bytes past RCV.NXT. Bytes beyond `window()` are cut off.
    /// Overlaps with data already held are fine (existing bytes win, as RFC 9293 allows).
    /// Returns how many bytes became in order (how far RCV.NXT advances), which may
    /// include previously held out-of-order bytes.
    pub fn insert(&mut self, offset: usize, data: &[u8]) -> usize {
        self.dup = None;
        let window = self.window();
        if offset >= window || data.is_empty() {
            return 0;
        }
        let end = offset.saturating_add(data.len()).min(window);
        let data = &data[..end - offset];
        self.reserve(self.readable + end);

        let (start_pos, end_pos) = (self.nxt + offset as u64, self.nxt + end as u64);
        // A new range may be charged, unless the data lands at RCV.NXT.
        let cost = if offset > 0 { self.range_cost } else { 0 };
        if !self.make_room(start_pos, data.len() + cost) {
            return 0;
        }
        if self.ooo.is_empty() {
            // Nothing held past RCV.NXT (the in-order stream): no gaps to find, no ranges
            // to merge; the same result as the general case below.
            self.write_gap(start_pos, end_pos, start_pos, data);
            if offset > 0 {
                self.op(1);
                self.ooo.insert(start_pos, end_pos);
                self.ooo_bytes += end - offset;
                self.update_sack(Some((start_pos, end_pos)));
                return 0;
            }
            self.nxt = end_pos;
            self.readable += end;
            return end;
        }
        // Write only the gaps between ranges already held: existing bytes win.
        let mut cursor = start_pos;
        let mut merged_start = start_pos;
        let mut merged_end = end_pos;
        // Held ranges overlapping or touching [start_pos, end_pos): the one starting at or
        // before `start_pos`, if it reaches it, and those starting inside or at `end_pos`.
        let before = self.ooo.range(..=start_pos).next_back();
        let touching: Vec<(u64, u64)> = before
            .filter(|&(_, &e)| e >= start_pos)
            .into_iter()
            .chain(self.ooo.range(start_pos + 1..=end_pos))
            .map(|(&s, &e)| (s, e))
            .collect();
        self.op(2 + touching.len() as u64);
        let base = self.nxt;
        for &(s, e) in &touching {
            let (ds, de) = (s.max(start_pos), e.min(end_pos));
            if ds < de && self.dup.is_none() {
                self.dup = Some(((ds - base) as usize, (de - base) as usize));
            }
            self.ooo_bytes -= (e - s) as usize;
            if s > cursor {
                self.write_gap(cursor, s, start_pos, data);
            }
            cursor = cursor.max(e);
            merged_start = merged_start.min(s);
            merged_end = merged_end.max(e);
            self.ooo.remove(&s);
        }
        if cursor < end_pos {
            self.write_gap(cursor, end_pos, start_pos, data);
        }

        if merged_start == self.nxt {
            // The range now starts at RCV.NXT: it is in order.
            let advance = (merged_end - self.nxt) as usize;
            self.nxt = merged_end;
            self.readable += advance;
            self.update_sack(None);
            advance
        } else {
            self.op(1);
            self.ooo.insert(merged_start, merged_end);
            self.ooo_bytes += (merged_end - merged_start) as usize;
            self.update_sack(Some((merged_start, merged_end)));
            0
        }
    }

    /// The lowest run of bytes the last [`RecvBuffer::insert`] found already held out of
    /// order (a duplicate, RFC 2883), as offsets past RCV.NXT as it was before that insert.
    pub fn last_dup(&self) -> Option<(usize, usize)> {
        self.dup
    }

    /// Out-of-order ranges held, as (start, end) offsets past RCV.NXT, sorted; for SACK.
    pub fn ooo_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ooo.iter().map(move |(&s, &e)| {
            self.op(1);
            ((s - self.nxt) as usize, (e - self.nxt) as usize)
        })
    }

    /// Whether out-of-order data is held.
    pub fn has_ooo(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Drops all out-of-order data (used on abort / if memory must be reclaimed).
    pub fn clear_ooo(&mut self) {
        self.ooo.clear();
        self.ooo_bytes = 0;
        self.sack_len = 0;
    }

    /// The end of the highest out-of-order range, as an offset past RCV.NXT (no range-map
    /// work counted: the invariant checks use it).
    pub fn ooo_end(&self) -> Option<usize> {
        self.ooo
            .last_key_value()
            .map(|(_, &e)| (e - self.nxt) as usize)
    }

    /// Bytes of storage currently allocated (for memory accounting and tests).
    pub fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// The buffer's invariants (see `Connection::check_invariants`): readable bytes plus
    /// the out-of-order data within capacity and storage, ranges sorted, disjoint, not
    /// touching, past RCV.NXT, at most `capacity / 2` of them.
    pub fn check_invariants(&self) -> Result<(), String> {
        let held = self.held();
        if held > self.capacity {
            return Err(format!(
                "receive buffer holds {held} bytes ({} readable), capacity {}",
                self.readable, self.capacity
            ));
        }
        if self.readable > self.buf.len() || (!self.buf.is_empty() && self.head >= self.buf.len()) {
            return Err(format!(
                "receive ring: {} readable, head {}, storage {}",
                self.readable,
                self.head,
                self.buf.len()
            ));
        }
        // INVARIANT-HOOK(ooo-bound): the bound of branch `ooo` replaces `capacity / 2`.
        if self.ooo.len() > (self.capacity / 2).max(1) {
            return Err(format!(
                "{} out-of-order ranges, bound {}",
                self.ooo.len(),
                self.capacity / 2
            ));
        }
        let mut prev_end = self.nxt;
        for (&s, &e) in &self.ooo {
            if s <= prev_end || e <= s {
                return Err(format!(
                    "out-of-order range [{s}, {e}) after {prev_end} (RCV.NXT at {}): not \
                     sorted, disjoint, non-touching and past RCV.NXT",
                    self.nxt
                ));
            }
            prev_end = e;
        }
        if !self.ooo.is_empty() && self.readable + (prev_end - self.nxt) as usize > self.buf.len() {
            return Err(format!(
                "out-of-order data to {prev_end} beyond storage {}",
                self.buf.len()
            ));
        }
        Ok(())
    }

    /// Bytes the storage must keep: readable plus the end of the last out-of-order range.
    fn held(&self) -> usize {
        let ooo_end = self
            .ooo
            .last_key_value()
            .map_or(0, |(_, &e)| (e - self.nxt) as usize);
        self.readable + ooo_end
    }

    /// Makes the ring at least `needed` bytes long (`needed <= capacity`): the next power
    /// of two, at least double the old size, at most the capacity.
    fn reserve(&mut self, needed: usize) {
        if needed > self.buf.len() {
            let doubled = self.buf.len().saturating_mul(2).max(MIN_ALLOC);
            let size = needed.checked_next_power_of_two().unwrap_or(needed);
            self.relayout(needed.max(self.capacity.min(size.max(doubled))));
        }
    }

    /// Moves the held bytes into fresh storage of `size` bytes, starting at index 0.
    fn relayout(&mut self, size: usize) {
        let keep = self.held().min(size);
        let mut buf = vec![0; size];
        self.copy_out(0, &mut buf[..keep]);
        self.buf = buf;
        self.head = 0;
    }

    /// Copies stream bytes `[from, to)` taken from `data` (which starts at `data_pos`)
    /// into the ring.
    fn write_gap(&mut self, from: u64, to: u64, data_pos: u64, data: &[u8]) {
        let src = &data[(from - data_pos) as usize..(to - data_pos) as usize];
        let logical = self.readable + (from - self.nxt) as usize;
        let len = self.buf.len();
        let at = (self.head + logical) % len;
        let first = src.len().min(len - at);
        self.buf[at..at + first].copy_from_slice(&src[..first]);
        if first < src.len() {
            // The part past the ring's end wraps to its start.
            self.buf[..src.len() - first].copy_from_slice(&src[first..]);
        }
    }

    /// Copies ring bytes from `logical` (bytes past the head) into `out`.
    fn copy_out(&self, logical: usize, out: &mut [u8]) {
        if out.is_empty() {
            return;
        }
        let len = self.buf.len();
        let at = (self.head + logical) % len;
        let first = out.len().min(len - at);
        out[..first].copy_from_slice(&self.buf[at..at + first]);
        let rest = out.len() - first;
        out[first..].copy_from_slice(&self.buf[..rest]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(b: &mut RecvBuffer) -> Vec<u8> {
        let mut out = vec![0; b.readable()];
        let n = b.read(&mut out);
        assert_eq!(n, out.len());
        out
    }

    fn ranges(b: &RecvBuffer) -> Vec<(usize, usize)> {
        b.ooo_ranges().collect()
    }

    #[test]
    fn new_buffer_allocates_nothing() {
        let b = RecvBuffer::new(1 << 20);
        assert_eq!(b.allocated(), 0);
        assert_eq!(b.window(), 1 << 20);
        assert_eq!(b.readable(), 0);
        assert!(!b.has_ooo());
    }

    #[test]
    fn in_order() {
        let mut b = RecvBuffer::new(100);
        assert_eq!(b.insert(0, b"hello "), 6);
        assert_eq!(b.insert(0, b"world"), 5);
        assert_eq!(b.readable(), 11);
        assert_eq!(b.window(), 89);
        let mut peeked = [0u8; 5];
        assert_eq!(b.peek(&mut peeked), 5);
        assert_eq!(&peeked, b"hello");
        assert_eq!(read_all(&mut b), b"hello world");
        assert_eq!(b.window(), 100);
    }

    #[test]
    fn one_hole_filled() {
        let mut b = mech(100);
        assert_eq!(b.insert(3, b"def"), 0);
        assert_eq!(ranges(&b), [(3, 6)]);
        assert_eq!(b.readable(), 0);
        assert_eq!(b.insert(0, b"abc"), 6);
        assert!(!b.has_ooo());
        assert_eq!(read_all(&mut b), b"abcdef");
    }

    #[test]
    fn many_holes_filled_in_any_order() {
        let mut b = mech(100);
        assert_eq!(b.insert(8, b"89"), 0);
        assert_eq!(b.insert(2, b"23"), 0);
        assert_eq!(b.insert(5, b"5"), 0);
        assert_eq!(ranges(&b), [(2, 4), (5, 6), (8, 10)]);
        assert_eq!(b.insert(6, b"67"), 0); // joins 5 and 8..10
        assert_eq!(ranges(&b), [(2, 4), (5, 10)]);
        assert_eq!(b.insert(4, b"4"), 0);
        assert_eq!(ranges(&b), [(2, 10)]);
        assert_eq!(b.insert(0, b"01"), 10);
        assert_eq!(read_all(&mut b), b"0123456789");
    }

    #[test]
    fn overlap_left_right_containing_contained() {
        let mut b = mech(100);
        b.insert(10, b"KLMNO"); // 10..15
                                // Left overlap: 8..12, existing bytes win at 10, 11.
        b.insert(8, b"ijxx");
        assert_eq!(ranges(&b), [(8, 15)]);
        // Right overlap: 14..17.
        b.insert(14, b"xpq");
        assert_eq!(ranges(&b), [(8, 17)]);
        // Contained: 9..11, changes nothing.
        b.insert(9, b"zz");
        assert_eq!(ranges(&b), [(8, 17)]);
        // Containing: 6..19.
        b.insert(6, b"ghzzzzzzzzzzzst");
        assert_eq!(ranges(&b), [(6, 21)]);
        assert_eq!(b.insert(0, b"abcdefyyyy"), 21);
        assert_eq!(read_all(&mut b), b"abcdefghijKLMNOpqzzst");
    }

    #[test]
    fn in_order_segment_overlapping_held_data() {
        let mut b = mech(100);
        b.insert(2, b"CD");
        b.insert(6, b"G");
        // Covers 0..4 (overlapping 2..4), does not reach 6.
        assert_eq!(b.insert(0, b"abcd"), 4);
        assert_eq!(ranges(&b), [(2, 3)]); // 6..7 is now 2 past RCV.NXT
        assert_eq!(read_all(&mut b), b"abCD");
        assert_eq!(b.insert(0, b"efgh"), 4);
        assert_eq!(read_all(&mut b), b"efGh");
    }

    #[test]
    fn touching_ranges_merge() {
        let mut b = mech(100);
        b.insert(5, b"56");
        b.insert(7, b"78");
        b.insert(3, b"34");
        assert_eq!(ranges(&b), [(3, 9)]);
    }

    #[test]
    fn past_window_is_cut() {
        let mut b = RecvBuffer::new(10);
        assert_eq!(b.insert(8, b"89ABC"), 0);
        assert_eq!(ranges(&b), [(8, 10)]);
        assert_eq!(b.insert(10, b"X"), 0);
        assert_eq!(b.insert(usize::MAX, b"X"), 0);
        assert_eq!(ranges(&b), [(8, 10)]);
        assert_eq!(b.insert(0, b"0123456789XYZ"), 10);
        assert_eq!(b.window(), 0);
        assert_eq!(b.insert(0, b"more"), 0);
        assert_eq!(read_all(&mut b), b"0123456789");
        assert!(b.allocated() <= 10);
    }

    #[test]
    fn huge_offset_plus_length_does_not_overflow() {
        let mut b = RecvBuffer::new(10);
        assert_eq!(b.insert(usize::MAX - 1, b"abc"), 0);
        assert_eq!(b.insert(9, b"abc"), 0);
        assert_eq!(ranges(&b), [(9, 10)]);
    }

    #[test]
    fn window_shrinks_with_unread_data() {
        let mut b = RecvBuffer::new(10);
        b.insert(0, b"0123");
        assert_eq!(b.window(), 6);
        assert_eq!(b.insert(5, b"56789"), 0);
        assert_eq!(ranges(&b), [(5, 6)]);
    }

    #[test]
    fn duplicates_change_nothing() {
        let mut b = mech(100);
        b.insert(4, b"efgh");
        assert_eq!(b.last_dup(), None);
        assert_eq!(b.insert(4, b"EFGH"), 0);
        assert_eq!(b.last_dup(), Some((4, 8)));
        assert_eq!(ranges(&b), [(4, 8)]);
        // Partly held: only the held part is a duplicate; offsets as before the insert.
        assert_eq!(b.insert(2, b"cdEF"), 0);
        assert_eq!(b.last_dup(), Some((4, 6)));
        assert_eq!(b.insert(0, b"abcd"), 8);
        assert_eq!(b.last_dup(), Some((2, 4)));
        assert_eq!(b.insert(0, b"ij"), 2);
        assert_eq!(b.last_dup(), None);
        assert_eq!(b.insert(0, b""), 0);
        assert_eq!(read_all(&mut b), b"abcdefghij");
    }

    #[test]
    fn reads_interleaved_with_inserts_wrap_the_ring() {
        let mut b = RecvBuffer::new(8);
        let stream: Vec<u8> = (0..200u8).collect();
        let mut got = Vec::new();
        let mut pos = 0;
        while pos < stream.len() {
            // Out of order: 3 bytes ahead, then the 3 bytes before them.
            let w = b.window();
            let ahead = (pos + 3..stream.len().min(pos + 6)).collect::<Vec<_>>();
            if !ahead.is_empty() && w > 3 {
                b.insert(3, &stream[ahead[0]..=*ahead.last().unwrap()]);
            }
            let adv = b.insert(0, &stream[pos..stream.len().min(pos + 3)]);
            pos += adv;
            let mut out = [0u8; 5];
            let n = b.read(&mut out);
            got.extend_from_slice(&out[..n]);
            assert!(b.allocated() <= 8);
        }
        got.extend(read_all(&mut b));
        assert_eq!(got, stream);
    }

    #[test]
    fn clear_ooo_drops_only_out_of_order() {
        let mut b = RecvBuffer::new(100);
        b.insert(0, b"ab");
        b.insert(5, b"fg");
        b.clear_ooo();
        assert!(!b.has_ooo());
        assert_eq!(b.readable(), 2);
        assert_eq!(b.insert(0, b"cde"), 3); // offsets are past RCV.NXT
        assert_eq!(read_all(&mut b), b"abcde");
    }

    #[test]
    fn set_capacity_never_below_held() {
        let mut b = RecvBuffer::new(100);
        b.insert(0, b"abc");
        b.insert(7, b"k"); // stream position 10
        b.set_capacity(5);
        assert_eq!(b.capacity(), 11);
        assert_eq!(b.window(), 8);
        b.set_capacity(200);
        assert_eq!(b.capacity(), 200);
        assert_eq!(b.insert(0, b"defghij"), 8);
        assert_eq!(read_all(&mut b), b"abcdefghijk");
    }

    #[test]
    fn shrinking_reallocates_within_capacity() {
        let mut b = mech(10_000);
        b.insert(0, &[7u8; 5000]);
        let mut out = vec![0u8; 4990];
        b.read(&mut out);
        b.insert(20, b"xyz");
        b.set_capacity(100);
        assert_eq!(b.capacity(), 100);
        assert!(b.allocated() <= 100);
        assert_eq!(ranges(&b), [(20, 23)]);
        assert_eq!(read_all(&mut b), [7u8; 10]);
        assert_eq!(b.insert(0, &[1u8; 20]), 23);
        let mut tail = read_all(&mut b);
        assert_eq!(tail.split_off(20), b"xyz");
    }

    /// A buffer that charges nothing per range (never prunes): for the reassembly mechanics.
    fn mech(cap: usize) -> RecvBuffer {
        let mut b = RecvBuffer::new(cap);
        b.set_range_cost(0);
        b
    }

    fn sacks(b: &RecvBuffer) -> Vec<(usize, usize)> {
        b.sack_blocks().collect()
    }

    #[test]
    fn sack_blocks_most_recent_first_then_most_recently_reported() {
        // RFC 2018 §4: the block holding the latest segment first, then the others in
        // the order they were last reported; four at most.
        let mut b = RecvBuffer::new(1000);
        b.insert(10, b"a");
        b.insert(30, b"c");
        b.insert(20, b"b");
        assert_eq!(sacks(&b), [(20, 21), (30, 31), (10, 11)]);
        b.insert(31, b"d"); // extends (30, 31): it moves to the front
        assert_eq!(sacks(&b), [(30, 32), (20, 21), (10, 11)]);
        b.insert(40, b"e");
        b.insert(50, b"f");
        assert_eq!(sacks(&b), [(50, 51), (40, 41), (30, 32), (20, 21)]);
        // (10, 11) is still held but no longer reported; hitting it again reports it.
        b.insert(11, b"g");
        assert_eq!(sacks(&b), [(10, 12), (50, 51), (40, 41), (30, 32)]);
        // Joining two reported ranges leaves one block for both.
        b.insert(41, &[0; 9]); // 41..50 joins (40, 41) and (50, 51)
        assert_eq!(sacks(&b), [(40, 51), (10, 12), (30, 32)]);
        // Ranges that become in order leave the list; offsets follow RCV.NXT.
        assert_eq!(b.insert(0, &[0; 12]), 12);
        assert_eq!(sacks(&b), [(28, 39), (18, 20)]);
        b.clear_ooo();
        assert_eq!(sacks(&b), []);
    }

    #[test]
    fn out_of_order_charge_is_bounded_and_counted_like_linux() {
        // Limit 2 * 1000; each one-byte range costs 1 + 256: 7 fit, the 8th is dropped
        // (it would land last: nothing above it to prune).
        let mut b = RecvBuffer::new(1000);
        for k in 1..=8 {
            b.insert(2 * k, b"x");
        }
        assert_eq!(b.ooo_count(), 7);
        assert_eq!(b.charge(), 7 * (1 + OOO_RANGE_COST));
        let p = b.prune_stats();
        assert_eq!((p.prune_called, p.ofo_pruned, p.ofo_drop), (1, 0, 1));
        // A segment below held ranges prunes from the highest down, an eighth of the
        // limit at a time, until it fits (Linux tcp_prune_ofo_queue).
        b.insert(1, b"y");
        assert_eq!(
            ranges(&b),
            [(1, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13)]
        );
        let p = b.prune_stats();
        assert_eq!((p.prune_called, p.ofo_pruned, p.ofo_drop), (2, 1, 1));
        assert!(b.charge() <= b.limit());
        // The pruned range (14, 15) is no longer reported.
        assert!(sacks(&b).iter().all(|&(s, _)| s < 14), "{:?}", sacks(&b));
        // In-order data is never dropped below the hard limit.
        assert_eq!(b.insert(0, b"0"), 3);
    }

    #[test]
    fn a_buffer_smaller_than_a_range_cost_still_holds_one_hole() {
        let mut b = RecvBuffer::new(100);
        assert_eq!(b.insert(5, b"later"), 0);
        assert_eq!(b.insert(50, b"x"), 0); // a second range does not fit
        assert_eq!(ranges(&b), [(5, 10)]);
        assert_eq!(b.insert(0, b"01234"), 10);
    }

    #[test]
    fn above_the_hard_limit_no_new_buffers() {
        let mut b = RecvBuffer::new(100_000);
        b.insert(5000, b"held");
        b.insert(9000, b"held");
        b.set_mode(MemMode::Exceeded);
        // Out of order: everything above is pruned and the segment dropped.
        assert_eq!(b.insert(3000, b"x"), 0);
        assert!(!b.has_ooo());
        let p = b.prune_stats();
        assert_eq!((p.prune_called, p.ofo_pruned, p.ofo_drop), (1, 1, 1));
        // In order: held while fewer than RMEM_MIN bytes are unread.
        assert_eq!(b.insert(0, &[1; RMEM_MIN]), RMEM_MIN);
        assert_eq!(b.insert(0, b"more"), 0);
        assert_eq!(b.prune_stats().rcvq_drop, 1);
        b.set_mode(MemMode::Normal);
        assert_eq!(b.insert(0, b"more"), 4);
    }

    #[test]
    fn every_other_byte_flood_holds_a_bounded_number_of_ranges_at_bounded_cost() {
        let cap = 256 * 1024;
        let mut b = RecvBuffer::new(cap);
        let n = 20_000;
        for k in 0..n {
            b.insert(1 + 2 * k, b"x");
            assert!(b.charge() <= b.limit());
        }
        assert!(b.ooo_count() <= 2 * cap / OOO_RANGE_COST);
        // O(log n) per segment would allow more; the old O(n) per segment needed ~n^2/2.
        assert!(b.ops() <= 12 * n as u64, "{} ops", b.ops());
    }

    proptest! {
        /// Random slices of a known stream, inserted in random order with duplicates and
        /// reads in between, reassemble to exactly the stream; storage stays within capacity.
        #[test]
        fn reassembles_any_order(
            len in 1usize..3000,
            cap in 1usize..1500,
            cuts in proptest::collection::vec((0usize..3000, 1usize..400), 1..80),
            seed: u64,
        ) {
            let stream: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            // Segments: random slices plus a tiling so every byte is covered.
            let mut segs: Vec<(usize, usize)> = cuts
                .iter()
                .map(|&(s, l)| (s % len, (s % len + l).min(len)))
                .collect();
            let mut s = 0;
            while s < len {
                let e = (s + 1 + (seed as usize + s) % 300).min(len);
                segs.push((s, e));
                s = e;
            }
            // Deterministic shuffle from the seed.
            let mut x = seed | 1;
            for i in (1..segs.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                segs.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut b = RecvBuffer::new(cap);
            let mut rcv_nxt = 0usize;
            let mut got = Vec::new();
            // Keep offering every segment until the stream is through (the peer retransmits).
            let mut rounds = 0;
            while got.len() < len {
                rounds += 1;
                prop_assert!(rounds < 10_000);
                for &(s, e) in &segs {
                    if e <= rcv_nxt {
                        continue;
                    }
                    // The connection trims the part before RCV.NXT (RFC 9293 §3.10.7.4).
                    let s = s.max(rcv_nxt);
                    rcv_nxt += b.insert(s - rcv_nxt, &stream[s..e]);
                    prop_assert!(b.allocated() <= cap);
                    prop_assert!(b.readable() <= cap);
                    for (a, z) in b.ooo_ranges() {
                        prop_assert!(0 < a && a < z && z <= b.window());
                    }
                    if x % 3 == 0 {
                        let mut out = vec![0u8; (x % 97) as usize];
                        let n = b.read(&mut out);
                        got.extend_from_slice(&out[..n]);
                    }
                    x = x.rotate_left(7) ^ 0x9e37_79b9_7f4a_7c15;
                }
                got.extend(read_all(&mut b));
            }
            prop_assert_eq!(rcv_nxt, len);
            prop_assert_eq!(got, stream);
            prop_assert!(!b.has_ooo());
        }

        /// With the default range cost: the charge stays within the limit (or one range
        /// past it), the SACK blocks are distinct held ranges, the first one holding the
        /// last out-of-order segment accepted.
        #[test]
        fn charge_bounded_and_sack_blocks_held(
            cap in 1usize..4000,
            segs in proptest::collection::vec((0usize..5000, 1usize..50, any::<bool>()), 0..200),
        ) {
            let mut b = RecvBuffer::new(cap);
            for (off, l, read) in segs {
                let before = b.prune_stats();
                let window = b.window();
                b.insert(off, &vec![7u8; l]);
                prop_assert!(b.charge() <= b.limit().max(cap + OOO_RANGE_COST));
                let held: Vec<_> = ranges(&b);
                let s = sacks(&b);
                prop_assert!(s.len() <= 4);
                for (i, blk) in s.iter().enumerate() {
                    prop_assert!(held.contains(blk), "{:?} not held in {:?}", blk, held);
                    prop_assert!(!s[..i].contains(blk));
                }
                let accepted = b.prune_stats().ofo_drop == before.ofo_drop;
                if off > 0 && off < window && accepted {
                    let first = s.first().copied();
                    prop_assert!(
                        first.is_some_and(|(a, z)| a <= off && off < z),
                        "first block {:?} does not hold offset {}", first, off
                    );
                }
                if read {
                    read_all(&mut b);
                }
            }
        }

        /// Out-of-order ranges always match a simple bitmap model, and are sorted,
        /// disjoint and non-touching.
        #[test]
        fn ranges_match_bitmap(
            cap in 1usize..200,
            segs in proptest::collection::vec((0usize..250, 0usize..60), 0..40),
        ) {
            let mut b = RecvBuffer::new(cap);
            b.set_range_cost(0); // no pruning: the model knows none
            let mut have = vec![false; cap];
            let mut nxt = 0usize;
            for (off, l) in segs {
                let data = vec![0xAAu8; l];
                let adv = b.insert(off, &data);
                let w = cap - nxt;
                for i in off..(off + l).min(w) {
                    have[nxt + i] = true;
                }
                let mut model_adv = 0;
                while nxt + model_adv < cap && have[nxt + model_adv] {
                    model_adv += 1;
                }
                prop_assert_eq!(adv, model_adv);
                nxt += adv;
                let mut want = Vec::new();
                let mut i = nxt;
                while i < cap {
                    if have[i] {
                        let s = i;
                        while i < cap && have[i] { i += 1; }
                        want.push((s - nxt, i - nxt));
                    } else {
                        i += 1;
                    }
                }
                prop_assert_eq!(ranges(&b), want);
            }
        }
    }
}
