//! The IPv6 extension-header chain (RFC 8200 §4), walked as a destination host walks it.
//!
//! [`Ipv6Packet::chain`] follows Hop-by-Hop (first only), Routing, Fragment and Destination
//! Options headers to the first header it does not know, and says what RFC 8200 asks for:
//! proceed, discard, or discard and answer ICMPv6 Parameter Problem ([`ExtAction`]).
//!
//! What it does not do: reassemble (a non-atomic fragment stops the walk, see
//! [`Ipv6Chain::fragment`]), forward (a host: every Routing header with Segments Left is
//! unrecognized to us), decide which upper layers the stack handles, or apply RFC 4443
//! §2.4(e)'s rules on when not to send an ICMPv6 error and its rate limit (the stack does).

use super::ipv6::{
    Ipv6Packet, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING,
    IPV6_HEADER_LEN,
};
use super::WireError;
use core::fmt;

/// At most this many extension headers are walked; more are discarded (RFC 8504 §5.3
/// lets a host limit them).
pub const MAX_EXT_HEADERS: u8 = 8;
/// At most this many options other than padding in one options header (Linux's
/// `max_hbh_opts_number` / `max_dst_opts_number`; RFC 8504 §5.3).
pub const MAX_OPTIONS: u8 = 8;
/// Consecutive padding bytes allowed in an options header: more than 7 never serves
/// alignment (RFC 8504 §5.3, as Linux's `ip6_parse_tlv`).
pub const MAX_PADDING: usize = 7;

/// The Router Alert option (RFC 2711): known, and nothing for a host to do.
const OPT_ROUTER_ALERT: u8 = 0x05;
const OPT_PAD1: u8 = 0x00;
const OPT_PADN: u8 = 0x01;

/// Parameter Problem code 0: erroneous header field encountered (RFC 4443 §3.4).
pub const PP_ERRONEOUS_FIELD: u8 = 0;
/// Parameter Problem code 1: unrecognized Next Header type encountered (RFC 4443 §3.4).
pub const PP_UNRECOGNIZED_NEXT_HEADER: u8 = 1;
/// Parameter Problem code 2: unrecognized IPv6 option encountered (RFC 4443 §3.4).
pub const PP_UNRECOGNIZED_OPTION: u8 = 2;

/// A Fragment header (RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentHeader {
    /// The protocol of the fragmentable part (the reassembled packet's next header).
    pub next_header: u8,
    /// Fragment offset in bytes (a multiple of 8).
    pub offset: u16,
    /// The M flag: more fragments follow.
    pub more: bool,
    /// The Identification field: the same in every fragment of one packet.
    pub ident: u32,
    /// Where the Fragment header starts, counted from the first byte of the IPv6 packet.
    pub header_offset: usize,
}

impl FragmentHeader {
    /// Offset 0 and no more fragments: a whole packet (RFC 6946 §4: processed in
    /// isolation, never reassembled with anything).
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// Why the chain says to drop a packet without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscardReason {
    /// An unrecognized option whose type says discard (high bits 01, RFC 8200 §4.2).
    Option(u8),
    /// An unrecognized option of type 11 in a packet to a multicast address.
    OptionToMulticast(u8),
    /// More than [`MAX_EXT_HEADERS`] extension headers.
    TooManyHeaders,
    /// More than [`MAX_OPTIONS`] options in one header.
    TooManyOptions,
    /// More than [`MAX_PADDING`] consecutive padding bytes.
    TooMuchPadding,
    /// No Next Header (59): nothing to deliver (RFC 8200 §4.7).
    NoNextHeader,
}

/// What RFC 8200 §4 asks of the destination for this chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtAction {
    /// Hand the upper layer its bytes (after reassembly, for a non-atomic fragment).
    Proceed,
    /// Drop without an answer.
    Discard(DiscardReason),
    /// Drop and answer ICMPv6 Parameter Problem (RFC 4443 §3.4) with this code and
    /// pointer (an offset into the packet), unless RFC 4443 §2.4(e) forbids the answer.
    ParameterProblem {
        /// The Parameter Problem code (`PP_*`).
        code: u8,
        /// Offset of the problem from the first byte of the IPv6 packet.
        pointer: u32,
    },
}

/// The walked chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Chain<'a> {
    /// The Next Header value the walk stopped at: the upper-layer protocol (or, for a
    /// non-atomic fragment, the fragmentable part's first header).
    pub upper: u8,
    /// Where `upper`'s bytes start, counted from the first byte of the IPv6 packet.
    pub upper_offset: usize,
    /// The offset of the Next Header field that holds `upper`: the pointer of the
    /// Parameter Problem (code 1) the stack sends when it does not handle `upper`.
    pub next_header_pointer: usize,
    /// `upper`'s bytes (to the end of the payload).
    pub payload: &'a [u8],
    /// The last Fragment header walked; a non-atomic one ends the walk.
    pub fragment: Option<FragmentHeader>,
    /// Extension headers walked.
    pub headers: u8,
    /// What to do with the packet (RFC 8200 §4).
    pub action: ExtAction,
}

impl<'a> Ipv6Chain<'a> {
    /// A non-atomic fragment: the IP layer must reassemble before anything else.
    pub fn needs_reassembly(&self) -> bool {
        self.fragment.is_some_and(|f| !f.is_atomic())
    }
}

impl<'a> Ipv6Packet<'a> {
    /// Walks the extension headers (RFC 8200 §4). `Err` for bytes that cannot be walked
    /// (a header or option running past the payload); everything RFC 8200 answers is in
    /// [`Ipv6Chain::action`]. At most [`MAX_EXT_HEADERS`] headers and, in each, the
    /// header's length in option bytes are looked at.
    pub fn chain(&self) -> Result<Ipv6Chain<'a>, WireError> {
        let payload = self.payload;
        let mut next = self.next_header;
        let mut pointer = 6; // the fixed header's Next Header field
        let mut off = 0; // into `payload`
        let mut fragment = None;
        let mut headers = 0u8;
        let mut action = ExtAction::Proceed;
        loop {
            let at = IPV6_HEADER_LEN + off;
            match next {
                IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_FRAGMENT | IPPROTO_DSTOPTS => {}
                _ => break,
            }
            if next == IPPROTO_HOPOPTS && headers > 0 {
                // RFC 8200 §4.1: Hop-by-Hop only right after the fixed header; elsewhere it
                // is an unrecognized Next Header (RFC 2460 §4.1, as Linux answers).
                action = problem(PP_UNRECOGNIZED_NEXT_HEADER, pointer);
                break;
            }
            if headers == MAX_EXT_HEADERS {
                action = ExtAction::Discard(DiscardReason::TooManyHeaders);
                break;
            }
            let rest = &payload[off..];
            let len = if next == IPPROTO_FRAGMENT {
                8
            } else {
                match rest.get(1) {
                    Some(&l) => (usize::from(l) + 1) * 8,
                    None => 2,
                }
            };
            let Some(h) = rest.get(..len) else {
                return Err(WireError::Truncated {
                    need: at + len,
                    have: IPV6_HEADER_LEN + payload.len(),
                });
            };
            headers += 1;
            match next {
                IPPROTO_HOPOPTS | IPPROTO_DSTOPTS => {
                    action = options(h, at, self.dst.is_multicast())?;
                }
                IPPROTO_ROUTING => {
                    // RFC 8200 §4.4: with Segments Left 0 the header is ignored; otherwise a
                    // host, which forwards nothing, recognizes no Routing Type: type 0
                    // included (RFC 5095 §3).
                    if h[3] != 0 {
                        action = problem(PP_ERRONEOUS_FIELD, at + 2);
                    }
                }
                _ => {
                    let field = u16::from_be_bytes([h[2], h[3]]);
                    let f = FragmentHeader {
                        next_header: h[0],
                        offset: field & 0xfff8,
                        more: field & 1 == 1,
                        ident: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                        header_offset: at,
                    };
                    fragment = Some(f);
                    let data = payload.len() - off - 8;
                    if f.more && data % 8 != 0 {
                        // RFC 8200 §4.5: point at the Payload Length field.
                        action = problem(PP_ERRONEOUS_FIELD, 4);
                    } else if off + usize::from(f.offset) + data > usize::from(u16::MAX) {
                        // ... and at the Fragment Offset field when the reassembled payload
                        // (the headers before this one, then the fragmentable part) would
                        // pass 65535.
                        action = problem(PP_ERRONEOUS_FIELD, at + 2);
                    } else if !f.is_atomic() {
                        // The rest is fragment data, not headers.
                        next = h[0];
                        pointer = at;
                        off += 8;
                        break;
                    }
                }
            }
            if action != ExtAction::Proceed {
                break;
            }
            next = h[0];
            pointer = at;
            off += len;
        }
        Ok(Ipv6Chain {
            upper: next,
            upper_offset: IPV6_HEADER_LEN + off,
            next_header_pointer: pointer,
            payload: &payload[off..],
            fragment,
            headers,
            action,
        })
    }
}

fn problem(code: u8, pointer: usize) -> ExtAction {
    ExtAction::ParameterProblem {
        code,
        pointer: pointer as u32,
    }
}

/// The options of a Hop-by-Hop or Destination Options header `h` that starts at packet
/// offset `at` (RFC 8200 §4.2).
fn options(h: &[u8], at: usize, to_multicast: bool) -> Result<ExtAction, WireError> {
    let mut i = 2;
    let (mut padding, mut count) = (0usize, 0u8);
    while i < h.len() {
        let kind = h[i];
        if kind == OPT_PAD1 {
            i += 1;
            padding += 1;
        } else {
            let len = match h.get(i + 1) {
                Some(&l) if i + 2 + usize::from(l) <= h.len() => usize::from(l),
                _ => return Err(WireError::BadIpv6OptionLength { offset: at + i }),
            };
            if kind == OPT_PADN {
                padding += 2 + len;
            } else {
                padding = 0;
                count += 1;
                if count > MAX_OPTIONS {
                    return Ok(ExtAction::Discard(DiscardReason::TooManyOptions));
                }
                if kind != OPT_ROUTER_ALERT {
                    // An option we do not recognize: its two high bits say what to do.
                    match kind >> 6 {
                        0 => {}
                        1 => return Ok(ExtAction::Discard(DiscardReason::Option(kind))),
                        3 if to_multicast => {
                            return Ok(ExtAction::Discard(DiscardReason::OptionToMulticast(kind)))
                        }
                        _ => return Ok(problem(PP_UNRECOGNIZED_OPTION, at + i)),
                    }
                }
            }
            i += 2 + len;
        }
        if padding > MAX_PADDING {
            return Ok(ExtAction::Discard(DiscardReason::TooMuchPadding));
        }
    }
    Ok(ExtAction::Proceed)
}

impl fmt::Display for DiscardReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DiscardReason::Option(k) => write!(f, "option {k:#04x} says discard"),
            DiscardReason::OptionToMulticast(k) => {
                write!(f, "option {k:#04x} to a multicast address")
            }
            DiscardReason::TooManyHeaders => {
                write!(f, "more than {MAX_EXT_HEADERS} extension headers")
            }
            DiscardReason::TooManyOptions => write!(f, "more than {MAX_OPTIONS} options"),
            DiscardReason::TooMuchPadding => {
                write!(f, "more than {MAX_PADDING} bytes of padding")
            }
            DiscardReason::NoNextHeader => f.write_str("no next header"),
        }
    }
}

impl fmt::Display for ExtAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExtAction::Proceed => f.write_str("proceed"),
            ExtAction::Discard(why) => write!(f, "discard: {why}"),
            ExtAction::ParameterProblem { code, pointer } => {
                write!(f, "parameter problem, code {code}, pointer {pointer}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6::IPPROTO_NONE;
    use std::net::Ipv6Addr;

    const TCP: u8 = 6;

    /// A packet to fd66::2 (or ff02::1 when `multicast`) whose payload is `exts`.
    fn packet(next: u8, exts: &[u8], multicast: bool) -> Vec<u8> {
        let mut b = vec![0u8; 40];
        b[0] = 0x60;
        b[4..6].copy_from_slice(&(exts.len() as u16).to_be_bytes());
        b[6] = next;
        let dst: Ipv6Addr = if multicast { "ff02::1" } else { "fd66::2" }
            .parse()
            .unwrap();
        b[24..40].copy_from_slice(&dst.octets());
        b.extend_from_slice(exts);
        b
    }

    fn walk(next: u8, exts: &[u8]) -> Result<Ipv6Chain<'static>, WireError> {
        let b: &'static [u8] = packet(next, exts, false).leak();
        Ipv6Packet::parse(b).unwrap().chain()
    }

    /// An options header: next header, the options, padded with PadN to 8n bytes.
    fn opts(next: u8, body: &[u8]) -> Vec<u8> {
        let mut h = vec![next, 0];
        h.extend_from_slice(body);
        let pad = (8 - h.len() % 8) % 8;
        match pad {
            0 => {}
            1 => h.push(0),
            n => h.extend(
                std::iter::once(1)
                    .chain(std::iter::once(n as u8 - 2))
                    .chain(std::iter::repeat_n(0, n - 2)),
            ),
        }
        h[1] = (h.len() / 8 - 1) as u8;
        h
    }

    #[test]
    fn no_extension_headers_is_the_upper_layer_at_40() {
        let c = walk(TCP, &[0; 20]).unwrap();
        assert_eq!(
            (c.upper, c.upper_offset, c.next_header_pointer),
            (TCP, 40, 6)
        );
        assert_eq!(
            (c.headers, c.fragment, c.action),
            (0, None, ExtAction::Proceed)
        );
        assert_eq!(c.payload.len(), 20);
    }

    #[test]
    fn a_full_chain_is_walked_to_the_upper_layer() {
        let mut e = opts(IPPROTO_ROUTING, &[OPT_ROUTER_ALERT, 2, 0, 0]);
        e.extend_from_slice(&[IPPROTO_DSTOPTS, 0, 4, 0, 0, 0, 0, 0]); // SRH, 0 left
        e.extend(opts(IPPROTO_FRAGMENT, &[0x3e, 1, 0])); // 00: skip
        e.extend_from_slice(&[TCP, 0, 0, 0, 0, 0, 0, 9]); // atomic fragment
        e.extend_from_slice(&[0xaa; 20]);
        let c = walk(IPPROTO_HOPOPTS, &e).unwrap();
        assert_eq!(c.action, ExtAction::Proceed);
        assert_eq!((c.upper, c.headers), (TCP, 4));
        assert_eq!((c.upper_offset, c.next_header_pointer), (72, 64));
        assert_eq!(c.payload, &[0xaa; 20]);
        let f = c.fragment.unwrap();
        assert!(f.is_atomic() && !c.needs_reassembly());
        assert_eq!((f.ident, f.header_offset), (9, 64));
    }

    #[test]
    fn hop_by_hop_after_the_first_header_is_an_unrecognized_next_header() {
        let mut e = opts(IPPROTO_HOPOPTS, &[]);
        e.extend(opts(TCP, &[]));
        let c = walk(IPPROTO_DSTOPTS, &e).unwrap();
        assert_eq!(c.action, problem(PP_UNRECOGNIZED_NEXT_HEADER, 40));
    }

    #[test]
    fn option_types_act_by_their_high_bits() {
        // RFC 8200 §4.2: 00 skip, 01 discard, 10 answer, 11 answer unless multicast.
        for (kind, unicast, multicast) in [
            (0x1e, ExtAction::Proceed, ExtAction::Proceed),
            (
                0x5e,
                ExtAction::Discard(DiscardReason::Option(0x5e)),
                ExtAction::Discard(DiscardReason::Option(0x5e)),
            ),
            (0x9e, problem(2, 44), problem(2, 44)),
            (
                0xde,
                problem(2, 44),
                ExtAction::Discard(DiscardReason::OptionToMulticast(0xde)),
            ),
            // Jumbo (RFC 2675) is not supported, so unrecognized (type 11).
            (
                0xc2,
                problem(2, 44),
                ExtAction::Discard(DiscardReason::OptionToMulticast(0xc2)),
            ),
        ] {
            let e = opts(TCP, &[OPT_PAD1, OPT_PAD1, kind, 1, 0]);
            for (multicast, want) in [(false, unicast), (true, multicast)] {
                let b = packet(IPPROTO_DSTOPTS, &e, multicast);
                let c = Ipv6Packet::parse(&b).unwrap().chain().unwrap();
                assert_eq!(c.action, want, "option {kind:#x}, multicast {multicast}");
            }
        }
    }

    #[test]
    fn routing_headers_with_segments_left_are_refused_type_0_included() {
        for ty in [0u8, 2, 4, 200] {
            let e = [TCP, 0, ty, 1, 0, 0, 0, 0];
            // RFC 5095 §3 / RFC 8200 §4.4: point at the Routing Type.
            assert_eq!(walk(IPPROTO_ROUTING, &e).unwrap().action, problem(0, 42));
            let e = [TCP, 0, ty, 0, 0, 0, 0, 0];
            let c = walk(IPPROTO_ROUTING, &e).unwrap();
            assert_eq!((c.action, c.upper), (ExtAction::Proceed, TCP));
        }
    }

    #[test]
    fn a_fragment_stops_the_walk_and_is_checked() {
        // Offset 8, more fragments, 8 data bytes.
        let mut e = vec![TCP, 0, 0, 9, 0, 0, 1, 0];
        e.extend_from_slice(&[0xbb; 8]);
        let c = walk(IPPROTO_FRAGMENT, &e).unwrap();
        assert!(c.needs_reassembly());
        assert_eq!(c.action, ExtAction::Proceed);
        let f = c.fragment.unwrap();
        assert_eq!(
            (f.offset, f.more, f.ident, f.next_header),
            (8, true, 256, TCP)
        );
        assert_eq!(
            (c.upper, c.upper_offset, c.payload),
            (TCP, 48, &[0xbb; 8][..])
        );
        // RFC 8200 §4.5: M set and a length not a multiple of 8 -> Payload Length.
        e.pop();
        assert_eq!(walk(IPPROTO_FRAGMENT, &e).unwrap().action, problem(0, 4));
        // Offset + length past 65535 -> the Fragment Offset field.
        let mut e = vec![TCP, 0, 0xff, 0xf8, 0, 0, 0, 1];
        e.extend_from_slice(&[0; 8]);
        assert_eq!(walk(IPPROTO_FRAGMENT, &e).unwrap().action, problem(0, 42));
        // The headers before the Fragment header count: 8 + 65520 + 8 > 65535.
        let mut e = opts(IPPROTO_FRAGMENT, &[]);
        e.extend_from_slice(&[TCP, 0, 0xff, 0xf0, 0, 0, 0, 1]);
        e.extend_from_slice(&[0; 8]);
        assert_eq!(walk(IPPROTO_DSTOPTS, &e).unwrap().action, problem(0, 50));
        e.truncate(e.len() - 1);
        e[11] = 0xe8; // offset 65512, 7 bytes: the last fragment fits
        let c = walk(IPPROTO_DSTOPTS, &e).unwrap();
        assert_eq!((c.action, c.upper_offset), (ExtAction::Proceed, 56));
    }

    #[test]
    fn the_walk_is_bounded() {
        let mut e = Vec::new();
        for _ in 0..MAX_EXT_HEADERS + 1 {
            e.extend(opts(IPPROTO_DSTOPTS, &[]));
        }
        let c = walk(IPPROTO_DSTOPTS, &e).unwrap();
        assert_eq!(c.action, ExtAction::Discard(DiscardReason::TooManyHeaders));
        assert_eq!(c.headers, MAX_EXT_HEADERS);
        let mut e = Vec::new();
        for _ in 0..MAX_EXT_HEADERS {
            e.extend(opts(IPPROTO_DSTOPTS, &[]));
        }
        *e.last_chunk_mut::<8>().unwrap() = [IPPROTO_NONE, 0, 1, 4, 0, 0, 0, 0];
        let c = walk(IPPROTO_DSTOPTS, &e).unwrap();
        assert_eq!((c.action, c.upper), (ExtAction::Proceed, IPPROTO_NONE));

        let nine: Vec<u8> = (0..9).flat_map(|_| [0x1e, 0]).collect();
        let c = walk(IPPROTO_DSTOPTS, &opts(TCP, &nine)).unwrap();
        assert_eq!(c.action, ExtAction::Discard(DiscardReason::TooManyOptions));
        let c = walk(IPPROTO_DSTOPTS, &opts(TCP, &[1, 6, 0, 0, 0, 0, 0, 0])).unwrap();
        assert_eq!(c.action, ExtAction::Discard(DiscardReason::TooMuchPadding));
    }

    #[test]
    fn headers_and_options_past_the_payload_are_errors() {
        assert_eq!(
            walk(IPPROTO_DSTOPTS, &[TCP]),
            Err(WireError::Truncated { need: 42, have: 41 })
        );
        assert_eq!(
            walk(IPPROTO_DSTOPTS, &[TCP, 1, 0, 0, 0, 0, 0, 0]),
            Err(WireError::Truncated { need: 56, have: 48 })
        );
        assert_eq!(
            walk(IPPROTO_FRAGMENT, &[TCP, 0, 0, 0]),
            Err(WireError::Truncated { need: 48, have: 44 })
        );
        // An option whose length runs past its header.
        assert_eq!(
            walk(IPPROTO_HOPOPTS, &[TCP, 0, 0x1e, 5, 0, 0, 0, 0]),
            Err(WireError::BadIpv6OptionLength { offset: 42 })
        );
        // An option type in the header's last byte has no length.
        assert_eq!(
            walk(IPPROTO_HOPOPTS, &[TCP, 0, 1, 3, 0, 0, 0, 0x1e]),
            Err(WireError::BadIpv6OptionLength { offset: 47 })
        );
    }

    #[test]
    fn actions_print_on_one_line() {
        assert_eq!(
            problem(1, 6).to_string(),
            "parameter problem, code 1, pointer 6"
        );
        assert_eq!(
            ExtAction::Discard(DiscardReason::Option(0x5e)).to_string(),
            "discard: option 0x5e says discard"
        );
    }
}
