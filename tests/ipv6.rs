//! IPv6 through the stack (RFC 8200, RFC 4443, RFC 9293 over IPv6): the handshake both
//! ways, data, close, RSTs for closed ports, MSS = MTU - 60, flow labels (RFC 6437),
//! listeners for both families and IPV6_V6ONLY, ICMPv6 echo, Parameter Problem with its
//! rate limit, ICMPv6 errors steered to connections. The traces read like the IPv4 ones
//! (tests/handshake.rs, tests/ip_icmp.rs), with an IPv6 peer: `Harness::server6`.

mod support;

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use support::ip6::*;
use support::*;
use tuntcp::stack::Stack;
use tuntcp::tcp::{Error, State};
use tuntcp::wire::{
    Icmpv6Message, Icmpv6Packet, Ip6Meta, Ipv6Packet, Packet6, TcpFlags, IPPROTO_TCP,
};

const SYNACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
const RSTACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);

fn v6(ip: Ipv6Addr, port: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0))
}

/// An IPv6 packet from the peer to us with `next_header` and `payload` as given.
fn raw6(next_header: u8, payload: &[u8]) -> Vec<u8> {
    let p = Ipv6Packet {
        src: PEER6,
        dst: US6,
        next_header,
        meta: Ip6Meta::default(),
        payload,
    };
    let mut buf = vec![0; p.buffer_len()];
    p.emit(&mut buf).unwrap();
    buf
}

/// The ICMPv6 messages the stack sent, parsed.
fn icmp_out(t: &Harness) -> Vec<Icmpv6Packet<'_>> {
    t.raw_out
        .iter()
        .filter_map(|b| match Packet6::parse(b) {
            Ok(Packet6::Icmp(p)) => Some(p),
            _ => None,
        })
        .collect()
}

#[test]
fn passive_open_over_ipv6_with_mss_mtu_minus_60() {
    let mut t = Harness::server6(80);
    t.send(at(0), seg().syn().seq(1000).win(65535).mss(1440));
    // RFC 9293 §3.7.1: the MSS counts no IP or TCP header: 1500 - 40 - 20 over IPv6.
    let sa = t.expect(at(0), seg().flags(SYNACK).ack(1001).mss(1440));
    assert_eq!(sa.src, t.us, "from [fd66::2]:80");
    assert_eq!(sa.dst, t.peer);
    assert!(
        sa.line.starts_with("[fd66::2]:80 > [fd66::1]:5555 [S.]"),
        "{}",
        sa.line
    );
    t.send(at(10), seg().ack_flag().seq(1001).ack(sa.seq + 1));
    let h = t.stack.accept(80).expect("accepted");
    assert_eq!(t.state(h), State::Established);
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.remote(), t.peer);
    assert_eq!(c.local(), t.us);
    t.expect_nothing_until(at(5000));
}

#[test]
fn active_open_over_ipv6_from_our_ipv6_address() {
    let mut t = Harness::server6(80);
    let (h, iss) = t.connect(0, 7000, seg().mss(1440));
    let c = t.stack.connection(h).unwrap();
    assert_eq!(
        c.local().ip(),
        US6,
        "MUST-44: our IPv6 address is the source"
    );
    assert_eq!(c.remote(), t.peer);
    assert!(t.us.port() >= 32768, "an ephemeral port: {}", t.us);
    // The ISN is keyed over the 128-bit addresses: another peer address, another ISS.
    let mut u = Harness::server6(80);
    u.peer = v6("fd66::7".parse().unwrap(), 5555);
    let (_, iss2) = u.connect(0, 7000, seg().mss(1440));
    assert_ne!(iss, iss2);
}

#[test]
fn data_both_ways_and_close_over_ipv6() {
    let mut t = Harness::server6(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1440));
    t.send(
        at(10),
        seg()
            .ack_flag()
            .psh()
            .seq(1001)
            .ack(iss + 1)
            .data(b"GET / HTTP/1.0\r\n\r\n"),
    );
    t.expect_between(10, 300, seg().flags(TcpFlags::ACK).ack(1001 + 18));
    assert_eq!(t.read_all(h), b"GET / HTTP/1.0\r\n\r\n");
    // A write larger than one MSS leaves in segments of 1440 bytes at most.
    let body = vec![0x42u8; 3000];
    assert_eq!(t.stack.send(h, &body), Ok(3000));
    t.flush();
    let sent = t.drain();
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|s| s.payload.len() <= 1440),
        "MSS 1440 over IPv6"
    );
    assert_eq!(sent[0].payload.len(), 1440);
    let total: usize = sent.iter().map(|s| s.payload.len()).sum();
    assert_eq!(total, 3000);
    // RFC 6437: every packet of the flow carries one non-zero label.
    let label = sent[0].flow_label;
    assert_ne!(label, 0);
    assert!(sent.iter().all(|s| s.flow_label == label));
    t.send(at(40), seg().ack_flag().seq(1019).ack(iss + 1 + 3000));
    // Our close: FIN, the peer's FIN-ACK, our last ACK, TIME-WAIT.
    t.stack.close(h);
    t.flush();
    let fin = t.expect(
        at(40),
        seg().flags(TcpFlags::FIN | TcpFlags::ACK).seq(iss + 3001),
    );
    assert_eq!(fin.flow_label, label);
    t.send(
        at(50),
        seg()
            .flags(TcpFlags::FIN | TcpFlags::ACK)
            .seq(1019)
            .ack(iss + 3002),
    );
    t.expect(at(50), seg().flags(TcpFlags::ACK).seq(iss + 3002).ack(1020));
    assert!(t
        .stack
        .connections()
        .any(|(_, c)| c.state() == State::TimeWait && c.remote() == t.peer));
}

#[test]
fn ipv6_segment_to_closed_port_gets_rst_from_ipv6() {
    let mut t = Harness::server6(80);
    t.send(at(0), seg().syn().seq(500).to(v6(US6, 81)));
    let rst = t.expect(at(0), seg().flags(RSTACK).seq(0).ack(501));
    assert_eq!(rst.src, v6(US6, 81));
    assert_eq!(rst.dst, t.peer);
    assert_ne!(rst.flow_label, 0);
}

#[test]
fn one_listener_takes_both_families_and_v6only_refuses_ipv4() {
    let mut t = Harness::server6(80);
    t.send(at(0), seg().syn().seq(1000));
    t.expect(at(0), seg().flags(SYNACK).ack(1001));
    // The same port over IPv4.
    let v4peer = SocketAddr::from(std::net::SocketAddrV4::new(PEER, 6000));
    let v4us = SocketAddr::from(std::net::SocketAddrV4::new(US, 80));
    t.send(at(1), seg().syn().seq(2000).from(v4peer).to(v4us));
    let sa = t.expect(at(1), seg().flags(SYNACK).ack(2001));
    assert_eq!(sa.dst, v4peer);
    assert_eq!(sa.payload.len(), 0);
    assert_eq!(sa.options.mss, Some(1460), "MTU - 40 over IPv4");

    // IPV6_V6ONLY: IPv4 finds the port closed; IPv6 still opens.
    let mut u = Harness::server6(80);
    assert!(u.stack.set_listen_v6only(80, true));
    u.send(at(0), seg().syn().seq(2000).from(v4peer).to(v4us));
    let rst = u.expect(at(0), seg().flags(RSTACK).ack(2001));
    assert_eq!(rst.dst, v4peer);
    u.send(at(1), seg().syn().seq(1000));
    u.expect(at(1), seg().flags(SYNACK).ack(1001).mss(1440));
    assert!(
        !u.stack.set_listen_v6only(81, true),
        "nothing listens on 81"
    );
}

#[test]
fn icmpv6_echo_is_answered_byte_exact() {
    let mut t = Harness::server6(80);
    for (i, len) in [0usize, 1, 57, 1452].into_iter().enumerate() {
        let data: Vec<u8> = (0..len).map(|b| b as u8 ^ 0x5a).collect();
        t.send_raw(at(i as u64), &ping6(7, i as u16, &data));
        let raw = t.raw_out.last().expect("a reply").clone();
        let Ok(Packet6::Icmp(reply)) = Packet6::parse(&raw) else {
            panic!("not an ICMPv6 packet: {raw:02x?}");
        };
        assert_eq!((reply.src, reply.dst), (US6, PEER6));
        assert_eq!(
            reply.message,
            Icmpv6Message::EchoReply {
                ident: 7,
                seq: i as u16,
                data: &data
            }
        );
    }
    assert_eq!(t.raw_out.len(), 4);
}

#[test]
fn ipv6_not_for_us_or_from_nobody_is_dropped_silently() {
    let mut t = Harness::server6(80);
    // To another address, to multicast (an MLD report's all-routers), from ::, from us.
    let other = icmp6(
        PEER6,
        "fd66::3".parse().unwrap(),
        Icmpv6Message::EchoRequest {
            ident: 1,
            seq: 1,
            data: b"x",
        },
    );
    let mcast = icmp6(
        PEER6,
        "ff02::1".parse().unwrap(),
        Icmpv6Message::EchoRequest {
            ident: 1,
            seq: 2,
            data: b"x",
        },
    );
    let unspec = icmp6(
        Ipv6Addr::UNSPECIFIED,
        US6,
        Icmpv6Message::EchoRequest {
            ident: 1,
            seq: 3,
            data: b"x",
        },
    );
    let martian = icmp6(
        US6,
        US6,
        Icmpv6Message::EchoRequest {
            ident: 1,
            seq: 4,
            data: b"x",
        },
    );
    for (i, p) in [other, mcast, unspec, martian].iter().enumerate() {
        t.send_raw(at(i as u64), p);
    }
    // A UDP datagram to ff02::1 would draw a Parameter Problem if it were for us.
    let mut udp_mcast = raw6(17, &[0; 8]);
    udp_mcast[24..40].copy_from_slice(&"ff02::1".parse::<Ipv6Addr>().unwrap().octets());
    t.send_raw(at(5), &udp_mcast);
    t.flush();
    assert!(t.raw_out.is_empty(), "{:?}", t.trace);
}

#[test]
fn unknown_next_header_gets_parameter_problem_code_1_at_its_field() {
    let mut t = Harness::server6(80);
    // UDP (17): we run no UDP, so RFC 8200 §4 says Parameter Problem code 1, pointer 6 (the
    // fixed header's Next Header field).
    let udp = raw6(17, &[0x12, 0x34, 0x00, 0x35, 0, 8, 0, 0]);
    t.send_raw(at(0), &udp);
    let out = icmp_out(&t);
    assert_eq!(out.len(), 1, "{:?}", t.trace);
    assert_eq!((out[0].src, out[0].dst), (US6, PEER6));
    assert_eq!(
        out[0].message,
        Icmpv6Message::ParameterProblem {
            code: 1,
            pointer: 6,
            original: &udp
        }
    );
    // Never about an ICMPv6 error (RFC 4443 §2.4(e.1)): a Destination Unreachable whose
    // quote names no connection draws nothing.
    let du = icmp6(
        PEER6,
        US6,
        Icmpv6Message::DestUnreachable {
            code: 4,
            original: &udp,
        },
    );
    t.send_raw(at(1), &du);
    assert_eq!(icmp_out(&t).len(), 1);
}

#[test]
fn parameter_problems_are_rate_limited_rfc4443_2_4_f() {
    let mut t = Harness::server6(80);
    let udp = raw6(17, &[0; 8]);
    // A burst of 30 at one instant: 10 answered.
    for _ in 0..30 {
        t.send_raw(at(0), &udp);
    }
    assert_eq!(icmp_out(&t).len(), 10);
    // One more token per 100 ms.
    t.send_raw(at(50), &udp);
    assert_eq!(icmp_out(&t).len(), 10);
    t.send_raw(at(100), &udp);
    t.send_raw(at(100), &udp);
    assert_eq!(icmp_out(&t).len(), 11);
    // Time refills the bucket, to the burst and no further.
    for _ in 0..30 {
        t.send_raw(at(60_000), &udp);
    }
    assert_eq!(icmp_out(&t).len(), 21);
}

#[test]
fn icmpv6_port_unreachable_refuses_an_opening_connection() {
    let mut t = Harness::server6(80);
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.flush();
    let syn = t.expect(at(0), seg().flags(TcpFlags::SYN).mss(1440));
    assert_eq!(syn.src.ip(), US6);
    let quote = t.raw_out.last().unwrap().clone();
    // A quote whose sequence number is not ours is ignored (RFC 5927 §4.1).
    let mut stale = quote.clone();
    stale[40 + 4] ^= 0x80;
    let du = |q: &[u8]| {
        icmp6(
            PEER6,
            US6,
            Icmpv6Message::DestUnreachable {
                code: 4,
                original: q,
            },
        )
    };
    t.send_raw(at(10), &du(&stale));
    assert_eq!(t.state(h), State::SynSent);
    // Port unreachable (code 4) is hard: the open fails as refused.
    t.send_raw(at(20), &du(&quote));
    assert_eq!(t.state(h), State::Closed);
    let mut refused = false;
    while let Some(ev) = t.stack.poll_event(h) {
        refused |= ev == tuntcp::tcp::Event::Error(Error::Refused);
    }
    assert!(refused, "connect fails with Refused");
}

#[test]
fn icmpv6_no_route_is_soft_and_packet_too_big_only_lowers_the_mss() {
    let mut t = Harness::server6(80);
    let (h, _) = t.connect(0, 7000, seg().mss(1440));
    assert_eq!(t.stack.send(h, b"hello"), Ok(5));
    t.flush();
    let quote = t.raw_out.last().unwrap().clone();
    assert_eq!(quote[6], IPPROTO_TCP);
    t.send_raw(
        at(5),
        &icmp6(
            PEER6,
            US6,
            Icmpv6Message::DestUnreachable {
                code: 0,
                original: &quote,
            },
        ),
    );
    t.send_raw(
        at(6),
        &icmp6(
            PEER6,
            US6,
            Icmpv6Message::PacketTooBig {
                mtu: 1280,
                original: &quote,
            },
        ),
    );
    assert_eq!(
        t.state(h),
        State::Established,
        "MUST-56: soft errors do not abort"
    );
    // RFC 8201 §4: the path MTU falls to 1280, the MSS to 1280 - 60.
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 1220);
}

/// Packet Too Big (RFC 8201) quoting a segment in flight lowers the path MTU and the MSS,
/// and what no longer fits goes again in pieces that do (no window cut, as IPv4's Frag
/// Needed); one quoting a sequence number outside SND.UNA..SND.NXT (RFC 5927 §4.1), or
/// naming an MTU below IPv6's 1280 minimum (RFC 8200 §5), cannot push it lower.
#[test]
fn packet_too_big_lowers_the_mss_and_resends_what_no_longer_fits() {
    let mut t = Harness::server6(80);
    let (h, _) = t.connect(0, 7000, seg().mss(1440).win(60_000));
    assert_eq!(t.stack.send(h, &[7u8; 2880]), Ok(2880));
    t.flush();
    let first = t.raw_out[t.raw_out.len() - 2].clone();
    let sent = t.drain();
    assert_eq!(
        sent.iter().map(|s| s.payload.len()).collect::<Vec<_>>(),
        vec![1440, 1440]
    );
    let snd_una = sent[0].seq;
    // A forged one: its quote's sequence number lies past SND.NXT.
    let mut forged = first.clone();
    let bad = (snd_una + 100_000).to_be_bytes();
    forged[40 + 4..40 + 8].copy_from_slice(&bad);
    let ptb = |mtu, quote: &[u8]| {
        icmp6(
            PEER6,
            US6,
            Icmpv6Message::PacketTooBig {
                mtu,
                original: quote,
            },
        )
    };
    t.send_raw(at(5), &ptb(1300, &forged));
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 1440);
    assert!(
        t.drain().is_empty(),
        "nothing resent for a forged Packet Too Big"
    );
    // The real one: below the minimum, so 1280 is taken.
    t.send_raw(at(6), &ptb(1000, &first));
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 1220);
    let resent = t.drain();
    let lens: Vec<_> = resent.iter().map(|s| s.payload.len()).collect();
    assert!(lens.iter().all(|&n| n <= 1220), "{lens:?}");
    assert_eq!(
        lens.iter().sum::<usize>(),
        2880,
        "both segments again, in pieces"
    );
    assert_eq!(resent[0].seq, snd_una);
}

#[test]
fn ipv6_disabled_drops_everything_ipv6() {
    let cfg = tuntcp::stack::StackConfig {
        addr6: None,
        ..Harness::config()
    };
    let mut s = Stack::new(cfg);
    s.listen(80, 8).unwrap();
    s.handle_packet(instant(0), &ping6(1, 1, b"x"));
    let mut buf = [0u8; 2048];
    assert_eq!(s.poll_transmit(instant(0), &mut buf), None);
    assert_eq!(
        s.connect(instant(0), v6(PEER6, 80)).err(),
        Some(tuntcp::stack::OpenError::AddrNotAvailable)
    );
}

#[test]
fn must_46_connect_to_ipv6_multicast_or_mapped_is_refused() {
    let mut s = Stack::new(Harness::config());
    for a in ["ff02::1", "::", "::1", "::ffff:10.66.0.1"] {
        let ip: Ipv6Addr = a.parse().unwrap();
        assert_eq!(
            s.connect(instant(0), v6(ip, 80)).err(),
            Some(tuntcp::stack::OpenError::InvalidAddress),
            "{a}"
        );
    }
}

#[test]
fn ipv6_traffic_is_not_counted_in_ipv4s_ip_counters() {
    let mut t = Harness::server6(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1440));
    t.send_raw(at(1), &ping6(1, 1, b"x"));
    assert_eq!(t.stack.send(h, b"data"), Ok(4));
    t.flush();
    t.send(at(2), seg().ack_flag().seq(1001).ack(iss + 5));
    let c = t.stack.counters();
    // Tcp* counters are shared by both families (as Linux's); Ip* are IPv4's.
    assert!(c.tcp_out_segs >= 2 && c.tcp_in_segs >= 3, "{c:?}");
    assert_eq!((c.ip_out_requests, c.ip_ext_out_octets), (0, 0));
    assert_eq!((c.ip_in_receives, c.ip_in_delivers), (0, 0));
}

#[test]
fn syn_cookie_round_trip_over_ipv6() {
    // A SYN queue of one: the second IPv6 SYN gets a cookie, keyed over 128-bit addresses.
    let cfg = tuntcp::stack::StackConfig {
        max_syn_backlog: 1,
        ..Harness::config()
    };
    let mut t = Harness::with_config(cfg);
    t.stack.listen(80, 64).unwrap();
    t.us = v6(US6, 80);
    t.peer = v6(PEER6, 5555);
    t.send(at(0), seg().syn().seq(100));
    t.expect(at(0), seg().flags(SYNACK).ack(101));
    let p2 = v6(PEER6, 5556);
    t.send(at(10), seg().syn().seq(5000).mss(1440).ts(777, 0).from(p2));
    let sa = t.expect(at(10), seg().flags(SYNACK).ack(5001).mss(1440).to(p2));
    assert_eq!(t.stack.counters().tcp_ext_syncookies_sent, 1);
    assert_eq!(
        t.stack.connections().count(),
        1,
        "no state kept for the cookie"
    );
    let ts = sa.options.timestamps.expect("TS carries the options");
    // The cookie does not validate from another IPv6 address.
    let other = v6("fd66::9".parse().unwrap(), 5556);
    t.send(
        at(20),
        seg()
            .ack_flag()
            .seq(5001)
            .ack(sa.seq + 1)
            .ts(778, ts.tsval)
            .from(other),
    );
    assert_eq!(t.stack.counters().tcp_ext_syncookies_failed, 1);
    t.send(
        at(30),
        seg()
            .ack_flag()
            .seq(5001)
            .ack(sa.seq + 1)
            .ts(778, ts.tsval)
            .data(b"GET /")
            .from(p2),
    );
    assert_eq!(t.stack.counters().tcp_ext_syncookies_recv, 1);
    let h = t.stack.accept(80).expect("cookie connection accepted");
    assert_eq!(t.stack.connection(h).unwrap().remote(), p2);
    assert_eq!(t.read_all(h), b"GET /");
}

#[test]
fn offload_sends_ipv6_super_segments_with_checksums_the_device_completes() {
    let cfg = tuntcp::stack::StackConfig {
        offload: true,
        ..Harness::config()
    };
    let mut t = Harness::with_config(cfg);
    t.stack.listen(80, 8).unwrap();
    t.us = v6(US6, 80);
    t.peer = v6(PEER6, 5555);
    let (h, iss) = t.establish(0, 1000, seg().mss(1440).win(65535));
    let body = vec![7u8; 20_000];
    assert_eq!(t.stack.send(h, &body), Ok(20_000));
    // poll_transmit completes the partial checksum at offset 40: Packet6::parse verifies it.
    t.flush();
    let sent = t.drain();
    assert!(
        sent.iter()
            .any(|s| s.payload.len() > 1440 && s.payload.len() % 1440 == 0),
        "a super-segment of whole MSS: {:?}",
        sent.iter().map(|s| s.payload.len()).collect::<Vec<_>>()
    );
    assert_eq!(sent[0].seq, iss + 1);
    // The gather path hands the device headers with a partial checksum for IPv6 too.
    let first: usize = sent.iter().map(|s| s.payload.len()).sum();
    let ack = |n: usize| {
        seg()
            .ack_flag()
            .seq(1001)
            .ack(iss + 1 + n as u32)
            .win(65535)
    };
    t.send(at(10), ack(first));
    let rest: usize = t.drain().iter().map(|s| s.payload.len()).sum();
    assert_eq!(first + rest, 20_000);
    t.send(at(20), ack(20_000));
    t.drain();
    assert_eq!(t.stack.send(h, &body), Ok(20_000));
    let mut head = vec![0u8; 65536];
    let o = t
        .stack
        .poll_transmit_gather(instant(20), &mut head)
        .expect("new data to send");
    assert!(o.tx.csum_partial && o.tx.gso_size == 1440, "{:?}", o.tx);
    assert_eq!(o.head[0] >> 4, 6);
    assert!(o.payload.len() > 1440);
}

#[test]
fn fragmented_echo_request_is_reassembled_in_any_order() {
    let mut t = Harness::server6(80);
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let whole = ping6(9, 1, &data);
    let mut frags = fragments6(&whole, 0x1234, &[1232, 2464]);
    frags.reverse();
    for (i, f) in frags.iter().enumerate() {
        t.send_raw(at(i as u64), f);
    }
    let out = icmp_out(&t);
    assert_eq!(out.len(), 1, "{:?}", t.trace);
    assert_eq!(
        out[0].message,
        Icmpv6Message::EchoReply {
            ident: 9,
            seq: 1,
            data: &data
        }
    );
}

#[test]
fn fragmented_tcp_segment_reaches_its_listener() {
    let mut t = Harness::server6(80);
    let syn = t.build(&seg().syn().seq(1000).mss(1440).data(&[0u8; 0]));
    // A SYN is small; cut its 24 TCP bytes into 8 + 16.
    for (i, f) in fragments6(&syn, 77, &[8]).iter().enumerate() {
        t.send_raw(at(i as u64), f);
    }
    t.expect(at(1), seg().flags(SYNACK).ack(1001).mss(1440));
}

#[test]
fn rfc5722_overlapping_fragments_drop_the_packet_silently() {
    let mut t = Harness::server6(80);
    let whole = ping6(9, 2, &[0x55; 64]);
    let mut frags = fragments6(&whole, 5, &[16, 48]);
    // A fragment at 8..48 overlaps both neighbours' data.
    let overlap = fragments6(&whole, 5, &[8, 48])[1].clone();
    frags.insert(1, overlap);
    for (i, f) in frags.iter().enumerate() {
        t.send_raw(at(i as u64), f);
    }
    assert!(icmp_out(&t).is_empty(), "{:?}", t.trace);
    // The identification is free again: a clean copy reassembles.
    for f in fragments6(&whole, 5, &[16, 48]) {
        t.send_raw(at(10), &f);
    }
    assert_eq!(icmp_out(&t).len(), 1);
}

#[test]
fn reassembly_times_out_after_60s_with_time_exceeded_only_if_fragment_0_came() {
    let mut t = Harness::server6(80);
    let whole = ping6(9, 3, &[1; 200]);
    let frags = fragments6(&whole, 40, &[96]);
    t.send_raw(at(0), &frags[0]); // fragment 0 only
    let other = fragments6(&ping6(9, 4, &[2; 200]), 41, &[96]);
    t.send_raw(at(0), &other[1]); // the last fragment only
    t.expect_nothing_until(at(59_999));
    assert!(icmp_out(&t).is_empty());
    t.advance(60_000);
    let out = icmp_out(&t);
    assert_eq!(out.len(), 1, "{:?}", t.trace);
    let Icmpv6Message::TimeExceeded { code: 1, original } = out[0].message else {
        panic!("{:?}", out[0]);
    };
    assert_eq!(original, &frags[0][..], "the first fragment, quoted");
    assert_eq!(out[0].dst, PEER6);
}
