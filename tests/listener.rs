//! The listener under pressure: SYN queue and accept queue limits, Linux's overflow
//! behaviour, SYN-ACK retransmission limits, the TIME-WAIT cap.

mod support;

use std::net::{SocketAddr, SocketAddrV4};
use support::*;
use tuntcp::stack::StackConfig;
use tuntcp::wire::TcpFlags;

const SYNACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);

fn peer(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(PEER, port)
}

fn server(backlog: usize, cfg: StackConfig) -> Harness {
    let mut t = Harness::with_config(cfg);
    t.stack.listen(80, backlog).unwrap();
    t.us = SocketAddrV4::new(US, 80).into();
    t
}

/// SYN from `port`, returns our ISS from the SYN-ACK.
fn syn(t: &mut Harness, ms: u64, port: u16) -> u32 {
    t.send(ms, seg().syn().seq(1000).from(peer(port)));
    t.expect(ms, seg().flags(SYNACK).to(peer(port))).seq
}

/// Completes the handshake started by `syn` from `port`.
fn ack(t: &mut Harness, ms: u64, port: u16, iss: u32) {
    t.send(ms, seg().ack_flag().seq(1001).ack(iss + 1).from(peer(port)));
}

#[test]
fn accept_queue_overflow_drops_the_final_ack_and_the_retry_succeeds() {
    // Backlog 2: the accept queue holds up to 3 (Linux's `>` test), the SYN queue 2.
    let mut t = server(2, Harness::config());
    let i1 = syn(&mut t, 0, 1);
    let i2 = syn(&mut t, 0, 2);
    ack(&mut t, 0, 1, i1);
    let i3 = syn(&mut t, 0, 3);
    ack(&mut t, 0, 2, i2);
    let i4 = syn(&mut t, 0, 4);
    ack(&mut t, 0, 3, i3);
    // Three waiting: the final ACK from port 4 is dropped, no RST, no ACK.
    ack(&mut t, 1, 4, i4);
    assert!(t.drain().is_empty());
    assert_eq!(t.stack.counters().tcp_ext_listen_overflows, 1);
    // A new SYN is dropped too while the queue is full.
    t.send(2, seg().syn().seq(5).from(peer(5)));
    assert!(t.drain().is_empty());
    assert!(t.stack.accept(80).is_some());
    // Room again: our SYN-ACK retransmission (1 s) draws the peer's ACK, which now counts.
    t.expect(1000, seg().flags(SYNACK).seq(i4).to(peer(4)));
    ack(&mut t, 1001, 4, i4);
    assert_eq!(std::iter::from_fn(|| t.stack.accept(80)).count(), 3);
}

#[test]
fn abort_on_overflow_resets_instead() {
    let cfg = StackConfig {
        abort_on_overflow: true,
        ..Harness::config()
    };
    let mut t = server(2, cfg);
    let i1 = syn(&mut t, 0, 1);
    let i2 = syn(&mut t, 0, 2);
    ack(&mut t, 0, 1, i1);
    let i3 = syn(&mut t, 0, 3);
    ack(&mut t, 0, 2, i2);
    let i4 = syn(&mut t, 0, 4);
    ack(&mut t, 0, 3, i3);
    // The overflowing final ACK is answered with RST (tcp_abort_on_overflow=1).
    ack(&mut t, 1, 4, i4);
    t.expect(1, seg().flags(TcpFlags::RST | TcpFlags::ACK).to(peer(4)));
    assert_eq!(t.stack.connections().count(), 3);
}

#[test]
fn syn_queue_limit_drops_new_syns_and_counts_them() {
    let cfg = StackConfig {
        max_syn_backlog: 3,
        syncookies: false,
        ..Harness::config()
    };
    let mut t = server(100, cfg);
    for p in 1..=3 {
        syn(&mut t, 0, p);
    }
    t.send(0, seg().syn().seq(1).from(peer(4)));
    assert!(t.drain().is_empty(), "4th SYN dropped");
    assert_eq!(t.stack.counters().tcp_ext_listen_drops, 1);
}

#[test]
fn half_open_connection_dies_after_synack_retries() {
    let mut t = server(8, Harness::config());
    syn(&mut t, 0, 1);
    // tcp_synack_retries = 5: SYN-ACKs at 1, 3, 7, 15, 31 s, given up at 63 s.
    let mut at = Vec::new();
    for _ in 0..5 {
        let s = t.expect_between(t.now_ms + 1, 100_000, seg().flags(SYNACK));
        at.push(s.seq);
        at.pop();
        at.push(t.now_ms as u32);
    }
    assert_eq!(at, vec![1000, 3000, 7000, 15000, 31000]);
    t.advance(62_000);
    assert_eq!(t.stack.connections().count(), 1);
    t.advance(64_000);
    assert_eq!(t.stack.connections().count(), 0, "SYN queue entry freed");
    // The listener still works.
    syn(&mut t, 64_001, 2);
}

#[test]
fn time_wait_cap_closes_beyond_max_tw_buckets() {
    let cfg = StackConfig {
        max_tw_buckets: 2,
        ..Harness::config()
    };
    let mut t = server(16, cfg);
    for p in 1..=3u16 {
        let iss = syn(&mut t, 0, p);
        t.send(0, seg().ack_flag().seq(1001).ack(iss + 1).from(peer(p)));
        let h = t.stack.accept(80).unwrap();
        t.stack.close(h);
        t.flush();
        t.expect(0, seg().flags(TcpFlags::FIN | TcpFlags::ACK).to(peer(p)));
        t.send(
            0,
            seg()
                .flags(TcpFlags::FIN | TcpFlags::ACK)
                .seq(1001)
                .ack(iss + 2)
                .from(peer(p)),
        );
        t.expect(0, seg().flags(TcpFlags::ACK).to(peer(p)));
    }
    assert_eq!(
        t.stack.connections().count(),
        2,
        "two in TIME-WAIT, the third skipped it"
    );
    assert_eq!(t.stack.counters().tcp_ext_tcp_time_wait_overflow, 1);
    t.advance(61_000);
    assert_eq!(t.stack.connections().count(), 0);
    assert_eq!(t.stack.counters().tcp_ext_tw, 2);
}

/// A listener whose SYN queue holds one entry (the next SYN gets a cookie).
fn cookie_server() -> Harness {
    let cfg = StackConfig {
        max_syn_backlog: 1,
        ..Harness::config()
    };
    let mut t = server(64, cfg);
    syn(&mut t, 0, 1); // fills the SYN queue
    t
}

#[test]
fn syn_cookie_round_trip_creates_the_connection_with_options_from_the_timestamp() {
    let mut t = cookie_server();
    t.send(
        10,
        seg()
            .syn()
            .seq(5000)
            .mss(1460)
            .ws(7)
            .sack_perm()
            .ts(777, 0)
            .from(peer(2)),
    );
    let sa = t.expect(
        10,
        seg()
            .flags(SYNACK)
            .ack(5001)
            .mss(1460)
            .ws(7)
            .sack_perm()
            .to(peer(2)),
    );
    let ts = sa.options.timestamps.expect("TS carries the options");
    assert_eq!(
        t.stack.connections().count(),
        1,
        "no state kept for the cookie"
    );
    assert_eq!(t.stack.counters().tcp_ext_syncookies_sent, 1);
    // The final ACK, 30 s later, echoes TSval and carries a request.
    t.send(
        30_000,
        seg()
            .ack_flag()
            .seq(5001)
            .ack(sa.seq + 1)
            .ts(778, ts.tsval)
            .data(b"GET /")
            .from(peer(2)),
    );
    assert_eq!(t.stack.counters().tcp_ext_syncookies_recv, 1);
    let h = t.stack.accept(80).expect("cookie connection accepted");
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.state(), tuntcp::tcp::State::Established);
    assert_eq!(c.effective_mss(), 1460 - 12);
    assert_eq!(t.read_all(h), b"GET /");
    t.drain(); // peer 1's SYN-ACK retransmissions, our ACK of the request
               // SACK came back through the timestamp: the ACK of out-of-order data carries a block.
    t.send(
        30_001,
        seg()
            .ack_flag()
            .seq(5011)
            .ack(sa.seq + 1)
            .ts(779, ts.tsval)
            .data(b"x")
            .from(peer(2)),
    );
    let a = t.expect(30_001, seg().flags(TcpFlags::ACK).ack(5006).to(peer(2)));
    assert_eq!(a.options.sack.len(), 1, "{}", a.line);
}

#[test]
fn syn_cookie_invalid_or_stale_is_rejected_and_counted() {
    let mut t = cookie_server();
    t.send(10, seg().syn().seq(5000).from(peer(2)));
    let sa = t.expect(10, seg().flags(SYNACK).to(peer(2)));
    // A forged cookie: RST, counted, no connection.
    t.send(
        20,
        seg()
            .ack_flag()
            .seq(5001)
            .ack(sa.seq.wrapping_add(77))
            .from(peer(2)),
    );
    t.expect(20, seg().flags(TcpFlags::RST).to(peer(2)));
    assert_eq!(t.stack.counters().tcp_ext_syncookies_failed, 1);
    // The real cookie from another peer address: rejected (the hash covers the tuple).
    t.send(21, seg().ack_flag().seq(5001).ack(sa.seq + 1).from(peer(3)));
    assert_eq!(t.stack.counters().tcp_ext_syncookies_failed, 2);
    // The real cookie three minutes later: the time slice is gone. (A fresh cookie at 100 s
    // keeps cookie ACKs being checked: peer 8 fills the SYN queue again, peer 9 gets one.)
    t.advance(99_999);
    t.drain();
    syn(&mut t, 100_000, 8);
    t.send(100_001, seg().syn().seq(9).from(peer(9)));
    t.drain();
    assert_eq!(t.stack.counters().tcp_ext_syncookies_sent, 2);
    t.send(
        10 + 190_000,
        seg().ack_flag().seq(5001).ack(sa.seq + 1).from(peer(2)),
    );
    assert_eq!(t.stack.counters().tcp_ext_syncookies_failed, 3);
    assert!(t.stack.accept(80).is_none());
}

#[test]
fn ephemeral_port_exhaustion_is_addr_not_available() {
    let cfg = StackConfig {
        local_port_range: (40000, 40003),
        ..Harness::config()
    };
    let mut t = Harness::with_config(cfg);
    let mut ports = Vec::new();
    for _ in 0..4 {
        let h = t.stack.connect(instant(0), peer(80)).unwrap();
        ports.push(t.stack.connection(h).unwrap().local().port());
    }
    ports.sort();
    assert_eq!(ports, vec![40000, 40001, 40002, 40003]);
    let e = t.stack.connect(instant(0), peer(80)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrNotAvailable);
    // Another destination has its own 4-tuples.
    assert!(t.stack.connect(instant(0), peer(81)).is_ok());
}

/// One outgoing connection from the only ephemeral port, closed by us into TIME-WAIT.
fn time_wait_client(ts: bool) -> (Harness, u32) {
    let cfg = StackConfig {
        local_port_range: (40000, 40000),
        ..Harness::config()
    };
    let mut t = Harness::with_config(cfg);
    t.peer = peer(80).into();
    let synack = if ts { seg().ts(100, 0) } else { seg() };
    let (h, iss) = t.connect(0, 9000, synack);
    t.stack.close(h);
    t.flush();
    let fin = t.expect(0, seg().flags(TcpFlags::FIN | TcpFlags::ACK));
    let mut finack = seg()
        .flags(TcpFlags::FIN | TcpFlags::ACK)
        .seq(9001)
        .ack(fin.seq + 1);
    if ts {
        finack = finack.ts(101, 0);
    }
    t.send(10, finack);
    t.expect(10, seg().flags(TcpFlags::ACK));
    assert_eq!(
        t.stack.connections().next().unwrap().1.state(),
        tuntcp::tcp::State::TimeWait
    );
    (t, iss)
}

#[test]
fn tw_reuse_takes_a_time_wait_tuple_when_timestamps_make_it_safe() {
    let (mut t, iss) = time_wait_client(true);
    t.advance(500);
    assert!(
        t.stack.connect(instant(500), peer(80)).is_err(),
        "not within the first second"
    );
    t.advance(2000);
    let h = t
        .stack
        .connect(instant(2000), peer(80))
        .expect("TIME-WAIT tuple reused");
    t.flush();
    let syn = t.expect(2000, seg().flags(TcpFlags::SYN));
    assert_eq!(syn.src.port(), 40000);
    assert!(
        syn.seq.wrapping_sub(iss + 2) as i32 > 0,
        "new ISS above the old SND.NXT"
    );
    assert_eq!(t.stack.counters().tcp_ext_tw_recycled, 1);
    assert_eq!(t.state(h), tuntcp::tcp::State::SynSent);
}

#[test]
fn tw_reuse_refused_without_timestamps() {
    let (mut t, _) = time_wait_client(false);
    t.advance(5000);
    let e = t.stack.connect(instant(5000), peer(80)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrNotAvailable);
}

#[test]
fn an_idle_connection_costs_little_memory() {
    // Buffers are allocated on first use: an idle established connection is its TCB.
    let tcb = std::mem::size_of::<tuntcp::tcp::Connection>();
    println!("size_of::<Connection>() = {tcb} bytes");
    assert!(tcb < 2560, "{tcb}");
    let mut t = server(16, Harness::config());
    let iss = syn(&mut t, 0, 1);
    t.send(0, seg().ack_flag().seq(1001).ack(iss + 1).from(peer(1)));
    let h = t.stack.accept(80).unwrap();
    assert_eq!(
        t.stack.connection(h).unwrap().buffer_bytes(),
        0,
        "no buffer allocated yet"
    );
}

#[test]
fn unlisten_resets_the_connections_it_has_not_handed_out() {
    let mut t = server(8, Harness::config());
    let i1 = syn(&mut t, 0, 1);
    ack(&mut t, 0, 1, i1); // established, in the accept queue
    let i2 = syn(&mut t, 0, 2); // SYN-RECEIVED
    t.stack.unlisten(80);
    t.flush();
    let out = t.drain();
    for (port, iss) in [(1, i1), (2, i2)] {
        assert!(
            out.iter().any(|s| s.dst == SocketAddr::from(peer(port))
                && s.flags.rst()
                && s.seq == iss + 1),
            "no RST to peer {port}: {out:?}"
        );
    }
    assert!(t.stack.accept(80).is_none());
    // The port is closed: a SYN now draws RST-ACK.
    t.send(1, seg().syn().seq(7000).from(peer(3)));
    t.expect(
        1,
        seg()
            .flags(TcpFlags::RST | TcpFlags::ACK)
            .ack(7001)
            .to(peer(3)),
    );
}

#[test]
fn rfc1122_4_2_2_13_reopening_time_wait_starts_above_the_old_snd_nxt_when_the_isn_clock_lags() {
    // The ISN clock moves 250 per ms: 2 ms after our ISS the same tuple's ISN lies below the
    // 2,000 bytes and FIN we sent, so the new ISS is set above the old SND.NXT instead.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.send(h, &[7; 2000]).unwrap();
    t.stack.shutdown_write(h);
    t.flush();
    let out = t.drain();
    assert!(
        out.iter()
            .any(|s| s.flags.fin() && s.seq + s.payload.len() as u32 == iss + 2001),
        "no FIN after the 2,000 bytes"
    );
    t.send(
        1,
        seg()
            .flags(TcpFlags::FIN | TcpFlags::ACK)
            .seq(1001)
            .ack(iss + 2002),
    );
    t.expect(1, seg().flags(TcpFlags::ACK).ack(1002));
    t.stack.close(h);
    t.send(2, seg().syn().seq(100_000));
    let sa = t.expect(2, seg().flags(SYNACK).ack(100_001));
    let above = sa.seq.wrapping_sub(iss + 2002) as i32;
    assert!(
        above > 0,
        "new ISS {} at or below the old SND.NXT {}",
        sa.seq,
        iss + 2002
    );
}

#[test]
fn syn_cookie_synack_offers_sack_only_when_the_syn_did_and_carries_our_ttl_and_tos() {
    let mut cfg = StackConfig {
        max_syn_backlog: 1,
        ..Harness::config()
    };
    cfg.tcp.ttl = 9;
    cfg.tcp.tos = 0x20;
    let mut t = server(64, cfg);
    syn(&mut t, 0, 1); // fills the SYN queue
    t.send(10, seg().syn().seq(5000).mss(1460).ts(777, 0).from(peer(2)));
    let sa = t.expect(10, seg().flags(SYNACK).ack(5001).to(peer(2)));
    assert_eq!(t.stack.counters().tcp_ext_syncookies_sent, 1);
    assert!(!sa.options.sack_permitted, "{}", sa.line);
    let ts = sa.options.timestamps.expect("timestamps");
    t.send(
        20,
        seg()
            .ack_flag()
            .seq(5001)
            .ack(sa.seq + 1)
            .ts(778, ts.tsval)
            .from(peer(2)),
    );
    let h = t.stack.accept(80).expect("cookie connection");
    let info = t.stack.connection(h).unwrap().info(instant(20));
    assert!(!info.sack, "SACK came back on from the timestamp");
    assert_eq!((sa.ip.ttl, sa.ip.tos), (9, 0x20));
}

#[test]
fn syn_cookie_acks_are_checked_for_two_minutes_after_the_last_cookie_only() {
    // Linux checks an ACK at a listener against cookies only while cookies went out in
    // the last 2 minutes; both cookies here are still valid (made in slice 0, checked in
    // slice 1), so only that window decides.
    let mut t = cookie_server();
    let synack = |t: &mut Harness, port: u16| {
        t.send(0, seg().syn().seq(5000).from(peer(port)));
        t.expect(0, seg().flags(SYNACK).to(peer(port))).seq
    };
    let c2 = synack(&mut t, 2);
    let c3 = synack(&mut t, 3);
    t.advance(119_999);
    t.drain();
    t.send(
        119_999,
        seg().ack_flag().seq(5001).ack(c2 + 1).from(peer(2)),
    );
    assert_eq!(t.stack.counters().tcp_ext_syncookies_recv, 1);
    assert!(
        t.stack.accept(80).is_some(),
        "1 ms before the 2 minutes: checked"
    );
    t.drain();
    t.send(
        120_000,
        seg().ack_flag().seq(5001).ack(c3 + 1).from(peer(3)),
    );
    t.expect(120_000, seg().flags(TcpFlags::RST).seq(c3 + 1).to(peer(3)));
    assert_eq!(t.stack.counters().tcp_ext_syncookies_recv, 1);
    assert_eq!(
        t.stack.counters().tcp_ext_syncookies_failed,
        0,
        "not even checked"
    );
    assert!(t.stack.accept(80).is_none());
}

#[test]
fn a_valid_cookie_ack_into_a_full_accept_queue_is_dropped_counted_and_taken_on_retry() {
    // Backlog 1: the SYN queue holds 1, the accept queue up to 2 (Linux's `>` test).
    let mut t = server(1, Harness::config());
    let i1 = syn(&mut t, 0, 1);
    t.send(0, seg().syn().seq(5000).from(peer(2)));
    let c2 = t.expect(0, seg().flags(SYNACK).to(peer(2))).seq; // a cookie: SYN queue full
    assert_eq!(t.stack.counters().tcp_ext_syncookies_sent, 1);
    ack(&mut t, 0, 1, i1);
    let i3 = syn(&mut t, 1, 3);
    ack(&mut t, 1, 3, i3);
    // Two waiting: the cookie's final ACK is valid but has no room. Dropped, no RST.
    t.send(2, seg().ack_flag().seq(5001).ack(c2 + 1).from(peer(2)));
    assert_eq!(t.drain(), vec![]);
    let c = t.stack.counters();
    assert_eq!((c.tcp_ext_listen_overflows, c.tcp_ext_listen_drops), (1, 1));
    assert_eq!(c.tcp_ext_syncookies_recv, 0);
    // Room again: the peer's retransmitted ACK (the cookie still valid) is taken.
    assert!(t.stack.accept(80).is_some());
    t.send(3, seg().ack_flag().seq(5001).ack(c2 + 1).from(peer(2)));
    assert_eq!(t.stack.counters().tcp_ext_syncookies_recv, 1);
    assert_eq!(std::iter::from_fn(|| t.stack.accept(80)).count(), 2);
    assert_eq!(
        t.stack.counters().tcp_passive_opens,
        3,
        "two from the SYN queue, one from a cookie"
    );
}
