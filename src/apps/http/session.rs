//! The HTTP/1.1 protocol of one connection without I/O: request bytes in, response bytes out.
//!
//! A [`Session`] is fed the connection's unconsumed input ([`Session::feed`]); it consumes
//! what it can, appends responses to an output buffer the caller owns, and stops when it
//! needs more input ([`Session::starved`]), when the output should be sent first (more than
//! `IO_CHUNK` bytes queued, or a `/bytes/N` body pending: [`Session::fill_body`]), or when
//! the connection is over ([`SessionState`]). Two drivers use it: the blocking
//! [`super::serve_connection`] over `Read + Write`, and the in-loop server
//! (`apps::inloop`) over the sans-IO stack.
//!
//! Memory is the caller's: the session keeps only the current request's framing state (and
//! a SHA-256 state for `POST /sink`), never input or a response body. A caller that keeps
//! unconsumed input must keep at most `max(max_header_bytes + 1, 64 KiB)` bytes: a head
//! that does not fit gets 414/431 before that.
//!
//! What it does not do: read a clock (timeouts belong to the driver: see
//! [`Session::timeout`]), or decide how to close (it says whether a lingering close is
//! advised).

use super::*;

/// Where a connection's conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Waiting for a request head (or between requests).
    Head,
    /// Reading a request body.
    Body,
    /// The last response is queued; read nothing more.
    Closing {
        /// An error cut the request short, so unread request bytes may follow: half-close
        /// and drain before closing (RFC 9112 §9.6) so they do not turn the close into a
        /// RST.
        linger: bool,
    },
    /// The peer closed cleanly between requests.
    PeerClosed,
    /// The peer closed in the middle of a request (no response is due).
    Truncated,
}

/// How much of the body is still to come (RFC 9112 §6.3, §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyLeft {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer section bytes seen so far.
    Trailer(usize),
}

/// The request being read.
struct Request {
    route: Route,
    head_only: bool,
    conn: ConnHeader,
    close: bool,
    hasher: Option<Sha256>,
    body_len: u64,
    left: BodyLeft,
}

enum Phase {
    Head,
    Body(Box<Request>),
    Done(SessionState),
}

/// One HTTP/1.1 connection's protocol state without I/O: fed received bytes, it queues
/// responses (see the module docs).
pub struct Session {
    info: ConnInfo,
    phase: Phase,
    /// How far the head search got in the unconsumed input.
    scanned: usize,
    /// The last `feed` stopped for lack of input.
    starved: bool,
    /// `/bytes/N` (or `/zeros/N`) body still to send, and its offset.
    body_off: u64,
    body_left: u64,
    /// The body is zeros (`/zeros/N`), not the pattern.
    body_zeros: bool,
    requests: u64,
}

/// Output queued beyond this makes `feed` stop and let the caller send it.
const OUT_HIGH: usize = IO_CHUNK;

impl Session {
    /// A session for a new connection.
    pub fn new(info: ConnInfo) -> Session {
        Session {
            info,
            phase: Phase::Head,
            scanned: 0,
            starved: true,
            body_off: 0,
            body_left: 0,
            body_zeros: false,
            requests: 0,
        }
    }

    /// Where the session is.
    pub fn state(&self) -> SessionState {
        match &self.phase {
            Phase::Head => SessionState::Head,
            Phase::Body(_) => SessionState::Body,
            Phase::Done(s) => *s,
        }
    }

    /// The last [`Session::feed`] consumed all it could and needs more input (or EOF).
    pub fn starved(&self) -> bool {
        self.starved
    }

    /// Final responses queued so far (error responses included, `100 Continue` not).
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// `/bytes/N` body bytes still to send (after the output buffer).
    pub fn body_pending(&self) -> u64 {
        self.body_left
    }

    /// Writes the next body bytes into `buf` (as many as fit); returns how many.
    pub fn fill_body(&mut self, buf: &mut [u8]) -> usize {
        let n = self.body_left.min(buf.len() as u64) as usize;
        if self.body_zeros {
            buf[..n].fill(0);
        } else {
            pattern_fill(self.body_off, &mut buf[..n]);
        }
        self.body_off += n as u64;
        self.body_left -= n as u64;
        n
    }

    /// The caller's deadline passed (the request head was not complete in
    /// [`HttpConfig::header_timeout`], or the body made no progress in
    /// [`HttpConfig::body_timeout`]): answer 408 and close (RFC 9110 §15.5.9). Between
    /// requests (nothing buffered) or after the end it does nothing.
    pub fn timeout(&mut self, out: &mut Vec<u8>, cfg: &HttpConfig) {
        let head_only = match &self.phase {
            Phase::Head => false,
            Phase::Body(r) => r.head_only,
            Phase::Done(_) => return,
        };
        self.error(REQUEST_TIMEOUT, head_only, ConnHeader::Close, out, cfg);
        self.phase = Phase::Done(SessionState::Closing { linger: true });
    }

    /// Processes `input` (the connection's unconsumed bytes; `eof`: nothing follows them) and
    /// returns how many bytes were consumed. Bytes not consumed must be offered again, with
    /// what arrives later appended.
    pub fn feed(&mut self, input: &[u8], eof: bool, out: &mut Vec<u8>, cfg: &HttpConfig) -> usize {
        let mut pos = 0;
        self.starved = false;
        loop {
            if self.body_left > 0 || out.len() >= OUT_HIGH {
                return pos;
            }
            let data = &input[pos..];
            let step = match &mut self.phase {
                Phase::Done(_) => return pos,
                Phase::Head => self.head(data, out, cfg),
                Phase::Body(_) => self.body(data, out, cfg),
            };
            match step {
                Some(n) => pos += n,
                None => {
                    if eof {
                        let s = if data.is_empty() && matches!(self.phase, Phase::Head) {
                            SessionState::PeerClosed
                        } else {
                            SessionState::Truncated
                        };
                        self.phase = Phase::Done(s);
                    } else {
                        self.starved = true;
                    }
                    return pos;
                }
            }
        }
    }

    /// One step at a request head: `Some(consumed)`, or `None` for "need more input".
    fn head(&mut self, data: &[u8], out: &mut Vec<u8>, cfg: &HttpConfig) -> Option<usize> {
        // RFC 9112 §2.2: ignore empty lines received before the request-line.
        let skip = data
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if skip > 0 {
            self.scanned = 0;
            return Some(skip);
        }
        let max = cfg.max_header_bytes;
        let found = find_head_end(data, self.scanned);
        if let Some(n) = found.filter(|&n| n <= max) {
            self.scanned = 0;
            self.start_request(parse_head(&data[..n], cfg.max_headers), out, cfg);
            return Some(n);
        }
        if found.is_some() || (data.len() >= max && !data.is_empty()) {
            // RFC 9112 §3: a request-line (target) longer than we parse gets 414.
            let line_fits = data[..max.min(data.len())].contains(&b'\n');
            let status = if line_fits {
                FIELDS_TOO_LARGE
            } else {
                URI_TOO_LONG
            };
            self.error(status, false, ConnHeader::Close, out, cfg);
            self.phase = Phase::Done(SessionState::Closing { linger: true });
            return Some(0);
        }
        self.scanned = data.len();
        None
    }

    fn start_request(
        &mut self,
        parsed: Result<Head, (Status, bool)>,
        out: &mut Vec<u8>,
        cfg: &HttpConfig,
    ) {
        let head = match parsed {
            Ok(h) => h,
            Err((status, head_only)) => {
                self.error(status, head_only, ConnHeader::Close, out, cfg);
                self.phase = Phase::Done(SessionState::Closing { linger: true });
                return;
            }
        };
        let route = head.route;
        let has_body = head.body != Body::Length(0);
        if head.expect_continue && has_body {
            // RFC 9110 §10.1.1: a request that will fail gets its final status at once,
            // not `100 Continue` for a body we would only discard; the client then does not
            // send it, so the connection closes (we cannot know where the next request starts).
            if let Some(status) = route.failure() {
                let allow = match route {
                    Route::WrongMethod(allow) => Some(allow),
                    _ => None,
                };
                let text = status_text(status);
                self.respond(
                    status,
                    TEXT,
                    text.as_bytes(),
                    allow,
                    ConnHeader::Close,
                    head.head_only,
                    out,
                    cfg,
                );
                self.phase = Phase::Done(SessionState::Closing { linger: true });
                return;
            }
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        // Otherwise the body is read whatever the route, so that the next pipelined request
        // stays aligned.
        let conn = if head.close {
            ConnHeader::Close
        } else if head.keep_alive_10 {
            ConnHeader::KeepAlive
        } else {
            ConnHeader::None
        };
        self.phase = Phase::Body(Box::new(Request {
            route,
            head_only: head.head_only,
            conn,
            close: head.close,
            hasher: (route == Route::Sink).then(Sha256::new),
            body_len: 0,
            left: match head.body {
                Body::Length(n) => BodyLeft::Length(n),
                Body::Chunked => BodyLeft::ChunkSize,
            },
        }));
    }

    /// One step in a request body: `Some(consumed)`, or `None` for "need more input".
    fn body(&mut self, data: &[u8], out: &mut Vec<u8>, cfg: &HttpConfig) -> Option<usize> {
        let Phase::Body(req) = &mut self.phase else {
            return Some(0);
        };
        let max_line = cfg.max_header_bytes;
        let bad = |s: &mut Session, status, out: &mut Vec<u8>| {
            let head_only = matches!(&s.phase, Phase::Body(r) if r.head_only);
            s.error(status, head_only, ConnHeader::Close, out, cfg);
            s.phase = Phase::Done(SessionState::Closing { linger: true });
        };
        match req.left {
            BodyLeft::Length(0) => {
                self.finish(out, cfg);
                Some(0)
            }
            BodyLeft::Length(n) | BodyLeft::ChunkData(n) => {
                if data.is_empty() {
                    return None;
                }
                let take = n.min(data.len() as u64) as usize;
                if let Some(h) = req.hasher.as_mut() {
                    h.update(&data[..take]);
                }
                req.body_len += take as u64;
                let rest = n - take as u64;
                req.left = match req.left {
                    BodyLeft::ChunkData(_) if rest == 0 => BodyLeft::ChunkEnd,
                    BodyLeft::ChunkData(_) => BodyLeft::ChunkData(rest),
                    _ => BodyLeft::Length(rest),
                };
                Some(take)
            }
            BodyLeft::ChunkSize => {
                // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF.
                let n = match line(data, max_line)? {
                    Ok(n) => n,
                    Err(()) => {
                        bad(self, BAD_REQUEST, out);
                        return Some(0);
                    }
                };
                match parse_chunk_size(&data[..n]) {
                    None => bad(self, BAD_REQUEST, out),
                    Some(0) => req.left = BodyLeft::Trailer(0),
                    Some(size) => req.left = BodyLeft::ChunkData(size),
                }
                Some(n)
            }
            BodyLeft::ChunkEnd => {
                if data.len() < 2 {
                    return None;
                }
                if data[..2] != *b"\r\n" {
                    bad(self, BAD_REQUEST, out);
                    return Some(0);
                }
                req.left = BodyLeft::ChunkSize;
                Some(2)
            }
            BodyLeft::Trailer(seen) => {
                // RFC 9112 §7.1.2: the trailer section ends with an empty line; fields dropped.
                let n = match line(data, max_line)? {
                    Ok(n) => n,
                    Err(()) => {
                        bad(self, BAD_REQUEST, out);
                        return Some(0);
                    }
                };
                if matches!(data[..n], [b'\n'] | [b'\r', b'\n']) {
                    self.finish(out, cfg);
                } else if seen + n > max_line {
                    bad(self, FIELDS_TOO_LARGE, out);
                } else {
                    req.left = BodyLeft::Trailer(seen + n);
                }
                Some(n)
            }
        }
    }

    /// The whole request is in: queue its response.
    fn finish(&mut self, out: &mut Vec<u8>, cfg: &HttpConfig) {
        let Phase::Body(mut req) = std::mem::replace(&mut self.phase, Phase::Head) else {
            return;
        };
        let (conn, head_only) = (req.conn, req.head_only);
        match req.route {
            Route::Root => {
                let page = format!(
                    "{}\nconnection: {} -> {}\ntry: GET /bytes/N, GET /zeros/N, POST /sink\n",
                    self.info.stack, self.info.peer, self.info.local
                );
                self.respond(OK, TEXT, page.as_bytes(), None, conn, head_only, out, cfg);
            }
            Route::Bytes(n) | Route::Zeros(n) => {
                self.response_head(OK, "application/octet-stream", n, None, conn, out, cfg);
                if !head_only {
                    self.body_off = 0;
                    self.body_left = n;
                    self.body_zeros = matches!(req.route, Route::Zeros(_));
                }
            }
            Route::Sink => {
                let digest = req.hasher.take().unwrap_or_default().finalize();
                let text = format!("length={} sha256={digest:x}\n", req.body_len);
                self.respond(OK, TEXT, text.as_bytes(), None, conn, head_only, out, cfg);
            }
            Route::NotFound => self.error(NOT_FOUND, head_only, conn, out, cfg),
            Route::WrongMethod(allow) => {
                // RFC 9110 §15.5.6: 405 carries Allow.
                let text = status_text(METHOD_NOT_ALLOWED);
                let st = METHOD_NOT_ALLOWED;
                self.respond(
                    st,
                    TEXT,
                    text.as_bytes(),
                    Some(allow),
                    conn,
                    head_only,
                    out,
                    cfg,
                );
            }
            Route::UnknownMethod => self.error(NOT_IMPLEMENTED, head_only, conn, out, cfg),
        }
        if req.close {
            self.phase = Phase::Done(SessionState::Closing { linger: false });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn response_head(
        &mut self,
        status: Status,
        content_type: &str,
        len: u64,
        allow: Option<&str>,
        conn: ConnHeader,
        out: &mut Vec<u8>,
        cfg: &HttpConfig,
    ) {
        // Written piece by piece into `out`: no formatting machinery or allocation per response.
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(status.0));
        out.push(b' ');
        out.extend_from_slice(status.1.as_bytes());
        out.extend_from_slice(b"\r\nServer: ");
        // Control characters are dropped from the configured name (no header injection).
        let name = &cfg.server_name;
        if name.bytes().any(|b| b.is_ascii_control()) || !name.is_ascii() {
            let clean: String = name.chars().filter(|c| !c.is_control()).collect();
            out.extend_from_slice(clean.as_bytes());
        } else {
            out.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(content_type.as_bytes());
        out.extend_from_slice(b"\r\nContent-Length: ");
        push_decimal(out, len);
        out.extend_from_slice(b"\r\n");
        if let Some(allow) = allow {
            out.extend_from_slice(b"Allow: ");
            out.extend_from_slice(allow.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        match conn {
            ConnHeader::None => {}
            ConnHeader::Close => out.extend_from_slice(b"Connection: close\r\n"),
            ConnHeader::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        }
        out.extend_from_slice(b"\r\n");
        self.requests += 1;
    }

    /// A complete response with a small body (omitted for HEAD, RFC 9110 §9.3.2).
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        status: Status,
        content_type: &str,
        body: &[u8],
        allow: Option<&str>,
        conn: ConnHeader,
        head_only: bool,
        out: &mut Vec<u8>,
        cfg: &HttpConfig,
    ) {
        self.response_head(
            status,
            content_type,
            body.len() as u64,
            allow,
            conn,
            out,
            cfg,
        );
        if !head_only {
            out.extend_from_slice(body);
        }
    }

    fn error(
        &mut self,
        status: Status,
        head_only: bool,
        conn: ConnHeader,
        out: &mut Vec<u8>,
        cfg: &HttpConfig,
    ) {
        let text = status_text(status);
        self.respond(
            status,
            TEXT,
            text.as_bytes(),
            None,
            conn,
            head_only,
            out,
            cfg,
        );
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A complete line (up to and including LF) of at most `max` bytes: `Some(Ok(len))`;
/// `Some(Err(()))` when it is or must become longer; `None` when more input is needed.
fn line(data: &[u8], max: usize) -> Option<Result<usize, ()>> {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) if i < max => Some(Ok(i + 1)),
        Some(_) => Some(Err(())),
        None if data.len() >= max => Some(Err(())),
        None => None,
    }
}
