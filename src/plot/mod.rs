//! `tuntcp plot`: what a time-sequence graph shows, derived from a capture (and a
//! `--trace`), apart from drawing it ([`render`]).
//!
//! [`TimeSeq::from_pcap`] picks one TCP connection and its data direction (the side that
//! sent more payload) and gives, in Stevens/tcptrace style: each data segment as a
//! sequence range at its time, retransmissions marked with their likely cause, the ACK
//! line, the receive window's right edge and the SACK blocks the receiver sent.
//! [`TraceSeries`] gives the sender's cwnd, ssthresh, bytes in flight, SRTT and RTO over
//! time from a trace of the same run. Times are microseconds since the connection's first
//! packet; sequence numbers are relative to the sender's ISN + 1 (or to its first sequence
//! number seen, without a SYN). Pure: bytes in, numbers out.
//!
//! Either family (IPv6 from raw-IP captures: `serve --pcap`, tcpdump on the TUN).
//!
//! What it does not do: pcapng, more than one connection per graph, or sequence
//! spaces past 4 GiB (relative numbers wrap).

pub mod render;

use crate::device::pcap::PcapReader;
use crate::trace::{self, TraceEvent, TraceRecord};
use crate::wire::{Ipv4Packet, Packet, Packet6, Segment};
use std::net::SocketAddr;

/// Why a retransmission was sent, as far as the capture (and trace) tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// After this many duplicate ACKs, or SACK blocks above the ACK (fast retransmit,
    /// RFC 5681 / 6675, or RACK, RFC 8985).
    Dupacks {
        /// Duplicate ACKs seen since the last ACK that advanced.
        dupacks: u32,
        /// SACK blocks above the ACK were seen.
        sacked: bool,
    },
    /// No duplicate ACK or SACK since the last ACK that advanced: a timer. With a trace,
    /// the timer that fired just before (`rto`, `tlp`, ...).
    Timer(Option<String>),
}

/// One data segment of the sender: `start..end` in relative sequence numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSeg {
    /// Microseconds since time zero.
    pub t_us: u64,
    /// The first relative sequence number.
    pub start: u64,
    /// Just past the last.
    pub end: u64,
    /// Set when some of it was sent before.
    pub retrans: Option<Cause>,
}

/// One ACK of the receiver: the cumulative ACK and the right edge of its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckPoint {
    /// Microseconds since time zero.
    pub t_us: u64,
    /// The cumulative ACK (relative).
    pub ack: u64,
    /// The window's right edge (relative).
    pub win_edge: u64,
}

/// One SACK block the receiver reported (RFC 2018).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SackMark {
    /// Microseconds since time zero.
    pub t_us: u64,
    /// The block's first relative sequence number.
    pub start: u64,
    /// Just past its end.
    pub end: u64,
}

/// A time-sequence graph's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeSeq {
    /// The data direction: `sender` sends, `receiver` ACKs.
    pub sender: SocketAddr,
    /// The end that acknowledges.
    pub receiver: SocketAddr,
    /// Unix time of the connection's first packet (time zero), microseconds.
    pub t0_unix_us: u64,
    /// The sender's data segments.
    pub data: Vec<DataSeg>,
    /// The receiver's ACKs.
    pub acks: Vec<AckPoint>,
    /// The receiver's SACK blocks.
    pub sacks: Vec<SackMark>,
    /// The sender's SYN and FIN, when captured.
    pub syn_us: Option<u64>,
    /// The sender's FIN, when captured.
    pub fin_us: Option<u64>,
}

/// The sender's state over time, from a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceSeries {
    /// (t, cwnd, ssthresh, in flight, srtt, rto): bytes and microseconds; t relative to
    /// the capture's time zero.
    pub points: Vec<TracePoint>,
    /// Timers that fired: (t, name).
    pub timers: Vec<(u64, String)>,
}

/// One sample of the sender's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracePoint {
    /// Microseconds since time zero.
    pub t_us: u64,
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow-start threshold, bytes (`None` while unset).
    pub ssthresh: Option<u32>,
    /// Bytes in flight.
    pub in_flight: u32,
    /// Smoothed RTT, microseconds.
    pub srtt_us: Option<u64>,
    /// Retransmission timeout, microseconds.
    pub rto_us: u64,
}

/// A TCP segment of the capture, owned.
struct Pkt {
    t: u64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    win: u16,
    wscale: Option<u8>,
    sack: Vec<(u32, u32)>,
    len: u32,
}

impl Pkt {
    fn from_segment(t: u64, s: &Segment<'_>) -> Pkt {
        Pkt {
            t,
            src: s.src,
            dst: s.dst,
            seq: s.seq,
            ack: s.flags.ack().then_some(s.ack),
            syn: s.flags.syn(),
            fin: s.flags.fin(),
            win: s.window,
            wscale: s.options.window_scale,
            sack: s
                .options
                .sack
                .as_slice()
                .iter()
                .map(|b| (b.left, b.right))
                .collect(),
            len: s.payload.len() as u32,
        }
    }
}

/// The TCP segments of a capture (checksums not verified: a capture on a host with
/// offloads has partial ones), with their Unix times.
fn tcp_packets(pcap: &[u8]) -> Result<Vec<Pkt>, String> {
    let reader = PcapReader::new(pcap)?.skip_non_ip();
    let mut out = Vec::new();
    for rec in reader {
        let rec = rec?;
        if rec.packet.first().is_some_and(|b| b >> 4 == 6) {
            if let Ok(Packet6::Tcp(s)) = Packet6::parse_offload(rec.packet, true) {
                out.push(Pkt::from_segment(rec.micros, &Segment::from(s)));
            }
            continue;
        }
        let Ok(ip) = Ipv4Packet::parse(rec.packet) else {
            continue;
        };
        if let Ok(Packet::Tcp(s)) = Packet::from_ip_offload(&ip, ip.payload, true) {
            out.push(Pkt::from_segment(rec.micros, &s));
        }
    }
    Ok(out)
}

impl TimeSeq {
    /// The graph of the first connection in `pcap` with `port` at either end (any port
    /// when `None`), in its direction of more payload.
    pub fn from_pcap(pcap: &[u8], port: Option<u16>) -> Result<TimeSeq, String> {
        let pkts = tcp_packets(pcap)?;
        let first = pkts
            .iter()
            .find(|p| port.is_none_or(|q| p.src.port() == q || p.dst.port() == q))
            .ok_or_else(|| match port {
                Some(q) => format!("no TCP segment to or from port {q} in the capture"),
                None => "no TCP segment in the capture".to_string(),
            })?;
        let (a, b) = (first.src, first.dst);
        let conn: Vec<&Pkt> = pkts
            .iter()
            .filter(|p| (p.src, p.dst) == (a, b) || (p.src, p.dst) == (b, a))
            .collect();
        let bytes = |from: SocketAddr| -> u64 {
            conn.iter()
                .filter(|p| p.src == from)
                .map(|p| u64::from(p.len))
                .sum()
        };
        let (sender, receiver) = if bytes(b) > bytes(a) { (b, a) } else { (a, b) };
        Ok(TimeSeq::build(&conn, sender, receiver))
    }

    fn build(conn: &[&Pkt], sender: SocketAddr, receiver: SocketAddr) -> TimeSeq {
        let t0 = conn.first().map_or(0, |p| p.t);
        let from_sender = |p: &&&Pkt| p.src == sender;
        // Sequence base: the sender's ISN + 1, else its first sequence number.
        let base = conn
            .iter()
            .filter(from_sender)
            .find(|p| p.syn)
            .map(|p| p.seq.wrapping_add(1))
            .or_else(|| conn.iter().find(from_sender).map(|p| p.seq))
            .unwrap_or(0);
        let rel = |s: u32| u64::from(s.wrapping_sub(base));
        // RFC 7323 §2.2: the receiver's window is scaled only if both SYNs had the option.
        let ws = |who: SocketAddr| conn.iter().find(|p| p.src == who && p.syn)?.wscale;
        let shift = match (ws(sender), ws(receiver)) {
            (Some(_), Some(r)) => r.min(14),
            _ => 0,
        };
        let mut g = TimeSeq {
            sender,
            receiver,
            t0_unix_us: t0,
            data: Vec::new(),
            acks: Vec::new(),
            sacks: Vec::new(),
            syn_us: None,
            fin_us: None,
        };
        let mut high: Option<u64> = None; // the highest sequence number sent + 1
        let mut last_ack: Option<u64> = None;
        let mut dupacks = 0;
        let mut sacked = false;
        for p in conn {
            let t = p.t.saturating_sub(t0);
            if p.src == sender {
                if p.syn {
                    g.syn_us.get_or_insert(t);
                }
                if p.fin {
                    g.fin_us.get_or_insert(t);
                }
                if p.len == 0 {
                    continue;
                }
                let start = rel(p.seq);
                let end = start + u64::from(p.len);
                let retrans = high.filter(|&h| start < h).map(|_| {
                    if dupacks > 0 || sacked {
                        Cause::Dupacks { dupacks, sacked }
                    } else {
                        Cause::Timer(None)
                    }
                });
                high = Some(high.map_or(end, |h| h.max(end)));
                g.data.push(DataSeg {
                    t_us: t,
                    start,
                    end,
                    retrans,
                });
            } else {
                let Some(ack) = p.ack.filter(|_| !p.syn) else {
                    continue;
                };
                let ack = rel(ack);
                let win = u64::from(p.win) << shift;
                // A duplicate ACK (RFC 5681 §2): no data, no window change, same ACK,
                // data outstanding.
                match last_ack {
                    Some(l) if ack > l => (dupacks, sacked) = (0, false),
                    Some(l) if ack == l && p.len == 0 && high.is_some_and(|h| h > ack) => {
                        dupacks += 1;
                    }
                    _ => {}
                }
                last_ack = Some(last_ack.map_or(ack, |l| l.max(ack)));
                for &(l, r) in &p.sack {
                    let (l, r) = (rel(l), rel(r));
                    if r > l {
                        sacked |= l >= ack;
                        g.sacks.push(SackMark {
                            t_us: t,
                            start: l,
                            end: r,
                        });
                    }
                }
                g.acks.push(AckPoint {
                    t_us: t,
                    ack,
                    win_edge: ack + win,
                });
            }
        }
        g
    }

    /// Uses the trace to name the cause of each retransmission: a timer of this
    /// connection that fired within 1 ms before it (`rto`, `tlp`, `reorder`; the capture
    /// alone cannot tell an RTO after duplicate ACKs from a fast retransmit).
    pub fn explain(&mut self, tr: &TraceSeries) {
        for d in &mut self.data {
            if d.retrans.is_none() {
                continue;
            }
            let timer = tr
                .timers
                .iter()
                .rev()
                .filter(|(_, n)| matches!(n.as_str(), "rto" | "tlp" | "reorder"))
                .find(|(t, _)| *t <= d.t_us && d.t_us - *t <= 1000);
            if let Some((_, n)) = timer {
                d.retrans = Some(Cause::Timer(Some(n.clone())));
            }
        }
    }
}

impl TraceSeries {
    /// The records of `g`'s connection in a trace file (its text), on `g`'s time axis.
    /// Lines that are not records are skipped; a trace without its start line cannot be
    /// placed on the capture's clock and is refused.
    pub fn from_trace(text: &str, g: &TimeSeq) -> Result<TraceSeries, String> {
        let mut lines = text.lines();
        let zero = lines
            .next()
            .and_then(trace::parse_start_line)
            .ok_or("the trace does not start with its start line (is it a --trace file?)")?;
        let mut s = TraceSeries::default();
        for r in lines.filter_map(TraceRecord::from_json) {
            let ours = (r.local, r.remote) == (g.sender, g.receiver)
                || (r.local, r.remote) == (g.receiver, g.sender);
            if !ours {
                continue;
            }
            let unix = zero.checked_add(r.at.micros());
            let Some(t) = unix.and_then(|u| u.checked_sub(g.t0_unix_us)) else {
                continue; // before the capture's first packet
            };
            if let TraceEvent::Timer(name) = &r.event {
                s.timers.push((t, name.clone()));
            }
            s.points.push(TracePoint {
                t_us: t,
                cwnd: r.cwnd,
                ssthresh: r.ssthresh,
                in_flight: r.in_flight,
                srtt_us: r.srtt.map(|d| d.micros()),
                rto_us: r.rto.micros(),
            });
        }
        Ok(s)
    }
}
