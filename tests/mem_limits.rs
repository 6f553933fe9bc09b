//! Stack-wide limits like Linux's (`tcp_mem`, `tcp_max_orphans`; see `src/stack/mem.rs`):
//! accounted memory is the sum of the connections' buffers, pressure stops windows from
//! growing, the hard limit refuses new buffers, and orphans past the cap are reset.

mod support;

use std::net::SocketAddrV4;
use support::*;
use tuntcp::stack::report::{ss, SsOptions};
use tuntcp::stack::{SocketHandle, StackConfig};
use tuntcp::tcp::{Error, WMEM_MIN};
use tuntcp::wire::TcpFlags;

#[track_caller]
fn check_accounting(h: &Harness) {
    let sum: usize = h.stack.connections().map(|(_, c)| c.buffered_bytes()).sum();
    assert_eq!(
        h.stack.accounted_memory(),
        sum,
        "accounted memory != sum of buffers"
    );
}

fn config(tcp_mem: [usize; 3], max_orphans: usize) -> StackConfig {
    StackConfig {
        tcp_mem,
        max_orphans,
        ..Harness::config()
    }
}

/// A connection from peer port `port` that received `n` bytes (unread) in 1448-byte
/// segments.
fn filled(h: &mut Harness, ms: u64, port: u16, n: usize) -> (SocketHandle, u32) {
    h.peer = SocketAddrV4::new(PEER, port).into();
    let (c, iss) = h.establish(at(ms), 1000, seg().mss(1460));
    let mut off = 0;
    while off < n {
        let k = (n - off).min(1448);
        h.send(
            at(ms),
            seg().seq(1001 + off as u32).ack(iss + 1).data(&vec![5; k]),
        );
        off += k;
    }
    h.drain();
    (c, iss)
}

#[test]
fn accounted_memory_is_the_sum_of_the_buffers_and_returns_to_zero() {
    let mut h = Harness::server(80);
    assert_eq!(h.stack.accounted_memory(), 0);
    let (a, iss_a) = filled(&mut h, 0, 6000, 3000);
    check_accounting(&h);
    assert_eq!(h.stack.accounted_memory(), 3000);
    // Out of order: bytes plus the per-range charge.
    h.send(at(10), seg().seq(1001 + 5000).ack(iss_a + 1).data(b"later"));
    h.drain();
    check_accounting(&h);
    assert_eq!(h.stack.accounted_memory(), 3000 + 5 + 256);
    h.stack.send(a, &[1; 2000]).unwrap();
    h.flush();
    h.drain();
    check_accounting(&h);
    let (b, _) = filled(&mut h, 20, 6001, 100);
    check_accounting(&h);
    assert_eq!(h.stack.accounted_memory(), 3000 + 261 + 2000 + 100);
    let out = ss(
        &h.stack,
        SsOptions {
            summary: true,
            ..SsOptions::default()
        },
        instant(20),
    );
    assert!(out.contains("TCP: inuse 3 orphan 0 tw 0 mem 2\n"), "{out}");
    assert!(
        out.contains("TCP limits: tcp_mem 49152 65536 98304 max_orphans 16384\n"),
        "{out}"
    );
    h.read_all(a);
    h.read_all(b);
    check_accounting(&h);
    h.stack.abort(a);
    h.stack.abort(b);
    h.flush();
    h.drain();
    assert_eq!(h.stack.connections().count(), 0);
    assert_eq!(h.stack.accounted_memory(), 0);
}

#[test]
fn pressure_is_counted_and_stops_windows_from_growing_until_below_tcp_mem_0() {
    // Pressure above 2 pages (8 KiB), over at or below 1 page; hard limit far away.
    // Windows of 20,000 bytes, more than the 4 segments pressure allows.
    let mut cfg = config([1, 2, 1000], 100);
    cfg.tcp.recv_buffer = 20_000;
    let mut h = Harness::server_with(80, cfg);
    let (a, iss_a) = filled(&mut h, 0, 6000, 2896);
    assert!(!h.stack.under_memory_pressure());
    let (b, _) = filled(&mut h, 10, 6001, 8000);
    assert!(h.stack.under_memory_pressure());
    assert_eq!(h.stack.counters().tcp_ext_tcp_memory_pressures, 1);
    // A reads: its window would open by what it read, but under pressure the edge stays.
    h.read_all(a);
    h.drain();
    h.peer = SocketAddrV4::new(PEER, 6000).into();
    h.send(
        at(20),
        seg().seq(1001 + 2896).ack(iss_a + 1).data(&[1; 1448]),
    );
    let ack = h.expect_between(20, 60, seg().ack(1001 + 2896 + 1448));
    assert_eq!(
        ack.ack + u32::from(ack.window),
        1001 + 20_000,
        "the edge did not grow"
    );
    check_accounting(&h);
    // B reads: memory falls to one page, pressure ends, A's window grows again.
    h.read_all(b);
    assert!(!h.stack.under_memory_pressure());
    h.read_all(a);
    h.drain();
    h.send(
        at(100),
        seg().seq(1001 + 4344).ack(iss_a + 1).data(&[1; 1448]),
    );
    let ack = h.expect_between(100, 140, seg().ack(1001 + 5792));
    // The buffer's room less the 1/64 kept back for window-scale rounding (312 bytes).
    assert_eq!(
        ack.ack + u32::from(ack.window),
        1001 + 4344 + 20_000 - 20_000 / 64,
        "{}",
        ack.line
    );
    assert_eq!(h.stack.counters().tcp_ext_tcp_memory_pressures, 1);
}

#[test]
fn above_the_hard_limit_no_new_buffers_but_each_connection_keeps_a_minimum() {
    // Hard limit 2 pages (8 KiB): passed once B holds 5 segments beside A's 1,000 bytes.
    let mut h = Harness::server_with(80, config([1, 1, 2], 100));
    let (a, iss_a) = filled(&mut h, 0, 6000, 1000);
    let (b, _) = filled(&mut h, 10, 6001, 10_000);
    // B, past its 4 KiB minimum, dropped what came after that.
    assert_eq!(h.stack.connection(b).unwrap().recv_queue(), 5 * 1448);
    assert!(h.stack.counters().tcp_ext_tcp_rcv_q_drop >= 1);
    // A (1,000 unread, under the 4 KiB minimum) takes in-order data until it has 4 KiB.
    h.peer = SocketAddrV4::new(PEER, 6000).into();
    let p = 1001 + 1000;
    h.send(at(20), seg().seq(p).ack(iss_a + 1).data(&[2; 1448]));
    h.send(at(20), seg().seq(p + 1448).ack(iss_a + 1).data(&[2; 1448]));
    h.send(at(20), seg().seq(p + 2896).ack(iss_a + 1).data(&[2; 1448]));
    let coalesced = h.stack.counters().tcp_ext_tcp_rcv_coalesce;
    h.send(at(20), seg().seq(p + 4344).ack(iss_a + 1).data(&[2; 1448]));
    assert_eq!(h.stack.connection(a).unwrap().recv_queue(), 1000 + 3 * 1448);
    // The dropped segment joined nothing (TcpExtTCPRcvCoalesce counts data queued).
    assert_eq!(h.stack.counters().tcp_ext_tcp_rcv_coalesce, coalesced);
    // Out-of-order data is not held.
    let drops = h.stack.counters().tcp_ext_tcp_ofo_drop;
    h.send(at(30), seg().seq(p + 9000).ack(iss_a + 1).data(b"later"));
    assert_eq!(h.stack.connection(a).unwrap().ooo_ranges(), 0);
    assert_eq!(h.stack.counters().tcp_ext_tcp_ofo_drop, drops + 1);
    // Sends queue up to the 4 KiB minimum, then wait.
    assert_eq!(h.stack.send(a, &[3; 10_000]), Ok(WMEM_MIN));
    assert_eq!(h.stack.send(a, &[3; 10]), Err(Error::WouldBlock));
    check_accounting(&h);
    // Once the applications read, A takes data again.
    h.read_all(b);
    h.read_all(a);
    h.drain();
    h.send(at(40), seg().seq(p + 4344).ack(iss_a + 1).data(&[2; 1448]));
    assert_eq!(h.stack.connection(a).unwrap().recv_queue(), 1448);
    assert!(h.stack.send(a, &[3; 10]).is_ok());
    check_accounting(&h);
}

#[test]
fn orphans_past_max_orphans_are_reset_at_close() {
    let mut h = Harness::server_with(80, config([49152, 65536, 98304], 1));
    h.peer = SocketAddrV4::new(PEER, 6000).into();
    let (a, _) = h.establish(at(0), 1000, seg().mss(1460));
    h.peer = SocketAddrV4::new(PEER, 6001).into();
    let (b, _) = h.establish(at(0), 2000, seg().mss(1460));
    h.stack.close(a);
    h.flush();
    h.expect(at(0), seg().flags(TcpFlags::FIN | TcpFlags::ACK));
    assert_eq!(h.stack.orphans(), 1);
    // The second orphan is one too many: reset at once (Linux tcp_close, tcp_check_oom).
    h.stack.close(b);
    h.flush();
    h.expect(at(0), seg().flags(TcpFlags::RST | TcpFlags::ACK));
    assert_eq!(h.stack.orphans(), 1);
    assert_eq!(h.stack.counters().tcp_ext_tcp_abort_on_memory, 1);
    check_accounting(&h);
}

#[test]
fn an_orphan_holding_data_above_the_hard_limit_is_reset_on_its_retransmission_timer() {
    let mut h = Harness::server_with(80, config([1, 1, 2], 100));
    h.peer = SocketAddrV4::new(PEER, 6000).into();
    let (a, _) = h.establish(at(0), 1000, seg().mss(1460));
    h.stack.send(a, &[1; 6000]).unwrap();
    h.stack.close(a); // under the limit still: it closes normally, data in flight
    h.flush();
    h.drain();
    assert_eq!(h.stack.orphans(), 1);
    assert_eq!(h.stack.counters().tcp_ext_tcp_abort_on_memory, 0);
    // Another connection's unread data takes the stack past the hard limit.
    filled(&mut h, 10, 6001, 8000);
    assert!(h.stack.accounted_memory() > 2 * 4096);
    // The orphan's retransmission timeout resets it instead of retransmitting.
    h.peer = SocketAddrV4::new(PEER, 6000).into();
    let rst = h.expect_between(10, 1100, seg());
    assert!(rst.flags.rst(), "{}", rst.line);
    assert_eq!(h.stack.orphans(), 0);
    assert_eq!(h.stack.counters().tcp_ext_tcp_abort_on_memory, 1);
    check_accounting(&h);
}

/// Quick-ACK mode (Linux's tcp_event_data_recv) starts on the first data after an idle RTO
/// only if that data was taken: a segment refused at the hard limit starts nothing, so the
/// next segment, taken 60 ms later, waits for the delayed ACK like any other (kills the
/// input.rs mutant `advanced > 0` -> `>= 0` in the quick-ACK condition).
#[test]
fn a_segment_refused_at_the_hard_limit_after_an_idle_rto_starts_no_quick_acks() {
    let mut cfg = config([1, 1, 2], 100);
    cfg.tcp.quick_acks = 2; // used up by the first two ACKs of data below
    let mut h = Harness::server_with(80, cfg);
    let (a, iss_a) = filled(&mut h, 0, 6000, 1000);
    let (b, _) = filled(&mut h, 10, 6001, 10_000);
    h.peer = SocketAddrV4::new(PEER, 6000).into();
    let p = 1001 + 1000;
    for k in 0..3 {
        h.send(
            at(20),
            seg().seq(p + k * 1448).ack(iss_a + 1).data(&[2; 1448]),
        );
    }
    h.drain();
    assert_eq!(h.stack.connection(a).unwrap().recv_queue(), 1000 + 3 * 1448);
    // 380 ms later (more than the 200 ms RTO): in order, but A holds its 4 KiB minimum
    // above the hard limit, so it is refused.
    let q = p + 3 * 1448;
    h.send(at(400), seg().seq(q).ack(iss_a + 1).data(&[3; 1448]));
    assert_eq!(h.stack.connection(a).unwrap().recv_queue(), 1000 + 3 * 1448);
    h.advance(at(450)); // whatever answers the refused segment (the delayed ACK) is out
    h.drain();
    h.read_all(b);
    h.read_all(a);
    h.drain();
    // Taken at 460, 60 ms after the refused one: not idle, and no quick ACK left from it:
    // the delayed ACK, 40 ms later.
    h.send(at(460), seg().seq(q).ack(iss_a + 1).data(&[3; 1448]));
    assert_eq!(h.stack.connection(a).unwrap().recv_queue(), 1448);
    h.expect_nothing_until(at(499));
    h.expect(at(500), seg().flags(TcpFlags::ACK).ack(q + 1448));
}
