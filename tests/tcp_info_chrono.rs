//! Linux's chronograph in `TcpInfo` (`tcpi_busy_time`, `tcpi_rwnd_limited`,
//! `tcpi_sndbuf_limited`; `src/tcp/chrono.rs`) after scripted exchanges at explicit
//! virtual times, and as `ss -i` prints it.

mod support;

use support::*;
use tuntcp::stack::report;
use tuntcp::time::Duration;
use tuntcp::wire::TcpFlags;

const PSHACK: TcpFlags = TcpFlags(TcpFlags::PSH.0 | TcpFlags::ACK.0);

/// packetdrill `tcp_info/tcp-info-rwnd-limited`: data waits on a zero window, then on a
/// window too small for a segment; both count as rwnd limited, and busy time is the sum.
#[test]
fn time_waiting_on_the_peers_window_counts_as_rwnd_limited_and_busy() {
    let mut h = Harness::server(80);
    let (c, iss) = h.establish(at(0), 1000, seg().mss(1000));
    h.send(at(10), seg().ack_flag().seq(1001).ack(iss + 1).win(0));
    let i = h.stack.connection(c).unwrap().info(instant(10));
    assert_eq!((i.busy, i.rwnd_limited), (Duration::ZERO, Duration::ZERO));
    h.advance(at(10));
    h.stack.send(c, &[1; 1000]).unwrap();
    h.expect_nothing_until(at(110));
    let i = h.stack.connection(c).unwrap().info(instant(110));
    assert_eq!(i.rwnd_limited, Duration::from_millis(100));
    // The window opens at 150 ms: the segment leaves, busy but no longer limited.
    h.send(at(150), seg().ack_flag().seq(1001).ack(iss + 1).win(2000));
    h.expect(at(150), seg().flags(PSHACK).seq(iss + 1).len(1000));
    h.send(at(180), seg().ack_flag().seq(1001).ack(iss + 1001).win(10));
    // 1000 bytes do not fit a 10-byte window (nor does a runt go: SWS avoidance).
    h.stack.send(c, &[2; 1000]).unwrap();
    h.expect_nothing_until(at(280));
    h.send(
        at(280),
        seg().ack_flag().seq(1001).ack(iss + 1001).win(2000),
    );
    h.expect(at(280), seg().flags(PSHACK).seq(iss + 1001).len(1000));
    h.send(
        at(300),
        seg().ack_flag().seq(1001).ack(iss + 2001).win(2000),
    );
    // Nothing queued from 300 ms on: the clock stops.
    let i = h.stack.connection(c).unwrap().info(instant(900));
    let ms = Duration::from_millis;
    assert_eq!(
        (i.busy, i.rwnd_limited, i.sndbuf_limited),
        (ms(140 + 30 + 100 + 20), ms(140 + 100), ms(0))
    );
    let line = report::ss_info(&i);
    assert!(
        line.contains(" busy:290ms rwnd_limited:240ms(82.8%) "),
        "{line}"
    );
    assert!(!line.contains("sndbuf_limited"), "{line}");
}

/// packetdrill `tcp_info/tcp-info-sndbuf-limited` (Linux `tcp_cwnd_validate`): everything
/// queued was sent, cwnd has room, and the writer waits for buffer space: sndbuf limited
/// until an ACK frees enough room to wake the writer (half as much free as queued).
#[test]
fn a_full_send_buffer_with_all_sent_and_cwnd_to_spare_counts_as_sndbuf_limited() {
    let mut cfg = Harness::config();
    cfg.tcp.send_buffer = 4000;
    let mut h = Harness::server_with(80, cfg);
    let (c, iss) = h.establish(at(0), 1000, seg().mss(1000));
    h.advance(at(10));
    // A write larger than the buffer: 4000 bytes taken, the writer waits for room.
    assert_eq!(h.stack.send(c, &[1; 10_000]).unwrap(), 4000);
    h.flush();
    for k in 0..4 {
        h.expect(at(10), seg().seq(iss + 1 + 1000 * k).len(1000));
    }
    // 1000 acknowledged: 1000 free for 3000 queued, not enough to wake a writer.
    h.send(at(40), seg().ack_flag().seq(1001).ack(iss + 1001));
    let i = h.stack.connection(c).unwrap().info(instant(40));
    assert_eq!(i.sndbuf_limited, Duration::from_millis(30));
    // 2000 acknowledged: 2000 free for 2000 queued: the writer is woken.
    h.send(at(60), seg().ack_flag().seq(1001).ack(iss + 2001));
    let i = h.stack.connection(c).unwrap().info(instant(100));
    let ms = Duration::from_millis;
    assert_eq!(
        (i.busy, i.rwnd_limited, i.sndbuf_limited),
        (ms(90), ms(0), ms(50))
    );
    let line = report::ss_info(&i);
    assert!(
        line.contains(" busy:90ms sndbuf_limited:50ms(55.6%) "),
        "{line}"
    );
}
