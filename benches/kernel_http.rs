//! The kernel reference for `scripts/bench.sh`'s short connections: a single-threaded mio
//! HTTP server on kernel sockets, serving our [`Session`] (the same HTTP code as
//! `tuntcp serve`: `GET /`, `GET /bytes/N`, `POST /sink`, keep-alive, pipelining). The
//! bench runs it in one namespace of a veth pair and `ab` in the other, so the figure says
//! what `ab` and the kernel can do on this machine, kernel<->kernel.
//!
//! ```text
//! kernel_http [--addr 10.77.0.2:80]
//! ```
//!
//! What it does not do: timeouts or lingering close (`ab` needs neither); it runs until killed.

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use tuntcp::apps::http::{input_capacity, ConnInfo, HttpConfig, Session, SessionState};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    sock: TcpStream,
    session: Session,
    input: Vec<u8>,
    out: Vec<u8>,
    eof: bool,
}

/// Runs a connection until it would block; false when it is over.
fn drive(c: &mut Conn, cfg: &HttpConfig, scratch: &mut [u8]) -> io::Result<bool> {
    loop {
        // The head and the start of the body in one write (one segment with nodelay for a
        // small response, so a relay without TCP_NODELAY, such as microsocks, gets it whole).
        if c.session.body_pending() > 0 && c.out.len() < scratch.len() {
            let n = c.session.fill_body(scratch);
            c.out.extend_from_slice(&scratch[..n]);
        }
        // Output first: the head/small bodies, then /bytes/N as the socket takes it.
        while !c.out.is_empty() {
            match c.sock.write(&c.out) {
                Ok(n) => drop(c.out.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        if c.session.body_pending() > 0 {
            let n = c.session.fill_body(scratch);
            c.out.extend_from_slice(&scratch[..n]);
            continue;
        }
        match c.session.state() {
            SessionState::Closing { .. } | SessionState::PeerClosed | SessionState::Truncated => {
                return Ok(false)
            }
            SessionState::Head | SessionState::Body => {}
        }
        if c.session.starved() && !c.eof {
            let room = (input_capacity(cfg) - c.input.len()).min(scratch.len());
            match c.sock.read(&mut scratch[..room]) {
                Ok(0) => c.eof = true,
                Ok(n) => c.input.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        let used = c.session.feed(&c.input, c.eof, &mut c.out, cfg);
        c.input.drain(..used);
    }
}

fn main() -> io::Result<()> {
    let mut addr: SocketAddr = "10.77.0.2:80".parse().expect("address");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v.parse().map_err(io::Error::other)?,
            _ => {
                eprintln!("usage: kernel_http [--addr IP:PORT]");
                std::process::exit(2);
            }
        }
    }
    let cfg = HttpConfig {
        server_name: "kernel".into(),
        ..HttpConfig::default()
    };
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("kernel_http: HTTP on {addr}");
    let mut events = Events::with_capacity(1024);
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            let ready: Vec<usize> = if ev.token() == LISTENER {
                let mut v = Vec::new();
                loop {
                    match listener.accept() {
                        Ok((mut sock, peer)) => {
                            let _ = sock.set_nodelay(true);
                            let id = next;
                            next = next.wrapping_add(1);
                            poll.registry().register(
                                &mut sock,
                                Token(id),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            let info = ConnInfo {
                                local: sock.local_addr()?,
                                peer,
                                stack: "linux",
                            };
                            conns.insert(
                                id,
                                Conn {
                                    sock,
                                    session: Session::new(info),
                                    input: Vec::new(),
                                    out: Vec::new(),
                                    eof: false,
                                },
                            );
                            v.push(id);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            eprintln!("kernel_http: accept: {e}");
                            break;
                        }
                    }
                }
                v
            } else {
                vec![ev.token().0]
            };
            for id in ready {
                let Some(c) = conns.get_mut(&id) else {
                    continue;
                };
                if !matches!(drive(c, &cfg, &mut scratch), Ok(true)) {
                    if let Some(mut c) = conns.remove(&id) {
                        let _ = poll.registry().deregister(&mut c.sock);
                    }
                }
            }
        }
    }
}
