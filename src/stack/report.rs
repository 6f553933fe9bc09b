//! Text views of a stack in the shapes users know: `ss -tni`, `ss -ltn`, `ss -s` and
//! `nstat -a`. Pure functions of a [`Stack`]; the control socket in the binary serves them.
//!
//! What this module does not do: talk to anything, or keep history (nstat's deltas are the
//! caller's: it passes the earlier counters).

use super::stats::Counters;
use super::Stack;
use crate::tcp::State;
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

fn ms(d: crate::time::Duration) -> f64 {
    d.micros() as f64 / 1000.0
}

/// `ss -tn[i]` / `-ltn` / `-s`, in ss's column layout.
pub fn ss(stack: &Stack, o: SsOptions) -> String {
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
        return out;
    }
    let _ = writeln!(
        out,
        "{:<11}{:>7}{:>7} {:>22}  {:<22}",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    if o.listening || o.all {
        let mut ls: Vec<_> = stack.listeners().collect();
        ls.sort();
        for (port, queued, backlog) in ls {
            let _ = writeln!(
                out,
                "{:<11}{:>7}{:>7} {:>22}  {:<22}",
                "LISTEN",
                queued,
                backlog,
                format!("{}:{port}", stack.addr()),
                "0.0.0.0:*"
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
            "{:<11}{:>7}{:>7} {:>22}  {:<22}",
            c.state().ss_name(),
            c.recv_queue(),
            c.send_queue(),
            c.local().to_string(),
            c.remote().to_string()
        );
        if o.info {
            let st = c.stats();
            let rtt = c.srtt().map_or("-".to_string(), |s| {
                format!("{:.3}/{:.3}", ms(s), ms(c.rttvar()))
            });
            let ssthresh = match c.ssthresh() {
                u32::MAX => String::new(),
                s => format!(" ssthresh:{}", s / c.effective_mss().max(1)),
            };
            let _ = writeln!(
                out,
                "\t {} rto:{:.0} rtt:{} mss:{} cwnd:{}{} bytes_acked:{} bytes_received:{} segs_out:{} segs_in:{} retrans:{} timeouts:{}",
                c.congestion_name(),
                ms(c.rto()),
                rtt,
                c.effective_mss(),
                c.cwnd() / c.effective_mss().max(1),
                ssthresh,
                st.bytes_acked,
                st.bytes_received,
                st.segs_out,
                st.segs_in,
                st.retrans_segs,
                st.timeouts
            );
        }
    }
    out
}

/// `nstat -a`: every counter with its value; with `earlier`, the change since then as well.
pub fn nstat(now: &Counters, earlier: Option<&Counters>) -> String {
    let mut out = String::from("#kernel\n");
    let delta = earlier.map(|e| now.delta(e));
    for (name, value) in now.iter() {
        let d = delta.as_ref().and_then(|d| d.get(name)).unwrap_or(0);
        let _ = writeln!(out, "{name:<32}{value:>16}{d:>16}");
    }
    out
}
