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
    t.peer = SocketAddrV4::new(Ipv4Addr::new(10, 66, 0, 3), 80).into();
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
        t.peer = p.into();
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
    t.peer = peers[2].into();
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

// ---- PLPMTUD (RFC 4821), as Linux's tcp_mtu_probing ----

fn probing_config(mode: u8) -> StackConfig {
    let mut cfg = Harness::config();
    cfg.tcp.mtu_probing = mode;
    cfg.tcp.initial_cwnd = 11; // Linux probes only with cwnd >= 11 segments
    cfg
}

/// Active open with MSS 1460 offered by the peer, no options; `n` bytes queued at once.
fn probing_client(mode: u8, n: usize) -> (Harness, tuntcp::stack::SocketHandle, u32) {
    let mut t = Harness::with_config(probing_config(mode));
    let (h, iss) = t.connect(0, 5000, seg().mss(1460));
    t.stack.send(h, &vec![3; n]).unwrap();
    t.flush();
    (t, h, iss)
}

#[test]
fn plpmtud_mode_2_starts_at_base_mss_and_an_acked_probe_raises_the_mss() {
    let (mut t, h, iss) = probing_client(2, 40_000);
    let a = iss + 1;
    // search_low 1064 (base_mss 1024 + 40), search_high 1500: the probe carries
    // (1064 + 1500) / 2 - 40 = 1242 octets, then data at base_mss.
    let out = t.drain();
    assert_eq!(
        (out[0].seq, out[0].payload.len()),
        (a, 1242),
        "the probe first"
    );
    assert!(out.len() > 2);
    for (i, s) in out[1..].iter().enumerate() {
        assert_eq!((s.seq, s.payload.len()), (a + 1242 + 1024 * i as u32, 1024));
    }
    let sent: u32 = out.iter().map(|s| s.payload.len() as u32).sum();
    assert_eq!(counter(&t, "TcpExtTCPMTUPSuccess"), 0);
    t.send(at(50), seg().seq(5001).ack(a + sent));
    assert_eq!(counter(&t, "TcpExtTCPMTUPSuccess"), 1);
    let c = t.stack.connection(h).unwrap();
    assert_eq!(
        c.info(instant(50)).mss,
        1242,
        "the probe's size works: it is the MSS"
    );
    assert_eq!(c.ssthresh(), u32::MAX);
    // The search goes on above it: (1282 + 1500) / 2 - 40 = 1351.
    let out = t.drain();
    assert_eq!((out[0].seq, out[0].payload.len()), (a + sent, 1351));
    assert!(out[1..].iter().all(|s| s.payload.len() == 1242));
}

#[test]
fn plpmtud_a_lost_probe_lowers_the_search_and_goes_again_in_smaller_pieces() {
    let (mut t, h, iss) = probing_client(2, 40_000);
    let a = iss + 1;
    let out = t.drain();
    assert_eq!(out[0].payload.len(), 1242);
    let end = |v: &[Owned]| {
        v.iter()
            .map(|s| s.seq + s.payload.len() as u32)
            .max()
            .unwrap()
    };
    let sent = end(&out);
    // The probe is dropped on the path: three duplicate ACKs.
    for i in 0..3 {
        t.send(at(50 + i), seg().seq(5001).ack(a));
    }
    assert_eq!(counter(&t, "TcpExtTCPMTUPFail"), 1);
    assert_eq!(
        counter(&t, "TcpExtTCPRenoRecovery"),
        0,
        "not a congestion signal"
    );
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.ssthresh(), u32::MAX, "no cwnd cut");
    assert_eq!(c.info(instant(52)).mss, 1024);
    // Resent from SND.UNA in pieces of the MSS known to work (after the new segments
    // limited transmit sent on the first two duplicates).
    let all = t.drain();
    let sent = sent.max(end(&all));
    let again: Vec<_> = all.into_iter().skip_while(|s| s.seq != a).collect();
    assert_eq!((again[0].seq, again[0].payload.len()), (a, 1024));
    assert_eq!((again[1].seq, again[1].payload.len()), (a + 1024, 1024));
    assert!(counter(&t, "TcpRetransSegs") >= 2);
    // search_high is now 1281: the next probe is (1064 + 1281) / 2 - 40 = 1132 once all
    // is acknowledged.
    let top = end(&again).max(sent);
    t.send(at(100), seg().seq(5001).ack(top));
    let out = t.drain();
    let lines: Vec<&str> = out.iter().map(|s| s.line.as_str()).collect();
    assert_eq!(
        (out[0].seq, out[0].payload.len()),
        (top, 1132),
        "{lines:#?}"
    );
}

/// The lengths of the segments sent at SND.UNA = `a` while nothing is acknowledged for
/// 30 s (the original and its retransmissions).
fn black_hole(mode: u8) -> Vec<usize> {
    let mut cfg = Harness::config();
    cfg.tcp.mtu_probing = mode;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg().mss(1460));
    t.stack.send(h, &[5; 1460]).unwrap();
    t.flush();
    t.advance(30_000);
    t.drain()
        .iter()
        .filter(|s| s.seq == iss + 1)
        .map(|s| s.payload.len())
        .collect()
}

#[test]
fn plpmtud_mode_1_falls_back_to_base_mss_then_halves_after_repeated_timeouts() {
    // Frag Needed filtered: 1460-octet segments vanish. Mode 0 keeps resending them.
    let off = black_hole(0);
    assert!(off.len() >= 6 && off.iter().all(|&n| n == 1460), "{off:?}");
    // Mode 1: from the 4th timeout (retries1 = 3 in a row) base_mss, then half of it
    // (at most base_mss, at least the probe floor 48).
    let on = black_hole(1);
    assert_eq!(on[..6], [1460, 1460, 1460, 1460, 1024, 512], "{on:?}");
    assert!(on[6..].iter().all(|n| (48..=256).contains(n)), "{on:?}");
}

/// As packetdrill's `mtu_probe/basic-v4` (Linux's own test of `tcp_mtu_probing`): a route
/// with `advmss 600 mtu lock 640 initcwnd 11`, `tcp_mtu_probing=2`, `tcp_base_mss=512`;
/// the route's MTU then goes up to 1500 and the next write probes with
/// (1500 + 552) / 2 - 40 = 986 octets ahead of 600-octet segments; its ACK makes 986 the MSS.
#[test]
fn plpmtud_route_metrics_and_a_probe_above_the_route_mtu_as_linux_basic_v4() {
    use tuntcp::stack::RouteMetrics;
    let mut cfg = Harness::config();
    cfg.tcp.mtu_probing = 2;
    cfg.tcp.base_mss = 512;
    cfg.tcp.timestamps = false;
    cfg.tcp.sack = false;
    let mut t = Harness::server_with(80, cfg);
    let route = |mtu, advmss, initcwnd| RouteMetrics {
        mtu: Some(mtu),
        advmss: Some(advmss),
        initcwnd,
    };
    t.stack
        .set_route(IpAddr::V4(PEER), Some(route(640, 600, Some(11))));
    t.send(at(0), seg().syn().seq(0).win(50000).mss(1460).ws(0));
    let sa = t.expect(0, seg().flags(TcpFlags::SYN | TcpFlags::ACK).mss(600));
    t.send(at(100), seg().seq(1).ack(sa.seq + 1).win(50000));
    let h = t.stack.accept(80).unwrap();
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 600);
    t.stack
        .set_route(IpAddr::V4(PEER), Some(route(1500, 1460, None)));
    let a = sa.seq + 1;
    t.stack.send(h, &[9; 4000]).unwrap();
    t.flush();
    t.expect(100, seg().seq(a).len(986));
    for i in 0..5 {
        t.expect(100, seg().seq(a + 986 + 600 * i).len(600));
    }
    t.expect(100, seg().seq(a + 3986).len(14));
    t.send(at(200), seg().seq(1).ack(a + 4000).win(50000));
    assert_eq!(counter(&t, "TcpExtTCPMTUPSuccess"), 1);
    t.stack.send(h, &[9; 2000]).unwrap();
    t.flush();
    t.expect(200, seg().seq(a + 4000).len(986));
    t.expect(200, seg().seq(a + 4986).len(986));
    t.expect(200, seg().seq(a + 5972).len(28));
}

#[test]
fn a_route_mtu_raised_raises_the_mss_at_once_without_probing() {
    use tuntcp::stack::RouteMetrics;
    let mut t = Harness::server(80);
    let mtu = |m| {
        Some(RouteMetrics {
            mtu: Some(m),
            ..RouteMetrics::default()
        })
    };
    t.stack.set_route(IpAddr::V4(PEER), mtu(1000));
    let (h, iss) = t.establish(0, 1000, seg().mss(1460));
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 960);
    t.stack.send(h, &[1; 1460]).unwrap();
    t.flush();
    t.expect(0, seg().seq(iss + 1).len(960));
    t.expect(0, seg().seq(iss + 961).len(500));
    t.send(at(10), seg().seq(1001).ack(iss + 1461));
    t.stack.set_route(IpAddr::V4(PEER), mtu(1500));
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 1460);
    // Lowered again: what is in flight and too long goes again at once.
    t.stack.send(h, &[2; 1460]).unwrap();
    t.flush();
    t.expect(10, seg().seq(iss + 1461).len(1460));
    t.stack.set_route(IpAddr::V4(PEER), mtu(800));
    t.flush();
    t.expect(10, seg().seq(iss + 1461).len(760));
    t.expect(10, seg().seq(iss + 2221).len(700));
}
