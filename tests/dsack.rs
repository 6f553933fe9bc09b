//! The receiver's D-SACK (RFC 2883): data that arrives twice is reported in the first SACK
//! block of the ACK it draws, once; Linux's default (`tcp_dsack` = 1). The traces follow
//! RFC 2883 §4's examples. The peer's MSS is 1000; its data starts at 1001.

mod support;

use support::*;
use tuntcp::stack::{SocketHandle, StackConfig};

const P: u32 = 1001; // the peer's first data byte

fn receiver(mut cfg: StackConfig) -> (Harness, SocketHandle, u32) {
    // Delayed ACKs from the start (no quick-ACK mode): one ACK per two segments, as the
    // RFC 2883 examples have it.
    cfg.tcp.quick_acks = 0;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(at(0), P - 1, seg().mss(1000).sack_perm());
    (t, h, iss + 1)
}

fn data(t: &mut Harness, ms: u64, a: u32, seq: u32, len: usize) {
    t.send(ms, seg().ack_flag().seq(seq).ack(a).data(&vec![5u8; len]));
}

fn counter(t: &Harness, name: &str) -> u64 {
    t.stack.counters().get(name).unwrap()
}

#[test]
fn a_duplicate_below_rcv_nxt_is_reported_first_once() {
    let (mut t, _h, a) = receiver(Harness::config());
    data(&mut t, at(10), a, P, 1000);
    data(&mut t, at(10), a, P + 1000, 1000);
    t.expect(at(10), seg().ack(P + 2000).sack(&[]));
    // RFC 2883 §4.1.1: the ACK was lost and the sender resends the first segment: the
    // duplicate ACK's only block reports it, below the cumulative ACK.
    data(&mut t, at(300), a, P, 1000);
    t.expect(at(300), seg().ack(P + 2000).sack(&[(P, P + 1000)]));
    // Reported once: the next ACK carries no block.
    data(&mut t, at(310), a, P + 2000, 1000);
    t.expect(at(350), seg().ack(P + 3000).sack(&[]));
    // Partly a duplicate (RFC 2883 §4: "the duplicate contiguous sequence"): the old part
    // is reported with the ACK of the new part, here the delayed one.
    data(&mut t, at(400), a, P + 2500, 1000);
    t.expect(at(440), seg().ack(P + 3500).sack(&[(P + 2500, P + 3000)]));
    t.expect_nothing_until(at(1000));
    assert_eq!(counter(&t, "TcpExtTCPDSACKOldSent"), 2);
    assert_eq!(counter(&t, "TcpExtTCPDSACKOfoSent"), 0);
}

#[test]
fn a_duplicate_of_held_out_of_order_data_comes_first_then_the_block_holding_it() {
    let (mut t, _h, a) = receiver(Harness::config());
    // Segment 1 is lost; 2 and 4 are held out of order.
    data(&mut t, at(10), a, P + 1000, 1000);
    t.expect(at(10), seg().ack(P).sack(&[(P + 1000, P + 2000)]));
    data(&mut t, at(10), a, P + 3000, 1000);
    t.expect(
        at(10),
        seg()
            .ack(P)
            .sack(&[(P + 3000, P + 4000), (P + 1000, P + 2000)]),
    );
    data(&mut t, at(10), a, P + 2000, 1000);
    t.expect(at(10), seg().ack(P).sack(&[(P + 1000, P + 4000)]));
    // RFC 2883 §4.1.3: segment 3 again. The D-SACK block first, then the block that holds
    // it (RFC 2883 §4: "the second SACK block ... should specify that (possibly larger)
    // block of data").
    data(&mut t, at(20), a, P + 2000, 1000);
    t.expect(
        at(20),
        seg()
            .ack(P)
            .sack(&[(P + 2000, P + 3000), (P + 1000, P + 4000)]),
    );
    // A copy straddling the hole's edge: only the part held is a duplicate. The hole fills.
    data(&mut t, at(30), a, P + 500, 1000);
    t.expect(
        at(30),
        seg()
            .ack(P)
            .sack(&[(P + 1000, P + 1500), (P + 500, P + 4000)]),
    );
    data(&mut t, at(40), a, P, 500);
    t.expect(at(40), seg().ack(P + 4000).sack(&[]));
    assert_eq!(counter(&t, "TcpExtTCPDSACKOfoSent"), 2);
    assert_eq!(counter(&t, "TcpExtTCPDSACKOldSent"), 0);
}

#[test]
fn no_dsack_when_switched_off() {
    let mut cfg = Harness::config();
    cfg.tcp.dsack = false;
    let (mut t, _h, a) = receiver(cfg);
    data(&mut t, at(10), a, P, 1000);
    data(&mut t, at(10), a, P + 1000, 1000);
    t.expect(at(10), seg().ack(P + 2000).sack(&[]));
    data(&mut t, at(300), a, P, 1000);
    t.expect(at(300), seg().ack(P + 2000).sack(&[]));
    assert_eq!(counter(&t, "TcpExtTCPDSACKOldSent"), 0);
}
