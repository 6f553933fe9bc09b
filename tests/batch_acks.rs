//! ACKs for in-order data that arrives in one batch (the runtime reads up to 256 packets at
//! one instant before it polls). A batch used to draw one cumulative ACK; against a Linux
//! CUBIC sender at 1% loss (issue 17) that one ACK clocked out the next flight as one burst,
//! and its loss stalled the sender until a tail loss probe. Full-sized segments now draw an
//! ACK after 2, 4, 8, ... segments since the previous one of the same batch (see
//! `Connection::space_batch_acks`); smaller segments keep one ACK per batch (MUST-58/59, in
//! tests/transfer.rs).

mod support;

use support::*;
use tuntcp::wire::TcpFlags;

const ACK: TcpFlags = TcpFlags::ACK;

/// `n` full-sized (1460-byte) segments of the peer from `seq`.
fn full(iss: u32, seq: u32, n: u32) -> Vec<Spec> {
    (0..n)
        .map(|i| {
            seg()
                .ack_flag()
                .seq(seq + i * 1460)
                .ack(iss + 1)
                .data(&[1; 1460])
        })
        .collect()
}

#[test]
fn rfc5681_4_2_a_batch_of_thirty_full_segments_draws_acks_after_2_6_14_and_30() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send_burst(at(10), &full(iss, 1001, 30));
    // Every second segment first (RFC 5681 §4.2), then stretched: 2, 4, 8, 16 segments
    // since the previous ACK of this batch; the poll's ACK covers the rest.
    for segs in [2, 6, 14, 30] {
        t.expect(at(10), seg().flags(ACK).ack(1001 + segs * 1460));
    }
    t.expect_nothing_until(at(1000));
    assert_eq!(t.read_all(h).len(), 30 * 1460);
}

#[test]
fn each_batch_starts_again_at_every_second_segment() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send_burst(at(10), &full(iss, 1001, 5));
    t.expect(at(10), seg().flags(ACK).ack(1001 + 2 * 1460));
    t.expect(at(10), seg().flags(ACK).ack(1001 + 5 * 1460));
    // The next flight, one millisecond later, is a new batch.
    t.send_burst(at(11), &full(iss, 1001 + 5 * 1460, 4));
    t.expect(at(11), seg().flags(ACK).ack(1001 + 7 * 1460));
    t.expect(at(11), seg().flags(ACK).ack(1001 + 9 * 1460));
    t.expect_nothing_until(at(1000));
    assert_eq!(t.read_all(h).len(), 9 * 1460);
}
