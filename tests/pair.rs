//! Two of our stacks on a simulated lossy link, one virtual clock that jumps to the next
//! event (DESIGN habit 7): bulk transfers both ways stay byte-exact and both close cleanly.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use support::link::{seed_from_env, Link, PipeConfig};
use tuntcp::device::impair::ImpairConfig;
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::tcp::{Error, State};
use tuntcp::time::{Duration, Instant};

const A: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);

struct Pair {
    a: Stack,
    b: Stack,
    link: Link,
    now: Instant,
    buf: Vec<u8>,
}

impl Pair {
    fn new(loss: f64, seed: u64) -> Pair {
        let pipe = PipeConfig {
            loss,
            ..PipeConfig::default()
        };
        Pair::with(pipe, seed, true)
    }

    /// Both ways through `pipe`; `dsack`: whether B reports duplicates (RFC 2883).
    fn with(pipe: PipeConfig, seed: u64, dsack: bool) -> Pair {
        let cfg = |addr, seed| StackConfig {
            addr,
            seed,
            ..StackConfig::default()
        };
        let mut b = cfg(B, seed ^ 1);
        b.tcp.dsack = dsack;
        Pair {
            a: Stack::new(cfg(A, seed)),
            b: Stack::new(b),
            link: Link::symmetric(pipe, seed).named("A", "B"),
            now: Instant::ZERO,
            buf: vec![0; 65536],
        }
    }

    /// Delivers, fires timers, transmits; then jumps to the next event. False when idle.
    fn step(&mut self) -> bool {
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
        match next {
            Some(t) => {
                self.now = t.max(now + Duration::from_micros(1));
                true
            }
            None => false,
        }
    }
}

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Moves `len` bytes from `tx` on one stack to `rx` on the other; returns virtual seconds.
fn transfer(p: &mut Pair, from_a: bool, tx: SocketHandle, rx: SocketHandle, len: usize) -> f64 {
    transfer_watched(p, from_a, tx, rx, len, |_| {})
}

/// As [`transfer`], calling `watch` after every step.
fn transfer_watched(
    p: &mut Pair,
    from_a: bool,
    tx: SocketHandle,
    rx: SocketHandle,
    len: usize,
    mut watch: impl FnMut(&Pair),
) -> f64 {
    let start = p.now;
    let data: Vec<u8> = (0..len).map(pattern).collect();
    let mut sent = 0;
    let mut got = Vec::with_capacity(len);
    let mut buf = vec![0u8; 65536];
    let mut steps = 0u64;
    let mut idle = 0;
    while got.len() < len {
        let (s_tx, s_rx) = if from_a {
            (&mut p.a, &mut p.b)
        } else {
            (&mut p.b, &mut p.a)
        };
        if sent < len {
            sent += s_tx.send(tx, &data[sent..]).unwrap_or(0);
        }
        loop {
            match s_rx.recv(rx, &mut buf) {
                Ok(0) => panic!("early EOF"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("recv: {e}\n{}", p.link.render_trace()),
            }
        }
        let before = got.len() + sent;
        let progressed = p.step();
        watch(p);
        if !progressed && got.len() + sent == before {
            idle += 1;
            assert!(
                idle < 3,
                "idle with {} of {len} bytes\n{}",
                got.len(),
                p.link.render_trace()
            );
        } else {
            idle = 0;
        }
        steps += 1;
        assert!(
            steps < 5_000_000 && p.now < start + Duration::from_secs(600),
            "stuck\n{}",
            p.link.render_trace()
        );
    }
    assert!(got == data, "bytes differ");
    p.now.saturating_since(start).micros() as f64 / 1e6
}

/// A connects to B: (A's handle, B's).
fn connect(p: &mut Pair) -> (SocketHandle, SocketHandle) {
    p.b.listen(80, 16).unwrap();
    let ca = p.a.connect(p.now, SocketAddrV4::new(B, 80)).unwrap();
    let mut cb = None;
    while cb.is_none() {
        let progressed = p.step();
        cb = p.b.accept(80);
        assert!(
            cb.is_some() || progressed,
            "no handshake\n{}",
            p.link.render_trace()
        );
        assert!(
            p.now < Instant::from_secs(60),
            "no handshake\n{}",
            p.link.render_trace()
        );
    }
    (ca, cb.unwrap())
}

fn run(loss: f64, seed: u64) {
    let seed = seed_from_env(seed);
    println!("seed {seed} loss {loss}");
    let mut p = Pair::new(loss, seed);
    let (ca, cb) = connect(&mut p);
    let t1 = transfer(&mut p, true, ca, cb, 10 << 20);
    let t2 = transfer(&mut p, false, cb, ca, 10 << 20);
    println!(
        "10 MiB A->B {t1:.3} s ({:.1} Mbit/s), B->A {t2:.3} s",
        83.886 / t1
    );
    // A closes first: A ends in TIME-WAIT, B closed and freed.
    p.a.close(ca);
    let deadline_eof = p.now + Duration::from_secs(30);
    let mut eof = false;
    while !eof {
        let progressed = p.step();
        eof = p.b.recv(cb, &mut [0; 16]) == Ok(0);
        assert!(
            eof || (progressed && p.now < deadline_eof),
            "no EOF\n{}",
            p.link.render_trace()
        );
    }
    p.b.close(cb);
    let deadline = p.now + Duration::from_secs(30);
    while p.now < deadline && p.b.connections().count() > 0 {
        p.step();
    }
    assert_eq!(p.b.connections().count(), 0, "\n{}", p.link.render_trace());
    let states: Vec<State> = p.a.connections().map(|(_, c)| c.state()).collect();
    assert_eq!(states, vec![State::TimeWait]);
}

#[test]
fn pair_10mb_each_way_lossless_then_clean_close() {
    run(0.0, 1);
}

#[test]
fn pair_10mb_each_way_with_2pct_loss_byte_exact() {
    run(0.02, 7);
}

/// RFC 2883 + RFC 8985 §6.2 step 4 between two of our stacks: packets held back 5 ms
/// (RACK's first reordering window is min_RTT/4, about 3 ms) draw spurious fast
/// retransmissions; B's D-SACKs tell A, whose reordering window grows past them. Without
/// B's D-SACKs A's window never grows.
#[test]
fn dsack_between_two_stacks_widens_the_reordering_window() {
    let seed = seed_from_env(3);
    let pipe = PipeConfig {
        impair: Some(ImpairConfig {
            reorder: 0.01,
            jitter: Duration::from_millis(2),
            ..ImpairConfig::default()
        }),
        ..PipeConfig::default()
    };
    let mut seen = Vec::new();
    for dsack in [true, false] {
        let mut p = Pair::with(pipe.clone(), seed, dsack);
        let (ca, cb) = connect(&mut p);
        let mut widest = Duration::ZERO;
        transfer_watched(&mut p, true, ca, cb, 4 << 20, |p| {
            if let Some(c) = p.a.connection(ca) {
                widest = widest.max(c.rack_reo_wnd());
            }
        });
        let i = p.a.connection(ca).unwrap().info(p.now);
        let old_sent = p.b.counters().get("TcpExtTCPDSACKOldSent").unwrap();
        let retrans = p.a.counters().get("TcpRetransSegs").unwrap();
        println!(
            "dsack {dsack}: widest reo_wnd {widest}, dsack_dups {}, B's DSACKOldSent \
             {old_sent}, A's retransmissions {retrans}",
            i.dsack_dups
        );
        seen.push((widest, i.dsack_dups, old_sent, retrans));
    }
    let (on, off) = (seen[0], seen[1]);
    assert!(off.3 > 0, "the reordering drew spurious retransmissions");
    assert!(on.1 > 0 && on.2 > 0, "D-SACKs sent and seen: {on:?}");
    assert_eq!((off.1, off.2), (0, 0), "none when off");
    // Without D-SACK the window stays min_RTT/4 (about 3 ms here); with it, it grows by
    // that much per D-SACK round, past the 5 ms the held packets lag, and the spurious
    // retransmissions stop after the first ones (here 2 against 27).
    assert!(off.0 <= Duration::from_millis(3), "{off:?}");
    assert!(on.0 > Duration::from_millis(5), "{on:?}");
    assert!(
        on.3 * 4 < off.3,
        "fewer spurious retransmissions: {on:?} {off:?}"
    );
}

/// 10 MiB A->B, lossless, 100 Mbit/s, `delay` one way: virtual seconds with both stacks'
/// `tcp` config.
fn bulk_seconds(delay_ms: u64, tcp: tuntcp::tcp::Config) -> f64 {
    let pipe = PipeConfig {
        delay: Duration::from_millis(delay_ms),
        ..PipeConfig::default()
    };
    let cfg = |addr, seed| StackConfig {
        addr,
        seed,
        tcp: tcp.clone(),
        ..StackConfig::default()
    };
    let mut p = Pair {
        a: Stack::new(cfg(A, 1)),
        b: Stack::new(cfg(B, 2)),
        link: Link::symmetric(pipe, 1).named("A", "B"),
        now: Instant::ZERO,
        buf: vec![0; 65536],
    };
    let (ca, cb) = connect(&mut p);
    transfer(&mut p, true, ca, cb, 10 << 20)
}

#[test]
fn auto_tuned_buffers_keep_the_bulk_speed_of_fixed_ones_and_pass_it_on_long_paths() {
    let fixed = tuntcp::tcp::Config {
        recv_buffer: 256 * 1024,
        send_buffer: 256 * 1024,
        ..tuntcp::tcp::Config::default()
    };
    let auto = tuntcp::tcp::Config::default();
    for delay in [5, 50] {
        let (f, a) = (
            bulk_seconds(delay, fixed.clone()),
            bulk_seconds(delay, auto.clone()),
        );
        println!(
            "10 MiB, {delay} ms one way, 100 Mbit/s: fixed 256 KiB {:.1} Mbit/s, auto-tuned {:.1}",
            83.886 / f,
            83.886 / a
        );
        // Virtual time: exact, so no slack is needed beyond what the first round trips
        // cost (the first window is 64 KiB, not 256).
        assert!(a <= f * 1.02, "{delay} ms: auto {a:.3} s, fixed {f:.3} s");
        if delay == 50 {
            // 256 KiB per 100 ms is 21 Mbit/s; the tuned buffer follows the path's BDP.
            assert!(a < f / 2.0, "{delay} ms: auto {a:.3} s, fixed {f:.3} s");
        }
    }
}
