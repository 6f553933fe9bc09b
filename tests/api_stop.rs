//! Stopping a running stack through the API (no root): `NetStack::shutdown`, drop, and
//! `NetStack::shutdown_graceful`. The device is one end of a Unix datagram socket pair;
//! the test drives a client stack on the other end and reads what the runtime wrote. Every
//! wait is bounded (10 s deadlines).

#[path = "support/socket_device.rs"]
mod socket_device;

use socket_device::SocketDevice;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::net::UnixDatagram;
use std::sync::mpsc;
use std::time::Duration;
use tuntcp::api::{NetStack, TcpListener, TcpStream};
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::tcp::{Error, State};
use tuntcp::time::Instant;
use tuntcp::wire::Packet;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const BOUND: Duration = Duration::from_secs(10);

/// The peer: a client stack on the test's end of the pair, on the test's own clock.
struct Client {
    stack: Stack,
    sock: UnixDatagram,
    start: std::time::Instant,
    buf: Vec<u8>,
    /// Every RST the runtime wrote, as (source port, destination port).
    rsts: Vec<(u16, u16)>,
}

impl Client {
    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// One round: what arrived in, timers, what to send out.
    fn pump(&mut self) {
        let now = self.now();
        while let Ok(n) = self.sock.recv(&mut self.buf) {
            if let Ok(Packet::Tcp(s)) = Packet::parse(&self.buf[..n]) {
                if s.flags.rst() {
                    self.rsts.push((s.src.port(), s.dst.port()));
                }
            }
            self.stack.handle_packet(now, &self.buf[..n]);
        }
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
        }
        while let Some(n) = self.stack.poll_transmit(now, &mut self.buf) {
            // The runtime may be gone (after a stop): its end is then closed.
            let _ = self.sock.send(&self.buf[..n]);
        }
    }

    /// Pumps until `done` (panics after 10 s).
    #[track_caller]
    fn pump_until(&mut self, what: &str, mut done: impl FnMut(&mut Client) -> bool) {
        let t0 = std::time::Instant::now();
        while !done(self) {
            assert!(t0.elapsed() < BOUND, "timed out waiting for {what}");
            self.pump();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn connect(&mut self, port: u16) -> SocketHandle {
        let now = self.now();
        let h = self
            .stack
            .connect(now, SocketAddrV4::new(SERVER, port))
            .unwrap();
        self.pump_until("the handshake", |c| {
            c.stack.connection(h).map(|c| c.state()) == Some(State::Established)
        });
        h
    }

    fn error(&self, h: SocketHandle) -> Option<Error> {
        self.stack.connection(h).and_then(|c| c.error())
    }
}

fn setup() -> (NetStack, Client) {
    let (dev, test_end) = UnixDatagram::pair().unwrap();
    dev.set_nonblocking(true).unwrap();
    test_end.set_nonblocking(true).unwrap();
    let net = NetStack::with_device(
        Box::new(SocketDevice(dev)),
        StackConfig {
            addr: SERVER,
            seed: 3,
            ..StackConfig::default()
        },
        None,
        None,
    )
    .unwrap();
    let client = Client {
        stack: Stack::new(StackConfig {
            addr: CLIENT,
            seed: 4,
            ..StackConfig::default()
        }),
        sock: test_end,
        start: std::time::Instant::now(),
        buf: vec![0; 65536],
        rsts: Vec::new(),
    };
    (net, client)
}

/// Accepts on `l` while the client pumps (the accept blocks on the runtime).
fn accept(l: &TcpListener, client: &mut Client, port: u16) -> (TcpStream, SocketHandle) {
    std::thread::scope(|s| {
        let t = s.spawn(|| l.accept().map(|(s, _)| s));
        let h = client.connect(port);
        client.pump_until("accept", |_| t.is_finished());
        (t.join().unwrap().expect("accept"), h)
    })
}

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
fn dropping_the_stack_resets_its_connections() {
    let (net, mut client) = setup();
    let l = TcpListener::bind(&net, 8, 16).unwrap();
    let (s, ch) = accept(&l, &mut client, 8);
    drop(net);
    client.pump();
    assert_eq!(client.rsts.len(), 1, "the RST is out once the drop returns");
    assert_eq!(client.error(ch), Some(Error::Reset));
    drop(s);
    drop(l);
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
