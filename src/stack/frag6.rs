//! IPv6 fragment reassembly (RFC 8200 §4.5), with the bounds of IPv4's ([`super::frag`]).
//!
//! Packets in progress are keyed by (source, destination, Fragment Identification). The
//! reassembled packet is fragment 0's unfragmentable part (the headers before its Fragment
//! header, the Next Header that named the Fragment header set to the fragments' Next
//! Header) followed by the fragmentable parts in order; the stack parses it again as a
//! whole packet.
//!
//! The bookkeeping (holes, limits, eviction, timeouts, counters) is the table IPv4 uses
//! too (`stack::reasm`); this module supplies the key, fragment 0's unfragmentable part
//! and how the whole is put back together. Rules, per fragment, none able to panic, loop
//! or grow without bound:
//! - The wire layer has already answered a non-last fragment whose length is not a
//!   multiple of 8, and one ending past 65535 bytes, with Parameter Problem (§4.5), and
//!   passed atomic fragments (RFC 6946 §4) up as whole packets: they never come here.
//! - Overlapping fragments drop the whole packet silently (RFC 5722 §4); an exact
//!   duplicate (inside one already held) is dropped alone (RFC 5722 errata 3089, Linux).
//! - A last fragment that disagrees with the known length, or data past it, drops the
//!   packet.
//! - Limits ([`FragLimits`]: packets in progress, bytes charged with
//!   [`FRAG_OVERHEAD`](super::frag::FRAG_OVERHEAD) per fragment, plus fragment 0's
//!   unfragmentable part and quote); at a limit the oldest packet is evicted, as in
//!   [`super::frag`].
//! - Timeout 60 s from the first fragment (RFC 8200 §4.5), not refreshed; an expired
//!   packet whose first fragment arrived is reported for ICMPv6 Time Exceeded code 1.
//!
//! What this module does not do: Parameter Problem code 3 for a first fragment without
//! the whole header chain (RFC 7112; such a packet is reassembled and then parsed like
//! any other) or send anything itself. Its [`FragStats`] become the `Ip6Reasm*` counters
//! in the stack (`Counters::set_reassembly6`).

use super::frag::{FragLimits, FragStats};
use super::keyed::label;
use super::reasm::{Piece, Table};
use crate::time::{Duration, Instant};
use crate::wire::{
    icmpv6_error_quote, FragmentHeader, IPPROTO_DSTOPTS, IPPROTO_HOPOPTS, IPPROTO_ROUTING,
    IPV6_HEADER_LEN,
};
use std::fmt;
use std::net::Ipv6Addr;

/// RFC 8200 §4.5: "60 seconds".
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest IPv6 payload (16-bit Payload Length).
const MAX_PAYLOAD: usize = 65535;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ident: u32,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {} id {}", self.src, self.dst, self.ident)
    }
}

/// What fragment 0 leaves: its unfragmentable part, the Next Header already pointing past
/// the Fragment header, and its start as the Time Exceeded quote.
struct First {
    unfrag: Vec<u8>,
    quote: Vec<u8>,
}

/// A packet given up on timeout: what ICMPv6 Time Exceeded (code 1) needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired6 {
    /// The packet's source address (where the error goes).
    pub src: Ipv6Addr,
    /// The packet's destination address (ours).
    pub dst: Ipv6Addr,
    /// The start of fragment 0 as received (RFC 4443 §3.3 quotes it); `None` if it never
    /// arrived: then no error is sent (RFC 8200 §4.5).
    pub quote: Option<Vec<u8>>,
}

/// Reassembles IPv6 fragments. Sans-IO: time comes in with every call.
pub struct Reassembler6 {
    table: Table<Key, First>,
}

/// Where, in `packet`, the Next Header field naming the header at `header_offset` lies:
/// byte 6 of the fixed header, or the first byte of the extension header before it.
/// `None` if the headers before it cannot be walked (the wire layer walked them already).
fn next_header_field(packet: &[u8], header_offset: usize) -> Option<usize> {
    let (mut field, mut at) = (6, IPV6_HEADER_LEN);
    while at < header_offset {
        match *packet.get(field)? {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {}
            _ => return None,
        }
        field = at;
        at += (usize::from(*packet.get(at + 1)?) + 1) * 8;
    }
    (at == header_offset).then_some(field)
}

/// Fragment 0's unfragmentable part with the Next Header that named the Fragment header
/// set to the fragments' Next Header, and the quote; `None` if the headers cannot be walked.
fn first_part(packet: &[u8], frag: &FragmentHeader) -> Option<First> {
    let field = next_header_field(packet, frag.header_offset)?;
    let mut unfrag = packet.get(..frag.header_offset)?.to_vec();
    unfrag[field] = frag.next_header;
    Some(First {
        unfrag,
        quote: icmpv6_error_quote(packet).to_vec(),
    })
}

impl Reassembler6 {
    /// An empty reassembler bounded by `limits`; `seed` keys its table's hash.
    pub fn new(limits: FragLimits, seed: u64) -> Reassembler6 {
        Reassembler6 {
            table: Table::new(limits, seed, label::FRAG6),
        }
    }

    /// Counters of what it did (reassembled, dropped, timed out).
    pub fn stats(&self) -> FragStats {
        self.table.stats()
    }

    /// Packets in progress.
    pub fn in_progress(&self) -> usize {
        self.table.in_progress()
    }

    /// Bytes charged (data + [`FRAG_OVERHEAD`](super::frag::FRAG_OVERHEAD) per fragment,
    /// and fragment 0's unfragmentable part and quote).
    pub fn bytes_buffered(&self) -> usize {
        self.table.bytes_buffered()
    }

    /// Adds one non-atomic fragment: `packet` is the whole IPv6 packet (to its payload
    /// length), `frag` its Fragment header, `data` the bytes after it. Returns the
    /// reassembled packet when complete.
    pub fn handle_fragment(
        &mut self,
        now: Instant,
        packet: &[u8],
        (src, dst): (Ipv6Addr, Ipv6Addr),
        frag: &FragmentHeader,
        data: &[u8],
    ) -> Option<Vec<u8>> {
        let key = Key {
            src,
            dst,
            ident: frag.ident,
        };
        let start = usize::from(frag.offset);
        let first = match start {
            0 => match first_part(packet, frag) {
                // Its unfragmentable part and quote are charged too.
                Some(f) => {
                    let cost = f.unfrag.len() + f.quote.len();
                    Some((f, cost))
                }
                None => {
                    self.table.reject();
                    return None;
                }
            },
            _ => None,
        };
        // The reassembled payload (the headers before the Fragment header, then the
        // fragmentable part) fits the 16-bit Payload Length.
        let unfrag_len = frag.header_offset.saturating_sub(IPV6_HEADER_LEN);
        let piece = Piece {
            start,
            data,
            last: !frag.more,
            max_end: MAX_PAYLOAD.saturating_sub(unfrag_len),
            first,
        };
        self.table.add(now, key, piece, |first, joined| {
            let mut out = first.unfrag;
            let payload_len = out.len() - IPV6_HEADER_LEN + joined.len();
            if payload_len > MAX_PAYLOAD {
                return None;
            }
            joined.append_to(&mut out);
            out[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
            Some(out)
        })
    }

    /// Gives up on every packet whose timeout has passed, oldest first.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Expired6> {
        let expired = self.table.handle_timeout(now).into_iter();
        expired
            .map(|(key, first)| Expired6 {
                src: key.src,
                dst: key.dst,
                quote: first.map(|f| f.quote),
            })
            .collect()
    }

    /// The earliest deadline, if a packet is in progress.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.poll_timeout()
    }
}

/// IPv6's limits: IPv4's counts and bytes, RFC 8200's 60 s.
pub fn default_limits() -> FragLimits {
    FragLimits {
        timeout: REASSEMBLY_TIMEOUT,
        ..FragLimits::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 2);

    fn header(ident: u32, offset: u16, more: bool, header_offset: usize) -> FragmentHeader {
        FragmentHeader {
            next_header: 58,
            offset,
            more,
            ident,
            header_offset,
        }
    }

    /// A packet whose Fragment header follows a Destination Options header (8 bytes).
    fn with_dstopts() -> Vec<u8> {
        let mut p = vec![0u8; 40 + 8 + 8];
        p[0] = 0x60;
        p[6] = IPPROTO_DSTOPTS;
        p[40] = 44; // the Destination Options header names the Fragment header
        p[41] = 0;
        p
    }

    #[test]
    fn the_field_naming_the_fragment_header_is_found_past_extension_headers() {
        let p = with_dstopts();
        assert_eq!(next_header_field(&p, 48), Some(40));
        let mut q = vec![0u8; 48];
        q[6] = 44;
        assert_eq!(next_header_field(&q, 40), Some(6));
        assert_eq!(next_header_field(&q, 44), None, "not on a header boundary");
    }

    #[test]
    fn reassembled_packet_keeps_the_unfragmentable_part_with_its_next_header_fixed() {
        let mut r = Reassembler6::new(default_limits(), 1);
        let p = with_dstopts();
        let t = Instant::from_secs(1);
        assert_eq!(
            r.handle_fragment(t, &p, (A, B), &header(7, 8, false, 48), &[2; 8]),
            None
        );
        let whole = r
            .handle_fragment(t, &p, (A, B), &header(7, 0, true, 48), &[1; 8])
            .expect("complete");
        assert_eq!(whole.len(), 48 + 16);
        assert_eq!(whole[40], 58, "Destination Options now names ICMPv6");
        assert_eq!(u16::from_be_bytes([whole[4], whole[5]]), 8 + 16);
        assert_eq!(&whole[48..56], &[1; 8]);
        assert_eq!(&whole[56..], &[2; 8]);
        assert_eq!((r.in_progress(), r.bytes_buffered()), (0, 0));
    }

    #[test]
    fn a_flood_of_first_fragments_stays_within_the_limits() {
        let limits = default_limits();
        let mut r = Reassembler6::new(limits, 1);
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[6] = 44;
        for ident in 0..10_000u32 {
            let now = Instant::from_millis(u64::from(ident));
            r.handle_fragment(now, &p, (A, B), &header(ident, 0, true, 40), &[0; 1024]);
            assert!(r.in_progress() <= limits.max_datagrams);
            assert!(r.bytes_buffered() <= limits.max_bytes);
        }
        assert!(r.stats().reasm_fails > 9_000, "the oldest were evicted");
        let exp = r.handle_timeout(Instant::from_secs(1_000));
        assert_eq!(exp.len(), r.stats().reasm_timeout as usize);
        assert_eq!((r.in_progress(), r.bytes_buffered()), (0, 0));
    }
}
