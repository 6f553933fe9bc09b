//! Loss recovery traces: fast retransmit, NewReno partial ACKs, SACK-driven repair of
//! exactly the holes, limited transmit, Karn's rule (RFC 5681, 6582, 6675, 3042, 6298).

mod support;

use support::*;
use tuntcp::stack::SocketHandle;
use tuntcp::wire::TcpFlags;

/// An established connection (peer ISN 1000, MSS 1000) with 10 segments in flight.
/// Returns (handle, first data sequence number).
fn ten_in_flight(t: &mut Harness, syn: Spec) -> (SocketHandle, u32) {
    let (h, iss) = t.establish(0, 1000, syn.mss(1000));
    t.stack.send(h, &[7u8; 20_000]).unwrap();
    t.flush();
    let segs = t.drain();
    assert_eq!(segs.len(), 10, "IW10");
    (h, iss + 1)
}

/// A server with `recovery = 0`: RFC 6675's DupThresh alone, no RACK-TLP (the tests named
/// `rfc6675_*` are about that path; RACK is the default with SACK).
fn dupthresh_server() -> Harness {
    let mut cfg = Harness::config();
    cfg.tcp.recovery = 0;
    Harness::server_with(80, cfg)
}

fn ack(t: &mut Harness, ms: u64, a: u32) {
    t.send(ms, seg().ack_flag().seq(1001).ack(a));
}

fn ack_sack(t: &mut Harness, ms: u64, a: u32, blocks: &[(u32, u32)]) {
    t.send(ms, seg().ack_flag().seq(1001).ack(a).sack(blocks));
}

#[test]
fn fast_retransmit_after_the_third_duplicate_ack_not_before() {
    let mut t = Harness::server(80);
    let (_h, d) = ten_in_flight(&mut t, seg());
    ack(&mut t, 50, d + 1000); // segment 1 arrives; segment 2 lost
    let after_ack: Vec<_> = t.drain();
    assert!(
        after_ack
            .iter()
            .all(|s| s.seq.wrapping_sub(d + 10_000) as i32 >= 0),
        "only new data"
    );
    ack(&mut t, 51, d + 1000);
    ack(&mut t, 52, d + 1000);
    // RFC 3042: the first two duplicate ACKs each release one new segment, no retransmission.
    let lt = t.drain();
    assert!(
        lt.iter().all(|s| s.seq != d + 1000),
        "no retransmission before the third dupack"
    );
    assert!(!lt.is_empty(), "limited transmit sent new data");
    ack(&mut t, 53, d + 1000);
    let r = t.drain();
    assert_eq!(
        r.first().map(|s| (s.seq, s.payload.len())),
        Some((d + 1000, 1000)),
        "fast retransmit of segment 2"
    );
}

#[test]
fn newreno_partial_ack_resends_the_next_hole_at_once() {
    let mut t = Harness::server(80);
    let (_h, d) = ten_in_flight(&mut t, seg()); // no SACK: RFC 6582
                                                // Segments 2 and 5 lost: the peer ACKs 1, then dupacks.
    for ms in 50..54 {
        ack(&mut t, ms, d + 1000);
    }
    let r = t.drain();
    assert!(r.iter().any(|s| s.seq == d + 1000), "segment 2 resent");
    // The repair of 2 brings a partial ACK up to segment 5's start: 5 goes at once.
    ack(&mut t, 100, d + 4000);
    let r = t.drain();
    assert_eq!(
        r.first().map(|s| s.seq),
        Some(d + 4000),
        "{:?}",
        r.iter().map(|s| &s.line).collect::<Vec<_>>()
    );
}

#[test]
fn sack_recovery_resends_exactly_the_holes() {
    let mut t = Harness::server(80);
    let (_h, d) = ten_in_flight(&mut t, seg().sack_perm());
    // Segments 2 and 5 (d+1000.., d+4000..) lost; everything else SACKed, block by block.
    ack_sack(&mut t, 50, d + 1000, &[(d + 2000, d + 3000)]);
    ack_sack(&mut t, 51, d + 1000, &[(d + 2000, d + 4000)]);
    ack_sack(
        &mut t,
        52,
        d + 1000,
        &[(d + 5000, d + 6000), (d + 2000, d + 4000)],
    );
    ack_sack(
        &mut t,
        53,
        d + 1000,
        &[(d + 5000, d + 10_000), (d + 2000, d + 4000)],
    );
    let resent: Vec<u32> = t
        .drain()
        .iter()
        .filter(|s| (s.seq.wrapping_sub(d + 10_000) as i32) < 0)
        .map(|s| s.seq)
        .collect();
    assert_eq!(
        resent,
        vec![d + 1000, d + 4000],
        "only the two holes, nothing SACKed"
    );
}

#[test]
fn must_18_karn_no_rtt_sample_from_a_retransmitted_segment() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, b"x").unwrap();
    t.flush();
    t.expect(at(0), seg().len(1));
    t.expect(at(200), seg().len(1)); // RTO
                                     // The ACK comes 3 s after the original: it is ambiguous, so no sample is taken.
    ack(&mut t, 3000, iss + 2);
    let c = t.stack.connection(h).unwrap();
    assert!(
        c.srtt().unwrap().millis() < 100,
        "srtt {:?} must not include the 3 s",
        c.srtt()
    );
}

#[test]
fn may_18_cubic_is_the_default_and_cuts_to_seventy_percent() {
    let mut t = Harness::server(80);
    let (h, d) = ten_in_flight(&mut t, seg().sack_perm());
    assert_eq!(t.stack.connection(h).unwrap().congestion_name(), "cubic");
    for ms in 50..54 {
        ack_sack(
            &mut t,
            ms,
            d,
            &[(d + 1000, d + 1000 + (ms as u32 - 49) * 1000)],
        );
    }
    let c = t.stack.connection(h).unwrap();
    // RFC 9438 §4.6: ssthresh = 0.7 * FlightSize, FlightSize a whole number of segments
    // (10, plus what limited transmit and SACKed deliveries released).
    assert!(
        c.ssthresh() >= 7000 && c.ssthresh() % 700 == 0,
        "ssthresh {}",
        c.ssthresh()
    );
    assert_eq!(c.cwnd(), c.ssthresh());
}

#[test]
fn newreno_is_selectable_per_stack_and_per_connection() {
    let mut cfg = Harness::config();
    cfg.tcp.congestion = tuntcp::tcp::congestion::Algorithm::NewReno;
    let mut t = Harness::server_with(80, cfg);
    let (h, _) = t.establish(0, 1000, seg());
    assert_eq!(t.stack.connection(h).unwrap().congestion_name(), "newreno");
    t.stack.with_connection(h, |c| {
        c.set_congestion(instant(1), tuntcp::tcp::congestion::Algorithm::Cubic)
    });
    assert_eq!(t.stack.connection(h).unwrap().congestion_name(), "cubic");
}

#[test]
fn rfc6675_recovery_started_by_sacks_after_an_rto_resends_nothing_the_go_back_n_resend_sends() {
    // Issue 21: segments 1 and 5 lost, no ACK: the RTO resends segment 1. Then the peer's
    // SACKs for the rest arrive and start fast recovery beside the go-back-N resend. It
    // sent segment 1 again (at SND.UNA) and segment 5 three times in one pass (NextSeg(),
    // the go-back-N pointer that NextSeg() does not move, the rescue), TSval unchanged.
    let mut t = dupthresh_server();
    let (_h, d) = ten_in_flight(&mut t, seg().sack_perm());
    let rto = t.expect_between(1, 3000, seg().seq(d).len(1000));
    let ms = t.now_ms;
    let mut sent: Vec<u32> = vec![rto.seq];
    for (i, blocks) in [
        vec![(d + 1000, d + 2000)],
        vec![(d + 1000, d + 3000)],
        vec![(d + 1000, d + 4000)],
        vec![(d + 5000, d + 6000), (d + 1000, d + 4000)],
        vec![(d + 5000, d + 10_000), (d + 1000, d + 4000)],
    ]
    .iter()
    .enumerate()
    {
        ack_sack(&mut t, ms + 1 + i as u64, d, blocks);
        sent.extend(t.drain().iter().map(|s| s.seq));
    }
    let mut seen = std::collections::HashSet::new();
    for s in &sent {
        assert!(
            seen.insert(*s),
            "seq {s} (d + {}) sent twice after the RTO: {:?}",
            s.wrapping_sub(d),
            sent.iter().map(|x| x.wrapping_sub(d)).collect::<Vec<_>>()
        );
    }
    // The go-back-N resend, skipping what is SACKed, repaired segment 5.
    assert!(sent.contains(&(d + 4000)), "segment 5 resent");
}

#[test]
fn rfc6675_after_an_rto_a_partial_ack_with_sacks_resends_each_hole_once() {
    // Issue 21, the other order: segments 1, 2 and 6 lost; the RTO resends segment 1, whose
    // ACK (with SACKs for 3-5 and 7-10) starts fast recovery while the go-back-N resend sits
    // at the new SND.UNA. Recovery resent segment 2 and then segment 6 by NextSeg(), and the
    // go-back-N resend, moved past segment 2, skipped the SACKed 3-5 and resent segment 6
    // again in the same pass, then the rescue a third time.
    let mut t = dupthresh_server();
    let (_h, d) = ten_in_flight(&mut t, seg().sack_perm());
    t.expect_between(1, 3000, seg().seq(d).len(1000));
    let ms = t.now_ms + 10;
    ack_sack(
        &mut t,
        ms,
        d + 1000,
        &[(d + 6000, d + 10_000), (d + 2000, d + 5000)],
    );
    let sent: Vec<u32> = t.drain().iter().map(|s| s.seq.wrapping_sub(d)).collect();
    let twice: Vec<u32> = sent
        .iter()
        .enumerate()
        .filter(|(i, s)| sent[..*i].contains(s))
        .map(|(_, s)| *s)
        .collect();
    assert!(
        twice.is_empty(),
        "sent twice in one pass: {sent:?} (offsets from d)"
    );
    assert_eq!(sent.first(), Some(&1000), "segment 2 first: {sent:?}");
    assert!(sent.contains(&5000), "segment 6 resent: {sent:?}");
}

#[test]
fn rfc6675_rescue_retransmission_does_not_repeat_a_segment_rule_1_just_resent() {
    // Issue 21: segments 1 and 6 of 10 lost, no room for new data. One ACK with SACKs for
    // 2-5 and 7-10 starts recovery: segment 1 goes, then segment 6 by NextSeg() rule 1.
    // Rules 2 and 3 find nothing, and rule 4's rescue picked the highest unSACKed segment,
    // segment 6, again: back to back, TSval unchanged.
    let mut t = dupthresh_server();
    let (h, iss) = t.establish(0, 1000, seg().sack_perm().mss(1000));
    let d = iss + 1;
    t.stack.send(h, &[7u8; 10_000]).unwrap();
    assert_eq!(t.drain().len(), 10);
    // The window ends at SND.MAX: rule 2 has no room either.
    t.send(
        50,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(d)
            .win(10_000)
            .sack(&[(d + 6000, d + 10_000), (d + 1000, d + 5000)]),
    );
    let sent: Vec<u32> = t.drain().iter().map(|s| s.seq.wrapping_sub(d)).collect();
    assert_eq!(sent, vec![0, 5000], "each hole once (offsets from d)");
}

#[test]
fn rfc6675_rescue_retransmission_does_not_repeat_new_data_sent_in_this_recovery() {
    // Issue 21: segment 1 of 10 lost, one more segment queued, room in the peer's window
    // for just that one. The SACK for 2-10 starts recovery: segment 1 goes, then segment 11
    // by rule 2 (new data). The rescue (rule 4) took the highest unSACKed segment, segment
    // 11 again, though it is new data beyond the recovery point: back to back.
    let mut t = dupthresh_server();
    let (h, iss) = t.establish(0, 1000, seg().sack_perm().mss(1000));
    let d = iss + 1;
    t.stack.send(h, &[7u8; 11_000]).unwrap();
    assert_eq!(t.drain().len(), 10, "IW10");
    t.send(
        50,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(d)
            .win(11_000)
            .sack(&[(d + 1000, d + 10_000)]),
    );
    let sent: Vec<u32> = t.drain().iter().map(|s| s.seq.wrapping_sub(d)).collect();
    assert_eq!(sent, vec![0, 10_000], "each segment once (offsets from d)");
}

#[test]
fn rack_after_an_rto_no_segment_goes_twice_in_one_pass() {
    // Issue 21 with RACK-TLP (the default): segments 1 and 5 of 10 lost and every ACK lost
    // until the RTO. The loss probe sends new data (segments 11-12: the window has room), the
    // RTO resends segment 1; then ACKs arrive one by one, 1 ms apart: 2-4 in order (each
    // moves SND.UNA, so cwnd grows: RFC 5681 §3.1, an ACK that only SACKs would not), then
    // SACKs above the hole at 5. The go-back-N resend and RACK may both pick a segment, and
    // RACK may resend a retransmission it finds lost again (a SACK for a segment resent
    // after it, RFC 8985 §6.2: the harness's RTT is about 0), but never the same segment
    // twice in one pass.
    let mut t = Harness::server(80);
    let (_h, d) = ten_in_flight(&mut t, seg().sack_perm());
    t.expect_between(1, 1000, seg().seq(d + 10_000).len(1000)); // the tail loss probe,
    t.expect_between(1, 1000, seg().seq(d + 11_000).len(1000)); // two segments of new data
    t.expect_between(1, 3000, seg().seq(d).len(1000)); // the RTO
    let ms = t.now_ms;
    let mut resent_5 = false;
    for (i, (a, blocks)) in [
        (2000, vec![]),
        (3000, vec![]),
        (4000, vec![]),
        (4000, vec![(d + 5000, d + 6000)]),
        (4000, vec![(d + 5000, d + 10_000)]),
    ]
    .iter()
    .enumerate()
    {
        ack_sack(&mut t, ms + 1 + i as u64, d + a, blocks);
        let pass: Vec<u32> = t.drain().iter().map(|s| s.seq.wrapping_sub(d)).collect();
        let mut seen = std::collections::HashSet::new();
        for s in &pass {
            assert!(seen.insert(*s), "d + {s} twice in one pass: {pass:?}");
        }
        resent_5 |= pass.contains(&4000);
    }
    assert!(resent_5, "segment 5 resent");
}

#[test]
fn a_pure_ack_after_a_timeout_carries_the_highest_sequence_sent() {
    // After the RTO resends the first segment (go-back-N from SND.UNA), a pure ACK must not
    // carry the rewound SND.NXT: the peer already holds data up to SND.MAX and would find
    // SEQ below its RCV.NXT unacceptable and drop the ACK (RFC 9293 §3.10.7.4); two stacks
    // doing that to each other stalled a lossy smoltcp interop run.
    let mut t = Harness::server(80);
    let (_h, d) = ten_in_flight(&mut t, seg());
    // Every ACK of the peer is lost: the RTO (200 ms, the handshake's RTT sample being ~0)
    // resends segment 1 only (cwnd 1).
    t.expect(at(200), seg().seq(d).len(1000));
    t.expect_nothing_until(at(210));
    // The peer's data arrives with a stale ACK (a duplicate of SND.UNA).
    t.send(at(210), seg().ack_flag().seq(1001).ack(d).data(&[1; 100]));
    let a = t.expect_between(210, 260, seg().flags(TcpFlags::ACK).ack(1101));
    assert!(a.payload.is_empty());
    assert_eq!(
        a.seq,
        d + 10_000,
        "SEQ = SND.MAX, not the rewound SND.NXT {}",
        d + 1000
    );
}

#[test]
fn slow_start_grows_cwnd_while_at_least_half_of_it_is_used() {
    // RFC 7661 §4.3 / Linux's tcp_is_cwnd_limited: the application wrote exactly the
    // initial window, so after the first ACK cwnd (12) exceeds what is in flight; slow
    // start still grows it while cwnd < 2 * the most in flight this window (10 segments),
    // as packetdrill's slow_start/slow-start-app-limited expects.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, &[7u8; 10_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10);
    let cwnd = |t: &Harness| t.stack.connection(h).unwrap().cwnd() / 1000;
    assert_eq!(cwnd(&t), 10);
    for k in 1..=5u32 {
        ack(&mut t, 100 + u64::from(k), iss + 1 + 2000 * k);
        assert_eq!(cwnd(&t), 10 + 2 * k, "after the ACK of {} segments", 2 * k);
    }
}

fn counter(t: &Harness, name: &str) -> u64 {
    t.stack.counters().get(name).unwrap()
}

/// RFC 5681 §2 (a): an ACK is a duplicate only while data is outstanding. Three pure ACKs
/// of an idle connection count for nothing: the first duplicate ACK after new data is sent
/// is the first, and only the third starts fast retransmit.
#[test]
fn rfc5681_2_acks_while_nothing_is_outstanding_are_not_duplicate_acks() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    let d = iss + 1;
    for ms in [10, 20, 30] {
        ack(&mut t, at(ms), d);
    }
    t.stack.send(h, &[7u8; 10_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10, "IW10");
    ack(&mut t, at(50), d); // segment 1 lost
    let r = t.drain();
    assert!(r.iter().all(|s| s.seq != d), "no fast retransmit: {r:?}");
    ack(&mut t, at(51), d);
    assert_eq!(counter(&t, "TcpExtTCPRenoRecovery"), 0);
    ack(&mut t, at(52), d);
    assert_eq!(counter(&t, "TcpExtTCPRenoRecovery"), 1);
}

/// RFC 5681 §2 (d), as the stack reads it for a closed window: ACKs that advertise a zero
/// window are window information, not duplicate ACKs; no fast retransmit into a closed
/// window.
#[test]
fn rfc5681_2_zero_window_acks_are_not_duplicate_acks() {
    let mut t = Harness::server(80);
    let (h, d) = ten_in_flight(&mut t, seg());
    let _ = h;
    t.send(at(50), seg().ack_flag().seq(1001).ack(d + 1000).win(0));
    for ms in [51, 52, 53, 54] {
        t.send(at(ms), seg().ack_flag().seq(1001).ack(d + 1000).win(0));
    }
    assert_eq!(counter(&t, "TcpExtTCPRenoRecovery"), 0);
    // The same four ACKs with the window open again: the first is a window update, the
    // next three are duplicates.
    for ms in [60, 61, 62] {
        ack(&mut t, at(ms), d + 1000);
    }
    assert_eq!(counter(&t, "TcpExtTCPRenoRecovery"), 0);
    ack(&mut t, at(63), d + 1000);
    assert_eq!(counter(&t, "TcpExtTCPRenoRecovery"), 1);
}

/// RFC 6675 §2: with SACK, a duplicate ACK is one that brings new SACK information. An ACK
/// repeating blocks already known counts for nothing; DupThresh (3) is reached only by
/// three ACKs each SACKing another segment.
#[test]
fn rfc6675_2_acks_repeating_known_sack_blocks_are_not_duplicate_acks() {
    let mut t = dupthresh_server();
    let (_h, d) = ten_in_flight(&mut t, seg().sack_perm());
    ack_sack(&mut t, at(50), d, &[(d + 1000, d + 2000)]);
    for ms in [51, 52, 53] {
        ack_sack(&mut t, at(ms), d, &[(d + 1000, d + 2000)]);
    }
    assert_eq!(counter(&t, "TcpExtTCPSackRecovery"), 0, "one new SACK only");
    ack_sack(&mut t, at(54), d, &[(d + 1000, d + 3000)]);
    assert_eq!(counter(&t, "TcpExtTCPSackRecovery"), 0, "two");
    ack_sack(&mut t, at(55), d, &[(d + 1000, d + 4000)]);
    assert_eq!(counter(&t, "TcpExtTCPSackRecovery"), 1, "three");
}

/// RFC 6582 §3.2: in NewReno recovery only a partial ACK resends the next hole; further
/// duplicate ACKs (step 4) resend nothing: segment 1 goes once, at the third.
#[test]
fn rfc6582_3_2_duplicate_acks_during_recovery_resend_nothing() {
    let mut t = Harness::server(80);
    let (_h, d) = ten_in_flight(&mut t, seg());
    for ms in [50, 51, 52] {
        ack(&mut t, at(ms), d);
    }
    let resent = |r: &[Owned]| r.iter().filter(|s| s.seq == d).count();
    assert_eq!(resent(&t.drain()), 1, "fast retransmit");
    for ms in 53..60 {
        ack(&mut t, at(ms), d);
    }
    assert_eq!(resent(&t.drain()), 0, "duplicate ACKs in recovery");
    // The repair of segment 1 acknowledges up to segment 5 (lost too): a partial ACK.
    ack(&mut t, at(100), d + 4000);
    assert_eq!(t.drain().first().map(|s| s.seq), Some(d + 4000));
}

/// RFC 6675 §5: the third duplicate ACK (each bringing new SACK information) starts
/// recovery even while IsLost(SND.UNA) is false: here 300 bytes SACKed in one block, less
/// than (DupThresh - 1) * SMSS and fewer than DupThresh discontiguous blocks.
#[test]
fn rfc6675_5_the_third_duplicate_ack_starts_recovery_before_islost_does() {
    let mut t = dupthresh_server();
    let (_h, d) = ten_in_flight(&mut t, seg().sack_perm());
    ack_sack(&mut t, at(50), d, &[(d + 1000, d + 1100)]);
    ack_sack(&mut t, at(51), d, &[(d + 1000, d + 1200)]);
    assert_eq!(counter(&t, "TcpExtTCPSackRecovery"), 0);
    ack_sack(&mut t, at(52), d, &[(d + 1000, d + 1300)]);
    assert_eq!(counter(&t, "TcpExtTCPSackRecovery"), 1);
}

/// RFC 7661 §4.3 read as Linux's tcp_is_cwnd_limited: in congestion avoidance cwnd grows
/// only when the sender was cwnd-limited, not merely while half of it is used (that
/// relaxation is for slow start). Rounds of 5 segments under a cwnd of 8 leave it at 8.
#[test]
fn congestion_avoidance_does_not_grow_cwnd_while_using_only_part_of_it() {
    let mut cfg = Harness::config();
    cfg.tcp.congestion = tuntcp::tcp::congestion::Algorithm::NewReno;
    let mut t = Harness::server_with(80, cfg);
    let (h, d) = ten_in_flight(&mut t, seg());
    // Segment 1 lost: fast recovery at the third duplicate ACK (ssthresh 6: 12 in flight
    // with the two of limited transmit), ended by the ACK of all 12; in congestion
    // avoidance the cwnd-limited rounds after it grow cwnd to 8.
    for ms in [50, 51, 52] {
        ack(&mut t, at(ms), d);
    }
    let _ = t.drain();
    ack(&mut t, at(70), d + 12_000);
    // The rest of the 20 000 bytes, acknowledged one round later.
    let top = t
        .drain()
        .iter()
        .map(|s| s.seq + s.payload.len() as u32)
        .max();
    assert_eq!(top, Some(d + 19_000));
    ack(&mut t, at(90), d + 19_000);
    t.expect(at(90), seg().seq(d + 19_000).len(1000));
    ack(&mut t, at(95), d + 20_000);
    let cwnd = |t: &Harness, ms| t.stack.connection(h).unwrap().info(instant(ms)).cwnd;
    let ssthresh = t.stack.connection(h).unwrap().info(instant(95)).ssthresh;
    assert_eq!((cwnd(&t, 95), ssthresh), (8, Some(6)));
    let mut next = d + 20_000;
    for round in 0..10u64 {
        let ms = 100 + round * 50;
        t.advance(at(ms));
        t.stack.send(h, &[7u8; 5000]).unwrap();
        t.flush();
        let out = t.drain();
        assert_eq!(out.len(), 5, "round {round}: {out:?}");
        next += 5000;
        ack(&mut t, at(ms + 20), next);
    }
    assert_eq!(cwnd(&t, 700), 8);
}

/// The bound of the test above: slow start grows cwnd only while it is below twice the
/// most in flight (8 segments here), not at it. Each ACK of one segment grows cwnd by one
/// from 10 to 16; the seventh and eighth, at cwnd 16 = 2 * 8, do not.
#[test]
fn slow_start_stops_growing_cwnd_at_twice_the_most_in_flight() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, &[7u8; 8000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 8);
    let cwnd = |t: &Harness| t.stack.connection(h).unwrap().cwnd() / 1000;
    for k in 1..=8u32 {
        ack(&mut t, 100 + u64::from(k), iss + 1 + 1000 * k);
        assert_eq!(cwnd(&t), (10 + k).min(16), "after the ACK of segment {k}");
    }
}

/// 10 segments in flight with a 10 ms RTT; the peer SACKs segments 2-3, segment 1 is
/// resent by RACK at 22.5 ms and again by the RTO 200 ms later (a resend of the first
/// unacknowledged segment restarts the timer, as Linux). Returns the first data seq.
fn sacked_2_and_3_then_rto(t: &mut Harness) -> u32 {
    let (h, iss) = t.establish_rtt(0, 10, 1000, seg().sack_perm().mss(1000));
    let d = iss + 1;
    t.stack.send(h, &[7u8; 10_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10, "IW10 at 10 ms");
    ack_sack(t, at(20), d, &[(d + 1000, d + 3000)]);
    // RACK: min_rtt / 4 (2.5 ms) after the SACK; the harness steps whole milliseconds.
    t.advance(at(23));
    t.expect_between(22, 23, seg().seq(d).len(1000));
    t.expect_nothing_until(at(222));
    t.expect_between(222, 223, seg().seq(d).len(1000)); // the RTO, restarted at 22.5 ms
    t.expect_nothing_until(at(300));
    d
}

/// RFC 6675 §5.1, RFC 2018 §8 (Linux `tcp_check_sack_reneging`): after a timeout, an ACK
/// that stops at the start of a SACKed range suggests the receiver dropped it, but only
/// suggests: the holes above go at once (go-back-N), the SACKed segments do not, and the
/// timer is cut to max(SRTT/2, 10 ms); when it fires with the head still SACKed, the SACKs
/// are forgotten and the head is resent (`TcpExtTCPSACKReneging`). Before, the ACK cleared
/// the scoreboard and segment 2, SACKed in that very ACK, went at once.
#[test]
fn after_an_rto_an_ack_stopping_at_a_sacked_range_resends_it_only_when_the_short_timer_fires() {
    let mut t = Harness::server(80);
    let d = sacked_2_and_3_then_rto(&mut t);
    ack_sack(&mut t, at(300), d + 1000, &[(d + 1000, d + 3000)]);
    let sent: Vec<u32> = t.drain().iter().map(|s| s.seq.wrapping_sub(d)).collect();
    assert!(!sent.is_empty(), "the go-back-N resend goes on");
    assert!(
        sent.iter().all(|&s| s >= 3000),
        "nothing SACKed resent at 300 ms: {sent:?} (offsets from d)"
    );
    assert_eq!(counter(&t, "TcpExtTCPSACKReneging"), 0);
    t.expect_nothing_until(at(309));
    t.expect(at(310), seg().seq(d + 1000).len(1000));
    assert_eq!(counter(&t, "TcpExtTCPSACKReneging"), 1);
}

/// The same suspicion ended by the next ACK, which covers the range: the receiver had
/// kept it, and no SACKed segment is ever resent.
#[test]
fn after_an_rto_a_suspected_reneging_that_the_next_ack_disproves_resends_nothing_sacked() {
    let mut t = Harness::server(80);
    let d = sacked_2_and_3_then_rto(&mut t);
    ack_sack(&mut t, at(300), d + 1000, &[(d + 1000, d + 3000)]);
    let mut sent: Vec<u32> = t.drain().iter().map(|s| s.seq.wrapping_sub(d)).collect();
    ack(&mut t, at(305), d + 5000);
    t.advance(at(1000));
    sent.extend(t.drain().iter().map(|s| s.seq.wrapping_sub(d)));
    assert!(
        !sent.contains(&1000) && !sent.contains(&2000),
        "SACKed segments 2-3 resent: {sent:?} (offsets from d)"
    );
    assert!(sent.contains(&5000), "segment 6 resent: {sent:?}");
    assert_eq!(counter(&t, "TcpExtTCPSACKReneging"), 0);
}
