//! The Linux profile the packetdrill scripts assume: Linux's defaults plus
//! `gtests/net/common/defaults.sh`, as a [`StackConfig`].
//!
//! Where tuntcp's own default differs, the library keeps its default and this profile
//! selects Linux's (README "packetdrill" lists them):
//! - window scale 8 (Linux derives it from `tcp_rmem[2]` = 15 MiB; ours fits the buffer);
//! - receive buffer 540000 / 2 (`tcp_rmem[1]` with `tcp_adv_win_scale` 1), send buffer
//!   256 KiB (`tcp_wmem[1]`);
//! - TSO on: new data leaves in super-segments of whole MSS (the scripts expect one
//!   `P. 1:10001(10000)` where a wire would carry seven segments);
//! - the addresses of packetdrill's IPv4 defaults (`--local_ip=192.168.0.1`, /16);
//! - a window update after a read only when the window at least doubles from at most
//!   half (`rcv_update_when_doubled`, Linux `tcp_cleanup_rbuf`; ours sends one at an SWS
//!   step);
//! - slow start adds every segment an ACK covers (RFC 3465's L unlimited: `abc_limit` 0);
//! - RTO = SRTT + max(4 RTTVAR, 200 ms) (`rto_min_on_rttvar`), Linux's `tcp_set_rto`;
//! - no restart after idle (`defaults.sh` sets `tcp_slow_start_after_idle=0`; a script's
//!   sysctl turns it on);
//! - a TSO super-segment carries at most half of cwnd (`gso_half_cwnd`, `tcp_cwnd_test`);
//! - a loss sets ssthresh from cwnd, not FlightSize (`loss_ssthresh_from_cwnd`);
//! - an ACK of unsent data is dropped without an answer (`answer_unsent_ack` off);
//! - the first 10 data segments leave unpaced (`pace_after_iw`), and a script's fq qdisc
//!   turns pacing on (`apply_host_commands`);
//! - CUBIC leaves slow start by Linux's HyStart (`linux_hystart`);
//! - RACK.rtt from the last segment an ACK delivers in Linux's order, not the most
//!   recently sent (`rack_linux_rtt`, `tcp_rack_advance`).
//!
//! The same as ours already: IW10, min RTO 200 ms, initial RTO 1 s, delayed ACK 40 ms,
//! SACK and timestamps on, CUBIC, SYN-ACK retries 5.

use std::net::Ipv4Addr;

use tuntcp::stack::{RouteMetrics, StackConfig, GSO_MAX_PAYLOAD};
use tuntcp::tcp::Connection;
use tuntcp::time::Instant;

/// The stack's address: packetdrill's `--local_ip` (scripts/packetdrill.sh passes it).
pub const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);

/// The stack configuration for the scripts; `flags` is packetdrill's `--so_flags`.
pub fn stack_config(flags: &str) -> StackConfig {
    let mut cfg = StackConfig::with_seed(1);
    cfg.addr = LOCAL_IP;
    cfg.prefix_len = 16;
    cfg.mtu = 1500;
    cfg.offload = true;
    let t = &mut cfg.tcp;
    t.recv_buffer = 540_000 / 2;
    t.send_buffer = 256 * 1024;
    t.rcv_wscale = Some(8);
    t.gso_max_payload = GSO_MAX_PAYLOAD;
    t.initial_cwnd = 10;
    t.synack_retries = 5;
    t.rcv_update_when_doubled = true;
    t.abc_limit = 0; // tcp_slow_start: every segment an ACK covers
    t.rto_min_on_rttvar = true; // tcp_set_rto: SRTT + max(4 RTTVAR, rto_min)
    t.slow_start_after_idle = false; // defaults.sh: tcp_slow_start_after_idle=0
    t.gso_half_cwnd = true; // tcp_cwnd_test: at least two TSO packets in flight
    t.loss_ssthresh_from_cwnd = true; // tcp_enter_loss, tcp_init_cwnd_reduction: from cwnd
    t.answer_unsent_ack = false; // tcp_ack: an ACK of unsent data is dropped silently
    t.pace_after_iw = true; // tcp_update_skb_after_send: the first 10 MSS unpaced
    t.linux_hystart = true; // tcp_cubic.c: hystart=1, hystart_detect=3
    t.rack_linux_rtt = true; // tcp_rack_advance: RACK.rtt from the last segment delivered
    for flag in flags.split([',', ' ']).filter(|f| !f.is_empty()) {
        match flag {
            "no_tso" => cfg.offload = false,
            "no_timestamps" => cfg.tcp.timestamps = false,
            "no_sack" => cfg.tcp.sack = false,
            _ => {}
        }
    }
    if !cfg.offload {
        cfg.tcp.gso_max_payload = 0;
    }
    cfg
}

/// Linux's `struct tcp_info` for a connection, written into `out` (zeroed first; the
/// fields we have no counterpart for stay 0); returns `out.len()`, as Linux fills what
/// the caller asked for.
pub fn tcp_info(conn: Option<&Connection>, now: Instant, out: &mut [u8]) -> usize {
    let mut b = [0u8; 240];
    if let Some(c) = conn {
        let i = c.info(now);
        let sat = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let put = |b: &mut [u8; 240], off: usize, v: u32| {
            b[off..off + 4].copy_from_slice(&v.to_ne_bytes())
        };
        let put64 = |b: &mut [u8; 240], off: usize, v: u64| {
            b[off..off + 8].copy_from_slice(&v.to_ne_bytes())
        };
        b[0] = linux_state(i.state);
        b[1] = i.ca_state as u8;
        b[2] = u8::try_from(i.backoff).unwrap_or(u8::MAX); // retransmits
        b[3] = u8::try_from(i.probes).unwrap_or(u8::MAX);
        b[4] = u8::try_from(i.backoff).unwrap_or(u8::MAX);
        b[5] = u8::from(i.timestamps)
            | (u8::from(i.sack) << 1)
            | (u8::from(i.wscale.is_some()) << 2)
            | (u8::from(i.ecn) << 3)
            | (u8::from(i.ecn_seen) << 4);
        if let Some((snd, rcv)) = i.wscale {
            b[6] = (snd & 0xf) | (rcv << 4);
        }
        put(&mut b, 8, sat(i.rto.micros()));
        put(&mut b, 12, sat(i.ato.micros()));
        put(&mut b, 16, i.mss);
        put(&mut b, 20, i.rcv_mss);
        put(&mut b, 24, i.unacked);
        put(&mut b, 28, i.sacked);
        put(&mut b, 32, i.lost);
        put(&mut b, 36, i.retrans);
        put(&mut b, 44, sat(i.last_send.millis()));
        put(&mut b, 52, sat(i.last_recv.millis()));
        put(&mut b, 56, sat(i.last_ack.millis()));
        put(&mut b, 60, i.pmtu);
        if let Some((srtt, var)) = i.rtt {
            put(&mut b, 68, sat(srtt.micros()));
            put(&mut b, 72, sat(var.micros()));
        }
        put(&mut b, 76, i.ssthresh.unwrap_or(0x7fff_ffff));
        put(&mut b, 80, i.cwnd);
        put(&mut b, 84, i.advmss);
        put(&mut b, 88, i.reordering);
        put(&mut b, 100, sat(i.total_retrans));
        put64(&mut b, 104, i.pacing_bps.map_or(0, |v| v / 8));
        put64(&mut b, 112, u64::MAX);
        put64(&mut b, 120, i.bytes_acked);
        put64(&mut b, 128, i.bytes_received);
        put(&mut b, 136, sat(i.segs_out));
        put(&mut b, 140, sat(i.segs_in));
        put(&mut b, 144, i.notsent);
        put(&mut b, 148, i.min_rtt.map_or(u32::MAX, |d| sat(d.micros())));
        put(&mut b, 152, sat(i.data_segs_in));
        put(&mut b, 156, sat(i.data_segs_out));
        put64(&mut b, 168, i.busy.micros());
        put64(&mut b, 176, i.rwnd_limited.micros());
        put64(&mut b, 184, i.sndbuf_limited.micros());
        put(&mut b, 196, sat(i.delivered_ce));
        put64(&mut b, 200, i.bytes_sent);
        put64(&mut b, 208, i.bytes_retrans);
        put(&mut b, 216, sat(i.dsack_dups));
        put(&mut b, 220, i.reord_seen);
        put(&mut b, 228, i.snd_wnd);
        put(&mut b, 232, i.rcv_wnd);
    }
    out.fill(0);
    let n = out.len().min(b.len());
    out[..n].copy_from_slice(&b[..n]);
    out.len()
}

/// A route command a script ran (`ip route add|change|replace DST ... mtu [lock] M advmss
/// A initcwnd N`, as scripts/packetdrill.sh records it) as the stack's route to DST; other
/// words (`via`, `dev`) are ignored. `None` for anything else.
pub fn route_command(line: &str) -> Option<(Ipv4Addr, RouteMetrics)> {
    let mut w = line.split_whitespace();
    if w.next() != Some("ip") || w.next() != Some("route") {
        return None;
    }
    if !matches!(w.next(), Some("add" | "change" | "replace")) {
        return None;
    }
    let dst = w.next()?.trim_end_matches("/32").parse().ok()?;
    let mut r = RouteMetrics::default();
    while let Some(key) = w.next() {
        match key {
            "mtu" => {
                let mut v = w.next()?;
                if v == "lock" {
                    v = w.next()?;
                }
                r.mtu = v.parse().ok();
            }
            "advmss" => r.advmss = w.next()?.parse().ok(),
            "initcwnd" => r.initcwnd = w.next()?.parse().ok(),
            _ => {}
        }
    }
    Some((dst, r))
}

/// Linux's `TCP_ESTABLISHED` .. `TCP_CLOSING` numbering.
fn linux_state(s: tuntcp::tcp::State) -> u8 {
    use tuntcp::tcp::State::*;
    match s {
        Established => 1,
        SynSent => 2,
        SynReceived => 3,
        FinWait1 => 4,
        FinWait2 => 5,
        TimeWait => 6,
        Closed => 7,
        CloseWait => 8,
        LastAck => 9,
        Listen => 10,
        Closing => 11,
    }
}

/// Applies what a script asked of the host's sysctls and devices (scripts/packetdrill.sh
/// records each `sysctl`, `set_sysctls.py` and `ethtool` call as a line, e.g.
/// `sysctl -q net.ipv4.tcp_timestamps=0` or `set_sysctls /proc/sys/net/ipv4/tcp_wmem=4096
/// 50000 4194304`) to the defaults of new connections. Unknown keys are ignored; returns
/// the keys applied.
pub fn apply_host_commands(t: &mut tuntcp::tcp::Config, lines: &str) -> Vec<String> {
    let mut applied = Vec::new();
    for line in lines.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("sysctl") | Some("set_sysctls") => {}
            Some("tc") => {
                // The fq qdisc: Linux paces every flow (`sk_pacing_status` SK_PACING_FQ).
                if line.contains("qdisc") && line.split_whitespace().any(|w| w == "fq") {
                    t.pacing = tuntcp::tcp::Pacing::On;
                    applied.push("fq".to_string());
                }
                continue;
            }
            Some("ethtool") => {
                if line.contains("tso off") {
                    t.gso_max_payload = 0;
                    applied.push("tso".to_string());
                }
                continue;
            }
            _ => continue,
        }
        // key=value words; a word without '=' continues the previous value.
        let mut pairs: Vec<(String, String)> = Vec::new();
        for w in words.filter(|w| !w.starts_with('-')) {
            match w.split_once('=') {
                Some((k, v)) => {
                    let k = k.trim_start_matches("/proc/sys/").replace('/', ".");
                    let k = k.rsplit('.').next().unwrap_or("").to_string();
                    pairs.push((k, v.trim_matches('"').to_string()));
                }
                None => {
                    if let Some(p) = pairs.last_mut() {
                        p.1.push(' ');
                        p.1.push_str(w.trim_matches('"'));
                    }
                }
            }
        }
        for (k, v) in pairs {
            let num = |i: usize| {
                v.split_whitespace()
                    .nth(i)
                    .and_then(|x| x.parse::<usize>().ok())
            };
            let ok = match k.as_str() {
                "tcp_timestamps" => num(0).map(|n| t.timestamps = n != 0).is_some(),
                "tcp_sack" => num(0).map(|n| t.sack = n != 0).is_some(),
                "tcp_window_scaling" => num(0).map(|n| t.window_scaling = n != 0).is_some(),
                "tcp_ecn" => num(0)
                    .filter(|&n| n <= 2)
                    .map(|n| t.ecn = n as u8)
                    .is_some(),
                "tcp_wmem" => num(1).map(|n| t.send_buffer = n).is_some(),
                "tcp_rmem" => num(1).map(|n| t.recv_buffer = n / 2).is_some(),
                "tcp_notsent_lowat" => num(0)
                    .map(|n| t.notsent_lowat = u32::try_from(n).unwrap_or(u32::MAX))
                    .is_some(),
                "tcp_slow_start_after_idle" => {
                    num(0).map(|n| t.slow_start_after_idle = n != 0).is_some()
                }
                "tcp_mtu_probing" => num(0)
                    .map(|n| t.mtu_probing = u8::try_from(n).unwrap_or(2))
                    .is_some(),
                "tcp_base_mss" => num(0)
                    .map(|n| t.base_mss = u16::try_from(n).unwrap_or(u16::MAX))
                    .is_some(),
                "tcp_synack_retries" => num(0)
                    .map(|n| t.synack_retries = u32::try_from(n).unwrap_or(u32::MAX))
                    .is_some(),
                "tcp_congestion_control" => match v.as_str() {
                    "cubic" => {
                        t.congestion = tuntcp::tcp::congestion::Algorithm::Cubic;
                        true
                    }
                    "reno" => {
                        t.congestion = tuntcp::tcp::congestion::Algorithm::NewReno;
                        true
                    }
                    "bbr" => {
                        t.congestion = tuntcp::tcp::congestion::Algorithm::Bbr;
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if ok {
                applied.push(k);
            }
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_commands_set_the_defaults_of_new_connections() {
        let mut t = stack_config("").tcp;
        let applied = apply_host_commands(
            &mut t,
            "sysctl -q net.ipv4.tcp_timestamps=0\n\
             set_sysctls /proc/sys/net/ipv4/tcp_wmem=4096 50000 4194304 /proc/sys/net/ipv4/tcp_sack=0\n\
             tc qdisc replace dev tun0 root fq\n\
             ethtool -K tun0 tso off gso off\n\
             sysctl -q net.ipv4.tcp_min_tso_segs=10\n",
        );
        assert_eq!(
            applied,
            ["tcp_timestamps", "tcp_wmem", "tcp_sack", "fq", "tso"]
        );
        assert!(!t.timestamps && !t.sack);
        assert_eq!(t.pacing, tuntcp::tcp::Pacing::On, "fq paces every flow");
        assert_eq!(t.send_buffer, 50000);
        assert_eq!(t.gso_max_payload, 0);
    }

    #[test]
    fn route_commands_become_route_metrics() {
        let (dst, r) = route_command(
            "ip route change 192.0.2.1 via 192.168.0.2 dev tun0 advmss 600 mtu lock 640 initcwnd 11",
        )
        .unwrap();
        assert_eq!(dst, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(
            r,
            RouteMetrics {
                mtu: Some(640),
                advmss: Some(600),
                initcwnd: Some(11)
            }
        );
        assert_eq!(route_command("ip route show"), None);
        assert_eq!(route_command("ip link set tun0 up"), None);
    }
}
