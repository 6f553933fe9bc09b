//! CPU cost of one short HTTP connection on the server side, for callgrind or perf.
//!
//! ```text
//! sim_conns ours|ours6|smoltcp N [CONCURRENT]
//! sim_conns N [CONCURRENT]              (ours)
//! ```
//!
//! `ours6` is `ours` with the client over IPv6 (fd66::1 to the stack's fd66::2), to compare
//! the per-connection cost of the two families.
//!
//! One of two servers against a scripted client that costs almost nothing: it writes
//! segments with `wire` and reads only the flags, sequence numbers and payload lengths of
//! what it gets. Each connection is what `ab` does without keep-alive: SYN; ACK;
//! `GET /bytes/100 HTTP/1.0`; read the response and the server's FIN (ACKing data that
//! comes without it); ACK and FIN. CONCURRENT (default 1) connections run at once.
//!
//! - `ours`: our stack with the in-loop servers (`apps::inloop`, as `tuntcp serve` runs
//!   them). A turn is the runtime's: input, timers, service, output.
//! - `smoltcp`: smoltcp 0.14 with the server of `smoltcp_server` (`support/smol_http.rs`:
//!   same responder, 64-socket pool recycled at TIME-WAIT, 256 KiB buffers) on an in-memory
//!   device (`support/sim_device.rs`). A turn is that server's main loop: `iface.poll`, then
//!   every socket's application, again while the application moved bytes.
//!
//! The clock moves 10 us per turn, or jumps to the server's next timer when nothing is in
//! flight and no connection is waiting to open. Run with N=0 and N=k and divide the
//! difference in instructions by k for instructions per connection:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.ours target/release/examples/sim_conns ours 5000 16
//! ```
//!
//! The output line gives the packets the server received and sent per connection, so the
//! two runs can be checked to do the same protocol work.
//!
//! callgrind counts each byte of a `rep stosb` as one instruction, and glibc's memset uses it
//! from 2 KiB: ours zeroes a 4 KiB receive buffer per connection, which counts about 4,100.
//! `GLIBC_TUNABLES=glibc.cpu.x86_rep_stosb_threshold=1000000` makes memset use vector stores.
//!
//! Where the two servers differ, each is left as it ships (as in the live benchmark): ours
//! holds closed connections in TIME-WAIT (`SIM_TW=0` sets `max_tw_buckets` to 0 to skip it),
//! smoltcp's pool aborts a socket that reaches TIME-WAIT and listens again at once; ours
//! accepts into a backlog, smoltcp serves at most 64 connections at once (one a socket);
//! ours allocates a connection's buffers on first use, smoltcp's pool allocates them at start
//! (outside the per-connection figure); the response heads differ in a few bytes. With ours,
//! keep N under 64,000: client ports are not reused while the server holds them in TIME-WAIT.
//! With smoltcp, CONCURRENT is at most 64 (a SYN beyond the pool gets a RST).

#[path = "support/sim_device.rs"]
mod sim_device;
#[path = "support/smol_http.rs"]
mod smol_http;

use sim_device::SimDevice;
use smoltcp::socket::tcp as smol_tcp;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use tuntcp::apps::inloop::{InLoopConfig, Servers};
use tuntcp::service::Service;
use tuntcp::stack::{Stack, StackConfig, Touched};
use tuntcp::time::{Duration, Instant};
use tuntcp::wire::{Ip6Meta, IpMeta, Packet, Packet6, Segment, Segment6, TcpFlags, TcpOptions};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 1);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 2);
const MTU: usize = 1500;
const REQUEST: &[u8] = b"GET /bytes/100 HTTP/1.0\r\nHost: 10.66.0.2\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n";

/// A server under test.
trait Server {
    /// One turn at `now`: takes in `input`, puts what it sends in `out` (a `Vec` a packet).
    fn turn(&mut self, now: Instant, input: &mut Vec<Vec<u8>>, out: &mut Vec<Vec<u8>>);
    /// When a timer of the server is due next.
    fn next_timer(&mut self, now: Instant) -> Option<Instant>;
    /// What the server says about itself at the end.
    fn report(&self) -> String;
}

struct Ours {
    stack: Stack,
    svc: Servers,
    touched: Vec<Touched>,
    buf: Vec<u8>,
}

impl Ours {
    fn new() -> Ours {
        let mut stack = Stack::new(StackConfig {
            addr: SERVER,
            mtu: MTU,
            seed: 1,
            max_tw_buckets: std::env::var("SIM_TW")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(65536),
            ..StackConfig::default()
        });
        let mut svc = Servers::new(InLoopConfig::default());
        svc.start(&mut stack).expect("listen");
        Ours {
            stack,
            svc,
            touched: Vec::new(),
            buf: vec![0; MTU],
        }
    }
}

impl Server for Ours {
    fn turn(&mut self, now: Instant, input: &mut Vec<Vec<u8>>, out: &mut Vec<Vec<u8>>) {
        for p in input.drain(..) {
            self.stack.handle_packet(now, &p);
        }
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
        }
        self.stack.take_touched(&mut self.touched);
        self.svc.poll(&mut self.stack, now, &self.touched);
        self.touched.clear();
        while let Some(len) = self.stack.poll_transmit(now, &mut self.buf) {
            out.push(self.buf[..len].to_vec());
        }
    }
    fn next_timer(&mut self, _now: Instant) -> Option<Instant> {
        [self.stack.poll_timeout(), self.svc.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }
    fn report(&self) -> String {
        format!(
            "requests={} server_left={}",
            self.svc.stats().requests,
            self.stack.connections().count()
        )
    }
}

struct Smol {
    server: smol_http::Server,
    dev: SimDevice,
}

fn smol_now(t: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(t.micros() as i64)
}

impl Smol {
    fn new() -> Smol {
        let mut dev = SimDevice::new(MTU);
        let server = smol_http::Server::new(
            &mut dev,
            1,
            smol_http::HTTP_SOCKETS,
            smol_http::BUFFER,
            smol_now(Instant::ZERO),
        );
        Smol { server, dev }
    }
}

impl Server for Smol {
    fn turn(&mut self, now: Instant, input: &mut Vec<Vec<u8>>, out: &mut Vec<Vec<u8>>) {
        self.dev.rx.extend(input.drain(..));
        while self.server.pass(smol_now(now), &mut self.dev) {}
        out.append(&mut self.dev.tx);
    }
    fn next_timer(&mut self, now: Instant) -> Option<Instant> {
        let s = &mut self.server;
        let delay = s.iface.poll_delay(smol_now(now), &s.sockets)?;
        Some(now + Duration::from_micros(delay.total_micros()))
    }
    fn report(&self) -> String {
        let busy = self.server.sockets.iter().filter(|(_, s)| {
            let smoltcp::socket::Socket::Tcp(s) = s;
            s.state() != smol_tcp::State::Listen
        });
        format!("server_left={}", busy.count())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    SynSent,
    /// Request sent; reading until the server's FIN.
    Requested,
    /// Our FIN sent; waiting for its ACK.
    FinSent,
}

struct Client {
    port: u16,
    step: Step,
    snd_nxt: u32,
    rcv_nxt: u32,
}

/// The client's IP version: IPv6 (`ours6`) or IPv4.
static V6: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn v6() -> bool {
    V6.load(std::sync::atomic::Ordering::Relaxed)
}

fn segment(port: u16, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    let options = if flags.syn() {
        TcpOptions {
            mss: Some(if v6() { 1440 } else { 1460 }),
            ..TcpOptions::default()
        }
    } else {
        TcpOptions::default()
    };
    if v6() {
        let s = Segment6 {
            src: SocketAddrV6::new(CLIENT6, port, 0, 0),
            dst: SocketAddrV6::new(SERVER6, 80, 0, 0),
            seq,
            ack,
            flags,
            window: 65535,
            urgent: 0,
            options,
            payload,
            ip: Ip6Meta::default(),
        };
        let mut buf = vec![0; s.buffer_len()];
        s.emit(&mut buf).expect("emit");
        return buf;
    }
    let s = Segment {
        src: SocketAddrV4::new(CLIENT, port).into(),
        dst: SocketAddrV4::new(SERVER, 80).into(),
        seq,
        ack,
        flags,
        window: 65535,
        urgent: 0,
        options,
        payload,
        ip: IpMeta::default(),
    };
    let mut buf = vec![0; s.buffer_len()];
    s.emit(&mut buf).expect("emit");
    buf
}

/// What the client reads of a server's segment: destination port, seq, ack, flags and
/// payload length (either family).
fn reply(p: &[u8]) -> Option<(u16, u32, u32, TcpFlags, usize)> {
    if v6() {
        let Ok(Packet6::Tcp(s)) = Packet6::parse(p) else {
            return None;
        };
        return Some((s.dst.port(), s.seq, s.ack, s.flags, s.payload.len()));
    }
    let Ok(Packet::Tcp(s)) = Packet::parse(p) else {
        return None;
    };
    Some((s.dst.port(), s.seq, s.ack, s.flags, s.payload.len()))
}

/// What a run did, for the output line.
#[derive(Default)]
struct Totals {
    turns: u64,
    jumps: u64,
    /// Packets into and out of the server.
    rx: u64,
    tx: u64,
    /// Payload bytes the clients got (response heads and bodies).
    payload: u64,
}

/// Runs `n` connections, `conc` at a time, against `server`; returns the end time.
fn run(server: &mut dyn Server, n: usize, conc: usize, t: &mut Totals) -> Instant {
    let mut now = Instant::ZERO;
    let mut to_server: Vec<Vec<u8>> = Vec::new();
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    let (mut started, mut done) = (0usize, 0usize);
    let mut next_port = 1024u16;
    while done < n {
        t.turns += 1;
        // Bounded: a stuck connection (e.g. a port reused while its tuple is still in
        // TIME-WAIT: this client sends no timestamps, so the SYN is not accepted) ends the run.
        assert!(
            t.turns < 100 * n as u64 + 1000,
            "stuck after {done} connections"
        );
        // Open connections up to the concurrency.
        while clients.len() < conc && started < n {
            let port = next_port;
            next_port = if next_port == 65535 {
                1024
            } else {
                next_port + 1
            };
            let isn = (started as u32).wrapping_mul(2_654_435_761);
            to_server.push(segment(port, isn, 0, TcpFlags::SYN, &[]));
            clients.push(Client {
                port,
                step: Step::SynSent,
                snd_nxt: isn.wrapping_add(1),
                rcv_nxt: 0,
            });
            started += 1;
        }
        t.rx += to_server.len() as u64;
        server.turn(now, &mut to_server, &mut out);
        t.tx += out.len() as u64;
        // The clients answer.
        for p in out.drain(..) {
            let Some((dport, s_seq, s_ack, f, s_len)) = reply(&p) else {
                continue;
            };
            let Some(i) = clients.iter().position(|c| c.port == dport) else {
                continue;
            };
            let c = &mut clients[i];
            match c.step {
                Step::SynSent if f.syn() && f.ack() => {
                    c.rcv_nxt = s_seq.wrapping_add(1);
                    to_server.push(segment(c.port, c.snd_nxt, c.rcv_nxt, TcpFlags::ACK, &[]));
                    let flags = TcpFlags::ACK | TcpFlags::PSH;
                    to_server.push(segment(c.port, c.snd_nxt, c.rcv_nxt, flags, REQUEST));
                    c.snd_nxt = c.snd_nxt.wrapping_add(REQUEST.len() as u32);
                    c.step = Step::Requested;
                }
                Step::Requested => {
                    t.payload += s_len as u64;
                    c.rcv_nxt = s_seq.wrapping_add(s_len as u32);
                    if f.fin() {
                        c.rcv_nxt = c.rcv_nxt.wrapping_add(1);
                        let flags = TcpFlags::ACK | TcpFlags::FIN;
                        to_server.push(segment(c.port, c.snd_nxt, c.rcv_nxt, flags, &[]));
                        c.snd_nxt = c.snd_nxt.wrapping_add(1);
                        c.step = Step::FinSent;
                    } else if s_len > 0 {
                        let ack = TcpFlags::ACK;
                        to_server.push(segment(c.port, c.snd_nxt, c.rcv_nxt, ack, &[]));
                    }
                }
                Step::FinSent if f.ack() && s_ack == c.snd_nxt => {
                    clients.swap_remove(i);
                    done += 1;
                }
                _ => {}
            }
        }
        if done == n {
            break;
        }
        // Nothing in flight and no connection to open next turn: jump to the next timer
        // (delayed ACKs).
        if to_server.is_empty() && (clients.len() == conc || started == n) {
            if let Some(next) = server.next_timer(now).filter(|&next| next > now) {
                now = next;
                t.jumps += 1;
                continue;
            }
        }
        now += Duration::from_micros(10);
    }
    now
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The kind may be left out (ours).
    let (kind, rest) = match args.first().map(String::as_str) {
        Some(k @ ("ours" | "ours6" | "smoltcp")) => (k, &args[1..]),
        _ => ("ours", &args[..]),
    };
    let num = |i: usize, default: usize| match rest.get(i) {
        None => default,
        Some(a) => a.parse().unwrap_or_else(|_| {
            eprintln!("usage: sim_conns [ours|ours6|smoltcp] N [CONCURRENT]");
            std::process::exit(2);
        }),
    };
    let (n, conc) = (num(0, 1000), num(1, 1).max(1));
    if kind == "smoltcp" && conc > smol_http::HTTP_SOCKETS {
        eprintln!(
            "sim_conns: smoltcp serves at most {} at once",
            smol_http::HTTP_SOCKETS
        );
        std::process::exit(2);
    }
    V6.store(kind == "ours6", std::sync::atomic::Ordering::Relaxed);
    let mut server: Box<dyn Server> = if kind.starts_with("ours") {
        Box::new(Ours::new())
    } else {
        Box::new(Smol::new())
    };
    let mut t = Totals::default();
    let end = run(server.as_mut(), n, conc, &mut t);
    let per = |x: u64| x as f64 / n.max(1) as f64;
    println!(
        "server={kind} connections={n} concurrent={conc} virtual_time={end} {} turns={} jumps={} \
         server_rx_per_conn={:.2} server_tx_per_conn={:.2} response_bytes_per_conn={:.1}",
        server.report(),
        t.turns,
        t.jumps,
        per(t.rx),
        per(t.tx),
        per(t.payload)
    );
}
