//! Readiness (issue 19): nonblocking API handles in a user's own `mio::Poll`, over a running
//! `NetStack` without root (tests/support/api_peer.rs). Each test polls and pumps the peer
//! by turns, with bounded waits (10 s).

#[path = "support/api_peer.rs"]
mod api_peer;
#[path = "support/socket_device.rs"]
mod socket_device;

use api_peer::{setup, Client, BOUND};
use mio::{Events, Interest, Poll, Token};
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;
use tuntcp::api::{NetStack, TcpListener, TcpStream};
use tuntcp::stack::SocketHandle;

const LISTENER: Token = Token(0);
const STREAM: Token = Token(1);

/// Polls (pumping the peer between polls) until an event for `token` comes; panics after
/// 10 s.
#[track_caller]
fn wait_event(poll: &mut Poll, client: &mut Client, token: Token) {
    let mut events = Events::with_capacity(16);
    let t0 = std::time::Instant::now();
    loop {
        assert!(t0.elapsed() < BOUND, "no event for {token:?}");
        client.pump();
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .unwrap();
        if events.iter().any(|e| e.token() == token) {
            return;
        }
    }
}

/// Reads until `WouldBlock` (as an edge-triggered loop must).
fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return out,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Waits for events and reads until `want` bytes came (events may be spurious: mio's
/// contract).
#[track_caller]
fn read_on_events(poll: &mut Poll, client: &mut Client, s: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = read_all(s);
    while got.len() < want {
        wait_event(poll, client, STREAM);
        got.extend(read_all(s));
    }
    got
}

/// A listener and an accepted stream, both nonblocking and registered.
fn accepted(
    net: &NetStack,
    poll: &mut Poll,
    client: &mut Client,
) -> (TcpListener, TcpStream, SocketHandle) {
    let mut l = TcpListener::bind(net, 8, 16).unwrap();
    l.set_nonblocking(true).unwrap();
    poll.registry()
        .register(&mut l, LISTENER, Interest::READABLE)
        .unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    let ch = client.connect(8);
    wait_event(poll, client, LISTENER);
    let (mut s, _) = l.accept().expect("the event meant a connection");
    s.set_nonblocking(true).unwrap();
    poll.registry()
        .register(&mut s, STREAM, Interest::READABLE | Interest::WRITABLE)
        .unwrap();
    (l, s, ch)
}

#[test]
fn a_mio_poll_hears_a_connection_then_each_arrival_of_data_and_the_close() {
    let (net, mut client) = setup();
    let mut poll = Poll::new().unwrap();
    let (_l, mut s, ch) = accepted(&net, &mut poll, &mut client);
    assert!(read_all(&mut s).is_empty());
    client.stack.send(ch, b"ping").unwrap();
    assert_eq!(read_on_events(&mut poll, &mut client, &mut s, 4), b"ping");
    // The WouldBlock re-armed the edge: the next data gives a new event.
    client.stack.send(ch, b"pong").unwrap();
    assert_eq!(read_on_events(&mut poll, &mut client, &mut s, 4), b"pong");
    s.write_all(b"reply").unwrap();
    client.pump_until("the reply", |c| {
        c.stack.connection(ch).is_some_and(|c| c.recv_queue() == 5)
    });
    let mut reply = [0; 5];
    assert_eq!(client.stack.recv(ch, &mut reply), Ok(5));
    assert_eq!(&reply, b"reply");
    client.stack.close(ch);
    wait_event(&mut poll, &mut client, STREAM);
    let mut buf = [0; 8];
    let t0 = std::time::Instant::now();
    // The FIN may come with or after the event of the reply's ACK.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => panic!("{n} unexpected bytes"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(t0.elapsed() < BOUND, "no end of stream");
                wait_event(&mut poll, &mut client, STREAM);
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn a_full_send_buffer_becomes_writable_with_an_event_when_acks_free_it() {
    let (net, mut client) = setup();
    let mut poll = Poll::new().unwrap();
    let (_l, mut s, ch) = accepted(&net, &mut poll, &mut client);
    s.set_send_buffer_size(8192).unwrap();
    let chunk = [3u8; 4096];
    let mut sent = 0;
    // The peer is not pumped: nothing is acknowledged, the buffer fills.
    loop {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
        assert!(sent < 1 << 20, "the send buffer never filled");
    }
    wait_event(&mut poll, &mut client, STREAM);
    let t0 = std::time::Instant::now();
    let n = loop {
        match s.write(&chunk) {
            Ok(n) => break n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(t0.elapsed() < BOUND, "never writable again");
                wait_event(&mut poll, &mut client, STREAM);
            }
            Err(e) => panic!("write: {e}"),
        }
    };
    assert!(n > 0);
    sent += n;
    client.pump_until("all the data", |c| {
        c.stack
            .connection(ch)
            .is_some_and(|c| c.recv_queue() == sent)
    });
}

#[test]
fn a_stop_wakes_a_registered_stream_and_its_calls_fail() {
    let (net, mut client) = setup();
    let mut poll = Poll::new().unwrap();
    let (_l, mut s, _ch) = accepted(&net, &mut poll, &mut client);
    assert!(read_all(&mut s).is_empty());
    net.shutdown().unwrap();
    wait_event(&mut poll, &mut client, STREAM);
    let e = s.write(b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
}

#[test]
fn a_deregistered_stream_gives_no_event_and_can_register_again() {
    let (net, mut client) = setup();
    let mut poll = Poll::new().unwrap();
    let (_l, mut s, ch) = accepted(&net, &mut poll, &mut client);
    assert!(read_all(&mut s).is_empty());
    poll.registry().deregister(&mut s).unwrap();
    client.stack.send(ch, b"unheard").unwrap();
    let mut events = Events::with_capacity(16);
    for _ in 0..20 {
        client.pump();
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .unwrap();
        assert!(
            events.iter().all(|e| e.token() != STREAM),
            "an event after deregister"
        );
    }
    let e = poll
        .registry()
        .reregister(&mut s, STREAM, Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // Registering again reports what is already there.
    poll.registry()
        .register(&mut s, STREAM, Interest::READABLE)
        .unwrap();
    wait_event(&mut poll, &mut client, STREAM);
    assert_eq!(read_all(&mut s), b"unheard");
}
