//! Deferred handshakes on the transparent listener (`Stack::set_listen_defer`): a SYN is
//! held without a SYN-ACK until the application completes it (the SYN-ACK goes) or
//! refuses it (a RST, so the client's connect is refused), as a relay does once it knows
//! whether the real destination answers. Bounded like every listener.

mod support;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use support::*;
use tuntcp::stack::{Stack, StackConfig};
use tuntcp::time::Duration;
use tuntcp::wire::TcpFlags;

const SYNACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
const RSTACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);
const ANY: u16 = Stack::TRANSPARENT_PORT;

fn dst(host: u8, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, host), port))
}

fn client(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(PEER, port))
}

/// A transparent listener on 198.51.100.0/24 that defers, holding SYNs up to 5 s.
fn deferring(backlog: usize, cfg: StackConfig) -> Harness {
    let mut t = Harness::with_config(StackConfig {
        transparent: vec!["198.51.100.0/24".parse().unwrap()],
        ..cfg
    });
    t.stack.listen_transparent(backlog).unwrap();
    assert!(t.stack.set_listen_defer(ANY, Some(Duration::from_secs(5))));
    t
}

#[test]
fn a_held_syn_is_not_answered_and_is_offered_with_its_destination() {
    let mut t = deferring(16, Harness::config());
    let to = dst(7, 443);
    t.send(0, seg().syn().seq(1000).mss(1460).ws(7).to(to));
    t.expect_nothing_until(1000);
    assert_eq!(t.stack.held_syns(ANY), 1);
    assert_eq!(t.stack.connections().count(), 0, "no TCB while held");
    assert!(t.stack.accept(ANY).is_none());
    let p = t.stack.accept_pending(ANY).expect("offered");
    assert_eq!((p.local(), p.remote()), (to, t.peer));
    assert!(t.stack.accept_pending(ANY).is_none(), "offered once");
    t.check_invariants();
}

#[test]
fn completing_sends_the_syn_ack_and_hands_out_the_connection() {
    let mut t = deferring(16, Harness::config());
    let to = dst(7, 443);
    t.send(0, seg().syn().seq(1000).mss(1400).ws(7).sack_perm().to(to));
    t.expect_nothing_until(120);
    let p = t.stack.accept_pending(ANY).unwrap();
    // 120 ms later the upstream answered: the SYN-ACK goes now, with the SYN's options
    // negotiated as if it had just arrived.
    let h = t
        .stack
        .complete_pending(instant(120), p)
        .expect("completed");
    t.flush();
    let sa = t.expect(
        120,
        seg()
            .flags(SYNACK)
            .ack(1001)
            .mss(1460)
            .ws(7)
            .sack_perm()
            .from(to)
            .to(t.peer),
    );
    assert_eq!(t.stack.held_syns(ANY), 0);
    t.send(130, seg().ack_flag().seq(1001).ack(sa.seq + 1).to(to));
    assert_eq!(t.state(h), tuntcp::tcp::State::Established);
    assert!(
        t.stack.accept(ANY).is_none(),
        "owned already: not in the accept queue"
    );
    t.send(
        131,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(sa.seq + 1)
            .data(b"hello")
            .to(to),
    );
    assert_eq!(t.read_all(h), b"hello");
    // A second completion of the same SYN finds nothing.
    assert!(t.stack.complete_pending(instant(140), p).is_none());
    t.check_invariants();
}

#[test]
fn refusing_answers_the_syn_with_a_rst_as_a_closed_port() {
    let mut t = deferring(16, Harness::config());
    let to = dst(7, 8001);
    t.send(0, seg().syn().seq(1000).to(to));
    t.expect_nothing_until(30);
    let p = t.stack.accept_pending(ANY).unwrap();
    let rsts = t.stack.counters().tcp_out_rsts;
    assert!(t.stack.refuse_pending(p));
    t.flush();
    // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>: ECONNREFUSED.
    t.expect(30, seg().flags(RSTACK).seq(0).ack(1001).from(to).to(t.peer));
    assert_eq!(t.stack.counters().tcp_out_rsts, rsts + 1);
    assert_eq!(t.stack.held_syns(ANY), 0);
    assert!(!t.stack.refuse_pending(p), "once");
    assert!(t.stack.complete_pending(instant(31), p).is_none());
    t.expect_nothing_until(6000);
    t.check_invariants();
}

#[test]
fn a_held_syn_expires_with_a_rst_after_the_timeout() {
    let mut t = deferring(16, Harness::config());
    let to = dst(7, 443);
    t.send(0, seg().syn().seq(1000).to(to));
    let p = t.stack.accept_pending(ANY).unwrap();
    // The application never decides: nothing for 5 s, then a RST (a refusal).
    t.expect_nothing_until(4999);
    t.expect(5000, seg().flags(RSTACK).seq(0).ack(1001).from(to));
    assert_eq!(t.stack.held_syns(ANY), 0);
    assert!(t.stack.complete_pending(instant(5001), p).is_none());
    // One not yet taken by the application expires the same way, and is offered no more.
    t.send(6000, seg().syn().seq(7000).from(client(6000)).to(to));
    t.expect_nothing_until(10_999);
    t.expect(11_000, seg().flags(RSTACK).ack(7001).to(client(6000)));
    assert!(t.stack.accept_pending(ANY).is_none());
    t.check_invariants();
}

#[test]
fn a_syn_retransmitted_while_held_is_absorbed() {
    let mut t = deferring(16, Harness::config());
    let to = dst(7, 443);
    t.send(0, seg().syn().seq(1000).to(to));
    // The client's SYN retransmissions (RFC 6298: 1 s, then 3 s): no answer, no second
    // entry, no RST.
    t.send(1000, seg().syn().seq(1000).to(to));
    t.send(3000, seg().syn().seq(1000).to(to));
    t.expect_nothing_until(3500);
    assert_eq!(t.stack.held_syns(ANY), 1);
    let p = t.stack.accept_pending(ANY).unwrap();
    assert!(t.stack.accept_pending(ANY).is_none());
    // The deadline still runs from the first SYN.
    let h = t.stack.complete_pending(instant(3500), p).unwrap();
    t.flush();
    let sa = t.expect(3500, seg().flags(SYNACK).ack(1001).from(to));
    t.send(3510, seg().ack_flag().seq(1001).ack(sa.seq + 1).to(to));
    assert_eq!(t.state(h), tuntcp::tcp::State::Established);
    t.expect_nothing_until(6000);
    t.check_invariants();
}

#[test]
fn a_full_queue_drops_the_syn_and_never_answers_with_a_cookie() {
    // Backlog 2 with SYN cookies on: a deferring listener cannot answer yet, so the third
    // SYN is dropped (the client retries), not answered with a cookie.
    let mut t = deferring(2, Harness::config());
    for port in [6000, 6001, 6002] {
        t.send(0, seg().syn().seq(1000).from(client(port)).to(dst(7, 443)));
    }
    t.expect_nothing_until(100);
    let c = t.stack.counters();
    assert_eq!(t.stack.held_syns(ANY), 2);
    assert_eq!(c.tcp_ext_syncookies_sent, 0);
    assert_eq!(c.tcp_ext_listen_drops, 1);
    let first = t.stack.accept_pending(ANY).unwrap();
    assert_eq!(first.remote(), client(6000));
    // Refusing one frees its place: the third client's retransmitted SYN is held now.
    assert!(t.stack.refuse_pending(first));
    t.flush();
    t.expect(100, seg().flags(RSTACK).to(client(6000)));
    t.send(
        1000,
        seg().syn().seq(1000).from(client(6002)).to(dst(7, 443)),
    );
    t.expect_nothing_until(1100);
    assert_eq!(t.stack.held_syns(ANY), 2);
    let second = t.stack.accept_pending(ANY).unwrap();
    let third = t.stack.accept_pending(ANY).unwrap();
    assert_eq!(
        (second.remote(), third.remote()),
        (client(6001), client(6002))
    );
    t.check_invariants();
}

#[test]
fn closing_the_listener_refuses_what_it_holds() {
    let mut t = deferring(16, Harness::config());
    t.send(0, seg().syn().seq(1000).to(dst(7, 443)));
    t.stack.unlisten(ANY);
    t.flush();
    t.expect(0, seg().flags(RSTACK).ack(1001).from(dst(7, 443)));
    assert_eq!(t.stack.poll_timeout(), None, "no deadline left behind");
    t.check_invariants();
}

#[test]
fn a_retransmitted_syn_and_the_final_ack_in_one_burst_establish_cleanly() {
    // Seen first with held SYNs (the client's SYN retransmission crosses our late SYN-ACK),
    // but any listener meets it: the SYN rewinds SND.NXT to resend the SYN-ACK, and the
    // ACK read before any output acknowledges it. ESTABLISHED, SND.NXT = ISS+1, nothing
    // resent (the harness checks the table's invariants after every step).
    let mut t = Harness::server(80);
    t.send(0, seg().syn().seq(1000));
    let sa = t.expect(0, seg().flags(SYNACK).ack(1001));
    t.send_burst(
        200,
        &[
            seg().syn().seq(1000),
            seg().ack_flag().seq(1001).ack(sa.seq + 1),
        ],
    );
    let h = t.stack.accept(80).expect("established");
    assert_eq!(t.state(h), tuntcp::tcp::State::Established);
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.snd_nxt().0, sa.seq.wrapping_add(1));
    t.expect_nothing_until(5000);
}
