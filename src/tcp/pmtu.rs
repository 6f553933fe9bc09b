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
//!
//! Packetization-layer PMTUD (RFC 4821, as Linux's `tcp_mtu_probing`, off by default): a
//! binary search for the MSS between `search_low` (known to work; starts at `base_mss`)
//! and `search_high` (the peer's MSS, at most the link's MTU). A probe is one new-data
//! segment of the middle size, sent only in the open state with enough data queued behind
//! it (Linux `tcp_mtu_probe`); acknowledged, it raises the MSS to its size; lost (fast
//! retransmit or timeout before it is acknowledged), it lowers `search_high` below it and
//! is resent in pieces of the old MSS without a congestion window cut. Mode 1 turns this on
//! only after `retries1` timeouts in a row (a black hole: Frag Needed filtered), lowering the
//! MSS to `base_mss` and then halving it on each further timeout (`tcp_mtu_probing()`).
//!
//! What this module does not do: keep the per-destination cache (the stack's
//! `stack::pmtu`) or parse ICMP. Deviation: RFC 1191 §6.3 says a host should try a larger
//! PMTU again after about 10 minutes; with probing off an open connection keeps a lowered
//! MTU for its lifetime (new connections see the cache entry expire). A lowered MTU costs
//! throughput, never correctness, and re-growing it safely needs probing.

use super::connection::{Connection, Timer};
use super::seq::SeqNum;
use super::state::State;
use crate::time::Instant;

/// What [`Connection::mtu_probe_due`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProbeDue {
    /// No probe now: send as usual.
    No,
    /// A probe is wanted but cwnd or the window must drain first: send no new data.
    Wait,
    /// The next new-data segment is a probe of this many payload octets.
    Probe(usize),
}

/// IPv4 (20) plus TCP (20) header octets, options apart: the MSS is the MTU less this.
pub const IPV4_TCP_HEADERS: u32 = 40;
/// RFC 1191 §3 / RFC 791: no IPv4 path MTU is below 68 octets.
pub const MIN_IPV4_MTU: u32 = 68;
/// IPv6 (40) plus TCP (20) header octets (RFC 9293 §3.7.1: MSS = MTU - 60).
pub const IPV6_TCP_HEADERS: u32 = 60;
/// RFC 8200 §5: every IPv6 link carries 1280 octets.
pub const MIN_IPV6_MTU: u32 = 1280;

/// The path MTU a connection sends for (Linux `icsk_pmtu_cookie`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PathMtu {
    /// IP datagram octets: the link's until told otherwise.
    pub mtu: u32,
    /// IP + TCP header octets without options (40 for IPv4, 60 for IPv6).
    pub headers: u32,
    /// The lowest value allowed (68 for IPv4, 1280 for IPv6).
    pub floor: u32,
    /// The link's MTU (the search never goes above it).
    pub link: u32,
    /// PLPMTUD (RFC 4821) on: the MSS is at most `search_low`'s (Linux `icsk_mtup`).
    pub probing: bool,
    /// MTUs known to work / the highest worth trying (datagram octets).
    pub search_low: u32,
    pub search_high: u32,
    /// The probe in flight: its sequence range and its MTU.
    pub probe: Option<(SeqNum, SeqNum, u32)>,
    /// When the search (re)started (`probe_interval`).
    pub probe_stamp: Option<Instant>,
    /// The segment being built is the probe (set by `next_data`).
    pub sending_probe: bool,
}

impl PathMtu {
    /// An IPv4 path whose MTU is `link_mss` + 40 (our advertised MSS came from it).
    pub fn ipv4(link_mss: u16) -> PathMtu {
        PathMtu::with(link_mss, IPV4_TCP_HEADERS, MIN_IPV4_MTU)
    }

    /// An IPv6 path whose MTU is `link_mss` + 60.
    pub fn ipv6(link_mss: u16) -> PathMtu {
        PathMtu::with(link_mss, IPV6_TCP_HEADERS, MIN_IPV6_MTU)
    }

    fn with(link_mss: u16, headers: u32, floor: u32) -> PathMtu {
        let mtu = u32::from(link_mss) + headers;
        PathMtu {
            mtu,
            headers,
            floor,
            link: mtu,
            probing: false,
            search_low: 0,
            search_high: 0,
            probe: None,
            probe_stamp: None,
            sending_probe: false,
        }
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
    Lowered {
        /// The new path MTU, bytes.
        mtu: u32,
        /// Segments in flight no longer fit and were queued to go again.
        resent: bool,
    },
}

impl Connection {
    /// The path MTU this connection sends for (`ss -i` pmtu, `tcpi_pmtu`).
    pub fn path_mtu(&self) -> u32 {
        self.pmtu.mtu
    }

    /// The MTU of the link the connection leaves by, before anything is learned (the stack
    /// sets it on every new connection; the default is our MSS + 40).
    pub fn set_link_mtu(&mut self, mtu: u32) {
        let mtu = mtu.clamp(self.pmtu.floor, 65535);
        self.pmtu.link = mtu;
        if mtu != self.pmtu.mtu {
            self.pmtu.mtu = mtu;
            self.sync_mss();
        }
    }

    /// A route's MTU changed (`Stack::set_route`): lowered as by Frag Needed; raised at once
    /// without PLPMTUD, else left for a probe to prove (the next sync takes it in).
    pub fn set_route_mtu(&mut self, mtu: u32) {
        let mtu = mtu.clamp(self.pmtu.floor, self.pmtu.link.max(self.pmtu.floor));
        if mtu < self.pmtu.mtu {
            self.lower_path_mtu(mtu);
        } else if mtu > self.pmtu.mtu {
            self.pmtu.mtu = mtu;
            if !self.pmtu.probing {
                self.sync_mss();
            }
        }
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
        self.sync_mss();
        let resent = self.state.is_synchronized() && self.simple_retransmit();
        PmtuUpdate::Lowered { mtu, resent }
    }

    /// MUST-16: payload per segment = min(peer's MSS, ours, the path's) less the options we
    /// put on every segment; at least 1.
    pub(super) fn smss_now(&self) -> u32 {
        let mut mss = self.mtu_to_mss(self.pmtu.mtu);
        if self.pmtu.probing && self.pmtu.search_low > 0 {
            // RFC 4821: send at the size known to work while searching above it.
            mss = mss.min(self.mtu_to_mss(self.pmtu.search_low));
        }
        mss
    }

    /// Linux `tcp_mtu_to_mss`: the payload of a datagram of `mtu` octets with our options,
    /// at most the peer's MSS (and ours); at least 1.
    fn mtu_to_mss(&self, mtu: u32) -> u32 {
        u32::from(self.peer_mss.min(self.cfg.mss))
            .min(mtu.saturating_sub(self.pmtu.headers))
            .saturating_sub(self.opts_len())
            .max(1)
    }

    /// Linux `tcp_mss_to_mtu`: the datagram that carries `mss` payload octets.
    fn mss_to_mtu(&self, mss: u32) -> u32 {
        mss + self.pmtu.headers + self.opts_len()
    }

    /// TCP option octets on every data segment (timestamps).
    fn opts_len(&self) -> u32 {
        if self.ts_ok {
            12
        } else {
            0
        }
    }

    /// Linux `tcp_sync_mss`: the search never goes above the path MTU; SMSS follows.
    fn sync_mss(&mut self) {
        self.pmtu.search_high = self.pmtu.search_high.min(self.pmtu.mtu);
        let smss = self.smss_now();
        if smss != self.smss {
            self.smss = smss;
            self.cc.set_mss(smss);
        }
    }

    /// The connection is established (Linux `tcp_mtup_init` from `tcp_init_transfer`): the
    /// search range is set, and with `mtu_probing` 2 probing is on. An active open then
    /// starts at `base_mss` (Linux syncs its MSS there); a passive one keeps the MSS of its
    /// handshake until the first probe or MTU change, as Linux. `search_high` starts at the
    /// peer's MSS (+ 40) at most the link's MTU (RFC 4821 §7.2), so a passive open may probe
    /// above a route's or the cache's MTU (as Linux's); an active one is bounded by it.
    pub(super) fn mtu_probing_start(&mut self, now: Instant) {
        let clamp = u32::from(self.peer_mss.min(self.cfg.mss));
        self.pmtu.probing = self.cfg.mtu_probing > 1;
        self.pmtu.search_high = (clamp + self.pmtu.headers).min(self.pmtu.link);
        self.pmtu.search_low = self.mss_to_mtu(u32::from(self.cfg.base_mss));
        self.pmtu.probe = None;
        self.pmtu.probe_stamp = Some(now);
        if self.pmtu.probing && !self.passive {
            self.sync_mss();
        }
    }

    /// Linux `tcp_mtu_probe`'s conditions for sending a probe as the next new data:
    /// probing on, none in flight, the open state (no recovery, nothing marked lost, no
    /// resend under way), cwnd of at least 11 segments, no SACK blocks to send, a probe
    /// size inside the search range that is still wider than `probe_threshold`, and
    /// enough data queued and window offered for the probe plus 4 more segments. Pure:
    /// `effective_mss` asks it so that the device does not split a probe.
    pub(super) fn mtu_probe_due(&self, buf_len: usize) -> ProbeDue {
        let p = &self.pmtu;
        if !p.probing
            || p.probe.is_some()
            || !matches!(self.state, State::Established | State::CloseWait)
            || self.recovery.is_some()
            || self.retransmit_one
            || self.rack.has_lost()
            || self.rack.in_rto_recovery()
            || self.snd_nxt != self.snd_max
            || (self.sack_ok && (self.recvq.has_ooo() || self.dsack_out.is_some()))
        {
            return ProbeDue::No;
        }
        let smss = self.smss.max(1);
        let cwnd = self.cc.cwnd();
        if cwnd < 11 * smss {
            return ProbeDue::No;
        }
        let probe = self.mtu_to_mss((p.search_high + p.search_low) / 2);
        if probe > self.mtu_to_mss(p.search_high)
            || probe <= smss
            || p.search_high.saturating_sub(p.search_low) < self.cfg.probe_threshold
            || probe as usize > buf_len
        {
            return ProbeDue::No;
        }
        let needed = probe + (self.rack.reordering() + 1) * smss;
        let unsent = self
            .sendq
            .len()
            .saturating_sub(self.snd_nxt.since(self.snd_una) as usize);
        if unsent < needed as usize || self.snd_wnd < needed {
            return ProbeDue::No;
        }
        if (self.snd_nxt + needed).gt(self.snd_una + self.snd_wnd) {
            return ProbeDue::Wait;
        }
        let flight = if self.rack_on() {
            self.rack.pipe()
        } else {
            self.snd_nxt.since(self.snd_una)
        };
        if flight + probe + smss > cwnd {
            return if flight == 0 {
                ProbeDue::No
            } else {
                ProbeDue::Wait
            };
        }
        ProbeDue::Probe(probe as usize)
    }

    /// The probe left: `n` payload octets at `seq` (less than asked only at a record end,
    /// and then it is no probe).
    pub(super) fn mtu_probe_sent(&mut self, seq: SeqNum, n: usize) {
        let want = self.mtu_to_mss((self.pmtu.search_high + self.pmtu.search_low) / 2);
        if n as u32 == want {
            self.pmtu.probe = Some((seq, seq + n as u32, self.mss_to_mtu(want)));
        }
    }

    /// An ACK advanced SND.UNA: a probe wholly acknowledged succeeded (Linux
    /// `tcp_mtup_probe_success`): its size is known to work and becomes the MSS (cwnd keeps
    /// its bytes). With the search over, it starts again after `probe_interval` (Linux
    /// `tcp_mtu_check_reprobe`).
    pub(super) fn mtu_probe_on_ack(&mut self, now: Instant) {
        if let Some((_, end, mtu)) = self.pmtu.probe {
            if end.le(self.snd_una) {
                self.pmtu.probe = None;
                self.pmtu.search_low = mtu;
                self.stats.mtup_success += 1;
                self.sync_mss();
            }
            return;
        }
        let p = &self.pmtu;
        if !p.probing {
            return;
        }
        let probe = self.mtu_to_mss((p.search_high + p.search_low) / 2);
        let exhausted = probe > self.mtu_to_mss(p.search_high)
            || probe <= self.smss
            || p.search_high.saturating_sub(p.search_low) < self.cfg.probe_threshold;
        let due = p
            .probe_stamp
            .is_none_or(|t| now.saturating_since(t) >= self.cfg.probe_interval);
        if exhausted && due {
            let clamp = u32::from(self.peer_mss.min(self.cfg.mss));
            self.pmtu.search_high = (clamp + self.pmtu.headers).min(self.pmtu.mtu);
            self.pmtu.search_low = self.mss_to_mtu(self.smss);
            self.pmtu.probe_stamp = Some(now);
        }
    }

    /// Loss is detected with the probe at SND.UNA (Linux `tcp_fastretrans_alert`): the probe
    /// failed, not the network: `search_high` goes below it, and it is resent in pieces of
    /// the current MSS without entering fast recovery (no cwnd cut). True if so; the caller
    /// then does not enter recovery.
    pub(super) fn mtu_probe_lost(&mut self) -> bool {
        match self.pmtu.probe {
            Some((start, _, _)) if start == self.snd_una => {
                self.mtu_probe_failed();
                self.dupacks = 0;
                self.simple_retransmit();
                true
            }
            _ => false,
        }
    }

    fn mtu_probe_failed(&mut self) {
        if let Some((_, _, mtu)) = self.pmtu.probe.take() {
            self.pmtu.search_high = mtu - 1;
            self.stats.mtup_fail += 1;
        }
    }

    /// The retransmission timer fired (data in flight, before the resend): an outstanding
    /// probe failed; with `mtu_probing` and `retries1` timeouts in a row, a black hole is
    /// suspected (Linux `tcp_mtu_probing()`): probing turns on (the MSS falls to `base_mss`),
    /// or, already on, the MSS known to work halves (at most `base_mss`, at least
    /// `mtu_probe_floor`).
    pub(super) fn mtu_probing_on_rto(&mut self) {
        self.mtu_probe_failed();
        if self.cfg.mtu_probing == 0 || self.retries <= self.cfg.retries1 {
            return;
        }
        if self.pmtu.search_low == 0 {
            self.pmtu.search_low = self.mss_to_mtu(u32::from(self.cfg.base_mss));
            self.pmtu.search_high = self.pmtu.mtu;
        }
        if !self.pmtu.probing {
            self.pmtu.probing = true;
        } else {
            let mss = (self.mtu_to_mss(self.pmtu.search_low) / 2)
                .min(u32::from(self.cfg.base_mss))
                .max(u32::from(self.cfg.mtu_probe_floor));
            self.pmtu.search_low = self.mss_to_mtu(mss);
        }
        self.sync_mss();
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
