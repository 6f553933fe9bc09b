//! A tiny out-of-order flood (issue 15 item 2): one-byte segments at every other offset
//! of the window. Each is ACKed at once with SACK blocks (RFC 5681 §4.2, RFC 2018 §4);
//! what the receiver holds stays within the receive buffer's charge limit (Linux
//! `sk_rcvbuf`, `tcp_prune_ofo_queue`), and the work per segment does not grow with the
//! number of ranges held (measured in range-map operations, not time).

mod support;

use support::*;
use tuntcp::tcp::recv_buffer::OOO_RANGE_COST;

const N: u32 = 4000;
const P: u32 = 1000; // the peer's ISN

/// The stream byte at offset `i` past the peer's ISN + 1.
fn byte(i: u32) -> u8 {
    (i % 251) as u8
}

#[test]
fn every_other_byte_flood_is_bounded_in_ranges_memory_and_work() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 256 * 1024; // fixed, the window flooded
    let mut h = Harness::server_with(80, cfg);
    let (c, iss) = h.establish(at(0), P, seg().mss(1460).ws(7).sack_perm().ts(1, 0));
    let cap = 256 * 1024;
    let data = P + 1;
    let ops0 = h.stack.connection(c).unwrap().ooo_ops();
    let mut accepted = 0u32;
    let mut recent: Vec<(u32, u32)> = Vec::new(); // blocks reported, most recent first
    for k in 0..N {
        let off = 1 + 2 * k;
        let seq = data + off;
        h.send(
            at(10),
            seg().seq(seq).ack(iss + 1).ts(2 + k, 0).data(&[byte(off)]),
        );
        let conn = h.stack.connection(c).unwrap();
        let held = conn.ooo_ranges();
        let was_accepted = held > accepted as usize;
        if was_accepted {
            accepted += 1;
            recent.insert(0, (seq, seq + 1));
            recent.truncate(3);
            // RFC 2018 §4: the new segment's block first, then the most recently reported;
            // 3 blocks fit beside timestamps.
            h.expect(at(10), seg().ack(data).sack(&recent));
        } else {
            // Dropped (TCPOFODrop): still a duplicate ACK, reporting what is held.
            h.expect(at(10), seg().ack(data).sack(&recent));
        }
        let conn = h.stack.connection(c).unwrap();
        assert!(
            conn.buffered_bytes() <= conn.recv_charge_limit(),
            "charge {} over {}",
            conn.buffered_bytes(),
            conn.recv_charge_limit()
        );
    }
    let conn = h.stack.connection(c).unwrap();
    let held = conn.ooo_ranges();
    assert!(held <= 2 * cap / OOO_RANGE_COST, "{held} ranges held");
    assert!(
        held >= 1000,
        "only {held} ranges held: the bound is too tight"
    );
    assert!(conn.recv_charge_limit() <= 2 * cap);
    // Work: a handful of range-map operations per segment (O(log n) each), where building
    // the SACK blocks from every held range cost ~held/2 per segment (N * 1000 here).
    let ops = conn.ooo_ops() - ops0;
    assert!(
        ops <= 16 * u64::from(N),
        "{ops} range-map operations for {N} segments"
    );
    let counters = h.stack.counters();
    assert_eq!(counters.tcp_ext_tcp_ofo_queue, u64::from(N));
    assert_eq!(counters.tcp_ext_tcp_ofo_drop, u64::from(N - accepted));
    assert_eq!(counters.tcp_ext_prune_called, u64::from(N - accepted));
    assert_eq!(
        counters.tcp_ext_ofo_pruned, 0,
        "nothing above a new highest segment"
    );
    assert_eq!(accepted as usize, held);

    // The peer fills the stream in order; the held bytes and the resent ones make exactly
    // the stream, and no range is left.
    let total = 2 * N + 1;
    let mut off = 0;
    let mut got = Vec::new();
    while off < total {
        let n = (total - off).min(1448);
        let chunk: Vec<u8> = (off..off + n).map(byte).collect();
        h.send(
            at(20),
            seg()
                .seq(data + off)
                .ack(iss + 1)
                .ts(10_000, 0)
                .data(&chunk),
        );
        off += n;
        got.extend(h.read_all(c));
    }
    assert_eq!(got.len(), total as usize);
    assert!(got.iter().enumerate().all(|(i, &b)| b == byte(i as u32)));
    assert_eq!(h.stack.connection(c).unwrap().ooo_ranges(), 0);
}

#[test]
fn a_segment_below_held_ranges_prunes_from_the_highest_down() {
    let mut h = Harness::server(80);
    let (c, iss) = h.establish(at(0), P, seg().mss(1460).sack_perm());
    h.stack.with_connection(c, |k| k.set_recv_buffer(1000));
    let data = P + 1;
    // Limit 2000: seven one-byte ranges at 257 each; the eighth, highest, is dropped.
    for k in 1..=8u32 {
        h.send(at(10), seg().seq(data + 10 * k).ack(iss + 1).data(b"x"));
    }
    let s = |k: u32| (data + 10 * k, data + 10 * k + 1);
    h.expect(at(10), seg().sack(&[s(1)]));
    h.expect(at(10), seg().sack(&[s(2), s(1)]));
    h.expect(at(10), seg().sack(&[s(3), s(2), s(1)]));
    h.expect(at(10), seg().sack(&[s(4), s(3), s(2), s(1)]));
    h.expect(at(10), seg().sack(&[s(5), s(4), s(3), s(2)]));
    h.expect(at(10), seg().sack(&[s(6), s(5), s(4), s(3)]));
    h.expect(at(10), seg().sack(&[s(7), s(6), s(5), s(4)]));
    h.expect(at(10), seg().ack(data).sack(&[s(7), s(6), s(5), s(4)])); // dropped
    assert_eq!(h.stack.connection(c).unwrap().ooo_ranges(), 7);
    // One below them all: (70, 71) goes (an eighth of the limit), it is held.
    h.send(at(20), seg().seq(data + 5).ack(iss + 1).data(b"y"));
    h.expect(
        at(20),
        seg().sack(&[(data + 5, data + 6), s(6), s(5), s(4)]),
    );
    assert_eq!(h.stack.connection(c).unwrap().ooo_ranges(), 7);
    let counters = h.stack.counters();
    assert_eq!(counters.tcp_ext_prune_called, 2);
    assert_eq!(counters.tcp_ext_ofo_pruned, 1);
    assert_eq!(counters.tcp_ext_tcp_ofo_drop, 1);
}
