//! Which ACKs grow the congestion window, and by how much (RFC 5681 §3.1, RFC 3465,
//! RFC 3042): the differences packetdrill's `limited_transmit/*` scripts found.
//!
//! The shape of those scripts: 15,000 bytes written, the initial window of 10 segments of
//! 1000 sent at 100 ms (a 100 ms RTT), then the peer's ACKs.

mod support;

use support::*;
use tuntcp::stack::SocketHandle;

const SEG: u32 = 1000;

/// 10 segments in flight at 100 ms: (harness, handle, SND.UNA).
fn sender(syn: Spec) -> (Harness, SocketHandle, u32) {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish_rtt(0, 100, 1000, syn.mss(1000).win(65535));
    t.stack.send(h, &[5u8; 15_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10, "the initial window");
    (t, h, iss + 1)
}

fn cwnd(t: &Harness, h: SocketHandle) -> u32 {
    t.stack.connection(h).unwrap().cwnd()
}

#[test]
fn a_duplicate_ack_that_only_sacks_new_data_grows_no_cwnd() {
    let (mut t, h, una) = sender(seg().sack_perm());
    // 210 ms: a duplicate ACK SACKing segment 2. Limited transmit (RFC 3042) sends one new
    // segment; the SACKed 1000 bytes do not grow cwnd (RFC 5681 §3.1: only an ACK that
    // cumulatively acknowledges new data does), which sent a second one.
    t.send(
        at(210),
        seg().seq(1001).ack(una).sack(&[(una + SEG, una + 2 * SEG)]),
    );
    t.expect(at(210), seg().seq(una + 10 * SEG).len(1000));
    t.expect_nothing_until(at(211));
    assert_eq!(cwnd(&t, h), 10 * SEG);
    // 220 ms: segment 1 arrives after all (reordering): the cumulative ACK of 1-2 grows
    // cwnd by the 1000 bytes it newly delivered (segment 2 counted when SACKed).
    t.send(at(220), seg().seq(1001).ack(una + 2 * SEG));
    assert_eq!(cwnd(&t, h), 11 * SEG);
}

#[test]
fn without_sack_the_ack_after_duplicate_acks_credits_cwnd_only_the_hole() {
    let (mut t, h, una) = sender(seg());
    // Two duplicate ACKs: limited transmit sends one new segment for each.
    t.send(at(210), seg().seq(1001).ack(una));
    t.expect(at(210), seg().seq(una + 10 * SEG).len(1000));
    t.send(at(220), seg().seq(1001).ack(una));
    t.expect(at(220), seg().seq(una + 11 * SEG).len(1000));
    // 230 ms: segments 1-3 acknowledged. The duplicate ACKs stood for segments 2 and 3
    // delivered (RFC 9937 §5), so this ACK delivered one more: slow start takes cwnd
    // from 10 to 11 segments, and with 9 in flight 2 new ones go (3 when the ACK was
    // credited with all 2000 bytes it covers).
    t.send(at(230), seg().seq(1001).ack(una + 3 * SEG));
    t.expect(at(230), seg().seq(una + 12 * SEG).len(1000));
    t.expect(at(230), seg().seq(una + 13 * SEG).len(1000));
    t.expect_nothing_until(at(231));
    assert_eq!(cwnd(&t, h), 11 * SEG);
}

/// The 15,000 bytes of [`sender`] all acknowledged by 300 ms (the last sent at 200 ms),
/// cwnd grown to 12 segments by then; nothing more to send. Returns (harness,
/// handle, SND.UNA, cwnd, RTO).
fn idle_after_growth(
    cfg: tuntcp::stack::StackConfig,
) -> (Harness, SocketHandle, u32, u32, tuntcp::time::Duration) {
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, 100, 1000, seg().mss(1000).sack_perm().win(65535));
    t.stack.send(h, &[5u8; 15_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10, "the initial window");
    let una = iss + 1;
    t.send(at(200), seg().seq(1001).ack(una + 10 * SEG));
    assert_eq!(t.drain().len(), 5, "the rest");
    t.send(at(300), seg().seq(1001).ack(una + 15 * SEG));
    let c = t.stack.connection(h).unwrap();
    let (cwnd, rto) = (c.cwnd(), c.rto());
    // Slow start: 10 + 2 segments (RFC 3465 L = 2) at the first ACK; the second, with 5
    // in flight, comes while application-limited (RFC 7661) and grows nothing.
    assert_eq!(cwnd, 12 * SEG);
    assert_eq!(rto.micros(), 212_500, "RTO from the samples of 100 ms");
    (t, h, una + 15 * SEG, cwnd, rto)
}

/// Writes 30,000 bytes at `ms`; returns the segments that leave at once.
fn write_at(t: &mut Harness, h: SocketHandle, ms: u64) -> Vec<Owned> {
    t.advance(ms);
    t.stack.send(h, &[6u8; 30_000]).unwrap();
    t.flush();
    t.drain()
}

#[test]
fn after_more_than_an_rto_idle_new_data_restarts_from_the_initial_window() {
    let (mut t, h, una, _, _) = idle_after_growth(Harness::config());
    // RFC 5681 §4.1: nothing sent since 200 ms, more than an RTO (212.5 ms) at 413 ms; the
    // write starts from cwnd = min(IW, cwnd): 10 segments leave, not 12.
    let burst = write_at(&mut t, h, 413);
    assert_eq!(burst.len(), 10, "the initial window");
    assert_eq!(burst[0].seq, una);
    assert_eq!(t.stack.connection(h).unwrap().cwnd(), 10 * SEG);
}

#[test]
fn idle_for_less_than_an_rto_keeps_cwnd() {
    let (mut t, h, _, cwnd, _) = idle_after_growth(Harness::config());
    // 212 ms since the last send, under the RTO: all of cwnd goes.
    assert_eq!(write_at(&mut t, h, 412).len(), 12);
    assert_eq!(t.stack.connection(h).unwrap().cwnd(), cwnd);
}

#[test]
fn with_slow_start_after_idle_off_cwnd_survives_a_long_idle() {
    let mut cfg = Harness::config();
    cfg.tcp.slow_start_after_idle = false; // Linux tcp_slow_start_after_idle=0
    let (mut t, h, _, cwnd, _) = idle_after_growth(cfg);
    assert_eq!(write_at(&mut t, h, 10_000).len(), 12);
    assert_eq!(t.stack.connection(h).unwrap().cwnd(), cwnd);
}

#[test]
fn with_abc_limit_0_slow_start_adds_every_segment_an_ack_covers() {
    // RFC 3465 §2.2 caps the growth per ACK at L = 2 SMSS (12 segments after the ACK of
    // 10 in idle_after_growth); Linux has no cap: 10 + 10.
    let mut cfg = Harness::config();
    cfg.tcp.abc_limit = 0;
    cfg.tcp.slow_start_after_idle = false;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, 100, 1000, seg().mss(1000).sack_perm().win(65535));
    t.stack.send(h, &[5u8; 15_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10);
    let una = iss + 1;
    t.send(at(200), seg().seq(1001).ack(una + 10 * SEG));
    assert_eq!(t.stack.connection(h).unwrap().cwnd(), 20 * SEG);
    assert_eq!(t.drain().len(), 5);
}

/// One segment sent at 10 ms over a 10 ms path (SRTT 10 ms, RTTVAR 5 ms), never ACKed:
/// when its retransmission leaves.
fn first_retransmission_ms(rto_min_on_rttvar: bool) -> u64 {
    let mut cfg = Harness::config();
    cfg.tcp.rto_min_on_rttvar = rto_min_on_rttvar;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, 10, 1000, seg().mss(1000).win(65535));
    t.stack.send(h, &[1u8; 100]).unwrap();
    t.flush();
    t.expect(at(10), seg().seq(iss + 1).len(100));
    t.expect_between(11, 2000, seg().seq(iss + 1).len(100));
    t.now_ms
}

#[test]
fn the_rto_floor_bounds_the_sum_or_with_rto_min_on_rttvar_the_variance_term() {
    // RFC 6298 §2.4: max(SRTT + 4 RTTVAR, 200 ms) = max(30, 200) ms.
    assert_eq!(first_retransmission_ms(false), 10 + 200);
    // Linux tcp_set_rto: SRTT + max(4 RTTVAR, 200 ms) = 210 ms.
    assert_eq!(first_retransmission_ms(true), 10 + 210);
}

#[test]
fn with_gso_half_cwnd_a_super_segment_carries_at_most_half_of_cwnd() {
    for (half, want) in [(false, vec![10_000]), (true, vec![5000, 5000])] {
        let mut cfg = Harness::config();
        cfg.offload = true;
        cfg.tcp.gso_max_payload = 65_000;
        cfg.tcp.gso_half_cwnd = half;
        let mut t = Harness::server_with(80, cfg);
        let (h, _) = t.establish_rtt(0, 100, 1000, seg().mss(1000).win(65535));
        t.stack.send(h, &[5u8; 15_000]).unwrap();
        t.flush();
        let sizes: Vec<usize> = t.drain().iter().map(|s| s.payload.len()).collect();
        assert_eq!(sizes, want, "gso_half_cwnd {half}: IW10");
    }
}

#[test]
fn an_idle_restart_waits_for_the_window_to_open_and_not_the_probes() {
    let (mut t, h, una, cwnd, _) = idle_after_growth(Harness::config());
    // 310 ms: the peer's window closes; 320 ms: a write (110 ms after the last send, under
    // an RTO) can go nowhere. The persist timer probes; cwnd is left alone meanwhile.
    t.send(at(310), seg().seq(1001).ack(una).win(0));
    assert!(write_at(&mut t, h, 320).is_empty());
    t.advance(2000);
    assert_eq!(t.stack.connection(h).unwrap().cwnd(), cwnd, "while probing");
    t.drain();
    // 2.5 s: the window opens, long after the last data sent: the restart comes now, as
    // Linux's on a window update (tcp_ack_update_window): 10 segments, not 12.
    t.send(at(2500), seg().seq(1001).ack(una).win(65535));
    let burst: Vec<Owned> = t
        .drain()
        .into_iter()
        .filter(|s| !s.payload.is_empty())
        .collect();
    assert_eq!(burst.len(), 10, "{:?}", t.trace);
    assert_eq!(t.stack.connection(h).unwrap().cwnd(), 10 * SEG);
}

#[test]
fn with_loss_ssthresh_from_cwnd_an_rto_sets_ssthresh_from_cwnd_not_the_flight() {
    // One segment in flight under a cwnd of 10 (application-limited), lost: RFC 5681 eq. 4
    // / RFC 9438 §4.6 take FlightSize (0.7 x 1 segment, at least 2 SMSS); Linux's CUBIC
    // takes cwnd (0.7 x 10).
    for (from_cwnd, want) in [(false, 2 * SEG), (true, 7 * SEG)] {
        let mut cfg = Harness::config();
        cfg.tcp.loss_ssthresh_from_cwnd = from_cwnd;
        let mut t = Harness::server_with(80, cfg);
        let (h, iss) = t.establish_rtt(0, 100, 1000, seg().mss(1000).win(65535));
        t.stack.send(h, &[1u8; 1000]).unwrap();
        t.flush();
        t.expect(at(100), seg().seq(iss + 1).len(1000));
        t.expect_between(101, 2000, seg().seq(iss + 1).len(1000)); // the RTO
        assert_eq!(
            t.stack.connection(h).unwrap().ssthresh(),
            want,
            "{from_cwnd}"
        );
    }
}
