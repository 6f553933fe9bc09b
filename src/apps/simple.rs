//! The echo (RFC 862) and discard (RFC 863) services for one connection.
//!
//! Both run until the peer closes its sending side (a read returns 0) and return the byte
//! count. They retry `Interrupted`, return any other I/O error, and do not close the stream.
//! Memory is one 16 KiB buffer.

use std::io::{self, Read, Write};

const BUF: usize = 16 * 1024;

/// RFC 862: sends back every byte received, until EOF; returns the bytes echoed.
pub fn echo<S: Read + Write>(s: &mut S) -> io::Result<u64> {
    let mut buf = vec![0; BUF];
    let mut total = 0;
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        s.write_all(&buf[..n])?;
        s.flush()?;
        total += n as u64;
    }
}

/// RFC 863: reads and throws away everything received, until EOF; returns the bytes read.
pub fn discard<S: Read>(s: &mut S) -> io::Result<u64> {
    let mut buf = vec![0; BUF];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields its input `step` bytes per read, records what is written.
    struct Trickle {
        input: Vec<u8>,
        pos: usize,
        step: usize,
        interrupt_next: bool,
        output: Vec<u8>,
    }

    impl Trickle {
        fn new(input: &[u8], step: usize) -> Self {
            Trickle {
                input: input.to_vec(),
                pos: 0,
                step,
                interrupt_next: true,
                output: Vec::new(),
            }
        }
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // Every other read is interrupted, to check the retry.
            self.interrupt_next = !self.interrupt_next;
            if !self.interrupt_next {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = self.step.min(buf.len()).min(self.input.len() - self.pos);
            buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn echo_returns_every_byte_in_order() {
        let input: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for step in [1, 1000, 1 << 20] {
            let mut s = Trickle::new(&input[..if step == 1 { 3000 } else { input.len() }], step);
            let n = echo(&mut s).unwrap();
            assert_eq!(n as usize, s.input.len());
            assert_eq!(s.output, s.input);
        }
    }

    #[test]
    fn echo_of_nothing_is_nothing() {
        let mut s = Trickle::new(b"", 10);
        assert_eq!(echo(&mut s).unwrap(), 0);
        assert!(s.output.is_empty());
    }

    #[test]
    fn discard_counts_and_writes_nothing() {
        let mut s = Trickle::new(&[42; 70_000], 999);
        assert_eq!(discard(&mut s).unwrap(), 70_000);
        assert!(s.output.is_empty());
    }

    #[test]
    fn errors_other_than_interrupted_are_returned() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::ConnectionReset.into())
            }
        }
        let err = discard(&mut Broken).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }
}
