//! A socket-like API in the spirit of `std::net`, over a stack run by the [`Runtime`].
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use tuntcp::api::{NetStack, TcpListener};
//!
//! let net = NetStack::tun(Default::default()).unwrap();
//! let listener = TcpListener::bind(&net, 7, 128).unwrap();
//! for stream in listener.incoming() {
//!     let mut s = stream.unwrap();
//!     std::thread::spawn(move || {
//!         let mut buf = [0u8; 4096];
//!         while let Ok(n) = s.read(&mut buf) {
//!             if n == 0 || s.write_all(&buf[..n]).is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! ```
//!
//! Handles are `Send + Sync`; blocking calls wait on the runtime's condition variable and
//! honour read/write timeouts; dropping a stream closes it like a socket (FIN, or RST if
//! unread data is left: RFC 9293 SHLD-3). Errors map onto `io::ErrorKind`
//! (`ConnectionRefused`, `ConnectionReset`, `TimedOut`, `AddrInUse`, `AddrNotAvailable`,
//! `BrokenPipe`, `WouldBlock` for non-blocking streams).

use crate::device::impair::ImpairConfig;
use crate::device::tun::{Tun, TunConfig};
use crate::device::Device;
use crate::runtime::{Runtime, Shared};
use crate::service::Service;
use crate::stack::{SocketHandle, Stack, StackConfig, Touched};
use crate::tcp::{self, State};
use crate::time::Duration as TcpDuration;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

/// Everything `NetStack::tun` needs: the device and the stack's own settings.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub tun: TunConfig,
    pub stack: StackConfig,
    /// Record every packet in and out to this pcap file.
    pub pcap: Option<std::path::PathBuf>,
    /// Seeded loss/delay/reorder/duplication/corruption between the device and the stack.
    pub impair: Option<ImpairConfig>,
    /// Write a sender-state trace to this file (JSON lines, see [`crate::trace`]).
    pub trace: Option<std::path::PathBuf>,
}

impl Default for NetConfig {
    fn default() -> NetConfig {
        NetConfig {
            tun: TunConfig {
                name: "tun0".into(),
                host_addr: Ipv4Addr::new(10, 66, 0, 1),
                prefix_len: 24,
                host_addr6: Some((std::net::Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 1), 64)),
                mtu: 1500,
                offload: true,
            },
            // Its seed comes from the OS: secrets unguessable unless fixed on request.
            stack: StackConfig::default(),
            pcap: None,
            impair: None,
            trace: None,
        }
    }
}

/// The OS seed [`StackConfig::default`] uses (see [`crate::seed`]).
pub use crate::seed::random_seed;

/// A running stack: the runtime thread plus the handle API calls go through.
pub struct NetStack {
    runtime: Runtime,
}

impl NetStack {
    /// Creates and configures the TUN device and starts the stack on it.
    pub fn tun(cfg: NetConfig) -> io::Result<NetStack> {
        NetStack::tun_with(cfg, None)
    }

    /// [`NetStack::tun`] with an in-loop [`Service`] run by the runtime thread.
    pub fn tun_with(cfg: NetConfig, service: Option<Box<dyn Service>>) -> io::Result<NetStack> {
        let mut tun = cfg.tun.clone();
        // Decision: impairment drops, delays or corrupts whole packets, and a 64 KB
        // super-segment is not a packet any real link carries: offloads off under --impair.
        tun.offload &= cfg.impair.is_none();
        let dev = Tun::open(&tun)?;
        let mut stack_cfg = cfg.stack;
        stack_cfg.mtu = cfg.tun.mtu;
        stack_cfg.prefix_len = cfg.tun.prefix_len;
        let pcap = match &cfg.pcap {
            Some(p) => Some(File::create(p).map_err(|e| {
                io::Error::new(e.kind(), format!("pcap file {}: {e}", p.display()))
            })?),
            None => None,
        };
        let trace = match &cfg.trace {
            Some(p) => Some(File::create(p).map_err(|e| {
                io::Error::new(e.kind(), format!("trace file {}: {e}", p.display()))
            })?),
            None => None,
        };
        let net = NetStack::with_device_and(Box::new(dev), stack_cfg, pcap, cfg.impair, service)?;
        if let Some(f) = trace {
            net.set_trace(Box::new(io::BufWriter::new(f)))?;
        }
        Ok(net)
    }

    /// Writes a sender-state trace to `out` from now on (see [`Runtime::set_trace`]).
    pub fn set_trace(&self, out: Box<dyn io::Write + Send>) -> io::Result<()> {
        self.runtime.set_trace(out)
    }

    /// Starts the stack on any device.
    pub fn with_device(
        dev: Box<dyn Device>,
        cfg: StackConfig,
        pcap: Option<File>,
        impair: Option<ImpairConfig>,
    ) -> io::Result<NetStack> {
        NetStack::with_device_and(dev, cfg, pcap, impair, None)
    }

    /// [`NetStack::with_device`] with an in-loop [`Service`].
    pub fn with_device_and(
        dev: Box<dyn Device>,
        cfg: StackConfig,
        pcap: Option<File>,
        impair: Option<ImpairConfig>,
        service: Option<Box<dyn Service>>,
    ) -> io::Result<NetStack> {
        let mut cfg = cfg;
        cfg.offload = dev.offload();
        if cfg.offload && impair.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "impairment needs a device without offloads",
            ));
        }
        Ok(NetStack {
            runtime: Runtime::start_with(Stack::new(cfg), dev, pcap, impair, service)?,
        })
    }

    /// Busy polling, like `net.core.busy_poll` (see [`Shared::set_busy_poll`]).
    pub fn set_busy_poll(&self, d: std::time::Duration) {
        self.runtime.shared().set_busy_poll(d);
    }

    fn shared(&self) -> Arc<Shared> {
        self.runtime.shared().clone()
    }

    pub fn local_addr(&self) -> Ipv4Addr {
        self.runtime.shared().lock().addr()
    }

    /// The stack's clock now (what its `handle_*` calls are given), for reports that say
    /// how long ago something happened.
    pub fn now(&self) -> crate::time::Instant {
        self.runtime.shared().now()
    }

    /// Runs `f` with the stack locked (for `ss`-like views and counters).
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        let shared = self.runtime.shared();
        let r = f(&mut shared.lock().stack);
        shared.wake();
        r
    }

    /// Stops the stack: listeners closed, every connection reset (a RST to each peer,
    /// written to the device before the runtime thread ends), the thread stopped. Then
    /// blocked calls wake with an error and every call on a stream or listener fails
    /// (`NotConnected`, "the stack was stopped"), except reads of data already received
    /// (and end of stream if the peer had closed). Dropping the `NetStack` does the same.
    /// A second call does nothing.
    pub fn shutdown(&self) -> io::Result<()> {
        self.runtime.stop()
    }

    /// Stops gracefully: closes every listener at once (new SYNs get RST as to a closed
    /// port), lets the connections in progress run until they have all closed (CLOSED or
    /// TIME-WAIT) or `timeout` has passed, then [`NetStack::shutdown`] (which resets what
    /// is left). Returns how many connections were still open at the deadline.
    pub fn shutdown_graceful(&self, timeout: Duration) -> io::Result<usize> {
        let shared = self.runtime.shared();
        let deadline = shared.now() + TcpDuration::from(timeout);
        shared.lock().unlisten_all();
        shared.wake();
        let left = loop {
            let active = shared.lock().active_connections();
            if active == 0 || shared.stopped() || shared.now() >= deadline {
                break active;
            }
            // A coarse poll: this waits seconds, not microseconds.
            std::thread::sleep(Duration::from_millis(20));
        };
        self.shutdown()?;
        Ok(left)
    }

    /// Whether the stack was stopped ([`NetStack::shutdown`], drop, or a device error).
    pub fn is_stopped(&self) -> bool {
        self.runtime.shared().stopped()
    }
}

/// What every call returns once the stack was stopped.
fn stopped_error() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the stack was stopped")
}

/// Waits on `key`'s condition variable until `f` gives an answer or `timeout` passes. The
/// runtime wakes it only when that connection or listener changed.
fn wait_for<R>(
    shared: &Shared,
    key: Touched,
    timeout: Option<Duration>,
    mut f: impl FnMut(&mut Stack) -> Option<io::Result<R>>,
) -> io::Result<R> {
    // Deadlines use the runtime's clock (the one place that reads real time).
    let deadline = timeout.map(|t| shared.now() + TcpDuration::from(t));
    let mut guard = shared.lock();
    let cond = guard.waiter(key);
    loop {
        let r = f(&mut guard.stack);
        if guard.has_pending_output() {
            shared.wake();
        }
        if let Some(r) = r {
            return r;
        }
        if shared.stopped() {
            return Err(stopped_error());
        }
        guard = match deadline {
            None => cond.wait(guard).unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                let left: Duration = d.saturating_since(shared.now()).into();
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
                }
                cond.wait_timeout(guard, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
}

pub struct TcpListener {
    shared: Arc<Shared>,
    port: u16,
}

impl TcpListener {
    /// Passive open on `port` with a listen backlog (capped like `somaxconn`).
    pub fn bind(net: &NetStack, port: u16, backlog: usize) -> io::Result<TcpListener> {
        let shared = net.shared();
        if shared.stopped() {
            return Err(stopped_error());
        }
        shared.lock().listen(port, backlog)?;
        Ok(TcpListener { shared, port })
    }

    /// Waits for the next established connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let key = Touched::Listener(self.port);
        let h = wait_for(&self.shared, key, None, |s| s.accept(self.port).map(Ok))?;
        let stream = TcpStream::from_handle(self.shared.clone(), h);
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }

    pub fn incoming(&self) -> impl Iterator<Item = io::Result<TcpStream>> + '_ {
        std::iter::from_fn(move || Some(self.accept().map(|(s, _)| s)))
    }

    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.shared.lock().addr(), self.port))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let mut g = self.shared.lock();
        g.unlisten(self.port);
        g.forget(Touched::Listener(self.port));
        drop(g);
        self.shared.wake();
    }
}

pub struct TcpStream {
    shared: Arc<Shared>,
    h: SocketHandle,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    nonblocking: bool,
}

fn io_err(e: tcp::Error) -> io::Error {
    e.into()
}

impl TcpStream {
    fn from_handle(shared: Arc<Shared>, h: SocketHandle) -> TcpStream {
        TcpStream {
            shared,
            h,
            read_timeout: None,
            write_timeout: None,
            nonblocking: false,
        }
    }

    /// Active open; waits for the handshake (refused, timed out and unreachable are errors).
    pub fn connect(net: &NetStack, addr: SocketAddrV4) -> io::Result<TcpStream> {
        TcpStream::connect_timeout(net, addr, None)
    }

    pub fn connect_timeout(
        net: &NetStack,
        addr: SocketAddrV4,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let shared = net.shared();
        if shared.stopped() {
            return Err(stopped_error());
        }
        let h = {
            let mut s = shared.lock();
            let now = shared.now();
            s.connect(now, addr)?
        };
        let stream = TcpStream::from_handle(shared.clone(), h);
        wait_for(&shared, Touched::Conn(h), timeout, |s| {
            let c = s.connection(h)?;
            match (c.state(), c.error()) {
                (_, Some(e)) => Some(Err(io_err(e))),
                (State::SynSent | State::SynReceived, None) => None,
                _ => Some(Ok(())),
            }
        })?;
        Ok(stream)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.with(|c| c.remote())
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.with(|c| c.local())
    }

    fn with<R>(&self, f: impl FnOnce(&tcp::Connection) -> R) -> io::Result<R> {
        let s = self.shared.lock();
        s.connection(self.h)
            .map(f)
            .ok_or_else(|| io_err(tcp::Error::NotConnected))
    }

    fn with_mut<R>(&self, f: impl FnOnce(&mut tcp::Connection) -> R) -> io::Result<R> {
        if self.shared.stopped() {
            return Err(stopped_error());
        }
        let r = self.shared.lock().with_connection(self.h, f);
        self.shared.wake();
        r.ok_or_else(|| io_err(tcp::Error::NotConnected))
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match how {
            Shutdown::Read => Ok(()), // nothing to tell the peer; unread data stays
            Shutdown::Write | Shutdown::Both => self.with_mut(|c| c.shutdown_write()),
        }
    }

    /// Disables Nagle's algorithm (RFC 9293 MUST-17).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.with_mut(|c| c.set_nodelay(on))
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        self.with(|c| c.nodelay())
    }

    /// Holds writes shorter than a segment until uncorked (or one RTO with nothing in
    /// flight), like `TCP_CORK`; see `tcp::Connection::set_cork`.
    pub fn set_cork(&self, on: bool) -> io::Result<()> {
        self.with_mut(|c| c.set_cork(on))
    }

    pub fn cork(&self) -> io::Result<bool> {
        self.with(|c| c.cork())
    }

    /// Keep-alive after `idle` (None turns it off), like `SO_KEEPALIVE` + `TCP_KEEPIDLE`.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        // Linux refuses TCP_KEEPIDLE < 1 s (EINVAL); a zero idle time would mean a probe
        // due at every instant.
        if idle.is_some_and(|d| d < Duration::from_secs(1)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "keep-alive idle time must be at least 1 s (as TCP_KEEPIDLE)",
            ));
        }
        self.with_mut(|c| match idle {
            Some(d) => {
                c.set_keepalive_times(d.into(), TcpDuration::from_secs(75), 9);
                c.set_keepalive(true);
            }
            None => c.set_keepalive(false),
        })
    }

    /// The congestion controller for this connection, like `TCP_CONGESTION`.
    pub fn set_congestion(&self, alg: crate::tcp::congestion::Algorithm) -> io::Result<()> {
        let now = self.shared.now();
        self.with_mut(|c| c.set_congestion(now, alg))
    }

    /// Like `SO_SNDBUF`.
    pub fn set_send_buffer_size(&self, n: usize) -> io::Result<()> {
        self.with_mut(|c| c.set_send_buffer(n))
    }

    /// Like `SO_RCVBUF` (the window scale was fixed at the handshake).
    pub fn set_recv_buffer_size(&self, n: usize) -> io::Result<()> {
        self.with_mut(|c| c.set_recv_buffer(n))
    }

    pub fn set_ttl(&self, ttl: u8) -> io::Result<()> {
        self.with_mut(|c| c.set_ttl(ttl))
    }

    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.read_timeout = t;
        Ok(())
    }

    pub fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.write_timeout = t;
        Ok(())
    }

    pub fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        self.nonblocking = on;
        Ok(())
    }

    /// Bytes received and not read (`ss` Recv-Q) and queued unacknowledged (Send-Q).
    pub fn queues(&self) -> io::Result<(usize, usize)> {
        self.with(|c| (c.recv_queue(), c.send_queue()))
    }

    fn blocking<R>(
        &self,
        timeout: Option<Duration>,
        mut f: impl FnMut(&mut Stack) -> Result<R, tcp::Error>,
    ) -> io::Result<R> {
        // A connection the stop aborted says so.
        let err = |e: tcp::Error| match e {
            tcp::Error::Aborted if self.shared.stopped() => stopped_error(),
            e => io_err(e),
        };
        if self.nonblocking {
            let r = f(&mut self.shared.lock().stack).map_err(err);
            self.shared.wake();
            return r;
        }
        wait_for(&self.shared, Touched::Conn(self.h), timeout, |s| {
            match f(s) {
                Err(tcp::Error::WouldBlock) => None,
                r => Some(r.map_err(err)),
            }
        })
        .map_err(|e| {
            if e.kind() == io::ErrorKind::TimedOut && timeout.is_some() {
                io::Error::new(io::ErrorKind::WouldBlock, "timed out")
            } else {
                e
            }
        })
    }
}

/// One read: after an abort (the stack stopped) a connection whose peer had closed cleanly
/// still reads as end of stream once its data is read.
fn recv_once(s: &mut Stack, h: SocketHandle, buf: &mut [u8]) -> Result<usize, tcp::Error> {
    match s.recv(h, buf) {
        Err(tcp::Error::Aborted) if s.connection(h).is_some_and(|c| c.at_eof()) => Ok(0),
        r => r,
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let h = self.h;
        self.blocking(self.read_timeout, |s| recv_once(s, h, buf))
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let h = self.h;
        self.blocking(self.write_timeout, |s| s.send(h, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let h = self.h;
        self.blocking(self.read_timeout, |s| recv_once(s, h, buf))
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let h = self.h;
        self.blocking(self.write_timeout, |s| s.send(h, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let mut g = self.shared.lock();
        g.close(self.h);
        g.forget(Touched::Conn(self.h));
        drop(g);
        self.shared.wake();
    }
}

/// Connections put aside until they have something to say: a server thread hands an idle
/// keep-alive stream here instead of blocking on it, and a dispatcher takes back the ones
/// that became readable (data, FIN or RST arrived). Idle connections then cost no thread.
pub struct Parking {
    shared: Arc<Shared>,
    streams: std::sync::Mutex<std::collections::HashMap<SocketHandle, TcpStream>>,
}

impl Parking {
    pub fn new(net: &NetStack) -> Parking {
        Parking {
            shared: net.shared(),
            streams: Default::default(),
        }
    }

    /// Parks `s` until its connection changes; returns it at once if it already has
    /// something to read (or an error or end of stream to report).
    pub fn park(&self, s: TcpStream) -> Option<TcpStream> {
        let mut g = self.shared.lock();
        let ready = g
            .connection(s.h)
            .is_none_or(|c| c.recv_queue() > 0 || c.at_eof() || c.error().is_some());
        if ready {
            return Some(s);
        }
        g.park(Touched::Conn(s.h));
        // Lock order: the stack, then the map (as in `wait`).
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.h, s);
        None
    }

    /// Waits until some parked connections are ready and returns them.
    pub fn wait(&self) -> Vec<TcpStream> {
        let mut g = self.shared.lock();
        let cond = g.park_cond.clone();
        while g.parked_ready.is_empty() && !self.shared.stopped() {
            g = cond.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        let keys: Vec<Touched> = g.parked_ready.drain(..).collect();
        let mut map = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        keys.into_iter()
            .filter_map(|k| match k {
                Touched::Conn(h) => map.remove(&h),
                Touched::Listener(_) => None,
            })
            .collect()
    }

    /// Connections parked now.
    pub fn len(&self) -> usize {
        self.streams.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        send_sync::<NetStack>();
        send_sync::<TcpListener>();
        send_sync::<TcpStream>();
    }
}
