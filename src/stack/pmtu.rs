//! The per-stack Path MTU cache (RFC 1191 §6.3, RFC 8201 §5.3): what an ICMP Fragmentation
//! Needed or an ICMPv6 Packet Too Big taught us about a destination, so new
//! connections to it start with the lowered MSS. Like Linux's route exceptions (`fnhe`):
//! keyed by destination address, an entry expires `mtu_expires` after it was last lowered
//! (`net.ipv4.route.mtu_expires`, 10 minutes), and a value below `min_pmtu`
//! (`net.ipv4.route.min_pmtu`, 552) is taken as `min_pmtu`.
//!
//! Keyed by [`IpAddr`] so that IPv6 shares it (its floor is 1280, RFC 8200 §5: the caller
//! passes the family's floor to [`PmtuCache::lower`]).
//!
//! Bounded: at most `capacity` entries; a full cache drops what expired, then the entry
//! closest to expiring. Only an ICMP error that passed the connection's checks (a known
//! 4-tuple and a sequence number in flight, RFC 5927 §4.1) reaches it, and an entry only
//! ever lowers a destination's MTU to the floor, never below.
//!
//! What this module does not do: read a clock (time is passed in), raise an MTU (entries
//! expire instead, and PLPMTUD probes grow a connection's own), or hold routes.

use crate::time::{Duration, Instant};
use std::collections::HashMap;
use std::net::IpAddr;

/// Linux's `ip_rt_min_pmtu`: 512 + 20 + 20. Never below RFC 1191's 68 in any case.
pub const MIN_PMTU_V4: u32 = 552;
/// Linux's `ip_rt_mtu_expires`.
pub const MTU_EXPIRES: Duration = Duration::from_secs(600);
/// Entries at most (Linux bounds its exceptions per next hop: 2048 buckets, chains of 5).
pub const PMTU_CACHE_CAPACITY: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    mtu: u32,
    expires: Instant,
}

/// Learned path MTUs by destination.
#[derive(Clone, Debug)]
pub struct PmtuCache {
    entries: HashMap<IpAddr, Entry>,
    capacity: usize,
    expires: Duration,
}

impl PmtuCache {
    /// An empty cache of at most `capacity` destinations (at least 1), each entry living
    /// `expires` from its last update (RFC 1191 §6.3).
    pub fn new(capacity: usize, expires: Duration) -> PmtuCache {
        PmtuCache {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            expires,
        }
    }

    /// The path MTU learned for `dst`, unless it expired (then it is forgotten).
    pub fn get(&mut self, now: Instant, dst: IpAddr) -> Option<u32> {
        let e = *self.entries.get(&dst)?;
        if e.expires <= now {
            self.entries.remove(&dst);
            return None;
        }
        Some(e.mtu)
    }

    /// Records that the path to `dst` carries at most `mtu` (taken as `floor` when below
    /// it, as Linux does with `min_pmtu`), unless a lower value is known; `link_mtu` is
    /// what it would be without an entry. Returns the value now in force. Lowering again,
    /// or to the same value, restarts the expiry.
    pub fn lower(&mut self, now: Instant, dst: IpAddr, mtu: u32, floor: u32, link_mtu: u32) -> u32 {
        let mtu = mtu.max(floor);
        let known = self.get(now, dst).unwrap_or(link_mtu);
        if mtu > known {
            return known;
        }
        if !self.entries.contains_key(&dst) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        self.entries.insert(
            dst,
            Entry {
                mtu,
                expires: now + self.expires,
            },
        );
        mtu
    }

    /// Sets `dst`'s path MTU to `mtu` whatever it was (a route's `mtu`, as `ip route change
    /// ... mtu M` does); `None` forgets it.
    pub fn set(&mut self, now: Instant, dst: IpAddr, mtu: Option<u32>) {
        match mtu {
            None => {
                self.entries.remove(&dst);
            }
            Some(mtu) => {
                if !self.entries.contains_key(&dst) && self.entries.len() >= self.capacity {
                    self.make_room(now);
                }
                self.entries.insert(
                    dst,
                    Entry {
                        mtu,
                        expires: now + self.expires,
                    },
                );
            }
        }
    }

    /// Entries held now (expired ones included until looked up or pushed out).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No entries held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops the expired entries; if none had, the one closest to expiring (the oldest:
    /// every entry lives `expires` from its last update). O(capacity), only when full.
    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.expires > now);
        if self.entries.len() < self.capacity {
            return;
        }
        if let Some(oldest) = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.expires)
            .map(|(k, _)| *k)
        {
            self.entries.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }
    fn t(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    #[test]
    fn lowers_only_floors_and_expires() {
        let mut c = PmtuCache::new(8, MTU_EXPIRES);
        assert_eq!(c.get(t(0), ip(1)), None);
        assert_eq!(c.lower(t(0), ip(1), 1400, MIN_PMTU_V4, 1500), 1400);
        assert_eq!(
            c.lower(t(1), ip(1), 1450, MIN_PMTU_V4, 1500),
            1400,
            "never raised"
        );
        assert_eq!(c.lower(t(2), ip(1), 1600, MIN_PMTU_V4, 1500), 1400);
        assert_eq!(
            c.lower(t(3), ip(1), 0, MIN_PMTU_V4, 1500),
            552,
            "0 and tiny: the floor"
        );
        assert_eq!(c.lower(t(4), ip(2), 68, MIN_PMTU_V4, 1500), 552);
        assert_eq!(
            c.lower(t(5), ip(3), 1600, MIN_PMTU_V4, 1500),
            1500,
            "above the link"
        );
        assert_eq!(c.get(t(5), ip(3)), None, "nothing recorded above the link");
        assert_eq!(c.get(t(602), ip(1)), Some(552));
        assert_eq!(
            c.get(t(603), ip(1)),
            None,
            "10 minutes after the last lowering"
        );
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn bounded_full_cache_drops_the_expired_then_the_oldest() {
        let mut c = PmtuCache::new(3, MTU_EXPIRES);
        for n in 0..3 {
            c.lower(t(n), ip(n as u32), 1000, MIN_PMTU_V4, 1500);
        }
        c.lower(t(10), ip(9), 900, MIN_PMTU_V4, 1500);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(t(10), ip(0)), None, "the oldest went");
        assert_eq!(c.get(t(10), ip(9)), Some(900));
        for n in 100..10_100 {
            c.lower(t(11), ip(n), 1000, MIN_PMTU_V4, 1500);
            assert!(c.len() <= 3);
        }
        // After expiry a full cache makes room from the expired alone.
        c.lower(t(700), ip(5), 800, MIN_PMTU_V4, 1500);
        assert_eq!(c.len(), 1);
    }
}
