//! The client load of `scripts/bench-proxy.sh`: plain kernel sockets, std only, bounded in
//! count and time. Each mode prints one line of numbers.
//!
//! ```text
//! proxy_load conns ADDR N C      # N connections, C at a time: GET /, the response, close;
//!                                # prints conns/s
//! proxy_load fin ADDR N          # N connections at once with `Connection: close`: prints how
//!                                # many saw the server's FIN within 2 s of the response
//! proxy_load lat ADDR N          # N GET /bytes/64 on one keep-alive connection; prints p50 p99 (µs)
//! proxy_load idle ADDR N PID     # N keep-alive connections, one request each, then idle;
//!                                # prints PID's VmRSS growth per connection (bytes)
//! ```
//!
//! Every socket has a 10 s read timeout and the whole run stops after 120 s.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(120);

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Reads one response (head, then `Content-Length` bytes of body) from `s`, using `buf` to
/// hold bytes read past it; returns the body length.
fn response(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let bad = |w: &str| io::Error::new(io::ErrorKind::InvalidData, w.to_string());
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(bad("EOF in head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("head not UTF-8"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(bad("not 200"));
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .ok_or_else(|| bad("no Content-Length"))?;
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(bad("EOF in body"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..head_end + len);
    Ok(len)
}

fn get(s: &mut TcpStream, path: &str, close: bool, buf: &mut Vec<u8>) -> io::Result<usize> {
    let conn = if close { "Connection: close\r\n" } else { "" };
    // One write: one segment per request (nodelay).
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{conn}\r\n").as_bytes())?;
    response(s, buf)
}

fn conns(addr: SocketAddr, n: usize, c: usize) -> io::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..c.max(1))
        .map(|_| {
            let (next, failed) = (next.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n && start.elapsed() < DEADLINE {
                    buf.clear();
                    // As curl does: the whole response read, the client closes first.
                    let ok = connect(addr).and_then(|mut s| get(&mut s, "/", false, &mut buf));
                    if ok.is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let secs = start.elapsed().as_secs_f64();
    let done = next.load(Ordering::Relaxed).min(n);
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 || done < n {
        eprintln!("proxy_load conns: {failed} failed, {done} of {n} tried");
    }
    println!("{:.0}", (done - failed.min(done)) as f64 / secs);
    Ok(())
}

/// N connections at once, each asking the server to close after its response: how many
/// saw the server's FIN (EOF) within 2 s of the whole response.
fn fin(addr: SocketAddr, n: usize) -> io::Result<()> {
    let workers: Vec<_> = (0..n)
        .map(|_| {
            std::thread::spawn(move || -> io::Result<bool> {
                let mut s = connect(addr)?;
                let mut buf = Vec::new();
                get(&mut s, "/", true, &mut buf)?;
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                let mut b = [0u8; 64];
                loop {
                    match s.read(&mut b) {
                        Ok(0) => return Ok(true),
                        Ok(_) => {}
                        Err(_) => return Ok(false),
                    }
                }
            })
        })
        .collect();
    let got = workers
        .into_iter()
        .map(|w| w.join())
        .filter(|r| matches!(r, Ok(Ok(true))))
        .count();
    println!("{got}");
    Ok(())
}

fn lat(addr: SocketAddr, n: usize) -> io::Result<()> {
    let mut s = connect(addr)?;
    let mut buf = Vec::new();
    for _ in 0..100 {
        get(&mut s, "/bytes/64", false, &mut buf)?; // warm-up
    }
    let start = Instant::now();
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        if start.elapsed() > DEADLINE {
            break;
        }
        let t = Instant::now();
        get(&mut s, "/bytes/64", false, &mut buf)?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    let p = |q: usize| us[(us.len() * q / 100).min(us.len() - 1)];
    println!("{:.1} {:.1}", p(50), p(99));
    Ok(())
}

fn rss(pid: u32) -> io::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other("no VmRSS"))
}

fn idle(addr: SocketAddr, n: usize, pid: u32) -> io::Result<()> {
    // One connection first, so lazily made state (threads, pools) is not counted.
    let mut buf = Vec::new();
    get(&mut connect(addr)?, "/", true, &mut buf)?;
    std::thread::sleep(Duration::from_millis(500));
    let before = rss(pid)?;
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = connect(addr)?;
        buf.clear();
        get(&mut s, "/", false, &mut buf)?;
        held.push(s);
    }
    std::thread::sleep(Duration::from_secs(1));
    let after = rss(pid)?;
    println!("{}", after.saturating_sub(before) / n as u64);
    drop(held);
    Ok(())
}

fn main() -> io::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize {
        a.get(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage())
    };
    let addr: SocketAddr = a
        .get(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage());
    match a.first().map(String::as_str) {
        Some("conns") => conns(addr, num(2), num(3)),
        Some("lat") => lat(addr, num(2)),
        Some("fin") => fin(addr, num(2)),
        Some("idle") => idle(addr, num(2), num(3) as u32),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: proxy_load conns ADDR N C | fin ADDR N | lat ADDR N | idle ADDR N PID");
    std::process::exit(2);
}
