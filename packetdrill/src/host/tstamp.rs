//! SO_TIMESTAMPING transmit timestamps for TCP, as Linux reports them on the error queue:
//! the last byte of each write is tracked (`tcp_tx_timestamp`); when a segment carrying it
//! first leaves, `SCM_TSTAMP_SCHED` and `SCM_TSTAMP_SND`, when it is cumulatively
//! acknowledged, `SCM_TSTAMP_ACK` (each if asked for). With `SOF_TIMESTAMPING_OPT_ID` the
//! key is the byte's offset from SND.UNA when the option was set.
//!
//! What this does not do: hardware timestamps, `OPT_STATS`, `OPT_TSONLY` (the reports
//! carry no payload either way: reads of the error queue see `MSG_TRUNC`), receive
//! timestamps.

use std::collections::VecDeque;

use tuntcp::tcp::SeqNum;

/// `SOF_TIMESTAMPING_*` flags.
pub const TX_SOFTWARE: u32 = 1 << 1;
pub const OPT_ID: u32 = 1 << 7;
pub const TX_SCHED: u32 = 1 << 8;
pub const TX_ACK: u32 = 1 << 9;
/// `SCM_TSTAMP_*`: which event a report is of (`ee_info`).
pub const SCM_TSTAMP_SND: u32 = 0;
pub const SCM_TSTAMP_SCHED: u32 = 1;
pub const SCM_TSTAMP_ACK: u32 = 2;
/// Most writes tracked and reports queued per socket (Linux bounds the error queue by
/// the receive buffer); past this, new ones are dropped.
const MAX_QUEUED: usize = 1024;

/// One report on the error queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    pub info: u32,
    pub key: u32,
    /// Wall-clock time of the event (µs, the clock `gettimeofday` reads).
    pub usecs: u64,
}

#[derive(Debug)]
pub struct TxStamps {
    pub flags: u32,
    /// The key base (SND.UNA when OPT_ID was set).
    base: SeqNum,
    /// Last bytes of writes, with whether they have been sent.
    pending: VecDeque<(SeqNum, bool)>,
    errq: VecDeque<Report>,
}

impl TxStamps {
    pub fn new(flags: u32, base: SeqNum) -> TxStamps {
        TxStamps {
            flags,
            base,
            pending: VecDeque::new(),
            errq: VecDeque::new(),
        }
    }

    fn wants_tx(&self) -> bool {
        self.flags & (TX_SCHED | TX_SOFTWARE | TX_ACK) != 0
    }

    fn report(&mut self, info: u32, last: SeqNum, usecs: u64) {
        let key = if self.flags & OPT_ID != 0 {
            last.since(self.base)
        } else {
            0
        };
        if self.errq.len() < MAX_QUEUED {
            self.errq.push_back(Report { info, key, usecs });
        }
    }

    /// A write ended with the byte at `last`.
    pub fn on_write(&mut self, last: SeqNum) {
        if self.wants_tx() && self.pending.len() < MAX_QUEUED {
            self.pending.push_back((last, false));
        }
    }

    /// The connection's SND.MAX and SND.UNA at `usecs`: reports for what was sent and
    /// acknowledged since the last call.
    pub fn update(&mut self, snd_max: SeqNum, snd_una: SeqNum, usecs: u64) {
        for i in 0..self.pending.len() {
            let (last, sent) = self.pending[i];
            if !sent && last.lt(snd_max) {
                self.pending[i].1 = true;
                if self.flags & TX_SCHED != 0 {
                    self.report(SCM_TSTAMP_SCHED, last, usecs);
                }
                if self.flags & TX_SOFTWARE != 0 {
                    self.report(SCM_TSTAMP_SND, last, usecs);
                }
            }
        }
        while let Some(&(last, true)) = self.pending.front() {
            if !last.lt(snd_una) {
                break;
            }
            self.pending.pop_front();
            if self.flags & TX_ACK != 0 {
                self.report(SCM_TSTAMP_ACK, last, usecs);
            }
        }
    }

    /// The oldest report (`recvmsg(MSG_ERRQUEUE)`).
    pub fn take(&mut self) -> Option<Report> {
        self.errq.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_sched_and_snd_when_the_last_byte_leaves_and_ack_when_acked() {
        let base = SeqNum(1000);
        let mut t = TxStamps::new(TX_SCHED | TX_SOFTWARE | TX_ACK | OPT_ID, base);
        t.on_write(base + 1999);
        t.on_write(base + 3999);
        // The first 2000 bytes leave: only the first write's last byte went.
        t.update(base + 2000, base, 10);
        assert_eq!(
            t.take(),
            Some(Report {
                info: SCM_TSTAMP_SCHED,
                key: 1999,
                usecs: 10
            })
        );
        assert_eq!(
            t.take(),
            Some(Report {
                info: SCM_TSTAMP_SND,
                key: 1999,
                usecs: 10
            })
        );
        assert_eq!(t.take(), None);
        t.update(base + 4000, base + 2000, 20);
        assert_eq!(
            t.take(),
            Some(Report {
                info: SCM_TSTAMP_SCHED,
                key: 3999,
                usecs: 20
            })
        );
        assert_eq!(
            t.take(),
            Some(Report {
                info: SCM_TSTAMP_SND,
                key: 3999,
                usecs: 20
            })
        );
        assert_eq!(
            t.take(),
            Some(Report {
                info: SCM_TSTAMP_ACK,
                key: 1999,
                usecs: 20
            })
        );
        t.update(base + 4000, base + 4000, 30);
        assert_eq!(
            t.take(),
            Some(Report {
                info: SCM_TSTAMP_ACK,
                key: 3999,
                usecs: 30
            })
        );
        assert_eq!(t.take(), None);
        // Without TX flags nothing is tracked; without OPT_ID the key is 0.
        let mut t = TxStamps::new(TX_ACK, base);
        t.on_write(base + 9);
        t.update(base + 10, base + 10, 40);
        assert_eq!(
            t.take(),
            Some(Report {
                info: SCM_TSTAMP_ACK,
                key: 0,
                usecs: 40
            })
        );
    }
}
