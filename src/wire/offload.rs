//! Offload metadata: the `virtio_net_hdr` a TUN device with IFF_VNET_HDR puts in front of
//! every packet, and the partial checksums it carries.
//!
//! With offloads on (TUNSETOFFLOAD: TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), the kernel hands us TCP
//! super-segments of up to 64 KB (its TSO/GRO) whose checksum it never computed
//! (`NEEDS_CSUM`: the field holds only the pseudo-header sum), and takes super-segments
//! from us that it splits at `gso_size` itself (GSO), filling in each piece's checksum.
//! The layout is Linux's `include/uapi/linux/virtio_net.h` (little-endian fields: the
//! legacy header in the byte order of an x86 host, which is what TUN uses by default).

use super::checksum;

/// `sizeof(struct virtio_net_hdr)`: the TUN default (TUNSETVNETHDRSZ).
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` is partial.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was verified already.
pub const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE` / `_TCPV4` / `_TCPV6` / `_ECN` (flag bit).
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`: a TCP over IPv6 super-segment.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN` (a flag bit).
pub const GSO_ECN: u8 = 0x80;

/// How a packet sent to an offloading device is finished by the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOffload {
    /// Split the TCP payload into pieces of this many bytes (0: send as is).
    pub gso_size: u16,
    /// The TCP checksum is partial (pseudo-header only): the kernel completes it.
    pub csum_partial: bool,
}

/// What the kernel said about a received packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxOffload {
    /// The transport checksum is correct by construction (`DATA_VALID`) or was never
    /// computed because the packet never left the host (`NEEDS_CSUM`): do not verify it.
    pub csum_trusted: bool,
}

/// A parsed `virtio_net_hdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `VIRTIO_NET_HDR_F_*` flags.
    pub flags: u8,
    /// `VIRTIO_NET_HDR_GSO_*` type.
    pub gso_type: u8,
    /// Length of the headers to copy in front of each GSO piece.
    pub hdr_len: u16,
    /// Payload bytes per GSO piece.
    pub gso_size: u16,
    /// Where the checksum computation starts.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Reads the header from the first [`VNET_HDR_LEN`] bytes; `None` if shorter.
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// The header's bytes (little-endian, as the kernel reads it).
    pub fn to_bytes(self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }

    /// The header for an IPv4/TCP or IPv6/TCP packet we built (`pkt` starts at the IP
    /// header; an IPv6 one has no extension headers: we send none).
    pub fn for_tx(pkt: &[u8], tx: TxOffload) -> VnetHdr {
        let v6 = pkt.first().is_some_and(|b| b >> 4 == 6);
        let ihl = match v6 {
            true => super::IPV6_HEADER_LEN,
            false => pkt.first().map_or(20, |b| usize::from(b & 0x0f) * 4),
        };
        let thl = pkt.get(ihl + 12).map_or(20, |b| usize::from(b >> 4) * 4);
        let mut h = VnetHdr::default();
        if tx.csum_partial {
            h.flags = F_NEEDS_CSUM;
            h.csum_start = ihl as u16;
            h.csum_offset = 16; // the TCP checksum field
        }
        if tx.gso_size > 0 {
            h.gso_type = if v6 { GSO_TCPV6 } else { GSO_TCPV4 };
            h.gso_size = tx.gso_size;
            h.hdr_len = (ihl + thl) as u16;
        }
        h
    }

    /// What the stack needs to know about a received packet.
    pub fn rx(&self) -> RxOffload {
        RxOffload {
            csum_trusted: self.flags & (F_NEEDS_CSUM | F_DATA_VALID) != 0,
        }
    }
}

/// Completes a partial checksum in place: the one's-complement sum of `pkt[start..]`
/// (which includes the partial value at `start + offset`) goes, complemented, into that
/// field. What a NIC does with NEEDS_CSUM; we use it for pcap copies. Returns false (and
/// leaves `pkt` alone) when the offsets do not fit.
pub fn complete_checksum(pkt: &mut [u8], start: usize, offset: usize) -> bool {
    let at = start + offset;
    if start >= pkt.len() || at + 2 > pkt.len() {
        return false;
    }
    let sum = checksum::finish(checksum::add(0, &pkt[start..]));
    pkt[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_little_endian() {
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 52,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        let b = h.to_bytes();
        assert_eq!(b, [1, 1, 52, 0, 0xa8, 0x05, 20, 0, 16, 0]);
        assert_eq!(VnetHdr::parse(&b), Some(h));
        assert_eq!(VnetHdr::parse(&b[..9]), None);
    }

    #[test]
    fn tx_header_for_ipv6_starts_the_checksum_after_40_bytes_and_says_tcpv6() {
        let mut pkt = vec![0u8; 40 + 32];
        pkt[0] = 0x60;
        pkt[40 + 12] = 8 << 4; // a 32-byte TCP header
        let tx = TxOffload {
            gso_size: 1440,
            csum_partial: true,
        };
        let h = VnetHdr::for_tx(&pkt, tx);
        assert_eq!((h.csum_start, h.csum_offset), (40, 16));
        assert_eq!((h.gso_type, h.gso_size, h.hdr_len), (GSO_TCPV6, 1440, 72));
        pkt[0] = 0x45;
        pkt[20 + 12] = 8 << 4;
        let h = VnetHdr::for_tx(&pkt, tx);
        assert_eq!((h.csum_start, h.gso_type, h.hdr_len), (20, GSO_TCPV4, 52));
    }

    #[test]
    fn needs_csum_and_data_valid_are_trusted_none_is_not() {
        let mut h = VnetHdr::default();
        assert!(!h.rx().csum_trusted);
        h.flags = F_DATA_VALID;
        assert!(h.rx().csum_trusted);
        h.flags = F_NEEDS_CSUM;
        assert!(h.rx().csum_trusted);
    }
}
