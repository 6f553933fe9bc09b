//! [`TcpInfo`]: one connection's internals as Linux's `struct tcp_info` reports them and
//! `ss -ti` prints them, computed the way Linux computes each field.
//!
//! What this module does not do: `delivered` (we count delivered bytes, not segments),
//! `rcv_ssthresh` (our window is the free buffer). `rcv_space` is 0 until the first data
//! arrives (Linux sets it when the connection is established). `reordering` is RACK's
//! measured degree, but it is
//! not lowered after a timeout as Linux's `tcp_enter_loss` does, and our duplicate
//! threshold stays 3 whatever it says.

use super::connection::Connection;
use super::state::State;
use crate::time::{Duration, Instant};

/// The sender's loss-recovery state, as Linux's `tcpi_ca_state` reports it
/// (`TCP_CA_Open` = 0 .. `TCP_CA_Loss` = 4; `CWR` only for ECN, not for local congestion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaState {
    /// Nothing SACKed, lost or retransmitted outstanding.
    Open = 0,
    /// SACKed, duplicate-ACKed, lost or retransmitted data outstanding, no recovery yet.
    Disorder = 1,
    /// cwnd reduced for an ECN echo (RFC 3168 §6.1.2), PRR-paced (`ecn.rs`).
    Cwr = 2,
    /// Fast recovery (RFC 6675 / RACK-TLP, RFC 8985).
    Recovery = 3,
    /// After a retransmission timeout, until SND.UNA passes SND.MAX of the timeout.
    Loss = 4,
}

/// A snapshot of one connection, in `tcp_info` terms (segments counted in SMSS units).
#[derive(Clone, Debug, PartialEq)]
pub struct TcpInfo {
    /// The RFC 9293 state.
    pub state: State,
    /// The congestion-avoidance state (Linux `ca_state`).
    pub ca_state: CaState,
    /// Zero-window or keep-alive probes sent and unanswered (Linux `icsk_probes_out`).
    pub probes: u32,
    /// The congestion controller's name.
    pub congestion: &'static str,
    /// Timestamps and SACK negotiated (RFC 7323, RFC 2018).
    pub timestamps: bool,
    /// SACK negotiated (RFC 2018).
    pub sack: bool,
    /// ECN negotiated (RFC 3168; `tcpi_options` `TCPI_OPT_ECN`, `ss` `ecn`).
    pub ecn: bool,
    /// A segment with ECT or CE arrived on an ECN connection (`TCPI_OPT_ECN_SEEN`, `ss`
    /// `ecnseen`).
    pub ecn_seen: bool,
    /// Segments delivered by ACKs with ECE (`tcpi_delivered_ce`).
    pub delivered_ce: u64,
    /// (send, receive) window shifts, when window scaling was negotiated.
    pub wscale: Option<(u8, u8)>,
    /// The retransmission timeout now.
    pub rto: Duration,
    /// Consecutive timeouts (exponential backoff steps) now.
    pub backoff: u32,
    /// Smoothed RTT and its variation (RFC 6298), once sampled.
    pub rtt: Option<(Duration, Duration)>,
    /// The delayed-ACK timeout.
    pub ato: Duration,
    /// Our send MSS (options on every segment deducted), the link MTU, the largest segment
    /// the peer sent us (536 until larger, as Linux starts it), and the MSS we announced.
    pub mss: u32,
    /// The link MTU.
    pub pmtu: u32,
    /// The largest segment the peer sent us (536 until larger).
    pub rcv_mss: u32,
    /// The MSS we announced.
    pub advmss: u32,
    /// The congestion window, in segments.
    pub cwnd: u32,
    /// In segments; `None` while still "infinite" (no loss yet).
    pub ssthresh: Option<u32>,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Payload bytes retransmitted.
    pub bytes_retrans: u64,
    /// Payload bytes the peer acknowledged.
    pub bytes_acked: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Segments sent (a super-segment as its pieces) / received (Deviation: a GRO
    /// super-segment from the device counts once; the connection does not see its pieces).
    pub segs_out: u64,
    /// Segments received.
    pub segs_in: u64,
    /// Segments sent with data.
    pub data_segs_out: u64,
    /// Segments received with data.
    pub data_segs_in: u64,
    /// cwnd * mss / srtt in bits per second (what `ss` prints as `send`).
    pub send_bps: Option<u64>,
    /// Linux's `sk_pacing_rate` in bits per second: the rate we pace at when pacing
    /// (`pacing.rs`: BBR's, or the one below with `Pacing::On`); otherwise what Linux
    /// computes without a pacing qdisc too: mss * max(cwnd, in flight) / srtt, times 2 in
    /// slow start (cwnd < ssthresh/2, `tcp_pacing_ss_ratio` 200%) else 1.2
    /// (`tcp_pacing_ca_ratio` 120%).
    pub pacing_bps: Option<u64>,
    /// The latest delivery rate (draft-cheng-iccrg-delivery-rate-estimation, `rate.rs`) in
    /// bits per second, as Linux's `tcpi_delivery_rate`, and whether it was measured while
    /// application-limited (`tcpi_delivery_rate_app_limited`).
    pub delivery_bps: Option<u64>,
    /// Whether `delivery_bps` was measured while application-limited.
    pub app_limited: bool,
    /// BBR's model (`ss -i` bbr:(bw,mrtt,pacing_gain,cwnd_gain)), with BBR.
    pub bbr: Option<super::congestion::BbrInfo>,
    /// Time since data was last sent / data last received / an ACK last received.
    pub last_send: Duration,
    /// Time since data was last received.
    pub last_recv: Duration,
    /// Time since an ACK was last received.
    pub last_ack: Duration,
    /// Time with data queued to send (Linux `tcpi_busy_time`, `chrono.rs`), and of that,
    /// time limited by the peer's window (`tcpi_rwnd_limited`) and by the send buffer
    /// (`tcpi_sndbuf_limited`).
    pub busy: Duration,
    /// Of `busy`, the time the peer's receive window held the sender back.
    pub rwnd_limited: Duration,
    /// Of `busy`, the time the send buffer held the writer back.
    pub sndbuf_limited: Duration,
    /// Segments in flight / of those, SACKed by the peer.
    pub unacked: u32,
    /// Segments in flight that the peer SACKed.
    pub sacked: u32,
    /// Segments retransmitted and not yet acknowledged / retransmissions in all.
    pub retrans: u32,
    /// Retransmissions in all.
    pub total_retrans: u64,
    /// Segments RACK marks lost now (Linux `lost_out`; 0 without RACK-TLP, RFC 8985).
    pub lost: u32,
    /// Segments the peer reported received twice (D-SACK, RFC 2883).
    pub dsack_dups: u64,
    /// The reordering degree in segments (Linux `tcpi_reordering`): 3, grown by what
    /// RACK sees (SACK only).
    pub reordering: u32,
    /// Times RACK saw reordering (Linux `tcpi_reord_seen`).
    pub reord_seen: u32,
    /// The receiver's RTT as buffer auto-tuning measures it (Linux `tcpi_rcv_rtt`), once
    /// measured.
    pub rcv_rtt: Option<Duration>,
    /// The most the application read in one RTT (Linux `tcpi_rcv_space`), 0 before data.
    pub rcv_space: u32,
    /// Bytes queued and not yet sent.
    pub notsent: u32,
    /// The smallest RTT sampled.
    pub min_rtt: Option<Duration>,
    /// The peer's window, and the one we advertised last (right edge less RCV.NXT).
    pub snd_wnd: u32,
    /// The window we advertised last (right edge less RCV.NXT).
    pub rcv_wnd: u32,
}

impl Connection {
    /// The connection as `ss -ti` sees it at `now`.
    pub fn info(&self, now: Instant) -> TcpInfo {
        let mss = self.smss.max(1);
        let segs = |bytes: u32| bytes.div_ceil(mss);
        let in_flight = self.snd_max.since(self.snd_una);
        let sacked = self.sb.sacked_bytes();
        // Retransmitted and outstanding (Linux `retrans_out`): recovery and go-back-N after a
        // timeout both resend every unSACKed byte in order, so that is what lies between
        // SND.UNA and the end of the highest retransmission, less what the peer SACKed.
        let high = Some(self.retrans_high);
        let retrans = high.filter(|e| e.gt(self.snd_una)).map_or(0, |end| {
            let sacked_below: u32 = self
                .sb
                .ranges()
                .map(|(l, r)| {
                    let l = if l.lt(self.snd_una) { self.snd_una } else { l };
                    let r = if r.gt(end) { end } else { r };
                    if r.gt(l) {
                        r.since(l)
                    } else {
                        0
                    }
                })
                .sum();
            segs(end.since(self.snd_una).saturating_sub(sacked_below))
        });
        let cwnd = self.send_cwnd(); // PRR's in fast recovery, as Linux's snd_cwnd
        let ssthresh = self.cc.ssthresh();
        let srtt = self.rtt.srtt().filter(|s| s.micros() > 0);
        let per_sec = |bytes: u64, ratio_pct: u64| {
            srtt.map(|s| bytes * 8 * ratio_pct / 100 * 1_000_000 / s.micros())
        };
        // tcp_update_pacing_rate: slow start while cwnd < ssthresh / 2.
        let ratio = if cwnd < ssthresh / 2 { 200 } else { 120 };
        let pacing_segs = u64::from(segs(cwnd).max(segs(in_flight)));
        let (busy, rwnd_limited, sndbuf_limited) = self.chrono.totals(now);
        let lost = self.rack.lost_segs(mss);
        // tcp_fastretrans_alert / tcp_try_to_open: Loss from the RTO until SND.UNA passes
        // its SND.MAX (`in_loss`), Recovery in fast recovery, CWR in ECN's reduction, Disorder while anything is SACKed, duplicate-ACKed,
        // lost or retransmitted.
        let ca_state = if self.in_loss() {
            CaState::Loss
        } else if self.recovery.is_some() {
            CaState::Recovery
        } else if self.ecn.reduction.is_some() {
            CaState::Cwr
        } else if sacked > 0 || self.dupacks > 0 || lost > 0 || retrans > 0 {
            CaState::Disorder
        } else {
            CaState::Open
        };
        TcpInfo {
            state: self.state,
            ca_state,
            probes: self.probes_out.saturating_add(self.keepalive_sent),
            congestion: self.cc.name(),
            timestamps: self.ts_ok,
            sack: self.sack_ok,
            ecn: self.ecn.ok,
            ecn_seen: self.ecn.ok && self.ecn.seen,
            delivered_ce: self.stats.delivered_ce,
            wscale: self.ws_ok.then_some((self.snd_wscale, self.rcv_wscale)),
            rto: self.rtt.rto(),
            backoff: self.rtt.backoff_count(),
            rtt: self.rtt.srtt().map(|s| (s, self.rtt.rttvar())),
            ato: self.cfg.delayed_ack,
            mss,
            pmtu: self.pmtu.mtu,
            rcv_mss: self.rcv_mss,
            advmss: u32::from(self.cfg.mss),
            cwnd: cwnd / mss,
            ssthresh: (ssthresh != u32::MAX).then(|| ssthresh / mss),
            bytes_sent: self.stats.bytes_sent,
            bytes_retrans: self.stats.bytes_retrans,
            bytes_acked: self.stats.bytes_acked,
            bytes_received: self.stats.bytes_received,
            segs_out: self.stats.segs_out,
            segs_in: self.stats.segs_in,
            data_segs_out: self.stats.data_segs_out,
            data_segs_in: self.stats.data_segs_in,
            send_bps: per_sec(u64::from(cwnd / mss * mss), 100),
            pacing_bps: match self.pacing_rate() {
                Some(r) => Some(r.saturating_mul(8)),
                None => per_sec(pacing_segs * u64::from(mss), ratio),
            },
            delivery_bps: self.delivery_rate().map(|(r, _)| r.saturating_mul(8)),
            app_limited: self.delivery_rate().is_some_and(|(_, a)| a),
            bbr: self.cc.bbr_info(),
            last_send: now.saturating_since(self.last_data_tx),
            last_recv: now.saturating_since(self.last_data_rx),
            last_ack: now.saturating_since(self.last_ack_rx),
            busy,
            rwnd_limited,
            sndbuf_limited,
            unacked: segs(in_flight),
            sacked: segs(sacked),
            retrans,
            total_retrans: self.stats.retrans_segs,
            lost,
            dsack_dups: self.stats.dsack_dups,
            reordering: if self.rack_on() {
                self.rack.reordering()
            } else {
                3
            },
            reord_seen: self.rack.reord_seen(),
            rcv_rtt: self.rcv_rtt_measured(),
            rcv_space: self.rcv_space(),
            notsent: (self.sendq.len() as u32).saturating_sub(self.snd_nxt.since(self.snd_una)),
            min_rtt: self.min_rtt,
            snd_wnd: self.snd_wnd,
            rcv_wnd: if self.rcv_adv.gt(self.rcv_nxt) {
                self.rcv_adv.since(self.rcv_nxt)
            } else {
                0
            },
        }
    }
}
