//! Seeded packet impairment for one direction of a link: loss, delay, jitter, reordering,
//! duplication, corruption and a drop-tail queue limit. There is no netem on our machines,
//! so this is where bad networks come from (the simulated link in tests, and a wrapper
//! between the TUN device and the stack).
//!
//! An [`Impairer`] is sans-IO: packets go in with [`Impairer::push`] at a time the caller
//! gives, and come out with [`Impairer::pop_ready`] once their release time has come. The
//! caller asks [`Impairer::next_release`] when to come back. The same config (seed
//! included) and the same pushes at the same times give the same output, byte for byte.
//!
//! The model, per packet pushed at `now`:
//! - lost with probability `loss`; otherwise duplicated with probability `duplicate` (two
//!   copies). Each copy then, independently:
//! - has one random bit flipped with probability `corrupt` (anywhere in the packet: the IPv4
//!   or TCP checksum must catch it; an empty packet has nothing to flip);
//! - is due at `now + delay + U[0, jitter]`;
//! - with probability `reorder` is held back by `2 * jitter + 1 ms` past the in-order
//!   stream, so packets pushed in the next millisecond or more overtake it. Otherwise it is
//!   released no earlier than the previous in-order packet: jitter alone never reorders,
//!   `reorder` is the only knob that does.
//! - A copy that finds `max_queue` packets waiting is dropped (drop-tail).
//!
//! Every push consumes the same number of draws from the generator whatever the knobs, so
//! with one seed the loss pattern does not change when, say, `duplicate` is turned on.
//!
//! What this module does not do: read a clock, sleep, do I/O, parse packets, fix checksums,
//! limit bandwidth, or model bursty (Gilbert-Elliott) loss.

#![forbid(unsafe_code)]

use std::collections::BinaryHeap;
use std::fmt;
use std::str::FromStr;

use crate::time::{Duration, Instant};

/// What to do to the packets of one direction. Probabilities are in `[0, 1]`.
///
/// Parses from and prints as `loss=5%,delay=20ms,jitter=5ms,reorder=2%,dup=1%,corrupt=0.1%,
/// seed=7,queue=10000` (keys in any order, all optional; `none` or an empty string is the
/// default, which impairs nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct ImpairConfig {
    /// Probability that a packet is dropped.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` per copy (order kept, see module doc).
    pub jitter: Duration,
    /// Probability that a copy is held back so that later packets overtake it.
    pub reorder: f64,
    /// Probability that a packet is sent twice.
    pub duplicate: f64,
    /// Probability that a copy has one bit flipped.
    pub corrupt: f64,
    /// The seed of the impairment's own random numbers (printed, so a run replays).
    pub seed: u64,
    /// Packets that may wait at once; beyond, drop-tail (counted in `queue_drops`).
    pub max_queue: usize,
}

impl ImpairConfig {
    /// [`ImpairConfig::max_queue`]'s default.
    pub const DEFAULT_MAX_QUEUE: usize = 10_000;
}

impl Default for ImpairConfig {
    /// No impairment, seed 0, a queue of [`ImpairConfig::DEFAULT_MAX_QUEUE`] packets.
    /// (Not derived: a derived default would allow a queue of 0 packets.)
    fn default() -> ImpairConfig {
        ImpairConfig {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            duplicate: 0.0,
            corrupt: 0.0,
            seed: 0,
            max_queue: ImpairConfig::DEFAULT_MAX_QUEUE,
        }
    }
}

/// Why an impairment string did not parse; names the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseImpairError {
    /// The key (or the whole item when it has no `=`).
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ParseImpairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "impairment `{}`: {}", self.key, self.reason)
    }
}

impl std::error::Error for ParseImpairError {}

const KEYS: &str = "loss, delay, jitter, reorder, dup, corrupt, seed, queue";

impl FromStr for ImpairConfig {
    type Err = ParseImpairError;

    fn from_str(s: &str) -> Result<ImpairConfig, ParseImpairError> {
        let mut cfg = ImpairConfig::default();
        let s = s.trim();
        if s.is_empty() || s == "none" {
            return Ok(cfg);
        }
        let mut seen: Vec<&str> = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let err = |key: &str, reason: String| ParseImpairError {
                key: key.to_string(),
                reason,
            };
            let Some((key, value)) = item.split_once('=') else {
                return Err(err(item, format!("expected key=value (keys: {KEYS})")));
            };
            let (key, value) = (key.trim(), value.trim());
            let canonical = match key {
                "dup" | "duplicate" => "dup",
                "queue" | "max_queue" => "queue",
                k => k,
            };
            if seen.contains(&canonical) {
                return Err(err(key, "given twice".to_string()));
            }
            seen.push(canonical);
            let e = |reason| err(key, reason);
            match canonical {
                "loss" => cfg.loss = parse_probability(value).map_err(e)?,
                "reorder" => cfg.reorder = parse_probability(value).map_err(e)?,
                "dup" => cfg.duplicate = parse_probability(value).map_err(e)?,
                "corrupt" => cfg.corrupt = parse_probability(value).map_err(e)?,
                "delay" => cfg.delay = parse_duration(value).map_err(e)?,
                "jitter" => cfg.jitter = parse_duration(value).map_err(e)?,
                "seed" => cfg.seed = parse_u64(value).map_err(e)?,
                "queue" => {
                    cfg.max_queue = parse_u64(value)
                        .and_then(|n| usize::try_from(n).map_err(|_| "too large".to_string()))
                        .map_err(e)?;
                }
                _ => return Err(err(key, format!("unknown key (keys: {KEYS})"))),
            }
        }
        Ok(cfg)
    }
}

/// `5%` or a fraction `0.05`, within [0, 1].
fn parse_probability(v: &str) -> Result<f64, String> {
    let (num, scale) = match v.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (v, 1.0),
    };
    let x: f64 = num
        .parse()
        .map_err(|_| format!("`{v}` is not a probability (write 5% or 0.05)"))?;
    let p = x / scale;
    if !(0.0..=1.0).contains(&p) {
        let hint = if scale == 1.0 && x > 1.0 && x <= 100.0 {
            format!(" (did you mean {v}%?)")
        } else {
            String::new()
        };
        return Err(format!("`{v}` is outside [0, 1]{hint}"));
    }
    Ok(p)
}

/// `20ms`, `1.5ms`, `500us`, `2s`, or `0`.
fn parse_duration(v: &str) -> Result<Duration, String> {
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = (&v[..split], v[split..].trim());
    let micros_per = match unit {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "" if num.parse::<f64>() == Ok(0.0) => 1.0,
        "" => return Err(format!("`{v}` needs a unit: us, ms or s")),
        _ => return Err(format!("`{v}`: unknown unit `{unit}` (us, ms or s)")),
    };
    let x: f64 = num
        .parse()
        .map_err(|_| format!("`{v}` is not a duration (write 20ms)"))?;
    let us = (x * micros_per).round();
    if !us.is_finite() || us >= u64::MAX as f64 {
        return Err(format!("`{v}` is too long"));
    }
    Ok(Duration::from_micros(us as u64))
}

/// Decimal or `0x` hexadecimal.
fn parse_u64(v: &str) -> Result<u64, String> {
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    }
    .map_err(|_| format!("`{v}` is not a non-negative integer"))
}

/// As a percentage when that reads back to the same `f64`, else as a fraction.
fn fmt_probability(p: f64) -> String {
    let pct = format!("{}", p * 100.0);
    if pct.parse::<f64>().map(|x| x / 100.0) == Ok(p) {
        format!("{pct}%")
    } else {
        format!("{p}")
    }
}

/// In the largest unit that is exact.
fn fmt_duration(d: Duration) -> String {
    let us = d.micros();
    if us != 0 && us % 1_000_000 == 0 {
        format!("{}s", us / 1_000_000)
    } else if us != 0 && us % 1000 == 0 {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    }
}

impl fmt::Display for ImpairConfig {
    /// Only the keys that differ from the default; `none` when none does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = ImpairConfig::default();
        let mut items = Vec::new();
        if self.loss != d.loss {
            items.push(format!("loss={}", fmt_probability(self.loss)));
        }
        if self.delay != d.delay {
            items.push(format!("delay={}", fmt_duration(self.delay)));
        }
        if self.jitter != d.jitter {
            items.push(format!("jitter={}", fmt_duration(self.jitter)));
        }
        if self.reorder != d.reorder {
            items.push(format!("reorder={}", fmt_probability(self.reorder)));
        }
        if self.duplicate != d.duplicate {
            items.push(format!("dup={}", fmt_probability(self.duplicate)));
        }
        if self.corrupt != d.corrupt {
            items.push(format!("corrupt={}", fmt_probability(self.corrupt)));
        }
        if self.seed != d.seed {
            items.push(format!("seed={}", self.seed));
        }
        if self.max_queue != d.max_queue {
            items.push(format!("queue={}", self.max_queue));
        }
        if items.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&items.join(","))
        }
    }
}

/// Counters of one [`Impairer`]. Copies are counted: a duplicated packet is two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Copies handed out by `pop_ready`.
    pub passed: u64,
    /// Packets lost at random.
    pub dropped: u64,
    /// Extra copies queued.
    pub duplicated: u64,
    /// Queued copies with a bit flipped.
    pub corrupted: u64,
    /// Queued copies held back for reordering (whether anything overtook them depends on
    /// what was pushed after).
    pub reordered: u64,
    /// Copies dropped because `max_queue` packets were waiting.
    pub queue_drops: u64,
}

impl fmt::Display for ImpairStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "passed {} dropped {} duplicated {} corrupted {} reordered {} queue-drops {}",
            self.passed,
            self.dropped,
            self.duplicated,
            self.corrupted,
            self.reordered,
            self.queue_drops
        )
    }
}

/// What [`Impairer::push_verdict`] did with one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Lost at random.
    Lost,
    /// Every copy found the queue full.
    QueueFull,
    /// At least one copy waits; `first` is the earliest release.
    Queued {
        /// When the earliest copy is released.
        first: Instant,
        /// Copies queued (2 when duplicated).
        copies: u8,
        /// A copy had a bit flipped.
        corrupted: bool,
        /// A copy was held back to be overtaken.
        reordered: bool,
    },
}

/// SplitMix64: small, seeded, good enough for coin flips.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// True with probability `p` for a uniform draw `r` (NaN never, 1 or more always).
fn chance(r: u64, p: f64) -> bool {
    p > 0.0 && ((r >> 11) as f64 / (1u64 << 53) as f64) < p
}

/// Uniform in `[0, n)` for a uniform draw `r` (0 when `n` is 0).
fn below(r: u64, n: u64) -> u64 {
    ((u128::from(r) * u128::from(n)) >> 64) as u64
}

/// Draws per copy: corrupt?, which bit, jitter, reorder?
const DRAWS_PER_COPY: usize = 4;
/// Draws per push: loss?, duplicate?, then two copies' worth.
const DRAWS_PER_PUSH: usize = 2 + 2 * DRAWS_PER_COPY;

/// The extra hold of a reordered copy beyond the in-order stream.
const REORDER_MIN_HOLD: Duration = Duration::from_millis(1);

/// A queued copy; the heap pops the earliest release, ties in push order.
#[derive(Debug)]
struct Queued {
    release: Instant,
    order: u64,
    packet: Vec<u8>,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.release, self.order) == (other.release, other.order)
    }
}

impl Eq for Queued {}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.release, other.order).cmp(&(self.release, self.order))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One direction of impairment. See the module doc for the model.
pub struct Impairer {
    cfg: ImpairConfig,
    rng: SplitMix64,
    queue: BinaryHeap<Queued>,
    /// Release time of the latest in-order copy: no in-order copy is released before it.
    last_in_order: Instant,
    next_order: u64,
    stats: ImpairStats,
}

impl Impairer {
    /// An impairment with `cfg`'s probabilities, drawn from `cfg.seed`.
    pub fn new(cfg: ImpairConfig) -> Impairer {
        Impairer {
            rng: SplitMix64(cfg.seed),
            cfg,
            queue: BinaryHeap::new(),
            last_in_order: Instant::ZERO,
            next_order: 0,
            stats: ImpairStats::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ImpairConfig {
        &self.cfg
    }

    /// Changes the knobs from now on; queued packets keep their release times. A new seed
    /// restarts the generator, the same seed continues it.
    pub fn set_config(&mut self, cfg: ImpairConfig) {
        if cfg.seed != self.cfg.seed {
            self.rng = SplitMix64(cfg.seed);
        }
        self.cfg = cfg;
    }

    /// True when nothing is lost, delayed, reordered, duplicated or corrupted (seed and
    /// queue limit aside), so a caller may bypass the impairer.
    pub fn is_noop(&self) -> bool {
        let c = &self.cfg;
        !(c.loss > 0.0 || c.reorder > 0.0 || c.duplicate > 0.0 || c.corrupt > 0.0)
            && c.delay == Duration::ZERO
            && c.jitter == Duration::ZERO
    }

    /// A packet enters at `now`: maybe lost, duplicated, corrupted, delayed, held back.
    pub fn push(&mut self, now: Instant, packet: Vec<u8>) {
        self.push_verdict(now, packet);
    }

    /// [`Impairer::push`], saying what happened (for traces).
    pub fn push_verdict(&mut self, now: Instant, packet: Vec<u8>) -> Verdict {
        let mut r = [0u64; DRAWS_PER_PUSH];
        for x in &mut r {
            *x = self.rng.next_u64();
        }
        if chance(r[0], self.cfg.loss) {
            self.stats.dropped += 1;
            return Verdict::Lost;
        }
        let second = chance(r[1], self.cfg.duplicate).then(|| packet.clone());
        let mut first: Option<Instant> = None;
        let (mut copies, mut corrupted, mut reordered) = (0u8, false, false);
        for (i, p) in std::iter::once(packet).chain(second).enumerate() {
            let d = &r[2 + i * DRAWS_PER_COPY..2 + (i + 1) * DRAWS_PER_COPY];
            if self.queue.len() >= self.cfg.max_queue {
                self.stats.queue_drops += 1;
                continue;
            }
            let (release, c, h) = self.schedule(now, p, d);
            first = Some(first.map_or(release, |f| f.min(release)));
            copies += 1;
            corrupted |= c;
            reordered |= h;
            if i > 0 {
                self.stats.duplicated += 1;
            }
        }
        match first {
            Some(first) => Verdict::Queued {
                first,
                copies,
                corrupted,
                reordered,
            },
            None => Verdict::QueueFull,
        }
    }

    /// Corrupts, times and queues one copy with its draws; returns (release, corrupted,
    /// held back).
    fn schedule(&mut self, now: Instant, mut p: Vec<u8>, d: &[u64]) -> (Instant, bool, bool) {
        let corrupted = !p.is_empty() && chance(d[0], self.cfg.corrupt);
        if corrupted {
            let bit = below(d[1], p.len() as u64 * 8);
            p[(bit / 8) as usize] ^= 1 << (bit % 8);
            self.stats.corrupted += 1;
        }
        let jitter = self.cfg.jitter.micros().saturating_add(1);
        let due = now + self.cfg.delay + Duration::from_micros(below(d[2], jitter));
        let in_order = due.max(self.last_in_order);
        let held = chance(d[3], self.cfg.reorder);
        let release = if held {
            self.stats.reordered += 1;
            in_order + self.cfg.jitter * 2 + REORDER_MIN_HOLD
        } else {
            self.last_in_order = in_order;
            in_order
        };
        self.queue.push(Queued {
            release,
            order: self.next_order,
            packet: p,
        });
        self.next_order += 1;
        (release, corrupted, held)
    }

    /// The next packet whose release time has come, in release order (ties: push order).
    pub fn pop_ready(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.queue.peek()?.release > now {
            return None;
        }
        let q = self.queue.pop()?;
        self.stats.passed += 1;
        Some(q.packet)
    }

    /// When the next held packet is due, if one is held.
    pub fn next_release(&self) -> Option<Instant> {
        self.queue.peek().map(|q| q.release)
    }

    /// What happened to the packets so far.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    /// Packets held now.
    pub fn in_queue(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImpairConfig {
        s.parse()
            .unwrap_or_else(|e| panic!("`{s}` should parse: {e}"))
    }

    fn us(x: u64) -> Duration {
        Duration::from_micros(x)
    }

    fn id(p: &[u8]) -> u32 {
        u32::from_be_bytes([p[0], p[1], p[2], p[3]])
    }

    /// Pushes `n` packets numbered 0.. (4-byte big-endian id, then zeros up to `len`), one
    /// every `gap`; pops each at its release time. Returns (push time, release time, packet)
    /// in output order, and the stats.
    fn run(cfg: &ImpairConfig, n: u32, gap: Duration, len: usize) -> (Vec<Out>, ImpairStats) {
        let mut imp = Impairer::new(cfg.clone());
        let mut out = Vec::new();
        let mut drain = |imp: &mut Impairer, until: Option<Instant>| {
            while let Some(t) = imp.next_release().filter(|&t| until.is_none_or(|u| t <= u)) {
                let p = imp.pop_ready(t).expect("due packet pops");
                let sent = Instant::ZERO + gap * id(&p);
                out.push(Out { sent, at: t, p });
            }
        };
        for i in 0..n {
            let now = Instant::ZERO + gap * i;
            drain(&mut imp, Some(now));
            let mut p = i.to_be_bytes().to_vec();
            p.resize(len.max(4), 0);
            imp.push(now, p);
        }
        drain(&mut imp, None);
        assert_eq!(imp.in_queue(), 0);
        (out, imp.stats())
    }

    #[derive(Debug, PartialEq)]
    struct Out {
        sent: Instant,
        at: Instant,
        p: Vec<u8>,
    }

    #[track_caller]
    fn assert_rate(count: u64, total: u64, p: f64, tolerance: f64) {
        let rate = count as f64 / total as f64;
        assert!(
            (rate - p).abs() <= tolerance,
            "rate {rate} ({count}/{total}) not within {p} ± {tolerance}"
        );
    }

    #[test]
    fn parses_the_documented_example() {
        let s = "loss=5%,delay=20ms,jitter=5ms,reorder=2%,dup=1%,corrupt=0.1%,seed=7";
        let c = parse(s);
        assert_eq!(c.loss, 0.05);
        assert_eq!(c.delay, Duration::from_millis(20));
        assert_eq!(c.jitter, Duration::from_millis(5));
        assert_eq!(c.reorder, 0.02);
        assert_eq!(c.duplicate, 0.01);
        assert!((c.corrupt - 0.001).abs() < 1e-15);
        assert_eq!(c.seed, 7);
        assert_eq!(c.max_queue, ImpairConfig::DEFAULT_MAX_QUEUE);
        assert_eq!(c.to_string(), s);
    }

    #[test]
    fn parses_every_key_alias_fraction_and_unit() {
        let c = parse(
            " loss=0.05, delay=1500us, jitter=0.5ms, reorder=0, duplicate=0.25, corrupt=100%, \
             seed=0x10, max_queue=50 ",
        );
        let want = ImpairConfig {
            loss: 0.05,
            delay: us(1500),
            jitter: us(500),
            reorder: 0.0,
            duplicate: 0.25,
            corrupt: 1.0,
            seed: 16,
            max_queue: 50,
        };
        assert_eq!(c, want);
        assert_eq!(parse("delay=2s").delay, Duration::from_secs(2));
        assert_eq!(parse("delay=0").delay, Duration::ZERO);
        assert_eq!(parse("jitter=7µs").jitter, us(7));
        assert_eq!(parse("dup=1%").duplicate, 0.01);
        assert_eq!(parse("queue=7,").max_queue, 7);
        for s in ["", "  ", "none"] {
            assert_eq!(parse(s), ImpairConfig::default(), "`{s}`");
        }
    }

    #[test]
    fn bad_keys_and_values_name_the_key() {
        let cases = [
            ("los=5%", "los", "unknown key"),
            ("loss", "loss", "key=value"),
            ("loss=150%", "loss", "outside"),
            ("loss=5", "loss", "did you mean 5%"),
            ("loss=-0.1", "loss", "outside"),
            ("loss=NaN", "loss", "outside"),
            ("reorder=abc", "reorder", "not a probability"),
            ("dup=%", "dup", "not a probability"),
            ("corrupt=2", "corrupt", "outside"),
            ("delay=20", "delay", "needs a unit"),
            ("delay=-5ms", "delay", "unknown unit"),
            ("delay=5min", "delay", "unknown unit"),
            ("jitter=ms", "jitter", "not a duration"),
            ("jitter=1e30s", "jitter", "unknown unit"),
            ("delay=99999999999999999s", "delay", "too long"),
            ("seed=x", "seed", "integer"),
            ("seed=0xZZ", "seed", "integer"),
            ("queue=-1", "queue", "integer"),
            ("loss=1%,loss=2%", "loss", "twice"),
            ("dup=1%,duplicate=2%", "duplicate", "twice"),
        ];
        for (input, key, why) in cases {
            let e = input.parse::<ImpairConfig>().expect_err(input);
            assert_eq!(e.key, key, "`{input}`: {e}");
            let msg = e.to_string();
            assert!(msg.contains(key) && msg.contains(why), "`{input}`: {msg}");
        }
    }

    #[test]
    fn display_round_trips() {
        let odd = ImpairConfig {
            loss: 1.0 / 3.0,
            delay: us(1234),
            jitter: Duration::from_secs(1),
            reorder: 1e-9,
            duplicate: 1.0,
            corrupt: 0.07,
            seed: u64::MAX,
            max_queue: 0,
        };
        let configs = [
            ImpairConfig::default(),
            parse("loss=5%,delay=20ms,jitter=5ms,reorder=2%,dup=1%,corrupt=0.1%,seed=7"),
            parse("loss=0.123456789,delay=1001us,corrupt=0.000001"),
            odd,
        ];
        for c in configs {
            let s = c.to_string();
            assert_eq!(parse(&s), c, "through `{s}`");
        }
        assert_eq!(ImpairConfig::default().to_string(), "none");
        assert_eq!(
            parse("delay=1500us,jitter=3000ms").to_string(),
            "delay=1500us,jitter=3s"
        );
    }

    #[test]
    fn same_seed_same_output_other_seed_differs() {
        let c = parse("loss=5%,delay=20ms,jitter=5ms,reorder=5%,dup=5%,corrupt=5%,seed=7");
        let gap = us(300);
        let (a, sa) = run(&c, 5000, gap, 40);
        let (b, sb) = run(&c, 5000, gap, 40);
        assert_eq!((&a, sa), (&b, sb));
        let (d, _) = run(&ImpairConfig { seed: 8, ..c }, 5000, gap, 40);
        assert_ne!(a, d);
    }

    #[test]
    fn other_knobs_do_not_change_the_loss_pattern() {
        let ids = |c: &str| {
            let mut v: Vec<u32> = run(&parse(c), 5000, us(100), 4)
                .0
                .iter()
                .map(|o| id(&o.p))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let plain = ids("loss=10%,seed=3");
        assert!((4300..=4700).contains(&plain.len()), "about 10% lost");
        assert_eq!(plain, ids("loss=10%,dup=50%,reorder=20%,jitter=2ms,seed=3"));
    }

    #[test]
    fn loss_rate_is_as_configured() {
        let n = 100_000;
        let (out, s) = run(&parse("loss=5%,seed=1"), n, us(10), 4);
        assert_rate(s.dropped, n.into(), 0.05, 0.005);
        assert_eq!(s.passed + s.dropped, u64::from(n));
        assert_eq!(out.len() as u64, s.passed);
    }

    #[test]
    fn duplicate_and_corrupt_rates_are_as_configured() {
        let n = 100_000;
        let (out, s) = run(&parse("dup=3%,corrupt=2%,seed=2"), n, us(10), 20);
        assert_rate(s.duplicated, n.into(), 0.03, 0.005);
        assert_eq!(out.len() as u64, u64::from(n) + s.duplicated);
        assert_eq!(s.passed, out.len() as u64);
        assert_rate(s.corrupted, s.passed, 0.02, 0.005);
        let damaged = out
            .iter()
            .filter(|o| o.p[4..].iter().any(|&b| b != 0))
            .count();
        assert!(damaged as u64 <= s.corrupted && damaged > 0);
    }

    #[test]
    fn corrupt_flips_exactly_one_bit_anywhere() {
        let mut imp = Impairer::new(parse("corrupt=100%,seed=5"));
        let mut hit = [false; 2];
        for i in 0..3000u32 {
            let len = 1 + (i as usize % 64);
            let orig: Vec<u8> = (0..len).map(|k| (k as u8).wrapping_mul(37)).collect();
            imp.push(Instant::ZERO, orig.clone());
            let got = imp.pop_ready(Instant::ZERO).expect("no delay");
            assert_eq!(got.len(), len);
            let flipped: u32 = orig
                .iter()
                .zip(&got)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            assert_eq!(flipped, 1, "packet {i}");
            if len == 2 {
                hit[usize::from(orig[0] == got[0])] = true;
            }
        }
        assert_eq!(hit, [true, true], "both bytes of 2-byte packets get hit");
        assert_eq!(imp.stats().corrupted, 3000);
    }

    #[test]
    fn delay_without_jitter_is_exact() {
        let mut imp = Impairer::new(parse("delay=20ms"));
        let t = Instant::from_micros(1000);
        imp.push(t, vec![1, 2, 3]);
        let due = t + Duration::from_millis(20);
        assert_eq!(imp.next_release(), Some(due));
        assert_eq!(imp.pop_ready(Instant::from_micros(due.micros() - 1)), None);
        assert_eq!(imp.pop_ready(due), Some(vec![1, 2, 3]));
        assert_eq!(imp.next_release(), None);

        let (out, _) = run(&parse("delay=20ms"), 1000, us(50), 4);
        assert_eq!(out.len(), 1000);
        for o in &out {
            assert_eq!(o.at, o.sent + Duration::from_millis(20));
        }
    }

    #[test]
    fn jitter_stays_in_bounds_and_keeps_order() {
        let (out, s) = run(&parse("delay=10ms,jitter=5ms,seed=9"), 20_000, us(100), 4);
        assert_eq!(out.len(), 20_000);
        let mut offsets = Vec::new();
        for (i, o) in out.iter().enumerate() {
            assert_eq!(id(&o.p), i as u32, "FIFO without reorder");
            let off = (o.at - o.sent).micros();
            assert!((10_000..=15_000).contains(&off), "offset {off} us");
            offsets.push(off);
        }
        offsets.sort_unstable();
        offsets.dedup();
        assert!(
            offsets.len() > 1000,
            "jitter varies: {} values",
            offsets.len()
        );
        assert_eq!(s.reordered, 0);
    }

    #[test]
    fn reorder_overtakes_at_the_configured_rate_and_loses_nothing() {
        let n = 100_000u32;
        let (out, s) = run(&parse("delay=10ms,reorder=2%,seed=4"), n, us(100), 4);
        assert_rate(s.reordered, n.into(), 0.02, 0.005);
        let mut ids: Vec<u32> = out.iter().map(|o| id(&o.p)).collect();
        // A packet is late when a later one came out before it.
        let mut max = None;
        let mut late = 0u64;
        for &i in &ids {
            if max.is_some_and(|m| i < m) {
                late += 1;
            }
            max = max.max(Some(i));
        }
        // Every held packet is overtaken by the next one (100 us later), unless it was last.
        assert!(
            late <= s.reordered && late + 1 >= s.reordered,
            "{late} late, {s:?}"
        );
        ids.sort_unstable();
        assert_eq!(ids, (0..n).collect::<Vec<_>>(), "each packet exactly once");
        for o in out {
            let off = (o.at - o.sent).micros();
            assert!(off == 10_000 || off == 11_000, "held 1 ms: {off} us");
        }
    }

    #[test]
    fn queue_limit_drops_tail_and_recovers() {
        let mut imp = Impairer::new(parse("delay=1s,queue=10"));
        for i in 0..15u8 {
            imp.push(Instant::ZERO, vec![i]);
        }
        assert_eq!(imp.in_queue(), 10);
        assert_eq!(imp.stats().queue_drops, 5);
        let t = Instant::from_secs(1);
        let got: Vec<u8> = std::iter::from_fn(|| imp.pop_ready(t))
            .map(|p| p[0])
            .collect();
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
        imp.push(t, vec![99]);
        assert_eq!(imp.in_queue(), 1);

        // A duplicate that finds no room is dropped alone.
        let mut imp = Impairer::new(parse("dup=100%,queue=3"));
        imp.push(Instant::ZERO, vec![1]);
        let v = imp.push_verdict(Instant::ZERO, vec![2]);
        assert!(matches!(v, Verdict::Queued { copies: 1, .. }), "{v:?}");
        assert_eq!(imp.push_verdict(Instant::ZERO, vec![3]), Verdict::QueueFull);
        let s = imp.stats();
        assert_eq!((s.duplicated, s.queue_drops), (1, 3));
    }

    #[test]
    fn ties_release_in_push_order() {
        let mut imp = Impairer::new(ImpairConfig::default());
        let t = Instant::from_millis(5);
        for i in 0..50u8 {
            imp.push(t, vec![i]);
        }
        let got: Vec<u8> = std::iter::from_fn(|| imp.pop_ready(t))
            .map(|p| p[0])
            .collect();
        assert_eq!(got, (0..50).collect::<Vec<u8>>());
    }

    #[test]
    fn extreme_settings_and_empty_packets_do_not_panic() {
        let mut imp = Impairer::new(parse("loss=100%,dup=100%,corrupt=100%,reorder=100%"));
        for i in 0..100u8 {
            assert_eq!(
                imp.push_verdict(Instant::ZERO, vec![i; usize::from(i)]),
                Verdict::Lost
            );
        }
        assert_eq!(imp.next_release(), None);
        assert_eq!(imp.stats().dropped, 100);

        let c = parse("dup=100%,corrupt=100%,reorder=100%,jitter=1ms,delay=1ms");
        let mut imp = Impairer::new(c);
        for len in [0, 1, 0, 1500] {
            imp.push(Instant::ZERO, vec![0; len]);
        }
        let mut got: Vec<usize> = std::iter::from_fn(|| imp.pop_ready(Instant::from_secs(1)))
            .map(|p| p.len())
            .collect();
        got.sort_unstable();
        assert_eq!(got, [0, 0, 0, 0, 1, 1, 1500, 1500]);
        let s = imp.stats();
        assert_eq!((s.duplicated, s.corrupted, s.reordered), (4, 4, 8));

        let wild = ImpairConfig {
            loss: f64::NAN,
            delay: Duration::MAX,
            jitter: Duration::MAX,
            reorder: 7.0,
            duplicate: -1.0,
            corrupt: f64::INFINITY,
            seed: 1,
            max_queue: usize::MAX,
        };
        let mut imp = Impairer::new(wild);
        imp.push(Instant::from_secs(1), Vec::new());
        imp.push(Instant::from_secs(1), vec![0xff]);
        assert_eq!(imp.in_queue(), 2);
        assert_eq!(
            imp.pop_ready(Instant::from_micros(u64::MAX)),
            Some(Vec::new())
        );
    }

    #[test]
    fn noop_means_nothing_changes() {
        assert!(Impairer::new(ImpairConfig::default()).is_noop());
        assert!(Impairer::new(parse("seed=9,queue=5")).is_noop());
        for s in [
            "loss=1%",
            "delay=1us",
            "jitter=1ms",
            "reorder=1%",
            "dup=1%",
            "corrupt=1%",
        ] {
            assert!(!Impairer::new(parse(s)).is_noop(), "{s}");
        }
        let mut imp = Impairer::new(ImpairConfig::default());
        let t = Instant::from_millis(3);
        assert_eq!(
            imp.push_verdict(t, vec![7]),
            Verdict::Queued {
                first: t,
                copies: 1,
                corrupted: false,
                reordered: false
            }
        );
        assert_eq!(imp.pop_ready(t), Some(vec![7]));
    }

    #[test]
    fn set_config_keeps_queued_packets() {
        let mut imp = Impairer::new(parse("delay=10ms"));
        imp.push(Instant::ZERO, vec![1]);
        imp.set_config(parse("loss=100%"));
        imp.push(Instant::ZERO, vec![2]);
        assert_eq!(imp.pop_ready(Instant::from_millis(10)), Some(vec![1]));
        assert_eq!(imp.stats().dropped, 1);
        assert_eq!(imp.config(), &parse("loss=100%"));
    }
}
