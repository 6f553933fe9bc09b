//! The listener under pressure: SYN queue and accept queue limits, Linux's overflow
//! behaviour, SYN-ACK retransmission limits, the TIME-WAIT cap.

mod support;

use std::net::SocketAddrV4;
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
    t.us = SocketAddrV4::new(US, 80);
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
