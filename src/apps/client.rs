//! A minimal HTTP/1.1 client side for `tuntcp get`: read one response, stream its body.
//!
//! Handles `Content-Length`, `Transfer-Encoding: chunked` and bodies ended by close
//! (RFC 9112 §6.3). What it does not do: redirects, compression, trailers (skipped).

use std::io::{self, Read, Write};

const MAX_HEAD: usize = 64 * 1024;

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads the response head from `s`, writes the body to `out`; returns (status, body bytes).
pub fn read_response<R: Read, W: Write>(s: &mut R, out: &mut W) -> io::Result<(u16, u64)> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let (status, head_len, length, chunked) = loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(bad("connection closed before the response head"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf).map_err(|e| bad(&e.to_string()))? {
            httparse::Status::Complete(len) => {
                let mut length = None;
                let mut chunked = false;
                for h in resp.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        let v = std::str::from_utf8(h.value).map_err(|_| bad("content-length"))?;
                        length = Some(v.trim().parse::<u64>().map_err(|_| bad("content-length"))?);
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = h.value.eq_ignore_ascii_case(b"chunked");
                    }
                }
                break (resp.code.unwrap_or(0), len, length, chunked);
            }
            httparse::Status::Partial if buf.len() > MAX_HEAD => {
                return Err(bad("response head too long"))
            }
            httparse::Status::Partial => {}
        }
    };
    let rest = buf.split_off(head_len);
    let mut body = Body {
        pending: rest,
        pos: 0,
        inner: s,
    };
    let n = if chunked {
        read_chunked(&mut body, out)?
    } else {
        copy(&mut body, out, length)?
    };
    Ok((status, n))
}

/// Buffered bytes already read past the head, then the stream.
struct Body<'a, R> {
    pending: Vec<u8>,
    pos: usize,
    inner: &'a mut R,
}

impl<R: Read> Read for Body<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.pending.len() {
            let n = buf.len().min(self.pending.len() - self.pos);
            buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Copies `limit` bytes (or until EOF when `None`).
fn copy<R: Read, W: Write>(r: &mut R, out: &mut W, limit: Option<u64>) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let want = match limit {
            Some(l) if total >= l => return Ok(total),
            Some(l) => ((l - total) as usize).min(buf.len()),
            None => buf.len(),
        };
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            return match limit {
                Some(l) if total < l => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "body cut short",
                )),
                _ => Ok(total),
            };
        }
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn read_line<R: Read>(r: &mut R) -> io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while line.len() < 4096 {
        if r.read(&mut b)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunk line"));
        }
        if b[0] == b'\n' {
            let s = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_string();
            return Ok(s);
        }
        line.push(b[0]);
    }
    Err(bad("chunk line too long"))
}

/// RFC 9112 §7.1 chunked body; trailers are read and dropped.
fn read_chunked<R: Read, W: Write>(r: &mut R, out: &mut W) -> io::Result<u64> {
    let mut total = 0;
    loop {
        let line = read_line(r)?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_hex, 16).map_err(|_| bad("chunk size"))?;
        if size == 0 {
            while !read_line(r)?.is_empty() {}
            return Ok(total);
        }
        total += copy(r, out, Some(size))?;
        read_line(r)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_body() {
        let mut s: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        let mut out = Vec::new();
        assert_eq!(read_response(&mut s, &mut out).unwrap(), (200, 5));
        assert_eq!(out, b"hello");
    }

    #[test]
    fn body_until_close() {
        let mut s: &[u8] = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of it";
        let mut out = Vec::new();
        assert_eq!(read_response(&mut s, &mut out).unwrap(), (200, 9));
        assert_eq!(out, b"all of it");
    }

    #[test]
    fn chunked_body() {
        let mut s: &[u8] = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\nT: v\r\n\r\n";
        let mut out = Vec::new();
        assert_eq!(read_response(&mut s, &mut out).unwrap(), (404, 5));
        assert_eq!(out, b"abcde");
    }

    #[test]
    fn short_body_is_an_error() {
        let mut s: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort";
        assert!(read_response(&mut s, &mut Vec::new()).is_err());
    }
}
