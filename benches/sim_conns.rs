//! CPU cost of one short HTTP connection on the server side, for callgrind or perf.
//!
//! ```text
//! sim_conns N [CONCURRENT]
//! ```
//!
//! Our stack with the in-loop servers (`apps::inloop`, as `tuntcp serve` runs them), against
//! a scripted client that costs almost nothing: it writes segments with `wire` and reads
//! only the flags, sequence numbers and payload lengths of what it gets. Each connection is
//! what `ab` does without keep-alive: SYN; ACK; `GET /bytes/100 HTTP/1.0`; read the response
//! and the server's FIN; ACK and FIN. CONCURRENT (default 1) connections run at once. Each
//! turn is the runtime's (input, timers, service, output) with the clock moving 10 us per
//! turn. Run with N=0 and N=k and divide the difference by k for instructions per connection.
//! Keep N under 64,000: client ports are not reused while the server holds them in TIME-WAIT
//! (`SIM_TW=0` sets `max_tw_buckets` to 0, so the server skips TIME-WAIT).

use std::net::{Ipv4Addr, SocketAddrV4};
use tuntcp::apps::inloop::{InLoopConfig, Servers};
use tuntcp::service::Service;
use tuntcp::stack::{Stack, StackConfig, Touched};
use tuntcp::time::{Duration, Instant};
use tuntcp::wire::{IpMeta, Packet, Segment, TcpFlags, TcpOptions};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const REQUEST: &[u8] = b"GET /bytes/100 HTTP/1.0\r\nHost: 10.66.0.2\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n";

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

fn segment(port: u16, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    let s = Segment {
        src: SocketAddrV4::new(CLIENT, port),
        dst: SocketAddrV4::new(SERVER, 80),
        seq,
        ack,
        flags,
        window: 65535,
        urgent: 0,
        options: if flags.syn() {
            TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            }
        } else {
            TcpOptions::default()
        },
        payload,
        ip: IpMeta::default(),
    };
    let mut buf = vec![0; s.buffer_len()];
    s.emit(&mut buf).expect("emit");
    buf
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let conc: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut stack = Stack::new(StackConfig {
        addr: SERVER,
        seed: 1,
        max_tw_buckets: std::env::var("SIM_TW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(65536),
        ..StackConfig::default()
    });
    let mut svc = Servers::new(InLoopConfig::default());
    svc.start(&mut stack).expect("listen");
    let mut now = Instant::ZERO;
    let mut touched: Vec<Touched> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut to_server: Vec<Vec<u8>> = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    let (mut started, mut done) = (0usize, 0usize);
    let mut next_port = 1024u16;
    let (mut turns, mut jumps) = (0u64, 0u64);
    while done < n {
        turns += 1;
        // Bounded: a stuck connection (e.g. a port reused while its tuple is still in
        // TIME-WAIT: this client sends no timestamps, so the SYN is not accepted) ends the run.
        assert!(
            turns < 100 * n as u64 + 1000,
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
        // One runtime turn.
        for p in to_server.drain(..) {
            stack.handle_packet(now, &p);
        }
        if stack.poll_timeout().is_some_and(|t| t <= now) {
            stack.handle_timeout(now);
        }
        stack.take_touched(&mut touched);
        svc.poll(&mut stack, now, &touched);
        touched.clear();
        let mut out = Vec::new();
        while let Some(len) = stack.poll_transmit(now, &mut buf) {
            out.push(buf[..len].to_vec());
        }
        // The clients answer.
        for p in &out {
            let Ok(Packet::Tcp(s)) = Packet::parse(p) else {
                continue;
            };
            let Some(i) = clients.iter().position(|c| c.port == s.dst.port()) else {
                continue;
            };
            let c = &mut clients[i];
            let f = s.flags;
            match c.step {
                Step::SynSent if f.syn() && f.ack() => {
                    c.rcv_nxt = s.seq.wrapping_add(1);
                    to_server.push(segment(c.port, c.snd_nxt, c.rcv_nxt, TcpFlags::ACK, &[]));
                    let flags = TcpFlags::ACK | TcpFlags::PSH;
                    to_server.push(segment(c.port, c.snd_nxt, c.rcv_nxt, flags, REQUEST));
                    c.snd_nxt = c.snd_nxt.wrapping_add(REQUEST.len() as u32);
                    c.step = Step::Requested;
                }
                Step::Requested => {
                    c.rcv_nxt = s.seq.wrapping_add(s.payload.len() as u32);
                    if f.fin() {
                        c.rcv_nxt = c.rcv_nxt.wrapping_add(1);
                        let flags = TcpFlags::ACK | TcpFlags::FIN;
                        to_server.push(segment(c.port, c.snd_nxt, c.rcv_nxt, flags, &[]));
                        c.snd_nxt = c.snd_nxt.wrapping_add(1);
                        c.step = Step::FinSent;
                    } else if !s.payload.is_empty() {
                        let ack = TcpFlags::ACK;
                        to_server.push(segment(c.port, c.snd_nxt, c.rcv_nxt, ack, &[]));
                    }
                }
                Step::FinSent if f.ack() && s.ack == c.snd_nxt => {
                    clients.swap_remove(i);
                    done += 1;
                }
                _ => {}
            }
        }
        if to_server.is_empty() && clients.len() == conc.min(n - done + clients.len()) {
            // Nothing in flight: jump to the next timer (delayed ACKs).
            let next = [stack.poll_timeout(), svc.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            if let Some(t) = next.filter(|&t| t > now) {
                now = t;
                jumps += 1;
                continue;
            }
        }
        now += Duration::from_micros(10);
    }
    let st = svc.stats();
    println!(
        "connections={n} concurrent={conc} virtual_time={now} requests={} server_left={} turns={turns} jumps={jumps}",
        st.requests,
        stack.connections().count()
    );
}
