//! IPv4 header: checked parse (RFC 791) and the header writer shared by TCP and ICMP.

use super::{checksum, write_into, WireError};
use core::fmt;
use etherparse::{IpDscp, IpEcn, IpNumber, Ipv4Header, Ipv4HeaderSlice};
use std::net::Ipv4Addr;

/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;

/// The IPv4 fields a sender chooses per packet (RFC 9293 MUST-48/49: TOS and TTL are
/// settable per connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpMeta {
    /// Time to live.
    pub ttl: u8,
    /// The whole TOS byte: DSCP in the upper six bits, ECN in the lower two.
    pub tos: u8,
    /// The identification field.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
}

impl Default for IpMeta {
    fn default() -> IpMeta {
        IpMeta {
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: true,
        }
    }
}

/// A checked view of an IPv4 packet. Options are skipped (RFC 9293 MUST-50).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The upper-layer protocol number.
    pub protocol: u8,
    /// TTL, TOS, identification and DF.
    pub meta: IpMeta,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    /// Header length in bytes, options included.
    pub header_len: usize,
    /// The datagram's payload, bounded by the total length field.
    pub payload: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Checks version, IHL, total length and header checksum. Bytes past the total length
    /// (link padding) are ignored.
    pub fn parse(buf: &'a [u8]) -> Result<Ipv4Packet<'a>, WireError> {
        use etherparse::err::ipv4::{HeaderError, HeaderSliceError};
        let h = Ipv4HeaderSlice::from_slice(buf).map_err(|e| match e {
            HeaderSliceError::Len(l) => WireError::Truncated {
                need: l.required_len,
                have: buf.len(),
            },
            HeaderSliceError::Content(HeaderError::UnexpectedVersion { version_number }) => {
                WireError::BadVersion(version_number)
            }
            HeaderSliceError::Content(HeaderError::HeaderLengthSmallerThanHeader { ihl }) => {
                WireError::BadIhl(ihl)
            }
        })?;
        let header_len = h.slice().len();
        let total = h.total_len();
        if usize::from(total) < header_len || usize::from(total) > buf.len() {
            return Err(WireError::BadTotalLength {
                total,
                buffer: buf.len(),
            });
        }
        let ok = match <&[u8; 20]>::try_from(h.slice()) {
            Ok(h20) => checksum::ipv4_header(h20) == 0,
            Err(_) => checksum::verifies(0, h.slice()), // with options
        };
        if !ok {
            return Err(WireError::BadIpChecksum);
        }
        Ok(Ipv4Packet {
            src: h.source_addr(),
            dst: h.destination_addr(),
            protocol: h.protocol().0,
            meta: IpMeta {
                ttl: h.ttl(),
                tos: (h.dcp().value() << 2) | h.ecn().value(),
                ident: h.identification(),
                dont_frag: h.dont_fragment(),
            },
            more_frags: h.more_fragments(),
            frag_offset: h.fragments_offset().value() * 8,
            header_len,
            payload: &buf[header_len..usize::from(total)],
        })
    }

    /// MF set or a non-zero offset: only the IP layer may look inside.
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }
}

impl fmt::Display for Ipv4Packet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} > {} IP proto {} frag id {} off {}{} len {}",
            self.src,
            self.dst,
            self.protocol,
            self.meta.ident,
            self.frag_offset,
            if self.more_frags { "+" } else { "" },
            self.payload.len()
        )
    }
}

/// Builds the header etherparse will write (checksum included).
pub(super) fn header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    meta: IpMeta,
    payload_len: usize,
) -> Ipv4Header {
    let mut h = Ipv4Header::new(
        // Callers check payload_len against 65535 - 20 first.
        payload_len as u16,
        meta.ttl,
        IpNumber(protocol),
        src.octets(),
        dst.octets(),
    )
    .unwrap_or_default();
    h.dscp = IpDscp::try_new(meta.tos >> 2).unwrap_or(IpDscp::ZERO);
    h.ecn = IpEcn::try_new(meta.tos & 0b11).unwrap_or(IpEcn::ZERO);
    h.identification = meta.ident;
    h.dont_fragment = meta.dont_frag;
    h.header_checksum = h.calc_header_checksum();
    h
}

/// Writes the 20-byte header `header(..)` describes, checksum included, at the start of
/// `out` (at least 20 bytes); returns 20. The same bytes as etherparse's writer (a test
/// compares them), without building its header struct: this runs for every TCP segment.
pub(super) fn emit_header(
    out: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    meta: IpMeta,
    payload_len: usize,
) -> usize {
    let mut h = [0u8; 20];
    h[0] = 0x45; // version 4, IHL 5: no options
    h[1] = meta.tos;
    // Callers check payload_len against 65535 - 20 first.
    h[2..4].copy_from_slice(&((20 + payload_len) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&meta.ident.to_be_bytes());
    // Flags and fragment offset: DF only (RFC 791 §3.1).
    h[6] = if meta.dont_frag { 0x40 } else { 0 };
    h[7] = 0;
    h[8] = meta.ttl;
    h[9] = protocol;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let sum = checksum::ipv4_header(&h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    out[..20].copy_from_slice(&h);
    20
}

/// Writes `h` at the start of `out`; returns the bytes written (20).
pub(super) fn write_header(h: &Ipv4Header, out: &mut [u8]) -> usize {
    write_into(out, |w| h.write(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The direct writer gives etherparse's bytes for any addresses, metadata and length.
        #[test]
        fn emit_header_matches_etherparse(
            (src, dst, protocol) in (any::<u32>(), any::<u32>(), any::<u8>()),
            (ttl, tos, ident, dont_frag) in (any::<u8>(), any::<u8>(), any::<u16>(), any::<bool>()),
            payload_len in 0usize..=65515,
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let meta = IpMeta { ttl, tos, ident, dont_frag };
            let (mut ours, mut theirs) = ([0xee; 20], [0xee; 20]);
            prop_assert_eq!(emit_header(&mut ours, src, dst, protocol, meta, payload_len), 20);
            let h = header(src, dst, protocol, meta, payload_len);
            prop_assert_eq!(write_header(&h, &mut theirs), 20);
            prop_assert_eq!(ours, theirs);
        }
    }
}
