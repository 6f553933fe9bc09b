//! Stopping: every listener closed and every connection aborted at once, as a server does
//! when it is told to stop (RFC 9293 §3.10.5 ABORT for each).
//!
//! What this module does not do: wait for connections to finish (a drain is the caller's
//! loop: `unlisten_all`, keep running until [`Stack::active_connections`] is 0 or a
//! deadline passes, then `abort_all`), or send anything itself (`poll_transmit` does).

use super::Stack;
use crate::tcp::State;

impl Stack {
    /// Closes every listener (§3.9.1.8 for each): SYNs to their ports then get a RST as
    /// to a closed port (§3.10.7.1), and connections not yet accepted are reset. The
    /// accepted ones are left alone. Returns how many listeners were closed.
    pub fn unlisten_all(&mut self) -> usize {
        let ports: Vec<u16> = self.listeners.keys().copied().collect();
        for &p in &ports {
            self.unlisten(p);
        }
        ports.len()
    }

    /// Connections still in progress: not yet CLOSED or TIME-WAIT (what a drain waits for).
    pub fn active_connections(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter(|s| !matches!(s.conn.state(), State::Closed | State::TimeWait))
            .count()
    }

    /// Stops everything: [`Stack::unlisten_all`], then ABORT (§3.10.5) every connection:
    /// a RST `<SEQ=SND.NXT>` for SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1/2 and CLOSE-WAIT
    /// (and CLOSING/LAST-ACK with something unsent, as Linux), nothing for SYN-SENT or
    /// TIME-WAIT (see `Connection::abort`). The RSTs come out of the next `poll_transmit`
    /// calls; a TCB is freed once its RST is out, except one the application still holds:
    /// that one stays, reads and writes on it fail with `Aborted` (after the data already
    /// received), until the application closes it. Returns how many RSTs were queued.
    ///
    /// Counted as Linux counts a close with `SO_LINGER` 0: TcpExtTCPAbortOnClose with
    /// unread data, else TcpExtTCPAbortOnData, and TcpEstabResets from ESTABLISHED or
    /// CLOSE-WAIT; TcpOutRsts when each RST is sent.
    pub fn abort_all(&mut self) -> usize {
        // The listeners go first (their children are aborted below with the rest; the
        // SYNs they held are refused).
        let ports: Vec<u16> = self.listeners.keys().copied().collect();
        for p in ports {
            self.refuse_held_of(p);
        }
        self.listeners.clear();
        let mut rsts = 0;
        for idx in 0..self.slots.len() {
            let Some(s) = self.slots[idx].as_mut() else {
                continue;
            };
            let state = s.conn.state();
            let unread = s.conn.recv_queue() > 0;
            s.listener = None;
            if !s.owned {
                s.released = true;
            }
            if s.conn.abort() {
                rsts += 1;
                if unread {
                    self.counters.tcp_ext_tcp_abort_on_close += 1;
                } else {
                    self.counters.tcp_ext_tcp_abort_on_data += 1;
                }
                if matches!(state, State::Established | State::CloseWait) {
                    self.counters.tcp_estab_resets += 1;
                }
            }
            self.mark_dirty(idx);
            self.drain_events(idx);
        }
        rsts
    }
}
