//! Unit tests for `apps::http` over an in-memory stream (loopback: `tests/apps_http.rs`).

use super::*;

/// An in-memory connection: yields `input` at most `step` bytes per read, records output.
struct Mem {
    input: Vec<u8>,
    pos: usize,
    step: usize,
    output: Vec<u8>,
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const INFO: ConnInfo = ConnInfo {
    local: SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::new(10, 0, 0, 2),
        80,
    )),
    peer: SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::new(10, 0, 0, 1),
        5555,
    )),
    stack: "tuntcp test",
};

fn serve_with(input: &[u8], step: usize, cfg: &HttpConfig) -> (io::Result<HttpStats>, Vec<u8>) {
    let mut m = Mem {
        input: input.to_vec(),
        pos: 0,
        step,
        output: Vec::new(),
    };
    let r = serve_connection(&mut m, &INFO, cfg);
    (r, m.output)
}

/// Serves `input` (all of it available at once) and returns the stats and the output.
fn serve(input: &[u8]) -> (HttpStats, Vec<u8>) {
    let (r, out) = serve_with(input, usize::MAX, &HttpConfig::default());
    (r.expect("serve_connection failed"), out)
}

#[derive(Debug)]
struct Resp {
    code: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits `out` into responses with httparse; `head[i]` says response i answers a HEAD.
/// 1xx responses are returned too. Panics if bytes are left over.
fn responses(mut out: &[u8], head: &[bool]) -> Vec<Resp> {
    let mut v = Vec::new();
    while !out.is_empty() {
        let mut hs = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut hs);
        let n = match r.parse(out).expect("bad response") {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                panic!("truncated response: {:?}", String::from_utf8_lossy(out))
            }
        };
        let code = r.code.unwrap();
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect();
        out = &out[n..];
        let mut resp = Resp {
            code,
            headers,
            body: Vec::new(),
        };
        if code >= 200 {
            let len: usize = resp
                .header("content-length")
                .expect("no Content-Length")
                .parse()
                .unwrap();
            let finals = v.iter().filter(|r: &&Resp| r.code >= 200).count();
            if !head.get(finals).copied().unwrap_or(false) {
                resp.body = out[..len].to_vec();
                out = &out[len..];
            }
        }
        v.push(resp);
    }
    v
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

fn one(input: &[u8]) -> Resp {
    let (_, out) = serve(input);
    let mut v = responses(&out, &[]);
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

fn sha256_hex(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

fn pattern(n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    pattern_fill(0, &mut v);
    v
}

#[test]
fn pattern_is_splitmix64_seed_0_little_endian() {
    // SplitMix64 reference outputs for seed 0.
    let first: Vec<u8> = (0..16).map(pattern_byte).collect();
    let mut expect = 0xE220_A839_7B1D_CDAFu64.to_le_bytes().to_vec();
    expect.extend(0x6E78_9E6A_A1B9_65F4u64.to_le_bytes());
    assert_eq!(first, expect);
}

#[test]
fn pattern_fill_matches_pattern_byte_at_any_offset() {
    for offset in [0u64, 1, 7, 8, 13, 1 << 32, u64::MAX - 20] {
        for len in [0usize, 1, 5, 8, 9, 31] {
            let mut buf = vec![0; len];
            pattern_fill(offset, &mut buf);
            let expect: Vec<u8> = (0..len as u64)
                .map(|k| pattern_byte(offset.wrapping_add(k)))
                .collect();
            assert_eq!(buf, expect, "offset {offset} len {len}");
        }
    }
}

#[test]
fn pattern_does_not_repeat_by_chunk() {
    let mut a = vec![0; IO_CHUNK];
    let mut b = vec![0; IO_CHUNK];
    pattern_fill(0, &mut a);
    pattern_fill(IO_CHUNK as u64, &mut b);
    assert_ne!(a, b);
}

#[test]
fn root_names_stack_and_four_tuple() {
    let r = one(&get("/"));
    assert_eq!(r.code, 200);
    assert_eq!(r.header("server"), Some("tuntcp"));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(r.header("date"), None);
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.contains("tuntcp test"), "{body}");
    assert!(body.contains("10.0.0.1:5555 -> 10.0.0.2:80"), "{body}");
}

#[test]
fn bytes_bodies_have_exact_length_and_pattern() {
    for n in [0usize, 1, 7, IO_CHUNK - 1, IO_CHUNK, 3 * IO_CHUNK + 5] {
        let r = one(&get(&format!("/bytes/{n}")));
        assert_eq!(r.code, 200);
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert_eq!(r.header("content-length"), Some(n.to_string().as_str()));
        assert_eq!(r.body, pattern(n), "n = {n}");
    }
}

#[test]
fn zeros_bodies_have_exact_length_and_keep_the_connection() {
    let mut input = Vec::new();
    for n in [0usize, 5, IO_CHUNK + 3] {
        input.extend(get(&format!("/zeros/{n}")));
    }
    input.extend(get("/bytes/3"));
    let (stats, out) = serve(&input);
    let v = responses(&out, &[false; 4]);
    assert_eq!(stats.requests, 4);
    for (r, n) in v.iter().zip([0usize, 5, IO_CHUNK + 3]) {
        assert_eq!(r.code, 200);
        assert_eq!(r.header("content-length"), Some(n.to_string().as_str()));
        assert_eq!(r.body, vec![0u8; n]);
    }
    // Pipelined after a zeros body, the next response is intact.
    assert_eq!(v[3].body, pattern(3));
}

#[test]
fn head_has_get_headers_and_no_body() {
    let input =
        b"HEAD /bytes/5000000 HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
    let (stats, out) = serve(input);
    let v = responses(&out, &[true, true]);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].header("content-length"), Some("5000000"));
    assert!(
        v[1].header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
    assert!(out.len() < 500, "HEAD sent a body");
    assert_eq!(stats.requests, 2);
}

#[test]
fn sink_hashes_a_content_length_body() {
    let body = pattern(100_000);
    let mut input = format!(
        "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    input.extend(&body);
    let r = one(&input);
    assert_eq!(r.code, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert_eq!(
        text,
        format!("length=100000 sha256={}\n", sha256_hex(&body))
    );
}

#[test]
fn sink_decodes_chunked_with_extensions_and_trailers() {
    let input = b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        5\r\nhello\r\n1;name=value\r\n \r\nA ; ext\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    let r = one(input);
    let text = String::from_utf8(r.body).unwrap();
    assert_eq!(
        text,
        format!("length=16 sha256={}\n", sha256_hex(b"hello 0123456789"))
    );
}

#[test]
fn empty_sink_bodies() {
    let input = b"POST /sink HTTP/1.1\r\nHost: x\r\n\r\n\
        POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let (_, out) = serve(input);
    let v = responses(&out, &[]);
    let empty = format!("length=0 sha256={}\n", sha256_hex(b""));
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|r| r.body == empty.as_bytes()));
}

#[test]
fn hundred_pipelined_requests_answered_in_order() {
    let mut input = Vec::new();
    for i in 0..100 {
        input.extend(get(&format!("/bytes/{i}")));
    }
    let (stats, out) = serve(&input);
    let v = responses(&out, &[]);
    assert_eq!(v.len(), 100);
    for (i, r) in v.iter().enumerate() {
        assert_eq!(r.body, pattern(i), "response {i}");
    }
    assert_eq!(stats.requests, 100);
    assert_eq!(stats.bytes_in, input.len() as u64);
    assert_eq!(stats.bytes_out, out.len() as u64);
}

#[test]
fn one_byte_per_read_client() {
    let body = b"0123456789abcdef";
    let mut input = b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    input.extend(
        format!(
            "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .bytes(),
    );
    input.extend(body);
    input.extend(b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    input.extend(get("/bytes/300"));
    let (r, out) = serve_with(&input, 1, &HttpConfig::default());
    assert_eq!(r.unwrap().requests, 4);
    let v = responses(&out, &[]);
    assert_eq!(v.len(), 4);
    assert_eq!(v[0].code, 200);
    assert_eq!(
        v[1].body,
        format!("length=16 sha256={}\n", sha256_hex(body)).as_bytes()
    );
    assert_eq!(
        v[2].body,
        format!("length=3 sha256={}\n", sha256_hex(b"abc")).as_bytes()
    );
    assert_eq!(v[3].body, pattern(300));
}

#[test]
fn connection_close_is_honoured() {
    let mut input = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, Close\r\n\r\n".to_vec();
    input.extend(get("/"));
    let (stats, out) = serve(&input);
    let v = responses(&out, &[]);
    assert_eq!(v.len(), 1, "answered a request after Connection: close");
    assert_eq!(v[0].header("connection"), Some("close"));
    assert_eq!(stats.requests, 1);
}

#[test]
fn http10_closes_unless_keep_alive() {
    let mut input = b"GET / HTTP/1.0\r\n\r\n".to_vec();
    input.extend(get("/"));
    let v = responses(&serve(&input).1, &[]);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].header("connection"), Some("close"));

    let mut input = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec();
    input.extend(get("/"));
    let v = responses(&serve(&input).1, &[]);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].header("connection"), Some("keep-alive"));
    assert_eq!(v[1].header("connection"), None);
}

#[test]
fn get_body_is_discarded_and_pipelining_stays_aligned() {
    let mut input =
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 23\r\n\r\nGET /nothere HTTP/1.1\r\n"
            .to_vec();
    input.extend(b"GET /nothere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n0\r\n\r\n");
    input.extend(get("/bytes/3"));
    let v = responses(&serve(&input).1, &[]);
    let codes: Vec<u16> = v.iter().map(|r| r.code).collect();
    assert_eq!(codes, [200, 404, 200]);
    assert_eq!(v[2].body, pattern(3));
}

#[test]
fn routing_errors_keep_the_connection() {
    let mut input = get("/nope");
    input.extend(get("/bytes/12x"));
    input.extend(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    input.extend(get("/sink"));
    input.extend(b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n");
    input.extend(get("/?q=1"));
    input.extend(b"GET http://example.com/bytes/2 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    let v = responses(&serve(&input).1, &[]);
    let codes: Vec<u16> = v.iter().map(|r| r.code).collect();
    assert_eq!(codes, [404, 404, 405, 405, 501, 200, 200]);
    assert_eq!(v[2].header("allow"), Some("GET, HEAD"));
    assert_eq!(v[3].header("allow"), Some("POST, PUT"));
    assert_eq!(v[6].body, pattern(2));
    assert!(v.iter().all(|r| r.header("connection").is_none()));
}

/// Each input gets exactly one response with `code` and `Connection: close`, and
/// the request after it is not answered.
fn assert_rejected(request: &[u8], code: u16, cfg: &HttpConfig) {
    let mut input = request.to_vec();
    input.extend(get("/"));
    let (r, out) = serve_with(&input, usize::MAX, cfg);
    r.unwrap();
    let v = responses(&out, &[]);
    assert_eq!(v.len(), 1, "{:?}: {v:?}", String::from_utf8_lossy(request));
    assert_eq!(v[0].code, code, "{:?}", String::from_utf8_lossy(request));
    assert_eq!(v[0].header("connection"), Some("close"));
}

#[test]
fn malformed_requests_get_400_and_close() {
    let cfg = HttpConfig::default();
    for req in [
        &b"garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\n\r\n",                                      // no Host
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",                  // two Hosts
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",                          // space before colon
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",                 // obs-fold
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /sink HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\n",
        b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
        b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
    ] {
        assert_rejected(req, 400, &cfg);
    }
}

#[test]
fn unsupported_coding_501_and_version_505() {
    let cfg = HttpConfig::default();
    assert_rejected(
        b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
        &cfg,
    );
    assert_rejected(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, &cfg);
}

#[test]
fn header_limits_give_431_and_414() {
    let cfg = HttpConfig {
        max_header_bytes: 1024,
        max_headers: 8,
        ..HttpConfig::default()
    };
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1100)
    );
    assert_rejected(big.as_bytes(), 431, &cfg);
    // The blank line arrives but the head is still over the limit.
    let just_over = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(990)
    );
    assert_rejected(just_over.as_bytes(), 431, &cfg);
    let many: String = (0..9).map(|i| format!("X-{i}: 1\r\n")).collect();
    assert_rejected(
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
        431,
        &cfg,
    );
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(2000));
    assert_rejected(long_target.as_bytes(), 414, &cfg);
    // At the limit is fine, one byte over is not.
    let head = |k| format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(k));
    assert_eq!(head(992).len(), 1024);
    let (r, out) = serve_with(head(992).as_bytes(), usize::MAX, &cfg);
    assert_eq!(r.unwrap().requests, 1);
    assert_eq!(responses(&out, &[])[0].code, 200);
    assert_rejected(head(993).as_bytes(), 431, &cfg);
}

#[test]
fn huge_header_stream_is_bounded() {
    // A client that never ends its head: answered after max_header_bytes, not buffered forever.
    let cfg = HttpConfig::default();
    let mut input = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    input.extend(std::iter::repeat_n(b"X-A: b\r\n".as_slice(), 1_000_000).flatten());
    let (r, out) = serve_with(&input, 4096, &cfg);
    let stats = r.unwrap();
    assert!(stats.bytes_in < 100_000, "read {} bytes", stats.bytes_in);
    assert_eq!(responses(&out, &[])[0].code, 431);
}

#[test]
fn expect_100_continue_gets_interim_response() {
    let input =
        b"POST /sink HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi";
    let (stats, out) = serve(input);
    let v = responses(&out, &[]);
    let codes: Vec<u16> = v.iter().map(|r| r.code).collect();
    assert_eq!(codes, [100, 200]);
    assert_eq!(stats.requests, 1);
}

#[test]
fn expect_100_continue_on_a_failing_request_gets_the_final_status_at_once() {
    // RFC 9110 §10.1.1: no `100 Continue` for a body we would discard; the client does
    // not send it, so the connection closes.
    for (req, code, allow) in [
        (&b"POST /nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"[..], 404, None),
        (b"PUT /bytes/3 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n", 405, Some("GET, HEAD")),
        (b"BREW /sink HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", 501, None),
    ] {
        let mut input = req.to_vec();
        input.extend(get("/"));
        let (r, out) = serve_with(&input, usize::MAX, &HttpConfig::default());
        r.unwrap();
        let v = responses(&out, &[]);
        let codes: Vec<u16> = v.iter().map(|r| r.code).collect();
        assert_eq!(codes, [code], "{}", String::from_utf8_lossy(req));
        assert_eq!(v[0].header("connection"), Some("close"));
        assert_eq!(v[0].header("allow"), allow);
    }
    // Without a body there is nothing to wait for: the usual answer, connection kept.
    let v = responses(
        &serve(b"GET /nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").1,
        &[],
    );
    let codes: Vec<u16> = v.iter().map(|r| r.code).collect();
    assert_eq!(codes, [404, 200]);
}

#[test]
fn put_to_sink_answers_like_post() {
    let v = responses(
        &serve(b"PUT /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").1,
        &[],
    );
    assert_eq!(v[0].code, 200);
    assert_eq!(
        v[0].body,
        format!("length=3 sha256={}\n", sha256_hex(b"abc")).into_bytes()
    );
}

/// A stream that gives `input`, then read timeouts (after a short real sleep, as a socket
/// with a read timeout would): the blocking driver checks its deadlines on each.
struct Stalling {
    input: Vec<u8>,
    pos: usize,
    timeouts: usize,
    /// After this many read timeouts the stream fails (a bound for the test).
    give_up: usize,
    output: Vec<u8>,
}

impl Read for Stalling {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.input.len() {
            if self.timeouts == self.give_up {
                return Err(io::Error::other("the stream gave up"));
            }
            self.timeouts += 1;
            std::thread::sleep(Duration::from_millis(2));
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Stalling {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn stall(input: &[u8], cfg: &HttpConfig, give_up: usize) -> (io::Result<HttpStats>, Stalling) {
    let mut s = Stalling {
        input: input.to_vec(),
        pos: 0,
        timeouts: 0,
        give_up,
        output: Vec::new(),
    };
    let r = serve_connection(&mut s, &INFO, cfg);
    (r, s)
}

#[test]
fn stalled_head_or_body_gets_408_from_the_blocking_driver() {
    let cfg = HttpConfig {
        header_timeout: Some(Duration::from_millis(30)),
        body_timeout: Some(Duration::from_millis(30)),
        ..HttpConfig::default()
    };
    for input in [
        &b"GET / HTTP/1.1\r\nHo"[..],
        b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    ] {
        let (r, s) = stall(input, &cfg, 10_000);
        r.unwrap();
        let v = responses(&s.output, &[]);
        assert_eq!(v.len(), 1, "{}", String::from_utf8_lossy(input));
        assert_eq!(v[0].code, 408);
        assert_eq!(v[0].header("connection"), Some("close"));
        assert!(s.timeouts >= 2, "waited through read timeouts first");
    }
    // Between requests a read timeout parks instead: no 408, no timeout at all.
    let (r, s) = stall(&get("/"), &cfg, 10_000);
    assert!(r.unwrap().parked);
    assert_eq!(s.timeouts, 1);
    // Without limits the driver keeps waiting (here until the stream gives up).
    let none = HttpConfig {
        header_timeout: None,
        body_timeout: None,
        ..HttpConfig::default()
    };
    let (r, s) = stall(b"GET / HTTP/1.1\r\nHo", &none, 50);
    assert!(r.is_err(), "no limit: it only stops when the stream does");
    assert_eq!((s.timeouts, s.output.len()), (50, 0));
}

#[test]
fn eof_between_requests_is_ok_and_inside_one_is_an_error() {
    let (_, out) = serve(b"");
    assert!(out.is_empty());
    let (_, out) = serve(b"\r\n\r\n");
    assert!(out.is_empty());
    for partial in [
        &b"GET / HTTP/1.1\r\nHost"[..],
        b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    ] {
        let (r, _) = serve_with(partial, 7, &HttpConfig::default());
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}

#[test]
fn chunk_size_parsing() {
    assert_eq!(parse_chunk_size(b"0\r\n"), Some(0));
    assert_eq!(parse_chunk_size(b"fF\n"), Some(255));
    assert_eq!(parse_chunk_size(b"10 ;a=b;c\r\n"), Some(16));
    assert_eq!(parse_chunk_size(b"ffffffffffffffff\r\n"), Some(u64::MAX));
    assert_eq!(parse_chunk_size(b"\r\n"), None);
    assert_eq!(parse_chunk_size(b" 1\r\n"), None);
    assert_eq!(parse_chunk_size(b"0x1\r\n"), None);
    assert_eq!(parse_chunk_size(b"1"), None);
}

#[test]
fn server_name_cannot_inject_headers() {
    let cfg = HttpConfig {
        server_name: "evil\r\nX-Injected: 1".into(),
        ..HttpConfig::default()
    };
    let (r, out) = serve_with(&get("/"), usize::MAX, &cfg);
    r.unwrap();
    let v = responses(&out, &[]);
    assert_eq!(v[0].header("x-injected"), None);
    assert_eq!(v[0].header("server"), Some("evilX-Injected: 1"));
}
