//! The runtime with an in-loop service, on a real event loop (no root): the device is one end
//! of a Unix datagram socket pair, the test drives a client stack on the other end. Proves
//! the service is served by the runtime thread and that socket-API users keep working beside
//! it. Bounded: every wait has a 10 s deadline.

#[path = "support/socket_device.rs"]
mod socket_device;

use socket_device::SocketDevice;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::net::UnixDatagram;
use tuntcp::api::{NetStack, TcpListener};
use tuntcp::apps::http::pattern_fill;
use tuntcp::apps::inloop::{InLoopConfig, Servers};
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::tcp::{Error, State};
use tuntcp::time::Instant;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);

/// The client stack on the test's end of the pair, on the test's own clock.
struct Client {
    stack: Stack,
    sock: UnixDatagram,
    start: std::time::Instant,
    buf: Vec<u8>,
}

impl Client {
    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// Moves packets both ways until `done` (panics after 10 s).
    fn pump_until(&mut self, mut done: impl FnMut(&mut Stack) -> bool) {
        while !done(&mut self.stack) {
            assert!(self.start.elapsed().as_secs() < 10, "timed out");
            let now = self.now();
            while let Ok(n) = self.sock.recv(&mut self.buf) {
                self.stack.handle_packet(now, &self.buf[..n]);
            }
            if self.stack.poll_timeout().is_some_and(|t| t <= now) {
                self.stack.handle_timeout(now);
            }
            while let Some(n) = self.stack.poll_transmit(now, &mut self.buf) {
                self.sock.send(&self.buf[..n]).expect("send to the runtime");
            }
        }
    }

    fn connect(&mut self, port: u16) -> SocketHandle {
        let now = self.now();
        let h = self
            .stack
            .connect(now, SocketAddrV4::new(SERVER, port))
            .unwrap();
        self.pump_until(|s| s.connection(h).map(|c| c.state()) == Some(State::Established));
        h
    }

    /// Sends `req`, then reads until the server closes.
    fn exchange(&mut self, h: SocketHandle, req: &[u8]) -> Vec<u8> {
        let mut sent = 0;
        let mut got = Vec::new();
        let mut buf = vec![0; 65536];
        let mut eof = false;
        self.pump_until(|s| {
            if sent < req.len() {
                sent += s.send(h, &req[sent..]).unwrap_or(0);
                if sent == req.len() {
                    s.shutdown_write(h);
                }
            }
            loop {
                match s.recv(h, &mut buf) {
                    Ok(0) => eof = true,
                    Ok(n) => {
                        got.extend_from_slice(&buf[..n]);
                        continue;
                    }
                    Err(Error::WouldBlock) => {}
                    Err(e) => panic!("recv: {e}"),
                }
                break;
            }
            eof
        });
        got
    }
}

fn setup() -> (NetStack, Client) {
    let (dev, test_end) = UnixDatagram::pair().unwrap();
    dev.set_nonblocking(true).unwrap();
    test_end.set_nonblocking(true).unwrap();
    let servers = Servers::new(InLoopConfig::default());
    let net = NetStack::with_device_and(
        Box::new(SocketDevice(dev)),
        StackConfig {
            addr: SERVER,
            seed: 3,
            ..StackConfig::default()
        },
        None,
        None,
        Some(Box::new(servers)),
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
    };
    (net, client)
}

#[test]
fn in_loop_http_and_a_socket_api_server_answer_side_by_side() {
    let (net, mut client) = setup();
    // A socket-API server on port 8, beside the in-loop ones: upper-cases what it reads.
    let listener = TcpListener::bind(&net, 8, 16).unwrap();
    let api = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        s.write_all(&all.to_ascii_uppercase()).unwrap();
    });
    let a = client.connect(8);
    let h = client.connect(80);
    let out = client.exchange(h, b"GET /bytes/5000 HTTP/1.1\r\nHost: x\r\n\r\n");
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(out.starts_with(b"HTTP/1.1 200 OK"));
    let mut want = vec![0; 5000];
    pattern_fill(0, &mut want);
    assert_eq!(out[end..], want[..]);
    assert_eq!(client.exchange(a, b"hello api"), b"HELLO API");
    api.join().unwrap();
    let e = client.connect(7);
    assert_eq!(client.exchange(e, b"echo in the loop"), b"echo in the loop");
    net.shutdown().unwrap();
}
