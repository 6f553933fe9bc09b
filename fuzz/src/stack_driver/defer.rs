//! The `stack_defer` target: the `stack` driver with deferring listeners (deferred
//! handshakes, `Stack::set_listen_defer`), the input also making the application's
//! decisions: take a held SYN, complete it, refuse it, leave it to time out, stop
//! deferring, close the listener. After every step, besides the stack's invariants: a
//! listener holds no more SYNs than its SYN queue (`min(backlog, max_syn_backlog)`), a
//! deferring listener never sends a SYN cookie, a held SYN is offered once, a decided
//! (or expired, or closed) one cannot be decided again, a completion sends its SYN-ACK and
//! a refusal its RST.
//!
//! Input layout: the `stack` target's config byte, then a defer config byte, then the ops
//! of the `stack` target, with op 7 (a second application op there) an application
//! decision here ([`World::defer_op`]). Defer config: bits 0x03 the timeout (3 s, 0,
//! 100 ms, 75 s); 0x0c the backlog of port 80 (4, 1, 16, 64); 0x10 `max_syn_backlog` 2;
//! 0x20 SYN cookies off; 0x40 a deferring transparent listener on 198.51.100.0/24
//! too (backlog 8).

use super::{Input, World, PEER, US};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use tuntcp::stack::{PendingSyn, Stack, StackConfig};
use tuntcp::time::{Duration, Instant};
use tuntcp::wire::{IpMeta, Segment, TcpFlags, TcpOptions, Timestamps};

const ANY: u16 = Stack::TRANSPARENT_PORT;
/// The transparent listener's destinations: 198.51.100.1-4, port 443.
const FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 0);

/// Runs one `stack_defer` input (see the module doc). Panics when a check fails.
pub fn run(data: &[u8]) {
    super::run_with(data, true);
}

/// The stack's configuration for a defer config byte.
pub(super) fn configure(cfg: &mut StackConfig, dconf: u8) {
    if dconf & 0x10 != 0 {
        cfg.max_syn_backlog = 2;
    }
    cfg.syncookies = dconf & 0x20 == 0;
    if dconf & 0x40 != 0 {
        cfg.transparent = vec!["198.51.100.0/24".parse().unwrap()];
    }
}

/// One listener as the application set it up.
#[derive(Clone, Copy)]
struct Listening {
    port: u16,
    backlog: usize,
    open: bool,
    deferring: bool,
}

/// The application's side of the deferred handshakes, and what the wire showed of them.
pub(crate) struct Defer {
    timeout: Duration,
    max_syn_backlog: usize,
    listeners: Vec<Listening>,
    /// Held SYNs the application took and may still decide on (decided ones stay now and
    /// then, to be decided again).
    taken: Vec<PendingSyn>,
    /// Every held SYN offered so far (each only once).
    offered: HashSet<PendingSyn>,
    /// Offered SYNs that are gone for sure: completed, refused, or their listener closed.
    gone: HashSet<PendingSyn>,
    /// When each was offered (it was held then or before, so it expires by then plus the
    /// timeout).
    offered_at: HashMap<PendingSyn, Instant>,
    /// This step's TCP output: (source, destination, flags).
    out: Vec<(SocketAddr, SocketAddr, TcpFlags)>,
    /// The last TSval we sent on each (local, remote) pair.
    tsval: HashMap<(SocketAddr, SocketAddr), u32>,
    /// Cookies sent so far (`TcpExtSyncookiesSent`), and whether some listener did not
    /// defer since the last check.
    cookies: u64,
    undeferred: bool,
    /// Peer ports of SYNs so far.
    port: u16,
}

impl Defer {
    /// Sets up the listeners (port 80 is there already) for a defer config byte.
    pub(super) fn start(stack: &mut Stack, dconf: u8) -> Defer {
        let timeout = [
            Duration::from_secs(3),
            Duration::from_millis(0),
            Duration::from_millis(100),
            Duration::from_secs(75),
        ][usize::from(dconf & 3)];
        let backlog = [4, 1, 16, 64][usize::from((dconf >> 2) & 3)];
        stack.unlisten(80);
        stack.listen(80, backlog).unwrap();
        // The prelude's SYN is held and completed: port 80 defers at first in any case.
        assert!(stack.set_listen_defer(80, Some(timeout)));
        let mut listeners = vec![Listening {
            port: 80,
            backlog,
            open: true,
            deferring: true,
        }];
        if dconf & 0x40 != 0 {
            stack.listen_transparent(8).unwrap();
            assert!(stack.set_listen_defer(ANY, Some(timeout)));
            listeners.push(Listening {
                port: ANY,
                backlog: 8,
                open: true,
                deferring: true,
            });
        }
        Defer {
            timeout,
            max_syn_backlog: if dconf & 0x10 != 0 { 2 } else { 4096 },
            listeners,
            taken: Vec::new(),
            offered: HashSet::new(),
            gone: HashSet::new(),
            offered_at: HashMap::new(),
            out: Vec::new(),
            tsval: HashMap::new(),
            cookies: 0,
            undeferred: false,
            port: 0,
        }
    }

    /// A segment the stack sent.
    pub(super) fn observe(&mut self, s: &Segment<'_>) {
        self.out.push((s.src, s.dst, s.flags));
        if let Some(ts) = s.options.timestamps {
            // Bounded by the 4-tuples a run can make (a few per step).
            self.tsval.insert((s.src, s.dst), ts.tsval);
        }
    }

    /// After `handle_timeout(now)`: every SYN offered a timeout or more before `now` was
    /// held then or earlier, so it expired (a RST) and is gone.
    pub(super) fn swept(&mut self, now: Instant) {
        let timeout = self.timeout;
        let expired = self
            .offered_at
            .iter()
            .filter(|(_, &at)| at + timeout <= now)
            .map(|(p, _)| *p);
        self.gone.extend(expired);
    }

    /// The bounds after every step.
    pub(super) fn check(&self, stack: &Stack) {
        for l in self.listeners.iter().filter(|l| l.open) {
            let queue = l.backlog.min(self.max_syn_backlog);
            let held = stack.held_syns(l.port);
            assert!(
                held <= queue,
                "listener {}: {held} SYNs held, SYN queue {queue}",
                l.port
            );
        }
        for l in self.listeners.iter().filter(|l| !l.open) {
            assert_eq!(stack.held_syns(l.port), 0, "closed listener {}", l.port);
        }
        let cookies = stack.counters().tcp_ext_syncookies_sent;
        let undeferred = self.listeners.iter().any(|l| l.open && !l.deferring);
        assert!(
            cookies == self.cookies || self.undeferred || undeferred,
            "a SYN cookie from a deferring listener"
        );
        // A held SYN keeps no TCB: the connections are the prelude's, completions, active
        // opens and (not deferring) the SYN queue's; each step makes a few at most.
        assert!(stack.connections().count() <= 2000);
    }

    fn listener(&self, sel: u8) -> Listening {
        self.listeners[usize::from(sel) % self.listeners.len()]
    }

    /// The destination a SYN for `port`'s listener goes to.
    fn dst(port: u16, sel: u8) -> SocketAddr {
        if port == ANY {
            let o = FAR.octets();
            SocketAddrV4::new(Ipv4Addr::new(o[0], o[1], o[2], 1 + sel % 4), 443).into()
        } else {
            SocketAddrV4::new(US, port).into()
        }
    }
}

impl World {
    fn d(&mut self) -> &mut Defer {
        self.defer.as_mut().expect("the defer target")
    }

    /// The prelude: the SYN from PEER:5555 is held; the application completes it at once.
    pub(super) fn complete_prelude(&mut self) {
        let p = self
            .stack
            .accept_pending(80)
            .expect("the prelude's SYN is held");
        let h = self
            .stack
            .complete_pending(self.now, p)
            .expect("a held SYN completes");
        self.handles.push(h);
        self.check();
        self.drain();
    }

    /// After a step: the cookie count moves on, the step's output is forgotten.
    fn settle(&mut self) {
        self.check();
        self.drain();
        self.check();
        let cookies = self.stack.counters().tcp_ext_syncookies_sent;
        let d = self.d();
        d.cookies = cookies;
        d.undeferred = d.listeners.iter().any(|l| l.open && !l.deferring);
        d.out.clear();
    }

    /// One application decision (or a peer's SYN or segment aimed at the held ones).
    pub(super) fn defer_op(&mut self, input: &mut Input<'_>) -> Option<()> {
        let k = input.u8()?;
        let a = input.u8()?;
        let l = self.d().listener(k >> 3);
        let flag = k & 0x10 != 0;
        if self.trace {
            eprintln!(
                "{:>9} defer op {} on listener {} ({a})",
                self.now.to_string(),
                k & 7,
                l.port
            );
        }
        self.d().out.clear();
        match k & 7 {
            0 => {
                // Take the next held SYN: offered once, for this listener.
                while let Some(p) = self.stack.accept_pending(l.port) {
                    let now = self.now;
                    let d = self.d();
                    assert!(d.offered.insert(p), "{p:?} offered twice");
                    d.offered_at.insert(p, now);
                    assert_eq!(p.remote().ip(), IpAddr::V4(PEER));
                    if l.port == ANY {
                        assert_ne!(p.local().ip(), IpAddr::V4(US));
                    } else {
                        assert_eq!(p.local(), SocketAddrV4::new(US, l.port).into());
                    }
                    d.taken.push(p);
                    if !flag {
                        break;
                    }
                }
            }
            1 | 2 => {
                // Complete or refuse one taken; a decided one stays now and then.
                let d = self.d();
                let Some(&p) = d.taken.get(usize::from(a) % d.taken.len().max(1)) else {
                    return Some(());
                };
                if !flag {
                    d.taken.retain(|x| *x != p);
                }
                let was_gone = d.gone.contains(&p);
                let done = if k & 7 == 1 {
                    let h = self.stack.complete_pending(self.now, p);
                    if let Some(h) = h {
                        self.handles.push(h);
                    }
                    h.is_some()
                } else {
                    self.stack.refuse_pending(p)
                };
                assert!(!(was_gone && done), "{p:?} decided after it was gone");
                self.check();
                self.drain();
                if done {
                    let want = if k & 7 == 1 {
                        TcpFlags::SYN | TcpFlags::ACK
                    } else {
                        TcpFlags::RST | TcpFlags::ACK
                    };
                    let d = self.d();
                    d.gone.insert(p);
                    // ECE may ride on the SYN-ACK (an ECN-setup SYN, RFC 3168 §6.1.1).
                    let ecn = TcpFlags::ECE.0 | TcpFlags::CWR.0;
                    assert!(
                        d.out
                            .iter()
                            .any(|&(s, t, f)| (s, t) == (p.local(), p.remote())
                                && f.0 & !ecn == want.0),
                        "{p:?}: no {want} sent: {:?}",
                        d.out
                    );
                }
            }
            3 => {
                // Stop or start deferring.
                let t = (!flag).then_some(self.d().timeout);
                let ok = self.stack.set_listen_defer(l.port, t);
                let d = self.d();
                assert_eq!(ok, l.open);
                for x in d
                    .listeners
                    .iter_mut()
                    .filter(|x| x.port == l.port && x.open)
                {
                    x.deferring = t.is_some();
                }
            }
            4 => {
                // Close the listener (its held SYNs are refused), maybe open it again.
                self.stack.unlisten(l.port);
                let d = self.d();
                let gone: Vec<PendingSyn> = d
                    .offered
                    .iter()
                    .filter(|p| Self::key(p) == l.port)
                    .copied()
                    .collect();
                d.gone.extend(gone);
                let again = a & 1 != 0;
                let deferring = a & 2 == 0;
                for x in d.listeners.iter_mut().filter(|x| x.port == l.port) {
                    x.open = again;
                    x.deferring = again && deferring;
                }
                if again {
                    let r = if l.port == ANY {
                        self.stack.listen_transparent(l.backlog)
                    } else {
                        self.stack.listen(l.port, l.backlog)
                    };
                    r.unwrap();
                    if deferring {
                        let t = self.d().timeout;
                        assert!(self.stack.set_listen_defer(l.port, Some(t)));
                    }
                }
            }
            5 => self.peer_syns(l.port, k, a, input)?,
            6 => self.peer_segment(a, input)?,
            _ => {
                // Accept what a listener that stopped deferring has ready.
                while let Some(h) = self.stack.accept(l.port) {
                    self.handles.push(h);
                }
            }
        }
        self.settle();
        Some(())
    }

    /// The listener a held SYN belongs to.
    fn key(p: &PendingSyn) -> u16 {
        if p.local().ip() == IpAddr::V4(US) {
            p.local().port()
        } else {
            ANY
        }
    }

    /// 1-4 SYNs to the listener on `port` from new peer ports, or again from the port of
    /// one taken (a retransmission, or a new SYN on its 4-tuple); with or without options,
    /// now and then with data.
    fn peer_syns(&mut self, port: u16, k: u8, a: u8, input: &mut Input<'_>) -> Option<()> {
        let seq = input.u32()?;
        let n = (a & 3) + 1;
        for i in 0..n {
            let again = k & 0x20 != 0 && i == 0;
            let (src, dst) = match self.d().taken.get(usize::from(a >> 4)) {
                Some(p) if again => (p.remote(), p.local()),
                _ => {
                    let d = self.d();
                    d.port = d.port.wrapping_add(1);
                    let src = SocketAddrV4::new(PEER, 7000 + d.port % 2000).into();
                    (src, Defer::dst(port, a >> 2))
                }
            };
            let options = if a & 0x04 != 0 {
                TcpOptions::default()
            } else {
                TcpOptions {
                    mss: Some(1460),
                    window_scale: Some(7),
                    sack_permitted: true,
                    timestamps: Some(Timestamps {
                        tsval: self.peer_ts,
                        tsecr: 0,
                    }),
                    ..Default::default()
                }
            };
            let data = if a & 0x08 != 0 { &b"hello"[..] } else { &[] };
            let flags = if k & 0x40 != 0 {
                TcpFlags::SYN | TcpFlags::FIN
            } else {
                TcpFlags::SYN
            };
            self.send_from(src, dst, seq, 0, flags, options, data);
        }
        Some(())
    }

    /// A segment from the peer on the 4-tuple of a taken SYN (held or not) or of a
    /// connection: the flags as given, sequence numbers near the connection's (or any).
    fn peer_segment(&mut self, a: u8, input: &mut Input<'_>) -> Option<()> {
        let flags = TcpFlags(input.u8()?);
        let d = input.u32()?;
        let conns: Vec<(SocketAddr, SocketAddr, u32, u32)> = self
            .stack
            .connections()
            .map(|(_, c)| (c.local(), c.remote(), c.rcv_nxt().0, c.snd_nxt().0))
            .collect();
        let taken = &self.d().taken;
        let i = usize::from(a >> 2);
        let (local, remote, seq, ack) = if a & 1 != 0 && !taken.is_empty() {
            let p = taken[i % taken.len()];
            (p.local(), p.remote(), d, d.wrapping_add(0x1234))
        } else if let Some(&c) = conns.get(i % conns.len().max(1)) {
            let seq = if a & 2 != 0 {
                c.2.wrapping_add(d % 64)
            } else {
                c.2
            };
            (c.0, c.1, seq, c.3)
        } else {
            return Some(());
        };
        let tsecr = self.d().tsval.get(&(local, remote)).copied().unwrap_or(0);
        self.peer_ts = self.peer_ts.wrapping_add(1);
        let options = TcpOptions {
            timestamps: Some(Timestamps {
                tsval: self.peer_ts,
                tsecr,
            }),
            ..Default::default()
        };
        let data = if flags.syn() { &[][..] } else { &b"data"[..] };
        self.send_from(remote, local, seq, ack, flags, options, data);
        Some(())
    }

    #[allow(clippy::too_many_arguments)]
    fn send_from(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        options: TcpOptions,
        payload: &[u8],
    ) {
        let s = Segment {
            src,
            dst,
            seq,
            ack,
            flags,
            window: 65535,
            urgent: 0,
            options,
            payload,
            ip: IpMeta::default(),
        };
        let mut buf = vec![0; s.buffer_len()];
        if let Ok(n) = s.emit(&mut buf) {
            self.deliver(&buf[..n]);
        }
    }
}
