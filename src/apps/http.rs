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
//! | `POST /sink`         | reads the body; 200 `length=N sha256=<hex>\n`                   |
//!
//! What it does: persistent connections and pipelining (RFC 9112 §9.3), `Content-Length` and
//! chunked request bodies (§6.3, §7.1), `Expect: 100-continue` (RFC 9110 §10.1.1), and error
//! statuses for malformed (400), oversized (414, 431), unroutable (404, 405) and unsupported
//! (501, 505) requests. Memory per connection is bounded whatever N or the body size: one
//! input buffer of `max(max_header_bytes + 1, 64 KiB)` bytes, an output buffer under 128 KiB
//! and `max_headers` httparse slots.
//!
//! What it does not do: TLS, HTTP/2, `Upgrade`, chunked or compressed *responses* (every
//! response carries `Content-Length`), timeouts (set them on the stream), and closing the
//! stream: when [`serve_connection`] returns, the caller half-closes and closes it (see its doc).
//!
//! Deviation: responses carry no `Date` header although RFC 9110 §6.6.1 asks servers with a
//! clock to send one; this module reads no clock, so its output is deterministic.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

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
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            server_name: "tuntcp".to_string(),
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
pub fn serve_connection<S: Read + Write>(
    stream: &mut S,
    info: &ConnInfo,
    cfg: &HttpConfig,
) -> io::Result<HttpStats> {
    let mut conn = Conn {
        stream,
        buf: vec![0; cfg.max_header_bytes.saturating_add(1).max(IO_CHUNK)],
        start: 0,
        end: 0,
        out: Vec::with_capacity(2 * IO_CHUNK),
        unflushed: false,
        park_ok: false,
        server: cfg
            .server_name
            .chars()
            .filter(|c| !c.is_control())
            .collect(),
        stats: HttpStats::default(),
    };
    conn.run(info, cfg)?;
    conn.flush_out()?;
    Ok(conn.stats)
}

/// A status code and its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status(u16, &'static str);

const OK: Status = Status(200, "OK");
const BAD_REQUEST: Status = Status(400, "Bad Request");
const NOT_FOUND: Status = Status(404, "Not Found");
const METHOD_NOT_ALLOWED: Status = Status(405, "Method Not Allowed");
const URI_TOO_LONG: Status = Status(414, "URI Too Long");
const FIELDS_TOO_LARGE: Status = Status(431, "Request Header Fields Too Large");
const NOT_IMPLEMENTED: Status = Status(501, "Not Implemented");
const VERSION_NOT_SUPPORTED: Status = Status(505, "HTTP Version Not Supported");

/// Why request processing stopped early.
enum Stop {
    /// Send this error status, then close.
    Reply(Status),
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

fn eof() -> Stop {
    Stop::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "peer closed in the middle of a request",
    ))
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
    method: String,
    target: String,
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

/// `Connection` header of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnHeader {
    None,
    Close,
    KeepAlive,
}

struct Conn<'s, S> {
    stream: &'s mut S,
    /// Input buffer; `buf[start..end]` is read but not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Output not yet written; kept under `2 * IO_CHUNK`.
    out: Vec<u8>,
    /// Written since the last `flush`.
    unflushed: bool,
    /// A read timeout may end `run` (nothing of a request is buffered yet).
    park_ok: bool,
    server: String,
    stats: HttpStats,
}

impl<S: Read + Write> Conn<'_, S> {
    fn run(&mut self, info: &ConnInfo, cfg: &HttpConfig) -> io::Result<()> {
        loop {
            let head_len = match self.read_head(cfg.max_header_bytes) {
                Ok(Some(n)) => n,
                Ok(None) => return Ok(()),
                Err(Stop::Reply(status)) => return self.error(status, false, ConnHeader::Close),
                Err(Stop::Io(e)) => return Err(e),
            };
            let head_bytes = &self.buf[self.start..self.start + head_len];
            let parsed = parse_head(head_bytes, cfg.max_headers);
            self.consume(head_len);
            let head = match parsed {
                Ok(h) => h,
                Err((status, head_only)) => {
                    return self.error(status, head_only, ConnHeader::Close)
                }
            };
            let head_only = head.method == "HEAD";
            let route = route(&head.method, &head.target);

            // Read the body whatever the route, so that the next pipelined request stays aligned.
            let mut hasher = (route == Route::Sink).then(Sha256::new);
            if head.expect_continue && head.body != Body::Length(0) {
                self.send(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                self.flush_out()?;
            }
            let body_len = match self.read_body(head.body, cfg.max_header_bytes, |b| {
                if let Some(h) = hasher.as_mut() {
                    h.update(b);
                }
            }) {
                Ok(n) => n,
                Err(Stop::Reply(status)) => {
                    return self.error(status, head_only, ConnHeader::Close)
                }
                Err(Stop::Io(e)) => return Err(e),
            };

            let conn = if head.close {
                ConnHeader::Close
            } else if head.keep_alive_10 {
                ConnHeader::KeepAlive
            } else {
                ConnHeader::None
            };
            match route {
                Route::Root => {
                    let page = format!(
                        "{}\nconnection: {} -> {}\ntry: GET /bytes/N, POST /sink\n",
                        info.stack, info.peer, info.local
                    );
                    self.respond(OK, TEXT, page.as_bytes(), None, conn, head_only)?;
                }
                Route::Bytes(n) => {
                    self.response_head(OK, "application/octet-stream", n, None, conn)?;
                    if !head_only {
                        self.send_pattern(n)?;
                    }
                }
                Route::Zeros(n) => {
                    self.response_head(OK, "application/octet-stream", n, None, conn)?;
                    if !head_only {
                        self.send_zeros(n)?;
                    }
                }
                Route::Sink => {
                    let digest = hasher.take().unwrap_or_default().finalize();
                    let text = format!("length={body_len} sha256={digest:x}\n");
                    self.respond(OK, TEXT, text.as_bytes(), None, conn, head_only)?;
                }
                Route::NotFound => self.error(NOT_FOUND, head_only, conn)?,
                Route::WrongMethod(allow) => {
                    // RFC 9110 §15.5.6: 405 carries Allow.
                    let (st, text) = (METHOD_NOT_ALLOWED, status_text(METHOD_NOT_ALLOWED));
                    self.respond(st, TEXT, text.as_bytes(), Some(allow), conn, head_only)?;
                }
                Route::UnknownMethod => self.error(NOT_IMPLEMENTED, head_only, conn)?,
            }
            if head.close {
                return Ok(());
            }
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
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
            // Callers bound what they buffer below the capacity; never reached.
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
                // A read timeout only matters between requests (see `HttpStats::parked`);
                // inside a request, keep waiting.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.park_ok => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn fill_or_eof(&mut self) -> Result<(), Stop> {
        match self.fill()? {
            0 => Err(eof()),
            _ => Ok(()),
        }
    }

    /// Buffers output, writing it out once a chunk's worth has accumulated.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(bytes);
        if self.out.len() >= IO_CHUNK {
            self.write_out()?;
        }
        Ok(())
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

    /// Waits for a complete request head and returns its length; `None` when the peer closed
    /// cleanly before sending one.
    fn read_head(&mut self, max: usize) -> Result<Option<usize>, Stop> {
        let mut scanned = 0;
        loop {
            // RFC 9112 §2.2: ignore empty lines received before the request-line.
            while self.start < self.end && matches!(self.buf[self.start], b'\r' | b'\n') {
                self.consume(1);
            }
            let data = self.buffered();
            let found = find_head_end(data, scanned);
            if found.is_some_and(|n| n <= max) {
                return Ok(found);
            }
            if found.is_some() || (data.len() >= max && !data.is_empty()) {
                // RFC 9112 §3: a request-line (target) longer than we parse gets 414.
                let line_fits = data[..max.min(data.len())].contains(&b'\n');
                return Err(Stop::Reply(if line_fits {
                    FIELDS_TOO_LARGE
                } else {
                    URI_TOO_LONG
                }));
            }
            scanned = data.len();
            self.park_ok = self.start == self.end;
            let filled = self.fill();
            self.park_ok = false;
            let n = match filled {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.start == self.end => {
                    self.stats.parked = true;
                    return Ok(None);
                }
                r => r?,
            };
            if n == 0 {
                return if self.start == self.end {
                    Ok(None)
                } else {
                    Err(eof())
                };
            }
        }
    }

    /// Waits for a complete line (up to and including LF) of at most `max` bytes and returns
    /// its length.
    fn read_line(&mut self, max: usize) -> Result<usize, Stop> {
        let mut scanned = 0;
        loop {
            let data = self.buffered();
            if let Some(i) = data[scanned..].iter().position(|&b| b == b'\n') {
                let n = scanned + i + 1;
                return if n > max {
                    Err(Stop::Reply(BAD_REQUEST))
                } else {
                    Ok(n)
                };
            }
            scanned = data.len();
            if scanned >= max {
                return Err(Stop::Reply(BAD_REQUEST));
            }
            self.fill_or_eof()?;
        }
    }

    /// Passes exactly `n` body bytes to `f`.
    fn read_exact_with(&mut self, mut n: u64, f: &mut impl FnMut(&[u8])) -> Result<(), Stop> {
        while n > 0 {
            if self.start == self.end {
                self.fill_or_eof()?;
            }
            let take = (self.end - self.start).min(usize::try_from(n).unwrap_or(usize::MAX));
            f(&self.buf[self.start..self.start + take]);
            self.consume(take);
            n -= take as u64;
        }
        Ok(())
    }

    /// Reads the request body, passing its (decoded) bytes to `f`; returns its length.
    fn read_body(
        &mut self,
        body: Body,
        max_line: usize,
        mut f: impl FnMut(&[u8]),
    ) -> Result<u64, Stop> {
        if let Body::Length(n) = body {
            self.read_exact_with(n, &mut f)?;
            return Ok(n);
        }
        // RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk is 0.
        let mut total: u64 = 0;
        loop {
            let n = self.read_line(max_line)?;
            let size = parse_chunk_size(&self.buf[self.start..self.start + n]);
            self.consume(n);
            let size = size.ok_or(Stop::Reply(BAD_REQUEST))?;
            if size == 0 {
                break;
            }
            self.read_exact_with(size, &mut f)?;
            total = total.saturating_add(size);
            while self.end - self.start < 2 {
                self.fill_or_eof()?;
            }
            if self.buffered()[..2] != *b"\r\n" {
                return Err(Stop::Reply(BAD_REQUEST));
            }
            self.consume(2);
        }
        // RFC 9112 §7.1.2: the trailer section ends with an empty line; its fields are dropped.
        let mut trailer = 0;
        loop {
            let n = self.read_line(max_line)?;
            let empty = matches!(self.buffered()[..n], [b'\n'] | [b'\r', b'\n']);
            self.consume(n);
            if empty {
                return Ok(total);
            }
            trailer += n;
            if trailer > max_line {
                return Err(Stop::Reply(FIELDS_TOO_LARGE));
            }
        }
    }

    fn response_head(
        &mut self,
        status: Status,
        content_type: &str,
        len: u64,
        allow: Option<&str>,
        conn: ConnHeader,
    ) -> io::Result<()> {
        let mut h = String::with_capacity(192);
        // Writing to a String cannot fail.
        let _ = write!(
            h,
            "HTTP/1.1 {} {}\r\nServer: {}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n",
            status.0, status.1, self.server
        );
        if let Some(allow) = allow {
            let _ = write!(h, "Allow: {allow}\r\n");
        }
        match conn {
            ConnHeader::None => {}
            ConnHeader::Close => h.push_str("Connection: close\r\n"),
            ConnHeader::KeepAlive => h.push_str("Connection: keep-alive\r\n"),
        }
        h.push_str("\r\n");
        self.stats.requests += 1;
        self.send(h.as_bytes())
    }

    /// A complete response with a small body (omitted for HEAD, RFC 9110 §9.3.2).
    fn respond(
        &mut self,
        status: Status,
        content_type: &str,
        body: &[u8],
        allow: Option<&str>,
        conn: ConnHeader,
        head_only: bool,
    ) -> io::Result<()> {
        self.response_head(status, content_type, body.len() as u64, allow, conn)?;
        if !head_only {
            self.send(body)?;
        }
        Ok(())
    }

    fn error(&mut self, status: Status, head_only: bool, conn: ConnHeader) -> io::Result<()> {
        let text = status_text(status);
        self.respond(status, TEXT, text.as_bytes(), None, conn, head_only)
    }

    /// Writes `n` zero bytes straight from a static buffer (no fill, no staging copy).
    fn send_zeros(&mut self, n: u64) -> io::Result<()> {
        static ZEROS: [u8; IO_CHUNK] = [0; IO_CHUNK];
        self.write_out()?;
        let mut left = n;
        while left > 0 {
            let take = left.min(IO_CHUNK as u64) as usize;
            self.stream.write_all(&ZEROS[..take])?;
            self.stats.bytes_out += take as u64;
            self.unflushed = true;
            left -= take as u64;
        }
        Ok(())
    }

    /// Streams `n` pattern bytes through the output buffer, one chunk at a time.
    fn send_pattern(&mut self, n: u64) -> io::Result<()> {
        let mut offset = 0;
        while offset < n {
            let take = (n - offset).min(IO_CHUNK as u64) as usize;
            let at = self.out.len();
            self.out.resize(at + take, 0);
            pattern_fill(offset, &mut self.out[at..]);
            offset += take as u64;
            if self.out.len() >= IO_CHUNK {
                self.write_out()?;
            }
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
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(bytes) {
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
        method: method.to_string(),
        target: target.to_string(),
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
        (Route::Sink, "POST")
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
        Route::Sink => method == "POST",
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

#[cfg(test)]
mod tests;
