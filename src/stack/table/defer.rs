//! Deferred handshakes: a listener that holds each SYN unanswered until the application
//! decides, for relays (tun2socks-style) that must reach the real destination before they
//! can say yes or no. [`Stack::complete_pending`] answers with the SYN-ACK (the connection
//! starts in SYN-RECEIVED, owned by the application); [`Stack::refuse_pending`] answers
//! with a RST, so the client's connect fails with ECONNREFUSED.
//!
//! Bounded as every listener: held SYNs count in the SYN queue (with the half-open
//! connections, at most `min(backlog, max_syn_backlog)`); a SYN beyond it is dropped
//! (ListenDrops) and the client's retransmission tries again. SYN cookies cannot defer (a
//! cookie is a SYN-ACK sent at once), so a deferring listener never sends one. A held SYN
//! costs one small entry ([`size_of::<Held>()`](Held), no buffers); a retransmitted SYN
//! for it is absorbed; it expires after the listener's timeout with a RST (as a refusal:
//! the client learns at once instead of retrying a SYN that would be held again).
//!
//! What this module does not do: keep any TCP state before the application completes the
//! SYN (no timestamps or window are answered; a RST or an ACK from the client meanwhile
//! is treated as in LISTEN, RFC 9293 §3.10.7.2), or tell the application an entry expired
//! (its `complete`/`refuse` then return `None`/false).

use super::Tuple;
use super::{SocketHandle, Stack};
use crate::tcp::{Connection, SeqNum};
use crate::time::{Duration, Instant};
use crate::wire::{IpMeta, Segment, TcpFlags, TcpOptions, Timestamps};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

/// A SYN a deferring listener holds, as the application names it: the destination the
/// client asked for, the client, and a serial number (a later SYN on the same 4-tuple is
/// another entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PendingSyn {
    local: SocketAddr,
    remote: SocketAddr,
    id: u64,
}

impl PendingSyn {
    /// The address and port the client's SYN was sent to (the original destination).
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The client's address and port.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }
}

/// What is kept of a held SYN: enough to build the connection later (as
/// `Connection::accept` would from the SYN itself) or to answer it with a RST.
#[derive(Clone, Debug)]
pub(super) struct Held {
    id: u64,
    /// The listener's key.
    pub(super) port: u16,
    deadline: Instant,
    seq: u32,
    /// SEG.LEN of the SYN (1, plus any data, which is not kept: the client sends it again
    /// once our SYN-ACK acknowledges only the SYN).
    seq_len: u32,
    flags: TcpFlags,
    window: u16,
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamps: Option<Timestamps>,
    ip: IpMeta,
    /// The SND.NXT of a TIME-WAIT incarnation this SYN reopens (RFC 1122 §4.2.2.13).
    after: Option<SeqNum>,
    /// Handed to the application by [`Stack::accept_pending`].
    pub(super) taken: bool,
}

/// Every held SYN of the stack, by 4-tuple, and their deadlines in order.
#[derive(Default)]
pub(super) struct Deferred {
    pub(super) by_tuple: HashMap<Tuple, Held>,
    /// (deadline, id) -> tuple: the next to expire first.
    deadlines: BTreeMap<(Instant, u64), Tuple>,
    next_id: u64,
}

impl Deferred {
    /// The earliest expiry.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|k| k.0)
    }

    fn remove(&mut self, t: &Tuple) -> Option<Held> {
        let h = self.by_tuple.remove(t)?;
        self.deadlines.remove(&(h.deadline, h.id));
        Some(h)
    }

    /// Held SYNs (all listeners).
    pub(super) fn len(&self) -> usize {
        self.by_tuple.len()
    }

    /// Every deadline names a held SYN with that deadline and id.
    pub(super) fn consistent(&self) -> bool {
        self.deadlines.len() == self.by_tuple.len()
            && self.deadlines.iter().all(|(&(at, id), t)| {
                self.by_tuple
                    .get(t)
                    .is_some_and(|h| h.deadline == at && h.id == id)
            })
    }
}

impl Stack {
    /// Makes the listener on `port` (or the transparent one, [`Stack::TRANSPARENT_PORT`])
    /// defer its handshakes: each new SYN is held without a SYN-ACK and offered by
    /// [`Stack::accept_pending`]; the application completes it ([`Stack::complete_pending`])
    /// or refuses it ([`Stack::refuse_pending`], a RST). A SYN held longer than `timeout`
    /// is refused (a RST). `None` turns deferring off (SYNs held now stay until decided or
    /// expired). False when nothing listens on `port`.
    ///
    /// Bounds: held SYNs count in the SYN queue (`min(backlog, max_syn_backlog)` with the
    /// half-open connections); a SYN beyond it is dropped (ListenDrops) and the client's
    /// retransmission tries again: SYN cookies cannot defer (a cookie is a SYN-ACK sent at
    /// once), so a deferring listener sends none. A held SYN keeps no TCB and no buffer
    /// (its 4-tuple, sequence number and options); a SYN retransmitted for it is absorbed.
    pub fn set_listen_defer(&mut self, port: u16, timeout: Option<Duration>) -> bool {
        match self.listeners.get_mut(&port) {
            Some(l) => {
                l.defer = timeout;
                true
            }
            None => false,
        }
    }

    /// Holds `syn` for the deferring listener `port` (the caller checked the SYN queue).
    pub(super) fn defer_syn(
        &mut self,
        now: Instant,
        port: u16,
        timeout: Duration,
        syn: &Segment<'_>,
        after: Option<SeqNum>,
    ) {
        let tuple = Tuple::new(syn.dst, syn.src);
        let d = &mut self.deferred;
        let id = d.next_id;
        d.next_id += 1;
        let deadline = now + timeout;
        let o = &syn.options;
        d.by_tuple.insert(
            tuple,
            Held {
                id,
                port,
                deadline,
                seq: syn.seq,
                seq_len: syn.seq_len(),
                flags: syn.flags,
                window: syn.window,
                mss: o.mss,
                window_scale: o.window_scale,
                sack_permitted: o.sack_permitted,
                timestamps: o.timestamps,
                ip: syn.ip,
                after,
                taken: false,
            },
        );
        d.deadlines.insert((deadline, id), tuple);
        if let Some(l) = self.listeners.get_mut(&port) {
            l.held += 1;
            l.pending.push_back(tuple);
        }
        self.touched.push(super::Touched::Listener(port));
        log::debug!(target: "tuntcp::packet", "held {} > {} (deferred handshake)", syn.src, syn.dst);
    }

    /// A segment for a held SYN's 4-tuple: a SYN again (a retransmission) is absorbed
    /// (true); anything else is left to LISTEN processing (false).
    pub(super) fn held_input(&mut self, seg: &Segment<'_>) -> bool {
        let f = seg.flags;
        f.syn()
            && !f.ack()
            && !f.rst()
            && self
                .deferred
                .by_tuple
                .contains_key(&Tuple::new(seg.dst, seg.src))
    }

    /// The next SYN the listener on `port` holds that the application has not taken yet
    /// (oldest first).
    pub fn accept_pending(&mut self, port: u16) -> Option<PendingSyn> {
        let l = self.listeners.get_mut(&port)?;
        while let Some(t) = l.pending.pop_front() {
            if let Some(h) = self.deferred.by_tuple.get_mut(&t) {
                h.taken = true;
                return Some(PendingSyn {
                    local: t.local,
                    remote: t.remote,
                    id: h.id,
                });
            }
        }
        None
    }

    /// The held SYN `p` names, taken out of every queue; `None` once it expired, was
    /// refused or completed, or its listener closed.
    fn take_held(&mut self, p: PendingSyn) -> Option<Held> {
        let t = Tuple::new(p.local, p.remote);
        if self.deferred.by_tuple.get(&t)?.id != p.id {
            return None;
        }
        let h = self.deferred.remove(&t)?;
        if let Some(l) = self.listeners.get_mut(&h.port) {
            l.held -= 1;
            if !h.taken {
                l.pending.retain(|x| *x != t);
            }
        }
        Some(h)
    }

    /// Completes a held SYN: the connection is created in SYN-RECEIVED, owned by the
    /// application (as after [`Stack::accept`], never in the accept queue), and its SYN-ACK
    /// goes out with the next `poll_transmit`. `None` when `p` is gone (expired, refused,
    /// its listener closed), or when its 4-tuple was taken meanwhile by another connection
    /// (a connect from that port): then the held SYN is dropped without a RST, since the
    /// tuple's RST would reach the other connection's peer; the client's retransmitted SYN
    /// meets that connection as any duplicate SYN does.
    pub fn complete_pending(&mut self, now: Instant, p: PendingSyn) -> Option<SocketHandle> {
        let h = self.take_held(p)?;
        if self.by_tuple.contains_key(&Tuple::new(p.local, p.remote)) {
            return None; // the tuple was taken meanwhile (a connect from that port)
        }
        let syn = Segment {
            src: p.remote,
            dst: p.local,
            seq: h.seq,
            ack: 0,
            flags: h.flags,
            window: h.window,
            urgent: 0,
            options: TcpOptions {
                mss: h.mss,
                window_scale: h.window_scale,
                sack_permitted: h.sack_permitted,
                timestamps: h.timestamps,
                ..TcpOptions::default()
            },
            payload: &[],
            ip: h.ip,
        };
        let mut iss = self.isn.isn(now, syn.dst, syn.src);
        if let Some(old) = h.after {
            // RFC 1122 §4.2.2.13: the new ISS must exceed the old connection's SND.NXT.
            if iss.le(old) {
                iss = old + 250_000;
            }
        }
        let ts_offset = self.ts_offset(syn.dst, syn.src);
        let cfg = self.child_config(h.port, syn.src.ip());
        let mut conn = Connection::accept(now, &syn, iss, ts_offset, cfg);
        self.start_path_mtu(now, &mut conn);
        let idx = self.insert(conn, None, true);
        self.counters.tcp_passive_opens += 1;
        self.mark_dirty(idx);
        self.drain_events(idx);
        Some(SocketHandle(idx))
    }

    /// Refuses a held SYN: a RST `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`, as a closed
    /// port answers a SYN (RFC 9293 §3.10.7.1), so the client's connect fails with
    /// ECONNREFUSED. False when `p` is gone.
    pub fn refuse_pending(&mut self, p: PendingSyn) -> bool {
        match self.take_held(p) {
            Some(h) => {
                self.rst_held(p.local, p.remote, &h);
                true
            }
            None => false,
        }
    }

    fn rst_held(&mut self, local: SocketAddr, remote: SocketAddr, h: &Held) {
        let syn = Segment {
            src: remote,
            dst: local,
            seq: h.seq,
            ack: 0,
            flags: TcpFlags::SYN,
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
            ip: IpMeta::default(),
        };
        self.send_rst(
            &syn,
            0,
            h.seq.wrapping_add(h.seq_len),
            TcpFlags::RST | TcpFlags::ACK,
        );
    }

    /// Refuses (RST) every held SYN past its deadline at `now`.
    pub(super) fn expire_held(&mut self, now: Instant) {
        while let Some((&(at, id), &t)) = self.deferred.deadlines.iter().next() {
            if at > now {
                break;
            }
            log::debug!(target: "tuntcp::packet", "held {} > {} expired: RST", t.remote, t.local);
            let p = PendingSyn {
                local: t.local,
                remote: t.remote,
                id,
            };
            if !self.refuse_pending(p) {
                // Not reachable while `consistent` holds; never loop on it.
                self.deferred.deadlines.remove(&(at, id));
            }
        }
    }

    /// Refuses (RST) every SYN the listener on `port` holds (it is closing).
    pub(super) fn refuse_held_of(&mut self, port: u16) {
        let mine: Vec<PendingSyn> = self
            .deferred
            .by_tuple
            .iter()
            .filter(|(_, h)| h.port == port)
            .map(|(t, h)| PendingSyn {
                local: t.local,
                remote: t.remote,
                id: h.id,
            })
            .collect();
        for p in mine {
            self.refuse_pending(p);
        }
    }

    /// SYNs held by the listener on `port` (taken by the application or not).
    pub fn held_syns(&self, port: u16) -> usize {
        self.listeners.get(&port).map_or(0, |l| l.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_syn_is_small() {
        // Two IPv6 socket addresses make most of it; no buffer, no TCB.
        assert!(
            std::mem::size_of::<Held>() <= 80,
            "{}",
            std::mem::size_of::<Held>()
        );
        assert!(std::mem::size_of::<(Tuple, Held)>() <= 160);
    }
}
