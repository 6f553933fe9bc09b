//! TCP segment: checked parse (RFC 9293 §3.1), emit with checksum, one-line Display.

use super::ipv4::{self, IpMeta, Ipv4Packet, IPPROTO_TCP};
use super::ipv6;
use super::tcp6::Segment6;
use super::tcp_option::TcpOptions;
use super::Ip6Meta;
use super::{checksum, EmitError, WireError};
use core::fmt;
use etherparse::TcpHeaderSlice;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// The TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
const IPV4_HEADER_LEN: usize = 20;

/// The control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x80);
    /// No flag.
    pub const NONE: TcpFlags = TcpFlags(0);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// FIN is set.
    pub fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// SYN is set.
    pub fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// RST is set.
    pub fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// PSH is set.
    pub fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    /// ACK is set.
    pub fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// URG is set.
    pub fn urg(self) -> bool {
        self.contains(Self::URG)
    }
    /// ECE is set.
    pub fn ece(self) -> bool {
        self.contains(Self::ECE)
    }
    /// CWR is set.
    pub fn cwr(self) -> bool {
        self.contains(Self::CWR)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}
impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

/// tcpdump's letters in tcpdump's order: `F S R P . U E W`, or `none`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        for (flag, c) in [
            (Self::FIN, 'F'),
            (Self::SYN, 'S'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::ACK, '.'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
        ] {
            if self.contains(flag) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{self}]")
    }
}

/// One TCP segment with the IP fields that travel with it: the segment the TCP core reads
/// and writes, whatever the family. Parsed from IPv4 here, from IPv6 by
/// [`Segment6`] (`From<Segment6>`); emitted as IPv4 or IPv6 by the family of its
/// addresses (both must be of one family). For IPv6, `ip.ttl` is the hop limit, `ip.tos`
/// the traffic class, `ident` and `dont_frag` are unused, and the flow label is 0 unless
/// emitted through [`Segment::to_v6`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
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
    /// The IP header's TTL, TOS, identification and DF.
    pub ip: IpMeta,
}

impl<'a> Segment<'a> {
    /// Parses a whole IPv4 packet that must carry an unfragmented TCP segment.
    pub fn parse(buf: &'a [u8]) -> Result<Segment<'a>, WireError> {
        let ip = Ipv4Packet::parse(buf)?;
        if ip.is_fragment() {
            return Err(WireError::Fragment);
        }
        Segment::parse_tcp(&ip, ip.payload)
    }

    /// Parses the TCP part of a checked (or reassembled) IPv4 datagram.
    pub fn parse_tcp(ip: &Ipv4Packet<'_>, tcp: &'a [u8]) -> Result<Segment<'a>, WireError> {
        Segment::parse_tcp_with(ip, tcp, true)
    }

    /// [`Segment::parse_tcp`], verifying the checksum only if `verify` (false only for
    /// segments an offloading device vouched for, see [`super::offload::RxOffload`]).
    pub fn parse_tcp_with(
        ip: &Ipv4Packet<'_>,
        tcp: &'a [u8],
        verify: bool,
    ) -> Result<Segment<'a>, WireError> {
        if ip.protocol != IPPROTO_TCP {
            return Err(WireError::UnexpectedProtocol(ip.protocol));
        }
        let acc = checksum::pseudo_header(ip.src, ip.dst, IPPROTO_TCP, tcp.len());
        let t = TcpParts::parse(tcp, acc, verify)?;
        Ok(Segment {
            src: SocketAddr::V4(SocketAddrV4::new(ip.src, t.src_port)),
            dst: SocketAddr::V4(SocketAddrV4::new(ip.dst, t.dst_port)),
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

    #[inline(always)]
    pub(super) fn parts(&self) -> TcpParts<'a> {
        TcpParts {
            src_port: self.src.port(),
            dst_port: self.dst.port(),
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload: self.payload,
        }
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn seq_len(&self) -> u32 {
        self.parts().seq_len()
    }

    /// TCP header length including options.
    pub fn header_len(&self) -> usize {
        self.parts().header_len()
    }

    /// Bytes `emit` writes: IP header (20 or 40), TCP header with options, payload.
    pub fn buffer_len(&self) -> usize {
        self.ip_header_len() + self.header_len() + self.payload.len()
    }

    /// 20 for IPv4, 40 for IPv6 (by the source address).
    pub fn ip_header_len(&self) -> usize {
        match self.src {
            SocketAddr::V4(_) => IPV4_HEADER_LEN,
            SocketAddr::V6(_) => super::IPV6_HEADER_LEN,
        }
    }

    /// The IPv6 form of this segment with `flow_label` (RFC 6437), if both addresses are
    /// IPv6; `ip.ttl` becomes the hop limit and `ip.tos` the traffic class.
    pub fn to_v6(&self, flow_label: u32) -> Option<Segment6<'a>> {
        let (SocketAddr::V6(src), SocketAddr::V6(dst)) = (self.src, self.dst) else {
            return None;
        };
        Some(Segment6 {
            src,
            dst,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: self.urgent,
            options: self.options,
            payload: self.payload,
            ip: Ip6Meta {
                hop_limit: self.ip.ttl,
                traffic_class: self.ip.tos,
                flow_label,
            },
        })
    }

    /// The IP header in front of it, by the family of its addresses; `Err` for mixed
    /// families.
    fn ip_head(&self) -> Result<IpHead, EmitError> {
        match (self.src, self.dst) {
            (SocketAddr::V4(src), SocketAddr::V4(dst)) => Ok(IpHead::V4 {
                src: *src.ip(),
                dst: *dst.ip(),
                meta: self.ip,
            }),
            (SocketAddr::V6(src), SocketAddr::V6(dst)) => Ok(IpHead::V6 {
                src: *src.ip(),
                dst: *dst.ip(),
                // As `to_v6(0)`: flow label 0.
                meta: Ip6Meta {
                    hop_limit: self.ip.ttl,
                    traffic_class: self.ip.tos,
                    flow_label: 0,
                },
            }),
            _ => Err(EmitError::MixedFamilies),
        }
    }

    /// Writes the whole IP packet with its checksums; returns `buffer_len()`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        self.parts().emit(self.ip_head()?, out, false)
    }

    /// [`Segment::emit`] for an offloading device: the TCP checksum field holds only the
    /// pseudo-header sum, which the kernel completes (CHECKSUM_PARTIAL), so the payload is
    /// not read twice.
    pub fn emit_csum_partial(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        self.parts().emit(self.ip_head()?, out, true)
    }

    /// Writes only the IP and TCP headers of the whole packet, all checksums included:
    /// the TCP one reads the payload where it lies (or, with `csum_partial`, covers only
    /// the pseudo-header). Returns the header bytes written; the payload is to follow them
    /// in the same write (a gather write: the payload is never copied here).
    pub fn emit_headers(&self, out: &mut [u8], csum_partial: bool) -> Result<usize, EmitError> {
        self.parts()
            .emit_headers(self.ip_head()?, out, csum_partial)
    }
}

/// The IP header a segment is emitted behind, with what its pseudo-header needs
/// (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6). No options or extension headers.
#[derive(Clone, Copy)]
pub(super) enum IpHead {
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        meta: IpMeta,
    },
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        meta: Ip6Meta,
    },
}

impl IpHead {
    /// 20 or 40.
    #[inline(always)]
    fn len(&self) -> usize {
        match self {
            IpHead::V4 { .. } => IPV4_HEADER_LEN,
            IpHead::V6 { .. } => super::IPV6_HEADER_LEN,
        }
    }

    /// Checks that the packet carrying `tcp_len` bytes fits its length field and that
    /// `out` holds `room` bytes, writes the IP header; returns its length and the
    /// pseudo-header sum.
    #[inline(always)]
    fn write(
        &self,
        out: &mut [u8],
        tcp_len: usize,
        room: usize,
    ) -> Result<(usize, u64), EmitError> {
        match *self {
            IpHead::V4 { src, dst, meta } => {
                // Total Length covers the header too.
                super::check_room(out, IPV4_HEADER_LEN + tcp_len, room)?;
                let n = ipv4::emit_header(out, src, dst, IPPROTO_TCP, meta, tcp_len);
                Ok((n, checksum::pseudo_header(src, dst, IPPROTO_TCP, tcp_len)))
            }
            IpHead::V6 { src, dst, meta } => {
                super::check_room(out, tcp_len, room)?;
                let n = ipv6::emit_header(out, src, dst, IPPROTO_TCP, meta, tcp_len);
                Ok((
                    n,
                    checksum::pseudo_header_v6(src, dst, IPPROTO_TCP, tcp_len),
                ))
            }
        }
    }
}

impl<'a> From<Segment6<'a>> for Segment<'a> {
    /// The family-neutral segment the TCP core reads (the flow label is not kept).
    fn from(s: Segment6<'a>) -> Segment<'a> {
        Segment {
            src: SocketAddr::V6(s.src),
            dst: SocketAddr::V6(s.dst),
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: s.window,
            urgent: s.urgent,
            options: s.options,
            payload: s.payload,
            ip: IpMeta {
                ttl: s.ip.hop_limit,
                tos: s.ip.traffic_class,
                ident: 0,
                dont_frag: true,
            },
        }
    }
}

/// One tcpdump-like line (IPv6 addresses in brackets, `[fd66::1]:5555`):
/// `10.0.0.1:5555 > 10.0.0.2:80 [S.] seq 100 ack 201 win 65535 <mss 1460> len 0`.
impl fmt::Display for Segment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {} ", self.src, self.dst)?;
        self.parts().fmt_fields(f)
    }
}

/// Writes the TCP header with options into `h` (exactly the header's length), the
/// checksum field zero. Shared by both families; fields by reference, nothing copied.
#[inline(always)]
pub(super) fn write_header(
    h: &mut [u8],
    (src_port, dst_port): (u16, u16),
    (seq, ack): (u32, u32),
    flags: TcpFlags,
    window: u16,
    urgent: u16,
    options: &TcpOptions,
) {
    // RFC 9293 §3.1, written directly (etherparse's TcpHeader writes the same bytes; a
    // test compares them): the per-segment path builds no header struct.
    h[0..2].copy_from_slice(&src_port.to_be_bytes());
    h[2..4].copy_from_slice(&dst_port.to_be_bytes());
    h[4..8].copy_from_slice(&seq.to_be_bytes());
    h[8..12].copy_from_slice(&ack.to_be_bytes());
    h[12] = ((h.len() / 4) as u8) << 4; // data offset; reserved bits zero
    h[13] = flags.0;
    h[14..16].copy_from_slice(&window.to_be_bytes());
    h[16..18].fill(0);
    h[18..20].copy_from_slice(&urgent.to_be_bytes());
    options.emit(&mut h[TCP_HEADER_LEN..]);
}

/// The TCP part of a segment, whatever the IP family (IPv4's [`Segment`], IPv6's
/// `Segment6`): parse, header writer and Display shared by both.
#[derive(Clone, Copy)]
pub(super) struct TcpParts<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> TcpParts<'a> {
    /// Parses a whole TCP segment; with `verify`, checks its checksum against the
    /// pseudo-header sum `acc` (MUST-3: over the pseudo-header and the whole segment).
    #[inline]
    pub fn parse(tcp: &'a [u8], acc: u64, verify: bool) -> Result<TcpParts<'a>, WireError> {
        use etherparse::err::tcp::{HeaderError, HeaderSliceError};
        let h = TcpHeaderSlice::from_slice(tcp).map_err(|e| match e {
            HeaderSliceError::Len(l) if l.required_len > TCP_HEADER_LEN => {
                WireError::BadDataOffset((l.required_len / 4) as u8)
            }
            HeaderSliceError::Len(l) => WireError::Truncated {
                need: l.required_len,
                have: tcp.len(),
            },
            HeaderSliceError::Content(HeaderError::DataOffsetTooSmall { data_offset }) => {
                WireError::BadDataOffset(data_offset)
            }
        })?;
        if verify && !checksum::verifies(acc, tcp) {
            return Err(WireError::BadTcpChecksum);
        }
        let options = TcpOptions::parse(h.options(), TCP_HEADER_LEN)?;
        Ok(TcpParts {
            src_port: h.source_port(),
            dst_port: h.destination_port(),
            seq: h.sequence_number(),
            ack: h.acknowledgment_number(),
            flags: TcpFlags(tcp[13]),
            window: h.window_size(),
            urgent: h.urgent_pointer(),
            options,
            payload: &tcp[h.slice().len()..],
        })
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    #[inline(always)]
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// TCP header length including options.
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.wire_len()
    }

    /// Writes the whole packet behind `ip` with the TCP checksum (MUST-2: always computed,
    /// pseudo-header included, odd payloads padded; one pass over the bytes just written,
    /// or by the kernel with `csum_partial`); returns the bytes written.
    #[inline(always)]
    pub fn emit(&self, ip: IpHead, out: &mut [u8], csum_partial: bool) -> Result<usize, EmitError> {
        let (ip_len, header_len) = (ip.len(), self.header_len());
        let need = ip_len + header_len + self.payload.len();
        let (n, acc) = self.write_headers(ip, out, header_len, need)?;
        out[n..need].copy_from_slice(self.payload);
        let sum = if csum_partial {
            !checksum::finish(acc)
        } else {
            checksum::finish(checksum::add(acc, &out[ip_len..need]))
        };
        out[ip_len + 16..ip_len + 18].copy_from_slice(&sum.to_be_bytes());
        Ok(need)
    }

    /// Writes only the IP and TCP headers behind `ip`: the checksum reads the payload
    /// where it lies (or, with `csum_partial`, covers only the pseudo-header). Returns the
    /// header bytes written.
    #[inline(always)]
    pub fn emit_headers(
        &self,
        ip: IpHead,
        out: &mut [u8],
        csum_partial: bool,
    ) -> Result<usize, EmitError> {
        let (ip_len, header_len) = (ip.len(), self.header_len());
        let (n, acc) = self.write_headers(ip, out, header_len, ip_len + header_len)?;
        let sum = if csum_partial {
            !checksum::finish(acc)
        } else {
            // The TCP header is a multiple of 4 bytes, so the payload's sum continues it.
            checksum::finish(checksum::add(
                checksum::add(acc, &out[ip_len..n]),
                self.payload,
            ))
        };
        out[ip_len + 16..ip_len + 18].copy_from_slice(&sum.to_be_bytes());
        Ok(n)
    }

    /// Writes the IP header and the TCP header (`header_len` bytes, checksum field zero),
    /// checking that `out` holds `room` bytes; returns the header bytes written and the
    /// pseudo-header sum.
    #[inline(always)] // one call per packet on the send path; measured with callgrind
    fn write_headers(
        &self,
        ip: IpHead,
        out: &mut [u8],
        header_len: usize,
        room: usize,
    ) -> Result<(usize, u64), EmitError> {
        let (n, acc) = ip.write(out, header_len + self.payload.len(), room)?;
        write_header(
            &mut out[n..n + header_len],
            (self.src_port, self.dst_port),
            (self.seq, self.ack),
            self.flags,
            self.window,
            self.urgent,
            &self.options,
        );
        Ok((n + header_len, acc))
    }

    /// `[S.] seq 100 ack 201 win 65535 <mss 1460> len 0`: the line after the addresses.
    pub fn fmt_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] seq {}", self.flags, self.seq)?;
        if self.flags.ack() {
            write!(f, " ack {}", self.ack)?;
        }
        write!(f, " win {}", self.window)?;
        if self.flags.urg() {
            write!(f, " urg {}", self.urgent)?;
        }
        if !self.options.is_empty() {
            write!(f, " <{}>", self.options)?;
        }
        write!(f, " len {}", self.payload.len())
    }
}
