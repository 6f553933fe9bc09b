//! Opening connections: passive, active, simultaneous, SYN-SENT corner cases, RSTs for
//! closed ports and listeners (RFC 9293 §3.5, §3.10.7.1-3).

mod support;

use support::*;
use tuntcp::tcp::{Error, State};
use tuntcp::wire::TcpFlags;

const SYNACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
const RSTACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);

#[test]
fn passive_open_completes_three_way_handshake() {
    let mut t = Harness::server(80);
    t.send(at(0), seg().syn().seq(1000).win(65535).mss(1460));
    let sa = t.expect(
        at(0),
        seg().flags(SYNACK).ack(1001).mss(1460).no_ts().no_ws(),
    );
    t.send(at(10), seg().ack_flag().seq(1001).ack(sa.seq + 1));
    let h = t.stack.accept(80).expect("accepted");
    assert_eq!(t.state(h), State::Established);
    t.expect_nothing_until(at(5000));
}

#[test]
fn must_44_active_open_sends_syn_from_our_address_with_options() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.flush();
    let syn = t.expect(
        at(0),
        // Scale 7: chosen from the largest buffer auto-tuning may reach (tcp_rmem[2],
        // 6 MiB), as Linux does (RFC 7323 §2.3).
        seg().flags(TcpFlags::SYN).mss(1460).ws(7).sack_perm(),
    );
    assert!(syn.options.timestamps.is_some());
    t.us = syn.src;
    assert_eq!(
        syn.src.ip(),
        US,
        "MUST-44: the source is our interface address"
    );
    t.send(
        at(20),
        seg().syn().ack_flag().seq(5000).ack(syn.seq + 1).mss(1200),
    );
    t.expect(
        at(20),
        seg().flags(TcpFlags::ACK).seq(syn.seq + 1).ack(5001),
    );
    assert_eq!(t.state(h), State::Established);
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 1200);
}

#[test]
fn must_18_syn_retransmitted_after_initial_rto_with_backoff() {
    let mut t = Harness::with_config(Harness::config());
    t.stack.connect(instant(0), t.peer).unwrap();
    t.flush();
    let syn = t.expect(at(0), seg().flags(TcpFlags::SYN));
    t.expect_nothing_until(at(999));
    t.expect(at(1000), seg().flags(TcpFlags::SYN).seq(syn.seq)); // RFC 6298 2.1: 1 s
    t.expect(at(3000), seg().flags(TcpFlags::SYN).seq(syn.seq)); // 5.5: doubled
    t.expect(at(7000), seg().flags(TcpFlags::SYN).seq(syn.seq));
}

#[test]
fn must_22_must_23_u_1_syn_retried_for_at_least_three_minutes_then_timed_out() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.advance(179_999);
    assert_eq!(t.state(h), State::SynSent, "still trying before 180 s");
    let syns = t
        .drain()
        .iter()
        .filter(|s| s.flags == TcpFlags::SYN)
        .count();
    assert!(syns >= 7, "{syns} SYNs in 180 s");
    // SYNs at 0, 1, 3, 7, 15, 31, 63, 127 s; the next RTO (120 s, the maximum) is clamped
    // to the deadline, so the connect fails at 180 s, not at 247 s.
    t.advance(180_000);
    assert_eq!(t.state(h), State::Closed, "gave up at the 180 s deadline");
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(Error::TimedOut));
}

#[test]
fn must_10_case_1_simultaneous_open() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.flush();
    let syn = t.expect(at(0), seg().flags(TcpFlags::SYN));
    t.us = syn.src;
    // The peer's SYN crosses ours.
    t.send(at(5), seg().flags(TcpFlags::SYN).seq(7000).mss(1460));
    t.expect(at(5), seg().flags(SYNACK).seq(syn.seq).ack(7001));
    assert_eq!(t.state(h), State::SynReceived);
    // Its SYN-ACK repeats SEQ=7000: accepted at once (docs/conformance.md, case 1), not after
    // a timeout.
    t.send(at(6), seg().syn().ack_flag().seq(7000).ack(syn.seq + 1));
    assert_eq!(t.state(h), State::Established);
}

#[test]
fn must_11_passive_syn_received_reset_returns_to_listen() {
    let mut t = Harness::server(80);
    t.send(at(0), seg().syn().seq(1000));
    t.expect(at(0), seg().flags(SYNACK).ack(1001));
    t.send(at(1), seg().rst().seq(1001));
    assert_eq!(t.stack.connections().count(), 0, "half-open TCB removed");
    // The listener still answers a fresh SYN.
    t.send(at(2), seg().syn().seq(9000));
    t.expect(at(2), seg().flags(SYNACK).ack(9001));
}

#[test]
fn must_11_active_simultaneous_open_reset_is_refused() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.flush();
    let syn = t.expect(at(0), seg().flags(TcpFlags::SYN));
    t.us = syn.src;
    t.send(at(5), seg().flags(TcpFlags::SYN).seq(7000));
    t.expect(at(5), seg().flags(SYNACK));
    t.send(at(6), seg().rst().seq(7001));
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(Error::Refused));
}

#[test]
fn u_3_case_4_rst_in_syn_sent_needs_an_acceptable_ack() {
    // Checklist case 4.
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.flush();
    let syn = t.expect(at(0), seg().flags(TcpFlags::SYN));
    t.us = syn.src;
    let iss = syn.seq;
    t.send(at(1), seg().flags(RSTACK).seq(0).ack(iss + 5)); // ACK beyond SND.NXT: dropped
    t.send(at(2), seg().rst().seq(0)); // no ACK: dropped
    assert_eq!(t.state(h), State::SynSent);
    t.expect_nothing_until(at(3));
    t.send(at(4), seg().ack_flag().seq(55).ack(iss + 9)); // bad ACK without RST: RST back
    t.expect(at(4), seg().flags(TcpFlags::RST).seq(iss + 9));
    t.send(at(5), seg().flags(RSTACK).seq(0).ack(iss + 1));
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(Error::Refused));
}

#[test]
fn case_12_closed_port_gets_rst_in_the_exact_rfc_forms() {
    // Checklist case 12: SYN+FIN+3 bytes to a closed port: ACK = SEQ + 5.
    let mut t = Harness::with_config(Harness::config());
    t.send(
        at(0),
        seg()
            .flags(TcpFlags::SYN | TcpFlags::FIN)
            .seq(100)
            .data(b"abc"),
    );
    t.expect(at(0), seg().flags(RSTACK).seq(0).ack(105));
    t.send(at(1), seg().ack_flag().seq(100).ack(4242));
    t.expect(at(1), seg().flags(TcpFlags::RST).seq(4242));
    // Never answer a RST.
    t.send(at(2), seg().rst().seq(1));
    t.expect_nothing_until(at(10));
}

#[test]
fn listener_answers_ack_with_rst_and_ignores_rst() {
    let mut t = Harness::server(80);
    t.send(at(0), seg().ack_flag().seq(1).ack(777));
    t.expect(at(0), seg().flags(TcpFlags::RST).seq(777));
    t.send(at(1), seg().rst().seq(1));
    t.expect_nothing_until(at(10));
}

#[test]
fn case_15_duplicate_syn_in_syn_received_resends_syn_ack_one_tcb() {
    // Checklist case 15.
    let mut t = Harness::server(80);
    t.send(at(0), seg().syn().seq(1000));
    let sa = t.expect(at(0), seg().flags(SYNACK).ack(1001));
    t.send(at(100), seg().syn().seq(1000));
    t.expect(at(100), seg().flags(SYNACK).seq(sa.seq).ack(1001));
    assert_eq!(t.stack.connections().count(), 1);
    t.send(at(110), seg().ack_flag().seq(1001).ack(sa.seq + 1));
    assert!(t.stack.accept(80).is_some());
}

#[test]
fn syn_ack_retransmitted_when_final_ack_lost() {
    let mut t = Harness::server(80);
    t.send(at(0), seg().syn().seq(1000));
    let sa = t.expect(at(0), seg().flags(SYNACK));
    t.expect(at(1000), seg().flags(SYNACK).seq(sa.seq).ack(1001));
}

#[test]
fn must_15_no_mss_option_means_536() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.send(h, &[7u8; 3000]).unwrap();
    t.flush();
    let segs = t.drain();
    assert!(!segs.is_empty());
    for s in &segs {
        assert!(s.payload.len() <= 536, "{}", s.line);
    }
    assert_eq!(segs[0].seq, iss + 1);
}

#[test]
fn must_14_must_16_peer_mss_limits_payload_minus_timestamp_option() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish(0, 1000, seg().mss(1000).ts(5, 0));
    t.stack.send(h, &[1u8; 5000]).unwrap();
    t.flush();
    let segs = t.drain();
    assert_eq!(
        segs[0].payload.len(),
        988,
        "1000 - 12 bytes of timestamp option"
    );
    for s in &segs {
        assert!(s.payload.len() <= 988);
    }
}

#[test]
fn must_4_must_6_unknown_option_skipped_and_mss_honoured() {
    let mut t = Harness::server(80);
    // Hand-built SYN: kind 253 len 6 before MSS 800 (etherparse writes the header).
    let mut raw = t.build(&seg().syn().seq(1000).mss(800));
    // Replace the MSS option area: our emitter wrote [2,4,3,0x20]; rebuild with unknown first.
    let tcp_start = 20;
    raw[tcp_start + 12] = 0x80; // data offset 8 words = 32 bytes
    let opts = [253u8, 6, 0, 0, 0, 0, 2, 4, 0x03, 0x20, 1, 0];
    let mut pkt = raw[..tcp_start + 20].to_vec();
    pkt.extend_from_slice(&opts);
    fix_tcp_packet(&mut pkt);
    t.send_raw(at(0), &pkt);
    let sa = t.expect(at(0), seg().flags(SYNACK).ack(1001));
    t.send(at(1), seg().ack_flag().seq(1001).ack(sa.seq + 1));
    let h = t.stack.accept(80).unwrap();
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 800);
}

#[test]
fn must_57_syn_to_broadcast_or_foreign_address_is_ignored() {
    let mut t = Harness::server(80);
    for dst in ["10.66.0.255", "255.255.255.255", "224.0.0.1", "10.66.0.9"] {
        let to = std::net::SocketAddrV4::new(dst.parse().unwrap(), 80);
        t.send(at(0), seg().syn().seq(1).to(to));
    }
    t.expect_nothing_until(at(10));
    assert_eq!(t.stack.connections().count(), 0);
}

#[test]
fn must_63_syn_from_invalid_source_is_ignored() {
    let mut t = Harness::server(80);
    for src in [
        "0.0.0.0",
        "255.255.255.255",
        "127.0.0.1",
        "224.1.1.1",
        "240.0.0.1",
    ] {
        let from = std::net::SocketAddrV4::new(src.parse().unwrap(), 4000);
        t.send(at(0), seg().syn().seq(1).from(from));
    }
    t.expect_nothing_until(at(10));
    assert_eq!(t.stack.connections().count(), 0);
}

#[test]
fn must_46_connect_to_broadcast_or_multicast_fails_without_a_syn() {
    let mut t = Harness::with_config(Harness::config());
    for dst in ["255.255.255.255", "224.0.0.1", "10.66.0.255", "0.0.0.0"] {
        let to = std::net::SocketAddrV4::new(dst.parse().unwrap(), 80);
        assert!(t.stack.connect(instant(0), to).is_err(), "{dst}");
    }
    t.expect_nothing_until(at(10));
}

#[test]
fn must_3_bad_checksum_syn_gets_no_answer() {
    let mut t = Harness::with_config(Harness::config());
    let mut raw = t.build(&seg().syn().seq(1).data(b"x"));
    let last = raw.len() - 1;
    raw[last] ^= 1;
    t.send_raw(at(0), &raw);
    t.expect_nothing_until(at(10));
    assert_eq!(t.stack.counters().tcp_in_csum_errors, 1);
}

#[test]
fn must_67_shld_5_syn_ack_advertises_mtu_minus_40() {
    let mut cfg = Harness::config();
    cfg.mtu = 1000;
    let mut t = Harness::server_with(80, cfg);
    t.send(at(0), seg().syn().seq(1).mss(1460));
    t.expect(at(0), seg().flags(SYNACK).mss(960));
}

#[test]
fn passive_open_without_timestamps_samples_the_syn_ack_round_trip() {
    // RFC 6298 §2/§3: the SYN-ACK was sent once, so its ACK measures the RTT (Linux's
    // tcp_synack_rtt_meas): 100 ms gives RTO = 100 + 4 * 50 = 300 ms, not the initial 1 s.
    // With RACK-TLP (the default) the first resend is the tail loss probe, due at the
    // RTO's expiry (PTO = 2 * SRTT + 200 ms capped by it, RFC 8985 §7.2), then the RTO
    // restarted by the probe, then backed off: the timeline packetdrill's
    // user_timeout/user_timeout expects of Linux.
    let mut t = Harness::server(80);
    t.send(at(0), seg().syn().seq(0).mss(1000).sack_perm());
    let sa = t.expect(at(0), seg().flags(TcpFlags::SYN | TcpFlags::ACK));
    t.send(at(100), seg().ack_flag().seq(1).ack(sa.seq + 1));
    let h = t.stack.accept(80).expect("accepted");
    t.advance(2100);
    t.stack.close(h);
    t.flush();
    let fin = TcpFlags::FIN | TcpFlags::ACK;
    t.expect(at(2100), seg().flags(fin).seq(sa.seq + 1));
    t.expect_nothing_until(at(2399));
    t.expect(at(2400), seg().flags(fin).seq(sa.seq + 1)); // the loss probe: 300 ms
    t.expect_nothing_until(at(2699));
    t.expect(at(2700), seg().flags(fin).seq(sa.seq + 1)); // the RTO: 300 ms
    t.expect_nothing_until(at(3299));
    t.expect(at(3300), seg().flags(fin).seq(sa.seq + 1)); // backed off: 600 ms
}
