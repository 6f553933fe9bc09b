//! Two of our stacks on a simulated lossy link, one virtual clock that jumps to the next
//! event (DESIGN habit 7): bulk transfers both ways stay byte-exact and both close cleanly.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use support::link::{seed_from_env, Link, PipeConfig};
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
        let cfg = |addr, seed| StackConfig {
            addr,
            seed,
            ..StackConfig::default()
        };
        let pipe = PipeConfig {
            loss,
            ..PipeConfig::default()
        };
        Pair {
            a: Stack::new(cfg(A, seed)),
            b: Stack::new(cfg(B, seed ^ 1)),
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
        if !p.step() && got.len() + sent == before {
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

fn run(loss: f64, seed: u64) {
    let seed = seed_from_env(seed);
    println!("seed {seed} loss {loss}");
    let mut p = Pair::new(loss, seed);
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
    let cb = cb.unwrap();
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
