//! The event loop: one thread owns the device and drives the sans-IO [`Stack`].
//!
//! Each turn: wait (mio) until the device is readable, a timer is due or an API call woke
//! us; read the device until `WouldBlock` (all queued packets before any output: MUST-59);
//! fire due timers; run the in-loop [`Service`] if there is one; write everything
//! `poll_transmit` gives; wake the API callers waiting on what changed. Within the busy-poll
//! window after traffic ([`Shared::set_busy_poll`]) the wait does not sleep. This module is
//! the only reader of the real clock.
//!
//! What it does not do: any TCP logic (that is `tcp`/`stack`), or block an API caller (the
//! API waits on its own condition variable in [`Inner`]).

use crate::device::impair::{ImpairConfig, Impairer};
use crate::device::pcap::PcapWriter;
use crate::device::Device;
use crate::service::Service;
use crate::stack::{Outgoing, Stack, Touched};
use crate::step::{self, Dir, Key, Stepper};
use crate::time::{Duration, Instant};
use crate::wire::offload::{RxOffload, TxOffload};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::SystemTime;

const DEVICE: Token = Token(0);
const WAKER: Token = Token(1);
/// Packets read per turn before output gets a chance (keeps ACKs flowing under load).
const READ_BATCH: usize = 256;

/// The real clock, read only here: microseconds since the runtime started.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: std::time::Instant,
    /// Wall-clock time at `start`, for pcap timestamps.
    unix_start_us: u64,
}

impl Clock {
    /// Starts the clock at zero now.
    pub fn new() -> Clock {
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            start: std::time::Instant::now(),
            unix_start_us: unix.as_micros() as u64,
        }
    }
    /// Time since the clock started.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }
    fn unix_micros(&self, t: Instant) -> u64 {
        self.unix_start_us + t.micros()
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

/// The stack plus the condition variables API threads wait on, under one mutex.
pub struct Inner {
    /// The stack the runtime drives.
    pub stack: Stack,
    /// Who waits on what: after each turn the runtime wakes only the waiters whose
    /// connection or listener changed (no thundering herd with thousands of streams).
    waiters: HashMap<Touched, Arc<Condvar>>,
    touched: Vec<Touched>,
    /// Parked connections (see `api::Parking`): a touch moves them to `parked_ready`.
    parked: HashSet<Touched>,
    pub(crate) parked_ready: Vec<Touched>,
    pub(crate) park_cond: Arc<Condvar>,
    /// An in-loop service runs: keep `touched` until its next `poll`.
    service: bool,
    /// Where the stack's sender-state records go, one JSON line each (`--trace`).
    trace: Option<Box<dyn io::Write + Send>>,
    /// `--step`: where to stop, and who answers at a stop.
    step: Option<Stepping>,
    /// Readiness for outside event loops (`mio::event::Source` on API handles): a byte is
    /// written to the key's socket whenever it is touched (see [`Inner::set_notifier`]).
    notifiers: HashMap<Touched, Vec<UnixStream>>,
    /// Async tasks waiting on a key (`api::futures_io`): woken, and forgotten, at its next
    /// touch and when the runtime stops. One per (key, slot): a task that polls again
    /// replaces its waker, so the map holds at most one per waiting handle.
    task_wakers: HashMap<Touched, Vec<(u64, std::task::Waker)>>,
}

/// `--step`'s state in the loop: the pure [`Stepper`] and the terminal behind `ask`.
struct Stepping {
    stepper: Stepper,
    ask: AskFn,
}

/// Shows a stop's text and returns the line the user typed (`None`: no more input).
pub type AskFn = Box<dyn FnMut(&str) -> Option<String> + Send>;

impl Inner {
    /// The condition variable for `key`, created on first use.
    pub fn waiter(&mut self, key: Touched) -> Arc<Condvar> {
        self.waiters.entry(key).or_default().clone()
    }
    /// Forgets `key`'s condition variable and notifier (its stream or listener is gone).
    pub fn forget(&mut self, key: Touched) {
        if let Some(c) = self.waiters.remove(&key) {
            c.notify_all();
        }
        self.notifiers.remove(&key);
        for (_, w) in self.task_wakers.remove(&key).into_iter().flatten() {
            w.wake();
        }
    }

    /// Wakes `waker` at `key`'s next touch (or when the runtime stops), once; `slot` names
    /// the waiting handle, whose earlier waker it replaces.
    #[cfg(feature = "futures-io")]
    pub(crate) fn set_task_waker(&mut self, key: Touched, slot: u64, waker: &std::task::Waker) {
        let v = self.task_wakers.entry(key).or_default();
        match v.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => w.clone_from(waker),
            None => v.push((slot, waker.clone())),
        }
    }

    /// Forgets the waker of `slot` on `key` (its handle is gone).
    #[cfg(feature = "futures-io")]
    pub(crate) fn remove_task_waker(&mut self, key: Touched, slot: u64) {
        if let Some(v) = self.task_wakers.get_mut(&key) {
            v.retain(|(s, _)| *s != slot);
            if v.is_empty() {
                self.task_wakers.remove(&key);
            }
        }
    }

    /// From now on a byte is written to `w` (nonblocking; dropped when its buffer is full,
    /// as a byte is then unread already) each time `key` is touched and when the runtime
    /// stops: the other end of the pair is what an outside event loop polls. One byte is
    /// written at once, so a change before the registration is not missed.
    /// A key may have several (a mio registration, an async reader and writer).
    pub(crate) fn set_notifier(&mut self, key: Touched, w: UnixStream) {
        let _ = (&w).write(&[1]);
        self.notifiers.entry(key).or_default().push(w);
    }

    /// Stops notifying `key` through the pair whose runtime end is `fd`.
    pub(crate) fn remove_notifier(&mut self, key: Touched, fd: std::os::fd::RawFd) {
        use std::os::fd::AsRawFd;
        if let Some(v) = self.notifiers.get_mut(&key) {
            v.retain(|w| w.as_raw_fd() != fd);
            if v.is_empty() {
                self.notifiers.remove(&key);
            }
        }
    }

    /// Wakes every waiter and notifier (the runtime stopped).
    fn wake_all(&mut self) {
        for (_, w) in self.task_wakers.drain().flat_map(|(_, v)| v) {
            w.wake();
        }
        for c in self.waiters.values() {
            c.notify_all();
        }
        self.park_cond.notify_all();
        for w in self.notifiers.values().flatten() {
            let _ = (&*w).write(&[1]);
        }
    }
    /// Watches a parked connection: the next change makes it ready.
    pub(crate) fn park(&mut self, key: Touched) {
        self.parked.insert(key);
    }

    /// Wakes the waiters of what changed. With a service, the keys stay in `touched` for
    /// its next `poll`.
    fn wake_touched(&mut self) {
        let from = self.touched.len();
        self.stack.take_touched(&mut self.touched);
        let mut parked_any = false;
        for t in &self.touched[from..] {
            if let Some(c) = self.waiters.get(t) {
                c.notify_all();
            }
            if !self.notifiers.is_empty() {
                for w in self.notifiers.get(t).into_iter().flatten() {
                    let _ = (&*w).write(&[1]);
                }
            }
            if !self.task_wakers.is_empty() {
                for (_, w) in self.task_wakers.remove(t).into_iter().flatten() {
                    w.wake();
                }
            }
            // (`remove` hashes even on an empty set; with a service there is usually none.)
            if !self.parked.is_empty() && self.parked.remove(t) {
                self.parked_ready.push(*t);
                parked_any = true;
            }
        }
        if parked_any {
            self.park_cond.notify_all();
        }
        if !self.service {
            self.touched.clear();
        }
    }

    /// Writes the stack's sender-state records out (see [`Runtime::set_trace`]); a write
    /// error stops the trace, not the stack.
    fn write_trace(&mut self) {
        let Some(out) = self.trace.as_mut() else {
            return;
        };
        let mut r = Ok(());
        while let Some(rec) = self.stack.poll_trace() {
            if r.is_ok() {
                r = writeln!(out, "{}", rec.to_json());
            }
        }
        if let Err(e) = r.and_then(|()| out.flush()) {
            log::warn!("trace: {e}; no more records are written");
            self.trace = None;
            self.stack.set_trace(false);
        }
    }

    /// `--step`: at a TCP segment in (before the stack sees it) or out (after it left),
    /// shows the segment and its connection's TCB and waits for a key if the stepper says
    /// so; returns whether it waited (the caller's time is then stale). The lock is held
    /// meanwhile: API calls wait too.
    fn step(&mut self, now: Instant, dir: Dir, pkt: &[u8]) -> bool {
        let Some(s) = self.step.as_mut() else {
            return false;
        };
        let Some(mut text) = step::at_segment(&mut s.stepper, &self.stack, now, dir, pkt) else {
            return false;
        };
        loop {
            let line = (s.ask)(&text);
            match s.stepper.key(line.as_deref()) {
                Key::Go => return true,
                Key::Help(h) => text = h.to_string(),
            }
        }
    }

    /// Runs the service on what changed since its last call.
    fn run_service(&mut self, service: &mut dyn Service, now: Instant) {
        self.wake_touched();
        service.poll(&mut self.stack, now, &self.touched);
        self.touched.clear();
    }
}

impl std::ops::Deref for Inner {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl std::ops::DerefMut for Inner {
    fn deref_mut(&mut self) -> &mut Stack {
        &mut self.stack
    }
}

/// What the runtime thread and API callers share.
pub struct Shared {
    inner: Mutex<Inner>,
    /// The runtime's clock (the only reader of real time).
    pub clock: Clock,
    waker: Waker,
    stop: AtomicBool,
    /// Busy polling, like `net.core.busy_poll`: after any packet in or out, keep polling
    /// the device without sleeping for this many microseconds (0: off). The next packet of
    /// a request/response exchange usually comes within tens of microseconds; catching it
    /// awake saves our wake-up latency and the sender's cross-CPU wake-up.
    busy_poll_us: AtomicU64,
}

impl Shared {
    /// Locks the stack (a poisoned lock still holds a consistent stack: the core does not
    /// panic halfway through an update on purpose, so we keep going).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Asks the loop to poll the stack now (after an API call queued output).
    pub fn wake(&self) {
        let _ = self.waker.wake();
    }
    /// The runtime's clock now.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }
    /// Busy polling (like `net.core.busy_poll`): after traffic, the loop spins on the
    /// device for `d` before it sleeps again, which saves a wake-up (an interrupt, a
    /// context switch) per packet on a quiet connection at the cost of one busy CPU.
    /// `Duration::ZERO` turns it off (the default).
    pub fn set_busy_poll(&self, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.busy_poll_us.store(us, Ordering::Relaxed);
    }
    /// The runtime was stopped: blocked API calls give up.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A running event loop; dropping it stops the thread (see [`Runtime::stop`]).
pub struct Runtime {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<io::Result<()>>>>,
}

impl Runtime {
    /// Starts the loop on its own thread. `pcap` records every packet the stack receives
    /// and sends; `impair` (the same settings each way, different seeds) sits between the
    /// device and the stack.
    pub fn start(
        stack: Stack,
        device: Box<dyn Device>,
        pcap: Option<File>,
        impair: Option<ImpairConfig>,
    ) -> io::Result<Runtime> {
        Runtime::start_with(stack, device, pcap, impair, None)
    }

    /// [`Runtime::start`] with an in-loop [`Service`] (started here: its `start` error, e.g.
    /// a port in use, is returned).
    pub fn start_with(
        mut stack: Stack,
        mut device: Box<dyn Device>,
        pcap: Option<File>,
        impair: Option<ImpairConfig>,
        mut service: Option<Box<dyn Service>>,
    ) -> io::Result<Runtime> {
        if let Some(s) = service.as_mut() {
            s.start(&mut stack)?;
        }
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        if let Some(fd) = device.raw_fd() {
            poll.registry()
                .register(&mut SourceFd(&fd), DEVICE, Interest::READABLE)?;
        }
        let impair = impair
            .filter(|c| !Impairer::new(c.clone()).is_noop())
            .map(|c| Impair {
                rx: Impairer::new(ImpairConfig {
                    seed: c.seed ^ 0x5eed_0001,
                    ..c.clone()
                }),
                tx: Impairer::new(ImpairConfig {
                    seed: c.seed ^ 0x5eed_0002,
                    ..c
                }),
            });
        let mut pcap = match pcap {
            Some(f) => Some(PcapWriter::new(BufWriter::new(f), 65535)?),
            None => None,
        };
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                stack,
                waiters: HashMap::new(),
                touched: Vec::new(),
                parked: HashSet::new(),
                parked_ready: Vec::new(),
                park_cond: Arc::new(Condvar::new()),
                service: service.is_some(),
                trace: None,
                step: None,
                notifiers: HashMap::new(),
                task_wakers: HashMap::new(),
            }),
            clock: Clock::new(),
            waker,
            stop: AtomicBool::new(false),
            busy_poll_us: AtomicU64::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tuntcp-runtime".into())
            .spawn(move || {
                let r = run(&s, poll, device.as_mut(), pcap.as_mut(), impair, service);
                if let Err(e) = &r {
                    // A device error ended the loop: API calls must not wait for it.
                    log::warn!("event loop: {e}");
                    s.stop.store(true, Ordering::SeqCst);
                    s.lock().wake_all();
                }
                r
            })?;
        Ok(Runtime {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// What the runtime thread and API callers share.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Writes a sender-state trace to `out` from now on: a first line that gives the
    /// clock's zero as Unix time ([`crate::trace::start_line`]), then one JSON line per
    /// ACK processed and per timer fired ([`crate::trace::TraceRecord::to_json`]).
    pub fn set_trace(&self, mut out: Box<dyn io::Write + Send>) -> io::Result<()> {
        writeln!(
            out,
            "{}",
            crate::trace::start_line(self.shared.clock.unix_start_us)
        )?;
        out.flush()?;
        let mut g = self.shared.lock();
        g.stack.set_trace(true);
        g.trace = Some(out);
        Ok(())
    }

    /// `--step` from now on: before each TCP segment in and after each one out, `ask` gets
    /// the text to show (see [`crate::step::screen`]) and returns the key line typed
    /// (`n`, `c`, `q`; `None` at end of input runs freely). The event loop waits in `ask`.
    pub fn set_step(&self, ask: AskFn) {
        self.shared.lock().step = Some(Stepping {
            stepper: Stepper::new(),
            ask,
        });
    }

    /// Stops the loop and returns its result: the loop's last turn aborts every
    /// connection ([`Stack::abort_all`]: listeners closed, RSTs sent) and writes
    /// everything out to the device; then the thread ends and API calls fail. Calling it
    /// again (or dropping) does nothing more.
    pub fn stop(&self) -> io::Result<()> {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        let r = match thread {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("runtime thread panicked"))),
            None => Ok(()),
        };
        // Blocked API calls see the stop on their next check (the loop's last turn woke
        // the ones whose connection it reset; this wakes the rest, e.g. `accept`).
        self.shared.lock().wake_all();
        r
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Impairment on the device side of the stack: packets in pass `rx`, packets out `tx`.
struct Impair {
    rx: Impairer,
    tx: Impairer,
}

fn run(
    shared: &Shared,
    mut poll: Poll,
    device: &mut dyn Device,
    mut pcap: Option<&mut PcapWriter<BufWriter<File>>>,
    mut impair: Option<Impair>,
    mut service: Option<Box<dyn Service>>,
) -> io::Result<()> {
    let mut events = Events::with_capacity(16);
    let mut rx = vec![0u8; 65536];
    // Headers of the packet being sent, or a whole control packet (an ICMP reply): up to
    // a whole IPv4 packet.
    let mut tx = vec![0u8; 65536];
    let gather = device.offload();
    // A packet joined for the capture or the impairment queue (only with those on).
    let mut whole = Vec::new();
    let mut pcap_copy = Vec::new();
    let mut timeout = None;
    let mut last_traffic = Instant::ZERO;
    loop {
        // Stopping: one last turn that aborts every connection and writes the RSTs out
        // before the thread (and with it the device) goes.
        let stopping = shared.stop.load(Ordering::SeqCst);
        if !stopping {
            match poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let mut stack = shared.lock();
        if stopping {
            let rsts = stack.abort_all();
            log::info!("stopping: {rsts} connections reset");
        }
        let mut more_to_read = false;
        let mut traffic = false;
        let mut now = shared.clock.now();
        // pcap records what the stack sees: packets in after impairment, out before it.
        let mut deliver =
            |stack: &mut Inner, pkt: &[u8], now: Instant, rx: RxOffload| -> io::Result<()> {
                if let Some(p) = pcap.as_deref_mut() {
                    let pkt = with_checksum(&mut pcap_copy, pkt, rx.csum_trusted);
                    p.write_packet(shared.clock.unix_micros(now), pkt)?;
                }
                // Our clock ran on while we waited (see `step::BANNER`).
                let now = if stack.step(now, Dir::In, pkt) {
                    shared.clock.now()
                } else {
                    now
                };
                stack.handle_packet_offload(now, pkt, rx);
                Ok(())
            };
        for _ in 0..if stopping { 0 } else { READ_BATCH } {
            match device.recv_offload(&mut rx) {
                Ok((n, meta)) => {
                    match impair.as_mut() {
                        Some(i) => i.rx.push(now, rx[..n].to_vec()),
                        None => deliver(&mut stack, &rx[..n], now, meta)?,
                    }
                    more_to_read = true;
                    traffic = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    more_to_read = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if let Some(i) = impair.as_mut() {
            while let Some(pkt) = i.rx.pop_ready(now) {
                deliver(&mut stack, &pkt, now, RxOffload::default())?;
            }
        }
        now = shared.clock.now();
        if stack.poll_timeout().is_some_and(|t| t <= now) {
            stack.handle_timeout(now);
        }
        if let Some(svc) = service.as_mut().filter(|_| !stopping) {
            stack.run_service(svc.as_mut(), now);
        }
        // With offloads, headers here and payloads written from the send buffers where
        // they lie (writev): a 64 KB copy saved per super-segment. Without, each packet is
        // built whole and written with write(2), as before: with MTU-sized packets the
        // gather writev measured slower (4.0-4.3 against 4.4-4.6 Gbit/s stack->kernel at
        // MTU 1500; a one-iovec writev of the whole packet was as slow), the cause not
        // pinned down.
        let stepping = stack.step.is_some();
        loop {
            let out = if gather {
                stack.poll_transmit_gather(now, &mut tx)
            } else {
                stack
                    .poll_transmit_offload(now, &mut tx)
                    .map(|(n, t)| Outgoing {
                        head: &tx[..n],
                        payload: &[],
                        tx: t,
                    })
            };
            let Some(out) = out else { break };
            traffic = true;
            if pcap.is_some() || impair.is_some() || stepping {
                whole.clear();
                whole.extend_from_slice(out.head);
                whole.extend_from_slice(out.payload);
            }
            if let Some(p) = pcap.as_deref_mut() {
                let pkt = with_checksum(&mut pcap_copy, &whole, out.tx.csum_partial);
                p.write_packet(shared.clock.unix_micros(now), pkt)?;
            }
            match impair.as_mut() {
                Some(i) => i.tx.push(now, whole.clone()),
                None => send(device, out.head, out.payload, out.tx),
            }
            if stepping && stack.step(now, Dir::Out, &whole) {
                now = shared.clock.now();
            }
        }
        if let Some(i) = impair.as_mut() {
            // Stopping: what the delay line holds goes out now (its drops already happened).
            let until = if stopping {
                Instant::from_micros(u64::MAX)
            } else {
                now
            };
            while let Some(pkt) = i.tx.pop_ready(until) {
                send(device, &pkt, &[], TxOffload::default());
            }
        }
        if let Err(e) = device.flush() {
            log::warn!("device flush: {e}");
        }
        if let Some(p) = pcap.as_deref_mut() {
            p.flush()?;
        }
        let release =
            impair
                .as_ref()
                .and_then(|i| match (i.rx.next_release(), i.tx.next_release()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                });
        let next = [
            stack.poll_timeout(),
            release,
            service.as_ref().and_then(|s| s.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min();
        stack.write_trace();
        stack.wake_touched();
        if stopping {
            return Ok(());
        }
        // A service has news to see (touched while it or the output ran): come straight back.
        let service_news = service.is_some() && !stack.touched.is_empty();
        if traffic {
            last_traffic = now;
        }
        let busy = Duration::from_micros(shared.busy_poll_us.load(Ordering::Relaxed));
        let spin = busy_polling(now, last_traffic, busy);
        timeout = if more_to_read || service_news || spin {
            Some(std::time::Duration::ZERO) // the batch limit stopped us: come straight back
        } else {
            // epoll waits whole milliseconds (mio rounds up): a deadline closer than that (a
            // pacing release, `tcp/pacing.rs`) is polled for instead of overslept.
            next.map(|t| t.saturating_since(now)).map(|d| {
                if d < Duration::from_millis(1) {
                    Duration::ZERO
                } else {
                    d
                }
                .into()
            })
        };
        drop(stack);
    }
}

/// Whether the loop keeps polling without sleeping: within `busy` of the last packet in or
/// out (`busy` zero: never).
fn busy_polling(now: Instant, last_traffic: Instant, busy: Duration) -> bool {
    busy > Duration::ZERO && now.saturating_since(last_traffic) < busy
}

/// A packet as a capture should show it: a partial TCP checksum (offloads) completed in a
/// copy, as Wireshark would see it on the wire.
fn with_checksum<'a>(copy: &'a mut Vec<u8>, pkt: &'a [u8], partial: bool) -> &'a [u8] {
    if pkt.first().is_some_and(|b| b >> 4 == 6) {
        return with_checksum6(copy, pkt, partial);
    }
    let ihl = pkt.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
    if !partial || pkt.get(9) != Some(&crate::wire::IPPROTO_TCP) || ihl < 20 {
        return pkt;
    }
    copy.clear();
    copy.extend_from_slice(pkt);
    // Recompute from scratch: zero the field, then the pseudo-header sum plus the segment.
    if copy.len() >= ihl + 18 {
        let tcp_len = copy.len() - ihl;
        copy[ihl + 16..ihl + 18].fill(0);
        let src = std::net::Ipv4Addr::new(copy[12], copy[13], copy[14], copy[15]);
        let dst = std::net::Ipv4Addr::new(copy[16], copy[17], copy[18], copy[19]);
        let acc = crate::wire::checksum_pseudo_header(src, dst, crate::wire::IPPROTO_TCP, tcp_len);
        let sum = crate::wire::checksum_finish(crate::wire::checksum_add(acc, &copy[ihl..]));
        copy[ihl + 16..ihl + 18].copy_from_slice(&sum.to_be_bytes());
    }
    copy
}

/// [`with_checksum`] for IPv6: TCP right after the fixed header (the only layout a
/// partial checksum comes in from the kernel or from us).
fn with_checksum6<'a>(copy: &'a mut Vec<u8>, pkt: &'a [u8], partial: bool) -> &'a [u8] {
    const H: usize = crate::wire::IPV6_HEADER_LEN;
    if !partial || pkt.get(6) != Some(&crate::wire::IPPROTO_TCP) || pkt.len() < H + 18 {
        return pkt;
    }
    copy.clear();
    copy.extend_from_slice(pkt);
    let addr = |o: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&copy[o..o + 16]);
        std::net::Ipv6Addr::from(a)
    };
    let (src, dst) = (addr(8), addr(24));
    copy[H + 16..H + 18].fill(0);
    let acc =
        crate::wire::checksum_pseudo_header_v6(src, dst, crate::wire::IPPROTO_TCP, copy.len() - H);
    let sum = crate::wire::checksum_finish(crate::wire::checksum_add(acc, &copy[H..]));
    copy[H + 16..H + 18].copy_from_slice(&sum.to_be_bytes());
    copy
}

fn send(device: &mut dyn Device, head: &[u8], payload: &[u8], meta: TxOffload) {
    match device.send_parts(head, payload, meta) {
        Ok(()) => {}
        // The kernel queue is full: drop, TCP retransmits (like a lossy link).
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            log::debug!("device full, packet dropped")
        }
        Err(e) => log::warn!("device send: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_polling_spins_only_within_the_window_after_traffic() {
        let t = Instant::from_micros(1_000);
        let busy = Duration::from_micros(50);
        assert!(busy_polling(t, t, busy));
        assert!(busy_polling(Instant::from_micros(1_049), t, busy));
        assert!(!busy_polling(Instant::from_micros(1_050), t, busy));
        assert!(!busy_polling(t, t, Duration::ZERO), "off by default");
    }
}
