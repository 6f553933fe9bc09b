//! The socket layer packetdrill talks to, in safe Rust: file descriptors over one
//! [`Stack`], a virtual clock, and the queue of packets the stack sent.
//!
//! Every call takes `&mut Host` (the caller holds the lock) and returns `Ok(value)` or
//! `Err(errno)` with Linux's errno for that case. Blocking calls are written as a
//! `try_*` that returns [`Blocked::Wait`] when Linux would sleep; [`crate::Shared`]
//! turns that into a wait on the stack.
//!
//! What this module does not do: touch a pointer (that is `ffi`), or read a real clock.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

use tuntcp::stack::{OpenError, SocketHandle, Stack, StackConfig};
use tuntcp::tcp::{self, Event, State};
use tuntcp::time::{Duration, Instant};

use crate::profile;

mod epoll;
mod tstamp;

/// Linux's errno values (the ABI packetdrill compares against).
pub type Errno = i32;

/// What a would-block call does next.
pub enum Blocked<T> {
    Done(Result<T, Errno>),
    /// Linux would sleep: wait for the stack to change, then try again.
    Wait,
}

/// The virtual clock starts here (seconds since the epoch) so that `gettimeofday` looks
/// like a wall clock.
const EPOCH_BASE_USECS: u64 = 1_700_000_000 * 1_000_000;
/// Linux's SO_RCVBUF/SO_SNDBUF ceilings (`rmem_max`/`wmem_max` defaults) and floors.
const RMEM_MAX: usize = 212_992;
const WMEM_MAX: usize = 212_992;
const SOCK_MIN_RCVBUF: usize = 2_304;
const SOCK_MIN_SNDBUF: usize = 4_608;
/// SO_TIMESTAMPING (and SCM_TIMESTAMPING) with 32-bit and 64-bit time.
pub const SO_TIMESTAMPING_OLD: i32 = 37;
pub const SO_TIMESTAMPING_NEW: i32 = 65;
/// Ephemeral ports for bind(port 0) and autobind on listen.
const EPHEMERAL: (u16, u16) = (32768, 60999);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Created, maybe bound.
    Fresh,
    Listening(u16),
    Conn(SocketHandle),
}

/// Options set on a socket, applied to its connection when there is one.
#[derive(Clone, Debug, Default)]
struct Opts {
    reuseaddr: bool,
    keepalive: bool,
    nodelay: bool,
    /// The doubled values Linux stores and getsockopt returns.
    rcvbuf: Option<usize>,
    sndbuf: Option<usize>,
    /// SO_LINGER: Some(secs) when on.
    linger: Option<i32>,
    user_timeout_ms: u32,
    keepidle: Option<u32>,
    keepintvl: Option<u32>,
    keepcnt: Option<u32>,
    maxseg: Option<u32>,
    /// IP_TOS.
    tos: Option<u8>,
    /// TCP_INQ: recvmsg adds a TCP_CM_INQ control message.
    inq: bool,
    /// TCP_CORK.
    cork: bool,
    /// TCP_NOTSENT_LOWAT (0: off).
    notsent_lowat: u32,
}

#[derive(Debug)]
struct Sock {
    /// A real descriptor (of /dev/null) whose number is the socket's: packetdrill closes
    /// its scripts' sockets at the end with the libc `close`, which must not fail.
    real: Option<OwnedFd>,
    kind: Kind,
    bound: Option<SocketAddrV4>,
    nonblocking: bool,
    opts: Opts,
    /// The connection's error was reported once (read/write/SO_ERROR): Linux clears
    /// `sk_err` when it reports it, later reads see end of stream.
    err_reported: bool,
    shut_rd: bool,
    shut_wr: bool,
    /// An event drained from the stack: the connection failed with this error.
    failed: Option<tcp::Error>,
    /// Bytes written into the last skb, as Linux's `tcp_sendmsg` fills them (`write_chunks`).
    tail_skb: usize,
    /// SO_TIMESTAMPING (`tstamp.rs`), and the option name it was set by (the old or the
    /// 64-bit one), which its control messages carry.
    tstamp: Option<tstamp::TxStamps>,
    tstamp_name: i32,
}

impl Sock {
    fn new(nonblocking: bool) -> Sock {
        Sock {
            real: None,
            kind: Kind::Fresh,
            bound: None,
            nonblocking,
            opts: Opts::default(),
            err_reported: false,
            shut_rd: false,
            shut_wr: false,
            failed: None,
            tail_skb: 0,
            tstamp: None,
            tstamp_name: SO_TIMESTAMPING_OLD,
        }
    }
}

/// SND.UNA and SND.MAX of a connection (the end of what was sent).
fn sent_range(c: &tcp::Connection) -> (tcp::SeqNum, tcp::SeqNum) {
    let una = c.snd_una();
    let sent = c.send_queue().saturating_sub(c.notsent_bytes());
    (una, una + sent as u32)
}

/// Everything behind the interface: the stack, its clock, our file descriptors.
pub struct Host {
    pub now: Instant,
    pub stack: Stack,
    socks: BTreeMap<i32, Sock>,
    /// Packets the stack sent, with the virtual time they left.
    out: VecDeque<(Vec<u8>, Instant)>,
    next_ephemeral: u16,
    buf: Vec<u8>,
    /// The file scripts/packetdrill.sh records the scripts' host commands in
    /// (`TUNTCP_PD_HOSTCMDS`), and how much of it was applied.
    host_cmds: Option<(std::path::PathBuf, usize)>,
    /// epoll instances by descriptor (`epoll.rs`).
    epolls: BTreeMap<i32, epoll::Epoll>,
}

fn errno_of(e: tcp::Error) -> Errno {
    match e {
        tcp::Error::WouldBlock => libc::EAGAIN,
        tcp::Error::NotConnected => libc::ENOTCONN,
        tcp::Error::BrokenPipe => libc::EPIPE,
        tcp::Error::Refused => libc::ECONNREFUSED,
        tcp::Error::Reset => libc::ECONNRESET,
        tcp::Error::TimedOut => libc::ETIMEDOUT,
        tcp::Error::Aborted => libc::ECONNABORTED,
    }
}

fn open_errno(e: OpenError) -> Errno {
    match e {
        OpenError::AddrInUse => libc::EADDRINUSE,
        OpenError::InvalidAddress => libc::ENETUNREACH,
        OpenError::AddrNotAvailable => libc::EADDRNOTAVAIL,
    }
}

/// What `poll` reports.
pub const POLLIN: i16 = libc::POLLIN;
pub const POLLOUT: i16 = libc::POLLOUT;
pub const POLLERR: i16 = libc::POLLERR;
pub const POLLHUP: i16 = libc::POLLHUP;
pub const POLLRDHUP: i16 = 0x2000;
pub const POLLNVAL: i16 = libc::POLLNVAL;

impl Host {
    pub fn new(cfg: StackConfig) -> Host {
        Host {
            now: Instant::from_secs(1),
            stack: Stack::new(cfg),
            socks: BTreeMap::new(),
            epolls: BTreeMap::new(),
            out: VecDeque::new(),
            next_ephemeral: EPHEMERAL.0,
            buf: vec![0; 70_000],
            host_cmds: std::env::var_os("TUNTCP_PD_HOSTCMDS").map(|p| (p.into(), 0)),
        }
    }

    /// Applies the host commands (sysctls, ethtool) the script ran since the last call to
    /// the defaults of new connections (see [`profile::apply_host_commands`]).
    fn apply_host_commands(&mut self) {
        let Some((path, done)) = self.host_cmds.as_mut() else {
            return;
        };
        let Ok(text) = std::fs::read_to_string(&*path) else {
            return;
        };
        let Some(new) = text.get(*done..) else {
            return;
        };
        if new.is_empty() {
            return;
        }
        *done = text.len();
        let mut t = self.stack.config().tcp.clone();
        profile::apply_host_commands(&mut t, new);
        let routes: Vec<_> = new.lines().filter_map(profile::route_command).collect();
        self.stack.set_tcp_config(t);
        for (dst, r) in routes {
            self.stack.set_route(std::net::IpAddr::V4(dst), Some(r));
        }
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.stack.addr()
    }

    // ---- time and packets ----

    pub fn wall_usecs(&self) -> u64 {
        EPOCH_BASE_USECS + self.now.micros()
    }

    /// Moves what the stack wants to send now into the outgoing queue, and the stack's
    /// events into the sockets.
    pub fn pump(&mut self) {
        while let Some(n) = self.stack.poll_transmit(self.now, &mut self.buf) {
            self.out.push_back((self.buf[..n].to_vec(), self.now));
        }
        let wall = self.wall_usecs();
        for s in self.socks.values_mut() {
            if let Kind::Conn(h) = s.kind {
                while let Some(ev) = self.stack.poll_event(h) {
                    if let Event::Error(e) = ev {
                        s.failed.get_or_insert(e);
                    }
                }
                if let (Some(t), Some(c)) = (s.tstamp.as_mut(), self.stack.connection(h)) {
                    let (una, max) = sent_range(c);
                    t.update(max, una, wall);
                }
            }
        }
    }

    /// SO_TIMESTAMPING: the next report of the error queue, with the option name its
    /// control message carries; `EAGAIN` when there is none (Linux).
    pub fn take_tstamp(&mut self, fd: i32) -> Result<(tstamp::Report, i32), Errno> {
        self.pump();
        let s = self.sock(fd)?;
        let name = s.tstamp_name;
        s.tstamp
            .as_mut()
            .and_then(|t| t.take())
            .map(|r| (r, name))
            .ok_or(libc::EAGAIN)
    }

    /// Runs every timer due by `t`, each at its own deadline, and leaves the clock at
    /// `t`. Bounded: a deadline that does not move ends the loop.
    pub fn advance_to(&mut self, t: Instant) {
        self.pump();
        for _ in 0..100_000 {
            match self.stack.poll_timeout() {
                Some(d) if d <= t => {
                    if d > self.now {
                        self.now = d;
                    }
                    self.stack.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        if t > self.now {
            self.now = t;
        }
    }

    /// The stack's next deadline (the clock jumps there when nothing else happens).
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.stack.poll_timeout()
    }

    /// A packet into the stack.
    pub fn netdev_send(&mut self, bytes: &[u8]) {
        self.apply_host_commands();
        self.stack.handle_packet(self.now, bytes);
        self.pump();
    }

    /// The next packet out of the stack, with its departure time (wall clock, µs).
    pub fn take_packet(&mut self) -> Option<(Vec<u8>, u64)> {
        self.pump();
        self.out
            .pop_front()
            .map(|(p, t)| (p, EPOCH_BASE_USECS + t.micros()))
    }

    // ---- file descriptors ----

    fn sock(&mut self, fd: i32) -> Result<&mut Sock, Errno> {
        self.socks.get_mut(&fd).ok_or(libc::EBADF)
    }

    /// A new descriptor number: the lowest free one, as Linux gives, backed by a real
    /// descriptor (see [`Sock::real`]).
    fn new_fd(&mut self, mut sock: Sock) -> Result<i32, Errno> {
        let real: OwnedFd = std::fs::File::open("/dev/null")
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EMFILE))?
            .into();
        let fd = real.as_raw_fd();
        sock.real = Some(real);
        self.socks.insert(fd, sock);
        Ok(fd)
    }

    /// Lets go of the real descriptors without closing them (packetdrill closed them).
    pub fn forget_fds(&mut self) {
        let reals = self.socks.values_mut().map(|s| &mut s.real);
        for real in reals.chain(self.epolls.values_mut().map(|e| &mut e.real)) {
            if let Some(f) = real.take() {
                let _ = f.into_raw_fd();
            }
        }
    }

    pub fn socket(&mut self, domain: i32, ty: i32, protocol: i32) -> Result<i32, Errno> {
        self.apply_host_commands();
        if domain != libc::AF_INET {
            return Err(libc::EAFNOSUPPORT);
        }
        let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
        if base != libc::SOCK_STREAM {
            return Err(libc::ESOCKTNOSUPPORT);
        }
        if protocol != 0 && protocol != libc::IPPROTO_TCP {
            return Err(libc::EPROTONOSUPPORT);
        }
        self.new_fd(Sock::new(ty & libc::SOCK_NONBLOCK != 0))
    }

    fn port_busy(&self, port: u16, except: i32, reuse: bool) -> bool {
        self.socks.iter().any(|(&fd, s)| {
            fd != except
                && s.bound.is_some_and(|b| b.port() == port)
                && (!reuse || !s.opts.reuseaddr || matches!(s.kind, Kind::Listening(_)))
        })
    }

    fn pick_port(&mut self, fd: i32) -> Result<u16, Errno> {
        let span = u32::from(EPHEMERAL.1 - EPHEMERAL.0) + 1;
        for _ in 0..span {
            let p = self.next_ephemeral;
            self.next_ephemeral = if p >= EPHEMERAL.1 { EPHEMERAL.0 } else { p + 1 };
            if !self.port_busy(p, fd, false) && self.stack.listeners().all(|(lp, _, _)| lp != p) {
                return Ok(p);
            }
        }
        Err(libc::EADDRINUSE)
    }

    pub fn bind(&mut self, fd: i32, addr: SocketAddrV4) -> Result<i32, Errno> {
        let ours = self.addr();
        let s = self.sock(fd)?;
        if s.bound.is_some() || s.kind != Kind::Fresh {
            return Err(libc::EINVAL);
        }
        if !addr.ip().is_unspecified() && *addr.ip() != ours {
            return Err(libc::EADDRNOTAVAIL);
        }
        let reuse = s.opts.reuseaddr;
        let port = if addr.port() == 0 {
            self.pick_port(fd)?
        } else {
            if self.port_busy(addr.port(), fd, reuse) {
                return Err(libc::EADDRINUSE);
            }
            addr.port()
        };
        self.sock(fd)?.bound = Some(SocketAddrV4::new(*addr.ip(), port));
        Ok(0)
    }

    pub fn listen(&mut self, fd: i32, backlog: i32) -> Result<i32, Errno> {
        self.apply_host_commands();
        let s = self.sock(fd)?;
        match s.kind {
            Kind::Listening(_) => return Ok(0), // Linux: adjusts the backlog only
            Kind::Conn(_) => return Err(libc::EINVAL),
            Kind::Fresh => {}
        }
        let port = match s.bound {
            Some(b) => b.port(),
            None => {
                let p = self.pick_port(fd)?;
                self.sock(fd)?.bound = Some(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, p));
                p
            }
        };
        // Linux: the accept queue holds backlog + 1 (sk_acceptq_is_full is `>`).
        let backlog = usize::try_from(backlog.max(0)).unwrap_or(0);
        self.stack.listen(port, backlog).map_err(open_errno)?;
        self.sock(fd)?.kind = Kind::Listening(port);
        self.apply_opts(fd);
        Ok(0)
    }

    pub fn try_accept(&mut self, fd: i32) -> Blocked<(i32, SocketAddrV4)> {
        let s = match self.sock(fd) {
            Ok(s) => s,
            Err(e) => return Blocked::Done(Err(e)),
        };
        let Kind::Listening(port) = s.kind else {
            return Blocked::Done(Err(libc::EINVAL));
        };
        let (nonblocking, opts) = (s.nonblocking, s.opts.clone());
        match self.stack.accept(port) {
            Some(h) => {
                let mut ns = Sock::new(false);
                ns.kind = Kind::Conn(h);
                ns.opts = opts;
                let remote = self
                    .stack
                    .connection(h)
                    .map(|c| {
                        ns.bound = Some(v4(c.local()));
                        v4(c.remote())
                    })
                    .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
                let nfd = match self.new_fd(ns) {
                    Ok(fd) => fd,
                    Err(e) => return Blocked::Done(Err(e)),
                };
                self.apply_opts(nfd);
                self.pump();
                Blocked::Done(Ok((nfd, remote)))
            }
            None if nonblocking => Blocked::Done(Err(libc::EAGAIN)),
            None => Blocked::Wait,
        }
    }

    /// Applies the socket's options to its connection.
    fn apply_opts(&mut self, fd: i32) {
        let Some(s) = self.socks.get(&fd) else {
            return;
        };
        let h = match s.kind {
            Kind::Conn(h) => h,
            Kind::Listening(port) => {
                let mss = s.opts.maxseg.and_then(|m| u16::try_from(m).ok());
                self.stack.set_listen_mss(port, mss);
                return;
            }
            Kind::Fresh => return,
        };
        let o = s.opts.clone();
        self.stack.with_connection(h, |c| {
            if let Some(m) = o.maxseg.and_then(|m| u16::try_from(m).ok()) {
                c.set_maxseg(m);
            }
            if c.nodelay() != o.nodelay {
                c.set_nodelay(o.nodelay);
            }
            if c.cork() != o.cork {
                c.set_cork(o.cork);
            }
            c.set_notsent_lowat((o.notsent_lowat > 0).then_some(o.notsent_lowat));
            if let Some(tos) = o.tos {
                c.set_tos(tos);
            }
            c.set_keepalive(o.keepalive);
            if o.keepidle.is_some() || o.keepintvl.is_some() || o.keepcnt.is_some() {
                let d = tcp::Config::default();
                c.set_keepalive_times(
                    o.keepidle
                        .map_or(d.keepalive_time, |s| Duration::from_secs(u64::from(s))),
                    o.keepintvl
                        .map_or(d.keepalive_intvl, |s| Duration::from_secs(u64::from(s))),
                    o.keepcnt.unwrap_or(d.keepalive_probes),
                );
            }
            if o.user_timeout_ms > 0 {
                c.set_user_timeout(Some(Duration::from_millis(u64::from(o.user_timeout_ms))));
            }
            // Linux offers half of SO_RCVBUF as window (tcp_adv_win_scale 1).
            if let Some(n) = o.rcvbuf {
                c.set_recv_buffer(n / 2);
            }
            // The doubled SO_SNDBUF is nearly all payload with TSO-sized skbs.
            if let Some(n) = o.sndbuf {
                c.set_send_buffer(n);
            }
        });
    }

    /// connect(2): the first call opens; a blocking one then waits for the handshake.
    pub fn connect_start(&mut self, fd: i32, remote: SocketAddrV4) -> Result<bool, Errno> {
        self.apply_host_commands();
        let now = self.now;
        let s = self.sock(fd)?;
        match s.kind {
            Kind::Listening(_) => return Err(libc::EISCONN),
            Kind::Conn(h) => {
                let nonblocking = s.nonblocking;
                let st = self.stack.connection(h).map(|c| c.state());
                return match st {
                    Some(State::SynSent) | Some(State::SynReceived) if nonblocking => {
                        Err(libc::EALREADY)
                    }
                    Some(State::SynSent) | Some(State::SynReceived) => Ok(true),
                    _ => Err(libc::EISCONN),
                };
            }
            Kind::Fresh => {}
        }
        let (bound, nonblocking) = (s.bound, s.nonblocking);
        let ours = self.addr();
        let local = bound.map(|b| SocketAddrV4::new(ours, b.port()));
        let h = self
            .stack
            .connect_from(now, local, remote)
            .map_err(open_errno)?;
        let s = self.sock(fd)?;
        s.kind = Kind::Conn(h);
        if let Some(c) = self.stack.connection(h) {
            let l = v4(c.local());
            self.sock(fd)?.bound = Some(l);
        }
        self.apply_opts(fd);
        self.pump();
        if nonblocking {
            return Err(libc::EINPROGRESS);
        }
        Ok(true)
    }

    /// The rest of a blocking connect: done when established or failed.
    pub fn try_connect_finish(&mut self, fd: i32) -> Blocked<i32> {
        let (h, failed) = match self.socks.get(&fd) {
            Some(Sock {
                kind: Kind::Conn(h),
                failed,
                ..
            }) => (*h, *failed),
            _ => return Blocked::Done(Err(libc::EBADF)),
        };
        if let Some(e) = failed {
            if let Some(s) = self.socks.get_mut(&fd) {
                s.err_reported = true;
            }
            return Blocked::Done(Err(errno_of(e)));
        }
        match self.stack.connection(h).map(|c| c.state()) {
            Some(State::SynSent) | Some(State::SynReceived) => Blocked::Wait,
            Some(_) => Blocked::Done(Ok(0)),
            None => Blocked::Done(Err(libc::ECONNREFUSED)),
        }
    }

    fn conn_of(&self, fd: i32) -> Result<(SocketHandle, &Sock), Errno> {
        let s = self.socks.get(&fd).ok_or(libc::EBADF)?;
        match s.kind {
            Kind::Conn(h) => Ok((h, s)),
            _ => Err(libc::ENOTCONN),
        }
    }

    /// read/recv. `peek` keeps the data (MSG_PEEK).
    pub fn try_read(
        &mut self,
        fd: i32,
        buf: &mut [u8],
        dontwait: bool,
        peek: bool,
    ) -> Blocked<usize> {
        let (h, s) = match self.conn_of(fd) {
            Ok(x) => x,
            Err(libc::ENOTCONN) => return Blocked::Done(Err(libc::ENOTCONN)),
            Err(e) => return Blocked::Done(Err(e)),
        };
        let nonblocking = s.nonblocking || dontwait;
        let (shut_rd, err_reported, failed) = (s.shut_rd, s.err_reported, s.failed);
        let queued = self.stack.connection(h).map_or(0, |c| c.recv_queue());
        if queued == 0 && shut_rd {
            return Blocked::Done(Ok(0));
        }
        if queued == 0 {
            if let Some(e) = failed {
                if err_reported {
                    return Blocked::Done(Ok(0));
                }
                if let Some(s) = self.socks.get_mut(&fd) {
                    s.err_reported = true;
                }
                return Blocked::Done(Err(errno_of(e)));
            }
        }
        if buf.is_empty() {
            return Blocked::Done(Ok(0));
        }
        let r = if peek {
            self.stack
                .with_connection(h, |c| {
                    if c.recv_queue() == 0 {
                        return c.recv_with(|_| 0);
                    }
                    // Peek: copy without consuming.
                    let mut n = 0;
                    let _ = c.recv_with(|d| {
                        n = d.len().min(buf.len());
                        buf[..n].copy_from_slice(&d[..n]);
                        0
                    });
                    Ok(n)
                })
                .unwrap_or(Err(tcp::Error::NotConnected))
        } else {
            self.stack.recv(h, buf)
        };
        self.pump();
        match r {
            Ok(n) => Blocked::Done(Ok(n)),
            Err(tcp::Error::WouldBlock) if nonblocking => Blocked::Done(Err(libc::EAGAIN)),
            Err(tcp::Error::WouldBlock) => Blocked::Wait,
            Err(tcp::Error::NotConnected) => {
                // A connection that never got established (Linux: ENOTCONN), or one
                // closed after its end of stream (0).
                let st = self.stack.connection(h).map(|c| c.state());
                match st {
                    Some(State::SynSent) | Some(State::SynReceived) if !nonblocking => {
                        Blocked::Wait
                    }
                    Some(State::SynSent) | Some(State::SynReceived) => {
                        Blocked::Done(Err(libc::EAGAIN))
                    }
                    _ => Blocked::Done(Ok(0)),
                }
            }
            Err(e) => {
                if let Some(s) = self.socks.get_mut(&fd) {
                    s.err_reported = true;
                }
                Blocked::Done(Err(errno_of(e)))
            }
        }
    }

    /// write/send: a blocking write takes everything before it returns (Linux), a
    /// non-blocking one what fits. `done` counts what earlier rounds took.
    pub fn try_write(
        &mut self,
        fd: i32,
        data: &[u8],
        dontwait: bool,
        flags: tcp::SendFlags,
        done: &mut usize,
    ) -> Blocked<usize> {
        self.apply_host_commands(); // a route changed since (`ip route change ... mtu`)
        let (h, s) = match self.conn_of(fd) {
            Ok(x) => x,
            Err(libc::ENOTCONN) => return Blocked::Done(Err(libc::EPIPE)),
            Err(e) => return Blocked::Done(Err(e)),
        };
        let nonblocking = s.nonblocking || dontwait;
        let (shut_wr, err_reported, failed) = (s.shut_wr, s.err_reported, s.failed);
        if shut_wr {
            return Blocked::Done(Err(libc::EPIPE));
        }
        if let Some(e) = failed {
            if *done > 0 {
                return Blocked::Done(Ok(*done));
            }
            if err_reported {
                return Blocked::Done(Err(libc::EPIPE));
            }
            if let Some(s) = self.socks.get_mut(&fd) {
                s.err_reported = true;
            }
            return Blocked::Done(Err(errno_of(e)));
        }
        let r = self.write_chunks(fd, h, &data[*done..], flags);
        self.pump();
        match r {
            Ok(n) => {
                *done += n;
                if *done == data.len() || nonblocking {
                    if *done > 0 {
                        self.tstamp_write(fd, h);
                    }
                    Blocked::Done(Ok(*done))
                } else {
                    Blocked::Wait
                }
            }
            Err(tcp::Error::WouldBlock) if nonblocking && *done == 0 => {
                Blocked::Done(Err(libc::EAGAIN))
            }
            Err(tcp::Error::WouldBlock) if nonblocking => Blocked::Done(Ok(*done)),
            Err(tcp::Error::WouldBlock) => Blocked::Wait,
            Err(_) if *done > 0 => Blocked::Done(Ok(*done)),
            Err(tcp::Error::NotConnected) | Err(tcp::Error::BrokenPipe) => {
                Blocked::Done(Err(libc::EPIPE))
            }
            Err(e) => Blocked::Done(Err(errno_of(e))),
        }
    }

    /// SO_TIMESTAMPING: a write ended at the tail of the send queue (Linux stamps the last
    /// skb of each `sendmsg`).
    fn tstamp_write(&mut self, fd: i32, h: SocketHandle) {
        let wall = self.wall_usecs();
        let Some(c) = self.stack.connection(h) else {
            return;
        };
        let (una, max) = sent_range(c);
        let last = una + c.send_queue() as u32 - 1;
        if let Some(t) = self.socks.get_mut(&fd).and_then(|s| s.tstamp.as_mut()) {
            t.on_write(last);
            // It may have left already, in this same instant.
            t.update(max, una, wall);
        }
    }

    /// Queues a write as Linux's `tcp_sendmsg` does: one skb of up to `size_goal` bytes at
    /// a time, sending each full one at once (`tcp_push_one`); an unsent tail skb is
    /// topped up first, a new skb is begun only while fewer than TCP_NOTSENT_LOWAT bytes
    /// wait unsent (`sk_stream_memory_free`). Without the limit, one `send`.
    fn write_chunks(
        &mut self,
        fd: i32,
        h: SocketHandle,
        data: &[u8],
        flags: tcp::SendFlags,
    ) -> Result<usize, tcp::Error> {
        let lowat = self.stack.connection(h).map(|c| c.notsent_lowat());
        if lowat.is_none_or(|l| l == u32::MAX) {
            return self
                .stack
                .with_connection(h, |c| c.send_with(data, flags))
                .unwrap_or(Err(tcp::Error::NotConnected));
        }
        let mut done = 0;
        while done < data.len() {
            let Some(c) = self.stack.connection(h) else {
                break;
            };
            let goal = c.size_goal();
            // The unsent part of the last skb (a partly sent one was split at SND.NXT).
            let written = self.socks.get(&fd).map_or(0, |s| s.tail_skb);
            let tail = written.min(c.notsent_bytes());
            let fresh = tail == 0 || tail >= goal;
            if fresh && !c.notsent_room() {
                break;
            }
            let tail = if fresh { 0 } else { tail };
            let room = goal - tail;
            let n = (data.len() - done).min(room);
            let r = self
                .stack
                .with_connection(h, |c| c.send_with(&data[done..done + n], flags))
                .unwrap_or(Err(tcp::Error::NotConnected));
            match r {
                Ok(k) => {
                    done += k;
                    if let Some(s) = self.socks.get_mut(&fd) {
                        s.tail_skb = tail + k;
                    }
                    self.pump();
                    if k < n {
                        break;
                    }
                }
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        if done == 0 && !data.is_empty() {
            return Err(tcp::Error::WouldBlock);
        }
        Ok(done)
    }

    pub fn close(&mut self, fd: i32) -> Result<i32, Errno> {
        if self.epolls.remove(&fd).is_some() {
            return Ok(0);
        }
        let s = self.socks.remove(&fd).ok_or(libc::EBADF)?;
        match s.kind {
            Kind::Fresh => {}
            Kind::Listening(port) => self.stack.unlisten(port),
            Kind::Conn(h) => {
                if s.opts.linger == Some(0) {
                    self.stack.abort(h);
                } else {
                    self.stack.close(h);
                }
            }
        }
        self.pump();
        Ok(0)
    }

    pub fn shutdown(&mut self, fd: i32, how: i32) -> Result<i32, Errno> {
        if !(0..=2).contains(&how) {
            return Err(libc::EINVAL);
        }
        let s = self.sock(fd)?;
        let kind = s.kind;
        match kind {
            Kind::Fresh => return Err(libc::ENOTCONN),
            Kind::Listening(port) => {
                // Linux: shutdown of a listener closes the listen queue.
                if how != libc::SHUT_WR {
                    self.stack.unlisten(port);
                    self.sock(fd)?.kind = Kind::Fresh;
                    self.sock(fd)?.bound = None;
                    return Ok(0);
                }
                return Err(libc::ENOTCONN);
            }
            Kind::Conn(h) => {
                let failed = s.failed;
                let st = self.stack.connection(h).map(|c| c.state());
                if matches!(st, None | Some(State::Closed)) && failed.is_none() {
                    return Err(libc::ENOTCONN);
                }
                let s = self.sock(fd)?;
                if how == libc::SHUT_RD || how == libc::SHUT_RDWR {
                    s.shut_rd = true;
                }
                if how == libc::SHUT_WR || how == libc::SHUT_RDWR {
                    s.shut_wr = true;
                    self.stack.shutdown_write(h);
                }
            }
        }
        self.pump();
        Ok(0)
    }

    pub fn fcntl(&mut self, fd: i32, cmd: i32, arg: i64) -> Result<i32, Errno> {
        let s = self.sock(fd)?;
        match cmd {
            libc::F_GETFL => Ok(libc::O_RDWR | if s.nonblocking { libc::O_NONBLOCK } else { 0 }),
            libc::F_SETFL => {
                s.nonblocking = arg & i64::from(libc::O_NONBLOCK) != 0;
                Ok(0)
            }
            libc::F_GETFD | libc::F_SETFD => Ok(0),
            _ => Err(libc::EINVAL),
        }
    }

    /// ioctl(2): FIONREAD (SIOCINQ) and SIOCOUTQ.
    pub fn ioctl(&mut self, fd: i32, request: u64) -> Result<i32, Errno> {
        let (h, _) =
            self.conn_of(fd)
                .map_err(|e| if e == libc::ENOTCONN { libc::EINVAL } else { e })?;
        let c = self.stack.connection(h).ok_or(libc::EINVAL)?;
        match request {
            r if r == libc::FIONREAD => Ok(i32::try_from(c.recv_queue()).unwrap_or(i32::MAX)),
            0x5411 => Ok(i32::try_from(c.send_queue()).unwrap_or(i32::MAX)), // SIOCOUTQ
            _ => Err(libc::EINVAL),
        }
    }

    /// TCP_CM_INQ's value when TCP_INQ is on: the bytes left to read, and 1 for an empty
    /// queue at the peer's FIN, so a reader can tell EOF follows (Linux `tcp_inq_hint`).
    pub fn inq_hint(&self, fd: i32) -> Option<i32> {
        let s = self.socks.get(&fd)?;
        let Kind::Conn(h) = s.kind else {
            return None;
        };
        if !s.opts.inq {
            return None;
        }
        let c = self.stack.connection(h)?;
        let n = i32::try_from(c.recv_queue()).unwrap_or(i32::MAX);
        Some(if n == 0 && c.at_eof() { 1 } else { n })
    }

    /// Readiness of one fd for poll(2).
    pub fn poll_one(&mut self, fd: i32, events: i16) -> i16 {
        self.pump();
        let Some(s) = self.socks.get(&fd) else {
            return POLLNVAL;
        };
        let mut r = 0;
        match s.kind {
            Kind::Fresh => r |= POLLOUT | POLLHUP,
            Kind::Listening(port) => {
                if self.stack.listeners().any(|(p, q, _)| p == port && q > 0) {
                    r |= POLLIN;
                }
            }
            Kind::Conn(h) => {
                let c = self.stack.connection(h);
                let failed = s.failed.is_some() && !s.err_reported;
                if failed {
                    r |= POLLERR;
                }
                match c {
                    Some(c) => {
                        let st = c.state();
                        let synced = !matches!(st, State::SynSent | State::SynReceived);
                        if c.recv_queue() > 0 || c.at_eof() || s.shut_rd || s.failed.is_some() {
                            r |= POLLIN;
                        }
                        if c.at_eof() || s.shut_rd {
                            r |= POLLRDHUP;
                        }
                        if synced && (s.failed.is_some() || (c.at_eof() && s.shut_wr)) {
                            r |= POLLHUP;
                        }
                        // With TCP_NOTSENT_LOWAT, only while few bytes wait unsent.
                        if synced && c.send_writable() && !s.shut_wr {
                            r |= POLLOUT;
                        }
                        if s.failed.is_some() || s.shut_wr {
                            r |= POLLOUT;
                        }
                    }
                    None => r |= POLLHUP | POLLIN | POLLOUT,
                }
            }
        }
        r & (events | POLLERR | POLLHUP | POLLNVAL)
    }

    /// SO_ERROR: the pending error, cleared by reading it.
    fn take_so_error(&mut self, fd: i32) -> Result<i32, Errno> {
        let s = self.sock(fd)?;
        match s.failed {
            Some(e) if !s.err_reported => {
                s.err_reported = true;
                Ok(errno_of(e))
            }
            _ => Ok(0),
        }
    }

    /// setsockopt(2) with an integer (or the first int of a struct) value.
    pub fn setsockopt(&mut self, fd: i32, level: i32, name: i32, val: &[u8]) -> Result<i32, Errno> {
        let int = |v: &[u8]| -> Result<i32, Errno> {
            v.get(..4)
                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or(libc::EINVAL)
        };
        let s = self.sock(fd)?;
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => s.opts.reuseaddr = int(val)? != 0,
            (libc::SOL_SOCKET, libc::SO_REUSEPORT) => {}
            (libc::SOL_SOCKET, SO_TIMESTAMPING_OLD | SO_TIMESTAMPING_NEW) => {
                let flags = int(val)? as u32;
                let base = match s.kind {
                    Kind::Conn(h) => self.stack.connection(h).map(|c| c.snd_una()),
                    _ => None,
                };
                let s = self.sock(fd)?;
                // Linux: OPT_ID needs a connection (its key counts from SND.UNA).
                if flags & tstamp::OPT_ID != 0 && base.is_none() {
                    return Err(libc::EINVAL);
                }
                s.tstamp_name = name;
                s.tstamp = match (flags, s.tstamp.take()) {
                    (0, _) => None,
                    (_, Some(mut t)) if t.flags & tstamp::OPT_ID != 0 => {
                        t.flags = flags; // the key base stays
                        Some(t)
                    }
                    _ => Some(tstamp::TxStamps::new(flags, base.unwrap_or(tcp::SeqNum(0)))),
                };
                return Ok(0);
            }
            // Accepted; MSG_ZEROCOPY sends then copy, as Linux does when it cannot pin pages.
            (libc::SOL_SOCKET, libc::SO_ZEROCOPY) => {
                int(val)?;
            }
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => s.opts.keepalive = int(val)? != 0,
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
                let v = usize::try_from(int(val)?.max(0)).unwrap_or(0).min(RMEM_MAX);
                s.opts.rcvbuf = Some((v * 2).max(SOCK_MIN_RCVBUF));
            }
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
                let v = usize::try_from(int(val)?.max(0)).unwrap_or(0).min(WMEM_MAX);
                s.opts.sndbuf = Some((v * 2).max(SOCK_MIN_SNDBUF));
            }
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let on = int(val)?;
                let secs = int(val.get(4..).unwrap_or(&[]))?;
                s.opts.linger = (on != 0).then_some(secs);
            }
            // IP options may be one byte long (Linux ip_setsockopt).
            (libc::IPPROTO_IP, libc::IP_TOS) => {
                s.opts.tos = Some(*val.first().ok_or(libc::EINVAL)?);
            }
            // Accepted, not applied: our DF bit and path MTU handling stay as they are.
            (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) => {
                val.first().ok_or(libc::EINVAL)?;
            }
            // Accepted, not applied: bind takes our one address either way.
            (libc::IPPROTO_IP, libc::IP_FREEBIND) => {
                val.first().ok_or(libc::EINVAL)?;
            }
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
                s.opts.nodelay = int(val)? != 0;
                if let (true, Kind::Conn(h)) = (s.opts.nodelay, s.kind) {
                    // Setting it pushes what is queued, even when it was on already.
                    self.stack.with_connection(h, |c| c.set_nodelay(true));
                    self.pump();
                    return Ok(0);
                }
            }
            (libc::IPPROTO_TCP, libc::TCP_CORK) => s.opts.cork = int(val)? != 0,
            (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT) => {
                s.opts.notsent_lowat = int(val)? as u32;
            }
            (libc::IPPROTO_TCP, libc::TCP_INQ) => {
                let v = int(val)?;
                if !(0..=1).contains(&v) {
                    return Err(libc::EINVAL);
                }
                s.opts.inq = v == 1;
            }
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
                let v = int(val)?;
                if !(88..=32767).contains(&v) && v != 0 {
                    return Err(libc::EINVAL);
                }
                s.opts.maxseg = u32::try_from(v).ok().filter(|&v| v > 0);
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => {
                s.opts.keepidle = Some(u32::try_from(int(val)?).map_err(|_| libc::EINVAL)?)
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => {
                s.opts.keepintvl = Some(u32::try_from(int(val)?).map_err(|_| libc::EINVAL)?)
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => {
                s.opts.keepcnt = Some(u32::try_from(int(val)?).map_err(|_| libc::EINVAL)?)
            }
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => {
                s.opts.user_timeout_ms = u32::try_from(int(val)?).map_err(|_| libc::EINVAL)?
            }
            (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
                let name: Vec<u8> = val.iter().copied().take_while(|&b| b != 0).collect();
                let alg = match name.as_slice() {
                    b"cubic" => tcp::congestion::Algorithm::Cubic,
                    b"reno" => tcp::congestion::Algorithm::NewReno,
                    b"bbr" => tcp::congestion::Algorithm::Bbr,
                    _ => return Err(libc::ENOENT),
                };
                if let Kind::Conn(h) = s.kind {
                    let now = self.now;
                    self.stack
                        .with_connection(h, |c| c.set_congestion(now, alg));
                }
                return Ok(0);
            }
            _ => return Err(libc::ENOPROTOOPT),
        }
        self.apply_opts(fd);
        self.pump();
        Ok(0)
    }

    /// getsockopt(2): writes the value into `out` and returns its length.
    pub fn getsockopt(
        &mut self,
        fd: i32,
        level: i32,
        name: i32,
        out: &mut [u8],
    ) -> Result<usize, Errno> {
        let put = |out: &mut [u8], v: i32| -> usize {
            let b = v.to_ne_bytes();
            let n = out.len().min(4);
            out[..n].copy_from_slice(&b[..n]);
            n
        };
        if (level, name) == (libc::SOL_SOCKET, libc::SO_ERROR) {
            let e = self.take_so_error(fd)?;
            return Ok(put(out, e));
        }
        let now = self.now;
        let s = self.socks.get(&fd).ok_or(libc::EBADF)?;
        let conn = match s.kind {
            Kind::Conn(h) => self.stack.connection(h),
            _ => None,
        };
        let d = &self.stack.config().tcp;
        let v = match (level, name) {
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => i32::from(s.opts.reuseaddr),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => i32::from(s.opts.keepalive),
            (libc::SOL_SOCKET, libc::SO_TYPE) => libc::SOCK_STREAM,
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
                i32::try_from(s.opts.rcvbuf.unwrap_or(d.recv_buffer * 2)).unwrap_or(i32::MAX)
            }
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
                i32::try_from(s.opts.sndbuf.unwrap_or(d.send_buffer)).unwrap_or(i32::MAX)
            }
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let n = put(out, i32::from(s.opts.linger.is_some()));
                let n2 = put(&mut out[n..], s.opts.linger.unwrap_or(0));
                return Ok(n + n2);
            }
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => i32::from(s.opts.nodelay),
            (libc::IPPROTO_TCP, libc::TCP_INQ) => i32::from(s.opts.inq),
            (libc::SOL_SOCKET, SO_TIMESTAMPING_OLD | SO_TIMESTAMPING_NEW) => {
                s.tstamp.as_ref().map_or(0, |t| t.flags as i32)
            }
            (libc::IPPROTO_TCP, libc::TCP_CORK) => i32::from(s.opts.cork),
            (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT) => s.opts.notsent_lowat as i32,
            (libc::IPPROTO_IP, libc::IP_TOS) => i32::from(s.opts.tos.unwrap_or(d.tos)),
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => match conn {
                Some(c) if c.state().is_synchronized() => {
                    i32::try_from(c.effective_mss()).unwrap_or(0)
                }
                _ => s.opts.maxseg.map_or(536, |m| m as i32),
            },
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => s
                .opts
                .keepidle
                .map_or(d.keepalive_time.secs() as i32, |v| v as i32),
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => s
                .opts
                .keepintvl
                .map_or(d.keepalive_intvl.secs() as i32, |v| v as i32),
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => s
                .opts
                .keepcnt
                .map_or(d.keepalive_probes as i32, |v| v as i32),
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => s.opts.user_timeout_ms as i32,
            (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
                let name = conn.map_or("cubic", |c| c.congestion_name());
                let n = out.len().min(16);
                out[..n].fill(0);
                let b = name.as_bytes();
                let m = b.len().min(n);
                out[..m].copy_from_slice(&b[..m]);
                return Ok(n);
            }
            // TCP_CC_INFO and SO_MEMINFO: packetdrill reads them for every %{ }% block;
            // zeros (we have neither BBR/Vegas state nor Linux's memory accounting).
            (libc::IPPROTO_TCP, 26) | (libc::SOL_SOCKET, 55) => {
                out.fill(0);
                return Ok(out.len());
            }
            (libc::IPPROTO_TCP, libc::TCP_INFO) => {
                let n = profile::tcp_info(conn, now, out);
                return Ok(n);
            }
            _ => return Err(libc::ENOPROTOOPT),
        };
        Ok(put(out, v))
    }

    /// The address of a connected socket's peer (accept's and getpeername's answer).
    pub fn is_open(&self, fd: i32) -> bool {
        self.socks.contains_key(&fd)
    }
}

/// A connection's address as this IPv4-only host layer keeps it (the stack's IPv6
/// connections never reach packetdrill: its scripts and tun speak IPv4; an IPv6 address
/// would read as unspecified).
fn v4(a: std::net::SocketAddr) -> SocketAddrV4 {
    match a {
        std::net::SocketAddr::V4(a) => a,
        std::net::SocketAddr::V6(a) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, a.port()),
    }
}

#[cfg(test)]
mod tests {
    //! The socket layer's errno values and its virtual clock, as packetdrill sees them.
    use super::*;
    use crate::profile;
    use tuntcp::wire::{Segment, TcpFlags};

    fn host() -> Host {
        Host::new(profile::stack_config(""))
    }

    fn sin(a: [u8; 4], port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(a), port)
    }

    fn done<T>(b: Blocked<T>) -> Result<T, Errno> {
        match b {
            Blocked::Done(r) => r,
            Blocked::Wait => panic!("would block"),
        }
    }

    #[test]
    fn socket_calls_fail_with_linux_errno() {
        let mut h = host();
        assert_eq!(
            h.socket(libc::AF_INET6, libc::SOCK_STREAM, 0),
            Err(libc::EAFNOSUPPORT)
        );
        assert_eq!(
            h.socket(libc::AF_INET, libc::SOCK_DGRAM, 0),
            Err(libc::ESOCKTNOSUPPORT)
        );
        let fd = h
            .socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP)
            .unwrap();
        assert_eq!(h.bind(fd, sin([10, 0, 0, 9], 80)), Err(libc::EADDRNOTAVAIL));
        assert_eq!(h.bind(fd, sin([0, 0, 0, 0], 8080)), Ok(0));
        assert_eq!(h.bind(fd, sin([0, 0, 0, 0], 8081)), Err(libc::EINVAL));
        let fd2 = h.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        assert_eq!(
            h.bind(fd2, sin([192, 168, 0, 1], 8080)),
            Err(libc::EADDRINUSE)
        );
        assert_eq!(
            done(h.try_read(fd2, &mut [0; 4], false, false)),
            Err(libc::ENOTCONN)
        );
        assert_eq!(
            done(h.try_write(fd2, b"x", false, Default::default(), &mut 0)),
            Err(libc::EPIPE)
        );
        assert_eq!(h.shutdown(fd2, libc::SHUT_WR), Err(libc::ENOTCONN));
        assert_eq!(h.listen(fd, 1), Ok(0));
        assert_eq!(
            h.fcntl(
                fd,
                libc::F_SETFL,
                i64::from(libc::O_RDWR | libc::O_NONBLOCK)
            ),
            Ok(0)
        );
        assert_eq!(
            h.fcntl(fd, libc::F_GETFL, 0),
            Ok(libc::O_RDWR | libc::O_NONBLOCK)
        );
        assert_eq!(done(h.try_accept(fd)).map(|_| ()), Err(libc::EAGAIN));
        assert_eq!(h.close(fd), Ok(0));
        assert_eq!(h.close(fd), Err(libc::EBADF));
    }

    #[test]
    fn buffer_options_read_back_doubled_as_linux() {
        let mut h = host();
        let fd = h.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        h.setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            &21000i32.to_ne_bytes(),
        )
        .unwrap();
        let mut out = [0u8; 4];
        assert_eq!(
            h.getsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &mut out),
            Ok(4)
        );
        assert_eq!(i32::from_ne_bytes(out), 42000);
        assert_eq!(
            h.setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_CONGESTION, b"vegas\0"),
            Err(libc::ENOENT)
        );
    }

    #[test]
    fn tcp_send_and_inq_options_read_back_as_linux() {
        let mut h = host();
        let fd = h.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        let get = |h: &mut Host, name: i32| {
            let mut out = [0u8; 4];
            assert_eq!(h.getsockopt(fd, libc::IPPROTO_TCP, name, &mut out), Ok(4));
            i32::from_ne_bytes(out)
        };
        for name in [libc::TCP_INQ, libc::TCP_CORK, libc::TCP_NOTSENT_LOWAT] {
            assert_eq!(get(&mut h, name), 0);
        }
        for (name, v) in [
            (libc::TCP_INQ, 1i32),
            (libc::TCP_CORK, 1),
            (libc::TCP_NOTSENT_LOWAT, 4000),
        ] {
            h.setsockopt(fd, libc::IPPROTO_TCP, name, &v.to_ne_bytes())
                .unwrap();
            assert_eq!(get(&mut h, name), v);
        }
        assert_eq!(
            h.setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INQ, &2i32.to_ne_bytes()),
            Err(libc::EINVAL)
        );
        // No connection yet: no TCP_CM_INQ to report.
        assert_eq!(h.inq_hint(fd), None);
        h.setsockopt(fd, libc::SOL_SOCKET, libc::SO_ZEROCOPY, &1i32.to_ne_bytes())
            .unwrap();
    }

    #[test]
    fn nonblocking_connect_sends_linux_syn_and_retransmits_after_initial_rto() {
        let mut h = host();
        let fd = h
            .socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)
            .unwrap();
        assert_eq!(
            h.connect_start(fd, sin([192, 0, 2, 1], 8080)),
            Err(libc::EINPROGRESS)
        );
        assert_eq!(
            h.connect_start(fd, sin([192, 0, 2, 1], 8080)),
            Err(libc::EALREADY)
        );
        let t0 = h.now;
        let (p, at) = h.take_packet().expect("SYN");
        let syn = Segment::parse(&p).unwrap();
        assert_eq!(syn.flags, TcpFlags::SYN);
        assert_eq!(syn.options.mss, Some(1460));
        assert_eq!(syn.options.window_scale, Some(8)); // the Linux profile's shift
        assert_eq!(at, h.wall_usecs());
        assert!(h.take_packet().is_none());
        // Nothing pending: the clock jumps to the stack's deadline, the 1 s initial RTO.
        let d = h.next_deadline().expect("SYN timer");
        assert_eq!(d, t0 + Duration::from_secs(1));
        h.advance_to(d);
        let (p, _) = h.take_packet().expect("SYN again");
        assert_eq!(Segment::parse(&p).unwrap().seq, syn.seq);
        let mut out = [0u8; 4];
        assert_eq!(
            h.getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, &mut out),
            Ok(4)
        );
        assert_eq!(i32::from_ne_bytes(out), 0);
    }

    /// The peer's answer to `to`: addresses swapped, the given fields set.
    fn reply(h: &mut Host, to: &Segment<'_>, flags: TcpFlags, seq: u32, payload: &[u8]) {
        let r = Segment {
            src: to.dst,
            dst: to.src,
            seq,
            ack: to.seq.wrapping_add(1), // the SYN's
            flags,
            window: 1000,
            urgent: 0,
            options: Default::default(),
            payload,
            ip: to.ip,
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf).unwrap();
        h.netdev_send(&buf);
    }

    #[test]
    fn epoll_reports_level_and_edge_triggered_readiness_as_linux() {
        let mut h = host();
        let fd = h
            .socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)
            .unwrap();
        assert_eq!(
            h.connect_start(fd, sin([192, 0, 2, 1], 8080)),
            Err(libc::EINPROGRESS)
        );
        let (p, _) = h.take_packet().expect("SYN");
        let syn = Segment::parse(&p).unwrap();
        reply(&mut h, &syn, TcpFlags::SYN | TcpFlags::ACK, 5000, &[]);
        let ep = h.epoll_create().unwrap();
        let (lt, et) = (h.epoll_create().unwrap(), ep);
        let (inout, edge) = (
            (libc::EPOLLIN | libc::EPOLLOUT) as u32,
            libc::EPOLLET as u32,
        );
        assert_eq!(
            h.epoll_ctl(et, libc::EPOLL_CTL_ADD, fd, inout | edge, 7),
            Ok(0)
        );
        assert_eq!(h.epoll_ctl(lt, libc::EPOLL_CTL_ADD, fd, inout, 8), Ok(0));
        assert_eq!(
            h.epoll_ctl(et, libc::EPOLL_CTL_ADD, fd, inout, 7),
            Err(libc::EEXIST)
        );
        assert_eq!(
            h.epoll_ctl(et, libc::EPOLL_CTL_MOD, 999, inout, 7),
            Err(libc::EBADF)
        );
        let out = libc::EPOLLOUT as u32;
        let both = inout;
        // Edge: once when added, then nothing until a wakeup. Level: every time.
        assert_eq!(h.epoll_ready(et, 4), Ok(vec![(out, 7)]));
        assert_eq!(h.epoll_ready(et, 4), Ok(vec![]));
        assert_eq!(h.epoll_ready(lt, 4), Ok(vec![(out, 8)]));
        assert_eq!(h.epoll_ready(lt, 4), Ok(vec![(out, 8)]));
        // Data arrives: both report it; a partial read wakes nobody, more data does.
        reply(&mut h, &syn, TcpFlags::ACK | TcpFlags::PSH, 5001, &[1; 100]);
        assert_eq!(h.epoll_ready(et, 4), Ok(vec![(both, 7)]));
        assert_eq!(h.epoll_ready(et, 4), Ok(vec![]));
        assert_eq!(done(h.try_read(fd, &mut [0; 10], false, false)), Ok(10));
        assert_eq!(h.epoll_ready(et, 4), Ok(vec![]));
        assert_eq!(h.epoll_ready(lt, 4), Ok(vec![(both, 8)]));
        reply(&mut h, &syn, TcpFlags::ACK | TcpFlags::PSH, 5101, &[1; 100]);
        assert_eq!(h.epoll_ready(et, 4), Ok(vec![(both, 7)]));
        // A closed descriptor leaves every set; a deleted interest reports nothing.
        assert_eq!(h.epoll_ctl(lt, libc::EPOLL_CTL_DEL, fd, 0, 0), Ok(0));
        assert_eq!(h.epoll_ready(lt, 4), Ok(vec![]));
        assert_eq!(h.close(fd), Ok(0));
        assert_eq!(h.epoll_ready(et, 4), Ok(vec![]));
        assert_eq!(h.close(et), Ok(0));
        assert_eq!(h.epoll_ready(et, 4), Err(libc::EBADF));
    }
}
