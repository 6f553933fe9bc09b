//! `serve --step`, `get --step`: stop before each segment in and after each segment out,
//! show the packet-log line and the connection's TCB, and wait for a key.
//!
//! Pure: [`screen`] formats what a stop shows (the packet line and [`Tcb`]'s lines),
//! [`Stepper`] decides where to stop and what a key means (`n` next, `c` continue to the
//! next state change, `q` run freely). The runtime finds the connection and calls them; the
//! CLI reads the keys. What it does not do: read a terminal or a clock, or stop the
//! kernel peer's clock (its retransmissions arrive while we wait).

use crate::stack::Stack;
use crate::tcp::{CaState, Connection, State};
use crate::time::{Duration, Instant};
use crate::trace::{TraceEvent, TraceRecord};
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::net::SocketAddr;

/// Which way a segment goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Before the stack processes it.
    In,
    /// After the stack sent it.
    Out,
}

/// What the terminal shows once, when stepping starts.
pub const BANNER: &str = "stepping: before each segment in and after each segment out, the \
packet and the connection's TCB; Enter or n: next, c: continue to the next state change, \
q: run freely.\nThe kernel peer's clock keeps running while we wait: it retransmits what we \
have not answered (part of the lesson), and our own timers fire late when you go on.";

/// The question asked at each stop.
pub const PROMPT: &str = "[n]ext [c]ontinue to a state change [q] run freely (the peer's \
clock is running) > ";

/// A connection's transmission control block as `--step` shows it (RFC 9293 §3.3.1 names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tcb {
    /// The connection state.
    pub state: State,
    /// The congestion-avoidance state.
    pub ca_state: CaState,
    /// SND.UNA (raw sequence number).
    pub snd_una: u32,
    /// SND.NXT (raw sequence number).
    pub snd_nxt: u32,
    /// The peer's window (SND.WND), bytes.
    pub snd_wnd: u32,
    /// RCV.NXT (raw sequence number).
    pub rcv_nxt: u32,
    /// The window we advertised last (right edge less RCV.NXT), bytes.
    pub rcv_wnd: u32,
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow-start threshold, bytes; `None` before the first loss.
    pub ssthresh: Option<u32>,
    /// The smoothed RTT, once sampled.
    pub srtt: Option<Duration>,
    /// The RTT variation.
    pub rttvar: Duration,
    /// The retransmission timeout.
    pub rto: Duration,
    /// Running timers and the time left on each at the snapshot.
    pub timers: Vec<(&'static str, Duration)>,
    /// Bytes sent and not cumulatively acknowledged (SND.MAX - SND.UNA).
    pub in_flight: u32,
    /// Bytes in flight SACKed.
    pub sacked: u32,
}

impl Tcb {
    /// `c` at `now`.
    pub fn of(now: Instant, c: &Connection) -> Tcb {
        let r = TraceRecord::snapshot(now, TraceEvent::Ack { acked: 0 }, c);
        Tcb {
            state: r.state,
            ca_state: r.ca_state,
            snd_una: r.snd_una,
            snd_nxt: r.snd_nxt,
            snd_wnd: r.snd_wnd,
            rcv_nxt: c.rcv_nxt().0,
            rcv_wnd: c.info(now).rcv_wnd,
            cwnd: r.cwnd,
            ssthresh: r.ssthresh,
            srtt: r.srtt,
            rttvar: r.rttvar,
            rto: r.rto,
            timers: c
                .armed_timers()
                .map(|(n, at)| (n, at.saturating_since(now)))
                .collect(),
            in_flight: r.in_flight,
            sacked: r.sacked,
        }
    }
}

/// Two lines, indented under the packet line:
/// `ESTABLISHED  SND.UNA .. SND.NXT .. SND.WND ..  RCV.NXT .. RCV.WND ..` and
/// `cwnd .. ssthresh ..  srtt .. rttvar .. RTO ..  timers: rto 200.000ms  in flight .. SACKed ..`.
impl fmt::Display for Tcb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ca = match self.ca_state {
            CaState::Open => "",
            CaState::Disorder => " (disorder)",
            CaState::Cwr => " (cwr)",
            CaState::Recovery => " (recovery)",
            CaState::Loss => " (loss)",
        };
        writeln!(
            f,
            "{INDENT}{}{ca}  SND.UNA {} SND.NXT {} SND.WND {}  RCV.NXT {} RCV.WND {}",
            self.state, self.snd_una, self.snd_nxt, self.snd_wnd, self.rcv_nxt, self.rcv_wnd
        )?;
        let ssthresh = self.ssthresh.map_or("-".to_string(), |s| s.to_string());
        // RFC 6298 2.1: no SRTT or RTTVAR before the first sample.
        let (srtt, rttvar) = match self.srtt {
            Some(s) => (ms(s), ms(self.rttvar)),
            None => ("-".to_string(), "-".to_string()),
        };
        let timers = if self.timers.is_empty() {
            "none".to_string()
        } else {
            let mut s = String::new();
            for (i, (n, left)) in self.timers.iter().enumerate() {
                let _ = write!(s, "{}{n} {}", if i > 0 { ", " } else { "" }, ms(*left));
            }
            s
        };
        write!(
            f,
            "{INDENT}cwnd {} ssthresh {ssthresh}  srtt {srtt} rttvar {rttvar} RTO {}  timers: \
             {timers}  in flight {} SACKed {}",
            self.cwnd,
            ms(self.rto),
            self.in_flight,
            self.sacked
        )
    }
}

/// Under the packet log's `    0.018s ` column.
const INDENT: &str = "           ";

/// Milliseconds to the microsecond: `10.250ms`.
fn ms(d: Duration) -> String {
    let us = d.micros();
    format!("{}.{:03}ms", us / 1000, us % 1000)
}

/// What one stop shows: the packet-log line (`    0.018s in  ...`, as `-v` prints it) and
/// the TCB of its connection after what happened so far, or why there is none.
pub fn screen(now: Instant, dir: Dir, packet: &str, tcb: Option<&Tcb>) -> String {
    let d = match dir {
        Dir::In => "in ",
        Dir::Out => "out",
    };
    let mut s = format!("{:>10} {d} {packet}\n", now.to_string());
    match (tcb, dir) {
        (Some(t), _) => {
            let _ = write!(s, "{t}");
        }
        (None, Dir::In) => {
            s.push_str(INDENT);
            s.push_str("no connection (yet: a listener, a SYN cookie, or none)");
        }
        (None, Dir::Out) => {
            s.push_str(INDENT);
            s.push_str("no connection (a SYN cookie, a RST, or it is gone)");
        }
    }
    s
}

/// At a packet in (before `stack` handles it) or out (after `stack` sent it): the text to
/// show if `stepper` stops here ([`screen`] with the connection's [`Tcb`] at `now`), else
/// `None` (no stop, or not TCP).
pub fn at_segment(
    stepper: &mut Stepper,
    stack: &Stack,
    now: Instant,
    dir: Dir,
    packet: &[u8],
) -> Option<String> {
    let (local, remote) = tuple(dir, packet)?;
    let conn = stack.connection_by_tuple(local, remote);
    if !stepper.stop_at(local, remote, conn.map(|c| c.state())) {
        return None;
    }
    let tcb = conn.map(|c| Tcb::of(now, c));
    Some(screen(now, dir, &packet_line(packet), tcb.as_ref()))
}

/// How the stepper runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Stop at every segment.
    Step,
    /// Run until a connection's state differs from the one shown last for it, then step.
    UntilStateChange,
    /// Never stop again.
    Free,
}

/// What a key did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// Go on (in the mode now set).
    Go,
    /// Not a key we know: this help, then ask again.
    Help(&'static str),
}

/// Connections whose last state is remembered; past this the memory is cleared (which can
/// only cost an extra stop), so a flood of tuples cannot grow it without bound.
const REMEMBER: usize = 4096;

/// Where to stop, and what keys mean.
#[derive(Debug)]
pub struct Stepper {
    mode: Mode,
    last: HashMap<(SocketAddr, SocketAddr), Option<State>>,
}

impl Default for Stepper {
    fn default() -> Stepper {
        Stepper::new()
    }
}

impl Stepper {
    /// Stops at the first segment.
    pub fn new() -> Stepper {
        Stepper {
            mode: Mode::Step,
            last: HashMap::new(),
        }
    }

    /// How it runs now.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// At a segment of the connection `(local, remote)`, whose state is `state` (`None`: no
    /// connection): whether to stop. A connection that appears or goes counts as a change.
    /// Addresses of either family.
    pub fn stop_at(
        &mut self,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
        state: Option<State>,
    ) -> bool {
        let (local, remote) = (local.into(), remote.into());
        if self.mode == Mode::Free {
            return false;
        }
        if self.last.len() >= REMEMBER && !self.last.contains_key(&(local, remote)) {
            self.last.clear();
        }
        let before = self.last.insert((local, remote), state);
        let changed = before.is_some_and(|b| b != state) || (before.is_none() && state.is_some());
        match self.mode {
            Mode::Step => true,
            Mode::UntilStateChange if changed => {
                self.mode = Mode::Step;
                true
            }
            _ => false,
        }
    }

    /// The line typed at a stop (`n` or an empty line: next; `c`; `q`); end of input runs
    /// freely (`None`).
    pub fn key(&mut self, line: Option<&str>) -> Key {
        let Some(line) = line else {
            self.mode = Mode::Free;
            return Key::Go;
        };
        match line.trim() {
            "" | "n" => self.mode = Mode::Step,
            "c" => self.mode = Mode::UntilStateChange,
            "q" => self.mode = Mode::Free,
            _ => {
                return Key::Help(
                    "n or Enter: the next segment; c: run to the next state change; q: run \
                     freely",
                )
            }
        }
        Key::Go
    }
}

/// The connection a packet belongs to, as `(local, remote)`: for a packet in, its
/// destination is ours. `None` for anything but TCP over IPv4 or IPv6 (extension headers
/// walked; a fragment is `None`: it is stepped at once reassembled, if at all).
pub fn tuple(dir: Dir, packet: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    use crate::wire::{ExtAction, Ipv4Packet, Ipv6Packet, IPPROTO_TCP};
    let (src, dst, p) = if packet.first().is_some_and(|b| b >> 4 == 6) {
        let ip = Ipv6Packet::parse(packet).ok()?;
        let chain = ip.chain().ok()?;
        if chain.upper != IPPROTO_TCP
            || chain.action != ExtAction::Proceed
            || chain.needs_reassembly()
        {
            return None;
        }
        (ip.src.into(), ip.dst.into(), chain.payload)
    } else {
        let ip = Ipv4Packet::parse(packet).ok()?;
        if ip.protocol != IPPROTO_TCP || ip.is_fragment() {
            return None;
        }
        (ip.src.into(), ip.dst.into(), ip.payload)
    };
    if p.len() < 4 {
        return None;
    }
    let src = SocketAddr::new(src, u16::from_be_bytes([p[0], p[1]]));
    let dst = SocketAddr::new(dst, u16::from_be_bytes([p[2], p[3]]));
    Some(match dir {
        Dir::In => (dst, src),
        Dir::Out => (src, dst),
    })
}

/// A packet as the packet log prints it (`10.66.0.1:33804 > 10.66.0.2:80 [S] seq ...`,
/// `[fd66::1]:45678 > [fd66::2]:80 [S] ...`); the TCP checksum is not checked (a packet out
/// with offloads carries a partial one).
pub fn packet_line(packet: &[u8]) -> String {
    if packet.first().is_some_and(|b| b >> 4 == 6) {
        return match crate::wire::Packet6::parse_offload(packet, true) {
            Ok(p) => p.to_string(),
            Err(e) => format!("not an IPv6 packet we read: {e}"),
        };
    }
    let ip = match crate::wire::Ipv4Packet::parse(packet) {
        Ok(ip) => ip,
        Err(e) => return format!("not an IPv4 packet: {e}"),
    };
    if ip.is_fragment() {
        return ip.to_string();
    }
    match crate::wire::Packet::from_ip_offload(&ip, ip.payload, true) {
        Ok(p) => p.to_string(),
        Err(e) => format!("{} > {}: {e}", ip.src, ip.dst),
    }
}
