//! Text views of a stack in the shapes users know: `ss -tni`, `ss -ltn`, `ss -s` and
//! `nstat -a`. Pure functions of a [`Stack`]; the control socket in the binary serves them.
//!
//! What this module does not do: talk to anything, or keep history (nstat's history is the
//! client's: it passes the values it saw last).

use super::stats::Counters;
use super::Stack;
use crate::tcp::{State, TcpInfo};
use crate::time::{Duration, Instant};
use std::fmt::Write;

/// What `ss` should list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SsOptions {
    /// `-l`: listeners only (Recv-Q = accept queue, Send-Q = backlog).
    pub listening: bool,
    /// `-a`: listeners and connections.
    pub all: bool,
    /// `-i`: the internal TCP line under each connection.
    pub info: bool,
    /// `-s`: the summary only.
    pub summary: bool,
}

/// Milliseconds as ss's `%g` prints them (our clock has microseconds: 3 decimals at most).
fn ms(d: Duration) -> String {
    let s = format!("{:.3}", d.micros() as f64 / 1000.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Bits per second as ss's `sprint_bw` prints them (`%.3g` and a K/M/G/T suffix).
fn bw(bps: u64) -> String {
    let x = bps as f64;
    let (v, unit) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")]
        .into_iter()
        .find(|(scale, _)| x >= *scale)
        .map_or((x, ""), |(scale, u)| (x / scale, u));
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}{unit}bps")
}

/// The line `ss -ti` prints under a connection: its fields, names and order (iproute2
/// `tcp_show_info`), each only when non-zero, as ss does.
pub fn ss_info(i: &TcpInfo) -> String {
    let mut f: Vec<String> = Vec::new();
    let mut put = |on: bool, s: String| {
        if on {
            f.push(s)
        }
    };
    put(i.timestamps, "ts".into());
    put(i.sack, "sack".into());
    put(i.ecn, "ecn".into());
    put(i.ecn_seen, "ecnseen".into());
    put(true, i.congestion.into());
    if let Some((snd, rcv)) = i.wscale {
        put(true, format!("wscale:{snd},{rcv}"));
    }
    put(true, format!("rto:{}", ms(i.rto)));
    put(i.backoff > 0, format!("backoff:{}", i.backoff));
    if let Some((srtt, var)) = i.rtt {
        put(true, format!("rtt:{}/{}", ms(srtt), ms(var)));
    }
    put(true, format!("ato:{}", ms(i.ato)));
    put(true, format!("mss:{}", i.mss));
    put(true, format!("pmtu:{}", i.pmtu));
    put(true, format!("rcvmss:{}", i.rcv_mss));
    put(true, format!("advmss:{}", i.advmss));
    put(true, format!("cwnd:{}", i.cwnd));
    if let Some(t) = i.ssthresh {
        put(true, format!("ssthresh:{t}"));
    }
    for (name, v) in [
        ("bytes_sent", i.bytes_sent),
        ("bytes_retrans", i.bytes_retrans),
        ("bytes_acked", i.bytes_acked),
        ("bytes_received", i.bytes_received),
        ("segs_out", i.segs_out),
        ("segs_in", i.segs_in),
        ("data_segs_out", i.data_segs_out),
        ("data_segs_in", i.data_segs_in),
    ] {
        put(v > 0, format!("{name}:{v}"));
    }
    if let Some(b) = i.bbr {
        let mut s = format!("bbr:(bw:{}", bw(b.bw.saturating_mul(8)));
        if let Some(m) = b.min_rtt {
            s += &format!(",mrtt:{}", ms(m));
        }
        s += &format!(",pacing_gain:{},cwnd_gain:{})", b.pacing_gain, b.cwnd_gain);
        put(true, s);
    }
    if let Some(b) = i.send_bps {
        put(true, format!("send {}", bw(b)));
    }
    for (name, d) in [
        ("lastsnd", i.last_send),
        ("lastrcv", i.last_recv),
        ("lastack", i.last_ack),
    ] {
        put(d.micros() >= 1000, format!("{name}:{}", d.micros() / 1000));
    }
    if let Some(b) = i.pacing_bps {
        put(true, format!("pacing_rate {}", bw(b)));
    }
    if let Some(b) = i.delivery_bps {
        put(b > 0, format!("delivery_rate {}", bw(b)));
    }
    put(i.app_limited, "app_limited".into());
    // As ss prints them: the limited times only beside a busy time, with their share of it.
    let busy = i.busy.micros();
    put(busy >= 1000, format!("busy:{}ms", busy / 1000));
    for (name, d) in [
        ("rwnd_limited", i.rwnd_limited),
        ("sndbuf_limited", i.sndbuf_limited),
    ] {
        let us = d.micros();
        put(
            busy >= 1000 && us > 0,
            format!(
                "{name}:{}ms({:.1}%)",
                us / 1000,
                100.0 * us as f64 / busy as f64
            ),
        );
    }
    put(i.unacked > 0, format!("unacked:{}", i.unacked));
    put(
        i.retrans > 0 || i.total_retrans > 0,
        format!("retrans:{}/{}", i.retrans, i.total_retrans),
    );
    put(i.lost > 0, format!("lost:{}", i.lost));
    put(i.sacked > 0, format!("sacked:{}", i.sacked));
    put(i.dsack_dups > 0, format!("dsack_dups:{}", i.dsack_dups));
    put(i.reord_seen > 0, format!("reord_seen:{}", i.reord_seen));
    if let Some(r) = i.rcv_rtt {
        put(r.micros() > 0, format!("rcv_rtt:{}", ms(r)));
    }
    put(i.rcv_space > 0, format!("rcv_space:{}", i.rcv_space));
    put(i.notsent > 0, format!("notsent:{}", i.notsent));
    if let Some(m) = i.min_rtt {
        put(m.micros() > 0, format!("minrtt:{}", ms(m)));
    }
    put(true, format!("snd_wnd:{}", i.snd_wnd));
    put(i.rcv_wnd > 0, format!("rcv_wnd:{}", i.rcv_wnd));
    f.join(" ")
}

/// `ss -tn[i]` / `-ltn` / `-s`, in ss's column layout; `now` is the stack's clock (for
/// `lastsnd` and the like).
pub fn ss(stack: &Stack, o: SsOptions, now: Instant) -> String {
    let mut out = String::new();
    if o.summary {
        let mut counts = [0usize; 4]; // estab, closed-ish, timewait, synrecv
        let mut total = 0;
        for (_, c) in stack.connections() {
            total += 1;
            match c.state() {
                State::Established => counts[0] += 1,
                State::TimeWait => counts[2] += 1,
                State::SynReceived => counts[3] += 1,
                State::Closed => counts[1] += 1,
                _ => {}
            }
        }
        let listeners = stack.listeners().count();
        let _ = writeln!(out, "Total: {}", total + listeners);
        let _ = writeln!(
            out,
            "TCP:   {} (estab {}, closed {}, orphaned {}, timewait {}, synrecv {})",
            total + listeners,
            counts[0],
            counts[1],
            stack.orphans(),
            counts[2],
            counts[3]
        );
        // As /proc/net/sockstat's TCP line (mem in 4 KiB pages), then the limits in force.
        let _ = writeln!(
            out,
            "TCP: inuse {} orphan {} tw {} mem {}",
            total - counts[2] + listeners,
            stack.orphans(),
            counts[2],
            stack.memory_pages()
        );
        let cfg = stack.config();
        let _ = writeln!(
            out,
            "TCP limits: tcp_mem {} {} {} max_orphans {}{}",
            cfg.tcp_mem[0],
            cfg.tcp_mem[1],
            cfg.tcp_mem[2],
            cfg.max_orphans,
            if stack.under_memory_pressure() {
                " (under memory pressure)"
            } else {
                ""
            }
        );
        return out;
    }
    // The same widths as before, but a space always separates the columns (as ss), so a
    // Send-Q of 7 digits (auto-tuned send buffers) cannot glue to Recv-Q.
    let _ = writeln!(
        out,
        "{:<10} {:>7} {:>6} {:>22}  {:<22}",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    if o.listening || o.all {
        let mut ls: Vec<_> = stack.listeners().collect();
        ls.sort();
        for (port, queued, backlog) in ls {
            // Recv-Q: waiting for the application (accepted or, deferring, SYNs held).
            let queued = queued + stack.held_syns(port);
            // The transparent listener takes any address and port of its prefixes.
            let local = match port {
                Stack::TRANSPARENT_PORT => "*:*".to_string(),
                p => format!("{}:{p}", stack.addr()),
            };
            let _ = writeln!(
                out,
                "{:<10} {:>7} {:>6} {:>22}  {:<22}",
                "LISTEN", queued, backlog, local, "0.0.0.0:*"
            );
        }
    }
    if o.listening && !o.all {
        return out;
    }
    let mut conns: Vec<_> = stack.connections().map(|(_, c)| c).collect();
    conns.sort_by_key(|c| (c.local().port(), c.remote()));
    for c in conns {
        let _ = writeln!(
            out,
            "{:<10} {:>7} {:>6} {:>22}  {:<22}",
            c.state().ss_name(),
            c.recv_queue(),
            c.send_queue(),
            c.local().to_string(),
            c.remote().to_string()
        );
        if o.info {
            let _ = writeln!(out, "\t{}", ss_info(&c.info(now)));
        }
    }
    out
}

/// The control socket's answer to `nstat`: `#kernel`, then every counter as `Name value`,
/// absolute. The history behind "since the last call" is the client's, as with `nstat`
/// (see `cli_nstat` in the binary), so two users never steal each other's deltas.
pub fn nstat_dump(c: &Counters) -> String {
    let mut out = String::from("#kernel\n");
    for (name, value) in c.iter() {
        let _ = writeln!(out, "{name} {value}");
    }
    out
}

/// Reads `Name value` lines (an [`nstat_dump`], or a history file); other lines are skipped.
pub fn parse_nstat(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            let value = w.next()?.parse().ok()?;
            Some((name.to_string(), value))
        })
        .collect()
}

/// Counters that are levels, not counts: shown as they are, never as a change.
const GAUGES: [&str; 1] = ["TcpCurrEstab"];

/// `nstat`'s report: `#kernel`, then `Name value rate` lines in nstat's layout. With
/// `history` (the values at the last call) a value is the change since then and the rate
/// that change per second of `elapsed_secs`; without, values are absolute and rates 0.0,
/// as nstat's first call. Lines with a zero value are left out unless `zeros` (`-z`).
///
/// Deviation: a gauge (`TcpCurrEstab`) shows its current level, not a change (nstat would
/// subtract it like a counter and wrap below zero).
pub fn nstat(
    now: &[(String, u64)],
    history: Option<&[(String, u64)]>,
    elapsed_secs: Option<f64>,
    zeros: bool,
) -> String {
    let mut out = String::from("#kernel\n");
    for (name, value) in now {
        let gauge = GAUGES.contains(&name.as_str());
        let earlier = history
            .filter(|_| !gauge)
            .map(|h| h.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v));
        let v = earlier.map_or(*value, |e| value.saturating_sub(e));
        if v == 0 && !zeros {
            continue;
        }
        let rate = match (earlier, elapsed_secs) {
            (Some(_), Some(secs)) if secs > 0.0 => v as f64 / secs,
            _ => 0.0,
        };
        let _ = writeln!(out, "{name:<32}{v:<16}{rate:6.1}");
    }
    out
}

/// True if `now` cannot follow `history` (a counter went down): the stack was restarted,
/// and the history belongs to the one before.
pub fn nstat_history_stale(now: &[(String, u64)], history: &[(String, u64)]) -> bool {
    history
        .iter()
        .any(|(n, old)| !GAUGES.contains(&n.as_str()) && now.iter().any(|(m, v)| m == n && v < old))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    #[test]
    fn dump_parses_back_to_every_counter() {
        let c = Counters {
            tcp_in_segs: 7,
            ..Counters::default()
        };
        let t = parse_nstat(&nstat_dump(&c));
        assert_eq!(t.len(), Counters::NAMES.len());
        assert!(t.contains(&("TcpInSegs".to_string(), 7)));
    }

    #[test]
    fn first_call_is_absolute_and_later_ones_are_changes_with_rates() {
        let now = table(&[("IpInReceives", 30), ("TcpInSegs", 10), ("TcpCurrEstab", 2)]);
        assert_eq!(
            nstat(&now, None, None, false),
            "#kernel\n\
             IpInReceives                    30                 0.0\n\
             TcpInSegs                       10                 0.0\n\
             TcpCurrEstab                    2                  0.0\n"
        );
        let earlier = table(&[("IpInReceives", 10), ("TcpInSegs", 10), ("TcpCurrEstab", 5)]);
        assert_eq!(
            nstat(&now, Some(&earlier), Some(4.0), false),
            "#kernel\n\
             IpInReceives                    20                 5.0\n\
             TcpCurrEstab                    2                  0.0\n"
        );
        let z = nstat(&now, Some(&earlier), Some(4.0), true);
        assert!(z.contains("TcpInSegs                       0                  0.0\n"));
    }

    #[test]
    fn a_counter_going_down_means_a_new_stack() {
        let now = table(&[("TcpInSegs", 3), ("TcpCurrEstab", 0)]);
        assert!(nstat_history_stale(&now, &table(&[("TcpInSegs", 4)])));
        assert!(!nstat_history_stale(
            &now,
            &table(&[("TcpInSegs", 3), ("TcpCurrEstab", 9)])
        ));
    }
}
