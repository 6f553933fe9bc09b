//! HTTP/1.1, echo (RFC 862) and discard (RFC 863) inside the runtime's event loop: one
//! [`Service`] that accepts, reads, answers and closes on the stack directly, in the same
//! turn as the packets that asked. No thread per connection, no hand-off, no lock round trip;
//! this is what `tuntcp serve` runs (its `--threaded` mode serves the same apps over the API).
//!
//! HTTP is the [`Session`] that `http::serve_connection` drives too (same routes, errors,
//! pipelining, keep-alive and `Connection: close`). `/bytes/N` bodies are generated as send
//! buffer space frees up (each ACK touches the connection), whatever N.
//!
//! Memory per connection: the TCB, and here a small record (session state, a SHA-256 state
//! during `POST /sink`). Input is read into one buffer shared by all connections; only bytes
//! a session cannot consume yet (a partial head, a pipelined burst behind a large response)
//! are copied into the connection's own buffer, at most `http::input_capacity` (64 KiB) and
//! freed once consumed. Output the stack cannot take yet is kept the same way; a `/bytes/N`
//! body is generated only as far as the send buffer has room, so it never is.
//!
//! Timeouts (decisions, with nginx's `client_header_timeout` and `lingering_timeout` in mind):
//! - Header timeout ([`HttpConfig::header_timeout`], 10 s): a request head must be complete
//!   within it of its first byte being buffered; otherwise 408 and close. It bounds how long
//!   a partial request holds its buffer. An idle connection (nothing buffered, e.g. keep-alive
//!   between requests) has no timeout: it holds only its TCB and this record, as a kernel
//!   socket an application keeps open would (tests/tun_scale.rs holds 10,000 such).
//! - Body timeout ([`HttpConfig::body_timeout`], 60 s, nginx's `client_body_timeout`): a body
//!   that stops short of its length (or its last chunk) gets 408 and close once no byte of it
//!   arrived for that long. It holds no buffer, but it holds the connection forever otherwise.
//! - Lingering close ([`InLoopConfig::linger`], 1 s, as the threaded server): after an error
//!   response, or when request bytes are still unread, we half-close and read and drop until
//!   the peer's FIN or the linger time, so unread bytes do not turn the close into a RST that
//!   destroys the response (RFC 9112 §9.6). Otherwise (the usual `Connection: close`) the
//!   connection is closed at once, the FIN right behind the response.
//!
//! What it does not do: limit the number of connections (the listen backlog and the stack's
//! limits do), or TLS.

use crate::apps::http::{input_capacity, ConnInfo, HttpConfig, Session, SessionState};
use crate::service::Service;
use crate::stack::{OpenError, SocketHandle, Stack, Touched};
use crate::tcp;
use crate::time::{Duration, Instant};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Which apps listen where, and their limits.
#[derive(Clone, Debug)]
pub struct InLoopConfig {
    /// The HTTP server's port (`None`: off).
    pub http_port: Option<u16>,
    /// The echo server's port (RFC 862; `None`: off).
    pub echo_port: Option<u16>,
    /// The discard server's port (RFC 863; `None`: off).
    pub discard_port: Option<u16>,
    /// Listen backlog of each port.
    pub backlog: usize,
    /// The HTTP server's limits.
    pub http: HttpConfig,
    /// Which stack the HTTP root page names, e.g. `"tuntcp 0.1.0"`.
    pub stack_name: &'static str,
    /// Lingering close: how long to drain a half-closed connection.
    pub linger: Duration,
}

impl Default for InLoopConfig {
    fn default() -> InLoopConfig {
        InLoopConfig {
            http_port: Some(80),
            echo_port: Some(7),
            discard_port: Some(9),
            backlog: 1024,
            http: HttpConfig::default(),
            stack_name: concat!("tuntcp ", env!("CARGO_PKG_VERSION")),
            linger: Duration::from_secs(1),
        }
    }
}

/// Counters over the server's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InLoopStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Final HTTP responses queued (error responses included).
    pub requests: u64,
    /// Connections answered 408 because their request head did not complete in time.
    pub header_timeouts: u64,
    /// Connections answered 408 because their request body stalled.
    pub body_timeouts: u64,
    /// Connections that ended with a lingering close.
    pub lingered: u64,
    /// Connections closed (or released after a reset) and forgotten.
    pub closed: u64,
}

enum App {
    Http(Box<HttpConn>),
    Echo,
    Discard,
    /// Half-closed: drop what arrives until the peer's FIN or the deadline.
    Linger,
}

struct HttpConn {
    session: Session,
    /// Unconsumed input (a partial head, or input behind a pending response).
    input: Vec<u8>,
    /// Output the stack did not take yet.
    output: Vec<u8>,
    eof: bool,
    /// When input last arrived (the body timeout runs from it).
    last_rx: Instant,
}

struct Conn {
    app: App,
    /// The header, body or linger deadline, whichever applies; the queues may hold stale
    /// entries. A body deadline passed while input kept arriving is filed again.
    deadline: Option<Instant>,
    /// What `deadline` is for.
    waiting: Waiting,
}

/// Which HTTP deadline runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Nothing,
    Head,
    Body,
}

/// What a connection's turn ended with.
#[derive(PartialEq, Eq)]
enum Next {
    Keep,
    /// Half-close is done; linger.
    Linger,
    /// The handle was released (closed or aborted).
    Gone,
}

/// The in-loop servers: a [`Service`] for `Runtime::start_with` / `NetStack::tun_with`.
pub struct Servers {
    /// By `SocketHandle::index` (dense slot numbers): no hashing per event.
    conns: Vec<Option<Conn>>,
    open: usize,
    ctx: Ctx,
}

/// Everything but the connection table (so a connection and the rest borrow apart).
struct Ctx {
    cfg: InLoopConfig,
    /// Deadlines in the order set; one fixed duration each, so each queue is sorted.
    head_deadlines: VecDeque<(Instant, SocketHandle)>,
    linger_deadlines: VecDeque<(Instant, SocketHandle)>,
    /// Body deadlines are filed again later as input arrives, out of order: a heap.
    body_deadlines: BinaryHeap<Reverse<(Instant, SocketHandle)>>,
    /// Shared input and output buffers.
    scratch: Vec<u8>,
    out: Vec<u8>,
    stats: InLoopStats,
}

const SCRATCH: usize = 64 * 1024;

impl Servers {
    /// The servers `cfg` describes (they listen at [`Service::start`]).
    pub fn new(cfg: InLoopConfig) -> Servers {
        Servers {
            conns: Vec::new(),
            open: 0,
            ctx: Ctx {
                cfg,
                head_deadlines: VecDeque::new(),
                linger_deadlines: VecDeque::new(),
                body_deadlines: BinaryHeap::new(),
                scratch: vec![0; SCRATCH],
                out: Vec::with_capacity(2 * SCRATCH),
                stats: InLoopStats::default(),
            },
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> InLoopStats {
        self.ctx.stats
    }

    /// Connections held now.
    pub fn open(&self) -> usize {
        self.open
    }

    /// Bytes of connection-owned buffers now (input and output kept between turns).
    pub fn buffered(&self) -> usize {
        self.conns
            .iter()
            .flatten()
            .map(|c| match &c.app {
                App::Http(h) => h.input.capacity() + h.output.capacity(),
                _ => 0,
            })
            .sum()
    }

    fn accept_all(&mut self, stack: &mut Stack, now: Instant, port: u16) {
        if !self.ctx.owns(port) {
            return; // not ours (an API listener)
        }
        while let Some(h) = stack.accept(port) {
            // We act on `touched` keys, never on `poll_event`: no event queue per connection.
            stack.set_event_queue(h, false);
            let cfg = &self.ctx.cfg;
            let app = if Some(port) == cfg.http_port {
                match stack_info(stack, h, cfg.stack_name) {
                    Some(info) => App::Http(Box::new(HttpConn {
                        session: Session::new(info),
                        input: Vec::new(),
                        output: Vec::new(),
                        eof: false,
                        last_rx: now,
                    })),
                    None => {
                        stack.close(h);
                        continue;
                    }
                }
            } else if Some(port) == cfg.echo_port {
                App::Echo
            } else {
                App::Discard
            };
            self.ctx.stats.accepted += 1;
            self.insert(
                h,
                Conn {
                    app,
                    deadline: None,
                    waiting: Waiting::Nothing,
                },
            );
            // The request may be here already (it came with the handshake's last ACK).
            self.drive(stack, now, h);
        }
    }

    fn get_mut(&mut self, h: SocketHandle) -> Option<&mut Conn> {
        self.conns.get_mut(h.index())?.as_mut()
    }

    fn insert(&mut self, h: SocketHandle, c: Conn) {
        let i = h.index();
        if i >= self.conns.len() {
            self.conns.resize_with(i + 1, || None);
        }
        if self.conns[i].replace(c).is_none() {
            self.open += 1;
        }
    }

    fn remove(&mut self, h: SocketHandle) {
        if let Some(slot) = self.conns.get_mut(h.index()) {
            if slot.take().is_some() {
                self.open -= 1;
                self.ctx.stats.closed += 1;
            }
        }
    }

    fn drive(&mut self, stack: &mut Stack, now: Instant, h: SocketHandle) {
        let Some(c) = self.conns.get_mut(h.index()).and_then(|c| c.as_mut()) else {
            return;
        };
        if self.ctx.drive(stack, now, h, c) == Next::Gone {
            self.remove(h);
        }
    }

    /// Fires the deadlines that passed.
    fn expire(&mut self, stack: &mut Stack, now: Instant) {
        while let Some(&(t, h)) = self.ctx.head_deadlines.front().filter(|(t, _)| *t <= now) {
            self.ctx.head_deadlines.pop_front();
            let slot = self.conns.get_mut(h.index()).and_then(|c| c.as_mut());
            let Some(c) = slot.filter(|c| c.deadline == Some(t)) else {
                continue;
            };
            c.deadline = None;
            c.waiting = Waiting::Nothing;
            if let App::Http(hc) = &mut c.app {
                if hc.session.state() == SessionState::Head {
                    self.ctx.stats.header_timeouts += 1;
                    let before = hc.session.requests();
                    hc.session.timeout(&mut hc.output, &self.ctx.cfg.http);
                    self.ctx.stats.requests += hc.session.requests() - before;
                    log::info!("{h:?}: request head timeout");
                }
            }
            self.drive(stack, now, h);
        }
        while let Some(&Reverse((t, h))) = self.ctx.body_deadlines.peek().filter(|d| d.0 .0 <= now)
        {
            self.ctx.body_deadlines.pop();
            let slot = self.conns.get_mut(h.index()).and_then(|c| c.as_mut());
            let Some(c) = slot.filter(|c| c.deadline == Some(t)) else {
                continue;
            };
            let App::Http(hc) = &mut c.app else { continue };
            let Some(limit) = self.ctx.cfg.http.body_timeout else {
                continue;
            };
            if hc.session.state() != SessionState::Body {
                // Stale: the request moved on; drive files what its state needs now.
                c.deadline = None;
                c.waiting = Waiting::Nothing;
                self.drive(stack, now, h);
                continue;
            }
            let due = hc.last_rx + Duration::from(limit);
            if due > now {
                // Input came since this was filed: the body is alive, file it again.
                c.deadline = Some(due);
                self.ctx.body_deadlines.push(Reverse((due, h)));
                continue;
            }
            c.deadline = None;
            c.waiting = Waiting::Nothing;
            self.ctx.stats.body_timeouts += 1;
            let before = hc.session.requests();
            hc.session.timeout(&mut hc.output, &self.ctx.cfg.http);
            self.ctx.stats.requests += hc.session.requests() - before;
            log::info!("{h:?}: request body timeout");
            self.drive(stack, now, h);
        }
        while let Some(&(t, h)) = self.ctx.linger_deadlines.front().filter(|(t, _)| *t <= now) {
            self.ctx.linger_deadlines.pop_front();
            if self.get_mut(h).is_some_and(|c| c.deadline == Some(t)) {
                // Linger over: close (a RST if the peer still sent data we did not read).
                stack.close(h);
                self.remove(h);
            }
        }
    }
}

fn stack_info(stack: &Stack, h: SocketHandle, name: &'static str) -> Option<ConnInfo> {
    let c = stack.connection(h)?;
    Some(ConnInfo {
        local: c.local(),
        peer: c.remote(),
        stack: name,
    })
}

impl Ctx {
    fn owns(&self, port: u16) -> bool {
        let c = &self.cfg;
        [c.http_port, c.echo_port, c.discard_port].contains(&Some(port))
    }

    /// Runs one connection as far as it can go now, then files its deadline.
    fn drive(&mut self, stack: &mut Stack, now: Instant, h: SocketHandle, c: &mut Conn) -> Next {
        let next = match &mut c.app {
            App::Http(hc) => self.http(stack, now, h, hc),
            App::Echo => self.echo(stack, h),
            App::Discard | App::Linger => self.discard(stack, h),
        };
        match next {
            Next::Gone => {}
            Next::Linger => {
                self.stats.lingered += 1;
                c.app = App::Linger;
                c.waiting = Waiting::Nothing;
                let t = now + self.cfg.linger;
                c.deadline = Some(t);
                self.linger_deadlines.push_back((t, h));
            }
            Next::Keep => {
                if let App::Http(hc) = &c.app {
                    let http = &self.cfg.http;
                    // A partial head is buffered: its clock runs from now if not already. A
                    // body runs on its own deadline (one per request, filed again as input
                    // arrives); between requests nothing runs.
                    let want = match hc.session.state() {
                        SessionState::Head if !hc.input.is_empty() => Waiting::Head,
                        SessionState::Body => Waiting::Body,
                        _ => Waiting::Nothing,
                    };
                    if want != c.waiting {
                        c.waiting = want;
                        c.deadline = None;
                        let limit = match want {
                            Waiting::Head => http.header_timeout,
                            Waiting::Body => http.body_timeout,
                            Waiting::Nothing => None,
                        };
                        if let Some(limit) = limit {
                            let t = now + Duration::from(limit);
                            c.deadline = Some(t);
                            match want {
                                Waiting::Head => self.head_deadlines.push_back((t, h)),
                                _ => self.body_deadlines.push(Reverse((t, h))),
                            }
                        }
                    }
                }
            }
        }
        next
    }

    /// HTTP: send what is pending, then read and answer, until blocked either way.
    fn http(&mut self, stack: &mut Stack, now: Instant, h: SocketHandle, c: &mut HttpConn) -> Next {
        let cfg = &self.cfg.http;
        loop {
            // 1. Output: what the stack did not take, then body bytes as space allows.
            if !c.output.is_empty() {
                match send(stack, h, &c.output) {
                    Some(n) => drop(c.output.drain(..n)),
                    None => return close(stack, h),
                }
                if !c.output.is_empty() {
                    return Next::Keep;
                }
                c.output = Vec::new();
            }
            while c.session.body_pending() > 0 {
                let space = stack.connection(h).map_or(0, |x| x.send_capacity());
                if space == 0 {
                    return Next::Keep; // an ACK will touch us
                }
                let n = c.session.fill_body(&mut self.scratch[..space.min(SCRATCH)]);
                match send(stack, h, &self.scratch[..n]) {
                    Some(k) if k == n => {}
                    Some(k) => {
                        c.output.extend_from_slice(&self.scratch[k..n]);
                        return Next::Keep;
                    }
                    None => return close(stack, h),
                }
            }
            // 2. The end of the conversation.
            match c.session.state() {
                SessionState::Closing { linger } => {
                    let unread = stack.connection(h).is_some_and(|x| x.recv_queue() > 0);
                    if linger || unread || !c.input.is_empty() {
                        stack.shutdown_write(h);
                        return Next::Linger;
                    }
                    return close(stack, h);
                }
                SessionState::PeerClosed | SessionState::Truncated => return close(stack, h),
                SessionState::Head | SessionState::Body => {}
            }
            // 3. Input: feed the session from the shared buffer, or from its own leftovers.
            let before = c.session.requests();
            if c.input.is_empty() {
                let n = match stack.recv(h, &mut self.scratch) {
                    Ok(n) => n,
                    Err(tcp::Error::WouldBlock) => return Next::Keep,
                    Err(_) => return close(stack, h),
                };
                c.eof |= n == 0;
                c.last_rx = now;
                let used = c
                    .session
                    .feed(&self.scratch[..n], c.eof, &mut self.out, cfg);
                c.input.extend_from_slice(&self.scratch[used..n]);
            } else {
                if c.session.starved() && !c.eof {
                    let room = input_capacity(cfg).saturating_sub(c.input.len());
                    if room == 0 {
                        // The session answers before its input fills up; never reached.
                        stack.abort(h);
                        return Next::Gone;
                    }
                    match stack.recv(h, &mut self.scratch[..room.min(SCRATCH)]) {
                        Ok(0) => c.eof = true,
                        Ok(n) => {
                            c.input.extend_from_slice(&self.scratch[..n]);
                            c.last_rx = now;
                        }
                        Err(tcp::Error::WouldBlock) => return Next::Keep,
                        Err(_) => return close(stack, h),
                    }
                }
                let used = c.session.feed(&c.input, c.eof, &mut self.out, cfg);
                c.input.drain(..used);
                if c.input.is_empty() {
                    c.input = Vec::new();
                }
            }
            self.stats.requests += c.session.requests() - before;
            // What the session answered goes to the stack now (the same turn).
            if !self.out.is_empty() {
                let taken = match send(stack, h, &self.out) {
                    Some(n) => n,
                    None => {
                        self.out.clear();
                        return close(stack, h);
                    }
                };
                c.output.extend_from_slice(&self.out[taken..]);
                self.out.clear();
            }
        }
    }

    /// RFC 862: reads only as much as the send buffer can take, so nothing is kept here.
    fn echo(&mut self, stack: &mut Stack, h: SocketHandle) -> Next {
        loop {
            let space = stack.connection(h).map_or(0, |x| x.send_capacity());
            if space == 0 {
                return Next::Keep;
            }
            match stack.recv(h, &mut self.scratch[..space.min(SCRATCH)]) {
                Ok(0) => return close(stack, h),
                Ok(n) => {
                    if send(stack, h, &self.scratch[..n]) != Some(n) {
                        return close(stack, h);
                    }
                }
                Err(tcp::Error::WouldBlock) => return Next::Keep,
                Err(_) => return close(stack, h),
            }
        }
    }

    /// RFC 863 (and the drain of a lingering close): read and drop until EOF.
    fn discard(&mut self, stack: &mut Stack, h: SocketHandle) -> Next {
        loop {
            // Consumed in place: nothing is copied out just to be dropped.
            match stack.recv_with(h, |data| data.len()) {
                Ok(0) => return close(stack, h),
                Ok(_) => {}
                Err(tcp::Error::WouldBlock) => return Next::Keep,
                Err(_) => return close(stack, h),
            }
        }
    }
}

/// `stack.send`: bytes taken (0 when the buffer is full), `None` when the connection can
/// no longer send.
fn send(stack: &mut Stack, h: SocketHandle, data: &[u8]) -> Option<usize> {
    match stack.send(h, data) {
        Ok(n) => Some(n),
        Err(tcp::Error::WouldBlock) => Some(0),
        Err(_) => None,
    }
}

/// Releases the handle (FIN, or RST with unread data); the stack finishes the close.
fn close(stack: &mut Stack, h: SocketHandle) -> Next {
    stack.close(h);
    Next::Gone
}

impl Service for Servers {
    fn start(&mut self, stack: &mut Stack) -> Result<(), OpenError> {
        let c = &self.ctx.cfg;
        for port in [c.http_port, c.echo_port, c.discard_port]
            .into_iter()
            .flatten()
        {
            stack.listen(port, c.backlog)?;
        }
        Ok(())
    }

    fn poll(&mut self, stack: &mut Stack, now: Instant, touched: &[Touched]) {
        for t in touched {
            match *t {
                Touched::Listener(port) => self.accept_all(stack, now, port),
                Touched::Conn(h) => self.drive(stack, now, h),
            }
        }
        self.expire(stack, now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let a = self.ctx.head_deadlines.front().map(|d| d.0);
        let b = self.ctx.linger_deadlines.front().map(|d| d.0);
        let c = self.ctx.body_deadlines.peek().map(|d| d.0 .0);
        a.into_iter().chain(b).chain(c).min()
    }
}
