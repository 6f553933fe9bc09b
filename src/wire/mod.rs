//! `wire`: bytes <-> typed IPv4 / TCP / ICMP packets. No state, no time.
//!
//! Parsing takes untrusted bytes (a whole IPv4 packet as read from a TUN) and returns either
//! a typed view borrowing the buffer or a [`WireError`] saying why it was rejected. Nothing
//! here panics, loops without bound or allocates on input. Emitting writes exactly
//! `buffer_len()` bytes with correct IPv4 and TCP/ICMP checksums (or, for a device that
//! offloads, a partial TCP checksum it completes: [`offload`], which also reads and writes
//! the `virtio_net_hdr` such a TUN puts in front of each packet).
//!
//! What this module does not do: reassemble fragments (it flags them, see
//! [`WireError::Fragment`] and [`Ipv4Packet::is_fragment`]), route, or know any TCP state.
//! Sequence numbers are plain `u32` here; `tcp::SeqNum` gives them their modular order.

mod checksum;
mod icmp;
mod ipv4;
pub mod offload;
mod tcp;
mod tcp_option;

pub use checksum::{
    add as checksum_add, finish as checksum_finish, pseudo_header as checksum_pseudo_header,
};
pub use icmp::{IcmpMessage, IcmpPacket};
pub use ipv4::{IpMeta, Ipv4Packet, IPPROTO_ICMP, IPPROTO_TCP};
pub use tcp::{Segment, TcpFlags, TCP_HEADER_LEN};
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
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EmitError::BufferTooSmall { need, have } => {
                write!(f, "buffer too small: need {need} bytes, have {have}")
            }
            EmitError::TooLong(n) => write!(f, "packet of {n} bytes exceeds 65535"),
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

/// Writes `n` bytes through an etherparse writer into `out`, which must be long enough.
fn write_into(out: &mut [u8], f: impl FnOnce(&mut &mut [u8]) -> std::io::Result<()>) -> usize {
    let total = out.len();
    let mut cursor: &mut [u8] = out;
    // Callers size `out` from buffer_len(); a short write is a bug in this module.
    f(&mut cursor).expect("buffer sized from buffer_len()");
    total - cursor.len()
}
