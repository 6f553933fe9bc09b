//! ICMPv4 (RFC 792): echo request/reply for ping, and the error messages whose quoted
//! headers the stack hands to the connection they name (RFC 9293 MUST-54).

use super::ipv4::{self, IpMeta, Ipv4Packet, IPPROTO_ICMP};
use super::{checksum, EmitError, WireError};
use core::fmt;
use std::net::Ipv4Addr;

/// The ICMP header (both versions).
pub(super) const HEADER_LEN: usize = 8;
const IPV4_HEADER_LEN: usize = 20;

/// An ICMP message by meaning. `original` is the quoted IP header plus leading data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpMessage<'a> {
    /// Type 0.
    EchoReply {
        /// Identifier (echoed).
        ident: u16,
        /// Sequence number (echoed).
        seq: u16,
        /// The echoed data.
        data: &'a [u8],
    },
    /// Type 8 (a ping).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data to echo.
        data: &'a [u8],
    },
    /// Type 3.
    DestUnreachable {
        /// Why (0 net, 1 host, 2 protocol, 3 port, 4 fragmentation needed...).
        code: u8,
        /// The next-hop MTU (code 4, RFC 1191).
        next_hop_mtu: u16,
        /// The quoted datagram.
        original: &'a [u8],
    },
    /// Type 4 (deprecated, RFC 6633).
    SourceQuench {
        /// The quoted datagram.
        original: &'a [u8],
    },
    /// Type 11.
    TimeExceeded {
        /// 0: TTL exceeded in transit; 1: reassembly time exceeded.
        code: u8,
        /// The quoted datagram.
        original: &'a [u8],
    },
    /// Type 12.
    ParameterProblem {
        /// The offset of the bad octet in the quoted header.
        pointer: u8,
        /// The quoted datagram.
        original: &'a [u8],
    },
    /// Any other type, kept whole so it can be counted and ignored (RFC 1122 §3.2.2).
    Other {
        /// The ICMP type.
        icmp_type: u8,
        /// The ICMP code.
        code: u8,
        /// The header's second word, uninterpreted.
        rest: [u8; 4],
        /// What follows the header.
        data: &'a [u8],
    },
}

/// An ICMP message with the addresses of the datagram that carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpPacket<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The IP header's TTL, TOS, identification and DF.
    pub ip: IpMeta,
    /// The message.
    pub message: IcmpMessage<'a>,
}

impl<'a> IcmpMessage<'a> {
    fn parts(&self) -> Fields<'a> {
        match *self {
            IcmpMessage::EchoReply { ident, seq, data } => (0, 0, id_seq(ident, seq), data),
            IcmpMessage::EchoRequest { ident, seq, data } => (8, 0, id_seq(ident, seq), data),
            IcmpMessage::DestUnreachable {
                code,
                next_hop_mtu,
                original,
            } => {
                let m = next_hop_mtu.to_be_bytes();
                (3, code, [0, 0, m[0], m[1]], original)
            }
            IcmpMessage::SourceQuench { original } => (4, 0, [0; 4], original),
            IcmpMessage::TimeExceeded { code, original } => (11, code, [0; 4], original),
            IcmpMessage::ParameterProblem { pointer, original } => {
                (12, 0, [pointer, 0, 0, 0], original)
            }
            IcmpMessage::Other {
                icmp_type,
                code,
                rest,
                data,
            } => (icmp_type, code, rest, data),
        }
    }

    /// Parses an ICMP message, checksum included.
    pub fn parse(buf: &'a [u8]) -> Result<IcmpMessage<'a>, WireError> {
        let (ty, code, rest, data) = parse_header(buf, 0, WireError::BadIcmpChecksum)?;
        let (hi, lo) = halves(rest);
        Ok(match (ty, code, rest) {
            (0, 0, _) => IcmpMessage::EchoReply {
                ident: hi,
                seq: lo,
                data,
            },
            (8, 0, _) => IcmpMessage::EchoRequest {
                ident: hi,
                seq: lo,
                data,
            },
            (3, code, [0, 0, _, _]) => IcmpMessage::DestUnreachable {
                code,
                next_hop_mtu: lo,
                original: data,
            },
            (4, 0, [0, 0, 0, 0]) => IcmpMessage::SourceQuench { original: data },
            (11, code, [0, 0, 0, 0]) => IcmpMessage::TimeExceeded {
                code,
                original: data,
            },
            (12, 0, [p, 0, 0, 0]) => IcmpMessage::ParameterProblem {
                pointer: p,
                original: data,
            },
            (icmp_type, code, rest) => IcmpMessage::Other {
                icmp_type,
                code,
                rest,
                data,
            },
        })
    }

    /// Bytes the message takes (ICMP header and data).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.parts().3.len()
    }

    /// Writes the message with its checksum; returns `buffer_len()`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        emit_message(self.parts(), 0, out)
    }
}

impl<'a> IcmpPacket<'a> {
    /// Parses a whole IPv4 packet that must carry an unfragmented ICMP message.
    pub fn parse(buf: &'a [u8]) -> Result<IcmpPacket<'a>, WireError> {
        let ip = Ipv4Packet::parse(buf)?;
        if ip.is_fragment() {
            return Err(WireError::Fragment);
        }
        IcmpPacket::parse_icmp(&ip, ip.payload)
    }

    /// The ICMP message in `payload`, carried by `ip` (checksum verified).
    pub fn parse_icmp(ip: &Ipv4Packet<'_>, payload: &'a [u8]) -> Result<IcmpPacket<'a>, WireError> {
        if ip.protocol != IPPROTO_ICMP {
            return Err(WireError::UnexpectedProtocol(ip.protocol));
        }
        Ok(IcmpPacket {
            src: ip.src,
            dst: ip.dst,
            ip: ip.meta,
            message: IcmpMessage::parse(payload)?,
        })
    }

    /// Bytes the packet takes, IPv4 header included.
    pub fn buffer_len(&self) -> usize {
        IPV4_HEADER_LEN + self.message.buffer_len()
    }

    /// Writes the whole IPv4 packet; returns `buffer_len()`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let need = self.buffer_len();
        super::check_room(out, need, need)?;
        let h = ipv4::header(
            self.src,
            self.dst,
            IPPROTO_ICMP,
            self.ip,
            self.message.buffer_len(),
        );
        let n = ipv4::write_header(&h, out);
        Ok(n + self.message.emit(&mut out[n..])?)
    }
}

/// A message's type, code, the header's second word and the data after the header.
pub(super) type Fields<'a> = (u8, u8, [u8; 4], &'a [u8]);

/// Identifier and sequence number as the header's second word (echo, both versions).
pub(super) fn id_seq(ident: u16, seq: u16) -> [u8; 4] {
    let (a, b) = (ident.to_be_bytes(), seq.to_be_bytes());
    [a[0], a[1], b[0], b[1]]
}

/// The second word's two halves (identifier and sequence number for echo).
pub(super) fn halves(rest: [u8; 4]) -> (u16, u16) {
    (
        u16::from_be_bytes([rest[0], rest[1]]),
        u16::from_be_bytes([rest[2], rest[3]]),
    )
}

/// The header both versions share (RFC 792; RFC 4443 §2.1): type, code, checksum and a
/// word the type gives meaning to, then data. Checks the length and the checksum, summed
/// over `acc` (the pseudo-header's sum for ICMPv6, RFC 4443 §2.3; 0 for ICMPv4) and the
/// message (`bad_checksum` if it fails); returns (type, code, word, data).
pub(super) fn parse_header(
    buf: &[u8],
    acc: u64,
    bad_checksum: WireError,
) -> Result<Fields<'_>, WireError> {
    if buf.len() < HEADER_LEN {
        return Err(WireError::Truncated {
            need: HEADER_LEN,
            have: buf.len(),
        });
    }
    if !checksum::verifies(acc, buf) {
        return Err(bad_checksum);
    }
    let rest = [buf[4], buf[5], buf[6], buf[7]];
    Ok((buf[0], buf[1], rest, &buf[HEADER_LEN..]))
}

/// Writes a message (type, code, word, data) with its checksum over `acc` (as in
/// [`parse_header`]) and the message; returns the bytes written.
pub(super) fn emit_message(
    (ty, code, rest, data): Fields<'_>,
    acc: u64,
    out: &mut [u8],
) -> Result<usize, EmitError> {
    let need = HEADER_LEN + data.len();
    if out.len() < need {
        return Err(EmitError::BufferTooSmall {
            need,
            have: out.len(),
        });
    }
    out[..HEADER_LEN].copy_from_slice(&[ty, code, 0, 0, rest[0], rest[1], rest[2], rest[3]]);
    out[HEADER_LEN..need].copy_from_slice(data);
    let sum = checksum::finish(checksum::add(acc, &out[..need]));
    out[2..4].copy_from_slice(&sum.to_be_bytes());
    Ok(need)
}

/// `10.66.0.1 > 10.66.0.2 ICMP echo request, id 7, seq 1, length 64` (tcpdump's wording).
impl fmt::Display for IcmpPacket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {} ICMP ", self.src, self.dst)?;
        match self.message {
            IcmpMessage::EchoReply { ident, seq, data } => {
                write!(
                    f,
                    "echo reply, id {ident}, seq {seq}, length {}",
                    data.len()
                )
            }
            IcmpMessage::EchoRequest { ident, seq, data } => {
                write!(
                    f,
                    "echo request, id {ident}, seq {seq}, length {}",
                    data.len()
                )
            }
            IcmpMessage::DestUnreachable { code, .. } => write!(f, "unreachable, code {code}"),
            IcmpMessage::SourceQuench { .. } => f.write_str("source quench"),
            IcmpMessage::TimeExceeded { code, .. } => write!(f, "time exceeded, code {code}"),
            IcmpMessage::ParameterProblem { pointer, .. } => {
                write!(f, "parameter problem, pointer {pointer}")
            }
            IcmpMessage::Other {
                icmp_type, code, ..
            } => write!(f, "type {icmp_type}, code {code}"),
        }
    }
}
