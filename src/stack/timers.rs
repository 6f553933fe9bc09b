//! A deadline per key (e.g. per connection), ordered so that finding the next one does not
//! scan idle connections.
//!
//! A binary heap holds `(deadline, generation, key)` entries; a map holds each key's live
//! `(deadline, generation)`. Re-setting or clearing a key leaves its old heap entry behind
//! (lazy deletion): an entry is live only while its generation is the key's current one.
//! When stale entries outnumber live ones (plus a small slack) the heap is rebuilt from the
//! map, so it never holds more than two entries per live key plus the slack, and every
//! operation is O(log n) amortised. Equal deadlines come out in the order they were set.
//!
//! Moving a deadline later (a retransmission timer pushed back by each ACK, TIME-WAIT after
//! a FIN's timer) does not push at once: the key's earlier heap entry stays and is re-filed
//! at the true deadline only when it reaches the top, by which time the key has often been
//! re-set or cleared again. What `next` and `pop_expired` return is unchanged.
//!
//! What this module does not do: know what a deadline means (the connection's own timer
//! table does, DESIGN.md habit 4), hold more than one deadline per key, or read a clock.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::time::Instant;

/// Heap entries tolerated beyond 2x the live ones (so tiny queues are not rebuilt on
/// every call).
const SLACK: usize = 16;

/// The earliest deadline among many keys.
#[derive(Clone, Debug)]
pub struct TimerQueue<K: Copy + Eq + Hash> {
    heap: BinaryHeap<Entry<K>>,
    /// Keys are the owner's own (the stack's slot indices), never chosen by a peer, so a
    /// fast unkeyed hash is safe here; SipHash was ~5% of a short-connection server's CPU.
    live: HashMap<K, Live, BuildHasherDefault<FxHasher>>,
    next_gen: u64,
}

/// A key's deadline and the heap entry standing for it (at or before the deadline).
#[derive(Clone, Copy, Debug)]
struct Live {
    at: Instant,
    gen: u64,
    /// The key's entry in the heap: its time and generation.
    filed_at: Instant,
    filed_gen: u64,
}

#[derive(Clone, Copy, Debug)]
struct Entry<K> {
    at: Instant,
    gen: u64,
    key: K,
}

// Ordered by (deadline, generation) only, reversed so the max-heap yields the earliest;
// generations are unique, so this is a total order without needing `K: Ord`.
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
        (other.at, other.gen).cmp(&(self.at, self.gen))
    }
}

impl<K: Copy + Eq + Hash> Default for TimerQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq + Hash> TimerQueue<K> {
    pub fn new() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            live: HashMap::default(),
            next_gen: 0,
        }
    }

    /// Sets (`Some`) or clears (`None`) the one deadline of `key`. Setting the deadline it
    /// already has changes nothing, not even its place among equal deadlines. O(log n).
    pub fn set(&mut self, key: K, at: Option<Instant>) {
        match at {
            None => {
                self.live.remove(&key);
            }
            Some(at) => {
                let old = self.live.get(&key).copied();
                if old.is_some_and(|l| l.at == at) {
                    return;
                }
                let gen = self.next_gen;
                self.next_gen = self.next_gen.wrapping_add(1);
                match old {
                    // Later than the filed entry: that entry re-files it when it surfaces.
                    Some(l) if l.filed_at <= at => {
                        self.live.insert(key, Live { at, gen, ..l });
                        return;
                    }
                    _ => {
                        let live = Live {
                            at,
                            gen,
                            filed_at: at,
                            filed_gen: gen,
                        };
                        self.live.insert(key, live);
                        self.heap.push(Entry { at, gen, key });
                    }
                }
            }
        }
        self.maybe_compact();
    }

    /// The deadline of `key`, if set.
    pub fn get(&self, key: K) -> Option<Instant> {
        self.live.get(&key).map(|l| l.at)
    }

    /// The earliest deadline. Drops stale entries from the top of the heap on the way.
    // The agreed name; it peeks, it does not advance like `Iterator::next`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Instant> {
        self.live_top().map(|e| e.at)
    }

    /// Removes and returns a key whose deadline is at or before `now`, earliest first
    /// (equal deadlines in the order they were set). Call until `None`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        let top = self.live_top()?;
        if top.at > now {
            return None;
        }
        self.heap.pop();
        self.live.remove(&top.key);
        self.maybe_compact();
        Some(top.key)
    }

    /// Number of keys with a deadline.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Heap entries, live and stale (for tests of the memory bound).
    #[cfg(test)]
    fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// The heap's top after popping stale entries above it and re-filing deferred ones.
    fn live_top(&mut self) -> Option<Entry<K>> {
        loop {
            let top = *self.heap.peek()?;
            match self.live.get_mut(&top.key) {
                Some(l) if l.filed_gen == top.gen => {
                    if l.gen == top.gen {
                        return Some(top);
                    }
                    // Deferred: the deadline moved later; file it where it belongs now
                    // (with the generation of its last set, so ties keep the set order).
                    (l.filed_at, l.filed_gen) = (l.at, l.gen);
                    let e = Entry {
                        at: l.at,
                        gen: l.gen,
                        key: top.key,
                    };
                    self.heap.pop();
                    self.heap.push(e);
                }
                _ => {
                    self.heap.pop();
                }
            }
        }
    }

    /// Rebuilds the heap from the map, in O(live), once stale entries exceed the live ones
    /// plus `SLACK`: each rebuild is paid for by the more than `live` stale entries (each
    /// from a set or clear) since the last one.
    fn maybe_compact(&mut self) {
        if self.heap.len() > 2 * self.live.len() + SLACK {
            self.heap = self
                .live
                .iter_mut()
                .map(|(&key, l)| {
                    (l.filed_at, l.filed_gen) = (l.at, l.gen);
                    Entry {
                        at: l.at,
                        gen: l.gen,
                        key,
                    }
                })
                .collect();
        }
    }
}

/// FxHash (rustc's): one rotate, xor and multiply per word. Not for keys a peer picks.
#[derive(Clone, Copy, Default)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn drain(q: &mut TimerQueue<u32>, now: Instant) -> Vec<u32> {
        std::iter::from_fn(|| q.pop_expired(now)).collect()
    }

    #[test]
    fn earliest_first() {
        let mut q = TimerQueue::new();
        assert!(q.is_empty());
        assert_eq!(q.next(), None);
        q.set(1u32, Some(t(30)));
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
        q.set(1u32, Some(t(10)));
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
        q.set(1u32, Some(t(10)));
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
        q.set(5u32, Some(t(10)));
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
    fn deadline_equal_to_now_is_expired() {
        let mut q = TimerQueue::new();
        q.set(1u32, Some(t(10)));
        assert_eq!(q.pop_expired(t(10)), Some(1));
        assert_eq!(q.pop_expired(t(10)), None);
    }

    #[test]
    fn heap_stays_bounded_under_re_sets() {
        let mut q = TimerQueue::new();
        for k in 0..100u32 {
            q.set(k, Some(t(u64::from(k))));
        }
        for round in 0..1000u64 {
            for k in 0..100u32 {
                q.set(k, Some(t(round * 1000 + u64::from(k) * 7 % 100)));
                assert!(q.heap_len() <= 2 * q.len() + SLACK, "heap {}", q.heap_len());
            }
        }
        assert_eq!(q.len(), 100);
        // Clearing most keys shrinks the heap too.
        for k in 10..100u32 {
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
