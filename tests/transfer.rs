//! Data transfer: acceptability, trimming, reassembly, ACK generation, windows, Nagle, PSH,
//! RFC 5961 challenge ACKs, urgent pointer, wrap at 2^32 (RFC 9293 §3.8, §3.10.7.4).

mod support;

use support::*;
use tuntcp::tcp::{Error, Event, State};
use tuntcp::wire::TcpFlags;

const ACK: TcpFlags = TcpFlags::ACK;
const PSHACK: TcpFlags = TcpFlags(TcpFlags::PSH.0 | TcpFlags::ACK.0);

/// The peer sends one byte at a time until the connection's quick ACKs (Linux's quick-ACK
/// mode at the start: 16 with this window) are used up, each ACKed at once; returns the
/// peer's next sequence number.
#[track_caller]
fn use_up_quick_acks(t: &mut Harness, ms: u64, iss: u32) -> u32 {
    for k in 0..16 {
        t.send(
            at(ms),
            seg().ack_flag().seq(1001 + k).ack(iss + 1).data(b"q"),
        );
        t.expect(at(ms), seg().flags(ACK).ack(1002 + k));
    }
    1017
}

#[test]
fn quick_acks_at_the_start_then_delayed_acks() {
    // Linux's quick-ACK mode (tcp_incr_quickack): the first in-order segments of a
    // connection are ACKed at once, up to min(window / (2 * rcv_mss), 16) ACKs.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    let next = use_up_quick_acks(&mut t, 10, iss);
    t.send(at(20), seg().ack_flag().seq(next).ack(iss + 1).data(b"x"));
    t.expect_nothing_until(at(59));
    t.expect(at(60), seg().flags(ACK).ack(next + 1)); // 40 ms delayed ACK
    assert_eq!(t.read_all(h).len(), 17);
}

#[test]
fn quick_acks_again_after_an_idle_rto() {
    // Linux's tcp_event_data_recv: data after a silence longer than the RTO is ACKed at
    // once again (the sender may be restarting from a small window).
    let mut t = Harness::server(80);
    let (_h, iss) = t.establish(0, 1000, seg());
    let next = use_up_quick_acks(&mut t, 10, iss);
    t.send(at(20), seg().ack_flag().seq(next).ack(iss + 1).data(b"x"));
    t.expect(at(60), seg().flags(ACK).ack(next + 1));
    // 1.1 s of silence, more than the 1 s RTO (no RTT sample yet).
    t.send(
        at(1120),
        seg().ack_flag().seq(next + 1).ack(iss + 1).data(b"y"),
    );
    t.expect(at(1120), seg().flags(ACK).ack(next + 2));
}

#[test]
fn an_interactive_exchange_leaves_quick_ack_mode() {
    // Linux's pingpong mode: once we answer data within the delayed-ACK time, requests
    // are no longer ACKed at once; the ACK waits to ride on the answer.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(10),
        seg().ack_flag().seq(1001).ack(iss + 1).data(b"req1"),
    );
    t.expect(at(10), seg().flags(ACK).ack(1005)); // quick ACK
    t.read_all(h);
    t.stack.send(h, b"resp1").unwrap();
    t.flush();
    t.expect(at(10), seg().flags(PSHACK).ack(1005).data(b"resp1"));
    t.send(
        at(20),
        seg().ack_flag().seq(1005).ack(iss + 6).data(b"req2"),
    );
    t.expect_nothing_until(at(30));
    t.read_all(h);
    t.stack.send(h, b"resp2").unwrap();
    t.flush();
    t.expect(at(30), seg().flags(PSHACK).ack(1009).data(b"resp2"));
}

#[test]
fn must_40_shld_18_in_order_data_is_acked_within_the_delayed_ack_time() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    let next = use_up_quick_acks(&mut t, 10, iss);
    t.send(
        at(100),
        seg().ack_flag().seq(next).ack(iss + 1).data(b"hello"),
    );
    // SHLD-18 / MUST-40: delayed, but well under 500 ms.
    let a = t.expect_between(101, 499, seg().flags(ACK).ack(next + 5));
    assert!(a.payload.is_empty());
    assert_eq!(&t.read_all(h)[16..], b"hello");
}

#[test]
fn shld_19_every_second_full_segment_is_acked_at_once() {
    let mut t = Harness::server(80);
    let (_h, iss) = t.establish(0, 1000, seg());
    let next = use_up_quick_acks(&mut t, 10, iss);
    let specs: Vec<Spec> = (0..10)
        .map(|i| {
            seg()
                .ack_flag()
                .seq(next + i * 1460)
                .ack(iss + 1)
                .data(&[0; 1460])
        })
        .collect();
    for (i, s) in specs.into_iter().enumerate() {
        t.send(at(20), s);
        if i % 2 == 1 {
            t.expect(at(20), seg().flags(ACK).ack(next + (i as u32 + 1) * 1460));
        } else {
            t.expect_nothing_until(at(20));
        }
    }
}

#[test]
fn must_58_must_59_a_queued_burst_gets_one_cumulative_ack() {
    let mut t = Harness::server(80);
    let (_h, iss) = t.establish(0, 1000, seg());
    let burst: Vec<Spec> = (0..4)
        .map(|i| {
            seg()
                .ack_flag()
                .seq(1001 + i * 100)
                .ack(iss + 1)
                .data(&[0; 100])
        })
        .collect();
    t.send_burst(at(10), &burst);
    let acks = t.drain();
    assert!(acks.len() <= 1, "{} ACKs for one burst", acks.len());
    let a = if acks.is_empty() {
        t.expect_between(10, 500, seg().flags(ACK))
    } else {
        acks[0].clone()
    };
    assert_eq!(a.ack, 1401, "the ACK covers all four");
}

#[test]
fn shld_31_may_13_out_of_order_segment_is_held_and_dup_acked() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().sack_perm());
    t.send(
        at(1),
        seg().ack_flag().seq(1101).ack(iss + 1).data(&[2; 100]),
    );
    // MAY-13 / RFC 5681 4.2: immediate duplicate ACK, with a SACK block for what is held.
    t.expect(at(1), seg().flags(ACK).ack(1001).sack(&[(1101, 1201)]));
    t.send(
        at(2),
        seg().ack_flag().seq(1001).ack(iss + 1).data(&[1; 100]),
    );
    t.expect(at(2), seg().flags(ACK).ack(1201));
    let got = t.read_all(h);
    assert_eq!(got.len(), 200);
    assert!(got[..100].iter().all(|&b| b == 1) && got[100..].iter().all(|&b| b == 2));
}

#[test]
fn case_14_partly_old_segment_is_trimmed_and_delivered_once() {
    // Checklist case 14.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    let data: Vec<u8> = (0..100u8).collect();
    t.send(
        at(1),
        seg().ack_flag().seq(1001).ack(iss + 1).data(&data[..50]),
    );
    t.expect(at(1), seg().flags(ACK).ack(1051)); // a quick ACK (the connection's start)
    t.send(at(2), seg().ack_flag().seq(1001).ack(iss + 1).data(&data));
    t.expect_between(2, 500, seg().flags(ACK).ack(1101));
    assert_eq!(t.read_all(h), data);
}

#[test]
fn segment_past_the_window_is_trimmed_to_it() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 4000;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg());
    let big = vec![7u8; 6000];
    t.send(at(1), seg().ack_flag().seq(1001).ack(iss + 1).data(&big));
    let a = t.expect_between(1, 500, seg().flags(ACK));
    assert_eq!(a.ack, 1001 + 4000, "only the in-window part is taken");
    assert_eq!(a.window, 0);
    assert_eq!(t.read_all(h).len(), 4000);
}

#[test]
fn out_of_window_segment_gets_an_ack_and_is_dropped() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(1),
        seg()
            .ack_flag()
            .seq(1001 + 10_000_000)
            .ack(iss + 1)
            .data(b"far"),
    );
    t.expect(at(1), seg().flags(ACK).seq(iss + 1).ack(1001));
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(Error::WouldBlock));
}

#[test]
fn case_13_ack_of_unsent_data_is_answered_and_ignored() {
    // Checklist case 13.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(at(1), seg().ack_flag().seq(1001).ack(iss + 1000));
    t.expect(at(1), seg().flags(ACK).seq(iss + 1).ack(1001));
    assert_eq!(t.stack.connection(h).unwrap().snd_una().0, iss + 1);
}

#[test]
fn case_13_old_window_update_is_ignored() {
    // Checklist case 13: SND.WL1/WL2 rule.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.send(
        at(1),
        seg().ack_flag().seq(1001).ack(iss + 1).win(0).data(b"x"),
    );
    // A reordered older segment (lower SEQ) advertising a big window must not reopen it.
    t.send(at(2), seg().ack_flag().seq(1000).ack(iss + 1).win(60000));
    t.drain();
    t.stack.send(h, &[1; 100]).unwrap();
    t.flush();
    assert!(
        t.drain().iter().all(|s| s.payload.is_empty()),
        "window stays closed"
    );
}

#[test]
fn u_4_rst_must_match_rcv_nxt_exactly() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(at(1), seg().rst().seq(1002)); // in window, not exact: challenge ACK
    t.expect(at(1), seg().flags(ACK).seq(iss + 1).ack(1001));
    t.send(at(2), seg().rst().seq(1000)); // outside: silently dropped
    t.expect_nothing_until(at(3));
    assert_eq!(t.state(h), State::Established);
    t.send(at(4), seg().rst().seq(1001));
    assert_eq!(t.state(h), State::Closed);
}

#[test]
fn shld_2_rst_carrying_data_still_resets() {
    let mut t = Harness::server(80);
    let (h, _iss) = t.establish(0, 1000, seg());
    t.send(at(1), seg().rst().seq(1001).data(&[0; 20]));
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(Error::Reset));
}

#[test]
fn u_5_case_3_syn_in_established_gets_a_challenge_ack() {
    // Checklist case 3.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(at(1), seg().syn().seq(1011));
    t.expect(at(1), seg().flags(ACK).seq(iss + 1).ack(1001));
    assert_eq!(t.state(h), State::Established);
    t.send(
        at(2),
        seg().ack_flag().seq(1001).ack(iss + 1).data(b"still here"),
    );
    t.advance(600);
    assert_eq!(t.read_all(h), b"still here");
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut t = Harness::server(80);
    let (_h, _iss) = t.establish(0, 1000, seg());
    for _ in 0..50 {
        t.send(at(1), seg().syn().seq(1011));
    }
    let n = t.drain().len();
    assert_eq!(n, 10, "challenge_ack_limit per second");
}

#[test]
fn may_12_u_6_ack_too_old_is_dropped_with_an_ack() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().win(1000));
    t.send(
        at(1),
        seg()
            .ack_flag()
            .seq(1001)
            .ack(iss.wrapping_sub(500_000))
            .data(b"inject"),
    );
    t.expect(at(1), seg().flags(ACK).seq(iss + 1).ack(1001));
    assert_eq!(t.stack.recv(h, &mut [0; 8]), Err(Error::WouldBlock));
}

#[test]
fn must_61_last_segment_of_a_burst_has_psh_shld_28_full_sized_segments() {
    let mut t = Harness::server(80);
    let (h, _iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, &[1u8; 5500]).unwrap();
    t.flush();
    let segs = t.drain();
    assert_eq!(segs.len(), 6);
    for s in &segs[..5] {
        assert_eq!(s.payload.len(), 1000);
        assert_eq!(s.flags, ACK);
    }
    assert_eq!(segs[5].flags, PSHACK);
}

#[test]
fn psh_marks_the_end_of_each_write_even_mid_queue() {
    // RFC 9293 §3.9.1.2 leaves PSH to the sender; like Linux (`tcp_push`) we set it on the
    // segment holding the last byte of every write, not only on the one that empties the
    // queue (MUST-61).
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, &[1u8; 10_000]).unwrap();
    t.flush();
    let burst = t.drain();
    assert_eq!(burst.len(), 10, "IW10 fills the window");
    // Two writes wait on the congestion window: 300 bytes, then 1000.
    t.stack.send(h, &[2u8; 300]).unwrap();
    t.stack.send(h, &[3u8; 1000]).unwrap();
    t.flush();
    t.expect_nothing_until(at(10));
    t.send(at(10), seg().ack_flag().seq(1001).ack(iss + 1 + 2000));
    // The first write's end (byte 10300) lies inside the first segment: PSH there too.
    t.expect(at(10), seg().flags(PSHACK).seq(iss + 1 + 10_000).len(1000));
    t.expect(at(10), seg().flags(PSHACK).seq(iss + 1 + 11_000).len(300));
}

#[test]
fn psh_every_half_of_the_peers_largest_window_within_one_long_write() {
    // Linux's `forced_push`: a write longer than half the peer's largest window gets a
    // PSH every half window, so the receiver delivers before the write ends.
    let mut t = Harness::server(80);
    t.send(at(0), seg().syn().seq(1000).mss(1000).win(6000));
    let iss = t.expect(at(0), seg().flags(TcpFlags::SYN | ACK)).seq;
    t.send(at(0), seg().ack_flag().seq(1001).ack(iss + 1).win(6000));
    let h = t.stack.accept(80).expect("accepted");
    t.stack.send(h, &[1u8; 5000]).unwrap();
    t.flush();
    let segs = t.drain();
    let flags: Vec<_> = segs.iter().map(|s| (s.seq - iss - 1, s.flags)).collect();
    assert_eq!(
        flags,
        vec![
            (0, ACK),
            (1000, ACK),
            (2000, PSHACK), // 3000 = half of 6000
            (3000, ACK),
            (4000, PSHACK), // the end of the write
        ]
    );
}

#[test]
fn psh_on_every_super_segment_like_linux_tso() {
    // Linux's __tcp_transmit_skb sets PSH on every GSO packet of more than one segment
    // (the device keeps it on the last piece only); a one-segment packet gets it only at a
    // write's end.
    let mut cfg = Harness::config();
    cfg.offload = true; // TSO: super-segments of up to 64 KiB
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000).ws(7).win(1000));
    t.send(at(1), seg().ack_flag().seq(1001).ack(iss + 1).win(1000));
    t.stack.send(h, &[1u8; 30_000]).unwrap();
    t.flush();
    // 128,000 bytes of window, IW10: one super-segment of 10 SMSS.
    t.expect(at(1), seg().flags(PSHACK).seq(iss + 1).len(10_000));
    // One more segment's room (an ACK of 1000 in slow start gives two).
    t.send(at(20), seg().ack_flag().seq(1001).ack(iss + 1001).win(1000));
    t.expect(at(20), seg().flags(PSHACK).seq(iss + 10_001).len(2000));
}

#[test]
fn shld_7_nagle_holds_a_small_segment_while_data_is_unacked() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.send(h, b"a").unwrap();
    t.flush();
    t.expect(at(0), seg().len(1).seq(iss + 1));
    t.stack.send(h, b"b").unwrap();
    t.flush();
    t.expect_nothing_until(at(100));
    t.send(at(150), seg().ack_flag().seq(1001).ack(iss + 2));
    t.expect(at(150), seg().len(1).seq(iss + 2).data(b"b"));
}

#[test]
fn must_17_nodelay_sends_small_segments_at_once() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.with_connection(h, |c| c.set_nodelay(true));
    t.stack.send(h, b"a").unwrap();
    t.stack.send(h, b"b").unwrap();
    t.flush();
    let segs = t.drain();
    assert_eq!(segs.len(), 1, "both bytes leave together at once");
    assert_eq!(segs[0].seq, iss + 1);
    assert_eq!(segs[0].payload, b"ab");
    t.stack.send(h, b"c").unwrap();
    t.flush();
    t.expect(at(0), seg().data(b"c").seq(iss + 3));
}

#[test]
fn must_34_shld_15_shrunk_window_sends_nothing_new_and_does_not_panic() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, &[0u8; 4000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 4);
    // The peer ACKs 1000 and shrinks its window so the right edge is left of SND.NXT.
    t.send(at(10), seg().ack_flag().seq(1001).ack(iss + 1001).win(500));
    t.stack.send(h, &[0u8; 4000]).unwrap();
    t.flush();
    assert!(t.drain().iter().all(|s| s.payload.is_empty()));
}

#[test]
fn must_35_must_36_shld_29_shld_30_zero_window_is_probed_and_transfer_resumes() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.send(at(0), seg().ack_flag().seq(1001).ack(iss + 1).win(0));
    t.stack.send(h, b"hello").unwrap();
    t.flush();
    let rto = t.stack.connection(h).unwrap().rto().millis();
    assert_eq!(rto, 200, "handshake RTT 0 ms: the 200 ms floor");
    t.expect_nothing_until(at(rto - 1));
    // SHLD-29: first probe one RTO after the window closed.
    let p = t.expect(at(rto), seg().flags(ACK).len(0));
    assert_eq!(p.seq, iss, "probe carries SEQ=SND.UNA-1");
    t.send(at(rto + 10), seg().ack_flag().seq(1001).ack(iss + 1).win(0));
    // SHLD-30: the next probe comes later (backed off to 2 RTO).
    let p2 = t.expect_between(rto + 11, 10_000, seg().flags(ACK));
    assert_eq!(t.now_ms, rto + 2 * rto, "backed off");
    assert_eq!(p2.seq, iss);
    t.send(
        at(t.now_ms + 10),
        seg().ack_flag().seq(1001).ack(iss + 1).win(1000),
    );
    t.expect(at(t.now_ms), seg().data(b"hello"));
}

#[test]
fn must_37_zero_window_probes_answered_keep_the_connection_forever() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(at(0), seg().ack_flag().seq(1001).ack(iss + 1).win(0));
    t.stack.send(h, b"x").unwrap();
    t.flush();
    let mut now = 0;
    while now < 30 * 60 * 1000 {
        let p = t.expect_between(now, now + 200_000, seg().flags(ACK));
        now = t.now_ms;
        assert_eq!(p.seq, iss);
        t.send(at(now), seg().ack_flag().seq(1001).ack(iss + 1).win(0));
    }
    assert_eq!(t.state(h), State::Established);
}

#[test]
fn may_8_case_6_receiver_window_closes_then_reopens_with_an_update() {
    // Checklist case 6 (receiver side).
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 2000;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(1),
        seg().ack_flag().seq(1001).ack(iss + 1).data(&[1; 1000]),
    );
    t.expect(at(1), seg().flags(ACK).ack(2001)); // a quick ACK (the connection's start)
    t.send(
        at(1),
        seg().ack_flag().seq(2001).ack(iss + 1).data(&[2; 1000]),
    );
    t.expect(at(1), seg().flags(ACK).ack(3001).win(0));
    // A 1-byte probe at RCV.NXT is not acceptable but is ACKed with the current window.
    t.send(at(2), seg().ack_flag().seq(3001).ack(iss + 1).data(&[3]));
    t.expect(at(2), seg().flags(ACK).ack(3001).win(0));
    // MAY-8: the window may stay closed; reading opens it and an update goes out.
    assert_eq!(t.read_all(h).len(), 2000);
    let u = t.expect(at(2), seg().flags(ACK).ack(3001));
    assert!(u.window > 0);
}

#[test]
fn must_39_receiver_does_not_open_the_window_in_tiny_steps() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 4000;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(1),
        seg().ack_flag().seq(1001).ack(iss + 1).data(&[1; 4000]),
    );
    t.expect_between(1, 500, seg().flags(ACK).ack(5001).win(0));
    for _ in 0..100 {
        t.stack.recv(h, &mut [0; 1]).unwrap();
    }
    t.flush();
    assert!(
        t.drain().is_empty(),
        "100 freed bytes are not worth announcing"
    );
}

#[test]
fn shld_14_advertised_right_edge_never_moves_left() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 8000;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg());
    let mut edge = 0u32;
    let mut seq = 1001u32;
    for i in 0..30 {
        t.send(
            at(i),
            seg().ack_flag().seq(seq).ack(iss + 1).data(&[0; 700]),
        );
        seq += 700;
        if i % 3 == 0 {
            t.stack.recv(h, &mut [0; 1500]).ok();
            t.flush();
        }
        for s in t.drain() {
            let e = s.ack.wrapping_add(u32::from(s.window));
            assert!(
                e.wrapping_sub(edge) as i32 >= 0 || edge == 0,
                "edge moved left: {}",
                s.line
            );
            edge = e;
        }
    }
}

#[test]
fn must_30_must_31_must_32_must_33_case_8_urgent_pointer_tracked_and_signalled_once_per_advance() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(1),
        seg()
            .ack_flag()
            .urg_flag()
            .urgent(3)
            .seq(1001)
            .ack(iss + 1)
            .data(&[0; 10]),
    );
    t.send(
        at(2),
        seg()
            .ack_flag()
            .urg_flag()
            .urgent(2)
            .seq(1002)
            .ack(iss + 1)
            .data(&[0; 9]),
    ); // same pointer
    let urgent: Vec<_> = std::iter::from_fn(|| t.stack.poll_event(h))
        .filter(|e| matches!(e, Event::Urgent(_)))
        .collect();
    assert_eq!(urgent.len(), 1);
    // MUST-33: how much urgent data is unread.
    assert_eq!(t.stack.connection(h).unwrap().urgent_unread(), 3);
    t.advance(600);
    assert_eq!(t.read_all(h).len(), 10, "urgent bytes stay in the stream");
    assert_eq!(t.stack.connection(h).unwrap().urgent_unread(), 0);
}

#[test]
fn case_7_sequence_numbers_wrap_at_2_pow_32() {
    // Checklist case 7: the peer's ISN just below 2^32; data crosses the wrap both ways.
    let mut t = Harness::server(80);
    let isn = 0xFFFF_FFF0u32;
    let (h, iss) = t.establish(0, isn, seg().mss(1000));
    let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    let mut seq = isn.wrapping_add(1);
    for chunk in data.chunks(1000) {
        t.send(
            at(1),
            seg()
                .ack_flag()
                .seq(seq)
                .ack(iss.wrapping_add(1))
                .data(chunk),
        );
        seq = seq.wrapping_add(chunk.len() as u32);
    }
    t.advance(600);
    let a = t.drain().pop().unwrap();
    assert_eq!(a.ack, seq);
    assert_eq!(t.read_all(h), data);
    t.drain(); // the window update
    t.send(
        at(700),
        seg()
            .flags(TcpFlags::FIN | TcpFlags::ACK)
            .seq(seq)
            .ack(iss.wrapping_add(1)),
    );
    t.expect(at(700), seg().flags(ACK).ack(seq.wrapping_add(1)));
    assert_eq!(t.state(h), State::CloseWait);
}

#[test]
fn must_5_options_on_a_data_segment_are_accepted() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(1),
        seg()
            .ack_flag()
            .seq(1001)
            .ack(iss + 1)
            .ws(3)
            .sack_perm()
            .data(b"opt"),
    );
    t.advance(600);
    assert_eq!(t.read_all(h), b"opt");
}

#[test]
fn must_18_must_19_rtt_estimate_follows_acks_and_rto_backs_off_on_loss() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, &[0u8; 1000]).unwrap();
    t.flush();
    t.expect(at(0), seg().len(1000));
    t.send(at(50), seg().ack_flag().seq(1001).ack(iss + 1001));
    let c = t.stack.connection(h).unwrap();
    // Samples 0 ms (handshake) then 50 ms: SRTT = 0 + 50/8 (RFC 6298 2.3).
    assert_eq!(c.srtt().unwrap().millis(), 6);
    t.stack.send(h, &[0u8; 1000]).unwrap();
    t.flush();
    t.expect(at(50), seg().len(1000).seq(iss + 1001));
    // Lost: retransmitted after the RTO (max(200 ms floor, 50 + 4*25 = 150 ms) = 200 ms).
    t.expect(at(250), seg().len(1000).seq(iss + 1001));
    t.expect(at(650), seg().len(1000).seq(iss + 1001)); // backed off to 400 ms
}

#[test]
fn must_20_connection_times_out_after_r2_retransmissions() {
    let mut t = Harness::server(80);
    let (h, _iss) = t.establish(0, 1000, seg());
    t.stack.send(h, b"into the void").unwrap();
    t.advance(3_600_000);
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(Error::TimedOut));
    let retrans = t.stack.counters().tcp_retrans_segs;
    assert_eq!(retrans, 15, "tcp_retries2");
}

#[test]
fn recv_with_reads_in_place_one_contiguous_run_at_a_time_then_eof() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 4096;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg());
    let first: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    t.send(at(1), seg().ack_flag().seq(1001).ack(iss + 1).data(&first));
    // Consume only part: the closure says how much it took.
    assert_eq!(t.stack.recv_with(h, |d| d.len().min(1000)), Ok(1000));
    assert_eq!(t.stack.recv_with(h, |d| d.len()), Ok(2000));
    // The next 3000 bytes wrap the 4096-byte ring at 3000: two runs, no copy of either.
    let second: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    t.send(at(2), seg().ack_flag().seq(4001).ack(iss + 1).data(&second));
    let mut got = Vec::new();
    let mut runs = 0;
    while let Ok(n) = t.stack.recv_with(h, |d| {
        got.extend_from_slice(d);
        d.len()
    }) {
        if n == 0 {
            break;
        }
        runs += 1;
    }
    assert_eq!(got, second);
    assert_eq!(runs, 2, "the ring wraps once");
    assert_eq!(t.stack.recv_with(h, |d| d.len()), Err(Error::WouldBlock));
    t.send(at(3), seg().ack_flag().fin().seq(7001).ack(iss + 1));
    assert_eq!(
        t.stack.recv_with(h, |d| d.len()),
        Ok(0),
        "end of stream (MUST-12)"
    );
}

/// A 100-byte segment of the peer at `seq` (issue 21's batches).
fn hundred(iss: u32, seq: u32) -> Spec {
    seg().ack_flag().seq(seq).ack(iss + 1).data(&[7; 100])
}

#[test]
fn rfc5681_4_2_each_out_of_order_segment_of_a_batch_draws_its_own_ack_most_recent_block_first() {
    // Issue 21: the runtime hands the stack a batch of packets before it polls; each
    // out-of-order segment (and each that fills a hole) still gets its own immediate ACK,
    // in arrival order, its SACK blocks as they stood after that segment (RFC 2018 §4:
    // the block holding the most recent segment first). SACK compression off (it holds
    // the fourth ACK for one RCV.NXT: tests/sack_compression.rs).
    let mut cfg = Harness::config();
    cfg.tcp.comp_sack_nr = 0;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg().sack_perm());
    t.send_burst(
        at(10),
        &[
            hundred(iss, 1101), // 1001..1101 is missing
            hundred(iss, 1301),
            hundred(iss, 1201), // joins 1101..1401
            hundred(iss, 1501),
            hundred(iss, 1001), // fills the first hole
            hundred(iss, 1401), // fills the last one
        ],
    );
    t.expect(at(10), seg().flags(ACK).ack(1001).sack(&[(1101, 1201)]));
    t.expect(
        at(10),
        seg()
            .flags(ACK)
            .ack(1001)
            .sack(&[(1301, 1401), (1101, 1201)]),
    );
    t.expect(at(10), seg().flags(ACK).ack(1001).sack(&[(1101, 1401)]));
    t.expect(
        at(10),
        seg()
            .flags(ACK)
            .ack(1001)
            .sack(&[(1501, 1601), (1101, 1401)]),
    );
    t.expect(at(10), seg().flags(ACK).ack(1401).sack(&[(1501, 1601)]));
    t.expect(at(10), seg().flags(ACK).ack(1601).sack(&[]));
    t.expect_nothing_until(at(1000));
    assert_eq!(t.read_all(h), vec![7; 600]);
}

#[test]
fn rfc5681_4_2_without_sack_a_batch_of_three_out_of_order_segments_draws_three_duplicate_acks() {
    // A sender without SACK counts duplicate ACKs to three (RFC 5681 §3.2): one per
    // out-of-order segment, even when they arrive in one batch.
    let mut t = Harness::server(80);
    let (_h, iss) = t.establish(0, 1000, seg());
    t.send_burst(
        at(10),
        &[hundred(iss, 1101), hundred(iss, 1201), hundred(iss, 1301)],
    );
    for _ in 0..3 {
        t.expect(at(10), seg().flags(ACK).ack(1001).sack(&[]));
    }
    t.expect_nothing_until(at(1000));
}

#[test]
fn in_order_segments_after_a_hole_fills_share_the_batchs_cumulative_ack() {
    // The batching's gain stays for in-order data: once the hole is filled, the in-order
    // segments behind it in the same batch merge into one cumulative ACK.
    let mut t = Harness::server(80);
    let (_h, iss) = t.establish(0, 1000, seg().sack_perm());
    t.send_burst(
        at(10),
        &[
            hundred(iss, 1101),
            hundred(iss, 1001), // fills: ACK 1201 on its own
            hundred(iss, 1201),
            hundred(iss, 1301),
            hundred(iss, 1401),
        ],
    );
    t.expect(at(10), seg().flags(ACK).ack(1001).sack(&[(1101, 1201)]));
    t.expect(at(10), seg().flags(ACK).ack(1201).sack(&[]));
    let rest = t.drain();
    assert!(
        rest.len() <= 1,
        "{} ACKs for three in-order segments",
        rest.len()
    );
    let last = match rest.first() {
        Some(a) => a.clone(),
        None => t.expect_between(10, 500, seg().flags(ACK)),
    };
    assert_eq!(last.ack, 1501, "one ACK covers the in-order rest");
}

#[test]
fn segments_to_a_peer_without_window_scaling_are_at_most_half_its_largest_window() {
    // Issue 21, Linux's tcp_bound_to_half_wnd: on an MTU 65000 path a peer without window
    // scaling offers at most 65535 bytes; one 64,960-byte segment filled it, and the peer's
    // delayed ACK (one segment is not two) held each window ~40 ms. Two halves go instead.
    let mut cfg = Harness::config();
    cfg.mtu = 65000;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg().mss(64960)); // no window scale option
    assert_eq!(t.stack.send(h, &[7u8; 200_000]), Ok(200_000));
    t.flush();
    let half: u32 = 65535 / 2;
    t.expect(at(0), seg().seq(iss + 1).len(half as usize));
    t.expect(at(0), seg().seq(iss + 1 + half).len(half as usize));
    t.expect_nothing_until(at(5)); // 1 byte of window left: sender SWS avoidance waits
    let mut acked = iss + 1 + 2 * half;
    t.send(at(10), seg().ack_flag().seq(1001).ack(acked));
    let mut sent = 2 * half as usize;
    for ms in 11..40 {
        for s in t.drain() {
            assert!(
                !s.payload.is_empty() && s.payload.len() <= half as usize,
                "segment of {} bytes, over half the peer's largest window ({half}): {}",
                s.payload.len(),
                s.line
            );
            sent += s.payload.len();
            acked = s.seq + s.payload.len() as u32;
        }
        if sent == 200_000 {
            break;
        }
        t.send(at(ms), seg().ack_flag().seq(1001).ack(acked));
    }
    assert_eq!(sent, 200_000, "{}", t.trace.join("\n"));
}

#[test]
fn one_read_returns_everything_readable_even_across_the_rings_wrap() {
    // The receive ring starts small and grows: after 1000 bytes were read, the next 1000
    // lie across its end. A read of 1000 returns all of them (packetdrill's
    // ioctl/ioctl-siocinq-fin read 24).
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(
        at(1),
        seg().ack_flag().seq(1001).ack(iss + 1).data(&[1; 1000]),
    );
    let mut buf = [0u8; 1000];
    assert_eq!(t.stack.recv(h, &mut buf), Ok(1000));
    t.send(
        at(2),
        seg().ack_flag().seq(2001).ack(iss + 1).data(&[2; 1000]),
    );
    assert_eq!(t.stack.recv(h, &mut buf), Ok(1000));
    assert!(buf.iter().all(|&b| b == 2));
}
