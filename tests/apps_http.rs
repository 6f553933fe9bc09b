//! `apps::http` and `apps::simple` over real loopback sockets (`std::net`, 127.0.0.1 only):
//! the same generic code that runs over `tuntcp::api::TcpStream`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tuntcp::apps::http::{pattern_fill, serve_connection, ConnInfo, HttpConfig, HttpStats};
use tuntcp::apps::simple;

/// Serves one connection on a fresh loopback port; the thread then half-closes and drains
/// (lingering close, as a real server should) and returns the stats.
fn server(cfg: HttpConfig) -> (SocketAddr, JoinHandle<io::Result<HttpStats>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept()?;
        let info = ConnInfo {
            local: s.local_addr()?,
            peer,
            stack: "std loopback",
        };
        let stats = serve_connection(&mut s, &info, &cfg);
        s.shutdown(Shutdown::Write)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        // The drain ends at our EOF or the timeout; either way the stats stand.
        let _ = simple::discard(&mut s);
        stats
    });
    (addr, handle)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
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

/// Reads responses from a socket, keeping bytes that arrive ahead of the current one.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Client {
            s: connect(addr),
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    fn more(&mut self) {
        let mut tmp = [0; 65536];
        let n = self.s.read(&mut tmp).unwrap();
        assert!(n > 0, "server closed in the middle of a response");
        self.buf.extend_from_slice(&tmp[..n]);
    }

    /// Reads one response (parsed by httparse); `head` means no body follows.
    fn response(&mut self, head: bool) -> Resp {
        let (n, code, headers) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Response::new(&mut hs);
            if let httparse::Status::Complete(n) = r.parse(&self.buf).unwrap() {
                let headers = r
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8(h.value.to_vec()).unwrap(),
                        )
                    })
                    .collect::<Vec<_>>();
                break (n, r.code.unwrap(), headers);
            }
            self.more();
        };
        self.buf.drain(..n);
        let mut resp = Resp {
            code,
            headers,
            body: Vec::new(),
        };
        if !head {
            let len: usize = resp.header("content-length").unwrap().parse().unwrap();
            while self.buf.len() < len {
                self.more();
            }
            resp.body = self.buf.drain(..len).collect();
        }
        resp
    }

    /// Asserts the server closed the connection with nothing more to say, then closes ours.
    fn expect_eof(mut self) {
        assert!(self.buf.is_empty(), "unexpected bytes: {:?}", self.buf);
        let mut tmp = [0; 16];
        assert_eq!(self.s.read(&mut tmp).unwrap(), 0, "connection still open");
    }

    /// Half-closes our side: the server sees EOF between requests.
    fn close(&self) {
        self.s.shutdown(Shutdown::Write).unwrap();
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

fn pattern(n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    pattern_fill(0, &mut v);
    v
}

fn sha_hex(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

#[test]
fn get_root_shows_the_loopback_four_tuple() {
    let (addr, h) = server(HttpConfig::default());
    let mut c = Client::new(addr);
    let me = c.s.local_addr().unwrap();
    c.send(&get("/"));
    let r = c.response(false);
    assert_eq!(r.code, 200);
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.contains("std loopback"), "{body}");
    assert!(body.contains(&format!("{me} -> {addr}")), "{body}");
    c.close();
    assert_eq!(h.join().unwrap().unwrap().requests, 1);
}

#[test]
fn bytes_lengths_and_hashes_over_keep_alive() {
    let (addr, h) = server(HttpConfig::default());
    let mut c = Client::new(addr);
    for n in [0usize, 1, 1_000_000] {
        c.send(&get(&format!("/bytes/{n}")));
        let r = c.response(false);
        assert_eq!(r.code, 200);
        assert_eq!(r.header("content-length").unwrap(), n.to_string());
        assert_eq!(r.body.len(), n);
        assert_eq!(sha_hex(&r.body), sha_hex(&pattern(n)), "n = {n}");
    }
    c.send(b"HEAD /bytes/1000000 HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.response(true);
    assert_eq!(r.header("content-length"), Some("1000000"));
    c.send(&get("/bytes/2"));
    assert_eq!(
        c.response(false).body,
        pattern(2),
        "HEAD left a body behind"
    );
    c.close();
    let stats = h.join().unwrap().unwrap();
    assert_eq!(stats.requests, 5);
    assert!(stats.bytes_out > 1_000_000);
}

#[test]
fn sink_content_length_and_chunked() {
    let (addr, h) = server(HttpConfig::default());
    let mut c = Client::new(addr);
    let body = pattern(300_000);
    c.send(
        format!(
            "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(&body);
    let r = c.response(false);
    assert_eq!(
        r.body,
        format!("length=300000 sha256={}\n", sha_hex(&body)).as_bytes()
    );

    c.send(b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for part in body.chunks(70_001) {
        c.send(format!("{:x}\r\n", part.len()).as_bytes());
        c.send(part);
        c.send(b"\r\n");
    }
    c.send(b"0\r\n\r\n");
    let r = c.response(false);
    assert_eq!(
        r.body,
        format!("length=300000 sha256={}\n", sha_hex(&body)).as_bytes()
    );
    c.close();
    let stats = h.join().unwrap().unwrap();
    assert_eq!(stats.requests, 2);
    assert!(stats.bytes_in > 600_000);
}

#[test]
fn hundred_pipelined_requests_in_one_write() {
    let (addr, h) = server(HttpConfig::default());
    let mut c = Client::new(addr);
    let all: Vec<u8> = (0..100)
        .flat_map(|i| get(&format!("/bytes/{}", i * 10)))
        .collect();
    c.send(&all);
    for i in 0..100 {
        let r = c.response(false);
        assert_eq!(r.body, pattern(i * 10), "response {i} out of order");
    }
    c.close();
    let stats = h.join().unwrap().unwrap();
    assert_eq!(stats.requests, 100);
    assert_eq!(stats.bytes_in, all.len() as u64);
}

#[test]
fn connection_close_is_honoured() {
    let (addr, h) = server(HttpConfig::default());
    let mut c = Client::new(addr);
    c.send(&get("/"));
    assert_eq!(c.response(false).code, 200);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.header("connection"), Some("close"));
    c.expect_eof();
    assert_eq!(h.join().unwrap().unwrap().requests, 2);
}

#[test]
fn http10_closes_after_one_response() {
    let (addr, h) = server(HttpConfig::default());
    let mut c = Client::new(addr);
    c.send(b"GET /bytes/10 HTTP/1.0\r\n\r\n");
    assert_eq!(c.response(false).body, pattern(10));
    c.expect_eof();
    h.join().unwrap().unwrap();
}

#[test]
fn error_statuses() {
    // (request, status, closes)
    let cases: [(&[u8], u16, bool); 5] = [
        (b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", 404, false),
        (b"DELETE /sink HTTP/1.1\r\nHost: x\r\n\r\n", 405, false),
        (b"GET / HTTP/1.1\r\n\r\n", 400, true),
        (b"\x00\x01garbage\r\n\r\n", 400, true),
        (
            b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br, chunked\r\n\r\n",
            501,
            true,
        ),
    ];
    for (req, code, closes) in cases {
        let (addr, h) = server(HttpConfig::default());
        let mut c = Client::new(addr);
        c.send(req);
        let r = c.response(false);
        assert_eq!(r.code, code, "{:?}", String::from_utf8_lossy(req));
        if code == 405 {
            assert_eq!(r.header("allow"), Some("POST, PUT"));
        }
        if closes {
            assert_eq!(r.header("connection"), Some("close"));
            c.expect_eof();
        } else {
            c.send(&get("/"));
            assert_eq!(
                c.response(false).code,
                200,
                "connection not kept after {code}"
            );
            c.close();
        }
        h.join().unwrap().unwrap();
    }
}

#[test]
fn oversized_head_gets_431_before_the_client_finishes() {
    let cfg = HttpConfig {
        max_header_bytes: 4096,
        ..HttpConfig::default()
    };
    let (addr, h) = server(cfg);
    let mut c = Client::new(addr);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n");
    // 20 KB of fields without the blank line: the server must not wait for the end.
    for _ in 0..1000 {
        c.send(b"X-Filler: 0123456789\r\n");
    }
    let r = c.response(false);
    assert_eq!(r.code, 431);
    assert_eq!(r.header("connection"), Some("close"));
    c.close();
    c.expect_eof();
    let stats = h.join().unwrap().unwrap();
    assert_eq!(stats.requests, 1);
}

#[test]
fn echo_over_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let h = std::thread::spawn(move || simple::echo(&mut listener.accept().unwrap().0));
    let mut s = connect(addr);
    let data = pattern(200_000);
    let writer = {
        let mut w = s.try_clone().unwrap();
        let data = data.clone();
        std::thread::spawn(move || {
            w.write_all(&data).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert_eq!(back, data);
    assert_eq!(h.join().unwrap().unwrap(), 200_000);
}
