//! Linux CUBIC's HyStart delay rule (`Config::linux_hystart`, `hystart_linux.rs`) as a
//! packet trace at explicit virtual times, after packetdrill's
//! `cubic/cubic-hystart-delay-rtt-jumps-upward`.

mod support;

use support::*;

/// The handshake and the first flight take 200 ms (the minimum RTT); from the second
/// flight on every RTT is 240 ms, more than 200 + max(4 ms, min(16 ms, 200/8)). Once cwnd
/// is at least 16 segments, the ninth sample of a round decides: ssthresh = cwnd.
#[test]
fn nine_rtt_samples_an_eighth_above_the_minimum_end_slow_start_at_cwnd() {
    let mut cfg = Harness::config();
    cfg.tcp.linux_hystart = true;
    cfg.tcp.abc_limit = 0; // every acked segment counts, as Linux's tcp_slow_start
    cfg.tcp.send_buffer = 256 * 1024; // fixed: auto-tuning's first 16 KiB would hold the flights
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, 200, 1000, seg().mss(1000).sack_perm());
    let d = iss + 1;
    t.stack.send(h, &vec![1u8; 40_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10, "IW10 at 200 ms");
    // 400 ms: the first flight acked (RTT 200 ms), cwnd 20, twenty more leave.
    t.send(400, seg().ack_flag().seq(1001).ack(d + 10_000));
    assert_eq!(t.drain().len(), 20);
    let info = |t: &Harness, ms| t.stack.connection(h).unwrap().info(instant(ms));
    assert_eq!(info(&t, 400).cwnd, 20);
    // 640 ms on: two segments per ACK, 1 ms apart, each 240 ms after it left.
    let mut acked = 10_000;
    for i in 0..8u64 {
        acked += 2000;
        t.send(640 + i, seg().ack_flag().seq(1001).ack(d + acked));
        let i = info(&t, 640 + i);
        assert_eq!(i.ssthresh, None, "still slow start after {acked}");
        assert_eq!(i.cwnd, 20 + 2 * (acked / 1000 - 10) / 2);
    }
    // The ninth sample of the round: 240 ms > 216 ms. Slow start ends at cwnd 36.
    t.send(648, seg().ack_flag().seq(1001).ack(d + acked + 2000));
    let i = info(&t, 648);
    assert_eq!((i.cwnd, i.ssthresh), (36, Some(36)));
}
