//! `tuntcp proxy`: a transparent TCP relay. Every TCP connection routed into the TUN to an
//! address inside the `--prefix`es is terminated by the stack's transparent listener
//! (`TcpListener::bind_transparent`) and relayed to the destination the client asked for
//! (the stream's `local_addr`), through a kernel socket (`direct`) or a SOCKS5 proxy
//! (RFC 1928, no authentication).
//!
//! The handshake is deferred (`TcpListener::set_defer_handshake`): a client's SYN is held
//! unanswered while the upstream connect is tried; an upstream that answers completes it
//! (the SYN-ACK goes), one that refuses or fails refuses it (a RST to the SYN: the
//! client's connect fails with "connection refused", as if it had reached the real
//! destination). A SYN held longer than the connect timeout plus [`HOLD_SLACK`] is refused
//! by the stack.
//!
//! One thread per connection: it connects upstream (blocking), then relays both directions
//! nonblocking on its own `mio::Poll`, with a 16 KiB buffer per direction held only while
//! data flows. A side that does not read stops the other side's reads (backpressure end to
//! end, nothing unbounded between them). A FIN becomes `shutdown(Write)` on the other side;
//! a reset on either side or the idle timeout resets both. UDP is not relayed.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream as KernelStream, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tuntcp::api::{TcpListener, TcpStream};

/// Where relayed connections go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// A kernel socket straight to the destination.
    Direct,
    /// A SOCKS5 proxy (RFC 1928, method 0: no authentication) at this address.
    Socks5(String),
}

impl std::str::FromStr for Upstream {
    type Err = String;
    fn from_str(s: &str) -> Result<Upstream, String> {
        if s == "direct" {
            return Ok(Upstream::Direct);
        }
        match s.strip_prefix("socks5://") {
            Some(hp)
                if hp
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
            {
                Ok(Upstream::Socks5(hp.to_string()))
            }
            _ => Err(format!("{s:?}: expected direct or socks5://HOST:PORT")),
        }
    }
}

/// How upstream sockets are made and how long a quiet connection lives.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Direct or through SOCKS5.
    pub upstream: Upstream,
    /// Both directions quiet this long: both sides reset.
    pub idle: Duration,
    /// Upstream connect timeout (SOCKS5: the whole negotiation).
    pub connect_timeout: Duration,
    /// SO_MARK on upstream sockets (for an `ip rule fwmark` that keeps them off the TUN).
    pub mark: Option<u32>,
    /// SO_BINDTODEVICE on upstream sockets.
    pub bind_device: Option<String>,
    /// Relayed connections at most (a thread each); beyond, accepting waits and new
    /// clients queue in the listener's bounded backlog (then SYN cookies, then drops).
    pub max_conns: usize,
    /// The kernel's addresses on the TUN link: a client from one of them whose port is one
    /// of our own upstream sockets' is our own upstream routed back into the TUN (a loop),
    /// reset at once instead of relayed again.
    pub tun_hosts: Vec<IpAddr>,
}

/// The local ports of the live upstream sockets (each bound before its connect, so the
/// set holds it before the stack can see the SYN).
type Ports = Arc<std::sync::Mutex<std::collections::HashSet<u16>>>;

/// A port in [`Ports`] while its socket lives.
struct PortHeld(Ports, u16);

impl Drop for PortHeld {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.1);
    }
}

/// Relay buffer per direction.
const BUF: usize = 16 * 1024;
/// How often a quiet relay looks at the idle clock.
const TICK: Duration = Duration::from_millis(500);

/// How much longer than the upstream connect timeout a client's SYN is held.
pub const HOLD_SLACK: Duration = Duration::from_secs(5);

/// Accepts forever (until the stack stops), one relay per connection; each client's
/// handshake is completed only once its upstream connected.
pub fn run(listener: &TcpListener, cfg: &ProxyConfig) -> io::Result<()> {
    listener.set_defer_handshake(Some(cfg.connect_timeout + HOLD_SLACK))?;
    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ports = Ports::default();
    loop {
        while active.load(Ordering::Acquire) >= cfg.max_conns.max(1) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let pending = listener.accept_pending()?;
        let (peer, dst) = (pending.peer_addr(), pending.local_addr());
        let looped = cfg.tun_hosts.contains(&peer.ip())
            && ports
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&peer.port());
        if looped {
            log::warn!(
                "proxy: {peer} is our own upstream routed back into the TUN: refused \
                 (use --mark with a policy rule, or --bind-device)"
            );
            let _ = pending.refuse();
            continue;
        }
        let (cfg, ports) = (cfg.clone(), ports.clone());
        active.fetch_add(1, Ordering::AcqRel);
        let slot = Active(active.clone());
        std::thread::spawn(move || {
            let _slot = slot;
            match connect_upstream(&cfg, dst, &ports) {
                Ok((up, _held)) => match pending.complete() {
                    Ok(client) => {
                        log::info!("proxy {peer} -> {dst}: relaying");
                        relay(client, up, cfg.idle);
                    }
                    Err(e) => {
                        log::info!("proxy {peer} -> {dst}: client gone ({e}), reset upstream");
                        let _ = socket2::SockRef::from(&up).set_linger(Some(Duration::ZERO));
                    }
                },
                Err(e) => {
                    // The client's SYN is still unanswered: a RST makes its connect fail
                    // as refused, as the real destination's would have.
                    log::info!("proxy {peer} -> {dst}: upstream failed ({e}), refused");
                    let _ = pending.refuse();
                }
            }
        });
    }
}

/// One relayed connection counted while it lives.
struct Active(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn reset(s: &TcpStream) {
    let _ = s.set_linger(Some(Duration::ZERO));
}

fn socket_for(cfg: &ProxyConfig, to: SocketAddr) -> io::Result<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
    if let Some(m) = cfg.mark {
        s.set_mark(m)?;
    }
    if let Some(d) = &cfg.bind_device {
        s.bind_device(Some(d.as_bytes()))?;
    }
    Ok(s)
}

fn connect_upstream(
    cfg: &ProxyConfig,
    dst: SocketAddr,
    ports: &Ports,
) -> io::Result<(KernelStream, PortHeld)> {
    let to = match &cfg.upstream {
        Upstream::Direct => dst,
        Upstream::Socks5(hp) => hp
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?,
    };
    let s = socket_for(cfg, to)?;
    let any: SocketAddr = match to {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    s.bind(&any.into())?;
    let port = s
        .local_addr()?
        .as_socket()
        .map_or(0, |a: SocketAddr| a.port());
    ports.lock().unwrap_or_else(|e| e.into_inner()).insert(port);
    let held = PortHeld(ports.clone(), port);
    s.connect_timeout(&to.into(), cfg.connect_timeout)?;
    let mut s: KernelStream = s.into();
    if let Upstream::Socks5(_) = cfg.upstream {
        s.set_read_timeout(Some(cfg.connect_timeout))?;
        socks5_connect(&mut s, dst)?;
        s.set_read_timeout(None)?;
    }
    s.set_nodelay(true)?;
    Ok((s, held))
}

/// RFC 1928: greeting with method 0 (no authentication), then CONNECT to `dst`.
pub fn socks5_connect(s: &mut (impl Read + Write), dst: SocketAddr) -> io::Result<()> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("SOCKS5: {what}"));
    s.write_all(&[5, 1, 0])?; // §3: VER, NMETHODS, METHODS
    let mut m = [0; 2];
    s.read_exact(&mut m)?;
    if m != [5, 0] {
        return Err(bad("no acceptable method"));
    }
    let mut req = vec![5, 1, 0]; // §4: VER, CMD CONNECT, RSV
    match dst.ip() {
        IpAddr::V4(a) => {
            req.push(1);
            req.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            req.push(4);
            req.extend_from_slice(&a.octets());
        }
    }
    req.extend_from_slice(&dst.port().to_be_bytes());
    s.write_all(&req)?;
    // §6: VER, REP, RSV, ATYP, BND.ADDR, BND.PORT
    let mut head = [0; 4];
    s.read_exact(&mut head)?;
    if head[0] != 5 {
        return Err(bad("bad version in reply"));
    }
    if head[1] != 0 {
        let kind = match head[1] {
            5 => io::ErrorKind::ConnectionRefused,
            3 | 4 => io::ErrorKind::HostUnreachable,
            _ => io::ErrorKind::Other,
        };
        return Err(io::Error::new(kind, format!("SOCKS5: reply {}", head[1])));
    }
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut l = [0; 1];
            s.read_exact(&mut l)?;
            usize::from(l[0]) + 2
        }
        _ => return Err(bad("bad address type in reply")),
    };
    let mut skip = vec![0; rest];
    s.read_exact(&mut skip)?;
    Ok(())
}

/// One direction of a relay: bytes read from one side, not yet written to the other.
#[derive(Default)]
struct Dir {
    /// Held only while data flows: freed when a read finds the socket drained, so an idle
    /// relayed connection holds no relay buffer.
    buf: Option<Vec<u8>>,
    /// `buf[at..len]` is still to be written.
    at: usize,
    len: usize,
    /// EOF read (and, once `buf` is written, passed on as `shutdown(Write)`).
    eof: bool,
    shut: bool,
    /// The last read was short on a kernel socket: its queue was empty, and new data wakes
    /// epoll again (every arrival does), so no read to `EAGAIN` is needed (as tokio does).
    drained: bool,
    /// The kernel socket reported the peer's FIN (`EPOLLRDHUP`): read on to EOF.
    hup: bool,
}

/// What ended a relay early: a reset or an error on either side, or the idle timeout
/// (reset both).
enum Stop {
    Reset(&'static str, io::Error),
}

impl Dir {
    /// Bytes or a FIN waiting for the other side.
    fn pending(&self) -> bool {
        self.at < self.len || (self.eof && !self.shut)
    }

    /// Moves what it can from `from` to `to` without blocking; true if anything moved (a
    /// byte or a FIN). Every call that finds nothing to do ended in `WouldBlock`, as mio's
    /// edge-triggered readiness needs.
    fn step<R, W>(
        &mut self,
        from: &mut R,
        to: &mut W,
        names: [&'static str; 2],
        kernel_from: bool,
    ) -> Result<bool, Stop>
    where
        R: Read,
        W: Write + HalfClose,
    {
        let mut moved = false;
        loop {
            if self.at < self.len {
                let buf = self.buf.as_deref().unwrap_or_default();
                match to.write(&buf[self.at..self.len]) {
                    Ok(0) => return Err(Stop::Reset(names[1], io::ErrorKind::WriteZero.into())),
                    Ok(n) => {
                        self.at += n;
                        moved = true;
                        continue;
                    }
                    // Backpressure: the other side's buffer is full; read no more.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(moved),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Stop::Reset(names[1], e)),
                }
            }
            if self.drained {
                (self.at, self.len, self.drained) = (0, 0, false);
                self.buf = None;
                return Ok(moved);
            }
            if self.eof {
                if !self.shut {
                    to.half_close();
                    self.shut = true;
                    moved = true;
                }
                return Ok(moved);
            }
            let buf = self.buf.get_or_insert_with(|| vec![0u8; BUF]);
            match from.read(buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    (self.at, self.len) = (0, n);
                    self.drained = kernel_from && n < BUF && !self.hup;
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    (self.at, self.len) = (0, 0);
                    self.buf = None;
                    return Ok(moved);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Stop::Reset(names[0], e)),
            }
        }
    }
}

/// Relays until both sides closed, one reset, or `idle` passed with no byte either way.
///
/// One thread per connection runs both directions nonblocking on its own `mio::Poll`
/// (the stream's readiness pair and the kernel socket's fd). Decision: this replaced a
/// thread per direction with blocking reads into a fixed 16 KiB buffer each: half the
/// threads, and buffers only while data flows (scripts/bench-proxy.sh measured the RSS
/// per idle relayed connection at 44 KiB before, see the README).
pub fn relay(mut client: TcpStream, up: KernelStream, idle: Duration) {
    let end = relay_loop(&mut client, &up, idle);
    if let Err(Stop::Reset(who, e)) = end {
        log::info!("proxy: {who}: {e}, reset");
        reset(&client);
        let _ = socket2::SockRef::from(&up).set_linger(Some(Duration::ZERO));
    }
    // Dropping `client` closes it: FIN sent already, or RST by linger 0.
}

fn relay_loop(client: &mut TcpStream, up: &KernelStream, idle: Duration) -> Result<(), Stop> {
    use mio::{unix::SourceFd, Events, Interest, Poll, Token};
    use std::os::fd::AsRawFd;
    let setup = |e: io::Error| Stop::Reset("relay set-up", e);
    client.set_nonblocking(true).map_err(setup)?;
    up.set_nonblocking(true).map_err(setup)?;
    let mut poll = Poll::new().map_err(setup)?;
    let both = Interest::READABLE | Interest::WRITABLE;
    poll.registry()
        .register(client, Token(0), both)
        .map_err(setup)?;
    let fd = up.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), Token(1), both)
        .map_err(setup)?;
    let mut events = Events::with_capacity(4);
    let (mut fwd, mut back) = (Dir::default(), Dir::default());
    let mut last = Instant::now();
    let (mut go_fwd, mut go_back) = (true, true);
    let result = loop {
        // Each step moves until `WouldBlock` (or its FIN); one step cannot make the other
        // direction's operations possible (only the network can), so one round per wake.
        let mut moved = false;
        if go_fwd {
            match fwd.step(&mut &*client, &mut &*up, ["client", "upstream"], false) {
                Ok(m) => moved |= m,
                Err(e) => break Err(e),
            }
        }
        if go_back {
            match back.step(&mut &*up, &mut &*client, ["upstream", "client"], true) {
                Ok(m) => moved |= m,
                Err(e) => break Err(e),
            }
        }
        if fwd.shut && back.shut {
            break Ok(());
        }
        if moved {
            last = Instant::now();
        } else if last.elapsed() >= idle {
            break Err(Stop::Reset(
                "idle",
                io::Error::new(io::ErrorKind::TimedOut, format!("idle for {idle:?}")),
            ));
        }
        if let Err(e) = poll.poll(&mut events, Some(TICK)) {
            if e.kind() != io::ErrorKind::Interrupted {
                break Err(setup(e));
            }
        }
        // The stream's events may mean readable or writable: `fwd` reads it, and `back`
        // writes to it if it has something waiting. The kernel socket's say which:
        // readable feeds `back`, writable drains what `fwd` has waiting. (Fewer system
        // calls per wake-up: each costs keep-alive latency.)
        (go_fwd, go_back) = (false, false);
        for ev in events.iter() {
            if ev.is_error() {
                (go_fwd, go_back) = (true, true);
                back.drained = false;
            } else if ev.token() == Token(0) {
                go_fwd = true;
                go_back |= back.pending();
            } else {
                back.hup |= ev.is_read_closed();
                if ev.is_readable() || ev.is_read_closed() {
                    // New data since the short read (this edge may be taken while `back`
                    // still waits on the client: the next step must read again).
                    back.drained = false;
                    go_back = true;
                }
                go_fwd |= ev.is_write_closed() || (ev.is_writable() && fwd.pending());
            }
        }
    };
    let _ = poll.registry().deregister(&mut SourceFd(&fd));
    let _ = poll.registry().deregister(client);
    result
}

/// `shutdown(Write)` on either kind of stream.
trait HalfClose {
    fn half_close(&mut self);
}

impl HalfClose for &TcpStream {
    fn half_close(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl HalfClose for &KernelStream {
    fn half_close(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_parses() {
        assert_eq!("direct".parse::<Upstream>(), Ok(Upstream::Direct));
        assert_eq!(
            "socks5://127.0.0.1:1080".parse::<Upstream>(),
            Ok(Upstream::Socks5("127.0.0.1:1080".into()))
        );
        assert!("socks5://nohost".parse::<Upstream>().is_err());
        assert!("http://x:1".parse::<Upstream>().is_err());
    }

    /// A scripted SOCKS5 server's bytes: method 0 accepted, CONNECT succeeded.
    struct Script {
        input: io::Cursor<Vec<u8>>,
        sent: Vec<u8>,
    }
    impl Read for Script {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.input.read(b)
        }
    }
    impl Write for Script {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.sent.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn socks5_connect_sends_rfc1928_bytes() {
        let mut s = Script {
            input: io::Cursor::new(vec![5, 0, 5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90]),
            sent: Vec::new(),
        };
        socks5_connect(&mut s, "198.51.100.7:443".parse().unwrap()).unwrap();
        assert_eq!(s.sent, [5, 1, 0, 5, 1, 0, 1, 198, 51, 100, 7, 1, 187]);
        // Reply 5: connection refused.
        let mut s = Script {
            input: io::Cursor::new(vec![5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
            sent: Vec::new(),
        };
        let e = socks5_connect(&mut s, "198.51.100.7:443".parse().unwrap()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
}
