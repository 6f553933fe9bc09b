//! Buffer auto-tuning, as Linux's: the receive buffer grows to about twice what the
//! application reads per round trip (dynamic right-sizing, `tcp_moderate_rcvbuf`,
//! `tcp_rcv_space_adjust`), and the send buffer to twice cwnd while the application keeps it
//! full (`tcp_sndbuf_expand`). Both start at the default of their triple (`Config::rmem`,
//! `Config::wmem`) and never pass its maximum, so an idle or slow connection keeps small
//! buffers and a bulk one reaches full speed without hand tuning.
//!
//! The receiver's RTT is measured as Linux does without timestamps (`tcp_rcv_rtt_measure`):
//! the time RCV.NXT takes to cross the window advertised when the measurement began, the
//! smallest sample kept; until the first sample, the sender's SRTT (the handshake's).
//! Deviation: Linux prefers the timestamp echo when timestamps are on; ours ticks in
//! milliseconds, too coarse for the microsecond round trips of a local TUN, while the
//! window method uses the microsecond clock.
//!
//! The window scale is chosen from `rmem[2]` at SYN time (RFC 7323 §2.3,
//! `Config::window_shift`), and buffers only grow: the advertised right edge never moves
//! left (RFC 9293 §3.8.6.2.2 SHLD-14). Nothing grows under the stack's memory pressure
//! (`MemMode` other than `Normal`, see `stack::mem`).
//!
//! What this module does not do: shrink a buffer (Linux does not either), or tune a buffer
//! the application sized itself (`recv_buffer` / `send_buffer` set, like `SO_RCVBUF` /
//! `SO_SNDBUF`, which lock Linux's).

use super::connection::Connection;
use super::recv_buffer::MemMode;
use super::seq::SeqNum;
use crate::time::{Duration, Instant};

/// Linux's `TCP_INIT_CWND`: the first measurement assumes this many segments per RTT.
const INIT_SEGS: u32 = 10;

/// Per-connection auto-tuning state (Linux `rcvq_space`, `rcv_rtt_est`).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Autotune {
    /// The most the application read in one RTT so far (`rcvq_space.space`).
    space: u32,
    /// Where the current measurement began: bytes read up to here, at this time.
    space_seq: SeqNum,
    space_time: Option<Instant>,
    /// The receiver's RTT (smallest per-window sample), and the measurement under way:
    /// it ends when RCV.NXT reaches `rtt_seq`.
    rtt: Option<Duration>,
    rtt_seq: SeqNum,
    rtt_time: Option<Instant>,
    /// The application found the send buffer full since the last expansion (Linux
    /// `SOCK_NOSPACE`).
    snd_nospace: bool,
}

impl Connection {
    fn copied_seq(&self) -> SeqNum {
        self.rcv_nxt - self.recvq.readable() as u32
    }

    fn rcvbuf_auto(&self) -> bool {
        self.cfg.recv_buffer == 0 && self.cfg.moderate_rcvbuf
    }

    /// The receiver's RTT estimate, if any: the measured one, else SRTT.
    pub fn rcv_rtt(&self) -> Option<Duration> {
        self.tune.rtt.or(self.rtt.srtt())
    }

    /// The receiver's RTT as measured (`ss -i` rcv_rtt): none before the first sample,
    /// where [`Connection::rcv_rtt`] falls back on SRTT.
    pub(super) fn rcv_rtt_measured(&self) -> Option<Duration> {
        self.tune.rtt
    }

    /// The most the application read in one RTT (`ss -i` rcv_space).
    pub fn rcv_space(&self) -> u32 {
        self.tune.space
    }

    /// The receive buffer's size now (window bytes); auto-tuning grows it.
    pub fn recv_buffer_size(&self) -> usize {
        self.recvq.capacity()
    }

    /// The send buffer's size now; auto-tuning grows it.
    pub fn send_buffer_size(&self) -> usize {
        self.sendq.capacity()
    }

    /// After in-order data arrived and RCV.NXT moved: one step of the receiver's RTT
    /// measurement, then of the buffer's right-sizing (Linux `tcp_rcv_rtt_measure` and
    /// `tcp_rcv_space_adjust`; Linux adjusts when the application reads, which has no clock
    /// here, so the reads are counted at the next arrival).
    pub(super) fn autotune_on_data(&mut self, now: Instant) {
        let t = &mut self.tune;
        if let Some(t0) = t.rtt_time {
            if self.rcv_nxt.ge(t.rtt_seq) {
                let sample = now.saturating_since(t0).max(Duration::from_micros(1));
                t.rtt = Some(t.rtt.map_or(sample, |r| r.min(sample)));
                t.rtt_time = None;
            }
        }
        if t.rtt_time.is_none() {
            t.rtt_seq = self.rcv_nxt + self.rcv_adv.since(self.rcv_nxt).max(1);
            t.rtt_time = Some(now);
        }
        let copied_seq = self.copied_seq();
        let Some(t0) = self.tune.space_time else {
            // The first measurement: about an initial window per RTT.
            let w = self.recvq.capacity().min(u32::MAX as usize) as u32;
            self.tune.space = w.min(INIT_SEGS * u32::from(self.cfg.mss));
            self.tune.space_seq = copied_seq;
            self.tune.space_time = Some(now);
            return;
        };
        let Some(rtt) = self.rcv_rtt() else { return };
        if now.saturating_since(t0) < rtt {
            return;
        }
        let copied = copied_seq.since(self.tune.space_seq);
        let space = self.tune.space.max(1);
        if copied > space {
            if self.rcvbuf_auto() && self.recvq.mode() == MemMode::Normal {
                // Room for two RTTs of reading plus 16 segments, and for the sender's
                // growth: twice the relative increase seen in this RTT.
                let copied = u64::from(copied);
                let mut win = 2 * copied + 16 * u64::from(self.cfg.mss);
                win += 2 * (win * (copied - u64::from(space)) / u64::from(space));
                let target = (win.min(usize::MAX as u64) as usize).min(self.cfg.max_recv_buffer());
                if target > self.recvq.capacity() {
                    log::trace!(
                        "{} rcvbuf {} -> {target} (read {copied} in {rtt})",
                        self.remote,
                        self.recvq.capacity()
                    );
                    self.recvq.set_capacity(target);
                }
            }
            self.tune.space = copied;
        }
        self.tune.space_seq = copied_seq;
        self.tune.space_time = Some(now);
    }

    /// The application wrote less than it offered: the send buffer is what limits it.
    pub(super) fn autotune_note_send_full(&mut self) {
        self.tune.snd_nospace = true;
    }

    /// On an ACK that freed send buffer (Linux `tcp_new_space`): grows the send buffer if
    /// the application found it full and cwnd is not (`tcp_should_expand_sndbuf`).
    pub(super) fn autotune_on_ack(&mut self) {
        if !self.tune.snd_nospace {
            return;
        }
        let flight = self.snd_max.since(self.snd_una);
        if flight < self.cc.cwnd() {
            self.tune.snd_nospace = false;
            self.sndbuf_expand();
        }
    }

    /// Linux `tcp_sndbuf_expand`: room for twice cwnd (at least twice the initial window),
    /// up to `wmem[2]`; not for a fixed buffer, nor under memory pressure.
    pub(super) fn sndbuf_expand(&mut self) {
        if self.cfg.send_buffer > 0 || self.recvq.mode() != MemMode::Normal {
            return;
        }
        let segs = u64::from(self.cfg.initial_cwnd.max(INIT_SEGS)) * u64::from(self.smss);
        let want = 2 * u64::from(self.cc.cwnd()).max(segs);
        let cap = self.cfg.wmem[2].max(self.cfg.initial_send_buffer());
        let target = (want.min(usize::MAX as u64) as usize).min(cap);
        if target > self.sendq.capacity() {
            self.sendq.set_capacity(target);
        }
    }
}
