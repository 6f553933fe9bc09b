//! ICMPv6 (RFC 4443): echo request/reply, and the error messages (destination
//! unreachable, packet too big, time exceeded, parameter problem) with the packet they
//! quote. The checksum covers the IPv6 pseudo-header (RFC 4443 §2.3).
//!
//! What it does not do: Neighbor Discovery or MLD (a TUN is point to point; they parse as
//! [`Icmpv6Message::Other`]), or rate-limit errors (RFC 4443 §2.4(f) needs a clock: the
//! stack's job).

use super::icmp::{emit_message, halves, id_seq, parse_header, Fields, HEADER_LEN};
use super::ipv6::{self, Ip6Meta, Ipv6Packet, IPPROTO_ICMPV6, IPV6_HEADER_LEN, IPV6_MIN_MTU};
use super::{checksum, EmitError, WireError};
use core::fmt;
use std::net::Ipv6Addr;

/// The most of an invoking packet an error quotes: the error then fits the minimum MTU
/// (RFC 4443 §2.4(c)).
pub const ICMPV6_ERROR_QUOTE_MAX: usize = IPV6_MIN_MTU - IPV6_HEADER_LEN - HEADER_LEN;

/// The start of `invoking` an error message about it quotes (RFC 4443 §2.4(c)).
pub fn icmpv6_error_quote(invoking: &[u8]) -> &[u8] {
    &invoking[..invoking.len().min(ICMPV6_ERROR_QUOTE_MAX)]
}

/// An ICMPv6 message by meaning. `original` is the quoted packet (as much as fits).
/// Fields RFC 4443 says the receiver ignores (the unused words, Packet Too Big's code)
/// are not kept and are written as zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmpv6Message<'a> {
    /// Type 1 (§3.1).
    DestUnreachable {
        /// Why (0 no route, 1 administratively prohibited, 3 address unreachable,
        /// 4 port unreachable...).
        code: u8,
        /// The quoted packet.
        original: &'a [u8],
    },
    /// Type 2 (§3.2).
    PacketTooBig {
        /// The MTU of the next-hop link, in bytes.
        mtu: u32,
        /// The quoted packet.
        original: &'a [u8],
    },
    /// Type 3 (§3.3).
    TimeExceeded {
        /// 0: hop limit exceeded in transit; 1: fragment reassembly time exceeded.
        code: u8,
        /// The quoted packet.
        original: &'a [u8],
    },
    /// Type 4 (§3.4): `pointer` is an offset into `original`'s packet.
    ParameterProblem {
        /// 0 erroneous header field, 1 unrecognized Next Header, 2 unrecognized option
        /// (see `ipv6_ext`'s `PP_*`).
        code: u8,
        /// The offset of the problem in the invoking packet, in bytes.
        pointer: u32,
        /// The quoted packet.
        original: &'a [u8],
    },
    /// Type 128, code 0 (§4.1).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data to echo.
        data: &'a [u8],
    },
    /// Type 129, code 0 (§4.2).
    EchoReply {
        /// Identifier (echoed).
        ident: u16,
        /// Sequence number (echoed).
        seq: u16,
        /// The echoed data.
        data: &'a [u8],
    },
    /// Any other type (or echo with a non-zero code), kept whole: an unknown error goes
    /// to the upper layer, an unknown informational message is dropped (§2.4(a)/(b)).
    Other {
        /// The ICMPv6 type.
        icmp_type: u8,
        /// The ICMPv6 code.
        code: u8,
        /// The header's second word, uninterpreted.
        rest: [u8; 4],
        /// What follows the header.
        data: &'a [u8],
    },
}

/// An ICMPv6 message with the addresses of the packet that carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv6Packet<'a> {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The IPv6 header's hop limit, traffic class and flow label.
    pub ip: Ip6Meta,
    /// The message.
    pub message: Icmpv6Message<'a>,
}

impl<'a> Icmpv6Message<'a> {
    fn parts(&self) -> Fields<'a> {
        match *self {
            Icmpv6Message::DestUnreachable { code, original } => (1, code, [0; 4], original),
            Icmpv6Message::PacketTooBig { mtu, original } => (2, 0, mtu.to_be_bytes(), original),
            Icmpv6Message::TimeExceeded { code, original } => (3, code, [0; 4], original),
            Icmpv6Message::ParameterProblem {
                code,
                pointer,
                original,
            } => (4, code, pointer.to_be_bytes(), original),
            Icmpv6Message::EchoRequest { ident, seq, data } => (128, 0, id_seq(ident, seq), data),
            Icmpv6Message::EchoReply { ident, seq, data } => (129, 0, id_seq(ident, seq), data),
            Icmpv6Message::Other {
                icmp_type,
                code,
                rest,
                data,
            } => (icmp_type, code, rest, data),
        }
    }

    /// The message type (RFC 4443 §2.1).
    pub fn icmp_type(&self) -> u8 {
        self.parts().0
    }

    /// Types 0-127 are errors (RFC 4443 §2.1): never answered with an error (§2.4(e.1)).
    pub fn is_error(&self) -> bool {
        self.icmp_type() < 128
    }

    /// Parses a message carried from `src` to `dst`, checksum included.
    pub fn parse(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        buf: &'a [u8],
    ) -> Result<Icmpv6Message<'a>, WireError> {
        let acc = checksum::pseudo_header_v6(src, dst, IPPROTO_ICMPV6, buf.len());
        let (ty, code, rest, data) = parse_header(buf, acc, WireError::BadIcmpv6Checksum)?;
        let (hi, lo) = halves(rest);
        Ok(match (ty, code) {
            (1, code) => Icmpv6Message::DestUnreachable {
                code,
                original: data,
            },
            (2, _) => Icmpv6Message::PacketTooBig {
                mtu: u32::from_be_bytes(rest),
                original: data,
            },
            (3, code) => Icmpv6Message::TimeExceeded {
                code,
                original: data,
            },
            (4, code) => Icmpv6Message::ParameterProblem {
                code,
                pointer: u32::from_be_bytes(rest),
                original: data,
            },
            (128, 0) => Icmpv6Message::EchoRequest {
                ident: hi,
                seq: lo,
                data,
            },
            (129, 0) => Icmpv6Message::EchoReply {
                ident: hi,
                seq: lo,
                data,
            },
            (icmp_type, code) => Icmpv6Message::Other {
                icmp_type,
                code,
                rest,
                data,
            },
        })
    }

    /// Bytes the message takes (ICMPv6 header and data).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.parts().3.len()
    }

    /// Writes the message with its checksum for a packet from `src` to `dst`; returns
    /// `buffer_len()`.
    pub fn emit(&self, src: Ipv6Addr, dst: Ipv6Addr, out: &mut [u8]) -> Result<usize, EmitError> {
        let acc = checksum::pseudo_header_v6(src, dst, IPPROTO_ICMPV6, self.buffer_len());
        emit_message(self.parts(), acc, out)
    }
}

impl<'a> Icmpv6Packet<'a> {
    /// The ICMPv6 message that is the upper layer of `ip` (`payload`: its bytes, after any
    /// extension headers, see [`Ipv6Packet::chain`]).
    pub fn parse_icmp(
        ip: &Ipv6Packet<'_>,
        payload: &'a [u8],
    ) -> Result<Icmpv6Packet<'a>, WireError> {
        Ok(Icmpv6Packet {
            src: ip.src,
            dst: ip.dst,
            ip: ip.meta,
            message: Icmpv6Message::parse(ip.src, ip.dst, payload)?,
        })
    }

    /// Bytes `emit` writes: the fixed IPv6 header (no extension headers) and the message.
    pub fn buffer_len(&self) -> usize {
        IPV6_HEADER_LEN + self.message.buffer_len()
    }

    /// Writes the whole IPv6 packet; returns `buffer_len()`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let len = self.message.buffer_len();
        let need = IPV6_HEADER_LEN + len;
        super::check_room(out, len, need)?;
        let n = ipv6::emit_header(out, self.src, self.dst, IPPROTO_ICMPV6, self.ip, len);
        Ok(n + self.message.emit(self.src, self.dst, &mut out[n..])?)
    }
}

/// `fd66::1 > fd66::2 ICMP6 echo request, id 7, seq 1, length 64` (tcpdump's wording).
impl fmt::Display for Icmpv6Packet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {} ICMP6 ", self.src, self.dst)?;
        match self.message {
            Icmpv6Message::DestUnreachable { code, .. } => {
                write!(f, "destination unreachable, code {code}")
            }
            Icmpv6Message::PacketTooBig { mtu, .. } => write!(f, "packet too big, mtu {mtu}"),
            Icmpv6Message::TimeExceeded { code, .. } => write!(f, "time exceeded, code {code}"),
            Icmpv6Message::ParameterProblem { code, pointer, .. } => {
                write!(f, "parameter problem, code {code}, pointer {pointer}")
            }
            Icmpv6Message::EchoRequest { ident, seq, data } => write!(
                f,
                "echo request, id {ident}, seq {seq}, length {}",
                data.len()
            ),
            Icmpv6Message::EchoReply { ident, seq, data } => write!(
                f,
                "echo reply, id {ident}, seq {seq}, length {}",
                data.len()
            ),
            Icmpv6Message::Other {
                icmp_type, code, ..
            } => write!(f, "type {icmp_type}, code {code}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (Ipv6Addr, Ipv6Addr) {
        ("fd66::1".parse().unwrap(), "fd66::2".parse().unwrap())
    }

    #[test]
    fn every_message_round_trips_and_prints_one_line() {
        let (src, dst) = addrs();
        let q = [0x60, 0, 0, 0, 0, 8, 6, 64];
        for (m, line) in [
            (
                Icmpv6Message::DestUnreachable {
                    code: 4,
                    original: &q,
                },
                "destination unreachable, code 4",
            ),
            (
                Icmpv6Message::PacketTooBig {
                    mtu: 1280,
                    original: &q,
                },
                "packet too big, mtu 1280",
            ),
            (
                Icmpv6Message::TimeExceeded {
                    code: 1,
                    original: &q,
                },
                "time exceeded, code 1",
            ),
            (
                Icmpv6Message::ParameterProblem {
                    code: 1,
                    pointer: 6,
                    original: &q,
                },
                "parameter problem, code 1, pointer 6",
            ),
            (
                Icmpv6Message::EchoRequest {
                    ident: 7,
                    seq: 1,
                    data: b"ping",
                },
                "echo request, id 7, seq 1, length 4",
            ),
            (
                Icmpv6Message::EchoReply {
                    ident: 7,
                    seq: 1,
                    data: b"",
                },
                "echo reply, id 7, seq 1, length 0",
            ),
            (
                Icmpv6Message::Other {
                    icmp_type: 135,
                    code: 0,
                    rest: [0; 4],
                    data: &[0; 16],
                },
                "type 135, code 0",
            ),
        ] {
            let p = Icmpv6Packet {
                src,
                dst,
                ip: Ip6Meta::default(),
                message: m,
            };
            let mut buf = vec![0; p.buffer_len()];
            assert_eq!(p.emit(&mut buf), Ok(buf.len()));
            let ip = Ipv6Packet::parse(&buf).unwrap();
            assert_eq!(ip.next_header, IPPROTO_ICMPV6);
            assert_eq!(Icmpv6Packet::parse_icmp(&ip, ip.payload), Ok(p));
            assert_eq!(p.to_string(), format!("fd66::1 > fd66::2 ICMP6 {line}"));
            assert_eq!(m.is_error(), m.icmp_type() < 128);
        }
    }

    #[test]
    fn the_checksum_covers_the_pseudo_header() {
        let (src, dst) = addrs();
        let m = Icmpv6Message::EchoRequest {
            ident: 1,
            seq: 2,
            data: b"abc",
        };
        let mut buf = [0; 11];
        m.emit(src, dst, &mut buf).unwrap();
        assert_eq!(Icmpv6Message::parse(src, dst, &buf), Ok(m));
        // The same bytes from another address do not verify.
        assert_eq!(
            Icmpv6Message::parse(Ipv6Addr::LOCALHOST, dst, &buf),
            Err(WireError::BadIcmpv6Checksum)
        );
        assert_eq!(
            Icmpv6Message::parse(src, dst, &buf[..7]),
            Err(WireError::Truncated { need: 8, have: 7 })
        );
    }

    #[test]
    fn ignored_fields_are_ignored_and_echo_with_a_code_is_other() {
        let (src, dst) = addrs();
        // Destination Unreachable with a non-zero unused word (§3.1: ignored).
        let mut b = [1, 3, 0, 0, 1, 2, 3, 4];
        let sum = checksum::finish(checksum::add(
            checksum::pseudo_header_v6(src, dst, IPPROTO_ICMPV6, 8),
            &b,
        ));
        b[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(
            Icmpv6Message::parse(src, dst, &b),
            Ok(Icmpv6Message::DestUnreachable {
                code: 3,
                original: &[]
            })
        );
        let mut b = [128, 1, 0, 0, 0, 1, 0, 2];
        let sum = checksum::finish(checksum::add(
            checksum::pseudo_header_v6(src, dst, IPPROTO_ICMPV6, 8),
            &b,
        ));
        b[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(
            Icmpv6Message::parse(src, dst, &b),
            Ok(Icmpv6Message::Other {
                icmp_type: 128,
                code: 1,
                rest: [0, 1, 0, 2],
                data: &[]
            })
        );
    }

    #[test]
    fn error_quotes_fit_the_minimum_mtu() {
        let big = [0u8; 2000];
        let q = icmpv6_error_quote(&big);
        assert_eq!(IPV6_HEADER_LEN + HEADER_LEN + q.len(), 1280);
        assert_eq!(icmpv6_error_quote(&big[..100]).len(), 100);
    }
}
