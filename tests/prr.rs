//! PRR (RFC 9937, Proportional Rate Reduction): how much the sender sends during fast
//! recovery, on the RACK-TLP path and RFC 6675's DupThresh path (`recovery` 0), as Linux
//! does by default (`tcp_cwnd_reduction`).
//!
//! The shape of RFC 9937's examples: 20 segments of 1000 in flight (initial window 20),
//! NewReno, so ssthresh = FlightSize / 2 = 10 segments; a 20 ms RTT. The peer's ACKs
//! arrive one per segment from 40 ms, each SACKing one more.

mod support;

use support::*;
use tuntcp::stack::{SocketHandle, StackConfig};
use tuntcp::tcp::congestion::Algorithm;

const SEG: u32 = 1000;

/// 20 segments in flight at 20 ms: (harness, handle, first data sequence number).
fn sender(recovery: u8) -> (Harness, SocketHandle, u32) {
    sender_with(recovery, seg().mss(1000).sack_perm().win(65535))
}

fn sender_with(recovery: u8, syn: Spec) -> (Harness, SocketHandle, u32) {
    let mut cfg: StackConfig = Harness::config();
    cfg.tcp.congestion = Algorithm::NewReno;
    cfg.tcp.initial_cwnd = 20;
    cfg.tcp.recovery = recovery;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, 20, 1000, syn);
    t.stack.send(h, &vec![7u8; 100_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 20, "the initial window");
    (t, h, iss + 1)
}

/// The peer's ACK of `ack` with one SACK block; returns what the sender sent in answer, as
/// (segment number from 1, retransmission?).
fn ack(t: &mut Harness, ms: u64, d: u32, ack: u32, block: Option<(u32, u32)>) -> Vec<u32> {
    let blocks: Vec<(u32, u32)> = block.into_iter().collect();
    t.send(ms, seg().ack_flag().seq(1001).ack(ack).sack(&blocks));
    t.drain()
        .iter()
        .map(|s| s.seq.wrapping_sub(d) / SEG + 1)
        .collect()
}

/// Segment `k` (from 1) starts at `d + (k - 1) * SEG`.
fn start(d: u32, k: u32) -> u32 {
    d + (k - 1) * SEG
}

/// Segment 1 is lost. The first ACK SACKs 2-4: RACK (reordering window zero once 3 are
/// SACKed) or DupThresh marks 1 lost and recovery begins: ssthresh 10, RecoverFS 20
/// (nothing was SACKed before), pipe 16 > ssthresh. PRR sends ssthresh / RecoverFS = 1/2
/// of what is delivered: ceil(3000 * 10 / 20) = 1500 now, the fast retransmission, then
/// one new segment for every two SACKed. Before PRR, cwnd = ssthresh at once: nothing
/// until pipe fell to 10, six ACKs later, then one for each.
fn proportional(recovery: u8) {
    let (mut t, h, d) = sender(recovery);
    let out = ack(&mut t, 40, d, d, Some((start(d, 2), start(d, 5))));
    assert_eq!(out, [1], "the fast retransmission alone");
    let mut sent = Vec::new();
    for j in 5..=20 {
        sent.push(ack(
            &mut t,
            40 + j as u64 - 4,
            d,
            d,
            Some((start(d, 2), start(d, j + 1))),
        ));
    }
    // prr_delivered = 4000, 5000, ...: one new segment (21, 22, ...) at every other ACK
    // while pipe > ssthresh (pipe 17 falls by one per ACK, rises by one per send); at
    // pipe = ssthresh (SACK of 16 and 17) nothing, below it one for one (PRR-CRB: SND.UNA
    // does not move).
    let none = vec![];
    let expect = [
        vec![21],
        none.clone(),
        vec![22],
        none.clone(),
        vec![23],
        none.clone(),
        vec![24],
        none.clone(),
        vec![25],
        none.clone(),
        vec![26],
        none.clone(),
        none.clone(),
        vec![27],
        vec![28],
        vec![29],
    ];
    assert_eq!(sent, expect, "recovery {recovery}");
    // ss -i's cwnd is PRR's (pipe + sndcnt), as Linux's snd_cwnd: 9 + 1.
    let c = t.stack.connection(h).unwrap().info(instant(56));
    assert_eq!((c.cwnd, c.ssthresh), (10, Some(10)));
    // The retransmission's ACK ends recovery: cwnd = ssthresh; 21-29 in flight, one more.
    let out = ack(&mut t, 60, d, start(d, 21), None);
    assert_eq!(out, [30]);
    let c = t.stack.connection(h).unwrap().info(instant(60));
    assert_eq!((c.cwnd, c.ssthresh), (10, Some(10)));
}

/// Segments 1-12 are lost, 13-20 arrive. The first ACK SACKs 13-15: pipe = 20 - 3 - 12 = 5,
/// below ssthresh (10): PRR's slow-start reduction bound. The ACK delivered 3000 without
/// moving SND.UNA (PRR-CRB): 3 retransmissions at once, then one for each segment SACKed.
/// Once the retransmissions are ACKed, SND.UNA advances with no further loss (PRR-SSRB):
/// two segments per ACK, slow start back up to ssthresh.
fn slow_start_bound(recovery: u8) {
    let (mut t, h, d) = sender(recovery);
    let out = ack(&mut t, 40, d, d, Some((start(d, 13), start(d, 16))));
    assert_eq!(out, [1, 2, 3], "recovery {recovery}");
    for j in 16..=20 {
        let out = ack(
            &mut t,
            40 + j as u64 - 15,
            d,
            d,
            Some((start(d, 13), start(d, j + 1))),
        );
        assert_eq!(out, [j - 12], "one for one, recovery {recovery}");
    }
    // pipe: the 8 retransmissions. Their ACKs (each advancing SND.UNA by one) bring two
    // segments each while pipe is below ssthresh (7 + 2 = 9, 8 + 2 = 10), then one each.
    let block = Some((start(d, 13), start(d, 21)));
    let out = ack(&mut t, 60, d, start(d, 2), block);
    assert_eq!(out, [9, 10], "slow start, recovery {recovery}");
    let out = ack(&mut t, 61, d, start(d, 3), block);
    assert_eq!(out, [11, 12], "slow start, recovery {recovery}");
    let out = ack(&mut t, 62, d, start(d, 4), block);
    assert_eq!(
        out.len(),
        1,
        "at ssthresh: one for one, recovery {recovery}"
    );
    let c = t.stack.connection(h).unwrap().info(instant(62));
    assert_eq!((c.cwnd, c.ssthresh), (10, Some(10)));
}

#[test]
fn prr_sends_half_of_what_is_delivered_while_pipe_is_above_ssthresh() {
    proportional(1);
}

#[test]
fn prr_sends_half_of_what_is_delivered_with_dupthresh() {
    proportional(0);
}

#[test]
fn prr_slow_starts_back_to_ssthresh_after_a_burst_loss() {
    slow_start_bound(1);
}

#[test]
fn prr_slow_starts_back_to_ssthresh_after_a_burst_loss_with_dupthresh() {
    slow_start_bound(0);
}

/// Without SACK (RFC 6582 NewReno; RFC 9937: each duplicate ACK delivered one segment).
/// Segment 1 is lost; the first two duplicate ACKs each send a new segment (RFC 3042
/// limited transmit), so 22 are in flight at the third: ssthresh 11, RecoverFS 22, pipe
/// 22 - 3 = 19. The fast retransmission (sndcnt 500 bytes, but it always goes), then one
/// new segment per two duplicate ACKs.
#[test]
fn prr_without_sack_counts_a_segment_per_duplicate_ack() {
    let (mut t, h, d) = sender_with(1, seg().mss(1000).win(65535));
    assert_eq!(ack(&mut t, 40, d, d, None), [21]);
    assert_eq!(ack(&mut t, 41, d, d, None), [22]);
    assert_eq!(ack(&mut t, 42, d, d, None), [1], "fast retransmission");
    let sent: Vec<Vec<u32>> = (0..8).map(|i| ack(&mut t, 43 + i, d, d, None)).collect();
    let none = vec![];
    // prr_delivered 2000, 3000, ...: ceil(prr_delivered * 11 / 22) - prr_out (1000 after
    // the retransmission) reaches a segment at the third.
    let expect = [
        none.clone(),
        none.clone(),
        vec![23],
        none.clone(),
        vec![24],
        none.clone(),
        vec![25],
        none.clone(),
    ];
    assert_eq!(sent, expect);
    let c = t.stack.connection(h).unwrap().info(instant(50));
    assert_eq!(c.ssthresh, Some(11));
}

/// The runtime reads a batch of packets (up to 256) before it sends anything, so on a
/// loaded machine several ACKs can be handled back to back with no send between them.
/// 20 in flight; one batch at 40 ms: an ACK of 1-10, then an ACK that SACKs 12-14 (11
/// lost). SND.MAX - SND.UNA at the second is 10 only because the batch drained the flight
/// without refilling it: ssthresh comes from the flight after the last send (20) when that
/// was more, so NewReno's ssthresh is 10, not 5. Measured with
/// scripts/bench-send-loss.sh at 1% loss: from SND.MAX - SND.UNA alone, ssthresh was 2
/// segments in most `ss -i` samples and cwnd about a third of Linux's.
fn batch(recovery: u8) {
    let (mut t, h, d) = sender(recovery);
    let sack = [(start(d, 12), start(d, 15))];
    t.send_burst(
        40,
        &[
            seg().ack_flag().seq(1001).ack(start(d, 11)),
            seg().ack_flag().seq(1001).ack(start(d, 11)).sack(&sack),
        ],
    );
    let out: Vec<u32> = t.drain().iter().map(|s| (s.seq - d) / SEG + 1).collect();
    assert_eq!(out.first(), Some(&11), "the fast retransmission: {out:?}");
    let c = t.stack.connection(h).unwrap().info(instant(40));
    assert_eq!(c.ssthresh, Some(10), "recovery {recovery}");
}

#[test]
fn ssthresh_counts_the_flight_before_a_batch_of_acks() {
    batch(1);
}

#[test]
fn ssthresh_counts_the_flight_before_a_batch_of_acks_with_dupthresh() {
    batch(0);
}

/// RFC 9937 §5: PRR's slow-start reduction bound (one extra segment per ACK) applies only
/// to an ACK that advances SND.UNA with no further loss; an ACK that also shows a
/// retransmission lost (RACK marks it) gets the conservative bound.
#[test]
fn prr_an_advancing_ack_that_reveals_a_lost_retransmission_sends_conservatively() {
    let (mut t, _h, d) = sender(1);
    // Segments 1-12 lost, 13-15 SACKed: 1, 2 and 3 go again at 40 ms.
    let out = ack(&mut t, 40, d, d, Some((start(d, 13), start(d, 16))));
    assert_eq!(out, [1, 2, 3]);
    // At 60 ms the resent 1 and 3 arrive, the resent 2 does not.
    t.send(
        60,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(start(d, 2))
            .sack(&[(start(d, 3), start(d, 4)), (start(d, 13), start(d, 16))]),
    );
    let out: Vec<u32> = t
        .drain()
        .iter()
        .map(|s| s.seq.wrapping_sub(d) / SEG + 1)
        .collect();
    // RACK marks the resent 2 lost (sent before the resent 3, which arrived): pipe is below
    // ssthresh and this ACK delivered 2000 (1 and 3), prr_delivered 5000 less prr_out
    // 3000: two segments, the lost 2 and then 4. No third (5), as SSRB would send.
    assert_eq!(out, [2, 4]);
    assert_eq!(counter(&t, "TcpExtTCPLostRetransmit"), 1);
}

fn counter(t: &Harness, name: &str) -> u64 {
    t.stack.counters().get(name).unwrap()
}

/// The same on the DupThresh path: "further loss" is new SACK information above a hole
/// (as Linux's `!newly_lost`), so the ACK that advances SND.UNA and SACKs the resent 3 gets
/// the conservative bound too. DupThresh does not see the resent 2 lost: 4 and 5 go.
#[test]
fn prr_an_advancing_ack_with_new_sack_information_sends_conservatively_with_dupthresh() {
    let (mut t, _h, d) = sender(0);
    let out = ack(&mut t, 40, d, d, Some((start(d, 13), start(d, 16))));
    assert_eq!(out, [1, 2, 3]);
    t.send(
        60,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(start(d, 2))
            .sack(&[(start(d, 3), start(d, 4)), (start(d, 13), start(d, 16))]),
    );
    let out: Vec<u32> = t
        .drain()
        .iter()
        .map(|s| s.seq.wrapping_sub(d) / SEG + 1)
        .collect();
    // Two segments for the 2000 delivered, not three (SSRB).
    assert_eq!(out, [4, 5]);
}
