//! Buffer auto-tuning (Linux's `tcp_moderate_rcvbuf` / `tcp_rcv_space_adjust` and
//! `tcp_sndbuf_expand`): a scripted peer with a 10 ms round trip, at explicit virtual times.

mod support;

use std::net::SocketAddrV4;
use support::{seg, Harness, PEER};
use tuntcp::stack::SocketHandle;
use tuntcp::wire::TcpFlags;

const MSS: u32 = 1460;
const RTT: u64 = 10;

/// A server with the given `tcp_rmem` triple, auto-tuned (`recv_buffer` unset).
fn server(rmem: [usize; 3]) -> Harness {
    let mut cfg = Harness::config();
    cfg.tcp.rmem = rmem;
    Harness::server_with(80, cfg)
}

/// The peer connects (MSS 1460, scale 7, no timestamps: SMSS is 1460); the handshake's RTT
/// is 10 ms. Returns the handle, our ISS, our window scale and the SYN-ACK's right edge.
fn establish(t: &mut Harness) -> (SocketHandle, u32, u8, u32) {
    t.send(0, seg().syn().seq(1000).mss(1460).ws(7));
    let sa = t.expect(0, seg().flags(TcpFlags::SYN | TcpFlags::ACK).ack(1001));
    let ws = sa.options.window_scale.expect("wscale");
    t.send(RTT, seg().ack_flag().seq(1001).ack(sa.seq + 1));
    let h = t.stack.accept(80).expect("accepted");
    (h, sa.seq, ws, 1001 + u32::from(sa.window))
}

/// One round trip of a peer in slow start: at `ms` it sends `[*seq, edge)` in 1460-byte
/// segments, at most `cwnd` bytes; our ACKs (and window updates) set the next edge.
/// `read` bytes are read by the application after the flight (all with `usize::MAX`).
/// Returns the bytes sent in this round.
#[allow(clippy::too_many_arguments)]
fn round(
    t: &mut Harness,
    h: SocketHandle,
    ms: u64,
    iss: u32,
    ws: u8,
    seq: &mut u32,
    edge: &mut u32,
    cwnd: u32,
    read: usize,
) -> u32 {
    let mut specs = Vec::new();
    let start = *seq;
    let end = if edge.wrapping_sub(start) > cwnd {
        start + cwnd
    } else {
        *edge
    };
    while end.wrapping_sub(*seq) as i32 > 0 {
        let n = MSS.min(end.wrapping_sub(*seq));
        specs.push(seg().seq(*seq).ack(iss + 1).data(&vec![7u8; n as usize]));
        *seq += n;
    }
    t.send_burst(ms, &specs);
    let mut got = 0;
    let mut buf = [0u8; 4096];
    while got < read {
        let want = buf.len().min(read - got);
        match t.stack.recv(h, &mut buf[..want]) {
            Ok(n) if n > 0 => got += n,
            _ => break,
        }
    }
    t.flush();
    for a in t.drain() {
        let e = a.ack.wrapping_add(u32::from(a.window) << ws);
        if e.wrapping_sub(*edge) as i32 > 0 {
            *edge = e;
        }
    }
    seq.wrapping_sub(start)
}

/// The receive buffer and the window after each round of a slow-starting peer (cwnd from
/// 10 segments, doubling per RTT), the application reading `read` bytes after each flight.
fn run(t: &mut Harness, rounds: u64, read: usize) -> Vec<(u64, u32, usize, u32)> {
    let (h, iss, ws, mut edge) = establish(t);
    let mut seq = 1001u32;
    let mut cwnd = 10 * MSS;
    let mut rows = Vec::new();
    for r in 1..=rounds {
        let ms = RTT + r * RTT;
        let sent = round(t, h, ms, iss, ws, &mut seq, &mut edge, cwnd, read);
        cwnd *= 2;
        let c = t.stack.connection(h).unwrap();
        rows.push((ms, sent, c.recv_buffer_size(), edge.wrapping_sub(seq)));
        println!(
            "{ms:>4} ms: peer sent {sent:>7}, our buffer {:>7}, window offered {:>7}",
            rows[r as usize - 1].2,
            rows[r as usize - 1].3
        );
    }
    rows
}

#[test]
fn the_window_scale_comes_from_rmem_max() {
    // RFC 7323 §2.3: the shift is fixed by the SYN, so it must fit the largest buffer
    // auto-tuning may reach (Linux: tcp_rmem[2]), not the first one.
    for (max, shift) in [(1 << 20, 5), (6291456, 7), (131072, 2)] {
        let mut t = server([4096, 131072, max]);
        t.send(0, seg().syn().seq(1000).mss(1460).ws(7));
        t.expect(0, seg().flags(TcpFlags::SYN | TcpFlags::ACK).ws(shift));
    }
}

#[test]
fn receive_buffer_grows_with_what_the_application_reads_per_rtt_up_to_rmem_max() {
    // tcp_rmem 4096 131072 1048576: a 64 KiB window first, at most 512 KiB.
    let mut t = server([4096, 131072, 1 << 20]);
    let rows = run(&mut t, 9, usize::MAX);
    let buffers: Vec<usize> = rows.iter().map(|r| r.2).collect();
    // 20-30 ms: the reads (14600, then 29200 bytes per RTT) are within the first estimate
    // (10 segments), no growth; from 40 ms the buffer follows twice the reads plus the
    // sender's growth, until the cap (1 MiB / 2). At 50 ms it holds: the flight of 40 ms
    // drew ACKs within its batch (tests/batch_acks.rs), one of which already offered the
    // grown window, and the receiver RTT measurement begun then (Linux's
    // tcp_rcv_rtt_measure: the time to receive one advertised window) took two RTTs, so
    // the next step waits one round. The peer is still never held back (below).
    assert_eq!(
        buffers,
        [65536, 65536, 245280, 245280, 524288, 524288, 524288, 524288, 524288]
    );
    // The peer is never held back by the window while it grows (each flight is its cwnd),
    // and once at the cap it sends what the capped window offers (less the rounding
    // reserve of 1/64), every RTT.
    let sent: Vec<u32> = rows.iter().map(|r| r.1).collect();
    assert_eq!(
        sent,
        [14600, 29200, 58400, 116800, 233600, 467200, 516096, 516096, 516096]
    );
    for (ms, _, _, window) in &rows {
        assert!(*window <= 1 << 19, "{ms} ms: window {window} past the cap");
    }
}

#[test]
fn receive_buffer_does_not_grow_when_the_application_does_not_read() {
    let mut t = server([4096, 131072, 6291456]);
    let rows = run(&mut t, 6, 0);
    for (ms, _, buffer, _) in &rows {
        assert_eq!(*buffer, 65536, "{ms} ms");
    }
    // The peer filled the first window (64 KiB less the 1 KiB reserve, which pays for
    // rounding the edge up to the 128-byte unit) and got no more.
    let total: u32 = rows.iter().map(|r| r.1).sum();
    assert!((64512..=65536).contains(&total), "{total}");
    assert_eq!(rows.last().unwrap().3, 0, "window closed");
}

#[test]
fn receive_buffer_does_not_grow_for_a_reader_slower_than_the_first_estimate() {
    // 8 KB read per RTT, under the 10 segments assumed at first: nothing to grow for.
    let mut t = server([4096, 131072, 6291456]);
    let rows = run(&mut t, 8, 8192);
    for (ms, _, buffer, _) in &rows {
        assert_eq!(*buffer, 65536, "{ms} ms");
    }
}

#[test]
fn a_receive_buffer_the_application_sized_is_not_tuned() {
    // Like SO_RCVBUF, which locks Linux's: `recv_buffer` set, or `moderate_rcvbuf` off.
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 65536;
    let mut t = Harness::server_with(80, cfg);
    for (ms, _, buffer, _) in run(&mut t, 6, usize::MAX) {
        assert_eq!(buffer, 65536, "{ms} ms");
    }
    let mut cfg = Harness::config();
    cfg.tcp.moderate_rcvbuf = false;
    let mut t = Harness::server_with(80, cfg);
    for (ms, _, buffer, _) in run(&mut t, 6, usize::MAX) {
        assert_eq!(buffer, 65536, "{ms} ms");
    }
}

#[test]
fn receive_buffer_does_not_grow_under_memory_pressure() {
    // tcp_mem 1/2/100000 pages, and another connection holding 12,000 unread bytes: the
    // stack stays under pressure while ours is measured.
    let mut cfg = Harness::config();
    cfg.tcp_mem = [1, 2, 100_000];
    let mut t = Harness::server_with(80, cfg);
    t.peer = SocketAddrV4::new(PEER, 6000).into();
    let (_, iss) = t.establish(0, 1000, seg().mss(1460));
    for k in 0..10u32 {
        t.send(0, seg().seq(1001 + k * 1200).ack(iss + 1).data(&[5; 1200]));
    }
    assert!(t.stack.under_memory_pressure());
    t.drain();
    t.peer = SocketAddrV4::new(PEER, 5555).into();
    let rows = run(&mut t, 6, usize::MAX);
    assert!(t.stack.under_memory_pressure());
    assert!(t.stack.counters().tcp_ext_tcp_memory_pressures > 0);
    for (ms, _, buffer, _) in &rows {
        assert_eq!(*buffer, 65536, "{ms} ms");
    }
}

/// A server that writes as much as its send buffer takes, to a peer that ACKs every segment
/// one RTT later with an 8 MB window; the send buffer's size after each round trip.
fn send_rounds(t: &mut Harness, rounds: u64, write: usize) -> Vec<usize> {
    let (h, iss) = t.establish_rtt(0, RTT, 1000, seg().mss(1460).ws(7).win(65535));
    let mut sizes = vec![t.stack.connection(h).unwrap().send_buffer_size()];
    let mut ms = RTT;
    let mut acked = iss + 1;
    for _ in 0..rounds {
        let mut left = write;
        while left > 0 {
            match t.stack.send(h, &vec![1u8; left.min(65536)]) {
                Ok(n) if n > 0 => left -= n,
                _ => break,
            }
        }
        t.flush();
        let segs = t.drain();
        ms += RTT;
        let acks: Vec<_> = segs
            .iter()
            .filter(|s| !s.payload.is_empty())
            .map(|s| {
                acked = acked.max(s.seq + s.payload.len() as u32);
                seg()
                    .ack_flag()
                    .seq(1001)
                    .ack(s.seq + s.payload.len() as u32)
                    .win(65535)
            })
            .collect();
        t.send_burst(ms, &acks);
        sizes.push(t.stack.connection(h).unwrap().send_buffer_size());
    }
    sizes
}

#[test]
fn send_buffer_grows_to_twice_cwnd_while_the_application_fills_it() {
    // tcp_wmem 4096 16384 262144: 16 KiB at first, two initial windows once established
    // (Linux tcp_init_buffer_space), then twice cwnd as slow start doubles it, capped.
    let mut cfg = Harness::config();
    cfg.tcp.wmem = [4096, 16384, 262144];
    let mut t = Harness::server_with(80, cfg);
    let sizes = send_rounds(&mut t, 6, usize::MAX);
    println!("{sizes:?}");
    assert_eq!(sizes[0], 29200, "2 x 10 segments of 1460 once established");
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
    assert_eq!(
        *sizes.last().unwrap(),
        262144,
        "capped at wmem[2]: {sizes:?}"
    );
}

#[test]
fn send_buffer_stays_small_when_the_application_writes_little() {
    let mut t = Harness::server(80);
    let sizes = send_rounds(&mut t, 6, 1000);
    assert!(sizes.iter().all(|&s| s == 29200), "{sizes:?}");
}
