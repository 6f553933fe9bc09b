//! Sender-state trace records (`serve --trace FILE`, `get --trace FILE`): one per ACK a
//! connection processed and one per timer that fired, each a snapshot of what the wire
//! does not show (cwnd, ssthresh, the RTT estimator, bytes in flight and SACKed).
//!
//! The stack builds them (sans-IO: [`crate::stack::Stack::set_trace`] and `poll_trace`);
//! the runtime writes them as JSON lines ([`TraceRecord::to_json`]); `tuntcp plot` reads
//! them back ([`TraceRecord::from_json`]). What it does not do: a delivery rate (the
//! connection keeps no per-segment delivery stamps), or parse JSON beyond the flat objects
//! it writes.

use crate::tcp::{CaState, Connection, State};
use crate::time::{Duration, Instant};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// What made the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A segment with the ACK flag was processed; `acked`: how far SND.UNA advanced.
    Ack {
        /// Bytes SND.UNA advanced by.
        acked: u32,
    },
    /// A timer fired (`rto`, `tlp`, `reorder`, `delack`, `persist`, `keepalive`,
    /// `time-wait`, `fin-wait-2`, `pace`: see `Connection::due_timers`).
    Timer(String),
}

/// One snapshot of a connection's sender state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    /// When (the stack's clock).
    pub at: Instant,
    /// What made the record.
    pub event: TraceEvent,
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// The connection state.
    pub state: State,
    /// The congestion-avoidance state.
    pub ca_state: CaState,
    /// SND.UNA (raw sequence number).
    pub snd_una: u32,
    /// SND.NXT (raw sequence number).
    pub snd_nxt: u32,
    /// The peer's window (SND.WND), bytes.
    pub snd_wnd: u32,
    /// Bytes (PRR's window in fast recovery, as `ss` shows it).
    pub cwnd: u32,
    /// Bytes; `None` while unset (no loss yet: "infinite").
    pub ssthresh: Option<u32>,
    /// The smoothed RTT, once sampled.
    pub srtt: Option<Duration>,
    /// The RTT variation.
    pub rttvar: Duration,
    /// The retransmission timeout.
    pub rto: Duration,
    /// Bytes sent and not cumulatively acknowledged (SND.MAX - SND.UNA), and of those the
    /// bytes SACKed.
    pub in_flight: u32,
    /// Bytes in flight SACKed (see `in_flight`).
    pub sacked: u32,
    /// Segments retransmitted and unacknowledged / marked lost (as `ss -i` counts them).
    pub retrans: u32,
    /// Segments marked lost (see `retrans`).
    pub lost: u32,
}

impl TraceRecord {
    /// `c` as it is after the event at `now`.
    pub fn snapshot(now: Instant, event: TraceEvent, c: &Connection) -> TraceRecord {
        let info = c.info(now);
        let mss = info.mss.max(1);
        TraceRecord {
            at: now,
            event,
            local: c.local(),
            remote: c.remote(),
            state: c.state(),
            ca_state: info.ca_state,
            snd_una: c.snd_una().0,
            snd_nxt: c.snd_nxt().0,
            snd_wnd: c.snd_wnd(),
            cwnd: info.cwnd * mss,
            ssthresh: (c.ssthresh() != u32::MAX).then(|| c.ssthresh()),
            srtt: c.srtt(),
            rttvar: c.rttvar(),
            rto: c.rto(),
            in_flight: c.snd_max().since(c.snd_una()),
            sacked: c.sacked_bytes(),
            retrans: info.retrans,
            lost: info.lost,
        }
    }

    /// The record as one JSON object (no newline); field names as in the README.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(320);
        let (kind, acked) = match &self.event {
            TraceEvent::Ack { acked } => ("ack", Some(*acked)),
            TraceEvent::Timer(name) => (name.as_str(), None),
        };
        let _ = write!(
            s,
            "{{\"t\":{},\"event\":\"{}\",\"local\":\"{}\",\"remote\":\"{}\",\"state\":\"{}\",\
             \"ca_state\":\"{}\"",
            secs(self.at.micros()),
            kind,
            self.local,
            self.remote,
            self.state,
            ca_name(self.ca_state)
        );
        if let Some(a) = acked {
            let _ = write!(s, ",\"acked\":{a}");
        }
        let opt = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
        let _ = write!(
            s,
            ",\"snd_una\":{},\"snd_nxt\":{},\"snd_wnd\":{},\"cwnd\":{},\"ssthresh\":{},\
             \"srtt_us\":{},\"rttvar_us\":{},\"rto_us\":{},\"in_flight\":{},\"sacked\":{},\
             \"retrans\":{},\"lost\":{}}}",
            self.snd_una,
            self.snd_nxt,
            self.snd_wnd,
            self.cwnd,
            opt(self.ssthresh.map(u64::from)),
            opt(self.srtt.map(|d| d.micros())),
            self.rttvar.micros(),
            self.rto.micros(),
            self.in_flight,
            self.sacked,
            self.retrans,
            self.lost
        );
        s
    }

    /// Reads back a line [`TraceRecord::to_json`] wrote; `None` for any other line (the
    /// `start` header among them).
    pub fn from_json(line: &str) -> Option<TraceRecord> {
        let f = flat_json(line)?;
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let num = |k: &str| get(k)?.parse::<u64>().ok();
        let n32 = |k: &str| num(k).and_then(|v| u32::try_from(v).ok());
        let opt = |k: &str| match get(k)? {
            "null" => Some(None),
            v => v.parse::<u64>().ok().map(Some),
        };
        let event = match get("event")? {
            "ack" => TraceEvent::Ack {
                acked: n32("acked")?,
            },
            "start" => return None,
            other => TraceEvent::Timer(other.to_string()),
        };
        Some(TraceRecord {
            at: Instant::from_micros(parse_secs(get("t")?)?),
            event,
            local: get("local")?.parse().ok()?,
            remote: get("remote")?.parse().ok()?,
            state: state_from_name(get("state")?)?,
            ca_state: ca_from_name(get("ca_state")?)?,
            snd_una: n32("snd_una")?,
            snd_nxt: n32("snd_nxt")?,
            snd_wnd: n32("snd_wnd")?,
            cwnd: n32("cwnd")?,
            ssthresh: opt("ssthresh")?.map(|v| v as u32),
            srtt: opt("srtt_us")?.map(Duration::from_micros),
            rttvar: Duration::from_micros(num("rttvar_us")?),
            rto: Duration::from_micros(num("rto_us")?),
            in_flight: n32("in_flight")?,
            sacked: n32("sacked")?,
            retrans: n32("retrans")?,
            lost: n32("lost")?,
        })
    }
}

/// Records the stack keeps until the runtime takes them (`Stack::poll_trace`): at most
/// [`TraceQueue::LIMIT`], the oldest dropped beyond (counted), so an owner that never
/// takes them costs bounded memory.
#[derive(Debug, Default)]
pub struct TraceQueue {
    records: std::collections::VecDeque<TraceRecord>,
    dropped: u64,
}

impl TraceQueue {
    /// Records kept at most.
    pub const LIMIT: usize = 65_536;

    /// Adds a record (the oldest is dropped at [`TraceQueue::LIMIT`]).
    pub fn push(&mut self, r: TraceRecord) {
        if self.records.len() == Self::LIMIT {
            self.records.pop_front();
            self.dropped += 1;
        }
        self.records.push_back(r);
    }
    /// Takes the oldest record.
    pub fn pop(&mut self) -> Option<TraceRecord> {
        self.records.pop_front()
    }
    /// Records dropped because nobody took them in time.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// The first line of a trace file: the clock's zero as Unix time, so a trace lines up with
/// a pcap of the same run (pcap times are Unix times).
pub fn start_line(unix_us: u64) -> String {
    format!("{{\"t\":0.000000,\"event\":\"start\",\"unix_us\":{unix_us}}}")
}

/// The `unix_us` of a [`start_line`].
pub fn parse_start_line(line: &str) -> Option<u64> {
    let f = flat_json(line)?;
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    (get("event")? == "start")
        .then(|| get("unix_us")?.parse().ok())
        .flatten()
}

fn secs(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn parse_secs(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac: u64 = format!("{frac:0<6}").parse().ok()?;
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(frac)
}

fn ca_name(c: CaState) -> &'static str {
    match c {
        CaState::Open => "open",
        CaState::Disorder => "disorder",
        CaState::Cwr => "cwr",
        CaState::Recovery => "recovery",
        CaState::Loss => "loss",
    }
}

fn ca_from_name(s: &str) -> Option<CaState> {
    [
        CaState::Open,
        CaState::Disorder,
        CaState::Cwr,
        CaState::Recovery,
        CaState::Loss,
    ]
    .into_iter()
    .find(|&c| ca_name(c) == s)
}

fn state_from_name(s: &str) -> Option<State> {
    use State::*;
    [
        Closed,
        Listen,
        SynSent,
        SynReceived,
        Established,
        FinWait1,
        FinWait2,
        CloseWait,
        Closing,
        LastAck,
        TimeWait,
    ]
    .into_iter()
    .find(|st| st.to_string() == s)
}

/// A flat JSON object of strings (no escapes), numbers and null, as `(name, raw value)`;
/// `None` for anything else.
fn flat_json(line: &str) -> Option<Vec<(String, String)>> {
    let body = line.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let r = rest.strip_prefix('"')?;
        let end = r.find('"')?;
        let name = &r[..end];
        let r = r[end + 1..].trim_start().strip_prefix(':')?.trim_start();
        let (value, r) = if let Some(v) = r.strip_prefix('"') {
            let end = v.find('"')?;
            if v[..end].contains('\\') {
                return None;
            }
            (&v[..end], &v[end + 1..])
        } else {
            let end = r.find(',').unwrap_or(r.len());
            (r[..end].trim(), &r[end..])
        };
        out.push((name.to_string(), value.to_string()));
        let r = r.trim_start();
        rest = match r.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if r.is_empty() => r,
            None => return None,
        };
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> TraceRecord {
        TraceRecord {
            at: Instant::from_micros(1_500_250),
            event: TraceEvent::Ack { acked: 1448 },
            local: "10.66.0.2:80".parse().unwrap(),
            remote: "10.66.0.1:33804".parse().unwrap(),
            state: State::Established,
            ca_state: CaState::Recovery,
            snd_una: 1001,
            snd_nxt: 9000,
            snd_wnd: 65535,
            cwnd: 14480,
            ssthresh: Some(10136),
            srtt: Some(Duration::from_micros(10_250)),
            rttvar: Duration::from_micros(3_000),
            rto: Duration::from_millis(210),
            in_flight: 7999,
            sacked: 2896,
            retrans: 1,
            lost: 1,
        }
    }

    #[test]
    fn a_record_prints_as_documented_and_reads_back() {
        let r = record();
        let j = r.to_json();
        assert_eq!(
            j,
            "{\"t\":1.500250,\"event\":\"ack\",\"local\":\"10.66.0.2:80\",\
             \"remote\":\"10.66.0.1:33804\",\"state\":\"ESTABLISHED\",\"ca_state\":\"recovery\",\
             \"acked\":1448,\"snd_una\":1001,\"snd_nxt\":9000,\"snd_wnd\":65535,\"cwnd\":14480,\
             \"ssthresh\":10136,\"srtt_us\":10250,\"rttvar_us\":3000,\"rto_us\":210000,\
             \"in_flight\":7999,\"sacked\":2896,\"retrans\":1,\"lost\":1}"
        );
        assert_eq!(TraceRecord::from_json(&j), Some(r.clone()));
        let t = TraceRecord {
            event: TraceEvent::Timer("rto".into()),
            ssthresh: None,
            srtt: None,
            ..r
        };
        let j = t.to_json();
        assert!(j.contains("\"event\":\"rto\"") && j.contains("\"ssthresh\":null"));
        assert!(!j.contains("\"acked\""));
        assert_eq!(TraceRecord::from_json(&j), Some(t));
    }

    #[test]
    fn the_start_line_carries_the_clock_zero() {
        let l = start_line(1_700_000_000_123_456);
        assert_eq!(parse_start_line(&l), Some(1_700_000_000_123_456));
        assert_eq!(TraceRecord::from_json(&l), None);
        assert_eq!(parse_start_line(&record().to_json()), None);
    }

    #[test]
    fn other_lines_are_refused_not_misread() {
        for l in [
            "",
            "{",
            "[1]",
            "{\"t\":\"a\\\"b\"}",
            "{\"t\":1.0000001}",
            "not json",
        ] {
            assert_eq!(TraceRecord::from_json(l), None, "{l}");
        }
    }
}
