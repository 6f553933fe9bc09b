//! CPU cost per byte in the simulator, for `valgrind --tool=callgrind` (`scripts/bench.sh`).
//!
//! ```text
//! sim_cost ours|ours6|smoltcp BYTES
//! ```
//!
//! `ours6` is `ours` over IPv6 (fd66::1 to fd66::2, MSS 1440 from the same MTU), to compare
//! the per-byte cost of the two families.
//!
//! Two stacks of the same kind (two of ours, or two smoltcp 0.14 interfaces) on an
//! in-memory link at MTU 1500, 256 KiB socket buffers, each stack's default options: one
//! connection, then BYTES from A to B. Packets sent in one step arrive in the next; the
//! virtual clock moves 10 us per step, or jumps to the next timer when nothing is in flight.
//! Both ends run in this process, so the instruction count covers sending and receiving.
//! The harness work is the same for both (a zeroed `Vec` per packet sent, written in place
//! by the stack; one `VecDeque` per direction), and so is the application work (copy from a
//! constant 64 KiB buffer, copy into a 64 KiB buffer): run it with BYTES=0 and BYTES=N and
//! divide the difference by N.
//!
//! Same MTU (so MSS 1460 both ways), same buffers, same application chunks. Where the
//! defaults differ the comparison is left as each stack ships, which costs ours: we offer
//! timestamps (RFC 7323) and SACK and smoltcp 0.14 sends no timestamps by default, so our
//! data segments carry 12 option bytes and 1448 payload bytes against its 1460 (about 1%
//! more packets to build, checksum and parse per byte).

#[path = "support/sim_device.rs"]
mod sim_device;

use sim_device::SimDevice;
use smoltcp::iface::{Config as SmolConfig, Interface, SocketHandle as SmolHandle, SocketSet};
use smoltcp::socket::tcp as smol_tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::time::Instant;

const A: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 2);
const MTU: usize = 1500;
const BUFFER: usize = 256 * 1024;
const PORT: u16 = 80;
const STEP_US: u64 = 10;

/// One end of the link, whichever stack it is.
trait Node {
    fn deliver(&mut self, p: Vec<u8>);
    /// Takes in delivered packets, runs due timers, puts what it sends in `out`.
    fn poll(&mut self, now: u64, out: &mut Vec<Vec<u8>>);
    fn send(&mut self, data: &[u8]) -> usize;
    fn recv(&mut self, buf: &mut [u8]) -> usize;
    fn connected(&self) -> bool;
    fn next_wakeup(&mut self, now: u64) -> Option<u64>;
}

struct Ours {
    stack: Stack,
    inbox: VecDeque<Vec<u8>>,
    conn: Option<SocketHandle>,
    listening: bool,
    spare: Vec<u8>,
}

impl Ours {
    fn new(addr: Ipv4Addr, addr6: Ipv6Addr, seed: u64) -> Ours {
        Ours {
            stack: Stack::new(StackConfig {
                addr,
                addr6: Some(addr6),
                prefix_len: 24,
                mtu: MTU,
                seed,
                ..StackConfig::default()
            }),
            inbox: VecDeque::new(),
            conn: None,
            listening: false,
            spare: vec![0; MTU],
        }
    }
}

impl Node for Ours {
    fn deliver(&mut self, p: Vec<u8>) {
        self.inbox.push_back(p);
    }
    fn poll(&mut self, now: u64, out: &mut Vec<Vec<u8>>) {
        let now = Instant::from_micros(now);
        while let Some(p) = self.inbox.pop_front() {
            self.stack.handle_packet(now, &p);
        }
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
        }
        // Like smoltcp's TxToken below: one zeroed buffer per packet sent, written in place
        // (the spare is only replaced when a packet was written into it).
        while let Some(n) = self.stack.poll_transmit(now, &mut self.spare) {
            let mut p = std::mem::replace(&mut self.spare, vec![0; MTU]);
            p.truncate(n);
            out.push(p);
        }
        if self.listening && self.conn.is_none() {
            self.conn = self.stack.accept(PORT);
        }
    }
    fn send(&mut self, data: &[u8]) -> usize {
        self.conn
            .and_then(|h| self.stack.send(h, data).ok())
            .unwrap_or(0)
    }
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        self.conn
            .and_then(|h| self.stack.recv(h, buf).ok())
            .unwrap_or(0)
    }
    fn connected(&self) -> bool {
        self.conn.is_some_and(|h| {
            self.stack
                .connection(h)
                .is_some_and(|c| c.state() == tuntcp::tcp::State::Established)
        })
    }
    fn next_wakeup(&mut self, _now: u64) -> Option<u64> {
        self.stack.poll_timeout().map(|t| t.micros())
    }
}

struct Smol {
    iface: Interface,
    dev: SimDevice,
    sockets: SocketSet<'static>,
    handle: SmolHandle,
}

fn smol_now(us: u64) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(us as i64)
}

impl Smol {
    fn new(addr: Ipv4Addr, seed: u64) -> Smol {
        let mut dev = SimDevice::new(MTU);
        let mut cfg = SmolConfig::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, &mut dev, smol_now(0));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::from(addr), 24))
                .expect("one address");
        });
        let mut sockets = SocketSet::new(Vec::new());
        let handle = sockets.add(smol_tcp::Socket::new(
            smol_tcp::SocketBuffer::new(vec![0; BUFFER]),
            smol_tcp::SocketBuffer::new(vec![0; BUFFER]),
        ));
        Smol {
            iface,
            dev,
            sockets,
            handle,
        }
    }
    fn socket(&mut self) -> &mut smol_tcp::Socket<'static> {
        self.sockets.get_mut::<smol_tcp::Socket>(self.handle)
    }
}

impl Node for Smol {
    fn deliver(&mut self, p: Vec<u8>) {
        self.dev.rx.push_back(p);
    }
    fn poll(&mut self, now: u64, out: &mut Vec<Vec<u8>>) {
        self.iface
            .poll(smol_now(now), &mut self.dev, &mut self.sockets);
        out.append(&mut self.dev.tx);
    }
    fn send(&mut self, data: &[u8]) -> usize {
        self.socket().send_slice(data).unwrap_or(0)
    }
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        self.socket().recv_slice(buf).unwrap_or(0)
    }
    fn connected(&self) -> bool {
        self.sockets.get::<smol_tcp::Socket>(self.handle).state() == smol_tcp::State::Established
    }
    fn next_wakeup(&mut self, now: u64) -> Option<u64> {
        self.iface
            .poll_at(smol_now(now), &self.sockets)
            .map(|t| t.total_micros().max(0) as u64)
    }
}

/// Runs the link until `done` or a step limit; the clock as described in the module doc.
/// The virtual clock (us) and the packets each way.
#[derive(Default)]
struct Clock {
    now: u64,
    a_to_b: u64,
    b_to_a: u64,
}

fn run(
    a: &mut dyn Node,
    b: &mut dyn Node,
    clock: &mut Clock,
    mut app: impl FnMut(&mut dyn Node, &mut dyn Node) -> (bool, bool),
) {
    let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
    let mut idle = 0;
    for _ in 0..50_000_000u64 {
        let (done, app_moved) = app(a, b);
        if done {
            return;
        }
        let now = clock.now;
        a.poll(now, &mut to_b);
        b.poll(now, &mut to_a);
        clock.a_to_b += to_b.len() as u64;
        clock.b_to_a += to_a.len() as u64;
        let in_flight = !to_a.is_empty() || !to_b.is_empty();
        for p in to_a.drain(..) {
            a.deliver(p);
        }
        for p in to_b.drain(..) {
            b.deliver(p);
        }
        if in_flight || app_moved {
            clock.now += STEP_US;
        } else {
            // Nothing moved: jump to the next timer (the application gets one more look
            // first when none is scheduled).
            let next = [a.next_wakeup(now), b.next_wakeup(now)]
                .into_iter()
                .flatten()
                .min();
            idle += 1;
            assert!(next.is_some() || idle < 3, "idle with nothing scheduled");
            clock.now = next.unwrap_or(0).max(now + STEP_US);
            continue;
        }
        idle = 0;
    }
    panic!("no progress after 50M steps");
}

fn transfer(a: &mut dyn Node, b: &mut dyn Node, total: usize) -> Clock {
    let mut clock = Clock::default();
    run(a, b, &mut clock, |a, b| {
        (a.connected() && b.connected(), false)
    });
    let chunk = vec![0xa5u8; 65536];
    let mut rbuf = vec![0u8; 65536];
    let (mut sent, mut got) = (0usize, 0usize);
    run(a, b, &mut clock, |a, b| {
        let mut moved = false;
        if sent < total {
            let n = a.send(&chunk[..(total - sent).min(chunk.len())]);
            sent += n;
            moved |= n > 0;
        }
        loop {
            let n = b.recv(&mut rbuf);
            if n == 0 {
                break;
            }
            got += n;
            moved = true;
        }
        (got >= total, moved)
    });
    clock
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (kind, bytes) = match (
        args.next(),
        args.next().and_then(|b| b.parse::<usize>().ok()),
    ) {
        (Some(k), Some(b)) if k == "ours" || k == "ours6" || k == "smoltcp" => (k, b),
        _ => {
            eprintln!("usage: sim_cost ours|ours6|smoltcp BYTES");
            std::process::exit(2);
        }
    };
    let c = if kind.starts_with("ours") {
        let mut a = Ours::new(A, A6, 1);
        let mut b = Ours::new(B, B6, 2);
        b.stack.listen(PORT, 16).expect("listen");
        b.listening = true;
        let to: SocketAddr = match kind.as_str() {
            "ours6" => SocketAddrV6::new(B6, PORT, 0, 0).into(),
            _ => SocketAddrV4::new(B, PORT).into(),
        };
        a.conn = Some(a.stack.connect(Instant::ZERO, to).expect("connect"));
        transfer(&mut a, &mut b, bytes)
    } else {
        let mut a = Smol::new(A, 1);
        let mut b = Smol::new(B, 2);
        b.socket().listen(PORT).expect("listen");
        let Smol {
            iface,
            sockets,
            handle,
            ..
        } = &mut a;
        sockets
            .get_mut::<smol_tcp::Socket>(*handle)
            .connect(iface.context(), (IpAddress::from(B), PORT), 49152)
            .expect("connect");
        transfer(&mut a, &mut b, bytes)
    };
    println!(
        "stack={kind} bytes={bytes} virtual_secs={:.3} packets_a_to_b={} packets_b_to_a={}",
        c.now as f64 / 1e6,
        c.a_to_b,
        c.b_to_a
    );
}
