//! `tuntcp get`'s waiting, as curl's: `--connect-timeout` bounds the handshake,
//! `--max-time` the whole transfer, and a wait longer than a second is said on stderr.
//! Errors name what was awaited (`connect to A: no answer in 5 s`) and files by name.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tuntcp::api::{NetStack, TcpStream};

/// A wait longer than this is announced on stderr.
const NOTICE_AFTER: Duration = Duration::from_secs(1);

/// Prints `msg` on stderr after `after`, unless dropped first.
struct Notice(#[allow(dead_code)] mpsc::Sender<()>);

fn notice_after(after: Duration, msg: String) -> Notice {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if rx.recv_timeout(after) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("tuntcp: {msg}");
        }
    });
    Notice(tx)
}

/// Seconds as the user typed them: `5`, `0.5`.
fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// Active open within `connect_timeout` and what is left of `--max-time`.
pub fn connect(
    net: &NetStack,
    addr: SocketAddr,
    connect_timeout: Option<Duration>,
    max_time: Option<Duration>,
    deadline: Option<Instant>,
) -> Result<TcpStream, String> {
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    // Which limit ends the wait first, for the message.
    let (limit, why) = match (connect_timeout, left) {
        (Some(c), Some(l)) if l < c => (Some(l), "max"),
        (Some(c), _) => (Some(c), "connect"),
        (None, Some(l)) => (Some(l), "max"),
        (None, None) => (None, ""),
    };
    let _notice = notice_after(
        NOTICE_AFTER,
        format!("connecting to {addr}: SYN sent, no answer yet"),
    );
    let t = Instant::now();
    TcpStream::connect_timeout(net, addr, limit).map_err(|e| match limit {
        Some(l) if e.kind() == io::ErrorKind::TimedOut && t.elapsed() >= l => match why {
            "connect" => format!("connect to {addr}: no answer in {} s", secs(l)),
            _ => format!(
                "connect to {addr}: no answer within --max-time {} s",
                secs(max_time.unwrap_or(l))
            ),
        },
        _ => format!("connect to {addr}: {e}"),
    })
}

/// A stream whose reads and writes end at the `--max-time` deadline and say so.
pub struct Timed {
    s: TcpStream,
    peer: SocketAddr,
    max_time: Option<Duration>,
    deadline: Option<Instant>,
    /// Bytes received so far.
    got: u64,
    noticed: bool,
}

impl Timed {
    pub fn new(
        s: TcpStream,
        peer: SocketAddr,
        max_time: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Timed {
        Timed {
            s,
            peer,
            max_time,
            deadline,
            got: 0,
            noticed: false,
        }
    }

    fn expired(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "transfer exceeded --max-time {} s after {} bytes from {}",
                secs(self.max_time.unwrap_or_default()),
                self.got,
                self.peer
            ),
        )
    }

    fn left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub fn write_request(&mut self, req: &[u8]) -> Result<(), String> {
        let left = self.left();
        if left == Some(Duration::ZERO) {
            return Err(self.expired().to_string());
        }
        let _ = self.s.set_write_timeout(left);
        self.s.write_all(req).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => self.expired().to_string(),
            _ => format!("sending the request to {}: {e}", self.peer),
        })
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let left = self.left();
            if left == Some(Duration::ZERO) {
                return Err(self.expired());
            }
            // Wake at least every second to tell a long wait (once) and check the deadline.
            let slice = left.map_or(NOTICE_AFTER, |l| l.min(NOTICE_AFTER));
            self.s.set_read_timeout(Some(slice))?;
            match self.s.read(buf) {
                Ok(n) => {
                    self.got += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.noticed && left.is_none_or(|l| l > slice) {
                        self.noticed = true;
                        eprintln!(
                            "tuntcp: waiting for the response from {} ({} bytes so far)",
                            self.peer, self.got
                        );
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes into a file and remembers the first error, naming the file.
struct Named<W> {
    w: W,
    name: String,
    failed: Option<String>,
}

impl<W: Write> Write for Named<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.write(buf).inspect_err(|e| {
            self.failed
                .get_or_insert(format!("writing {}: {e}", self.name));
        })
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush().inspect_err(|e| {
            self.failed
                .get_or_insert(format!("writing {}: {e}", self.name));
        })
    }
}

/// Reads the response into `output` (or stdout); (status, body bytes).
pub fn fetch(s: &mut Timed, output: Option<&Path>) -> Result<(u16, u64), String> {
    let (w, name): (Box<dyn Write>, String) = match output {
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| format!("output file {}: {e}", p.display()))?;
            (Box::new(io::BufWriter::new(f)), p.display().to_string())
        }
        None => (Box::new(io::stdout().lock()), "stdout".into()),
    };
    let mut out = Named {
        w,
        name,
        failed: None,
    };
    let r = tuntcp::apps::client::read_response(s, &mut out).and_then(|r| {
        out.flush()?;
        Ok(r)
    });
    match (r, out.failed) {
        (Ok(r), _) => Ok(r),
        (Err(_), Some(f)) => Err(f),
        (Err(e), None) if e.kind() == io::ErrorKind::TimedOut => Err(e.to_string()),
        (Err(e), None) => Err(format!("reading the response from {}: {e}", s.peer)),
    }
}
