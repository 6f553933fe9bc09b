//! Send-side socket options as Linux has them: TCP_CORK, MSG_MORE, MSG_EOR and
//! TCP_NOTSENT_LOWAT, and the push that setting TCP_NODELAY makes.
//!
//! - Cork (TCP_CORK, or MSG_MORE for one write): a partial segment at the end of the
//!   queue waits; whole segments go. The hold ends when the application uncorks, sets
//!   TCP_NODELAY (a push of what is queued), writes without MSG_MORE (MSG_MORE only), an
//!   ACK arrives (MSG_MORE only: Linux holds only the push at the end of that write), or,
//!   with nothing in flight, when the persist timer fires one RTO later and sends it with
//!   PSH (Linux's probe timer and `tcp_write_wakeup`: the "200 ms ceiling" of tcp(7)).
//!   Data written with MSG_MORE gets no PSH (RFC 9293 §3.9.1.2, MAY-15: a SEND without
//!   the PUSH flag).
//! - Records (MSG_EOR): no segment, new or retransmitted, spans the end of a record
//!   (Linux does not append to an skb marked EOR).
//! - TCP_NOTSENT_LOWAT: the socket counts as writable only while fewer than `lowat` bytes
//!   are queued and not yet sent (Linux `tcp_stream_memory_free`).
//!
//! What this module does not do: Linux's autocorking (holding writes while earlier ones
//! sit in a device queue: we have none), and SO_SNDBUF accounting by skb sizes.

use super::connection::Connection;
use super::seq::SeqNum;
use std::collections::VecDeque;

/// Most record ends (MSG_EOR) remembered; past this a write's record end is not kept and
/// it may share a segment with the next write.
const EOR_MARKS: usize = 4096;

/// Flags of one write, as `send(2)`'s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendFlags {
    /// MSG_MORE: more data follows; hold a partial segment and set no PSH.
    pub more: bool,
    /// MSG_EOR: this write ends a record; later data starts a new segment.
    pub eor: bool,
}

/// The state behind the options (part of the TCB).
#[derive(Debug, Default)]
pub(super) struct SendOpts {
    /// TCP_CORK.
    pub cork: bool,
    /// The last write had MSG_MORE and nothing has released its hold yet.
    pub more: bool,
    /// The last write had MSG_MORE: the queue's end is not a push point (no PSH).
    pub unpushed_tail: bool,
    /// TCP_NODELAY was just set (or uncorked with it on): what is queued goes now, held or
    /// not, until the next write (Linux `TCP_NAGLE_PUSH`).
    pub push_once: bool,
    /// Ends of MSG_EOR writes above SND.UNA, in order.
    pub eor_marks: VecDeque<SeqNum>,
    /// TCP_NOTSENT_LOWAT (`None`: `Config::notsent_lowat`, as Linux's 0).
    pub notsent_lowat: Option<u32>,
}

impl Connection {
    /// SEND with flags: [`Connection::send`] plus MSG_MORE and MSG_EOR.
    pub fn send_with(&mut self, data: &[u8], flags: SendFlags) -> Result<usize, super::Error> {
        let n = self.send_inner(data, !flags.more)?;
        let o = &mut self.sendopts;
        o.push_once = false;
        o.more = flags.more;
        o.unpushed_tail = flags.more;
        if flags.eor && n == data.len() && n > 0 {
            let end = self.queue_end();
            let o = &mut self.sendopts;
            if o.eor_marks.len() < EOR_MARKS && o.eor_marks.back() != Some(&end) {
                o.eor_marks.push_back(end);
            }
        }
        Ok(n)
    }

    /// TCP_CORK: hold partial segments until uncorked (see the module doc).
    pub fn set_cork(&mut self, on: bool) {
        let o = &mut self.sendopts;
        if o.cork && !on {
            o.more = false;
            o.push_once |= self.cfg.nodelay;
        }
        o.cork = on;
    }

    /// Whether TCP_CORK is on.
    pub fn cork(&self) -> bool {
        self.sendopts.cork
    }

    /// TCP_NOTSENT_LOWAT: `Some(n)` reports the socket writable only while fewer than `n`
    /// bytes wait unsent; `None` leaves it to `Config::notsent_lowat`.
    pub fn set_notsent_lowat(&mut self, lowat: Option<u32>) {
        self.sendopts.notsent_lowat = lowat;
    }

    /// The limit in force (`u32::MAX`: none).
    pub fn notsent_lowat(&self) -> u32 {
        self.sendopts
            .notsent_lowat
            .unwrap_or(self.cfg.notsent_lowat)
    }

    /// Bytes queued and not yet sent (Linux `write_seq - snd_nxt`).
    pub fn notsent_bytes(&self) -> usize {
        let sent = self.snd_max.since(self.snd_una) as usize;
        self.sendq.len().saturating_sub(sent)
    }

    /// Whether a writer should be woken (poll's POLLOUT): room in the send buffer and, with
    /// TCP_NOTSENT_LOWAT, fewer than half of it unsent (Linux `tcp_poll` asks
    /// `tcp_stream_memory_free(sk, 1)`: the unsent bytes doubled below the mark).
    pub fn send_writable(&self) -> bool {
        self.may_send()
            && self.send_capacity() > 0
            && (self.notsent_bytes() as u64) * 2 < u64::from(self.notsent_lowat())
    }

    /// Whether a write may queue more now: with TCP_NOTSENT_LOWAT, only while fewer than
    /// `lowat` bytes wait unsent (Linux `sk_stream_memory_free`).
    pub fn notsent_room(&self) -> bool {
        (self.notsent_bytes() as u64) < u64::from(self.notsent_lowat())
    }

    /// How much one write queues before it checks again for room, as Linux fills one skb
    /// (`tcp_xmit_size_goal`): the largest segment the device takes (SMSS without
    /// offload), at most half the peer's largest window, in whole SMSS.
    pub fn size_goal(&self) -> usize {
        let smss = self.smss.max(1) as usize;
        let half = if self.max_snd_wnd > 536 {
            self.max_snd_wnd / 2
        } else {
            self.max_snd_wnd
        } as usize;
        let mut goal = self.cfg.gso_max_payload.max(smss);
        if half > 0 {
            goal = goal.min(half);
        }
        (goal / smss * smss).max(smss)
    }

    /// Whether a partial segment at the queue's end waits (cork or MSG_MORE, no push).
    pub(super) fn send_held(&self) -> bool {
        let o = &self.sendopts;
        (o.cork || o.more) && !o.push_once
    }

    /// The first record end after `seq`, if any (marks at or below SND.UNA are dropped).
    pub(super) fn record_end_after(&mut self, seq: SeqNum) -> Option<SeqNum> {
        let una = self.snd_una;
        let marks = &mut self.sendopts.eor_marks;
        while marks.front().is_some_and(|m| m.le(una)) {
            marks.pop_front();
        }
        marks.iter().copied().find(|m| m.gt(seq))
    }

    /// An ACK arrived: MSG_MORE's hold ends (Linux pushes pending frames with the
    /// socket's own Nagle setting after each ACK, `tcp_data_snd_check`).
    pub(super) fn release_more(&mut self) {
        self.sendopts.more = false;
    }

    /// TCP_NODELAY set: push what is queued now, corked or not.
    pub(super) fn push_now(&mut self) {
        self.sendopts.push_once = true;
    }
}
