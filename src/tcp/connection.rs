//! One TCP connection, sans-IO: the TCB of RFC 9293 §3.3.1 and the user calls of §3.9.1.
//!
//! Inputs are `handle_segment(now, &seg)` and `handle_timeout(now)`; outputs are
//! `poll_transmit(now, buf)`, `poll_timeout()` and `poll_event()`. The application side is
//! `send`, `recv`, `shutdown_write`, `close` and `abort`. Segment arrival is in `input.rs`,
//! segment building in `output.rs`.
//!
//! What this module does not do: demultiplex (the stack hands it only its own segments),
//! listen (a listener in the stack creates a connection per SYN), choose its ISS (given by
//! the stack's ISN generator) or read a clock.

use super::autotune::Autotune;
use super::chrono::Chrono;
use super::config::{rounding_reserve, syn_window, Config};
use super::congestion::{self, Controller};
use super::ecn::Ecn;
use super::pmtu::{PathMtu, ProbeDue};
use super::rack::Rack;
use super::rate::RateEstimator;
use super::recv_buffer::{MemMode, RecvBuffer};
use super::rtt::RttEstimator;
use super::sack::Scoreboard;
use super::send_buffer::SendBuffer;
use super::sendopts::{SendFlags, SendOpts};
use super::seq::SeqNum;
use super::state::State;
use super::state_times::StateTimes;
use crate::time::{Duration, Instant};
use crate::wire::Segment;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// ACKs one connection holds between polls (`Connection::queue_owed_ack`): as many as the
/// runtime reads packets in one batch, so each out-of-order segment of a batch gets its
/// own; a caller that feeds more before polling gets the rest merged into later ACKs.
/// About 30 KB at most (a `Segment` is ~120 bytes), released when drained.
pub const MAX_QUEUED_ACKS: usize = 256;

/// Send bytes a connection may always queue, even above the stack's hard memory limit
/// (Linux `tcp_wmem[0]`).
pub const WMEM_MIN: usize = 4096;

/// Most write ends remembered for PSH (a run of tiny writes shares the last one).
const PUSH_MARKS: usize = 64;

/// Why a connection failed, as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Nothing to read or no room to write yet.
    WouldBlock,
    /// The call needs a connection that is not (yet, or any more) there.
    NotConnected,
    /// The write side was shut down by the application.
    BrokenPipe,
    /// A RST answered our SYN (RFC 9293 §3.10.7.3).
    Refused,
    /// The peer reset a synchronized connection (MUST-12: distinct from a normal close).
    Reset,
    /// Retransmissions or the SYN gave up (R2, MUST-20/23).
    TimedOut,
    /// The application aborted the connection.
    Aborted,
}

impl Error {
    /// The `std::io::ErrorKind` the API reports this error as.
    pub fn kind(self) -> std::io::ErrorKind {
        use std::io::ErrorKind as K;
        match self {
            Error::WouldBlock => K::WouldBlock,
            Error::NotConnected => K::NotConnected,
            Error::BrokenPipe => K::BrokenPipe,
            Error::Refused => K::ConnectionRefused,
            Error::Reset => K::ConnectionReset,
            Error::TimedOut => K::TimedOut,
            Error::Aborted => K::ConnectionAborted,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::WouldBlock => "operation would block",
            Error::NotConnected => "not connected",
            Error::BrokenPipe => "write side shut down",
            Error::Refused => "connection refused",
            Error::Reset => "connection reset by peer",
            Error::TimedOut => "connection timed out",
            Error::Aborted => "connection aborted",
        })
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::new(e.kind(), e)
    }
}

/// What the application should hear about, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed.
    Connected,
    /// The peer sent FIN: after the buffered data, reads return end of stream.
    PeerClosed,
    /// The connection failed; reads and writes now return this error.
    Error(Error),
    /// The urgent pointer appeared or advanced (MUST-32); the value is RCV.UP.
    Urgent(SeqNum),
    /// A delivery problem that does not close the connection (RFC 9293 §3.9.1.8, MUST-47):
    /// an ICMP error or R1 retransmissions. Off with `Config::soft_error_reports` (SHLD-20).
    SoftError(SoftError),
    /// The TCB is gone (CLOSED); the stack may forget the connection.
    Closed,
}

/// What a soft error report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftError {
    /// An ICMP error quoting this connection.
    Icmp {
        /// A hard error as RFC 5461 classifies it.
        hard: bool,
    },
    /// R1 retransmissions of the same data (RFC 9293 §3.8.3, SHLD-9/10).
    Retransmissions(u32),
}

/// The timers of one connection (DESIGN: a table of deadlines, no callbacks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    Retransmit = 0,
    DelayedAck = 1,
    Persist = 2,
    TimeWait = 3,
    FinWait2 = 4,
    Keepalive = 5,
    /// RACK's reorder timer (RFC 8985 §6.3).
    Reorder = 6,
    /// TLP's probe timeout (RFC 8985 §7.2).
    LossProbe = 7,
    /// The pacing release time of the next data segment (`pacing.rs`); firing does
    /// nothing but let the stack poll for output.
    Pace = 8,
    /// SACK compression: the held ACK for out-of-order data goes (`input.rs`
    /// `compress_sack`, Linux's `compressed_ack_timer`).
    CompSack = 9,
}
/// RFC 7323 §5.5: how long TS.Recent stays valid without being set (Linux
/// `TCP_PAWS_24DAYS`), well inside the 2^31 ms a 1 ms peer clock takes to wrap its sign bit.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

const N_TIMERS: usize = 10;
/// In firing order: a PTO due with the RTO fires first (RFC 8985 §7.2 caps it there) and
/// pushes the RTO on.
const TIMERS: [Timer; N_TIMERS] = [
    Timer::Reorder,
    Timer::LossProbe,
    Timer::Retransmit,
    Timer::DelayedAck,
    Timer::CompSack,
    Timer::Persist,
    Timer::TimeWait,
    Timer::FinWait2,
    Timer::Keepalive,
    Timer::Pace,
];

fn timer_name(t: Timer) -> &'static str {
    match t {
        Timer::Retransmit => "rto",
        Timer::DelayedAck => "delack",
        Timer::Persist => "persist",
        Timer::TimeWait => "time-wait",
        Timer::FinWait2 => "fin-wait-2",
        Timer::Keepalive => "keepalive",
        Timer::Reorder => "reorder",
        Timer::LossProbe => "tlp",
        Timer::Pace => "pace",
        Timer::CompSack => "comp-sack",
    }
}

/// One TCP connection (sans-IO): the TCB, its state machine, buffers, timers, RTT
/// estimator and congestion control. Fed segments and times by the stack; see the module docs
/// for the calling order.
pub struct Connection {
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) state: State,
    /// SYN-RECEIVED came from a passive open (MUST-11).
    pub(super) passive: bool,
    pub(super) cfg: Config,

    // Send sequence space (RFC 9293 §3.3.1).
    pub(super) iss: SeqNum,
    pub(super) snd_una: SeqNum,
    pub(super) snd_nxt: SeqNum,
    /// Highest sequence number sent; `snd_nxt` goes back to `snd_una` on timeout.
    pub(super) snd_max: SeqNum,
    pub(super) snd_wnd: u32,
    pub(super) max_snd_wnd: u32,
    pub(super) snd_wl1: SeqNum,
    pub(super) snd_wl2: SeqNum,
    /// Sequence number of our FIN once it has been sent.
    pub(super) fin_seq: Option<SeqNum>,
    pub(super) fin_queued: bool,
    /// End of the last short segment sent (Minshall's Nagle variant).
    pub(super) snd_sml: SeqNum,
    /// Where application writes ended (and forced pushes), for PSH (RFC 9293 §3.9.1.2, as
    /// Linux's `tcp_mark_push`); at most `PUSH_MARKS`, pruned below SND.UNA.
    pub(super) push_marks: VecDeque<SeqNum>,
    /// The last push mark (Linux `pushed_seq`).
    pub(super) pushed_seq: SeqNum,
    /// TCP_CORK, MSG_MORE, MSG_EOR, TCP_NOTSENT_LOWAT (`sendopts.rs`).
    pub(super) sendopts: SendOpts,

    // Receive sequence space.
    pub(super) irs: SeqNum,
    pub(super) rcv_nxt: SeqNum,
    /// Right edge of the window last advertised (never moves left: SHLD-14).
    pub(super) rcv_adv: SeqNum,
    /// A FIN seen beyond RCV.NXT, waiting for the hole before it to fill.
    pub(super) rcv_fin: Option<SeqNum>,
    pub(super) peer_fin: bool,
    pub(super) rcv_up: Option<SeqNum>,

    // Negotiated options.
    /// Both sides offered window scaling (RFC 7323 §2.2).
    pub(super) ws_ok: bool,
    pub(super) snd_wscale: u8,
    pub(super) rcv_wscale: u8,
    /// Effective send MSS: payload bytes per segment (MUST-16).
    pub(super) smss: u32,
    pub(super) peer_mss: u16,
    /// The path MTU we send for (`pmtu.rs`).
    pub(super) pmtu: PathMtu,
    pub(super) ts_ok: bool,
    pub(super) ts_recent: u32,
    /// When TS.Recent was last set (RFC 7323 §5.5: it expires after 24 days idle).
    pub(super) ts_recent_at: Instant,
    pub(super) ts_offset: u32,
    pub(super) last_ack_sent: SeqNum,
    pub(super) sack_ok: bool,

    pub(super) sendq: SendBuffer,
    pub(super) recvq: RecvBuffer,
    /// The application called close(): it will not read again (SHLD-3).
    pub(super) app_closed: bool,

    pub(super) timers: [Option<Instant>; N_TIMERS],
    /// The states entered and when (`tcpstates`; see `state_times`).
    state_times: StateTimes,
    pub(super) rtt: RttEstimator,
    /// Karn (RFC 6298 §3): time one new segment at a time, never a retransmitted one.
    pub(super) rtt_probe: Option<(SeqNum, Instant)>,
    pub(super) retries: u32,
    pub(super) first_syn_at: Option<Instant>,
    /// When the current run of retransmission timeouts began (for the user timeout).
    pub(super) first_rto_at: Option<Instant>,
    /// When the retransmission timer last fired with data outstanding (stale echoes).
    pub(super) last_rto_at: Option<Instant>,
    /// When the last segment arrived (keep-alive idleness).
    pub(super) last_rx: Instant,
    /// When data was last sent and received and an ACK last arrived (`ss -i` lastsnd,
    /// lastrcv, lastack); the creation time until then, as Linux starts them.
    pub(super) last_data_tx: Instant,
    pub(super) last_data_rx: Instant,
    pub(super) last_ack_rx: Instant,
    /// Largest payload received, at least 536 (Linux `icsk_ack.rcv_mss`), at most our MSS.
    pub(super) rcv_mss: u32,
    /// Busy, rwnd-limited and sndbuf-limited time (`chrono.rs`, Linux's chronograph).
    pub(super) chrono: Chrono,
    /// A write found the send buffer full and nothing freed enough of it since (Linux's
    /// `SOCK_NOSPACE`; for `chrono` only).
    pub(super) nospace: bool,
    /// End of the highest segment retransmitted (`ss -i` retrans: what lies retransmitted
    /// and unacknowledged between SND.UNA and here).
    pub(super) retrans_high: SeqNum,
    pub(super) keepalive_sent: u32,
    pub(super) keepalive_due: bool,
    /// Send urgent pointer: the sequence number after the urgent data.
    pub(super) snd_up: Option<SeqNum>,
    pub(super) persist_backoff: u32,
    /// Zero-window probes sent since the peer last acknowledged anything (Linux's
    /// `icsk_probes_out`), and when this run of probing began (`icsk_probes_tstamp`).
    pub(super) probes_out: u32,
    pub(super) probes_since: Option<Instant>,
    /// When the last rate-limited answer to an invalid segment left (`last_oow_ack_time`).
    pub(super) last_oow_ack: Option<Instant>,
    pub(super) force_send: bool,

    /// How much may be in flight (NewReno or CUBIC behind `congestion::Controller`).
    pub(super) cc: Box<dyn Controller>,
    /// What the peer SACKed above SND.UNA (RFC 2018, RFC 6675).
    pub(super) sb: Scoreboard,
    pub(super) dupacks: u32,
    /// Fast recovery in progress (RFC 6675 with SACK, RFC 6582 without).
    pub(super) recovery: Option<Recovery>,
    /// RACK-TLP's transmit records and state (RFC 8985), used with SACK (`recovery.rs`).
    pub(super) rack: Rack,
    /// The loss episode that may yet be undone, and F-RTO's progress (`undo.rs`).
    pub(super) undo: Option<super::undo::Undo>,
    pub(super) frto: Option<super::undo::Frto>,
    /// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation), every connection.
    pub(super) rate: RateEstimator,
    /// Pacing (`pacing.rs`): the rate in bytes/s (0: not pacing) and when the next data
    /// segment may leave, in nanoseconds of our clock (Linux `tcp_wstamp_ns`).
    pub(super) pacing_rate: u64,
    pub(super) pace_ns: u64,
    /// Resend one segment at SND.UNA without moving SND.NXT (fast retransmit, RFC 5681 §3.2).
    pub(super) retransmit_one: bool,
    /// The last send was held back by cwnd (RFC 7661: grow cwnd only then).
    pub(super) cwnd_limited: bool,
    /// The most bytes in flight since `max_flight_seq` was sent, and that SND.NXT (Linux's
    /// `max_packets_out` / `max_packets_seq`): a new window starts once it is acknowledged.
    pub(super) max_flight: u32,
    pub(super) max_flight_seq: SeqNum,
    /// SND.MAX - SND.UNA right after the last segment sent: the flight before a batch of
    /// ACKs handled back to back (see `enter_recovery`).
    pub(super) sent_flight: u32,
    pub(super) min_rtt: Option<Duration>,

    pub(super) ack_now: bool,
    /// The ACK owed by `ack_now` answers one segment on its own (RFC 5681 §4.2: out of
    /// order, filling a hole, or data outside the window; or in-order data spaced within a
    /// batch, `space_batch_acks`): the next arrival must not merge it into a later ACK (see
    /// `queue_owed_ack`).
    pub(super) ack_per_segment: bool,
    /// Pure ACKs built when a later segment arrived before the poll (`queue_owed_ack`);
    /// `poll_transmit` sends them first, oldest first. At most [`MAX_QUEUED_ACKS`].
    pub(super) queued_acks: VecDeque<Segment<'static>>,
    /// Data received twice, to report in the next ACK's first SACK block (RFC 2883 D-SACK).
    pub(super) dsack_out: Option<(SeqNum, SeqNum)>,
    pub(super) delack_segs: u32,
    /// SACK compression (`input.rs` `compress_sack`): ACKs held now, the RCV.NXT the
    /// immediate ones were counted for, and how many went at once for it (Linux's
    /// `compressed_ack`, `compressed_ack_rcv_nxt`, `dup_ack_counter`).
    pub(super) compressed_acks: u32,
    pub(super) comp_rcv_nxt: SeqNum,
    pub(super) comp_dup_acks: u8,
    /// Quick ACKs left (Linux `icsk_ack.quick`): in-order data is ACKed at once while this
    /// is non-zero and the connection is not interactive (`pingpong`).
    pub(super) quick_acks: u32,
    /// In-order data has arrived before (Linux: `icsk_ack.ato` is set).
    pub(super) data_seen: bool,
    /// In-order ACKs set apart within the batch handed in at this instant (see `on_data`).
    pub(super) batch_acks: (Instant, u32),
    /// Interactive (Linux `inet_csk_in_pingpong_mode`): we sent data soon after receiving
    /// some, so ACKs wait to ride on the answer.
    pub(super) pingpong: bool,
    /// A RST to send: (SEQ, ACK if the RST carries one).
    pub(super) rst: Option<(SeqNum, Option<SeqNum>)>,
    pub(super) challenge_window: (Instant, u32),

    pub(super) events: VecDeque<Event>,
    pub(super) error: Option<Error>,
    pub(super) stats: ConnStats,
    pub(super) soft_errors: u32,
    /// The highest right edge (RCV.NXT + window) any segment advertised, and the first
    /// segment that advertised less (previous, new): for `check_invariants` (SHLD-14).
    pub(super) adv_edge: Option<SeqNum>,
    pub(super) adv_edge_shrunk: Option<(SeqNum, SeqNum)>,
    /// Buffer auto-tuning (`autotune.rs`).
    pub(super) tune: Autotune,
    /// ECN, RFC 3168 (`ecn.rs`).
    pub(super) ecn: Ecn,
}

/// One fast-recovery episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Recovery {
    /// SND.MAX when it began: recovery ends when SND.UNA reaches it.
    pub point: SeqNum,
    /// Everything in [SND.UNA, high_rxt) was retransmitted in this episode (RFC 6675).
    pub high_rxt: SeqNum,
    /// RFC 6675 rule 4: one rescue retransmission per episode.
    pub rescue: Option<SeqNum>,
    /// RFC 9937 PRR: bytes delivered (prr_delivered) and sent (prr_out) in this episode,
    /// the bytes in flight and not SACKed when it began (RecoverFS), and the window the
    /// last ACK set (cwnd = pipe + sndcnt), which the sender fills (`recovery.rs`).
    pub prr_delivered: u32,
    pub prr_out: u32,
    pub recover_fs: u32,
    pub prr_cwnd: u32,
}

/// Per-connection counters: the `ss -i` numbers, and the events the stack sums into its
/// `nstat` counters (each named after the Linux MIB counter it feeds, and counted where
/// Linux counts it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Segments retransmitted during fast recovery, GSO pieces counted
    /// (`TCPFastRetrans`; after a timeout they are `TCPSlowStartRetrans`, not counted).
    pub fast_retrans: u64,
    /// Fast recoveries entered without / with SACK (`TCPRenoRecovery`, `TCPSackRecovery`).
    pub reno_recovery: u64,
    /// Fast recoveries entered with SACK (`TCPSackRecovery`).
    pub sack_recovery: u64,
    /// Keep-alive probes sent (`TCPKeepAlive`).
    pub keepalive_probes: u64,
    /// Segments received / sent, retransmissions included (`ss -i` segs_in, segs_out).
    pub segs_in: u64,
    /// Segments sent, retransmissions included (`ss -i` segs_out).
    pub segs_out: u64,
    /// Segments received / sent with data (`ss -i` data_segs_in, data_segs_out).
    pub data_segs_in: u64,
    /// Segments sent with data (`ss -i` data_segs_out).
    pub data_segs_out: u64,
    /// Segments (SYNs included) sent again (`RetransSegs`).
    pub retrans_segs: u64,
    /// SYN and SYN-ACK retransmissions (`TCPSynRetrans`).
    pub syn_retrans: u64,
    /// Segments with new data, GSO pieces counted (`TCPOrigDataSent`).
    pub orig_data_sent: u64,
    /// Challenge ACKs sent, after the RFC 5961 §7 rate limit (`TCPChallengeACK`).
    pub challenge_acks: u64,
    /// SYNs in a synchronized state, challenged or not (`TCPSYNChallenge`).
    pub syn_challenges: u64,
    /// Segments dropped by PAWS, RFC 7323 §5.3 (`PAWSEstab`).
    pub paws_estab: u64,
    /// Duplicate ACKs not sent for segments without data outside the window or failing
    /// PAWS, by the `invalid_ratelimit` (`TCPACKSkippedSeq`, `TCPACKSkippedPAWS`).
    pub ack_skipped_seq: u64,
    /// Duplicate ACKs not sent for segments failing PAWS (`TCPACKSkippedPAWS`).
    pub ack_skipped_paws: u64,
    /// Retransmission timeouts (`TCPTimeouts`).
    pub timeouts: u64,
    /// ACKs sent because the delayed-ACK timer fired (`DelayedACKs`).
    pub delayed_acks: u64,
    /// Data segments queued out of order (`TCPOFOQueue`).
    pub ofo_queue: u64,
    /// ACKs for out-of-order data not sent, merged by SACK compression (`TCPAckCompressed`).
    pub ack_compressed: u64,
    /// In-order segments appended to unread data already queued, the analogue of Linux
    /// merging them into the last skb of the receive queue (`TCPRcvCoalesce`).
    pub rcv_coalesce: u64,
    /// Data at RCV.NXT dropped because the window was zero (`TCPZeroWindowDrop`).
    pub zero_window_drop: u64,
    /// Resets sent for data arriving after close() (`TCPAbortOnData`).
    pub abort_on_data: u64,
    /// A passive open in SYN-RECEIVED ended by a RST or SYN (`EmbryonicRsts`; Linux also
    /// counts it in `AttemptFails`).
    pub embryonic_rsts: u64,
    /// Tail loss probes sent (`TCPLossProbes`), losses they repaired (`TCPLossProbeRecovery`),
    /// retransmissions RACK found lost (`TCPLostRetransmit`), RFC 8985.
    pub loss_probes: u64,
    /// Losses repaired by a tail loss probe (`TCPLossProbeRecovery`).
    pub loss_probe_recovery: u64,
    /// Retransmissions RACK found lost (`TCPLostRetransmit`).
    pub lost_retransmit: u64,
    /// Timeouts during fast recovery with SACK, the first of a run
    /// (`TCPSackRecoveryFail`).
    pub sack_recovery_fail: u64,
    /// Timeouts during fast recovery without SACK, the first of a run
    /// (`TCPRenoRecoveryFail`).
    pub reno_recovery_fail: u64,
    /// Reductions undone (`undo.rs`) because every retransmission was D-SACKed
    /// (`TCPDSACKUndo`).
    pub dsack_undo: u64,
    /// Reductions undone at the end of fast recovery (`TCPFullUndo`).
    pub full_undo: u64,
    /// Reductions undone after a timeout (`TCPLossUndo`).
    pub loss_undo: u64,
    /// Of `loss_undo`, the timeouts F-RTO found spurious (`TCPSpuriousRTOs`, RFC 5682).
    pub spurious_rtos: u64,
    /// Payload bytes sent, retransmissions included / retransmitted (`ss -i`).
    pub bytes_sent: u64,
    /// Payload bytes retransmitted (`ss -i` bytes_retrans).
    pub bytes_retrans: u64,
    /// Payload bytes the peer acknowledged (`ss -i` bytes_acked).
    pub bytes_acked: u64,
    /// Payload bytes received in order (`ss -i` bytes_received).
    pub bytes_received: u64,
    /// Segments the peer reported received twice by D-SACK, RFC 2883 (`ss -i` dsack_dups).
    pub dsack_dups: u64,
    /// D-SACKs we set for data received twice below RCV.NXT (`TCPDSACKOldSent`) and
    /// above it, already held out of order (`TCPDSACKOfoSent`), RFC 2883.
    pub dsack_old_sent: u64,
    /// D-SACKs we set for data already held out of order (`TCPDSACKOfoSent`).
    pub dsack_ofo_sent: u64,
    /// Out-of-order limits at work (`PruneCalled`, `OfoPruned`, `TCPOFODrop`,
    /// `TCPRcvQDrop`), see `recv_buffer`.
    pub prune_called: u64,
    /// Out-of-order segments dropped to free memory (`OfoPruned`).
    pub ofo_pruned: u64,
    /// Out-of-order segments refused at the limit (`TCPOFODrop`).
    pub ofo_drop: u64,
    /// In-order segments refused for lack of receive memory (`TCPRcvQDrop`).
    pub rcvq_drop: u64,
    /// PLPMTUD probes acknowledged (`TCPMTUPSuccess`, RFC 4821).
    pub mtup_success: u64,
    /// PLPMTUD probes lost (`TCPMTUPFail`).
    pub mtup_fail: u64,
    /// Segments delivered by ACKs with ECE (`TCPDeliveredCE`, RFC 3168).
    pub delivered_ce: u64,
    /// Timeouts that found the receiver reneging on SACKed data (`TCPSACKReneging`).
    pub sack_reneging: u64,
}

impl ConnStats {
    /// Adds every counter of `o` to `self`.
    pub fn add(&mut self, o: &ConnStats) {
        let ConnStats {
            fast_retrans,
            reno_recovery,
            sack_recovery,
            keepalive_probes,
            segs_in,
            segs_out,
            data_segs_in,
            data_segs_out,
            retrans_segs,
            syn_retrans,
            orig_data_sent,
            challenge_acks,
            syn_challenges,
            paws_estab,
            ack_skipped_seq,
            ack_skipped_paws,
            timeouts,
            delayed_acks,
            ofo_queue,
            ack_compressed,
            rcv_coalesce,
            zero_window_drop,
            abort_on_data,
            embryonic_rsts,
            loss_probes,
            loss_probe_recovery,
            lost_retransmit,
            sack_recovery_fail,
            reno_recovery_fail,
            dsack_undo,
            full_undo,
            loss_undo,
            spurious_rtos,
            bytes_sent,
            bytes_retrans,
            bytes_acked,
            bytes_received,
            dsack_dups,
            dsack_old_sent,
            dsack_ofo_sent,
            prune_called,
            ofo_pruned,
            ofo_drop,
            rcvq_drop,
            mtup_success,
            mtup_fail,
            delivered_ce,
            sack_reneging,
        } = *o;
        self.fast_retrans += fast_retrans;
        self.reno_recovery += reno_recovery;
        self.sack_recovery += sack_recovery;
        self.keepalive_probes += keepalive_probes;
        self.segs_in += segs_in;
        self.segs_out += segs_out;
        self.data_segs_in += data_segs_in;
        self.data_segs_out += data_segs_out;
        self.retrans_segs += retrans_segs;
        self.syn_retrans += syn_retrans;
        self.orig_data_sent += orig_data_sent;
        self.challenge_acks += challenge_acks;
        self.syn_challenges += syn_challenges;
        self.paws_estab += paws_estab;
        self.ack_skipped_seq += ack_skipped_seq;
        self.ack_skipped_paws += ack_skipped_paws;
        self.timeouts += timeouts;
        self.delayed_acks += delayed_acks;
        self.ofo_queue += ofo_queue;
        self.ack_compressed += ack_compressed;
        self.rcv_coalesce += rcv_coalesce;
        self.zero_window_drop += zero_window_drop;
        self.abort_on_data += abort_on_data;
        self.embryonic_rsts += embryonic_rsts;
        self.loss_probes += loss_probes;
        self.loss_probe_recovery += loss_probe_recovery;
        self.lost_retransmit += lost_retransmit;
        self.sack_recovery_fail += sack_recovery_fail;
        self.reno_recovery_fail += reno_recovery_fail;
        self.dsack_undo += dsack_undo;
        self.full_undo += full_undo;
        self.loss_undo += loss_undo;
        self.spurious_rtos += spurious_rtos;
        self.bytes_sent += bytes_sent;
        self.bytes_retrans += bytes_retrans;
        self.bytes_acked += bytes_acked;
        self.bytes_received += bytes_received;
        self.dsack_dups += dsack_dups;
        self.dsack_old_sent += dsack_old_sent;
        self.dsack_ofo_sent += dsack_ofo_sent;
        self.prune_called += prune_called;
        self.ofo_pruned += ofo_pruned;
        self.ofo_drop += ofo_drop;
        self.rcvq_drop += rcvq_drop;
        self.mtup_success += mtup_success;
        self.mtup_fail += mtup_fail;
        self.delivered_ce += delivered_ce;
        self.sack_reneging += sack_reneging;
    }
}

impl Connection {
    fn new(
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        ts_offset: u32,
        cfg: Config,
    ) -> Self {
        let mss = u32::from(cfg.mss);
        Connection {
            local,
            remote,
            state: State::Closed,
            passive: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            fin_seq: None,
            fin_queued: false,
            snd_sml: iss,
            push_marks: VecDeque::new(),
            pushed_seq: iss + 1,
            sendopts: SendOpts::default(),
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            rcv_fin: None,
            peer_fin: false,
            rcv_up: None,
            ws_ok: false,
            snd_wscale: 0,
            rcv_wscale: 0,
            smss: 536,
            peer_mss: 536,
            pmtu: if remote.is_ipv6() {
                PathMtu::ipv6(cfg.mss)
            } else {
                PathMtu::ipv4(cfg.mss)
            },
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: now,
            // RFC 7323 §5.4: the caller's secret offset (the stack's is per address pair).
            ts_offset,
            last_ack_sent: SeqNum(0),
            sack_ok: false,
            sendq: SendBuffer::new(cfg.initial_send_buffer()),
            recvq: RecvBuffer::new(cfg.initial_recv_buffer()),
            app_closed: false,
            timers: [None; N_TIMERS],
            state_times: StateTimes::default(),
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto)
                .min_on_rttvar(cfg.rto_min_on_rttvar),
            rtt_probe: None,
            retries: 0,
            first_syn_at: None,
            first_rto_at: None,
            last_rto_at: None,
            last_rx: now,
            last_data_tx: now,
            last_data_rx: now,
            last_ack_rx: now,
            rcv_mss: 536.min(mss),
            chrono: Chrono::new(now),
            nospace: false,
            retrans_high: iss,
            keepalive_sent: 0,
            keepalive_due: false,
            snd_up: None,
            persist_backoff: 0,
            probes_out: 0,
            probes_since: None,
            last_oow_ack: None,
            force_send: false,
            cc: congestion::new_controller_with(
                cfg.congestion,
                mss,
                cfg.initial_cwnd,
                now,
                congestion::Options {
                    hystart: cfg.hystart,
                    linux_hystart: cfg.linux_hystart,
                    abc_limit: (cfg.abc_limit != 2).then_some(cfg.abc_limit),
                },
            ),
            sb: Scoreboard::new(),
            dupacks: 0,
            recovery: None,
            undo: None,
            frto: None,
            rack: Rack::with_no_dupthresh(cfg.recovery & super::config::RECOVERY_NO_DUPTHRESH != 0)
                .linux_rtt(cfg.rack_linux_rtt),
            rate: RateEstimator::new(now),
            pacing_rate: 0,
            pace_ns: 0,
            retransmit_one: false,
            cwnd_limited: false,
            max_flight: 0,
            max_flight_seq: iss,
            sent_flight: 0,
            min_rtt: None,
            ack_now: false,
            ack_per_segment: false,
            queued_acks: VecDeque::new(),
            dsack_out: None,
            delack_segs: 0,
            compressed_acks: 0,
            comp_rcv_nxt: SeqNum(0),
            comp_dup_acks: 0,
            quick_acks: 0,
            data_seen: false,
            batch_acks: (Instant::ZERO, 0),
            pingpong: false,
            rst: None,
            challenge_window: (now, 0),
            events: VecDeque::new(),
            error: None,
            stats: ConnStats::default(),
            soft_errors: 0,
            adv_edge: None,
            adv_edge_shrunk: None,
            tune: Autotune::default(),
            ecn: Ecn::default(),
            cfg,
        }
    }

    /// Active OPEN (RFC 9293 §3.10.1): the SYN leaves on the next `poll_transmit`.
    /// `ts_offset` is added to our millisecond clock for TSval (RFC 7323 §5.4): it should
    /// be secret and the same for every connection to the same peer address.
    pub fn connect(
        now: Instant,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
        iss: SeqNum,
        ts_offset: u32,
        cfg: Config,
    ) -> Self {
        let mut c = Connection::new(now, local.into(), remote.into(), iss, ts_offset, cfg);
        c.rcv_wscale = c.our_wscale();
        c.set_state(State::SynSent, "active open");
        c.stamp_states(now);
        c
    }

    /// Passive OPEN completed by a SYN to a listener (RFC 9293 §3.10.7.2): the connection
    /// starts in SYN-RECEIVED and answers SYN-ACK. Data on the SYN is not acknowledged (the
    /// peer sends it again), so it is delivered exactly once.
    /// `ts_offset` as for [`Connection::connect`].
    pub fn accept(
        now: Instant,
        syn: &Segment<'_>,
        iss: SeqNum,
        ts_offset: u32,
        cfg: Config,
    ) -> Self {
        let mut c = Connection::new(now, syn.dst, syn.src, iss, ts_offset, cfg);
        c.passive = true;
        c.stats.segs_in = 1; // the SYN, as Linux's child socket counts it
        c.irs = SeqNum(syn.seq);
        c.rcv_nxt = c.irs + 1;
        c.negotiate(now, syn);
        c.rcv_adv = c.rcv_nxt + u32::from(c.syn_window()); // what the SYN-ACK will offer
        c.snd_wnd = u32::from(syn.window); // RFC 7323 §2.2: never scaled in a SYN
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = c.irs;
        c.state = State::Listen; // logged as LISTEN -> SYN-RECEIVED
        c.set_state(State::SynReceived, "rcvd SYN");
        c.stamp_states(now);
        c
    }

    /// A connection completed by a valid SYN cookie (RFC 4987 §3.6): no SYN-RECEIVED state
    /// was kept, so the final ACK carries everything. `iss` is the cookie, `mss` the peer's
    /// MSS it encodes, `ts_offset` as for [`Connection::connect`]; window scale and SACK come back through the timestamp echo (when the SYN
    /// had timestamps), else they are off, as in Linux.
    #[allow(clippy::too_many_arguments)]
    pub fn accept_cookie(
        now: Instant,
        ack: &Segment<'_>,
        iss: SeqNum,
        ts_offset: u32,
        mss: u16,
        wscale: Option<u8>,
        sack_ok: bool,
        cfg: Config,
    ) -> Self {
        let mut c = Connection::new(now, ack.dst, ack.src, iss, ts_offset, cfg);
        c.passive = true;
        c.stats.segs_in = 1; // the ACK that carried the cookie
        c.irs = SeqNum(ack.seq) - 1;
        c.rcv_nxt = SeqNum(ack.seq);
        c.peer_mss = mss;
        c.ts_ok = c.cfg.timestamps && ack.options.timestamps.is_some();
        if let Some(ts) = ack.options.timestamps {
            c.set_ts_recent(now, ts.tsval);
        }
        match wscale {
            Some(ws) if c.ts_ok && c.cfg.window_scaling => {
                c.ws_ok = true;
                c.snd_wscale = ws.min(14);
                c.rcv_wscale = c.cfg.window_shift();
            }
            _ => (c.ws_ok, c.snd_wscale, c.rcv_wscale) = (false, 0, 0),
        }
        c.sack_ok = c.cfg.sack && c.ts_ok && sack_ok;
        c.smss = c.smss_now();
        c.cc.set_mss(c.smss);
        c.snd_una = iss + 1;
        c.snd_nxt = iss + 1;
        c.snd_max = iss + 1;
        c.snd_wnd = u32::from(ack.window) << c.snd_wscale;
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = SeqNum(ack.seq);
        c.snd_wl2 = SeqNum(ack.ack);
        // What the cookie SYN-ACK offered (`Config::syn_window`), unscaled.
        c.rcv_adv = c.rcv_nxt + u32::from(c.syn_window());
        c.state = State::Listen;
        c.set_state(State::Established, "valid SYN cookie");
        c.mtu_probing_start(now);
        c.stamp_states(now);
        c
    }

    /// Our window shift: the smallest that lets the receive buffer be advertised (RFC 7323 §2.3).
    fn our_wscale(&self) -> u8 {
        self.cfg.window_shift()
    }

    /// Applies the options of the peer's SYN (RFC 9293 §3.7.1, RFC 7323, RFC 2018).
    pub(super) fn negotiate(&mut self, now: Instant, syn: &Segment<'_>) {
        let o = &syn.options;
        // MUST-15: 536 when the peer sends no MSS option.
        self.peer_mss = o.mss.unwrap_or(536).max(64);
        match o.window_scale {
            Some(ws) if self.cfg.window_scaling => {
                self.ws_ok = true;
                // RFC 7323 §2.3: a shift above 14 is used as 14.
                self.snd_wscale = ws.min(14);
                // An active open keeps the shift its SYN announced (RFC 7323 §2.2), whatever
                // SO_RCVBUF was set to since.
                if self.state != State::SynSent {
                    self.rcv_wscale = self.our_wscale();
                }
            }
            _ => {
                self.ws_ok = false;
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.ts_ok = self.cfg.timestamps && o.timestamps.is_some();
        if let Some(ts) = o.timestamps {
            self.set_ts_recent(now, ts.tsval);
        }
        self.sack_ok = self.cfg.sack && o.sack_permitted;
        self.ecn_negotiate(syn);
        // MUST-16: payload = min(peer MSS, ours, the path's) less the options we put on
        // every segment.
        self.smss = self.smss_now();
        self.cc.set_mss(self.smss);
    }

    /// Every state change goes through here and is logged (DESIGN habit 3).
    pub(super) fn set_state(&mut self, next: State, why: &str) {
        if next != self.state {
            log::debug!("{} {} -> {} ({why})", self.remote, self.state, next);
            self.state_times.enter(next);
            if next == State::Established {
                self.events.push_back(Event::Connected);
            }
            if next == State::Closed {
                self.timers = [None; N_TIMERS];
                self.queued_acks = VecDeque::new();
                self.recvq.clear_ooo();
                self.events.push_back(Event::Closed);
            }
            if matches!(next, State::TimeWait | State::Closed) {
                // Nothing more will be sent; what is unread stays. A TIME-WAIT connection
                // then costs its TCB only (thousands linger after short connections).
                self.sendq.release_storage();
                self.recvq.release_storage();
                self.rack.clear();
                self.rate.clear();
                self.timers[Timer::Reorder as usize] = None;
                self.timers[Timer::LossProbe as usize] = None;
            }
            self.state = next;
        }
    }

    /// Enters CLOSED with an error for the application.
    pub(super) fn fail(&mut self, e: Error, why: &str) {
        if self.error.is_none() {
            self.error = Some(e);
            self.events.push_back(Event::Error(e));
        }
        self.set_state(State::Closed, why);
    }

    // ---- application calls (RFC 9293 §3.9.1) ----

    /// SEND: queues bytes; returns how many fit in the send buffer.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.send_with(data, SendFlags::default())
    }

    /// SEND; `push` marks the end of the write for PSH (false: MSG_MORE).
    pub(super) fn send_inner(&mut self, data: &[u8], push: bool) -> Result<usize, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_queued {
            return Err(Error::BrokenPipe);
        }
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {}
            _ => return Err(Error::NotConnected),
        }
        let data = if self.recvq.mode() == MemMode::Exceeded {
            // Above the stack's hard memory limit, only the minimum send buffer (Linux
            // `tcp_wmem[0]`, `sk_wmem_schedule`); the rest waits for memory.
            let room = WMEM_MIN.saturating_sub(self.sendq.len());
            if room == 0 && !data.is_empty() {
                return Err(Error::WouldBlock);
            }
            &data[..data.len().min(room)]
        } else {
            data
        };
        self.note_app_write();
        let n = self.sendq.write(data);
        if n < data.len() {
            self.nospace = true; // tcp_sendmsg's wait_for_space
        }
        if n < data.len() || (n > 0 && self.sendq.free() == 0) {
            // Filled: the buffer, not the application, limits the sender (an application
            // that writes what `send_capacity` offers never sees a short write).
            self.autotune_note_send_full();
        }
        match n {
            0 if !data.is_empty() => Err(Error::WouldBlock),
            n => {
                if push {
                    self.mark_push();
                }
                Ok(n)
            }
        }
    }

    /// The sequence number after the last byte queued.
    pub(super) fn queue_end(&self) -> SeqNum {
        // Data sequence numbers start after the SYN, acknowledged or not.
        let base = if self.snd_una == self.iss {
            self.iss + 1
        } else {
            self.snd_una
        };
        base + self.sendq.len() as u32
    }

    /// PSH after every write, as Linux's `tcp_push` marks the last byte of each `sendmsg`
    /// (RFC 9293 §3.9.1.2 leaves it to the sender; MUST-61 asks only for the last buffered
    /// segment). Within one large write, also every half of the peer's largest window
    /// (Linux `forced_push`), so a receiver is never kept waiting on a long write.
    fn mark_push(&mut self) {
        // Data sequence numbers start after the SYN, acknowledged or not.
        let base = if self.snd_una == self.iss {
            self.iss + 1
        } else {
            self.snd_una
        };
        let end = base + self.sendq.len() as u32;
        while self.push_marks.front().is_some_and(|m| m.le(self.snd_una)) {
            self.push_marks.pop_front();
        }
        if self.pushed_seq.lt(base) {
            self.pushed_seq = base;
        }
        let half = (self.max_snd_wnd / 2) / self.smss.max(1) * self.smss.max(1);
        if half > 0 {
            while end.since(self.pushed_seq) > half {
                let at = self.pushed_seq + half;
                self.push_at(at);
            }
        }
        self.push_at(end);
    }

    fn push_at(&mut self, at: SeqNum) {
        if self.push_marks.len() >= PUSH_MARKS {
            // Bounded: the newest mark moves forward (the PSH comes a little later).
            self.push_marks.pop_back();
        }
        self.push_marks.push_back(at);
        self.pushed_seq = at;
    }

    /// RECEIVE: `Ok(0)` is end of stream (the peer's FIN, MUST-12), a reset is an error.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            return match self.error {
                Some(e) if self.recvq.readable() == 0 => Err(e),
                _ => Ok(0),
            };
        }
        let n = self.recv_with(|data| {
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            n
        })?;
        if n > 0 && n < buf.len() && self.recvq.readable() > 0 {
            // The ring wrapped: the rest follows from its start (one read takes all that
            // fits, as Linux's does).
            let rest = &mut buf[n..];
            let m = self.recv_with(|data| {
                let m = data.len().min(rest.len());
                rest[..m].copy_from_slice(&data[..m]);
                m
            })?;
            return Ok(n + m);
        }
        Ok(n)
    }

    /// RECEIVE without a copy: `f` sees the next in-order bytes in place (one contiguous
    /// run; call again for the rest) and returns how many it consumed. Same results as
    /// [`Connection::recv`]: `Ok(0)` at end of stream, errors after a reset.
    pub fn recv_with(&mut self, f: impl FnOnce(&[u8]) -> usize) -> Result<usize, Error> {
        if self.recvq.readable() > 0 {
            let before = self.window_edge_gain();
            let n = f(self.recvq.readable_slice());
            let n = self.recvq.consume(n);
            // RFC 9293 §3.8.6.2.2: announce the freed space once it is worth it.
            let step = self.window_edge_gain() >= self.sws_threshold();
            if step && (before < self.sws_threshold() || self.cfg.rcv_update_when_doubled) {
                self.ack_now |= !self.cfg.rcv_update_when_doubled || self.window_doubled();
            }
            return Ok(n);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.peer_fin {
            return Ok(0);
        }
        match self.state {
            State::Closed => Err(Error::NotConnected),
            _ => Err(Error::WouldBlock),
        }
    }

    /// Half-close (shutdown(Write)): queue a FIN after the data (RFC 9293 §3.10.4).
    pub fn shutdown_write(&mut self) {
        if self.fin_queued {
            return;
        }
        match self.state {
            State::SynSent => self.set_state(State::Closed, "close in SYN-SENT"),
            State::SynReceived => self.fin_queued = true, // sent once established
            State::Established => {
                self.fin_queued = true;
                self.set_state(State::FinWait1, "close");
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(State::LastAck, "close");
            }
            _ => {}
        }
    }

    /// Full CLOSE: the application will neither read nor write. Unread data turns the FIN
    /// into a RST (SHLD-3, RFC 2525 §2.17), as Linux does.
    pub fn close(&mut self) {
        self.app_closed = true;
        if self.recvq.readable() > 0 && self.state.is_synchronized() {
            self.abort();
            return;
        }
        self.shutdown_write();
        // An orphan in FIN-WAIT-2 gets its timer at the next poll_transmit (which has `now`).
    }

    /// ABORT (RFC 9293 §3.10.5): RST `<SEQ=SND.NXT>` (with ACK, as Linux's
    /// `tcp_send_active_reset`) in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1/2 and CLOSE-WAIT;
    /// nothing in SYN-SENT, TIME-WAIT, or CLOSING/LAST-ACK once our FIN is out (the peer
    /// has all we will send; a later segment of its own gets a RST from the closed port).
    /// Like Linux `tcp_disconnect`, CLOSING/LAST-ACK with data or FIN still unsent do
    /// get a RST. Then CLOSED.
    /// Returns whether a RST was queued.
    pub fn abort(&mut self) -> bool {
        let rst = match self.state {
            State::Closed | State::Listen | State::TimeWait | State::SynSent => false,
            State::Closing | State::LastAck => self.fin_seq.is_none(),
            _ => true,
        };
        if rst {
            self.rst = Some((self.snd_nxt, Some(self.rcv_nxt)));
        }
        self.fail(Error::Aborted, "abort");
        rst
    }

    /// An ICMP error quoting this connection (RFC 9293 §3.9.2.2, RFC 5461). Soft errors are
    /// only recorded (MUST-56); a hard one aborts an opening connection (SHLD-26).
    /// Deviation: like Linux, hard errors do not abort a synchronized connection.
    pub fn handle_icmp_error(&mut self, now: Instant, hard: bool, seq: SeqNum) {
        self.stamp_states(now);
        // Only errors quoting data we have in flight count (RFC 5927 §4.1).
        if !(self.snd_una.le(seq) && seq.lt(self.snd_max.max(self.snd_una + 1))) {
            return;
        }
        self.soft_error(SoftError::Icmp { hard });
        if hard && matches!(self.state, State::SynSent) {
            self.fail(Error::Refused, "ICMP unreachable");
            self.stamp_states(now);
        }
    }

    /// RFC 6191 (SHLD-4) and RFC 1122 §4.2.2.13 (MAY-2): may a new SYN reopen this tuple
    /// from TIME-WAIT? With timestamps: if its TSval is newer; without: if its SEQ is beyond
    /// everything seen.
    pub fn time_wait_accepts(&self, syn: &Segment<'_>) -> bool {
        if self.state != State::TimeWait {
            return false;
        }
        match (self.ts_ok, syn.options.timestamps) {
            (true, Some(ts)) => (ts.tsval.wrapping_sub(self.ts_recent) as i32) > 0,
            (true, None) => false,
            (false, _) => SeqNum(syn.seq).gt(self.rcv_nxt),
        }
    }

    /// Records a soft error and tells the application unless it opted out (SHLD-20).
    pub(super) fn soft_error(&mut self, e: SoftError) {
        self.soft_errors += 1;
        if self.cfg.soft_error_reports {
            self.events.push_back(Event::SoftError(e));
        }
    }

    /// RFC 6191 / `tcp_tw_reuse`: may a new outgoing connection take this TIME-WAIT tuple?
    /// Only when timestamps were used (they reject the old incarnation's duplicates: PAWS)
    /// and at least a second has passed, as Linux.
    pub fn time_wait_reusable(&self, now: Instant) -> bool {
        self.state == State::TimeWait
            && self.ts_ok
            && now.saturating_since(self.last_rx) >= Duration::from_secs(1)
    }

    /// Ends TIME-WAIT early (the stack's `tcp_max_tw_buckets` cap).
    pub fn expire_time_wait(&mut self) {
        if self.state == State::TimeWait {
            self.set_state(State::Closed, "TIME-WAIT bucket limit");
        }
    }

    /// Count of soft errors seen (ICMP errors, R1 reached), reported or not (MUST-47).
    pub fn soft_errors(&self) -> u32 {
        self.soft_errors
    }

    // ---- getters ----

    /// The RFC 9293 state.
    pub fn state(&self) -> State {
        self.state
    }
    /// Our address and port.
    pub fn local(&self) -> SocketAddr {
        self.local
    }
    /// The peer's address and port.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }
    /// Why the connection failed (reset, refused, timed out, aborted), if it did.
    pub fn error(&self) -> Option<Error> {
        self.error
    }
    /// Bytes received and not yet read (`ss` Recv-Q).
    pub fn recv_queue(&self) -> usize {
        self.recvq.readable()
    }
    /// Bytes queued and not yet acknowledged (`ss` Send-Q).
    pub fn send_queue(&self) -> usize {
        self.sendq.len()
    }
    /// Room left in the send buffer.
    pub fn send_capacity(&self) -> usize {
        self.sendq.free()
    }
    /// Whether it was opened by a listener (passive OPEN).
    pub fn is_passive(&self) -> bool {
        self.passive
    }
    /// True once the peer's FIN was consumed and all data read.
    pub fn at_eof(&self) -> bool {
        self.peer_fin && self.recvq.readable() == 0
    }
    /// Whether the application may still queue data (not shut down for writing).
    pub fn may_send(&self) -> bool {
        self.error.is_none()
            && !self.fin_queued
            && matches!(
                self.state,
                State::SynSent | State::SynReceived | State::Established | State::CloseWait
            )
    }
    /// The largest segment this connection sends now: SMSS bounded by half the peer's
    /// largest window (see `send_mss`); the size a device splits super-segments at.
    /// A PLPMTUD probe about to leave counts as one segment of its size (never split).
    pub fn effective_mss(&self) -> u32 {
        match self.mtu_probe_due(usize::MAX) {
            ProbeDue::Probe(len) => len as u32,
            _ => self.send_mss(),
        }
    }
    /// Switches the congestion controller (like `TCP_CONGESTION`); the new one starts from
    /// the current cwnd's worth of knowledge: a fresh slow start capped by the old ssthresh.
    pub fn set_congestion(&mut self, now: Instant, alg: congestion::Algorithm) {
        self.cfg.congestion = alg;
        let opts = congestion::Options {
            hystart: self.cfg.hystart,
            linux_hystart: self.cfg.linux_hystart,
            abc_limit: (self.cfg.abc_limit != 2).then_some(self.cfg.abc_limit),
        };
        self.cc = congestion::new_controller_with(alg, self.smss, self.cfg.initial_cwnd, now, opts);
        self.cc.set_mss(self.smss);
        self.update_pacing_rate();
    }

    /// Bytes of buffer memory allocated (send + receive); zero until data flows.
    pub fn buffer_bytes(&self) -> usize {
        self.sendq.allocated() + self.recvq.allocated()
    }

    /// The congestion controller's name, as `ss -i` prints it.
    pub fn congestion_name(&self) -> &'static str {
        self.cc.name()
    }
    /// The congestion window in bytes.
    pub fn cwnd(&self) -> u32 {
        self.cc.cwnd()
    }
    /// The slow-start threshold in bytes, from the congestion controller.
    pub fn ssthresh(&self) -> u32 {
        self.cc.ssthresh()
    }
    /// The retransmission timeout now (RFC 6298, backoff included).
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }
    /// The smoothed RTT (RFC 6298), once sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }
    /// The RTT variation (RFC 6298).
    pub fn rttvar(&self) -> Duration {
        self.rtt.rttvar()
    }
    /// The connection's counters.
    pub fn stats(&self) -> ConnStats {
        let p = self.recvq.prune_stats();
        ConnStats {
            prune_called: p.prune_called,
            ofo_pruned: p.ofo_pruned,
            ofo_drop: p.ofo_drop,
            rcvq_drop: p.rcvq_drop,
            ..self.stats
        }
    }
    /// Bytes this connection's buffers are charged for the stack's `tcp_mem` accounting:
    /// the send queue plus the receive buffer's charge (its bytes and a per-range cost for
    /// out-of-order data, like Linux's truesize).
    pub fn buffered_bytes(&self) -> usize {
        self.sendq.len() + self.recvq.charge()
    }
    /// Out-of-order ranges held in the receive buffer.
    pub fn ooo_ranges(&self) -> usize {
        self.recvq.ooo_count()
    }
    /// The most the receive buffer may be charged (twice its capacity, Linux `sk_rcvbuf`).
    pub fn recv_charge_limit(&self) -> usize {
        self.recvq.limit()
    }
    /// Out-of-order range-map operations done so far: the work the out-of-order path did
    /// (lookups, inserts, removals, entries visited), for tests that bound it.
    pub fn ooo_ops(&self) -> u64 {
        self.recvq.ops()
    }
    /// Applies the stack's memory state (see [`MemMode`]); the stack sets it before it
    /// hands the connection input, a timer or an application call.
    pub fn set_memory_mode(&mut self, mode: MemMode) {
        self.recvq.set_mode(mode);
    }
    /// Our initial send sequence number.
    pub fn iss(&self) -> SeqNum {
        self.iss
    }
    /// SND.UNA: the oldest unacknowledged sequence number.
    pub fn snd_una(&self) -> SeqNum {
        self.snd_una
    }
    /// SND.NXT: the next sequence number to send.
    pub fn snd_nxt(&self) -> SeqNum {
        self.snd_nxt
    }
    /// The highest sequence number sent (SND.NXT rewinds on a timeout; this does not).
    pub fn snd_max(&self) -> SeqNum {
        self.snd_max
    }
    /// Bytes above SND.UNA the peer has SACKed (RFC 2018).
    pub fn sacked_bytes(&self) -> u32 {
        self.sb.sacked_bytes()
    }
    /// The peer's send window (SND.WND), in bytes.
    pub fn snd_wnd(&self) -> u32 {
        self.snd_wnd
    }
    /// RCV.NXT: the next sequence number expected from the peer.
    pub fn rcv_nxt(&self) -> SeqNum {
        self.rcv_nxt
    }
    /// The urgent pointer (RCV.UP) and how many urgent bytes are still unread (MUST-33).
    pub fn urgent_unread(&self) -> u32 {
        match self.rcv_up {
            Some(up) => {
                let read_up_to = self.rcv_nxt - self.recvq.readable() as u32;
                if up.gt(read_up_to) {
                    up.since(read_up_to)
                } else {
                    0
                }
            }
            None => 0,
        }
    }
    /// TCP_NODELAY; turning it on (again) also pushes what is queued, corked or not, as
    /// Linux does.
    pub fn set_nodelay(&mut self, on: bool) {
        if on {
            self.push_now();
        }
        self.cfg.nodelay = on;
    }
    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> bool {
        self.cfg.nodelay
    }
    /// TCP_MAXSEG before the handshake: the MSS our SYN offers and the most we send per
    /// segment are at most `mss` (Linux `user_mss`). Lowers only; once our SYN has left
    /// it changes nothing (the MSS was offered), as Linux.
    pub fn set_maxseg(&mut self, mss: u16) {
        if self.snd_max == self.iss && !self.state.is_synchronized() {
            self.cfg.mss = self.cfg.mss.min(mss.max(64));
        }
    }
    /// R2 as a time (MUST-21, like `TCP_USER_TIMEOUT`): `None` uses `retries2`,
    /// `Some(Duration::MAX)` never gives up.
    pub fn set_user_timeout(&mut self, t: Option<Duration>) {
        self.cfg.user_timeout = t;
    }
    /// Turns soft error reports on or off (SHLD-20).
    pub fn set_soft_error_reports(&mut self, on: bool) {
        self.cfg.soft_error_reports = on;
    }
    /// Send buffer size (like `SO_SNDBUF`, which ends its auto-tuning); never drops
    /// queued bytes.
    pub fn set_send_buffer(&mut self, n: usize) {
        self.cfg.send_buffer = n.max(1);
        self.sendq.set_capacity(n);
    }
    /// Receive buffer size (like `SO_RCVBUF`). The window scale is fixed by the handshake,
    /// so set it before connecting to advertise more than 64 KiB (an active open keeps the
    /// scale its SYN announced); whatever the new size, the advertised right edge moves left
    /// by less than one unit at most (SHLD-14; `advertise`'s Deviation). Ends auto-tuning,
    /// as `SO_RCVBUF` locks Linux's.
    pub fn set_recv_buffer(&mut self, n: usize) {
        self.cfg.recv_buffer = n.max(1);
        self.recvq.set_capacity(n);
    }
    /// The IP TTL of the packets we send.
    pub fn set_ttl(&mut self, ttl: u8) {
        self.cfg.ttl = ttl;
    }
    /// The IP TOS byte of the packets we send.
    pub fn set_tos(&mut self, tos: u8) {
        self.cfg.tos = tos;
    }

    /// The next event for the application, in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- timers ----

    /// The earliest deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    pub(super) fn arm(&mut self, t: Timer, at: Instant) {
        self.timers[t as usize] = Some(at);
    }
    pub(super) fn disarm(&mut self, t: Timer) {
        self.timers[t as usize] = None;
    }
    pub(super) fn armed(&self, t: Timer) -> bool {
        self.timers[t as usize].is_some()
    }

    /// Fires every expired timer; late or spurious calls do nothing. A timer that fires
    /// never stays due: one re-armed at or before `now` moves 1 ms on, so no deadline that
    /// does not move can make the caller loop.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.stamp_states(now);
        for t in TIMERS {
            match self.timers[t as usize] {
                Some(at) if at <= now => {
                    self.timers[t as usize] = None;
                    self.on_timer(now, t);
                    if self.timers[t as usize].is_some_and(|a| a <= now) {
                        self.timers[t as usize] = Some(now + Duration::from_millis(1));
                    }
                }
                _ => {}
            }
        }
        self.stamp_states(now);
    }

    /// The names of the timers due at `now` (what `handle_timeout(now)` will fire, in
    /// its order): `rto`, `delack`, `persist`, `time-wait`, `fin-wait-2`, `keepalive`,
    /// `reorder` (RACK, RFC 8985 §6.3), `tlp` (RFC 8985 §7.2), `pace` (a paced release,
    /// `pacing.rs`). For traces.
    pub fn due_timers(&self, now: Instant) -> impl Iterator<Item = &'static str> + '_ {
        TIMERS
            .into_iter()
            .filter(move |&t| self.timers[t as usize].is_some_and(|at| at <= now))
            .map(timer_name)
    }

    /// The running timers and their deadlines, in firing order, named as in
    /// [`Connection::due_timers`]. For `--step`.
    pub fn armed_timers(&self) -> impl Iterator<Item = (&'static str, Instant)> + '_ {
        TIMERS
            .into_iter()
            .filter_map(move |t| self.timers[t as usize].map(|at| (timer_name(t), at)))
    }

    /// Stamps state changes made since the last timed call with `now`; when CLOSED was
    /// among them, logs the time spent in each state (`-v`, like bcc's `tcpstates`).
    #[inline]
    pub(super) fn stamp_states(&mut self, now: Instant) {
        if self.state_times.unstamped() {
            self.stamp_states_now(now);
        }
    }

    fn stamp_states_now(&mut self, now: Instant) {
        if self.state_times.stamp(now) {
            log::debug!(
                "{} state times: {}",
                self.remote,
                self.state_times.summary(now)
            );
        }
    }

    /// The states entered so far and when (see [`StateTimes`]).
    pub fn state_times(&self) -> &StateTimes {
        &self.state_times
    }

    fn on_timer(&mut self, now: Instant, t: Timer) {
        match t {
            Timer::Retransmit => self.on_rto(now),
            Timer::DelayedAck => {
                // Disarmed whenever an ACK leaves, so one is still owed (Linux counts here).
                self.stats.delayed_acks += 1;
                self.ack_now = true;
                // No answer rode on it: not interactive after all (Linux's delayed-ACK
                // timer leaves pingpong mode).
                self.pingpong = false;
            }
            Timer::Persist => self.on_persist(now),
            Timer::TimeWait => self.set_state(State::Closed, "2MSL timeout"),
            Timer::FinWait2 => self.set_state(State::Closed, "FIN-WAIT-2 timeout"),
            Timer::Keepalive => self.on_keepalive(now),
            Timer::Reorder => self.on_reorder_timeout(now),
            Timer::LossProbe => self.on_pto(now),
            Timer::Pace => {}
            Timer::CompSack => {
                // The held ACK goes; it is one of those counted (Linux's
                // tcp_compressed_ack_kick).
                self.compressed_acks = self.compressed_acks.saturating_sub(1);
                self.ack_now = true;
            }
        }
    }

    /// RFC 9293 §3.8.6.1: probe a zero window (or send what fits: the SWS override,
    /// MUST-60). MUST-37 keeps the connection open while the peer answers; but probing is
    /// not forever (a peer that never opens its window pins our buffers: sockstress), so, as
    /// Linux's `tcp_probe_timer`: the user timeout counts from the first probe; `retries2`
    /// unanswered probes abort; an orphan gives up after `orphan_retries` unanswered probes,
    /// or as soon as the probe interval reaches the maximum RTO, answered or not.
    fn on_persist(&mut self, now: Instant) {
        let first = *self.probes_since.get_or_insert(now);
        if let Some(limit) = self.cfg.user_timeout {
            if now.saturating_since(first) >= limit {
                self.fail(Error::TimedOut, "zero-window probing: user timeout");
                return;
            }
        }
        let mut max = self.cfg.retries2;
        if self.app_closed {
            let alive = self.persist_interval() < self.cfg.max_rto;
            max = if alive { self.cfg.orphan_retries } else { 0 };
        }
        if self.probes_out >= max {
            self.fail(Error::TimedOut, "zero-window probes unanswered");
            return;
        }
        self.probes_out += 1;
        self.force_send = true;
        self.persist_backoff = (self.persist_backoff + 1).min(16);
    }

    /// The persist timer's current interval: one RTO, doubled per probe, at most `max_rto`
    /// (SHLD-29/30).
    pub(super) fn persist_interval(&self) -> Duration {
        let base = self.rtt.rto();
        let mut d = base;
        for _ in 0..self.persist_backoff {
            d = d * 2;
        }
        d.min(self.cfg.max_rto).max(base.min(self.cfg.max_rto))
    }

    /// RFC 9293 §3.8.4 keep-alive: probe only an idle connection with nothing outstanding
    /// (MUST-26); one unanswered probe is not death (MUST-29), `keepalive_probes` are.
    fn on_keepalive(&mut self, now: Instant) {
        if !self.cfg.keepalive || !self.state.is_synchronized() || self.state == State::TimeWait {
            return;
        }
        let idle_since = self.last_rx;
        if now.saturating_since(idle_since) < self.cfg.keepalive_time {
            self.arm(Timer::Keepalive, idle_since + self.cfg.keepalive_time);
            return;
        }
        if self.snd_una != self.snd_max || !self.sendq.is_empty() {
            // Data outstanding: retransmission does the checking.
            self.arm(Timer::Keepalive, now + self.cfg.keepalive_time);
            return;
        }
        if self.keepalive_sent >= self.cfg.keepalive_probes {
            self.fail(Error::TimedOut, "keep-alive: peer gone");
            return;
        }
        self.keepalive_sent += 1;
        self.stats.keepalive_probes += 1;
        self.keepalive_due = true;
        self.arm(Timer::Keepalive, now + self.cfg.keepalive_intvl);
    }

    /// Turns keep-alive on or off for this connection (MUST-24, `SO_KEEPALIVE`).
    pub fn set_keepalive(&mut self, on: bool) {
        self.cfg.keepalive = on;
        if !on {
            self.disarm(Timer::Keepalive);
        }
    }

    /// Idle time before the first probe and the interval between probes (MUST-27), each
    /// at least 1 s (Linux refuses less for TCP_KEEPIDLE and TCP_KEEPINTVL; zero would make
    /// a probe due at every instant).
    pub fn set_keepalive_times(&mut self, idle: Duration, interval: Duration, probes: u32) {
        let floor = Duration::from_secs(1);
        self.cfg.keepalive_time = idle.max(floor);
        self.cfg.keepalive_intvl = interval.max(floor);
        self.cfg.keepalive_probes = probes;
        self.disarm(Timer::Keepalive);
    }

    /// SEND with the urgent mark (RFC 9293 §3.8.5): the urgent pointer will name the octet
    /// after the last byte of `data` (MUST-62). New applications should not use it (SHLD-13).
    pub fn send_urgent(&mut self, data: &[u8]) -> Result<usize, Error> {
        let n = self.send(data)?;
        self.snd_up = Some(self.snd_una + self.sendq.len() as u32);
        Ok(n)
    }

    /// What a loss reduction starts from: FlightSize (RFC 5681 eq. 4, RFC 9438 §4.6), or
    /// cwnd with [`Config::loss_ssthresh_from_cwnd`] (Linux's `ssthresh` callbacks).
    pub(super) fn loss_basis(&self, flight: u32) -> u32 {
        if self.cfg.loss_ssthresh_from_cwnd {
            self.cc.cwnd()
        } else {
            flight
        }
    }

    /// When the retransmission timer started now should fire: one RTO away, but never past
    /// the moment the connection gives up, so it gives up on time (MUST-23's SYN timeout for
    /// an active open; R2's user timeout, clamped like Linux's
    /// `tcp_clamp_rto_to_user_timeout`). Without the clamp a backed-off RTO of 64 s
    /// noticed a 180 s SYN timeout only at 247 s.
    pub(super) fn rto_deadline(&self, now: Instant) -> Instant {
        let at = now + self.rtt.rto();
        let give_up = match self.state {
            State::SynSent | State::SynReceived if !self.passive => {
                self.first_syn_at.map(|first| first + self.cfg.syn_timeout)
            }
            _ => self
                .first_rto_at
                .zip(self.cfg.user_timeout)
                .map(|(first, limit)| first + limit),
        };
        match give_up {
            Some(g) if g < at => g.max(now),
            _ => at,
        }
    }

    /// RFC 6298 §5.4-5.6: retransmit from SND.UNA, back off, collapse cwnd (RFC 5681 §3.1).
    fn on_rto(&mut self, now: Instant) {
        if self.snd_una == self.snd_max
            && self.state != State::SynSent
            && self.state != State::SynReceived
        {
            return;
        }
        // Linux counts TCPTimeouts unless the RTO only met a closed window (tcp_retransmit_timer).
        if matches!(self.state, State::SynSent | State::SynReceived) || self.snd_wnd != 0 {
            self.stats.timeouts += 1;
        }
        self.last_rto_at = Some(now);
        match self.state {
            State::SynReceived if self.passive => {
                // Like `tcp_synack_retries`: a half-open connection is not kept forever.
                self.retries += 1;
                if self.retries > self.cfg.synack_retries {
                    self.set_state(State::Closed, "SYN-ACK retries exhausted");
                    return;
                }
            }
            State::SynSent | State::SynReceived => {
                let first = self.first_syn_at.unwrap_or(now);
                // MUST-23: keep trying a SYN for at least syn_timeout (3 minutes).
                if now.saturating_since(first) >= self.cfg.syn_timeout {
                    self.fail(Error::TimedOut, "SYN timeout");
                    return;
                }
            }
            _ if self.snd_wnd == 0 => {
                // Everything in flight lies beyond a window the peer closed: that is for
                // the persist timer, and never counts toward R2 (SHLD-17, MUST-37).
                self.snd_nxt = self.snd_una;
                self.rtt_probe = None;
                self.rack_on_rto();
                return;
            }
            _ => {
                self.retries += 1;
                let first = *self.first_rto_at.get_or_insert(now);
                // R2 (MUST-20/21): the user timeout if the application set one (Duration::MAX
                // means never), else `retries2` retransmissions.
                let give_up = match self.cfg.user_timeout {
                    Some(limit) => now.saturating_since(first) >= limit,
                    None => self.retries > self.cfg.retries2,
                };
                if give_up {
                    self.fail(Error::TimedOut, "retransmission timeout (R2)");
                    return;
                }
                // R1 (SHLD-9/10): report at the third retransmission, keep going.
                if self.retries == self.cfg.retries1 {
                    self.soft_error(SoftError::Retransmissions(self.retries));
                }
                self.mtu_probing_on_rto(); // RFC 4821 §7.5 / black hole detection
            }
        }
        if self.sb.head_sacked() {
            // RFC 2018 §8: reneging was suspected and the head is still SACKed: forget every
            // SACK, so all is resent (Linux `tcp_timeout_mark_lost`, `TCPSACKReneging`).
            self.sb.clear();
            self.rack.forget_sacks();
            self.stats.sack_reneging += 1;
        }
        // Undo and F-RTO (RFC 5682 step 1) see the state before the timeout (`undo.rs`).
        if self.state.is_synchronized() {
            self.undo_on_rto();
        }
        // RFC 6675 §5.1: the scoreboard survives the timeout, so SACKed data is not resent.
        let flight = self.snd_max.since(self.snd_una);
        self.cc.on_rto(now, self.loss_basis(flight));
        self.rack_on_rto();
        self.recovery = None;
        self.ecn.reduction = None; // Loss takes over from CWR
        if self.state.is_synchronized() {
            self.ecn_queue_cwr(); // RFC 3168 §6.1.2: CWR after any reduction
        }
        self.retransmit_one = false;
        self.dupacks = 0;
        self.rtt.backoff();
        self.rtt_probe = None;
        self.snd_nxt = self.snd_una;
    }

    /// RFC 5961 §7: at most `challenge_ack_limit` challenge ACKs per second.
    pub(super) fn challenge_ack(&mut self, now: Instant) {
        let (start, n) = self.challenge_window;
        if now.saturating_since(start) >= Duration::from_secs(1) {
            self.challenge_window = (now, 1);
        } else if n < self.cfg.challenge_ack_limit {
            self.challenge_window.1 += 1;
        } else {
            return;
        }
        self.stats.challenge_acks += 1;
        self.ack_now = true;
    }

    /// Receiver SWS threshold (RFC 9293 §3.8.6.2.2): min(RCV.BUFF/2, Eff.snd.MSS).
    pub(super) fn sws_threshold(&self) -> u32 {
        ((self.recvq.capacity() / 2) as u32)
            .min(u32::from(self.cfg.mss))
            .max(1)
    }

    /// The right edge the receive buffer could offer now: its room less the reserve that
    /// pays for rounding to the window scale (see `advertise`).
    pub(super) fn offer_edge(&self) -> SeqNum {
        let reserve = rounding_reserve(self.recvq.capacity(), self.rcv_wscale);
        self.rcv_nxt + (self.recvq.window() as u32).saturating_sub(reserve)
    }

    /// The window our SYN or SYN-ACK offers (see [`syn_window`]).
    pub(super) fn syn_window(&self) -> u16 {
        syn_window(self.recvq.window(), self.recvq.capacity(), self.rcv_wscale)
    }

    /// Linux's test for a window update after a read (`tcp_cleanup_rbuf`): the window
    /// offered now is at most half the most we can offer, and the new one at least twice it.
    fn window_doubled(&self) -> bool {
        let open = |edge: SeqNum| {
            if edge.gt(self.rcv_nxt) {
                edge.since(self.rcv_nxt)
            } else {
                0
            }
        };
        let now = open(self.rcv_adv);
        // The window field's limit bounds both (unscaled: 65535).
        let field_max = 65535u32 << self.rcv_wscale;
        let most = (self.recvq.capacity() as u32)
            .saturating_sub(rounding_reserve(self.recvq.capacity(), self.rcv_wscale))
            .min(field_max);
        let new = open(self.offer_edge()).min(field_max);
        2 * u64::from(now) <= u64::from(most) && new > 0 && u64::from(new) >= 2 * u64::from(now)
    }

    /// How far the right edge could move now beyond what was last advertised.
    fn window_edge_gain(&self) -> u32 {
        let edge = self.offer_edge();
        if edge.gt(self.rcv_adv) {
            edge.since(self.rcv_adv)
        } else {
            0
        }
    }

    /// Records the peer's TSval as TS.Recent (RFC 7323 §4.3) and when (§5.5).
    pub(super) fn set_ts_recent(&mut self, now: Instant, tsval: u32) {
        self.ts_recent = tsval;
        self.ts_recent_at = now;
    }

    /// RFC 7323 §5.5: TS.Recent set more than 24 days ago is invalid (the peer's clock may
    /// have wrapped its sign bit since), so PAWS must not reject by it (Linux
    /// `TCP_PAWS_24DAYS`).
    pub(super) fn ts_recent_expired(&self, now: Instant) -> bool {
        now.saturating_since(self.ts_recent_at) > PAWS_IDLE
    }

    /// Our TSval clock: milliseconds plus the caller's offset (RFC 7323 §5.4).
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        (now.millis() as u32).wrapping_add(self.ts_offset)
    }
}
