//! The fragment reassembly table both IP versions share: holes, limits, eviction,
//! timeouts and counters. IPv4 ([`super::frag`], RFC 791 §3.2) and IPv6 ([`super::frag6`],
//! RFC 8200 §4.5) differ only in their key, what they keep of fragment 0, the largest end
//! a fragment may reach and how the whole is put together; they pass those in.
//!
//! Rules (the family modules' docs give their reasons and RFCs):
//! - An empty fragment, or a non-last one whose length is not a multiple of 8, is dropped
//!   alone; one ending past [`Piece::max_end`] kills its datagram.
//! - A fragment inside one already held is a duplicate, dropped alone (RFC 5722 errata
//!   3089); any other overlap kills the datagram (RFC 5722 §4).
//! - A last fragment that disagrees with the known length, or data past it, kills the
//!   datagram; so does a duplicate that claims to be last when the copy held was not.
//! - At most `max_datagrams` in progress and `max_bytes` charged (data + [`FRAG_OVERHEAD`]
//!   per fragment + what the family charges for fragment 0); at a limit the oldest is
//!   evicted, and the datagram being added to is killed if it alone does not fit.
//! - A fixed timeout from the first fragment, not refreshed.
//!
//! What it does not do: look at headers, or see unfragmented datagrams and atomic
//! fragments (RFC 6946): the family passes those through before calling it.

use super::frag::{FragLimits, FragStats, FRAG_OVERHEAD};
use super::keyed::KeyedHash;
use crate::time::Instant;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::hash::Hash;

/// One fragment, as its family read it.
pub(super) struct Piece<'a, F> {
    /// Offset of its data in the fragmentable part, in bytes.
    pub start: usize,
    /// Its data.
    pub data: &'a [u8],
    /// No more fragments follow (MF / M clear).
    pub last: bool,
    /// Ends past this kill the datagram (the family's largest datagram, less its headers).
    pub max_end: usize,
    /// For fragment 0: what the family keeps of it, and the bytes to charge for that.
    pub first: Option<(F, usize)>,
}

/// The fragments of a complete datagram, in order.
pub(super) struct Joined {
    frags: BTreeMap<usize, Vec<u8>>,
    len: usize,
}

impl Joined {
    /// Bytes of data over all fragments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends the data, fragments in order, to `out`.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.len);
        for v in self.frags.values() {
            out.extend_from_slice(v);
        }
    }
}

struct Pending<F> {
    /// Creation order, for eviction of the oldest and a deterministic expiry order.
    serial: u64,
    deadline: Instant,
    /// Offset -> data; never overlapping.
    frags: BTreeMap<usize, Vec<u8>>,
    /// Sum of the fragments' lengths (exact: they do not overlap).
    received: usize,
    /// Highest end offset seen.
    max_end: usize,
    /// Length of the fragmentable part, known once the last fragment arrived.
    total_len: Option<usize>,
    first: Option<F>,
    charged: usize,
}

enum Fit {
    New,
    Duplicate,
    Overlap,
}

impl<F> Pending<F> {
    /// How [start, end) relates to what we hold.
    fn fit(&self, start: usize, end: usize) -> Fit {
        if let Some((&s, v)) = self.frags.range(..=start).next_back() {
            let e = s + v.len();
            if e > start {
                return if end <= e {
                    Fit::Duplicate
                } else {
                    Fit::Overlap
                };
            }
        }
        match self.frags.range(start + 1..).next() {
            Some((&s, _)) if s < end => Fit::Overlap,
            _ => Fit::New,
        }
    }
}

/// Datagrams in progress, keyed by `K` (its `Display` names it in logs), each keeping `F`
/// of its fragment 0. Sans-IO: time comes in with every call.
pub(super) struct Table<K, F> {
    limits: FragLimits,
    /// Keyed from the stack's seed: peers pick the keys (RandomState would draw OS
    /// randomness inside the core and make runs unrepeatable).
    pending: HashMap<K, Pending<F>, KeyedHash>,
    bytes: usize,
    next_serial: u64,
    stats: FragStats,
}

impl<K: Copy + Eq + Hash + Display, F> Table<K, F> {
    /// An empty table; `seed` and `label` key its hash.
    pub fn new(limits: FragLimits, seed: u64, label: &'static [u8]) -> Table<K, F> {
        Table {
            limits,
            pending: HashMap::with_hasher(KeyedHash::new(seed, label)),
            bytes: 0,
            next_serial: 0,
            stats: FragStats::default(),
        }
    }

    pub fn limits(&self) -> FragLimits {
        self.limits
    }

    pub fn stats(&self) -> FragStats {
        self.stats
    }

    pub fn in_progress(&self) -> usize {
        self.pending.len()
    }

    pub fn bytes_buffered(&self) -> usize {
        self.bytes
    }

    /// The earliest deadline, if a datagram is in progress.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Counts a fragment the family dropped alone before it reached the table.
    pub fn reject(&mut self) {
        self.stats.reasm_reqds += 1;
        self.stats.reasm_fails += 1;
    }

    /// Adds one fragment of datagram `key`. When it completes the datagram, `assemble`
    /// builds the whole from fragment 0's `F` and the data; `None` from it (too long)
    /// counts a failure.
    pub fn add<T>(
        &mut self,
        now: Instant,
        key: K,
        piece: Piece<'_, F>,
        assemble: impl FnOnce(F, Joined) -> Option<T>,
    ) -> Option<T> {
        self.stats.reasm_reqds += 1;
        let Piece {
            start,
            data,
            last,
            max_end,
            first,
        } = piece;
        let len = data.len();
        let end = start + len;

        // RFC 791 §3.2, RFC 8200 §4.5: fragments other than the last carry a multiple of 8.
        if len == 0 || (!last && len % 8 != 0) {
            self.stats.reasm_fails += 1;
            return None;
        }
        if end > max_end {
            log::debug!("reassembly: {key}: a fragment ends past the largest datagram");
            self.kill(&key);
            return None;
        }

        if let Some(p) = self.pending.get(&key) {
            let bad_len = match p.total_len {
                Some(t) => end > t || (last && end != t),
                None => last && end < p.max_end,
            };
            if bad_len {
                log::debug!("reassembly: {key}: a fragment disagrees with the length");
                self.kill(&key);
                return None;
            }
            match p.fit(start, end) {
                Fit::New => {}
                // A "duplicate" that claims to be last when the copy was not is corrupt.
                Fit::Duplicate if last && p.total_len != Some(end) => {
                    self.kill(&key);
                    return None;
                }
                Fit::Duplicate => return None,
                Fit::Overlap => {
                    // RFC 5722 §4: the whole datagram goes, silently.
                    log::debug!("reassembly: {key}: fragments overlap, dropping the datagram");
                    self.stats.reasm_overlaps += 1;
                    self.kill(&key);
                    return None;
                }
            }
        } else {
            if self.limits.max_datagrams == 0 {
                self.stats.reasm_fails += 1;
                return None;
            }
            while self.pending.len() >= self.limits.max_datagrams {
                if !self.evict_oldest(None) {
                    break;
                }
            }
            let serial = self.next_serial;
            self.next_serial += 1;
            self.pending.insert(
                key,
                Pending {
                    serial,
                    deadline: now + self.limits.timeout,
                    frags: BTreeMap::new(),
                    received: 0,
                    max_end: 0,
                    total_len: None,
                    first: None,
                    charged: 0,
                },
            );
        }

        let cost = len + FRAG_OVERHEAD + first.as_ref().map_or(0, |f| f.1);
        while self.bytes + cost > self.limits.max_bytes {
            if !self.evict_oldest(Some(key)) {
                self.kill(&key);
                return None;
            }
        }

        let p = self.pending.get_mut(&key)?;
        p.frags.insert(start, data.to_vec());
        p.received += len;
        p.max_end = p.max_end.max(end);
        p.charged += cost;
        self.bytes += cost;
        if last {
            p.total_len = Some(end);
        }
        if let Some((f, _)) = first {
            p.first = Some(f);
        }
        if p.total_len != Some(p.received) {
            return None;
        }

        // Complete: non-overlapping fragments inside [0, total) adding up to total.
        let p = self.remove(&key)?;
        let first = p.first?;
        let joined = Joined {
            frags: p.frags,
            len: p.received,
        };
        match assemble(first, joined) {
            Some(whole) => {
                self.stats.reasm_oks += 1;
                Some(whole)
            }
            None => {
                self.stats.reasm_fails += 1;
                None
            }
        }
    }

    /// Gives up on every datagram whose timeout has passed, oldest first: its key and
    /// fragment 0's `F` if that arrived.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<(K, Option<F>)> {
        let mut due: Vec<(u64, K)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, p)| (p.serial, *k))
            .collect();
        due.sort_unstable_by_key(|&(serial, _)| serial);
        let mut out = Vec::with_capacity(due.len());
        for (_, key) in due {
            if let Some(p) = self.remove(&key) {
                self.stats.reasm_timeout += 1;
                self.stats.reasm_fails += 1;
                out.push((key, p.first));
            }
        }
        out
    }

    fn remove(&mut self, key: &K) -> Option<Pending<F>> {
        let p = self.pending.remove(key)?;
        self.bytes -= p.charged;
        Some(p)
    }

    /// Drops a datagram (if present) and counts one failure.
    fn kill(&mut self, key: &K) {
        self.remove(key);
        self.stats.reasm_fails += 1;
    }

    /// Evicts the oldest datagram other than `keep`; false if there is none.
    /// O(datagrams in progress), which `max_datagrams` bounds.
    fn evict_oldest(&mut self, keep: Option<K>) -> bool {
        let oldest = self
            .pending
            .iter()
            .filter(|(k, _)| Some(**k) != keep)
            .min_by_key(|(_, p)| p.serial)
            .map(|(k, _)| *k);
        match oldest {
            Some(k) => {
                log::debug!("reassembly: evicting {k}");
                self.kill(&k);
                true
            }
            None => false,
        }
    }
}
