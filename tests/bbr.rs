//! BBR (v1) on the simulated link (tests/support/link.rs): two of our stacks, one virtual
//! clock. The sender's state machine STARTUP -> DRAIN -> PROBE_BW -> PROBE_RTT -> PROBE_BW
//! is recorded with the virtual time of each change, and printed when a check fails.
//!
//! The link: 4 Mbit/s (500,000 bytes/s on the wire), 50 ms one way, no loss: RTprop is
//! 100 ms plus one packet's serialization (3 ms at 1500 bytes), the BDP about 50 KB.

mod support;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use support::link::{Link, PipeConfig};
use tuntcp::stack::{report, SocketHandle, Stack, StackConfig};
use tuntcp::tcp::congestion::{Algorithm, BbrMode};
use tuntcp::tcp::Error;
use tuntcp::time::{Duration, Instant};

const A: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const WIRE_RATE: u64 = 500_000;

struct Pair {
    a: Stack,
    b: Stack,
    link: Link,
    now: Instant,
    buf: Vec<u8>,
}

impl Pair {
    fn new() -> Pair {
        let pipe = PipeConfig {
            delay: Duration::from_millis(50),
            bandwidth: Some(WIRE_RATE),
            ..PipeConfig::default()
        };
        let cfg = |addr, seed| StackConfig {
            addr,
            seed,
            ..StackConfig::default()
        };
        let mut a = cfg(A, 1);
        a.tcp.congestion = Algorithm::Bbr;
        // Large enough that neither buffer limits the flight (BDP ~50 KB).
        a.tcp.send_buffer = 1 << 20;
        let mut b = cfg(B, 2);
        b.tcp.recv_buffer = 1 << 20;
        Pair {
            a: Stack::new(a),
            b: Stack::new(b),
            link: Link::symmetric(pipe, 3).named("A", "B"),
            now: Instant::ZERO,
            buf: vec![0; 65536],
        }
    }

    /// Delivers, fires timers, transmits; then jumps to the next event.
    fn step(&mut self) {
        let now = self.now;
        while let Some(p) = self.link.recv_at_a(now) {
            self.a.handle_packet(now, &p);
        }
        while let Some(p) = self.link.recv_at_b(now) {
            self.b.handle_packet(now, &p);
        }
        for s in [&mut self.a, &mut self.b] {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
        while let Some(n) = self.a.poll_transmit(now, &mut self.buf) {
            self.link.send_from_a(now, self.buf[..n].to_vec());
        }
        while let Some(n) = self.b.poll_transmit(now, &mut self.buf) {
            self.link.send_from_b(now, self.buf[..n].to_vec());
        }
        let next = [
            self.link.next_arrival(),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        self.now = next.map_or(now + Duration::from_millis(1), |t| {
            t.max(now + Duration::from_micros(1))
        });
    }

    fn connect(&mut self) -> (SocketHandle, SocketHandle) {
        self.b.listen(80, 4).unwrap();
        let ha = self
            .a
            .connect(self.now, SocketAddrV4::new(B, 80))
            .expect("connect");
        for _ in 0..1000 {
            self.step();
            if let Some(hb) = self.b.accept(80) {
                return (ha, hb);
            }
        }
        panic!("no connection");
    }
}

/// What the sender looked like at a state change.
struct Change {
    at: Instant,
    mode: BbrMode,
    cwnd: u32,
    bw: u64,
}

fn log(changes: &[Change]) -> String {
    let mut s = String::new();
    for c in changes {
        let _ = writeln!(
            s,
            "{:>9} {:?} cwnd {} bw {} B/s",
            c.at.to_string(),
            c.mode,
            c.cwnd,
            c.bw
        );
    }
    s
}

#[test]
fn bbr_goes_startup_drain_probe_bw_and_probes_rtt_after_ten_seconds() {
    let mut p = Pair::new();
    let (ha, hb) = p.connect();
    let start = p.now;
    let data = vec![0x5au8; 64 * 1024];
    let mut buf = vec![0u8; 65536];
    let mut got = 0u64;
    let mut changes: Vec<Change> = Vec::new();
    let mut in_probe_rtt_max_cwnd = 0;
    let end = start + Duration::from_secs(12);
    let mut steps = 0u64;
    while p.now < end {
        while p.a.send(ha, &data).unwrap_or(0) > 0 {}
        loop {
            match p.b.recv(hb, &mut buf) {
                Ok(n) if n > 0 => got += n as u64,
                Err(Error::WouldBlock) => break,
                other => panic!("recv: {other:?}"),
            }
        }
        p.step();
        steps += 1;
        assert!(steps < 5_000_000, "runaway\n{}", log(&changes));
        let c = p.a.connection(ha).unwrap();
        let info = c.bbr_info().expect("BBR");
        if changes.last().is_none_or(|l| l.mode != info.mode) {
            changes.push(Change {
                at: p.now,
                mode: info.mode,
                cwnd: c.cwnd(),
                bw: info.bw,
            });
        }
        if info.mode == BbrMode::ProbeRtt {
            in_probe_rtt_max_cwnd = in_probe_rtt_max_cwnd.max(c.cwnd());
        }
    }
    let trace = log(&changes);
    println!("{trace}");
    let modes: Vec<BbrMode> = changes.iter().map(|c| c.mode).collect();
    use BbrMode::*;
    assert_eq!(
        modes[..5],
        [Startup, Drain, ProbeBw, ProbeRtt, ProbeBw],
        "\n{trace}"
    );
    let since = |i: usize| changes[i].at.saturating_since(start);
    // STARTUP doubles from IW10 past the BDP (~35 segments) in 2-3 rounds, then needs 3
    // rounds without 25% growth, rounds that its own queue (up to 2.9 BDP in flight)
    // stretches to 300-400 ms: DRAIN after about 1.4 s.
    assert!(since(1) < Duration::from_millis(1600), "\n{trace}");
    // DRAIN empties the queue STARTUP built within a few round trips.
    assert!(
        changes[2].at.saturating_since(changes[1].at) < Duration::from_millis(500),
        "\n{trace}"
    );
    // The bandwidth estimate is the bottleneck's payload rate: 500,000 B/s on the wire
    // less 52 bytes of headers per 1500 (1448 payload with timestamps).
    let payload_rate = WIRE_RATE * 1448 / 1500;
    let bw = changes[2].bw;
    assert!(
        bw <= payload_rate + payload_rate / 50 && bw >= payload_rate * 9 / 10,
        "bw {bw} vs {payload_rate}\n{trace}"
    );
    // PROBE_RTT: RTprop not lowered for 10 s (the path never gets faster than its first
    // samples), so 10 s after the last lower sample, which came early.
    assert!(since(3) > Duration::from_secs(10), "\n{trace}");
    assert!(since(3) < Duration::from_millis(11_500), "\n{trace}");
    assert_eq!(in_probe_rtt_max_cwnd, 4 * 1448, "cwnd 4 segments\n{trace}");
    // 200 ms at 4 segments plus a round trip, then back to PROBE_BW.
    let probe = changes[4].at.saturating_since(changes[3].at);
    assert!(
        probe >= Duration::from_millis(200) && probe < Duration::from_millis(600),
        "{probe}\n{trace}"
    );
    // The link was kept busy: at least 90% of the payload rate over the 12 s.
    assert!(got >= payload_rate * 12 * 9 / 10, "{got} bytes\n{trace}");

    // `ss -i` shows the model, the pacing rate BBR set (gain x bw) and the delivery rate.
    let c = p.a.connection(ha).unwrap();
    let i = c.info(p.now);
    let b = i.bbr.expect("bbr info");
    assert_eq!(b.mode, BbrMode::ProbeBw);
    let gain_rate = (b.bw as f64 * b.pacing_gain) as u64;
    assert!(i.pacing_bps.unwrap().abs_diff(gain_rate * 8) <= 8, "{i:?}");
    let d = i.delivery_bps.expect("delivery rate");
    assert!(
        d <= payload_rate * 8 * 11 / 10 && d >= payload_rate * 8 / 2,
        "{d}"
    );
    let line = report::ss_info(&i);
    for want in [
        " bbr wscale:",
        " bbr:(bw:3.86Mbps,mrtt:",
        "pacing_rate ",
        "delivery_rate ",
    ] {
        assert!(line.contains(want), "{want:?} in {line}");
    }
}
