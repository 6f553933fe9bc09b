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

// Tests that kill cargo-mutants' mutants of src/stack/table/defer.rs (scripts/mutants.sh
// defer): each names what it proves.

#[test]
fn deferring_needs_a_listener_on_the_port() {
    let mut t = Harness::server(80);
    assert!(!t.stack.set_listen_defer(81, Some(Duration::from_secs(5))));
    assert!(t.stack.set_listen_defer(80, Some(Duration::from_secs(5))));
    // Port 81 stays closed: a SYN to it draws RST-ACK, not a held entry.
    let to = SocketAddr::V4(SocketAddrV4::new(US, 81));
    t.send(0, seg().syn().seq(1000).to(to));
    t.expect(0, seg().flags(RSTACK).ack(1001).from(to));
    assert_eq!(t.stack.held_syns(81), 0);
    t.check_invariants();
}

#[test]
fn an_ack_or_syn_ack_for_a_held_tuple_is_answered_as_in_listen() {
    // RFC 9293 §3.10.7.2: an ACK (or SYN-ACK) at a listener draws <SEQ=SEG.ACK><CTL=RST>;
    // only a bare SYN is a retransmission of the held one.
    let mut t = deferring(16, Harness::config());
    let to = dst(7, 443);
    t.send(0, seg().syn().seq(1000).to(to));
    t.send(10, seg().ack_flag().seq(1001).ack(5000).to(to));
    t.expect(10, seg().flags(TcpFlags::RST).seq(5000).to(t.peer));
    t.send(20, seg().syn().ack_flag().seq(1000).ack(6000).to(to));
    t.expect(20, seg().flags(TcpFlags::RST).seq(6000).to(t.peer));
    // A RST is dropped at a listener; the SYN stays held and completes.
    t.send(30, seg().rst().seq(1001).to(to));
    t.expect_nothing_until(40);
    assert_eq!(t.stack.held_syns(ANY), 1);
    let p = t.stack.accept_pending(ANY).unwrap();
    t.stack.complete_pending(instant(40), p).expect("completed");
    t.flush();
    t.expect(40, seg().flags(SYNACK).ack(1001).from(to));
    t.check_invariants();
}

#[test]
fn only_the_held_syns_past_their_deadline_expire() {
    // Two SYNs held 1 s apart, neither taken: the first expires at 5 s, the second stays
    // offered until its own deadline at 6 s.
    let mut t = deferring(16, Harness::config());
    let to = dst(7, 443);
    t.send(0, seg().syn().seq(1000).from(client(6000)).to(to));
    t.send(1000, seg().syn().seq(2000).from(client(6001)).to(to));
    t.expect_nothing_until(4999);
    t.expect(5000, seg().flags(RSTACK).ack(1001).to(client(6000)));
    t.expect_nothing_until(5999);
    assert_eq!(t.stack.held_syns(ANY), 1);
    let p = t
        .stack
        .accept_pending(ANY)
        .expect("the second is still offered");
    assert_eq!(p.remote(), client(6001));
    assert!(t.stack.accept_pending(ANY).is_none());
    t.expect(6000, seg().flags(RSTACK).ack(2001).to(client(6001)));
    assert_eq!(t.stack.poll_timeout(), None);
    t.check_invariants();
}

#[test]
fn closing_one_listener_leaves_another_listeners_held_syns() {
    // A deferring listener on port 80 and the deferring transparent one: closing port 80
    // refuses only its own.
    let mut t = deferring(16, Harness::config());
    t.stack.listen(80, 16).unwrap();
    assert!(t.stack.set_listen_defer(80, Some(Duration::from_secs(5))));
    let us80 = SocketAddr::V4(SocketAddrV4::new(US, 80));
    t.send(0, seg().syn().seq(1000).from(client(6000)).to(us80));
    t.send(0, seg().syn().seq(2000).from(client(6001)).to(dst(7, 443)));
    t.expect_nothing_until(10);
    assert_eq!((t.stack.held_syns(80), t.stack.held_syns(ANY)), (1, 1));
    t.stack.unlisten(80);
    t.flush();
    t.expect(10, seg().flags(RSTACK).ack(1001).to(client(6000)));
    t.expect_nothing_until(20);
    assert_eq!(t.stack.held_syns(ANY), 1);
    let p = t.stack.accept_pending(ANY).unwrap();
    assert_eq!(p.remote(), client(6001));
    t.check_invariants();
}

#[test]
fn a_completed_syn_keeps_its_mss_and_timestamps_and_counts_a_passive_open() {
    // The SYN's MSS 1400 and timestamps (TSval 100) are held and used at completion: the
    // SYN-ACK echoes TSval 100, and data goes in 1388-byte segments (1400 less the
    // 12-byte timestamp option), not the 536 default.
    let mut t = deferring(16, Harness::config());
    let to = dst(7, 443);
    let opens = t.stack.counters().tcp_passive_opens;
    t.send(0, seg().syn().seq(1000).mss(1400).ts(100, 0).to(to));
    t.expect_nothing_until(50);
    let p = t.stack.accept_pending(ANY).unwrap();
    let h = t.stack.complete_pending(instant(50), p).expect("completed");
    t.flush();
    let sa = t.expect(50, seg().flags(SYNACK).ack(1001).from(to));
    let ts = sa.options.timestamps.expect("timestamps negotiated");
    assert_eq!(ts.tsecr, 100);
    assert_eq!(t.stack.counters().tcp_passive_opens, opens + 1);
    t.send(
        60,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(sa.seq + 1)
            .ts(110, ts.tsval)
            .to(to),
    );
    t.stack.send(h, &[9; 3000]).unwrap();
    t.flush();
    t.expect(60, seg().ack_flag().seq(sa.seq + 1).len(1388).from(to));
    t.expect(60, seg().ack_flag().seq(sa.seq + 1389).len(1388).from(to));
    t.check_invariants();
}

#[test]
fn rfc1122_4_2_2_13_a_held_syn_reopening_time_wait_starts_above_the_old_snd_nxt() {
    // As tests/listener.rs's non-deferring case: 2 ms after our ISS the ISN clock lies
    // below the 2,000 bytes and FIN we sent, so the completed SYN's ISS is the old SND.NXT
    // + 250,000.
    let mut t = Harness::server(80);
    assert!(t.stack.set_listen_defer(80, Some(Duration::from_secs(5))));
    t.send(0, seg().syn().seq(1000));
    let p = t.stack.accept_pending(80).unwrap();
    let h = t.stack.complete_pending(instant(0), p).unwrap();
    t.flush();
    let sa = t.expect(0, seg().flags(SYNACK).ack(1001));
    let iss = sa.seq;
    t.send(0, seg().ack_flag().seq(1001).ack(iss + 1));
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
    t.expect_nothing_until(2);
    let p = t
        .stack
        .accept_pending(80)
        .expect("the reopening SYN is held");
    t.stack.complete_pending(instant(2), p).unwrap();
    t.flush();
    let sa = t.expect(2, seg().flags(SYNACK).ack(100_001));
    assert_eq!(sa.seq, (iss + 2002).wrapping_add(250_000));
    t.check_invariants();
}
