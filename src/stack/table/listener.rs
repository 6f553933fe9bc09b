//! Listeners: passive OPEN, the SYN and accept queues with Linux's limits and overflow
//! behaviour, SYN cookies, and segments that reach a LISTEN port (RFC 9293 §3.10.7.2).
//!
//! What this module does not do: hold connections (the table does; a listener holds only
//! the slot indices of its accept queue and a count of its SYN queue).

use super::Tuple;
use super::{OpenError, SocketHandle, Stack, StackConfig};
use crate::stack::syncookie::SynCookies;
use crate::tcp::{self, Connection, SeqNum};
use crate::time::{Duration, Instant};
use crate::trace::{TraceEvent, TraceRecord};
use crate::wire::{IpMeta, Segment, TcpFlags, TcpOptions};
use std::collections::VecDeque;
use std::net::IpAddr;

pub(super) struct Listener {
    pub(super) backlog: usize,
    /// Established connections not yet accepted (the accept queue).
    pub(super) ready: VecDeque<usize>,
    /// Connections in SYN-RECEIVED (the SYN queue).
    pub(super) half_open: usize,
    /// TCP_MAXSEG set on the listener: caps the MSS its SYN-ACKs offer and its
    /// connections send with (Linux copies `user_mss` to the child).
    pub(super) user_mss: Option<u16>,
    /// Like IPV6_V6ONLY: IPv4 SYNs find no listener (the port is closed to them).
    pub(super) v6only: bool,
    /// Deferred handshakes (see `defer`): SYNs are held this long at most, unanswered.
    pub(super) defer: Option<Duration>,
    /// Held SYNs not yet taken by the application (see `defer`).
    pub(super) pending: VecDeque<Tuple>,
    /// Held SYNs, taken or not: they count in the SYN queue.
    pub(super) held: usize,
}

/// The key of the transparent listener in the listener map: no port listener has it (a
/// SYN to port 0 of our own address finds no listener).
pub(super) const TRANSPARENT: u16 = 0;

impl Listener {
    /// The listener a segment like `seg` belongs to: its port's for our own addresses,
    /// the transparent one ([`TRANSPARENT`]) for any other (the IP layer let it in only
    /// when inside `cfg.transparent`).
    pub(super) fn key(cfg: &StackConfig, seg: &Segment<'_>) -> Option<u16> {
        let own = match seg.dst.ip() {
            IpAddr::V4(a) => a == cfg.addr,
            IpAddr::V6(a) => Some(a) == cfg.addr6,
        };
        match (own, seg.dst.port()) {
            (true, TRANSPARENT) => None,
            (true, port) => Some(port),
            (false, _) => Some(TRANSPARENT),
        }
    }

    /// Whether one of `listeners` takes segments like `seg` (its port, its family).
    pub(super) fn takes<S: std::hash::BuildHasher>(
        listeners: &std::collections::HashMap<u16, Listener, S>,
        cfg: &StackConfig,
        seg: &Segment<'_>,
    ) -> bool {
        Listener::key(cfg, seg)
            .and_then(|k| listeners.get(&k))
            .is_some_and(|l| !(l.v6only && seg.dst.is_ipv4()))
    }

    /// Linux's `sk_acceptq_is_full`: more than `backlog` waiting (its off-by-one kept, so
    /// `ss -l` numbers compare with the kernel's).
    pub(super) fn accept_queue_full(&self) -> bool {
        self.ready.len() > self.backlog
    }
}

impl Stack {
    /// Passive OPEN: listen on `port` with a backlog (capped by `somaxconn`).
    /// Port 0 is `InvalidAddress` (see [`Stack::listen_ephemeral`]).
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<(), OpenError> {
        if port == TRANSPARENT {
            return Err(OpenError::InvalidAddress);
        }
        self.insert_listener(port, backlog)
    }

    /// The transparent listener: it takes SYNs for any address and port inside
    /// [`StackConfig::transparent`] (not our own addresses, whose ports keep their own
    /// listeners), bounded as every listener (SYN queue, accept queue, SYN cookies). An
    /// accepted connection's `local()` is the destination the peer asked for. Accept and
    /// unlisten it with [`Stack::TRANSPARENT_PORT`] as the port; `AddrInUse` when there is
    /// one already.
    pub fn listen_transparent(&mut self, backlog: usize) -> Result<(), OpenError> {
        self.insert_listener(TRANSPARENT, backlog)
    }

    /// The port [`Stack::accept`], [`Stack::unlisten`] and [`Touched::Listener`] use for
    /// the transparent listener.
    ///
    /// [`Touched::Listener`]: super::Touched::Listener
    pub const TRANSPARENT_PORT: u16 = TRANSPARENT;

    /// Whether `ip` is one the transparent listener may terminate: inside a configured
    /// prefix (our own addresses excepted, they are never transparent).
    pub(super) fn is_transparent_dst(&self, ip: IpAddr) -> bool {
        let own = match ip {
            IpAddr::V4(a) => a == self.cfg.addr,
            IpAddr::V6(a) => Some(a) == self.cfg.addr6,
        };
        !own && !ip.is_unspecified() && self.cfg.transparent.iter().any(|p| p.contains(ip))
    }

    fn insert_listener(&mut self, port: u16, backlog: usize) -> Result<(), OpenError> {
        if self.listeners.contains_key(&port) {
            return Err(OpenError::AddrInUse);
        }
        // MUST-41/42: existing connections on the port are left alone.
        let backlog = backlog.clamp(1, self.cfg.somaxconn.max(1));
        self.listeners.insert(
            port,
            Listener {
                backlog,
                ready: VecDeque::new(),
                half_open: 0,
                user_mss: None,
                v6only: false,
                defer: None,
                pending: VecDeque::new(),
                held: 0,
            },
        );
        Ok(())
    }

    /// TCP_MAXSEG on a listener: the MSS its new connections offer and send with is at
    /// most `mss` (`None`: the link's). False when nothing listens on `port`.
    pub fn set_listen_mss(&mut self, port: u16, mss: Option<u16>) -> bool {
        match self.listeners.get_mut(&port) {
            Some(l) => {
                l.user_mss = mss;
                true
            }
            None => false,
        }
    }

    /// IPV6_V6ONLY on a listener: with `on`, only IPv6 connections are accepted on `port`
    /// (IPv4 SYNs are answered as for a closed port); off (the default), both families.
    /// False when nothing listens on `port`.
    pub fn set_listen_v6only(&mut self, port: u16, on: bool) -> bool {
        match self.listeners.get_mut(&port) {
            Some(l) => {
                l.v6only = on;
                true
            }
            None => false,
        }
    }

    /// Whether a listener takes segments like `seg` (its port, its family).
    pub(super) fn listens(&self, seg: &Segment<'_>) -> bool {
        Listener::takes(&self.listeners, &self.cfg, seg)
    }

    /// The connection settings for a child of the listener on `port` with a peer at
    /// `remote` (its family's MSS, its route's metrics applied).
    pub(super) fn child_config(&self, port: u16, remote: IpAddr) -> tcp::Config {
        let mut cfg = self.route_config(remote);
        if let Some(m) = self.listeners.get(&port).and_then(|l| l.user_mss) {
            cfg.mss = cfg.mss.min(m);
        }
        cfg
    }

    /// Passive OPEN on a free ephemeral port (`bind` to port 0): one from the ephemeral
    /// range (RFC 6056) that no listener and no connection uses. Returns the port.
    pub fn listen_ephemeral(&mut self, backlog: usize) -> Result<u16, OpenError> {
        let (listeners, slots) = (&self.listeners, &self.slots);
        let anywhere = std::net::SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0);
        let port = self
            .ports
            .pick(self.cfg.addr, anywhere, |p| {
                listeners.contains_key(&p)
                    || slots.iter().flatten().any(|s| s.conn.local().port() == p)
            })
            .ok_or(OpenError::AddrNotAvailable)?;
        self.listen(port, backlog)?;
        Ok(port)
    }

    /// Stops listening; connections not yet accepted are reset.
    pub fn unlisten(&mut self, port: u16) {
        self.refuse_held_of(port);
        if let Some(l) = self.listeners.remove(&port) {
            for idx in l.ready {
                self.abort_slot(idx);
            }
        }
        let pending: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|s| s.listener == Some(port)).map(|_| i))
            .collect();
        for idx in pending {
            self.abort_slot(idx);
        }
    }

    fn abort_slot(&mut self, idx: usize) {
        if let Some(s) = self.slots[idx].as_mut() {
            s.listener = None;
            s.released = true;
            s.conn.abort();
        }
        self.mark_dirty(idx);
        self.drain_events(idx);
    }

    /// Takes the next established connection from the accept queue.
    pub fn accept(&mut self, port: u16) -> Option<SocketHandle> {
        let idx = self.listeners.get_mut(&port)?.ready.pop_front()?;
        let s = self.slots[idx].as_mut()?;
        s.owned = true;
        s.listener = None;
        Some(SocketHandle(idx))
    }

    /// RFC 9293 §3.10.7.2: LISTEN.
    pub(super) fn listen_input(&mut self, now: Instant, seg: &Segment<'_>, after: Option<SeqNum>) {
        let f = seg.flags;
        if f.rst() {
            return;
        }
        if f.ack() {
            if !f.syn() && self.cookie_ack(now, seg) {
                return;
            }
            self.send_rst(seg, seg.ack, 0, TcpFlags::RST);
            return;
        }
        if !f.syn() {
            return;
        }
        let port = Listener::key(&self.cfg, seg).expect("caller checked the listener");
        let l = self
            .listeners
            .get_mut(&port)
            .expect("caller checked the listener");
        if l.accept_queue_full() {
            // Accept queue full: drop the SYN, the peer retries (Linux tcp_conn_request).
            self.counters.tcp_ext_listen_overflows += 1;
            self.counters.tcp_ext_listen_drops += 1;
            return;
        }
        if l.half_open + l.held >= l.backlog.min(self.cfg.max_syn_backlog) {
            // SYN queue full: answer with a SYN cookie and keep no state (RFC 4987 §3.6,
            // `tcp_syncookies=1`), or drop. A deferring listener cannot answer yet: drop.
            if self.cfg.syncookies && after.is_none() && l.defer.is_none() {
                self.send_cookie(now, seg);
            } else {
                self.counters.tcp_ext_listen_drops += 1;
            }
            return;
        }
        if let Some(timeout) = l.defer {
            self.defer_syn(now, port, timeout, seg, after);
            return;
        }
        l.half_open += 1;
        let mut iss = self.isn.isn(now, seg.dst, seg.src);
        if let Some(old) = after {
            // RFC 1122 §4.2.2.13: the new ISS must exceed the old connection's SND.NXT.
            if iss.le(old) {
                iss = old + 250_000;
            }
        }
        let ts_offset = self.ts_offset(seg.dst, seg.src);
        let cfg = self.child_config(port, seg.src.ip());
        let mut conn = Connection::accept(now, seg, iss, ts_offset, cfg);
        self.start_path_mtu(now, &mut conn);
        let idx = self.insert(conn, Some(port), false);
        self.counters.tcp_passive_opens += 1;
        self.mark_dirty(idx);
        self.drain_events(idx);
    }

    /// A SYN-ACK whose ISS is a SYN cookie; no TCB is created.
    fn send_cookie(&mut self, now: Instant, syn: &Segment<'_>) {
        let peer_mss = syn.options.mss.unwrap_or(536);
        // The cookie carries the peer's MSS (clamped to the cookie table) for our sending;
        // the SYN-ACK advertises ours, MTU - 40 (RFC 9293 §3.7.1, MUST-67), as a SYN-ACK
        // from the SYN queue does.
        let (cookie, _peer_mss) = self
            .cookies
            .generate(now, syn.dst, syn.src, syn.seq, peer_mss);
        self.cookie_sent_at = Some(now);
        let key = Listener::key(&self.cfg, syn).unwrap_or(TRANSPARENT);
        let t = &self.child_config(key, syn.src.ip());
        let mut options = TcpOptions {
            mss: Some(t.advmss.unwrap_or(t.mss)),
            ..TcpOptions::default()
        };
        if let (true, Some(ts)) = (t.timestamps, syn.options.timestamps) {
            // Window scale and SACK travel in our TSval (only possible with timestamps).
            let ws = syn.options.window_scale.filter(|_| t.window_scaling);
            let sack = syn.options.sack_permitted && t.sack;
            // The clock the connection will use: the offset of this address pair.
            let tsval_now = (now.millis() as u32).wrapping_add(self.ts_offset(syn.dst, syn.src));
            let tsval = SynCookies::encode_ts(tsval_now, ws, sack);
            options.timestamps = Some(crate::wire::Timestamps {
                tsval,
                tsecr: ts.tsval,
            });
            options.window_scale = ws.map(|_| t.window_shift());
            options.sack_permitted = sack;
        }
        let synack = Segment {
            src: syn.dst,
            dst: syn.src,
            seq: cookie,
            ack: syn.seq.wrapping_add(1),
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: t.syn_window(options.window_scale.unwrap_or(0)),
            urgent: 0,
            options,
            payload: &[],
            ip: IpMeta {
                ttl: t.ttl,
                tos: t.tos,
                ..IpMeta::default()
            },
        };
        log::debug!(target: "tuntcp::packet", "out {synack} (SYN cookie)");
        if self.queue_segment(&synack) {
            self.counters.tcp_ext_syncookies_sent += 1;
        }
    }

    /// An ACK at a listener with no TCB: a valid SYN cookie creates the connection. Only
    /// checked while cookies were sent in the last two minutes, as Linux.
    fn cookie_ack(&mut self, now: Instant, seg: &Segment<'_>) -> bool {
        let recent = self
            .cookie_sent_at
            .is_some_and(|t| now.saturating_since(t) < Duration::from_secs(120));
        if !self.cfg.syncookies || !recent {
            return false;
        }
        let Some(port) = Listener::key(&self.cfg, seg) else {
            return false;
        };
        let peer_isn = seg.seq.wrapping_sub(1);
        let cookie = seg.ack.wrapping_sub(1);
        let Some(mss) = self
            .cookies
            .validate(now, seg.dst, seg.src, peer_isn, cookie)
        else {
            self.counters.tcp_ext_syncookies_failed += 1;
            return false;
        };
        if self
            .listeners
            .get(&port)
            .is_none_or(Listener::accept_queue_full)
        {
            self.counters.tcp_ext_listen_overflows += 1;
            self.counters.tcp_ext_listen_drops += 1;
            return true; // dropped, like any overflowing final ACK
        }
        let (ws, sack) = match seg.options.timestamps {
            Some(ts) => SynCookies::decode_ts(ts.tsecr),
            None => (None, false),
        };
        self.counters.tcp_ext_syncookies_recv += 1;
        self.counters.tcp_passive_opens += 1;
        let mut conn = Connection::accept_cookie(
            now,
            seg,
            SeqNum(cookie),
            self.ts_offset(seg.dst, seg.src),
            mss,
            ws,
            sack,
            self.child_config(port, seg.src.ip()),
        );
        self.start_path_mtu(now, &mut conn);
        let idx = self.insert(conn, Some(port), false);
        if let Some(l) = self.listeners.get_mut(&port) {
            l.half_open += 1; // the Connected event moves it to the accept queue
        }
        self.mark_dirty(idx);
        self.drain_events(idx);
        if !seg.payload.is_empty() || seg.flags.fin() {
            // The ACK may carry the request already.
            if let Some(s) = self.slots[idx].as_mut() {
                s.conn.handle_segment(now, seg);
            }
            self.mark_dirty(idx);
            self.drain_events(idx);
        }
        // The trace's record of the ACK that acknowledged our SYN-ACK (the cookie): as for
        // a SYN-RECEIVED connection, after the segment was processed.
        if let (Some(q), Some(s)) = (self.trace.as_mut(), self.slots[idx].as_ref()) {
            q.push(TraceRecord::snapshot(
                now,
                TraceEvent::Ack { acked: 1 },
                &s.conn,
            ));
        }
        true
    }
}
