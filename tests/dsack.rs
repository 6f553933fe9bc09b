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

/// The sender's side (`ss -i` dsack_dups): only a first block below the cumulative ACK, or
/// inside the second block, is a D-SACK (RFC 2883 §4), counted in SMSS segments; an ordinary
/// SACK, or a block naming bytes before our ISS, is not.
#[test]
fn the_sender_counts_only_first_blocks_below_the_ack_or_inside_the_second_as_dsacks() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(at(0), 1000, seg().mss(1000).sack_perm());
    let d = iss + 1;
    t.stack.send(h, &[7u8; 10_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10, "IW10");
    let dups = |t: &Harness, ms| t.stack.connection(h).unwrap().info(instant(ms)).dsack_dups;
    let ack = |t: &mut Harness, ms, a, blocks: &[(u32, u32)]| {
        t.send(ms, seg().ack_flag().seq(1001).ack(a).sack(blocks));
    };
    // Segment 1 acked; ordinary SACKs, the newest block first above an older one.
    ack(&mut t, at(50), d + 1000, &[(d + 2000, d + 3000)]);
    ack(
        &mut t,
        at(51),
        d + 1000,
        &[(d + 4000, d + 5000), (d + 2000, d + 3000)],
    );
    assert_eq!(dups(&t, 52), 0, "ordinary SACK blocks");
    // A first block before our ISS (stale or forged) is not data we sent.
    ack(&mut t, at(53), d + 1000, &[(iss - 1000, iss)]);
    assert_eq!(dups(&t, 54), 0, "a block before the ISS");
    // §4.1.1: a segment below the ACK came twice.
    ack(&mut t, at(57), d + 1000, &[(d, d + 1000)]);
    assert_eq!(dups(&t, 58), 1, "one segment below the ACK");
    ack(&mut t, at(59), d + 1000, &[(d + 200, d + 1000)]);
    assert_eq!(dups(&t, 60), 2, "a part of a segment counts as one");
    // §4.1.3: a first block inside the second, above the ACK: 1000 bytes held twice.
    ack(
        &mut t,
        at(61),
        d + 1000,
        &[(d + 4000, d + 5000), (d + 2000, d + 5000)],
    );
    assert_eq!(dups(&t, 62), 3, "a duplicate inside the second block");
    ack(&mut t, at(63), d + 2000, &[(d + 500, d + 2000)]);
    assert_eq!(dups(&t, 64), 5, "1500 bytes below the ACK are two segments");
}
