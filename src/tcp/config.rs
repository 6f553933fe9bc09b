//! Per-connection knobs, named after the Linux sysctls users know where one exists.

use super::congestion::Algorithm;
use crate::time::Duration;

/// [`Config::recovery`] bit: RACK-TLP loss detection (Linux `TCP_RACK_LOSS_DETECTION`).
pub const RECOVERY_RACK: u8 = 1;
/// [`Config::recovery`] bit: RACK's reordering window stays min_RTT/4 when 3 segments are
/// SACKed and no reordering was seen, instead of 0 (Linux `TCP_RACK_NO_DUPTHRESH`).
pub const RECOVERY_NO_DUPTHRESH: u8 = 4;

/// [`Config::pacing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pacing {
    /// Never pace: send what cwnd and the peer's window allow at once.
    Off,
    /// Pace when the congestion controller asks for it (BBR), as Linux without `fq`.
    #[default]
    Auto,
    /// Pace every controller: CUBIC and NewReno at 2x cwnd/SRTT in slow start, 1.2x after
    /// (as Linux with `fq`, or `SO_MAX_PACING_RATE`).
    On,
}

impl core::str::FromStr for Pacing {
    type Err = String;
    fn from_str(s: &str) -> Result<Pacing, String> {
        match s {
            "off" => Ok(Pacing::Off),
            "auto" => Ok(Pacing::Auto),
            "on" => Ok(Pacing::On),
            _ => Err(format!("expected off, auto or on, not {s:?}")),
        }
    }
}

/// Per-connection TCP settings (`tcp::Config`): buffers, timers, options and the
/// congestion controller a new connection starts with (see the README's Knobs section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// MSS we advertise: MTU - 40 (RFC 9293 MUST-67).
    pub mss: u16,
    /// The MSS our SYN or SYN-ACK offers instead of `mss` (a route's `advmss`); what we
    /// send is not bounded by it.
    pub advmss: Option<u16>,
    /// A fixed receive buffer (bytes), like `SO_RCVBUF`: the advertised window is what is
    /// free of it, and it is not auto-tuned. 0 (the default): sized from `rmem` and grown
    /// by [`Config::moderate_rcvbuf`].
    pub recv_buffer: usize,
    /// A fixed send buffer (bytes), like `SO_SNDBUF`. 0 (the default): sized from `wmem`
    /// and grown with cwnd (Linux `tcp_sndbuf_expand`).
    pub send_buffer: usize,
    /// Receive buffer min, default, max, as Linux's `tcp_rmem` reads (`sk_rcvbuf` bytes,
    /// charge included): a buffer of `rmem[i]` holds a window of `rmem[i] / 2` (Linux's
    /// `tcp_adv_win_scale` 1; the charge may reach twice the window, see `recv_buffer`).
    /// A connection starts at `rmem[1]` and grows up to `rmem[2]`, which also sets the
    /// window scale (RFC 7323 §2.3). `rmem[0]` is a floor of the starting size; the bytes
    /// kept above the hard memory limit are `recv_buffer::RMEM_MIN`.
    pub rmem: [usize; 3],
    /// Send buffer min, default, max like `tcp_wmem` (payload bytes). Starts at `wmem[1]`
    /// (at least two initial windows once established, as Linux's `tcp_init_buffer_space`)
    /// and grows to twice cwnd up to `wmem[2]` while the application fills it.
    pub wmem: [usize; 3],
    /// Grow the receive buffer to about twice what the application reads per RTT (dynamic
    /// right-sizing), like `tcp_moderate_rcvbuf` (on). Off: it stays at `rmem[1]`.
    pub moderate_rcvbuf: bool,
    /// Offer window scaling (RFC 7323), like `tcp_window_scaling`.
    pub window_scaling: bool,
    /// A fixed window shift to offer instead of the smallest that fits `recv_buffer`
    /// (RFC 7323 §2.3 lets the sender pick any up to 14), like Linux deriving it from the
    /// largest buffer autotuning may reach (`tcp_rmem[2]`). `None` (the default): fit the
    /// buffer. The packetdrill profile sets Linux's 8.
    pub rcv_wscale: Option<u8>,
    /// Offer timestamps (RFC 7323), like `tcp_timestamps`.
    pub timestamps: bool,
    /// Offer SACK (RFC 2018), like `tcp_sack`.
    pub sack: bool,
    /// Report data received twice in the first SACK block (RFC 2883 D-SACK), like Linux's
    /// `tcp_dsack` (on); only with SACK.
    pub dsack: bool,
    /// Maximum segment lifetime; TIME-WAIT lasts 2*MSL.
    /// Deviation: 30 s (TIME-WAIT 60 s, as Linux) instead of RFC 9293's 2 minutes, so a busy
    /// client does not hold ports four minutes.
    pub msl: Duration,
    /// RFC 6298 2.1 initial RTO.
    pub initial_rto: Duration,
    /// Deviation: Linux-like 200 ms floor instead of RFC 6298 2.4's 1 s; modern RTTs make
    /// a 1 s floor stall recovery for no benefit.
    pub min_rto: Duration,
    /// RFC 6298 2.5 upper bound (Linux `TCP_RTO_MAX`).
    pub max_rto: Duration,
    /// SYN-ACK retransmissions before a half-open passive connection is dropped, like
    /// `tcp_synack_retries` (5: about 63 s with a 1 s initial RTO).
    pub synack_retries: u32,
    /// Give up an active open after this long without an answer (MUST-23: >= 3 minutes).
    pub syn_timeout: Duration,
    /// Report a soft error after this many retransmissions (R1, like `tcp_retries1`;
    /// SHLD-10: at least 3).
    pub retries1: u32,
    /// Give up after this many retransmissions of the same data (R2, like `tcp_retries2`).
    pub retries2: u32,
    /// R2 as a time instead (like `TCP_USER_TIMEOUT`); `Some(Duration::MAX)` = never.
    pub user_timeout: Option<Duration>,
    /// Unanswered zero-window probes (or retransmissions) before an orphan (a connection
    /// the application closed) is dropped, like `tcp_orphan_retries` (Linux's 0 means 8).
    pub orphan_retries: u32,
    /// Deliver soft errors (ICMP, R1) to the application as events (SHLD-20 switch).
    pub soft_error_reports: bool,
    /// How long an orphaned connection (closed by the application) may sit in FIN-WAIT-2,
    /// like `tcp_fin_timeout`. Local policy: the RFC sets no limit.
    pub fin_timeout: Duration,
    /// Keep-alive probes, off by default (MUST-25), like `SO_KEEPALIVE`.
    pub keepalive: bool,
    /// Idle time before the first probe: 2 hours (MUST-28), like `tcp_keepalive_time`.
    pub keepalive_time: Duration,
    /// Between unanswered probes, like `tcp_keepalive_intvl`.
    pub keepalive_intvl: Duration,
    /// Unanswered probes before the peer is declared dead, like `tcp_keepalive_probes`.
    pub keepalive_probes: u32,
    /// Delayed ACK timeout (RFC 9293 MUST-40: under 500 ms; Linux's minimum is 40 ms).
    pub delayed_ack: Duration,
    /// Quick ACKs at most, at a connection's start and after an idle RTO: in-order data is
    /// ACKed at once for up to this many ACKs (fewer with a small window), as Linux's
    /// quick-ACK mode (`TCP_MAX_QUICKACKS` = 16); 0 delays from the first segment.
    pub quick_acks: u32,
    /// SACK compression, like `tcp_comp_sack_nr`: while out-of-order data is held and the
    /// peer uses SACK, after three immediate ACKs for one RCV.NXT the ACKs for further
    /// out-of-order segments are held (at most this many, then one goes) until
    /// `comp_sack_delay` or 5% of the RTT, whichever is less; 0 ACKs each at once.
    pub comp_sack_nr: u32,
    /// The longest a compressed SACK waits, like `tcp_comp_sack_delay_ns` (1 ms).
    pub comp_sack_delay: Duration,
    /// Disable Nagle's algorithm (RFC 9293 MUST-17), like `TCP_NODELAY`.
    pub nodelay: bool,
    /// At most one duplicate ACK per this interval answers segments without data outside
    /// the window or failing PAWS (RFC 5961 §7), like `tcp_invalid_ratelimit` (500 ms).
    pub invalid_ratelimit: Duration,
    /// RFC 5961 §7 challenge ACKs per second per connection.
    pub challenge_ack_limit: u32,
    /// Answer an ACK of data not yet sent (SEG.ACK > SND.NXT) with an ACK before dropping
    /// it (RFC 9293 §3.10.7.4, RFC 5961 §5.2: on). Off: drop it silently, as Linux's
    /// `tcp_ack` (the packetdrill profile).
    pub answer_unsent_ack: bool,
    /// Initial congestion window in segments (RFC 6928).
    pub initial_cwnd: u32,
    /// Congestion controller, like `tcp_congestion_control` (CUBIC, as Linux).
    pub congestion: Algorithm,
    /// HyStart++ (RFC 9406) slow-start exit; off by default (Linux enables HyStart for
    /// CUBIC; ours is newer and less proven here).
    pub hystart: bool,
    /// CUBIC leaves the initial slow start by Linux's HyStart rules instead (delay and ACK
    /// train, `tcp_cubic.c`; the packetdrill profile). Off by default.
    pub linux_hystart: bool,
    /// RFC 3465's L: slow start grows cwnd by at most this many SMSS per ACK (2, the
    /// RFC's limit; 1 after an RTO, §2.3). 0 = no limit, as Linux (the packetdrill profile).
    pub abc_limit: u32,
    /// RFC 5681 §4.1 restart after idle, like `tcp_slow_start_after_idle` (on, as in
    /// Linux): new data sent after more than an RTO without sending any, with nothing in
    /// flight, starts from cwnd = min(IW, cwnd).
    pub slow_start_after_idle: bool,
    /// How `min_rto` bounds the RTO: false (RFC 6298 §2.4) max(SRTT + 4*RTTVAR, min_rto);
    /// true, as Linux (`tcp_set_rto`), SRTT + max(4*RTTVAR, min_rto). The packetdrill
    /// profile sets it.
    pub rto_min_on_rttvar: bool,
    /// A loss (fast recovery or RTO) sets ssthresh from cwnd, as Linux's congestion
    /// modules do (CUBIC: 0.7 cwnd), instead of from FlightSize (RFC 5681 eq. 4, RFC 9438
    /// §4.6; the default). Differs when the sender was application-limited. The
    /// packetdrill profile sets it.
    pub loss_ssthresh_from_cwnd: bool,
    /// Loss detection, like Linux's `tcp_recovery`: bit 0 ([`RECOVERY_RACK`], the default)
    /// is RACK-TLP (RFC 8985) when SACK was negotiated; 0 is RFC 6675's DupThresh alone,
    /// without tail loss probes. Without SACK it is always DupThresh / NewReno (RFC 6582).
    /// Bit 2 ([`RECOVERY_NO_DUPTHRESH`]) as Linux's: 5 = RACK without the DupThresh rule.
    pub recovery: u8,
    /// RACK.rtt from the last segment an ACK delivers in Linux's order (SACKed, then
    /// cumulatively ACKed), as `tcp_rack_advance`; off (the default): from the most
    /// recently sent one, RFC 8985 §6.2 step 2 (`Rack::linux_rtt`). The packetdrill
    /// profile sets it.
    pub rack_linux_rtt: bool,
    /// F-RTO (RFC 5682 §3, SACK-enhanced), like Linux's `tcp_frto`: 0 off, else on (Linux's
    /// 1 and 2 have meant the same since 2013): after a first timeout, new data goes before
    /// the go-back-N resend, and a timeout it finds spurious is undone (`undo.rs`).
    pub frto: u8,
    /// Pacing (Linux's internal TCP pacing, `tcp_update_pacing_rate`): data leaves at most
    /// at the pacing rate, released by a timer, and super-segments hold about 1 ms of it
    /// (`tcp_tso_autosize`). [`Pacing::Auto`] (the default) paces only for a controller
    /// that asks (BBR), as Linux does without the `fq` qdisc.
    pub pacing: Pacing,
    /// Pacing starts after the first 10 data segments, which leave at once (Linux
    /// `tcp_update_skb_after_send`: "sch_fq does not pace first 10 MSS"). Off: every
    /// segment is paced, the initial window too.
    pub pace_after_iw: bool,
    /// Largest TCP payload handed to the device in one segment when it segments for us
    /// (TSO/GSO, like a device's `gso_max_size`); 0 = no segmentation offload, every
    /// segment is at most one SMSS. New data goes out in multiples of SMSS up to this.
    pub gso_max_payload: usize,
    /// A super-segment carries at most half of cwnd (at least one SMSS), so that at least
    /// two are in flight, as Linux's `tcp_cwnd_test` ("for better scheduling"). Off: one
    /// super-segment may carry the whole window. The packetdrill profile sets it.
    pub gso_half_cwnd: bool,
    /// IPv4 TTL of our segments (MUST-49).
    pub ttl: u8,
    /// TOS byte (DSCP + ECN) of our segments (MUST-48); ECN, when negotiated, sets the
    /// ECN bits of new data to ECT(0).
    pub tos: u8,
    /// When a read frees receive buffer space, send a window update only if the window
    /// offered was at most half the buffer and the read at least doubles it, as Linux's
    /// `tcp_cleanup_rbuf` (the packetdrill profile sets it). Off (the default): send one
    /// as soon as the right edge may move by a receiver-SWS step (RFC 9293 §3.8.6.2.2);
    /// both conform, ours tells a sender of freed space sooner.
    pub rcv_update_when_doubled: bool,
    /// Writers are woken (and writes take more) only while fewer unsent bytes than this
    /// are queued, like `tcp_notsent_lowat` (Linux's default `u32::MAX`: no limit); the
    /// per-socket TCP_NOTSENT_LOWAT overrides it.
    pub notsent_lowat: u32,
    /// ECN (RFC 3168), like Linux's `tcp_ecn`: 0 off, 1 ask for it and accept it, 2 (the
    /// default) accept it when the peer asks (SHLD-8).
    pub ecn: u8,
    /// Packetization-layer path MTU discovery (RFC 4821), like `tcp_mtu_probing`: 0 off,
    /// 1 after a black hole is suspected (`retries1` timeouts in a row: the MSS falls to
    /// `base_mss`, then halves), 2 always (start at `base_mss` when opening, probe up).
    pub mtu_probing: u8,
    /// The MSS PLPMTUD starts from and falls back to, like `tcp_base_mss` (1024).
    pub base_mss: u16,
    /// Stop probing once the search range is narrower than this many octets, like
    /// `tcp_probe_threshold` (8).
    pub probe_threshold: u32,
    /// Search again (from the current MSS up to the peer's) after this long, like
    /// `tcp_probe_interval` (600 s).
    pub probe_interval: Duration,
    /// The black-hole fallback never goes below this MSS, like `tcp_mtu_probe_floor` (48).
    pub mtu_probe_floor: u16,
}

impl Config {
    /// Our window shift (RFC 7323 §2.3): the smallest that lets the whole receive buffer be
    /// advertised, 0 without window scaling. Auto-tuned, the buffer may grow after the SYN
    /// fixed the shift, so it is chosen from `rmem[2]` as Linux does (`tcp_select_initial_window`).
    pub fn window_shift(&self) -> u8 {
        if !self.window_scaling {
            return 0;
        }
        if let Some(s) = self.rcv_wscale {
            return s.min(14);
        }
        let most = if self.recv_buffer > 0 {
            self.recv_buffer
        } else {
            self.rmem[2].max(self.initial_recv_buffer())
        };
        let mut s = 0;
        while s < 14 && (most >> s) > 65535 {
            s += 1;
        }
        s
    }

    /// The receive buffer a connection starts with (window bytes): `recv_buffer`, or half
    /// of `rmem[1]` (at least half of `rmem[0]`, at least one byte).
    pub fn initial_recv_buffer(&self) -> usize {
        if self.recv_buffer > 0 {
            return self.recv_buffer;
        }
        (self.rmem[1]
            .max(self.rmem[0])
            .min(self.rmem[2].max(self.rmem[0]))
            / 2)
        .max(1)
    }

    /// The largest receive buffer auto-tuning may reach (window bytes).
    pub fn max_recv_buffer(&self) -> usize {
        if self.recv_buffer > 0 || !self.moderate_rcvbuf {
            return self.initial_recv_buffer();
        }
        (self.rmem[2] / 2).max(self.initial_recv_buffer())
    }

    /// The send buffer a connection starts with: `send_buffer`, or `wmem[1]` (within
    /// `wmem[0]..=wmem[2]`, at least one byte).
    pub fn initial_send_buffer(&self) -> usize {
        if self.send_buffer > 0 {
            return self.send_buffer;
        }
        self.wmem[1]
            .max(self.wmem[0])
            .min(self.wmem[2].max(self.wmem[0]))
            .max(1)
    }

    /// The window of a SYN-ACK answering with window scale `wscale` from a fresh buffer
    /// (see [`syn_window`]).
    pub fn syn_window(&self, wscale: u8) -> u16 {
        let b = self.initial_recv_buffer();
        syn_window(b, b, wscale)
    }
}

/// What the receive window never offers of a buffer of `capacity`, to pay for rounding the
/// edge up to the window-scale unit (`Connection::advertise`): `max(unit - 1, capacity / 64)`.
pub fn rounding_reserve(capacity: usize, wscale: u8) -> u32 {
    let unit = 1u32 << wscale.min(14);
    (unit - 1).max((capacity / 64).min(u32::MAX as usize) as u32)
}

/// The window of a SYN or SYN-ACK, from `room` free in a buffer of `capacity`; never scaled
/// (RFC 7323 §2.2). With scaling its edge is no further than the first scaled window offers
/// (room less [`rounding_reserve`]), so that rounding never takes back any of what the SYN
/// offered: the peer may send all of it, and the edge never steps back after the handshake
/// (RFC 9293 §3.8.6.2.2 SHLD-14).
pub fn syn_window(room: usize, capacity: usize, wscale: u8) -> u16 {
    let reserve = if wscale > 0 {
        rounding_reserve(capacity, wscale) as usize
    } else {
        0 // unscaled windows need no rounding
    };
    room.saturating_sub(reserve).min(65535) as u16
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mss: 1460,
            advmss: None,
            recv_buffer: 0,
            send_buffer: 0,
            // Linux's defaults (`tcp_rmem`, `tcp_wmem` on a machine of 4 GiB or more).
            rmem: [4096, 131072, 6291456],
            wmem: [4096, 16384, 4194304],
            moderate_rcvbuf: true,
            window_scaling: true,
            rcv_wscale: None,
            timestamps: true,
            sack: true,
            dsack: true,
            msl: Duration::from_secs(30),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            syn_timeout: Duration::from_secs(180),
            synack_retries: 5,
            retries1: 3,
            retries2: 15,
            user_timeout: None,
            orphan_retries: 8,
            soft_error_reports: true,
            fin_timeout: Duration::from_secs(60),
            keepalive: false,
            keepalive_time: Duration::from_secs(7200),
            keepalive_intvl: Duration::from_secs(75),
            keepalive_probes: 9,
            delayed_ack: Duration::from_millis(40),
            quick_acks: 16,
            comp_sack_nr: 44,
            comp_sack_delay: Duration::from_millis(1),
            nodelay: false,
            invalid_ratelimit: Duration::from_millis(500),
            challenge_ack_limit: 10,
            answer_unsent_ack: true,
            initial_cwnd: 10,
            congestion: Algorithm::Cubic,
            hystart: false,
            abc_limit: 2,
            slow_start_after_idle: true,
            rto_min_on_rttvar: false,
            loss_ssthresh_from_cwnd: false,
            recovery: RECOVERY_RACK,
            rack_linux_rtt: false,
            frto: 2,
            pacing: Pacing::Auto,
            pace_after_iw: false,
            linux_hystart: false,
            gso_max_payload: 0,
            gso_half_cwnd: false,
            ttl: 64,
            tos: 0,
            rcv_update_when_doubled: false,
            notsent_lowat: u32::MAX,
            ecn: 2,
            mtu_probing: 0,
            base_mss: 1024,
            probe_threshold: 8,
            probe_interval: Duration::from_secs(600),
            mtu_probe_floor: 48,
        }
    }
}
