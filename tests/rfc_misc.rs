//! More RFC 9293 requirements, one test each: congestion basics, retransmission backoff,
//! PUSH, RST/URG with a zero window, hostile options at the stack level, TIME-WAIT reuse
//! without timestamps.

mod support;

use support::*;
use tuntcp::tcp::State;
use tuntcp::wire::TcpFlags;

const ACK: TcpFlags = TcpFlags::ACK;

#[test]
fn must_19_slow_start_doubles_the_flight_each_round_trip() {
    let mut cfg = Harness::config();
    cfg.tcp.send_buffer = 256 * 1024; // fixed: the whole write is queued at once
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000).ws(7));
    t.stack.send(h, &vec![0u8; 200_000]).unwrap();
    t.flush();
    let mut flights = Vec::new();
    let mut now = 0;
    for _ in 0..4 {
        let segs = t.drain();
        let bytes: u32 = segs.iter().map(|s| s.payload.len() as u32).sum();
        flights.push(bytes / 1000);
        now += 100;
        // The peer ACKs each segment of the flight at one round trip.
        for s in &segs {
            t.send(
                at(now),
                seg()
                    .ack_flag()
                    .seq(1001)
                    .ack(s.seq + s.payload.len() as u32),
            );
        }
    }
    assert_eq!(
        flights,
        vec![10, 20, 40, 80],
        "IW10 (RFC 6928), doubling per RTT"
    );
    assert!(t.stack.connection(h).unwrap().snd_una().0.wrapping_sub(iss) > 100_000);
}

#[test]
fn must_19_black_holed_data_is_retransmitted_with_doubling_gaps() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, b"lost").unwrap();
    t.flush();
    t.expect(at(0), seg().data(b"lost").seq(iss + 1));
    let mut times = Vec::new();
    for _ in 0..5 {
        t.expect_between(t.now_ms + 1, 100_000, seg().data(b"lost").seq(iss + 1));
        times.push(t.now_ms);
    }
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(times[0], 200);
    assert_eq!(gaps, vec![400, 800, 1600, 3200]);
    assert_eq!(t.state(h), State::Established);
}

#[test]
fn must_60_unpushed_small_write_is_not_held_when_nothing_is_outstanding() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.send(h, &[1; 10]).unwrap();
    t.flush();
    t.expect(at(0), seg().len(10).seq(iss + 1));
}

#[test]
fn shld_27_may_16_pushed_writes_collapse_into_one_segment_while_one_is_outstanding() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1460));
    t.stack.send(h, &[0; 100]).unwrap();
    t.flush();
    t.expect(at(0), seg().len(100));
    for _ in 0..10 {
        t.stack.send(h, &[1; 100]).unwrap();
        t.flush();
    }
    t.expect_nothing_until(at(50));
    t.send(at(60), seg().ack_flag().seq(1001).ack(iss + 101));
    t.expect(
        at(60),
        seg().len(1000).flags(TcpFlags::PSH | ACK).seq(iss + 101),
    );
}

#[test]
fn must_66_rst_and_urg_are_processed_with_a_zero_window() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 1000;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(1),
        seg().ack_flag().seq(1001).ack(iss + 1).data(&[0; 1000]),
    );
    t.expect_between(1, 500, seg().flags(ACK).ack(2001).win(0));
    // A zero-length URG segment at RCV.NXT is signalled.
    t.send(
        at(600),
        seg().ack_flag().urg_flag().urgent(5).seq(2001).ack(iss + 1),
    );
    let urgent = std::iter::from_fn(|| t.stack.poll_event(h))
        .any(|e| matches!(e, tuntcp::tcp::Event::Urgent(_)));
    assert!(urgent);
    t.send(at(601), seg().rst().seq(2001));
    assert_eq!(t.state(h), State::Closed);
}

#[test]
fn must_7_illegal_option_lengths_are_dropped_and_other_connections_unaffected() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    let good = t.build(&seg().ack_flag().seq(1001).ack(iss + 1).data(b"ok"));
    for bad_len in [0u8, 1, 40] {
        // A data segment whose MSS option claims length 0, 1, or runs past the header.
        let mut raw = good.clone();
        raw[32] = 0x60; // data offset 6 words: 4 option bytes
        let mut pkt = raw[..40].to_vec();
        pkt.extend_from_slice(&[2, bad_len, 5, 0xb4]);
        pkt.extend_from_slice(&raw[40..]);
        fix_tcp_packet(&mut pkt);
        t.send_raw(at(1), &pkt);
    }
    t.flush();
    assert_eq!(t.state(h), State::Established);
    t.send_raw(at(2), &good);
    t.advance(600);
    assert_eq!(
        t.read_all(h),
        b"ok",
        "only the well-formed segment was delivered"
    );
}

#[test]
fn may_2_syn_with_higher_sequence_reopens_time_wait_without_timestamps() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.shutdown_write(h);
    t.flush();
    t.expect(at(0), seg().flags(TcpFlags::FIN | ACK));
    t.send(
        at(1),
        seg().flags(TcpFlags::FIN | ACK).seq(1001).ack(iss + 2),
    );
    t.expect(at(1), seg().flags(ACK));
    t.stack.close(h);
    // An old SYN (SEQ below RCV.NXT): no new connection, TIME-WAIT continues.
    t.send(at(2), seg().syn().seq(500));
    assert!(t.drain().iter().all(|s| !s.flags.syn()));
    assert_eq!(
        t.stack.connections().next().unwrap().1.state(),
        State::TimeWait
    );
    // A SYN above everything seen: accepted, with an ISS above the old SND.NXT.
    t.send(at(3), seg().syn().seq(100_000));
    let sa = t.expect(at(3), seg().flags(TcpFlags::SYN | ACK).ack(100_001));
    assert!(sa.seq.wrapping_sub(iss + 2) as i32 > 0);
}

#[test]
fn may_4_retransmission_observation_ip_id_is_zero_with_df() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish(0, 1000, seg());
    t.stack.send(h, b"x").unwrap();
    t.flush();
    let first = t.expect(at(0), seg().len(1));
    let again = t.expect(at(200), seg().len(1));
    // RFC 6864: with DF set the ID has no meaning; we send 0 for originals and copies alike.
    assert_eq!((first.ip.ident, again.ip.ident), (0, 0));
    assert!(first.ip.dont_frag);
}
