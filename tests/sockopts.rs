//! Per-socket options Linux applications use (and packetdrill's scripts test), as packet
//! traces: TCP_MAXSEG before the handshake.
mod support;

use support::*;
use tuntcp::wire::TcpFlags;

/// TCP_MAXSEG set before connect: the SYN offers it, and data goes out in segments of at
/// most that size even though the peer offers more (Linux `user_mss`).
#[test]
fn maxseg_set_before_connect_caps_the_syn_mss_and_the_segments() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).expect("connect");
    t.stack.with_connection(h, |c| c.set_maxseg(1100));
    t.flush();
    let syn = t.expect(at(0), seg().flags(TcpFlags::SYN).mss(1100));
    t.us = syn.src;
    t.send(
        at(10),
        seg()
            .syn()
            .ack_flag()
            .seq(5000)
            .ack(syn.seq + 1)
            .win(65535)
            .mss(1460),
    );
    t.expect(at(10), seg().flags(TcpFlags::ACK).ack(5001));
    // Once the SYN has left, the option changes nothing (the MSS was offered).
    t.stack.with_connection(h, |c| c.set_maxseg(500));
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 1100);
    t.stack.send(h, &[7u8; 2500]).unwrap();
    t.advance(at(10));
    t.expect(at(10), seg().seq(syn.seq + 1).len(1100));
    t.expect(at(10), seg().seq(syn.seq + 1101).len(1100));
    t.expect(at(10), seg().seq(syn.seq + 2201).len(300));
}

/// TCP_MAXSEG on a listener: its SYN-ACKs offer it and its connections send with it, even
/// to a peer that offers more.
#[test]
fn maxseg_on_a_listener_caps_the_synack_mss_and_the_segments() {
    let mut t = Harness::server(80);
    assert!(t.stack.set_listen_mss(80, Some(1100)));
    t.send(at(0), seg().syn().seq(1000).win(65535).mss(1300));
    let sa = t.expect(at(0), seg().flags(TcpFlags::SYN | TcpFlags::ACK).mss(1100));
    t.send(
        at(10),
        seg().ack_flag().seq(1001).ack(sa.seq + 1).win(65535),
    );
    let h = t.stack.accept(80).expect("accepted");
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 1100);
    t.stack.send(h, &[7u8; 1500]).unwrap();
    t.advance(at(10));
    t.expect(at(10), seg().seq(sa.seq + 1).len(1100));
    t.expect(at(10), seg().seq(sa.seq + 1101).len(400));
    // A listener without the option offers the link's MSS again.
    assert!(t.stack.set_listen_mss(80, None));
    t.peer = std::net::SocketAddrV4::new(PEER, 5556);
    t.send(at(20), seg().syn().seq(9000).win(65535).mss(1300));
    t.expect(at(20), seg().flags(TcpFlags::SYN | TcpFlags::ACK).mss(1460));
    assert!(!t.stack.set_listen_mss(81, Some(1000)));
}
