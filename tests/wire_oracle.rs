//! The wire layer against two independent oracles: smoltcp and etherparse read what we
//! emit, and we read what smoltcp emits. (Round trips, crafted errors and option rules are
//! in `tests/wire.rs`.)

mod wire_common;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use std::net::Ipv4Addr;
use tuntcp::wire::*;
use wire_common::*;

// ---------------------------------------------------------------------------------------
// Oracles: smoltcp and etherparse read our bytes; we read smoltcp's
// ---------------------------------------------------------------------------------------

use etherparse::{NetSlice, SlicedPacket, TcpOptionElement, TransportSlice};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4Packet, IpAddress, IpProtocol, Ipv4Packet as SmolIpv4, Ipv4Repr, TcpControl, TcpPacket,
    TcpRepr, TcpSeqNumber, TcpTimestampRepr,
};

fn flags_byte(b: [bool; 8]) -> u8 {
    b.iter()
        .enumerate()
        .fold(0, |acc, (i, &on)| acc | (u8::from(on) << i))
}

/// smoltcp checks both checksums and reads the same fields.
fn smoltcp_agrees(buf: &[u8], s: &Segment<'_>) {
    let caps = ChecksumCapabilities::default();
    let ip = SmolIpv4::new_checked(buf).expect("smoltcp: IPv4 length");
    assert!(ip.verify_checksum(), "smoltcp: IPv4 checksum");
    let ip_repr = Ipv4Repr::parse(&ip, &caps).expect("smoltcp: Ipv4Repr");
    assert_eq!(ip_repr.src_addr, v4(s.src));
    assert_eq!(ip_repr.dst_addr, v4(s.dst));
    assert_eq!(ip_repr.next_header, IpProtocol::Tcp);
    assert_eq!(ip_repr.hop_limit, s.ip.ttl);
    assert_eq!(ip.ident(), s.ip.ident);
    assert_eq!(ip.dont_frag(), s.ip.dont_frag);
    assert_eq!((ip.dscp() << 2) | ip.ecn(), s.ip.tos);
    assert!(!ip.more_frags() && ip.frag_offset() == 0);

    let (src, dst) = (IpAddress::Ipv4(v4(s.src)), IpAddress::Ipv4(v4(s.dst)));
    let tcp = TcpPacket::new_checked(ip.payload()).expect("smoltcp: TCP length");
    assert!(tcp.verify_checksum(&src, &dst), "smoltcp: TCP checksum");
    assert_eq!(tcp.src_port(), s.src.port());
    assert_eq!(tcp.dst_port(), s.dst.port());
    assert_eq!(tcp.seq_number(), TcpSeqNumber(s.seq as i32));
    assert_eq!(tcp.ack_number(), TcpSeqNumber(s.ack as i32));
    let f = [
        tcp.fin(),
        tcp.syn(),
        tcp.rst(),
        tcp.psh(),
        tcp.ack(),
        tcp.urg(),
        tcp.ece(),
        tcp.cwr(),
    ];
    assert_eq!(TcpFlags(flags_byte(f)), s.flags);
    assert_eq!(tcp.window_len(), s.window);
    assert_eq!(tcp.urgent_at(), s.urgent);
    assert_eq!(tcp.payload(), s.payload);
    let o = tcp.options_summary().expect("smoltcp: options");
    assert_eq!(o.max_segment_size, s.options.mss);
    assert_eq!(o.window_scale, s.options.window_scale);
    assert_eq!(o.sack_permitted, s.options.sack_permitted);
    let ts = s.options.timestamps.map(|t| (t.tsval, t.tsecr));
    assert_eq!(o.timestamp, ts);
    // smoltcp keeps at most three blocks.
    let ours: Vec<_> = s
        .options
        .sack
        .as_slice()
        .iter()
        .take(3)
        .map(|b| (b.left, b.right))
        .collect();
    let theirs: Vec<_> = o.sack_ranges.iter().flatten().copied().collect();
    assert_eq!(theirs, ours);

    // TcpRepr accepts one of SYN/FIN/RST at a time and non-zero ports only.
    let f = s.flags;
    let one_control = u8::from(f.syn()) + u8::from(f.fin()) + u8::from(f.rst()) <= 1;
    if one_control && s.src.port() != 0 && s.dst.port() != 0 {
        let r = TcpRepr::parse(&tcp, &src, &dst, &caps).expect("smoltcp: TcpRepr");
        assert_eq!(r.ack_number.is_some(), f.ack());
        assert_eq!(r.max_seg_size, s.options.mss);
        assert_eq!(r.window_scale, s.options.window_scale.map(|w| w.min(14)));
        assert_eq!(r.payload, s.payload);
    }
}

/// etherparse reads the same fields; its checksum functions give the values we wrote.
fn etherparse_agrees(buf: &[u8], s: &Segment<'_>) {
    let p = SlicedPacket::from_ip(buf).expect("etherparse: slice");
    let Some(NetSlice::Ipv4(ip)) = p.net else {
        panic!("etherparse: not IPv4")
    };
    let h = ip.header();
    assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
    assert_eq!(h.source_addr(), v4(s.src));
    assert_eq!(h.destination_addr(), v4(s.dst));
    assert_eq!(h.protocol(), etherparse::IpNumber::TCP);
    assert_eq!(h.ttl(), s.ip.ttl);
    assert_eq!(h.identification(), s.ip.ident);
    assert_eq!(h.dont_fragment(), s.ip.dont_frag);
    assert_eq!((h.dcp().value() << 2) | h.ecn().value(), s.ip.tos);
    assert!(!ip.is_payload_fragmented());
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        panic!("etherparse: not TCP")
    };
    let sum = t.calc_checksum_ipv4(v4(s.src).octets(), v4(s.dst).octets());
    assert_eq!(sum, Ok(t.checksum()));
    assert_eq!(t.source_port(), s.src.port());
    assert_eq!(t.destination_port(), s.dst.port());
    assert_eq!(t.sequence_number(), s.seq);
    assert_eq!(t.acknowledgment_number(), s.ack);
    let f = [
        t.fin(),
        t.syn(),
        t.rst(),
        t.psh(),
        t.ack(),
        t.urg(),
        t.ece(),
        t.cwr(),
    ];
    assert_eq!(TcpFlags(flags_byte(f)), s.flags);
    assert_eq!(t.window_size(), s.window);
    assert_eq!(t.urgent_pointer(), s.urgent);
    assert_eq!(t.payload(), s.payload);
    let mut o = TcpOptions::default();
    for e in t.options_iterator() {
        match e.expect("etherparse: option") {
            TcpOptionElement::Noop => {}
            TcpOptionElement::MaximumSegmentSize(m) => o.mss = Some(m),
            TcpOptionElement::WindowScale(w) => o.window_scale = Some(w),
            TcpOptionElement::SelectiveAcknowledgementPermitted => o.sack_permitted = true,
            TcpOptionElement::Timestamp(tsval, tsecr) => {
                o.timestamps = Some(Timestamps { tsval, tsecr })
            }
            TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                let all: Vec<_> = [Some(first)].into_iter().chain(rest).flatten().collect();
                o.sack = SackList::new(&blocks(&all));
            }
        }
    }
    assert_eq!(o, s.options);
}

/// The packet etherparse's own writers make for `s` (options bytes from ours, which
/// the round trips and readers above check).
fn etherparse_writes(s: &Segment<'_>) -> Vec<u8> {
    let mut opts = [0u8; MAX_OPTIONS_LEN];
    let n = s.options.emit(&mut opts);
    let opts = &opts[..n];
    let mut t = etherparse::TcpHeader::new(s.src.port(), s.dst.port(), s.seq, s.window);
    t.acknowledgment_number = s.ack;
    let f = s.flags;
    (t.fin, t.syn, t.rst, t.psh) = (f.fin(), f.syn(), f.rst(), f.psh());
    (t.ack, t.urg, t.ece, t.cwr) = (f.ack(), f.urg(), f.ece(), f.cwr());
    t.urgent_pointer = s.urgent;
    t.set_options_raw(opts).unwrap();
    let tcp_len = t.header_len() + s.payload.len();
    let mut ip = etherparse::Ipv4Header::new(
        tcp_len as u16,
        s.ip.ttl,
        etherparse::IpNumber::TCP,
        v4(s.src).octets(),
        v4(s.dst).octets(),
    )
    .unwrap();
    ip.dscp = etherparse::IpDscp::try_new(s.ip.tos >> 2).unwrap();
    ip.ecn = etherparse::IpEcn::try_new(s.ip.tos & 3).unwrap();
    ip.identification = s.ip.ident;
    ip.dont_fragment = s.ip.dont_frag;
    ip.header_checksum = ip.calc_header_checksum();
    t.checksum = t.calc_checksum_ipv4(&ip, s.payload).unwrap();
    let mut out = Vec::new();
    ip.write(&mut out).unwrap();
    t.write(&mut out).unwrap();
    out.extend_from_slice(s.payload);
    out
}

proptest! {
    /// emit writes its headers by hand; they are byte for byte etherparse's.
    #[test]
    fn emit_writes_the_bytes_etherparse_writes((s, payload) in segment()) {
        let s = Segment { payload: &payload, ..s };
        prop_assert_eq!(emit(&s), etherparse_writes(&s));
    }

    #[test]
    fn smoltcp_and_etherparse_read_our_segments_identically((s, payload) in segment()) {
        let s = Segment { payload: &payload, ..s };
        let buf = emit(&s);
        smoltcp_agrees(&buf, &s);
        etherparse_agrees(&buf, &s);
    }

    #[test]
    fn smoltcp_verifies_our_icmp_echo_checksum(
        (ident, seq, request) in (any::<u16>(), any::<u16>(), any::<bool>()),
        data in vec(any::<u8>(), 0..=1500),
    ) {
        let message = if request {
            IcmpMessage::EchoRequest { ident, seq, data: &data }
        } else {
            IcmpMessage::EchoReply { ident, seq, data: &data }
        };
        let p = IcmpPacket {
            src: Ipv4Addr::new(10, 66, 0, 1),
            dst: Ipv4Addr::new(10, 66, 0, 2),
            ip: IpMeta::default(),
            message,
        };
        let buf = emit_icmp(&p);
        let ip = SmolIpv4::new_checked(&buf[..]).unwrap();
        prop_assert!(ip.verify_checksum());
        prop_assert_eq!(ip.next_header(), IpProtocol::Icmp);
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        prop_assert!(icmp.verify_checksum());
        prop_assert_eq!(u8::from(icmp.msg_type()), if request { 8 } else { 0 });
        prop_assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (ident, seq));
        prop_assert_eq!(icmp.data(), &data[..]);
    }

    /// Bytes built by smoltcp (its option layout is not ours: `mss, ws, sackOK, sack, TS,
    /// EOL`, so options sit at odd offsets) parse to the same fields.
    #[test]
    fn we_read_smoltcp_segments_identically(
        (src, dst, hop_limit) in (sock_addr(), sock_addr(), any::<u8>()),
        (control, seq, ack, window) in (0..5usize, any::<i32>(), option::of(any::<i32>()), any::<u16>()),
        (mss, ws, sack_permitted, ts) in (option::of(any::<u16>()), option::of(any::<u8>()), any::<bool>(), option::of((any::<u32>(), any::<u32>()))),
        ranges in vec((any::<u32>(), any::<u32>()), 0..=3),
        payload in vec(any::<u8>(), 0..=1500),
    ) {
        let caps = ChecksumCapabilities::default();
        let control = [TcpControl::None, TcpControl::Psh, TcpControl::Syn, TcpControl::Fin, TcpControl::Rst][control];
        // smoltcp counts SACK ranges in its header length even when it does not emit
        // them; keep what fits in 40 option bytes.
        let used = 4 * usize::from(mss.is_some()) + 3 * usize::from(ws.is_some())
            + 2 * usize::from(sack_permitted) + 10 * usize::from(ts.is_some());
        let n = ranges.len().min((40 - used).saturating_sub(2) / 8);
        let mut sack_ranges = [None; 3];
        for (slot, r) in sack_ranges.iter_mut().zip(&ranges[..n]) {
            *slot = Some(*r);
        }
        let repr = TcpRepr {
            src_port: src.port(),
            dst_port: dst.port(),
            control,
            seq_number: TcpSeqNumber(seq),
            ack_number: ack.map(TcpSeqNumber),
            window_len: window,
            window_scale: ws,
            max_seg_size: mss,
            sack_permitted,
            sack_ranges,
            timestamp: ts.map(|(v, e)| TcpTimestampRepr::new(v, e)),
            payload: &payload,
        };
        prop_assert!(repr.header_len() <= 60);
        let ip_repr = Ipv4Repr {
            src_addr: *src.ip(),
            dst_addr: *dst.ip(),
            next_header: IpProtocol::Tcp,
            payload_len: repr.buffer_len(),
            hop_limit,
        };
        let mut buf = vec![0; 20 + repr.buffer_len()];
        let mut ip = SmolIpv4::new_unchecked(&mut buf);
        ip_repr.emit(&mut ip, &caps);
        let (sa, da) = (IpAddress::Ipv4(*src.ip()), IpAddress::Ipv4(*dst.ip()));
        repr.emit(&mut TcpPacket::new_unchecked(ip.payload_mut()), &sa, &da, &caps);

        let mut flags = match control {
            TcpControl::None => TcpFlags::NONE,
            TcpControl::Psh => TcpFlags::PSH,
            TcpControl::Syn => TcpFlags::SYN,
            TcpControl::Fin => TcpFlags::FIN,
            TcpControl::Rst => TcpFlags::RST,
        };
        if ack.is_some() {
            flags |= TcpFlags::ACK;
        }
        // smoltcp sends SACK blocks only on ACKs without sackOK.
        let sent_ranges = if !sack_permitted && ack.is_some() { n } else { 0 };
        let want = Segment {
            src: src.into(),
            dst: dst.into(),
            seq: seq as u32,
            ack: ack.unwrap_or(0) as u32,
            flags,
            window,
            urgent: 0,
            options: TcpOptions {
                mss,
                window_scale: ws,
                sack_permitted,
                timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                sack: SackList::new(&blocks(&ranges[..sent_ranges])),
            },
            payload: &payload,
            ip: IpMeta { ttl: hop_limit, tos: 0, ident: 0, dont_frag: true },
        };
        prop_assert_eq!(Segment::parse(&buf), Ok(want));
    }
}

/// MUST-2: both checksums verify in both oracles for every payload length 0..=9 and
/// 1499/1500, with and without options.
#[test]
fn must_2_checksums_verify_for_odd_and_even_payloads() {
    let data: Vec<u8> = (0..1500u32).map(|i| (i * 7 + 0xA5) as u8).collect();
    for len in (0..=9).chain([1499, 1500]) {
        for options in [TcpOptions::default(), all_options()] {
            let s = Segment {
                options,
                ..seg(TcpFlags::PSH | TcpFlags::ACK, 1, 1, &data[..len])
            };
            let buf = emit(&s);
            smoltcp_agrees(&buf, &s);
            etherparse_agrees(&buf, &s);
        }
    }
}

/// The IPv4 address of a segment's endpoint (these tests build IPv4 segments only).
fn v4(a: std::net::SocketAddr) -> std::net::Ipv4Addr {
    match a.ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(ip) => panic!("IPv6 address {ip} in an IPv4 test"),
    }
}
