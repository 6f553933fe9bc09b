//! IPv6 fixed header (RFC 8200 §3): checked parse, emit, one-line Display.
//!
//! The extension headers after it are walked by [`Ipv6Packet::chain`] (`ipv6_ext.rs`).
//! Jumbograms (RFC 2675) are refused: a payload length of zero with a Hop-by-Hop header
//! is [`WireError::Jumbogram`].

use super::{EmitError, WireError};
use core::fmt;
use std::net::Ipv6Addr;

/// Length of the fixed IPv6 header in bytes (RFC 8200 §3).
pub const IPV6_HEADER_LEN: usize = 40;
/// RFC 8200 §5: every link carries packets of 1280 bytes.
pub const IPV6_MIN_MTU: usize = 1280;

/// Next Header value of the Hop-by-Hop Options header (RFC 8200 §4.3).
pub const IPPROTO_HOPOPTS: u8 = 0;
/// Next Header value of the Routing header (RFC 8200 §4.4).
pub const IPPROTO_ROUTING: u8 = 43;
/// Next Header value of the Fragment header (RFC 8200 §4.5).
pub const IPPROTO_FRAGMENT: u8 = 44;
/// Next Header value of ICMPv6 (RFC 4443).
pub const IPPROTO_ICMPV6: u8 = 58;
/// RFC 8200 §4.7: nothing follows; the rest of the payload is ignored.
pub const IPPROTO_NONE: u8 = 59;
/// Next Header value of the Destination Options header (RFC 8200 §4.6).
pub const IPPROTO_DSTOPTS: u8 = 60;

/// The largest flow label (20 bits, RFC 8200 §6).
pub const FLOW_LABEL_MAX: u32 = 0xF_FFFF;

/// The IPv6 fields a sender chooses per packet (IPv4's [`super::IpMeta`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ip6Meta {
    /// Hop limit (IPv4's TTL).
    pub hop_limit: u8,
    /// DSCP in the upper six bits, ECN in the lower two (RFC 8200 §7).
    pub traffic_class: u8,
    /// 20 bits (RFC 6437); emit writes only the low 20.
    pub flow_label: u32,
}

impl Default for Ip6Meta {
    fn default() -> Ip6Meta {
        Ip6Meta {
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
    }
}

/// A checked view of an IPv6 packet: the fixed header and its payload (extension headers
/// included), bounded by the payload length field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<'a> {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The fixed header's Next Header: the first extension header or the upper layer.
    pub next_header: u8,
    /// Hop limit, traffic class and flow label.
    pub meta: Ip6Meta,
    /// The payload (extension headers included), as long as the payload length field says.
    pub payload: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Checks the version and the payload length against the buffer. Bytes past the
    /// payload length (link padding) are ignored.
    pub fn parse(buf: &'a [u8]) -> Result<Ipv6Packet<'a>, WireError> {
        let (p, declared) = Ipv6Packet::parse_header(buf)?;
        let declared = usize::from(declared);
        if declared == 0 && p.next_header == IPPROTO_HOPOPTS && buf.len() > IPV6_HEADER_LEN {
            // RFC 2675 §3: a jumbogram says 0 here and its length in a Hop-by-Hop option.
            return Err(WireError::Jumbogram);
        }
        if IPV6_HEADER_LEN + declared > buf.len() {
            return Err(WireError::BadPayloadLength {
                payload: declared as u16,
                buffer: buf.len(),
            });
        }
        Ok(Ipv6Packet {
            payload: &buf[IPV6_HEADER_LEN..IPV6_HEADER_LEN + declared],
            ..p
        })
    }

    /// The packet quoted in an ICMPv6 error (RFC 4443 §2.4(c)): as [`Ipv6Packet::parse`],
    /// but the payload may end before the payload length says (it was cut to fit).
    pub fn parse_quoted(buf: &'a [u8]) -> Result<Ipv6Packet<'a>, WireError> {
        let (p, declared) = Ipv6Packet::parse_header(buf)?;
        let end = buf.len().min(IPV6_HEADER_LEN + usize::from(declared));
        Ok(Ipv6Packet {
            payload: &buf[IPV6_HEADER_LEN..end],
            ..p
        })
    }

    fn parse_header(buf: &'a [u8]) -> Result<(Ipv6Packet<'a>, u16), WireError> {
        let Some(h) = buf.first_chunk::<IPV6_HEADER_LEN>() else {
            return Err(WireError::Truncated {
                need: IPV6_HEADER_LEN,
                have: buf.len(),
            });
        };
        let version = h[0] >> 4;
        if version != 6 {
            return Err(WireError::BadIpv6Version(version));
        }
        let word = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let addr = |i: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&h[i..i + 16]);
            Ipv6Addr::from(a)
        };
        let p = Ipv6Packet {
            src: addr(8),
            dst: addr(24),
            next_header: h[6],
            meta: Ip6Meta {
                hop_limit: h[7],
                traffic_class: (word >> 20) as u8,
                flow_label: word & FLOW_LABEL_MAX,
            },
            payload: &[],
        };
        Ok((p, u16::from_be_bytes([h[4], h[5]])))
    }

    /// Bytes `emit` writes: the fixed header and the payload.
    pub fn buffer_len(&self) -> usize {
        IPV6_HEADER_LEN + self.payload.len()
    }

    /// Writes the fixed header (payload length from `payload`) and the payload; returns
    /// `buffer_len()`.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let need = self.buffer_len();
        super::check_room(out, self.payload.len(), need)?;
        let n = emit_header(
            out,
            self.src,
            self.dst,
            self.next_header,
            self.meta,
            self.payload.len(),
        );
        out[n..need].copy_from_slice(self.payload);
        Ok(need)
    }
}

/// Writes the 40-byte fixed header at the start of `out` (at least 40 bytes); returns 40.
/// Callers check `payload_len` against 65535 first.
pub(super) fn emit_header(
    out: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    meta: Ip6Meta,
    payload_len: usize,
) -> usize {
    let word =
        (6u32 << 28) | (u32::from(meta.traffic_class) << 20) | (meta.flow_label & FLOW_LABEL_MAX);
    let h = &mut out[..IPV6_HEADER_LEN];
    h[0..4].copy_from_slice(&word.to_be_bytes());
    h[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    h[6] = next_header;
    h[7] = meta.hop_limit;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    IPV6_HEADER_LEN
}

/// `fd66::1 > fd66::2 IP6 next 6 flow 0x12345 hlim 64 len 20`.
impl fmt::Display for Ipv6Packet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} > {} IP6 next {} flow {:#07x} hlim {} len {}",
            self.src,
            self.dst,
            self.next_header,
            self.meta.flow_label,
            self.meta.hop_limit,
            self.payload.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(payload_len: u16, next: u8) -> Vec<u8> {
        let mut b = vec![0u8; 40];
        b[0] = 0x60;
        b[4..6].copy_from_slice(&payload_len.to_be_bytes());
        b[6] = next;
        b
    }

    #[test]
    fn fields_come_from_rfc_8200_section_3_positions() {
        let mut b = header(4, 6);
        b[0..4].copy_from_slice(&0x6ab1_2345u32.to_be_bytes());
        b[7] = 17;
        b[8] = 0xfd;
        b[39] = 2;
        b.extend_from_slice(&[1, 2, 3, 4, 0xee]); // one byte of link padding
        let p = Ipv6Packet::parse(&b).unwrap();
        assert_eq!(p.meta.traffic_class, 0xab);
        assert_eq!(p.meta.flow_label, 0x12345);
        assert_eq!(p.meta.hop_limit, 17);
        assert_eq!(p.next_header, 6);
        assert_eq!(p.src, "fd00::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst, "::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload, &[1, 2, 3, 4]);
        let mut out = vec![0; p.buffer_len()];
        assert_eq!(p.emit(&mut out), Ok(44));
        assert_eq!(out, b[..44]);
    }

    #[test]
    fn short_buffers_wrong_versions_and_lengths_are_refused() {
        assert_eq!(
            Ipv6Packet::parse(&[0x60; 39]),
            Err(WireError::Truncated { need: 40, have: 39 })
        );
        let mut b = header(0, 59);
        b[0] = 0x45;
        assert_eq!(Ipv6Packet::parse(&b), Err(WireError::BadIpv6Version(4)));
        let b = header(1, 59);
        assert_eq!(
            Ipv6Packet::parse(&b),
            Err(WireError::BadPayloadLength {
                payload: 1,
                buffer: 40
            })
        );
        // The quote of an ICMPv6 error may be cut short.
        let mut b = header(100, 6);
        b.extend_from_slice(&[9; 8]);
        assert_eq!(Ipv6Packet::parse_quoted(&b).unwrap().payload, &[9; 8]);
    }

    #[test]
    fn jumbograms_are_refused() {
        // RFC 2675: payload length 0 and a Hop-by-Hop header with the Jumbo option.
        let mut b = header(0, IPPROTO_HOPOPTS);
        b.extend_from_slice(&[6, 0, 0xc2, 4, 0, 1, 0, 0]);
        assert_eq!(Ipv6Packet::parse(&b), Err(WireError::Jumbogram));
        // An empty packet with no next header is fine.
        let b = header(0, IPPROTO_NONE);
        assert_eq!(Ipv6Packet::parse(&b).unwrap().payload, &[] as &[u8]);
    }

    #[test]
    fn emit_masks_the_flow_label_and_refuses_long_payloads() {
        let payload = vec![0; 65536];
        let p = Ipv6Packet {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
            next_header: 59,
            meta: Ip6Meta {
                flow_label: 0xfff_ffff,
                ..Ip6Meta::default()
            },
            payload: &payload,
        };
        let mut out = vec![0; p.buffer_len()];
        assert_eq!(p.emit(&mut out), Err(EmitError::TooLong(65536)));
        let p = Ipv6Packet {
            payload: &payload[..8],
            ..p
        };
        assert_eq!(
            p.emit(&mut out[..47]),
            Err(EmitError::BufferTooSmall { need: 48, have: 47 })
        );
        assert_eq!(p.emit(&mut out), Ok(48));
        assert_eq!(&out[..4], &[0x60, 0x0f, 0xff, 0xff]);
        let back = Ipv6Packet::parse(&out[..48]).unwrap();
        assert_eq!(back.meta.flow_label, FLOW_LABEL_MAX);
        assert_eq!(
            back.to_string(),
            "::1 > ::1 IP6 next 59 flow 0xfffff hlim 64 len 8"
        );
    }
}
