//! Undoing spurious congestion responses: F-RTO (RFC 5682 §3) after a timeout, D-SACK
//! (RFC 3708) and timestamps (Eifel detection, RFC 3522) after fast recovery or a timeout,
//! with Linux's counters (`TCPSpuriousRTOs`, `TCPDSACKUndo`, `TCPFullUndo`, `TCPLossUndo`).
//!
//! Every connection has a 20 ms RTT (SYN-ACK at 0, the peer's ACK at 20 ms) and an SMSS of
//! 1000 (with timestamps: an MSS of 1012), so the PTO is 42 ms and the RTO 200 ms (the
//! minimum); the initial window (10 segments) leaves at 20 ms.

mod support;

use support::*;
use tuntcp::stack::{SocketHandle, StackConfig};

/// Established at 20 ms with `bytes` queued: (harness, handle, first data sequence number,
/// TSval of the initial window if timestamps are on).
fn sender(cfg: StackConfig, bytes: usize, ts: bool) -> (Harness, SocketHandle, u32, u32) {
    let mut t = Harness::server_with(80, cfg);
    let syn = if ts {
        seg().mss(1012).sack_perm().ts(100, 0)
    } else {
        seg().mss(1000).sack_perm()
    };
    let (h, iss) = t.establish_rtt(0, 20, 1000, syn);
    t.stack.send(h, &vec![7u8; bytes]).unwrap();
    t.flush();
    let sent = t.drain();
    assert_eq!(sent.len(), bytes.div_ceil(1000).min(10));
    assert!(sent.iter().all(|s| s.payload.len() == 1000));
    let tsval = sent[0].options.timestamps.map_or(0, |t| t.tsval);
    (t, h, iss + 1, tsval)
}

fn ack(t: &mut Harness, ms: u64, a: u32, blocks: &[(u32, u32)]) {
    t.send(ms, seg().ack_flag().seq(1001).ack(a).sack(blocks));
}

fn ack_ts(t: &mut Harness, ms: u64, a: u32, ecr: u32, blocks: &[(u32, u32)]) {
    let val = 200 + ms as u32;
    t.send(
        ms,
        seg().ack_flag().seq(1001).ack(a).ts(val, ecr).sack(blocks),
    );
}

fn counter(t: &Harness, name: &str) -> u64 {
    t.stack.counters().get(name).unwrap()
}

fn cwnd_ssthresh(t: &Harness, h: SocketHandle) -> (u32, u32) {
    let c = t.stack.connection(h).unwrap();
    (c.cwnd(), c.ssthresh())
}

/// The data segments among `out`, as (seq, len).
fn data(out: &[Owned]) -> Vec<(u32, usize)> {
    out.iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| (s.seq, s.payload.len()))
        .collect()
}

fn config(frto: u8) -> StackConfig {
    let mut cfg = Harness::config();
    cfg.tcp.frto = frto;
    cfg
}

/// Up to the timeout: the probe (new data, segments 11 and 12) at 62 ms restarts the RTO,
/// which fires at 262 ms and resends segment 1.
fn to_the_timeout(t: &mut Harness, d: u32) {
    t.expect_nothing_until(61);
    t.expect(62, seg().seq(d + 10_000).len(1000));
    t.expect(62, seg().seq(d + 11_000).len(1000));
    t.expect_nothing_until(261);
    t.expect(262, seg().seq(d).len(1000));
    assert_eq!(counter(t, "TcpExtTCPTimeouts"), 1);
}

#[test]
fn frto_undoes_a_spurious_timeout_and_sends_new_data_instead_of_going_back() {
    let (mut t, h, d, _) = sender(config(2), 30_000, false);
    let before = cwnd_ssthresh(&t, h);
    assert_eq!(before, (10_000, u32::MAX));
    // The path stalls: no ACK for 250 ms, so the RTO fires although nothing was lost.
    to_the_timeout(&mut t, d);
    assert_eq!(
        t.stack.connection(h).unwrap().cwnd(),
        1000,
        "RFC 5681 §3.1: LW"
    );
    // RFC 5682 §3 step 2b: the first ACK after the timeout advances SND.UNA but not to
    // "recover": two new segments go, not segments 2 and 3 again.
    ack(&mut t, 270, d + 1000, &[]);
    let out = t.drain();
    assert_eq!(
        data(&out),
        [(d + 12_000, 1000), (d + 13_000, 1000)],
        "new data, not the go-back-N resend"
    );
    // Step 3b: the next ACK acknowledges segment 2, never retransmitted: the timeout was
    // spurious. cwnd and ssthresh come back (Linux's tcp_undo_cwnd_reduction).
    ack(&mut t, 275, d + 2000, &[]);
    let (cwnd, ssthresh) = cwnd_ssthresh(&t, h);
    assert!(cwnd >= 10_000, "cwnd restored: {cwnd}");
    assert_eq!(ssthresh, u32::MAX, "ssthresh restored");
    assert_eq!(counter(&t, "TcpExtTCPSpuriousRTOs"), 1);
    assert_eq!(counter(&t, "TcpExtTCPLossUndo"), 1);
    // Nothing below SND.MAX goes again: the rest of the first flight arrives.
    ack(&mut t, 280, d + 14_000, &[]);
    let out = t.drain();
    assert!(
        !out.is_empty(),
        "new data after the whole flight is acknowledged"
    );
    assert!(
        data(&out)
            .iter()
            .all(|&(s, _)| s.wrapping_sub(d + 14_000) as i32 >= 0),
        "nothing resent: {out:?}"
    );
    assert_eq!(
        counter(&t, "TcpRetransSegs"),
        1,
        "only the timeout's segment"
    );
}

#[test]
fn without_frto_the_same_timeout_goes_back_n() {
    let (mut t, h, d, _) = sender(config(0), 30_000, false);
    to_the_timeout(&mut t, d);
    ack(&mut t, 270, d + 1000, &[]);
    assert_eq!(
        data(&t.drain()),
        [(d + 1000, 1000), (d + 2000, 1000)],
        "segments 2 and 3 again"
    );
    ack(&mut t, 275, d + 2000, &[]);
    assert_eq!(counter(&t, "TcpExtTCPSpuriousRTOs"), 0);
    assert!(t.stack.connection(h).unwrap().cwnd() < 10_000);
}

#[test]
fn frto_does_not_undo_a_real_timeout() {
    let (mut t, h, d, _) = sender(config(2), 30_000, false);
    to_the_timeout(&mut t, d);
    // Segments 1-12 were lost. The retransmission's ACK: step 2b sends new data.
    ack(&mut t, 282, d + 1000, &[]);
    assert_eq!(data(&t.drain()), [(d + 12_000, 1000), (d + 13_000, 1000)]);
    // Step 3a: the next ACK SACKs only the new data: the timeout was real, and the resend
    // of what the timeout marked lost goes on.
    ack(&mut t, 302, d + 1000, &[(d + 12_000, d + 14_000)]);
    let out = data(&t.drain());
    assert_eq!(
        out.first(),
        Some(&(d + 1000, 1000)),
        "segment 2 resent: {out:?}"
    );
    let (cwnd, ssthresh) = cwnd_ssthresh(&t, h);
    assert!(cwnd < 10_000 && ssthresh < u32::MAX, "{cwnd} {ssthresh}");
    assert_eq!(counter(&t, "TcpExtTCPSpuriousRTOs"), 0);
    assert_eq!(counter(&t, "TcpExtTCPLossUndo"), 0);
}

#[test]
fn frto_does_not_undo_a_timeout_whose_first_ack_jumps_over_data_received_before() {
    let (mut t, h, d, _) = sender(config(2), 30_000, false);
    to_the_timeout(&mut t, d);
    // Segment 1 was lost; 2-4 arrived but the ACKs with their SACKs were lost. The ACK of
    // the retransmission acknowledges 1-4: RFC 5682 step 2b, not yet a verdict.
    ack(&mut t, 282, d + 4000, &[]);
    assert_eq!(data(&t.drain()), [(d + 12_000, 1000), (d + 13_000, 1000)]);
    assert_eq!(
        counter(&t, "TcpExtTCPSpuriousRTOs"),
        0,
        "not on the first ACK"
    );
    // Step 3a: segment 5 is missing, the new data arrived.
    ack(&mut t, 302, d + 4000, &[(d + 12_000, d + 14_000)]);
    assert_eq!(data(&t.drain()).first(), Some(&(d + 4000, 1000)));
    assert!(t.stack.connection(h).unwrap().ssthresh() < u32::MAX);
    assert_eq!(counter(&t, "TcpExtTCPSpuriousRTOs"), 0);
}

#[test]
fn a_timeout_the_timestamp_echo_shows_spurious_is_undone_without_frto() {
    // Eifel detection (RFC 3522 §2) alone: F-RTO off.
    let (mut t, h, d, ts0) = sender(config(0), 30_000, true);
    to_the_timeout(&mut t, d);
    // The first ACK after the timeout echoes the TSval of the original segment 1, sent at
    // 20 ms, before the retransmission: it was delivered.
    ack_ts(&mut t, 270, d + 1000, ts0, &[]);
    assert_eq!(counter(&t, "TcpExtTCPLossUndo"), 1);
    assert_eq!(counter(&t, "TcpExtTCPSpuriousRTOs"), 0, "not F-RTO's");
    let (cwnd, ssthresh) = cwnd_ssthresh(&t, h);
    assert!(cwnd >= 10_000 && ssthresh == u32::MAX, "{cwnd} {ssthresh}");
    // No go-back-N: segments 2-11 are still in flight.
    let out = data(&t.drain());
    assert!(
        out.iter()
            .all(|&(s, _)| s.wrapping_sub(d + 11_000) as i32 >= 0),
        "nothing resent: {out:?}"
    );
}

#[test]
fn fast_recovery_is_undone_when_its_retransmission_is_dsacked() {
    let (mut t, h, d, _) = sender(Harness::config(), 10_000, false);
    // Segment 2 is late; 3-10 are SACKed: RACK marks it lost, recovery resends it.
    ack(&mut t, 40, d + 1000, &[(d + 2000, d + 10_000)]);
    t.expect(40, seg().seq(d + 1000).len(1000));
    assert_eq!(
        cwnd_ssthresh(&t, h),
        (7000, 7000),
        "CUBIC: 0.7 * 10 segments"
    );
    // The original arrives: recovery ends, nothing says yet that the resend was needless
    // (congestion avoidance from 7000 on).
    ack(&mut t, 45, d + 10_000, &[]);
    assert_eq!(cwnd_ssthresh(&t, h), (7075, 7000));
    // RFC 3708 §3: the peer reports the copy with a D-SACK; it was the episode's only
    // retransmission, so nothing was lost.
    ack(&mut t, 60, d + 10_000, &[(d + 1000, d + 2000)]);
    assert_eq!(cwnd_ssthresh(&t, h), (10_000, u32::MAX), "undone");
    assert_eq!(counter(&t, "TcpExtTCPDSACKUndo"), 1);
    assert_eq!(counter(&t, "TcpExtTCPFullUndo"), 0);
}

#[test]
fn fast_recovery_is_not_undone_when_one_retransmission_was_needed() {
    let (mut t, h, d, _) = sender(Harness::config(), 10_000, false);
    // Segments 2 and 4 missing: both marked lost and resent.
    ack(
        &mut t,
        40,
        d + 1000,
        &[(d + 2000, d + 3000), (d + 4000, d + 10_000)],
    );
    let out = data(&t.drain());
    assert_eq!(out, [(d + 1000, 1000), (d + 3000, 1000)]);
    // Segment 2 was only late; its copy is D-SACKed. Segment 4 was lost: its
    // retransmission fills the hole.
    ack(&mut t, 45, d + 3000, &[(d + 4000, d + 10_000)]);
    ack(
        &mut t,
        60,
        d + 3000,
        &[(d + 1000, d + 2000), (d + 4000, d + 10_000)],
    );
    ack(&mut t, 61, d + 10_000, &[]);
    assert_eq!(cwnd_ssthresh(&t, h), (7075, 7000), "the reduction stands");
    assert_eq!(counter(&t, "TcpExtTCPDSACKUndo"), 0);
    assert_eq!(counter(&t, "TcpExtTCPFullUndo"), 0);
}

#[test]
fn fast_recovery_is_undone_when_the_ack_ending_it_echoes_the_original() {
    let (mut t, h, d, ts0) = sender(Harness::config(), 10_000, true);
    ack_ts(&mut t, 40, d + 1000, ts0, &[(d + 2000, d + 10_000)]);
    let re = t.expect(40, seg().seq(d + 1000).len(1000));
    let ts_re = re.options.timestamps.unwrap().tsval;
    assert_eq!(ts_re, ts0 + 20);
    // The hole is filled by the original (its TSval echoed, RFC 7323 §4.3): the ACK that
    // ends recovery shows the retransmission was needless (RFC 3522 §2).
    ack_ts(&mut t, 45, d + 10_000, ts0, &[]);
    // Undone, then the ACK's 1000 bytes grow it in slow start again.
    assert_eq!(cwnd_ssthresh(&t, h), (11_000, u32::MAX), "undone");
    assert_eq!(counter(&t, "TcpExtTCPFullUndo"), 1);
}

#[test]
fn fast_recovery_is_not_undone_when_the_ack_ending_it_echoes_the_retransmission() {
    let (mut t, h, d, ts0) = sender(Harness::config(), 10_000, true);
    ack_ts(&mut t, 40, d + 1000, ts0, &[(d + 2000, d + 10_000)]);
    let re = t.expect(40, seg().seq(d + 1000).len(1000));
    let ts_re = re.options.timestamps.unwrap().tsval;
    ack_ts(&mut t, 60, d + 10_000, ts_re, &[]);
    assert_eq!(cwnd_ssthresh(&t, h), (7075, 7000), "the reduction stands");
    assert_eq!(counter(&t, "TcpExtTCPFullUndo"), 0);
}

#[test]
fn a_timeout_during_fast_recovery_counts_as_a_sack_recovery_failure() {
    let (mut t, _h, d, _) = sender(Harness::config(), 10_000, false);
    ack(&mut t, 40, d + 1000, &[(d + 2000, d + 10_000)]);
    t.expect(40, seg().seq(d + 1000).len(1000));
    // The retransmission is lost and nothing else is in flight: the RTO (200 ms) fires.
    t.expect_between(41, 300, seg().seq(d + 1000).len(1000));
    assert_eq!(counter(&t, "TcpExtTCPTimeouts"), 1);
    assert_eq!(counter(&t, "TcpExtTCPSackRecoveryFail"), 1);
    assert_eq!(counter(&t, "TcpExtTCPRenoRecoveryFail"), 0);
}
