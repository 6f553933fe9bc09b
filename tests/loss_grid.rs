//! The loss grid (DESIGN habit 7): 10 MiB byte-exact transfers on the simulated link
//! (tests/support/link.rs: 5 ms one way, 100 Mbit/s, MTU 1500) with seeded loss in both
//! directions, from the link's impairment layer, at 0, 1, 5, 10 and 20%, plus rows that add
//! reordering (2%), duplication (1%) and corruption (0.5%) to 1% and 5% loss. Each row runs
//! three cells on one seed: tuntcp -> tuntcp, tuntcp -> smoltcp 0.14, smoltcp -> tuntcp.
//!
//! `loss_grid_10mib_byte_exact_matches_golden` checks every byte, bounds each cell in virtual
//! time (30 min) and in steps (fails with the seed, both ends' state and the link trace,
//! never hangs), prints the goodput table and compares it with `tests/golden/loss_grid.txt`
//! (virtual time is deterministic, so the numbers are exact). `TUNTCP_BLESS=1` rewrites the
//! file. `TUNTCP_SEED=n` runs every cell with seed `n` (to replay a failing cell) and then
//! skips the golden comparison. A cell with a smoltcp sender that does not finish in 30
//! virtual minutes is recorded as such; a cell with our sender must finish.
//!
//! `bench_loss_goodput` (ignored; `scripts/bench-loss.sh`) is the benchmark: the same rows
//! over several seeds, with smoltcp -> smoltcp added, reporting median goodput and the ratio
//! of a tuntcp sender to a smoltcp sender against the same receiver.
//!
//! For analysis: `LOSS_GRID_TRACE_DIR=dir` writes each cell's end state and link trace to a
//! file there (`LOSS_GRID_FULL_TRACE=1`: every packet, not the first 64 and last 256).
//!
//! Goodput = payload bytes / virtual time from both ends ESTABLISHED to the receiving
//! application reading end of stream. Both stacks use 256 KiB socket buffers.

mod support;

use smoltcp::iface::SocketHandle as SmolHandle;
use smoltcp::socket::tcp as smol_tcp;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use support::link::{seed_from_env, Link, PipeConfig, Trace};
use support::smol::SmolHost;
use support::stream::{Sink, Source};
use tuntcp::device::impair::ImpairConfig;
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::tcp::{self, ConnStats, State};
use tuntcp::time::{Duration, Instant};

const SENDER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const RECEIVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const PORT: u16 = 80;
const SMOL_EPHEMERAL: u16 = 49152;
const MTU: usize = 1500;
/// Socket buffers of both stacks, each way, at least (see [`Row::buffer`]).
const BUFFER: usize = 256 * 1024;
/// The link's rate (tests/support/link.rs's default), for the buffer sizes.
const LINK_BYTES_PER_SEC: u64 = 100_000_000 / 8;
/// The one-way delay of the grid (the link's default).
const GRID_DELAY_MS: u64 = 5;
const TEN_MIB: usize = 10 * 1024 * 1024;
/// Virtual-time bound of a transfer (and of a handshake).
const DEADLINE_MINUTES: u64 = 30;
/// Livelock guards.
const MAX_STEPS: u64 = 5_000_000;
const MAX_STEPS_SAME_TIME: u64 = 10_000;
const GOLDEN: &str = "tests/golden/loss_grid.txt";

// ---------------------------------------------------------------------------------------
// Rows and cells
// ---------------------------------------------------------------------------------------

/// What the link does to each packet, in each direction (percent).
#[derive(Clone, Copy, Debug)]
struct Row {
    /// One-way propagation delay, each way.
    delay_ms: u64,
    loss: f64,
    reorder: f64,
    dup: f64,
    corrupt: f64,
}

const fn plain(loss: f64) -> Row {
    Row {
        delay_ms: GRID_DELAY_MS,
        loss,
        reorder: 0.0,
        dup: 0.0,
        corrupt: 0.0,
    }
}

const fn messy(loss: f64) -> Row {
    Row {
        delay_ms: GRID_DELAY_MS,
        loss,
        reorder: 2.0,
        dup: 1.0,
        corrupt: 0.5,
    }
}

const ROWS: [Row; 7] = [
    plain(0.0),
    plain(1.0),
    messy(1.0),
    plain(5.0),
    messy(5.0),
    plain(10.0),
    plain(20.0),
];

impl Row {
    fn label(&self) -> String {
        let mut s = format!("loss {}%", self.loss);
        if self.reorder + self.dup + self.corrupt > 0.0 {
            let _ = write!(
                s,
                " + reorder {}% dup {}% corrupt {}%",
                self.reorder, self.dup, self.corrupt
            );
        }
        s
    }

    /// The label with the one-way delay, for progress lines and failures.
    fn where_(&self) -> String {
        format!("{} ms one way, {}", self.delay_ms, self.label())
    }

    /// The same impairment on a link with another one-way delay.
    fn with_delay(self, delay_ms: u64) -> Row {
        Row { delay_ms, ..self }
    }

    /// Socket buffers: 256 KiB, or twice the bandwidth-delay product when that is more
    /// (2.5 MB at 50 ms one way), so that without loss the window, not the buffer, limits
    /// the sender.
    fn buffer(&self) -> usize {
        let bdp = LINK_BYTES_PER_SEC * 2 * self.delay_ms / 1000;
        BUFFER.max(2 * bdp as usize)
    }

    fn pipe(&self) -> PipeConfig {
        PipeConfig {
            delay: Duration::from_millis(self.delay_ms),
            // All of the loss comes from the impairer (the link mixes in its own seed).
            impair: Some(ImpairConfig {
                loss: self.loss / 100.0,
                reorder: self.reorder / 100.0,
                duplicate: self.dup / 100.0,
                corrupt: self.corrupt / 100.0,
                ..ImpairConfig::default()
            }),
            ..PipeConfig::default()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Our stack with its default controller, CUBIC.
    Tuntcp,
    /// Our stack with NewReno (`--cc newreno`).
    TuntcpReno,
    /// Our stack with BBR (`--cc bbr`, paced) instead of CUBIC.
    TuntcpBbr,
    /// smoltcp as the project's other tests use it: no congestion control (its default).
    Smoltcp,
    /// smoltcp with its CUBIC controller (benchmark only), for a like-for-like sender.
    SmoltcpCubic,
}

impl Kind {
    fn is_tuntcp(self) -> bool {
        matches!(self, Kind::Tuntcp | Kind::TuntcpReno | Kind::TuntcpBbr)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Tuntcp => "tuntcp",
            Kind::TuntcpReno => "tuntcp+newreno",
            Kind::TuntcpBbr => "tuntcp+bbr",
            Kind::Smoltcp => "smoltcp",
            Kind::SmoltcpCubic => "smoltcp+cubic",
        }
    }
}

/// Sender -> receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pairing(Kind, Kind);

impl Pairing {
    fn name(self) -> String {
        format!("{}->{}", self.0.name(), self.1.name())
    }
}

const TT: Pairing = Pairing(Kind::Tuntcp, Kind::Tuntcp);
const TS: Pairing = Pairing(Kind::Tuntcp, Kind::Smoltcp);
const ST: Pairing = Pairing(Kind::Smoltcp, Kind::Tuntcp);
const SS: Pairing = Pairing(Kind::Smoltcp, Kind::Smoltcp);
const CT: Pairing = Pairing(Kind::SmoltcpCubic, Kind::Tuntcp);
const CS: Pairing = Pairing(Kind::SmoltcpCubic, Kind::Smoltcp);
const BT: Pairing = Pairing(Kind::TuntcpBbr, Kind::Tuntcp);
const RT: Pairing = Pairing(Kind::TuntcpReno, Kind::Tuntcp);
const BS: Pairing = Pairing(Kind::TuntcpBbr, Kind::Smoltcp);
const RS: Pairing = Pairing(Kind::TuntcpReno, Kind::Smoltcp);

// ---------------------------------------------------------------------------------------
// One end: our stack or smoltcp
// ---------------------------------------------------------------------------------------

enum Host {
    Tun {
        stack: Box<Stack>,
        h: Option<SocketHandle>,
    },
    Smol {
        host: Box<SmolHost>,
        h: SmolHandle,
    },
}

impl Host {
    fn new(kind: Kind, addr: Ipv4Addr, seed: u64, buffer: usize) -> Host {
        match kind {
            Kind::Tuntcp | Kind::TuntcpReno | Kind::TuntcpBbr => Host::Tun {
                stack: Box::new(Stack::new(StackConfig {
                    addr,
                    prefix_len: 24,
                    mtu: MTU,
                    seed,
                    tcp: tcp::Config {
                        recv_buffer: buffer,
                        send_buffer: buffer,
                        congestion: match kind {
                            Kind::TuntcpBbr => tcp::congestion::Algorithm::Bbr,
                            Kind::TuntcpReno => tcp::congestion::Algorithm::NewReno,
                            _ => tcp::congestion::Algorithm::Cubic,
                        },
                        ..tcp::Config::default()
                    },
                    ..StackConfig::default()
                })),
                h: None,
            },
            Kind::Smoltcp | Kind::SmoltcpCubic => {
                let mut host = Box::new(SmolHost::new(addr, 24, MTU, seed, Instant::ZERO));
                let cc = if kind == Kind::SmoltcpCubic {
                    smol_tcp::CongestionControl::Cubic
                } else {
                    smol_tcp::CongestionControl::None
                };
                let h = host.tcp_socket_with(buffer, cc);
                Host::Smol { host, h }
            }
        }
    }

    fn listen(&mut self, port: u16) {
        match self {
            Host::Tun { stack, .. } => stack.listen(port, 4).expect("listen"),
            Host::Smol { host, h } => host.tcp(*h).listen(port).expect("smoltcp listen"),
        }
    }

    fn connect(&mut self, now: Instant, to: SocketAddrV4) {
        match self {
            Host::Tun { stack, h } => *h = Some(stack.connect(now, to).expect("connect")),
            Host::Smol { host, h } => host.connect(*h, to, SMOL_EPHEMERAL),
        }
    }

    /// Takes the packets the link delivered, fires due timers and appends what the host
    /// transmits to `out`.
    fn poll(&mut self, now: Instant, delivered: Vec<Vec<u8>>, out: &mut Vec<Vec<u8>>) {
        match self {
            Host::Tun { stack, .. } => {
                for p in delivered {
                    stack.handle_packet(now, &p);
                }
                if stack.poll_timeout().is_some_and(|t| t <= now) {
                    stack.handle_timeout(now);
                }
                let mut buf = [0u8; MTU];
                while let Some(n) = stack.poll_transmit(now, &mut buf) {
                    out.push(buf[..n].to_vec());
                    assert!(out.len() < 1_000_000, "poll_transmit never returns None");
                }
            }
            Host::Smol { host, .. } => out.extend(host.poll(now, delivered)),
        }
    }

    fn next_event(&mut self, now: Instant) -> Option<Instant> {
        match self {
            Host::Tun { stack, .. } => stack.poll_timeout(),
            Host::Smol { host, .. } => host.poll_at(now),
        }
    }

    /// Accepts a pending connection (listener side) and says whether it is ESTABLISHED.
    fn established(&mut self) -> bool {
        match self {
            Host::Tun { stack, h } => {
                if h.is_none() {
                    *h = stack.accept(PORT);
                }
                h.and_then(|h| stack.connection(h))
                    .is_some_and(|c| c.state() == State::Established)
            }
            Host::Smol { host, h } => host.tcp_ref(*h).state() == smol_tcp::State::Established,
        }
    }

    /// The sending application: offers what the stack takes, then shuts down its write side.
    fn write(&mut self, src: &mut Source) -> Result<(), String> {
        match self {
            Host::Tun { stack, h } => {
                let h = h.expect("connected");
                while !src.done() {
                    match stack.send(h, src.pending()) {
                        Ok(0) | Err(tcp::Error::WouldBlock) => break,
                        Ok(n) => src.consumed(n),
                        Err(e) => return Err(format!("our send failed: {e}")),
                    }
                }
                if src.done() && !src.closed {
                    stack.shutdown_write(h);
                    src.closed = true;
                }
            }
            Host::Smol { host, h } => {
                let sock = host.tcp(*h);
                while !src.done() && sock.can_send() {
                    match sock.send_slice(src.pending()) {
                        Ok(0) => break,
                        Ok(n) => src.consumed(n),
                        Err(e) => return Err(format!("smoltcp send failed: {e:?}")),
                    }
                }
                if src.done() && !src.closed {
                    sock.close();
                    src.closed = true;
                }
            }
        }
        Ok(())
    }

    /// The receiving application: reads and checks everything readable.
    fn read(&mut self, sink: &mut Sink, now: Instant, buf: &mut [u8]) -> Result<(), String> {
        match self {
            Host::Tun { stack, h } => {
                let Some(h) = *h else { return Ok(()) };
                loop {
                    match stack.recv(h, buf) {
                        Ok(0) => {
                            sink.eof_at.get_or_insert(now);
                            break;
                        }
                        Ok(n) => sink.take(&buf[..n]),
                        Err(tcp::Error::WouldBlock) => break,
                        Err(e) => return Err(format!("our recv failed: {e}")),
                    }
                }
            }
            Host::Smol { host, h } => {
                let sock = host.tcp(*h);
                loop {
                    match sock.recv(|d| {
                        sink.take(d);
                        (d.len(), d.len())
                    }) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(smol_tcp::RecvError::Finished) => {
                            sink.eof_at.get_or_insert(now);
                            break;
                        }
                        Err(e) => return Err(format!("smoltcp recv failed: {e:?}")),
                    }
                }
            }
        }
        if let Some((at, got, want)) = sink.mismatch {
            return Err(format!("byte {at} is {got:#04x}, expected {want:#04x}"));
        }
        Ok(())
    }

    /// Our connection's counters (None for smoltcp).
    fn conn_stats(&self) -> Option<ConnStats> {
        match self {
            Host::Tun { stack, h } => h.and_then(|h| stack.connection(h)).map(|c| c.stats()),
            Host::Smol { .. } => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Host::Tun { stack, .. } => {
                let mut s = String::new();
                for (h, c) in stack.connections() {
                    let _ = writeln!(
                        s,
                        "  tuntcp {h:?} {} -> {}: {} snd_una {:?} snd_nxt {:?} rcv_nxt {:?} \
                         cwnd {} ssthresh {} rto {} srtt {:?} send_queue {} recv_queue {} {:?}",
                        c.local(),
                        c.remote(),
                        c.state(),
                        c.snd_una(),
                        c.snd_nxt(),
                        c.rcv_nxt(),
                        c.cwnd(),
                        c.ssthresh(),
                        c.rto(),
                        c.srtt(),
                        c.send_queue(),
                        c.recv_queue(),
                        c.stats()
                    );
                }
                let _ = writeln!(s, "  tuntcp next timer {:?}", stack.peek_timeout());
                s
            }
            Host::Smol { host, h } => {
                let sock = host.tcp_ref(*h);
                format!(
                    "  smoltcp: {} send_queue {} recv_queue {}\n",
                    sock.state(),
                    sock.send_queue(),
                    sock.recv_queue()
                )
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The world: sender (side A), receiver (side B), the link and the clock
// ---------------------------------------------------------------------------------------

struct Sim {
    label: String,
    seed: u64,
    now: Instant,
    a: Host,
    b: Host,
    link: Link,
    steps: u64,
    steps_same_time: u64,
    /// TCP payload bytes the sender put on the link (first copies and retransmissions).
    payload_from_a: u64,
    out: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

/// Why a run stopped before `app` was done.
enum Stop {
    /// The next event is past the virtual-time bound.
    Overdue,
    /// Nothing scheduled and nothing in flight (only returned when `may_stall`).
    Stalled,
}

/// TCP payload length of an IPv4 packet (0 if it is not TCP or too short).
fn tcp_payload_len(p: &[u8]) -> u64 {
    let ihl = usize::from(p.first().map_or(0, |b| b & 0x0f)) * 4;
    if p.len() < ihl + 20 || p[9] != 6 {
        return 0;
    }
    let data_off = usize::from(p[ihl + 12] >> 4) * 4;
    p.len().saturating_sub(ihl + data_off) as u64
}

impl Sim {
    fn new(label: String, seed: u64, row: &Row, pairing: Pairing) -> Sim {
        let mut link = Link::symmetric(row.pipe(), seed).named("snd", "rcv");
        if std::env::var_os("LOSS_GRID_FULL_TRACE").is_some() {
            link.trace = Trace::new(64, usize::MAX);
        }
        Sim {
            label,
            seed,
            now: Instant::ZERO,
            a: Host::new(pairing.0, SENDER_ADDR, seed, row.buffer()),
            b: Host::new(pairing.1, RECEIVER_ADDR, seed ^ 1, row.buffer()),
            link,
            steps: 0,
            steps_same_time: 0,
            payload_from_a: 0,
            out: Vec::new(),
            buf: vec![0; 65536],
        }
    }

    /// Both hosts take what arrived by now, fire timers and transmit.
    fn poll_hosts(&mut self, deliver: bool) {
        let now = self.now;
        let link = &mut self.link;
        let to_a: Vec<Vec<u8>> = if deliver {
            std::iter::from_fn(|| link.recv_at_a(now)).collect()
        } else {
            Vec::new()
        };
        self.a.poll(now, to_a, &mut self.out);
        for p in self.out.drain(..) {
            self.payload_from_a += tcp_payload_len(&p);
            self.link.send_from_a(now, p);
        }
        let link = &mut self.link;
        let to_b: Vec<Vec<u8>> = if deliver {
            std::iter::from_fn(|| link.recv_at_b(now)).collect()
        } else {
            Vec::new()
        };
        self.b.poll(now, to_b, &mut self.out);
        for p in self.out.drain(..) {
            self.link.send_from_b(now, p);
        }
    }

    fn next_event(&mut self) -> Option<Instant> {
        let now = self.now;
        [
            self.link.next_arrival(),
            self.a.next_event(now),
            self.b.next_event(now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs until `app` (both applications, called at every event time after both hosts took
    /// their input) returns true. `Err(Stop::Overdue)` when the next event is past
    /// `deadline`; `Err(Stop::Stalled)` when nothing is scheduled any more and `may_stall`
    /// (else that fails); fails outright on too many steps or when `app` reports an error.
    fn run_until(
        &mut self,
        what: &str,
        deadline: Instant,
        may_stall: bool,
        mut app: impl FnMut(&mut Sim) -> Result<bool, String>,
    ) -> Result<(), Stop> {
        loop {
            self.poll_hosts(true);
            let done = app(self).unwrap_or_else(|e| self.fail(&format!("{what}: {e}")));
            self.poll_hosts(false);
            if done {
                return Ok(());
            }
            self.steps += 1;
            if self.steps > MAX_STEPS {
                self.fail(&format!("{what}: more than {MAX_STEPS} steps"));
            }
            let Some(next) = self.next_event() else {
                if may_stall {
                    return Err(Stop::Stalled);
                }
                self.fail(&format!("{what}: nothing scheduled, nothing in flight"));
            };
            if next > deadline {
                return Err(Stop::Overdue);
            }
            if next <= self.now {
                self.steps_same_time += 1;
                if self.steps_same_time > MAX_STEPS_SAME_TIME {
                    self.fail(&format!(
                        "{what}: livelock, {MAX_STEPS_SAME_TIME} steps without the clock moving"
                    ));
                }
            } else {
                self.steps_same_time = 0;
                self.now = next;
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}: seed {} (replay: TUNTCP_SEED={}), virtual now {}, steps {}\n{}{}  link snd>rcv \
             {:?} impair {}\n  link rcv>snd {:?} impair {}\n",
            self.label,
            self.seed,
            self.seed,
            self.now,
            self.steps,
            self.a.describe(),
            self.b.describe(),
            self.link.a_to_b.stats,
            self.link.a_to_b.impair_stats(),
            self.link.b_to_a.stats,
            self.link.b_to_a.impair_stats(),
        )
    }

    #[track_caller]
    fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n{}--- link trace (snd = sender, rcv = receiver) ---\n{}------------------",
            self.describe(),
            self.link.render_trace()
        );
    }
}

// ---------------------------------------------------------------------------------------
// A cell: one transfer
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Outcome {
    seed: u64,
    bytes: u64,
    /// Virtual seconds of the transfer; `None` = did not finish (see `stalled`).
    secs: Option<f64>,
    /// Between two smoltcp ends only: the time at which nothing was scheduled any more.
    stalled: Option<Instant>,
    /// Packets each way during the transfer.
    pkts_ab: u64,
    pkts_ba: u64,
    /// Payload the sender put on the link / bytes of the stream.
    payload_ratio: f64,
    /// Packets the impairer dropped each way; copies it duplicated, corrupted, held back.
    lost_ab: u64,
    lost_ba: u64,
    dup: u64,
    corrupt: u64,
    reorder: u64,
    /// The sender's counters when it is ours.
    sender_stats: Option<ConnStats>,
    /// Segments a smoltcp end dropped because its assembler had no room for another
    /// out-of-order range (see [`SmolDropCounter`]).
    smol_hole_drops: u64,
    real: std::time::Duration,
}

impl Outcome {
    fn goodput_mbit(&self) -> Option<f64> {
        self.secs.map(|s| self.bytes as f64 * 8.0 / s / 1e6)
    }

    fn cell(&self) -> String {
        match self.secs {
            Some(s) => format!(
                "{:.2} Mbit/s ({s:.3} s)",
                self.goodput_mbit().unwrap_or(0.0)
            ),
            None => match self.stalled {
                Some(t) => format!("stalled at {t} (nothing scheduled, {} bytes)", self.bytes),
                None => format!("did not finish in {DEADLINE_MINUTES} virtual minutes"),
            },
        }
    }

    fn details(&self) -> String {
        let mut s = format!(
            "seed {}, {}, snd>rcv {} pkts, rcv>snd {} pkts, payload sent {:.3}x, \
             impairer lost {}/{} dup {} corrupt {} held {}",
            self.seed,
            match self.secs {
                Some(t) => format!("{t:.6} s"),
                None => match self.stalled {
                    Some(t) => format!("STALLED at {t} after {} bytes", self.bytes),
                    None => "DNF".to_string(),
                },
            },
            self.pkts_ab,
            self.pkts_ba,
            self.payload_ratio,
            self.lost_ab,
            self.lost_ba,
            self.dup,
            self.corrupt,
            self.reorder
        );
        if self.smol_hole_drops > 0 {
            let _ = write!(
                s,
                ", smoltcp dropped {} (no room for a 5th range)",
                self.smol_hole_drops
            );
        }
        if let Some(c) = self.sender_stats {
            let _ = write!(
                s,
                "; tuntcp sender: retrans {} fast-recoveries {} timeouts {} \
                 loss-probes {} probe-repairs {} lost-retrans {} \
                 undo dsack/full/loss {}/{}/{} spurious-rtos {}",
                c.retrans_segs,
                c.sack_recovery + c.reno_recovery,
                c.timeouts,
                c.loss_probes,
                c.loss_probe_recovery,
                c.lost_retransmit,
                c.dsack_undo,
                c.full_undo,
                c.loss_undo,
                c.spurious_rtos
            );
        }
        s
    }
}

/// Runs one byte-exact transfer of `total` bytes; panics with the seed and the trace on any
/// failure. Only a smoltcp sender may miss the virtual-time bound (any sender when not
/// `strict`: the benchmark records it), and only two smoltcp ends may stall (smoltcp 0.14
/// can lose its FIN and arm no timer); both are recorded in the outcome.
fn run_cell(row: &Row, pairing: Pairing, seed: u64, total: usize, strict: bool) -> Outcome {
    let real = std::time::Instant::now();
    let label = format!("{} {}", row.where_(), pairing.name());
    let mut sim = Sim::new(label.clone(), seed, row, pairing);
    SmolDropCounter::install();
    let bound = Duration::from_secs(DEADLINE_MINUTES * 60);
    sim.b.listen(PORT);
    sim.a
        .connect(Instant::ZERO, SocketAddrV4::new(RECEIVER_ADDR, PORT));
    let no_tuntcp = !pairing.0.is_tuntcp() && !pairing.1.is_tuntcp();
    let handshake = sim.run_until("handshake", Instant::ZERO + bound, false, |s| {
        Ok(s.a.established() && s.b.established())
    });
    if handshake.is_err() {
        sim.fail(&format!(
            "handshake not done in {DEADLINE_MINUTES} virtual minutes"
        ));
    }
    let start = sim.now;
    let (ab0, ba0) = (sim.link.a_to_b.stats, sim.link.b_to_a.stats);
    let payload0 = sim.payload_from_a;
    let mut src = Source::new(total);
    let mut sink = Sink::default();
    let r = sim.run_until("transfer", start + bound, no_tuntcp, |s| {
        s.a.write(&mut src)?;
        let now = s.now;
        s.b.read(&mut sink, now, &mut s.buf)?;
        if sink.received > total as u64 {
            return Err(format!("received {} > sent {total}", sink.received));
        }
        Ok(sink.eof_at.is_some())
    });
    let mut stalled = None;
    let secs = match r {
        Ok(()) => {
            if sink.received != total as u64 {
                sim.fail(&format!(
                    "end of stream after {} of {total} bytes",
                    sink.received
                ));
            }
            let end = sink.eof_at.expect("done at end of stream");
            Some((end - start).micros() as f64 / 1e6)
        }
        Err(Stop::Stalled) => {
            stalled = Some(sim.now);
            None
        }
        Err(Stop::Overdue) if !pairing.0.is_tuntcp() || !strict => None,
        Err(Stop::Overdue) => sim.fail(&format!(
            "our sender did not finish in {DEADLINE_MINUTES} virtual minutes ({} of {total} bytes)",
            sink.received
        )),
    };
    if let Some(dir) = std::env::var_os("LOSS_GRID_TRACE_DIR") {
        // With LOSS_GRID_FULL_TRACE=1 this is every packet of the cell.
        let name = format!("{label} seed {seed}.txt").replace(['%', ' ', '>', '+'], "_");
        let path = std::path::Path::new(&dir).join(name);
        let text = sim.describe() + &sim.link.render_trace();
        std::fs::write(&path, text).expect("write the trace");
    }
    let (ab, ba) = (sim.link.a_to_b.stats, sim.link.b_to_a.stats);
    let (ia, ib) = (
        sim.link.a_to_b.impair_stats(),
        sim.link.b_to_a.impair_stats(),
    );
    Outcome {
        seed,
        bytes: sink.received,
        secs,
        stalled,
        pkts_ab: ab.sent_packets - ab0.sent_packets,
        pkts_ba: ba.sent_packets - ba0.sent_packets,
        payload_ratio: (sim.payload_from_a - payload0) as f64 / total as f64,
        lost_ab: ia.dropped,
        lost_ba: ib.dropped,
        dup: ia.duplicated + ib.duplicated,
        corrupt: ia.corrupted + ib.corrupted,
        reorder: ia.reordered + ib.reordered,
        sender_stats: sim.a.conn_stats(),
        smol_hole_drops: SmolDropCounter::take(),
        real: real.elapsed(),
    }
}

/// Runs the jobs on up to `LOSS_GRID_THREADS` (default: 2, or fewer cores) threads; the
/// results are in job order and do not depend on the threads (each world is independent).
/// A panic in a cell is re-raised with its message.
fn run_all(jobs: &[(Row, Pairing, u64, usize)], strict: bool) -> Vec<Outcome> {
    let threads = std::env::var("LOSS_GRID_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(2)))
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(row, pairing, seed, total)) = jobs.get(i) else {
                        break;
                    };
                    let o = run_cell(&row, pairing, seed, total, strict);
                    println!(
                        "  {} {}: {} [real {:.2} s]",
                        row.where_(),
                        pairing.name(),
                        o.cell(),
                        o.real.as_secs_f64()
                    );
                    results.lock().expect("no poisoning")[i] = Some(o);
                })
            })
            .collect();
        for w in workers {
            if let Err(panic) = w.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    results
        .into_inner()
        .expect("no poisoning")
        .into_iter()
        .map(|o| o.expect("every job ran"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The grid (test) and the benchmark
// ---------------------------------------------------------------------------------------

const GRID_PAIRS: [Pairing; 3] = [TT, TS, ST];

/// The default seed of row `i` (all three cells of a row share it).
fn grid_seed(i: usize) -> u64 {
    1000 + i as u64
}

fn render_grid(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# tuntcp loss grid: {TEN_MIB}-byte (10 MiB) byte-exact transfers on the simulated link\n\
         # (tests/support/link.rs): 5 ms one-way delay, 100 Mbit/s, MTU 1500; loss, reordering,\n\
         # duplication and corruption from the link's seeded impairment, in both directions.\n\
         # Goodput = bytes / virtual time from both ends ESTABLISHED to the receiver's end of\n\
         # stream; 256 KiB socket buffers; tuntcp with its defaults (CUBIC, SACK, RACK-TLP),\n\
         # smoltcp 0.14. A tuntcp sender's details count its retransmissions, fast recoveries,\n\
         # RTOs, tail loss probes, losses they repaired and retransmissions RACK found lost.\n\
         # Virtual time is deterministic: `cargo test --test loss_grid` fails if this file\n\
         # differs. After a deliberate change to the stack, regenerate it with\n\
         #   TUNTCP_BLESS=1 cargo test --release --test loss_grid\n\
         # and review the diff. Generated by tests/loss_grid.rs; do not edit by hand.\n"
    );
    let _ = writeln!(
        s,
        "| impairment (each way) | seed | {} |",
        GRID_PAIRS.map(Pairing::name).join(" | ")
    );
    let _ = writeln!(s, "|---|---|---|---|---|");
    for (i, row) in ROWS.iter().enumerate() {
        let cells = &outcomes[i * GRID_PAIRS.len()..(i + 1) * GRID_PAIRS.len()];
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            row.label(),
            cells[0].seed,
            cells
                .iter()
                .map(Outcome::cell)
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    // BBR rows (after the grid's cells): our sender with `--cc bbr` against our receiver.
    let bbr = &outcomes[ROWS.len() * GRID_PAIRS.len()..];
    let _ = writeln!(
        s,
        "\nBBR (v1, paced) as the sender, same link and seeds:\n\n\
         | impairment (each way) | seed | {} | {} (CUBIC, above) |\n|---|---|---|---|",
        BT.name(),
        TT.name()
    );
    for (i, row) in ROWS.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            row.label(),
            bbr[i].seed,
            bbr[i].cell(),
            outcomes[i * GRID_PAIRS.len()].cell()
        );
    }
    let _ = writeln!(
        s,
        "\nDetails (payload sent = sender's TCP payload on the link / stream bytes):"
    );
    for (i, row) in ROWS.iter().enumerate() {
        for (k, p) in GRID_PAIRS.iter().enumerate() {
            let o = &outcomes[i * GRID_PAIRS.len() + k];
            let _ = writeln!(s, "- {} {}: {}", row.label(), p.name(), o.details());
        }
    }
    for (i, row) in ROWS.iter().enumerate() {
        let _ = writeln!(s, "- {} {}: {}", row.label(), BT.name(), bbr[i].details());
    }
    s
}

#[test]
fn loss_grid_10mib_byte_exact_matches_golden() {
    let replay = std::env::var_os("TUNTCP_SEED").is_some();
    let mut jobs = Vec::new();
    for (i, row) in ROWS.iter().enumerate() {
        let seed = seed_from_env(grid_seed(i));
        for p in GRID_PAIRS {
            jobs.push((*row, p, seed, TEN_MIB));
        }
    }
    // The BBR rows: the same link and seeds, our sender with BBR.
    for (i, row) in ROWS.iter().enumerate() {
        jobs.push((*row, BT, seed_from_env(grid_seed(i)), TEN_MIB));
    }
    let real = std::time::Instant::now();
    let outcomes = run_all(&jobs, true);
    for ((row, p, _, _), o) in jobs.iter().zip(&outcomes) {
        assert!(
            o.secs.is_some() || !p.0.is_tuntcp(),
            "{} {}",
            row.label(),
            p.name()
        );
        if o.secs.is_some() {
            assert_eq!(o.bytes, TEN_MIB as u64, "{} {}", row.label(), p.name());
        }
    }
    let table = render_grid(&outcomes);
    println!("{table}");
    println!("grid: real {:.2} s", real.elapsed().as_secs_f64());
    if replay {
        println!("TUNTCP_SEED is set: not compared with {GOLDEN}");
        return;
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("TUNTCP_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, &table).expect("write golden");
        println!("TUNTCP_BLESS: wrote {}", path.display());
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    if golden != table {
        let (g, t): (Vec<&str>, Vec<&str>) = (golden.lines().collect(), table.lines().collect());
        let diff: Vec<String> = (0..g.len().max(t.len()))
            .filter(|&i| g.get(i) != t.get(i))
            .map(|i| {
                format!(
                    "- {}\n+ {}",
                    g.get(i).unwrap_or(&"<none>"),
                    t.get(i).unwrap_or(&"<none>")
                )
            })
            .collect();
        panic!(
            "the loss grid differs from {GOLDEN} ({} vs {} lines; changed lines below). If the \
             change is intended, rerun with TUNTCP_BLESS=1 and review the diff.\n{}",
            golden.lines().count(),
            table.lines().count(),
            diff.join("\n")
        );
    }
}

/// Median of the goodputs; a run that did not finish counts as 0 (below any finished one).
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// A comma-separated list from the environment, or `default`.
fn env_list<T: std::str::FromStr>(name: &str, default: Vec<T>) -> Vec<T> {
    let v: Vec<T> = std::env::var(name)
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or(default);
    assert!(!v.is_empty(), "{name}: an empty list");
    v
}

fn controller(k: Kind) -> &'static str {
    match k {
        Kind::TuntcpReno => "newreno",
        Kind::Tuntcp => "cubic",
        Kind::TuntcpBbr => "bbr",
        _ => k.name(),
    }
}

#[test]
#[ignore = "benchmark, not a test: scripts/bench-loss.sh"]
fn bench_loss_goodput() {
    let seeds: Vec<u64> = env_list("LOSS_BENCH_SEEDS", (1..=5).collect());
    let delays: Vec<u64> = env_list("LOSS_BENCH_DELAYS", vec![GRID_DELAY_MS]);
    // Plain loss rows when given, else the grid's rows.
    let rows: Vec<Row> = match std::env::var_os("LOSS_BENCH_LOSSES") {
        Some(_) => env_list("LOSS_BENCH_LOSSES", vec![])
            .into_iter()
            .map(plain)
            .collect(),
        None => ROWS.to_vec(),
    };
    // Per common receiver: our sender with each controller, smoltcp without and with CUBIC.
    let groups = [
        ("tuntcp", [RT, TT, BT], [ST, CT]),
        ("smoltcp", [RS, TS, BS], [SS, CS]),
    ];
    let pairs: Vec<Pairing> = groups
        .iter()
        .flat_map(|g| g.1.into_iter().chain(g.2))
        .collect();
    let mut jobs = Vec::new();
    for &d in &delays {
        for row in &rows {
            for &p in &pairs {
                for &seed in &seeds {
                    jobs.push((row.with_delay(d), p, seed, TEN_MIB));
                }
            }
        }
    }
    let real = std::time::Instant::now();
    let outcomes = run_all(&jobs, false);
    // The runs of (delay index, row index, pairing).
    let runs = |d: usize, r: usize, p: Pairing| {
        let k = pairs
            .iter()
            .position(|&q| q == p)
            .expect("a benchmarked pairing");
        let at = ((d * rows.len() + r) * pairs.len() + k) * seeds.len();
        &outcomes[at..][..seeds.len()]
    };
    // (median, min, max, runs over the bound, runs that stalled)
    let stat = |d: usize, r: usize, p: Pairing| {
        let os = runs(d, r, p);
        let mut g: Vec<f64> = os.iter().map(|o| o.goodput_mbit().unwrap_or(0.0)).collect();
        let dnf = os.iter().filter(|o| o.secs.is_none()).count();
        let stalls = os.iter().filter(|o| o.stalled.is_some()).count();
        let m = median(&mut g);
        (m, g[0], g[g.len() - 1], dnf - stalls, stalls)
    };
    let fmt = |(m, lo, hi, dnf, stalls): (f64, f64, f64, usize, usize)| {
        let mut s = if lo == hi {
            format!("{m:.2}")
        } else {
            format!("{m:.2} ({lo:.2}-{hi:.2})")
        };
        if dnf > 0 {
            let _ = write!(s, " {dnf} DNF");
        }
        if stalls > 0 {
            let _ = write!(s, " {stalls} stalled");
        }
        s
    };
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}x", a / b)
        } else {
            "inf".to_string()
        }
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Goodput in Mbit/s of virtual time, median (min-max) over seeds {seeds:?}, 10 MiB per \
         run; 100 Mbit/s, MTU 1500, one-way delay {delays:?} ms; impairment in both \
         directions; socket buffers 256 KiB or 2 x BDP when more ({}). Ratio = tuntcp \
         sender / smoltcp sender against the same receiver. smoltcp = smoltcp 0.14 with its \
         default (no congestion control); smoltcp+cubic = with CongestionControl::Cubic. DNF \
         = not done in {DEADLINE_MINUTES} virtual minutes, stalled = smoltcp->smoltcp with \
         nothing scheduled any more (both count as 0).",
        delays
            .iter()
            .map(|&d| format!("{} KiB at {d} ms", plain(0.0).with_delay(d).buffer() / 1024))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut losing = Vec::new();
    let mut ours_dnf = Vec::new();
    for (di, &d) in delays.iter().enumerate() {
        for (rcv, ours, theirs) in &groups {
            let _ = writeln!(
                s,
                "\n{d} ms one way, receiver {rcv}:\n\n| impairment (each way) | tuntcp sender \
                 | Mbit/s | {} | {} | ratio vs smoltcp | ratio vs smoltcp+cubic |\n\
                 |---|---|---|---|---|---|---|",
                theirs[0].0.name(),
                theirs[1].0.name(),
            );
            for (r, row) in rows.iter().enumerate() {
                let st: Vec<_> = theirs.iter().map(|&p| stat(di, r, p)).collect();
                for &p in ours {
                    let o = stat(di, r, p);
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {} | {} |",
                        row.label(),
                        controller(p.0),
                        fmt(o),
                        fmt(st[0]),
                        fmt(st[1]),
                        ratio(o.0, st[0].0),
                        ratio(o.0, st[1].0)
                    );
                    if o.3 > 0 {
                        ours_dnf.push(format!("{d} ms {} {}", row.label(), p.name()));
                    }
                    if row.loss > 0.0 {
                        for (k, t) in theirs.iter().enumerate() {
                            if o.0 <= st[k].0 {
                                losing.push(format!(
                                    "{d} ms {} {} vs {}",
                                    row.label(),
                                    p.name(),
                                    t.name()
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    let _ = writeln!(
        s,
        "\nOur sender with BBR (v1, paced) vs with CUBIC, each receiver:\n\n| one way | \
         impairment (each way) | bbr->tuntcp | cubic->tuntcp | bbr / cubic | bbr->smoltcp | \
         cubic->smoltcp | bbr / cubic |\n|---|---|---|---|---|---|---|---|"
    );
    for (di, &d) in delays.iter().enumerate() {
        for (r, row) in rows.iter().enumerate() {
            let (b, c) = (stat(di, r, BT), stat(di, r, TT));
            let (bs, cs) = (stat(di, r, BS), stat(di, r, TS));
            let _ = writeln!(
                s,
                "| {d} ms | {} | {} | {} | {} | {} | {} | {} |",
                row.label(),
                fmt(b),
                fmt(c),
                ratio(b.0, c.0),
                fmt(bs),
                fmt(cs),
                ratio(bs.0, cs.0)
            );
        }
    }
    let _ = writeln!(s, "\nDetails per run:");
    for (di, &d) in delays.iter().enumerate() {
        for (r, row) in rows.iter().enumerate() {
            for &p in &pairs {
                for o in runs(di, r, p) {
                    let _ = writeln!(s, "- {d} ms {} {}: {}", row.label(), p.name(), o.details());
                }
            }
        }
    }
    println!("\n{s}");
    if losing.is_empty() {
        println!(
            "tuntcp beats smoltcp as sender in every lossy row, each controller, either receiver."
        );
    } else {
        println!(
            "tuntcp does NOT beat smoltcp as sender (median) in: {}",
            losing.join("; ")
        );
    }
    if !ours_dnf.is_empty() {
        println!(
            "tuntcp sender did NOT finish in {DEADLINE_MINUTES} virtual minutes in: {}",
            ours_dnf.join("; ")
        );
    }
    println!(
        "bench: {} runs, real {:.1} s",
        outcomes.len(),
        real.elapsed().as_secs_f64()
    );
    assert_eq!(outcomes.len(), jobs.len());
}

// ---------------------------------------------------------------------------------------
// smoltcp's out-of-order drops, counted from its log
// ---------------------------------------------------------------------------------------

thread_local! {
    static SMOL_HOLE_DROPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts smoltcp 0.14's "assembler: too many holes" debug messages: a segment its receiver
/// dropped, without an ACK, because its assembler holds at most 4 out-of-order ranges
/// (`ASSEMBLER_MAX_SEGMENT_COUNT`, the default of its `assembler-max-segment-count-*`
/// features). Per thread, as each cell runs on one thread; the count is reset per cell.
struct SmolDropCounter;

impl log::Log for SmolDropCounter {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target().starts_with("smoltcp::socket::tcp")
    }

    fn log(&self, r: &log::Record) {
        if r.level() == log::Level::Debug
            && r.target().starts_with("smoltcp::socket::tcp")
            && r.args().as_str().is_none()
            && r.args()
                .to_string()
                .starts_with("assembler: too many holes")
        {
            SMOL_HOLE_DROPS.with(|c| c.set(c.get() + 1));
        }
    }

    fn flush(&self) {}
}

impl SmolDropCounter {
    /// Installs the logger once per process (a no-op when another logger is in place) and
    /// resets this thread's count.
    fn install() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if log::set_logger(&SmolDropCounter).is_ok() {
                log::set_max_level(log::LevelFilter::Debug);
            }
        });
        SMOL_HOLE_DROPS.with(|c| c.set(0));
    }

    /// This thread's count since [`SmolDropCounter::install`].
    fn take() -> u64 {
        SMOL_HOLE_DROPS.with(|c| c.replace(0))
    }
}
