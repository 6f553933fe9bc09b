//! Sequences of packets, timer jumps and application calls into a live `Stack` with a
//! listener and (usually) an established connection. Never panics, never loops: every
//! `poll_transmit` run ends, and everything the stack emits parses.
//!
//! Input layout: a list of ops. Segment fields are read relative to the live connection's
//! RCV.NXT / SND.NXT, so mutations explore the state machine rather than the checksum.
//! Bit 0x40 of the first byte turns TUN offloads on: super-segments out (each must
//! complete to a valid packet) and, when a segment op asks, partial-checksum segments in
//! that the "device" vouches for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, SocketAddrV4};
use tuntcp::stack::{SocketHandle, Stack, StackConfig};
use tuntcp::time::{Duration, Instant};
use tuntcp::wire::offload::{complete_checksum, RxOffload, TxOffload};
use tuntcp::wire::{
    IpMeta, Packet, SackBlock, SackList, Segment, TcpFlags, TcpOptions, Timestamps,
};
use tuntcp_fuzz::with_checksums_fixed;

const US: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);

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

struct World {
    stack: Stack,
    now: Instant,
    handles: Vec<SocketHandle>,
    out: Vec<u8>,
    /// Headers (or a whole control packet) of a gather write.
    head: Vec<u8>,
    offload: bool,
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
                    if tx.csum_partial {
                        assert!(complete_checksum(&mut self.out[..n], 20, 16));
                    }
                    let p =
                        Packet::parse(&self.out[..n]).expect("the stack emits only valid packets");
                    if let Packet::Tcp(s) = p {
                        assert!(tx.gso_size == 0 || s.payload.len() > usize::from(tx.gso_size));
                    }
                }
                None => return,
            }
        }
        panic!("poll_transmit did not run dry");
    }

    fn deliver(&mut self, bytes: &[u8]) {
        self.stack.handle_packet(self.now, bytes);
        self.drain();
    }

    fn deliver_trusted(&mut self, bytes: &[u8]) {
        let rx = RxOffload { csum_trusted: true };
        self.stack.handle_packet_offload(self.now, bytes, rx);
        self.drain();
    }

    fn segment(&mut self, input: &mut Input<'_>) -> Option<()> {
        let port = [5555u16, 5556, 80][usize::from(input.u8()? % 3)];
        let flags = TcpFlags(input.u8()?);
        let mode = input.u8()?;
        let (rcv_nxt, snd_nxt) = self
            .stack
            .connections()
            .find(|(_, c)| c.remote().port() == port)
            .map(|(_, c)| (c.rcv_nxt().0, c.snd_nxt().0))
            .unwrap_or((1000, 0));
        let dseq = input.u32()?;
        let dack = input.u32()?;
        // Small deltas most of the time, anything sometimes.
        let seq = if mode & 1 == 0 {
            rcv_nxt.wrapping_add(dseq % 4096).wrapping_sub(2048)
        } else {
            dseq
        };
        let ack = if mode & 2 == 0 {
            snd_nxt.wrapping_add(dack % 4096).wrapping_sub(2048)
        } else {
            dack
        };
        let window = input.u16()?;
        let urgent = input.u16()?;
        let optbits = input.u8()?;
        let mut options = TcpOptions::default();
        if optbits & 1 != 0 {
            options.mss = Some(input.u16()?);
        }
        if optbits & 2 != 0 {
            options.window_scale = Some(input.u8()?);
        }
        options.sack_permitted = optbits & 4 != 0;
        if optbits & 8 != 0 {
            options.timestamps = Some(Timestamps {
                tsval: input.u32()?,
                tsecr: input.u32()?,
            });
        }
        if optbits & 16 != 0 {
            let l = rcv_nxt.wrapping_add(u32::from(input.u16()?));
            let r = l.wrapping_add(u32::from(input.u16()?));
            options.sack = SackList::new(&[SackBlock { left: l, right: r }]);
        }
        let big = self.offload && mode & 4 != 0;
        let len = usize::from(input.u16()? % if big { 65000 } else { 3000 });
        let payload = input.bytes(len).to_vec();
        let s = Segment {
            src: SocketAddrV4::new(PEER, port),
            dst: SocketAddrV4::new(US, 80),
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
            self.deliver(&buf);
        }
        Some(())
    }

    fn app(&mut self, input: &mut Input<'_>) -> Option<()> {
        let op = input.u8()?;
        let h = match self.stack.accept(80) {
            Some(h) => {
                self.handles.push(h);
                h
            }
            None => *self
                .handles
                .get(usize::from(op >> 4) % self.handles.len().max(1))?,
        };
        match op % 6 {
            0 => {
                let n = usize::from(input.u16()?);
                let _ = self.stack.send(h, &vec![0x61; n]);
            }
            1 => {
                let _ = self.stack.recv(h, &mut [0; 4096]);
            }
            2 => self.stack.shutdown_write(h),
            3 => self.stack.close(h),
            4 => self.stack.abort(h),
            _ => {
                if let Ok(c) = self.stack.connect(self.now, SocketAddrV4::new(PEER, 5556)) {
                    self.handles.push(c);
                }
            }
        }
        self.drain();
        Some(())
    }
}

fuzz_target!(|data: &[u8]| {
    let offload = data.first().is_some_and(|b| b & 0x40 != 0);
    let cfg = StackConfig {
        addr: US,
        seed: 1,
        offload,
        ..StackConfig::default()
    };
    let mut w = World {
        stack: Stack::new(cfg),
        now: Instant::ZERO,
        handles: Vec::new(),
        out: vec![0; 65536],
        head: vec![0; 65536],
        offload,
    };
    w.stack.listen(80, 16).unwrap();
    // Prelude: a handshake from PEER:5555 with ISN 999, so most runs start ESTABLISHED.
    let syn = Segment {
        src: SocketAddrV4::new(PEER, 5555),
        dst: SocketAddrV4::new(US, 80),
        seq: 999,
        ack: 0,
        flags: TcpFlags::SYN,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..Default::default()
        },
        payload: &[],
        ip: IpMeta::default(),
    };
    let mut buf = vec![0; 64];
    let n = syn.emit(&mut buf).unwrap();
    w.stack.handle_packet(w.now, &buf[..n]);
    let iss = w
        .stack
        .connections()
        .next()
        .map(|(_, c)| c.snd_nxt().0)
        .unwrap_or(0);
    w.drain();
    let ack = Segment {
        seq: 1000,
        ack: iss.wrapping_add(1),
        flags: TcpFlags::ACK,
        options: TcpOptions::default(),
        ..syn
    };
    let n = ack.emit(&mut buf).unwrap();
    w.deliver(&buf[..n]);

    let mut input = Input(data);
    let mut steps = 0;
    while let Some(op) = input.u8() {
        steps += 1;
        if steps > 200 {
            break;
        }
        let done = match op % 4 {
            0 | 1 => w.segment(&mut input),
            2 => {
                let jump = u64::from(input.u16().unwrap_or(0)) * 50;
                w.now += Duration::from_millis(jump);
                if w.stack.poll_timeout().is_some_and(|t| t <= w.now) {
                    w.stack.handle_timeout(w.now);
                }
                w.drain();
                Some(())
            }
            _ => {
                if op & 0x80 != 0 {
                    let len = usize::from(input.u16().unwrap_or(0) % 2000);
                    let raw = input.bytes(len).to_vec();
                    if let Some(fixed) = with_checksums_fixed(&raw) {
                        w.deliver(&fixed);
                    }
                    w.deliver(&raw);
                    Some(())
                } else {
                    w.app(&mut input)
                }
            }
        };
        if done.is_none() {
            break;
        }
    }
});
