//! The smoltcp 0.14 HTTP server of the benchmarks, on whatever device it is given: the TUN
//! of `smoltcp_server` (the live benchmark) or the in-memory device of `sim_conns`.
//!
//! It serves what `tuntcp serve` serves for the benchmark: HTTP on port 80 (`GET /`,
//! `GET /bytes/N` with the same body bytes as ours, `GET /zeros/N`, `POST /sink`) and
//! discard on port 9. The HTTP responder is minimal, enough for curl and ab: the request
//! line, `Content-Length` and `Connection` (HTTP/1.1 keeps the connection by default,
//! HTTP/1.0 only with `keep-alive`); pipelined requests are served in order. What it does
//! not do: chunked bodies, header limits beyond 16 KiB, timeouts.
//!
//! smoltcp has no listen backlog: each socket listens and serves one connection at a time,
//! so the pool size bounds concurrent connections (HTTP; port 9 gets 4). A socket that
//! reaches TIME-WAIT is recycled at once (smoltcp would hold it 10 s), which favours
//! smoltcp in the short-connection test; without it a fixed pool runs dry within a second.

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use tuntcp::apps::http::pattern_fill;

/// The server's address (the kernel or scripted client is 10.66.0.1).
const OUR_ADDR: [u8; 4] = [10, 66, 0, 2];
/// Default HTTP sockets in the pool, and send and receive buffer bytes of each socket.
pub const HTTP_SOCKETS: usize = 64;
pub const BUFFER: usize = 256 * 1024;
const MAX_HEAD: usize = 16 * 1024;
const DISCARD_SOCKETS: usize = 4;

/// The interface, its sockets and their application state.
pub struct Server {
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    conns: Vec<Conn>,
}

impl Server {
    /// `http_sockets` listening on port 80 and 4 on port 9, each with `buffer` bytes each way.
    pub fn new<D: Device + ?Sized>(
        dev: &mut D,
        seed: u64,
        http_sockets: usize,
        buffer: usize,
        now: Instant,
    ) -> Server {
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, dev, now);
        iface.update_ip_addrs(|a| {
            let [a0, a1, a2, a3] = OUR_ADDR;
            a.push(IpCidr::new(IpAddress::v4(a0, a1, a2, a3), 24))
                .expect("address");
        });
        let mut sockets = SocketSet::new(vec![]);
        let mut conns = Vec::new();
        for i in 0..http_sockets + DISCARD_SOCKETS {
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; buffer]),
                tcp::SocketBuffer::new(vec![0; buffer]),
            );
            let (kind, port) = if i < http_sockets {
                (Kind::Http, 80)
            } else {
                (Kind::Discard, 9)
            };
            s.listen(port).expect("listen");
            conns.push(Conn::new(sockets.add(s), kind, port));
        }
        Server {
            iface,
            sockets,
            conns,
        }
    }

    /// One pass of the main loop: `iface.poll`, then every socket's application. True if the
    /// application moved bytes: then run another pass before waiting, to send what it queued.
    pub fn pass<D: Device + ?Sized>(&mut self, now: Instant, dev: &mut D) -> bool {
        self.iface.poll(now, dev, &mut self.sockets);
        let mut moved = false;
        for c in &mut self.conns {
            moved |= c.service(self.sockets.get_mut::<tcp::Socket>(c.handle));
        }
        moved
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Http,
    Discard,
}

/// One socket's application state.
struct Conn {
    handle: SocketHandle,
    kind: Kind,
    port: u16,
    /// Request bytes read and not yet consumed.
    input: Vec<u8>,
    /// Request body bytes still to read and drop.
    body_left: u64,
    /// The response head (or small body) still to send, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    /// `/bytes/N` body still to send, and its offset.
    bytes_off: u64,
    bytes_left: u64,
    /// The body is `/zeros/N` (zero bytes) rather than the `/bytes/N` pattern.
    zeros: bool,
    /// Body bytes of a `POST /sink` read so far; answered when `body_left` reaches 0.
    sink_len: Option<u64>,
    keep_alive: bool,
    closing: bool,
}

impl Conn {
    fn new(handle: SocketHandle, kind: Kind, port: u16) -> Conn {
        Conn {
            handle,
            kind,
            port,
            input: Vec::new(),
            body_left: 0,
            out: Vec::new(),
            out_pos: 0,
            bytes_off: 0,
            bytes_left: 0,
            zeros: false,
            sink_len: None,
            keep_alive: true,
            closing: false,
        }
    }

    fn reset(&mut self) {
        *self = Conn::new(self.handle, self.kind, self.port);
    }

    fn responding(&self) -> bool {
        self.out_pos < self.out.len() || self.bytes_left > 0 || self.body_left > 0
    }

    /// Runs the application on this socket; true if it moved any bytes.
    fn service(&mut self, s: &mut tcp::Socket) -> bool {
        use tcp::State::*;
        match s.state() {
            Closed | TimeWait => {
                if s.state() == TimeWait {
                    s.abort(); // recycle at once (see the module doc)
                }
                self.reset();
                s.listen(self.port).expect("listen");
                return false;
            }
            Listen | SynReceived => return false,
            _ => {}
        }
        match self.kind {
            Kind::Discard => self.discard(s),
            Kind::Http => self.http(s),
        }
    }

    fn discard(&mut self, s: &mut tcp::Socket) -> bool {
        let mut moved = false;
        while s.can_recv() {
            match s.recv(|b| (b.len(), b.len())) {
                Ok(n) if n > 0 => moved = true,
                _ => break,
            }
        }
        if !s.may_recv() && !self.closing {
            self.closing = true;
            s.close();
        }
        moved
    }

    fn http(&mut self, s: &mut tcp::Socket) -> bool {
        let mut moved = false;
        loop {
            // Read: drop body bytes, or gather a request head.
            if self.body_left > 0 && !self.input.is_empty() {
                let n = (self.body_left.min(self.input.len() as u64)) as usize;
                self.input.drain(..n);
                self.body_left -= n as u64;
            }
            while s.can_recv() && (self.body_left > 0 || self.input.len() < MAX_HEAD) {
                let body_left = self.body_left;
                let input = &mut self.input;
                let got = s.recv(|b| {
                    if body_left > 0 {
                        let n = (body_left.min(b.len() as u64)) as usize;
                        (n, (n, true))
                    } else {
                        let n = b.len().min(MAX_HEAD - input.len());
                        input.extend_from_slice(&b[..n]);
                        (n, (n, false))
                    }
                });
                match got {
                    Ok((0, _)) | Err(_) => break,
                    Ok((n, dropped)) => {
                        moved = true;
                        if dropped {
                            self.body_left -= n as u64;
                        }
                    }
                }
            }
            if self.body_left == 0 {
                if let Some(len) = self.sink_len.take() {
                    self.out = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\nlength={len}\n",
                        format!("length={len}\n").len(),
                        self.conn_header()
                    )
                    .into_bytes();
                    self.out_pos = 0;
                }
            }
            // Write what is pending.
            while self.out_pos < self.out.len() {
                match s.send_slice(&self.out[self.out_pos..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        self.out_pos += n;
                        moved = true;
                    }
                }
            }
            while self.out_pos == self.out.len() && self.bytes_left > 0 {
                let (off, left, zeros) = (self.bytes_off, self.bytes_left, self.zeros);
                let sent = s.send(|b| {
                    let n = (left.min(b.len() as u64)) as usize;
                    if zeros {
                        b[..n].fill(0);
                    } else {
                        pattern_fill(off, &mut b[..n]);
                    }
                    (n, n)
                });
                match sent {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        self.bytes_off += n as u64;
                        self.bytes_left -= n as u64;
                        moved = true;
                    }
                }
            }
            if self.responding() || self.sink_len.is_some() {
                return moved;
            }
            if !self.keep_alive {
                if !self.closing {
                    self.closing = true;
                    s.close();
                }
                return moved;
            }
            // Next request, if a whole head is here.
            match find_head_end(&self.input) {
                Some(end) => {
                    let head: Vec<u8> = self.input.drain(..end).collect();
                    self.request(&head);
                }
                None => {
                    if self.input.len() >= MAX_HEAD {
                        self.out = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec();
                        self.out_pos = 0;
                        self.keep_alive = false;
                        continue;
                    }
                    if !s.may_recv() && !self.closing {
                        self.closing = true;
                        s.close();
                    }
                    return moved;
                }
            }
        }
    }

    fn conn_header(&self) -> &'static str {
        if self.keep_alive {
            "Connection: keep-alive\r\n"
        } else {
            "Connection: close\r\n"
        }
    }

    /// Parses one request head and sets up its response.
    fn request(&mut self, head: &[u8]) {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let line = lines.next().unwrap_or("");
        let mut parts = line.split(' ');
        let (method, path, version) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let mut content_length = 0u64;
        let mut connection = String::new();
        for h in lines {
            if let Some((k, v)) = h.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("connection") {
                    connection = v.to_ascii_lowercase();
                }
            }
        }
        self.keep_alive = match version {
            "HTTP/1.1" => connection != "close",
            _ => connection == "keep-alive",
        };
        self.body_left = content_length;
        self.out_pos = 0;
        let ch = self.conn_header();
        let small = |status: &str, body: &str| {
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{ch}\r\n{body}",
                body.len()
            )
            .into_bytes()
        };
        match (method, path) {
            ("GET", "/") => {
                self.out = small("200 OK", "smoltcp 0.14\ntry: GET /bytes/N, POST /sink\n")
            }
            ("GET", p) if p.starts_with("/zeros/") => match p["/zeros/".len()..].parse::<u64>() {
                Ok(n) => {
                    self.out = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {n}\r\n{ch}\r\n"
                    )
                    .into_bytes();
                    self.bytes_off = 0;
                    self.bytes_left = n;
                    self.zeros = true;
                }
                Err(_) => self.out = small("400 Bad Request", "bad length\n"),
            },
            ("GET", p) if p.starts_with("/bytes/") => match p["/bytes/".len()..].parse::<u64>() {
                Ok(n) => {
                    self.zeros = false;
                    self.out = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {n}\r\n{ch}\r\n"
                    )
                    .into_bytes();
                    self.bytes_off = 0;
                    self.bytes_left = n;
                }
                Err(_) => self.out = small("400 Bad Request", "bad length\n"),
            },
            ("POST", "/sink") => {
                self.sink_len = Some(content_length);
                self.out.clear();
            }
            _ => self.out = small("404 Not Found", "not found\n"),
        }
    }
}

fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}
