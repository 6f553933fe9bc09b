//! RACK-TLP (RFC 8985) traces: time-based loss detection with the reordering window, lost
//! retransmissions found without an RTO, tail loss probes, and the DupThresh fallback
//! (`recovery` = 0, like Linux's `tcp_recovery`).
//!
//! Every connection here has a 20 ms RTT (SYN-ACK at 0, the peer's ACK at 20 ms) and an MSS
//! of 1000 without timestamps, so min_RTT = SRTT = 20 ms, RACK's reordering window is
//! min_RTT / 4 = 5 ms, and the PTO is 2 * SRTT (+ 2 ms, as Linux) = 42 ms.

mod support;

use support::*;
use tuntcp::stack::{SocketHandle, StackConfig};
use tuntcp::time::Duration;

/// Established at 20 ms with `bytes` queued: returns (handle, first data sequence number);
/// the initial window (10 segments of 1000) left at 20 ms.
fn sender(cfg: StackConfig, bytes: usize) -> (Harness, SocketHandle, u32) {
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, 20, 1000, seg().mss(1000).sack_perm());
    t.stack.send(h, &vec![7u8; bytes]).unwrap();
    t.flush();
    let sent = t.drain();
    assert_eq!(sent.len(), bytes.div_ceil(1000).min(10));
    (t, h, iss + 1)
}

fn ack(t: &mut Harness, ms: u64, a: u32, blocks: &[(u32, u32)]) {
    t.send(ms, seg().ack_flag().seq(1001).ack(a).sack(blocks));
}

fn counter(t: &Harness, name: &str) -> u64 {
    t.stack.counters().get(name).unwrap()
}

#[test]
fn tail_loss_is_recovered_by_a_loss_probe_without_an_rto() {
    let (mut t, _h, d) = sender(Harness::config(), 10_000);
    // Segments 9 and 10 are lost; 1-8 are acknowledged at 40 ms. No SACK, no dupack: only
    // a timer can find the tail. The PTO restarts at the ACK: 40 + 42 ms.
    ack(&mut t, 40, d + 8000, &[]);
    t.expect_nothing_until(81);
    // RFC 8985 §7.3: no new data, so the probe is the last segment again.
    t.expect(82, seg().seq(d + 9000).len(1000));
    // Its SACK makes RACK mark segment 9 (sent 62 ms before the probe) lost at once.
    ack(&mut t, 102, d + 8000, &[(d + 9000, d + 10_000)]);
    t.expect(102, seg().seq(d + 8000).len(1000));
    ack(&mut t, 122, d + 10_000, &[]);
    t.expect_nothing_until(1000);
    assert_eq!(counter(&t, "TcpExtTCPLossProbes"), 1);
    assert_eq!(counter(&t, "TcpExtTCPSackRecovery"), 1);
    assert_eq!(counter(&t, "TcpExtTCPTimeouts"), 0, "no RTO");
}

#[test]
fn a_lost_retransmission_is_found_by_rack_without_an_rto() {
    let (mut t, h, d) = sender(Harness::config(), 20_000);
    // Segment 2 is lost, 3-10 SACKed: with 8 SACKed the reordering window is 0 and
    // segment 2 (sent 20 ms ago, one RTT) is lost at once; recovery resends it first.
    ack(&mut t, 40, d + 1000, &[(d + 2000, d + 10_000)]);
    let out = t.drain();
    assert_eq!(
        out.first().map(|s| (s.seq, s.payload.len())),
        Some((d + 1000, 1000)),
        "fast retransmit of segment 2 at 40 ms"
    );
    assert!(
        out[1..]
            .iter()
            .all(|s| s.seq.wrapping_sub(d + 10_000) as i32 >= 0),
        "then new data"
    );
    let top = out.last().map(|s| s.seq + s.payload.len() as u32).unwrap();
    // The retransmission is lost too. The new data sent with it is SACKed one RTT later:
    // delivered data sent after the retransmission says the retransmission is lost
    // (RFC 8985 §6.2), so it goes again now, not at the RTO (240 ms).
    ack(&mut t, 60, d + 1000, &[(d + 2000, top)]);
    t.expect(60, seg().seq(d + 1000).len(1000));
    assert_eq!(counter(&t, "TcpExtTCPLostRetransmit"), 1);
    // `ss -i` lost: segment 2, marked lost (and sent a third time), as Linux's lost_out.
    let i = t.stack.connection(h).unwrap().info(instant(60));
    assert_eq!(i.lost, 1);
    assert!(tuntcp::stack::report::ss_info(&i).contains(" lost:1 "));
    ack(&mut t, 80, top, &[]);
    assert_eq!(counter(&t, "TcpExtTCPTimeouts"), 0, "no RTO");
}

#[test]
fn reordering_within_the_reordering_window_is_not_marked_lost() {
    let (mut t, h, d) = sender(Harness::config(), 10_000);
    // Segment 2 is late: 3 arrives first. One SACKed segment and no reordering seen yet:
    // the window is min_RTT / 4 = 5 ms, so segment 2 is lost only at 20 + 20 + 5 = 45 ms.
    ack(&mut t, 40, d + 1000, &[(d + 2000, d + 3000)]);
    // Segment 2 arrives at 43 ms: nothing was resent.
    ack(&mut t, 43, d + 3000, &[]);
    ack(&mut t, 60, d + 10_000, &[]);
    t.expect_nothing_until(1000);
    assert_eq!(counter(&t, "TcpRetransSegs"), 0);
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.info(instant(1000)).reord_seen, 1, "ss -i reord_seen");
}

#[test]
fn a_hole_is_resent_when_the_reordering_window_expires_and_a_dsack_widens_it() {
    let (mut t, h, d) = sender(Harness::config(), 10_000);
    ack(&mut t, 40, d + 1000, &[(d + 2000, d + 3000)]);
    // RACK's reorder timer (RFC 8985 §6.3): 5 ms past the RTT.
    t.expect_nothing_until(44);
    t.expect(45, seg().seq(d + 1000).len(1000));
    // The original was only late: the peer reports the copy with a D-SACK (RFC 2883).
    ack(&mut t, 50, d + 10_000, &[(d + 1000, d + 2000)]);
    // §6.2 step 4: the window grows by min_RTT / 4 per D-SACK round.
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.rack_reo_wnd(), Duration::from_millis(10));
    // The same reordering again: now the hole waits 10 ms past the RTT.
    t.stack.send(h, &[8u8; 3000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 3, "3 segments at 50 ms");
    let d = d + 10_000;
    ack(&mut t, 70, d + 1000, &[(d + 2000, d + 3000)]);
    t.expect_nothing_until(79);
    t.expect(80, seg().seq(d + 1000).len(1000));
}

#[test]
fn recovery_0_falls_back_to_dupthresh_without_timers() {
    let mut cfg = Harness::config();
    cfg.tcp.recovery = 0;
    let (mut t, _h, d) = sender(cfg, 10_000);
    // One SACKed segment above a hole: RFC 6675 waits for DupThresh (3) SACKed segments;
    // no reorder timer.
    ack(&mut t, 40, d + 1000, &[(d + 2000, d + 3000)]);
    t.expect_nothing_until(100);
    ack(&mut t, 100, d + 1000, &[(d + 2000, d + 4000)]);
    t.expect_nothing_until(100);
    ack(&mut t, 100, d + 1000, &[(d + 2000, d + 5000)]);
    t.expect(100, seg().seq(d + 1000).len(1000));
    // A tail loss waits for the RTO (200 ms after the last ACK): no probe.
    ack(&mut t, 120, d + 9000, &[]);
    t.expect_nothing_until(319);
    t.expect(320, seg().seq(d + 9000).len(1000));
    assert_eq!(counter(&t, "TcpExtTCPLossProbes"), 0);
    assert_eq!(counter(&t, "TcpExtTCPTimeouts"), 1);
}

#[test]
fn a_probe_that_repairs_a_loss_reduces_cwnd_once() {
    let (mut t, h, d) = sender(Harness::config(), 10_000);
    // Only the last segment is lost. One segment in flight: PTO = 2 * SRTT + 200 ms
    // (RFC 8985 §7.2 WCDelAckT), capped by the RTO armed at 40 ms (200 ms): 240 ms.
    ack(&mut t, 40, d + 9000, &[]);
    t.expect_nothing_until(239);
    t.expect(240, seg().seq(d + 9000).len(1000));
    assert_eq!(counter(&t, "TcpExtTCPTimeouts"), 0, "a probe, not an RTO");
    // The probe's ACK alone cannot tell a repaired loss from a late original (§7.4)...
    ack(&mut t, 260, d + 10_000, &[]);
    let cwnd = t.stack.connection(h).unwrap().cwnd();
    // ...an ACK beyond it without a D-SACK can: the loss was real, cwnd is reduced once.
    t.stack.send(h, &[9u8; 1000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 1);
    ack(&mut t, 280, d + 11_000, &[]);
    assert_eq!(counter(&t, "TcpExtTCPLossProbeRecovery"), 1);
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.ssthresh(), cwnd / 1000 * 700, "CUBIC's beta 0.7 of cwnd");
    assert_eq!(c.cwnd(), c.ssthresh());
}

#[test]
fn a_probe_carries_new_data_when_there_is_some_and_only_one_goes_per_episode() {
    let (mut t, _h, d) = sender(Harness::config(), 20_000);
    // Every ACK of the initial window is lost. The PTO armed with the data (2 * SRTT + 2
    // ms) fires first; cwnd is full, but a probe may send new data (§7.3): two segments
    // (Deviation, rack.rs `set_probe_more`), so a delaying receiver ACKs at once.
    t.expect_nothing_until(61);
    t.expect(62, seg().seq(d + 10_000).len(1000));
    t.expect(62, seg().seq(d + 11_000).len(1000));
    // One probe per episode: the next thing is the RTO, restarted by the probe at 62 ms.
    t.expect_nothing_until(261);
    t.expect(262, seg().seq(d).len(1000));
    assert_eq!(counter(&t, "TcpExtTCPLossProbes"), 1);
    assert_eq!(counter(&t, "TcpExtTCPTimeouts"), 1);
}

#[test]
fn a_resent_first_segment_restarts_the_rto_so_its_ack_can_arrive() {
    // RTT 100 ms and a steady RTT, so the RTO is its 200 ms floor: two RTTs. The first
    // segment of a flight is lost and resent by RACK 125 ms after the flight left; the
    // timer armed with the flight would fire 75 ms later, before the resend's ACK could
    // return (Linux's tcp_xmit_retransmit_queue rearms it for the head). Before: a timeout
    // at 900 ms and a go-back-N resend of the whole flight.
    let mut t = Harness::server_with(80, Harness::config());
    let (h, iss) = t.establish_rtt(0, 100, 1000, seg().mss(1000).sack_perm());
    let mut d = iss + 1;
    // Six rounds of one segment, each acknowledged 100 ms later: RTTVAR shrinks to 9 ms.
    for k in 0..6u64 {
        t.stack.send(h, &[7u8; 1000]).unwrap();
        t.flush();
        t.expect(100 + 100 * k, seg().seq(d).len(1000));
        d += 1000;
        ack(&mut t, 200 + 100 * k, d, &[]);
    }
    assert_eq!(
        t.stack.connection(h).unwrap().rto(),
        Duration::from_millis(200),
        "SRTT 100 ms + 4 RTTVAR under the 200 ms floor"
    );
    // At 700 ms, ten segments; the first is lost, the second SACKed at 800 ms. RACK
    // (reordering window min_RTT / 4 = 25 ms) resends the first at 825 ms.
    t.stack.send(h, &[7u8; 10_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10);
    ack(&mut t, 800, d, &[(d + 1000, d + 2000)]);
    t.expect(825, seg().seq(d).len(1000));
    // The timer now runs from 825 ms: nothing is sent before the resend's ACK at 925 ms.
    t.expect_nothing_until(924);
    ack(&mut t, 925, d + 10_000, &[]);
    t.expect_nothing_until(2000);
    assert_eq!(counter(&t, "TcpExtTCPTimeouts"), 0, "no RTO");
    assert_eq!(counter(&t, "TcpExtTCPFastRetrans"), 1);
}

/// Deviation from RFC 8985 §7.2 (a probe only outside recovery): in fast recovery, once
/// everything marked lost has been resent and nothing was sent after the last
/// retransmission, a PTO sends new data, so that a retransmission lost again is found by
/// RACK (§6.2) instead of by the RTO. A window of 3 segments: segment 1 lost, 2-3 SACKed.
#[test]
fn a_retransmission_lost_again_in_recovery_is_found_through_a_probe_of_new_data_not_the_rto() {
    let mut cfg = Harness::config();
    cfg.tcp.initial_cwnd = 3;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, 20, 1000, seg().mss(1000).sack_perm());
    let d = iss + 1;
    t.stack.send(h, &[7u8; 20_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 3, "IW3 at 20 ms");
    // Two SACKed: segments 4 and 5 go in their place (both lost too). RACK waits its
    // reordering window (5 ms) past segment 1's RTT, then fast recovery resends it; PRR
    // lets nothing else go (pipe 3 segments: 4, 5 and the retransmission; ssthresh 2).
    ack(&mut t, 40, d, &[(d + 1000, d + 3000)]);
    t.expect(40, seg().seq(d + 3000).len(1000));
    t.expect(40, seg().seq(d + 4000).len(1000));
    t.expect(45, seg().seq(d).len(1000));
    // The retransmission is lost. 2 * SRTT + 2 ms later: a probe of new data (segments 6
    // and 7, `a_probe_of_new_data_is_two_segments_so_a_delaying_receiver_acks_it_at_once`).
    t.expect_nothing_until(86);
    t.expect(87, seg().seq(d + 5000).len(1000));
    t.expect(87, seg().seq(d + 6000).len(1000));
    assert_eq!(counter(&t, "TcpExtTCPLossProbes"), 1);
    // Its SACK shows a segment sent after the retransmission delivered: segment 1 is
    // resent at once, 113 ms before the RTO (220 ms) would have.
    ack(
        &mut t,
        107,
        d,
        &[(d + 5000, d + 7000), (d + 1000, d + 3000)],
    );
    t.expect(107, seg().seq(d).len(1000));
    assert_eq!(counter(&t, "TcpExtTCPLostRetransmit"), 1);
    ack(&mut t, 127, d + 7000, &[]);
    assert_eq!(counter(&t, "TcpExtTCPTimeouts"), 0, "no RTO");
}

/// Deviation from RFC 8985 §7.3 (rack.rs `set_probe_more`): a probe of new data is two
/// segments, because a receiver delaying its ACKs answers a lone in-order segment only when
/// its delayed-ACK timer fires (Linux 40 ms, RFC 5681 up to 500 ms), but ACKs a second
/// full-sized one at once. The flight's ACK was lost; the two-segment probe's ACK reports
/// everything delivered, and the episode ends without a reduction.
#[test]
fn a_probe_of_new_data_is_two_segments_so_a_delaying_receiver_acks_it_at_once() {
    let (mut t, h, d) = sender(Harness::config(), 20_000);
    let cwnd = t.stack.connection(h).unwrap().cwnd();
    t.expect_nothing_until(61);
    t.expect(62, seg().seq(d + 10_000).len(1000));
    t.expect(62, seg().seq(d + 11_000).len(1000));
    t.expect_nothing_until(81);
    // The receiver (every segment arrived) ACKs the two at once, one RTT later.
    ack(&mut t, 82, d + 12_000, &[]);
    assert_eq!(
        counter(&t, "TcpExtTCPLossProbes"),
        1,
        "one probe, two segments"
    );
    assert_eq!(
        counter(&t, "TcpExtTCPLossProbeRecovery"),
        0,
        "new data: no loss"
    );
    assert_eq!(counter(&t, "TcpRetransSegs"), 0);
    assert!(
        t.stack.connection(h).unwrap().cwnd() >= cwnd,
        "no reduction"
    );
    // Slow start goes on from the ACK: new data, no timeout.
    assert!(t.drain().len() >= 2);
    assert_eq!(counter(&t, "TcpExtTCPTimeouts"), 0);
}

/// The probe stays one segment when only one more new segment fits the peer's window.
#[test]
fn a_probe_is_one_segment_when_only_one_new_segment_fits_the_peers_window() {
    let mut t = Harness::server_with(80, Harness::config());
    let (h, iss) = t.establish_rtt(0, 20, 1000, seg().mss(1000).sack_perm());
    let d = iss + 1;
    // The peer's window: 11,000 octets, one segment beyond the initial window.
    t.send(20, seg().ack_flag().seq(1001).ack(d).win(11_000));
    t.stack.send(h, &[7u8; 20_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10);
    t.expect_nothing_until(61);
    t.expect(62, seg().seq(d + 10_000).len(1000));
    t.expect_nothing_until(81);
    assert_eq!(counter(&t, "TcpExtTCPLossProbes"), 1);
}
