//! A simulated point-to-point IPv4 link for deterministic simulation (DESIGN habit 7).
//!
//! Two one-way [`Pipe`]s between side A and side B. Each pipe has a propagation delay, an
//! optional bandwidth (packets are serialized one after another, FIFO), an optional drop-tail
//! queue limit and seeded random loss. Time is our virtual [`Instant`]: the driver asks
//! [`Link::next_arrival`] and jumps its clock there, so minutes of virtual time run in
//! milliseconds. Every packet is recorded in a small [`Trace`] (the first packets and the most
//! recent ones) that a failing test prints, one tcpdump-like line per packet.
//!
//! A pipe may also carry an [`Impairer`] (`PipeConfig::impair`): packets that leave the
//! pipe's own delay and loss then go through it, for jitter, reordering, duplication,
//! corruption and more loss. Without one, a constant delay keeps each pipe FIFO.
//!
//! What this module does not do: know any stack or read a clock.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use tuntcp::device::impair::{ImpairConfig, ImpairStats, Impairer, Verdict};
use tuntcp::time::{Duration, Instant};
use tuntcp::wire::Packet;

/// SplitMix64: a tiny seeded PRNG, so the loss pattern is a function of the seed alone.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }
}

/// The seed to use: `TUNTCP_SEED` from the environment if set (to replay or explore),
/// otherwise `default`.
pub fn seed_from_env(default: u64) -> u64 {
    std::env::var("TUNTCP_SEED")
        .ok()
        .and_then(|s| {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        })
        .unwrap_or(default)
}

/// One direction of the link.
#[derive(Clone, Debug)]
pub struct PipeConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Bytes per second; `None` = infinitely fast (no serialization delay).
    pub bandwidth: Option<u64>,
    /// Probability that a packet is lost on the wire.
    pub loss: f64,
    /// Drop-tail limit on the bytes waiting for serialization; `None` = unbounded.
    pub queue_limit: Option<usize>,
    /// Impairment after the pipe's delay; `None` = none. Its seed is mixed with the
    /// pipe's, so the two directions of a symmetric link differ.
    pub impair: Option<ImpairConfig>,
}

impl Default for PipeConfig {
    /// 5 ms one way, 100 Mbit/s, no loss, unbounded queue.
    fn default() -> PipeConfig {
        PipeConfig {
            delay: Duration::from_millis(5),
            bandwidth: Some(100_000_000 / 8),
            loss: 0.0,
            queue_limit: None,
            impair: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipeStats {
    pub sent_packets: u64,
    pub sent_bytes: u64,
    pub lost: u64,
    pub tail_drops: u64,
    pub delivered_packets: u64,
    pub delivered_bytes: u64,
}

/// What happened to a packet put on a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Arrives at the given time.
    Arrives(Instant),
    /// Lost on the wire (random loss).
    Lost,
    /// Dropped because the queue was full (the pipe's or the impairer's).
    TailDrop,
    /// The impairer changed something: `first` is the earliest copy's arrival.
    Impaired {
        first: Instant,
        copies: u8,
        corrupted: bool,
        reordered: bool,
    },
}

pub struct Pipe {
    cfg: PipeConfig,
    rng: SplitMix64,
    /// (arrival time, packet), in arrival order.
    queue: VecDeque<(Instant, Vec<u8>)>,
    /// When the transmitter finishes serializing what it already has.
    busy_until: Instant,
    /// Present once the pipe was configured with `impair`; drains even after it is unset.
    impairer: Option<Impairer>,
    /// Mixed into the impairer's seed.
    impair_salt: u64,
    /// `stats.lost` counts the pipe's own loss; the impairer counts its own.
    pub stats: PipeStats,
}

impl Pipe {
    pub fn new(cfg: PipeConfig, seed: u64) -> Pipe {
        // A separate stream: the loss pattern stays what it was without impairment.
        let impair_salt = SplitMix64::new(seed ^ 0x1A4D_9A1E).next_u64();
        let mut pipe = Pipe {
            cfg: PipeConfig::default(),
            rng: SplitMix64::new(seed),
            queue: VecDeque::new(),
            busy_until: Instant::ZERO,
            impairer: None,
            impair_salt,
            stats: PipeStats::default(),
        };
        pipe.set_config(cfg);
        pipe
    }

    pub fn config(&self) -> &PipeConfig {
        &self.cfg
    }

    /// Changes delay, loss, bandwidth, queue limit or impairment from now on (packets in
    /// flight keep their arrival time).
    pub fn set_config(&mut self, cfg: PipeConfig) {
        if let Some(mut c) = cfg.impair.clone() {
            c.seed ^= self.impair_salt;
            match &mut self.impairer {
                Some(imp) => imp.set_config(c),
                None => self.impairer = Some(Impairer::new(c)),
            }
        }
        self.cfg = cfg;
    }

    /// The impairer's counters (all zero without one).
    pub fn impair_stats(&self) -> ImpairStats {
        self.impairer
            .as_ref()
            .map_or_else(ImpairStats::default, Impairer::stats)
    }

    /// Puts a packet on the wire at `now`.
    pub fn send(&mut self, now: Instant, bytes: Vec<u8>) -> Fate {
        self.stats.sent_packets += 1;
        self.stats.sent_bytes += bytes.len() as u64;
        let start = self.busy_until.max(now);
        let done = match self.cfg.bandwidth {
            Some(bw) if bw > 0 => {
                if let Some(limit) = self.cfg.queue_limit {
                    let queued = (start - now).micros().saturating_mul(bw) / 1_000_000;
                    if queued as usize + bytes.len() > limit {
                        self.stats.tail_drops += 1;
                        return Fate::TailDrop;
                    }
                }
                let tx = (bytes.len() as u64 * 1_000_000).div_ceil(bw);
                start + Duration::from_micros(tx)
            }
            _ => start,
        };
        self.busy_until = done;
        // Lost after serialization: a lost packet still used the link.
        if self.rng.chance(self.cfg.loss) {
            self.stats.lost += 1;
            return Fate::Lost;
        }
        let arrival = done + self.cfg.delay;
        // Arrival times are monotonic while the delay is constant; keep FIFO order even if a
        // test shortens the delay mid-run.
        let arrival = self.queue.back().map_or(arrival, |&(t, _)| arrival.max(t));
        if let (Some(imp), Some(_)) = (&mut self.impairer, &self.cfg.impair) {
            // The packet enters the impairer when it would have arrived.
            return match imp.push_verdict(arrival, bytes) {
                Verdict::Lost => Fate::Lost,
                Verdict::QueueFull => Fate::TailDrop,
                Verdict::Queued {
                    first,
                    copies: 1,
                    corrupted: false,
                    reordered: false,
                } => Fate::Arrives(first),
                Verdict::Queued {
                    first,
                    copies,
                    corrupted,
                    reordered,
                } => Fate::Impaired {
                    first,
                    copies,
                    corrupted,
                    reordered,
                },
            };
        }
        self.queue.push_back((arrival, bytes));
        Fate::Arrives(arrival)
    }

    fn next_impaired(&self) -> Option<Instant> {
        self.impairer.as_ref().and_then(Impairer::next_release)
    }

    pub fn next_arrival(&self) -> Option<Instant> {
        let plain = self.queue.front().map(|&(t, _)| t);
        match (plain, self.next_impaired()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// The next packet that has arrived by `now` (the earliest, from either queue).
    pub fn recv(&mut self, now: Instant) -> Option<Vec<u8>> {
        let plain = self.queue.front().map(|&(t, _)| t).filter(|&t| t <= now);
        let impaired = self.next_impaired().filter(|&t| t <= now);
        let p = match (plain, impaired) {
            (Some(x), Some(y)) if y < x => self.impairer.as_mut()?.pop_ready(now)?,
            (Some(_), _) => self.queue.pop_front()?.1,
            (None, Some(_)) => self.impairer.as_mut()?.pop_ready(now)?,
            (None, None) => return None,
        };
        self.stats.delivered_packets += 1;
        self.stats.delivered_bytes += p.len() as u64;
        Some(p)
    }

    pub fn in_flight(&self) -> usize {
        self.queue.len() + self.impairer.as_ref().map_or(0, Impairer::in_queue)
    }
}

/// The first `head` and the last `tail` packets that went on the link.
pub struct Trace {
    head: Vec<Record>,
    tail: VecDeque<Record>,
    head_cap: usize,
    tail_cap: usize,
    skipped: u64,
}

struct Record {
    at: Instant,
    from_a: bool,
    fate: Fate,
    bytes: Vec<u8>,
}

impl Trace {
    pub fn new(head_cap: usize, tail_cap: usize) -> Trace {
        Trace {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_cap,
            tail_cap,
            skipped: 0,
        }
    }

    fn push(&mut self, r: Record) {
        if self.head.len() < self.head_cap {
            self.head.push(r);
            return;
        }
        if self.tail.len() == self.tail_cap {
            self.tail.pop_front();
            self.skipped += 1;
        }
        if self.tail_cap > 0 {
            self.tail.push_back(r);
        }
    }

    /// Formats the recorded packets, one line each.
    pub fn render(&self, a: &str, b: &str) -> String {
        let mut s = String::new();
        let line = |s: &mut String, r: &Record| {
            let (from, to) = if r.from_a { (a, b) } else { (b, a) };
            let fate = match r.fate {
                Fate::Arrives(t) => format!("arr {t:>9}"),
                Fate::Lost => "LOST         ".to_string(),
                Fate::TailDrop => "TAIL-DROP    ".to_string(),
                Fate::Impaired {
                    first,
                    copies,
                    corrupted,
                    reordered,
                } => {
                    let mut f = format!("arr {first:>9}");
                    if copies > 1 {
                        let _ = write!(f, " x{copies}");
                    }
                    if corrupted {
                        f.push_str(" CORRUPT");
                    }
                    if reordered {
                        f.push_str(" HELD");
                    }
                    f
                }
            };
            let parsed = match r.bytes.first().is_some_and(|b| b >> 4 == 6) {
                true => tuntcp::wire::Packet6::parse(&r.bytes).map(|p| p.to_string()),
                false => Packet::parse(&r.bytes).map(|p| p.to_string()),
            };
            let pkt =
                parsed.unwrap_or_else(|e| format!("<unparsable: {e}, {} bytes>", r.bytes.len()));
            let _ = writeln!(s, "{:>9} {from}>{to} {fate} {pkt}", r.at.to_string());
        };
        for r in &self.head {
            line(&mut s, r);
        }
        if self.skipped > 0 {
            let _ = writeln!(s, "   ... {} packets not shown ...", self.skipped);
        }
        for r in &self.tail {
            line(&mut s, r);
        }
        s
    }

    /// The recorded packets in order (the first ones, then the most recent):
    /// (time sent, sent by side A, fate, bytes).
    pub fn packets(&self) -> impl Iterator<Item = (Instant, bool, Fate, &[u8])> {
        self.head
            .iter()
            .chain(self.tail.iter())
            .map(|r| (r.at, r.from_a, r.fate, r.bytes.as_slice()))
    }
}

/// Side A <-> side B.
pub struct Link {
    pub a_to_b: Pipe,
    pub b_to_a: Pipe,
    pub trace: Trace,
    /// Names used in the trace.
    pub names: (&'static str, &'static str),
}

impl Link {
    /// Both directions get their own loss stream derived from `seed`.
    pub fn new(a_to_b: PipeConfig, b_to_a: PipeConfig, seed: u64) -> Link {
        let mut r = SplitMix64::new(seed);
        Link {
            a_to_b: Pipe::new(a_to_b, r.next_u64()),
            b_to_a: Pipe::new(b_to_a, r.next_u64()),
            trace: Trace::new(64, 256),
            names: ("A", "B"),
        }
    }

    pub fn symmetric(cfg: PipeConfig, seed: u64) -> Link {
        Link::new(cfg.clone(), cfg, seed)
    }

    pub fn named(mut self, a: &'static str, b: &'static str) -> Link {
        self.names = (a, b);
        self
    }

    pub fn send_from_a(&mut self, now: Instant, bytes: Vec<u8>) -> Fate {
        self.send(true, now, bytes)
    }

    pub fn send_from_b(&mut self, now: Instant, bytes: Vec<u8>) -> Fate {
        self.send(false, now, bytes)
    }

    fn send(&mut self, from_a: bool, now: Instant, bytes: Vec<u8>) -> Fate {
        let pipe = if from_a {
            &mut self.a_to_b
        } else {
            &mut self.b_to_a
        };
        // The copy for the trace costs far less than the stacks' work per packet.
        let copy = bytes.clone();
        let fate = pipe.send(now, bytes);
        self.trace.push(Record {
            at: now,
            from_a,
            fate,
            bytes: copy,
        });
        fate
    }

    /// The next packet for side A that has arrived by `now`.
    pub fn recv_at_a(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.b_to_a.recv(now)
    }

    /// The next packet for side B that has arrived by `now`.
    pub fn recv_at_b(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.a_to_b.recv(now)
    }

    /// The earliest arrival in either direction.
    pub fn next_arrival(&self) -> Option<Instant> {
        match (self.a_to_b.next_arrival(), self.b_to_a.next_arrival()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    pub fn render_trace(&self) -> String {
        self.trace.render(self.names.0, self.names.1)
    }
}
