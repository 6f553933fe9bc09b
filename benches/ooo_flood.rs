//! CPU cost of a tiny out-of-order flood, for `valgrind --tool=callgrind` (issue 15 item 2).
//!
//! ```text
//! ooo_flood N
//! ```
//!
//! One stack with a listener (default options: 256 KiB receive buffer, SACK, timestamps);
//! a scripted peer opens a connection with SACK and timestamps, then sends N one-byte
//! segments at every other offset of the window (RCV.NXT+1, +3, +5, ...), each answered
//! by an ACK with SACK blocks, as an attacker would. Run it with N=0 and N=131071 (the
//! whole 256 KiB window) and divide the difference in instructions by N. Prints the
//! segments sent, the ACKs read back, the out-of-order ranges held at the end and the
//! range-map operations done (`Connection::ooo_ops`).

use std::net::{Ipv4Addr, SocketAddrV4};
use tuntcp::stack::{Stack, StackConfig};
use tuntcp::time::Instant;
use tuntcp::wire::{IpMeta, Segment, TcpFlags, TcpOptions, Timestamps};

const US: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);

fn packet(seq: u32, ack: u32, flags: TcpFlags, opts: TcpOptions, payload: &[u8]) -> Vec<u8> {
    let seg = Segment {
        src: SocketAddrV4::new(PEER, 40000).into(),
        dst: SocketAddrV4::new(US, 80).into(),
        seq,
        ack,
        flags,
        window: 65535,
        urgent: 0,
        options: opts,
        payload,
        ip: IpMeta {
            ttl: 64,
            ..IpMeta::default()
        },
    };
    let mut buf = vec![0; seg.buffer_len()];
    seg.emit(&mut buf).unwrap();
    buf
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .expect("usage: ooo_flood N");
    let mut stack = Stack::new(StackConfig {
        addr: US,
        ..StackConfig::default()
    });
    stack.listen(80, 16).unwrap();
    let mut out = vec![0u8; 2048];
    let ts = |v: u32| TcpOptions {
        timestamps: Some(Timestamps { tsval: v, tsecr: 0 }),
        ..TcpOptions::default()
    };
    let syn_opts = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        ..ts(1)
    };
    let irs = 1000u32;
    let t0 = Instant::from_micros(0);
    stack.handle_packet(t0, &packet(irs, 0, TcpFlags::SYN, syn_opts, &[]));
    let len = stack.poll_transmit(t0, &mut out).expect("a SYN-ACK");
    let synack = Segment::parse(&out[..len]).unwrap();
    let iss = synack.seq;
    stack.handle_packet(
        t0,
        &packet(irs + 1, iss.wrapping_add(1), TcpFlags::ACK, ts(2), &[]),
    );
    while stack.poll_transmit(t0, &mut out).is_some() {}
    let mut acks = 0u64;
    for k in 0..n {
        let now = Instant::from_micros(1 + u64::from(k));
        let seq = irs + 2 + 2 * k;
        let p = packet(seq, iss.wrapping_add(1), TcpFlags::ACK, ts(3 + k), b"x");
        stack.handle_packet(now, &p);
        while stack.poll_transmit(now, &mut out).is_some() {
            acks += 1;
        }
    }
    let ranges: usize = stack.connections().map(|(_, c)| c.ooo_ranges()).sum();
    let ops: u64 = stack.connections().map(|(_, c)| c.ooo_ops()).sum();
    println!("segments {n} acks {acks} ranges_held {ranges} range_map_ops {ops}");
}
