//! A keyed PRF (SipHash-2-4 from `tcp::isn`) with a subkey per purpose.
//!
//! One stack seed feeds the ISN generator, the SYN cookies and the port allocator. Each
//! user derives its own key as `SipHash(seed key, label)`, so knowing one output (a cookie,
//! a port) says nothing about the others even though the seed is shared.
//!
//! This module does not draw randomness or rotate keys.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::tcp::isn::{siphash24, splitmix64};

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
}

/// Appends a socket address as 4 address bytes and 2 port bytes (network order).
pub(crate) fn put_addr(buf: &mut [u8], at: usize, a: SocketAddrV4) -> usize {
    let at = put_ip(buf, at, *a.ip());
    put(buf, at, &a.port().to_be_bytes())
}

pub(crate) fn put_ip(buf: &mut [u8], at: usize, ip: Ipv4Addr) -> usize {
    put(buf, at, &ip.octets())
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
    }
}
