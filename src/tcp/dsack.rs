//! The receiver's D-SACK (RFC 2883, Linux `tcp_dsack`): data that arrives a second time
//! (below RCV.NXT, or already held out of order) is reported in the first SACK block of
//! the next segment we send, once. It tells the sender a retransmission was spurious, so
//! RACK's reordering window can grow (RFC 8985 §6.2 step 4) and a loss probe that only
//! duplicated delivered data is not taken for a repaired loss (§7.4).
//!
//! What it does not do: report several duplicates in one ACK (the latest wins, where Linux
//! may extend a contiguous one), or a duplicate FIN without data.

use super::connection::Connection;
use super::seq::SeqNum;
use crate::wire::{SackBlock, SackList};

impl Connection {
    /// `[l, r)` arrived again (RFC 2883 §4): the next ACK reports it; counted as Linux's
    /// `tcp_dsack_set` does, below RCV.NXT (`TCPDSACKOldSent`) or above (`TCPDSACKOfoSent`).
    pub(super) fn note_duplicate(&mut self, l: SeqNum, r: SeqNum) {
        if !self.sack_ok || !self.cfg.dsack || !l.lt(r) {
            return;
        }
        if l.lt(self.rcv_nxt) {
            self.stats.dsack_old_sent += 1;
        } else {
            self.stats.dsack_ofo_sent += 1;
        }
        self.dsack_out = Some((l, r));
    }

    /// The SACK blocks of the next segment: a pending D-SACK first (taken: RFC 2883 §4 sends
    /// each duplicate once), then, RFC 2018 §4, the block holding the most recent arrival
    /// (for a duplicate of held data the block holding it, as RFC 2883 §4 wants second),
    /// then the most recently reported others, as the receive buffer keeps them (O(1) per
    /// ACK, whatever the number of ranges held). Four at most; the option writer keeps the
    /// 3 that fit beside timestamps.
    pub(super) fn sack_blocks(&mut self) -> SackList {
        let mut blocks = [SackBlock::default(); 4];
        let mut n = 0;
        if let Some((l, r)) = self.dsack_out.take() {
            blocks[0] = SackBlock {
                left: l.0,
                right: r.0,
            };
            n = 1;
        }
        for (start, end) in self.recvq.sack_blocks().take(blocks.len() - n) {
            blocks[n] = SackBlock {
                left: (self.rcv_nxt + start as u32).0,
                right: (self.rcv_nxt + end as u32).0,
            };
            n += 1;
        }
        SackList::new(&blocks[..n])
    }
}
