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
//! Handles are `Send + Sync` and keep their stack running (a temporary [`NetStack`] is
//! fine); `try_clone` shares one socket between handles. Blocking calls wait on the
//! runtime's condition variable and honour read/write timeouts; dropping the last handle
//! of a stream closes it like a socket (FIN, or RST if unread data is left: RFC 9293
//! SHLD-3; or as [`TcpStream::set_linger`] says). Errors map onto std's `io::ErrorKind`s
//! (`ConnectionRefused`, `ConnectionReset`, `TimedOut`, `AddrInUse`, `AddrNotAvailable`,
//! `BrokenPipe`, `WouldBlock` for timed-out and nonblocking calls, `NotConnected` after a
//! stop, `InvalidInput` for a local and a remote address of different families).
//!
//! Nonblocking handles implement `mio::event::Source`, so they can live in a user's own mio
//! loop (see `api/ready.rs` for how readiness is signalled).
//!
//! Addresses are `SocketAddr`s of either family (`10.66.0.2:80`, `[fd66::2]:80`).
//!
//! What this module does not do: nonblocking connect, IPv4-mapped IPv6 addresses.

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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod addr;
#[cfg(feature = "futures-io")]
pub mod futures_io;
mod pending;
mod ready;
#[cfg(feature = "tokio")]
pub mod tokio;
pub use addr::LocalAddr;
use addr::{each_addr, own_ip, own_port};
pub use pending::PendingConnection;
use ready::Readiness;

/// Everything `NetStack::tun` needs: the device and the stack's own settings.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// The TUN device: its name, the kernel's address on it, prefix and MTU.
    pub tun: TunConfig,
    /// The stack: its address, seed, limits and TCP settings (MTU and prefix come from
    /// `tun`).
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
///
/// The stack runs while the `NetStack` or any listener or stream made from it lives: a
/// temporary `NetStack` (`TcpListener::bind(&NetStack::tun(cfg)?, 80, 128)`) is fine.
/// [`NetStack::shutdown`] stops it at once whatever handles are left.
pub struct NetStack {
    runtime: Arc<Runtime>,
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

    /// Steps through segments from now on (`--step`, see [`Runtime::set_step`]).
    pub fn set_step(&self, ask: crate::runtime::AskFn) {
        self.runtime.set_step(ask)
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
            runtime: Arc::new(Runtime::start_with(
                Stack::new(cfg),
                dev,
                pcap,
                impair,
                service,
            )?),
        })
    }

    /// Busy polling, like `net.core.busy_poll` (see [`Shared::set_busy_poll`]).
    pub fn set_busy_poll(&self, d: std::time::Duration) {
        self.runtime.shared().set_busy_poll(d);
    }

    fn shared(&self) -> Arc<Shared> {
        self.runtime.shared().clone()
    }

    /// The stack's IPv4 address.
    pub fn local_addr(&self) -> Ipv4Addr {
        self.runtime.shared().lock().addr()
    }

    /// The stack's IPv6 address (`None`: IPv6 is off).
    pub fn local_addr6(&self) -> Option<Ipv6Addr> {
        self.runtime.shared().lock().addr6()
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
    /// (and end of stream if the peer had closed). Dropping the `NetStack` and the last
    /// handle made from it does the same. A second call does nothing.
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
/// runtime wakes it only when that connection or listener changed. With `refuse_stopped`,
/// a stopped stack is checked under the lock before `f` runs: a write that returns `Ok`
/// was queued before the stop began (the stop's last turn resets it, as a peer's RST
/// would), never after.
fn wait_for<R>(
    shared: &Shared,
    key: Touched,
    timeout: Option<Duration>,
    refuse_stopped: bool,
    mut f: impl FnMut(&mut Stack) -> Option<io::Result<R>>,
) -> io::Result<R> {
    // Deadlines use the runtime's clock (the one place that reads real time).
    let deadline = timeout.map(|t| shared.now() + TcpDuration::from(t));
    let mut guard = shared.lock();
    let cond = guard.waiter(key);
    loop {
        if refuse_stopped && shared.stopped() {
            return Err(stopped_error());
        }
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

/// A listening socket: passive opens on one port of the stack's addresses.
///
/// A listener bound to an IPv6 address takes IPv6 only; one bound to `[::]` takes both
/// families by default (as Linux with `net.ipv6.bindv6only=0`), or IPv6 only after
/// [`TcpListener::set_only_v6`]`(true)` (`IPV6_V6ONLY`). Deviation: one bound to `0.0.0.0`
/// or the stack's IPv4 address takes IPv6 too (the stack's listeners are per port, not per
/// address), where Linux would take IPv4 only.
///
/// Like `std::net::TcpListener`, but bound on a [`NetStack`]. The handle keeps the stack
/// running (see [`NetStack`]); dropping the last clone stops listening and resets the
/// connections not yet accepted.
///
/// ```no_run
/// use tuntcp::api::{NetConfig, NetStack, TcpListener};
///
/// // A temporary NetStack is fine: the listener keeps it running.
/// let listener = TcpListener::bind(&NetStack::tun(NetConfig::default())?, 0, 128)?;
/// println!("listening on {}", listener.local_addr()?); // an ephemeral port
/// let (stream, peer) = listener.accept()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    inner: Arc<ListenerInner>,
}

struct ListenerInner {
    shared: Arc<Shared>,
    port: u16,
    /// The address `local_addr` reports (the stack's in the family bound to).
    ip: IpAddr,
    /// How it was bound: IPv4 (a port alone, `0.0.0.0`, the IPv4 address, transparent),
    /// `[::]`, or the stack's IPv6 address.
    bound: Bound,
    /// `IPV6_V6ONLY` as set (false by default; see [`TcpListener::set_only_v6`]).
    only_v6: AtomicBool,
    nonblocking: AtomicBool,
    ready: Readiness,
    /// Keeps the stack running while the listener lives (dropped after `Drop::drop`).
    _rt: Arc<Runtime>,
}

impl TcpListener {
    /// Passive open on `addr` (a port, or an address as [`LocalAddr`] describes) with a
    /// listen backlog (capped like `somaxconn`). Port 0 takes a free ephemeral port:
    /// [`TcpListener::local_addr`] tells which. A port that already has a listener is
    /// `AddrInUse`.
    pub fn bind(net: &NetStack, addr: impl LocalAddr, backlog: usize) -> io::Result<TcpListener> {
        let shared = net.shared();
        if shared.stopped() {
            return Err(stopped_error());
        }
        let (port, ip, bound) = each_addr(addr.local_addrs()?, |a| {
            let port = own_port(&shared, a)?;
            // `[::]` with IPv6 off still listens (on IPv4) and reports `[::]`.
            let ip = own_ip(&shared, a).unwrap_or(a.ip());
            let mut g = shared.lock();
            if shared.stopped() {
                return Err(stopped_error());
            }
            let port = match port {
                0 => g.listen_ephemeral(backlog)?,
                p => g.listen(p, backlog).map(|()| p)?,
            };
            let bound = match a {
                SocketAddr::V4(_) => Bound::V4,
                SocketAddr::V6(a) if a.ip().is_unspecified() => Bound::AnyV6,
                SocketAddr::V6(_) => Bound::V6,
            };
            if bound == Bound::V6 {
                g.set_listen_v6only(port, true);
            }
            Ok((port, ip, bound))
        })?;
        Ok(TcpListener {
            inner: Arc::new(ListenerInner {
                shared,
                port,
                ip,
                bound,
                only_v6: AtomicBool::new(false),
                nonblocking: AtomicBool::new(false),
                ready: Readiness::default(),
                _rt: net.runtime.clone(),
            }),
        })
    }

    /// The transparent listener ([`Stack::listen_transparent`]): it accepts connections to
    /// any address and port inside the stack's [`StackConfig::transparent`] prefixes (both
    /// families) that are routed into the TUN; each accepted stream's
    /// [`TcpStream::local_addr`] is the destination the client asked for. Bounded like
    /// every listener (backlog, SYN queue, SYN cookies). One per stack (`AddrInUse`).
    ///
    /// ```no_run
    /// use tuntcp::api::{NetConfig, NetStack, TcpListener};
    /// let mut cfg = NetConfig::default();
    /// cfg.stack.transparent = vec!["198.51.100.0/24".parse().unwrap()];
    /// let net = NetStack::tun(cfg)?;
    /// let any = TcpListener::bind_transparent(&net, 1024)?;
    /// let (stream, client) = any.accept()?;
    /// println!("{client} asked for {}", stream.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_transparent(net: &NetStack, backlog: usize) -> io::Result<TcpListener> {
        let shared = net.shared();
        let mut g = shared.lock();
        if shared.stopped() {
            return Err(stopped_error());
        }
        g.listen_transparent(backlog)?;
        drop(g);
        Ok(TcpListener {
            inner: Arc::new(ListenerInner {
                shared,
                port: Stack::TRANSPARENT_PORT,
                // Any address: `local_addr` says 0.0.0.0:0 (each stream's says which).
                ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                bound: Bound::V4,
                only_v6: AtomicBool::new(false),
                nonblocking: AtomicBool::new(false),
                ready: Readiness::default(),
                _rt: net.runtime.clone(),
            }),
        })
    }

    /// Waits for the next established connection (or `WouldBlock` when nonblocking and
    /// none is ready).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let inner = &*self.inner;
        let port = inner.port;
        let h = if inner.nonblocking.load(Ordering::Relaxed) {
            if inner.shared.stopped() {
                return Err(stopped_error());
            }
            let mut h = inner.shared.lock().accept(port);
            // Nothing: empty the readiness pair, then look again (see `ready`).
            if h.is_none() && inner.ready.drain() {
                h = inner.shared.lock().accept(port);
            }
            inner.shared.wake();
            h.ok_or_else(|| io::Error::from(io::ErrorKind::WouldBlock))?
        } else {
            let key = Touched::Listener(port);
            wait_for(&inner.shared, key, None, true, |s| s.accept(port).map(Ok))?
        };
        let stream = TcpStream::from_handle(inner.shared.clone(), inner._rt.clone(), h);
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }

    /// An endless iterator over [`TcpListener::accept`]ed streams.
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<TcpStream>> + '_ {
        std::iter::from_fn(move || Some(self.accept().map(|(s, _)| s)))
    }

    /// The stack's address in the family bound to (IPv4 for a port alone) and the port
    /// listened on (the ephemeral one after a bind to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::new(self.inner.ip, self.inner.port))
    }

    /// Another handle on the same listener (as `dup`): options are shared, and the
    /// listener closes when the last handle is dropped.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: self.inner.clone(),
        })
    }

    /// Makes [`TcpListener::accept`] return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.inner.nonblocking.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Always `None`: a listener has no pending error (std's `take_error` parity).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(None)
    }

    /// `IPV6_V6ONLY` (socket2's `set_only_v6`): with `true`, a listener bound to `[::]`
    /// takes IPv6 connections only and IPv4 SYNs to its port are answered as for a closed
    /// port; with `false` (the default, as Linux's `net.ipv6.bindv6only=0`) it takes both
    /// families. A listener bound to the stack's IPv6 address takes IPv6 only either way
    /// (as on Linux). `InvalidInput` on an IPv4 listener (a port alone, `0.0.0.0`, the
    /// IPv4 address, transparent), where Linux answers `ENOPROTOOPT`.
    ///
    /// Deviation: Linux takes the option only before `bind` (`EINVAL` after); here the
    /// listener listens from `bind` on, so the option changes a live listener: IPv4
    /// connections already in its accept queue stay there.
    pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
        let inner = &*self.inner;
        if inner.bound == Bound::V4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "IPV6_V6ONLY on an IPv4 listener",
            ));
        }
        let mut g = inner.shared.lock();
        if inner.shared.stopped() {
            return Err(stopped_error());
        }
        inner.only_v6.store(only_v6, Ordering::Relaxed);
        g.set_listen_v6only(inner.port, only_v6 || inner.bound == Bound::V6);
        Ok(())
    }

    /// `IPV6_V6ONLY` as set with [`TcpListener::set_only_v6`] (false by default);
    /// `InvalidInput` on an IPv4 listener.
    pub fn only_v6(&self) -> io::Result<bool> {
        match self.inner.bound {
            Bound::V4 => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "IPV6_V6ONLY on an IPv4 listener",
            )),
            _ => Ok(self.inner.only_v6.load(Ordering::Relaxed)),
        }
    }
}

/// The address a listener was bound to, for `IPV6_V6ONLY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bound {
    /// A port alone, `0.0.0.0`, the stack's IPv4 address or the transparent listener.
    V4,
    /// `[::]`: both families unless `IPV6_V6ONLY`.
    AnyV6,
    /// The stack's IPv6 address: IPv6 only.
    V6,
}

impl Drop for ListenerInner {
    fn drop(&mut self) {
        let mut g = self.shared.lock();
        g.unlisten(self.port);
        g.forget(Touched::Listener(self.port));
        drop(g);
        self.shared.wake();
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("port", &self.inner.port)
            .finish()
    }
}

/// A TCP connection: `Read` and `Write` like `std::net::TcpStream` (also on `&TcpStream`).
///
/// Blocking by default, honouring the read/write timeouts; nonblocking calls return
/// `WouldBlock`. The handle keeps its [`NetStack`] running. Dropping the last clone closes
/// the connection like a socket: FIN, or RST if unread data is left (RFC 9293 SHLD-3) or
/// the linger time is zero ([`TcpStream::set_linger`]).
///
/// ```no_run
/// use std::io::{Read, Write};
/// use tuntcp::api::{NetConfig, NetStack, TcpStream};
///
/// let net = NetStack::tun(NetConfig::default())?;
/// let mut s = TcpStream::connect(&net, "10.66.0.1:80")?;
/// s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
/// let mut page = Vec::new();
/// s.read_to_end(&mut page)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    inner: Arc<StreamInner>,
}

struct StreamInner {
    shared: Arc<Shared>,
    h: SocketHandle,
    opts: Mutex<StreamOpts>,
    nonblocking: AtomicBool,
    ready: Readiness,
    /// Keeps the stack running while the stream lives (dropped after `Drop::drop`).
    _rt: Arc<Runtime>,
}

#[derive(Default)]
struct StreamOpts {
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    linger: Option<Duration>,
    /// The connection's error was returned by `take_error` once.
    error_taken: bool,
}

fn io_err(e: tcp::Error) -> io::Error {
    e.into()
}

/// std refuses a zero timeout (`InvalidInput`): it would mean "never wait" or "wait
/// forever" depending on the platform.
fn check_timeout(t: Option<Duration>) -> io::Result<()> {
    if t == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

impl TcpStream {
    fn from_handle(shared: Arc<Shared>, rt: Arc<Runtime>, h: SocketHandle) -> TcpStream {
        TcpStream {
            inner: Arc::new(StreamInner {
                shared,
                h,
                opts: Mutex::new(StreamOpts::default()),
                nonblocking: AtomicBool::new(false),
                ready: Readiness::default(),
                _rt: rt,
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn opts(&self) -> std::sync::MutexGuard<'_, StreamOpts> {
        self.inner.opts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Active open to `addr` (any `ToSocketAddrs`, either family; each address is tried in
    /// turn, as std does); waits for the handshake. Refused (`ConnectionRefused`), timed
    /// out (`TimedOut`) and unreachable are errors; an IPv6 peer with IPv6 off is
    /// `AddrNotAvailable`.
    pub fn connect(net: &NetStack, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        TcpStream::connect_timeout(net, addr, None)
    }

    /// [`TcpStream::connect`] that gives up with `TimedOut` after `timeout` (`None`: the
    /// stack's own SYN retries decide).
    pub fn connect_timeout(
        net: &NetStack,
        addr: impl ToSocketAddrs,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        each_addr(addr.to_socket_addrs()?, |a| {
            TcpStream::open(net, None, a, timeout)
        })
    }

    /// Bind-before-connect: active open from `local` (the stack's address or unspecified;
    /// port 0 takes an ephemeral port) to `remote`. A 4-tuple already in use is
    /// `AddrInUse`; `local` and `remote` of different families are `InvalidInput`
    /// (`[::]` included: no IPv4-mapped addresses).
    pub fn connect_from(
        net: &NetStack,
        local: impl LocalAddr,
        remote: impl ToSocketAddrs,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let shared = net.shared();
        let locals = local.local_addrs()?;
        let remotes: Vec<SocketAddr> = remote.to_socket_addrs()?.collect();
        each_addr(locals, |l| {
            let port = own_port(&shared, l)?;
            each_addr(remotes.iter().copied(), |r| {
                if l.is_ipv4() != r.is_ipv4() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{l} and {r} are not of the same family"),
                    ));
                }
                let l = SocketAddr::new(own_ip(&shared, r)?, port);
                TcpStream::open(net, Some(l), r, timeout)
            })
        })
    }

    fn open(
        net: &NetStack,
        local: Option<SocketAddr>,
        addr: SocketAddr,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let stream = TcpStream::open_start(net, local, addr)?;
        let h = stream.inner.h;
        wait_for(stream.shared(), Touched::Conn(h), timeout, true, |s| {
            handshake(s, h)
        })?;
        Ok(stream)
    }

    /// Active open without waiting: the SYN is queued; [`handshake`] says when it is done.
    fn open_start(
        net: &NetStack,
        local: Option<SocketAddr>,
        addr: SocketAddr,
    ) -> io::Result<TcpStream> {
        let shared = net.shared();
        let h = {
            let mut s = shared.lock();
            if shared.stopped() {
                return Err(stopped_error());
            }
            let now = shared.now();
            s.connect_from(now, local, addr)?
        };
        shared.wake();
        Ok(TcpStream::from_handle(shared, net.runtime.clone(), h))
    }

    /// The peer's address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.with(|c| c.remote())
    }

    /// The stack's address and this connection's port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.with(|c| c.local())
    }

    fn with<R>(&self, f: impl FnOnce(&tcp::Connection) -> R) -> io::Result<R> {
        let s = self.shared().lock();
        s.connection(self.inner.h)
            .map(f)
            .ok_or_else(|| io_err(tcp::Error::NotConnected))
    }

    fn with_mut<R>(&self, f: impl FnOnce(&mut tcp::Connection) -> R) -> io::Result<R> {
        if self.shared().stopped() {
            return Err(stopped_error());
        }
        let r = self.shared().lock().with_connection(self.inner.h, f);
        self.shared().wake();
        r.ok_or_else(|| io_err(tcp::Error::NotConnected))
    }

    /// Another handle on the same connection (as `dup`): reads and writes from either go
    /// to the one connection, options (timeouts, nonblocking, linger) are shared, and the
    /// connection closes when the last handle is dropped.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.clone(),
        })
    }

    /// Shuts down one or both halves. `Write`: a FIN after the queued data; later writes
    /// fail with `BrokenPipe`. `Read`: nothing is sent; reads return end of stream (0) at
    /// once, and data received (queued or arriving later) is acknowledged and dropped
    /// (see [`Stack::shutdown_read`], which says how that differs from Linux). `Both`:
    /// the two.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if self.shared().stopped() {
            return Err(stopped_error());
        }
        let h = self.inner.h;
        let r = {
            let mut g = self.shared().lock();
            if g.connection(h).is_none() {
                None
            } else {
                if matches!(how, Shutdown::Read | Shutdown::Both) {
                    g.shutdown_read(h);
                }
                if matches!(how, Shutdown::Write | Shutdown::Both) {
                    g.shutdown_write(h);
                }
                Some(())
            }
        };
        self.shared().wake();
        r.ok_or_else(|| io_err(tcp::Error::NotConnected))
    }

    /// Disables Nagle's algorithm (RFC 9293 MUST-17).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.with_mut(|c| c.set_nodelay(on))
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.with(|c| c.nodelay())
    }

    /// Holds writes shorter than a segment until uncorked (or one RTO with nothing in
    /// flight), like `TCP_CORK`; see `tcp::Connection::set_cork`.
    pub fn set_cork(&self, on: bool) -> io::Result<()> {
        self.with_mut(|c| c.set_cork(on))
    }

    /// Whether the stream is corked (`TCP_CORK`).
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
        let now = self.shared().now();
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

    /// The IP time-to-live of the packets this connection sends, like `IP_TTL`.
    pub fn set_ttl(&self, ttl: u8) -> io::Result<()> {
        self.with_mut(|c| c.set_ttl(ttl))
    }

    /// How long a blocking read waits before it fails with `WouldBlock` (as std on Unix);
    /// `None` waits forever. A zero duration is `InvalidInput`, as in std. Shared by the
    /// clones of this stream.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        check_timeout(t)?;
        self.opts().read_timeout = t;
        Ok(())
    }

    /// The read timeout ([`TcpStream::set_read_timeout`]).
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.opts().read_timeout)
    }

    /// How long a blocking write waits for room in the send buffer before it fails with
    /// `WouldBlock`; as [`TcpStream::set_read_timeout`].
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        check_timeout(t)?;
        self.opts().write_timeout = t;
        Ok(())
    }

    /// The write timeout ([`TcpStream::set_write_timeout`]).
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.opts().write_timeout)
    }

    /// Makes reads, writes and peeks return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.inner.nonblocking.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// `SO_LINGER`: what dropping the last handle does. `None` (the default): close in the
    /// background (FIN after the queued data). `Some(Duration::ZERO)`: abortive close, a
    /// RST at once and the send queue discarded (RFC 9293 §3.10.5 ABORT). `Some(t)`: the
    /// drop waits up to `t` for the queued data and our FIN to be acknowledged, then
    /// returns; the close goes on in the background either way (as Linux).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.opts().linger = linger;
        Ok(())
    }

    /// The linger setting ([`TcpStream::set_linger`]).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(self.opts().linger)
    }

    /// The connection's error (`SO_ERROR`), once: reset, refused, timed out or aborted;
    /// later calls return `None`. Reads and writes keep failing with it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let e = match self.with(|c| c.error()) {
            Ok(e) => e,
            // A stopped stack may already have freed the connection.
            Err(_) if self.shared().stopped() => Some(tcp::Error::Aborted),
            Err(e) => return Err(e),
        };
        let mut o = self.opts();
        match e {
            Some(e) if !o.error_taken => {
                o.error_taken = true;
                Ok(Some(if self.shared().stopped() {
                    stopped_error()
                } else {
                    io_err(e)
                }))
            }
            _ => Ok(None),
        }
    }

    /// Reads like [`Read::read`] without taking the data: the next read returns the same
    /// bytes. Waits like a read (timeout, nonblocking); may return fewer bytes than are
    /// queued (one contiguous part of the receive buffer).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let h = self.inner.h;
        let timeout = self.opts().read_timeout;
        self.blocking(timeout, false, |s| peek_once(s, h, buf))
    }

    /// Bytes received and not read (`ss` Recv-Q) and queued unacknowledged (Send-Q).
    pub fn queues(&self) -> io::Result<(usize, usize)> {
        self.with(|c| (c.recv_queue(), c.send_queue()))
    }

    fn blocking<R>(
        &self,
        timeout: Option<Duration>,
        write: bool,
        mut f: impl FnMut(&mut Stack) -> Result<R, tcp::Error>,
    ) -> io::Result<R> {
        let shared = self.shared();
        // A connection the stop aborted says so.
        let err = |e: tcp::Error| match e {
            tcp::Error::Aborted if shared.stopped() => stopped_error(),
            e => io_err(e),
        };
        if self.inner.nonblocking.load(Ordering::Relaxed) {
            let mut once = || {
                let mut g = shared.lock();
                if write && shared.stopped() {
                    return Err(tcp::Error::Aborted);
                }
                let r = f(&mut g.stack);
                drop(g);
                shared.wake();
                r
            };
            let mut r = once();
            // Nothing to do: empty the readiness pair (not under the stack lock: `ready`
            // takes its own lock first), then look again.
            if matches!(r, Err(tcp::Error::WouldBlock)) && self.inner.ready.drain() {
                r = once();
            }
            return r.map_err(err);
        }
        wait_for(
            shared,
            Touched::Conn(self.inner.h),
            timeout,
            write,
            |s| match f(s) {
                Err(tcp::Error::WouldBlock) => None,
                r => Some(r.map_err(err)),
            },
        )
        .map_err(|e| {
            if e.kind() == io::ErrorKind::TimedOut && timeout.is_some() {
                io::Error::new(io::ErrorKind::WouldBlock, "timed out")
            } else {
                e
            }
        })
    }

    fn read_impl(&self, buf: &mut [u8]) -> io::Result<usize> {
        let h = self.inner.h;
        let timeout = self.opts().read_timeout;
        self.blocking(timeout, false, |s| recv_once(s, h, buf))
    }

    fn write_impl(&self, buf: &[u8]) -> io::Result<usize> {
        let h = self.inner.h;
        let timeout = self.opts().write_timeout;
        self.blocking(timeout, true, |s| s.send(h, buf))
    }
}

/// Whether `h`'s handshake is over: `None` while in progress, then its outcome.
fn handshake(s: &mut Stack, h: SocketHandle) -> Option<io::Result<()>> {
    let c = s.connection(h)?;
    match (c.state(), c.error()) {
        (_, Some(e)) => Some(Err(io_err(e))),
        (State::SynSent | State::SynReceived, None) => None,
        _ => Some(Ok(())),
    }
}

/// One read: end of stream after `Shutdown::Read`; after an abort (the stack stopped) a
/// connection whose peer had closed cleanly still reads as end of stream once its data is
/// read.
fn recv_once(s: &mut Stack, h: SocketHandle, buf: &mut [u8]) -> Result<usize, tcp::Error> {
    if s.is_read_shut(h) {
        return Ok(0);
    }
    match s.recv(h, buf) {
        Err(tcp::Error::Aborted) if s.connection(h).is_some_and(|c| c.at_eof()) => Ok(0),
        r => r,
    }
}

/// One peek: [`recv_once`] that copies without consuming.
fn peek_once(s: &mut Stack, h: SocketHandle, buf: &mut [u8]) -> Result<usize, tcp::Error> {
    if s.is_read_shut(h) || buf.is_empty() {
        return Ok(0);
    }
    let mut n = 0;
    let r = s
        .with_connection(h, |c| {
            c.recv_with(|data| {
                n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                0
            })
        })
        .unwrap_or(Err(tcp::Error::NotConnected));
    match r {
        Ok(_) => Ok(n),
        Err(tcp::Error::Aborted) if s.connection(h).is_some_and(|c| c.at_eof()) => Ok(0),
        Err(e) => Err(e),
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        d.finish()
    }
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        let h = self.h;
        let linger = self.opts.get_mut().map_or(None, |o| o.linger);
        if let Some(d) = linger.filter(|d| !d.is_zero()) {
            // SO_LINGER: the FIN goes out now and the drop waits (up to `d`) for it to be
            // acknowledged, the handle still held so the runtime wakes us; then the close
            // below finds FIN-WAIT-2 or TIME-WAIT (or, timed out, carries on alone).
            let unread = self.shared.lock().connection(h).map(|c| c.recv_queue());
            if unread == Some(0) && !self.shared.stopped() {
                self.shared.lock().shutdown_write(h);
                self.shared.wake();
                let _ = wait_for(&self.shared, Touched::Conn(h), Some(d), true, |s| {
                    let busy = s.connection(h).is_some_and(|c| {
                        matches!(
                            c.state(),
                            State::Established
                                | State::CloseWait
                                | State::FinWait1
                                | State::Closing
                                | State::LastAck
                        )
                    });
                    (!busy).then_some(Ok(()))
                });
            }
        }
        let mut g = self.shared.lock();
        match linger {
            Some(d) if d.is_zero() => g.abort(h),
            _ => g.close(h),
        }
        g.forget(Touched::Conn(h));
        drop(g);
        self.shared.wake();
    }
}

/// Connections put aside until they have something to say: a server thread hands an idle
/// keep-alive stream here instead of blocking on it, and a dispatcher takes back the ones
/// that became readable (data, FIN or RST arrived). Idle connections then cost no thread.
pub struct Parking {
    shared: Arc<Shared>,
    /// Keeps the stack running while parked streams wait.
    _rt: Arc<Runtime>,
    streams: std::sync::Mutex<std::collections::HashMap<SocketHandle, TcpStream>>,
}

impl Parking {
    /// An empty parking for `net`'s streams.
    pub fn new(net: &NetStack) -> Parking {
        Parking {
            shared: net.shared(),
            _rt: net.runtime.clone(),
            streams: Default::default(),
        }
    }

    /// Parks `s` until its connection changes; returns it at once if it already has
    /// something to read (or an error or end of stream to report).
    pub fn park(&self, s: TcpStream) -> Option<TcpStream> {
        let mut g = self.shared.lock();
        let ready = g
            .connection(s.inner.h)
            .is_none_or(|c| c.recv_queue() > 0 || c.at_eof() || c.error().is_some());
        if ready {
            return Some(s);
        }
        g.park(Touched::Conn(s.inner.h));
        // Lock order: the stack, then the map (as in `wait`).
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.inner.h, s);
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

    /// No connection is parked.
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
