//! Test harness: our stack against a scripted peer, on a virtual clock.
//!
//! A test reads like a packet trace:
//!
//! ```ignore
//! let mut t = Harness::server(80);
//! t.send(0, seg().syn().seq(1000).win(65535).mss(1460));
//! let synack = t.expect(0, seg().syn().ack_flag().ack(1001));
//! t.send(10, seg().ack_flag().seq(1001).ack(synack.seq + 1));
//! ```
//!
//! Times are milliseconds of virtual time. `expect` checks only the fields the pattern sets;
//! on failure the whole trace (every segment in and out, with times) is printed.
#![allow(dead_code)]

pub mod netns;
#[cfg(feature = "cli")]
pub mod tun;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::tcp;
use tuntcp::time::Instant;
use tuntcp::wire::{
    IpMeta, Packet, Packet6, SackBlock, SackList, Segment, TcpFlags, TcpOptions, Timestamps,
};

pub const US: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
pub const PEER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
pub const US6: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 2);
pub const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 1);

/// What a packet of either family parses to, for traces: a TCP segment (with its IPv6
/// flow label, 0 for IPv4) or the packet's one-line form.
pub fn parse_any(bytes: &[u8]) -> Result<(Option<(Segment<'_>, u32)>, String), String> {
    if bytes.first().is_some_and(|b| b >> 4 == 6) {
        return match Packet6::parse(bytes) {
            Ok(Packet6::Tcp(s)) => Ok((Some((Segment::from(s), s.ip.flow_label)), s.to_string())),
            Ok(p) => Ok((None, p.to_string())),
            Err(e) => Err(e.to_string()),
        };
    }
    match Packet::parse(bytes) {
        Ok(Packet::Tcp(s)) => Ok((Some((s, 0)), s.to_string())),
        Ok(p) => Ok((None, p.to_string())),
        Err(e) => Err(e.to_string()),
    }
}

/// A segment as the peer sends it or as a test expects it (unset fields are not checked).
#[derive(Clone, Debug, Default)]
pub struct Spec {
    pub flags: Option<TcpFlags>,
    pub seq: Option<u32>,
    pub ack: Option<u32>,
    pub win: Option<u16>,
    pub urg: Option<u16>,
    pub mss: Option<Option<u16>>,
    pub ws: Option<Option<u8>>,
    pub sack_perm: Option<bool>,
    pub ts: Option<Option<(u32, u32)>>,
    pub sack: Option<Vec<(u32, u32)>>,
    pub payload: Option<Vec<u8>>,
    pub len: Option<usize>,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub ip: Option<IpMeta>,
}

pub fn seg() -> Spec {
    Spec::default()
}

impl Spec {
    fn flag(mut self, f: TcpFlags) -> Self {
        self.flags = Some(self.flags.unwrap_or(TcpFlags::NONE) | f);
        self
    }
    pub fn syn(self) -> Self {
        self.flag(TcpFlags::SYN)
    }
    pub fn ack_flag(self) -> Self {
        self.flag(TcpFlags::ACK)
    }
    pub fn fin(self) -> Self {
        self.flag(TcpFlags::FIN)
    }
    pub fn rst(self) -> Self {
        self.flag(TcpFlags::RST)
    }
    pub fn psh(self) -> Self {
        self.flag(TcpFlags::PSH)
    }
    pub fn urg_flag(self) -> Self {
        self.flag(TcpFlags::URG)
    }
    /// Exactly these flags (for expectations: no others allowed).
    pub fn flags(mut self, f: TcpFlags) -> Self {
        self.flags = Some(f);
        self
    }
    pub fn seq(mut self, s: u32) -> Self {
        self.seq = Some(s);
        self
    }
    pub fn ack(mut self, a: u32) -> Self {
        self.ack = Some(a);
        self
    }
    pub fn win(mut self, w: u16) -> Self {
        self.win = Some(w);
        self
    }
    pub fn urgent(mut self, u: u16) -> Self {
        self.urg = Some(u);
        self
    }
    pub fn mss(mut self, m: u16) -> Self {
        self.mss = Some(Some(m));
        self
    }
    pub fn no_mss(mut self) -> Self {
        self.mss = Some(None);
        self
    }
    pub fn ws(mut self, w: u8) -> Self {
        self.ws = Some(Some(w));
        self
    }
    pub fn no_ws(mut self) -> Self {
        self.ws = Some(None);
        self
    }
    pub fn sack_perm(mut self) -> Self {
        self.sack_perm = Some(true);
        self
    }
    pub fn ts(mut self, val: u32, ecr: u32) -> Self {
        self.ts = Some(Some((val, ecr)));
        self
    }
    pub fn no_ts(mut self) -> Self {
        self.ts = Some(None);
        self
    }
    pub fn sack(mut self, blocks: &[(u32, u32)]) -> Self {
        self.sack = Some(blocks.to_vec());
        self
    }
    pub fn data(mut self, d: &[u8]) -> Self {
        self.payload = Some(d.to_vec());
        self
    }
    /// Expect this payload length (any content).
    pub fn len(mut self, n: usize) -> Self {
        self.len = Some(n);
        self
    }
    pub fn from(mut self, a: impl Into<SocketAddr>) -> Self {
        self.src = Some(a.into());
        self
    }
    pub fn to(mut self, a: impl Into<SocketAddr>) -> Self {
        self.dst = Some(a.into());
        self
    }

    fn options(&self) -> TcpOptions {
        let mut o = TcpOptions {
            mss: self.mss.flatten(),
            window_scale: self.ws.flatten(),
            ..Default::default()
        };
        o.sack_permitted = self.sack_perm.unwrap_or(false);
        o.timestamps = self
            .ts
            .flatten()
            .map(|(tsval, tsecr)| Timestamps { tsval, tsecr });
        if let Some(b) = &self.sack {
            let blocks: Vec<SackBlock> = b
                .iter()
                .map(|&(left, right)| SackBlock { left, right })
                .collect();
            o.sack = SackList::new(&blocks);
        }
        o
    }

    /// Checks `s` against the fields set here; returns what differs.
    pub fn mismatch(&self, s: &Owned) -> Option<String> {
        let mut why = Vec::new();
        if let Some(f) = self.flags {
            if s.flags != f {
                why.push(format!("flags [{}] != [{}]", s.flags, f));
            }
        }
        macro_rules! check {
            ($field:ident, $actual:expr) => {
                if let Some(want) = &self.$field {
                    if *want != $actual {
                        why.push(format!(
                            "{} {:?} != {:?}",
                            stringify!($field),
                            $actual,
                            want
                        ));
                    }
                }
            };
        }
        check!(seq, s.seq);
        check!(ack, s.ack);
        check!(win, s.window);
        check!(urg, s.urgent);
        check!(mss, s.options.mss);
        check!(ws, s.options.window_scale);
        check!(sack_perm, s.options.sack_permitted);
        check!(ts, s.options.timestamps.map(|t| (t.tsval, t.tsecr)));
        check!(
            sack,
            s.options
                .sack
                .as_slice()
                .iter()
                .map(|b| (b.left, b.right))
                .collect::<Vec<_>>()
        );
        check!(payload, s.payload);
        check!(len, s.payload.len());
        check!(src, s.src);
        check!(dst, s.dst);
        if why.is_empty() {
            None
        } else {
            Some(why.join(", "))
        }
    }
}

/// A parsed segment that owns its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
    pub ip: IpMeta,
    /// The IPv6 flow label (0 for IPv4).
    pub flow_label: u32,
    pub line: String,
}

impl Owned {
    pub fn from_segment(s: &Segment<'_>) -> Owned {
        Owned {
            src: s.src,
            dst: s.dst,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: s.window,
            urgent: s.urgent,
            options: s.options,
            payload: s.payload.to_vec(),
            ip: s.ip,
            flow_label: 0,
            line: s.to_string(),
        }
    }
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}

/// What the stack emitted, parsed.
#[derive(Clone, Debug)]
pub enum Out {
    Tcp(Owned),
    Other(String),
}

pub struct Harness {
    pub stack: Stack,
    /// Virtual now, in milliseconds since the start of the test.
    pub now_ms: u64,
    pub trace: Vec<String>,
    /// Emitted and not yet consumed by an expectation: (time ms, packet).
    pub out: VecDeque<(u64, Out)>,
    pub raw_out: Vec<Vec<u8>>,
    /// The peer's default address; the stack's listener port.
    pub peer: SocketAddr,
    pub us: SocketAddr,
}

pub fn at(ms: u64) -> u64 {
    ms
}

pub fn instant(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

impl Harness {
    pub fn with_config(cfg: StackConfig) -> Harness {
        let us = SocketAddr::V4(SocketAddrV4::new(cfg.addr, 80));
        Harness {
            stack: Stack::new(cfg),
            now_ms: 0,
            trace: Vec::new(),
            out: VecDeque::new(),
            raw_out: Vec::new(),
            peer: SocketAddr::V4(SocketAddrV4::new(PEER, 5555)),
            us,
        }
    }

    pub fn config() -> StackConfig {
        StackConfig {
            addr: US,
            prefix_len: 24,
            mtu: 1500,
            ..StackConfig::with_seed(7)
        }
    }

    /// A stack listening on port 80.
    pub fn server(port: u16) -> Harness {
        Harness::server_with(port, Harness::config())
    }

    pub fn server_with(port: u16, cfg: StackConfig) -> Harness {
        let mut h = Harness::with_config(cfg);
        h.stack.listen(port, 128).expect("listen");
        h.us = SocketAddr::V4(SocketAddrV4::new(US, port));
        h
    }

    /// A stack listening on `port`, with an IPv6 peer: segments go between
    /// `[fd66::1]:5555` and `[fd66::2]:port` unless a spec says otherwise.
    pub fn server6(port: u16) -> Harness {
        let mut h = Harness::server(port);
        h.peer = SocketAddr::V6(SocketAddrV6::new(PEER6, 5555, 0, 0));
        h.us = SocketAddr::V6(SocketAddrV6::new(US6, port, 0, 0));
        h
    }

    /// Moves virtual time to `ms`, firing every timer on the way at its own deadline, and
    /// collecting output.
    pub fn advance(&mut self, ms: u64) {
        assert!(
            ms >= self.now_ms,
            "time runs forward: {} < {}",
            ms,
            self.now_ms
        );
        self.flush();
        // The clock moves to each timer's own deadline, never back: output is collected at
        // that instant (and recorded in the millisecond it falls in). Collecting it at the
        // whole millisecond before a deadline such as a pace timer's at 10.5 ms would find
        // the data still held and the timer re-armed at 10.5 ms, for ever.
        let mut clock = instant(self.now_ms);
        let mut same = 0;
        while let Some(t) = self.stack.poll_timeout() {
            if t > instant(ms) {
                break;
            }
            if t <= clock {
                // Every due timer fires in one call and moves on: one that stays due
                // would spin here.
                same += 1;
                if same > 1000 {
                    self.fail(&format!(
                        "a timer due at {t} fires without moving (at {clock})"
                    ));
                }
            } else {
                same = 0;
            }
            clock = clock.max(t);
            self.now_ms = clock.millis();
            self.stack.handle_timeout(clock);
            self.flush_at(clock);
        }
        self.now_ms = ms;
    }

    /// Collects everything the stack wants to send now.
    pub fn flush(&mut self) {
        self.flush_at(instant(self.now_ms));
    }

    /// Collects everything the stack wants to send at `now` (within the millisecond
    /// `now_ms`).
    fn flush_at(&mut self, now: Instant) {
        let mut buf = vec![0u8; 65536];
        let mut guard = 0;
        while let Some(n) = self.stack.poll_transmit(now, &mut buf) {
            guard += 1;
            assert!(guard < 100_000, "poll_transmit never returns None");
            let bytes = buf[..n].to_vec();
            let out = match parse_any(&bytes) {
                Ok((Some((s, label)), _)) => Out::Tcp(Owned {
                    flow_label: label,
                    ..Owned::from_segment(&s)
                }),
                Ok((None, line)) => Out::Other(line),
                Err(e) => panic!("stack emitted an unparsable packet ({e}): {bytes:02x?}"),
            };
            let line = match &out {
                Out::Tcp(o) => o.line.clone(),
                Out::Other(s) => s.clone(),
            };
            self.trace
                .push(format!("{:>9} out {}", now.to_string(), line));
            self.raw_out.push(bytes);
            self.out.push_back((self.now_ms, out));
        }
        self.check_invariants();
    }

    /// The stack's invariants hold (issue 15); run after every input and timer, since
    /// every step ends with a flush.
    #[track_caller]
    pub fn check_invariants(&self) {
        if let Err(e) = self.stack.check_invariants() {
            self.fail(&format!("invariant broken: {e}"));
        }
    }

    /// Builds the peer's segment from a spec (defaults: peer -> us, window 65535).
    pub fn build(&self, spec: &Spec) -> Vec<u8> {
        let payload = spec.payload.clone().unwrap_or_default();
        let s = Segment {
            src: spec.src.unwrap_or(self.peer),
            dst: spec.dst.unwrap_or(self.us),
            seq: spec.seq.unwrap_or(0),
            ack: spec.ack.unwrap_or(0),
            flags: spec.flags.unwrap_or(TcpFlags::ACK),
            window: spec.win.unwrap_or(65535),
            urgent: spec.urg.unwrap_or(0),
            options: spec.options(),
            payload: &payload,
            ip: spec.ip.unwrap_or_default(),
        };
        let mut buf = vec![0; s.buffer_len()];
        s.emit(&mut buf).expect("emit");
        buf
    }

    /// The peer sends `spec` at time `ms`.
    #[track_caller]
    pub fn send(&mut self, ms: u64, spec: Spec) {
        let bytes = self.build(&spec);
        self.send_raw(ms, &bytes);
    }

    /// Delivers raw bytes at time `ms`.
    pub fn send_raw(&mut self, ms: u64, bytes: &[u8]) {
        self.advance(ms);
        let line = parse_any(bytes)
            .map(|p| p.1)
            .unwrap_or_else(|e| format!("<{e}>"));
        self.trace.push(format!(
            "{:>9} in  {}",
            Instant::from_millis(ms).to_string(),
            line
        ));
        self.stack.handle_packet(instant(ms), bytes);
        self.flush();
    }

    /// Several packets queued before the stack polls (MUST-59).
    pub fn send_burst(&mut self, ms: u64, specs: &[Spec]) {
        self.advance(ms);
        for spec in specs {
            let bytes = self.build(spec);
            let line = parse_any(&bytes).map(|p| p.1).unwrap_or_default();
            self.trace.push(format!(
                "{:>9} in  {}",
                Instant::from_millis(ms).to_string(),
                line
            ));
            self.stack.handle_packet(instant(ms), &bytes);
        }
        self.flush();
    }

    /// The next segment emitted must be emitted at exactly `ms` and match `spec`.
    #[track_caller]
    pub fn expect(&mut self, ms: u64, spec: Spec) -> Owned {
        self.expect_between(ms, ms, spec)
    }

    /// The next segment emitted must be emitted within [`from`, `to`] ms and match `spec`.
    #[track_caller]
    pub fn expect_between(&mut self, from: u64, to: u64, spec: Spec) -> Owned {
        if self.out.is_empty() {
            // Step to the next deadline until something comes out or `to` passes.
            while self.out.is_empty() {
                match self.stack.poll_timeout() {
                    // To the millisecond that holds the deadline (its end, so a
                    // deadline within it fires).
                    Some(t) if t.millis() <= to => {
                        self.advance(t.micros().div_ceil(1000).max(self.now_ms))
                    }
                    _ => break,
                }
            }
            if self.out.is_empty() && self.now_ms < to {
                self.advance(to);
            }
        }
        let Some((when, out)) = self.out.pop_front() else {
            self.fail(&format!("expected {spec:?} by {to} ms, nothing was sent"));
        };
        let Out::Tcp(s) = out else {
            self.fail(&format!("expected a TCP segment, got {out:?}"));
        };
        if when < from || when > to {
            self.fail(&format!(
                "segment `{}` sent at {when} ms, expected in [{from}, {to}] ms",
                s.line
            ));
        }
        if let Some(why) = spec.mismatch(&s) {
            self.fail(&format!("segment `{}` does not match: {why}", s.line));
        }
        s
    }

    /// Nothing is sent up to and including `ms`.
    #[track_caller]
    pub fn expect_nothing_until(&mut self, ms: u64) {
        self.advance(ms);
        if let Some((when, out)) = self.out.front() {
            let msg = format!("expected silence until {ms} ms, got at {when} ms: {out:?}");
            self.fail(&msg);
        }
    }

    /// Consumes and returns everything emitted so far.
    pub fn drain(&mut self) -> Vec<Owned> {
        self.flush();
        self.out
            .drain(..)
            .filter_map(|(_, o)| match o {
                Out::Tcp(s) => Some(s),
                Out::Other(_) => None,
            })
            .collect()
    }

    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n--- trace ---\n{}\n-------------",
            self.trace.join("\n")
        );
    }

    /// Passive open completed by the peer with the given ISN and options; returns the
    /// accepted handle and our ISS. The peer offers no options unless `syn` says so.
    #[track_caller]
    pub fn establish(&mut self, ms: u64, peer_isn: u32, syn: Spec) -> (SocketHandle, u32) {
        self.send(ms, syn.syn().seq(peer_isn));
        let sa = self.expect(
            ms,
            seg().flags(TcpFlags::SYN | TcpFlags::ACK).ack(peer_isn + 1),
        );
        self.send(ms, seg().ack_flag().seq(peer_isn + 1).ack(sa.seq + 1));
        let h = self
            .stack
            .accept(self.us.port())
            .unwrap_or_else(|| self.fail("no connection to accept"));
        (h, sa.seq)
    }

    /// As [`Harness::establish`], with the peer's final ACK `rtt` ms after its SYN: the
    /// connection starts with an RTT sample of `rtt` ms (RACK-TLP's timers scale with it).
    #[track_caller]
    pub fn establish_rtt(
        &mut self,
        ms: u64,
        rtt: u64,
        peer_isn: u32,
        syn: Spec,
    ) -> (SocketHandle, u32) {
        self.send(ms, syn.syn().seq(peer_isn));
        let sa = self.expect(
            ms,
            seg().flags(TcpFlags::SYN | TcpFlags::ACK).ack(peer_isn + 1),
        );
        self.send(ms + rtt, seg().ack_flag().seq(peer_isn + 1).ack(sa.seq + 1));
        let h = self
            .stack
            .accept(self.us.port())
            .unwrap_or_else(|| self.fail("no connection to accept"));
        (h, sa.seq)
    }

    /// Active open to the peer; returns the handle and our ISS after the peer's SYN-ACK.
    #[track_caller]
    pub fn connect(&mut self, ms: u64, peer_isn: u32, synack: Spec) -> (SocketHandle, u32) {
        self.advance(ms);
        let h = self.stack.connect(instant(ms), self.peer).expect("connect");
        self.flush();
        let syn = self.expect(ms, seg().flags(TcpFlags::SYN));
        self.us = syn.src;
        self.send(ms, synack.syn().ack_flag().seq(peer_isn).ack(syn.seq + 1));
        self.expect(
            ms,
            seg()
                .flags(TcpFlags::ACK)
                .seq(syn.seq + 1)
                .ack(peer_isn + 1),
        );
        (h, syn.seq)
    }

    /// The peer's first address (port 5555), after `peer` was changed for a second one.
    pub fn peer_a(&self) -> SocketAddrV4 {
        SocketAddrV4::new(PEER, 5555)
    }

    pub fn state(&self, h: SocketHandle) -> tcp::State {
        self.stack
            .connection(h)
            .map_or(tcp::State::Closed, |c| c.state())
    }

    /// Reads everything readable now.
    pub fn read_all(&mut self, h: SocketHandle) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.stack.recv(h, &mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        self.flush();
        out
    }
}
pub mod ip6;
pub mod link;
pub mod smol;
pub mod stream;

/// An ICMP message from the peer to us, as bytes on the wire.
pub fn icmp_packet(message: tuntcp::wire::IcmpMessage<'_>) -> Vec<u8> {
    let p = tuntcp::wire::IcmpPacket {
        src: PEER,
        dst: US,
        ip: IpMeta::default(),
        message,
    };
    let mut buf = vec![0; p.buffer_len()];
    p.emit(&mut buf).unwrap();
    buf
}

/// Recomputes the IPv4 total length, the IPv4 header checksum (20-byte header) and the TCP
/// checksum of a hand-edited packet.
pub fn fix_tcp_packet(pkt: &mut [u8]) {
    use tuntcp::wire::{checksum_add, checksum_finish};
    let total = pkt.len() as u16;
    pkt[2..4].copy_from_slice(&total.to_be_bytes());
    pkt[10..12].copy_from_slice(&[0, 0]);
    let s = checksum_finish(checksum_add(0, &pkt[..20]));
    pkt[10..12].copy_from_slice(&s.to_be_bytes());
    pkt[36..38].copy_from_slice(&[0, 0]);
    let mut acc = checksum_add(0, &pkt[12..20]) + 6 + (pkt.len() - 20) as u64;
    acc = checksum_add(acc, &pkt[20..]);
    let s = checksum_finish(acc);
    pkt[36..38].copy_from_slice(&s.to_be_bytes());
}

/// A little-endian, microsecond pcap of `packets` (Unix time in us, IP packet) in frames
/// of link type `linktype`: Ethernet (1), Linux cooked v1 (113) or v2 (276), each frame's
/// protocol field set from the packet's IP version; an ARP frame comes first (readers
/// skip it).
pub fn pcap_in_frames(linktype: u32, packets: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, linktype] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut frame = |us: u64, proto: u16, payload: &[u8]| {
        let mut f = match linktype {
            1 => vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2],
            // Packet type, ARPHRD_ETHER, address length, address (8 bytes).
            113 => vec![0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 2, 0, 0],
            276 => Vec::new(),
            t => panic!("link type {t}"),
        };
        f.extend_from_slice(&proto.to_be_bytes());
        if linktype == 276 {
            // Reserved, interface index, ARPHRD_ETHER, packet type, address length and
            // address after the protocol.
            f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
            f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0, 0]);
        }
        f.extend_from_slice(payload);
        out.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&f);
    };
    frame(packets.first().map_or(0, |p| p.0), 0x0806, &[0u8; 28]);
    for (us, p) in packets {
        let proto = if p.first().is_some_and(|b| b >> 4 == 6) {
            0x86dd
        } else {
            0x0800
        };
        frame(*us, proto, p);
    }
    out
}
