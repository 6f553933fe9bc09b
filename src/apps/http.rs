//! A small HTTP/1.1 origin server for one connection (RFC 9112 syntax, RFC 9110 semantics).
//!
//! [`serve_connection`] speaks HTTP/1.1 over any blocking `Read + Write` byte stream: our
//! `api::TcpStream`, `std::net::TcpStream`, or an in-memory buffer in tests. Resources:
//!
//! | request              | response                                                        |
//! |----------------------|-----------------------------------------------------------------|
//! | `GET` / `HEAD /`     | 200 `text/plain`: the stack's name and the connection's `peer -> local` |
//! | `GET` / `HEAD /bytes/N` | 200 `application/octet-stream`: exactly N bytes of [`pattern_fill`] |
//! | `GET` / `HEAD /zeros/N` | 200 `application/octet-stream`: N zero bytes (benchmarks: free to make) |
//! | `POST` / `PUT /sink` | reads the body; 200 `length=N sha256=<hex>\n`                   |
//!
//! What it does: persistent connections and pipelining (RFC 9112 §9.3), `Content-Length` and
//! chunked request bodies (§6.3, §7.1), `Expect: 100-continue` (RFC 9110 §10.1.1), and error
//! statuses for malformed (400), oversized (414, 431), unroutable (404, 405) and unsupported
//! (501, 505) requests. Memory per connection is bounded whatever N or the body size: one
//! input buffer of `max(max_header_bytes + 1, 64 KiB)` bytes, an output buffer under 128 KiB
//! and `max_headers` httparse slots.
//!
//! Timeouts: [`HttpConfig::header_timeout`] and [`HttpConfig::body_timeout`] end a request
//! that stalls with 408. The [`Session`] reads no clock: its driver does. `apps::inloop` runs
//! them on the runtime's clock; the blocking driver here checks them with the monotonic clock
//! each time a read times out, so they need a read timeout on the stream (`tuntcp serve
//! --threaded` sets 20 ms); a stream without one is never timed out.
//!
//! What it does not do: TLS, HTTP/2, `Upgrade`, chunked or compressed *responses* (every
//! response carries `Content-Length`), and closing the stream: when [`serve_connection`]
//! returns, the caller half-closes and closes it (see its doc).
//!
//! Deviation: responses carry no `Date` header although RFC 9110 §6.6.1 asks servers with a
//! clock to send one; the session reads no clock, so its output is deterministic.

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Limits and identity of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Largest request head (request-line + header fields + blank line) accepted; longer heads
    /// get 431 (or 414 when the request-line alone does not fit). Also bounds one chunk-size
    /// line and a chunked body's trailer section.
    pub max_header_bytes: usize,
    /// Most header fields per request; more get 431.
    pub max_headers: usize,
    /// Value of the `Server` header (control characters are dropped).
    pub server_name: String,
    /// A request head must be complete this long after its first byte, else 408 and close
    /// (nginx's `client_header_timeout`); `None`: no limit.
    pub header_timeout: Option<Duration>,
    /// A request body must make progress at least this often, else 408 and close (nginx's
    /// `client_body_timeout`: a body shorter than its `Content-Length` would otherwise hold
    /// the connection forever); `None`: no limit.
    pub body_timeout: Option<Duration>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            server_name: "tuntcp".to_string(),
            header_timeout: Some(Duration::from_secs(10)),
            body_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// What the server tells the client about the connection it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// Our end of the connection.
    pub local: SocketAddr,
    /// The client's end.
    pub peer: SocketAddr,
    /// Which stack carries the connection, e.g. `"tuntcp 0.1.0"`.
    pub stack: &'static str,
}

/// Counters for one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Final responses sent (error responses included, `100 Continue` not).
    pub requests: u64,
    /// Bytes read from the stream (including any read but left unprocessed at the end).
    pub bytes_in: u64,
    /// Bytes written to the stream.
    pub bytes_out: u64,
    /// The stream would block (a read timeout) between requests with nothing buffered:
    /// nothing is lost, and the caller may serve the connection again once it is readable
    /// (how `tuntcp serve` keeps idle keep-alive connections without a thread each).
    pub parked: bool,
}

/// Read size, output batching threshold and `/bytes/N` chunk size.
const IO_CHUNK: usize = 64 * 1024;

/// The byte at offset `i` of every `/bytes/N` body.
///
/// The body is the output of SplitMix64 seeded with 0, each 64-bit word in little-endian
/// order: byte `i` is byte `i % 8` of `mix(0x9E3779B97F4A7C15 * (i / 8 + 1))` (wrapping),
/// with `mix(z) = z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
/// z ^ (z >> 31)`. It never repeats within 2^67 bytes, so a dropped, duplicated or shifted
/// chunk changes the SHA-256 of the body.
pub fn pattern_byte(i: u64) -> u8 {
    pattern_word(i / 8).to_le_bytes()[(i % 8) as usize]
}

/// Fills `buf` with the pattern bytes at offsets `offset..offset + buf.len()` (wrapping
/// past `u64::MAX`); the same bytes as [`pattern_byte`], eight at a time.
pub fn pattern_fill(offset: u64, buf: &mut [u8]) {
    let mut word = offset / 8;
    let skip = (offset % 8) as usize;
    let (head, rest) = buf.split_at_mut((8 - skip).min(buf.len()) * usize::from(skip != 0));
    if !head.is_empty() {
        head.copy_from_slice(&pattern_word(word).to_le_bytes()[skip..skip + head.len()]);
        word = (word + 1) & WORD_MASK;
    }
    let mut chunks = rest.chunks_exact_mut(8);
    for c in &mut chunks {
        c.copy_from_slice(&pattern_word(word).to_le_bytes());
        word = (word + 1) & WORD_MASK;
    }
    let tail = chunks.into_remainder();
    let n = tail.len();
    tail.copy_from_slice(&pattern_word(word).to_le_bytes()[..n]);
}

/// Word indices wrap with byte offsets: there are 2^61 words.
const WORD_MASK: u64 = u64::MAX >> 3;

fn pattern_word(w: u64) -> u64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut z = w.wrapping_add(1).wrapping_mul(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Serves requests on one connection until the peer closes it between requests, a request
/// asks to close (`Connection: close`, or HTTP/1.0 without `keep-alive`), or an error.
///
/// Malformed or refused requests get an error response and end the connection with `Ok`.
/// Returns `Err` for I/O errors, and `UnexpectedEof` when the peer closes in the middle of a
/// request. The stream must be blocking (`WouldBlock` is returned as an error);
/// `Interrupted` is retried.
///
/// Everything written has been flushed when this returns. The caller then closes the
/// connection; after an error response it should half-close (`shutdown(Write)`) and read
/// until EOF or a timeout before closing, so that unread request bytes do not turn the close
/// into a reset that destroys the response in flight (RFC 9112 §9.6).
///
/// This is the blocking driver of a [`Session`]; `apps::inloop` drives the same protocol
/// inside the runtime's event loop.
pub fn serve_connection<S: Read + Write>(
    stream: &mut S,
    info: &ConnInfo,
    cfg: &HttpConfig,
) -> io::Result<HttpStats> {
    let mut d = Blocking {
        stream,
        buf: vec![0; input_capacity(cfg)],
        start: 0,
        end: 0,
        out: Vec::with_capacity(2 * IO_CHUNK),
        unflushed: false,
        stats: HttpStats::default(),
    };
    let mut session = Session::new(*info);
    let r = d.run(&mut session, cfg);
    d.stats.requests = session.requests();
    r?;
    d.flush_out()?;
    Ok(d.stats)
}

/// Unconsumed input a driver must be able to hold: a whole head of the largest size
/// accepted plus one byte (to tell "too large"), and at least one read's worth.
pub fn input_capacity(cfg: &HttpConfig) -> usize {
    cfg.max_header_bytes.saturating_add(1).max(IO_CHUNK)
}

/// A status code and its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status(u16, &'static str);

const OK: Status = Status(200, "OK");
const BAD_REQUEST: Status = Status(400, "Bad Request");
const NOT_FOUND: Status = Status(404, "Not Found");
const METHOD_NOT_ALLOWED: Status = Status(405, "Method Not Allowed");
const REQUEST_TIMEOUT: Status = Status(408, "Request Timeout");
const URI_TOO_LONG: Status = Status(414, "URI Too Long");
const FIELDS_TOO_LARGE: Status = Status(431, "Request Header Fields Too Large");
const NOT_IMPLEMENTED: Status = Status(501, "Not Implemented");
const VERSION_NOT_SUPPORTED: Status = Status(505, "HTTP Version Not Supported");

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "peer closed in the middle of a request",
    )
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked,
}

/// The parts of a request head the server acts on.
#[derive(Debug)]
struct Head {
    route: Route,
    /// A HEAD request: the response has no body.
    head_only: bool,
    body: Body,
    /// Close after the response.
    close: bool,
    /// HTTP/1.0 with `Connection: keep-alive`: persist, and say so in the response.
    keep_alive_10: bool,
    /// `Expect: 100-continue` on HTTP/1.1.
    expect_continue: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Root,
    Bytes(u64),
    /// `N` zero bytes: a body that costs nothing to make, for benchmarks of the stack.
    Zeros(u64),
    Sink,
    NotFound,
    /// Known resource, wrong method; carries the `Allow` value.
    WrongMethod(&'static str),
    UnknownMethod,
}

impl Route {
    /// The error status this route will answer, if it is one (known before the body).
    fn failure(self) -> Option<Status> {
        match self {
            Route::NotFound => Some(NOT_FOUND),
            Route::WrongMethod(_) => Some(METHOD_NOT_ALLOWED),
            Route::UnknownMethod => Some(NOT_IMPLEMENTED),
            Route::Root | Route::Bytes(_) | Route::Zeros(_) | Route::Sink => None,
        }
    }
}

/// `Connection` header of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnHeader {
    None,
    Close,
    KeepAlive,
}

/// The blocking driver: a read buffer and batched output over one stream.
struct Blocking<'s, S> {
    stream: &'s mut S,
    /// Input buffer; `buf[start..end]` is read but not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Output not yet written; kept under `2 * IO_CHUNK`.
    out: Vec<u8>,
    /// Written since the last `flush`.
    unflushed: bool,
    stats: HttpStats,
}

impl<S: Read + Write> Blocking<'_, S> {
    fn run(&mut self, session: &mut Session, cfg: &HttpConfig) -> io::Result<()> {
        let mut eof = false;
        // When the current wait inside a request began (read on the first read timeout).
        let mut waiting_since: Option<Instant> = None;
        loop {
            let n = session.feed(&self.buf[self.start..self.end], eof, &mut self.out, cfg);
            self.start += n;
            if self.start == self.end {
                (self.start, self.end) = (0, 0);
            }
            // A `/bytes/N` body streams through the output buffer, one chunk at a time.
            while session.body_pending() > 0 {
                let take = session.body_pending().min(IO_CHUNK as u64) as usize;
                let at = self.out.len();
                self.out.resize(at + take, 0);
                session.fill_body(&mut self.out[at..]);
                if self.out.len() >= IO_CHUNK {
                    self.write_out()?;
                }
            }
            if self.out.len() >= IO_CHUNK {
                self.write_out()?;
            }
            match session.state() {
                SessionState::Closing { .. } | SessionState::PeerClosed => return Ok(()),
                SessionState::Truncated => return Err(truncated()),
                SessionState::Head | SessionState::Body => {}
            }
            if !session.starved() {
                continue;
            }
            // Between requests with nothing buffered, a read timeout parks the connection.
            let park_ok = session.state() == SessionState::Head && self.start == self.end;
            // Inside a request its clock runs: the head's from its first byte, the body's
            // from its last progress (reset below whenever bytes arrive).
            let limit = match session.state() {
                SessionState::Head if !park_ok => cfg.header_timeout,
                SessionState::Body => cfg.body_timeout,
                _ => None,
            };
            if limit.is_none() || park_ok {
                waiting_since = None;
            }
            match self.fill() {
                Ok(0) => eof = true,
                Ok(_) => {
                    if session.state() == SessionState::Body {
                        waiting_since = None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && park_ok => {
                    self.stats.parked = true;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(limit) = limit {
                        let since = *waiting_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= limit {
                            session.timeout(&mut self.out, cfg);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Flushes pending output (the peer may wait for it before sending more), then reads
    /// once into the buffer. `Ok(0)` is end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        self.flush_out()?;
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // The session bounds what stays unconsumed below the capacity; never reached.
            return Err(io::Error::other("http: input buffer full"));
        }
        loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    self.stats.bytes_in += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A read timeout: between requests it parks (see `HttpStats::parked`); inside
                // one the caller checks the header and body timeouts.
                Err(e) => return Err(e),
            }
        }
    }

    fn write_out(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out)?;
            self.stats.bytes_out += self.out.len() as u64;
            self.out.clear();
            self.unflushed = true;
        }
        Ok(())
    }

    fn flush_out(&mut self) -> io::Result<()> {
        self.write_out()?;
        if self.unflushed {
            self.stream.flush()?;
            self.unflushed = false;
        }
        Ok(())
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

fn status_text(s: Status) -> String {
    format!("{} {}\n", s.0, s.1)
}

/// Length of the head if `data` holds a blank line ending it; the search restarts a little
/// before `from`, where the previous search stopped.
fn find_head_end(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from.saturating_sub(2);
    while let Some(p) = data[i..].iter().position(|&b| b == b'\n') {
        let lf = i + p;
        match data[lf + 1..] {
            [b'\n', ..] => return Some(lf + 2),
            [b'\r', b'\n', ..] => return Some(lf + 3),
            _ => i = lf + 1,
        }
    }
    None
}

/// Parses a request head and decides its body framing. Errors carry the status and whether
/// the request was a HEAD (so the error response has no body).
fn parse_head(bytes: &[u8], max_headers: usize) -> Result<Head, (Status, bool)> {
    // The usual limit fits on the stack (no allocation per request); larger ones go to the
    // heap. Left uninitialised: httparse writes only the headers it finds (zeroing 64
    // empty headers was 2 KiB of stores per request).
    const ON_STACK: usize = 64;
    let mut small = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; ON_STACK];
    let mut large = Vec::new();
    let headers = if max_headers <= ON_STACK {
        &mut small[..max_headers]
    } else {
        large.resize_with(max_headers, MaybeUninit::uninit);
        &mut large[..]
    };
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(bytes, headers) {
        Ok(httparse::Status::Complete(_)) => {}
        // We only parse once the blank line is in; a partial parse means a broken head.
        Ok(httparse::Status::Partial) => return Err((BAD_REQUEST, false)),
        Err(httparse::Error::TooManyHeaders) => return Err((FIELDS_TOO_LARGE, false)),
        Err(httparse::Error::Version) => return Err((VERSION_NOT_SUPPORTED, false)),
        Err(_) => return Err((BAD_REQUEST, false)),
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err((BAD_REQUEST, false));
    };
    let bad = |s| Err((s, method == "HEAD"));

    let (mut hosts, mut close, mut keep_alive, mut expect_continue) = (0, false, false, false);
    let mut content_length: Option<u64> = None;
    let (mut te_seen, mut te_chunked, mut te_other, mut te_last_chunked) = (false, 0, 0, false);
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            for t in tokens(h.value) {
                close |= t.eq_ignore_ascii_case(b"close");
                keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // RFC 9112 §6.3 item 5: a list of identical values is one value; anything else is fatal.
            for t in h.value.split(|&b| b == b',') {
                match (parse_decimal(trim(t)), content_length) {
                    (None, _) => return bad(BAD_REQUEST),
                    (Some(n), Some(prev)) if n != prev => return bad(BAD_REQUEST),
                    (Some(n), _) => content_length = Some(n),
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            te_seen = true;
            for t in tokens(h.value) {
                te_last_chunked = t.eq_ignore_ascii_case(b"chunked");
                if te_last_chunked {
                    te_chunked += 1;
                } else {
                    te_other += 1;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue |= tokens(h.value).any(|t| t.eq_ignore_ascii_case(b"100-continue"));
        }
    }
    // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; never more than one.
    if hosts > 1 || (minor == 1 && hosts == 0) {
        return bad(BAD_REQUEST);
    }
    let body = if te_seen {
        // §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing; with Content-Length we reject
        // rather than guess (request smuggling). §6.3 item 4: chunked must be final, and
        // §7: applied once. Other codings we do not implement (§6.1: 501).
        if minor == 0 || content_length.is_some() || !te_last_chunked || te_chunked != 1 {
            return bad(BAD_REQUEST);
        }
        if te_other > 0 {
            return bad(NOT_IMPLEMENTED);
        }
        Body::Chunked
    } else {
        Body::Length(content_length.unwrap_or(0))
    };
    // §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
    let close = close || (minor == 0 && !keep_alive);
    Ok(Head {
        route: route(method, target),
        head_only: method == "HEAD",
        body,
        close,
        keep_alive_10: minor == 0 && !close,
        expect_continue: expect_continue && minor == 1,
    })
}

fn route(method: &str, target: &str) -> Route {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    // RFC 9110 §9.1: an unrecognized method gets 501.
    if !KNOWN.contains(&method) {
        return Route::UnknownMethod;
    }
    // RFC 9112 §3.2.2: accept absolute-form ("http://host/path"); an empty path is "/".
    let path = match target.split_once("://") {
        Some((_, rest)) if !target.starts_with('/') => rest.find('/').map_or("/", |i| &rest[i..]),
        _ => target,
    };
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let (resource, allow) = if path == "/" {
        (Route::Root, "GET, HEAD")
    } else if path == "/sink" {
        (Route::Sink, "POST, PUT")
    } else if let Some(n) = path
        .strip_prefix("/bytes/")
        .and_then(|n| parse_decimal(n.as_bytes()))
    {
        (Route::Bytes(n), "GET, HEAD")
    } else if let Some(n) = path
        .strip_prefix("/zeros/")
        .and_then(|n| parse_decimal(n.as_bytes()))
    {
        (Route::Zeros(n), "GET, HEAD")
    } else {
        return Route::NotFound;
    };
    let allowed = match resource {
        // PUT replaces "the state of the target resource" (RFC 9110 §9.3.4): a sink has
        // none to keep, so PUT answers as POST does.
        Route::Sink => method == "POST" || method == "PUT",
        _ => method == "GET" || method == "HEAD",
    };
    if allowed {
        resource
    } else {
        Route::WrongMethod(allow)
    }
}

/// Comma-separated list elements, trimmed, empty ones skipped (RFC 9110 §5.6.1).
fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// 1*DIGIT without sign or whitespace, no overflow.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        let d = (b as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// `chunk-size [ chunk-ext ] CRLF` (RFC 9112 §7.1); extensions are ignored.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let size = match line.iter().position(|&b| b == b';') {
        Some(i) => line[..i].trim_ascii_end(), // BWS before ";"
        None => line,
    };
    if size.is_empty() {
        return None;
    }
    size.iter().try_fold(0u64, |acc, &b| {
        let d = (b as char).to_digit(16)?;
        acc.checked_mul(16)?.checked_add(u64::from(d))
    })
}

mod session;
pub use session::{Session, SessionState};

#[cfg(test)]
mod tests;
