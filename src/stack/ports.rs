//! Ephemeral port selection: RFC 6056 §3.3.4, Algorithm 4 ("Double-Hash Port Selection").
//!
//! Each destination `(local IP, remote IP, remote port)` starts probing at its own keyed
//! offset `F`; a second keyed hash `G` picks one of [`TABLE_LEN`] counters that advances
//! with every probe. So successive connections to one destination walk the range in
//! order (no reuse of a just-closed port while others are free), while an observer who
//! connects to its own server learns nothing about ports used towards other destinations
//! (Algorithm 3's single global counter would leak that, RFC 6056 §3.3.4).
//!
//! What this module does not do: know which ports are taken (the caller's `in_use` does,
//! including listeners if it wants to avoid them), rekey, or add Linux's random
//! per-probe perturbation of the counters (its later defence against device tracking).
//! It picks for active opens only; `bind` to an explicit port does not come here.

use std::net::{IpAddr, SocketAddr};

use super::keyed::{label, put, put_addr, put_ip, Prf};

/// Number of per-destination counters (RFC 6056 §3.3.4 `TABLE_LENGTH`).
pub const TABLE_LEN: usize = 256;

/// Chooses ephemeral ports for active opens.
#[derive(Clone, Debug)]
pub struct PortAllocator {
    prf: Prf,
    lo: u16,
    hi: u16,
    /// `table[G(..)]`: probes made so far by the destinations hashing to each slot.
    table: Vec<u32>,
}

impl PortAllocator {
    /// An allocator over the inclusive `range` (like Linux `ip_local_port_range`), keyed
    /// from `seed`. A reversed range is swapped and port 0 is never handed out, so the
    /// range used (see [`PortAllocator::range`]) may differ from the one given.
    pub fn new(seed: u64, range: (u16, u16)) -> PortAllocator {
        let (a, b) = range;
        let lo = a.min(b).max(1);
        let hi = a.max(b).max(lo);
        PortAllocator {
            prf: Prf::new(seed, label::PORTS),
            lo,
            hi,
            table: vec![0; TABLE_LEN],
        }
    }

    /// A free port for a connection from `local` to `remote`, or `None` once every port
    /// in the range has been offered to `in_use` once and all were taken.
    pub fn pick(
        &mut self,
        local: impl Into<IpAddr>,
        remote: impl Into<SocketAddr>,
        mut in_use: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        let (local, remote) = (local.into(), remote.into());
        let num = u64::from(self.hi - self.lo) + 1;
        // RFC 6056 §3.3.4: offset = F(local_IP, remote_IP, remote_port, secret_key1),
        // index = G(local_IP, remote_IP, remote_port, secret_key2).
        let offset = self.dest_hash(0, local, remote);
        let index = (self.dest_hash(1, local, remote) % TABLE_LEN as u64) as usize;
        let counter = self.table.get_mut(index)?;
        for _ in 0..num {
            let port = u64::from(self.lo) + (offset.wrapping_add(u64::from(*counter))) % num;
            // The counter advances with every probe, taken or not (as in the RFC's loop).
            *counter = counter.wrapping_add(1);
            let port = u16::try_from(port).ok()?;
            if !in_use(port) {
                return Some(port);
            }
        }
        None
    }

    /// The inclusive range ports are taken from.
    pub fn range(&self) -> (u16, u16) {
        (self.lo, self.hi)
    }

    /// Keyed hash of the destination; `which` separates F (0) from G (1).
    fn dest_hash(&self, which: u8, local: IpAddr, remote: SocketAddr) -> u64 {
        let mut msg = [0u8; 35];
        let at = put(&mut msg, 0, &[which]);
        let at = put_ip(&mut msg, at, local);
        let at = put_addr(&mut msg, at, remote);
        self.prf.hash(&msg[..at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::net::{Ipv4Addr, SocketAddrV4};

    const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn dest(i: u32) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(0x0a00_0100 + i), 80)
    }

    #[test]
    fn exhaustion_tries_each_port_once_then_none() {
        let mut p = PortAllocator::new(1, (40000, 40099));
        let mut asked = Vec::new();
        let got = p.pick(LOCAL, dest(0), |port| {
            asked.push(port);
            true
        });
        assert_eq!(got, None);
        assert_eq!(asked.len(), 100);
        let distinct: HashSet<u16> = asked.iter().copied().collect();
        assert_eq!(distinct, (40000..=40099).collect());
    }

    #[test]
    fn finds_the_one_free_port() {
        let mut p = PortAllocator::new(1, (40000, 40099));
        for free in [40000, 40042, 40099] {
            assert_eq!(p.pick(LOCAL, dest(0), |port| port != free), Some(free));
        }
    }

    #[test]
    fn successive_picks_for_one_destination_walk_the_whole_range() {
        // Even if every port is released at once, the next pick moves on (RFC 6056 §3.3.4).
        let mut p = PortAllocator::new(3, (50000, 50999));
        let picks: Vec<u16> = (0..1000)
            .filter_map(|_| p.pick(LOCAL, dest(7), |_| false))
            .collect();
        let distinct: HashSet<u16> = picks.iter().copied().collect();
        assert_eq!(distinct.len(), 1000);
        // Consecutive, wrapping at the end of the range.
        for w in picks.windows(2) {
            let next = if w[0] == 50999 { 50000 } else { w[0] + 1 };
            assert_eq!(w[1], next);
        }
    }

    #[test]
    fn different_destinations_start_at_unrelated_offsets() {
        let mut p = PortAllocator::new(3, (32768, 60999));
        let firsts: Vec<u16> = (0..200)
            .filter_map(|i| p.pick(LOCAL, dest(i), |_| false))
            .collect();
        assert_eq!(firsts.len(), 200);
        let distinct: HashSet<u16> = firsts.iter().copied().collect();
        // 200 uniform draws from 28232 ports: a handful of collisions at most.
        assert!(distinct.len() >= 195, "{} distinct", distinct.len());
        // Neighbouring destinations are not neighbouring ports.
        let close = firsts
            .windows(2)
            .filter(|w| w[0].abs_diff(w[1]) <= 2)
            .count();
        assert!(close <= 2, "{close} near-consecutive starts");
        // Spread over the range: both halves are used.
        let low = firsts.iter().filter(|&&x| x < 46884).count();
        assert!((60..=140).contains(&low), "{low} in the lower half");
    }

    #[test]
    fn other_destinations_do_not_move_a_destinations_sequence_much() {
        // Only destinations sharing a counter slot (1 in TABLE_LEN) perturb the walk.
        let mut p = PortAllocator::new(3, (32768, 60999));
        let a = p.pick(LOCAL, dest(0), |_| false);
        for i in 1..20 {
            p.pick(LOCAL, dest(i), |_| false);
        }
        let mut fresh = PortAllocator::new(3, (32768, 60999));
        let b0 = fresh.pick(LOCAL, dest(0), |_| false);
        let b1 = fresh.pick(LOCAL, dest(0), |_| false);
        assert_eq!(a, b0);
        assert_eq!(p.pick(LOCAL, dest(0), |_| false), b1);
    }

    #[test]
    fn seed_and_local_address_change_the_offset() {
        let first =
            |seed, local| PortAllocator::new(seed, (1024, 65535)).pick(local, dest(0), |_| false);
        let base = first(1, LOCAL);
        assert_eq!(base, first(1, LOCAL));
        // Each differs with probability 1 - 1/64512 for a working key.
        assert_ne!(base, first(2, LOCAL));
        assert_ne!(base, first(1, Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn one_port_range() {
        let mut p = PortAllocator::new(9, (5000, 5000));
        assert_eq!(p.range(), (5000, 5000));
        assert_eq!(p.pick(LOCAL, dest(0), |_| false), Some(5000));
        assert_eq!(p.pick(LOCAL, dest(0), |_| false), Some(5000));
        let mut calls = 0;
        assert_eq!(
            p.pick(LOCAL, dest(0), |_| {
                calls += 1;
                true
            }),
            None
        );
        assert_eq!(calls, 1);
    }

    #[test]
    fn odd_ranges_are_normalised() {
        assert_eq!(
            PortAllocator::new(0, (60000, 50000)).range(),
            (50000, 60000)
        );
        assert_eq!(PortAllocator::new(0, (0, 10)).range(), (1, 10));
        assert_eq!(PortAllocator::new(0, (0, 0)).range(), (1, 1));
        // Port 0 is never offered, even when the given range starts there.
        let mut full = PortAllocator::new(0, (0, 65535));
        assert_eq!(full.range(), (1, 65535));
        let mut asked = Vec::new();
        let got = full.pick(LOCAL, dest(0), |port| {
            asked.push(port);
            false
        });
        assert!(matches!(got, Some(port) if port != 0));
        assert_eq!(asked.len(), 1);
    }

    proptest! {
        #[test]
        fn picks_stay_in_range_and_are_free(
            seed: u64,
            a: u16,
            b: u16,
            taken in proptest::collection::hash_set(any::<u16>(), 0..64),
            dsts in proptest::collection::vec(any::<u32>(), 1..20),
        ) {
            let mut p = PortAllocator::new(seed, (a, b));
            let (lo, hi) = p.range();
            prop_assert!(1 <= lo && lo <= hi);
            let span = usize::from(hi - lo) + 1;
            for d in dsts {
                let remote = SocketAddrV4::new(Ipv4Addr::from(d), (d >> 16) as u16);
                let mut asked = 0usize;
                let got = p.pick(LOCAL, remote, |port| {
                    asked += 1;
                    taken.contains(&port)
                });
                let free_in_range = (lo..=hi).any(|x| !taken.contains(&x));
                match got {
                    Some(port) => {
                        prop_assert!((lo..=hi).contains(&port));
                        prop_assert!(!taken.contains(&port));
                    }
                    None => {
                        prop_assert!(!free_in_range);
                        prop_assert_eq!(asked, span);
                    }
                }
                prop_assert!(asked <= span);
            }
        }
    }
}
