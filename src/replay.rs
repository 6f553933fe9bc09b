//! `tuntcp replay`: one TCP connection of a capture, its peer's side fed into our sans-IO
//! stack at the recorded times, and what the capture's stack sent set beside what ours
//! sends, marking where they differ.
//!
//! Our stack takes the place of one end (`--as server`: the end that received the SYN;
//! `--as client`: the end that sent it), with that end's address and port. Its ISN and
//! TSval offset come from its seed, not the capture: the peer's ACK, SACK blocks and
//! TSecr are moved into our sequence and timestamp spaces (by the difference between the
//! capture's SYN or SYN-ACK and ours), and both sides are printed relative to their own
//! ISN, so the columns compare. As a server it runs the in-loop apps of `serve` (HTTP on
//! 80, echo on 7, discard on 9), so a capture of `serve` replays with its responses; as a
//! client it connects from the capture's port and sends nothing (it reads and discards).
//!
//! Sans-IO: the clock is the capture's. What it does not do: close the loop (the peer's
//! packets are the recorded ones, whatever we send), IPv6 other than in raw-IP captures
//! (the peer's flow labels are not kept), loopback addresses (the stack refuses 127/8 and
//! ::1 sources), or more than one connection.

use crate::apps::inloop::{InLoopConfig, Servers};
use crate::device::pcap::PcapReader;
use crate::service::Service;
use crate::stack::{Stack, StackConfig, Touched};
use crate::time::Instant;
use crate::wire::{
    Ipv4Packet, Packet, Packet6, SackBlock, SackList, Segment, TcpFlags, Timestamps,
};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// Which end of the connection our stack plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Our stack accepts the connection.
    Server,
    /// Our stack opens the connection.
    Client,
}

/// One segment as the columns show it: sequence numbers relative to the sender's ISN,
/// ACK and SACK blocks relative to the other end's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Microseconds since the capture's first packet of the connection.
    pub t_us: u64,
    /// Control bits.
    pub flags: TcpFlags,
    /// Relative sequence number.
    pub seq: u32,
    /// Relative ACK, when the ACK flag is set.
    pub ack: Option<u32>,
    /// The window field as sent.
    pub win: u16,
    /// Payload length.
    pub len: u32,
    /// SACK blocks, relative.
    pub sack: Vec<(u32, u32)>,
    /// MSS, window scale and SACK-permitted (what a SYN negotiates).
    pub syn_opts: Option<(Option<u16>, Option<u8>, bool)>,
}

impl Sent {
    /// What must match for two segments to be "the same": everything but the time.
    fn key(&self) -> Key<'_> {
        (
            self.flags.0,
            self.seq,
            self.ack,
            self.win,
            self.len,
            &self.sack,
            self.syn_opts,
        )
    }
}

impl Sent {
    /// Where in the exchange the segment belongs (what the columns are aligned on): its
    /// sequence range and SYN/FIN/RST; a segment there may still differ in other fields.
    fn place(&self) -> (u32, u32, u8) {
        (self.seq, self.len, self.flags.0 & 0x07)
    }
}

type SynOpts = Option<(Option<u16>, Option<u8>, bool)>;
type Key<'a> = (u8, u32, Option<u32>, u16, u32, &'a [(u32, u32)], SynOpts);

impl std::fmt::Display for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = crate::time::Duration::from_micros(self.t_us);
        write!(f, "{t:>9} [{}] seq {}", self.flags, self.seq)?;
        if let Some(a) = self.ack {
            write!(f, " ack {a}")?;
        }
        write!(f, " win {} len {}", self.win, self.len)?;
        for (l, r) in &self.sack {
            write!(f, " sack {l}-{r}")?;
        }
        Ok(())
    }
}

/// One line of the comparison: the capture's segment, ours, or both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The capture's segment.
    pub capture: Option<Sent>,
    /// Ours.
    pub ours: Option<Sent>,
}

impl Row {
    /// Both sent the same segment (the time apart).
    pub fn same(&self) -> bool {
        match (&self.capture, &self.ours) {
            (Some(a), Some(b)) => a.key() == b.key(),
            _ => false,
        }
    }
}

/// The outcome of a replay.
#[derive(Clone, Debug)]
pub struct Replay {
    /// Our end of the connection, and the peer's.
    pub us: SocketAddr,
    /// The peer's end.
    pub peer: SocketAddr,
    /// Segments of the peer fed in.
    pub fed: usize,
    /// The comparison, in order.
    pub rows: Vec<Row>,
}

impl Replay {
    /// Rows where the two differ (one side missing included).
    pub fn differences(&self) -> usize {
        self.rows.iter().filter(|r| !r.same()).count()
    }

    /// Two columns, `capture | tuntcp`, a row marked `!` where they differ and `~` where
    /// only the time differs by more than a millisecond.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "replaying {} > {} ({} segments of the peer); sequence numbers relative to each \
             sender's ISN",
            self.peer, self.us, self.fed
        );
        let _ = writeln!(s, "  {:<60} | tuntcp", "capture");
        for r in &self.rows {
            let col = |x: &Option<Sent>| x.as_ref().map_or(String::new(), |x| x.to_string());
            let mark = if !r.same() {
                '!'
            } else {
                let (a, b) = (r.capture.as_ref(), r.ours.as_ref());
                let dt = a.zip(b).map_or(0, |(a, b)| a.t_us.abs_diff(b.t_us));
                if dt > 1000 {
                    '~'
                } else {
                    ' '
                }
            };
            let _ = writeln!(s, "{mark} {:<60} | {}", col(&r.capture), col(&r.ours));
        }
        let _ = writeln!(s, "{} rows, {} differ", self.rows.len(), self.differences());
        s
    }
}

/// A TCP segment of the capture, owned.
struct Cap {
    t: u64,
    bytes: Vec<u8>,
}

fn seg_of(b: &[u8]) -> Option<Segment<'_>> {
    if b.first().is_some_and(|v| v >> 4 == 6) {
        return match Packet6::parse_offload(b, true) {
            Ok(Packet6::Tcp(s)) => Some(Segment::from(s)),
            _ => None,
        };
    }
    let ip = Ipv4Packet::parse(b).ok()?;
    match Packet::from_ip_offload(&ip, ip.payload, true) {
        Ok(Packet::Tcp(s)) => Some(s),
        _ => None,
    }
}

/// Replays the first connection of `pcap` with `port` at either end (any when `None`)
/// with our stack as `role`; `cfg` gives everything but the address (the capture's).
pub fn replay(
    pcap: &[u8],
    port: Option<u16>,
    role: Role,
    cfg: StackConfig,
) -> Result<Replay, String> {
    let mut pkts = Vec::new();
    for rec in PcapReader::new(pcap)?.skip_non_ip() {
        let rec = rec?;
        if seg_of(rec.packet).is_some() {
            pkts.push(Cap {
                t: rec.micros,
                bytes: rec.packet.to_vec(),
            });
        }
    }
    // The connection: the first SYN without ACK (with the port), else give up.
    let syn = pkts
        .iter()
        .filter_map(|p| seg_of(&p.bytes))
        .find(|s| {
            s.flags.syn()
                && !s.flags.ack()
                && port.is_none_or(|q| s.src.port() == q || s.dst.port() == q)
        })
        .ok_or("no SYN in the capture (a replay starts at the handshake)")?;
    let (client, server) = (syn.src, syn.dst);
    let (us, peer) = match role {
        Role::Server => (server, client),
        Role::Client => (client, server),
    };
    let conn: Vec<&Cap> = pkts
        .iter()
        .filter(|p| {
            seg_of(&p.bytes)
                .is_some_and(|s| (s.src, s.dst) == (us, peer) || (s.src, s.dst) == (peer, us))
        })
        .collect();
    // Times from the connection's first packet, never going back (a capture's clock may
    // step back; the stack's may not).
    let t0 = conn.first().map_or(0, |p| p.t);
    let mut t_prev = 0;
    let conn: Vec<(u64, &Cap)> = conn
        .into_iter()
        .map(|p| {
            t_prev = t_prev.max(p.t.saturating_sub(t0));
            (t_prev, p)
        })
        .collect();
    let t_end = t_prev;
    let from_us = |p: &Cap| seg_of(&p.bytes).is_some_and(|s| s.src == us);
    // Offloads: the capture's stack sent super-segments, so ours may too.
    let headers = if us.is_ipv6() { 60 } else { 40 };
    let mss = u32::try_from(cfg.mtu.saturating_sub(headers)).unwrap_or(u32::MAX);
    let offload = conn
        .iter()
        .filter(|(_, p)| from_us(p))
        .any(|(_, p)| seg_of(&p.bytes).is_some_and(|s| s.payload.len() as u32 > mss));
    let mut cfg = StackConfig {
        offload: offload || cfg.offload,
        ..cfg
    };
    match us.ip() {
        IpAddr::V4(a) => cfg.addr = a,
        IpAddr::V6(a) => cfg.addr6 = Some(a),
    }
    if cfg.prefix_len == 0 || cfg.prefix_len > 30 {
        cfg.prefix_len = 24;
    }
    let mut stack = Stack::new(cfg);
    let mut service: Option<Servers> = None;
    match role {
        Role::Server => {
            let mut s = Servers::new(InLoopConfig::default());
            s.start(&mut stack).map_err(|e| e.to_string())?;
            // Another port than the apps': a listener that accepts and discards.
            if ![80, 7, 9].contains(&us.port()) {
                stack
                    .listen(us.port(), 128)
                    .map_err(|e| format!("listen on {}: {e}", us.port()))?;
            }
            service = Some(s);
        }
        Role::Client => {}
    }
    let capture: Vec<(u64, Vec<u8>)> = conn
        .iter()
        .filter(|(_, p)| from_us(p))
        .map(|(t, p)| (*t, p.bytes.clone()))
        .collect();
    let peer_pkts: Vec<(u64, Vec<u8>)> = conn
        .iter()
        .filter(|(_, p)| !from_us(p))
        .map(|(t, p)| (*t, p.bytes.clone()))
        .collect();
    // The capture's ISN and first TSval of our end, and the peer's ISN.
    let first_syn = |pk: &[(u64, Vec<u8>)]| {
        pk.iter()
            .filter_map(|(_, b)| seg_of(b))
            .find(|s| s.flags.syn())
            .map(|s| (s.seq, s.options.timestamps.map(|t| t.tsval)))
    };
    let (cap_iss, cap_ts) = first_syn(&capture).ok_or("the capture has no SYN from our end")?;
    let (peer_isn, _) = first_syn(&peer_pkts).ok_or("the capture has no SYN from the peer")?;

    let mut r = Run {
        stack,
        service,
        ours: Vec::new(),
        our_syn: None,
        buf: vec![0; 65536],
        touched: Vec::new(),
        handle: None,
    };
    if role == Role::Client {
        let h = r
            .stack
            .connect_from(Instant::ZERO, Some(us), peer)
            .map_err(|e| format!("connect from {us} to {peer}: {e}"))?;
        r.handle = Some(h);
        r.output(Instant::ZERO);
    }
    for (t, bytes) in &peer_pkts {
        let now = Instant::from_micros(*t);
        r.run_until(now);
        // Before our SYN (a server's first input) nothing needs moving.
        let (our_iss, our_ts) = r.our_syn.unwrap_or((cap_iss, cap_ts));
        let shift = Shift {
            seq: our_iss.wrapping_sub(cap_iss),
            ts: match (our_ts, cap_ts) {
                (Some(a), Some(b)) => a.wrapping_sub(b),
                _ => 0,
            },
        };
        if let Some(b) = translate(bytes, shift) {
            r.stack.handle_packet(now, &b);
            r.output(now);
        }
    }
    r.run_until(Instant::from_micros(t_end));
    let our_iss = r.our_syn.map_or(cap_iss, |s| s.0);
    let rel = |pk: &[(u64, Vec<u8>)], iss: u32| -> Vec<Sent> {
        pk.iter()
            .filter_map(|(t, b)| {
                let s = seg_of(b)?;
                Some(sent(*t, &s, iss, peer_isn))
            })
            .collect()
    };
    let cap = rel(&capture, cap_iss);
    let ours = rel(&r.ours, our_iss);
    Ok(Replay {
        us,
        peer,
        fed: peer_pkts.len(),
        rows: align(cap, ours),
    })
}

/// How the peer's numbers move into our spaces.
#[derive(Clone, Copy)]
struct Shift {
    seq: u32,
    ts: u32,
}

/// The peer's packet with its ACK, SACK blocks and TSecr moved by `sh`.
fn translate(bytes: &[u8], sh: Shift) -> Option<Vec<u8>> {
    let s = seg_of(bytes)?;
    let mut s = s;
    if s.flags.ack() {
        s.ack = s.ack.wrapping_add(sh.seq);
    }
    let blocks: Vec<SackBlock> = s
        .options
        .sack
        .as_slice()
        .iter()
        .map(|b| SackBlock {
            left: b.left.wrapping_add(sh.seq),
            right: b.right.wrapping_add(sh.seq),
        })
        .collect();
    s.options.sack = SackList::new(&blocks);
    if let Some(ts) = s.options.timestamps {
        // TSecr 0 means "no echo" (in a SYN): left as it is.
        let tsecr = if ts.tsecr == 0 {
            0
        } else {
            ts.tsecr.wrapping_add(sh.ts)
        };
        s.options.timestamps = Some(Timestamps {
            tsval: ts.tsval,
            tsecr,
        });
    }
    if let Some(s6) = s.to_v6(0) {
        let mut out = vec![0; s6.buffer_len()];
        s6.emit(&mut out).ok()?;
        return Some(out);
    }
    let mut out = vec![0; s.buffer_len()];
    s.emit(&mut out).ok()?;
    Some(out)
}

fn sent(t: u64, s: &Segment<'_>, iss: u32, peer_isn: u32) -> Sent {
    Sent {
        t_us: t,
        flags: s.flags,
        seq: s.seq.wrapping_sub(iss),
        ack: s.flags.ack().then(|| s.ack.wrapping_sub(peer_isn)),
        win: s.window,
        len: s.payload.len() as u32,
        sack: s
            .options
            .sack
            .as_slice()
            .iter()
            .map(|b| {
                (
                    b.left.wrapping_sub(peer_isn),
                    b.right.wrapping_sub(peer_isn),
                )
            })
            .collect(),
        syn_opts: s.flags.syn().then_some((
            s.options.mss,
            s.options.window_scale,
            s.options.sack_permitted,
        )),
    }
}

/// The stack being replayed into, and what it sent.
struct Run {
    stack: Stack,
    service: Option<Servers>,
    ours: Vec<(u64, Vec<u8>)>,
    /// Our SYN's (or SYN-ACK's) ISN and TSval, once sent.
    our_syn: Option<(u32, Option<u32>)>,
    buf: Vec<u8>,
    touched: Vec<Touched>,
    /// The client's connection (its data is read and dropped).
    handle: Option<crate::stack::SocketHandle>,
}

impl Run {
    /// Fires every timer (the stack's and the apps') due up to `until`, at its own time.
    fn run_until(&mut self, until: Instant) {
        // Bounded: each turn fires a deadline, and a fired deadline moves on (a timer
        // re-armed at or before its time moves 1 ms on).
        for _ in 0..1_000_000 {
            let next = [
                self.stack.poll_timeout(),
                self.service.as_ref().and_then(|s| s.poll_timeout()),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= until => {
                    // (The apps handle their deadlines at or after them, in `output`.)
                    self.stack.handle_timeout(t);
                    self.output(t);
                }
                _ => return,
            }
        }
    }

    /// Runs the apps and collects everything the stack sends at `now`.
    fn output(&mut self, now: Instant) {
        self.touched.clear();
        self.stack.take_touched(&mut self.touched);
        if let Some(s) = self.service.as_mut() {
            s.poll(&mut self.stack, now, &self.touched);
        }
        if let Some(h) = self.handle {
            let mut sink = [0u8; 4096];
            while matches!(self.stack.recv(h, &mut sink), Ok(n) if n > 0) {}
        }
        while let Some(n) = self.stack.poll_transmit(now, &mut self.buf) {
            let b = self.buf[..n].to_vec();
            if self.our_syn.is_none() {
                if let Some(s) = seg_of(&b).filter(|s| s.flags.syn()) {
                    self.our_syn = Some((s.seq, s.options.timestamps.map(|t| t.tsval)));
                }
            }
            self.ours.push((now.micros(), b));
        }
    }
}

/// Pairs the two columns by a longest common subsequence of their segments' places
/// ([`Sent::place`]), so one extra or missing segment shows as one row, not a shifted
/// tail, and a segment sent with other flags or window shows beside its twin. Past
/// 4,000 segments a side, pairs them in order.
fn align(cap: Vec<Sent>, ours: Vec<Sent>) -> Vec<Row> {
    let (n, m) = (cap.len(), ours.len());
    if n > 4000 || m > 4000 {
        let mut rows = Vec::new();
        let mut a = cap.into_iter();
        let mut b = ours.into_iter();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return rows,
                (capture, ours) => rows.push(Row { capture, ours }),
            }
        }
    }
    // lcs[i][j]: the longest common subsequence of cap[i..] and ours[j..].
    let mut lcs = vec![0u16; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if cap[i].place() == ours[j].place() {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut rows = Vec::new();
    while i < n || j < m {
        if i < n && j < m && cap[i].place() == ours[j].place() {
            rows.push(Row {
                capture: Some(cap[i].clone()),
                ours: Some(ours[j].clone()),
            });
            (i, j) = (i + 1, j + 1);
        } else if j < m && (i == n || lcs[at(i, j + 1)] >= lcs[at(i + 1, j)]) {
            rows.push(Row {
                capture: None,
                ours: Some(ours[j].clone()),
            });
            j += 1;
        } else {
            rows.push(Row {
                capture: Some(cap[i].clone()),
                ours: None,
            });
            i += 1;
        }
    }
    rows
}
