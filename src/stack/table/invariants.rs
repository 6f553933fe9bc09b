//! Invariants of the connection table (issue 15): checked after every input, timer and
//! application call in debug builds (one connection: `debug_check_slot`) and, whole, by
//! the fuzz targets and the trace-test harness (`Stack::check_invariants`).

use super::{Slot, Stack, Tuple};
#[cfg(any(debug_assertions, fuzzing))]
use crate::time::Instant;
use std::collections::HashSet;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

impl Stack {
    /// Checks the whole table; `Err` says which invariant broke. O(connections).
    ///
    /// - every connection's own invariants (`Connection::check_invariants`);
    /// - the 4-tuple index and the table agree (each live slot indexed under its tuple,
    ///   nothing else indexed), and the free list names exactly the empty slots;
    /// - listener queues: the accept queue within backlog (+1, Linux's off-by-one), the SYN
    ///   queue count equal to the half-open connections, every queued one live;
    /// - held SYNs (deferred handshakes): counted by their listener, each deadline filed;
    /// - the TIME-WAIT count equals the connections counted in it;
    /// - the timer queue wakes each connection no later than its earliest deadline.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut live = 0;
        for (idx, slot) in self.slots.iter().enumerate() {
            let Some(s) = slot else { continue };
            live += 1;
            self.check_slot(idx, s)?;
        }
        ensure!(
            self.by_tuple.len() == live,
            "{} tuples indexed for {live} connections",
            self.by_tuple.len()
        );
        let free: HashSet<usize> = self.free.iter().copied().collect();
        ensure!(
            free.len() == self.free.len() && free.len() + live == self.slots.len(),
            "free list of {} ({} distinct) beside {live} live of {} slots",
            self.free.len(),
            free.len(),
            self.slots.len()
        );
        for &i in &self.free {
            ensure!(self.slots[i].is_none(), "slot {i} free but occupied");
        }
        let tw = self.slots.iter().flatten().filter(|s| s.in_tw).count();
        ensure!(
            tw == self.time_wait,
            "TIME-WAIT count {} but {tw} connections in it",
            self.time_wait
        );
        for (&port, l) in &self.listeners {
            ensure!(
                l.ready.len() <= l.backlog + 1,
                "listener {port}: accept queue {} over backlog {}",
                l.ready.len(),
                l.backlog
            );
            let mut seen = HashSet::new();
            for &i in &l.ready {
                let ok = self
                    .slots
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(|s| s.listener == Some(port) && s.queued);
                ensure!(
                    ok && seen.insert(i),
                    "listener {port}: accept queue entry {i} not a queued connection of it"
                );
            }
            let queued = self
                .slots
                .iter()
                .flatten()
                .filter(|s| s.listener == Some(port) && s.queued)
                .count();
            ensure!(
                queued == l.ready.len(),
                "listener {port}: {queued} connections queued, accept queue {}",
                l.ready.len()
            );
            let half_open = self
                .slots
                .iter()
                .flatten()
                .filter(|s| s.listener == Some(port) && !s.queued)
                .count();
            ensure!(
                half_open == l.half_open,
                "listener {port}: SYN queue count {} but {half_open} half-open connections",
                l.half_open
            );
            let held = self.deferred.by_tuple.values().filter(|h| h.port == port);
            ensure!(
                held.count() == l.held,
                "listener {port}: {} SYNs held, counted {}",
                self.deferred
                    .by_tuple
                    .values()
                    .filter(|h| h.port == port)
                    .count(),
                l.held
            );
            for t in &l.pending {
                let ok = self
                    .deferred
                    .by_tuple
                    .get(t)
                    .is_some_and(|h| h.port == port && !h.taken);
                ensure!(ok, "listener {port}: pending {t:?} not an untaken held SYN");
            }
        }
        // A listener refuses its held SYNs when it closes: none outlives it.
        let held: usize = self.listeners.values().map(|l| l.held).sum();
        ensure!(
            held == self.deferred.len(),
            "{} SYNs held, {held} counted by the listeners",
            self.deferred.len()
        );
        ensure!(
            self.deferred.consistent(),
            "held SYNs and their deadlines disagree ({} held)",
            self.deferred.len()
        );
        // Accounting (tcp_mem): the stack's total is the sum of what its connections hold.
        let sum: usize = self.connections().map(|(_, c)| c.buffered_bytes()).sum();
        ensure!(
            sum == self.accounted_memory(),
            "accounted memory {} but connections hold {sum}",
            self.accounted_memory()
        );
        Ok(())
    }

    /// One slot: its connection's invariants, its tuple indexed to it, its timer filed.
    fn check_slot(&self, idx: usize, s: &Slot) -> Result<(), String> {
        let c = &s.conn;
        let tuple = Tuple::new(c.local(), c.remote());
        c.check_invariants()
            .map_err(|e| format!("{} > {} ({}): {e}", c.local(), c.remote(), c.state()))?;
        ensure!(
            self.by_tuple.get(&tuple) == Some(&idx),
            "{} > {}: slot {idx} indexed as {:?}",
            c.local(),
            c.remote(),
            self.by_tuple.get(&tuple)
        );
        // A dirty slot re-files its deadline once its output is polled.
        if !s.dirty {
            if let Some(at) = c.poll_timeout() {
                let filed = self.timers.get(idx);
                ensure!(
                    filed.is_some_and(|f| f <= at),
                    "{} > {}: deadline {at} filed as {filed:?}",
                    c.local(),
                    c.remote()
                );
            }
        }
        Ok(())
    }

    /// The per-operation check of debug builds: the connection just touched, O(its ranges).
    #[cfg(any(debug_assertions, fuzzing))]
    pub(super) fn debug_check_slot(&self, idx: usize) {
        if let Some(Some(s)) = self.slots.get(idx) {
            if let Err(e) = self.check_slot(idx, s) {
                panic!("invariant broken: {e}");
            }
        }
    }

    /// After `Connection::handle_timeout(now)`, none of its deadlines is still due.
    #[cfg(any(debug_assertions, fuzzing))]
    pub(super) fn debug_check_timers_after(&self, idx: usize, now: Instant) {
        if let Some(Some(s)) = self.slots.get(idx) {
            if let Err(e) = s.conn.check_timers_after(now) {
                let c = &s.conn;
                panic!(
                    "invariant broken: {} > {} ({}): {e}",
                    c.local(),
                    c.remote(),
                    c.state()
                );
            }
        }
    }
}
