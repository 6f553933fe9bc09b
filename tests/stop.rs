//! Stopping a stack: `Stack::unlisten_all` and `Stack::abort_all` (RFC 9293 §3.10.5 ABORT
//! for every connection), as a server does on SIGTERM.

mod support;

use std::net::SocketAddrV4;
use support::*;
use tuntcp::tcp::{Error, State};
use tuntcp::wire::TcpFlags;

const FINACK: TcpFlags = TcpFlags(TcpFlags::FIN.0 | TcpFlags::ACK.0);
const RSTACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);

fn peer(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(PEER, port)
}

#[test]
fn abort_all_resets_each_synchronized_connection_at_snd_nxt_and_closes_the_listener() {
    let mut t = Harness::server(80);
    // A (5555): ESTABLISHED with 100 bytes of ours unacknowledged: SND.NXT = ISS+101.
    t.peer = peer(5555).into();
    let (a, iss_a) = t.establish(0, 1000, seg());
    assert_eq!(t.stack.send(a, &[7; 100]), Ok(100));
    t.flush();
    t.expect(0, seg().seq(iss_a + 1).len(100).to(peer(5555)));
    // B (5556): CLOSE-WAIT (the peer sent FIN).
    t.peer = peer(5556).into();
    let (b, iss_b) = t.establish(10, 2000, seg());
    t.send(20, seg().flags(FINACK).seq(2001).ack(iss_b + 1));
    t.expect(20, seg().flags(TcpFlags::ACK).ack(2002).to(peer(5556)));
    assert_eq!(t.state(b), State::CloseWait);
    // E (5559): TIME-WAIT after our close.
    t.peer = peer(5559).into();
    let (e, iss_e) = t.establish(25, 5000, seg());
    t.stack.close(e);
    t.flush();
    t.expect(25, seg().flags(FINACK).seq(iss_e + 1));
    t.send(26, seg().flags(FINACK).seq(5001).ack(iss_e + 2));
    t.expect(26, seg().flags(TcpFlags::ACK).ack(5002));
    // C (5557): SYN-RECEIVED (our SYN-ACK out, no ACK yet).
    t.peer = peer(5557).into();
    t.send(30, seg().syn().seq(3000));
    let iss_c = t.expect(30, seg().flags(TcpFlags::SYN | TcpFlags::ACK)).seq;
    // D (5558): ESTABLISHED, in the accept queue (never accepted).
    t.peer = peer(5558).into();
    t.send(40, seg().syn().seq(4000));
    let iss_d = t.expect(40, seg().flags(TcpFlags::SYN | TcpFlags::ACK)).seq;
    t.send(41, seg().ack_flag().seq(4001).ack(iss_d + 1));
    let before = t.stack.counters();

    assert_eq!(t.stack.abort_all(), 4, "A, B, C, D; not E in TIME-WAIT");
    t.flush();
    let mut rsts = t.drain();
    rsts.sort_by_key(|s| s.dst.port());
    let got: Vec<(u16, TcpFlags, u32, u32)> = rsts
        .iter()
        .map(|s| (s.dst.port(), s.flags, s.seq, s.ack))
        .collect();
    assert_eq!(
        got,
        vec![
            (5555, RSTACK, iss_a + 101, 1001),
            (5556, RSTACK, iss_b + 1, 2002),
            (5557, RSTACK, iss_c + 1, 3001),
            (5558, RSTACK, iss_d + 1, 4001),
        ],
        "one RST per synchronized connection, SEQ = SND.NXT\n{}",
        t.trace.join("\n")
    );
    let after = t.stack.counters();
    assert_eq!(after.tcp_out_rsts - before.tcp_out_rsts, 4);
    assert_eq!(
        after.tcp_estab_resets - before.tcp_estab_resets,
        3,
        "A, B, D left ESTABLISHED/CLOSE-WAIT by a reset"
    );
    // The application's handles fail from now on; the unowned TCBs are gone.
    assert_eq!(t.stack.send(a, b"late"), Err(Error::Aborted));
    assert_eq!(t.stack.recv(a, &mut [0; 8]), Err(Error::Aborted));
    assert_eq!(t.stack.connections().count(), 2, "only A and B, held");
    assert_eq!(t.stack.listeners().count(), 0);
    // The port is closed now: a new SYN gets RST (§3.10.7.1).
    t.peer = peer(6000).into();
    t.send(60, seg().syn().seq(9000));
    t.expect(60, seg().flags(RSTACK).seq(0).ack(9001));
    t.stack.close(a);
    t.stack.close(b);
    t.flush();
    assert_eq!(t.stack.connections().count(), 0);
    t.expect_nothing_until(200_000);
}

#[test]
fn abort_sends_no_rst_in_syn_sent_or_last_ack_after_our_fin() {
    // SYN-SENT: §3.10.5 "delete the TCB", nothing sent.
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).expect("connect");
    t.flush();
    t.expect(0, seg().flags(TcpFlags::SYN));
    assert_eq!(t.stack.abort_all(), 0);
    t.flush();
    assert_eq!(t.drain(), vec![], "no RST from SYN-SENT");
    assert_eq!(t.stack.send(h, b"x"), Err(Error::Aborted));

    // LAST-ACK with our FIN out: the peer has everything; nothing sent.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(5, seg().flags(FINACK).seq(1001).ack(iss + 1));
    t.expect(5, seg().flags(TcpFlags::ACK).ack(1002));
    t.stack.close(h);
    t.flush();
    t.expect(5, seg().flags(FINACK).seq(iss + 1));
    assert_eq!(t.stack.abort_all(), 0);
    t.flush();
    assert_eq!(t.drain(), vec![], "no RST from LAST-ACK");
    assert_eq!(t.stack.connections().count(), 0, "the orphan is freed");
    // Its final ACK now finds no TCB: RST (§3.10.7.1).
    t.send(6, seg().ack_flag().seq(1002).ack(iss + 2));
    t.expect(6, seg().flags(TcpFlags::RST).seq(iss + 2));
}

#[test]
fn unlisten_all_refuses_new_syns_and_keeps_accepted_connections() {
    let mut t = Harness::server(80);
    t.stack.listen(7, 16).expect("listen 7");
    let (h, iss) = t.establish(0, 1000, seg());
    assert_eq!(t.stack.unlisten_all(), 2);
    t.flush();
    assert_eq!(t.drain(), vec![], "the accepted connection is left alone");
    t.send(10, seg().data(b"hi").seq(1001).ack(iss + 1));
    t.expect_between(10, 510, seg().flags(TcpFlags::ACK).ack(1003));
    assert_eq!(t.stack.active_connections(), 1);
    t.peer = peer(6000).into();
    t.send(600, seg().syn().seq(9000));
    t.expect(600, seg().flags(RSTACK).ack(9001));
    t.send(601, seg().syn().seq(9000).to(SocketAddrV4::new(US, 7)));
    t.expect(601, seg().flags(RSTACK).ack(9001));
    let _ = h;
}
