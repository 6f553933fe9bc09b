//! SACK compression, as Linux's `tcp_comp_sack_nr` (on by default there since 4.18, and
//! here): while out-of-order data is held and the peer uses SACK, the first three ACKs for
//! one RCV.NXT go at once (a DupThresh sender needs three duplicate ACKs), the rest are
//! held until `comp_sack_delay` (1 ms) or 5% of the RTT, whichever is less, or until
//! `comp_sack_nr` (44) of them are held; the ACK that goes carries every block.
//!
//! Every connection here has a 20 ms RTT (SYN-ACK at 0, the peer's ACK at 20 ms), so the
//! hold is min(1 ms, 20 ms / 20) = 1 ms.

mod support;

use support::*;
use tuntcp::stack::{SocketHandle, StackConfig};
use tuntcp::wire::TcpFlags;

const ACK: TcpFlags = TcpFlags::ACK;

/// A 100-byte segment of the peer at `seq`.
fn hundred(iss: u32, seq: u32) -> Spec {
    seg().ack_flag().seq(seq).ack(iss + 1).data(&[7; 100])
}

fn receiver(cfg: StackConfig, syn: Spec) -> (Harness, SocketHandle, u32) {
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, 20, 1000, syn);
    (t, h, iss)
}

fn counter(t: &Harness, name: &str) -> u64 {
    t.stack.counters().get(name).unwrap()
}

#[test]
fn after_three_immediate_acks_for_one_rcv_nxt_the_rest_wait_for_the_compression_timer() {
    let (mut t, h, iss) = receiver(Harness::config(), seg().sack_perm());
    // 1001..1101 is lost; six segments above it arrive in one batch at 30 ms.
    t.send_burst(30, &burst_of(iss));
    for end in [1201, 1301, 1401] {
        t.expect(30, seg().flags(ACK).ack(1001).sack(&[(1101, end)]));
    }
    // Three more held: one ACK 1 ms later, with the block as it stands then.
    t.expect_nothing_until(30);
    t.expect(31, seg().flags(ACK).ack(1001).sack(&[(1101, 1701)]));
    t.expect_nothing_until(100);
    assert_eq!(counter(&t, "TcpExtTCPAckCompressed"), 2, "3 held, 1 sent");
    // The hole filled: RFC 5681 §4.2's immediate ACK, as without compression.
    t.send(100, hundred(iss, 1001));
    t.expect(100, seg().flags(ACK).ack(1701).sack(&[]));
    assert_eq!(t.read_all(h), vec![7; 700]);
}

#[test]
fn a_new_rcv_nxt_gets_three_immediate_acks_again_and_an_ack_that_goes_takes_the_held_ones() {
    let (mut t, _h, iss) = receiver(Harness::config(), seg().sack_perm());
    // Two holes: 1001..1101 and 1301..1401.
    t.send_burst(
        30,
        &[
            hundred(iss, 1101),
            hundred(iss, 1201),
            hundred(iss, 1401),
            hundred(iss, 1501), // held
        ],
    );
    t.expect(30, seg().flags(ACK).ack(1001).sack(&[(1101, 1201)]));
    t.expect(30, seg().flags(ACK).ack(1001).sack(&[(1101, 1301)]));
    t.expect(
        30,
        seg()
            .flags(ACK)
            .ack(1001)
            .sack(&[(1401, 1501), (1101, 1301)]),
    );
    // The first hole fills before the timer: RCV.NXT moves to 1301 with a hole left, so
    // this ACK goes at once (and carries the held one's block), and the count restarts.
    t.send_burst(30, &[hundred(iss, 1001), hundred(iss, 1601)]);
    t.expect(30, seg().flags(ACK).ack(1301).sack(&[(1401, 1601)]));
    t.expect(30, seg().flags(ACK).ack(1301).sack(&[(1401, 1701)]));
    t.expect_nothing_until(100);
    assert_eq!(counter(&t, "TcpExtTCPAckCompressed"), 1);
}

#[test]
fn comp_sack_nr_held_acks_at_most_then_one_goes() {
    let mut cfg = Harness::config();
    cfg.tcp.comp_sack_nr = 2;
    let (mut t, _h, iss) = receiver(cfg, seg().sack_perm());
    t.send_burst(30, &burst_of(iss));
    for end in [1201, 1301, 1401] {
        t.expect(30, seg().flags(ACK).ack(1001).sack(&[(1101, end)]));
    }
    // Segments 4 and 5 are held; at the 6th, two are held already: an ACK goes now.
    t.expect(30, seg().flags(ACK).ack(1001).sack(&[(1101, 1701)]));
    t.expect_nothing_until(100);
    assert_eq!(counter(&t, "TcpExtTCPAckCompressed"), 2);
}

#[test]
fn without_sack_or_with_comp_sack_nr_0_each_out_of_order_segment_is_acked_at_once() {
    // Without SACK a duplicate ACK is all the sender learns: each one counts (RFC 5681).
    let (mut t, _h, iss) = receiver(Harness::config(), seg());
    t.send_burst(30, &burst_of(iss));
    for _ in 0..6 {
        t.expect(30, seg().flags(ACK).ack(1001));
    }
    t.expect_nothing_until(100);
    let mut cfg = Harness::config();
    cfg.tcp.comp_sack_nr = 0;
    let (mut t, _h, iss) = receiver(cfg, seg().sack_perm());
    t.send_burst(30, &burst_of(iss));
    for end in [1201, 1301, 1401, 1501, 1601, 1701] {
        t.expect(30, seg().flags(ACK).ack(1001).sack(&[(1101, end)]));
    }
    t.expect_nothing_until(100);
    assert_eq!(counter(&t, "TcpExtTCPAckCompressed"), 0);
}

/// Six 100-byte segments above a hole at 1001..1101.
fn burst_of(iss: u32) -> Vec<Spec> {
    (1..=6).map(|k| hundred(iss, 1001 + 100 * k)).collect()
}

#[test]
fn the_hold_is_five_percent_of_the_rtt_at_most_comp_sack_delay() {
    // RTT 100 ms: 5% is 5 ms, more than comp_sack_delay (1 ms): held 1 ms.
    let mut t = Harness::server_with(80, Harness::config());
    let (_h, iss) = t.establish_rtt(0, 100, 1000, seg().sack_perm());
    t.send_burst(200, &burst_of(iss));
    assert_eq!(t.drain().len(), 3);
    t.expect_nothing_until(200);
    t.expect(201, seg().flags(ACK).ack(1001).sack(&[(1101, 1701)]));
    // With comp_sack_delay 10 ms, 5% of the RTT (5 ms) is the lesser.
    let mut cfg = Harness::config();
    cfg.tcp.comp_sack_delay = tuntcp::time::Duration::from_millis(10);
    let mut t = Harness::server_with(80, cfg);
    let (_h, iss) = t.establish_rtt(0, 100, 1000, seg().sack_perm());
    t.send_burst(200, &burst_of(iss));
    assert_eq!(t.drain().len(), 3);
    t.expect_nothing_until(204);
    t.expect(205, seg().flags(ACK).ack(1001).sack(&[(1101, 1701)]));
}

#[test]
fn a_segment_that_opens_a_new_range_is_acked_at_once_with_the_held_ones() {
    // Not as Linux (which holds it too, and sends the held ACK only when its four-block
    // list overflows): a new range means a new hole, news of a loss, and held ACKs could
    // push older blocks out of the three an ACK carries before they were reported.
    let (mut t, _h, iss) = receiver(Harness::config(), seg().sack_perm());
    t.send_burst(30, &burst_of(iss)[..5]); // 1101..1601 above the hole at 1001
    assert_eq!(
        t.drain().len(),
        3,
        "1101, 1201, 1301 at once; 1401 and 1501 held"
    );
    // 1601..1701 is lost too: 1701..1801 opens a range of its own.
    t.send(30, hundred(iss, 1701));
    t.expect(
        30,
        seg()
            .flags(ACK)
            .ack(1001)
            .sack(&[(1701, 1801), (1101, 1601)]),
    );
    t.expect_nothing_until(100);
    assert_eq!(counter(&t, "TcpExtTCPAckCompressed"), 2);
}
