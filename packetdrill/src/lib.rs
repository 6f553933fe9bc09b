//! tuntcp under packetdrill: a shared library that packetdrill loads with
//! `--so_filename` and drives through `struct packetdrill_interface` (packetdrill.h):
//! socket calls on file descriptors, `netdev_send`/`netdev_receive` for packets, and
//! `usleep`/`gettimeofday` for a virtual clock. `scripts/packetdrill.sh` builds and runs it.
//!
//! - [`host`]: the socket layer in safe Rust, Linux's semantics and errno values over one
//!   [`tuntcp::stack::Stack`] (epoll in its `epoll` module);
//! - [`profile`]: the Linux configuration the scripts assume;
//! - `ffi`: the C ABI. Decision: `unsafe` is confined to that one module of this crate.
//!   The project rule "unsafe lives only in src/device/" is about the tuntcp library; a C
//!   plugin cannot exist without raw pointers, so they are turned into slices and values
//!   at the boundary and nothing else here uses `unsafe`.
//!
//! Time is virtual: it moves only when packetdrill sleeps (`usleep`), reads the clock
//! (each `gettimeofday` advances it 1 µs, so packetdrill's final spin-wait before an
//! event ends), or waits for a packet the stack has not sent yet (`netdev_receive` jumps
//! to the stack's next deadline and runs its timers). Blocking calls (packetdrill makes
//! them on a second thread) wait on a condition variable until the stack's state lets
//! them finish; before the clock moves, every such waiter first re-checks (see
//! [`Shared::settle`]), and a call that waited and finished first reads its end time
//! (packetdrill's `end_syscall` asks `gettimeofday` right after the call returns), so
//! neither the order of events nor the times packetdrill records depend on thread
//! scheduling.
//!
//! What this crate does not do: IPv6, UDP, pipes and splice (they fail with
//! EOPNOTSUPP), Fast Open, zero-copy.

mod ffi;
pub mod host;
pub mod profile;

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;

use host::{Blocked, Host};
use tuntcp::time::{Duration, Instant};

/// The host behind a lock, and the condition blocked calls wait on.
pub struct Shared {
    host: Mutex<State>,
    cv: Condvar,
}

/// The host plus the bookkeeping of blocked callers.
pub struct State {
    pub host: Host,
    /// Bumped whenever the stack may have changed in a way a blocked call waits for.
    epoch: u64,
    /// Blocked callers: id -> the epoch they last checked their condition at.
    pub(crate) waiters: HashMap<u64, u64>,
    next_waiter: u64,
    /// Threads whose blocked call finished and that have not read the clock since: the
    /// clock does not move until they have (their end time is the time they finished).
    unread_end: Vec<ThreadId>,
}

impl Shared {
    pub fn new(flags: &str) -> Shared {
        Shared {
            host: Mutex::new(State {
                host: Host::new(profile::stack_config(flags)),
                epoch: 0,
                waiters: HashMap::new(),
                next_waiter: 0,
                unread_end: Vec::new(),
            }),
            cv: Condvar::new(),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.host.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A non-blocking call: runs `f`, then lets blocked callers re-check.
    pub fn call<T>(&self, f: impl FnOnce(&mut Host) -> T) -> T {
        let mut g = self.lock();
        let r = f(&mut g.host);
        g.epoch += 1;
        drop(g);
        self.cv.notify_all();
        r
    }

    /// A call that may block: `f` is tried until it is done; between tries the caller
    /// sleeps until the stack changes.
    pub fn block<T>(&self, mut f: impl FnMut(&mut Host) -> Blocked<T>) -> Result<T, host::Errno> {
        let mut g = self.lock();
        let id = g.next_waiter;
        g.next_waiter += 1;
        let mut waited = false;
        loop {
            if let Blocked::Done(r) = f(&mut g.host) {
                g.waiters.remove(&id);
                if waited {
                    // packetdrill's syscall thread reads its end time next (`end_syscall`);
                    // the other thread must not move the clock before it has.
                    g.unread_end.push(std::thread::current().id());
                }
                g.epoch += 1;
                drop(g);
                self.cv.notify_all();
                return r;
            }
            let e = g.epoch;
            g.waiters.insert(id, e);
            waited = true;
            self.cv.notify_all();
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits until every blocked caller has re-checked its condition since the last
    /// change, and every other thread whose blocked call finished has read its end time
    /// (bounded by one real second, so a bug cannot hang packetdrill).
    pub fn settle<'a>(&'a self, mut g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let me = std::thread::current().id();
        while g.waiters.values().any(|&seen| seen != g.epoch)
            || g.unread_end.iter().any(|&t| t != me)
        {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            g = self
                .cv
                .wait_timeout(g, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        g
    }

    /// Moves the clock to `t`, one timer deadline at a time, letting blocked callers
    /// react before each step.
    pub fn advance_to(&self, t: Instant) {
        let mut g = self.lock();
        for _ in 0..100_000 {
            g = self.settle(g);
            let now = g.host.now;
            match g.host.next_deadline() {
                Some(d) if d <= t => {
                    g.host.advance_to(d.max(now));
                    g.epoch += 1;
                    self.cv.notify_all();
                }
                _ => break,
            }
        }
        g.host.advance_to(t);
        g.epoch += 1;
        drop(g);
        self.cv.notify_all();
    }

    pub fn usleep(&self, usec: u64) {
        let t = self.lock().host.now + Duration::from_micros(usec);
        self.advance_to(t);
    }

    /// The virtual wall clock in µs; each read advances it 1 µs, except the first read
    /// by a thread whose blocked call just finished: that is its end time, unmoved.
    pub fn gettimeofday(&self) -> u64 {
        let me = std::thread::current().id();
        let mut g = self.lock();
        if let Some(i) = g.unread_end.iter().position(|&t| t == me) {
            g.unread_end.swap_remove(i);
            let wall = g.host.wall_usecs();
            drop(g);
            self.cv.notify_all();
            return wall;
        }
        drop(g);
        let t = self.lock().host.now + Duration::from_micros(1);
        self.advance_to(t);
        self.lock().host.wall_usecs()
    }

    /// The next packet the stack sends (and its time); when none is queued, time jumps to
    /// the stack's next deadline. `None` when the stack will never send anything.
    pub fn netdev_receive(&self) -> Option<(Vec<u8>, u64)> {
        for _ in 0..10_000 {
            let mut g = self.settle(self.lock());
            if let Some(p) = g.host.take_packet() {
                return Some(p);
            }
            let now = g.host.now;
            let next = g.host.next_deadline()?;
            drop(g);
            self.advance_to(next.max(now));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    //! The blocking path as packetdrill drives it: a call blocked on a second thread, the
    //! packets on the first.
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};
    use tuntcp::wire::{IpMeta, Segment, TcpFlags, TcpOptions};

    const PEER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40000);
    const US: SocketAddrV4 = SocketAddrV4::new(profile::LOCAL_IP, 8080);

    fn packet(flags: TcpFlags, seq: u32, ack: u32, mss: Option<u16>) -> Vec<u8> {
        let seg = Segment {
            src: PEER.into(),
            dst: US.into(),
            seq,
            ack,
            flags,
            window: 32792,
            urgent: 0,
            options: TcpOptions {
                mss,
                ..TcpOptions::default()
            },
            payload: &[],
            ip: IpMeta::default(),
        };
        let mut buf = vec![0; seg.buffer_len()];
        seg.emit(&mut buf).unwrap();
        buf
    }

    #[test]
    fn blocking_accept_returns_once_the_handshake_completes() {
        let s = std::sync::Arc::new(Shared::new(""));
        let fd = s
            .call(|h| h.socket(libc::AF_INET, libc::SOCK_STREAM, 0))
            .unwrap();
        s.call(|h| h.bind(fd, US)).unwrap();
        s.call(|h| h.listen(fd, 1)).unwrap();
        let s2 = s.clone();
        let accepter = std::thread::spawn(move || s2.block(|h| h.try_accept(fd)));
        // The accept is parked, not done, while the handshake is incomplete.
        s.usleep(100_000);
        s.call(|h| h.netdev_send(&packet(TcpFlags::SYN, 1000, 0, Some(1000))));
        let (synack, at) = s.netdev_receive().expect("SYN-ACK");
        let synack = Segment::parse(&synack).unwrap();
        assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(synack.ack, 1001);
        assert_eq!(at, s.lock().host.wall_usecs());
        assert!(!accepter.is_finished());
        s.call(|h| h.netdev_send(&packet(TcpFlags::ACK, 1001, synack.seq + 1, None)));
        let (nfd, remote) = accepter.join().unwrap().expect("accepted");
        assert_eq!(remote, PEER);
        assert_ne!(nfd, fd);
        // Nothing more to send, no timer: the stack will never send again.
        assert!(s.netdev_receive().is_none());
    }

    /// packetdrill's syscall thread reads the end time of a blocking call right after it
    /// returns while the main thread moves on to its next event; the clock waits for that
    /// read, so the recorded end time is when the call finished, however the threads run
    /// (it made `blocking/blocking-write` pass or fail by turns).
    #[test]
    fn a_finished_blocking_call_reads_its_end_time_before_the_clock_moves() {
        let s = std::sync::Arc::new(Shared::new(""));
        let fd = s
            .call(|h| h.socket(libc::AF_INET, libc::SOCK_STREAM, 0))
            .unwrap();
        s.call(|h| h.bind(fd, US)).unwrap();
        s.call(|h| h.listen(fd, 1)).unwrap();
        let s2 = s.clone();
        let accepter = std::thread::spawn(move || {
            let r = s2.block(|h| h.try_accept(fd));
            // The syscall thread is slow to read the clock (scheduling, a loaded machine).
            std::thread::sleep(std::time::Duration::from_millis(50));
            (r, s2.gettimeofday())
        });
        // As packetdrill's enqueue_system_call: go on once the call is parked.
        for _ in 0..10_000 {
            if !s.lock().waiters.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(s.lock().waiters.len(), 1, "the accept is parked");
        s.usleep(100_000);
        s.call(|h| h.netdev_send(&packet(TcpFlags::SYN, 1000, 0, Some(1000))));
        let (synack, _) = s.netdev_receive().expect("SYN-ACK");
        let synack = Segment::parse(&synack).unwrap();
        s.call(|h| h.netdev_send(&packet(TcpFlags::ACK, 1001, synack.seq + 1, None)));
        let finished = s.lock().host.wall_usecs();
        // The main thread's next event is 100 ms later: it must not move the clock before
        // the accept's end time was read.
        s.usleep(100_000);
        let (r, end) = accepter.join().unwrap();
        assert!(r.is_ok());
        assert_eq!(end, finished);
        assert_eq!(s.lock().host.wall_usecs(), finished + 100_000);
    }
}
