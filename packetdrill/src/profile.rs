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
//! - the addresses of packetdrill's IPv4 defaults (`--local_ip=192.168.0.1`, /16).
//!
//! The same as ours already: IW10, min RTO 200 ms, initial RTO 1 s, delayed ACK 40 ms,
//! SACK and timestamps on, CUBIC, SYN-ACK retries 5.

use std::net::Ipv4Addr;

use tuntcp::stack::{StackConfig, GSO_MAX_PAYLOAD};
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
        b[2] = u8::try_from(i.backoff).unwrap_or(u8::MAX); // retransmits
        b[4] = u8::try_from(i.backoff).unwrap_or(u8::MAX);
        b[5] =
            u8::from(i.timestamps) | (u8::from(i.sack) << 1) | (u8::from(i.wscale.is_some()) << 2);
        if let Some((snd, rcv)) = i.wscale {
            b[6] = (snd & 0xf) | (rcv << 4);
        }
        put(&mut b, 8, sat(i.rto.micros()));
        put(&mut b, 12, sat(i.ato.micros()));
        put(&mut b, 16, i.mss);
        put(&mut b, 20, i.rcv_mss);
        put(&mut b, 24, i.unacked);
        put(&mut b, 28, i.sacked);
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
        put(&mut b, 88, 3); // reordering: tcp_reordering
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
        put64(&mut b, 200, i.bytes_sent);
        put64(&mut b, 208, i.bytes_retrans);
        put(&mut b, 216, sat(i.dsack_dups));
        put(&mut b, 228, i.snd_wnd);
        put(&mut b, 232, i.rcv_wnd);
    }
    out.fill(0);
    let n = out.len().min(b.len());
    out[..n].copy_from_slice(&b[..n]);
    out.len()
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
