//! A peer for tests of the API over a running `NetStack` without root: the device is one end
//! of a Unix datagram socket pair; a client stack on the test's end, on the test's own
//! clock, answers what the runtime writes. Every wait is bounded (10 s deadlines).

#![allow(dead_code)]

use super::socket_device::SocketDevice;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;
use tuntcp::api::{NetStack, TcpListener, TcpStream};
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::tcp::{Error, State};
use tuntcp::time::Instant;
use tuntcp::wire::Packet;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 1);
pub const SERVER6: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 2);
pub const BOUND: Duration = Duration::from_secs(10);

/// The peer: a client stack on the test's end of the pair, on the test's own clock.
pub struct Client {
    pub stack: Stack,
    pub sock: UnixDatagram,
    pub start: std::time::Instant,
    pub buf: Vec<u8>,
    /// Every RST the runtime wrote, as (source port, destination port).
    pub rsts: Vec<(u16, u16)>,
}

impl Client {
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// One round: what arrived in, timers, what to send out.
    pub fn pump(&mut self) {
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
    pub fn pump_until(&mut self, what: &str, mut done: impl FnMut(&mut Client) -> bool) {
        let t0 = std::time::Instant::now();
        while !done(self) {
            assert!(t0.elapsed() < BOUND, "timed out waiting for {what}");
            self.pump();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn connect(&mut self, port: u16) -> SocketHandle {
        self.connect_to(SocketAddrV4::new(SERVER, port).into())
    }

    /// Connects to `to` (either family) and pumps until ESTABLISHED.
    pub fn connect_to(&mut self, to: SocketAddr) -> SocketHandle {
        let now = self.now();
        let h = self.stack.connect(now, to).unwrap();
        self.pump_until("the handshake", |c| {
            c.stack.connection(h).map(|c| c.state()) == Some(State::Established)
        });
        h
    }

    pub fn error(&self, h: SocketHandle) -> Option<Error> {
        self.stack.connection(h).and_then(|c| c.error())
    }
}

pub fn setup() -> (NetStack, Client) {
    let (dev, test_end) = UnixDatagram::pair().unwrap();
    dev.set_nonblocking(true).unwrap();
    test_end.set_nonblocking(true).unwrap();
    let net = NetStack::with_device(
        Box::new(SocketDevice(dev)),
        StackConfig {
            addr: SERVER,
            addr6: Some(SERVER6),
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
            addr6: Some(CLIENT6),
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
pub fn accept(l: &TcpListener, client: &mut Client, port: u16) -> (TcpStream, SocketHandle) {
    accept_from(l, client, SocketAddrV4::new(SERVER, port).into())
}

/// [`accept`] with the client connecting to `to` (either family).
pub fn accept_from(
    l: &TcpListener,
    client: &mut Client,
    to: SocketAddr,
) -> (TcpStream, SocketHandle) {
    std::thread::scope(|s| {
        let t = s.spawn(|| l.accept().map(|(s, _)| s));
        let h = client.connect_to(to);
        client.pump_until("accept", |_| t.is_finished());
        (t.join().unwrap().expect("accept"), h)
    })
}

/// Runs `f` (an API call that waits on the peer) on a thread while the client pumps, and
/// returns its result.
pub fn run<R: Send>(client: &mut Client, f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        let t = s.spawn(f);
        client.pump_until("the call to return", |_| t.is_finished());
        t.join().unwrap()
    })
}
