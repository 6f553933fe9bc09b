//! std parity of the blocking API (issue 19), over a running `NetStack` without root: the
//! device is a Unix datagram socket pair with a client stack on the test's end
//! (tests/support/api_peer.rs). Every wait is bounded (10 s deadlines).

#[path = "support/api_peer.rs"]
mod api_peer;
#[path = "support/socket_device.rs"]
mod socket_device;

use api_peer::{accept, accept_from, run, setup, Client, CLIENT, CLIENT6, SERVER, SERVER6};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::time::Duration;
use tuntcp::api::{NetStack, TcpListener, TcpStream};
use tuntcp::stack::SocketHandle;
use tuntcp::tcp::{Error, State};

/// The client listens on `port` and the API connects to it; returns both ends.
fn connect_to_client(net: &NetStack, client: &mut Client, port: u16) -> (TcpStream, SocketHandle) {
    client.stack.listen(port, 8).unwrap();
    let s = run(client, || TcpStream::connect(net, (CLIENT, port))).expect("connect");
    let mut h = None;
    client.pump_until("the accept", |c| {
        h = c.stack.accept(port);
        h.is_some()
    });
    (s, h.unwrap())
}

/// Everything the client received on `h` so far.
fn client_read(client: &mut Client, h: SocketHandle) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0; 4096];
    while let Ok(n) = client.stack.recv(h, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn peer_closed(client: &Client, h: SocketHandle) -> bool {
    client.stack.connection(h).is_some_and(|c| c.at_eof())
}

#[test]
fn bind_to_port_0_listens_on_an_ephemeral_port_that_local_addr_reports() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, 0, 16).unwrap();
    let addr = l.local_addr().unwrap();
    assert_eq!(addr.ip(), SERVER);
    let port = addr.port();
    let (lo, hi) = net.with_stack(|s| s.config().local_port_range);
    assert!((lo..=hi).contains(&port), "{port} in the ephemeral range");
    let l2 = TcpListener::bind(&net, (Ipv4Addr::UNSPECIFIED, 0), 16).unwrap();
    assert_ne!(
        l2.local_addr().unwrap().port(),
        port,
        "a second bind gets another port"
    );
    // It really listens there.
    let (s, _) = accept(&l, &mut client, port);
    assert_eq!(s.local_addr().unwrap(), addr);
}

#[test]
fn bind_takes_std_style_addresses_and_refuses_foreign_ones() {
    let (net, _client) = setup();
    let a = TcpListener::bind(&net, "10.66.0.2:81", 16).unwrap();
    assert_eq!(
        a.local_addr().unwrap(),
        "10.66.0.2:81".parse::<SocketAddr>().unwrap()
    );
    let b = TcpListener::bind(&net, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 82), 16).unwrap();
    assert_eq!(b.local_addr().unwrap().port(), 82);
    let e = TcpListener::bind(&net, "10.66.0.9:83", 16).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{e}");
    let e = TcpListener::bind(&net, "[::1]:84", 16).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{e}");
    let e = TcpListener::bind(&net, 81, 16).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
}

#[test]
fn a_temporary_netstack_keeps_running_while_its_listener_lives() {
    let (net, mut client) = setup();
    // As `TcpListener::bind(&NetStack::tun(cfg)?, ..)`: the NetStack is gone after this.
    let l = TcpListener::bind(&{ net }, 8, 16).unwrap();
    let (mut s, ch) = accept(&l, &mut client, 8);
    s.write_all(b"hello").unwrap();
    client.pump_until("the data", |c| {
        c.stack.connection(ch).is_some_and(|c| c.recv_queue() == 5)
    });
    assert_eq!(client_read(&mut client, ch), b"hello");
}

#[test]
fn connect_takes_to_socket_addrs_and_refuses_a_loopback_ipv6_peer() {
    let (net, mut client) = setup();
    client.stack.listen(9000, 8).unwrap();
    let s = run(&mut client, || TcpStream::connect(&net, "10.66.0.1:9000")).unwrap();
    assert_eq!(
        s.peer_addr().unwrap(),
        "10.66.0.1:9000".parse::<SocketAddr>().unwrap()
    );
    let s2 = run(&mut client, || {
        TcpStream::connect(&net, [SocketAddr::from((CLIENT, 9000))].as_slice())
    })
    .unwrap();
    assert_ne!(s2.local_addr().unwrap(), s.local_addr().unwrap());
    // MUST-46: no loopback path on the link.
    let e = TcpStream::connect(&net, "[::1]:80").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // An address that fails among others is skipped, as std tries each in turn.
    let both: [SocketAddr; 2] = ["[::1]:9000".parse().unwrap(), (CLIENT, 9000).into()];
    run(&mut client, || TcpStream::connect(&net, both.as_slice())).unwrap();
}

#[test]
fn connect_from_binds_the_local_port_before_connecting() {
    let (net, mut client) = setup();
    client.stack.listen(9000, 8).unwrap();
    let s = run(&mut client, || {
        TcpStream::connect_from(&net, 40000, (CLIENT, 9000), None)
    })
    .unwrap();
    assert_eq!(s.local_addr().unwrap(), SocketAddr::from((SERVER, 40000)));
    client.pump_until("the accept", |c| {
        c.stack.accept(9000).is_some_and(|h| {
            c.stack.connection(h).unwrap().remote() == SocketAddr::from((SERVER, 40000))
        })
    });
    let e = TcpStream::connect_from(&net, 40000, (CLIENT, 9000), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "the same 4-tuple: {e}");
    let e = TcpStream::connect_from(&net, "10.66.0.9:0", (CLIENT, 9000), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{e}");
    // Port 0 on the stack's address: an ephemeral port.
    let s = run(&mut client, || {
        TcpStream::connect_from(&net, (SERVER, 0), (CLIENT, 9000), None)
    })
    .unwrap();
    assert_ne!(s.local_addr().unwrap().port(), 0);
}

#[test]
fn try_clone_shares_the_connection_and_it_closes_with_the_last_handle() {
    let (net, mut client) = setup();
    let (a, ch) = connect_to_client(&net, &mut client, 9000);
    let b = a.try_clone().unwrap();
    (&b).write_all(b"from b ").unwrap();
    (&a).write_all(b"from a").unwrap();
    client.pump_until("the data", |c| {
        c.stack.connection(ch).is_some_and(|c| c.recv_queue() == 13)
    });
    assert_eq!(client_read(&mut client, ch), b"from b from a");
    // Options are the socket's: set on one, seen on the other.
    a.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(b.read_timeout().unwrap(), Some(Duration::from_secs(3)));
    drop(a);
    for _ in 0..50 {
        client.pump();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!peer_closed(&client, ch), "one handle left: no FIN");
    client.stack.send(ch, b"to b").unwrap();
    let mut buf = [0; 4];
    run(&mut client, || (&b).read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"to b");
    drop(b);
    client.pump_until("the FIN", |c| peer_closed(c, ch));
    assert_eq!(client.error(ch), None, "closed with a FIN, not reset");
    drop(net);
}

#[test]
fn peek_returns_the_next_bytes_without_taking_them() {
    let (net, mut client) = setup();
    let (mut s, ch) = connect_to_client(&net, &mut client, 9000);
    // A peek waits for data like a read.
    let mut buf = [0; 16];
    let n = std::thread::scope(|sc| {
        let t = sc.spawn(|| s.peek(&mut buf));
        std::thread::sleep(Duration::from_millis(20));
        client.stack.send(ch, b"peekaboo").unwrap();
        client.pump_until("the peek", |_| t.is_finished());
        t.join().unwrap().unwrap()
    });
    assert_eq!(&buf[..n], b"peekaboo");
    let mut again = [0; 4];
    assert_eq!(s.peek(&mut again).unwrap(), 4);
    assert_eq!(&again, b"peek");
    let mut all = [0; 8];
    s.read_exact(&mut all).unwrap();
    assert_eq!(&all, b"peekaboo", "the read returns what the peeks saw");
    s.set_nonblocking(true).unwrap();
    assert_eq!(s.peek(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn take_error_reports_a_reset_once() {
    let (net, mut client) = setup();
    let (mut s, ch) = connect_to_client(&net, &mut client, 9000);
    assert!(s.take_error().unwrap().is_none(), "no error yet");
    client.stack.abort(ch);
    client.pump();
    let e = run(&mut client, || s.read(&mut [0; 8])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    let e = s.take_error().unwrap().expect("the reset");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset);
    assert!(s.take_error().unwrap().is_none(), "taken once");
}

#[test]
fn linger_zero_closes_with_a_rst_and_discards_the_send_queue() {
    let (net, mut client) = setup();
    let (s, ch) = connect_to_client(&net, &mut client, 9000);
    s.set_linger(Some(Duration::ZERO)).unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::ZERO));
    drop(s);
    client.pump_until("the RST", |c| !c.rsts.is_empty());
    assert_eq!(client.error(ch), Some(Error::Reset));
    assert!(!peer_closed(&client, ch), "no FIN before the RST");
    assert_eq!(
        net.with_stack(|st| st.connections().count()),
        0,
        "nothing left"
    );
}

#[test]
fn linger_makes_the_drop_wait_until_the_fin_is_acknowledged() {
    let (net, mut client) = setup();
    let (mut s, ch) = connect_to_client(&net, &mut client, 9000);
    s.set_linger(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[7; 3000]).unwrap();
    run(&mut client, move || drop(s));
    // When the drop returned, the data and our FIN were acknowledged.
    let states: Vec<State> =
        net.with_stack(|st| st.connections().map(|(_, c)| c.state()).collect());
    assert!(
        states
            .iter()
            .all(|s| matches!(s, State::FinWait2 | State::TimeWait)),
        "{states:?}"
    );
    assert_eq!(client_read(&mut client, ch).len(), 3000);
    // Nobody acknowledges: the drop returns after the linger time, not before.
    let (s, _ch) = connect_to_client(&net, &mut client, 9001);
    s.set_linger(Some(Duration::from_millis(200))).unwrap();
    let t0 = std::time::Instant::now();
    drop(s);
    assert!(t0.elapsed() >= Duration::from_millis(200));
}

#[test]
fn shutdown_read_makes_reads_return_0_and_drops_what_arrives_later() {
    let (net, mut client) = setup();
    let (mut s, ch) = connect_to_client(&net, &mut client, 9000);
    s.set_recv_buffer_size(16 * 1024).unwrap();
    client.stack.send(ch, b"queued before").unwrap();
    client.pump_until("the data", |_| matches!(s.queues(), Ok((13, _))));
    s.shutdown(Shutdown::Read).unwrap();
    assert_eq!(s.read(&mut [0; 64]).unwrap(), 0, "end of stream at once");
    assert_eq!(s.queues().unwrap().0, 0, "the queued data was dropped");
    // 1 MiB, 64 times the receive buffer: acknowledged and dropped, so it all leaves the
    // peer's send queue (a stalled window would time the pump out).
    let chunk = [1u8; 16 * 1024];
    let mut sent = 0;
    client.pump_until("1 MiB acknowledged", |c| {
        if sent < (1 << 20) {
            sent += c.stack.send(ch, &chunk).unwrap_or(0);
        }
        sent >= (1 << 20) && c.stack.connection(ch).is_some_and(|c| c.send_queue() == 0)
    });
    assert_eq!(s.queues().unwrap().0, 0);
    assert_eq!(s.read(&mut [0; 64]).unwrap(), 0);
    // Writing still works.
    s.write_all(b"reply").unwrap();
    client.pump_until("the reply", |c| {
        c.stack.connection(ch).is_some_and(|c| c.recv_queue() == 5)
    });
    assert_eq!(client_read(&mut client, ch), b"reply");
}

#[test]
fn timeouts_are_set_through_a_shared_reference_and_a_timed_out_read_would_block() {
    let (net, mut client) = setup();
    let (s, _ch) = connect_to_client(&net, &mut client, 9000);
    let r = &s;
    r.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    r.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(100)));
    assert_eq!(s.write_timeout().unwrap(), Some(Duration::from_millis(100)));
    let t0 = std::time::Instant::now();
    let e = (&s).read(&mut [0; 8]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "as std on Unix: {e}");
    assert!(t0.elapsed() >= Duration::from_millis(100));
    let e = s.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    s.set_read_timeout(None).unwrap();
    assert_eq!(s.read_timeout().unwrap(), None);
}

#[test]
fn writes_after_a_stop_are_refused_blocking_nonblocking_and_through_clones() {
    let (net, mut client) = setup();
    let (s, _ch) = connect_to_client(&net, &mut client, 9000);
    let c = s.try_clone().unwrap();
    c.set_nonblocking(true).unwrap();
    net.shutdown().unwrap();
    for h in [&s, &c] {
        let e = (&*h).write(&[0; 256 * 1024]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
        assert!(e.to_string().contains("stopped"), "{e}");
    }
    let e = TcpStream::connect(&net, (CLIENT, 9000)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
}

#[test]
fn errors_are_std_io_error_kinds() {
    let (net, mut client) = setup();
    // Nobody listens: a RST answers the SYN.
    let e = run(&mut client, || TcpStream::connect(&net, (CLIENT, 9))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    // Nobody answers (the client is not pumped): the caller's limit.
    let e = TcpStream::connect_timeout(&net, (CLIENT, 9), Some(Duration::from_millis(100)))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    let (s, _ch) = connect_to_client(&net, &mut client, 9000);
    s.shutdown(Shutdown::Write).unwrap();
    let e = (&s).write(b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
    let l = TcpListener::bind(&net, 8, 4).unwrap();
    l.set_nonblocking(true).unwrap();
    let e = l.accept().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    let e = TcpListener::bind(&net, 8, 4).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
}

// ---- IPv6 (issue 18) ----

#[test]
fn connect_over_ipv6_gives_ipv6_addresses_and_carries_data_both_ways() {
    let (net, mut client) = setup();
    client.stack.listen(9600, 8).unwrap();
    let mut s = run(&mut client, || TcpStream::connect(&net, "[fd66::1]:9600")).unwrap();
    let mut h = None;
    client.pump_until("the accept", |c| {
        h = c.stack.accept(9600);
        h.is_some()
    });
    let h = h.unwrap();
    assert_eq!(s.peer_addr().unwrap(), SocketAddr::from((CLIENT6, 9600)));
    let local = s.local_addr().unwrap();
    assert_eq!(local.ip(), SERVER6);
    let peer_sees = client.stack.connection(h).unwrap().remote();
    assert_eq!(peer_sees, local, "the peer sees our IPv6 address and port");
    s.write_all(b"over six").unwrap();
    client.pump_until("the data", |c| {
        c.stack.connection(h).is_some_and(|c| c.recv_queue() == 8)
    });
    assert_eq!(client_read(&mut client, h), b"over six");
    client.stack.send(h, b"back").unwrap();
    let mut buf = [0; 4];
    run(&mut client, || s.read_exact(&mut buf)).unwrap();
    assert_eq!(&buf, b"back");
}

#[test]
fn connect_from_an_ipv6_port_binds_it_and_refuses_a_mixed_family_pair() {
    let (net, mut client) = setup();
    client.stack.listen(9601, 8).unwrap();
    let s = run(&mut client, || {
        TcpStream::connect_from(&net, "[::]:40123", "[fd66::1]:9601", None)
    })
    .unwrap();
    assert_eq!(s.local_addr().unwrap(), SocketAddr::from((SERVER6, 40123)));
    let s2 = run(&mut client, || {
        TcpStream::connect_from(&net, (SERVER6, 0), (CLIENT6, 9601), None)
    })
    .unwrap();
    assert_eq!(s2.local_addr().unwrap().ip(), SERVER6);
    assert_ne!(s2.local_addr().unwrap().port(), 40123);
    let e = TcpStream::connect_from(&net, "[::]:0", (CLIENT, 9601), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let e = TcpStream::connect_from(&net, "10.66.0.2:0", (CLIENT6, 9601), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

#[test]
fn a_listener_on_the_ipv6_address_accepts_an_ipv6_peer_and_refuses_ipv4() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, "[fd66::2]:8600", 16).unwrap();
    assert_eq!(l.local_addr().unwrap(), SocketAddr::from((SERVER6, 8600)));
    let (s, h) = accept_from(&l, &mut client, (SERVER6, 8600).into());
    assert_eq!(s.local_addr().unwrap(), SocketAddr::from((SERVER6, 8600)));
    let peer = s.peer_addr().unwrap();
    assert_eq!(peer.ip(), CLIENT6);
    assert_eq!(peer, client.stack.connection(h).unwrap().local());
    // Bound to an IPv6 address: an IPv4 SYN to the port is answered as for a closed port.
    let now = client.now();
    let h4 = client.stack.connect(now, (SERVER, 8600)).unwrap();
    client.pump_until("the RST", |c| c.rsts.iter().any(|&(src, _)| src == 8600));
    assert_eq!(client.error(h4), Some(Error::Refused));
}

#[test]
fn a_listener_on_the_unspecified_ipv6_address_accepts_both_families() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, "[::]:0", 16).unwrap();
    let port = l.local_addr().unwrap().port();
    assert_eq!(l.local_addr().unwrap(), SocketAddr::from((SERVER6, port)));
    let (s6, _) = accept_from(&l, &mut client, (SERVER6, port).into());
    assert_eq!(s6.peer_addr().unwrap().ip(), CLIENT6);
    let (s4, _) = accept_from(&l, &mut client, (SERVER, port).into());
    assert_eq!(s4.peer_addr().unwrap().ip(), CLIENT);
    assert_eq!(s4.local_addr().unwrap(), SocketAddr::from((SERVER, port)));
}

#[test]
fn a_foreign_ipv6_bind_address_is_refused_as_eaddrnotavail() {
    let (net, _client) = setup();
    for a in ["[fd66::9]:80", "[::1]:80", "[fe80::2]:80"] {
        let e = TcpListener::bind(&net, a, 16).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{a}: {e}");
        let e = TcpStream::connect_from(&net, a, "[fd66::1]:80", None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{a}: {e}");
    }
    assert_eq!(net.local_addr6(), Some(SERVER6));
}

/// The client connects to `to` and must be refused with a RST from `to`'s port.
fn refused(client: &mut Client, to: SocketAddr) {
    let now = client.now();
    let h = client.stack.connect(now, to).unwrap();
    client.pump_until("the RST", |c| c.error(h).is_some());
    assert_eq!(client.error(h), Some(Error::Refused), "{to}");
}

#[test]
fn set_only_v6_makes_an_unspecified_ipv6_listener_refuse_ipv4_and_can_be_undone() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, "[::]:0", 16).unwrap();
    let port = l.local_addr().unwrap().port();
    // The default is Linux's net.ipv6.bindv6only=0: both families.
    assert!(!l.only_v6().unwrap());
    l.set_only_v6(true).unwrap();
    assert!(l.only_v6().unwrap());
    refused(&mut client, (SERVER, port).into());
    let (s6, _) = accept_from(&l, &mut client, (SERVER6, port).into());
    assert_eq!(s6.peer_addr().unwrap().ip(), CLIENT6);
    l.set_only_v6(false).unwrap();
    let (s4, _) = accept_from(&l, &mut client, (SERVER, port).into());
    assert_eq!(s4.peer_addr().unwrap().ip(), CLIENT);
}

#[test]
fn only_v6_is_invalid_on_an_ipv4_listener_and_a_v6_address_listener_stays_ipv6_only() {
    let (net, mut client) = setup();
    for a in ["0.0.0.0:8700", "10.66.0.2:8701"] {
        let l = TcpListener::bind(&net, a, 16).unwrap();
        assert_eq!(
            l.set_only_v6(true).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(l.only_v6().unwrap_err().kind(), ErrorKind::InvalidInput);
    }
    let l = TcpListener::bind(&net, 8702, 16).unwrap();
    assert_eq!(
        l.set_only_v6(false).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // Bound to the stack's IPv6 address: IPv6 only whatever the option says (as Linux).
    let l = TcpListener::bind(&net, "[fd66::2]:8703", 16).unwrap();
    l.set_only_v6(false).unwrap();
    assert!(!l.only_v6().unwrap());
    refused(&mut client, (SERVER, 8703).into());
    let (s6, _) = accept_from(&l, &mut client, (SERVER6, 8703).into());
    assert_eq!(s6.peer_addr().unwrap().ip(), CLIENT6);
}
