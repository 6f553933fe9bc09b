//! The wire layer: parse/emit round trips, one crafted packet per `WireError`, RFC 9293
//! option rules, and tcpdump-like goldens. (The smoltcp and etherparse oracles are in
//! `tests/wire_oracle.rs`; helpers and generators in `tests/wire_common/`.)

use proptest::collection::vec;
use proptest::prelude::*;
use std::net::Ipv4Addr;
use tuntcp::wire::*;

mod wire_common;
use wire_common::*;

// ---------------------------------------------------------------------------------------
// Round trips: parse(emit(x)) == x
// ---------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn segment_round_trips_with_any_options_flags_payload_and_ip_meta((s, payload) in segment()) {
        let s = Segment { payload: &payload, ..s };
        let buf = emit(&s);
        prop_assert_eq!(buf.len(), 40 + s.options.wire_len() + payload.len());
        prop_assert_eq!(Segment::parse(&buf), Ok(s));
        prop_assert_eq!(Packet::parse(&buf), Ok(Packet::Tcp(s)));
    }

    /// A gather write (the headers, then the payload where it lies) carries exactly the
    /// bytes of `emit`, with either checksum mode.
    #[test]
    fn emit_headers_then_the_payload_is_emit((s, payload) in segment(), partial in any::<bool>()) {
        let s = Segment { payload: &payload, ..s };
        let mut whole = vec![0; s.buffer_len()];
        let n = if partial { s.emit_csum_partial(&mut whole) } else { s.emit(&mut whole) };
        prop_assert_eq!(n, Ok(whole.len()));
        let mut gathered = vec![0; s.buffer_len()];
        let head = s.emit_headers(&mut gathered, partial).unwrap();
        prop_assert_eq!(head, whole.len() - payload.len());
        gathered.truncate(head);
        gathered.extend_from_slice(&payload);
        prop_assert_eq!(gathered, whole);
    }

    #[test]
    fn emit_keeps_only_the_sack_blocks_that_fit((s, payload) in segment_with(options_uncut())) {
        let s = Segment { payload: &payload, ..s };
        let buf = emit(&s);
        let parsed = Segment::parse(&buf).unwrap();
        let fit = s.options.sack.len().min(sack_fit(&s.options));
        // RFC 2018 §4: the first (most recent) blocks are the ones kept.
        let kept = SackList::new(&s.options.sack.as_slice()[..fit]);
        prop_assert_eq!(parsed.options.sack, kept);
        let want = Segment { options: TcpOptions { sack: kept, ..s.options }, ..s };
        prop_assert_eq!(parsed, want);
    }

    #[test]
    fn icmp_round_trips_odd_and_even_data(
        (src, dst, ip) in (any::<u32>(), any::<u32>(), ip_meta()),
        spec in icmp_spec(),
        data in vec(any::<u8>(), 0..=1500),
    ) {
        let message = spec.with(&data);
        let p = IcmpPacket { src: src.into(), dst: dst.into(), ip, message };
        let buf = emit_icmp(&p);
        prop_assert_eq!(buf.len(), 28 + data.len());
        prop_assert_eq!(IcmpPacket::parse(&buf), Ok(p));
        prop_assert_eq!(Packet::parse(&buf), Ok(Packet::Icmp(p)));
        prop_assert_eq!(IcmpMessage::parse(&buf[20..]), Ok(message));
    }

    #[test]
    fn icmp_other_round_trips(spec in icmp_other(), data in vec(any::<u8>(), 0..=101)) {
        let m = spec.with(&data);
        let mut buf = vec![0; m.buffer_len()];
        prop_assert_eq!(m.emit(&mut buf), Ok(8 + data.len()));
        prop_assert_eq!(IcmpMessage::parse(&buf), Ok(m));
    }

    /// Any type/code/rest, claimed or not, parses to something that emits the same bytes.
    #[test]
    fn icmp_bytes_survive_parse_and_emit(
        (t, c, r) in (any::<u8>(), any::<u8>(), any::<[u8; 4]>()),
        data in vec(any::<u8>(), 0..=101),
    ) {
        let mut buf = vec![0; 8 + data.len()];
        IcmpSpec::Other(t, c, r).with(&data).emit(&mut buf).unwrap();
        let parsed = IcmpMessage::parse(&buf).unwrap();
        prop_assert_eq!(matches!(parsed, IcmpMessage::Other { .. }), !claimed_by_a_variant(t, c, r));
        let mut again = vec![0; parsed.buffer_len()];
        parsed.emit(&mut again).unwrap();
        prop_assert_eq!(again, buf);
    }
}

#[test]
fn emit_rejects_a_short_buffer_and_a_packet_over_65535_bytes() {
    let s = seg(TcpFlags::ACK, 1, 1, b"abc");
    let mut short = vec![0; s.buffer_len() - 1];
    assert_eq!(
        s.emit(&mut short),
        Err(EmitError::BufferTooSmall { need: 43, have: 42 })
    );
    let big = vec![0; 65535 - 40 + 1];
    let s = seg(TcpFlags::ACK, 1, 1, &big);
    let mut out = vec![0; s.buffer_len()];
    assert_eq!(s.emit(&mut out), Err(EmitError::TooLong(65536)));
}

// ---------------------------------------------------------------------------------------
// What we emit: RFC 9293 §3.1 option rules
// ---------------------------------------------------------------------------------------

proptest! {
    /// MUST-68: every option but EOL and NOP has a length byte >= 2 (and the length its
    /// kind defines). MUST-69: whatever follows an EOL up to the data offset is zero.
    #[test]
    fn must_68_69_emitted_options_have_lengths_and_zero_padding((s, payload) in segment_with(options_uncut())) {
        let s = Segment { payload: &payload, ..s };
        let buf = emit(&s);
        let data_offset = usize::from(buf[20 + 12] >> 4) * 4;
        let opts = &buf[40..20 + data_offset];
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                0 => {
                    prop_assert!(opts[i..].iter().all(|&b| b == 0), "padding {:?}", opts);
                    break;
                }
                1 => i += 1,
                kind => {
                    let len = usize::from(opts[i + 1]);
                    prop_assert!(len >= 2);
                    let ok = match kind {
                        2 => len == 4,
                        3 => len == 3,
                        4 => len == 2,
                        8 => len == 10,
                        5 => len >= 10 && (len - 2) % 8 == 0,
                        _ => false,
                    };
                    prop_assert!(ok, "kind {} len {} in {:?}", kind, len, opts);
                    i += len;
                }
            }
        }
        prop_assert_eq!(i.min(opts.len()), i, "last option runs past the header");
    }
}

// ---------------------------------------------------------------------------------------
// Every WireError, from a crafted packet
// ---------------------------------------------------------------------------------------

#[test]
fn crafted_packets_are_valid_to_begin_with() {
    let bytes = tcp_packet(&[], &[], b"hi");
    let s = Segment::parse(&bytes).unwrap();
    assert_eq!(
        s.to_string(),
        "192.0.2.1:1000 > 192.0.2.2:80 [S] seq 7 win 512 len 2"
    );
    assert_eq!(s.ip.ident, 0x1234);
    let bytes = icmp_packet(b"abc");
    let p = IcmpPacket::parse(&bytes).unwrap();
    assert_eq!(
        p.to_string(),
        "192.0.2.1 > 192.0.2.2 ICMP echo request, id 7, seq 1, length 3"
    );
}

#[test]
fn truncated_ip_header_is_rejected() {
    let p = tcp_packet(&[], &[], &[]);
    assert_eq!(
        Packet::parse(&p[..19]),
        Err(WireError::Truncated { need: 20, have: 19 })
    );
    assert_eq!(
        Packet::parse(&[]),
        Err(WireError::Truncated { need: 20, have: 0 })
    );
    // IHL 6 needs 24 bytes.
    let p = tcp_packet(&[1, 1, 1, 0], &[], &[]);
    assert_eq!(
        Packet::parse(&p[..22]),
        Err(WireError::Truncated { need: 24, have: 22 })
    );
}

#[test]
fn truncated_tcp_header_is_rejected() {
    let mut p = tcp_packet(&[], &[], &[]);
    p.truncate(39);
    p[2..4].copy_from_slice(&39u16.to_be_bytes());
    fix_ip_checksum(&mut p);
    assert_eq!(
        Packet::parse(&p),
        Err(WireError::Truncated { need: 20, have: 19 })
    );
}

#[test]
fn ip_version_6_is_rejected() {
    let mut p = tcp_packet(&[], &[], &[]);
    p[0] = 0x65;
    fix_ip_checksum(&mut p);
    assert_eq!(Packet::parse(&p), Err(WireError::BadVersion(6)));
}

#[test]
fn ihl_below_5_is_rejected() {
    let mut p = tcp_packet(&[], &[], &[]);
    p[0] = 0x44;
    assert_eq!(Packet::parse(&p), Err(WireError::BadIhl(4)));
}

#[test]
fn total_length_smaller_than_the_header_is_rejected() {
    let mut p = tcp_packet(&[], &[], &[]);
    p[2..4].copy_from_slice(&19u16.to_be_bytes());
    fix_ip_checksum(&mut p);
    assert_eq!(
        Packet::parse(&p),
        Err(WireError::BadTotalLength {
            total: 19,
            buffer: 40
        })
    );
}

#[test]
fn total_length_larger_than_the_buffer_is_rejected() {
    let mut p = tcp_packet(&[], &[], b"x");
    p[2..4].copy_from_slice(&42u16.to_be_bytes());
    fix_ip_checksum(&mut p);
    assert_eq!(
        Packet::parse(&p),
        Err(WireError::BadTotalLength {
            total: 42,
            buffer: 41
        })
    );
}

#[test]
fn bad_ip_checksum_is_rejected() {
    let mut p = tcp_packet(&[], &[], &[]);
    p[8] ^= 0x01; // TTL changed, checksum not
    assert_eq!(Packet::parse(&p), Err(WireError::BadIpChecksum));
    assert_eq!(Segment::parse(&p), Err(WireError::BadIpChecksum));
}

#[test]
fn more_fragments_flag_makes_a_fragment() {
    let mut p = tcp_packet(&[], &[], b"data");
    p[6] |= 0x20; // MF
    fix_ip_checksum(&mut p);
    let Ok(Packet::Fragment(ip)) = Packet::parse(&p) else {
        panic!("not a fragment: {:?}", Packet::parse(&p))
    };
    assert!(ip.more_frags && ip.is_fragment());
    assert_eq!((ip.frag_offset, ip.protocol, ip.payload.len()), (0, 6, 24));
    assert_eq!(
        ip.to_string(),
        "192.0.2.1 > 192.0.2.2 IP proto 6 frag id 4660 off 0+ len 24"
    );
    assert_eq!(Segment::parse(&p), Err(WireError::Fragment));
}

#[test]
fn fragment_offset_makes_a_fragment() {
    let mut p = icmp_packet(b"data");
    p[6..8].copy_from_slice(&0x0003u16.to_be_bytes()); // offset 3 * 8 bytes, DF clear
    fix_ip_checksum(&mut p);
    let Ok(Packet::Fragment(ip)) = Packet::parse(&p) else {
        panic!("not a fragment: {:?}", Packet::parse(&p))
    };
    assert!(!ip.more_frags && ip.is_fragment());
    assert_eq!(ip.frag_offset, 24);
    assert_eq!(IcmpPacket::parse(&p), Err(WireError::Fragment));
    assert_eq!(Segment::parse(&p), Err(WireError::Fragment));
}

#[test]
fn udp_is_an_unexpected_protocol() {
    let udp = [0x03, 0xE8, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00];
    let p = ipv4(17, &[], &udp);
    assert_eq!(Packet::parse(&p), Err(WireError::UnexpectedProtocol(17)));
    // Asking for one protocol and finding the other is the same error.
    let icmp = icmp_packet(b"");
    assert_eq!(Segment::parse(&icmp), Err(WireError::UnexpectedProtocol(1)));
    let tcp = tcp_packet(&[], &[], &[]);
    assert_eq!(
        IcmpPacket::parse(&tcp),
        Err(WireError::UnexpectedProtocol(6))
    );
}

#[test]
fn data_offset_below_5_is_rejected() {
    let mut p = tcp_packet(&[], &[], b"abcd");
    p[32] = 4 << 4;
    fix_tcp_checksum(&mut p);
    assert_eq!(Packet::parse(&p), Err(WireError::BadDataOffset(4)));
}

#[test]
fn data_offset_past_the_end_is_rejected() {
    let mut p = tcp_packet(&[], &[], b"abcd"); // 24 TCP bytes
    p[32] = 7 << 4; // 28-byte header
    fix_tcp_checksum(&mut p);
    assert_eq!(Packet::parse(&p), Err(WireError::BadDataOffset(7)));
    p[32] = 15 << 4;
    fix_tcp_checksum(&mut p);
    assert_eq!(Packet::parse(&p), Err(WireError::BadDataOffset(15)));
}

/// MUST-3: a received segment whose checksum fails is rejected, for even and odd lengths,
/// whichever bit of the payload flipped (the odd last byte included).
#[test]
fn must_3_flipped_payload_bit_fails_tcp_checksum() {
    for len in [1, 2, 7, 8, 1459, 1460] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
        let p = tcp_packet(&[], &[], &payload);
        assert!(Segment::parse(&p).is_ok());
        for (byte, bit) in [(0, 0), (len / 2, 3), (len - 1, 7), (len - 1, 0)] {
            let mut bad = p.clone();
            bad[40 + byte] ^= 1 << bit;
            assert_eq!(
                Packet::parse(&bad),
                Err(WireError::BadTcpChecksum),
                "len {len} byte {byte} bit {bit}"
            );
        }
    }
    // The pseudo-header is covered too (RFC 9293 §3.1): change the destination address.
    let mut p = tcp_packet(&[], &[], b"x");
    p[19] ^= 1;
    fix_ip_checksum(&mut p);
    assert_eq!(Packet::parse(&p), Err(WireError::BadTcpChecksum));
}

#[test]
fn must_7_option_length_zero_is_rejected() {
    let p = tcp_packet(&[], &[2, 0, 0, 0], &[]);
    assert_eq!(
        Packet::parse(&p),
        Err(WireError::BadOptionLength {
            kind: 2,
            offset: 20
        })
    );
}

#[test]
fn must_7_option_length_one_is_rejected() {
    let p = tcp_packet(&[], &[1, 1, 253, 1], &[]);
    assert_eq!(
        Packet::parse(&p),
        Err(WireError::BadOptionLength {
            kind: 253,
            offset: 22
        })
    );
}

#[test]
fn must_7_option_running_past_the_header_is_rejected() {
    // MSS claims 4 bytes but starts 2 bytes before the data offset; the payload after the
    // header must not be read as option bytes.
    let p = tcp_packet(&[], &[1, 1, 2, 4], &[0x05, 0xB4]);
    assert_eq!(
        Packet::parse(&p),
        Err(WireError::BadOptionLength {
            kind: 2,
            offset: 22
        })
    );
    let p = tcp_packet(&[], &[8, 40, 0, 0], &[]);
    assert_eq!(
        Packet::parse(&p),
        Err(WireError::BadOptionLength {
            kind: 8,
            offset: 20
        })
    );
}

#[test]
fn must_7_option_kind_at_the_last_byte_without_a_length_is_rejected() {
    let p = tcp_packet(&[], &[1, 1, 1, 3], &[]);
    assert_eq!(
        Packet::parse(&p),
        Err(WireError::BadOptionLength {
            kind: 3,
            offset: 23
        })
    );
}

#[test]
fn bad_icmp_checksum_is_rejected() {
    for data in [&b""[..], b"a", b"ab", b"abc"] {
        let mut p = icmp_packet(data);
        assert!(IcmpPacket::parse(&p).is_ok());
        let last = p.len() - 1;
        p[last] ^= 0x10;
        assert_eq!(Packet::parse(&p), Err(WireError::BadIcmpChecksum));
    }
}

#[test]
fn truncated_icmp_header_is_rejected() {
    let p = ipv4(IPPROTO_ICMP, &[], &[8, 0, 0xF7, 0xFF, 0, 0, 0]);
    assert_eq!(
        Packet::parse(&p),
        Err(WireError::Truncated { need: 8, have: 7 })
    );
}

// ---------------------------------------------------------------------------------------
// Options we must accept (RFC 9293 §3.1, §3.2) and IP-level leniency
// ---------------------------------------------------------------------------------------

/// MUST-4: EOL, NOP and MSS are understood.
#[test]
fn must_4_nop_mss_eol_are_understood() {
    let p = tcp_packet(&[], &[1, 1, 2, 4, 0x03, 0xE8, 0, 0], &[]);
    assert_eq!(options_of(&p).unwrap().mss, Some(1000));
}

#[test]
fn must_6_unknown_option_kind_is_skipped_by_its_length() {
    let opts = [253, 6, 0xDE, 0xAD, 0xBE, 0xEF, 2, 4, 0x03, 0x20, 0, 0];
    let o = options_of(&tcp_packet(&[], &opts, &[])).unwrap();
    assert_eq!(
        o,
        TcpOptions {
            mss: Some(800),
            ..Default::default()
        }
    );
}

#[test]
fn known_option_with_a_wrong_length_is_skipped_like_an_unknown_one() {
    // MSS with length 3, then wscale: Linux skips the MSS and so do we.
    let opts = [2, 3, 0x05, 3, 3, 9, 0, 0];
    let o = options_of(&tcp_packet(&[], &opts, &[])).unwrap();
    assert_eq!((o.mss, o.window_scale), (None, Some(9)));
}

#[test]
fn must_64_options_at_odd_offsets_are_parsed() {
    // NOP, MSS at offset 1, wscale at offset 5, sackOK at 8, TS at 10, EOL.
    let opts = [
        1, 2, 4, 0x05, 0xB4, 3, 3, 14, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3, 0, 0, 0, 0,
    ];
    let o = options_of(&tcp_packet(&[], &opts, &[])).unwrap();
    assert_eq!(
        o,
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(14),
            sack_permitted: true,
            timestamps: Some(Timestamps { tsval: 9, tsecr: 3 }),
            sack: SackList::default(),
        }
    );
}

#[test]
fn options_after_eol_are_ignored() {
    // Nothing after EOL is parsed, not even an illegal length.
    let p = tcp_packet(&[], &[3, 3, 5, 0, 2, 4, 0x05, 0xB4, 2, 0, 0, 0], &[]);
    let o = options_of(&p).unwrap();
    assert_eq!((o.window_scale, o.mss), (Some(5), None));
}

#[test]
fn a_repeated_option_keeps_the_last_value() {
    let p = tcp_packet(&[], &[2, 4, 0, 100, 2, 4, 0, 200], &[]);
    assert_eq!(options_of(&p).unwrap().mss, Some(200));
}

#[test]
fn must_50_ip_options_are_skipped() {
    // IHL 6: Router Alert (RFC 2113), IHL 7: NOPs and an unknown option.
    for ip_opts in [&[0x94, 4, 0, 0][..], &[1, 1, 0x9E, 6, 1, 2, 3, 4]] {
        let p = tcp_packet(ip_opts, &[2, 4, 0x05, 0xB4], b"payload");
        let s = Segment::parse(&p).unwrap();
        assert_eq!(s.options.mss, Some(1460));
        assert_eq!(s.payload, b"payload");
        assert_eq!(
            (s.src, s.dst),
            (sock("192.0.2.1:1000").into(), sock("192.0.2.2:80").into())
        );
        let Ok(Packet::Tcp(t)) = Packet::parse(&p) else {
            panic!()
        };
        assert_eq!(t, s);
    }
}

#[test]
fn trailing_bytes_after_the_total_length_are_ignored() {
    // Link padding (e.g. Ethernet minimum frame) is not payload.
    let mut p = tcp_packet(&[], &[], b"abc");
    p.extend_from_slice(&[0xEE; 6]);
    let s = Segment::parse(&p).unwrap();
    assert_eq!(s.payload, b"abc");
    let mut p = icmp_packet(b"ping");
    p.extend_from_slice(&[0; 3]);
    let Ok(Packet::Icmp(i)) = Packet::parse(&p) else {
        panic!()
    };
    assert!(matches!(
        i.message,
        IcmpMessage::EchoRequest { data: b"ping", .. }
    ));
}

// ---------------------------------------------------------------------------------------
// Display: tcpdump-like goldens
// ---------------------------------------------------------------------------------------

#[test]
fn syn_round_trips_and_prints_like_tcpdump() {
    let s = Segment {
        options: all_options(),
        ..seg(TcpFlags::SYN | TcpFlags::ACK, 100, 201, b"")
    };
    let buf = emit(&s);
    assert_eq!(buf.len(), 60);
    let p = Segment::parse(&buf).unwrap();
    assert_eq!(p, s);
    assert_eq!(
        p.to_string(),
        "10.0.0.1:5555 > 10.0.0.2:80 [S.] seq 100 ack 201 win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7> len 0"
    );
}

#[test]
fn display_plain_ack() {
    let s = Segment {
        window: 29200,
        ..seg(TcpFlags::ACK, 101, 301, b"")
    };
    assert_eq!(
        s.to_string(),
        "10.0.0.1:5555 > 10.0.0.2:80 [.] seq 101 ack 301 win 29200 len 0"
    );
}

#[test]
fn display_data_with_psh_and_timestamps() {
    let s = Segment {
        options: TcpOptions {
            timestamps: Some(Timestamps { tsval: 5, tsecr: 4 }),
            ..Default::default()
        },
        window: 502,
        ..seg(TcpFlags::PSH | TcpFlags::ACK, 1, 1, b"hello")
    };
    assert_eq!(
        s.to_string(),
        "10.0.0.1:5555 > 10.0.0.2:80 [P.] seq 1 ack 1 win 502 <nop,nop,TS val 5 ecr 4> len 5"
    );
}

#[test]
fn display_fin() {
    let s = seg(TcpFlags::FIN | TcpFlags::ACK, 6, 1, b"");
    assert_eq!(
        s.to_string(),
        "10.0.0.1:5555 > 10.0.0.2:80 [F.] seq 6 ack 1 win 65535 len 0"
    );
}

#[test]
fn display_rst_without_ack_prints_no_ack() {
    let s = Segment {
        window: 0,
        ..seg(TcpFlags::RST, 300, 77, b"")
    };
    assert_eq!(
        s.to_string(),
        "10.0.0.1:5555 > 10.0.0.2:80 [R] seq 300 win 0 len 0"
    );
}

#[test]
fn display_urg_prints_the_urgent_pointer() {
    let s = Segment {
        urgent: 3,
        ..seg(
            TcpFlags::URG | TcpFlags::ACK | TcpFlags::PSH,
            10,
            20,
            b"abc",
        )
    };
    assert_eq!(
        s.to_string(),
        "10.0.0.1:5555 > 10.0.0.2:80 [P.U] seq 10 ack 20 win 65535 urg 3 len 3"
    );
}

#[test]
fn display_sack_blocks() {
    let s = Segment {
        options: TcpOptions {
            timestamps: Some(Timestamps { tsval: 1, tsecr: 2 }),
            sack: SackList::new(&blocks(&[(100, 200), (300, 400)])),
            ..Default::default()
        },
        ..seg(TcpFlags::ACK, 1, 100, b"")
    };
    assert_eq!(
        s.to_string(),
        "10.0.0.1:5555 > 10.0.0.2:80 [.] seq 1 ack 100 win 65535 <nop,nop,TS val 1 ecr 2,nop,nop,sack 2 {100:200} {300:400}> len 0"
    );
    // Only the blocks that are sent are printed.
    let s = Segment {
        options: TcpOptions {
            sack: SackList::new(&blocks(&[(1, 2), (3, 4), (5, 6), (7, 8)])),
            ..all_options()
        },
        ..s
    };
    assert!(s
        .to_string()
        .ends_with("nop,wscale 7,nop,nop,sack 2 {1:2} {3:4}> len 0"));
}

#[test]
fn display_flags_none_and_ecn_flags() {
    let s = seg(TcpFlags::NONE, 5, 0, b"");
    assert_eq!(
        s.to_string(),
        "10.0.0.1:5555 > 10.0.0.2:80 [none] seq 5 win 65535 len 0"
    );
    let s = seg(TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR, 5, 0, b"");
    assert!(s.to_string().contains(" [SEW] seq 5 "));
}

#[test]
fn display_icmp_echo() {
    let data = [0u8; 64];
    let mut p = IcmpPacket {
        src: Ipv4Addr::new(10, 66, 0, 1),
        dst: Ipv4Addr::new(10, 66, 0, 2),
        ip: IpMeta::default(),
        message: IcmpMessage::EchoRequest {
            ident: 7,
            seq: 1,
            data: &data,
        },
    };
    assert_eq!(
        p.to_string(),
        "10.66.0.1 > 10.66.0.2 ICMP echo request, id 7, seq 1, length 64"
    );
    p.message = IcmpMessage::EchoReply {
        ident: 7,
        seq: 1,
        data: &data,
    };
    let bytes = emit_icmp(&p);
    let parsed = Packet::parse(&bytes).unwrap();
    assert_eq!(
        parsed.to_string(),
        "10.66.0.1 > 10.66.0.2 ICMP echo reply, id 7, seq 1, length 64"
    );
}

// ---------------------------------------------------------------------------------------
// Fuzz seed corpus: real packets from our emitter, checked in under fuzz/corpus/
// ---------------------------------------------------------------------------------------

/// The seeds, as our emitter writes them today. `TUNTCP_WRITE_SEEDS=1 cargo test --test
/// wire fuzz_seeds` rewrites the files; otherwise the test fails when they are stale.
fn fuzz_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let c = sock("10.66.0.2:40000");
    let srv = sock("10.66.0.1:80");
    let syn = Segment {
        src: c.into(),
        dst: srv.into(),
        window: 64240,
        options: TcpOptions {
            mss: Some(1460),
            ..Default::default()
        },
        ..seg(TcpFlags::SYN, 1000, 0, b"")
    };
    let syn_all = Segment {
        options: TcpOptions {
            timestamps: Some(Timestamps {
                tsval: 123456,
                tsecr: 0,
            }),
            ..all_options()
        },
        ..syn
    };
    let syn_ack = Segment {
        src: srv.into(),
        dst: c.into(),
        options: all_options(),
        ..seg(TcpFlags::SYN | TcpFlags::ACK, 5000, 1001, b"")
    };
    let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let data = Segment {
        src: c.into(),
        dst: srv.into(),
        window: 502,
        ..seg(TcpFlags::PSH | TcpFlags::ACK, 1001, 5001, get)
    };
    let sack_ack = Segment {
        src: srv.into(),
        dst: c.into(),
        options: TcpOptions {
            timestamps: Some(Timestamps { tsval: 9, tsecr: 8 }),
            sack: SackList::new(&blocks(&[(1100, 1200), (1300, 1400), (1500, 1600)])),
            ..Default::default()
        },
        ..seg(TcpFlags::ACK, 5001, 1001, b"")
    };
    let fin = Segment {
        src: c.into(),
        dst: srv.into(),
        ..seg(TcpFlags::FIN | TcpFlags::ACK, 1028, 5001, b"")
    };
    let rst = Segment {
        src: srv.into(),
        dst: c.into(),
        window: 0,
        ..seg(TcpFlags::RST, 5001, 0, b"")
    };
    let ping = IcmpPacket {
        src: *c.ip(),
        dst: *srv.ip(),
        ip: IpMeta::default(),
        message: IcmpMessage::EchoRequest {
            ident: 7,
            seq: 1,
            data: b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.",
        },
    };
    vec![
        ("syn", emit(&syn)),
        ("syn-all-options", emit(&syn_all)),
        ("syn-ack", emit(&syn_ack)),
        ("data", emit(&data)),
        ("ack-sack", emit(&sack_ack)),
        ("fin", emit(&fin)),
        ("rst", emit(&rst)),
        ("icmp-echo", emit_icmp(&ping)),
    ]
}

#[test]
fn fuzz_seeds_are_what_the_emitter_writes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = std::env::var_os("TUNTCP_WRITE_SEEDS").is_some();
    for target in ["segment", "ipv4_packet"] {
        for (name, bytes) in fuzz_seeds() {
            assert!(Packet::parse(&bytes).is_ok(), "{name}");
            let path = root.join(target).join(format!("seed-{name}"));
            if write {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            }
            let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("{}: {e} (TUNTCP_WRITE_SEEDS=1 writes it)", path.display())
            });
            assert_eq!(on_disk, bytes, "{} is stale", path.display());
        }
    }
}

/// IPv6 through `Segment` and `Segment6` (one emit since the two were folded): the same
/// errors, in the same order, as before: Payload Length (not the whole packet) over
/// 65535, then room; mixed families refused first.
#[test]
fn ipv6_emit_rejects_a_short_buffer_a_payload_over_65535_and_mixed_families() {
    use std::net::{SocketAddr, SocketAddrV6};
    let (a, b): (std::net::Ipv6Addr, std::net::Ipv6Addr) =
        ("fd66::1".parse().unwrap(), "fd66::2".parse().unwrap());
    let v6 = |payload| Segment {
        src: SocketAddr::V6(SocketAddrV6::new(a, 5555, 0, 0)),
        dst: SocketAddr::V6(SocketAddrV6::new(b, 80, 0, 0)),
        ..seg(TcpFlags::ACK, 1, 1, payload)
    };
    let s = v6(b"abc");
    let mut short = vec![0; s.buffer_len() - 1];
    let want = Err(EmitError::BufferTooSmall { need: 63, have: 62 });
    assert_eq!(s.emit(&mut short), want);
    assert_eq!(s.to_v6(0).unwrap().emit(&mut short), want);
    assert_eq!(
        s.emit_headers(&mut short[..59], false),
        Err(EmitError::BufferTooSmall { need: 60, have: 59 })
    );
    let big = vec![0; 65535 - 20 + 1];
    let s = v6(&big);
    let mut out = vec![0; s.buffer_len()];
    assert_eq!(s.emit(&mut out), Err(EmitError::TooLong(65536)));
    assert_eq!(
        s.to_v6(0).unwrap().emit_csum_partial(&mut out),
        Err(EmitError::TooLong(65536))
    );
    let mixed = Segment {
        dst: SocketAddr::V6(SocketAddrV6::new(b, 80, 0, 0)),
        ..seg(TcpFlags::ACK, 1, 1, b"")
    };
    assert_eq!(mixed.emit(&mut [0; 0]), Err(EmitError::MixedFamilies));
    assert_eq!(
        mixed.emit_headers(&mut [0; 0], true),
        Err(EmitError::MixedFamilies)
    );
}
