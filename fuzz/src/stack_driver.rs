//! Sequences of packets, timer jumps and application calls into a live `Stack` with a
//! listener and an established connection that negotiated every option (MSS, window scale,
//! SACK-permitted, timestamps) and has data in flight. After every step the stack's
//! invariants must hold (`Stack::check_invariants`, plus the per-connection checks the
//! crate runs itself under `cfg(fuzzing)`); it never panics or loops, and everything it
//! emits parses.
//!
//! Input layout: a config byte, then a list of ops. The peer is modelled from the wire:
//! what our stack sent (highest sequence number, last TSval) is read back from its
//! packets, so ACKs and SACK blocks aim at our send space, timestamps sit near (or far
//! from) the peer's own clock and echo ours, and ICMP errors quote our real segments.
//!
//! Config byte: bit 0x40 turns TUN offloads on (super-segments out, partial-checksum
//! segments in); bits 0x03 pick the receive buffer (256 KiB, 1 MiB = scale 5, 4 KiB,
//! 64 KiB); bit 0x04 drops timestamps and 0x08 drops SACK from the peer's SYN; bits 0x30
//! pick the peer's window scale (7, 0, 14, 2); bit 0x80 queues no data in the prelude (an
//! idle connection, for keep-alive).
//!
//! Shared by the `stack` fuzz target and `tests/fuzz_regressions.rs` (which includes this
//! file with `#[path]`), so a crash input replays as a test.

pub mod defer;

use super::{with_checksums_fixed, with_v6_checksums_fixed};
use std::net::{Ipv4Addr, SocketAddrV4};
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::time::{Duration, Instant};
use tuntcp::wire::offload::{complete_checksum, RxOffload, TxOffload};
use tuntcp::wire::{
    checksum_add, checksum_finish, IcmpMessage, IcmpPacket, IpMeta, Packet, SackBlock, SackList,
    Segment, TcpFlags, TcpOptions, Timestamps,
};

const US: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const US6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 2);
const PEER6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 1);
/// Remote ports: the prelude's connection, a second passive one, our active open's.
const PORTS: [u16; 3] = [5555, 5557, 5556];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// What the peer at one remote port knows of us from the wire.
#[derive(Clone, Copy, Default)]
struct Seen {
    /// Our ISS (from our SYN or SYN-ACK) and the highest sequence number we sent.
    iss: Option<u32>,
    snd_max: u32,
    /// The last TSval we sent.
    tsval: u32,
}

struct World {
    stack: Stack,
    now: Instant,
    handles: Vec<SocketHandle>,
    out: Vec<u8>,
    /// Headers (or a whole control packet) of a gather write.
    head: Vec<u8>,
    offload: bool,
    seen: [Seen; 3],
    /// The peer's timestamp clock (advances with virtual time and with every segment).
    peer_ts: u32,
    /// The start of the last few packets we sent (for ICMP errors to quote).
    sent: Vec<Vec<u8>>,
    ident: u16,
    /// Peer ports of extra SYNs so far.
    syn_port: u16,
    /// Print every packet in and out (`TUNTCP_FUZZ_TRACE=1`), to read a crash as a trace.
    trace: bool,
    /// The `stack_defer` target's deferring listeners and application (see `defer`).
    defer: Option<defer::Defer>,
}

fn port_index(port: u16) -> Option<usize> {
    PORTS.iter().position(|&p| p == port)
}

/// Learns our ISS, SND.MAX and TSval from a segment we sent.
fn observe(seen: &mut [Seen; 3], s: &Segment<'_>) {
    let Some(i) = port_index(s.dst.port()) else {
        return;
    };
    let seen = &mut seen[i];
    if s.flags.syn() && !s.flags.rst() {
        seen.iss = Some(s.seq);
        seen.snd_max = s.seq.wrapping_add(1);
    }
    let f = s.flags;
    let end = s
        .seq
        .wrapping_add(s.payload.len() as u32 + u32::from(f.syn()) + u32::from(f.fin()));
    if !f.rst() && (end.wrapping_sub(seen.snd_max) as i32) > 0 {
        seen.snd_max = end;
    }
    if let Some(ts) = s.options.timestamps {
        seen.tsval = ts.tsval;
    }
}

impl World {
    /// The next packet whole in `out`: every other call as a gather write (headers, then
    /// the payload from the send buffer) joined here, else copied by the stack.
    fn next_packet(&mut self, gather: bool) -> Option<(usize, TxOffload)> {
        if !gather {
            return self.stack.poll_transmit_offload(self.now, &mut self.out);
        }
        let o = self.stack.poll_transmit_gather(self.now, &mut self.head)?;
        let n = o.head.len() + o.payload.len();
        self.out[..o.head.len()].copy_from_slice(o.head);
        self.out[o.head.len()..n].copy_from_slice(o.payload);
        Some((n, o.tx))
    }

    fn drain(&mut self) {
        for i in 0..100_000 {
            match self.next_packet(i % 2 == 1) {
                Some((n, tx)) => {
                    let v6 = self.out[0] >> 4 == 6;
                    if tx.csum_partial {
                        let ip_len = if v6 { 40 } else { 20 };
                        assert!(complete_checksum(&mut self.out[..n], ip_len, 16));
                    }
                    if v6 {
                        // IPv6 answers to raw IPv6 input (ICMPv6, RSTs, SYN-ACKs).
                        let p = tuntcp::wire::Packet6::parse(&self.out[..n])
                            .expect("the stack emits only valid IPv6 packets");
                        if self.trace {
                            eprintln!("{:>9} out {p}", self.now.to_string());
                        }
                        continue;
                    }
                    let p =
                        Packet::parse(&self.out[..n]).expect("the stack emits only valid packets");
                    if self.trace {
                        eprintln!("{:>9} out {p}", self.now.to_string());
                    }
                    if let Packet::Tcp(s) = p {
                        if let Some(d) = self.defer.as_mut() {
                            d.observe(&s);
                        }
                        assert!(tx.gso_size == 0 || s.payload.len() > usize::from(tx.gso_size));
                        observe(&mut self.seen, &s);
                        if self.sent.len() >= 8 {
                            self.sent.remove(0);
                        }
                        self.sent.push(self.out[..n.min(60)].to_vec());
                    }
                }
                None => return,
            }
        }
        panic!("poll_transmit did not run dry");
    }

    fn check(&self) {
        if let Err(e) = self.stack.check_invariants() {
            panic!("invariant broken: {e}");
        }
        if let Some(d) = &self.defer {
            d.check(&self.stack);
        }
    }

    fn deliver(&mut self, bytes: &[u8]) {
        self.trace_in(bytes);
        self.stack.handle_packet(self.now, bytes);
        self.check();
        self.drain();
    }

    fn trace_in(&self, bytes: &[u8]) {
        if self.trace {
            match Packet::parse(bytes) {
                Ok(p) => eprintln!("{:>9} in  {p}", self.now.to_string()),
                Err(e) => eprintln!("{:>9} in  <{e}>", self.now.to_string()),
            }
        }
    }

    fn deliver_trusted(&mut self, bytes: &[u8]) {
        self.trace_in(bytes);
        let rx = RxOffload { csum_trusted: true };
        self.stack.handle_packet_offload(self.now, bytes, rx);
        self.check();
        self.drain();
    }

    /// (RCV.NXT, SND.UNA) of the live connection to `port`, else what the wire showed.
    fn spaces(&self, port: u16) -> (u32, u32) {
        let i = port_index(port).unwrap_or(0);
        self.stack
            .connections()
            .find(|(_, c)| c.remote().port() == port)
            .map(|(_, c)| (c.rcv_nxt().0, c.snd_una().0))
            .unwrap_or((1000, self.seen[i].iss.map_or(0, |s| s.wrapping_add(1))))
    }

    fn segment(&mut self, input: &mut Input<'_>) -> Option<()> {
        let sel = input.u8()?;
        let port = PORTS[usize::from(sel % 3)];
        let flags = TcpFlags(input.u8()?);
        let mode = input.u8()?;
        let (rcv_nxt, snd_una) = self.spaces(port);
        let seen = self.seen[port_index(port).unwrap_or(0)];
        let in_flight = seen.snd_max.wrapping_sub(snd_una).min(1 << 20);
        let dseq = input.u32()?;
        let dack = input.u32()?;
        let seq = match mode & 3 {
            0 => rcv_nxt,
            1 => rcv_nxt.wrapping_add(dseq % 8192).wrapping_sub(1024),
            2 => rcv_nxt.wrapping_add(dseq % 0x0100_0000),
            _ => dseq,
        };
        // ACKs aim at what we sent: SND.UNA..SND.MAX, a little past it, or anywhere.
        let ack = match (mode >> 2) & 3 {
            0 => snd_una.wrapping_add(dack % (in_flight + 1)),
            1 => seen.snd_max,
            2 => snd_una.wrapping_add(dack % 8192).wrapping_sub(4096),
            _ => dack,
        };
        let window = match (mode >> 4) & 3 {
            0 => 0,
            1 => input.u16()? % 64,
            2 => 65535,
            _ => input.u16()?,
        };
        let urgent = input.u16()?;
        let optbits = input.u8()?;
        let mut options = TcpOptions::default();
        if optbits & 1 != 0 {
            options.mss = Some(input.u16()?);
        }
        if optbits & 2 != 0 {
            options.window_scale = Some(input.u8()? % 16);
        }
        options.sack_permitted = optbits & 4 != 0;
        if optbits & 8 != 0 {
            // Near the peer's clock, a little behind it (PAWS), far ahead, or anything;
            // echoing our last TSval or something else.
            let d = input.u32()?;
            let tsval = match (optbits >> 5) & 3 {
                0 => {
                    self.peer_ts = self.peer_ts.wrapping_add(d % 100);
                    self.peer_ts
                }
                1 => self.peer_ts.wrapping_sub(d % 1000 + 1),
                2 => self.peer_ts.wrapping_add(0x4000_0000 + d % 0x4000_0000),
                _ => d,
            };
            let tsecr = if optbits & 0x80 == 0 {
                seen.tsval
            } else {
                input.u32()?
            };
            options.timestamps = Some(Timestamps { tsval, tsecr });
        }
        if optbits & 16 != 0 {
            // SACK blocks in our send space: offsets past SND.UNA within what is in flight
            // (a D-SACK below it when the offset wraps negative).
            let n = usize::from(input.u8()? % 4) + 1;
            let span = in_flight.max(1) + 64;
            let mut blocks = [SackBlock::default(); 4];
            for b in blocks.iter_mut().take(n) {
                let lo = u32::from(input.u16()?) % span;
                let len = u32::from(input.u16()?) % span;
                let left = snd_una.wrapping_add(lo).wrapping_sub(32);
                *b = SackBlock {
                    left,
                    right: left.wrapping_add(len),
                };
            }
            options.sack = SackList::new(&blocks[..n]);
        }
        let big = self.offload && mode & 0x40 != 0;
        let len = usize::from(input.u16()? % if big { 65000 } else { 3000 });
        let payload = input.bytes(len).to_vec();
        let s = Segment {
            src: SocketAddrV4::new(PEER, port).into(),
            dst: SocketAddrV4::new(US, 80).into(),
            seq,
            ack,
            flags,
            window,
            urgent,
            options,
            payload: &payload,
            ip: IpMeta::default(),
        };
        let mut buf = vec![0; s.buffer_len()];
        if big {
            // A super-segment from an offloading device: partial checksum, trusted.
            if s.emit_csum_partial(&mut buf).is_ok() {
                self.deliver_trusted(&buf);
            }
        } else if s.emit(&mut buf).is_ok() {
            if mode & 0x80 != 0 && buf.len() > 28 {
                self.fragments(&buf, input)?;
            } else {
                self.deliver(&buf);
            }
        }
        Some(())
    }

    /// Delivers `packet` as IPv4 fragments (RFC 791): cut at multiples of 8 the input
    /// picks, each sent, dropped, duplicated or overlapped, in order or reversed.
    fn fragments(&mut self, packet: &[u8], input: &mut Input<'_>) -> Option<()> {
        let how = input.u8()?;
        let body = &packet[20..];
        let step = (usize::from(how & 0x0f) + 1) * 8;
        let mut frags = Vec::new();
        let mut off = 0;
        self.ident = self.ident.wrapping_add(1);
        while off < body.len() {
            // Overlap: start a fragment 8 bytes early now and then.
            let start = if how & 0x10 != 0 && off >= 8 && frags.len() % 2 == 1 {
                off - 8
            } else {
                off
            };
            let end = (off + step).min(body.len());
            let more = end < body.len();
            let mut f = packet[..20].to_vec();
            f.extend_from_slice(&body[start..end]);
            let total = f.len() as u16;
            f[2..4].copy_from_slice(&total.to_be_bytes());
            f[4..6].copy_from_slice(&self.ident.to_be_bytes());
            let fo = (start / 8) as u16 | if more { 0x2000 } else { 0 };
            f[6..8].copy_from_slice(&fo.to_be_bytes());
            f[10..12].fill(0);
            let sum = checksum_finish(checksum_add(0, &f[..20]));
            f[10..12].copy_from_slice(&sum.to_be_bytes());
            frags.push(f);
            off = end;
        }
        if how & 0x20 != 0 {
            frags.reverse();
        }
        for (i, f) in frags.iter().enumerate() {
            if how & 0x40 != 0 && i == 1 {
                continue; // lost: reassembly times out
            }
            self.deliver(f);
            if how & 0x80 != 0 {
                self.deliver(f);
            }
        }
        Some(())
    }

    /// An ICMP error quoting one of our recent segments (RFC 5927), its sequence number
    /// as sent or moved around SND.UNA.
    fn icmp(&mut self, input: &mut Input<'_>) -> Option<()> {
        let kind = input.u8()?;
        let d = input.u32()?;
        let mtu = input.u16()?;
        let pick = usize::from(kind >> 4);
        let mut original = self.sent.get(pick % self.sent.len().max(1))?.clone();
        original.truncate(28);
        if original.len() < 28 {
            return Some(());
        }
        if kind & 0x08 != 0 {
            let port = u16::from_be_bytes([original[22], original[23]]);
            let (_, una) = self.spaces(port);
            let seq = una.wrapping_add(d % 4096).wrapping_sub(1024);
            original[24..28].copy_from_slice(&seq.to_be_bytes());
        }
        let message = match kind & 7 {
            0 => IcmpMessage::DestUnreachable {
                code: 4,
                next_hop_mtu: mtu,
                original: &original,
            },
            1 => IcmpMessage::DestUnreachable {
                code: 1,
                next_hop_mtu: 0,
                original: &original,
            },
            2 => IcmpMessage::DestUnreachable {
                code: 3,
                next_hop_mtu: 0,
                original: &original,
            },
            3 => IcmpMessage::DestUnreachable {
                code: 2,
                next_hop_mtu: 0,
                original: &original,
            },
            4 => IcmpMessage::TimeExceeded {
                code: 0,
                original: &original,
            },
            5 => IcmpMessage::SourceQuench {
                original: &original,
            },
            6 => IcmpMessage::ParameterProblem {
                pointer: (d & 0xff) as u8,
                original: &original,
            },
            _ => IcmpMessage::DestUnreachable {
                code: (d % 16) as u8,
                next_hop_mtu: mtu,
                original: &original,
            },
        };
        let p = IcmpPacket {
            src: if kind & 0x80 != 0 {
                Ipv4Addr::new(10, 66, 0, 254)
            } else {
                PEER
            },
            dst: US,
            ip: IpMeta::default(),
            message,
        };
        let mut buf = vec![0; p.buffer_len()];
        if p.emit(&mut buf).is_ok() {
            self.deliver(&buf);
        }
        Some(())
    }

    fn app(&mut self, input: &mut Input<'_>) -> Option<()> {
        let op = input.u8()?;
        while let Some(h) = self.stack.accept(80) {
            self.handles.push(h);
        }
        let h = self
            .handles
            .get(usize::from(op >> 4) % self.handles.len().max(1))
            .copied();
        if self.trace {
            eprintln!("{:>9} app op {} on {h:?}", self.now.to_string(), op % 11);
        }
        match (op % 11, h) {
            (0, Some(h)) => {
                let n = usize::from(input.u16()?);
                let _ = self.stack.send(h, &vec![0x61; n]);
            }
            (1, Some(h)) => {
                let n = usize::from(input.u16()?);
                let _ = self.stack.recv(h, &mut vec![0; n]);
            }
            (2, Some(h)) => self.stack.shutdown_write(h),
            (3, Some(h)) => self.stack.close(h),
            (4, Some(h)) => self.stack.abort(h),
            (5, Some(h)) => {
                let n = usize::from(input.u8()?) + 1;
                let _ = self
                    .stack
                    .with_connection(h, |c| c.send_urgent(&vec![0x21; n]));
            }
            (6, Some(h)) => {
                // SO_RCVBUF / SO_SNDBUF changes, shrinking and growing.
                let n = usize::from(input.u16()?) * 16;
                let snd = input.u8()? & 1 != 0;
                self.stack.with_connection(h, |c| {
                    if snd {
                        c.set_send_buffer(n)
                    } else {
                        c.set_recv_buffer(n)
                    }
                });
            }
            (7, _) => {
                if let Ok(c) = self.stack.connect(self.now, SocketAddrV4::new(PEER, 5556)) {
                    self.handles.push(c);
                }
            }
            (8, _) => {
                // SYNs from 1-8 new peer ports (or 5557 again), every option offered: they
                // fill the SYN queue (backlog 4) until SYN cookies answer.
                let seq = input.u32()?;
                if op & 0x80 != 0 {
                    self.syn(5557, seq, 7, true, true);
                }
                for _ in 0..=(op >> 4) & 7 {
                    self.syn_port = self.syn_port.wrapping_add(1);
                    self.syn(6000 + self.syn_port % 1000, seq, 7, true, true);
                }
                return Some(());
            }
            (9, Some(h)) => {
                // SO_KEEPALIVE (MUST-24): hour-long timer jumps then probe and time out.
                let on = input.u8()? & 1 != 0;
                self.stack.with_connection(h, |c| c.set_keepalive(on));
            }
            _ => {
                if let Some(h) = h {
                    while self.stack.poll_event(h).is_some() {}
                }
            }
        }
        self.check();
        self.drain();
        Some(())
    }

    fn timer(&mut self, input: &mut Input<'_>) -> Option<()> {
        let j = input.u16()?;
        match j >> 14 {
            // Straight to the next deadline (or just past it).
            0 => {
                if let Some(t) = self.stack.poll_timeout() {
                    if t > self.now {
                        self.now = t + Duration::from_millis(u64::from(j & 7));
                    }
                }
            }
            1 => self.now += Duration::from_millis(u64::from(j & 0x3fff)),
            2 => self.now += Duration::from_millis(u64::from(j & 0x3fff) * 50),
            // Hours: keep-alive, FIN-WAIT-2, TIME-WAIT, reassembly all expire.
            _ => self.now += Duration::from_secs(u64::from(j & 0x3fff)),
        }
        self.peer_ts = self
            .peer_ts
            .wrapping_add(u32::from(j & 0x3fff).wrapping_mul(10));
        if self.trace {
            eprintln!("{:>9} time", self.now.to_string());
        }
        if self.stack.poll_timeout().is_some_and(|t| t <= self.now) {
            self.stack.handle_timeout(self.now);
            if let Some(d) = self.defer.as_mut() {
                d.swept(self.now);
            }
        }
        self.check();
        self.drain();
        Some(())
    }

    /// A SYN from PEER:`port` offering MSS, window scale `ws`, SACK and timestamps.
    fn syn(&mut self, port: u16, seq: u32, ws: u8, sack: bool, ts: bool) {
        let syn = Segment {
            src: SocketAddrV4::new(PEER, port).into(),
            dst: SocketAddrV4::new(US, 80).into(),
            seq,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 65535,
            urgent: 0,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(ws),
                sack_permitted: sack,
                timestamps: ts.then_some(Timestamps {
                    tsval: self.peer_ts,
                    tsecr: 0,
                }),
                ..Default::default()
            },
            payload: &[],
            ip: IpMeta::default(),
        };
        let mut buf = vec![0; syn.buffer_len()];
        let n = syn.emit(&mut buf).unwrap();
        self.deliver(&buf[..n]);
    }
}

/// Runs one input (see the module doc). Panics when an invariant breaks.
pub fn run(data: &[u8]) {
    run_with(data, false);
}

/// [`run`], or with `deferring` the `stack_defer` target's (see `defer`): a second config
/// byte, the prelude's handshake completed by the application, op 7 the application's
/// decisions on held SYNs.
fn run_with(data: &[u8], deferring: bool) {
    let conf = data.first().copied().unwrap_or(0);
    let dconf = if deferring {
        data.get(1).copied().unwrap_or(0)
    } else {
        0
    };
    let skip = if deferring { 2 } else { 1 };
    let offload = conf & 0x40 != 0;
    let mut cfg = StackConfig {
        addr: US,
        seed: 1,
        offload,
        ..StackConfig::default()
    };
    if deferring {
        defer::configure(&mut cfg, dconf);
    }
    cfg.tcp.recv_buffer = [256 << 10, 1 << 20, 4096, 65536][usize::from(conf & 3)];
    let ts = conf & 0x04 == 0;
    let sack = conf & 0x08 == 0;
    let ws = [7, 0, 14, 2][usize::from((conf >> 4) & 3)];
    let mut w = World {
        stack: Stack::new(cfg),
        now: Instant::ZERO,
        handles: Vec::new(),
        out: vec![0; 65536],
        head: vec![0; 65536],
        offload,
        seen: [Seen::default(); 3],
        peer_ts: 0x1234_5678,
        sent: Vec::new(),
        ident: 0,
        syn_port: 0,
        trace: std::env::var_os("TUNTCP_FUZZ_TRACE").is_some(),
        defer: None,
    };
    w.stack.listen(80, 4).unwrap();
    if deferring {
        w.defer = Some(defer::Defer::start(&mut w.stack, dconf));
    }
    // Prelude: a handshake from PEER:5555 with ISN 999 offering every option, so runs start
    // ESTABLISHED with window scaling, SACK and timestamps negotiated; then (usually) 16 KiB
    // queued to send, so there is something in flight to SACK.
    w.syn(5555, 999, ws, sack, ts);
    if deferring {
        w.complete_prelude();
    }
    let iss = w.seen[0].iss.unwrap_or(0);
    let ack = Segment {
        src: SocketAddrV4::new(PEER, 5555).into(),
        dst: SocketAddrV4::new(US, 80).into(),
        seq: 1000,
        ack: iss.wrapping_add(1),
        flags: TcpFlags::ACK,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            timestamps: ts.then_some(Timestamps {
                tsval: w.peer_ts.wrapping_add(1),
                tsecr: w.seen[0].tsval,
            }),
            ..Default::default()
        },
        payload: &[],
        ip: IpMeta::default(),
    };
    let mut buf = vec![0; ack.buffer_len()];
    let n = ack.emit(&mut buf).unwrap();
    w.peer_ts = w.peer_ts.wrapping_add(1);
    w.deliver(&buf[..n]);
    // Deferring, the prelude's connection is the application's already (`handles[0]`).
    let first = w.handles.pop();
    if let Some(h) = w.stack.accept(80).or(first) {
        w.handles.push(h);
        let n = if conf & 0x80 != 0 { 0 } else { 16384 };
        let _ = w.stack.send(h, &vec![0x62; n]);
        w.check();
        w.drain();
    }

    let mut input = Input(&data[data.len().min(skip)..]);
    let mut steps = 0;
    while let Some(op) = input.u8() {
        steps += 1;
        if steps > 200 {
            break;
        }
        let done = match op % 8 {
            0..=2 => w.segment(&mut input),
            3 => w.timer(&mut input),
            4 => w.app(&mut input),
            5 => w.icmp(&mut input),
            6 => {
                let len = usize::from(input.u16().unwrap_or(0) % 2000);
                let mut raw = input.bytes(len).to_vec();
                if raw.len() >= 40 && raw[0] >> 4 == 6 {
                    // IPv6 from the peer to us (fd66::1 > fd66::2), the rest as given:
                    // extension chains, fragments, ICMPv6, TCP.
                    raw[8..24].copy_from_slice(&PEER6.octets());
                    raw[24..40].copy_from_slice(&US6.octets());
                    if let Some(fixed) = with_v6_checksums_fixed(&raw) {
                        w.deliver(&fixed);
                    }
                } else if let Some(fixed) = with_checksums_fixed(&raw) {
                    w.deliver(&fixed);
                }
                w.deliver(&raw);
                Some(())
            }
            _ if deferring => w.defer_op(&mut input),
            _ => w.app(&mut input),
        };
        if done.is_none() {
            break;
        }
    }
    w.check();
    if std::env::var_os("TUNTCP_FUZZ_COUNTERS").is_some() {
        // What an input reached, for judging the corpus:
        // `TUNTCP_FUZZ_COUNTERS=1 fuzz/target/*/release/stack -runs=0 CORPUS_DIR`.
        let c = w.stack.counters();
        let line: Vec<String> = c
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        eprintln!("COUNTERS {}", line.join(" "));
    }
}
