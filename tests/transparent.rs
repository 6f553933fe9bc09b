//! The transparent listener: SYNs to any address inside `StackConfig::transparent` are
//! terminated by the stack, the destination the peer asked for becoming the connection's
//! local address (what `tuntcp proxy` relays to). Bounded like every listener.

mod support;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use support::*;
use tuntcp::stack::{Stack, StackConfig};
use tuntcp::wire::{IcmpMessage, IcmpPacket, IpMeta, TcpFlags};

const SYNACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
const ANY: u16 = Stack::TRANSPARENT_PORT;

fn dst(a: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(a), port))
}

fn cfg() -> StackConfig {
    StackConfig {
        transparent: vec![
            "198.51.100.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
        ..Harness::config()
    }
}

fn transparent(backlog: usize, cfg: StackConfig) -> Harness {
    let mut t = Harness::with_config(cfg);
    t.stack.listen_transparent(backlog).unwrap();
    t
}

#[test]
fn a_syn_to_any_address_in_the_prefix_is_accepted_as_that_address() {
    let mut t = transparent(16, cfg());
    let to = dst([198, 51, 100, 7], 443);
    t.send(0, seg().syn().seq(1000).to(to));
    // The SYN-ACK comes from the address the peer asked for.
    let sa = t.expect(0, seg().flags(SYNACK).ack(1001).from(to));
    t.send(1, seg().ack_flag().seq(1001).ack(sa.seq + 1).to(to));
    let h = t.stack.accept(ANY).expect("accepted");
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.local(), to);
    assert_eq!(c.remote(), t.peer);
    // Data both ways on it.
    t.send(
        2,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(sa.seq + 1)
            .data(b"GET /")
            .to(to),
    );
    assert_eq!(t.read_all(h), b"GET /");
    t.expect(2, seg().ack_flag().ack(1006).from(to));
    t.stack.send(h, b"200").unwrap();
    t.flush();
    t.expect(2, seg().data(b"200").from(to).to(t.peer));
    // A second destination, another port: another connection.
    let to2 = dst([198, 51, 100, 200], 80);
    t.send(3, seg().syn().seq(5000).to(to2));
    t.expect(3, seg().flags(SYNACK).ack(5001).from(to2));
    t.check_invariants();
}

#[test]
fn a_syn_outside_the_prefix_gets_nothing() {
    let mut t = transparent(16, cfg());
    let before = t.stack.counters().ip_in_addr_errors;
    t.send(0, seg().syn().seq(1000).to(dst([198, 51, 101, 7], 443)));
    t.send(0, seg().syn().seq(1000).to(dst([203, 0, 113, 1], 80)));
    t.expect_nothing_until(3000);
    assert_eq!(t.stack.counters().ip_in_addr_errors, before + 2);
    assert_eq!(t.stack.connections().count(), 0);
}

#[test]
fn without_a_transparent_listener_the_prefix_is_a_closed_port() {
    let mut t = Harness::with_config(cfg());
    let to = dst([198, 51, 100, 7], 443);
    t.send(0, seg().syn().seq(1000).to(to));
    t.expect(
        0,
        seg()
            .flags(TcpFlags::RST | TcpFlags::ACK)
            .ack(1001)
            .from(to),
    );
}

#[test]
fn our_own_address_keeps_its_port_listeners() {
    let mut t = transparent(16, cfg());
    t.stack.listen(80, 16).unwrap();
    // Port 80 of our own address: its listener, not the transparent one.
    t.send(0, seg().syn().seq(1000).to(dst([10, 66, 0, 2], 80)));
    let sa = t.expect(0, seg().flags(SYNACK).from(dst([10, 66, 0, 2], 80)));
    t.send(
        0,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(sa.seq + 1)
            .to(dst([10, 66, 0, 2], 80)),
    );
    assert!(t.stack.accept(ANY).is_none());
    assert!(t.stack.accept(80).is_some());
    // A port of ours with no listener is closed, and port 0 is never transparent.
    t.send(1, seg().syn().seq(1000).to(dst([10, 66, 0, 2], 81)));
    t.expect(1, seg().flags(TcpFlags::RST | TcpFlags::ACK));
    t.send(2, seg().syn().seq(1000).to(dst([10, 66, 0, 2], 0)));
    t.expect(2, seg().flags(TcpFlags::RST | TcpFlags::ACK));
    // `listen(0)` cannot create the transparent listener by accident.
    assert!(t.stack.listen(0, 1).is_err());
    assert!(t.stack.listen_transparent(1).is_err());
}

#[test]
fn the_backlog_bounds_the_transparent_listener() {
    // No cookies: the SYN queue (backlog 2) is a hard bound, the third SYN is dropped.
    let mut t = transparent(
        2,
        StackConfig {
            syncookies: false,
            ..cfg()
        },
    );
    for (i, host) in [1u8, 2, 3].into_iter().enumerate() {
        t.send(
            0,
            seg()
                .syn()
                .seq(1000)
                .from(SocketAddrV4::new(PEER, 6000 + i as u16))
                .to(dst([198, 51, 100, host], 443)),
        );
    }
    let out = t.drain();
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out.iter().all(|s| s.flags == SYNACK));
    assert_eq!(t.stack.connections().count(), 2);
    assert_eq!(t.stack.counters().tcp_ext_listen_drops, 1);
    t.check_invariants();
}

#[test]
fn syn_cookies_keep_the_original_destination() {
    // Backlog 1: the second SYN is answered with a cookie; its ACK opens a connection
    // whose local address is still the destination asked for.
    let mut t = transparent(1, cfg());
    t.send(0, seg().syn().seq(1000).to(dst([198, 51, 100, 1], 443)));
    t.expect(0, seg().flags(SYNACK));
    let to = dst([198, 51, 100, 9], 8443);
    let from = SocketAddrV4::new(PEER, 7000);
    t.send(1, seg().syn().seq(3000).from(from).to(to));
    let sa = t.expect(1, seg().flags(SYNACK).from(to).to(from));
    assert_eq!(t.stack.counters().tcp_ext_syncookies_sent, 1);
    t.send(
        2,
        seg().ack_flag().seq(3001).ack(sa.seq + 1).from(from).to(to),
    );
    assert_eq!(t.stack.counters().tcp_ext_syncookies_recv, 1);
    let h = t.stack.accept(ANY).expect("the cookie's connection");
    assert_eq!(t.stack.connection(h).unwrap().local(), to);
}

#[test]
fn icmp_echo_to_a_transparent_address_gets_no_reply() {
    let mut t = transparent(16, cfg());
    let p = IcmpPacket {
        src: PEER,
        dst: Ipv4Addr::new(198, 51, 100, 7),
        ip: IpMeta::default(),
        message: IcmpMessage::EchoRequest {
            ident: 1,
            seq: 1,
            data: b"ping",
        },
    };
    let mut buf = vec![0; p.buffer_len()];
    p.emit(&mut buf).unwrap();
    t.send_raw(0, &buf);
    t.advance(10);
    assert!(t.out.is_empty(), "{:?}", t.trace);
}

#[test]
fn ipv6_syns_in_the_prefix_are_accepted_too() {
    let mut t = transparent(16, cfg());
    t.peer = SocketAddr::V6(SocketAddrV6::new(PEER6, 5555, 0, 0));
    let to = SocketAddr::V6(SocketAddrV6::new("2001:db8::7".parse().unwrap(), 443, 0, 0));
    t.send(0, seg().syn().seq(1000).to(to));
    let sa = t.expect(0, seg().flags(SYNACK).ack(1001).from(to));
    t.send(1, seg().ack_flag().seq(1001).ack(sa.seq + 1).to(to));
    let h = t.stack.accept(ANY).expect("accepted");
    assert_eq!(t.stack.connection(h).unwrap().local(), to);
    // Outside the prefix: nothing.
    let out = SocketAddr::V6(SocketAddrV6::new("2001:db9::7".parse().unwrap(), 443, 0, 0));
    t.send(2, seg().syn().seq(1000).to(out));
    t.expect_nothing_until(3000);
}
