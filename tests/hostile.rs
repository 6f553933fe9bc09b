//! Hostile and broken peers (issue: "no blind packet, flood or stalled peer may stall a
//! connection or the stack"): each test is a blind or abusive input that once hurt, and
//! the trace that shows it no longer does. Linux is the reference for what must hold.

mod support;

use support::*;
use tuntcp::tcp::State;
use tuntcp::wire::TcpFlags;

/// The stack's read of `h`, all of it.
fn read(t: &mut Harness, h: tuntcp::stack::SocketHandle) -> Vec<u8> {
    t.read_all(h)
}

#[test]
fn blind_segment_without_ack_flag_and_a_future_tsval_does_not_poison_ts_recent() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().ts(100, 0));
    // A blind attacker's guess: SEQ = RCV.NXT (in window), no ACK flag, TSval far ahead.
    // Dropped (RFC 9293 §3.10.7.4 fifth step: no ACK, no processing)...
    t.send(
        at(10),
        seg()
            .flags(TcpFlags::PSH)
            .seq(1001)
            .ts(0x7000_0000, 0)
            .data(b"evil"),
    );
    t.expect_nothing_until(at(20));
    // ...and the genuine peer, whose clock is far behind the forged one, still gets through:
    // before the fix TS.Recent had become 0x70000000 and every segment failed PAWS.
    t.send(
        at(20),
        seg().ack_flag().psh().seq(1001).ack(iss + 1).ts(101, 1).data(b"good"),
    );
    t.expect_between(20, 60, seg().flags(TcpFlags::ACK).ack(1005));
    assert_eq!(read(&mut t, h), b"good");
    assert_eq!(t.state(h), State::Established);
}

#[test]
fn blind_ack_of_unsent_data_with_a_future_tsval_does_not_poison_ts_recent() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().ts(100, 0));
    // The ACK names data never sent: a challenge ACK, nothing else (RFC 5961 §5.2)...
    t.send(
        at(10),
        seg()
            .seq(1001)
            .ack(iss + 100_000)
            .ts(0x7000_0000, 0)
            .data(b"evil"),
    );
    t.expect(at(10), seg().flags(TcpFlags::ACK).ack(1001));
    // ...and TS.Recent did not move: the challenge ACK echoed the genuine TSval, and the
    // genuine peer's next segment passes PAWS.
    t.send(
        at(20),
        seg().ack_flag().psh().seq(1001).ack(iss + 1).ts(101, 1).data(b"good"),
    );
    t.expect_between(20, 60, seg().flags(TcpFlags::ACK).ack(1005));
    assert_eq!(read(&mut t, h), b"good");
}
