//! Closing: FIN handshakes, half-close, simultaneous close, TIME-WAIT, RST on close with
//! unread data (RFC 9293 §3.6, §3.10.7.4; RFC 1337; RFC 2525 §2.17).

mod support;

use support::*;
use tuntcp::stack::Touched;
use tuntcp::tcp::{Error, Event, State};
use tuntcp::wire::TcpFlags;

const FINACK: TcpFlags = TcpFlags(TcpFlags::FIN.0 | TcpFlags::ACK.0);
const RSTACK: TcpFlags = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);

#[test]
fn must_13_active_close_lingers_in_time_wait_for_2msl() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.close(h);
    t.flush();
    t.expect(at(0), seg().flags(FINACK).seq(iss + 1).ack(1001));
    t.send(at(10), seg().ack_flag().seq(1001).ack(iss + 2));
    t.send(at(20), seg().flags(FINACK).seq(1001).ack(iss + 2));
    t.expect(at(20), seg().flags(TcpFlags::ACK).seq(iss + 2).ack(1002));
    let c = t.stack.connections().next().unwrap().1;
    assert_eq!(c.state(), State::TimeWait);
    // A retransmitted FIN 50 s later is ACKed and restarts the 60 s timer.
    t.send(at(50_020), seg().flags(FINACK).seq(1001).ack(iss + 2));
    t.expect(at(50_020), seg().flags(TcpFlags::ACK).ack(1002));
    t.advance(110_000);
    assert_eq!(
        t.stack.connections().count(),
        1,
        "still in TIME-WAIT at 59.98 s after the restart"
    );
    t.advance(110_030);
    assert_eq!(t.stack.connections().count(), 0, "gone after 2*MSL");
    // Now the tuple is closed: a segment gets a RST.
    t.send(at(110_040), seg().ack_flag().seq(1002).ack(iss + 2));
    t.expect(at(110_040), seg().flags(TcpFlags::RST).seq(iss + 2));
}

#[test]
fn passive_close_goes_close_wait_then_last_ack() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(at(5), seg().flags(FINACK).seq(1001).ack(iss + 1));
    t.expect(at(5), seg().flags(TcpFlags::ACK).ack(1002));
    assert_eq!(t.state(h), State::CloseWait);
    assert_eq!(
        t.stack.recv(h, &mut [0; 8]),
        Ok(0),
        "MUST-12: FIN reads as end of stream"
    );
    t.stack.close(h);
    t.flush();
    t.expect(at(5), seg().flags(FINACK).seq(iss + 1).ack(1002));
    t.send(at(6), seg().ack_flag().seq(1002).ack(iss + 2));
    assert_eq!(t.stack.connections().count(), 0);
}

#[test]
fn case_2_simultaneous_close_goes_through_closing_to_time_wait() {
    // Checklist case 2.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.shutdown_write(h);
    t.flush();
    t.expect(at(0), seg().flags(FINACK).seq(iss + 1));
    // The peer's FIN crosses ours (its ACK does not cover our FIN).
    t.send(at(1), seg().flags(FINACK).seq(1001).ack(iss + 1));
    t.expect(at(1), seg().flags(TcpFlags::ACK).seq(iss + 2).ack(1002));
    assert_eq!(t.state(h), State::Closing);
    t.send(at(2), seg().ack_flag().seq(1002).ack(iss + 2));
    assert_eq!(t.state(h), State::TimeWait);
}

#[test]
fn fin_that_also_acks_our_fin_goes_straight_to_time_wait() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.shutdown_write(h);
    t.flush();
    t.expect(at(0), seg().flags(FINACK));
    t.send(at(1), seg().flags(FINACK).seq(1001).ack(iss + 2));
    t.expect(at(1), seg().flags(TcpFlags::ACK).ack(1002));
    assert_eq!(t.state(h), State::TimeWait);
}

#[test]
fn case_11_half_close_we_keep_receiving_after_our_fin() {
    // Checklist case 11, our side shut down first.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.shutdown_write(h);
    t.flush();
    t.expect(at(0), seg().flags(FINACK));
    t.send(at(1), seg().ack_flag().seq(1001).ack(iss + 2));
    assert_eq!(t.state(h), State::FinWait2);
    let data = vec![9u8; 10_000];
    let mut seq = 1001;
    for chunk in data.chunks(1000) {
        t.send(at(2), seg().ack_flag().seq(seq).ack(iss + 2).data(chunk));
        seq += chunk.len() as u32;
    }
    assert_eq!(t.read_all(h), data);
    t.send(at(3), seg().flags(FINACK).seq(seq).ack(iss + 2));
    assert_eq!(t.state(h), State::TimeWait);
}

#[test]
fn case_11_half_close_we_keep_sending_in_close_wait() {
    // Checklist case 11, the peer shut down first.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.send(at(1), seg().flags(FINACK).seq(1001).ack(iss + 1));
    t.expect(at(1), seg().flags(TcpFlags::ACK).ack(1002));
    assert_eq!(t.stack.send(h, &[5u8; 10_000]), Ok(10_000));
    t.flush();
    let mut got = 0;
    let mut next = iss + 1;
    while got < 10_000 {
        for s in t.drain() {
            assert_eq!(s.seq, next);
            next += s.payload.len() as u32;
            got += s.payload.len();
        }
        t.send(at(2), seg().ack_flag().seq(1002).ack(next));
    }
    t.stack.close(h);
    t.flush();
    t.expect(at(2), seg().flags(FINACK).seq(next).ack(1002));
    assert_eq!(t.state(h), State::LastAck);
}

#[test]
fn shld_3_case_10_rst_on_close_with_unread_data() {
    // Checklist case 10.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(1),
        seg().ack_flag().seq(1001).ack(iss + 1).data(&[1; 100]),
    );
    t.stack.close(h);
    t.flush();
    let out = t.drain();
    let last = out.last().unwrap();
    assert_eq!(last.flags, RSTACK, "{}", last.line);
    assert_eq!(last.seq, iss + 1);
    assert!(out.iter().all(|s| !s.flags.fin()), "no FIN");
}

#[test]
fn shld_3_data_after_close_is_answered_with_rst() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.close(h);
    t.flush();
    t.expect(at(0), seg().flags(FINACK));
    t.send(at(1), seg().ack_flag().seq(1001).ack(iss + 2).data(b"late"));
    t.expect(at(1), seg().flags(TcpFlags::RST).seq(iss + 2));
}

#[test]
fn must_12_shld_2_rst_reads_as_reset_not_eof() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(at(1), seg().rst().seq(1001).ack(iss + 1));
    assert_eq!(t.stack.recv(h, &mut [0; 8]), Err(Error::Reset));
    assert_eq!(t.stack.send(h, b"x"), Err(Error::Reset));
    let mut saw = false;
    while let Some(e) = t.stack.poll_event(h) {
        saw |= e == Event::Error(Error::Reset);
    }
    assert!(saw);
}

#[test]
fn event_queue_off_queues_nothing_but_the_change_is_still_touched() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    while t.stack.poll_event(h).is_some() {}
    t.stack.set_event_queue(h, false);
    let mut touched = Vec::new();
    t.stack.take_touched(&mut touched);
    touched.clear();
    t.send(at(1), seg().rst().seq(1001).ack(iss + 1));
    assert_eq!(t.stack.poll_event(h), None, "no queue: nothing kept");
    t.stack.take_touched(&mut touched);
    assert!(
        touched.contains(&Touched::Conn(h)),
        "the reset still touches the handle: {touched:?}"
    );
    assert_eq!(t.stack.recv(h, &mut [0; 8]), Err(Error::Reset));
}

#[test]
fn rfc1337_rst_in_time_wait_is_ignored() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.shutdown_write(h);
    t.flush();
    t.expect(at(0), seg().flags(FINACK));
    t.send(at(1), seg().flags(FINACK).seq(1001).ack(iss + 2));
    t.expect(at(1), seg().ack_flag());
    t.send(at(2), seg().rst().seq(1002));
    assert_eq!(t.state(h), State::TimeWait);
}

#[test]
fn case_9_old_duplicate_data_in_time_wait_is_acked_and_dropped() {
    // Checklist case 9.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.shutdown_write(h);
    t.flush();
    t.expect(at(0), seg().flags(FINACK));
    t.send(at(1), seg().flags(FINACK).seq(1001).ack(iss + 2));
    t.expect(at(1), seg().ack_flag());
    t.send(
        at(2),
        seg().ack_flag().seq(901).ack(iss + 2).data(&[0; 100]),
    );
    t.expect(at(2), seg().flags(TcpFlags::ACK).ack(1002));
    assert_eq!(t.state(h), State::TimeWait);
}

#[test]
fn case_5_fin_out_of_order_waits_for_the_hole() {
    // Checklist case 5.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(1),
        seg().flags(FINACK).seq(1101).ack(iss + 1).data(&[2; 100]),
    );
    t.expect(at(1), seg().flags(TcpFlags::ACK).ack(1001));
    assert_eq!(t.state(h), State::Established);
    assert_eq!(
        t.stack.recv(h, &mut [0; 8]),
        Err(Error::WouldBlock),
        "no EOF before the hole fills"
    );
    t.send(
        at(2),
        seg().ack_flag().seq(1001).ack(iss + 1).data(&[1; 100]),
    );
    t.expect(at(2), seg().flags(TcpFlags::ACK).ack(1202));
    assert_eq!(t.state(h), State::CloseWait);
    let got = t.read_all(h);
    assert_eq!(got.len(), 200);
    assert_eq!(&got[..100], &[1; 100][..]);
    assert_eq!(t.stack.recv(h, &mut [0; 8]), Ok(0));
}

#[test]
fn fin_with_data_is_delivered_then_eof() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(1),
        seg().flags(FINACK).seq(1001).ack(iss + 1).data(&[3; 100]),
    );
    t.expect(at(1), seg().flags(TcpFlags::ACK).ack(1102));
    assert_eq!(t.read_all(h), vec![3; 100]);
    assert_eq!(t.stack.recv(h, &mut [0; 8]), Ok(0));
}

#[test]
fn orphaned_fin_wait_2_times_out_like_tcp_fin_timeout() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.close(h);
    t.flush();
    t.expect(at(0), seg().flags(FINACK));
    t.send(at(1), seg().ack_flag().seq(1001).ack(iss + 2));
    assert_eq!(
        t.stack.connections().next().unwrap().1.state(),
        State::FinWait2
    );
    t.advance(60_000);
    assert_eq!(t.stack.connections().count(), 1);
    t.advance(60_002);
    assert_eq!(t.stack.connections().count(), 0);
}

#[test]
fn shld_4_new_syn_with_newer_timestamp_reopens_time_wait_tuple() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().ts(100, 0));
    t.stack.shutdown_write(h);
    t.flush();
    t.expect(at(0), seg().flags(FINACK));
    t.send(at(1), seg().flags(FINACK).seq(1001).ack(iss + 2).ts(101, 0));
    t.expect(at(1), seg().ack_flag());
    t.stack.close(h);
    // Older TSval: dropped silently, TIME-WAIT continues.
    t.send(at(2), seg().syn().seq(50_000).ts(50, 0));
    let out = t.drain();
    assert!(
        out.iter().all(|s| !s.flags.syn()),
        "no SYN-ACK for an old SYN"
    );
    // Newer TSval: a new connection.
    t.send(at(3), seg().syn().seq(60_000).ts(200, 0));
    let sa = t.expect(
        at(3),
        seg().flags(TcpFlags::SYN | TcpFlags::ACK).ack(60_001),
    );
    assert!(
        sa.seq.wrapping_sub(iss + 2) as i32 > 0,
        "new ISS above the old SND.NXT"
    );
}

#[test]
fn a_rst_of_a_timestamp_connection_carries_tsopt() {
    // RFC 7323 §3.2: once negotiated, TSopt SHOULD be sent in a <RST> as well (Linux does,
    // with the current TSval: packetdrill's ts_recent/reset_tsval).
    let mut t = Harness::server(80);
    t.send(at(0), seg().syn().seq(1000).ts(100, 0));
    let sa = t.expect(at(0), seg().flags(TcpFlags::SYN | TcpFlags::ACK));
    let ts0 = sa.options.timestamps.expect("TSopt negotiated").tsval;
    t.send(
        at(0),
        seg().ack_flag().seq(1001).ack(sa.seq + 1).ts(200, ts0),
    );
    let h = t.stack.accept(80).expect("accepted");
    t.send(
        at(100),
        seg()
            .ack_flag()
            .seq(1001)
            .ack(sa.seq + 1)
            .ts(201, ts0)
            .data(&[1; 100]),
    );
    t.advance(1100);
    t.drain();
    t.stack.close(h); // unread data: RST (SHLD-3)
    t.flush();
    let rst = t.drain().pop().expect("a RST");
    assert_eq!(rst.flags, RSTACK, "{}", rst.line);
    let ts = rst.options.timestamps.expect("TSopt on the RST");
    assert_eq!(ts.tsecr, 201);
    assert_eq!(
        ts.tsval.wrapping_sub(ts0),
        1100,
        "TSval moved with the 1 ms clock"
    );
}

/// packetdrill `user_timeout/user_timeout`: data after close() while our FIN is still
/// unacknowledged. The RST takes SEG.ACK (RFC 9293 §3.5.2), the peer's RCV.NXT, not our
/// SND.NXT past the FIN, which RFC 5961 §3.2 would answer with a challenge ACK only.
#[test]
fn rst_for_data_after_close_takes_seq_from_seg_ack_not_snd_nxt() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.close(h);
    t.flush();
    t.expect(at(0), seg().flags(FINACK).seq(iss + 1).ack(1001));
    t.send(at(100), seg().ack_flag().seq(1001).ack(iss + 1).data(b"x"));
    t.expect(at(100), seg().flags(TcpFlags::RST).seq(iss + 1));
    t.expect_nothing_until(at(10_000));
}
