//! The send buffer: bytes the application queued, from SND.UNA onward (RFC 9293 §3.3.1).
//!
//! The front of the buffer is SND.UNA; the first `SND.NXT - SND.UNA` bytes are sent but
//! unacknowledged, the rest are not yet sent. Offsets passed to [`SendBuffer::read_at`] are
//! bytes past SND.UNA, so a (re)transmission of `seq` reads at `seq.since(snd_una)`.
//!
//! Storage is a `VecDeque<u8>` that allocates on the first write and grows by doubling up
//! to the capacity, so an idle connection costs nothing and memory never exceeds
//! `max(capacity, bytes held)`.
//!
//! This module does not know sequence numbers, SYN/FIN (which occupy sequence space but
//! no buffer bytes), windows or what has been sent; the connection tracks those.

use std::collections::VecDeque;

/// Smallest storage allocated on the first write (or the capacity, if smaller); small, as
/// in `recv_buffer`, so a short response does not take a 4 KiB allocation.
const MIN_ALLOC: usize = 256;

/// The send side: bytes queued by the application, from SND.UNA on (sent and not yet
/// acknowledged, then not yet sent).
#[derive(Debug, Clone)]
pub struct SendBuffer {
    data: VecDeque<u8>,
    capacity: usize,
    /// Bytes held when the capacity was last set below them (0 otherwise): the most the
    /// buffer may hold above its capacity, only shrinking as bytes are acknowledged.
    held_at_shrink: usize,
}

impl SendBuffer {
    /// An empty buffer that will hold at most `capacity` bytes. Allocates nothing.
    pub fn new(capacity: usize) -> SendBuffer {
        SendBuffer {
            data: VecDeque::new(),
            capacity,
            held_at_shrink: 0,
        }
    }

    /// The most bytes [`SendBuffer::write`] will let the buffer hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the capacity. Never drops queued bytes: shrinking below [`SendBuffer::len`]
    /// only stops further writes until enough is acknowledged.
    pub fn set_capacity(&mut self, n: usize) {
        self.capacity = n;
        self.held_at_shrink = if self.data.len() > n {
            self.data.len()
        } else {
            0
        };
        // Give back storage beyond what the new capacity (or the data held) needs.
        let keep = n.max(self.data.len());
        if self.data.capacity() > keep {
            self.data.shrink_to(keep);
        }
    }

    /// Gives back the storage if nothing is held (e.g. in TIME-WAIT: nothing more will be
    /// written); a later write allocates again.
    pub fn release_storage(&mut self) {
        if self.data.is_empty() {
            self.data = VecDeque::new();
        }
    }

    /// Bytes held (sent-unacknowledged plus unsent).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// No byte is queued.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Room for more application bytes: `capacity - len`, zero if shrunk below `len`.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.data.len())
    }

    /// Appends up to [`SendBuffer::free`] bytes of `data`; returns how many were taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        let needed = self.data.len() + n; // <= capacity
        if needed > self.data.capacity() {
            // The next power of two, at least double (and MIN_ALLOC), never past the
            // capacity: bounded memory, amortized O(1) appends.
            let doubled = self.data.capacity().saturating_mul(2).max(MIN_ALLOC);
            let size = needed.checked_next_power_of_two().unwrap_or(needed);
            let target = needed.max(self.capacity.min(size.max(doubled)));
            self.data.reserve_exact(target - self.data.len());
        }
        self.data.extend(&data[..n]);
        n
    }

    /// Copies bytes starting `offset` bytes past the front (SND.UNA) into `out`; returns
    /// how many were copied (0 if `offset >= len`).
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> usize {
        if offset >= self.data.len() {
            return 0;
        }
        let (a, b) = self.data.as_slices();
        let mut copied = 0;
        let mut pos = offset;
        while copied < out.len() && pos < self.data.len() {
            let (slice, at) = if pos < a.len() {
                (a, pos)
            } else {
                (b, pos - a.len())
            };
            let n = (slice.len() - at).min(out.len() - copied);
            out[copied..copied + n].copy_from_slice(&slice[at..at + n]);
            copied += n;
            pos += n;
        }
        copied
    }

    /// The `len` bytes starting `offset` bytes past the front, if they are held and lie in
    /// one piece of the ring (they do unless the segment straddles its wrap): a segment's
    /// payload goes from here straight into the packet, without a copy to read it out.
    pub fn slice_at(&self, offset: usize, len: usize) -> Option<&[u8]> {
        let (a, b) = self.data.as_slices();
        let end = offset.checked_add(len)?;
        if end <= a.len() {
            Some(&a[offset..end])
        } else if offset >= a.len() {
            b.get(offset - a.len()..end - a.len())
        } else {
            None
        }
    }

    /// Drops `n` acknowledged bytes from the front (all of them if `n > len`).
    pub fn ack(&mut self, n: usize) {
        let n = n.min(self.data.len());
        self.data.drain(..n);
        if self.data.len() <= self.capacity {
            self.held_at_shrink = 0;
        }
        // After a shrink (see `set_capacity`), give storage back once the data fits again.
        if self.data.capacity() > self.capacity && self.data.len() <= self.capacity {
            self.data.shrink_to(self.capacity);
        }
    }

    /// Bytes of storage currently allocated (for memory accounting and tests).
    pub fn allocated(&self) -> usize {
        self.data.capacity()
    }

    /// Bytes held within the capacity, or within what was held when the capacity was last
    /// lowered below it (`set_capacity` never drops bytes).
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.data.len() > self.capacity.max(self.held_at_shrink) {
            return Err(format!(
                "send buffer holds {} bytes, capacity {}",
                self.data.len(),
                self.capacity
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(b: &SendBuffer, offset: usize) -> Vec<u8> {
        let mut out = vec![0; b.len()];
        let n = b.read_at(offset, &mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn new_buffer_allocates_nothing() {
        let b = SendBuffer::new(65536);
        assert_eq!(b.allocated(), 0);
        assert!(b.is_empty());
        assert_eq!(b.free(), 65536);
        assert_eq!(b.capacity(), 65536);
    }

    #[test]
    fn write_takes_up_to_free() {
        let mut b = SendBuffer::new(10);
        assert_eq!(b.write(b"hello"), 5);
        assert_eq!(b.write(b"world!!"), 5);
        assert_eq!(b.write(b"x"), 0);
        assert_eq!(b.len(), 10);
        assert_eq!(b.free(), 0);
        assert_eq!(read_all(&b, 0), b"helloworld");
        assert!(b.allocated() <= 10);
    }

    #[test]
    fn read_at_offsets() {
        let mut b = SendBuffer::new(100);
        b.write(b"0123456789");
        let mut out = [0u8; 4];
        assert_eq!(b.read_at(3, &mut out), 4);
        assert_eq!(&out, b"3456");
        assert_eq!(b.read_at(8, &mut out), 2);
        assert_eq!(&out[..2], b"89");
        assert_eq!(b.read_at(10, &mut out), 0);
        assert_eq!(b.read_at(usize::MAX, &mut out), 0);
        assert_eq!(b.read_at(0, &mut []), 0);
    }

    #[test]
    fn ack_drops_from_front() {
        let mut b = SendBuffer::new(100);
        b.write(b"abcdef");
        b.ack(2);
        assert_eq!(read_all(&b, 0), b"cdef");
        assert_eq!(b.free(), 96);
        b.ack(0);
        assert_eq!(b.len(), 4);
        b.ack(1000);
        assert!(b.is_empty());
        b.ack(1); // acking an empty buffer is a no-op
        assert!(b.is_empty());
    }

    #[test]
    fn wraps_around_the_ring() {
        let mut b = SendBuffer::new(8);
        b.write(b"abcdefgh");
        b.ack(5);
        assert_eq!(b.write(b"ijklmnop"), 5);
        assert_eq!(read_all(&b, 0), b"fghijklm");
        assert_eq!(read_all(&b, 2), b"hijklm");
        assert_eq!(read_all(&b, 4), b"jklm");
        assert!(b.allocated() <= 8);
        // Unless a range straddles the wrap, it is lent in place.
        for (off, len) in [(0, 8), (0, 3), (2, 4), (5, 3), (7, 1), (8, 0)] {
            if let Some(s) = b.slice_at(off, len) {
                assert_eq!(s, &read_all(&b, off)[..len]);
            }
        }
        assert_eq!(b.slice_at(6, 3), None, "past the end");
    }

    #[test]
    fn shrinking_keeps_queued_bytes() {
        let mut b = SendBuffer::new(10);
        b.write(b"0123456789");
        b.set_capacity(4);
        assert_eq!(b.len(), 10);
        assert_eq!(b.free(), 0);
        assert_eq!(b.write(b"x"), 0);
        assert_eq!(read_all(&b, 0), b"0123456789");
        b.ack(7);
        assert_eq!(b.free(), 1);
        assert_eq!(b.write(b"xy"), 1);
        assert_eq!(read_all(&b, 0), b"789x");
    }

    #[test]
    fn growing_allows_more() {
        let mut b = SendBuffer::new(2);
        assert_eq!(b.write(b"abc"), 2);
        b.set_capacity(5);
        assert_eq!(b.write(b"cdef"), 3);
        assert_eq!(read_all(&b, 0), b"abcde");
    }

    #[test]
    fn zero_capacity_takes_nothing() {
        let mut b = SendBuffer::new(0);
        assert_eq!(b.write(b"abc"), 0);
        assert_eq!(b.allocated(), 0);
    }

    /// A model: a plain Vec with the same operations.
    #[derive(Debug, Clone)]
    enum Op {
        Write(Vec<u8>),
        Ack(usize),
        SetCap(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Op::Write),
            3 => (0usize..400).prop_map(Op::Ack),
            1 => (0usize..2000).prop_map(Op::SetCap),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_vec(cap in 0usize..2000, ops in proptest::collection::vec(op(), 0..60)) {
            let mut b = SendBuffer::new(cap);
            let mut model: Vec<u8> = Vec::new();
            let mut model_cap = cap;
            let mut max_cap = cap;
            for op in ops {
                match op {
                    Op::Write(d) => {
                        let n = b.write(&d);
                        let want = d.len().min(model_cap.saturating_sub(model.len()));
                        prop_assert_eq!(n, want);
                        model.extend_from_slice(&d[..n]);
                    }
                    Op::Ack(n) => {
                        b.ack(n);
                        model.drain(..n.min(model.len()));
                    }
                    Op::SetCap(n) => {
                        b.set_capacity(n);
                        model_cap = n;
                    }
                }
                prop_assert_eq!(b.len(), model.len());
                prop_assert_eq!(b.free(), model_cap.saturating_sub(model.len()));
                max_cap = max_cap.max(model_cap);
                // Memory is bounded by the largest capacity ever set, and by the current
                // capacity whenever the data fits in it.
                prop_assert!(b.allocated() <= max_cap);
                if model.len() <= model_cap {
                    prop_assert!(b.allocated() <= model_cap, "{} > {}", b.allocated(), model_cap);
                }
                for off in [0, 1, model.len() / 2, model.len().saturating_sub(1), model.len()] {
                    prop_assert_eq!(read_all(&b, off), model.get(off..).unwrap_or(&[]).to_vec());
                    let len = model.len().saturating_sub(off).min(100);
                    if let Some(s) = b.slice_at(off, len) {
                        prop_assert_eq!(s, &model[off..off + len]);
                    }
                    prop_assert_eq!(b.slice_at(off, model.len() + 1 - off.min(model.len())), None);
                }
            }
        }
    }
}
