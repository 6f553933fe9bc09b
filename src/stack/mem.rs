//! Stack-wide limits, as Linux has them: buffer memory (`tcp_mem`) and orphans
//! (`tcp_max_orphans`).
//!
//! Each connection is charged what its buffers hold ([`Connection::buffered_bytes`]: its
//! send queue plus its receive buffer's truesize-like charge). The stack keeps the sum
//! ([`super::Stack::accounted_memory`]), updated every time it has handed a connection
//! input, a timer or an application call, and compares it in 4 KiB pages with the three
//! thresholds of `StackConfig::tcp_mem` (Linux `tcp_mem`, `__sk_mem_raise_allocated`):
//!
//! - above `tcp_mem[1]` the stack enters memory pressure (`TCPMemoryPressures` counts each
//!   entry) and stays there until at or below `tcp_mem[0]`. Under pressure a receive
//!   window grows to at most 4 segments past RCV.NXT (Linux clamps `rcv_ssthresh` to
//!   `4 * advmss`; a window already advertised never shrinks), and pruning an
//!   out-of-order queue goes all the way down to the incoming segment.
//! - above `tcp_mem[2]`, the hard limit, no new buffers: out-of-order data is dropped
//!   after the queue above it is pruned (`PruneCalled`, `OfoPruned`, `TCPOFODrop`),
//!   in-order data only while fewer than `tcp_rmem[0]` (4 KiB) bytes are unread
//!   (`TCPRcvQDrop`), `send` queues only up to `tcp_wmem[0]` (4 KiB; beyond, `WouldBlock`),
//!   and orphans holding more than `SOCK_MIN_SNDBUF` of send queue are reset.
//!
//! Orphans (connections the application closed, still closing, TIME-WAIT excluded) are
//! counted; past `StackConfig::max_orphans`, or out of memory as above, an orphan is reset
//! when it is closed and when a retransmission or probe timer fires for it
//! (`TCPAbortOnMemory`, Linux `tcp_check_oom`).
//!
//! Deviations: the 4 KiB receive minimum also holds above the hard limit (Linux refuses
//! everything there), so a connection whose application reads can always progress; the
//! timer check uses no shift for idle or ICMP-hit orphans, and always sends the RST
//! (Linux `tcp_out_of_resources` penalizes those and may close silently): simpler, and a
//! RST tells the peer.
//!
//! What this module does not do: allocate, see connections (the stack feeds it), or
//! account for TCBs, listeners and the reassembly queue (bounded on their own).
//!
//! [`Connection::buffered_bytes`]: crate::tcp::Connection::buffered_bytes

use crate::tcp::MemMode;

/// The unit of `tcp_mem` (Linux counts pages).
pub const PAGE: usize = 4096;

/// An orphan with more than this in its send queue is reset above the hard limit
/// (Linux `SOCK_MIN_SNDBUF`: two minimal skbs' truesize).
pub const SOCK_MIN_SNDBUF: usize = 4608;

/// The sum of every connection's charge, and whether the stack is under pressure.
#[derive(Clone, Debug, Default)]
pub struct MemAccount {
    bytes: usize,
    pressure: bool,
}

impl MemAccount {
    /// Replaces a connection's charge `old` by `new`.
    pub fn recharge(&mut self, old: usize, new: usize) {
        debug_assert!(
            self.bytes >= old,
            "accounted memory below a connection's charge"
        );
        self.bytes = self.bytes - old + new;
    }

    /// Bytes charged now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Pages charged, rounded up.
    pub fn pages(&self) -> usize {
        self.bytes.div_ceil(PAGE)
    }

    /// Whether the pressure threshold was crossed (and not yet the low one again).
    pub fn under_pressure(&self) -> bool {
        self.pressure
    }

    /// Enters pressure above `tcp_mem[1]`, leaves it at or below `tcp_mem[0]`; true when
    /// it was entered just now (`TCPMemoryPressures`).
    pub fn update(&mut self, tcp_mem: &[usize; 3]) -> bool {
        let p = self.pages();
        if !self.pressure && p > tcp_mem[1] {
            self.pressure = true;
            return true;
        }
        if self.pressure && p <= tcp_mem[0] {
            self.pressure = false;
        }
        false
    }

    /// What connections must obey now.
    pub fn mode(&self, tcp_mem: &[usize; 3]) -> MemMode {
        if self.pages() > tcp_mem[2] {
            MemMode::Exceeded
        } else if self.pressure {
            MemMode::Pressure
        } else {
            MemMode::Normal
        }
    }

    /// Linux `tcp_out_of_memory`: above the hard limit with a send queue past the minimum.
    pub fn out_of_memory(&self, tcp_mem: &[usize; 3], send_queue: usize) -> bool {
        send_queue > SOCK_MIN_SNDBUF && self.pages() > tcp_mem[2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_has_hysteresis_and_a_hard_limit() {
        let tcp_mem = [2, 4, 6];
        let mut m = MemAccount::default();
        m.recharge(0, 4 * PAGE);
        assert!(!m.update(&tcp_mem));
        assert_eq!(m.mode(&tcp_mem), MemMode::Normal);
        m.recharge(4 * PAGE, 4 * PAGE + 1); // 5 pages, rounded up
        assert!(m.update(&tcp_mem));
        assert!(!m.update(&tcp_mem), "counted once per entry");
        assert_eq!(m.mode(&tcp_mem), MemMode::Pressure);
        m.recharge(4 * PAGE + 1, 7 * PAGE);
        assert_eq!(m.mode(&tcp_mem), MemMode::Exceeded);
        assert!(m.out_of_memory(&tcp_mem, SOCK_MIN_SNDBUF + 1));
        assert!(!m.out_of_memory(&tcp_mem, SOCK_MIN_SNDBUF));
        m.recharge(7 * PAGE, 3 * PAGE);
        m.update(&tcp_mem);
        assert_eq!(m.mode(&tcp_mem), MemMode::Pressure, "until tcp_mem[0]");
        m.recharge(3 * PAGE, 2 * PAGE);
        m.update(&tcp_mem);
        assert_eq!(m.mode(&tcp_mem), MemMode::Normal);
        assert_eq!(m.bytes(), 2 * PAGE);
    }
}
