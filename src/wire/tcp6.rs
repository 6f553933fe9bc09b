//! TCP over IPv6: the same segment parse and emit as IPv4's [`Segment`], with the IPv6
//! pseudo-header (RFC 8200 §8.1) in the checksum and a fixed IPv6 header in front.
//!
//! Segment6 has Segment's fields with IPv6 addresses and [`Ip6Meta`]; the TCP bytes
//! are read and written by the same code (`tcp::TcpParts`, behind `tcp::IpHead::V6`).
//! What it does not do: emit extension headers (we send none).

use super::ipv6::{Ip6Meta, Ipv6Packet, IPV6_HEADER_LEN};
use super::tcp::{IpHead, TcpParts};
use super::Segment;
use super::{checksum, EmitError, TcpFlags, TcpOptions, WireError, IPPROTO_TCP};
use core::fmt;
use std::net::SocketAddrV6;

/// One TCP segment with the IPv6 fields that travel with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment6<'a> {
    /// Source address and port. Flow info and scope id are always 0 (as in `dst`).
    pub src: SocketAddrV6,
    /// Destination address and port.
    pub dst: SocketAddrV6,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// The window field as sent (unscaled).
    pub window: u16,
    /// The urgent pointer.
    pub urgent: u16,
    /// The options.
    pub options: TcpOptions,
    /// The data.
    pub payload: &'a [u8],
    /// The IPv6 header's hop limit, traffic class and flow label.
    pub ip: Ip6Meta,
}

impl<'a> Segment6<'a> {
    /// Parses the TCP upper layer of `ip` (`tcp`: its bytes after any extension headers,
    /// see [`Ipv6Packet::chain`]).
    pub fn parse_tcp(ip: &Ipv6Packet<'_>, tcp: &'a [u8]) -> Result<Segment6<'a>, WireError> {
        Segment6::parse_tcp_with(ip, tcp, true)
    }

    /// [`Segment6::parse_tcp`], verifying the checksum only if `verify` (false only for
    /// segments an offloading device vouched for).
    pub fn parse_tcp_with(
        ip: &Ipv6Packet<'_>,
        tcp: &'a [u8],
        verify: bool,
    ) -> Result<Segment6<'a>, WireError> {
        let acc = checksum::pseudo_header_v6(ip.src, ip.dst, IPPROTO_TCP, tcp.len());
        let t = TcpParts::parse(tcp, acc, verify)?;
        Ok(Segment6 {
            src: SocketAddrV6::new(ip.src, t.src_port, 0, 0),
            dst: SocketAddrV6::new(ip.dst, t.dst_port, 0, 0),
            seq: t.seq,
            ack: t.ack,
            flags: t.flags,
            window: t.window,
            urgent: t.urgent,
            options: t.options,
            payload: t.payload,
            ip: ip.meta,
        })
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn seq_len(&self) -> u32 {
        self.parts().seq_len()
    }

    /// TCP header length including options.
    pub fn header_len(&self) -> usize {
        self.parts().header_len()
    }

    /// Bytes `emit` writes: IPv6 header, TCP header with options, payload.
    pub fn buffer_len(&self) -> usize {
        IPV6_HEADER_LEN + self.header_len() + self.payload.len()
    }

    /// The TCP part, for the code both families share.
    fn parts(&self) -> TcpParts<'a> {
        Segment::from(*self).parts()
    }

    fn ip_head(&self) -> IpHead {
        IpHead::V6 {
            src: *self.src.ip(),
            dst: *self.dst.ip(),
            meta: self.ip,
        }
    }

    /// Writes the whole IPv6 packet with the TCP checksum; returns `buffer_len()`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        self.parts().emit(self.ip_head(), out, false)
    }

    /// [`Segment6::emit`] with only the pseudo-header sum in the checksum field, for a
    /// device that completes it (CHECKSUM_PARTIAL).
    pub fn emit_csum_partial(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        self.parts().emit(self.ip_head(), out, true)
    }

    /// Writes only the IPv6 and TCP headers (as [`Segment::emit_headers`]): the checksum
    /// reads the payload where it lies; the payload is to follow in the same write.
    pub fn emit_headers(&self, out: &mut [u8], csum_partial: bool) -> Result<usize, EmitError> {
        self.parts().emit_headers(self.ip_head(), out, csum_partial)
    }
}

/// `[fd66::1]:5555 > [fd66::2]:80 [S.] seq 100 ack 201 win 65535 <mss 1440> len 0`.
impl fmt::Display for Segment6<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {} ", self.src, self.dst)?;
        self.parts().fmt_fields(f)
    }
}
