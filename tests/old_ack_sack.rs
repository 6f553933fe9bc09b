//! SACK blocks carried by an ACK below SND.UNA (a reordered, older ACK) still update the
//! scoreboard (RFC 6675 §5: "upon the receipt of any ACK containing SACK information"),
//! as Linux's `tcp_ack` does on its `old_ack` path (packetdrill
//! `fast_recovery/prr-ss-ack-below-snd_una-cubic`).
//!
//! The connection has a 20 ms RTT (SYN-ACK at 0, the peer's ACK at 20 ms) and an MSS of
//! 1000 without timestamps.

mod support;

use support::*;

fn counter(t: &Harness, name: &str) -> u64 {
    t.stack.counters().get(name).unwrap()
}

#[test]
fn sack_blocks_in_an_ack_below_snd_una_mark_the_hole_lost_and_resend_it() {
    let mut t = Harness::server_with(80, Harness::config());
    let (h, iss) = t.establish_rtt(0, 20, 1000, seg().mss(1000).sack_perm());
    let d = iss + 1;
    t.stack.send(h, &[7u8; 10_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10, "the initial window left at 20 ms");
    // Segments 1 and 2 are acknowledged at 40 ms: SND.UNA = d + 2000.
    t.send(40, seg().ack_flag().seq(1001).ack(d + 2000));
    t.expect_nothing_until(40);
    // An older ACK (of d + 1000 only), overtaken on the way, SACKs segments 4-10: the
    // hole (segment 3) has 7 SACKed segments above it and is lost (RFC 8985 §6.2, no
    // reordering seen): it goes again at once, not at a probe or the RTO.
    t.send(
        41,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(d + 1000)
            .sack(&[(d + 3000, d + 10_000)]),
    );
    t.expect(41, seg().seq(d + 2000).len(1000));
    assert_eq!(counter(&t, "TcpExtTCPSackRecovery"), 1);
    // Its ACK ends the episode; nothing more is sent.
    t.send(61, seg().ack_flag().seq(1001).ack(d + 10_000));
    t.expect_nothing_until(1000);
    assert_eq!(counter(&t, "TcpExtTCPTimeouts"), 0, "no RTO");
}

#[test]
fn an_ack_below_snd_una_without_sack_blocks_changes_nothing() {
    let mut t = Harness::server_with(80, Harness::config());
    let (h, iss) = t.establish_rtt(0, 20, 1000, seg().mss(1000).sack_perm());
    let d = iss + 1;
    t.stack.send(h, &[7u8; 10_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10);
    t.send(40, seg().ack_flag().seq(1001).ack(d + 2000));
    let cwnd = t.stack.connection(h).unwrap().info(instant(40)).cwnd;
    // RFC 9293 §3.10.7.4: a duplicate (old) ACK can be ignored: no resend, no cwnd change.
    t.send(41, seg().ack_flag().seq(1001).ack(d + 1000));
    t.expect_nothing_until(41);
    assert_eq!(t.stack.connection(h).unwrap().info(instant(41)).cwnd, cwnd);
    assert_eq!(counter(&t, "TcpExtTCPSackRecovery"), 0);
}
