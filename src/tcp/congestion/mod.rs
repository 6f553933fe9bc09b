//! Congestion control: how many bytes may be in flight (RFC 5681, RFC 9438).
//!
//! A [`Controller`] is a value-only state machine fed with plain numbers: bytes acked,
//! bytes in flight, RTT estimates and the current [`Instant`]. It owns `cwnd` and
//! `ssthresh` and nothing else. Two algorithms, one file each: [`NewReno`] (RFC 5681 with
//! RFC 3465 byte counting; the NewReno part of RFC 6582 is the sender's) and [`Cubic`]
//! (RFC 9438), and [`Bbr`] (BBR v1, model-based: it sets cwnd and a pacing rate from
//! delivery-rate samples, [`Controller::on_rate_sample`]). NewReno and CUBIC can use HyStart++ (RFC 9406, [`HyStart`]) to leave the initial slow
//! start on rising RTT instead of on loss; it is off unless [`Options::hystart`] is set.
//!
//! What this module does not do:
//! - no loss detection: dupack counting, SACK scoreboards, RACK, the `recover` point and
//!   partial/full ACK handling (RFC 6582) live in the connection, which calls
//!   [`Controller::on_congestion_event`] once per loss episode and
//!   [`Controller::on_recovery_end`] when it ends;
//! - no choice of what to (re)send, no pipe/FlightSize accounting (RFC 6675): the sender
//!   compares its pipe with [`Controller::cwnd`];
//! - no fast-recovery window inflation (RFC 5681 §3.2 steps 4-5): `cwnd` stays at
//!   `ssthresh` during recovery, and how much the sender sends meanwhile is PRR's (RFC 9937,
//!   the connection's `recovery.rs`);
//! - no timers, no pacing itself (a controller may name a rate,
//!   [`Controller::pacing_rate`]; the connection's `pacing.rs` paces), no
//!   idle detection (RFC 5681 §4.1: the sender calls [`Controller::on_idle_restart`]
//!   when it restarts after idle), no ECN.
//!
//! # Calling contract
//!
//! | event in the connection                          | call                          |
//! | ------------------------------------------------ | ----------------------------- |
//! | ACK advancing SND.UNA (bytes newly delivered)    | `on_ack(now, bytes, ..)`      |
//! | 3rd dupack / RFC 6675 loss, not in recovery      | `on_congestion_event`         |
//! | cumulative ACK reaches `recover`                 | `on_recovery_end`             |
//! | retransmission timer fires                       | `on_rto`                      |
//! | effective SMSS known (after the handshake)       | `set_mss`                     |
//! | every acceptable ACK (recovery too), after those | `on_rate_sample(now, rs, ..)` |
//!
//! `on_ack` is ignored while a recovery episode is open (between `on_congestion_event` and
//! `on_recovery_end`), so the connection may call it on every ACK. A second
//! `on_congestion_event` inside the same episode is ignored too (RFC 6582 §3.2: one
//! reduction per window of data). `on_rto` closes any open episode.

mod bbr;
mod cubic;
mod hystart;
mod hystart_linux;
mod new_reno;

pub use bbr::{Bbr, Mode as BbrMode};
pub use cubic::Cubic;
pub use hystart::{HyStart, Phase as HyStartPhase};
pub use new_reno::NewReno;

pub use super::rate::RateSample;
use crate::time::{Duration, Instant};
use core::fmt;
use core::str::FromStr;

/// Value-only: no timers, no packets. The sender decides what to resend (loss recovery
/// lives in the connection); this decides how much may be in flight.
pub trait Controller: Send + fmt::Debug {
    /// `bytes` newly acknowledged (cumulatively or by SACK) outside recovery. `rtt` is the
    /// latest smoothed RTT (None before the first sample), `min_rtt` the minimum seen.
    /// `cwnd_limited`: the sender had at least cwnd in flight (RFC 7661: do not grow
    /// cwnd when application-limited).
    ///
    /// Calls during an open recovery episode are ignored.
    fn on_ack(
        &mut self,
        now: Instant,
        bytes: u32,
        rtt: Option<Duration>,
        min_rtt: Option<Duration>,
        cwnd_limited: bool,
    );
    /// Loss detected by dupacks/SACK (entering fast recovery), with the bytes in flight
    /// (FlightSize, SACKed bytes included: RFC 9438 §4.6 and RFC 5681 eq. 4; the connection
    /// passes the flight after its last send if more, see `enter_recovery`; Linux's CUBIC
    /// takes cwnd, which measured slower in `scripts/bench-loss.sh`). Sets `ssthresh` and
    /// `cwnd = ssthresh` at once (no inflation; the sender paces recovery with PRR and
    /// RFC 6675's pipe). Ignored if an episode is already open.
    fn on_congestion_event(&mut self, now: Instant, in_flight: u32);
    /// Each ACK that acknowledges new data, before [`Controller::on_ack`], with the RTT of
    /// the newest segment it acknowledged (Linux's `pkts_acked` hook). `paced`: the
    /// connection paces; `ack_delay`: Linux's `hystart_ack_delay`.
    #[allow(clippy::too_many_arguments)]
    fn on_rtt_sample(
        &mut self,
        _now: Instant,
        _snd_una: crate::tcp::seq::SeqNum,
        _snd_nxt: crate::tcp::seq::SeqNum,
        _rtt: Duration,
        _paced: bool,
        _ack_delay: Duration,
    ) {
    }
    /// Recovery finished (the ACK covering the recovery point arrived). `on_ack` counts again
    /// from the next call.
    fn on_recovery_end(&mut self, now: Instant);
    /// Retransmission timeout: `ssthresh` from FlightSize, `cwnd` = loss window = 1 SMSS
    /// (RFC 5681 §3.1). Closes any open recovery episode.
    fn on_rto(&mut self, now: Instant, in_flight: u32);
    /// RTO recovery finished: SND.UNA passed SND.MAX of the last timeout (Linux leaving
    /// `TCP_CA_Loss`). Only BBR acts on it; loss-based controllers slow-start on.
    fn on_rto_recovery_end(&mut self, _now: Instant) {}
    /// The last reduction (congestion event or RTO) was spurious (D-SACK, Eifel, F-RTO):
    /// restore `cwnd`/`ssthresh` (and CUBIC's `W_max`) from before it (RFC 9438 §4.9).
    /// At most once per reduction; a no-op otherwise.
    fn undo(&mut self) {}
    /// RFC 5681 §4.1 restart after idle: the sender has sent nothing for longer than an RTO.
    /// `cwnd` becomes min(IW, cwnd). The default does nothing.
    fn on_idle_restart(&mut self, _now: Instant) {}
    /// Congestion window in bytes; always at least one SMSS.
    fn cwnd(&self) -> u32;
    /// Slow-start threshold in bytes (`u32::MAX` until the first reduction).
    fn ssthresh(&self) -> u32;
    /// Effective SMSS after the handshake (0 is taken as 1). If nothing has been acked or
    /// lost yet, `cwnd` is recomputed as the initial window for the new SMSS; otherwise
    /// `cwnd` keeps its byte value (raised to at least one SMSS).
    fn set_mss(&mut self, mss: u32);
    /// Whether cwnd is below ssthresh.
    fn in_slow_start(&self) -> bool {
        self.cwnd() < self.ssthresh()
    }
    /// The algorithm's name as `ss` prints it (`reno`, `cubic`).
    fn name(&self) -> &'static str;
    /// A delivery-rate sample (`rate.rs`) from the ACK just processed, on every acceptable
    /// ACK, in recovery too; `in_flight` is the bytes in flight after it. Default: ignored.
    fn on_rate_sample(&mut self, _now: Instant, _rs: &RateSample, _in_flight: u32) {}
    /// The pacing rate this controller wants, in bytes per second; `None` (the default,
    /// and BBR before its first bandwidth sample) lets the connection pace from cwnd/SRTT
    /// as Linux does, when pacing is on.
    fn pacing_rate(&self) -> Option<u64> {
        None
    }
    /// The controller needs pacing (BBR): with `Pacing::Auto` only these pace. Default:
    /// false.
    fn wants_pacing(&self) -> bool {
        false
    }
    /// The controller sets cwnd during fast recovery itself (BBR's packet conservation);
    /// otherwise the sender follows PRR's window there. Default: false.
    fn owns_recovery_cwnd(&self) -> bool {
        false
    }
    /// BBR's model and state (`ss -i` bbr:(...), Linux `tcp_bbr_info`); `None` for others.
    fn bbr_info(&self) -> Option<BbrInfo> {
        None
    }
}

/// BBR's state as `ss -i` shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BbrInfo {
    /// The state (STARTUP, DRAIN, PROBE_BW, PROBE_RTT).
    pub mode: BbrMode,
    /// BtlBw, bytes per second.
    pub bw: u64,
    /// RTprop.
    pub min_rtt: Option<Duration>,
    /// The current pacing gain (1.0: pace at BtlBw).
    pub pacing_gain: f64,
    /// The current cwnd gain (multiple of the BDP).
    pub cwnd_gain: f64,
}

/// Which [`Controller`] to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// NewReno (RFC 5681, RFC 6582).
    NewReno,
    /// CUBIC (RFC 9438), Linux's default.
    #[default]
    Cubic,
    /// BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00); paces by default.
    Bbr,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::NewReno => "newreno",
            Algorithm::Cubic => "cubic",
            Algorithm::Bbr => "bbr",
        })
    }
}

/// The name given to [`Algorithm::from_str`] is not one we know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownAlgorithm(pub String);

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown congestion control {:?} (expected newreno, reno, cubic or bbr)",
            self.0
        )
    }
}

impl std::error::Error for UnknownAlgorithm {}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;
    /// `newreno`, `reno`, `cubic` or `bbr`, any case.
    fn from_str(s: &str) -> Result<Algorithm, UnknownAlgorithm> {
        match s.to_ascii_lowercase().as_str() {
            "newreno" | "reno" => Ok(Algorithm::NewReno),
            "cubic" => Ok(Algorithm::Cubic),
            "bbr" => Ok(Algorithm::Bbr),
            _ => Err(UnknownAlgorithm(s.to_string())),
        }
    }
}

/// Knobs shared by the algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Options {
    /// Leave the initial slow start with HyStart++ (RFC 9406) when the RTT rises, instead of
    /// only on the first loss. Off by default.
    pub hystart: bool,
    /// CUBIC leaves the initial slow start with Linux's HyStart (`hystart_linux.rs`: the
    /// delay and ACK-train rules of `tcp_cubic.c`); the packetdrill profile.
    pub linux_hystart: bool,
    /// RFC 3465's L in SMSS: slow start grows cwnd by at most this much per ACK. `None`:
    /// the RFC's 2 (1 in the slow start after an RTO, §2.3); `Some(0)`: no limit, as
    /// Linux (`tcp_slow_start` adds every segment an ACK covers).
    pub abc_limit: Option<u32>,
}

/// Build a controller with default [`Options`]. `initial_window_segments` is the IW in
/// segments (the stack passes 10, RFC 6928); see [`initial_window`].
pub fn new_controller(
    alg: Algorithm,
    mss: u32,
    initial_window_segments: u32,
    now: Instant,
) -> Box<dyn Controller> {
    new_controller_with(alg, mss, initial_window_segments, now, Options::default())
}

/// Build a controller with explicit [`Options`].
pub fn new_controller_with(
    alg: Algorithm,
    mss: u32,
    initial_window_segments: u32,
    now: Instant,
    opts: Options,
) -> Box<dyn Controller> {
    match alg {
        Algorithm::NewReno => Box::new(NewReno::new(mss, initial_window_segments, now, opts)),
        Algorithm::Cubic => Box::new(Cubic::new(mss, initial_window_segments, now, opts)),
        Algorithm::Bbr => Box::new(Bbr::new(mss, initial_window_segments, now, opts)),
    }
}

/// Initial window in bytes for `segments` segments of `mss` bytes.
///
/// - `segments == 0`: the RFC 5681 §3.1 table (4, 3 or 2 segments for SMSS <= 1095,
///   <= 2190, larger);
/// - otherwise `min(segments*SMSS, max(2*SMSS, segments*1460))`: for 10 segments this is
///   RFC 6928 §2's `min(10*MSS, max(2*MSS, 14600))`, which only bites above SMSS 1460.
///
/// Saturates instead of overflowing; never below one SMSS.
pub fn initial_window(segments: u32, mss: u32) -> u32 {
    let mss = mss.max(1);
    if segments == 0 {
        let n = match mss {
            0..=1095 => 4,
            1096..=2190 => 3,
            _ => 2,
        };
        return mss.saturating_mul(n);
    }
    let cap = mss.saturating_mul(2).max(segments.saturating_mul(1460));
    mss.saturating_mul(segments).min(cap).max(mss)
}

/// RFC 3465 §2.2: slow start grows by at most L bytes per ACK; L = 2*SMSS, but 1*SMSS in
/// the slow start that follows an RTO (§2.3, to avoid bursts after a timeout). `limit`
/// is [`Options::abc_limit`]: another L in SMSS (at most 1 after an RTO), 0 for none.
pub(crate) fn abc_limit(mss: u32, after_rto: bool, limit: Option<u32>) -> u32 {
    match limit {
        Some(0) => u32::MAX,
        Some(l) if after_rto => mss.saturating_mul(l.min(1)),
        Some(l) => mss.saturating_mul(l),
        None if after_rto => mss,
        None => mss.saturating_mul(2),
    }
}

#[cfg(test)]
pub(crate) mod sim;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_parses_names_and_prints_them_back() {
        assert_eq!("newreno".parse::<Algorithm>(), Ok(Algorithm::NewReno));
        assert_eq!("Reno".parse::<Algorithm>(), Ok(Algorithm::NewReno));
        assert_eq!("CUBIC".parse::<Algorithm>(), Ok(Algorithm::Cubic));
        assert_eq!("BBR".parse::<Algorithm>(), Ok(Algorithm::Bbr));
        assert_eq!(
            "vegas".parse::<Algorithm>(),
            Err(UnknownAlgorithm("vegas".into()))
        );
        assert_eq!(Algorithm::Bbr.to_string(), "bbr");
        assert_eq!(Algorithm::NewReno.to_string(), "newreno");
        assert_eq!(Algorithm::Cubic.to_string(), "cubic");
        assert_eq!(Algorithm::default(), Algorithm::Cubic);
    }

    #[test]
    fn initial_window_is_iw10_up_to_mss_1460_and_capped_above() {
        // RFC 6928 §2.
        assert_eq!(initial_window(10, 1000), 10_000);
        assert_eq!(initial_window(10, 1460), 14_600);
        assert_eq!(initial_window(10, 9000), 18_000); // max(2*MSS, 14600)
        assert_eq!(initial_window(10, 5000), 14_600);
        // RFC 5681 §3.1 table.
        assert_eq!(initial_window(0, 1095), 4 * 1095);
        assert_eq!(initial_window(0, 1460), 3 * 1460);
        assert_eq!(initial_window(0, 2191), 2 * 2191);
        // Degenerate inputs never panic and never give less than one segment.
        assert_eq!(initial_window(10, 0), 10);
        assert_eq!(initial_window(u32::MAX, u32::MAX), u32::MAX);
        assert_eq!(initial_window(1, 536), 536);
    }

    #[test]
    fn factory_builds_the_named_algorithm_with_iw10() {
        for alg in [Algorithm::NewReno, Algorithm::Cubic, Algorithm::Bbr] {
            let c = new_controller(alg, 1000, 10, Instant::ZERO);
            assert_eq!(c.name(), alg.to_string());
            assert_eq!(c.cwnd(), 10_000);
            assert_eq!(c.ssthresh(), u32::MAX);
            assert!(c.in_slow_start());
        }
    }
}
