//! Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation) and pacing
//! (Linux's internal TCP pacing) as packet traces at explicit virtual times.
//!
//! The peer offers MSS 1000 and SACK, no timestamps; the handshake's RTT sample sets SRTT.

mod support;

use support::*;
use tuntcp::stack::{SocketHandle, StackConfig};
use tuntcp::tcp::Pacing;

fn cfg(pacing: Pacing) -> StackConfig {
    let mut c = Harness::config();
    c.tcp.pacing = pacing;
    // Fixed buffers: the traces count segments that auto-tuning's first 16 KiB would hold.
    c.tcp.send_buffer = 256 * 1024;
    c.tcp.recv_buffer = 256 * 1024;
    c
}

/// Established at `rtt` ms (SYN at 0) with nothing sent yet; returns the first data
/// sequence number.
fn open(cfg: StackConfig, rtt: u64) -> (Harness, SocketHandle, u32) {
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, rtt, 1000, seg().mss(1000).sack_perm());
    (t, h, iss + 1)
}

fn ack(t: &mut Harness, ms: u64, a: u32, blocks: &[(u32, u32)]) {
    t.send(ms, seg().ack_flag().seq(1001).ack(a).sack(blocks));
}

fn rate(t: &Harness, h: SocketHandle) -> Option<(u64, bool)> {
    t.stack.connection(h).unwrap().delivery_rate()
}

#[test]
fn delivery_rate_is_a_flight_over_its_round_trip_and_counts_sacked_data() {
    let (mut t, h, d) = open(cfg(Pacing::Auto), 20);
    t.stack.send(h, &vec![1u8; 60_000]).unwrap();
    t.advance(20);
    assert_eq!(t.drain().len(), 10, "IW10 at 20 ms");
    assert_eq!(rate(&t, h), None);
    // The whole flight acked one RTT later: 10,000 bytes in 20 ms. The first write found
    // nothing queued, so the flight is application-limited (§3.4: the pipe was not full).
    ack(&mut t, 40, d + 10_000, &[]);
    assert_eq!(rate(&t, h), Some((500_000, true)));
    let second = t.drain();
    // Slow start: cwnd 10,000 + 2 SMSS for the one ACK (RFC 3465 L = 2).
    assert_eq!(second.len(), 12, "12 segments at 40 ms");
    // The first of them is lost; the other 11 are SACKed at 60 ms: 11,000 bytes delivered
    // since the newest one left (its snapshot: 10,000 delivered at 40 ms), over 20 ms.
    ack(&mut t, 60, d + 10_000, &[(d + 11_000, d + 22_000)]);
    assert_eq!(rate(&t, h), Some((550_000, false)));
    // The retransmission and the rest arrive: the cumulative ACK delivers only the hole's
    // 1000 bytes (the SACKed ones counted once).
    let flight = t.drain();
    assert_eq!(flight[0].seq, d + 10_000, "RACK resends the hole");
    ack(&mut t, 80, d + 22_000, &[]);
    // Newest delivered: the hole's resend at 60 ms (snapshot: 21,000 delivered at 60 ms,
    // send phase from 40 ms): 1000 bytes over max(60 - 40, 80 - 60) = 20 ms. Lower than the
    // last sample and not app-limited, so `ss` shows it.
    assert_eq!(rate(&t, h), Some((50_000, false)));
}

#[test]
fn pacing_on_spaces_segments_at_twice_cwnd_over_srtt_in_slow_start() {
    // SRTT 40 ms, cwnd 10,000: 2 * 10,000 B / 40 ms = 500 B/ms, one segment per 2 ms.
    // Without offload the send quantum (2 segments at this rate, tcp_min_tso_segs) may
    // leave back to back: the sender runs up to one segment (2 ms) ahead of schedule. The
    // first gap is half (Linux's credit for a send later than its slot: idle before).
    let (mut t, h, d) = open(cfg(Pacing::On), 40);
    assert_eq!(
        t.stack.connection(h).unwrap().pacing_rate(),
        Some(500_000),
        "tcp_update_pacing_rate at the handshake"
    );
    t.stack.send(h, &vec![1u8; 10_000]).unwrap();
    t.flush();
    t.expect(40, seg().seq(d).len(1000)); // schedule: next at 41
    t.expect(40, seg().seq(d + 1000).len(1000)); // 41 - 2 <= 40; next at 43
    t.expect_nothing_until(40);
    for i in 2..10u32 {
        // Segment i is due at 43 + 2 (i - 2), released 2 ms before.
        let at = 41 + 2 * u64::from(i - 2);
        t.expect_nothing_until(at - 1);
        t.expect(at, seg().seq(d + 1000 * i).len(1000));
    }
    // The 10th left at 55 ms, and nothing more is queued.
    t.expect_nothing_until(80);
    assert_eq!(
        t.stack.connection(h).unwrap().next_send_time(),
        Some(instant(57))
    );
}

#[test]
fn pacing_auto_does_not_pace_cubic_and_off_never_paces() {
    for p in [Pacing::Auto, Pacing::Off] {
        let (mut t, h, _) = open(cfg(p), 40);
        assert_eq!(t.stack.connection(h).unwrap().pacing_rate(), None);
        t.stack.send(h, &vec![1u8; 10_000]).unwrap();
        t.advance(40);
        assert_eq!(t.drain().len(), 10, "{p:?}: the whole IW at once");
    }
}

#[test]
fn super_segments_hold_about_a_millisecond_at_the_pacing_rate() {
    // With offloads a segment may carry 64 KB; at 500 B/ms one millisecond is under two
    // segments, so each super-segment is two (Linux's tcp_min_tso_segs), every 4 ms.
    let mut c = cfg(Pacing::On);
    c.offload = true;
    let (mut t, h, d) = open(c, 40);
    t.stack.send(h, &vec![1u8; 10_000]).unwrap();
    t.flush();
    t.expect(40, seg().seq(d).len(2000));
    t.expect(42, seg().seq(d + 2000).len(2000));
    t.expect_nothing_until(45);
    t.expect(46, seg().seq(d + 4000).len(2000));
    t.expect(50, seg().seq(d + 6000).len(2000));
    t.expect(54, seg().seq(d + 8000).len(2000));
    // Without pacing the same connection sends one super-segment of the whole window.
    let mut c = cfg(Pacing::Off);
    c.offload = true;
    let (mut t, h, d) = open(c, 40);
    t.stack.send(h, &vec![1u8; 10_000]).unwrap();
    t.flush();
    t.expect(40, seg().seq(d).len(10_000));
}

#[test]
fn pace_after_iw_sends_the_first_ten_segments_at_once_then_paces() {
    // Linux's tcp_update_skb_after_send ("sch_fq does not pace first 10 MSS"), selected by
    // the packetdrill profile: the initial window leaves unpaced at 40 ms, where the test
    // above spaces it 2 ms apart.
    let mut c = cfg(Pacing::On);
    c.tcp.pace_after_iw = true;
    let (mut t, h, d) = open(c, 40);
    t.stack.send(h, &vec![1u8; 20_000]).unwrap();
    t.flush();
    for i in 0..10u32 {
        t.expect(40, seg().seq(d + 1000 * i).len(1000));
    }
    t.expect_nothing_until(79);
    // The 10th segment started the schedule: 2 ms at 500 B/ms, halved as credit for the
    // idle time before it (next at 41 ms), less the 2-segment quantum's allowance of one
    // segment (2 ms): released from 39 ms.
    assert_eq!(
        t.stack.connection(h).unwrap().next_send_time(),
        Some(instant(39))
    );
}

#[test]
fn a_pace_timer_between_milliseconds_fires_at_its_deadline_and_the_clock_moves_on() {
    // SRTT 30 ms, cwnd 10,000: 2 * 10,000 B / 30 ms = 666,666 B/s, one 1000-byte segment
    // per 1.5 ms, so release times fall between milliseconds. The harness fires the pace
    // timer at its own deadline (10.5 ms, say) and collects output there; collecting it at
    // the whole millisecond before found the data still held and the timer re-armed at the
    // same deadline, for ever.
    let (mut t, h, d) = open(cfg(Pacing::On), 30);
    assert_eq!(t.stack.connection(h).unwrap().pacing_rate(), Some(666_666));
    t.stack.send(h, &vec![1u8; 10_000]).unwrap();
    t.flush();
    t.expect(30, seg().seq(d).len(1000)); // halved first gap (idle credit): next at 30.75
    t.expect(30, seg().seq(d + 1000).len(1000)); // the send quantum's allowance
                                                 // Then one per 1.5 ms from 30.75 ms, each at its release time (recorded in the
                                                 // millisecond it falls in): 30.75, 32.25, 33.75, ...
    for (i, at) in [
        (2u32, 30),
        (3, 32),
        (4, 33),
        (5, 35),
        (6, 36),
        (7, 38),
        (8, 39),
        (9, 41),
    ] {
        t.expect(at, seg().seq(d + 1000 * i).len(1000));
    }
    t.expect_nothing_until(60);
    assert_eq!(
        t.stack.connection(h).unwrap().next_send_time(),
        Some(tuntcp::time::Instant::from_micros(42_751)),
        "the next release, 1.5 ms (and 1 ns per segment of rounding) after 41.25 ms"
    );
}
