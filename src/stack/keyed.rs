//! A keyed PRF (SipHash-2-4 from `tcp::isn`) with a subkey per purpose.
//!
//! One stack seed feeds the ISN generator, the SYN cookies, the port allocator, the
//! demultiplexing hash and the timestamp offsets ([`TsOffsets`]). Each derives its own key
//! as `SipHash(root key, label)` with a label of its own ([`label`]), so knowing one key or
//! output (a cookie, a port, a TSval) says nothing about the others, nor about the root.
//!
//! It also holds the demultiplexing hash ([`DemuxHash`]): a keyed universal hash for the
//! 4-tuple map, cheap enough to run on every packet; and [`PortHash`], an unkeyed one for
//! the listener map.
//!
//! This module does not draw randomness or rotate keys.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
#[cfg(test)]
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::tcp::isn::{siphash24, splitmix64};

/// One label per purpose: a key is `SipHash(root, label)` (see [`Prf::new`]).
pub(crate) mod label {
    pub(crate) const ISN: &[u8] = b"tuntcp isn";
    pub(crate) const SYNCOOKIE: &[u8] = b"tuntcp syncookie";
    pub(crate) const PORTS: &[u8] = b"tuntcp ports";
    pub(crate) const DEMUX: &[u8] = b"demux";
    pub(crate) const TS_OFFSET: &[u8] = b"tuntcp ts offset";
    pub(crate) const FRAG: &[u8] = b"tuntcp frag";
    pub(crate) const FLOW_LABEL: &[u8] = b"tuntcp flow label";
    pub(crate) const FRAG6: &[u8] = b"tuntcp frag6";
}

#[derive(Clone)]
pub(crate) struct Prf {
    k0: u64,
    k1: u64,
}

impl core::fmt::Debug for Prf {
    /// The key stays secret, even in logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Prf { .. }")
    }
}

impl Prf {
    /// The key for `label` under `seed`: the seed is spread into a root key with SplitMix64
    /// (as `IsnGenerator` does), then the label is hashed under the root key twice.
    pub(crate) fn new(seed: u64, label: &[u8]) -> Prf {
        let mut state = seed;
        let root = (splitmix64(&mut state), splitmix64(&mut state));
        let mut msg = Vec::with_capacity(label.len() + 1);
        msg.extend_from_slice(label);
        msg.push(0);
        let k0 = siphash24(root.0, root.1, &msg);
        if let Some(last) = msg.last_mut() {
            *last = 1;
        }
        let k1 = siphash24(root.0, root.1, &msg);
        Prf { k0, k1 }
    }

    pub(crate) fn hash(&self, msg: &[u8]) -> u64 {
        siphash24(self.k0, self.k1, msg)
    }

    /// The 128-bit subkey itself (for `IsnGenerator`, which hashes under it directly).
    pub(crate) fn key(&self) -> (u64, u64) {
        (self.k0, self.k1)
    }
}

/// TSval offsets, RFC 7323 §5.4 (as Linux's `secure_tcp_ts_off`): a keyed hash of the
/// address pair only, so every connection between two hosts shares one timestamp clock.
/// It keeps TSvals monotonic across incarnations of a 4-tuple, which PAWS and TIME-WAIT
/// reuse rely on (RFC 6191 §2), and hides our uptime (`TSval - offset`) from peers.
#[derive(Clone, Debug)]
pub(crate) struct TsOffsets {
    prf: Prf,
}

impl TsOffsets {
    pub(crate) fn new(seed: u64) -> TsOffsets {
        TsOffsets {
            prf: Prf::new(seed, label::TS_OFFSET),
        }
    }

    /// The offset added to our millisecond clock for connections from `local` to `remote`.
    pub(crate) fn offset(&self, local: impl Into<IpAddr>, remote: impl Into<IpAddr>) -> u32 {
        let mut msg = [0u8; 32];
        let at = put_ip(&mut msg, 0, local.into());
        let at = put_ip(&mut msg, at, remote.into());
        self.prf.hash(&msg[..at]) as u32
    }
}

/// SipHash-2-4 under a subkey as a `BuildHasher`, for maps whose keys peers choose but
/// that are too rare to need [`DemuxHash`]'s speed (fragment reassembly). Each `write`
/// chains one SipHash call; the result is deterministic for one seed, unlike `RandomState`.
#[derive(Clone, Debug)]
pub(crate) struct KeyedHash {
    prf: Prf,
}

impl KeyedHash {
    pub(crate) fn new(seed: u64, label: &[u8]) -> KeyedHash {
        KeyedHash {
            prf: Prf::new(seed, label),
        }
    }
}

impl BuildHasher for KeyedHash {
    type Hasher = KeyedHasher;
    fn build_hasher(&self) -> KeyedHasher {
        let (k0, k1) = self.prf.key();
        KeyedHasher { k0, k1, acc: 0 }
    }
}

pub(crate) struct KeyedHasher {
    k0: u64,
    k1: u64,
    acc: u64,
}

impl Hasher for KeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.acc = siphash24(self.k0 ^ self.acc, self.k1, bytes);
    }
    fn finish(&self) -> u64 {
        self.acc
    }
}

/// A connection's 4-tuple as a hash-map key: three 32-bit words to [`DemuxHash`] for
/// IPv4, nine (4 + 4 address words, then the ports) for IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tuple {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
}

impl Tuple {
    pub(crate) fn new(local: impl Into<SocketAddr>, remote: impl Into<SocketAddr>) -> Tuple {
        Tuple {
            local: local.into(),
            remote: remote.into(),
        }
    }
}

impl Hash for Tuple {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Distinct tuples of one family give distinct word sequences of one length, which
        // is all universality needs (each position has its own key, see DemuxHasher).
        for ip in [self.local.ip(), self.remote.ip()] {
            match ip {
                IpAddr::V4(a) => state.write_u32(u32::from(a)),
                IpAddr::V6(a) => {
                    for w in a.octets().chunks_exact(4) {
                        state.write_u32(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
                    }
                }
            }
        }
        state.write_u32(u32::from(self.local.port()) << 16 | u32::from(self.remote.port()));
    }
}

/// Keyed hash for the 4-tuple map: two lanes of multilinear hashing, each
/// `(k0 + k1*w1 + k2*w2 + k3*w3) mod 2^64` over 32-bit words `w` with random 64-bit keys,
/// of which the top 32 bits are strongly universal (Dietzfelbinger 1996, "Universal
/// hashing and k-wise independent random variables via integer arithmetic without
/// primes"; Lemire and Kaser 2014, "Strongly universal string hashing is fast", §3).
///
/// So for any two tuples an attacker picks without knowing the key, the chance that they
/// share a bucket is the table's 1/buckets: the hash-flooding defence of a keyed hash,
/// with six multiplications instead of SipHash-1-3's rounds (about 300 instructions per
/// packet). The key comes from the stack's seed, not OS randomness. Unlike SipHash it is
/// not a PRF: an attacker who could measure lookup times precisely enough to detect
/// collisions could learn about the key adaptively; the table only holds connections
/// past a SYN (the SYN queue and backlog bound the half-open ones), which limits what a
/// flood can insert.
#[derive(Clone)]
pub(crate) struct DemuxHash {
    keys: [[u64; DEMUX_WORDS + 1]; 2],
}

impl core::fmt::Debug for DemuxHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DemuxHash { .. }")
    }
}

impl DemuxHash {
    pub(crate) fn new(seed: u64) -> DemuxHash {
        let prf = Prf::new(seed, label::DEMUX);
        let mut keys = [[0; DEMUX_WORDS + 1]; 2];
        for (lane, ks) in keys.iter_mut().enumerate() {
            for (p, k) in ks.iter_mut().enumerate() {
                // Positions 0..=3 keep the labels they had when only IPv4 was hashed.
                let label = if p < 4 {
                    lane * 4 + p
                } else {
                    8 + lane * 6 + (p - 4)
                };
                *k = prf.hash(&[label as u8]);
            }
        }
        DemuxHash { keys }
    }
}

impl BuildHasher for DemuxHash {
    type Hasher = DemuxHasher;
    fn build_hasher(&self) -> DemuxHasher {
        DemuxHasher {
            keys: self.keys,
            acc: [self.keys[0][0], self.keys[1][0]],
            words: 0,
        }
    }
}

/// The most words a [`Tuple`] writes (IPv6: 4 + 4 + 1), each with a key of its own.
const DEMUX_WORDS: usize = 9;

/// The running sums of [`DemuxHash`]; universal for inputs of one length up to nine words
/// (what [`Tuple`] writes: three for IPv4, nine for IPv6). Longer writes still hash, by
/// 4-byte words, without that guarantee.
pub(crate) struct DemuxHasher {
    keys: [[u64; DEMUX_WORDS + 1]; 2],
    acc: [u64; 2],
    words: usize,
}

impl Hasher for DemuxHasher {
    fn write_u32(&mut self, w: u32) {
        let i = 1 + self.words % DEMUX_WORDS;
        self.words += 1;
        self.acc[0] = self.acc[0].wrapping_add(self.keys[0][i].wrapping_mul(u64::from(w)));
        self.acc[1] = self.acc[1].wrapping_add(self.keys[1][i].wrapping_mul(u64::from(w)));
    }
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(4) {
            let mut w = [0; 4];
            w[..c.len()].copy_from_slice(c);
            self.write_u32(u32::from_le_bytes(w));
        }
    }
    fn finish(&self) -> u64 {
        // The top 32 bits of each lane: hashbrown takes its bucket from the low bits and
        // its tag from the top 7.
        (self.acc[0] & !0xffff_ffff) | (self.acc[1] >> 32)
    }
}

/// Appends a socket address as 4 address bytes and 2 port bytes (network order).
/// (16 address bytes for IPv6.)
pub(crate) fn put_addr(buf: &mut [u8], at: usize, a: impl Into<SocketAddr>) -> usize {
    let a = a.into();
    let at = put_ip(buf, at, a.ip());
    put(buf, at, &a.port().to_be_bytes())
}

/// 4 or 16 bytes: an IPv4 address hashes as it always did.
pub(crate) fn put_ip(buf: &mut [u8], at: usize, ip: impl Into<IpAddr>) -> usize {
    match ip.into() {
        IpAddr::V4(a) => put(buf, at, &a.octets()),
        IpAddr::V6(a) => put(buf, at, &a.octets()),
    }
}

/// Copies `bytes` to `buf[at..]` and returns the next offset. The callers size their
/// buffers for the fields they write; a short buffer truncates instead of panicking.
pub(crate) fn put(buf: &mut [u8], at: usize, bytes: &[u8]) -> usize {
    let end = at.saturating_add(bytes.len()).min(buf.len());
    if let (Some(dst), Some(src)) = (buf.get_mut(at..end), bytes.get(..end.saturating_sub(at))) {
        dst.copy_from_slice(src);
    }
    at.saturating_add(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::isn::splitmix64;
    use crate::tcp::IsnGenerator;
    use crate::time::Instant;

    #[test]
    fn labels_and_seeds_give_different_keys() {
        let msg = b"same message";
        let a = Prf::new(1, b"syncookie").hash(msg);
        assert_ne!(a, Prf::new(1, b"ports").hash(msg));
        assert_ne!(a, Prf::new(2, b"syncookie").hash(msg));
        assert_eq!(a, Prf::new(1, b"syncookie").hash(msg));
    }

    #[test]
    fn subkey_is_not_the_isn_key() {
        // IsnGenerator hashes the 12-byte tuple under the root key; a subkey must not.
        let (l, r) = (
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 4000),
        );
        let mut msg = [0u8; 12];
        let at = put_addr(&mut msg, 0, l);
        assert_eq!(put_addr(&mut msg, at, r), 12);
        let isn = IsnGenerator::new(9).isn(Instant::ZERO, l, r).0;
        assert_ne!(Prf::new(9, b"").hash(&msg) as u32, isn);
        assert_ne!(Prf::new(9, b"syncookie").hash(&msg) as u32, isn);
    }

    #[test]
    fn every_purpose_has_its_own_key_none_the_root() {
        let labels = [
            label::FRAG,
            label::ISN,
            label::SYNCOOKIE,
            label::PORTS,
            label::DEMUX,
            label::TS_OFFSET,
        ];
        let mut keys: Vec<(u64, u64)> = labels.iter().map(|l| Prf::new(5, l).key()).collect();
        // The root key, which `IsnGenerator::new(5)` would use directly.
        let mut state = 5;
        keys.push((splitmix64(&mut state), splitmix64(&mut state)));
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // The stack's ISNs come from the ISN subkey, not the root.
        let (l, r) = (
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 4000),
        );
        let sub = IsnGenerator::with_key(Prf::new(5, label::ISN).key());
        assert_ne!(
            sub.isn(Instant::ZERO, l, r),
            IsnGenerator::new(5).isn(Instant::ZERO, l, r)
        );
    }

    #[test]
    fn keyed_hash_is_keyed_and_repeatable() {
        let (a, b) = (
            KeyedHash::new(1, label::FRAG),
            KeyedHash::new(2, label::FRAG),
        );
        let k = (Ipv4Addr::new(10, 0, 0, 1), 6u8, 7u16);
        assert_eq!(a.hash_one(k), KeyedHash::new(1, label::FRAG).hash_one(k));
        assert_ne!(a.hash_one(k), b.hash_one(k));
        assert_ne!(
            a.hash_one(k),
            a.hash_one((Ipv4Addr::new(10, 0, 0, 1), 6u8, 8u16))
        );
    }

    #[test]
    fn ts_offset_depends_on_the_address_pair_and_seed_only() {
        let ip = |n| Ipv4Addr::new(10, 0, 0, n);
        let o = TsOffsets::new(1);
        let base = o.offset(ip(1), ip(2));
        assert_eq!(base, TsOffsets::new(1).offset(ip(1), ip(2)));
        assert_ne!(base, o.offset(ip(1), ip(3)));
        assert_ne!(base, o.offset(ip(3), ip(2)));
        assert_ne!(base, o.offset(ip(2), ip(1)));
        assert_ne!(base, TsOffsets::new(2).offset(ip(1), ip(2)));
    }

    #[test]
    fn put_writes_network_order_and_never_overruns() {
        let mut buf = [0u8; 8];
        let a = SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 0x0506);
        assert_eq!(put_addr(&mut buf, 0, a), 6);
        assert_eq!(buf, [1, 2, 3, 4, 5, 6, 0, 0]);
        assert_eq!(put_addr(&mut buf, 4, a), 10);
        assert_eq!(buf, [1, 2, 3, 4, 1, 2, 3, 4]);
        assert_eq!(put(&mut buf, 20, &[9]), 21);
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        assert_eq!(format!("{:?}", Prf::new(3, b"x")), "Prf { .. }");
        assert_eq!(format!("{:?}", DemuxHash::new(3)), "DemuxHash { .. }");
    }

    fn tuple(a: u8, pa: u16, b: u8, pb: u16) -> Tuple {
        Tuple::new(
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, a), pa),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, b), pb),
        )
    }

    #[test]
    fn demux_hash_is_keyed_by_the_seed() {
        let t = tuple(1, 80, 2, 40000);
        let (h1, h2) = (DemuxHash::new(1), DemuxHash::new(2));
        assert_eq!(h1.hash_one(t), DemuxHash::new(1).hash_one(t));
        assert_ne!(h1.hash_one(t), h2.hash_one(t));
        // Swapping ends or ports is a different tuple, and hashes differently.
        assert_ne!(h1.hash_one(t), h1.hash_one(tuple(2, 40000, 1, 80)));
        assert_ne!(h1.hash_one(t), h1.hash_one(tuple(1, 40000, 2, 80)));
    }

    #[test]
    fn demux_hash_spreads_sequential_ports() {
        // A flood from one address walks its source port: the low bits (hashbrown's bucket)
        // and the top 7 (its tag) must both spread.
        let h = DemuxHash::new(7);
        let mut buckets = [0u32; 256];
        let mut tags = [0u32; 128];
        for p in 0..25_600u16 {
            let x = h.hash_one(tuple(1, 80, 2, 1024 + p));
            buckets[(x & 255) as usize] += 1;
            tags[(x >> 57) as usize] += 1;
        }
        // 100 per bucket and 200 per tag on average; a hash that ignored the port, or
        // kept its low bits unmixed, would pile them up.
        assert!(
            buckets.iter().all(|&n| (40..=160).contains(&n)),
            "{buckets:?}"
        );
        assert!(tags.iter().all(|&n| (100..=300).contains(&n)), "{tags:?}");
    }
}

/// The listener map's hash: a multiplicative hash of the local port. The map holds only the
/// ports we listen on, so it needs no key (unlike the 4-tuple map, whose entries peers
/// create): a peer picking the destination port only picks which few buckets are probed.
/// SipHash here was ~700 instructions per short connection (three lookups).
pub(crate) type PortHash = std::hash::BuildHasherDefault<PortHasher>;

#[derive(Default)]
pub(crate) struct PortHasher(u64);

impl Hasher for PortHasher {
    fn write_u16(&mut self, port: u16) {
        self.0 = (self.0 ^ u64::from(port)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u16(u16::from(b));
        }
    }
    fn finish(&self) -> u64 {
        // The product's high bits are the mixed ones; the table indexes by the low bits.
        self.0.rotate_left(26)
    }
}
