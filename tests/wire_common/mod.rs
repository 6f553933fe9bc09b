//! Helpers and proptest generators shared by `tests/wire.rs` and `tests/wire_oracle.rs`.
#![allow(dead_code)]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use std::net::SocketAddrV4;
use tuntcp::wire::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

pub fn emit(s: &Segment<'_>) -> Vec<u8> {
    let mut buf = vec![0; s.buffer_len()];
    assert_eq!(s.emit(&mut buf), Ok(buf.len()));
    buf
}

pub fn emit_icmp(p: &IcmpPacket<'_>) -> Vec<u8> {
    let mut buf = vec![0; p.buffer_len()];
    assert_eq!(p.emit(&mut buf), Ok(buf.len()));
    buf
}

pub fn sock(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

/// A segment from 10.0.0.1:5555 to 10.0.0.2:80 with no options.
pub fn seg(flags: TcpFlags, seq: u32, ack: u32, payload: &[u8]) -> Segment<'_> {
    Segment {
        src: sock("10.0.0.1:5555").into(),
        dst: sock("10.0.0.2:80").into(),
        seq,
        ack,
        flags,
        window: 65535,
        urgent: 0,
        options: TcpOptions::default(),
        payload,
        ip: IpMeta::default(),
    }
}

pub fn all_options() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
        sack: SackList::default(),
    }
}

pub fn blocks(pairs: &[(u32, u32)]) -> Vec<SackBlock> {
    pairs
        .iter()
        .map(|&(left, right)| SackBlock { left, right })
        .collect()
}

/// SACK blocks that fit beside the other options in the layout tcp_option.rs emits:
/// MSS 4; sackOK and/or TS 4 or 12; wscale 4; SACK 2 NOPs + 2 + 8 per block; 40 in all.
pub fn sack_fit(o: &TcpOptions) -> usize {
    let mut used = if o.mss.is_some() { 4 } else { 0 };
    used += match (o.sack_permitted, o.timestamps.is_some()) {
        (_, true) => 12,
        (true, false) => 4,
        (false, false) => 0,
    };
    used += if o.window_scale.is_some() { 4 } else { 0 };
    ((40 - used - 4) / 8).min(MAX_SACK_BLOCKS)
}

/// RFC 1071 checksum, written here so the tests do not trust `wire::checksum`.
pub fn csum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for data in chunks {
        for pair in data.chunks(2) {
            sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        }
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn ihl_len(pkt: &[u8]) -> usize {
    usize::from(pkt[0] & 0x0F) * 4
}

pub fn fix_ip_checksum(pkt: &mut [u8]) {
    let hl = ihl_len(pkt);
    pkt[10..12].fill(0);
    let c = csum(&[&pkt[..hl]]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Recomputes the TCP checksum over the pseudo-header and the datagram's payload.
pub fn fix_tcp_checksum(pkt: &mut [u8]) {
    let hl = ihl_len(pkt);
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    pkt[hl + 16..hl + 18].fill(0);
    let len = ((total - hl) as u16).to_be_bytes();
    let pseudo = [&pkt[12..20], &[0, IPPROTO_TCP], &len[..]].concat();
    let c = csum(&[&pseudo, &pkt[hl..total]]);
    pkt[hl + 16..hl + 18].copy_from_slice(&c.to_be_bytes());
}

/// Hand-built IPv4 datagram 192.0.2.1 -> 192.0.2.2, DF set, TTL 64, ident 0x1234.
pub fn ipv4(protocol: u8, ip_options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(ip_options.len() % 4, 0);
    let hl = 20 + ip_options.len();
    let total = (hl + payload.len()) as u16;
    let mut p = vec![0x40 | (hl / 4) as u8, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, protocol, 0, 0]);
    p.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    p.extend_from_slice(ip_options);
    p.extend_from_slice(payload);
    fix_ip_checksum(&mut p);
    p
}

/// Hand-built TCP SYN 1000 -> 80, seq 7, window 512, with raw option bytes.
pub fn tcp_packet(ip_options: &[u8], tcp_options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(tcp_options.len() % 4, 0);
    let offset = ((20 + tcp_options.len()) / 4) as u8;
    let mut t = vec![0x03, 0xE8, 0x00, 0x50, 0, 0, 0, 7, 0, 0, 0, 0];
    t.extend_from_slice(&[offset << 4, 0x02, 0x02, 0x00, 0, 0, 0, 0]);
    t.extend_from_slice(tcp_options);
    t.extend_from_slice(payload);
    let mut p = ipv4(IPPROTO_TCP, ip_options, &t);
    fix_tcp_checksum(&mut p);
    p
}

/// Hand-built ICMP echo request, id 7, seq 1.
pub fn icmp_packet(data: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0, 7, 0, 1];
    m.extend_from_slice(data);
    let c = csum(&[&m]);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(IPPROTO_ICMP, &[], &m)
}

pub fn options_of(pkt: &[u8]) -> Result<TcpOptions, WireError> {
    Segment::parse(pkt).map(|s| s.options)
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

pub fn sock_addr() -> impl Strategy<Value = SocketAddrV4> {
    (any::<u32>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
}

pub fn ip_meta() -> impl Strategy<Value = IpMeta> {
    (any::<u8>(), any::<u8>(), any::<u16>(), any::<bool>()).prop_map(
        |(ttl, tos, ident, dont_frag)| IpMeta {
            ttl,
            tos,
            ident,
            dont_frag,
        },
    )
}

pub fn sack_blocks() -> impl Strategy<Value = Vec<SackBlock>> {
    vec(
        (any::<u32>(), any::<u32>()).prop_map(|(left, right)| SackBlock { left, right }),
        0..=MAX_SACK_BLOCKS,
    )
}

/// Any option mix, with up to four SACK blocks whether or not they fit.
pub fn options_uncut() -> impl Strategy<Value = TcpOptions> {
    (
        option::of(any::<u16>()),
        option::of(any::<u8>()),
        any::<bool>(),
        option::of((any::<u32>(), any::<u32>())),
        sack_blocks(),
    )
        .prop_map(|(mss, window_scale, sack_permitted, ts, sack)| TcpOptions {
            mss,
            window_scale,
            sack_permitted,
            timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
            sack: SackList::new(&sack),
        })
}

/// Any option mix with only as many SACK blocks as emit can fit.
pub fn options() -> impl Strategy<Value = TcpOptions> {
    options_uncut().prop_map(|mut o| {
        let n = o.sack.len().min(sack_fit(&o));
        o.sack = SackList::new(&o.sack.as_slice()[..n]);
        o
    })
}

/// A segment with every field random; the payload (0..=1500 bytes, odd and even) is
/// returned separately because `Segment` borrows it.
pub fn segment_with(
    opts: impl Strategy<Value = TcpOptions>,
) -> impl Strategy<Value = (Segment<'static>, Vec<u8>)> {
    (
        (
            sock_addr(),
            sock_addr(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
        ),
        (any::<u16>(), any::<u16>(), opts, ip_meta()),
        vec(any::<u8>(), 0..=1500),
    )
        .prop_map(
            |((src, dst, seq, ack, flags), (window, urgent, options, ip), payload)| {
                let s = Segment {
                    src: src.into(),
                    dst: dst.into(),
                    seq,
                    ack,
                    flags: TcpFlags(flags),
                    window,
                    urgent,
                    options,
                    payload: &[],
                    ip,
                };
                (s, payload)
            },
        )
}

pub fn segment() -> impl Strategy<Value = (Segment<'static>, Vec<u8>)> {
    segment_with(options())
}

/// An ICMP message without its data, which the test body lends it.
#[derive(Clone, Debug)]
pub enum IcmpSpec {
    EchoRequest(u16, u16),
    EchoReply(u16, u16),
    DestUnreachable(u8, u16),
    SourceQuench,
    TimeExceeded(u8),
    ParameterProblem(u8),
    Other(u8, u8, [u8; 4]),
}

impl IcmpSpec {
    pub fn with<'a>(&self, data: &'a [u8]) -> IcmpMessage<'a> {
        match *self {
            IcmpSpec::EchoRequest(ident, seq) => IcmpMessage::EchoRequest { ident, seq, data },
            IcmpSpec::EchoReply(ident, seq) => IcmpMessage::EchoReply { ident, seq, data },
            IcmpSpec::DestUnreachable(code, next_hop_mtu) => IcmpMessage::DestUnreachable {
                code,
                next_hop_mtu,
                original: data,
            },
            IcmpSpec::SourceQuench => IcmpMessage::SourceQuench { original: data },
            IcmpSpec::TimeExceeded(code) => IcmpMessage::TimeExceeded {
                code,
                original: data,
            },
            IcmpSpec::ParameterProblem(pointer) => IcmpMessage::ParameterProblem {
                pointer,
                original: data,
            },
            IcmpSpec::Other(icmp_type, code, rest) => IcmpMessage::Other {
                icmp_type,
                code,
                rest,
                data,
            },
        }
    }
}

/// Type, code and bytes 4..8 that a specific `IcmpMessage` variant parses as.
pub fn claimed_by_a_variant(t: u8, c: u8, r: [u8; 4]) -> bool {
    matches!(
        (t, c, r),
        (0, 0, _)
            | (8, 0, _)
            | (3, _, [0, 0, _, _])
            | (4, 0, [0, 0, 0, 0])
            | (11, _, [0, 0, 0, 0])
            | (12, 0, [_, 0, 0, 0])
    )
}

/// `Other` with a type/code/rest no specific variant claims (else parse rightly returns
/// that variant).
pub fn icmp_other() -> impl Strategy<Value = IcmpSpec> {
    (any::<u8>(), any::<u8>(), any::<[u8; 4]>())
        .prop_filter("claimed by a specific variant", |&(t, c, r)| {
            !claimed_by_a_variant(t, c, r)
        })
        .prop_map(|(t, c, r)| IcmpSpec::Other(t, c, r))
}

pub fn icmp_spec() -> impl Strategy<Value = IcmpSpec> {
    prop_oneof![
        (any::<u16>(), any::<u16>()).prop_map(|(i, s)| IcmpSpec::EchoRequest(i, s)),
        (any::<u16>(), any::<u16>()).prop_map(|(i, s)| IcmpSpec::EchoReply(i, s)),
        (any::<u8>(), any::<u16>()).prop_map(|(c, m)| IcmpSpec::DestUnreachable(c, m)),
        Just(IcmpSpec::SourceQuench),
        any::<u8>().prop_map(IcmpSpec::TimeExceeded),
        any::<u8>().prop_map(IcmpSpec::ParameterProblem),
        icmp_other(),
    ]
}
