//! The event loop: one thread owns the device and drives the sans-IO [`Stack`].
//!
//! Each turn: wait (mio) until the device is readable, a timer is due or an API call woke
//! us; read the device until `WouldBlock` (all queued packets before any output: MUST-59);
//! fire due timers; write everything `poll_transmit` gives; wake API callers waiting on the
//! condition variable. This module is the only reader of the real clock.
//!
//! What it does not do: any TCP logic (that is `tcp`/`stack`), or block an API caller (the
//! API waits on [`Shared::cond`] itself).

use crate::device::pcap::PcapWriter;
use crate::device::Device;
use crate::stack::Stack;
use crate::time::Instant;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::fs::File;
use std::io::{self, BufWriter};
use std::sync::atomic::{AtomicBool, Ordering};
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
    pub fn new() -> Clock {
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            start: std::time::Instant::now(),
            unix_start_us: unix.as_micros() as u64,
        }
    }
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

/// What the runtime thread and API callers share.
pub struct Shared {
    pub stack: Mutex<Stack>,
    /// Signalled after every turn of the loop: API callers re-check their condition.
    pub cond: Condvar,
    pub clock: Clock,
    waker: Waker,
    stop: AtomicBool,
}

impl Shared {
    /// Locks the stack (a poisoned lock still holds a consistent stack: the core does not
    /// panic halfway through an update on purpose, so we keep going).
    pub fn lock(&self) -> MutexGuard<'_, Stack> {
        self.stack.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Asks the loop to poll the stack now (after an API call queued output).
    pub fn wake(&self) {
        let _ = self.waker.wake();
    }
    pub fn now(&self) -> Instant {
        self.clock.now()
    }
}

/// A running event loop; dropping it stops the thread.
pub struct Runtime {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Runtime {
    /// Starts the loop on its own thread. `pcap` records every packet in and out.
    pub fn start(
        stack: Stack,
        mut device: Box<dyn Device>,
        pcap: Option<File>,
    ) -> io::Result<Runtime> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        if let Some(fd) = device.raw_fd() {
            poll.registry()
                .register(&mut SourceFd(&fd), DEVICE, Interest::READABLE)?;
        }
        let mtu = device.mtu();
        let mut pcap = match pcap {
            Some(f) => Some(PcapWriter::new(BufWriter::new(f), 65535)?),
            None => None,
        };
        let shared = Arc::new(Shared {
            stack: Mutex::new(stack),
            cond: Condvar::new(),
            clock: Clock::new(),
            waker,
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tuntcp-runtime".into())
            .spawn(move || run(&s, poll, device.as_mut(), pcap.as_mut(), mtu))?;
        Ok(Runtime {
            shared,
            thread: Some(thread),
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops the loop and returns its result.
    pub fn stop(mut self) -> io::Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> io::Result<()> {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake();
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("runtime thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

fn run(
    shared: &Shared,
    mut poll: Poll,
    device: &mut dyn Device,
    mut pcap: Option<&mut PcapWriter<BufWriter<File>>>,
    mtu: usize,
) -> io::Result<()> {
    let mut events = Events::with_capacity(16);
    let mut rx = vec![0u8; 65536];
    let mut tx = vec![0u8; mtu.max(1500) + 64];
    let mut timeout = None;
    while !shared.stop.load(Ordering::SeqCst) {
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let mut stack = shared.lock();
        let mut more_to_read = false;
        let mut now = shared.clock.now();
        for _ in 0..READ_BATCH {
            match device.recv(&mut rx) {
                Ok(n) => {
                    if let Some(p) = pcap.as_deref_mut() {
                        p.write_packet(shared.clock.unix_micros(now), &rx[..n])?;
                    }
                    stack.handle_packet(now, &rx[..n]);
                    more_to_read = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    more_to_read = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        now = shared.clock.now();
        if stack.poll_timeout().is_some_and(|t| t <= now) {
            stack.handle_timeout(now);
        }
        while let Some(n) = stack.poll_transmit(now, &mut tx) {
            if let Some(p) = pcap.as_deref_mut() {
                p.write_packet(shared.clock.unix_micros(now), &tx[..n])?;
            }
            match device.send(&tx[..n]) {
                Ok(()) => {}
                // The kernel queue is full: drop, TCP retransmits (like a lossy link).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    log::debug!("device full, packet dropped")
                }
                Err(e) => log::warn!("device send: {e}"),
            }
        }
        if let Some(p) = pcap.as_deref_mut() {
            p.flush()?;
        }
        timeout = if more_to_read {
            Some(std::time::Duration::ZERO) // the batch limit stopped us: come straight back
        } else {
            stack.poll_timeout().map(|t| t.saturating_since(now).into())
        };
        drop(stack);
        shared.cond.notify_all();
    }
    Ok(())
}
