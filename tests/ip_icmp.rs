//! The IP side of the stack: ICMP echo, ICMP errors steered to connections, IPv4 input
//! checks, fragments, TTL/TOS, and what every emitted segment must look like.

mod support;

use std::net::SocketAddrV4;
use support::*;
use tuntcp::tcp::{Error, State};
use tuntcp::wire::{IcmpMessage, IcmpPacket, IpMeta, Ipv4Packet, Packet, Segment, TcpFlags};

fn ping(ident: u16, seq: u16, data: &[u8], dst: std::net::Ipv4Addr) -> Vec<u8> {
    let p = IcmpPacket {
        src: PEER,
        dst,
        ip: IpMeta::default(),
        message: IcmpMessage::EchoRequest { ident, seq, data },
    };
    let mut buf = vec![0; p.buffer_len()];
    p.emit(&mut buf).unwrap();
    buf
}

#[test]
fn echo_request_is_answered_byte_exact_for_odd_and_large_payloads() {
    let mut t = Harness::with_config(Harness::config());
    for (i, len) in [0usize, 1, 57, 1472].into_iter().enumerate() {
        let data: Vec<u8> = (0..len).map(|b| b as u8 ^ 0x5a).collect();
        t.send_raw(at(i as u64), &ping(7, i as u16, &data, US));
        let raw = t.raw_out.last().expect("a reply").clone();
        let reply = IcmpPacket::parse(&raw).expect("valid reply with valid checksums");
        assert_eq!(reply.src, US);
        assert_eq!(reply.dst, PEER);
        assert_eq!(
            reply.message,
            IcmpMessage::EchoReply {
                ident: 7,
                seq: i as u16,
                data: &data
            }
        );
    }
    assert_eq!(t.stack.counters().icmp_out_echo_reps, 4);
}

#[test]
fn echo_with_bad_checksum_or_unknown_type_gets_no_reply() {
    let mut t = Harness::with_config(Harness::config());
    let mut bad = ping(1, 1, b"abc", US);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    t.send_raw(at(0), &bad);
    let other = icmp_packet(IcmpMessage::Other {
        icmp_type: 42,
        code: 0,
        rest: [0; 4],
        data: b"",
    });
    t.send_raw(at(1), &other);
    t.flush();
    assert!(t.raw_out.is_empty());
}

#[test]
fn echo_to_broadcast_is_dropped() {
    let mut t = Harness::with_config(Harness::config());
    t.send_raw(at(0), &ping(1, 1, b"abc", "10.66.0.255".parse().unwrap()));
    t.flush();
    assert!(
        t.raw_out.is_empty(),
        "documented choice: no reply to broadcast pings"
    );
}

/// The first 28 bytes (IP header + 8 TCP bytes) of a segment we sent, as an ICMP error quotes it.
fn quote(raw: &[u8]) -> Vec<u8> {
    raw[..28].to_vec()
}

#[test]
fn shld_26_port_unreachable_in_syn_sent_fails_the_connect() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.flush();
    let q = quote(&t.raw_out[0]);
    t.send_raw(
        at(5),
        &icmp_packet(IcmpMessage::DestUnreachable {
            code: 3,
            next_hop_mtu: 0,
            original: &q,
        }),
    );
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(Error::Refused));
}

#[test]
fn must_47_must_56_shld_25_soft_errors_are_reported_and_do_not_abort() {
    let mut t = Harness::server(80);
    let (h, _iss) = t.establish(0, 1000, seg());
    t.stack.send(h, b"data").unwrap();
    t.flush();
    let q = quote(t.raw_out.last().unwrap());
    for m in [
        IcmpMessage::DestUnreachable {
            code: 0,
            next_hop_mtu: 0,
            original: &q,
        },
        IcmpMessage::DestUnreachable {
            code: 1,
            next_hop_mtu: 0,
            original: &q,
        },
        IcmpMessage::TimeExceeded {
            code: 0,
            original: &q,
        },
        IcmpMessage::ParameterProblem {
            pointer: 0,
            original: &q,
        },
    ] {
        t.send_raw(at(1), &icmp_packet(m));
    }
    assert_eq!(t.state(h), State::Established);
    assert_eq!(
        t.stack.connection(h).unwrap().soft_errors(),
        4,
        "MUST-47: visible to the application"
    );
}

#[test]
fn must_54_icmp_error_affects_only_the_quoted_connection() {
    let mut t = Harness::server(80);
    let (a, _) = t.establish(0, 1000, seg());
    let other = SocketAddrV4::new(PEER, 6666);
    t.peer = other.into();
    let (b, _) = t.establish(1, 5000, seg());
    t.stack.send(a, b"to a").unwrap();
    t.flush();
    let q = quote(t.raw_out.last().unwrap());
    t.send_raw(
        at(2),
        &icmp_packet(IcmpMessage::DestUnreachable {
            code: 1,
            next_hop_mtu: 0,
            original: &q,
        }),
    );
    assert_eq!(t.stack.connection(a).unwrap().soft_errors(), 1);
    assert_eq!(t.stack.connection(b).unwrap().soft_errors(), 0);
    // Quoting an unknown tuple changes nothing.
    let mut unknown = q.clone();
    unknown[20] ^= 0x40; // source port
    t.send_raw(
        at(3),
        &icmp_packet(IcmpMessage::DestUnreachable {
            code: 1,
            next_hop_mtu: 0,
            original: &unknown,
        }),
    );
    assert_eq!(t.stack.connection(a).unwrap().soft_errors(), 1);
}

/// `quote` with the quoted TCP sequence number replaced (TCP header bytes 4..8; the quoted
/// IP header's checksum does not cover them).
fn with_seq(q: &[u8], seq: u32) -> Vec<u8> {
    let mut q = q.to_vec();
    q[24..28].copy_from_slice(&seq.to_be_bytes());
    q
}

fn unreachable(code: u8, original: &[u8]) -> Vec<u8> {
    icmp_packet(IcmpMessage::DestUnreachable {
        code,
        next_hop_mtu: 0,
        original,
    })
}

#[test]
fn rfc5927_4_1_errors_quoting_a_sequence_number_not_in_flight_are_ignored() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.send(h, b"data").unwrap();
    t.flush();
    // In flight: SND.UNA = ISS+1 up to SND.NXT = ISS+5 (exclusive).
    let q = quote(t.raw_out.last().unwrap());
    let soft = |t: &Harness| t.stack.connection(h).unwrap().soft_errors();
    for (i, seq) in [
        iss,
        iss.wrapping_add(5),
        iss.wrapping_add(0x4000_0001),
        iss.wrapping_sub(0x4000_0000),
    ]
    .into_iter()
    .enumerate()
    {
        t.send_raw(at(1 + i as u64), &unreachable(1, &with_seq(&q, seq)));
        assert_eq!(soft(&t), 0, "a blind error quoting seq {seq} counted");
    }
    // Both ends of the flight count.
    t.send_raw(at(10), &unreachable(1, &with_seq(&q, iss.wrapping_add(1))));
    assert_eq!(soft(&t), 1);
    t.send_raw(at(11), &unreachable(1, &with_seq(&q, iss.wrapping_add(4))));
    assert_eq!(soft(&t), 2);
    assert_eq!(t.state(h), State::Established);
}

#[test]
fn rfc5927_4_1_port_unreachable_quoting_another_seq_does_not_fail_a_connect() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.flush();
    let q = quote(&t.raw_out[0]);
    let iss = u32::from_be_bytes(q[24..28].try_into().unwrap());
    // Only the SYN (SEQ = ISS) is in flight.
    t.send_raw(at(5), &unreachable(3, &with_seq(&q, iss.wrapping_sub(1))));
    t.send_raw(at(6), &unreachable(3, &with_seq(&q, iss.wrapping_add(1))));
    assert_eq!(t.state(h), State::SynSent);
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(Error::WouldBlock));
    t.send_raw(at(7), &unreachable(3, &q));
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(Error::Refused));
}

#[test]
fn must_55_source_quench_is_ignored() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish(0, 1000, seg());
    t.stack.send(h, &[0; 3000]).unwrap();
    t.flush();
    let cwnd = t.stack.connection(h).unwrap().cwnd();
    let q = quote(t.raw_out.last().unwrap());
    let before = t.raw_out.len();
    t.send_raw(
        at(1),
        &icmp_packet(IcmpMessage::SourceQuench { original: &q }),
    );
    assert_eq!(t.stack.connection(h).unwrap().cwnd(), cwnd);
    assert_eq!(t.stack.connection(h).unwrap().soft_errors(), 0);
    assert_eq!(t.raw_out.len(), before, "no reply");
}

#[test]
fn must_50_ip_options_are_skipped() {
    let mut t = Harness::server(80);
    let raw = t.build(&seg().syn().seq(1000));
    // Insert 4 bytes of IP options (NOP, NOP, NOP, EOL) and set IHL = 6.
    let mut pkt = Vec::new();
    pkt.extend_from_slice(&raw[..20]);
    pkt.extend_from_slice(&[1, 1, 1, 0]);
    pkt.extend_from_slice(&raw[20..]);
    pkt[0] = 0x46;
    let total = pkt.len() as u16;
    pkt[2..4].copy_from_slice(&total.to_be_bytes());
    pkt[10..12].copy_from_slice(&[0, 0]);
    let sum = tuntcp::wire::checksum_finish(tuntcp::wire::checksum_add(0, &pkt[..24]));
    pkt[10..12].copy_from_slice(&sum.to_be_bytes());
    t.send_raw(at(0), &pkt);
    t.expect(at(0), seg().flags(TcpFlags::SYN | TcpFlags::ACK).ack(1001));
}

#[test]
fn syn_split_into_two_fragments_is_reassembled() {
    let mut t = Harness::server(80);
    let raw = t.build(&seg().syn().seq(1000).mss(1460).data(&[0xab; 40]));
    let ip_payload = &raw[20..];
    let (first, second) = ip_payload.split_at(16); // offsets in 8-byte units
    let frag = |payload: &[u8], offset: u16, more: bool| {
        let mut p = raw[..20].to_vec();
        p.extend_from_slice(payload);
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        let flags_off = (offset / 8) | if more { 0x2000 } else { 0 };
        p[6..8].copy_from_slice(&flags_off.to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let sum = tuntcp::wire::checksum_finish(tuntcp::wire::checksum_add(0, &p[..20]));
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p
    };
    let f2 = frag(second, 16, false);
    let f1 = frag(first, 0, true);
    assert!(matches!(Packet::parse(&f1), Ok(Packet::Fragment(_))));
    t.send_raw(at(0), &f2);
    t.send_raw(at(1), &f1);
    // Data on a SYN is not acknowledged (it comes again): ACK = SEQ + 1.
    t.expect(at(1), seg().flags(TcpFlags::SYN | TcpFlags::ACK).ack(1001));
}

#[test]
fn must_49_must_48_ttl_and_tos_settable_per_connection() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.stack.with_connection(h, |c| {
        c.set_ttl(7);
        c.set_tos(0xB8);
    });
    t.flush();
    let syn = t.expect(at(0), seg().flags(TcpFlags::SYN));
    assert_eq!(syn.ip.ttl, 7);
    assert_eq!(syn.ip.tos, 0xB8);
    let mut t2 = Harness::server(80);
    t2.send(at(0), seg().syn().seq(1));
    let sa = t2.expect(at(0), seg().flags(TcpFlags::SYN | TcpFlags::ACK));
    assert_eq!(sa.ip.ttl, 64, "non-zero default TTL");
}

#[test]
fn must_2_must_45_must_65_must_68_must_69_every_emitted_segment_is_well_formed() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000).ts(1, 0).sack_perm().ws(2));
    t.stack.send(h, &[1u8; 2501]).unwrap(); // odd length
    t.send(
        at(1),
        seg()
            .ack_flag()
            .seq(1001)
            .ack(iss + 1)
            .data(&[2; 333])
            .ts(2, 1),
    );
    t.send(
        at(2),
        seg()
            .ack_flag()
            .seq(1501)
            .ack(iss + 1)
            .data(&[3; 100])
            .ts(3, 1),
    );
    t.stack.close(h);
    t.advance(2000);
    assert!(t.raw_out.len() >= 5, "{} packets", t.raw_out.len());
    for raw in &t.raw_out {
        // MUST-2: both checksums verify (our parser checks them).
        let s = Segment::parse(raw).expect("checksums verify");
        // MUST-45: one local address throughout.
        assert_eq!(s.src, t.us);
        if !s.flags.syn() {
            assert_eq!(s.options.mss, None, "MUST-65: MSS only on SYNs: {s}");
        }
        let ip = Ipv4Packet::parse(raw).unwrap();
        let tcp = ip.payload;
        let hdr_len = usize::from(tcp[12] >> 4) * 4;
        let opts = &tcp[20..hdr_len];
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                0 => {
                    assert!(
                        opts[i..].iter().all(|&b| b == 0),
                        "MUST-69: zero padding after EOL"
                    );
                    break;
                }
                1 => i += 1,
                _ => {
                    let len = usize::from(opts[i + 1]);
                    assert!(len >= 2 && i + len <= opts.len(), "MUST-68: option length");
                    i += len;
                }
            }
        }
    }
}

#[test]
fn must_1_rec_1_window_is_unsigned_and_scaled_in_32_bits() {
    let mut cfg = Harness::config();
    cfg.tcp.send_buffer = 256 * 1024; // fixed: the 200 KB write fits at once
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000).ws(7).win(0xFFFF));
    t.send(at(1), seg().ack_flag().seq(1001).ack(iss + 1).win(0xFFFF));
    t.stack.send(h, &vec![0u8; 200_000]).unwrap();
    t.flush();
    let sent: usize = t.drain().iter().map(|s| s.payload.len()).sum();
    // cwnd (10 segments) limits the first flight, not a negative or truncated window.
    assert_eq!(sent, 10 * 1000);
    t.send(
        at(2),
        seg().ack_flag().seq(1001).ack(iss + 1 + 10_000).win(0x8000),
    );
    let more: usize = t.drain().iter().map(|s| s.payload.len()).sum();
    assert!(
        more > 10_000,
        "window 0x8000 << 7 is read as 4 MiB, not negative"
    );
}

#[test]
fn must_41_must_42_listen_leaves_existing_connections_alone() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.flush();
    let syn = t.expect(at(0), seg().flags(TcpFlags::SYN));
    // MUST-42: listening on the port of a connection in SYN-SENT works.
    t.stack
        .listen(syn.src.port(), 8)
        .expect("listen beside SYN-SENT");
    assert_eq!(t.state(h), State::SynSent);
    t.us = syn.src;
    // Another peer's SYN to that port gets a SYN-ACK.
    let other = SocketAddrV4::new(PEER, 7777);
    t.send(at(1), seg().syn().seq(42).from(other));
    t.expect(
        at(1),
        seg().flags(TcpFlags::SYN | TcpFlags::ACK).ack(43).to(other),
    );
    // MUST-41: the first connection still completes.
    t.send(at(2), seg().syn().ack_flag().seq(9000).ack(syn.seq + 1));
    assert_eq!(t.state(h), State::Established);
    assert_eq!(
        t.stack.listen(syn.src.port(), 8),
        Err(tuntcp::stack::OpenError::AddrInUse)
    );
}
