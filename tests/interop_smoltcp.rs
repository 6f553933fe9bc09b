//! Interop with smoltcp 0.14: our `Stack` (10.66.0.2) and a smoltcp `Interface`
//! (10.66.0.1/24, medium IP) on a simulated point-to-point link (tests/support/link.rs),
//! driven by one virtual clock that jumps to the next event: a packet arriving, our
//! `poll_timeout`, or smoltcp's `poll_at`. Minutes of virtual time run in milliseconds.
//!
//! Each test prints (see `--nocapture`) the virtual time and goodput of its transfers. On
//! failure the panic message carries the seed (replay or explore with `TUNTCP_SEED=n`), the
//! state of both ends and a packet trace of the link.

mod support;

use smoltcp::iface::SocketHandle as SmolHandle;
use smoltcp::socket::tcp as smol_tcp;
use std::net::{Ipv4Addr, SocketAddrV4};
use support::link::{seed_from_env, Link, PipeConfig, Trace};
use support::smol::SmolHost;
use support::stream::{Sink, Source};
use support::Owned;
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::tcp::{self, State};
use tuntcp::time::{Duration, Instant};
use tuntcp::wire::{Packet, TcpFlags};

const OUR_ADDR: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const SMOL_ADDR: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const MTU: usize = 1500;
const SMOL_BUFFER: usize = 256 * 1024;
const TEN_MB: usize = 10 * 1024 * 1024;
const OUR_PORT: u16 = 80;
const SMOL_PORT: u16 = 8080;
const SMOL_EPHEMERAL: u16 = 49152;

// ---------------------------------------------------------------------------------------
// The world: both stacks, the link and the clock
// ---------------------------------------------------------------------------------------

struct Limits {
    /// Fail when the virtual clock passes this.
    deadline: Instant,
    /// Fail after this many event steps (livelock guard).
    max_steps: u64,
    /// Fail after this many consecutive steps without the clock moving.
    max_steps_same_time: u64,
}

struct World {
    seed: u64,
    now: Instant,
    us: Stack,
    smol: SmolHost,
    /// Side A is our stack, side B smoltcp.
    link: Link,
    steps: u64,
    steps_same_time: u64,
    limits: Limits,
    buf: Vec<u8>,
    /// smoltcp sockets to describe on failure (ours are all listed by the stack).
    watch_smol: Vec<SmolHandle>,
    /// RSTs each side put on the link.
    rsts_from_us: u64,
    rsts_from_smol: u64,
}

/// Whether a packet carries a TCP segment with RST set (without a full parse; IPv6 without
/// extension headers, as both ends here send).
fn is_tcp_rst(p: &[u8]) -> bool {
    if p.first().is_some_and(|b| b >> 4 == 6) {
        return p.len() > 40 + 13 && p[6] == 6 && p[40 + 13] & 0x04 != 0;
    }
    let ihl = usize::from(p.first().map_or(0, |b| b & 0x0f)) * 4;
    p.len() > ihl + 13 && p[9] == 6 && p[ihl + 13] & 0x04 != 0
}

impl World {
    fn new(seed: u64, pipe: PipeConfig) -> World {
        let now = Instant::ZERO;
        let us = Stack::new(StackConfig {
            addr: OUR_ADDR,
            prefix_len: 24,
            mtu: MTU,
            seed,
            // Fixed 256 KiB buffers, as before auto-tuning: smoltcp sends without congestion
            // control by default, so our window is all that paces it, and a window grown
            // to 1 MiB at 5% loss ended in its go-back-N resends arriving after it closed.
            tcp: tcp::Config {
                recv_buffer: 256 * 1024,
                send_buffer: 256 * 1024,
                ..tcp::Config::default()
            },
            ..StackConfig::default()
        });
        World {
            seed,
            now,
            us,
            smol: SmolHost::new(SMOL_ADDR, 24, MTU, seed, now),
            link: {
                let mut link = Link::symmetric(pipe, seed).named("tuntcp", "smoltcp");
                if std::env::var_os("INTEROP_TRACE").is_some() {
                    // Keep every packet: the trace printed after each transfer is complete.
                    link.trace = Trace::new(64, usize::MAX);
                }
                link
            },
            steps: 0,
            steps_same_time: 0,
            limits: Limits {
                deadline: Instant::from_secs(600),
                max_steps: 5_000_000,
                max_steps_same_time: 10_000,
            },
            buf: vec![0; 65536],
            watch_smol: Vec::new(),
            rsts_from_us: 0,
            rsts_from_smol: 0,
        }
    }

    /// A smoltcp TCP socket with 256 KiB buffers and timestamps on the virtual clock.
    fn smol_socket(&mut self) -> SmolHandle {
        let h = self.smol.tcp_socket(SMOL_BUFFER);
        self.watch_smol.push(h);
        h
    }

    fn smol(&mut self, h: SmolHandle) -> &mut smol_tcp::Socket<'static> {
        self.smol.tcp(h)
    }

    fn smol_state(&self, h: SmolHandle) -> smol_tcp::State {
        self.smol.tcp_ref(h).state()
    }

    /// Our connection's state; a freed TCB reads as CLOSED.
    fn our_state(&self, h: SocketHandle) -> State {
        self.us.connection(h).map_or(State::Closed, |c| c.state())
    }

    /// smoltcp connects from its ephemeral port to our `port`.
    fn smol_connect(&mut self, h: SmolHandle, port: u16) {
        self.smol
            .connect(h, SocketAddrV4::new(OUR_ADDR, port), SMOL_EPHEMERAL);
    }

    fn our_connect(&mut self, port: u16) -> SocketHandle {
        self.us
            .connect(self.now, SocketAddrV4::new(SMOL_ADDR, port))
            .expect("our connect")
    }

    /// Feeds our stack what has arrived, fires its due timers and puts its output on the link.
    fn step_us(&mut self) {
        while let Some(p) = self.link.recv_at_a(self.now) {
            self.us.handle_packet(self.now, &p);
        }
        if self.us.poll_timeout().is_some_and(|t| t <= self.now) {
            self.us.handle_timeout(self.now);
        }
        self.flush_us();
    }

    fn flush_us(&mut self) {
        let mut guard = 0u32;
        while let Some(n) = self.us.poll_transmit(self.now, &mut self.buf) {
            guard += 1;
            if guard > 100_000 {
                self.fail("our poll_transmit never returns None");
            }
            let p = self.buf[..n].to_vec();
            self.rsts_from_us += u64::from(is_tcp_rst(&p));
            self.link.send_from_a(self.now, p);
        }
    }

    /// Gives smoltcp what has arrived, polls it and puts its output on the link.
    fn step_smol(&mut self) {
        let now = self.now;
        let delivered: Vec<Vec<u8>> = std::iter::from_fn(|| self.link.recv_at_b(now)).collect();
        for p in self.smol.poll(now, delivered) {
            self.rsts_from_smol += u64::from(is_tcp_rst(&p));
            self.link.send_from_b(self.now, p);
        }
    }

    /// The earliest of: a packet arriving, our timer, smoltcp's timer.
    fn next_event(&mut self) -> Option<Instant> {
        let smol = self.smol.poll_at(self.now);
        [self.link.next_arrival(), self.us.poll_timeout(), smol]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs until `app` returns true. `app` plays both applications: it is called at every
    /// event time after both stacks have taken their input, and what it sends goes out at
    /// the same instant. Fails (with the seed and a trace) on the deadline, on too many
    /// steps, or when nothing is scheduled any more.
    #[track_caller]
    fn run_until(&mut self, what: &str, mut app: impl FnMut(&mut World) -> bool) {
        loop {
            self.step_us();
            self.step_smol();
            let done = app(self);
            self.flush_us();
            self.step_smol();
            if done {
                return;
            }
            self.steps += 1;
            if self.steps > self.limits.max_steps {
                self.fail(&format!(
                    "{what}: more than {} steps",
                    self.limits.max_steps
                ));
            }
            let Some(next) = self.next_event() else {
                self.fail(&format!(
                    "{what}: nothing scheduled, nothing in flight (stuck)"
                ));
            };
            if next > self.limits.deadline {
                self.fail(&format!(
                    "{what}: not done by the deadline {} (next event at {next})",
                    self.limits.deadline
                ));
            }
            if next <= self.now {
                self.steps_same_time += 1;
                if self.steps_same_time > self.limits.max_steps_same_time {
                    self.fail(&format!(
                        "{what}: livelock, {} steps without the clock moving",
                        self.steps_same_time
                    ));
                }
            } else {
                self.steps_same_time = 0;
                self.now = next;
            }
        }
    }

    /// Lets the clock run to `t`, handling every event on the way.
    fn run_to(&mut self, t: Instant) {
        let deadline = self.limits.deadline;
        self.limits.deadline = self.limits.deadline.max(t);
        self.run_until("run_to", |w| w.next_event().is_none_or(|n| n > t));
        self.now = self.now.max(t);
        self.limits.deadline = deadline;
        self.step_us();
        self.step_smol();
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "seed {} (replay: TUNTCP_SEED={}), virtual now {}, steps {}\n",
            self.seed, self.seed, self.now, self.steps
        );
        for (h, c) in self.us.connections() {
            s += &format!(
                "  tuntcp {h:?} {} -> {}: {} snd_una {:?} snd_nxt {:?} rcv_nxt {:?} cwnd {} \
                 send_queue {} recv_queue {} stats {:?}\n",
                c.local(),
                c.remote(),
                c.state(),
                c.snd_una(),
                c.snd_nxt(),
                c.rcv_nxt(),
                c.cwnd(),
                c.send_queue(),
                c.recv_queue(),
                c.stats()
            );
        }
        s += &format!("  tuntcp next timer {:?}\n", self.us.peek_timeout());
        for &h in &self.watch_smol {
            let sock = self.smol.tcp_ref(h);
            s += &format!(
                "  smoltcp {h:?}: {} send_queue {} recv_queue {}\n",
                sock.state(),
                sock.send_queue(),
                sock.recv_queue()
            );
        }
        s += &format!(
            "  link tuntcp>smoltcp {:?}\n  link smoltcp>tuntcp {:?}\n  RSTs: from tuntcp {}, from smoltcp {}\n",
            self.link.a_to_b.stats, self.link.b_to_a.stats, self.rsts_from_us, self.rsts_from_smol
        );
        s
    }

    #[track_caller]
    fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n{}--- link trace ---\n{}------------------",
            self.describe(),
            self.link.render_trace()
        );
    }

    /// Every connection so far ended without a RST from either side.
    #[track_caller]
    fn assert_no_resets(&self) {
        self.check(self.rsts_from_us == 0 && self.rsts_from_smol == 0, || {
            format!(
                "RSTs on the link: {} from tuntcp, {} from smoltcp",
                self.rsts_from_us, self.rsts_from_smol
            )
        });
    }

    #[track_caller]
    fn check(&self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.fail(&msg());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Connection set-up and byte-exact transfers
// ---------------------------------------------------------------------------------------

/// smoltcp connects to our listener; returns both ends once both are ESTABLISHED.
fn smol_client(w: &mut World) -> (SocketHandle, SmolHandle) {
    w.us.listen(OUR_PORT, 16).expect("listen");
    let sh = w.smol_socket();
    w.smol_connect(sh, OUR_PORT);
    let mut ours = None;
    w.run_until("smoltcp -> tuntcp handshake", |w| {
        if ours.is_none() {
            ours = w.us.accept(OUR_PORT);
        }
        ours.is_some_and(|h| w.our_state(h) == State::Established)
            && w.smol_state(sh) == smol_tcp::State::Established
    });
    (ours.expect("accepted"), sh)
}

/// We connect to a smoltcp listener; returns both ends once both are ESTABLISHED.
fn our_client(w: &mut World) -> (SocketHandle, SmolHandle) {
    let sh = w.smol_socket();
    w.smol(sh).listen(SMOL_PORT).expect("smoltcp listen");
    let h = w.our_connect(SMOL_PORT);
    w.run_until("tuntcp -> smoltcp handshake", |w| {
        w.our_state(h) == State::Established && w.smol_state(sh) == smol_tcp::State::Established
    });
    (h, sh)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    SmolToUs,
    UsToSmol,
}

struct Transfer {
    bytes: u64,
    start: Instant,
    end: Instant,
    real: std::time::Duration,
}

impl Transfer {
    fn virtual_secs(&self) -> f64 {
        (self.end - self.start).micros() as f64 / 1e6
    }
    fn goodput_mbit(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.virtual_secs() / 1e6
    }
}

/// One direction of a transfer: `total` pattern bytes then a FIN, read until end of stream.
struct Flow {
    dir: Direction,
    src: Source,
    sink: Sink,
}

impl Flow {
    fn new(dir: Direction, total: usize) -> Flow {
        Flow {
            dir,
            src: Source::new(total),
            sink: Sink::default(),
        }
    }

    /// Both applications' turn: the sender offers what the stack takes (then shuts down its
    /// write side), the receiver reads everything readable and checks it.
    #[track_caller]
    fn step(&mut self, w: &mut World, h: SocketHandle, sh: SmolHandle, label: &str) {
        let Flow { dir, src, sink } = self;
        match dir {
            Direction::SmolToUs => {
                while !src.done() && w.smol(sh).can_send() {
                    let n = w.smol(sh).send_slice(src.pending()).expect("smoltcp send");
                    if n == 0 {
                        break;
                    }
                    src.consumed(n);
                }
                if src.done() && !src.closed {
                    w.smol(sh).close();
                    src.closed = true;
                }
                loop {
                    match w.us.recv(h, &mut w.buf) {
                        Ok(0) => {
                            sink.eof_at.get_or_insert(w.now);
                            break;
                        }
                        Ok(n) => sink.take(&w.buf[..n]),
                        Err(tcp::Error::WouldBlock) => break,
                        Err(e) => w.fail(&format!("{label}: our recv failed: {e}")),
                    }
                }
            }
            Direction::UsToSmol => {
                while !src.done() {
                    match w.us.send(h, src.pending()) {
                        Ok(0) | Err(tcp::Error::WouldBlock) => break,
                        Ok(n) => src.consumed(n),
                        Err(e) => w.fail(&format!("{label}: our send failed: {e}")),
                    }
                }
                if src.done() && !src.closed {
                    w.us.shutdown_write(h);
                    src.closed = true;
                }
                let now = w.now;
                loop {
                    match w.smol(sh).recv(|d| {
                        sink.take(d);
                        (d.len(), d.len())
                    }) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(smol_tcp::RecvError::Finished) => {
                            sink.eof_at.get_or_insert(now);
                            break;
                        }
                        Err(e) => w.fail(&format!("{label}: smoltcp recv failed: {e:?}")),
                    }
                }
            }
        }
        if let Some((at, got, want)) = sink.mismatch {
            w.fail(&format!(
                "{label}: byte {at} is {got:#04x}, expected {want:#04x}"
            ));
        }
        w.check(sink.received <= src.total, || {
            format!("{label}: received {} > sent {}", sink.received, src.total)
        });
    }

    fn done(&self) -> bool {
        self.sink.eof_at.is_some()
    }
}

/// Runs the flows on one connection at the same time until each receiver saw end of stream;
/// checks every byte and the exact length, and prints time and goodput per flow.
#[track_caller]
fn transfer_flows(
    w: &mut World,
    h: SocketHandle,
    sh: SmolHandle,
    flows: &mut [Flow],
    label: &str,
) -> Vec<Transfer> {
    let real = std::time::Instant::now();
    let start = w.now;
    let (ab0, ba0) = (w.link.a_to_b.stats, w.link.b_to_a.stats);
    let ours0 = w.us.connection(h).map(|c| c.stats()).unwrap_or_default();
    w.run_until(label, |w| {
        for f in flows.iter_mut() {
            f.step(w, h, sh, label);
        }
        flows.iter().all(Flow::done)
    });
    let real = real.elapsed();
    let (ab, ba) = (w.link.a_to_b.stats, w.link.b_to_a.stats);
    let ours = w.us.connection(h).map(|c| c.stats()).unwrap_or_default();
    let mut out = Vec::new();
    for f in flows.iter() {
        let end = f.sink.eof_at.expect("run_until returned at EOF");
        w.check(f.sink.received == f.src.total, || {
            format!(
                "{label}: {:?} EOF after {} of {} bytes",
                f.dir, f.sink.received, f.src.total
            )
        });
        let t = Transfer {
            bytes: f.sink.received,
            start,
            end,
            real,
        };
        let name = match f.dir {
            Direction::SmolToUs => "smoltcp->tuntcp",
            Direction::UsToSmol => "tuntcp->smoltcp",
        };
        println!(
            "{label}: {name} {} bytes byte-exact in {:.3} s virtual ({start} -> {end}), \
             goodput {:.1} Mbit/s, real {:.3} s",
            t.bytes,
            t.virtual_secs(),
            t.goodput_mbit(),
            t.real.as_secs_f64(),
        );
        out.push(t);
    }
    println!(
        "    link tuntcp>smoltcp {} pkts ({} lost), smoltcp>tuntcp {} pkts ({} lost); \
         tuntcp retrans {} timeouts {}",
        ab.sent_packets - ab0.sent_packets,
        ab.lost - ab0.lost,
        ba.sent_packets - ba0.sent_packets,
        ba.lost - ba0.lost,
        ours.retrans_segs - ours0.retrans_segs,
        ours.timeouts - ours0.timeouts,
    );
    if std::env::var_os("INTEROP_TRACE").is_some() {
        println!("{}", w.link.render_trace());
    }
    out
}

/// One direction: `total` pattern bytes, then a FIN.
#[track_caller]
fn transfer(
    w: &mut World,
    dir: Direction,
    h: SocketHandle,
    sh: SmolHandle,
    total: usize,
    label: &str,
) -> Transfer {
    let mut flows = [Flow::new(dir, total)];
    transfer_flows(w, h, sh, &mut flows, label)
        .pop()
        .expect("one flow")
}

/// After a transfer's FIN: the receiver closes too, and both ends finish the close.
/// `sender_us` tells which end sent the first FIN (and so ends in TIME-WAIT).
fn finish_close(w: &mut World, h: SocketHandle, sh: SmolHandle, sender_us: bool, label: &str) {
    if sender_us {
        w.smol(sh).close();
    } else {
        w.us.close(h);
    }
    w.run_until(&format!("{label}: close"), |w| {
        let (us, smol) = (w.our_state(h), w.smol_state(sh));
        if sender_us {
            us == State::TimeWait && smol == smol_tcp::State::Closed
        } else {
            us == State::Closed && smol == smol_tcp::State::TimeWait
        }
    });
    if sender_us {
        w.us.close(h);
    }
}

fn lan() -> PipeConfig {
    PipeConfig::default()
}

fn lossy(loss: f64) -> PipeConfig {
    PipeConfig {
        loss,
        ..PipeConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// The first `n` TCP segments on the link: (sent by us, segment).
fn first_segments(w: &World, n: usize) -> Vec<(bool, Owned)> {
    w.link
        .trace
        .packets()
        .filter_map(|(_, from_us, _, bytes)| match Packet::parse(bytes) {
            Ok(Packet::Tcp(s)) => Some((from_us, Owned::from_segment(&s))),
            _ => None,
        })
        .take(n)
        .collect()
}

/// Checks the three segments of a handshake opened by `client_is_us`.
#[track_caller]
fn check_handshake(w: &World, client_is_us: bool) {
    let segs = first_segments(w, 3);
    let lines: Vec<&str> = segs.iter().map(|(_, s)| s.line.as_str()).collect();
    println!("handshake done at {}:\n  {}", w.now, lines.join("\n  "));
    w.check(segs.len() == 3, || "fewer than 3 segments".into());
    let who = |us: bool| if us { "tuntcp" } else { "smoltcp" };
    let want = [
        (client_is_us, TcpFlags::SYN),
        (!client_is_us, TcpFlags::SYN | TcpFlags::ACK),
        (client_is_us, TcpFlags::ACK),
    ];
    for (k, ((from_us, seg), (want_us, want_flags))) in segs.iter().zip(want).enumerate() {
        w.check(*from_us == want_us && seg.flags == want_flags, || {
            format!(
                "segment {k} should be [{want_flags}] from {}: {}",
                who(want_us),
                seg.line
            )
        });
        w.check(seg.payload.is_empty(), || {
            format!("data in the handshake: {}", seg.line)
        });
    }
    let (syn, synack, ack) = (&segs[0].1, &segs[1].1, &segs[2].1);
    w.check(synack.ack == syn.seq.wrapping_add(1), || {
        "SYN-ACK acks the wrong seq".into()
    });
    w.check(
        ack.seq == syn.seq.wrapping_add(1) && ack.ack == synack.seq.wrapping_add(1),
        || "final ACK has the wrong numbers".into(),
    );
    // Both ends announce MSS = MTU - 40 and offer window scaling and SACK.
    for s in [syn, synack] {
        w.check(s.options.mss == Some(1460), || format!("MSS: {}", s.line));
        w.check(s.options.window_scale.is_some(), || {
            format!("no wscale: {}", s.line)
        });
        w.check(s.options.sack_permitted, || {
            format!("no sackOK: {}", s.line)
        });
    }
    // One round trip of 10 ms plus serialization.
    w.check(w.now < Instant::from_millis(30), || {
        format!("handshake took until {}", w.now)
    });
}

/// A short request/response after a handshake, checked on both ends.
fn exchange_hello(w: &mut World, h: SocketHandle, sh: SmolHandle) {
    assert_eq!(w.us.send(h, b"hello from tuntcp"), Ok(17));
    w.smol(sh)
        .send_slice(b"hello from smoltcp")
        .expect("smoltcp send");
    let mut got_us = Vec::new();
    let mut got_smol = Vec::new();
    w.run_until("hello exchange", |w| {
        let mut buf = [0u8; 64];
        if let Ok(n) = w.us.recv(h, &mut buf) {
            got_us.extend_from_slice(&buf[..n]);
        }
        if let Ok(n) = w.smol(sh).recv_slice(&mut buf) {
            got_smol.extend_from_slice(&buf[..n]);
        }
        got_us.len() == 18 && got_smol.len() == 17
    });
    assert_eq!(got_us, b"hello from smoltcp");
    assert_eq!(got_smol, b"hello from tuntcp");
}

#[test]
fn interop_smoltcp_client_to_tuntcp_server_handshake() {
    let mut w = World::new(seed_from_env(1), lan());
    let (h, sh) = smol_client(&mut w);
    check_handshake(&w, false);
    let conn = w.us.connection(h).expect("our connection");
    assert_eq!(
        conn.remote(),
        std::net::SocketAddr::V4(SocketAddrV4::new(SMOL_ADDR, SMOL_EPHEMERAL))
    );
    assert!(
        (1400..=1460).contains(&conn.effective_mss()),
        "effective MSS {}",
        conn.effective_mss()
    );
    exchange_hello(&mut w, h, sh);
    assert_eq!(w.our_state(h), State::Established);
    assert_eq!(w.smol_state(sh), smol_tcp::State::Established);
    w.assert_no_resets();
}

#[test]
fn interop_tuntcp_client_to_smoltcp_server_handshake() {
    let mut w = World::new(seed_from_env(2), lan());
    let (h, sh) = our_client(&mut w);
    check_handshake(&w, true);
    let conn = w.us.connection(h).expect("our connection");
    assert_eq!(
        conn.remote(),
        std::net::SocketAddr::V4(SocketAddrV4::new(SMOL_ADDR, SMOL_PORT))
    );
    assert!(
        (1400..=1460).contains(&conn.effective_mss()),
        "effective MSS {}",
        conn.effective_mss()
    );
    exchange_hello(&mut w, h, sh);
    assert_eq!(w.our_state(h), State::Established);
    assert_eq!(w.smol_state(sh), smol_tcp::State::Established);
    w.assert_no_resets();
}

#[test]
fn interop_10mb_smoltcp_to_tuntcp_byte_exact() {
    let mut w = World::new(seed_from_env(3), lan());
    let (h, sh) = smol_client(&mut w);
    let t = transfer(&mut w, Direction::SmolToUs, h, sh, TEN_MB, "10 MiB");
    assert_eq!(t.bytes, TEN_MB as u64);
    finish_close(&mut w, h, sh, false, "10 MiB");
    assert_eq!(w.link.a_to_b.stats.lost + w.link.b_to_a.stats.lost, 0);
    w.assert_no_resets();
}

#[test]
fn interop_10mb_tuntcp_to_smoltcp_byte_exact() {
    let mut w = World::new(seed_from_env(4), lan());
    let (h, sh) = our_client(&mut w);
    let t = transfer(&mut w, Direction::UsToSmol, h, sh, TEN_MB, "10 MiB");
    assert_eq!(t.bytes, TEN_MB as u64);
    let retrans = w.us.connection(h).map(|c| c.stats().retrans_segs);
    finish_close(&mut w, h, sh, true, "10 MiB");
    // Nothing was lost, so nothing should have been sent twice.
    assert_eq!(retrans, Some(0), "retransmissions on a lossless link");
    w.assert_no_resets();
}

#[test]
fn interop_close_tuntcp_first() {
    let mut w = World::new(seed_from_env(5), lan());
    let (h, sh) = smol_client(&mut w);
    exchange_hello(&mut w, h, sh);
    // We close first: FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT; smoltcp CLOSE-WAIT -> LAST-ACK
    // -> CLOSED once its application closes on end of stream.
    w.us.close(h);
    let mut smol_saw_eof = false;
    w.run_until("we close first", |w| {
        if !smol_saw_eof {
            let mut buf = [0u8; 16];
            if let Err(smol_tcp::RecvError::Finished) = w.smol(sh).recv_slice(&mut buf) {
                smol_saw_eof = true;
                w.smol(sh).close();
            }
        }
        w.our_state(h) == State::TimeWait && w.smol_state(sh) == smol_tcp::State::Closed
    });
    let closed_at = w.now;
    println!("we closed first: TIME-WAIT / CLOSED at {closed_at}");
    assert!(smol_saw_eof);
    assert_eq!(w.our_state(h), State::TimeWait);
    assert_eq!(w.smol_state(sh), smol_tcp::State::Closed);
    // TIME-WAIT lasts 2*MSL (60 s): still there just before, gone after.
    let msl2 = Duration::from_secs(60);
    w.run_to(closed_at + (msl2 - Duration::from_millis(100)));
    assert_eq!(w.our_state(h), State::TimeWait, "TIME-WAIT ended early");
    w.run_to(closed_at + msl2 + Duration::from_secs(1));
    assert!(
        w.us.connection(h).is_none(),
        "TCB not freed after TIME-WAIT: {:?}",
        w.us.connection(h).map(|c| c.state())
    );
    assert_eq!(w.us.connections().count(), 0);
    println!("TIME-WAIT over by {} (real time: milliseconds)", w.now);
    w.assert_no_resets();
}

#[test]
fn interop_close_smoltcp_first() {
    let mut w = World::new(seed_from_env(6), lan());
    let (h, sh) = our_client(&mut w);
    exchange_hello(&mut w, h, sh);
    // smoltcp closes first: FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT; we go CLOSE-WAIT, read
    // end of stream, close: LAST-ACK -> CLOSED.
    w.smol(sh).close();
    let mut we_saw_eof = false;
    let mut saw_close_wait = false;
    w.run_until("smoltcp closes first", |w| {
        if !we_saw_eof {
            let mut buf = [0u8; 16];
            if w.us.recv(h, &mut buf) == Ok(0) {
                we_saw_eof = true;
                saw_close_wait = w.our_state(h) == State::CloseWait;
                w.us.close(h);
            }
        }
        we_saw_eof
            && w.our_state(h) == State::Closed
            && w.smol_state(sh) == smol_tcp::State::TimeWait
    });
    let closed_at = w.now;
    println!("smoltcp closed first: CLOSED / TIME-WAIT at {closed_at}");
    assert!(saw_close_wait, "we were not in CLOSE-WAIT when reading EOF");
    assert_eq!(w.our_state(h), State::Closed);
    assert!(w.us.connection(h).is_none(), "our TCB not freed");
    assert_eq!(w.smol_state(sh), smol_tcp::State::TimeWait);
    // smoltcp's TIME-WAIT is 10 s; afterwards it is CLOSED and nothing more is sent.
    w.run_to(closed_at + Duration::from_secs(11));
    assert_eq!(w.smol_state(sh), smol_tcp::State::Closed);
    w.assert_no_resets();
}

#[test]
fn interop_1pct_loss_10mb_each_way_completes() {
    let seed = seed_from_env(7);
    let mut w = World::new(seed, lossy(0.01));
    println!("seed {seed}, 1% loss each way, 5 ms one-way delay, 100 Mbit/s");
    // smoltcp -> tuntcp on one connection ...
    let (h, sh) = smol_client(&mut w);
    let t1 = transfer(&mut w, Direction::SmolToUs, h, sh, TEN_MB, "1% loss");
    finish_close(&mut w, h, sh, false, "1% loss");
    // ... then tuntcp -> smoltcp on another, same link, same clock.
    let (h2, sh2) = our_client(&mut w);
    let t2 = transfer(&mut w, Direction::UsToSmol, h2, sh2, TEN_MB, "1% loss");
    let retrans = w.us.connection(h2).map_or(0, |c| c.stats().retrans_segs);
    finish_close(&mut w, h2, sh2, true, "1% loss");
    println!(
        "1% loss: total virtual {}, link lost {} + {} packets, our retransmissions (tuntcp->smoltcp) {retrans}",
        w.now, w.link.a_to_b.stats.lost, w.link.b_to_a.stats.lost
    );
    assert_eq!(t1.bytes, TEN_MB as u64);
    assert_eq!(t2.bytes, TEN_MB as u64);
    assert!(w.link.a_to_b.stats.lost > 0 && w.link.b_to_a.stats.lost > 0);
    assert!(
        retrans > 0,
        "packets were lost but nothing was retransmitted"
    );
    w.assert_no_resets();
}

/// After both ends sent their FIN: each closes its handle, then the TCBs finish on their own
/// (whoever closed first through TIME-WAIT) and nothing is left after 2*MSL.
fn finish_both_closed(w: &mut World, h: SocketHandle, sh: SmolHandle, label: &str) {
    w.us.close(h);
    w.smol(sh).close();
    let finished = |s: State| matches!(s, State::TimeWait | State::Closed);
    let smol_finished =
        |s: smol_tcp::State| matches!(s, smol_tcp::State::TimeWait | smol_tcp::State::Closed);
    w.run_until(&format!("{label}: close"), |w| {
        finished(w.our_state(h)) && smol_finished(w.smol_state(sh))
    });
    println!(
        "{label}: closed at {}: tuntcp {}, smoltcp {}",
        w.now,
        w.our_state(h),
        w.smol_state(sh)
    );
    let t = w.now + Duration::from_secs(61);
    w.run_to(t);
    assert_eq!(w.us.connections().count(), 0, "a TCB outlived TIME-WAIT");
    assert_eq!(w.smol_state(sh), smol_tcp::State::Closed);
}

#[test]
fn interop_bidirectional_10mb_simultaneous_byte_exact() {
    let mut w = World::new(seed_from_env(8), lan());
    let (h, sh) = smol_client(&mut w);
    let mut flows = [
        Flow::new(Direction::SmolToUs, TEN_MB),
        Flow::new(Direction::UsToSmol, TEN_MB),
    ];
    let ts = transfer_flows(&mut w, h, sh, &mut flows, "bidirectional 10 MiB");
    assert!(ts.iter().all(|t| t.bytes == TEN_MB as u64));
    finish_both_closed(&mut w, h, sh, "bidirectional 10 MiB");
    w.assert_no_resets();
}

#[test]
fn interop_5pct_loss_1mb_both_ways_simultaneous_completes() {
    let seed = seed_from_env(9);
    let mut w = World::new(seed, lossy(0.05));
    println!("seed {seed}, 5% loss each way, 5 ms one-way delay, 100 Mbit/s");
    let (h, sh) = our_client(&mut w);
    let mut flows = [
        Flow::new(Direction::SmolToUs, 1 << 20),
        Flow::new(Direction::UsToSmol, 1 << 20),
    ];
    let ts = transfer_flows(&mut w, h, sh, &mut flows, "5% loss 1 MiB both ways");
    assert!(ts.iter().all(|t| t.bytes == 1 << 20));
    assert!(w.link.a_to_b.stats.lost > 0 && w.link.b_to_a.stats.lost > 0);
    finish_both_closed(&mut w, h, sh, "5% loss 1 MiB both ways");
    w.assert_no_resets();
}

/// The harness itself: a link that loses everything must end in a failure naming the seed
/// (and carrying the trace), not in a hang.
#[test]
#[should_panic(expected = "TUNTCP_SEED=")]
fn interop_harness_fails_with_seed_when_nothing_gets_through() {
    let mut w = World::new(seed_from_env(10), lossy(1.0));
    w.limits.deadline = Instant::from_secs(10);
    our_client(&mut w);
}

// ---------------------------------------------------------------------------------------
// IPv6 (issue 18): the same world, smoltcp at fd66::1/64, us at the default fd66::2
// ---------------------------------------------------------------------------------------

const OUR_ADDR6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 2);
const SMOL_ADDR6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 1);

fn world6(seed: u64) -> World {
    let mut w = World::new(seed, lan());
    assert_eq!(w.us.addr6(), Some(OUR_ADDR6));
    w.smol.add_addr6(SMOL_ADDR6, 64);
    w
}

/// The first packets on the link are IPv6 TCP with MSS 1440 (MTU - 60) on both SYNs.
fn check_ipv6_mss(w: &World) {
    let syns: Vec<String> = w
        .link
        .render_trace()
        .lines()
        .filter(|l| l.contains(" [S"))
        .map(str::to_string)
        .collect();
    w.check(syns.len() >= 2, || format!("SYNs: {syns:?}"));
    for l in &syns[..2] {
        w.check(l.contains("[fd66::") && l.contains("mss 1440"), || {
            format!("not an IPv6 SYN with MSS 1440: {l}")
        });
    }
}

#[test]
fn interop_ipv6_smoltcp_client_2mb_to_tuntcp_byte_exact() {
    let mut w = world6(seed_from_env(21));
    w.us.listen(OUR_PORT, 16).expect("listen");
    let sh = w.smol_socket();
    w.smol.connect(
        sh,
        std::net::SocketAddr::from((OUR_ADDR6, OUR_PORT)),
        SMOL_EPHEMERAL,
    );
    let mut ours = None;
    w.run_until("smoltcp -> tuntcp handshake over IPv6", |w| {
        if ours.is_none() {
            ours = w.us.accept(OUR_PORT);
        }
        ours.is_some_and(|h| w.our_state(h) == State::Established)
            && w.smol_state(sh) == smol_tcp::State::Established
    });
    let h = ours.expect("accepted");
    let conn = w.us.connection(h).expect("our connection");
    assert_eq!(
        conn.remote(),
        std::net::SocketAddr::from((SMOL_ADDR6, SMOL_EPHEMERAL))
    );
    assert_eq!(
        conn.local(),
        std::net::SocketAddr::from((OUR_ADDR6, OUR_PORT))
    );
    check_ipv6_mss(&w);
    let t = transfer(
        &mut w,
        Direction::SmolToUs,
        h,
        sh,
        2 << 20,
        "2 MiB over IPv6",
    );
    assert_eq!(t.bytes, 2 << 20);
    finish_close(&mut w, h, sh, false, "2 MiB over IPv6");
    w.assert_no_resets();
}

#[test]
fn interop_ipv6_tuntcp_client_2mb_to_smoltcp_byte_exact() {
    let mut w = world6(seed_from_env(22));
    let sh = w.smol_socket();
    w.smol(sh).listen(SMOL_PORT).expect("smoltcp listen");
    let h =
        w.us.connect(w.now, std::net::SocketAddr::from((SMOL_ADDR6, SMOL_PORT)))
            .expect("our connect");
    w.run_until("tuntcp -> smoltcp handshake over IPv6", |w| {
        w.our_state(h) == State::Established && w.smol_state(sh) == smol_tcp::State::Established
    });
    assert_eq!(
        w.us.connection(h).unwrap().local().ip(),
        std::net::IpAddr::V6(OUR_ADDR6)
    );
    check_ipv6_mss(&w);
    let t = transfer(
        &mut w,
        Direction::UsToSmol,
        h,
        sh,
        2 << 20,
        "2 MiB over IPv6",
    );
    assert_eq!(t.bytes, 2 << 20);
    let retrans = w.us.connection(h).map(|c| c.stats().retrans_segs);
    finish_close(&mut w, h, sh, true, "2 MiB over IPv6");
    assert_eq!(retrans, Some(0), "retransmissions on a lossless link");
    w.assert_no_resets();
}
