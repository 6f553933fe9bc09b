//! A deadline per key (e.g. per connection), ordered so that finding the next one does not
//! scan idle connections.
//!
//! Entries `(deadline, generation, key)` sit in one of two lanes: a FIFO for entries that
//! arrive in deadline order (every TIME-WAIT is now + 2*MSL, so thousands of them append
//! in O(1) and leave from the front in O(1)), and a binary heap for the rest. A table
//! indexed by key (keys are small dense indices, like connection slots) holds each key's
//! live deadline and which entry stands for it. Re-setting or clearing a key leaves its
//! old entry behind (lazy deletion). A deadline moved later (a retransmission timer
//! restarted by every ACK) is not filed again at once: its old, earlier entry stays, and
//! is re-filed at the new deadline when it reaches the front. When stale entries outnumber
//! live ones (plus a small slack) the lanes are rebuilt from the table, so they never hold
//! more than two entries per live key plus the slack, and every operation is O(log n)
//! amortised. Equal deadlines come out in the order they were set.
//!
//! What this module does not do: know what a deadline means (the connection's own timer
//! table does), hold more than one deadline per key, or read a clock.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use crate::time::Instant;

/// Entries tolerated beyond 2x the live ones (so tiny queues are not rebuilt on every
/// call).
const SLACK: usize = 16;

/// The earliest deadline among many keys.
#[derive(Clone, Debug)]
pub struct TimerQueue<K: Copy + Into<usize>> {
    heap: BinaryHeap<Entry<K>>,
    /// Entries in non-decreasing (deadline, generation) order.
    fifo: VecDeque<Entry<K>>,
    /// Each key's live deadline at index `key.into()`: no hashing per call (a set per
    /// segment sent or received); as long as the largest key.
    live: Vec<Option<Live<K>>>,
    /// Keys with a deadline.
    len: usize,
    next_gen: u64,
}

#[derive(Clone, Copy, Debug)]
struct Entry<K> {
    at: Instant,
    gen: u64,
    key: K,
}

impl<K> Entry<K> {
    fn order(&self) -> (Instant, u64) {
        (self.at, self.gen)
    }
}

/// A key's deadline, the generation of the `set` that gave it (its place among equal
/// deadlines), and the generation of the entry standing for it in a lane (older, and
/// earlier, when the deadline was moved later since).
#[derive(Clone, Copy, Debug)]
struct Live<K> {
    at: Instant,
    gen: u64,
    filed: u64,
    key: K,
}

// Ordered by (deadline, generation) only, reversed so the max-heap yields the earliest;
// generations are unique per key and lane entry, so this needs no `K: Ord`.
impl<K> PartialEq for Entry<K> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<K> Eq for Entry<K> {}
impl<K> PartialOrd for Entry<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Entry<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.order().cmp(&self.order())
    }
}

/// Which lane an entry was peeked from.
#[derive(Clone, Copy)]
enum Lane {
    Heap,
    Fifo,
}

impl<K: Copy + Into<usize>> Default for TimerQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Into<usize>> TimerQueue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            fifo: VecDeque::new(),
            live: Vec::new(),
            len: 0,
            next_gen: 0,
        }
    }

    /// Sets (`Some`) or clears (`None`) the one deadline of `key`. Setting the deadline it
    /// already has changes nothing, not even its place among equal deadlines. O(log n).
    pub fn set(&mut self, key: K, at: Option<Instant>) {
        let i = key.into();
        match at {
            None => {
                if self.live.get_mut(i).and_then(Option::take).is_some() {
                    self.len -= 1;
                }
            }
            Some(at) => {
                if i >= self.live.len() {
                    self.live.resize(i + 1, None);
                }
                let gen = self.next_gen;
                self.next_gen = self.next_gen.wrapping_add(1);
                match self.live[i] {
                    Some(l) if l.at == at => return,
                    // Later: the old entry comes up first and is re-filed then.
                    Some(l) if l.at < at => {
                        self.live[i] = Some(Live { at, gen, ..l });
                        return;
                    }
                    Some(_) => {}
                    None => self.len += 1,
                }
                self.live[i] = Some(Live {
                    at,
                    gen,
                    filed: gen,
                    key,
                });
                self.file(Entry { at, gen, key });
            }
        }
        self.maybe_compact();
    }

    /// The deadline of `key`, if set.
    pub fn get(&self, key: K) -> Option<Instant> {
        self.slot(key).map(|l| l.at)
    }

    fn slot(&self, key: K) -> Option<Live<K>> {
        self.live.get(key.into()).copied().flatten()
    }

    /// The earliest deadline. Drops stale entries from the front on the way.
    // The agreed name; it peeks, it does not advance like `Iterator::next`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Instant> {
        self.live_front().map(|(_, e)| e.at)
    }

    /// Removes and returns a key whose deadline is at or before `now`, earliest first
    /// (equal deadlines in the order they were set). Call until `None`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        let (lane, e) = self.live_front()?;
        if e.at > now {
            return None;
        }
        self.take(lane);
        self.live[e.key.into()] = None;
        self.len -= 1;
        self.maybe_compact();
        Some(e.key)
    }

    /// Number of keys with a deadline.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No deadline is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries in both lanes, live and stale (for tests of the memory bound).
    #[cfg(test)]
    fn heap_len(&self) -> usize {
        self.heap.len() + self.fifo.len()
    }

    /// Appends to the FIFO when that keeps it in order, else into the heap.
    fn file(&mut self, e: Entry<K>) {
        if self.fifo.back().is_none_or(|b| b.order() <= e.order()) {
            self.fifo.push_back(e);
        } else {
            self.heap.push(e);
        }
    }

    /// The earlier of the two lanes' fronts.
    fn front(&self) -> Option<(Lane, Entry<K>)> {
        match (self.heap.peek(), self.fifo.front()) {
            (Some(h), Some(f)) if h.order() < f.order() => Some((Lane::Heap, *h)),
            (_, Some(f)) => Some((Lane::Fifo, *f)),
            (Some(h), None) => Some((Lane::Heap, *h)),
            (None, None) => None,
        }
    }

    fn take(&mut self, lane: Lane) {
        match lane {
            Lane::Heap => self.heap.pop(),
            Lane::Fifo => self.fifo.pop_front(),
        };
    }

    /// The front entry after dropping stale entries and re-filing moved ones above it.
    /// Bounded: each turn removes a stale entry or re-files a moved one, and a re-filed
    /// entry is exact, so it is never re-filed again.
    fn live_front(&mut self) -> Option<(Lane, Entry<K>)> {
        loop {
            let (lane, e) = self.front()?;
            match self.slot(e.key) {
                Some(l) if l.filed == e.gen && l.at == e.at => return Some((lane, e)),
                Some(l) if l.filed == e.gen => {
                    // Moved later since this entry was filed: file it again where it is due.
                    self.take(lane);
                    self.live[e.key.into()] = Some(Live { filed: l.gen, ..l });
                    self.file(Entry {
                        at: l.at,
                        gen: l.gen,
                        key: e.key,
                    });
                }
                _ => self.take(lane),
            }
        }
    }

    /// Rebuilds the lanes from the table, in O(live log live), once stale entries exceed
    /// the live ones plus `SLACK`: each rebuild is paid for by the more than `live` stale
    /// entries (each from a set or clear) since the last one. The result is one sorted
    /// FIFO of exact entries.
    fn maybe_compact(&mut self) {
        if self.heap.len() + self.fifo.len() > 2 * self.len + SLACK {
            let mut all: Vec<Entry<K>> = Vec::with_capacity(self.len);
            for l in self.live.iter_mut().flatten() {
                l.filed = l.gen;
                all.push(Entry {
                    at: l.at,
                    gen: l.gen,
                    key: l.key,
                });
            }
            all.sort_unstable_by_key(Entry::order);
            self.heap.clear();
            self.fifo = all.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn drain(q: &mut TimerQueue<u16>, now: Instant) -> Vec<u16> {
        std::iter::from_fn(|| q.pop_expired(now)).collect()
    }

    #[test]
    fn earliest_first() {
        let mut q = TimerQueue::new();
        assert!(q.is_empty());
        assert_eq!(q.next(), None);
        q.set(1u16, Some(t(30)));
        q.set(2, Some(t(10)));
        q.set(3, Some(t(20)));
        assert_eq!(q.len(), 3);
        assert_eq!(q.next(), Some(t(10)));
        assert_eq!(q.get(3), Some(t(20)));
        assert_eq!(q.get(4), None);
        assert_eq!(drain(&mut q, t(100)), [2, 3, 1]);
        assert!(q.is_empty());
        assert_eq!(q.next(), None);
    }

    #[test]
    fn re_set_moves_a_key_both_ways() {
        let mut q = TimerQueue::new();
        q.set(1u16, Some(t(10)));
        q.set(2, Some(t(20)));
        q.set(1, Some(t(30)));
        assert_eq!(q.next(), Some(t(20)));
        assert_eq!(q.get(1), Some(t(30)));
        q.set(1, Some(t(5)));
        assert_eq!(q.next(), Some(t(5)));
        assert_eq!(q.len(), 2);
        assert_eq!(drain(&mut q, t(100)), [1, 2]);
    }

    #[test]
    fn clearing_removes_the_deadline() {
        let mut q = TimerQueue::new();
        q.set(1u16, Some(t(10)));
        q.set(2, Some(t(20)));
        q.set(1, None);
        q.set(7, None);
        assert_eq!(q.get(1), None);
        assert_eq!(q.len(), 1);
        assert_eq!(q.next(), Some(t(20)));
        assert_eq!(drain(&mut q, t(100)), [2]);
        // A cleared key can be set again.
        q.set(1, Some(t(50)));
        assert_eq!(drain(&mut q, t(100)), [1]);
    }

    #[test]
    fn pop_expired_respects_now_and_ties_keep_set_order() {
        let mut q = TimerQueue::new();
        q.set(5u16, Some(t(10)));
        q.set(3, Some(t(10)));
        q.set(9, Some(t(10)));
        q.set(1, Some(t(11)));
        assert_eq!(q.pop_expired(t(9)), None);
        assert_eq!(drain(&mut q, t(10)), [5, 3, 9]);
        assert_eq!(q.next(), Some(t(11)));
        // Re-setting a tied key to the same deadline keeps its place...
        q.set(4, Some(t(20)));
        q.set(6, Some(t(20)));
        q.set(4, Some(t(20)));
        // ...moving it away and back puts it last.
        q.set(6, Some(t(21)));
        q.set(6, Some(t(20)));
        q.set(8, Some(t(20)));
        assert_eq!(drain(&mut q, t(20)), [1, 4, 6, 8]);
    }

    #[test]
    fn deadlines_set_in_order_queue_in_the_fifo_and_others_in_the_heap() {
        let mut q = TimerQueue::new();
        // TIME-WAIT-like: each now + 60 s, in order: all appended to the FIFO.
        for k in 0..100u16 {
            q.set(k, Some(t(60_000 + u64::from(k))));
        }
        assert_eq!((q.heap.len(), q.fifo.len()), (0, 100));
        // Shorter ones set later go to the heap, and still come out first.
        q.set(200, Some(t(200)));
        q.set(201, Some(t(100)));
        assert_eq!((q.heap.len(), q.fifo.len()), (2, 100));
        assert_eq!(drain(&mut q, t(60_001)), [201, 200, 0, 1]);
    }

    #[test]
    fn a_deadline_moved_later_is_filed_again_only_when_its_old_entry_is_due() {
        let mut q = TimerQueue::new();
        q.set(1u16, Some(t(10)));
        q.set(2, Some(t(20)));
        // A restarted retransmission timer: no new entry now.
        q.set(1, Some(t(30)));
        assert_eq!(q.heap_len(), 2);
        assert_eq!(q.pop_expired(t(15)), None, "not due at its old deadline");
        assert_eq!(
            q.heap_len(),
            2,
            "re-filed at 30 in place of the entry at 10"
        );
        assert_eq!(drain(&mut q, t(30)), [2, 1]);
    }

    #[test]
    fn deadline_equal_to_now_is_expired() {
        let mut q = TimerQueue::new();
        q.set(1u16, Some(t(10)));
        assert_eq!(q.pop_expired(t(10)), Some(1));
        assert_eq!(q.pop_expired(t(10)), None);
    }

    #[test]
    fn heap_stays_bounded_under_re_sets() {
        let mut q = TimerQueue::new();
        for k in 0..100u16 {
            q.set(k, Some(t(u64::from(k))));
        }
        for round in 0..1000u64 {
            for k in 0..100u16 {
                q.set(k, Some(t(round * 1000 + u64::from(k) * 7 % 100)));
                assert!(q.heap_len() <= 2 * q.len() + SLACK, "heap {}", q.heap_len());
            }
        }
        assert_eq!(q.len(), 100);
        // Clearing most keys shrinks the heap too.
        for k in 10..100u16 {
            q.set(k, None);
            assert!(q.heap_len() <= 2 * q.len() + SLACK);
        }
        assert_eq!(q.len(), 10);
        assert_eq!(q.next(), Some(t(999_000)));
    }

    #[test]
    fn one_key_re_set_forever_keeps_a_small_heap() {
        let mut q = TimerQueue::new();
        for i in 0..100_000u64 {
            q.set(0u8, Some(t(i % 977)));
            assert!(q.heap_len() <= 2 + SLACK);
        }
        assert_eq!(q.get(0), Some(t(99_999 % 977)));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Set(u8, u16),
        Clear(u8),
        Pop(u16),
        Next,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..16, 0u16..200).prop_map(|(k, at)| Op::Set(k, at)),
            1 => (0u8..16).prop_map(Op::Clear),
            2 => (0u16..200).prop_map(Op::Pop),
            1 => Just(Op::Next),
        ]
    }

    /// The obvious model: deadlines ordered by (deadline, set order) in a BTreeMap.
    #[derive(Default)]
    struct Model {
        order: BTreeMap<(u16, u64), u8>,
        by_key: HashMap<u8, (u16, u64)>,
        seq: u64,
    }

    impl Model {
        fn set(&mut self, k: u8, at: Option<u16>) {
            let old = self.by_key.get(&k).copied();
            if at.is_some() && old.map(|(a, _)| a) == at {
                return;
            }
            if let Some(old) = old {
                self.order.remove(&old);
                self.by_key.remove(&k);
            }
            if let Some(at) = at {
                self.seq += 1;
                self.order.insert((at, self.seq), k);
                self.by_key.insert(k, (at, self.seq));
            }
        }
        fn pop(&mut self, now: u16) -> Option<u8> {
            let (&(at, seq), &k) = self.order.iter().next()?;
            if at > now {
                return None;
            }
            self.order.remove(&(at, seq));
            self.by_key.remove(&k);
            Some(k)
        }
    }

    proptest! {
        #[test]
        fn matches_a_btreemap_model(ops in proptest::collection::vec(op(), 0..300)) {
            let mut q = TimerQueue::new();
            let mut m = Model::default();
            let at = |x: u16| Instant::from_millis(u64::from(x));
            for o in ops {
                match o {
                    Op::Set(k, x) => {
                        q.set(k, Some(at(x)));
                        m.set(k, Some(x));
                    }
                    Op::Clear(k) => {
                        q.set(k, None);
                        m.set(k, None);
                    }
                    Op::Pop(now) => prop_assert_eq!(q.pop_expired(at(now)), m.pop(now)),
                    Op::Next => {
                        let want = m.order.keys().next().map(|&(x, _)| at(x));
                        prop_assert_eq!(q.next(), want);
                    }
                }
                prop_assert_eq!(q.len(), m.by_key.len());
                prop_assert!(q.heap_len() <= 2 * q.len() + SLACK);
                for k in 0..16u8 {
                    prop_assert_eq!(q.get(k), m.by_key.get(&k).map(|&(x, _)| at(x)));
                }
            }
            // Draining at the end agrees too.
            loop {
                let got = q.pop_expired(Instant::from_millis(1000));
                prop_assert_eq!(got, m.pop(1000));
                if got.is_none() {
                    break;
                }
            }
            prop_assert!(q.is_empty());
        }
    }
}
