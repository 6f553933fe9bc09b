//! The IPv6 wire layer against etherparse and smoltcp: they read what we emit (IPv6
//! header, TCP with the IPv6 pseudo-header, ICMPv6), we read what smoltcp emits, and our
//! extension-header walk ends where etherparse's does, with the action smoltcp's option
//! types call for. Round trips: parse(emit(x)) == x.

mod wire_common;

use etherparse::{Ipv6ExtensionSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice, TcpSlice};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv6DstUnreachable, Icmpv6Packet as SmolIcmpv6, Icmpv6ParamProblem, Icmpv6Repr,
    Icmpv6TimeExceeded, IpAddress, IpProtocol, Ipv6OptionFailureType, Ipv6OptionRepr,
    Ipv6OptionsIterator, Ipv6Packet as SmolIpv6, Ipv6Repr, TcpControl, TcpPacket, TcpRepr,
    TcpSeqNumber,
};
use std::net::{Ipv6Addr, SocketAddrV6};
use tuntcp::wire::*;
use wire_common::*;

fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        any::<u128>().prop_map(Ipv6Addr::from),
        (any::<u16>()).prop_map(|x| Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, x)),
    ]
}

fn sock6() -> impl Strategy<Value = SocketAddrV6> {
    (v6_addr(), any::<u16>()).prop_map(|(a, p)| SocketAddrV6::new(a, p, 0, 0))
}

fn ip6_meta() -> impl Strategy<Value = Ip6Meta> {
    (any::<u8>(), any::<u8>(), 0..=FLOW_LABEL_MAX).prop_map(
        |(hop_limit, traffic_class, flow_label)| Ip6Meta {
            hop_limit,
            traffic_class,
            flow_label,
        },
    )
}

/// Any IPv4 segment of `wire_common`, moved to IPv6 addresses.
fn segment6() -> impl Strategy<Value = (Segment6<'static>, Vec<u8>)> {
    (segment(), sock6(), sock6(), ip6_meta()).prop_map(|((s, payload), src, dst, ip)| {
        let s6 = Segment6 {
            src: SocketAddrV6::new(*src.ip(), s.src.port(), 0, 0),
            dst: SocketAddrV6::new(*dst.ip(), s.dst.port(), 0, 0),
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: s.window,
            urgent: s.urgent,
            options: s.options,
            payload: &[],
            ip,
        };
        (s6, payload)
    })
}

fn emit6(s: &Segment6<'_>) -> Vec<u8> {
    let mut buf = vec![0; s.buffer_len()];
    assert_eq!(s.emit(&mut buf), Ok(buf.len()));
    buf
}

fn emit_icmp6(p: &Icmpv6Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0; p.buffer_len()];
    assert_eq!(p.emit(&mut buf), Ok(buf.len()));
    buf
}

/// etherparse and smoltcp read the IPv6 header and the TCP segment we wrote, checksum
/// included.
fn oracles_agree_on_tcp(buf: &[u8], s: &Segment6<'_>) {
    let h = Ipv6HeaderSlice::from_slice(buf).expect("etherparse: IPv6 header");
    assert_eq!(h.source_addr(), *s.src.ip());
    assert_eq!(h.destination_addr(), *s.dst.ip());
    assert_eq!(h.next_header(), etherparse::IpNumber::TCP);
    assert_eq!(h.hop_limit(), s.ip.hop_limit);
    assert_eq!(h.traffic_class(), s.ip.traffic_class);
    assert_eq!(h.flow_label().value(), s.ip.flow_label);
    assert_eq!(usize::from(h.payload_length()), buf.len() - 40);
    let t = TcpSlice::from_slice(&buf[40..]).expect("etherparse: TCP");
    let sum = t.calc_checksum_ipv6(s.src.ip().octets(), s.dst.ip().octets());
    assert_eq!(sum, Ok(t.checksum()), "etherparse: TCP checksum over IPv6");
    assert_eq!(
        (t.source_port(), t.destination_port()),
        (s.src.port(), s.dst.port())
    );
    assert_eq!(
        (t.sequence_number(), t.acknowledgment_number()),
        (s.seq, s.ack)
    );
    assert_eq!(t.payload(), s.payload);

    let ip = SmolIpv6::new_checked(buf).expect("smoltcp: IPv6 length");
    let r = Ipv6Repr::parse(&ip).expect("smoltcp: Ipv6Repr");
    assert_eq!((r.src_addr, r.dst_addr), (*s.src.ip(), *s.dst.ip()));
    assert_eq!(
        (r.next_header, r.hop_limit),
        (IpProtocol::Tcp, s.ip.hop_limit)
    );
    assert_eq!(ip.flow_label(), s.ip.flow_label);
    assert_eq!(ip.traffic_class(), s.ip.traffic_class);
    let (sa, da) = (IpAddress::Ipv6(*s.src.ip()), IpAddress::Ipv6(*s.dst.ip()));
    let tcp = TcpPacket::new_checked(ip.payload()).expect("smoltcp: TCP length");
    assert!(
        tcp.verify_checksum(&sa, &da),
        "smoltcp: TCP checksum over IPv6"
    );
    assert_eq!(tcp.window_len(), s.window);
    assert_eq!(tcp.payload(), s.payload);
    let o = tcp.options_summary().expect("smoltcp: options");
    assert_eq!(o.max_segment_size, s.options.mss);
    assert_eq!(o.window_scale, s.options.window_scale);
}

proptest! {
    /// Segment6: both oracles read it; it parses back to itself; its TCP bytes are
    /// exactly IPv4's for the same segment (only the checksum, which covers the
    /// pseudo-header, differs).
    #[test]
    fn segment6_is_read_by_both_oracles_and_round_trips((s, payload) in segment6()) {
        let s = Segment6 { payload: &payload, ..s };
        let buf = emit6(&s);
        oracles_agree_on_tcp(&buf, &s);
        let p = Packet6::parse(&buf).unwrap();
        prop_assert_eq!(p, Packet6::Tcp(s));
        let line = s.to_string();
        let start = format!("{} > {} [", s.src, s.dst);
        prop_assert!(line.starts_with(&start) && !line.contains('\n'), "{}", line);

        let s4 = Segment {
            src: "10.0.0.1:1".parse().unwrap(),
            dst: "10.0.0.2:2".parse().unwrap(),
            seq: s.seq, ack: s.ack, flags: s.flags, window: s.window, urgent: s.urgent,
            options: s.options, payload: s.payload, ip: IpMeta::default(),
        };
        let s4 = Segment { src: std::net::SocketAddr::new(s4.src.ip(), s.src.port()),
            dst: std::net::SocketAddr::new(s4.dst.ip(), s.dst.port()), ..s4 };
        let b4 = emit(&s4);
        let (t4, t6) = (&b4[20..], &buf[40..]);
        prop_assert_eq!(&t4[..16], &t6[..16]);
        prop_assert_eq!(&t4[18..], &t6[18..]);
    }

    /// The partial checksum and the gather write give the same packet as emit.
    #[test]
    fn segment6_emit_paths_agree((s, payload) in segment6()) {
        let s = Segment6 { payload: &payload, ..s };
        let full = emit6(&s);
        let mut headers = vec![0; s.buffer_len()];
        let n = s.emit_headers(&mut headers, false).unwrap();
        prop_assert_eq!(n, s.buffer_len() - payload.len());
        prop_assert_eq!(&headers[..n], &full[..n]);
        let mut partial = vec![0; s.buffer_len()];
        s.emit_csum_partial(&mut partial).unwrap();
        // The field holds the (uncomplemented) pseudo-header sum.
        let ph = checksum_pseudo_header_v6(*s.src.ip(), *s.dst.ip(), IPPROTO_TCP, full.len() - 40);
        prop_assert_eq!(&partial[56..58], &(!checksum_finish(ph)).to_be_bytes());
    }

    /// Bytes smoltcp writes (TCP over IPv6) parse to the same fields.
    #[test]
    fn we_read_smoltcp_ipv6_segments(
        (src, dst, hop_limit) in (sock6(), sock6(), any::<u8>()),
        (control, seq, ack, window) in (0..5usize, any::<i32>(), option::of(any::<i32>()), any::<u16>()),
        (mss, ws) in (option::of(any::<u16>()), option::of(0u8..=14)),
        payload in vec(any::<u8>(), 0..=1500),
    ) {
        let caps = ChecksumCapabilities::default();
        let control = [TcpControl::None, TcpControl::Psh, TcpControl::Syn, TcpControl::Fin, TcpControl::Rst][control];
        let repr = TcpRepr {
            src_port: src.port(), dst_port: dst.port(), control,
            seq_number: TcpSeqNumber(seq), ack_number: ack.map(TcpSeqNumber),
            window_len: window, window_scale: ws, max_seg_size: mss,
            sack_permitted: false, sack_ranges: [None; 3], timestamp: None, payload: &payload,
        };
        let ip_repr = Ipv6Repr {
            src_addr: *src.ip(), dst_addr: *dst.ip(), next_header: IpProtocol::Tcp,
            payload_len: repr.buffer_len(), hop_limit,
        };
        let mut buf = vec![0; 40 + repr.buffer_len()];
        let mut ip = SmolIpv6::new_unchecked(&mut buf);
        ip_repr.emit(&mut ip);
        let (sa, da) = (IpAddress::Ipv6(*src.ip()), IpAddress::Ipv6(*dst.ip()));
        repr.emit(&mut TcpPacket::new_unchecked(ip.payload_mut()), &sa, &da, &caps);
        let Ok(Packet6::Tcp(s)) = Packet6::parse(&buf) else {
            return Err(TestCaseError::fail(format!("not TCP: {:?}", Packet6::parse(&buf))));
        };
        prop_assert_eq!((s.src, s.dst), (src, dst));
        prop_assert_eq!((s.seq, s.ack), (seq as u32, ack.unwrap_or(0) as u32));
        prop_assert_eq!(s.flags.ack(), ack.is_some());
        prop_assert_eq!(s.flags.syn(), control == TcpControl::Syn);
        prop_assert_eq!((s.options.mss, s.options.window_scale), (mss, ws));
        prop_assert_eq!(s.payload, &payload[..]);
        prop_assert_eq!(s.ip, Ip6Meta { hop_limit, traffic_class: 0, flow_label: 0 });
    }

    /// Echo both ways: smoltcp verifies our checksum and reads the fields.
    #[test]
    fn smoltcp_reads_our_icmpv6_echo(
        (src, dst) in (v6_addr(), v6_addr()),
        (ident, seq, request) in (any::<u16>(), any::<u16>(), any::<bool>()),
        data in vec(any::<u8>(), 0..=1500),
    ) {
        let message = if request {
            Icmpv6Message::EchoRequest { ident, seq, data: &data }
        } else {
            Icmpv6Message::EchoReply { ident, seq, data: &data }
        };
        let p = Icmpv6Packet { src, dst, ip: Ip6Meta::default(), message };
        let buf = emit_icmp6(&p);
        let ip = SmolIpv6::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(ip.next_header(), IpProtocol::Icmpv6);
        let icmp = SmolIcmpv6::new_checked(ip.payload()).unwrap();
        prop_assert!(icmp.verify_checksum(&src, &dst));
        let r = Icmpv6Repr::parse(&src, &dst, &icmp, &ChecksumCapabilities::default()).unwrap();
        let want = if request {
            Icmpv6Repr::EchoRequest { ident, seq_no: seq, data: &data }
        } else {
            Icmpv6Repr::EchoReply { ident, seq_no: seq, data: &data }
        };
        prop_assert_eq!(r, want);
        let e = etherparse::Icmpv6Slice::from_slice(ip.payload()).unwrap();
        prop_assert_eq!(e.header().icmp_type.calc_checksum(src.octets(), dst.octets(), e.payload()), Ok(e.checksum()));
        prop_assert_eq!(Packet6::parse(&buf), Ok(Packet6::Icmp(p)));
    }

    /// Error messages smoltcp writes (quoting an IPv6 header and data) read the same, and
    /// ours are read back by smoltcp.
    #[test]
    fn icmpv6_errors_agree_with_smoltcp(
        (src, dst, qsrc, qdst) in (v6_addr(), v6_addr(), v6_addr(), v6_addr()),
        (kind, code, value) in (0..4usize, 0u8..=2, any::<u32>()),
        data in vec(any::<u8>(), 0..=64),
    ) {
        let caps = ChecksumCapabilities::default();
        let header = Ipv6Repr {
            src_addr: qsrc, dst_addr: qdst, next_header: IpProtocol::Tcp,
            payload_len: data.len(), hop_limit: 64,
        };
        let repr = match kind {
            0 => Icmpv6Repr::DstUnreachable { reason: Icmpv6DstUnreachable::from(code), header, data: &data },
            1 => Icmpv6Repr::PktTooBig { mtu: value, header, data: &data },
            2 => Icmpv6Repr::TimeExceeded { reason: Icmpv6TimeExceeded::from(code.min(1)), header, data: &data },
            _ => Icmpv6Repr::ParamProblem { reason: Icmpv6ParamProblem::from(code), pointer: value, header, data: &data },
        };
        let mut msg = vec![0; repr.buffer_len()];
        repr.emit(&src, &dst, &mut SmolIcmpv6::new_unchecked(&mut msg[..]), &caps);
        let m = Icmpv6Message::parse(src, dst, &msg).unwrap();
        prop_assert!(m.is_error());
        let original = match m {
            Icmpv6Message::DestUnreachable { code: c, original } => { prop_assert_eq!((kind, c), (0, code)); original }
            Icmpv6Message::PacketTooBig { mtu, original } => { prop_assert_eq!((kind, mtu), (1, value)); original }
            Icmpv6Message::TimeExceeded { code: c, original } => { prop_assert_eq!((kind, c), (2, code.min(1))); original }
            Icmpv6Message::ParameterProblem { code: c, pointer, original } => { prop_assert_eq!((kind, c, pointer), (3, code, value)); original }
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        let q = Ipv6Packet::parse(original).unwrap();
        prop_assert_eq!((q.src, q.dst, q.next_header, q.payload), (qsrc, qdst, IPPROTO_TCP, &data[..]));

        // And back: smoltcp reads our emit of the same message.
        let mut ours = vec![0; m.buffer_len()];
        m.emit(src, dst, &mut ours).unwrap();
        let theirs = Icmpv6Repr::parse(&src, &dst, &SmolIcmpv6::new_checked(&ours[..]).unwrap(), &caps).unwrap();
        prop_assert_eq!(theirs, repr);
    }

    /// Ipv6Packet: parse(emit(x)) == x, and etherparse reads the header we wrote.
    #[test]
    fn ipv6_packet_round_trips(
        (src, dst, next_header, meta) in (v6_addr(), v6_addr(), any::<u8>(), ip6_meta()),
        payload in vec(any::<u8>(), 0..=300),
        padding in vec(any::<u8>(), 0..=4),
    ) {
        let p = Ipv6Packet { src, dst, next_header, meta, payload: &payload };
        let mut buf = vec![0; p.buffer_len()];
        prop_assert_eq!(p.emit(&mut buf), Ok(buf.len()));
        buf.extend_from_slice(&padding); // link padding is ignored
        let parsed = Ipv6Packet::parse(&buf);
        if payload.is_empty() && next_header == IPPROTO_HOPOPTS && !padding.is_empty() {
            prop_assert_eq!(parsed, Err(WireError::Jumbogram));
        } else {
            prop_assert_eq!(parsed, Ok(p));
        }
        let h = Ipv6HeaderSlice::from_slice(&buf).unwrap();
        prop_assert_eq!((h.source_addr(), h.destination_addr(), h.next_header().0), (src, dst, next_header));
        prop_assert_eq!((h.flow_label().value(), h.traffic_class(), h.hop_limit()), (meta.flow_label, meta.traffic_class, meta.hop_limit));
    }
}

// ---------------------------------------------------------------------------------------
// Extension chains
// ---------------------------------------------------------------------------------------

/// One extension header of a generated chain.
#[derive(Clone, Debug)]
enum Ext {
    /// Hop-by-Hop (first only) or Destination Options with these options (no padding;
    /// the builder pads to 8n with at most 7 bytes).
    Options {
        hop: bool,
        options: Vec<(u8, Vec<u8>)>,
    },
    Routing {
        ty: u8,
        left: u8,
        body: usize,
    },
    Fragment {
        offset: u16,
        more: bool,
        ident: u32,
    },
}

fn option_tlv() -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![
        // Router Alert, which we and smoltcp know (2 bytes of data).
        vec(any::<u8>(), 2..=2).prop_map(|d| (5u8, d)),
        // Unknown types, mostly skippable so that chains go on.
        (
            prop_oneof![4 => (2u8..0x40).prop_filter("known", |k| *k != 5), 1 => 0x40u8..=0xff],
            vec(any::<u8>(), 0..=12)
        )
            .prop_filter("smoltcp's RPL type", |(k, _)| *k != 0x63),
    ]
}

fn ext() -> impl Strategy<Value = Ext> {
    prop_oneof![
        (any::<bool>(), vec(option_tlv(), 0..=4))
            .prop_map(|(hop, options)| Ext::Options { hop, options }),
        (
            any::<u8>(),
            prop_oneof![3 => Just(0u8), 1 => any::<u8>()],
            0..3usize
        )
            .prop_map(|(ty, left, body)| Ext::Routing { ty, left, body }),
        (
            prop_oneof![3 => Just((0u16, false)), 1 => (0u16..8192, any::<bool>())],
            any::<u32>()
        )
            .prop_map(|((o, more), ident)| Ext::Fragment {
                offset: o * 8,
                more,
                ident
            }),
    ]
}

fn build_chain(exts: &[Ext], upper: u8, data: &[u8]) -> (u8, Vec<u8>) {
    let kind = |e: &Ext| match e {
        Ext::Options { hop: true, .. } => IPPROTO_HOPOPTS,
        Ext::Options { .. } => IPPROTO_DSTOPTS,
        Ext::Routing { .. } => IPPROTO_ROUTING,
        Ext::Fragment { .. } => IPPROTO_FRAGMENT,
    };
    let mut out = Vec::new();
    for (i, e) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(upper, kind);
        let mut h = vec![next, 0];
        match e {
            Ext::Options { options, .. } => {
                for (k, d) in options {
                    h.push(*k);
                    h.push(d.len() as u8);
                    h.extend_from_slice(d);
                }
                match (8 - h.len() % 8) % 8 {
                    0 => {}
                    1 => h.push(0),
                    n => {
                        h.extend_from_slice(&[1, n as u8 - 2]);
                        h.resize(h.len() + n - 2, 0);
                    }
                }
                h[1] = (h.len() / 8 - 1) as u8;
            }
            Ext::Routing { ty, left, body } => {
                h.extend_from_slice(&[*ty, *left, 0, 0, 0, 0]);
                h.resize(8 + 8 * body, 0xab);
                h[1] = *body as u8;
            }
            Ext::Fragment {
                offset,
                more,
                ident,
            } => {
                h.extend_from_slice(&(offset | u16::from(*more)).to_be_bytes());
                h.extend_from_slice(&ident.to_be_bytes());
            }
        }
        out.extend_from_slice(&h);
    }
    out.extend_from_slice(data);
    (exts.first().map_or(upper, kind), out)
}

/// The action for one options header (its bytes `h`, at packet offset `at`), from
/// smoltcp's option parser and its reading of the type's high bits.
fn smoltcp_options_action(h: &[u8], at: usize, multicast: bool) -> ExtAction {
    let mut pos = 2;
    for o in Ipv6OptionsIterator::new(&h[2..]) {
        let o = o.expect("smoltcp: option");
        if let Ipv6OptionRepr::Unknown { type_, .. } = o {
            let kind = u8::from(type_);
            match Ipv6OptionFailureType::from(type_) {
                Ipv6OptionFailureType::Skip => {}
                Ipv6OptionFailureType::Discard => {
                    return ExtAction::Discard(DiscardReason::Option(kind))
                }
                Ipv6OptionFailureType::DiscardSendUnicast if multicast => {
                    return ExtAction::Discard(DiscardReason::OptionToMulticast(kind))
                }
                _ => {
                    return ExtAction::ParameterProblem {
                        code: 2,
                        pointer: (at + pos) as u32,
                    }
                }
            }
        }
        pos += o.buffer_len();
    }
    ExtAction::Proceed
}

proptest! {
    /// Our walk stops where etherparse's does, reads the same Fragment header, and
    /// asks for what RFC 8200 §4 asks, option actions read by smoltcp.
    #[test]
    fn the_extension_walk_agrees_with_etherparse_and_smoltcp(
        mut exts in vec(ext(), 0..=6),
        upper in prop_oneof![Just(IPPROTO_TCP), Just(IPPROTO_ICMPV6), Just(IPPROTO_NONE), Just(17u8)],
        data in vec(any::<u8>(), 0..=40),
        multicast in any::<bool>(),
    ) {
        // Hop-by-Hop only first; a non-atomic fragment only last (etherparse walks on
        // past one; RFC 8200 says what follows is fragment data).
        for e in exts.iter_mut().skip(1) {
            if let Ext::Options { hop, .. } = e { *hop = false; }
        }
        let (first, payload) = build_chain(&exts, upper, &data);
        let dst: Ipv6Addr = if multicast { "ff02::1".parse().unwrap() } else { "fd66::2".parse().unwrap() };
        let p = Ipv6Packet { src: "fd66::1".parse().unwrap(), dst, next_header: first, meta: Ip6Meta::default(), payload: &payload };
        let chain = p.chain().unwrap();

        let (ext_slice, next, rest) = Ipv6ExtensionsSlice::from_slice(etherparse::IpNumber(first), &payload).unwrap();
        let mut want = ExtAction::Proceed;
        let mut at = 40;
        let mut walked = 0u8;
        let mut fragment = None;
        let mut stop = None;
        for e in ext_slice.clone().into_iter() {
            walked += 1;
            let len = match e {
                Ipv6ExtensionSlice::HopByHop(h) | Ipv6ExtensionSlice::DestinationOptions(h) => {
                    want = smoltcp_options_action(h.slice(), at, multicast);
                    h.slice().len()
                }
                Ipv6ExtensionSlice::Routing(h) => {
                    if h.slice()[3] != 0 {
                        want = ExtAction::ParameterProblem { code: 0, pointer: (at + 2) as u32 };
                    }
                    h.slice().len()
                }
                Ipv6ExtensionSlice::Fragment(f) => {
                    let data_len = payload.len() - (at - 40) - 8;
                    let off = f.fragment_offset().byte_offset();
                    fragment = Some(FragmentHeader {
                        next_header: f.next_header().0, offset: off, more: f.more_fragments(),
                        ident: f.identification(), header_offset: at,
                    });
                    if f.more_fragments() && data_len % 8 != 0 {
                        want = ExtAction::ParameterProblem { code: 0, pointer: 4 };
                    } else if (at - 40) + usize::from(off) + data_len > 65535 {
                        want = ExtAction::ParameterProblem { code: 0, pointer: (at + 2) as u32 };
                    } else if f.is_fragmenting_payload() {
                        stop = Some((f.next_header().0, at + 8, at));
                    }
                    8
                }
                Ipv6ExtensionSlice::Authentication(_) => unreachable!(),
            };
            if want != ExtAction::Proceed || stop.is_some() {
                break;
            }
            at += len;
        }
        prop_assert_eq!(chain.action, want, "{:?}", exts);
        prop_assert_eq!(chain.fragment, fragment);
        if want == ExtAction::Proceed {
            prop_assert_eq!(chain.headers, walked);
            if let Some((upper, offset, pointer)) = stop {
                prop_assert!(chain.needs_reassembly());
                prop_assert_eq!((chain.upper, chain.upper_offset, chain.next_header_pointer), (upper, offset, pointer));
            } else {
                prop_assert_eq!(chain.upper, next.0);
                prop_assert_eq!(chain.upper_offset, 40 + ext_slice.slice().len());
                prop_assert_eq!(chain.payload, rest);
            }
        }
    }

    /// Arbitrary payloads under any first Next Header: the walk never panics, stays in
    /// the packet and respects its bounds.
    #[test]
    fn the_walk_is_total_and_bounded(first in any::<u8>(), payload in vec(any::<u8>(), 0..=600)) {
        let p = Ipv6Packet { src: Ipv6Addr::LOCALHOST, dst: Ipv6Addr::LOCALHOST, next_header: first, meta: Ip6Meta::default(), payload: &payload };
        if let Ok(c) = p.chain() {
            prop_assert!(c.headers <= MAX_EXT_HEADERS);
            prop_assert!(c.upper_offset <= 40 + payload.len());
            prop_assert_eq!(c.payload.len(), 40 + payload.len() - c.upper_offset);
            if let ExtAction::ParameterProblem { pointer, .. } = c.action {
                prop_assert!((pointer as usize) < 40 + payload.len());
            }
            prop_assert!(!c.action.to_string().contains('\n'));
        }
    }
}

/// A packet with an unknown upper layer is refused with Parameter Problem code 1 at the
/// Next Header field naming it (RFC 8200 §4); No Next Header is dropped silently.
#[test]
fn packet6_refuses_what_the_stack_does_not_handle() {
    let exts = [Ext::Options {
        hop: false,
        options: vec![],
    }];
    for (upper, want) in [
        (
            17u8,
            ExtAction::ParameterProblem {
                code: 1,
                pointer: 40,
            },
        ),
        (
            IPPROTO_NONE,
            ExtAction::Discard(DiscardReason::NoNextHeader),
        ),
    ] {
        let (first, payload) = build_chain(&exts, upper, &[0; 8]);
        let p = Ipv6Packet {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
            next_header: first,
            meta: Ip6Meta::default(),
            payload: &payload,
        };
        let mut buf = vec![0; p.buffer_len()];
        p.emit(&mut buf).unwrap();
        let r = Packet6::parse(&buf).unwrap();
        assert_eq!(r, Packet6::Refused(p, want));
        assert!(r.to_string().starts_with("::1 > ::1 IP6 next 60 "), "{r}");
    }
    // A first fragment is handed back for reassembly.
    let exts = [Ext::Fragment {
        offset: 0,
        more: true,
        ident: 7,
    }];
    let (first, payload) = build_chain(&exts, IPPROTO_TCP, &[0; 16]);
    let p = Ipv6Packet {
        src: Ipv6Addr::LOCALHOST,
        dst: Ipv6Addr::LOCALHOST,
        next_header: first,
        meta: Ip6Meta::default(),
        payload: &payload,
    };
    let mut buf = vec![0; p.buffer_len()];
    p.emit(&mut buf).unwrap();
    let r = Packet6::parse(&buf).unwrap();
    assert!(matches!(r, Packet6::Fragment(_, c) if c.needs_reassembly() && c.payload.len() == 16));
    assert_eq!(
        r.to_string(),
        "::1 > ::1 IP6 frag id 7 off 0+ next 6 len 16"
    );
}

/// The fuzz target's seeds (`fuzz/corpus/ipv6_packet/`) are what their names say, so the
/// fuzzer starts from every path.
#[test]
fn ipv6_fuzz_seeds_parse_as_named() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/ipv6_packet/");
    let read = |name: &str| std::fs::read(format!("{dir}{name}")).expect(name);
    let syn = read("seed-syn");
    let Ok(Packet6::Tcp(s)) = Packet6::parse(&syn) else {
        panic!("seed-syn")
    };
    assert_eq!(s.to_string(), "[fd66::1]:45678 > [fd66::2]:80 [S] seq 100 win 65535 <mss 1440,sackOK,TS val 1 ecr 0,nop,wscale 7> len 0");
    assert_eq!(s.ip.flow_label, 0x12345);
    let ext = read("seed-ext-chain");
    let Ok(Packet6::Tcp(s)) = Packet6::parse(&ext) else {
        panic!("seed-ext-chain")
    };
    assert_eq!(s.payload, b"GET / HTTP/1.1\r\n\r\n");
    let c = Ipv6Packet::parse(&ext).unwrap().chain().unwrap();
    assert_eq!((c.headers, c.upper_offset), (3, 64));
    assert!(c.fragment.is_some_and(|f| f.is_atomic()));
    let echo = read("seed-icmp6-echo");
    assert!(matches!(
        Packet6::parse(&echo),
        Ok(Packet6::Icmp(Icmpv6Packet {
            message: Icmpv6Message::EchoRequest {
                ident: 7,
                seq: 1,
                ..
            },
            ..
        }))
    ));
    assert!(matches!(
        Packet6::parse(&read("seed-first-fragment")),
        Ok(Packet6::Fragment(..))
    ));
    assert_eq!(
        Packet6::parse(&read("seed-rh0")).map(|p| p.to_string()),
        Ok("fd66::1 > fd66::2 IP6 next 43 flow 0x12345 hlim 64 len 62 (parameter problem, code 0, pointer 42)".to_string())
    );
    let ptb = read("seed-packet-too-big");
    let Ok(Packet6::Icmp(Icmpv6Packet {
        message:
            Icmpv6Message::PacketTooBig {
                mtu: 1280,
                original,
            },
        ..
    })) = Packet6::parse(&ptb)
    else {
        panic!("seed-packet-too-big")
    };
    let q = Ipv6Packet::parse_quoted(original).unwrap();
    let Ok(Packet6::Tcp(quoted)) = Packet6::parse(original) else {
        panic!("quoted")
    };
    assert_eq!((q.next_header, quoted.dst.port()), (IPPROTO_TCP, 80));
}
