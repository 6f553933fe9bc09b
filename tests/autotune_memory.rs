//! Memory of many idle connections in the sans-IO stack: auto-tuned buffers (the defaults,
//! `tcp_rmem` 4096 131072 6291456, `tcp_wmem` 4096 16384 4194304) against fixed 256 KiB
//! buffers (the defaults before auto-tuning). N connections (100; `AUTOTUNE_CONNS=10000`
//! for the README's figures, best in release) are each left idle in one of four ways:
//!
//! - `handshake`: established, nothing sent;
//! - `request`: a 100-byte request read, a 10,000-byte response sent and acknowledged;
//! - `unread`: the peer sent all the window it was offered, the application reads nothing;
//! - `unsent`: the application wrote until the send buffer was full, the peer's window is 0.
//!
//! Reported per scenario: the stack's charge (`Stack::accounted_memory`, what `tcp_mem`
//! compares) and the buffer storage allocated (`Connection::buffer_bytes`). `tcp_mem` is
//! raised out of the way so that the buffers, not the stack's limits, decide.

use std::net::{Ipv4Addr, SocketAddrV4};
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::time::Instant;
use tuntcp::wire::{IpMeta, Packet, Segment, TcpFlags, TcpOptions};

const US: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const MSS: u32 = 1460;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    Handshake,
    Request,
    Unread,
    Unsent,
}

struct Sim {
    stack: Stack,
    buf: Vec<u8>,
    now: Instant,
}

/// What we sent last on a connection: its ACK and right edge (scaled).
#[derive(Default)]
struct Seen {
    iss: u32,
    ack: u32,
    edge: u32,
    data_end: u32,
}

impl Sim {
    fn new(fixed: bool) -> Sim {
        let mut cfg = StackConfig {
            addr: US,
            prefix_len: 24,
            mtu: 1500,
            tcp_mem: [usize::MAX / 4; 3],
            ..StackConfig::with_seed(7)
        };
        if fixed {
            cfg.tcp.recv_buffer = 256 * 1024;
            cfg.tcp.send_buffer = 256 * 1024;
        }
        let mut stack = Stack::new(cfg);
        stack.listen(80, 4096).expect("listen");
        Sim {
            stack,
            buf: vec![0; 65536],
            now: Instant::from_millis(1),
        }
    }

    /// The peer (port `port`) sends one segment; returns what we answered.
    fn send(
        &mut self,
        port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        win: u16,
        data: &[u8],
    ) -> Seen {
        let mut options = TcpOptions::default();
        if flags.syn() {
            options.mss = Some(MSS as u16);
            options.window_scale = Some(7);
        }
        let s = Segment {
            src: SocketAddrV4::new(PEER, port).into(),
            dst: SocketAddrV4::new(US, 80).into(),
            seq,
            ack,
            flags,
            window: win,
            urgent: 0,
            options,
            payload: data,
            ip: IpMeta::default(),
        };
        let mut bytes = vec![0; s.buffer_len()];
        s.emit(&mut bytes).expect("emit");
        self.stack.handle_packet(self.now, &bytes);
        self.collect()
    }

    fn collect(&mut self) -> Seen {
        let mut seen = Seen::default();
        while let Some(n) = self.stack.poll_transmit(self.now, &mut self.buf) {
            if let Ok(Packet::Tcp(s)) = Packet::parse(&self.buf[..n]) {
                let shift = if s.flags.syn() { 0 } else { 7 };
                seen.iss = s.seq;
                seen.ack = s.ack;
                seen.edge = seen
                    .edge
                    .max(s.ack.wrapping_add(u32::from(s.window) << shift));
                seen.data_end = seen
                    .data_end
                    .max(s.seq.wrapping_add(s.payload.len() as u32));
            }
        }
        seen
    }

    /// One connection from `port`, established and left idle as `sc` says.
    fn connection(&mut self, port: u16, sc: Scenario) {
        let sa = self.send(port, 1000, 0, TcpFlags::SYN, 65535, &[]);
        let una = sa.iss.wrapping_add(1);
        let win = if sc == Scenario::Unsent { 0 } else { 65535 };
        self.send(port, 1001, una, TcpFlags::ACK, win, &[]);
        let h: SocketHandle = self.stack.accept(80).expect("accepted");
        match sc {
            Scenario::Handshake => {}
            Scenario::Request => {
                self.send(
                    port,
                    1001,
                    una,
                    TcpFlags::ACK | TcpFlags::PSH,
                    win,
                    &[b'x'; 100],
                );
                let mut b = [0u8; 200];
                assert_eq!(self.stack.recv(h, &mut b), Ok(100));
                assert_eq!(self.stack.send(h, &[b'y'; 10_000]), Ok(10_000));
                let out = self.collect();
                self.send(port, 1101, out.data_end, TcpFlags::ACK, win, &[]);
            }
            Scenario::Unread => {
                let mut seq = 1001u32;
                let mut edge = sa.edge; // the SYN-ACK's window, unscaled
                while (edge.wrapping_sub(seq) as i32) > 0 {
                    let n = MSS.min(edge.wrapping_sub(seq));
                    let seen = self.send(port, seq, una, TcpFlags::ACK, win, &vec![1; n as usize]);
                    seq += n;
                    if seen.edge != 0 && (seen.edge.wrapping_sub(edge) as i32) > 0 {
                        edge = seen.edge;
                    }
                }
            }
            Scenario::Unsent => {
                while let Ok(n) = self.stack.send(h, &[b'z'; 65536]) {
                    if n == 0 {
                        break;
                    }
                }
            }
        }
        self.collect();
    }

    fn allocated(&self) -> usize {
        self.stack
            .connections()
            .map(|(_, c)| c.buffer_bytes())
            .sum()
    }
}

fn measure(n: u16, fixed: bool, sc: Scenario) -> (usize, usize) {
    let mut sim = Sim::new(fixed);
    for i in 0..n {
        sim.connection(10_000 + i, sc);
    }
    assert_eq!(sim.stack.connections().count(), usize::from(n));
    (sim.stack.accounted_memory(), sim.allocated())
}

fn mib(b: usize) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

#[test]
fn idle_connections_cost_less_with_auto_tuned_buffers() {
    let n: u16 = std::env::var("AUTOTUNE_CONNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    println!(
        "{n} idle connections (TCB {} bytes each): charged / allocated",
        std::mem::size_of::<tuntcp::tcp::Connection>()
    );
    println!("| scenario | fixed 256 KiB | auto-tuned |");
    println!("|---|---|---|");
    let mut rows = Vec::new();
    for sc in [
        Scenario::Handshake,
        Scenario::Request,
        Scenario::Unread,
        Scenario::Unsent,
    ] {
        let fixed = measure(n, true, sc);
        let auto = measure(n, false, sc);
        println!(
            "| {sc:?} | {} / {} | {} / {} |",
            mib(fixed.0),
            mib(fixed.1),
            mib(auto.0),
            mib(auto.1)
        );
        rows.push((sc, fixed, auto));
    }
    let n = usize::from(n);
    // Nothing sent: no buffer at all either way.
    assert_eq!(rows[0].1, (0, 0));
    assert_eq!(rows[0].2, (0, 0));
    // A short exchange: the same storage (the rings grow with what they held).
    assert_eq!(rows[1].2, rows[1].1);
    // A peer that fills the window of an application that does not read: the first
    // window (64 KiB) against 256 KiB.
    // (Each less the 1/64 reserve, give or take the rounding to the 128-byte unit.)
    let fixed = rows[2].1 .0;
    assert!(
        fixed >= n * (256 * 1024 - 4096) && fixed <= n * 256 * 1024,
        "{:?}",
        rows[2]
    );
    assert!(
        rows[2].2 .0 <= n * 65536 && rows[2].2 .0 >= n * 64512,
        "{:?}",
        rows[2]
    );
    // An application that fills its send buffer: two initial windows (29,200) against
    // 256 KiB.
    assert_eq!(rows[3].1 .0, n * 256 * 1024);
    assert_eq!(rows[3].2 .0, n * 29200);
}
