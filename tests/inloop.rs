//! The in-loop servers (`apps::inloop`) on a sans-IO stack: a client stack and a server stack
//! on a simulated link, one virtual clock that jumps to the next event, the service polled
//! each turn between input and output exactly as the runtime does.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use support::link::{Link, PipeConfig};
use tuntcp::apps::http::pattern_fill;
use tuntcp::apps::inloop::{InLoopConfig, Servers};
use tuntcp::service::Service;
use tuntcp::stack::{SocketHandle, Stack, StackConfig, Touched};
use tuntcp::tcp::{Error, State};
use tuntcp::time::{Duration, Instant};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);

struct World {
    client: Stack,
    server: Stack,
    svc: Servers,
    link: Link,
    now: Instant,
    buf: Vec<u8>,
    touched: Vec<Touched>,
    /// When the last turn ran (`now` has moved on to the next event since).
    turn_at: Instant,
    /// Most connection-owned bytes the service held at the end of any turn.
    peak_buffered: usize,
}

impl World {
    fn new() -> World {
        World::with(InLoopConfig::default(), PipeConfig::default())
    }

    fn with(cfg: InLoopConfig, pipe: PipeConfig) -> World {
        let stack = |addr, seed| {
            Stack::new(StackConfig {
                addr,
                seed,
                ..StackConfig::default()
            })
        };
        let mut server = stack(SERVER, 2);
        let mut svc = Servers::new(InLoopConfig {
            stack_name: "tuntcp test",
            ..cfg
        });
        svc.start(&mut server).unwrap();
        World {
            client: stack(CLIENT, 1),
            server,
            svc,
            link: Link::symmetric(pipe, 7).named("client", "server"),
            now: Instant::ZERO,
            buf: vec![0; 65536],
            touched: Vec::new(),
            peak_buffered: 0,
            turn_at: Instant::ZERO,
        }
    }

    /// One runtime turn on each side, then a jump to the next event (at most to `cap`).
    fn step(&mut self, cap: Instant) {
        let now = self.now;
        self.turn_at = now;
        while let Some(p) = self.link.recv_at_a(now) {
            self.client.handle_packet(now, &p);
        }
        while let Some(p) = self.link.recv_at_b(now) {
            self.server.handle_packet(now, &p);
        }
        for s in [&mut self.client, &mut self.server] {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
        // As `runtime::run`: the service between input and output.
        self.server.take_touched(&mut self.touched);
        self.svc.poll(&mut self.server, now, &self.touched);
        self.touched.clear();
        self.client.take_touched(&mut Vec::new());
        while let Some(n) = self.client.poll_transmit(now, &mut self.buf) {
            self.link.send_from_a(now, self.buf[..n].to_vec());
        }
        while let Some(n) = self.server.poll_transmit(now, &mut self.buf) {
            self.link.send_from_b(now, self.buf[..n].to_vec());
        }
        self.peak_buffered = self.peak_buffered.max(self.svc.buffered());
        let next = [
            self.link.next_arrival(),
            self.client.poll_timeout(),
            self.server.poll_timeout(),
            self.svc.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + Duration::from_millis(100)); // idle: let time pass
        self.now = next.min(cap).max(now + Duration::from_micros(1));
    }

    /// Steps until `done` or `secs` of virtual time pass.
    #[track_caller]
    fn run_until(&mut self, secs: u64, mut done: impl FnMut(&mut World) -> bool) {
        let deadline = self.now + Duration::from_secs(secs);
        while !done(self) {
            assert!(
                self.now < deadline,
                "not done by {}\n{}",
                self.now,
                self.link.render_trace()
            );
            self.step(deadline);
        }
    }

    /// Runs until virtual time `t` (events at `t` itself not yet processed).
    fn wait_until(&mut self, t: Instant) {
        while self.now < t {
            self.step(t);
        }
    }

    fn connect(&mut self, port: u16) -> SocketHandle {
        let h = self
            .client
            .connect(self.now, SocketAddrV4::new(SERVER, port))
            .unwrap();
        self.run_until(5, |w| {
            w.client.connection(h).map(|c| c.state()) == Some(State::Established)
        });
        h
    }

    fn send(&mut self, h: SocketHandle, data: &[u8]) {
        let mut sent = 0;
        self.run_until(60, |w| {
            sent += w.client.send(h, &data[sent..]).unwrap_or(0);
            sent == data.len()
        });
    }

    /// Reads until `n` bytes arrived (or EOF, then fewer).
    fn read(&mut self, h: SocketHandle, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0; 65536];
        self.run_until(120, |w| loop {
            if got.len() >= n {
                return true;
            }
            match w.client.recv(h, &mut buf[..(n - got.len()).min(65536)]) {
                Ok(0) => return true,
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(Error::WouldBlock) => return false,
                Err(e) => panic!("recv: {e}"),
            }
        });
        got
    }

    /// Reads until EOF (the server's FIN); panics on a reset.
    fn read_to_eof(&mut self, h: SocketHandle) -> Vec<u8> {
        self.read(h, usize::MAX)
    }

    /// Reads until `count` complete responses arrived.
    fn read_responses(&mut self, h: SocketHandle, count: usize) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = vec![0; 65536];
        self.run_until(60, |w| {
            while let Ok(k) = w.client.recv(h, &mut buf) {
                assert!(k > 0, "EOF after {} responses", responses(&out).len());
                out.extend_from_slice(&buf[..k]);
            }
            responses(&out).len() >= count
        });
        responses(&out)
    }

    fn server_conns(&self) -> usize {
        self.server.connections().count()
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

fn pattern(n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    pattern_fill(0, &mut v);
    v
}

/// Splits complete responses (each with Content-Length) into (head, body); an incomplete
/// one at the end is left out.
fn responses(mut out: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    while let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
        let end = end + 4;
        let head = String::from_utf8(out[..end].to_vec()).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("Content-Length")
            .parse()
            .unwrap();
        if out.len() < end + len {
            break;
        }
        v.push((head, out[end..end + len].to_vec()));
        out = &out[end + len..];
    }
    v
}

#[test]
fn response_leaves_in_the_same_turn_as_its_request() {
    let mut w = World::with(
        InLoopConfig::default(),
        PipeConfig {
            delay: Duration::from_millis(1),
            bandwidth: None,
            ..PipeConfig::default()
        },
    );
    let h = w.connect(80);
    let asked = w.now;
    w.send(h, &get("/bytes/100"));
    let mut buf = [0; 1000];
    w.run_until(5, |w| w.client.recv(h, &mut buf).is_ok());
    // 1 ms there, 1 ms back: the server answered in the turn the request arrived.
    assert_eq!(
        w.turn_at.saturating_since(asked),
        Duration::from_millis(2),
        "{}",
        w.link.render_trace()
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut w = World::new();
    let h = w.connect(80);
    let mut req = Vec::new();
    for i in 0..50 {
        req.extend(get(&format!("/bytes/{i}")));
    }
    req.extend(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    req.extend(b"GET /nothere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    w.send(h, &req);
    let out = w.read_to_eof(h);
    let v = responses(&out);
    for (i, (head, body)) in v[..50].iter().enumerate() {
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert_eq!(*body, pattern(i), "response {i}");
    }
    assert!(String::from_utf8_lossy(&v[50].1).starts_with("length=5 sha256="));
    assert!(v[51].0.starts_with("HTTP/1.1 404"));
    assert_eq!(w.svc.stats().requests, 52);
    assert_eq!(v.len(), 52);
    assert!(v[51].0.contains("Connection: close"));
}

#[test]
fn large_body_streams_over_many_turns_without_buffering_it() {
    let mut w = World::new();
    let h = w.connect(80);
    let n = 20_000_000;
    w.send(h, &get(&format!("/bytes/{n}")));
    let mut turns_before = 0u64;
    let mut got = Vec::new();
    let mut buf = vec![0; 65536];
    w.run_until(600, |w| {
        turns_before += 1;
        while let Ok(k) = w.client.recv(h, &mut buf) {
            got.extend_from_slice(&buf[..k]);
        }
        got.windows(4)
            .position(|x| x == b"\r\n\r\n")
            .is_some_and(|e| got.len() >= e + 4 + n)
    });
    let end = got.windows(4).position(|x| x == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(got.len(), end + n);
    assert!(got[end..] == pattern(n)[..], "body bytes differ");
    assert!(turns_before > 100, "took {turns_before} turns");
    // Generated only as send-buffer space freed up: never held by the server.
    assert_eq!(w.peak_buffered, 0);
}

#[test]
fn client_closing_early_frees_the_connection() {
    let mut w = World::new();
    let h = w.connect(80);
    w.send(h, &get("/bytes/100000000"));
    let first = w.read(h, 300_000);
    assert_eq!(first.len(), 300_000);
    w.client.close(h); // unread data: a RST (SHLD-3)
    w.run_until(10, |w| w.svc.open() == 0 && w.server_conns() == 0);
    assert_eq!(w.svc.stats().closed, 1);
}

#[test]
fn connection_close_sends_fin_right_behind_the_response() {
    let mut w = World::new();
    let h = w.connect(80);
    w.send(
        h,
        b"GET /bytes/1000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let out = w.read_to_eof(h);
    let v = responses(&out);
    assert_eq!(v.len(), 1);
    assert!(v[0].0.contains("Connection: close"));
    assert_eq!(v[0].1, pattern(1000));
    assert_eq!(w.svc.open(), 0, "closed at once, no lingering");
    assert_eq!(w.svc.stats().lingered, 0);
    w.client.close(h);
    // We closed first: TIME-WAIT is ours, the client's side is gone.
    w.run_until(5, |w| w.client.connections().count() == 0);
    let states: Vec<State> = w.server.connections().map(|(_, c)| c.state()).collect();
    assert_eq!(states, [State::TimeWait]);
    // TIME-WAIT keeps the TCB only: its buffers were given back.
    let tw = w.server.connections().next().unwrap().1;
    assert_eq!(tw.buffer_bytes(), 0);
}

#[test]
fn http10_short_connection_like_ab() {
    let mut w = World::new();
    for _ in 0..3 {
        let h = w.connect(80);
        w.send(
            h,
            b"GET /bytes/100 HTTP/1.0\r\nHost: x\r\nUser-Agent: ab\r\n\r\n",
        );
        let v = responses(&w.read_to_eof(h));
        assert_eq!(v[0].1, pattern(100));
        w.client.close(h);
    }
    w.run_until(5, |w| w.client.connections().count() == 0);
    assert_eq!(w.svc.stats().accepted, 3);
    assert_eq!(w.svc.open(), 0);
}

#[test]
fn error_response_lingers_so_unread_bytes_do_not_reset_it() {
    let mut w = World::new();
    let h = w.connect(80);
    // A malformed head, then more bytes the server will never parse.
    let mut req = b"GET / HTTP/1.1\r\n\r\n".to_vec();
    req.extend(vec![b'x'; 100_000]);
    w.send(h, &req);
    let out = w.read_to_eof(h);
    let v = responses(&out);
    assert!(v[0].0.starts_with("HTTP/1.1 400"), "{}", v[0].0);
    assert_eq!(w.svc.stats().lingered, 1);
    w.client.close(h);
    w.run_until(5, |w| w.svc.open() == 0);
}

#[test]
fn partial_head_times_out_with_408_after_10_s() {
    let mut w = World::new();
    let h = w.connect(80);
    let t0 = w.now;
    w.send(h, b"GET / HTTP/1.1\r\nHo");
    w.run_until(1, |w| w.svc.buffered() > 0);
    // Still waiting just before the deadline, holding only the partial head.
    w.wait_until(t0 + Duration::from_millis(9_990));
    assert_eq!(w.svc.open(), 1);
    assert!(w.svc.buffered() <= 64 * 1024);
    let out = w.read_to_eof(h);
    let secs = w.now.saturating_since(t0);
    assert!(
        secs >= Duration::from_secs(10) && secs < Duration::from_secs(11),
        "{secs}"
    );
    let v = responses(&out);
    assert!(v[0].0.starts_with("HTTP/1.1 408"), "{}", v[0].0);
    assert!(v[0].0.contains("Connection: close"));
    assert_eq!(w.svc.stats().header_timeouts, 1);
    assert_eq!(w.svc.buffered(), 0, "the partial head was freed");
}

#[test]
fn head_completed_in_time_is_not_timed_out() {
    let mut w = World::new();
    let h = w.connect(80);
    w.send(h, b"GET /bytes/3 HTTP/1.1\r\n");
    w.wait_until(Instant::from_secs(8));
    w.send(h, b"Host: x\r\n\r\n");
    let v = w.read_responses(h, 1);
    assert!(v[0].0.starts_with("HTTP/1.1 200"), "answered");
    w.wait_until(Instant::from_secs(25));
    assert_eq!(w.svc.stats().header_timeouts, 0);
    assert_eq!(w.svc.open(), 1);
}

#[test]
fn body_shorter_than_its_length_gets_408_after_60_s_without_a_byte() {
    let mut w = World::new();
    let h = w.connect(80);
    w.send(
        h,
        b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    );
    let t0 = w.now;
    // More of the body at 50 s keeps it alive: the clock runs from the last byte.
    w.wait_until(t0 + Duration::from_secs(50));
    assert_eq!(w.svc.open(), 1);
    w.send(h, b"de");
    let t1 = w.now;
    w.wait_until(t1 + Duration::from_millis(59_900));
    assert_eq!(w.svc.stats().body_timeouts, 0, "not before 60 s of silence");
    let out = w.read_to_eof(h);
    let silent = w.now.saturating_since(t1);
    assert!(
        silent >= Duration::from_secs(60) && silent < Duration::from_secs(61),
        "{silent}"
    );
    let v = responses(&out);
    assert_eq!(v.len(), 1);
    assert!(v[0].0.starts_with("HTTP/1.1 408"), "{}", v[0].0);
    assert!(v[0].0.contains("Connection: close"));
    assert_eq!(w.svc.stats().body_timeouts, 1);
    assert_eq!(w.svc.stats().header_timeouts, 0);
}

#[test]
fn body_that_keeps_coming_is_never_timed_out() {
    let mut w = World::new();
    let h = w.connect(80);
    w.send(
        h,
        b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
    );
    // One byte every 40 s: 200 s in all, more than three body timeouts, never 60 s silent.
    for (i, b) in b"hello".iter().enumerate() {
        w.wait_until(Instant::from_secs(40 * (i as u64 + 1)));
        w.send(h, &[*b]);
    }
    let v = w.read_responses(h, 1);
    assert!(v[0].0.starts_with("HTTP/1.1 200"), "{}", v[0].0);
    assert_eq!(w.svc.stats().body_timeouts, 0);
    assert_eq!(w.svc.open(), 1, "kept alive for the next request");
}

#[test]
fn idle_connection_without_bytes_has_no_timeout() {
    let mut w = World::new();
    let _h = w.connect(80);
    w.wait_until(Instant::from_secs(100));
    assert_eq!(w.svc.open(), 1);
    assert_eq!(w.svc.buffered(), 0);
}

#[test]
fn echo_returns_a_megabyte_byte_exact_and_discard_swallows_one() {
    let mut w = World::new();
    let data = pattern(1 << 20);
    let e = w.connect(7);
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0; 65536];
    w.run_until(60, |w| {
        sent += w.client.send(e, &data[sent..]).unwrap_or(0);
        while let Ok(k) = w.client.recv(e, &mut buf) {
            if k == 0 {
                break;
            }
            got.extend_from_slice(&buf[..k]);
        }
        got.len() == data.len()
    });
    assert!(got == data, "echoed bytes differ");
    w.client.close(e);
    let d = w.connect(9);
    w.send(d, &data);
    w.client.shutdown_write(d);
    assert!(w.read_to_eof(d).is_empty(), "discard sends nothing");
    w.client.close(d);
    w.run_until(5, |w| w.svc.open() == 0);
    assert_eq!(w.svc.stats().accepted, 2);
}
