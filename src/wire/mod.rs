//! `wire`: bytes <-> typed IPv4 / IPv6 / TCP / ICMP / ICMPv6 packets. No state, no time.
//!
//! Parsing takes untrusted bytes (a whole IPv4 packet as read from a TUN) and returns either
//! a typed view borrowing the buffer or a [`WireError`] saying why it was rejected. Nothing
//! here panics, loops without bound or allocates on input. Emitting writes exactly
//! `buffer_len()` bytes with correct IPv4 and TCP/ICMP checksums (or, for a device that
//! offloads, a partial TCP checksum it completes: [`offload`], which also reads and writes
//! the `virtio_net_hdr` such a TUN puts in front of each packet).
//!
//! IPv6 (RFC 8200) has its own types beside IPv4's: [`Ipv6Packet`], the extension-header
//! walk [`Ipv6Chain`] with the action RFC 8200 §4 asks for, [`Icmpv6Packet`] (RFC 4443),
//! [`Segment6`] (TCP with the IPv6 pseudo-header) and [`Packet6`]; [`flow_label`] per
//! RFC 6437. The TCP core sees one [`Segment`] for both families (its addresses are
//! `SocketAddr`s; it emits IPv6 through [`Segment6`]).
//!
//! What this module does not do: reassemble fragments (it flags them, see
//! [`WireError::Fragment`] and [`Ipv4Packet::is_fragment`]), route, or know any TCP state.
//! Sequence numbers are plain `u32` here; `tcp::SeqNum` gives them their modular order.

mod checksum;
mod flow_label;
mod icmp;
mod icmpv6;
mod ipv4;
mod ipv6;
mod ipv6_ext;
pub mod offload;
mod tcp;
mod tcp6;
mod tcp_option;

pub use checksum::{
    add as checksum_add, finish as checksum_finish, pseudo_header as checksum_pseudo_header,
    pseudo_header_v6 as checksum_pseudo_header_v6,
};
pub use flow_label::flow_label;
pub(crate) use flow_label::siphash24;
pub use icmp::{IcmpMessage, IcmpPacket};
pub use icmpv6::{icmpv6_error_quote, Icmpv6Message, Icmpv6Packet, ICMPV6_ERROR_QUOTE_MAX};
pub use ipv4::{IpMeta, Ipv4Packet, IPPROTO_ICMP, IPPROTO_TCP};
pub use ipv6::{
    Ip6Meta, Ipv6Packet, FLOW_LABEL_MAX, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS,
    IPPROTO_ICMPV6, IPPROTO_NONE, IPPROTO_ROUTING, IPV6_HEADER_LEN, IPV6_MIN_MTU,
};
pub use ipv6_ext::{
    DiscardReason, ExtAction, FragmentHeader, Ipv6Chain, MAX_EXT_HEADERS, MAX_OPTIONS, MAX_PADDING,
    PP_ERRONEOUS_FIELD, PP_UNRECOGNIZED_NEXT_HEADER, PP_UNRECOGNIZED_OPTION,
};
pub use tcp::{Segment, TcpFlags, TCP_HEADER_LEN};
pub use tcp6::Segment6;
pub use tcp_option::{
    SackBlock, SackList, TcpOptions, Timestamps, MAX_OPTIONS_LEN, MAX_SACK_BLOCKS,
};

use core::fmt;

/// Why a packet was rejected. Every parse failure is one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The buffer ends before the header (or the fixed part of a message) does.
    Truncated {
        /// Bytes the header needs.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
    /// The IP version nibble is not 4.
    BadVersion(u8),
    /// IHL below 5 (a header shorter than 20 bytes).
    BadIhl(u8),
    /// Total length smaller than the header or larger than the buffer.
    BadTotalLength {
        /// The header's total length.
        total: u16,
        /// The buffer's length.
        buffer: usize,
    },
    /// The IPv4 header checksum does not verify.
    BadIpChecksum,
    /// MF set or fragment offset non-zero: the IP layer must reassemble first.
    Fragment,
    /// Neither TCP nor ICMP (or not the protocol asked for).
    UnexpectedProtocol(u8),
    /// TCP data offset below 5 or past the end of the segment.
    BadDataOffset(u8),
    /// The TCP checksum (with the IPv4 pseudo-header) does not verify.
    BadTcpChecksum,
    /// An option length of 0 or 1, or one running past the header (RFC 9293 MUST-7).
    BadOptionLength {
        /// The option's kind.
        kind: u8,
        /// Where it starts in the options.
        offset: usize,
    },
    /// The ICMP checksum does not verify.
    BadIcmpChecksum,
    /// The IP version nibble is not 6 (where IPv6 was expected).
    BadIpv6Version(u8),
    /// The IPv6 payload length runs past the buffer.
    BadPayloadLength {
        /// The header's payload length.
        payload: u16,
        /// The buffer's length.
        buffer: usize,
    },
    /// An IPv6 jumbogram (RFC 2675): payload length 0 with a Hop-by-Hop header.
    Jumbogram,
    /// An IPv6 option with no length byte or one running past its header (at this
    /// offset in the packet).
    BadIpv6OptionLength {
        /// Where the option starts, counted from the first byte of the IPv6 packet.
        offset: usize,
    },
    /// The ICMPv6 checksum (with the IPv6 pseudo-header) does not verify.
    BadIcmpv6Checksum,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireError::Truncated { need, have } => {
                write!(f, "truncated: need {need} bytes, have {have}")
            }
            WireError::BadVersion(v) => write!(f, "IP version {v}, not 4"),
            WireError::BadIhl(ihl) => write!(f, "IHL {ihl} < 5"),
            WireError::BadTotalLength { total, buffer } => {
                write!(
                    f,
                    "total length {total} inconsistent with a {buffer}-byte buffer"
                )
            }
            WireError::BadIpChecksum => f.write_str("bad IPv4 header checksum"),
            WireError::Fragment => f.write_str("IPv4 fragment (needs reassembly)"),
            WireError::UnexpectedProtocol(p) => write!(f, "IP protocol {p} not handled"),
            WireError::BadDataOffset(d) => write!(f, "TCP data offset {d} out of range"),
            WireError::BadTcpChecksum => f.write_str("bad TCP checksum"),
            WireError::BadOptionLength { kind, offset } => {
                write!(
                    f,
                    "illegal length of TCP option kind {kind} at offset {offset}"
                )
            }
            WireError::BadIcmpChecksum => f.write_str("bad ICMP checksum"),
            WireError::BadIpv6Version(v) => write!(f, "IP version {v}, not 6"),
            WireError::BadPayloadLength { payload, buffer } => write!(
                f,
                "IPv6 payload length {payload} past the end of a {buffer}-byte buffer"
            ),
            WireError::Jumbogram => f.write_str("IPv6 jumbogram (not supported)"),
            WireError::BadIpv6OptionLength { offset } => {
                write!(f, "illegal length of IPv6 option at offset {offset}")
            }
            WireError::BadIcmpv6Checksum => f.write_str("bad ICMPv6 checksum"),
        }
    }
}

impl std::error::Error for WireError {}

/// Why a value could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// The output buffer is shorter than `buffer_len()`.
    BufferTooSmall {
        /// Bytes the value needs.
        need: usize,
        /// Bytes the buffer has.
        have: usize,
    },
    /// The packet would exceed 65535 bytes.
    TooLong(usize),
    /// A segment whose source and destination are of different IP families.
    MixedFamilies,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EmitError::BufferTooSmall { need, have } => {
                write!(f, "buffer too small: need {need} bytes, have {have}")
            }
            EmitError::TooLong(n) => write!(f, "packet of {n} bytes exceeds 65535"),
            EmitError::MixedFamilies => f.write_str("source and destination of different families"),
        }
    }
}

impl std::error::Error for EmitError {}

/// A parsed IPv4 packet that the stack knows how to handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// A TCP segment.
    Tcp(Segment<'a>),
    /// An ICMP message.
    Icmp(IcmpPacket<'a>),
    /// A fragment, to be reassembled by the IP layer and parsed again with
    /// [`Packet::from_ip`].
    Fragment(Ipv4Packet<'a>),
}

impl<'a> Packet<'a> {
    /// Parses a whole IPv4 packet (as read from a TUN).
    pub fn parse(buf: &'a [u8]) -> Result<Packet<'a>, WireError> {
        let ip = Ipv4Packet::parse(buf)?;
        if ip.is_fragment() {
            return Ok(Packet::Fragment(ip));
        }
        Packet::from_ip(&ip, ip.payload)
    }

    /// Parses the upper layer of an unfragmented (or reassembled) datagram.
    pub fn from_ip(ip: &Ipv4Packet<'_>, payload: &'a [u8]) -> Result<Packet<'a>, WireError> {
        Packet::from_ip_offload(ip, payload, false)
    }

    /// [`Packet::from_ip`] for a packet an offloading device vouched for: with
    /// `csum_trusted` the TCP checksum is not verified (see [`offload::RxOffload`]).
    pub fn from_ip_offload(
        ip: &Ipv4Packet<'_>,
        payload: &'a [u8],
        csum_trusted: bool,
    ) -> Result<Packet<'a>, WireError> {
        match ip.protocol {
            IPPROTO_TCP => Segment::parse_tcp_with(ip, payload, !csum_trusted).map(Packet::Tcp),
            IPPROTO_ICMP => IcmpPacket::parse_icmp(ip, payload).map(Packet::Icmp),
            p => Err(WireError::UnexpectedProtocol(p)),
        }
    }
}

impl fmt::Display for Packet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Packet::Tcp(s) => s.fmt(f),
            Packet::Icmp(i) => i.fmt(f),
            Packet::Fragment(ip) => ip.fmt(f),
        }
    }
}

/// A parsed IPv6 packet, sorted by what the stack is to do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet6<'a> {
    /// A TCP segment.
    Tcp(Segment6<'a>),
    /// An ICMPv6 message.
    Icmp(Icmpv6Packet<'a>),
    /// A non-atomic fragment: reassemble (RFC 8200 §4.5), then parse the result with
    /// [`Packet6::parse`]. `chain.fragment` is its Fragment header.
    Fragment(Ipv6Packet<'a>, Ipv6Chain<'a>),
    /// Not for the upper layer: the chain's action, or, for a protocol other than TCP and
    /// ICMPv6, Parameter Problem code 1 at its Next Header field (RFC 8200 §4), or a
    /// silent discard for No Next Header (§4.7).
    Refused(Ipv6Packet<'a>, ExtAction),
}

impl<'a> Packet6<'a> {
    /// Parses a whole IPv6 packet (as read from a TUN), extension headers walked.
    pub fn parse(buf: &'a [u8]) -> Result<Packet6<'a>, WireError> {
        Packet6::parse_offload(buf, false)
    }

    /// [`Packet6::parse`] for a packet an offloading device vouched for: with
    /// `csum_trusted` the TCP checksum is not verified.
    pub fn parse_offload(buf: &'a [u8], csum_trusted: bool) -> Result<Packet6<'a>, WireError> {
        Packet6::from_ip_offload(Ipv6Packet::parse(buf)?, csum_trusted)
    }

    /// [`Packet6::parse_offload`] of a packet whose fixed header is already parsed.
    pub fn from_ip_offload(
        ip: Ipv6Packet<'a>,
        csum_trusted: bool,
    ) -> Result<Packet6<'a>, WireError> {
        if ip.next_header == IPPROTO_TCP {
            // No extension header: what the walk below finds, without walking.
            return Segment6::parse_tcp_with(&ip, ip.payload, !csum_trusted).map(Packet6::Tcp);
        }
        let chain = ip.chain()?;
        if chain.action != ExtAction::Proceed {
            return Ok(Packet6::Refused(ip, chain.action));
        }
        if chain.needs_reassembly() {
            return Ok(Packet6::Fragment(ip, chain));
        }
        match chain.upper {
            IPPROTO_TCP => {
                Segment6::parse_tcp_with(&ip, chain.payload, !csum_trusted).map(Packet6::Tcp)
            }
            IPPROTO_ICMPV6 => Icmpv6Packet::parse_icmp(&ip, chain.payload).map(Packet6::Icmp),
            IPPROTO_NONE => Ok(Packet6::Refused(
                ip,
                ExtAction::Discard(DiscardReason::NoNextHeader),
            )),
            _ => Ok(Packet6::Refused(
                ip,
                ExtAction::ParameterProblem {
                    code: PP_UNRECOGNIZED_NEXT_HEADER,
                    pointer: chain.next_header_pointer as u32,
                },
            )),
        }
    }
}

impl fmt::Display for Packet6<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Packet6::Tcp(s) => s.fmt(f),
            Packet6::Icmp(i) => i.fmt(f),
            Packet6::Fragment(ip, c) => match c.fragment {
                Some(fr) => write!(
                    f,
                    "{} > {} IP6 frag id {} off {}{} next {} len {}",
                    ip.src,
                    ip.dst,
                    fr.ident,
                    fr.offset,
                    if fr.more { "+" } else { "" },
                    fr.next_header,
                    c.payload.len()
                ),
                None => ip.fmt(f),
            },
            Packet6::Refused(ip, action) => write!(f, "{ip} ({action})"),
        }
    }
}

/// Writes `n` bytes through an etherparse writer into `out`, which must be long enough.
fn write_into(out: &mut [u8], f: impl FnOnce(&mut &mut [u8]) -> std::io::Result<()>) -> usize {
    let total = out.len();
    let mut cursor: &mut [u8] = out;
    // Callers size `out` from buffer_len(); a short write is a bug in this module.
    f(&mut cursor).expect("buffer sized from buffer_len()");
    total - cursor.len()
}

/// An IP packet whose length field (IPv4 Total Length, IPv6 Payload Length) would hold
/// `field_len` fits its 16 bits, and `out` holds `need` bytes.
fn check_room(out: &[u8], field_len: usize, need: usize) -> Result<(), EmitError> {
    if field_len > usize::from(u16::MAX) {
        return Err(EmitError::TooLong(field_len));
    }
    if out.len() < need {
        return Err(EmitError::BufferTooSmall {
            need,
            have: out.len(),
        });
    }
    Ok(())
}
