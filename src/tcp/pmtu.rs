//! The connection's path MTU (RFC 1191 §6.3, RFC 8201 §5.2, RFC 5927 §7.3), as Linux's
//! `tcp_v4_mtu_reduced` / `tcp_sync_mss` / `tcp_simple_retransmit`:
//!
//! - the effective send MSS is bounded by the path MTU less the IP and TCP headers
//!   (RFC 9293 §3.7.1: Eff.snd.MSS from MTU, MUST-16), besides the peer's MSS and ours;
//! - an ICMP "fragmentation needed" (IPv4) or Packet Too Big (IPv6) that names a sequence
//!   number in flight (RFC 5927 §4.1) lowers it, never raises it, never below 68 octets
//!   (RFC 1191 §3; the stack applies its own, higher floor first);
//! - what was in flight and no longer fits is resent at once in smaller pieces, without a
//!   congestion window cut (the path dropped it for its size, not for congestion).
//!
//! What this module does not do: keep the per-destination cache (the stack's
//! `stack::pmtu`), parse ICMP, probe for a larger MTU (PLPMTUD), or raise the MTU when a
//! cache entry expires. Deviation: RFC 1191 §6.3 says a host should try a larger PMTU
//! again after about 10 minutes; an open connection keeps the lowered MTU for its
//! lifetime (new connections see the expiry). A lowered MTU costs throughput, never
//! correctness, and re-growing it safely needs probing.

use super::connection::{Connection, Timer};
use super::seq::SeqNum;
use super::state::State;
use crate::time::Instant;

/// IPv4 (20) plus TCP (20) header octets, options apart: the MSS is the MTU less this.
pub const IPV4_TCP_HEADERS: u32 = 40;
/// RFC 1191 §3 / RFC 791: no IPv4 path MTU is below 68 octets.
pub const MIN_IPV4_MTU: u32 = 68;

/// The path MTU a connection sends for (Linux `icsk_pmtu_cookie`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PathMtu {
    /// IP datagram octets: the link's until told otherwise.
    pub mtu: u32,
    /// IP + TCP header octets without options (40 for IPv4; 60 for IPv6 later).
    pub headers: u32,
    /// The lowest value allowed (68 for IPv4, 1280 for IPv6).
    pub floor: u32,
}

impl PathMtu {
    /// An IPv4 path whose MTU is `link_mss` + 40 (our advertised MSS came from it).
    pub fn ipv4(link_mss: u16) -> PathMtu {
        PathMtu {
            mtu: u32::from(link_mss) + IPV4_TCP_HEADERS,
            headers: IPV4_TCP_HEADERS,
            floor: MIN_IPV4_MTU,
        }
    }

    /// The largest MSS the path carries (before TCP options).
    pub fn mss(&self) -> u32 {
        self.mtu.saturating_sub(self.headers)
    }
}

/// What an ICMP Path MTU signal did to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmtuUpdate {
    /// The quoted sequence number is not in flight (RFC 5927 §4.1): ignored (Linux counts
    /// `OutOfWindowIcmps`).
    OutOfWindow,
    /// Not below the path MTU in force: nothing changed (RFC 1191 §6.3: never raise).
    NotLower,
    /// Lowered to `mtu`; `resent` when segments in flight no longer fit and go again.
    Lowered { mtu: u32, resent: bool },
}

impl Connection {
    /// The path MTU this connection sends for (`ss -i` pmtu, `tcpi_pmtu`).
    pub fn path_mtu(&self) -> u32 {
        self.pmtu.mtu
    }

    /// The MTU of the link the connection leaves by, before anything is learned (the stack
    /// sets it on every new connection; the default is our MSS + 40).
    pub fn set_link_mtu(&mut self, mtu: u32) {
        self.pmtu.mtu = mtu.clamp(self.pmtu.floor, 65535);
        self.smss = self.smss_now();
        self.cc.set_mss(self.smss);
    }

    /// RFC 5927 §4.1: an ICMP error about this connection counts only if the sequence
    /// number it quotes lies in SND.UNA..SND.NXT (what we have in flight; SND.UNA itself
    /// when nothing is, as Linux's `between(seq, snd_una, snd_nxt)` allows).
    pub fn icmp_seq_in_window(&self, seq: SeqNum) -> bool {
        self.snd_una.le(seq) && seq.lt(self.snd_max.max(self.snd_una + 1))
    }

    /// An ICMP "fragmentation needed" (RFC 1191 §4) or Packet Too Big (RFC 8201) quoting
    /// `seq` reports a next-hop MTU of `mtu` (the stack has applied its floor and its cache).
    pub fn handle_path_mtu(&mut self, now: Instant, mtu: u32, seq: SeqNum) -> PmtuUpdate {
        self.stamp_states(now);
        if !self.icmp_seq_in_window(seq) {
            return PmtuUpdate::OutOfWindow;
        }
        self.lower_path_mtu(mtu)
    }

    /// Lowers the path MTU to `mtu` (never raises it; at least the family's floor), as a
    /// cached value for a new connection or an ICMP signal for an open one.
    pub fn lower_path_mtu(&mut self, mtu: u32) -> PmtuUpdate {
        if matches!(self.state, State::Closed | State::TimeWait) {
            return PmtuUpdate::NotLower;
        }
        let mtu = mtu.max(self.pmtu.floor);
        if mtu >= self.pmtu.mtu {
            return PmtuUpdate::NotLower;
        }
        log::debug!("{} path MTU {} -> {mtu}", self.remote, self.pmtu.mtu);
        self.pmtu.mtu = mtu;
        let before = self.smss;
        self.smss = self.smss_now();
        if self.smss < before {
            self.cc.set_mss(self.smss);
        }
        let resent = self.state.is_synchronized() && self.simple_retransmit();
        PmtuUpdate::Lowered { mtu, resent }
    }

    /// MUST-16: payload per segment = min(peer's MSS, ours, the path's) less the options we
    /// put on every segment; at least 1.
    pub(super) fn smss_now(&self) -> u32 {
        let opts = if self.ts_ok { 12 } else { 0 };
        u32::from(self.peer_mss.min(self.cfg.mss))
            .min(self.pmtu.mss())
            .saturating_sub(opts)
            .max(1)
    }

    /// Linux `tcp_simple_retransmit`: what is in flight and longer than the new SMSS is
    /// lost; it goes again at once (cwnd is not cut). With RACK's records only those
    /// segments are marked; without them (no SACK, or RFC 6675 alone) everything from
    /// SND.UNA is resent (go-back-N, SACKed data skipped), since each full segment in
    /// flight was larger than the new MSS. True if something will be resent.
    fn simple_retransmit(&mut self) -> bool {
        if !self.snd_max.gt(self.snd_una) {
            return false;
        }
        if self.rack_on() {
            if self.rack.mark_longer_lost(self.smss, self.snd_max) == 0 {
                return false;
            }
            self.disarm(Timer::Reorder);
            self.disarm(Timer::LossProbe);
        } else {
            if self.snd_max.since(self.snd_una) <= self.smss {
                return false; // everything in flight fits
            }
            self.snd_nxt = self.snd_una;
            self.retransmit_one = false;
        }
        self.rtt_probe = None; // Karn: no sample from what goes twice
        true
    }
}
