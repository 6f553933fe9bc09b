//! ICMP handling helpers for the stack (RFC 792, RFC 1122 §3.2.2, RFC 9293 §3.9.2.2).
//!
//! - [`echo_reply`]: the mandatory echo server (RFC 1122 §3.2.2.6).
//! - [`quoted_tcp`]: which TCP connection an ICMP error names (MUST-54), and what kind of
//!   error it is; [`action`] / [`is_hard`] say what TCP should do about it (MUST-55/56,
//!   SHLD-26).
//! - [`quote_datagram`], [`may_send_error_about`], [`time_exceeded_reassembly`],
//!   [`protocol_unreachable`]: building the few ICMP errors a host sends, and refusing
//!   the ones RFC 1122 §3.2.2 forbids.
//!
//! What this module does not do: keep state, count, rate-limit ICMP output (RFC 1812
//! §4.3.2.8; the stack should), check that a quoted sequence number lies in
//! SND.UNA..SND.NXT (RFC 5927 §4.1; the connection does), Path MTU discovery itself
//! (RFC 1191; it only classifies the signal), redirects, timestamps or any other query.

use super::addr::{is_broadcast_or_multicast, is_valid_source, Subnet};
use super::frag::Expired;
use crate::wire::{IcmpMessage, IcmpPacket, IpMeta, Ipv4Packet, IPPROTO_ICMP, IPPROTO_TCP};
use etherparse::{IpDscp, IpEcn, IpFragOffset, IpNumber, Ipv4Header};
use std::net::{Ipv4Addr, SocketAddrV4};

/// RFC 792: errors quote the internet header plus the first 64 bits of data.
pub const QUOTED_DATA_LEN: usize = 8;

/// Echo reply for an echo request addressed to us: same identifier, sequence number and
/// data, addresses swapped (RFC 792 p.14, RFC 1122 §3.2.2.6). `None` for anything else.
///
/// The source is the address the request was sent to (RFC 1122 §3.2.2.6). The caller must
/// first check that it is our unicast address ([`super::addr::is_unicast_destination_for`]);
/// we do not answer broadcast or multicast echo requests (allowed: "MAY be silently
/// discarded", RFC 1122 §3.2.2.6). The DSCP of the request is reflected, ECN bits are not.
/// The reply is an atomic datagram (DF set, ident 0, RFC 6864 §4.1); the stack may
/// renumber `ip.ident`.
pub fn echo_reply<'a>(req: &IcmpPacket<'a>, ttl: u8) -> Option<IcmpPacket<'a>> {
    let IcmpMessage::EchoRequest { ident, seq, data } = req.message else {
        return None;
    };
    Some(IcmpPacket {
        src: req.dst,
        dst: req.src,
        ip: IpMeta {
            ttl,
            tos: req.ip.tos & !0b11,
            ident: 0,
            dont_frag: true,
        },
        message: IcmpMessage::EchoReply { ident, seq, data },
    })
}

/// The TCP connection an ICMP error is about, read from the quoted header. We sent the
/// quoted segment, so its source is our side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuotedTcp {
    /// Quoted source: our address and port.
    pub local: SocketAddrV4,
    /// Quoted destination: the peer.
    pub remote: SocketAddrV4,
    /// The quoted segment's sequence number (check it against SND.UNA..SND.NXT, RFC 5927).
    pub seq: u32,
}

/// An ICMP error by kind, with what TCP needs from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpError {
    /// Type 3. `next_hop_mtu` is meaningful for code 4 only (RFC 1191 §4; 0 from old routers).
    Unreachable {
        /// The ICMP code (0 net, 1 host, 2 protocol, 3 port, 4 fragmentation needed...).
        code: u8,
        /// The next-hop MTU a router reported (code 4).
        next_hop_mtu: u16,
    },
    /// Type 11. Code 0 TTL exceeded in transit, 1 reassembly time exceeded.
    TimeExceeded {
        /// The ICMP code.
        code: u8,
    },
    /// Type 12.
    ParameterProblem,
    /// Type 4, deprecated by RFC 6633.
    SourceQuench,
}

/// What TCP should do about an ICMP error (RFC 9293 §3.9.2.2, RFC 5461).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpAction {
    /// Discard silently (Source Quench, MUST-55).
    Ignore,
    /// Soft error: remember it for the application (SHLD-25), do not abort (MUST-56).
    Soft,
    /// Hard error: abort the connection (SHLD-26). See [`action`] for the policy in
    /// synchronized states.
    Abort,
    /// Dest Unreachable code 4, "fragmentation needed and DF set": a Path MTU signal
    /// (RFC 1191), not an error. 0 means the router did not say (pre-RFC 1191).
    PathMtu {
        /// The MTU the router reported.
        next_hop_mtu: u16,
    },
}

/// The error kind and the quoted TCP 4-tuple and sequence number of an ICMP error
/// (MUST-54), or `None` if `msg` is not an error, or does not quote the first fragment of
/// a TCP segment with at least 8 bytes of TCP header.
///
/// The quoted IPv4 header is trusted no further than needed: version 4, IHL >= 5 and
/// honoured (options skipped), protocol 6, fragment offset 0. Its checksum and total
/// length are not checked: the quote is truncated by design, and routers differ.
pub fn quoted_tcp(msg: &IcmpMessage<'_>) -> Option<(IcmpError, QuotedTcp)> {
    let (err, original) = match *msg {
        IcmpMessage::DestUnreachable {
            code,
            next_hop_mtu,
            original,
        } => (IcmpError::Unreachable { code, next_hop_mtu }, original),
        IcmpMessage::TimeExceeded { code, original } => {
            (IcmpError::TimeExceeded { code }, original)
        }
        IcmpMessage::ParameterProblem { original, .. } => (IcmpError::ParameterProblem, original),
        IcmpMessage::SourceQuench { original } => (IcmpError::SourceQuench, original),
        _ => return None,
    };
    let q = original;
    if q.len() < 20 || q[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(q[0] & 0x0F) * 4;
    if ihl < 20 || q[9] != IPPROTO_TCP {
        return None;
    }
    // A non-first fragment's quote holds no TCP header.
    if u16::from_be_bytes([q[6], q[7]]) & 0x1FFF != 0 {
        return None;
    }
    let tcp = q.get(ihl..ihl + QUOTED_DATA_LEN)?;
    let addr = |o: usize| Ipv4Addr::new(q[o], q[o + 1], q[o + 2], q[o + 3]);
    let port = |o: usize| u16::from_be_bytes([tcp[o], tcp[o + 1]]);
    Some((
        err,
        QuotedTcp {
            local: SocketAddrV4::new(addr(12), port(0)),
            remote: SocketAddrV4::new(addr(16), port(2)),
            seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        },
    ))
}

/// Our policy for ICMP errors reaching TCP (RFC 9293 §3.9.2.2, RFC 1122 §4.2.3.9,
/// RFC 5461):
///
/// - Source Quench: [`IcmpAction::Ignore`] (MUST-55, RFC 6633).
/// - Dest Unreachable 0 (net), 1 (host), 5 (source route failed): soft (MUST-56); they may
///   come from a routing transient (RFC 1122 §3.2.2.1).
/// - Dest Unreachable 2 (protocol), 3 (port): hard (SHLD-26).
/// - Dest Unreachable 4 (fragmentation needed): [`IcmpAction::PathMtu`].
///   Deviation: SHLD-26 lists code 4 as hard. We send with DF set, so code 4 means "your
///   segments are too big for the path"; aborting would kill every connection behind a
///   small-MTU link. Like Linux, we treat it as a PMTUD signal (RFC 1191, RFC 9293 §3.7.2).
/// - Dest Unreachable 6-10 and 13 (unknown net/host, isolated, administratively
///   prohibited, filtered): hard, as Linux's `icmp_err_convert` does; 11, 12 (for TOS)
///   and codes we do not know: soft (an error we do not understand does not kill).
/// - Time Exceeded (any code) and Parameter Problem: soft (MUST-56).
///
/// RFC 5461 §4 recommends treating hard errors as soft in synchronized states (Linux does
/// so unless IP_RECVERR is set); this function only classifies, the stack chooses per
/// state. Recommended: abort on [`IcmpAction::Abort`] only in SYN-SENT / SYN-RECEIVED.
pub fn action(e: &IcmpError) -> IcmpAction {
    match *e {
        IcmpError::SourceQuench => IcmpAction::Ignore,
        IcmpError::Unreachable {
            code: 4,
            next_hop_mtu,
        } => IcmpAction::PathMtu { next_hop_mtu },
        IcmpError::Unreachable {
            code: 2 | 3 | 6..=10 | 13,
            ..
        } => IcmpAction::Abort,
        IcmpError::Unreachable { .. } | IcmpError::TimeExceeded { .. } => IcmpAction::Soft,
        IcmpError::ParameterProblem => IcmpAction::Soft,
    }
}

/// True for the errors that abort a connection ([`action`] gives [`IcmpAction::Abort`]).
/// False for soft errors, Source Quench and the Path MTU signal.
pub fn is_hard(e: &IcmpError) -> bool {
    action(e) == IcmpAction::Abort
}

/// True for ICMP types that are error messages (RFC 1122 §3.2.2): Dest Unreachable (3),
/// Source Quench (4), Redirect (5), Time Exceeded (11), Parameter Problem (12). Like
/// Linux (`icmp_pointers[].error`), types above 18 that we do not know count as errors,
/// so we never answer them.
pub fn is_error_type(icmp_type: u8) -> bool {
    matches!(icmp_type, 3 | 4 | 5 | 11 | 12) || icmp_type > 18
}

/// May we send an ICMP error about this datagram? Never about (RFC 1122 §3.2.2):
/// an ICMP error message, a datagram to a broadcast or multicast address, a non-initial
/// fragment, or a datagram whose source is not a single host (0/8, loopback, broadcast,
/// multicast, class E; see [`is_valid_source`]). Link-layer broadcast does not exist on a
/// TUN.
pub fn may_send_error_about(subnet: &Subnet, ip: &Ipv4Packet<'_>) -> bool {
    may_send_error(
        subnet,
        ip.src,
        ip.dst,
        ip.protocol,
        ip.frag_offset,
        ip.payload,
    )
}

fn may_send_error(
    subnet: &Subnet,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    frag_offset: u16,
    payload: &[u8],
) -> bool {
    if frag_offset != 0 || is_broadcast_or_multicast(subnet, dst) {
        return false;
    }
    if !is_valid_source(subnet, src) {
        return false;
    }
    if protocol == IPPROTO_ICMP {
        // An empty ICMP payload is malformed: say nothing.
        return payload.first().is_some_and(|&t| !is_error_type(t));
    }
    true
}

/// The quote an ICMP error carries: the offending datagram's IPv4 header and the first
/// 8 bytes of its data (RFC 792). 20..=28 bytes.
///
/// [`Ipv4Packet`] keeps the header's fields, not its bytes, so the header is rebuilt from
/// them with its checksum recomputed. Deviation: IP options are not quoted (IHL is 5 and
/// the total length is 20 + payload); RFC 792 quotes the whole "Internet Header". Options
/// are rare, and TCP-level demux (MUST-54) at the receiver needs only the addresses,
/// protocol and the first 8 data bytes, which are exact.
pub fn quote_datagram(ip: &Ipv4Packet<'_>) -> Vec<u8> {
    let mut h = Ipv4Header {
        dscp: IpDscp::try_new(ip.meta.tos >> 2).unwrap_or(IpDscp::ZERO),
        ecn: IpEcn::try_new(ip.meta.tos & 0b11).unwrap_or(IpEcn::ZERO),
        // Ipv4Packet::parse bounds the payload by a u16 total length.
        total_len: u16::try_from(Ipv4Header::MIN_LEN + ip.payload.len()).unwrap_or(u16::MAX),
        identification: ip.meta.ident,
        dont_fragment: ip.meta.dont_frag,
        more_fragments: ip.more_frags,
        fragment_offset: IpFragOffset::try_new(ip.frag_offset / 8).unwrap_or(IpFragOffset::ZERO),
        time_to_live: ip.meta.ttl,
        protocol: IpNumber(ip.protocol),
        header_checksum: 0,
        source: ip.src.octets(),
        destination: ip.dst.octets(),
        options: Default::default(),
    };
    h.header_checksum = h.calc_header_checksum();
    let data = &ip.payload[..ip.payload.len().min(QUOTED_DATA_LEN)];
    let mut out = Vec::with_capacity(Ipv4Header::MIN_LEN + data.len());
    out.extend_from_slice(&h.to_bytes());
    out.extend_from_slice(data);
    out
}

/// The IP fields of an ICMP error we send: TOS 0 (RFC 1122 §3.2.2), an atomic datagram.
fn error_meta(ttl: u8) -> IpMeta {
    IpMeta {
        ttl,
        tos: 0,
        ident: 0,
        dont_frag: true,
    }
}

/// ICMP Time Exceeded, code 1 ("fragment reassembly time exceeded", RFC 792 p.6), for a
/// datagram whose reassembly timed out (RFC 1122 §3.3.2: only if fragment 0 arrived).
///
/// `None` if fragment 0 never arrived (`exp.quote` is `None`), if the datagram was not
/// addressed to us, or if RFC 1122 §3.2.2 forbids an error about it (see
/// [`may_send_error_about`]). The result borrows its quote from `exp`.
pub fn time_exceeded_reassembly<'a>(
    subnet: &Subnet,
    exp: &'a Expired,
    ttl: u8,
) -> Option<IcmpPacket<'a>> {
    let quote = exp.quote.as_deref()?;
    if exp.dst != subnet.addr
        || !may_send_error(
            subnet,
            exp.src,
            exp.dst,
            exp.protocol,
            0,
            quote.get(Ipv4Header::MIN_LEN..).unwrap_or(&[]),
        )
    {
        return None;
    }
    Some(IcmpPacket {
        src: exp.dst,
        dst: exp.src,
        ip: error_meta(ttl),
        message: IcmpMessage::TimeExceeded {
            code: 1,
            original: quote,
        },
    })
}

/// ICMP Dest Unreachable code 2 (protocol unreachable) for a datagram to us carrying a
/// protocol we do not run (RFC 1122 §3.2.2.1: a host SHOULD send it). `quote` is
/// [`quote_datagram`]`(ip)`. `None` where RFC 1122 §3.2.2 forbids an error, or if `ip` was
/// not addressed to us.
pub fn protocol_unreachable<'a>(
    subnet: &Subnet,
    ip: &Ipv4Packet<'_>,
    quote: &'a [u8],
    ttl: u8,
) -> Option<IcmpPacket<'a>> {
    if ip.dst != subnet.addr || !may_send_error_about(subnet, ip) {
        return None;
    }
    Some(IcmpPacket {
        src: ip.dst,
        dst: ip.src,
        ip: error_meta(ttl),
        message: IcmpMessage::DestUnreachable {
            code: 2,
            next_hop_mtu: 0,
            original: quote,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Packet, Segment, TcpFlags, TcpOptions};

    const US: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
    const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 254);

    fn subnet() -> Subnet {
        Subnet::new(US, 24)
    }

    fn emit_icmp(p: &IcmpPacket<'_>) -> Vec<u8> {
        let mut buf = vec![0; p.buffer_len()];
        assert_eq!(p.emit(&mut buf).unwrap(), buf.len());
        buf
    }

    fn echo_request(data: &[u8]) -> IcmpPacket<'_> {
        IcmpPacket {
            src: PEER,
            dst: US,
            ip: IpMeta {
                ttl: 63,
                tos: 0xB9, // DSCP 46 (EF), ECN 01
                ident: 77,
                dont_frag: false,
            },
            message: IcmpMessage::EchoRequest {
                ident: 0x1234,
                seq: 7,
                data,
            },
        }
    }

    /// A segment we sent: 10.66.0.2:40000 > 93.184.216.34:80, seq 0xdeadbeef, as bytes.
    fn our_segment() -> Vec<u8> {
        let s = Segment {
            src: SocketAddrV4::new(US, 40000).into(),
            dst: SocketAddrV4::new(Ipv4Addr::new(93, 184, 216, 34), 80).into(),
            seq: 0xDEAD_BEEF,
            ack: 1,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 512,
            urgent: 0,
            options: TcpOptions::default(),
            payload: b"GET / HTTP/1.0\r\n\r\n",
            ip: IpMeta::default(),
        };
        let mut buf = vec![0; s.buffer_len()];
        s.emit(&mut buf).unwrap();
        buf
    }

    /// An ICMP error from ROUTER to us carrying `msg`, through emit and parse.
    fn through_wire(msg: IcmpMessage<'_>, f: impl FnOnce(&IcmpMessage<'_>)) {
        let p = IcmpPacket {
            src: ROUTER,
            dst: US,
            ip: IpMeta::default(),
            message: msg,
        };
        let bytes = emit_icmp(&p);
        let Ok(Packet::Icmp(parsed)) = Packet::parse(&bytes) else {
            panic!("ICMP error did not parse");
        };
        f(&parsed.message);
    }

    #[test]
    fn echo_reply_mirrors_request_byte_exact() {
        // Checklist 2.15 #1: payloads of 0, 1, odd and 1472 bytes.
        for len in [0usize, 1, 7, 56, 1472] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let req_bytes = emit_icmp(&echo_request(&data));
            let Ok(Packet::Icmp(req)) = Packet::parse(&req_bytes) else {
                panic!("request did not parse");
            };
            let reply = echo_reply(&req, 64).expect("reply");
            let reply_bytes = emit_icmp(&reply);
            // Parsing verifies the IPv4 and ICMP checksums.
            let Ok(Packet::Icmp(r)) = Packet::parse(&reply_bytes) else {
                panic!("reply did not parse, len {len}");
            };
            assert_eq!((r.src, r.dst), (US, PEER));
            assert_eq!(r.ip.ttl, 64);
            assert_eq!(r.ip.tos, 0xB8, "DSCP kept, ECN cleared");
            assert_eq!(
                r.message,
                IcmpMessage::EchoReply {
                    ident: 0x1234,
                    seq: 7,
                    data: &data
                }
            );
        }
    }

    #[test]
    fn echo_reply_only_for_requests() {
        let reply = IcmpPacket {
            message: IcmpMessage::EchoReply {
                ident: 1,
                seq: 1,
                data: b"x",
            },
            ..echo_request(b"x")
        };
        assert_eq!(echo_reply(&reply, 64), None);
        let other = IcmpPacket {
            message: IcmpMessage::Other {
                icmp_type: 42,
                code: 0,
                rest: [0; 4],
                data: b"",
            },
            ..echo_request(b"")
        };
        assert_eq!(echo_reply(&other, 64), None);
        let unreach = IcmpPacket {
            message: IcmpMessage::DestUnreachable {
                code: 3,
                next_hop_mtu: 0,
                original: b"",
            },
            ..echo_request(b"")
        };
        assert_eq!(echo_reply(&unreach, 64), None);
    }

    #[test]
    fn must_54_quoted_tuple_and_seq_extracted() {
        let seg = our_segment();
        let original = &seg[..28];
        through_wire(
            IcmpMessage::DestUnreachable {
                code: 1,
                next_hop_mtu: 0,
                original,
            },
            |m| {
                let (e, q) = quoted_tcp(m).expect("quoted TCP");
                assert_eq!(
                    e,
                    IcmpError::Unreachable {
                        code: 1,
                        next_hop_mtu: 0
                    }
                );
                assert_eq!(q.local, "10.66.0.2:40000".parse().unwrap());
                assert_eq!(q.remote, "93.184.216.34:80".parse().unwrap());
                assert_eq!(q.seq, 0xDEAD_BEEF);
            },
        );
    }

    #[test]
    fn must_54_whole_datagram_quote_accepted() {
        // RFC 1812 routers quote as much as fits; more than 8 bytes is fine.
        let seg = our_segment();
        through_wire(
            IcmpMessage::TimeExceeded {
                code: 0,
                original: &seg,
            },
            |m| {
                let (e, q) = quoted_tcp(m).expect("quoted TCP");
                assert_eq!(e, IcmpError::TimeExceeded { code: 0 });
                assert_eq!(q.seq, 0xDEAD_BEEF);
            },
        );
    }

    #[test]
    fn must_54_quoted_ihl_honoured() {
        // Insert 4 bytes of IP options (NOP x3, EOL) into the quoted header: IHL 6.
        let seg = our_segment();
        let mut q = Vec::new();
        q.extend_from_slice(&seg[..20]);
        q.extend_from_slice(&[1, 1, 1, 0]);
        q.extend_from_slice(&seg[20..28]);
        q[0] = 0x46;
        let (_, t) = quoted_tcp(&IcmpMessage::ParameterProblem {
            pointer: 20,
            original: &q,
        })
        .expect("quoted TCP");
        assert_eq!(t.local.port(), 40000);
        assert_eq!(t.remote.port(), 80);
        assert_eq!(t.seq, 0xDEAD_BEEF);
    }

    #[test]
    fn must_54_unusable_quotes_give_none() {
        let seg = our_segment();
        let du = |original| IcmpMessage::DestUnreachable {
            code: 3,
            next_hop_mtu: 0,
            original,
        };
        // Fewer than 8 bytes of TCP.
        assert_eq!(quoted_tcp(&du(&seg[..27])), None);
        assert_eq!(quoted_tcp(&du(&seg[..19])), None);
        assert_eq!(quoted_tcp(&du(&[])), None);
        // IHL says 24 bytes, so only 4 bytes of TCP remain.
        let mut ihl6 = seg[..28].to_vec();
        ihl6[0] = 0x46;
        assert_eq!(quoted_tcp(&du(&ihl6)), None);
        // IHL below 5, version 6, protocol UDP.
        let mut bad = seg[..28].to_vec();
        bad[0] = 0x44;
        assert_eq!(quoted_tcp(&du(&bad)), None);
        let mut v6 = seg[..28].to_vec();
        v6[0] = 0x65;
        assert_eq!(quoted_tcp(&du(&v6)), None);
        let mut udp = seg[..28].to_vec();
        udp[9] = 17;
        assert_eq!(quoted_tcp(&du(&udp)), None);
        // A non-first fragment (offset 8 bytes) carries no TCP header.
        let mut frag = seg[..28].to_vec();
        frag[7] = 1;
        assert_eq!(quoted_tcp(&du(&frag)), None);
        // A quoted first fragment (MF set, offset 0) is fine.
        let mut first = seg[..28].to_vec();
        first[6] |= 0x20;
        assert!(quoted_tcp(&du(&first)).is_some());
    }

    #[test]
    fn queries_are_not_errors() {
        let seg = our_segment();
        assert_eq!(
            quoted_tcp(&IcmpMessage::EchoRequest {
                ident: 1,
                seq: 1,
                data: &seg
            }),
            None
        );
        assert_eq!(
            quoted_tcp(&IcmpMessage::Other {
                icmp_type: 5,
                code: 0,
                rest: [0; 4],
                data: &seg
            }),
            None
        );
    }

    #[test]
    fn must_55_source_quench_ignored() {
        let seg = our_segment();
        let (e, _) = quoted_tcp(&IcmpMessage::SourceQuench {
            original: &seg[..28],
        })
        .expect("quoted TCP");
        assert_eq!(e, IcmpError::SourceQuench);
        assert_eq!(action(&e), IcmpAction::Ignore);
        assert!(!is_hard(&e));
    }

    #[test]
    fn must_56_soft_errors_do_not_abort() {
        let soft = [
            IcmpError::Unreachable {
                code: 0,
                next_hop_mtu: 0,
            },
            IcmpError::Unreachable {
                code: 1,
                next_hop_mtu: 0,
            },
            IcmpError::Unreachable {
                code: 5,
                next_hop_mtu: 0,
            },
            IcmpError::TimeExceeded { code: 0 },
            IcmpError::TimeExceeded { code: 1 },
            IcmpError::ParameterProblem,
        ];
        for e in soft {
            assert_eq!(action(&e), IcmpAction::Soft, "{e:?}");
            assert!(!is_hard(&e), "{e:?}");
        }
    }

    #[test]
    fn shld_26_hard_errors_abort() {
        for code in [2, 3, 6, 7, 8, 9, 10, 13] {
            let e = IcmpError::Unreachable {
                code,
                next_hop_mtu: 0,
            };
            assert_eq!(action(&e), IcmpAction::Abort, "code {code}");
            assert!(is_hard(&e));
        }
        // Codes we do not know, and the TOS variants, stay soft.
        for code in [11, 12, 14, 15, 200] {
            let e = IcmpError::Unreachable {
                code,
                next_hop_mtu: 0,
            };
            assert_eq!(action(&e), IcmpAction::Soft, "code {code}");
        }
    }

    #[test]
    fn shld_26_code_4_is_a_path_mtu_signal_not_an_abort() {
        // Deviation from SHLD-26, see `action`.
        let e = IcmpError::Unreachable {
            code: 4,
            next_hop_mtu: 1280,
        };
        assert_eq!(action(&e), IcmpAction::PathMtu { next_hop_mtu: 1280 });
        assert!(!is_hard(&e));
    }

    fn ip_view<'a>(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        payload: &'a [u8],
    ) -> Ipv4Packet<'a> {
        Ipv4Packet {
            src,
            dst,
            protocol,
            meta: IpMeta::default(),
            more_frags: false,
            frag_offset: 0,
            header_len: 20,
            payload,
        }
    }

    #[test]
    fn no_icmp_error_about_icmp_errors() {
        let s = subnet();
        // Dest Unreachable, Source Quench, Redirect, Time Exceeded, Parameter Problem,
        // and unknown types above 18.
        for t in [3u8, 4, 5, 11, 12, 19, 42, 255] {
            let p = [t, 0, 0, 0, 0, 0, 0, 0];
            assert!(
                !may_send_error_about(&s, &ip_view(PEER, US, IPPROTO_ICMP, &p)),
                "type {t}"
            );
        }
        // Queries are fine: echo request, echo reply, timestamp, and address mask reply
        // (18, the last type RFC 1122 names).
        for t in [0u8, 8, 13, 18] {
            let p = [t, 0, 0, 0, 0, 0, 0, 0];
            assert!(
                may_send_error_about(&s, &ip_view(PEER, US, IPPROTO_ICMP, &p)),
                "type {t}"
            );
        }
        // An empty ICMP payload is malformed: no error either.
        assert!(!may_send_error_about(
            &s,
            &ip_view(PEER, US, IPPROTO_ICMP, &[])
        ));
    }

    #[test]
    fn no_icmp_error_about_broadcast_multicast_or_bad_sources() {
        let s = subnet();
        let p = [0u8; 8];
        assert!(may_send_error_about(&s, &ip_view(PEER, US, 17, &p)));
        for dst in ["255.255.255.255", "10.66.0.255", "224.0.0.1"] {
            let v = ip_view(PEER, dst.parse().unwrap(), 17, &p);
            assert!(!may_send_error_about(&s, &v), "dst {dst}");
        }
        for src in [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "224.0.0.5",
            "240.0.0.1",
        ] {
            let v = ip_view(src.parse().unwrap(), US, 17, &p);
            assert!(!may_send_error_about(&s, &v), "src {src}");
        }
    }

    #[test]
    fn no_icmp_error_about_non_first_fragments() {
        let s = subnet();
        let p = [0u8; 8];
        let mut v = ip_view(PEER, US, 17, &p);
        v.frag_offset = 1480;
        assert!(!may_send_error_about(&s, &v));
        v.frag_offset = 0;
        v.more_frags = true;
        assert!(may_send_error_about(&s, &v));
    }

    #[test]
    fn quote_is_header_plus_8_bytes_with_valid_checksum() {
        let seg = our_segment();
        let ip = Ipv4Packet::parse(&seg).unwrap();
        let q = quote_datagram(&ip);
        assert_eq!(q.len(), 28);
        assert_eq!(&q[..], &seg[..28], "rebuilt header equals the original");
        let (h, rest) = Ipv4Header::from_slice(&q).unwrap();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(usize::from(h.total_len), seg.len());
        assert_eq!(rest.len(), 8);
        // Short payloads are quoted whole.
        let tiny = ip_view(PEER, US, 17, &[1, 2, 3]);
        assert_eq!(quote_datagram(&tiny).len(), 23);
    }

    #[test]
    fn quote_keeps_the_tos_and_fragment_fields_of_the_original() {
        // RFC 792: the quote is the original's internet header, TOS (DSCP and ECN) and
        // fragment offset (in 8-byte units) included.
        let p = [0u8; 8];
        let mut v = ip_view(PEER, US, 17, &p);
        v.meta.tos = 0xB9; // DSCP 46, ECN 01
        v.frag_offset = 1480;
        v.more_frags = true;
        let q = quote_datagram(&v);
        assert_eq!(q[1], 0xB9);
        assert_eq!(u16::from_be_bytes([q[6], q[7]]), 0x4000 | 0x2000 | 185); // DF, MF, 1480 / 8
    }

    #[test]
    fn errors_we_send_are_atomic_with_tos_0_and_the_ttl_given() {
        // RFC 1122 §3.2.2: TOS 0; an atomic datagram (DF, ident 0, RFC 6864 §4.1).
        let s = subnet();
        let payload = [0u8; 12];
        let udp = ip_view(PEER, US, 17, &payload);
        let q = quote_datagram(&udp);
        let want = IpMeta {
            ttl: 7,
            tos: 0,
            ident: 0,
            dont_frag: true,
        };
        assert_eq!(protocol_unreachable(&s, &udp, &q, 7).unwrap().ip, want);
        let mut first = ip_view(PEER, US, IPPROTO_TCP, &payload);
        first.more_frags = true;
        let exp = expired(Some(quote_datagram(&first)), IPPROTO_TCP);
        assert_eq!(time_exceeded_reassembly(&s, &exp, 7).unwrap().ip, want);
    }

    fn expired(quote: Option<Vec<u8>>, protocol: u8) -> Expired {
        Expired {
            src: PEER,
            dst: US,
            protocol,
            ident: 9,
            quote,
        }
    }

    #[test]
    fn time_exceeded_code_1_quotes_fragment_0() {
        let s = subnet();
        let payload = [0xAAu8; 16];
        let mut first = ip_view(PEER, US, IPPROTO_TCP, &payload);
        first.more_frags = true;
        let exp = expired(Some(quote_datagram(&first)), IPPROTO_TCP);
        let te = time_exceeded_reassembly(&s, &exp, 64).expect("time exceeded");
        let bytes = emit_icmp(&te);
        let Ok(Packet::Icmp(p)) = Packet::parse(&bytes) else {
            panic!("did not parse");
        };
        assert_eq!((p.src, p.dst), (US, PEER));
        assert_eq!(p.ip.tos, 0);
        let IcmpMessage::TimeExceeded { code, original } = p.message else {
            panic!("not time exceeded: {p}");
        };
        assert_eq!(code, 1);
        assert_eq!(original, exp.quote.as_deref().unwrap());
        assert_eq!(original.len(), 28);
    }

    #[test]
    fn no_time_exceeded_without_fragment_0_or_about_icmp_errors() {
        let s = subnet();
        assert_eq!(
            time_exceeded_reassembly(&s, &expired(None, IPPROTO_TCP), 64),
            None
        );
        // The timed-out datagram was itself an ICMP error (type 3).
        let payload = [3u8, 1, 0, 0, 0, 0, 0, 0, 0];
        let mut first = ip_view(PEER, US, IPPROTO_ICMP, &payload);
        first.more_frags = true;
        let exp = expired(Some(quote_datagram(&first)), IPPROTO_ICMP);
        assert_eq!(time_exceeded_reassembly(&s, &exp, 64), None);
        // Not addressed to us.
        let mut other = expired(Some(vec![0x45; 28]), IPPROTO_TCP);
        other.dst = Ipv4Addr::new(10, 66, 0, 9);
        assert_eq!(time_exceeded_reassembly(&s, &other, 64), None);
    }

    #[test]
    fn protocol_unreachable_for_unknown_protocol() {
        let s = subnet();
        let payload = [0u8; 12];
        let udp = ip_view(PEER, US, 17, &payload);
        let q = quote_datagram(&udp);
        let p = protocol_unreachable(&s, &udp, &q, 64).expect("unreachable");
        assert_eq!((p.src, p.dst), (US, PEER));
        assert!(matches!(
            p.message,
            IcmpMessage::DestUnreachable { code: 2, .. }
        ));
        let bcast = ip_view(PEER, Ipv4Addr::BROADCAST, 17, &payload);
        assert_eq!(protocol_unreachable(&s, &bcast, &q, 64), None);
        // A unicast datagram to another host of the subnet is not ours to answer.
        let other = ip_view(PEER, Ipv4Addr::new(10, 66, 0, 9), 17, &payload);
        assert_eq!(protocol_unreachable(&s, &other, &q, 64), None);
    }
}
