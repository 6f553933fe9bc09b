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
