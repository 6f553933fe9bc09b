//! IPv4 fragment reassembly (RFC 791 §3.2, RFC 1122 §3.3.2), with bounded memory.
//!
//! Datagrams in progress are keyed by (source, destination, protocol, identification)
//! (RFC 791). Each keeps its fragments in a map sorted by offset; a datagram is complete
//! when the last fragment (MF clear) fixed its length and the fragments, which never
//! overlap, add up to it.
//!
//! The bookkeeping below is shared with IPv6 (`stack::reasm`, used by [`super::frag6`] too).
//! Rules, all checked per fragment and none able to panic, loop or grow without bound:
//! - A fragment with no data, or a non-last fragment whose length is not a multiple of 8
//!   (RFC 791 §3.2), is dropped alone.
//! - A fragment ending past 65535 bytes of datagram (the "ping of death") kills its
//!   datagram.
//! - A fragment lying entirely inside one already received is a duplicate: dropped, the
//!   datagram kept (RFC 5722 errata 3089, Linux `IPFRAG_DUP`). Any other overlap kills the
//!   whole datagram (RFC 5722 §4 in spirit; Linux since 4.19 does the same for IPv4).
//!   This is stricter than Linux, which also treats a fragment covering two adjacent
//!   received fragments as a duplicate; we call that an overlap.
//! - A last fragment that disagrees with the known length, or data past it, kills the
//!   datagram.
//! - Limits ([`FragLimits`]): at most `max_datagrams` in progress and `max_bytes` charged.
//!   Each fragment is charged its length plus [`FRAG_OVERHEAD`], so floods of tiny
//!   fragments hit the limit too. When a limit is reached the *oldest* datagram in progress
//!   is evicted (like FreeBSD's `ip_reass`; not like Linux since 4.17, which refuses new
//!   fragments while over its threshold). Reason: a flood of bogus fragments then cannot
//!   block all reassembly until it times out; a genuine datagram, which completes within
//!   about one RTT, survives unless the flood outpaces it. If the datagram being added to is
//!   the only one left and still does not fit, it is killed.
//! - Timeout: fixed, from the first fragment's arrival, not refreshed by later fragments
//!   (RFC 1122 §3.3.2: "a fixed value"). Deviation: the default is 30 s like Linux
//!   `ipfrag_time`, below the 60–120 s RFC 1122 §3.3.2 recommends: it halves the time a
//!   spoofed fragment holds memory, and today's paths deliver fragments within a second.
//!
//! Every killed or evicted datagram counts once in `ReasmFails`; timeouts count in both
//! `ReasmTimeout` and `ReasmFails` (RFC 2011 `ipReasmFails`: "for whatever reason: timed
//! out, errors, etc"; Linux does the same).
//!
//! What this module does not do: fragment outgoing datagrams (we send with DF set), send
//! the ICMP Time Exceeded itself (it reports [`Expired`], `icmp::time_exceeded_reassembly`
//! builds the message), keep IP options (the reassembled datagram carries fragment 0's
//! fields, not its options; MUST-50 only asks that options be passed up, and we parse
//! none), or expire datagrams from `handle_fragment` (call `handle_timeout` when
//! `poll_timeout` says).

use super::icmp::quote_datagram;
use super::keyed::label;
use super::reasm::{Piece, Table};
use crate::time::{Duration, Instant};
use crate::wire::{IpMeta, Ipv4Packet, Packet, WireError};
use std::fmt;
use std::net::Ipv4Addr;

/// Largest IPv4 datagram, header included (RFC 791: total length is 16 bits).
pub const MAX_DATAGRAM: usize = 65535;

/// Bookkeeping charged per fragment on top of its data (map node, vector header), so that
/// `max_bytes` also bounds floods of tiny fragments. An estimate, not a measurement.
pub const FRAG_OVERHEAD: usize = 64;

/// Memory and time bounds of a [`Reassembler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragLimits {
    /// Datagrams in progress at once (Linux has no count limit, only bytes).
    pub max_datagrams: usize,
    /// Bytes charged over all datagrams in progress (data + [`FRAG_OVERHEAD`] per fragment).
    pub max_bytes: usize,
    /// From the first fragment's arrival to giving up.
    pub timeout: Duration,
}

impl Default for FragLimits {
    /// 64 datagrams, 256 KiB, 30 s (Linux `ipfrag_time`; see the module doc's Deviation).
    fn default() -> FragLimits {
        FragLimits {
            max_datagrams: 64,
            max_bytes: 256 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Reassembly counters, named after the Linux `Ip` MIB (`nstat`: `IpReasmReqds`, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragStats {
    /// Fragments received that needed reassembly.
    pub reasm_reqds: u64,
    /// Datagrams reassembled.
    pub reasm_oks: u64,
    /// Failures of any kind: timeouts, overlaps, evictions, malformed fragments.
    pub reasm_fails: u64,
    /// Datagrams given up on timeout.
    pub reasm_timeout: u64,
    /// Datagrams killed for overlapping fragments (Linux `IpExtReasmOverlaps`).
    pub reasm_overlaps: u64,
}

/// A reassembled datagram: fragment 0's header fields and the whole payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reassembled {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The upper-layer protocol number.
    pub protocol: u8,
    /// Fragment 0's TTL, TOS, identification and DF.
    pub meta: IpMeta,
    /// The whole payload, fragments joined.
    pub payload: Vec<u8>,
}

impl Reassembled {
    /// A view as an unfragmented datagram (20-byte header: options are not kept), for
    /// [`Packet::from_ip`].
    pub fn ipv4(&self) -> Ipv4Packet<'_> {
        Ipv4Packet {
            src: self.src,
            dst: self.dst,
            protocol: self.protocol,
            meta: self.meta,
            more_frags: false,
            frag_offset: 0,
            header_len: 20,
            payload: &self.payload,
        }
    }

    /// Parses the upper layer (TCP or ICMP), checksums included.
    pub fn parse(&self) -> Result<Packet<'_>, WireError> {
        Packet::from_ip(&self.ipv4(), &self.payload)
    }
}

/// A datagram given up on timeout, with what an ICMP Time Exceeded (code 1) needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The upper-layer protocol number.
    pub protocol: u8,
    /// The IP identification the fragments shared.
    pub ident: u16,
    /// Fragment 0's IPv4 header (rebuilt from its fields: options dropped, checksum
    /// recomputed, see `icmp::quote_datagram`) followed by its first 8 data bytes. `None`
    /// if fragment 0 never arrived: then no ICMP may be sent (RFC 1122 §3.3.2).
    pub quote: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} > {} id {}", self.src, self.dst, self.ident)
    }
}

struct First {
    meta: IpMeta,
    header_len: usize,
    quote: Vec<u8>,
}

/// Reassembles IPv4 fragments. Sans-IO: time comes in with every call.
///
/// Order of calls: `handle_timeout(now)` whenever `now >= poll_timeout()`, then
/// `handle_fragment(now, ip)` for each received fragment.
pub struct Reassembler {
    table: Table<Key, First>,
}

impl Reassembler {
    /// A reassembler whose table is keyed from `seed` (the stack passes its own).
    pub fn new(limits: FragLimits, seed: u64) -> Reassembler {
        Reassembler {
            table: Table::new(limits, seed, label::FRAG),
        }
    }

    /// The limits it runs under.
    pub fn limits(&self) -> FragLimits {
        self.table.limits()
    }

    /// What it did so far.
    pub fn stats(&self) -> FragStats {
        self.table.stats()
    }

    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.table.in_progress()
    }

    /// Bytes currently charged (data + [`FRAG_OVERHEAD`] per fragment).
    pub fn bytes_buffered(&self) -> usize {
        self.table.bytes_buffered()
    }

    /// Adds one fragment; returns the datagram when it is complete.
    ///
    /// A datagram that is not a fragment (MF clear, offset 0) is returned as it is (its
    /// payload copied), without touching any counter.
    pub fn handle_fragment(&mut self, now: Instant, ip: &Ipv4Packet<'_>) -> Option<Reassembled> {
        let key = Key {
            src: ip.src,
            dst: ip.dst,
            protocol: ip.protocol,
            ident: ip.meta.ident,
        };
        if !ip.is_fragment() {
            return Some(Reassembled {
                src: ip.src,
                dst: ip.dst,
                protocol: ip.protocol,
                meta: ip.meta,
                payload: ip.payload.to_vec(),
            });
        }
        let start = usize::from(ip.frag_offset);
        let first = (start == 0).then(|| {
            let first = First {
                meta: ip.meta,
                header_len: ip.header_len,
                quote: quote_datagram(ip),
            };
            (first, 0)
        });
        let piece = Piece {
            start,
            data: ip.payload,
            last: !ip.more_frags,
            // The "ping of death": no fragment may end past 65535 bytes of datagram.
            max_end: MAX_DATAGRAM - ip.header_len,
            first,
        };
        self.table.add(now, key, piece, |first, joined| {
            if first.header_len + joined.len() > MAX_DATAGRAM {
                return None;
            }
            let mut payload = Vec::new();
            joined.append_to(&mut payload);
            Some(Reassembled {
                src: key.src,
                dst: key.dst,
                protocol: key.protocol,
                meta: first.meta,
                payload,
            })
        })
    }

    /// Gives up on every datagram whose timeout has passed, oldest first.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Expired> {
        let expired = self.table.handle_timeout(now).into_iter();
        expired
            .map(|(key, first)| Expired {
                src: key.src,
                dst: key.dst,
                protocol: key.protocol,
                ident: key.ident,
                quote: first.map(|f| f.quote),
            })
            .collect()
    }

    /// The earliest reassembly deadline, if any datagram is in progress.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.poll_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::addr::Subnet;
    use crate::stack::icmp::time_exceeded_reassembly;
    use crate::wire::{IcmpMessage, Segment, TcpFlags, TcpOptions};
    use etherparse::{IpFragOffset, Ipv4Header};
    use proptest::prelude::*;
    use std::net::SocketAddrV4;

    const PEER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
    const US: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);

    /// A whole IPv4 packet carrying a TCP segment with `n` bytes of payload.
    fn tcp_packet(n: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let s = Segment {
            src: SocketAddrV4::new(PEER, 5555).into(),
            dst: SocketAddrV4::new(US, 80).into(),
            seq: 1000,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 65535,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                ..Default::default()
            },
            payload: &payload,
            ip: IpMeta {
                dont_frag: false,
                ..IpMeta::default()
            },
        };
        let mut buf = vec![0; s.buffer_len()];
        s.emit(&mut buf).unwrap();
        buf
    }

    /// Fragment `[start, end)` of `packet`'s payload as a whole IPv4 packet, with `ident`.
    fn frag(packet: &[u8], ident: u16, start: usize, end: usize, more: bool) -> Vec<u8> {
        let (mut h, payload) = Ipv4Header::from_slice(packet).unwrap();
        h.identification = ident;
        h.more_fragments = more;
        h.fragment_offset = IpFragOffset::try_new((start / 8) as u16).unwrap();
        h.total_len = (h.header_len() + end - start) as u16;
        h.header_checksum = h.calc_header_checksum();
        let mut out = h.to_bytes().to_vec();
        out.extend_from_slice(&payload[start..end]);
        out
    }

    /// Splits `packet` at the given payload offsets into fragments, in order.
    fn split(packet: &[u8], ident: u16, cuts: &[usize]) -> Vec<Vec<u8>> {
        let len = packet.len() - 20;
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(len);
        bounds
            .windows(2)
            .map(|w| frag(packet, ident, w[0], w[1], w[1] != len))
            .collect()
    }

    fn feed(r: &mut Reassembler, now: Instant, bytes: &[u8]) -> Option<Reassembled> {
        let ip = Ipv4Packet::parse(bytes).expect("test fragment parses");
        assert!(ip.is_fragment());
        r.handle_fragment(now, &ip)
    }

    fn assert_is_original(r: &Reassembled, packet: &[u8]) {
        assert_eq!(r.payload, &packet[20..]);
        let Ok(Packet::Tcp(seg)) = r.parse() else {
            panic!("reassembled datagram is not a valid TCP segment");
        };
        // Equal to the unfragmented segment but for the IP ident the fragments carried.
        let mut want = Segment::parse(packet).unwrap();
        want.ip.ident = r.meta.ident;
        assert_eq!(seg, want);
    }

    const T0: Instant = Instant::ZERO;

    #[test]
    fn two_fragments_in_order() {
        let p = tcp_packet(100);
        let f = split(&p, 7, &[64]);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        assert_eq!(feed(&mut r, T0, &f[0]), None);
        assert_eq!(r.in_progress(), 1);
        let done = feed(&mut r, T0, &f[1]).expect("reassembled");
        assert_is_original(&done, &p);
        assert_eq!((done.src, done.dst, done.protocol), (PEER, US, 6));
        assert_eq!(done.meta.ident, 7);
        assert_eq!((r.in_progress(), r.bytes_buffered()), (0, 0));
        assert_eq!(r.poll_timeout(), None);
        let s = r.stats();
        assert_eq!((s.reasm_reqds, s.reasm_oks, s.reasm_fails), (2, 1, 0));
    }

    #[test]
    fn two_fragments_reversed() {
        let p = tcp_packet(100);
        let f = split(&p, 7, &[64]);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        assert_eq!(feed(&mut r, T0, &f[1]), None);
        let done = feed(&mut r, T0, &f[0]).expect("reassembled");
        assert_is_original(&done, &p);
        assert_eq!(r.stats().reasm_oks, 1);
    }

    #[test]
    fn three_fragments_in_every_order() {
        // RFC 1122 §3.3.2: EMTU_R >= 576; this datagram is 1044 bytes.
        let p = tcp_packet(1000);
        let f = split(&p, 9, &[512, 800]);
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let mut r = Reassembler::new(FragLimits::default(), 1);
            assert_eq!(feed(&mut r, T0, &f[order[0]]), None);
            assert_eq!(feed(&mut r, T0, &f[order[1]]), None);
            let done = feed(&mut r, T0, &f[order[2]]).expect("reassembled");
            assert_is_original(&done, &p);
        }
    }

    #[test]
    fn duplicate_fragment_ignored() {
        let p = tcp_packet(100);
        let f = split(&p, 7, &[64]);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        assert_eq!(feed(&mut r, T0, &f[0]), None);
        let charged = r.bytes_buffered();
        assert_eq!(feed(&mut r, T0, &f[0]), None);
        assert_eq!(
            r.bytes_buffered(),
            charged,
            "a duplicate is not stored twice"
        );
        // A fragment inside one already held is a duplicate too.
        assert_eq!(feed(&mut r, T0, &frag(&p, 7, 8, 32, true)), None);
        let done = feed(&mut r, T0, &f[1]).expect("reassembled");
        assert_is_original(&done, &p);
        let s = r.stats();
        assert_eq!((s.reasm_reqds, s.reasm_oks, s.reasm_fails), (4, 1, 0));
    }

    #[test]
    fn overlapping_fragment_drops_the_datagram() {
        let p = tcp_packet(100);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        assert_eq!(feed(&mut r, T0, &frag(&p, 7, 0, 64, true)), None);
        assert_eq!(feed(&mut r, T0, &frag(&p, 7, 56, 120, false)), None);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.bytes_buffered(), 0);
        let s = r.stats();
        assert_eq!((s.reasm_fails, s.reasm_overlaps), (1, 1));
        // The correct tail alone does not resurrect it.
        assert_eq!(feed(&mut r, T0, &frag(&p, 7, 64, 120, false)), None);
        assert_eq!(r.stats().reasm_oks, 0);
    }

    #[test]
    fn overlap_before_an_existing_fragment_drops_the_datagram() {
        let p = tcp_packet(100);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        assert_eq!(feed(&mut r, T0, &frag(&p, 7, 64, 120, false)), None);
        // [0, 72) runs into [64, 120).
        assert_eq!(feed(&mut r, T0, &frag(&p, 7, 0, 72, true)), None);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.stats().reasm_overlaps, 1);
    }

    #[test]
    fn fragment_spanning_two_received_ones_is_an_overlap() {
        let p = tcp_packet(100);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        feed(&mut r, T0, &frag(&p, 7, 0, 32, true));
        feed(&mut r, T0, &frag(&p, 7, 32, 64, true));
        assert_eq!(feed(&mut r, T0, &frag(&p, 7, 0, 64, true)), None);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.stats().reasm_overlaps, 1);
    }

    #[test]
    fn inconsistent_last_fragments_drop_the_datagram() {
        let p = tcp_packet(200);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        feed(&mut r, T0, &frag(&p, 1, 64, 120, false));
        // A second "last" fragment with another end.
        assert_eq!(feed(&mut r, T0, &frag(&p, 1, 120, 128, false)), None);
        assert_eq!(r.in_progress(), 0);
        // Data past the known end.
        feed(&mut r, T0, &frag(&p, 2, 64, 120, false));
        assert_eq!(feed(&mut r, T0, &frag(&p, 2, 120, 128, true)), None);
        assert_eq!(r.in_progress(), 0);
        // A last fragment ending before data already held.
        feed(&mut r, T0, &frag(&p, 3, 128, 136, true));
        assert_eq!(feed(&mut r, T0, &frag(&p, 3, 64, 72, false)), None);
        assert_eq!(r.in_progress(), 0);
        // The same range again, now claiming to be last.
        feed(&mut r, T0, &frag(&p, 4, 64, 72, true));
        assert_eq!(feed(&mut r, T0, &frag(&p, 4, 64, 72, false)), None);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.stats().reasm_fails, 4);
    }

    /// A fragment of a UDP-like datagram with arbitrary contents, offset in bytes.
    fn raw_frag(ident: u16, offset: usize, len: usize, more: bool) -> Vec<u8> {
        let mut h = Ipv4Header::new(
            len as u16,
            64,
            etherparse::IpNumber(17),
            PEER.octets(),
            US.octets(),
        )
        .unwrap();
        h.identification = ident;
        h.more_fragments = more;
        h.fragment_offset = IpFragOffset::try_new((offset / 8) as u16).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut out = h.to_bytes().to_vec();
        out.resize(20 + len, 0xAB);
        out
    }

    #[test]
    fn fragment_past_65535_drops_the_datagram() {
        let mut r = Reassembler::new(FragLimits::default(), 1);
        assert_eq!(feed(&mut r, T0, &raw_frag(5, 0, 1480, true)), None);
        // 20 + 65512 + 8 = 65540 > 65535: the ping of death.
        assert_eq!(feed(&mut r, T0, &raw_frag(5, 65512, 8, false)), None);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.stats().reasm_fails, 1);
        // Exactly 65535 is fine: 20 + 65512 + 3.
        assert_eq!(feed(&mut r, T0, &raw_frag(6, 65512, 3, false)), None);
        assert_eq!(r.in_progress(), 1);
    }

    #[test]
    fn largest_datagram_reassembles() {
        let mut r = Reassembler::new(FragLimits::default(), 1);
        let mut done = None;
        let mut off = 0;
        while off < 65515 {
            let len = 1480.min(65515 - off);
            done = feed(&mut r, T0, &raw_frag(1, off, len, off + len < 65515));
            off += len;
        }
        assert_eq!(done.expect("reassembled").payload.len(), 65515);
    }

    #[test]
    fn malformed_fragments_dropped_alone() {
        let mut r = Reassembler::new(FragLimits::default(), 1);
        feed(&mut r, T0, &raw_frag(1, 0, 16, true));
        // Not a multiple of 8 with MF set.
        assert_eq!(feed(&mut r, T0, &raw_frag(1, 16, 12, true)), None);
        // Empty.
        assert_eq!(feed(&mut r, T0, &raw_frag(1, 16, 0, true)), None);
        assert_eq!(r.in_progress(), 1, "the datagram survives");
        assert_eq!(r.stats().reasm_fails, 2);
        assert!(feed(&mut r, T0, &raw_frag(1, 16, 5, false)).is_some());
    }

    #[test]
    fn different_keys_do_not_mix() {
        let p = tcp_packet(100);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        feed(&mut r, T0, &frag(&p, 1, 0, 64, true));
        // Same offsets, other ident: no overlap, separate datagram.
        feed(&mut r, T0, &frag(&p, 2, 0, 64, true));
        assert_eq!(r.in_progress(), 2);
        assert!(feed(&mut r, T0, &frag(&p, 2, 64, 120, false)).is_some());
        assert!(feed(&mut r, T0, &frag(&p, 1, 64, 120, false)).is_some());
    }

    #[test]
    fn unfragmented_datagram_passes_through_uncounted() {
        let p = tcp_packet(10);
        let ip = Ipv4Packet::parse(&p).unwrap();
        let mut r = Reassembler::new(FragLimits::default(), 1);
        let done = r.handle_fragment(T0, &ip).expect("passed through");
        assert_is_original(&done, &p);
        assert_eq!(r.stats(), FragStats::default());
    }

    #[test]
    fn count_limit_evicts_the_oldest() {
        let limits = FragLimits {
            max_datagrams: 2,
            ..FragLimits::default()
        };
        let p = tcp_packet(100);
        let mut r = Reassembler::new(limits, 1);
        feed(&mut r, T0, &frag(&p, 1, 0, 64, true));
        feed(&mut r, Instant::from_secs(1), &frag(&p, 2, 0, 64, true));
        feed(&mut r, Instant::from_secs(2), &frag(&p, 3, 0, 64, true));
        assert_eq!(r.in_progress(), 2);
        assert_eq!(r.stats().reasm_fails, 1);
        // 2 and 3 complete; 1 was evicted, its tail starts a new datagram.
        assert!(feed(&mut r, T0, &frag(&p, 2, 64, 120, false)).is_some());
        assert!(feed(&mut r, T0, &frag(&p, 3, 64, 120, false)).is_some());
        assert_eq!(feed(&mut r, T0, &frag(&p, 1, 64, 120, false)), None);
    }

    #[test]
    fn byte_limit_evicts_the_oldest() {
        let one = 64 + FRAG_OVERHEAD;
        let limits = FragLimits {
            max_bytes: 3 * one,
            ..FragLimits::default()
        };
        let p = tcp_packet(100);
        let mut r = Reassembler::new(limits, 1);
        for id in 1..=3 {
            feed(&mut r, T0, &frag(&p, id, 0, 64, true));
        }
        assert_eq!(r.bytes_buffered(), 3 * one);
        // A fourth datagram needs room: datagram 1 goes.
        feed(&mut r, T0, &frag(&p, 4, 0, 64, true));
        assert_eq!(r.in_progress(), 3);
        assert!(r.bytes_buffered() <= limits.max_bytes);
        assert_eq!(r.stats().reasm_fails, 1);
        // 2's tail needs room too: it evicts the oldest datagram other than 2, i.e. 3.
        assert!(feed(&mut r, T0, &frag(&p, 2, 64, 120, false)).is_some());
        assert_eq!(r.stats().reasm_fails, 2);
        assert!(feed(&mut r, T0, &frag(&p, 4, 64, 120, false)).is_some());
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.bytes_buffered(), 0);
    }

    #[test]
    fn datagram_larger_than_the_byte_limit_is_dropped() {
        let limits = FragLimits {
            max_bytes: 100 + FRAG_OVERHEAD,
            ..FragLimits::default()
        };
        let mut r = Reassembler::new(limits, 1);
        feed(&mut r, T0, &raw_frag(1, 0, 96, true));
        assert_eq!(feed(&mut r, T0, &raw_frag(1, 96, 96, false)), None);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.bytes_buffered(), 0);
        assert_eq!(r.stats().reasm_fails, 1);
    }

    #[test]
    fn zero_limits_refuse_everything() {
        let mut r = Reassembler::new(
            FragLimits {
                max_datagrams: 0,
                max_bytes: 0,
                timeout: Duration::from_secs(30),
            },
            1,
        );
        assert_eq!(feed(&mut r, T0, &raw_frag(1, 0, 8, true)), None);
        assert_eq!(r.in_progress(), 0);
        let mut r = Reassembler::new(
            FragLimits {
                max_bytes: 0,
                ..FragLimits::default()
            },
            1,
        );
        assert_eq!(feed(&mut r, T0, &raw_frag(1, 0, 8, true)), None);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.stats().reasm_fails, 1);
    }

    #[test]
    fn timeout_reports_fragment_0() {
        let p = tcp_packet(100);
        let f0 = frag(&p, 7, 0, 64, true);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        feed(&mut r, T0, &f0);
        // Later fragments do not push the fixed deadline back (RFC 1122 §3.3.2).
        feed(&mut r, Instant::from_secs(20), &frag(&p, 7, 64, 72, true));
        assert_eq!(r.poll_timeout(), Some(Instant::from_secs(30)));
        assert!(r
            .handle_timeout(Instant::from_micros(29_999_999))
            .is_empty());
        let exp = r.handle_timeout(Instant::from_secs(30));
        assert_eq!(exp.len(), 1);
        let e = &exp[0];
        assert_eq!((e.src, e.dst, e.protocol, e.ident), (PEER, US, 6, 7));
        // The quote is fragment 0's header and its first 8 data bytes.
        assert_eq!(e.quote.as_deref(), Some(&f0[..28]));
        assert_eq!(r.poll_timeout(), None);
        assert_eq!((r.in_progress(), r.bytes_buffered()), (0, 0));
        let s = r.stats();
        assert_eq!((s.reasm_timeout, s.reasm_fails), (1, 1));

        // The ICMP Time Exceeded built from it (RFC 1122 §3.3.2, RFC 792 code 1).
        let te = time_exceeded_reassembly(&Subnet::new(US, 24), e, 64).expect("ICMP");
        assert_eq!((te.src, te.dst), (US, PEER));
        assert!(matches!(
            te.message,
            IcmpMessage::TimeExceeded { code: 1, original } if original == &f0[..28]
        ));
    }

    #[test]
    fn timeout_without_fragment_0_has_no_quote() {
        let p = tcp_packet(100);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        feed(&mut r, T0, &frag(&p, 7, 64, 120, false));
        let exp = r.handle_timeout(Instant::from_secs(31));
        assert_eq!(exp.len(), 1);
        assert_eq!(exp[0].quote, None);
        assert_eq!(
            time_exceeded_reassembly(&Subnet::new(US, 24), &exp[0], 64),
            None
        );
    }

    #[test]
    fn timeouts_expire_in_arrival_order_and_spurious_calls_are_noops() {
        let p = tcp_packet(100);
        let mut r = Reassembler::new(FragLimits::default(), 1);
        assert!(r.handle_timeout(Instant::from_secs(100)).is_empty());
        for (id, t) in [(3u16, 0u64), (1, 5), (2, 10)] {
            feed(&mut r, Instant::from_secs(t), &frag(&p, id, 0, 64, true));
        }
        assert_eq!(r.poll_timeout(), Some(Instant::from_secs(30)));
        let ids: Vec<u16> = r
            .handle_timeout(Instant::from_secs(40))
            .iter()
            .map(|e| e.ident)
            .collect();
        assert_eq!(ids, [3, 1, 2]);
        assert!(r.handle_timeout(Instant::from_secs(40)).is_empty());
    }

    proptest! {
        #[test]
        fn any_fragmentation_in_any_order_reassembles(
            n in 1usize..1500,
            cuts in proptest::collection::vec(1usize..200, 0..6),
            order in proptest::collection::vec(any::<usize>(), 8),
            dup in any::<usize>(),
        ) {
            let p = tcp_packet(n);
            let len = p.len() - 20;
            let mut at: Vec<usize> = cuts.iter().map(|c| c * 8).filter(|&c| c < len).collect();
            at.push(8); // at least two fragments
            at.sort_unstable();
            at.dedup();
            let mut frags = split(&p, 42, &at);
            // A pseudo-random permutation plus one duplicate, delivered before the end.
            for (i, o) in order.iter().enumerate().take(frags.len()) {
                let j = o % frags.len();
                frags.swap(i, j);
            }
            let d = frags[dup % frags.len()].clone();
            frags.insert(0, d);
            let mut r = Reassembler::new(FragLimits::default(), 1);
            let mut out = None;
            for f in &frags {
                if let Some(done) = feed(&mut r, T0, f) {
                    prop_assert!(out.is_none());
                    out = Some(done);
                }
            }
            let done = out.expect("reassembled");
            prop_assert_eq!(&done.payload[..], &p[20..]);
            prop_assert!(matches!(done.parse(), Ok(Packet::Tcp(_))));
        }

        #[test]
        fn arbitrary_fragments_stay_within_limits(
            frags in proptest::collection::vec(
                (0u16..4, 0usize..8200, 0usize..1500, any::<bool>(), 0u64..100), 0..200),
        ) {
            let limits = FragLimits { max_datagrams: 3, max_bytes: 8 * 1024, ..FragLimits::default() };
            let mut r = Reassembler::new(limits, 1);
            for (id, off8, len, more, t) in frags {
                let b = raw_frag(id, (off8 * 8).min(65528), len, more);
                let ip = Ipv4Packet::parse(&b).unwrap();
                let now = Instant::from_secs(t);
                r.handle_timeout(now);
                let _ = r.handle_fragment(now, &ip);
                prop_assert!(r.in_progress() <= limits.max_datagrams);
                prop_assert!(r.bytes_buffered() <= limits.max_bytes);
            }
        }
    }

    // Tests that kill cargo-mutants' mutants of reasm.rs (scripts/mutants.sh reasm).

    #[test]
    fn a_last_fragment_overlapping_up_to_the_highest_end_is_an_overlap() {
        // [16, 24) held, then a last fragment [8, 24): it ends where the held one does, but
        // overlaps it (RFC 5722 §4), and is counted so, not as a length disagreement.
        let mut r = Reassembler::new(FragLimits::default(), 1);
        assert_eq!(feed(&mut r, T0, &raw_frag(9, 16, 8, true)), None);
        assert_eq!(feed(&mut r, T0, &raw_frag(9, 8, 16, false)), None);
        let s = r.stats();
        assert_eq!((s.reasm_fails, s.reasm_overlaps), (1, 1));
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn with_no_room_for_any_datagram_each_fragment_is_a_failure() {
        let limits = FragLimits {
            max_datagrams: 0,
            ..FragLimits::default()
        };
        let mut r = Reassembler::new(limits, 1);
        for _ in 0..3 {
            assert_eq!(feed(&mut r, T0, &raw_frag(9, 0, 8, true)), None);
        }
        let s = r.stats();
        assert_eq!((s.reasm_reqds, s.reasm_fails), (3, 3));
        assert_eq!(r.in_progress(), 0);
    }
}
