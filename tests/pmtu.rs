//! Path MTU discovery (RFC 1191, RFC 5927 §7.3): ICMP "fragmentation needed" lowers a
//! connection's MSS, what no longer fits is resent in smaller pieces, forged messages do
//! not get through, and the per-destination cache starts new connections low.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use support::*;
use tuntcp::stack::StackConfig;
use tuntcp::wire::{IcmpMessage, TcpFlags};

/// The IPv4 header and first 8 TCP octets of a packet we sent, as a router quotes it.
fn quote(raw: &[u8]) -> Vec<u8> {
    raw[..28].to_vec()
}

/// ICMP Dest Unreachable code 4 ("fragmentation needed and DF set", RFC 1191 §4).
fn frag_needed(next_hop_mtu: u16, original: &[u8]) -> Vec<u8> {
    icmp_packet(IcmpMessage::DestUnreachable {
        code: 4,
        next_hop_mtu,
        original,
    })
}

/// `quote` with the quoted sequence number replaced.
fn with_seq(q: &[u8], seq: u32) -> Vec<u8> {
    let mut q = q.to_vec();
    q[24..28].copy_from_slice(&seq.to_be_bytes());
    q
}

fn counter(t: &Harness, name: &str) -> u64 {
    t.stack.counters().get(name).expect("a counter")
}

#[test]
fn frag_needed_lowers_the_mss_and_the_big_segments_go_again_in_smaller_pieces() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1460));
    let a = iss + 1;
    t.stack.send(h, &[7; 4000]).unwrap();
    t.flush();
    t.expect(0, seg().seq(a).len(1460));
    t.expect(0, seg().seq(a + 1460).len(1460));
    t.expect(
        0,
        seg()
            .seq(a + 2920)
            .len(1080)
            .flags(TcpFlags::ACK | TcpFlags::PSH),
    );
    let first = t.raw_out[t.raw_out.len() - 3].clone();
    let retrans = counter(&t, "TcpRetransSegs");
    let cwnd = t.stack.connection(h).unwrap().cwnd();
    // A router on the path carries 1000-octet datagrams at most.
    t.send_raw(at(10), &frag_needed(1000, &quote(&first)));
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.path_mtu(), 1000);
    assert_eq!(c.effective_mss(), 960, "MTU - 40, no options");
    assert_eq!(c.info(instant(10)).pmtu, 1000, "ss -i pmtu");
    // No congestion window cut (tcp_simple_retransmit): still 10 segments, now of 960.
    assert_eq!((cwnd / 1460, c.cwnd() / 960), (10, 10));
    assert_eq!(c.ssthresh(), u32::MAX, "no congestion event");
    // At once, go-back-N in 960-octet pieces.
    for (i, len) in [960, 960, 960, 960, 160].into_iter().enumerate() {
        t.expect(10, seg().seq(a + 960 * i as u32).len(len));
    }
    t.expect_nothing_until(at(20));
    assert_eq!(counter(&t, "TcpRetransSegs") - retrans, 5);
    t.send(at(30), seg().seq(1001).ack(a + 4000));
    assert_eq!(t.stack.connection(h).unwrap().info(instant(30)).unacked, 0);
    // New data keeps the new size.
    t.stack.send(h, &[8; 2000]).unwrap();
    t.flush();
    t.expect(30, seg().seq(a + 4000).len(960));
    t.expect(30, seg().seq(a + 4960).len(960));
    t.expect(30, seg().seq(a + 5920).len(80));
}

#[test]
fn frag_needed_with_rack_resends_only_the_segments_that_no_longer_fit() {
    let mut t = Harness::server(80);
    // RTT 50 ms: the tail loss probe (2 RTT) stays out of the way.
    let (h, iss) = t.establish_rtt(0, 50, 1000, seg().mss(1460).sack_perm());
    let a = iss + 1;
    // One segment that fits the coming MTU (500 octets), then two that do not.
    t.stack.send(h, &[1; 500]).unwrap();
    t.flush();
    t.expect(50, seg().seq(a).len(500));
    t.stack.send(h, &[2; 2920]).unwrap();
    t.flush();
    t.expect(50, seg().seq(a + 500).len(1460));
    t.expect(50, seg().seq(a + 1960).len(1460));
    let big = t.raw_out.last().unwrap().clone();
    t.send_raw(at(60), &frag_needed(1000, &quote(&big)));
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.effective_mss(), 960);
    assert_eq!(c.ssthresh(), u32::MAX, "no congestion event");
    // The two 1460-octet segments, cut at the new MSS; the 500-octet one stays in flight.
    t.expect(60, seg().seq(a + 500).len(960));
    t.expect(60, seg().seq(a + 1460).len(500));
    t.expect(60, seg().seq(a + 1960).len(960));
    t.expect(60, seg().seq(a + 2920).len(500));
    t.expect_nothing_until(at(100));
    t.send(at(110), seg().seq(1001).ack(a + 3420));
    assert_eq!(t.stack.connection(h).unwrap().info(instant(110)).unacked, 0);
    assert_eq!(
        counter(&t, "TcpExtTCPFastRetrans"),
        0,
        "not a fast recovery"
    );
}

#[test]
fn forged_frag_needed_outside_the_window_or_below_the_floor_does_not_get_through() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1460));
    let a = iss + 1;
    t.stack.send(h, &[7; 1460]).unwrap();
    t.flush();
    t.expect(0, seg().seq(a).len(1460));
    let q = quote(t.raw_out.last().unwrap());
    // RFC 5927 §4.1: a blind attacker guesses the sequence number.
    for (i, seq) in [
        iss,
        a + 1460,
        a.wrapping_add(0x4000_0000),
        a.wrapping_sub(100),
    ]
    .into_iter()
    .enumerate()
    {
        t.send_raw(at(1 + i as u64), &frag_needed(576, &with_seq(&q, seq)));
        assert_eq!(t.stack.connection(h).unwrap().path_mtu(), 1500, "seq {seq}");
    }
    assert_eq!(counter(&t, "TcpExtOutOfWindowIcmps"), 4);
    assert_eq!(
        t.stack.cached_path_mtu(instant(5), IpAddr::V4(PEER)),
        None,
        "the cache learns nothing from them either"
    );
    t.expect_nothing_until(at(100));
    // In the window, a next-hop MTU below the floor (68, or 0 from a pre-RFC 1191 router)
    // lowers the MTU only to min_pmtu 552 (Linux's rule): MSS 512, never less.
    t.send_raw(at(101), &frag_needed(68, &q));
    let c = t.stack.connection(h).unwrap();
    assert_eq!((c.path_mtu(), c.effective_mss()), (552, 512));
    t.expect(101, seg().seq(a).len(512));
    t.expect(101, seg().seq(a + 512).len(512));
    t.expect(101, seg().seq(a + 1024).len(436));
    t.send_raw(at(102), &frag_needed(0, &q));
    t.send_raw(at(103), &frag_needed(1, &q));
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 512);
    // A larger value never raises it (RFC 1191 §6.3).
    t.send_raw(at(104), &frag_needed(1400, &q));
    assert_eq!(t.stack.connection(h).unwrap().path_mtu(), 552);
    t.expect_nothing_until(at(150));
    assert_eq!(
        t.stack.cached_path_mtu(instant(150), IpAddr::V4(PEER)),
        Some(552)
    );
}

#[test]
fn frag_needed_with_timestamps_leaves_room_for_the_options() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1460).ts(100, 0));
    t.stack.send(h, &[7; 1448]).unwrap();
    t.flush();
    t.expect(0, seg().seq(iss + 1).len(1448));
    let q = quote(t.raw_out.last().unwrap());
    t.send_raw(at(5), &frag_needed(1280, &q));
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 1228);
    t.expect(5, seg().seq(iss + 1).len(1228));
    t.expect(5, seg().seq(iss + 1229).len(220));
}

#[test]
fn a_new_connection_to_the_same_destination_starts_with_the_cached_mtu() {
    let mut t = Harness::with_config(Harness::config());
    let (h, iss) = t.connect(0, 5000, seg().mss(1460).win(65535));
    t.stack.send(h, &[1; 1460]).unwrap();
    t.flush();
    t.expect(0, seg().seq(iss + 1).len(1460));
    let q = quote(t.raw_out.last().unwrap());
    t.send_raw(at(10), &frag_needed(1200, &q));
    t.expect(10, seg().seq(iss + 1).len(1160));
    t.expect(10, seg().seq(iss + 1161).len(300));

    t.send(at(11), seg().seq(5001).ack(iss + 1461));
    // A second connection to the same host: its SYN still offers the link's MSS (what we
    // can receive), but it sends at most 1160 octets per segment from the start.
    t.advance(20);
    let h2 = t.stack.connect(instant(20), t.peer_a()).unwrap();
    t.flush();
    let syn = t.expect(20, seg().flags(TcpFlags::SYN).mss(1460));
    assert_eq!(t.stack.connection(h2).unwrap().path_mtu(), 1200);
    t.us = syn.src;
    t.send(
        at(21),
        seg().syn().ack_flag().seq(9000).ack(syn.seq + 1).mss(1460),
    );
    t.expect(21, seg().ack(9001));
    assert_eq!(t.stack.connection(h2).unwrap().effective_mss(), 1160);
    t.stack.send(h2, &[2; 1460]).unwrap();
    t.flush();
    t.expect(21, seg().seq(syn.seq + 1).len(1160));
    t.expect(21, seg().seq(syn.seq + 1161).len(300));

    // Another destination is not affected.
    t.peer = SocketAddrV4::new(Ipv4Addr::new(10, 66, 0, 3), 80);
    let h3 = t.stack.connect(instant(30), t.peer).unwrap();
    assert_eq!(t.stack.connection(h3).unwrap().path_mtu(), 1500);
}

#[test]
fn a_passive_open_from_a_cached_destination_starts_low_too() {
    let mut t = Harness::server(80);
    t.stack
        .set_route_mtu(instant(0), IpAddr::V4(PEER), Some(1000));
    let (h, iss) = t.establish(0, 1000, seg().mss(1460));
    let c = t.stack.connection(h).unwrap();
    assert_eq!((c.path_mtu(), c.effective_mss()), (1000, 960));
    t.stack.send(h, &[1; 1000]).unwrap();
    t.flush();
    t.expect(0, seg().seq(iss + 1).len(960));
}

#[test]
fn the_path_mtu_cache_is_bounded_and_expires() {
    let cfg = StackConfig {
        pmtu_cache_size: 2,
        ..Harness::config()
    };
    let mut t = Harness::with_config(cfg);
    let peers = [1u8, 3, 4].map(|n| SocketAddrV4::new(Ipv4Addr::new(10, 66, 0, n), 80));
    for (i, p) in peers.into_iter().enumerate() {
        let ms = 1000 * i as u64;
        t.peer = p;
        let (h, iss) = t.connect(ms, 5000, seg().mss(1460));
        t.stack.send(h, &[1; 1460]).unwrap();
        t.flush();
        t.expect(ms, seg().seq(iss + 1).len(1460));
        let q = quote(t.raw_out.last().unwrap());
        let mut icmp = frag_needed(1000 + i as u16, &q);
        icmp[12..16].copy_from_slice(&p.ip().octets()); // from the peer's side of the path
        fix_ip_header_checksum(&mut icmp);
        t.send_raw(ms + 1, &icmp);
        assert_eq!(t.stack.connection(h).unwrap().path_mtu(), 1000 + i as u32);
        t.send(ms + 2, seg().seq(5001).ack(iss + 1461));
        t.drain();
        assert!(t.stack.path_mtu_cache_len() <= 2);
    }
    let ip = |n: usize| IpAddr::V4(*peers[n].ip());
    assert_eq!(
        t.stack.cached_path_mtu(instant(2500), ip(0)),
        None,
        "pushed out"
    );
    assert_eq!(t.stack.cached_path_mtu(instant(2500), ip(1)), Some(1001));
    assert_eq!(t.stack.cached_path_mtu(instant(2500), ip(2)), Some(1002));
    // mtu_expires (10 minutes) after each was lowered, it is forgotten.
    assert_eq!(t.stack.cached_path_mtu(instant(600_999), ip(1)), Some(1001));
    assert_eq!(t.stack.cached_path_mtu(instant(601_001), ip(1)), None);
    assert_eq!(t.stack.cached_path_mtu(instant(601_001), ip(2)), Some(1002));
    assert_eq!(t.stack.cached_path_mtu(instant(602_001), ip(2)), None);
    t.peer = peers[2];
    t.advance(602_001);
    let h = t
        .stack
        .connect(instant(602_001), SocketAddrV4::new(*peers[2].ip(), 81))
        .unwrap();
    assert_eq!(
        t.stack.connection(h).unwrap().path_mtu(),
        1500,
        "starts over"
    );
}

/// Recomputes the IPv4 header checksum of a 20-byte header.
fn fix_ip_header_checksum(p: &mut [u8]) {
    p[10..12].copy_from_slice(&[0, 0]);
    let s = tuntcp::wire::checksum_finish(tuntcp::wire::checksum_add(0, &p[..20]));
    p[10..12].copy_from_slice(&s.to_be_bytes());
}
