//! Stopping a running stack through the API (no root): `NetStack::shutdown`, drop, and
//! `NetStack::shutdown_graceful`. The device is one end of a Unix datagram socket pair;
//! the test drives a client stack on the other end and reads what the runtime wrote. Every
//! wait is bounded (10 s deadlines).

#[path = "support/api_peer.rs"]
mod api_peer;
#[path = "support/socket_device.rs"]
mod socket_device;

use api_peer::{accept, setup, BOUND, CLIENT, SERVER};
use std::io::{self, Read, Write};
use std::net::SocketAddrV4;
use std::sync::mpsc;
use std::time::Duration;
use tuntcp::api::{TcpListener, TcpStream};
use tuntcp::tcp::{Error, State};

fn is_stopped_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotConnected && e.to_string().contains("stopped")
}

#[test]
fn shutdown_resets_each_connection_before_it_returns_and_later_calls_fail() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, 8, 16).unwrap();
    let (mut a, ca) = accept(&l, &mut client, 8);
    let (mut b, cb) = accept(&l, &mut client, 8);
    let b_port = b.peer_addr().unwrap().port();
    a.write_all(b"unread by the peer").unwrap();
    net.shutdown().unwrap();
    // The RSTs were written to the device before `shutdown` returned: they are in the
    // socket now, without the runtime.
    client.pump();
    let mut rsts = client.rsts.clone();
    rsts.sort();
    let mut want = vec![(8, a.peer_addr().unwrap().port()), (8, b_port)];
    want.sort();
    assert_eq!(rsts, want, "one RST per connection");
    assert_eq!(client.error(ca), Some(Error::Reset));
    assert_eq!(client.error(cb), Some(Error::Reset));
    let c = net.with_stack(|s| s.counters());
    assert_eq!(c.tcp_out_rsts, 2);
    assert_eq!(c.tcp_estab_resets, 2);
    // Every later call fails: nothing is accepted as sent and then lost.
    let e = a.write(b"after the stop").unwrap_err();
    assert!(is_stopped_error(&e), "write: {e}");
    let e = b.read(&mut [0; 16]).unwrap_err();
    assert!(is_stopped_error(&e), "read: {e}");
    let Err(e) = l.accept() else {
        panic!("accept after the stop")
    };
    assert!(is_stopped_error(&e), "accept: {e}");
    let Err(e) = TcpListener::bind(&net, 9, 16) else {
        panic!("bind after the stop")
    };
    assert!(is_stopped_error(&e), "bind: {e}");
    let Err(e) = TcpStream::connect(&net, SocketAddrV4::new(CLIENT, 80)) else {
        panic!("connect after the stop")
    };
    assert!(is_stopped_error(&e), "connect: {e}");
    assert!(b.set_nodelay(true).is_err());
    assert!(net.is_stopped());
    net.shutdown().unwrap(); // a second call does nothing more
}

#[test]
fn dropping_the_stack_and_its_last_handle_resets_its_connections() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, 8, 16).unwrap();
    let (s, ch) = accept(&l, &mut client, 8);
    // The handles keep the stack running: the connection still works.
    drop(net);
    client.stack.send(ch, b"still there").unwrap();
    let mut buf = [0; 11];
    std::thread::scope(|sc| {
        let t = sc.spawn(|| (&s).read_exact(&mut buf));
        client.pump_until("the read", |_| t.is_finished());
        t.join()
            .unwrap()
            .expect("a read after the NetStack was dropped");
    });
    assert_eq!(&buf, b"still there");
    assert!(client.rsts.is_empty());
    drop(l);
    assert!(client.rsts.is_empty(), "the stream still holds the stack");
    // The last handle: its close and the stop's reset are out once the drop returns.
    drop(s);
    client.pump();
    assert_eq!(
        client.rsts.len(),
        1,
        "the RST is out once the last drop returns"
    );
    assert_eq!(client.error(ch), Some(Error::Reset));
}

#[test]
fn blocked_read_and_accept_wake_with_an_error_when_the_stack_stops() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, 8, 16).unwrap();
    let (mut s, _) = accept(&l, &mut client, 8);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let tx2 = tx.clone();
        scope.spawn(move || tx2.send(("read", s.read(&mut [0; 16]).map(|_| ()))));
        let l = &l;
        scope.spawn(move || tx.send(("accept", l.accept().map(|_| ()))));
        // Both are blocked (nothing can arrive: the client is not pumped).
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        net.shutdown().unwrap();
        for _ in 0..2 {
            let (what, r) = rx.recv_timeout(BOUND).expect("a blocked call woke");
            let e = r.expect_err(what);
            assert!(is_stopped_error(&e), "{what}: {e}");
        }
    });
}

#[test]
fn after_a_stop_received_data_and_a_clean_close_still_read_as_such() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, 8, 16).unwrap();
    let (mut s, ch) = accept(&l, &mut client, 8);
    client.stack.send(ch, b"last words").unwrap();
    client.stack.shutdown_write(ch);
    client.pump_until("the FIN", |_| {
        net.with_stack(|st| st.connections().all(|(_, c)| c.state() == State::CloseWait))
    });
    net.shutdown().unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("data, then end of stream");
    assert_eq!(got, b"last words");
    let e = s.write(b"reply").unwrap_err();
    assert!(is_stopped_error(&e), "write: {e}");
}

#[test]
fn shutdown_graceful_refuses_new_connections_and_waits_for_open_ones() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, 8, 16).unwrap();
    let (mut s, ch) = accept(&l, &mut client, 8);
    let port = s.peer_addr().unwrap().port();
    std::thread::scope(|scope| {
        let net = &net;
        let drain = scope.spawn(move || net.shutdown_graceful(BOUND));
        // The listener is closed at once: a new SYN is refused.
        let t0 = std::time::Instant::now();
        let refused = loop {
            assert!(t0.elapsed() < BOUND, "no refusal");
            let now = client.now();
            let h = client
                .stack
                .connect(now, SocketAddrV4::new(SERVER, 8))
                .unwrap();
            client.pump_until("an answer", |c| {
                c.stack.connection(h).map(|c| c.state()) != Some(State::SynSent)
            });
            match client.error(h) {
                Some(Error::Refused) => break true,
                // (The drain had not begun yet: that one was accepted by the backlog.)
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        assert!(refused);
        // The open connection still works both ways, then closes cleanly.
        client.stack.send(ch, b"ping").unwrap();
        client.pump_until("ping", |_| matches!(s.queues(), Ok((4, _))));
        let mut buf = [0; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"pong").unwrap();
        drop(s);
        client.stack.close(ch);
        client.pump_until("the drain to end", |_| drain.is_finished());
        let left = drain.join().unwrap().expect("graceful shutdown");
        assert_eq!(left, 0, "the connection closed before the deadline");
    });
    assert!(
        !client.rsts.iter().any(|&(_, dst)| dst == port),
        "no RST for the drained connection: {:?}",
        client.rsts
    );
    if let Some(c) = client.stack.connection(ch) {
        assert_eq!(c.error(), None, "closed cleanly, not reset");
    }
}

#[test]
fn shutdown_graceful_resets_what_is_still_open_at_the_deadline() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, 8, 16).unwrap();
    let (_s, ch) = accept(&l, &mut client, 8);
    let t0 = std::time::Instant::now();
    let left = std::thread::scope(|scope| {
        let net = &net;
        let drain = scope.spawn(move || net.shutdown_graceful(Duration::from_millis(300)));
        client.pump_until("the drain to end", |_| drain.is_finished());
        drain.join().unwrap().expect("graceful shutdown")
    });
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "waited the drain time"
    );
    assert_eq!(left, 1);
    client.pump();
    assert_eq!(client.error(ch), Some(Error::Reset));
}
