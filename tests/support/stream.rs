//! Byte-exact test streams: a [`Source`] that offers `total` pattern bytes to a sending
//! application and a [`Sink`] that checks every received byte against the same pattern.
//!
//! Byte `i` of every stream is a hash of `i`, so a misplaced, repeated or lost segment shows
//! at the first wrong offset. Nothing here knows a stack.
#![allow(dead_code)]

use tuntcp::time::Instant;

/// Byte `i` of every test stream: a hash of the offset, so a misplaced, repeated or lost
/// segment shows at the first wrong offset.
pub fn pattern(i: u64) -> u8 {
    (i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

pub fn fill(offset: u64, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern(offset + k as u64);
    }
}

/// The receiving application: checks every byte against the pattern as it arrives.
#[derive(Default)]
pub struct Sink {
    pub received: u64,
    /// The first wrong byte: (offset, got, expected).
    pub mismatch: Option<(u64, u8, u8)>,
    /// When the receiving application saw end of stream.
    pub eof_at: Option<Instant>,
}

impl Sink {
    pub fn take(&mut self, data: &[u8]) {
        if self.mismatch.is_none() {
            if let Some(k) = data
                .iter()
                .enumerate()
                .position(|(k, &b)| b != pattern(self.received + k as u64))
            {
                let at = self.received + k as u64;
                self.mismatch = Some((at, data[k], pattern(at)));
            }
        }
        self.received += data.len() as u64;
    }
}

/// The sending application: the pattern, `total` bytes, then a FIN. Generates one chunk
/// at a time and offers its unsent rest until the stack takes it.
pub struct Source {
    pub total: u64,
    pub sent: u64,
    chunk: Vec<u8>,
    /// Stream offset of `chunk[0]` and how much of `chunk` is valid.
    chunk_at: u64,
    chunk_len: usize,
    /// The application has shut down its write side.
    pub closed: bool,
}

impl Source {
    pub fn new(total: usize) -> Source {
        Source {
            total: total as u64,
            sent: 0,
            chunk: vec![0; 64 * 1024],
            chunk_at: 0,
            chunk_len: 0,
            closed: false,
        }
    }

    /// The bytes not yet taken by the stack (empty when all were sent).
    pub fn pending(&mut self) -> &[u8] {
        if self.sent == self.chunk_at + self.chunk_len as u64 && self.sent < self.total {
            let n = (self.total - self.sent).min(self.chunk.len() as u64) as usize;
            fill(self.sent, &mut self.chunk[..n]);
            self.chunk_at = self.sent;
            self.chunk_len = n;
        }
        let from = (self.sent - self.chunk_at) as usize;
        &self.chunk[from..self.chunk_len]
    }

    pub fn consumed(&mut self, n: usize) {
        self.sent += n as u64;
    }

    pub fn done(&self) -> bool {
        self.sent == self.total
    }
}
