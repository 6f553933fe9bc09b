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
//! the range map holds at most `capacity / 2` entries (one byte present, one missing).
//!
//! This module does not know sequence numbers, SYN/FIN, PUSH or URG: the connection trims
//! a segment to start at or after RCV.NXT, converts its sequence number to an offset, and
//! advances RCV.NXT by what `insert` returns. It does not advertise windows either: the
//! connection decides what to announce (and must not shrink what it announced, §3.8.6).

use std::collections::BTreeMap;

/// Smallest storage allocated on the first insert (or the capacity, if smaller). Small, so
/// a short request (an HTTP GET is ~100 bytes) does not cost a zeroed 4 KiB page per
/// connection; a bulk flow doubles past it in a few steps.
const MIN_ALLOC: usize = 256;

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
        }
    }

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
        let window = self.window();
        if offset >= window || data.is_empty() {
            return 0;
        }
        let end = offset.saturating_add(data.len()).min(window);
        let data = &data[..end - offset];
        self.reserve(self.readable + end);

        let (start_pos, end_pos) = (self.nxt + offset as u64, self.nxt + end as u64);
        if self.ooo.is_empty() {
            // Nothing held past RCV.NXT (the in-order stream): no gaps to find, no ranges
            // to merge; the same result as the general case below.
            self.write_gap(start_pos, end_pos, start_pos, data);
            if offset > 0 {
                self.ooo.insert(start_pos, end_pos);
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
        for &(s, e) in &touching {
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
            advance
        } else {
            self.ooo.insert(merged_start, merged_end);
            0
        }
    }

    /// Out-of-order ranges held, as (start, end) offsets past RCV.NXT, sorted; for SACK.
    pub fn ooo_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ooo
            .iter()
            .map(move |(&s, &e)| ((s - self.nxt) as usize, (e - self.nxt) as usize))
    }

    pub fn has_ooo(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Drops all out-of-order data (used on abort / if memory must be reclaimed).
    pub fn clear_ooo(&mut self) {
        self.ooo.clear();
    }

    /// Bytes of storage currently allocated (for memory accounting and tests).
    pub fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// Out-of-order ranges held (what the range-count bound limits).
    pub fn ooo_count(&self) -> usize {
        self.ooo.len()
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
        let mut b = RecvBuffer::new(100);
        assert_eq!(b.insert(3, b"def"), 0);
        assert_eq!(ranges(&b), [(3, 6)]);
        assert_eq!(b.readable(), 0);
        assert_eq!(b.insert(0, b"abc"), 6);
        assert!(!b.has_ooo());
        assert_eq!(read_all(&mut b), b"abcdef");
    }

    #[test]
    fn many_holes_filled_in_any_order() {
        let mut b = RecvBuffer::new(100);
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
        let mut b = RecvBuffer::new(100);
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
        let mut b = RecvBuffer::new(100);
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
        let mut b = RecvBuffer::new(100);
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
        let mut b = RecvBuffer::new(100);
        b.insert(4, b"efgh");
        assert_eq!(b.insert(4, b"EFGH"), 0);
        assert_eq!(ranges(&b), [(4, 8)]);
        assert_eq!(b.insert(0, b"abcd"), 8);
        assert_eq!(b.insert(0, b""), 0);
        assert_eq!(read_all(&mut b), b"abcdefgh");
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
        let mut b = RecvBuffer::new(10_000);
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

        /// Out-of-order ranges always match a simple bitmap model, and are sorted,
        /// disjoint and non-touching.
        #[test]
        fn ranges_match_bitmap(
            cap in 1usize..200,
            segs in proptest::collection::vec((0usize..250, 0usize..60), 0..40),
        ) {
            let mut b = RecvBuffer::new(cap);
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
