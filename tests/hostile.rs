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
        seg()
            .ack_flag()
            .psh()
            .seq(1001)
            .ack(iss + 1)
            .ts(101, 1)
            .data(b"good"),
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
        seg()
            .ack_flag()
            .psh()
            .seq(1001)
            .ack(iss + 1)
            .ts(101, 1)
            .data(b"good"),
    );
    t.expect_between(20, 60, seg().flags(TcpFlags::ACK).ack(1005));
    assert_eq!(read(&mut t, h), b"good");
}

/// Runs to `until` ms answering every segment with a zero window; returns when each
/// segment went out. No segment may carry a FIN.
fn answer_with_zero_window(t: &mut Harness, iss: u32, until: u64) -> Vec<u64> {
    let mut sent = Vec::new();
    while let Some(next) = t.stack.poll_timeout() {
        let now = next.millis().max(t.now_ms);
        if now > until {
            break;
        }
        t.advance(now);
        for s in t.drain() {
            assert!(!s.flags.fin(), "a FIN into the zero window: {}", s.line);
            t.send(now, seg().seq(1001).ack(iss + 1).win(0));
            sent.push(now);
        }
        t.drain();
    }
    t.advance(until);
    sent
}

fn gaps(sent: &[u64]) -> Vec<u64> {
    sent.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn fin_into_a_zero_window_waits_for_backed_off_probes_and_the_orphan_gives_up() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    // The peer closes its window; then the application closes (an orphan now).
    t.send(at(10), seg().seq(1001).ack(iss + 1).win(0));
    t.stack.close(h);
    t.flush();
    // No FIN into the closed window (it takes a sequence number the peer must drop): the
    // persist timer probes instead, each probe answered with the window still closed. Once
    // the interval reaches the maximum RTO the orphan is dropped (Linux tcp_probe_timer with
    // tcp_orphan_retries), answered or not: before, a FIN left every 200 ms for ever.
    let sent = answer_with_zero_window(&mut t, iss, 600_000);
    let g = gaps(&sent);
    assert!(g.windows(2).all(|p| p[1] == 2 * p[0]), "doubling: {g:?}");
    assert!((5..=12).contains(&sent.len()), "{sent:?}");
    assert_eq!(t.stack.connections().count(), 0, "the orphan was dropped");
    assert!(*sent.last().unwrap() < 300_000, "within minutes: {sent:?}");
}

#[test]
fn zero_window_probes_of_a_live_peer_go_on_while_answered_capped_at_max_rto() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(at(10), seg().seq(1001).ack(iss + 1).win(0));
    // Half-close only: the application still holds the connection (MUST-37: a peer that
    // answers may keep its window closed indefinitely).
    t.stack.shutdown_write(h);
    t.flush();
    let sent = answer_with_zero_window(&mut t, iss, 3_600_000);
    let g = gaps(&sent);
    assert_eq!(*g.last().unwrap(), 120_000, "capped at max_rto: {g:?}");
    assert!(sent.len() < 40, "{} probes in an hour", sent.len());
    assert_eq!(t.state(h), State::FinWait1);
}

#[test]
fn zero_window_probes_to_a_silent_peer_give_up_after_retries2() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.send(h, b"data").unwrap();
    t.flush();
    t.drain();
    // The peer acknowledges the data with a closed window, then falls silent.
    t.send(at(10), seg().seq(1001).ack(iss + 5).win(0));
    t.stack.send(h, b"more").unwrap();
    t.advance(36_000_000);
    assert_eq!(
        t.stack.recv(h, &mut [0; 4]),
        Err(tuntcp::tcp::Error::TimedOut),
        "aborted: 15 unanswered probes"
    );
}

#[test]
fn zero_window_probing_ends_at_the_user_timeout_even_when_answered() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.with_connection(h, |c| {
        c.set_user_timeout(Some(tuntcp::time::Duration::from_secs(60)))
    });
    t.send(at(10), seg().seq(1001).ack(iss + 1).win(0));
    t.stack.send(h, b"x").unwrap();
    t.flush();
    answer_with_zero_window(&mut t, iss, 200_000);
    assert_eq!(
        t.stack.recv(h, &mut [0; 4]),
        Err(tuntcp::tcp::Error::TimedOut)
    );
}

#[test]
fn fin_goes_out_once_the_window_opens() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(at(10), seg().seq(1001).ack(iss + 1).win(0));
    t.stack.close(h);
    t.flush();
    t.expect_nothing_until(at(100));
    t.send(at(100), seg().seq(1001).ack(iss + 1).win(1000));
    t.expect(
        at(100),
        seg().flags(TcpFlags::FIN | TcpFlags::ACK).seq(iss + 1),
    );
    t.send(at(110), seg().seq(1001).ack(iss + 2).win(1000));
    let states: Vec<State> = t.stack.connections().map(|(_, c)| c.state()).collect();
    assert_eq!(states, [State::FinWait2]);
}

#[test]
fn zero_keepalive_times_cannot_make_a_deadline_that_never_moves() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish(0, 1000, seg());
    t.stack.with_connection(h, |c| {
        c.set_keepalive_times(
            tuntcp::time::Duration::ZERO,
            tuntcp::time::Duration::ZERO,
            3,
        );
        c.set_keepalive(true);
    });
    t.flush();
    // Each timer call must move the next deadline past `now`: count the calls it takes to
    // reach 10 s (before, a zero interval re-armed the probe at `now` for ever).
    let mut calls = 0;
    while let Some(next) = t.stack.poll_timeout() {
        if next.millis() > 10_000 {
            break;
        }
        let now = next.max(tuntcp::time::Instant::from_millis(t.now_ms));
        t.now_ms = now.millis();
        t.stack.handle_timeout(now);
        t.flush();
        calls += 1;
        assert!(calls < 100, "the timer does not move: {next}");
    }
    // Clamped to 1 s like Linux's TCP_KEEPIDLE/TCP_KEEPINTVL: probes 1 s apart, then the
    // peer is declared dead after 3.
    let probes = t.drain().len();
    assert_eq!(probes, 3, "{probes} probes");
    assert_eq!(
        t.stack.recv(h, &mut [0; 1]),
        Err(tuntcp::tcp::Error::TimedOut)
    );
}

#[test]
fn spoofed_urgent_segments_outside_the_window_raise_no_urgent_event() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    while t.stack.poll_event(h).is_some() {}
    // 100 URG segments a blind attacker sprays beyond the window, with plausible ACKs.
    for k in 0..100u32 {
        t.send(
            at(10),
            seg()
                .urg_flag()
                .ack_flag()
                .seq(1001 + 300_000 + k * 1000)
                .ack(iss + 1)
                .urgent(500)
                .data(b"x"),
        );
    }
    let events: Vec<_> = std::iter::from_fn(|| t.stack.poll_event(h)).collect();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, tuntcp::tcp::Event::Urgent(_))),
        "{events:?}"
    );
    // A genuine URG at RCV.NXT is still reported (MUST-30).
    t.send(
        at(20),
        seg()
            .urg_flag()
            .ack_flag()
            .seq(1001)
            .ack(iss + 1)
            .urgent(3)
            .data(b"abc"),
    );
    let events: Vec<_> = std::iter::from_fn(|| t.stack.poll_event(h)).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, tuntcp::tcp::Event::Urgent(_))),
        "{events:?}"
    );
}

#[test]
fn answers_to_invalid_pure_acks_are_rate_limited_but_data_is_always_answered() {
    let mut t = Harness::server(80);
    let (_h, iss) = t.establish(0, 1000, seg());
    // 1,000 out-of-window pure ACKs in one second: at most one answer per 500 ms.
    for k in 0..1000u64 {
        t.send(k, seg().seq(5_000_000).ack(iss + 1));
    }
    let answers = t.drain().len();
    assert!(
        answers <= 2,
        "{answers} ACKs for 1,000 invalid segments in 1 s"
    );
    // Out-of-window data is answered every time: its sender may be retransmitting into a
    // lost ACK (Linux's tcp_oow_rate_limited exempts it).
    for k in 0..5u64 {
        t.send(1000 + k, seg().seq(1).ack(iss + 1).data(b"old"));
    }
    assert_eq!(t.drain().len(), 5);
}

#[test]
fn garbage_from_a_dead_peer_does_not_keep_the_connection_alive() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.with_connection(h, |c| {
        c.set_keepalive_times(
            tuntcp::time::Duration::from_secs(10),
            tuntcp::time::Duration::from_secs(5),
            3,
        );
        c.set_keepalive(true);
    });
    t.flush();
    // The peer is gone; someone sprays segments outside the window every 2 s. They are
    // no sign of life: keep-alive still probes and gives up after 10 + 3 x 5 s.
    let mut ms = 2_000;
    while ms < 40_000 {
        t.send(ms, seg().seq(7_000_000).ack(iss + 1));
        ms += 2_000;
    }
    assert_eq!(
        t.stack.recv(h, &mut [0; 1]),
        Err(tuntcp::tcp::Error::TimedOut)
    );
}

#[test]
fn bytes_sacked_grow_no_cwnd_on_a_dup_ack_nor_twice_when_cumulatively_acked() {
    // NewReno congestion avoidance counts bytes (RFC 5681 §3.1, RFC 3465): cwnd grows by
    // one SMSS once a cwnd's worth has been delivered.
    let mut cfg = Harness::config();
    cfg.tcp.congestion = tuntcp::tcp::congestion::Algorithm::NewReno;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, 10, 1000, seg().mss(1000).sack_perm());
    t.stack.send(h, &vec![1u8; 10_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10);
    let una = iss + 1;
    // Segment 1 lost: SACKs of 2..4 start recovery (the third: RACK's reordering window is
    // zero with 3 segments SACKed), ssthresh = cwnd = 5,000.
    for k in 2..=4u32 {
        t.send(
            at(20),
            seg()
                .seq(1001)
                .ack(una)
                .sack(&[(una + 1000, una + k * 1000)]),
        );
    }
    t.expect(at(20), seg().seq(una).len(1000));
    // The ACK that ends recovery delivers 7,000 new bytes: cwnd 5,000 -> 6,000 with
    // 2,000 carried in the byte counter (NewReno's ca_acked).
    t.send(at(30), seg().seq(1001).ack(una + 10_000));
    assert_eq!(
        t.stack.connection(h).unwrap().cwnd(),
        6_000,
        "after recovery"
    );
    // In congestion avoidance, more queued than cwnd (cwnd-limited): 6 segments leave.
    let una = una + 10_000;
    t.stack.send(h, &vec![2u8; 20_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 6);
    // Segments 2-3 SACKed first (reordering, under DupThresh): 2,000 delivered, but a
    // duplicate ACK grows no cwnd (RFC 5681 §3.1: only ACKs that cumulatively acknowledge
    // new data do; Linux tcp_may_raise_cwnd), so 2,000 counted of the 6,000...
    t.send(
        at(40),
        seg().seq(1001).ack(una).sack(&[(una + 1000, una + 3000)]),
    );
    // ...then 1-3 acknowledged cumulatively: 1,000 more (3,000). Counting the SACKed 2,000
    // again made 5,000 here and grew cwnd a segment early, at 42.
    t.send(at(41), seg().seq(1001).ack(una + 3000));
    assert_eq!(t.stack.connection(h).unwrap().cwnd(), 6_000);
    t.send(at(42), seg().seq(1001).ack(una + 4000));
    t.send(at(43), seg().seq(1001).ack(una + 5000));
    assert_eq!(
        t.stack.connection(h).unwrap().cwnd(),
        6_000,
        "5,000 counted"
    );
    t.send(at(44), seg().seq(1001).ack(una + 6000));
    assert_eq!(
        t.stack.connection(h).unwrap().cwnd(),
        7_000,
        "6,000 counted"
    );
}

/// Our window scale as our SYN-ACK announced it.
fn establish_scaled(t: &mut Harness) -> (tuntcp::stack::SocketHandle, u32, u8) {
    t.send(0, seg().syn().seq(1000).mss(1448).ws(7));
    let sa = t.expect(0, seg().flags(TcpFlags::SYN | TcpFlags::ACK).ack(1001));
    let ws = sa.options.window_scale.expect("our SYN-ACK carries wscale");
    t.send(0, seg().seq(1001).ack(sa.seq + 1));
    let h = t.stack.accept(80).expect("accepted");
    (h, sa.seq, ws)
}

#[test]
fn the_advertised_right_edge_never_moves_left_and_all_of_it_is_accepted() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 1 << 20;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss, ws) = establish_scaled(&mut t);
    assert_eq!(ws, 5, "1 MiB needs scale 5");
    // The application reads nothing; the peer sends 1000-byte segments (off the 32-byte
    // unit) up to every right edge it is given, exactly to the edge at the end.
    let mut seq = 1001u32;
    let mut edge = seq + 65535; // what the SYN-ACK offered, unscaled
    let mut ms = 1;
    loop {
        let n = 1000.min(edge.wrapping_sub(seq)) as usize;
        if n == 0 {
            break;
        }
        t.send(ms, seg().seq(seq).ack(iss + 1).data(&vec![9u8; n]));
        seq += n as u32;
        t.advance(ms + 50);
        for a in t.drain() {
            let e = a.ack.wrapping_add(u32::from(a.window) << ws);
            assert!(
                e.wrapping_sub(edge) as i32 >= 0,
                "the right edge moved left: {edge} -> {e} ({})",
                a.line
            );
            assert_eq!(a.ack, seq, "everything sent within the window was accepted");
            edge = e;
        }
        ms += 100;
        assert!(ms < 1_000_000, "did not converge");
    }
    // The window closed with the buffer full: all of it accepted, none beyond it.
    let held = seq.wrapping_sub(1001) as usize;
    assert!(held <= 1 << 20, "{held}");
    assert!(held >= (1 << 20) - (1 << 20) / 64 - 32, "{held}");
    assert_eq!(t.stack.connection(h).unwrap().recv_queue(), held);
}

#[test]
fn one_byte_segments_into_an_unread_buffer_cannot_creep_the_window_past_the_buffer() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 65536;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss, ws) = establish_scaled(&mut t);
    assert_eq!(ws, 1, "64 KiB needs scale 1");
    // One byte per delayed ACK: each ACK finds RCV.NXT off the 2-byte unit, and rounding the
    // edge up every time would keep the window open for ever (RFC 7323 Appendix F).
    let mut seq = 1001u32;
    // The SYN-ACK offered the buffer less the 1 KiB rounding reserve (`syn_window`).
    let mut edge = seq + 65536 - 1024;
    let mut ms = 1;
    let mut moved_left = 0u32;
    while edge != seq {
        // Large segments first (quick), then single bytes for the last 3,000 bytes: the
        // creep must eat the 1 KiB reserve and then some.
        let n = if edge.wrapping_sub(seq) > 3000 {
            1000
        } else {
            1
        };
        t.send(ms, seg().seq(seq).ack(iss + 1).data(&vec![b'z'; n]));
        seq += n as u32;
        t.advance(ms + 50);
        for a in t.drain() {
            let e = a.ack.wrapping_add(u32::from(a.window) << ws);
            let back = edge.wrapping_sub(e) as i32;
            assert!(back < 2, "moved left by {back} (at most the unit less one)");
            moved_left += back.max(0) as u32;
            edge = e;
        }
        ms += 100;
        assert!(seq - 1001 <= 65536, "the window crept past the buffer");
    }
    let held = t.stack.connection(h).unwrap().recv_queue();
    assert!((65536 - 1024..=65536).contains(&held), "{held}");
    assert!(moved_left > 0, "the creep did reach the buffer's end");
    println!("held {held}; the edge moved left by {moved_left} bytes in all");
}

/// The stack fuzzer's FIN-WAIT-1 finding (`tests/fuzz_inputs/stack-edge-back-in-fin-wait-1`),
/// as a trace: SO_RCVBUF shrinks the buffer below the window already offered, then unread
/// data arrives off the unit. Each ACK rounded the edge down by less than a unit, but from
/// the previous rounded-down edge, so the steps added up: 12 bytes back with scale 3
/// (RFC 9293 §3.8.6.2.2 SHLD-14, RFC 7323 §2.4). Less than one unit in all is the
/// documented exception.
#[test]
fn shrinking_the_receive_buffer_never_moves_the_offered_edge_left_by_a_unit() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 256 * 1024;
    cfg.tcp.quick_acks = 0; // delayed ACKs from the start: the edges are the point here
    let mut t = Harness::server_with(80, cfg);
    let (h, iss, ws) = establish_scaled(&mut t);
    assert_eq!(ws, 3, "256 KiB needs scale 3");
    // The first scaled window: 256 KiB less the 4 KiB reserve.
    t.send(1, seg().seq(1001).ack(iss + 1).data(&[1; 8]));
    let a = t.expect(41, seg().flags(TcpFlags::ACK).ack(1009));
    let first = a.ack.wrapping_add(u32::from(a.window) << ws);
    assert_eq!(first, 1001 + 258_048);
    // SO_RCVBUF down to 96 KiB, far below the edge offered; nothing is read.
    t.stack.with_connection(h, |c| c.set_recv_buffer(96 * 1024));
    let mut seq = 1009u32;
    let mut ms = 100;
    for _ in 0..8 {
        // 3 bytes: RCV.NXT lands 5 bytes short of the 8-byte unit every time.
        t.send(ms, seg().seq(seq).ack(iss + 1).data(&[2; 3]));
        seq += 3;
        let a = t.expect(ms + 40, seg().flags(TcpFlags::ACK).ack(seq));
        let e = a.ack.wrapping_add(u32::from(a.window) << ws);
        let back = first.wrapping_sub(e) as i32;
        assert!(
            (0..8).contains(&back),
            "right edge {e}: {back} bytes left of {first} ({})",
            a.line
        );
        ms += 100;
    }
}

/// Found by the stack fuzzer (`tests/fuzz_inputs/stack-ooo-past-fin-close-wait`): a peer
/// sends data out of order up to the offered edge, then a FIN before it. The stream ends at
/// the FIN, so what lies past it can never be delivered; it was kept, charged, SACKed, and
/// (the FIN taking a sequence number the buffer does not hold) reached one byte past the
/// offered edge. It is dropped when the FIN is consumed, as Linux's `tcp_fin` purges its
/// out-of-order queue.
#[test]
fn data_held_past_the_peers_fin_is_dropped_when_the_fin_arrives() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 4096; // no window scale
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg().mss(1460).ws(2).sack_perm());
    // Out of order, up to the edge offered (1001 + 4096).
    t.send(10, seg().ack_flag().seq(4500).ack(iss + 1).data(&[3; 597]));
    let a = t.expect(10, seg().flags(TcpFlags::ACK).ack(1001));
    assert_eq!(a.options.sack.len(), 1, "{}", a.line);
    assert_eq!(t.stack.connection(h).unwrap().ooo_ranges(), 1);
    // One byte and a FIN, before the data held.
    t.send(20, seg().ack_flag().fin().seq(1001).ack(iss + 1).data(b"x"));
    let a = t.expect(20, seg().flags(TcpFlags::ACK).ack(1003));
    assert_eq!(
        a.options.sack.len(),
        0,
        "nothing held past the FIN: {}",
        a.line
    );
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!((c.ooo_ranges(), c.recv_queue()), (0, 1));
}

#[test]
fn reading_a_full_buffer_announces_the_freed_window_at_once() {
    // The rounding reserve must not hide the gain: reading what filled the window sends a
    // window update (RFC 9293 §3.8.6.2.2) instead of leaving the peer to its persist timer.
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 256 * 1024; // fixed: scale 3
    let mut t = Harness::server_with(80, cfg);
    let (h, iss, ws) = establish_scaled(&mut t);
    let mut seq = 1001u32;
    let mut edge = seq + 65535;
    let mut ms = 1;
    while edge.wrapping_sub(seq) > 0 {
        let n = 1448.min(edge.wrapping_sub(seq)) as usize;
        t.send(ms, seg().seq(seq).ack(iss + 1).data(&vec![1u8; n]));
        seq += n as u32;
        t.advance(ms + 50);
        for a in t.drain() {
            edge = a.ack.wrapping_add(u32::from(a.window) << ws);
        }
        ms += 100;
    }
    t.expect_nothing_until(ms + 1000);
    let got = t.read_all(h).len();
    assert_eq!(got as u32, seq - 1001);
    let upd = t.expect(ms + 1000, seg().flags(TcpFlags::ACK).ack(seq));
    assert!(u32::from(upd.window) << ws > 200_000, "{}", upd.line);
}

#[test]
fn an_echo_older_than_the_last_timeout_is_not_an_rtt_sample() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().ts(100, 0));
    // A 10 ms exchange sets srtt.
    t.stack.send(h, b"a").unwrap();
    t.flush();
    let a = t.expect(0, seg().len(1));
    let tsa = a.options.timestamps.unwrap().tsval;
    t.send(10, seg().seq(1001).ack(iss + 2).ts(101, tsa));
    let srtt0 = t.stack.connection(h).unwrap().srtt().unwrap();
    // The next segment arrives, but its ACK is lost: the RTO resends it...
    t.stack.send(h, b"b").unwrap();
    t.flush();
    let b = t.expect(10, seg().len(1));
    let tsb = b.options.timestamps.unwrap().tsval;
    let rtx = t.expect_between(21, 2_000, seg().len(1).seq(b.seq));
    // ...and the peer's duplicate ACK for the resent copy echoes the original's TSval
    // (RFC 7323 §4.3): "RTT" = ACK loss + backoff. Not a sample: srtt keeps its 10 ms.
    let late = t.now_ms + 5;
    t.send(late, seg().seq(1001).ack(iss + 3).ts(102, tsb));
    let srtt = t.stack.connection(h).unwrap().srtt().unwrap();
    assert_eq!(
        srtt, srtt0,
        "srtt moved on a stale echo (retransmitted at {})",
        rtx.line
    );
}

#[test]
fn segments_without_ack_rst_or_syn_are_dropped_unanswered() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().ts(100, 0));
    t.send(1, seg().seq(1001).ack(iss + 1).ts(101, 0));
    // A blind flood without ACK: old or future TSvals, in or out of the window, with data.
    for k in 0..200u32 {
        let tsval = if k % 2 == 0 { 50 } else { 0x7000_0000 };
        t.send(
            10,
            seg()
                .flags(TcpFlags::PSH)
                .seq(1001 + k * 700)
                .ts(tsval, 0)
                .data(b"blind"),
        );
    }
    // Nothing is answered (Linux drops them before PAWS and the sequence check).
    assert_eq!(t.drain().len(), 0);
    assert_eq!(t.stack.connection(h).unwrap().recv_queue(), 0);
    assert_eq!(t.stack.counters().tcp_ext_paws_estab, 0);
}

#[test]
fn on_a_zero_window_only_the_probe_at_rcv_nxt_counts_for_urgent_and_zero_window_drops() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 1000;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg());
    while t.stack.poll_event(h).is_some() {}
    t.send(10, seg().ack_flag().seq(1001).ack(iss + 1).data(&[1; 1000]));
    let a = t.expect_between(10, 250, seg().flags(TcpFlags::ACK).ack(2001));
    assert_eq!(a.window, 0, "{}", a.line);
    // Our window is zero, not the peer's: its pure ACK at RCV.NXT is acceptable (RFC 9293
    // §3.10.7.4 table 6) and acknowledges our data; nothing is resent or answered.
    t.stack.send(h, b"reply").unwrap();
    t.flush();
    let data = seg().flags(TcpFlags::ACK | TcpFlags::PSH).seq(iss + 1);
    t.expect_between(10, 250, data.len(5));
    t.send(60, seg().ack_flag().seq(2001).ack(iss + 6).win(65535));
    t.expect_nothing_until(2000);
    let urgent = |t: &mut Harness| {
        std::iter::from_fn(|| t.stack.poll_event(h))
            .filter(|e| matches!(e, tuntcp::tcp::Event::Urgent(_)))
            .count()
    };
    // A blind URG segment beyond RCV.NXT with a plausible ACK: no urgent event, and not a
    // zero-window drop (it was never in order).
    let blind = seg()
        .urg_flag()
        .ack_flag()
        .seq(7001)
        .ack(iss + 1)
        .urgent(10);
    t.send(2100, blind.data(b"x"));
    assert_eq!(urgent(&mut t), 0);
    assert_eq!(t.stack.counters().tcp_ext_tcp_zero_window_drop, 0);
    // A blind probe at RCV.NXT whose ACK is not acceptable (data never sent): its byte is
    // refused (counted), its urgent pointer ignored.
    let spoofed = seg()
        .urg_flag()
        .ack_flag()
        .seq(2001)
        .ack(iss + 900_000)
        .urgent(10);
    t.send(2150, spoofed.data(b"x"));
    assert_eq!(urgent(&mut t), 0);
    assert_eq!(t.stack.counters().tcp_ext_tcp_zero_window_drop, 1);
    // The peer's zero-window probe at RCV.NXT: its byte is refused (counted), its urgent
    // pointer counts (MUST-66, RFC 9293 §3.10.7.4).
    let probe = seg()
        .urg_flag()
        .ack_flag()
        .seq(2001)
        .ack(iss + 1)
        .urgent(10);
    t.send(2200, probe.data(b"x"));
    assert_eq!(urgent(&mut t), 1);
    assert_eq!(t.stack.counters().tcp_ext_tcp_zero_window_drop, 2);
}

#[test]
fn answers_to_invalid_segments_resume_exactly_500_ms_after_the_last() {
    let mut t = Harness::server(80);
    let (_h, iss) = t.establish(0, 1000, seg());
    let invalid = || seg().ack_flag().seq(5_000_000).ack(iss + 1);
    t.send(1000, invalid());
    t.expect(1000, seg().flags(TcpFlags::ACK).ack(1001));
    t.send(1499, invalid());
    t.expect_nothing_until(1499);
    t.send(1500, invalid()); // tcp_invalid_ratelimit: 500 ms since the last answer
    t.expect(1500, seg().flags(TcpFlags::ACK).ack(1001));
}

#[test]
fn an_urgent_pointer_counts_only_with_urg_and_before_the_peers_fin() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    while t.stack.poll_event(h).is_some() {}
    let urgent = |t: &mut Harness| {
        std::iter::from_fn(|| t.stack.poll_event(h))
            .filter(|e| matches!(e, tuntcp::tcp::Event::Urgent(_)))
            .count()
    };
    // An urgent field without the URG flag means nothing (RFC 9293 §3.1).
    t.send(
        10,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(iss + 1)
            .urgent(3)
            .data(b"abc"),
    );
    assert_eq!(urgent(&mut t), 0);
    // After the peer's FIN, URG is ignored (RFC 9293 §3.10.7.4 sixth step, CLOSE-WAIT).
    let finack = TcpFlags::FIN | TcpFlags::ACK;
    t.send(20, seg().flags(finack).seq(1004).ack(iss + 1));
    assert_eq!(t.state(h), tuntcp::tcp::State::CloseWait);
    t.send(
        30,
        seg().urg_flag().ack_flag().seq(1005).ack(iss + 1).urgent(5),
    );
    assert_eq!(urgent(&mut t), 0);
}
