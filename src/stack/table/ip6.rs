//! IPv6 input and the IPv6 side of output (RFC 8200): address checks, the extension-header
//! actions the wire layer reports (Parameter Problem, RFC 4443 §3.4, rate-limited per
//! §2.4(f)), ICMPv6 echo, ICMPv6 errors steered to connections, TCP into the one
//! connection table, flow labels on what we send (RFC 6437).
//!
//! Fragments are reassembled ([`crate::stack::frag6`]); atomic ones (RFC 6946) need not be.
//!
//! Packet Too Big lowers the path MTU as IPv4's Fragmentation Needed does (RFC 8201).
//!
//! Counted in the `Ip6*` and `Icmp6*` counters where Linux counts them (`ip6_rcv_core`,
//! `ip6_input_finish`, `icmpv6_rcv`); TCP over IPv6 in the shared `Tcp*` ones.
//!
//! What this module does not do: Neighbor Discovery or MLD (a TUN is point to point).

use super::{Stack, StackConfig, Tuple};
use crate::stack::addr6::{is_destination_for, is_valid_source};
use crate::stack::frag6::{self, Reassembler6};
use crate::stack::icmp::IcmpAction;
use crate::stack::icmp6::{self, echo_reply, may_send_error, Icmp6Action, RateLimit};
use crate::stack::keyed::{label, Prf};
use crate::tcp::pmtu::MIN_IPV6_MTU;
use crate::tcp::SeqNum;
use crate::time::Instant;
use crate::wire::offload::RxOffload;
use crate::wire::{
    flow_label, icmpv6_error_quote, DiscardReason, EmitError, ExtAction, Icmpv6Message,
    Icmpv6Packet, Ip6Meta, Ipv6Packet, Packet6, Segment, WireError, IPPROTO_ICMPV6, IPPROTO_TCP,
    IPV6_HEADER_LEN, PP_UNRECOGNIZED_NEXT_HEADER,
};
use std::net::{IpAddr, SocketAddr};

/// Per-stack IPv6 settings and state.
pub(in crate::stack) struct V6State {
    /// MSS for IPv6 connections: MTU - 60 (RFC 9293 §3.7.1).
    pub(super) mss: u16,
    /// The flow label key, derived from the seed (RFC 6437 §3: a secret).
    flow_key: (u64, u64),
    /// RFC 4443 §2.4(f).
    errors: RateLimit,
    /// RFC 8200 §4.5.
    pub(super) reasm: Reassembler6,
}

impl V6State {
    pub(super) fn new(cfg: &StackConfig) -> V6State {
        V6State {
            mss: cfg.mtu.saturating_sub(60).clamp(64, 65475) as u16,
            flow_key: Prf::new(cfg.seed, label::FLOW_LABEL).key(),
            errors: RateLimit::new(),
            reasm: Reassembler6::new(frag6::default_limits(), cfg.seed),
        }
    }

    /// The flow label of our packets from `local` to `remote`; 0 for IPv4.
    pub(super) fn flow_label(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        match (local, remote) {
            (SocketAddr::V6(l), SocketAddr::V6(r)) => flow_label(self.flow_key, l, r),
            _ => 0,
        }
    }
}

/// Writes `seg` (either family) with `label` as its IPv6 flow label: whole, with a partial
/// checksum, or only its headers (`gather`), as `Segment`'s emits do.
pub(super) fn emit_segment(
    seg: &Segment<'_>,
    label: u32,
    out: &mut [u8],
    gather: bool,
    csum_partial: bool,
) -> Result<usize, EmitError> {
    match seg.to_v6(label) {
        Some(s) if gather => s.emit_headers(out, csum_partial),
        Some(s) if csum_partial => s.emit_csum_partial(out),
        Some(s) => s.emit(out),
        None if gather => seg.emit_headers(out, csum_partial),
        None if csum_partial => seg.emit_csum_partial(out),
        None => seg.emit(out),
    }
}

impl Stack {
    /// One IPv6 packet from the link (called by `handle_packet_offload` for version 6).
    pub(super) fn handle_packet6(&mut self, now: Instant, bytes: &[u8], rx: RxOffload) {
        self.counters.ip6_in_receives += 1;
        self.counters.ip6_in_octets += bytes.len() as u64;
        let Some(ours) = self.cfg.addr6 else {
            log::debug!(target: "tuntcp::packet", "drop: IPv6 packet, no IPv6 address");
            // As Linux with disable_ipv6 (ip6_rcv_core).
            self.counters.ip6_in_discards += 1;
            return;
        };
        // As ip6_rcv_core: by the ECN bits of the Traffic Class (RFC 3168 §5).
        if bytes.len() >= 40 {
            self.counters.count_ecn6(bytes[1] >> 4);
        }
        let ip = match Ipv6Packet::parse(bytes) {
            Ok(ip) => ip,
            Err(e) => {
                log::debug!(target: "tuntcp::packet", "drop: {e}");
                // As ip6_rcv_core: shorter than the Payload Length says is InTruncatedPkts.
                match e {
                    WireError::BadPayloadLength { .. } => self.counters.ip6_in_truncated_pkts += 1,
                    _ => self.counters.ip6_in_hdr_errors += 1,
                }
                return;
            }
        };
        if ip.dst.is_multicast() {
            self.counters.ip6_in_mcast_pkts += 1;
        }
        // A host does not forward (RFC 8200 §1); multicast (ND, MLD) is not for a TUN stack.
        // The transparent prefixes take TCP only: `deliver6` drops the rest for them.
        let for_us = is_destination_for(ours, ip.dst)
            || (!ip.dst.is_multicast() && self.is_transparent_dst(IpAddr::V6(ip.dst)));
        if !for_us {
            log::debug!(target: "tuntcp::packet", "drop: {} > {} not for us", ip.src, ip.dst);
            self.counters.ip6_in_addr_errors += 1;
            return;
        }
        if !is_valid_source(ours, ip.src) {
            log::debug!(target: "tuntcp::packet", "drop: {} > {} bad source", ip.src, ip.dst);
            // Linux's ip6_rcv_core counts a multicast or loopback source as a header error.
            self.counters.ip6_in_hdr_errors += 1;
            return;
        }
        self.deliver6(now, bytes, ip, rx.csum_trusted, true);
    }

    /// A packet for us (or one reassembled, `fragments` false: a fragment inside it is
    /// dropped), by what it carries; `ip` is `bytes` parsed (once: the caller did).
    fn deliver6(
        &mut self,
        now: Instant,
        bytes: &[u8],
        ip: Ipv6Packet<'_>,
        csum_trusted: bool,
        fragments: bool,
    ) {
        match Packet6::from_ip_offload(ip, csum_trusted) {
            Ok(Packet6::Tcp(seg6)) => {
                self.counters.ip6_in_delivers += 1;
                self.counters.tcp_in_segs += 1;
                log::debug!(target: "tuntcp::packet", "in  {seg6}");
                self.handle_segment(now, &Segment::from(seg6));
            }
            Ok(Packet6::Icmp(icmp)) if Some(icmp.dst) == self.cfg.addr6 => {
                self.counters.ip6_in_delivers += 1;
                self.counters.icmp6_in_msgs += 1;
                log::debug!(target: "tuntcp::packet", "in  {icmp}");
                self.handle_icmp6(now, &icmp);
            }
            Ok(Packet6::Fragment(ip, chain)) => {
                let Some(frag) = chain.fragment.filter(|_| fragments) else {
                    log::debug!(target: "tuntcp::packet", "drop: {ip}: a fragment in a reassembled packet");
                    return;
                };
                let packet = &bytes[..(IPV6_HEADER_LEN + ip.payload.len()).min(bytes.len())];
                let whole = self.v6.reasm.handle_fragment(
                    now,
                    packet,
                    (ip.src, ip.dst),
                    &frag,
                    chain.payload,
                );
                self.counters.set_reassembly6(&self.v6.reasm.stats());
                if let Some(whole) = whole {
                    match Ipv6Packet::parse(&whole) {
                        Ok(ip) => self.deliver6(now, &whole, ip, false, false),
                        Err(e) => {
                            log::debug!(target: "tuntcp::packet", "drop: reassembled: {e}");
                            self.counters.ip6_in_hdr_errors += 1;
                        }
                    }
                }
            }
            Ok(Packet6::Icmp(icmp)) => {
                log::debug!(target: "tuntcp::packet", "drop: {icmp}: ICMPv6 to a transparent address");
            }
            Ok(Packet6::Refused(ip, action)) if Some(ip.dst) == self.cfg.addr6 => {
                log::debug!(target: "tuntcp::packet", "drop: {ip} ({action})");
                // As Linux: an unknown Next Header is InUnknownProtos, No Next Header is
                // delivered (to nothing), an extension header refused is a header error.
                match action {
                    ExtAction::ParameterProblem {
                        code: PP_UNRECOGNIZED_NEXT_HEADER,
                        ..
                    } => self.counters.ip6_in_unknown_protos += 1,
                    ExtAction::Discard(DiscardReason::NoNextHeader) => {
                        self.counters.ip6_in_delivers += 1
                    }
                    _ => self.counters.ip6_in_hdr_errors += 1,
                }
                if let ExtAction::ParameterProblem { code, pointer } = action {
                    let invoking = &bytes[..(IPV6_HEADER_LEN + ip.payload.len()).min(bytes.len())];
                    self.parameter_problem6(now, &ip, code, pointer, invoking);
                }
            }
            Ok(Packet6::Refused(ip, action)) => {
                log::debug!(target: "tuntcp::packet", "drop: {ip} ({action}), to a transparent address");
            }
            Err(e) => {
                log::debug!(target: "tuntcp::packet", "drop: {e}");
                // As Linux: delivered to TCP or ICMPv6 (and counted received there) before
                // that protocol finds it malformed; a broken chain is a header error.
                let upper = ip.chain().map(|c| c.upper);
                match upper {
                    Ok(IPPROTO_TCP) => self.counters.ip6_in_delivers += 1,
                    Ok(IPPROTO_ICMPV6) => {
                        self.counters.ip6_in_delivers += 1;
                        self.counters.icmp6_in_msgs += 1;
                        self.counters.icmp6_in_errors += 1;
                        if e == WireError::BadIcmpv6Checksum {
                            self.counters.icmp6_in_csum_errors += 1;
                        }
                    }
                    _ => self.counters.ip6_in_hdr_errors += 1,
                }
                if matches!(e, WireError::BadTcpChecksum) {
                    self.counters.tcp_in_segs += 1;
                    self.counters.tcp_in_errs += 1;
                    self.counters.tcp_in_csum_errors += 1;
                } else if matches!(
                    e,
                    WireError::BadDataOffset(_) | WireError::BadOptionLength { .. }
                ) {
                    self.counters.tcp_in_segs += 1;
                    self.counters.tcp_in_errs += 1;
                }
            }
        }
    }

    /// ICMPv6 Parameter Problem about `ip` (RFC 4443 §3.4), quoting as much of `invoking`
    /// as fits the minimum MTU, unless §2.4(e) forbids it or the rate limit (§2.4(f))
    /// says wait.
    fn parameter_problem6(
        &mut self,
        now: Instant,
        ip: &Ipv6Packet<'_>,
        code: u8,
        pointer: u32,
        invoking: &[u8],
    ) {
        if !may_send_error(ip) {
            return;
        }
        if !self.v6.errors.allow(now) {
            log::debug!(target: "tuntcp::packet", "ICMPv6 error rate-limited (RFC 4443 2.4(f))");
            return;
        }
        let pp = Icmpv6Packet {
            src: ip.dst,
            dst: ip.src,
            ip: Ip6Meta {
                hop_limit: self.cfg.tcp.ttl,
                ..Ip6Meta::default()
            },
            message: Icmpv6Message::ParameterProblem {
                code,
                pointer,
                original: icmpv6_error_quote(invoking),
            },
        };
        self.queue_icmp6(&pp);
    }

    fn queue_icmp6(&mut self, p: &Icmpv6Packet<'_>) {
        let mut buf = vec![0; p.buffer_len()];
        if p.emit(&mut buf).is_ok() {
            log::debug!(target: "tuntcp::packet", "out {p}");
            self.control.push_back(buf);
            let c = &mut self.counters;
            c.icmp6_out_msgs += 1;
            match p.message {
                Icmpv6Message::EchoReply { .. } => c.icmp6_out_echo_replies += 1,
                Icmpv6Message::ParameterProblem { .. } => c.icmp6_out_parm_problems += 1,
                Icmpv6Message::TimeExceeded { .. } => c.icmp6_out_time_excds += 1,
                _ => {}
            }
        }
    }

    fn handle_icmp6(&mut self, now: Instant, icmp: &Icmpv6Packet<'_>) {
        // Each well-formed message by type, as Linux's ICMP6MSGIN_INC_STATS.
        let c = &mut self.counters;
        match icmp.message {
            Icmpv6Message::DestUnreachable { .. } => c.icmp6_in_dest_unreachs += 1,
            Icmpv6Message::PacketTooBig { .. } => c.icmp6_in_pkt_too_bigs += 1,
            Icmpv6Message::TimeExceeded { .. } => c.icmp6_in_time_excds += 1,
            Icmpv6Message::ParameterProblem { .. } => c.icmp6_in_parm_problems += 1,
            Icmpv6Message::EchoRequest { .. } => c.icmp6_in_echos += 1,
            Icmpv6Message::EchoReply { .. } => c.icmp6_in_echo_replies += 1,
            Icmpv6Message::Other { .. } => {}
        }
        // Deviation: a reply larger than the MTU (to a reassembled request) leaves whole;
        // we do not fragment (RFC 8200 §5 lets a source do so). A TUN takes it.
        if let Some(reply) = echo_reply(icmp, self.cfg.tcp.ttl) {
            self.queue_icmp6(&reply);
            return;
        }
        // MUST-54: steer an error to the connection its quote names.
        let (Some(act), Some(q)) = (
            icmp6::action(&icmp.message),
            icmp6::quoted_tcp(&icmp.message),
        ) else {
            return;
        };
        let Some(&idx) = self.by_tuple.get(&Tuple::new(q.local, q.remote)) else {
            return;
        };
        let hard = match act {
            Icmp6Action::Tcp(IcmpAction::Abort) => true,
            Icmp6Action::Tcp(IcmpAction::Soft) => false,
            Icmp6Action::Tcp(_) => return,
            Icmp6Action::PacketTooBig { mtu } => {
                self.packet_too_big6(now, idx, mtu, SeqNum(q.seq));
                return;
            }
        };
        if let Some(slot) = self.slots[idx].as_mut() {
            slot.conn.handle_icmp_error(now, hard, SeqNum(q.seq));
        }
        self.mark_dirty(idx);
        self.drain_events(idx);
        self.touch(idx);
    }

    /// Reassembly timeouts: ICMPv6 Time Exceeded code 1 when fragment 0 had arrived (RFC
    /// 8200 §4.5), rate-limited (RFC 4443 §2.4(f)).
    pub(super) fn handle_timeout6(&mut self, now: Instant) {
        let expired = self.v6.reasm.handle_timeout(now);
        self.counters.set_reassembly6(&self.v6.reasm.stats());
        for exp in expired {
            let Some(quote) = exp.quote else {
                continue;
            };
            if !self.v6.errors.allow(now) {
                continue;
            }
            let te = Icmpv6Packet {
                src: exp.dst,
                dst: exp.src,
                ip: Ip6Meta {
                    hop_limit: self.cfg.tcp.ttl,
                    ..Ip6Meta::default()
                },
                message: Icmpv6Message::TimeExceeded {
                    code: 1,
                    original: &quote,
                },
            };
            self.queue_icmp6(&te);
        }
    }

    /// Packet Too Big for connection `idx` (RFC 8201 §4; RFC 5927 §4.1: only when it quotes
    /// a sequence number in SND.UNA..SND.NXT): lowers the destination's path MTU in the cache
    /// and in the connection, which resends what no longer fits (as IPv4's Frag Needed,
    /// `Stack::path_mtu_signal`), never below IPv6's minimum link MTU of 1280 (RFC 8200 §5).
    fn packet_too_big6(&mut self, now: Instant, idx: usize, mtu: u32, seq: SeqNum) {
        let Some(slot) = self.slots[idx].as_mut() else {
            return;
        };
        if !slot.conn.icmp_seq_in_window(seq) {
            self.counters.tcp_ext_out_of_window_icmps += 1;
            return;
        }
        let dst = slot.conn.remote().ip();
        let link = u32::try_from(self.cfg.mtu).unwrap_or(u32::MAX);
        let mtu = self.pmtu.lower(now, dst, mtu, MIN_IPV6_MTU.min(link), link);
        let update = slot.conn.handle_path_mtu(now, mtu, seq);
        log::debug!(target: "tuntcp::packet", "packet too big mtu {mtu}: {update:?}");
        self.mark_dirty(idx);
        self.drain_events(idx);
        self.touch(idx);
    }
}
