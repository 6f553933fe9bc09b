//! Per-socket options Linux applications use (and packetdrill's scripts test), as packet
//! traces: TCP_MAXSEG before the handshake.
mod support;

use support::*;
use tuntcp::wire::TcpFlags;

/// TCP_MAXSEG set before connect: the SYN offers it, and data goes out in segments of at
/// most that size even though the peer offers more (Linux `user_mss`).
#[test]
fn maxseg_set_before_connect_caps_the_syn_mss_and_the_segments() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).expect("connect");
    t.stack.with_connection(h, |c| c.set_maxseg(1100));
    t.flush();
    let syn = t.expect(at(0), seg().flags(TcpFlags::SYN).mss(1100));
    t.us = syn.src;
    t.send(
        at(10),
        seg()
            .syn()
            .ack_flag()
            .seq(5000)
            .ack(syn.seq + 1)
            .win(65535)
            .mss(1460),
    );
    t.expect(at(10), seg().flags(TcpFlags::ACK).ack(5001));
    // Once the SYN has left, the option changes nothing (the MSS was offered).
    t.stack.with_connection(h, |c| c.set_maxseg(500));
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 1100);
    t.stack.send(h, &[7u8; 2500]).unwrap();
    t.advance(at(10));
    t.expect(at(10), seg().seq(syn.seq + 1).len(1100));
    t.expect(at(10), seg().seq(syn.seq + 1101).len(1100));
    t.expect(at(10), seg().seq(syn.seq + 2201).len(300));
}

/// TCP_MAXSEG on a listener: its SYN-ACKs offer it and its connections send with it, even
/// to a peer that offers more.
#[test]
fn maxseg_on_a_listener_caps_the_synack_mss_and_the_segments() {
    let mut t = Harness::server(80);
    assert!(t.stack.set_listen_mss(80, Some(1100)));
    t.send(at(0), seg().syn().seq(1000).win(65535).mss(1300));
    let sa = t.expect(at(0), seg().flags(TcpFlags::SYN | TcpFlags::ACK).mss(1100));
    t.send(
        at(10),
        seg().ack_flag().seq(1001).ack(sa.seq + 1).win(65535),
    );
    let h = t.stack.accept(80).expect("accepted");
    assert_eq!(t.stack.connection(h).unwrap().effective_mss(), 1100);
    t.stack.send(h, &[7u8; 1500]).unwrap();
    t.advance(at(10));
    t.expect(at(10), seg().seq(sa.seq + 1).len(1100));
    t.expect(at(10), seg().seq(sa.seq + 1101).len(400));
    // A listener without the option offers the link's MSS again.
    assert!(t.stack.set_listen_mss(80, None));
    t.peer = std::net::SocketAddrV4::new(PEER, 5556).into();
    t.send(at(20), seg().syn().seq(9000).win(65535).mss(1300));
    t.expect(at(20), seg().flags(TcpFlags::SYN | TcpFlags::ACK).mss(1460));
    assert!(!t.stack.set_listen_mss(81, Some(1000)));
}

/// A server connection to a peer offering MSS 1000 and a 64 KB window, established with a
/// 10 ms RTT sample; returns the handle and our first data sequence number.
fn established(t: &mut Harness) -> (tuntcp::stack::SocketHandle, u32) {
    let (h, iss) = t.establish_rtt(at(0), 10, 1000, seg().win(65535).mss(1000));
    (h, iss + 1)
}

/// TCP_CORK holds writes shorter than a segment; uncorking sends them as one segment,
/// with PSH (each write was a push point).
#[test]
fn cork_holds_short_writes_until_uncorked() {
    let mut t = Harness::server(80);
    let (h, s) = established(&mut t);
    t.stack.with_connection(h, |c| c.set_cork(true));
    t.stack.send(h, &[1u8; 40]).unwrap(); // at 10 ms
    t.flush();
    t.advance(at(60));
    t.stack.send(h, &[2u8; 40]).unwrap();
    t.flush();
    t.expect_nothing_until(at(70));
    t.stack.with_connection(h, |c| c.set_cork(false));
    t.flush();
    t.expect(
        at(70),
        seg().flags(TcpFlags::ACK | TcpFlags::PSH).seq(s).len(80),
    );
    t.send(at(80), seg().ack_flag().seq(1001).ack(s + 80).win(65535));
    // Corked again: whole segments go at once, the partial tail waits.
    t.stack.with_connection(h, |c| c.set_cork(true));
    t.stack.send(h, &[3u8; 2500]).unwrap();
    t.flush();
    t.expect(at(80), seg().flags(TcpFlags::ACK).seq(s + 80).len(1000));
    t.expect(at(80), seg().flags(TcpFlags::ACK).seq(s + 1080).len(1000));
    t.expect_nothing_until(at(90));
    // Setting TCP_NODELAY pushes the held tail though the cork stays on.
    t.stack.with_connection(h, |c| c.set_nodelay(true));
    t.flush();
    t.expect(
        at(90),
        seg()
            .flags(TcpFlags::ACK | TcpFlags::PSH)
            .seq(s + 2080)
            .len(500),
    );
    assert!(t.stack.connection(h).unwrap().cork());
}

/// With nothing in flight, corked data goes out when the persist timer fires, one RTO
/// after the write (tcp(7)'s 200 ms ceiling on TCP_CORK), with PSH.
#[test]
fn corked_data_leaves_one_rto_later_with_nothing_in_flight() {
    let mut t = Harness::server(80);
    let (h, s) = established(&mut t);
    let rto = t.stack.connection(h).unwrap().rto().millis();
    assert_eq!(rto, 200);
    t.stack.with_connection(h, |c| c.set_cork(true));
    t.stack.send(h, &[1u8; 40]).unwrap(); // at 10 ms
    t.flush();
    t.expect_nothing_until(at(10 + rto - 1));
    t.expect(
        at(10 + rto),
        seg().flags(TcpFlags::ACK | TcpFlags::PSH).seq(s).len(40),
    );
}

/// MSG_MORE holds the partial tail of that write (TCP_NODELAY or not) and marks no PSH;
/// the next plain write releases it with PSH, and an ACK releases it without.
#[test]
fn may_15_msg_more_holds_the_tail_until_a_plain_write_or_an_ack() {
    let more = tuntcp::tcp::SendFlags {
        more: true,
        eor: false,
    };
    let mut t = Harness::server(80);
    let (h, s) = established(&mut t);
    t.stack.with_connection(h, |c| c.set_nodelay(true));
    t.flush();
    t.stack
        .with_connection(h, |c| c.send_with(&[1u8; 100], more))
        .unwrap()
        .unwrap();
    t.flush();
    t.advance(at(15));
    t.stack
        .with_connection(h, |c| c.send_with(&[2u8; 160], more))
        .unwrap()
        .unwrap();
    t.flush();
    t.expect_nothing_until(at(20));
    t.stack.send(h, &[3u8; 5]).unwrap();
    t.flush();
    t.expect(
        at(20),
        seg().flags(TcpFlags::ACK | TcpFlags::PSH).seq(s).len(265),
    );
    t.send(at(30), seg().ack_flag().seq(1001).ack(s + 265).win(65535));
    // Longer than a segment: the whole segments go, without PSH; the rest waits.
    t.stack
        .with_connection(h, |c| c.send_with(&[4u8; 3100], more))
        .unwrap()
        .unwrap();
    t.flush();
    for i in 0..3 {
        t.expect(
            at(30),
            seg().flags(TcpFlags::ACK).seq(s + 265 + i * 1000).len(1000),
        );
    }
    t.expect_nothing_until(at(50));
    // An ACK ends the hold: the tail leaves at once, still without PSH.
    t.send(at(50), seg().ack_flag().seq(1001).ack(s + 1265).win(65535));
    t.expect(at(50), seg().flags(TcpFlags::ACK).seq(s + 3265).len(100));
}

/// MSG_EOR: a later write never shares a segment with a record's end, though it would
/// fit; writes within a record coalesce as usual.
#[test]
fn msg_eor_ends_segments_at_record_ends() {
    let eor = tuntcp::tcp::SendFlags {
        more: false,
        eor: true,
    };
    let mut t = Harness::server(80);
    let (h, s) = established(&mut t);
    t.stack.with_connection(h, |c| c.set_nodelay(true)); // no Nagle on the 500-byte tail
    t.stack.with_connection(h, |c| c.set_cork(true)); // queue everything first
    t.stack.send(h, &[1u8; 300]).unwrap();
    t.flush();
    t.stack
        .with_connection(h, |c| c.send_with(&[2u8; 300], eor))
        .unwrap()
        .unwrap();
    t.flush();
    t.stack
        .with_connection(h, |c| c.send_with(&[3u8; 300], eor))
        .unwrap()
        .unwrap();
    t.flush();
    t.stack.send(h, &[4u8; 1500]).unwrap();
    t.flush();
    t.stack.with_connection(h, |c| c.set_cork(false));
    t.flush();
    t.expect(at(10), seg().seq(s).len(600));
    t.expect(at(10), seg().seq(s + 600).len(300));
    t.expect(at(10), seg().seq(s + 900).len(1000));
    t.expect(at(10), seg().seq(s + 1900).len(500));
    // A retransmission keeps the record boundary too: nothing is acknowledged, and the
    // timeout resends the first record alone, though a segment holds 1000 bytes.
    t.expect_between(at(11), at(1300), seg().seq(s).len(600));
}

/// A server whose receive buffer is 20000 bytes, with `rcv_update_when_doubled` as given;
/// returns the handle and the peer's next sequence number.
fn small_buffer_server(linux: bool) -> (Harness, tuntcp::stack::SocketHandle, u32) {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 20_000;
    cfg.tcp.rcv_update_when_doubled = linux;
    let mut t = Harness::server_with(80, cfg);
    let (h, _) = t.establish(at(0), 1000, seg().win(65535).mss(1000));
    (t, h, 1001)
}

/// The peer sends `n` full segments from `seq` at `ms`; the ACKs are drained.
fn peer_sends(t: &mut Harness, ms: u64, seq: u32, n: u32) -> u32 {
    t.advance(ms);
    let our = t.stack.connections().next().unwrap().1.snd_nxt().0;
    for i in 0..n {
        t.send(
            ms,
            seg()
                .ack_flag()
                .seq(seq + i * 1000)
                .ack(our)
                .data(&[5u8; 1000]),
        );
    }
    t.advance(ms + 50); // delayed ACKs out
    t.drain();
    seq + n * 1000
}

/// Linux's rule (`Config::rcv_update_when_doubled`): a read that leaves the window more than
/// half open sends no window update; one that at least doubles a window at most half open
/// does. Ours (the default) sends one as soon as the edge may move an SWS step.
#[test]
fn window_update_after_a_read_only_when_the_window_doubles_with_the_linux_rule() {
    let mut buf = [0u8; 20_000];
    // Linux's rule: reading 2000 of a window still 90% open sends nothing.
    let (mut t, h, seq) = small_buffer_server(true);
    let seq = peer_sends(&mut t, 20, seq, 2);
    assert_eq!(t.stack.recv(h, &mut buf).unwrap(), 2000);
    t.flush();
    t.expect_nothing_until(at(200));
    // Ten more segments shrink the window below half; reading them doubles it: an update.
    let seq = peer_sends(&mut t, 200, seq, 10);
    assert_eq!(t.stack.recv(h, &mut buf).unwrap(), 10_000);
    t.flush();
    let upd = t.expect(at(250), seg().flags(TcpFlags::ACK).ack(seq).len(0));
    assert!(upd.window >= 19_000, "window {}", upd.window);
    // Our default: the first read already sends one.
    let (mut t, h, seq) = small_buffer_server(false);
    let seq = peer_sends(&mut t, 20, seq, 2);
    assert_eq!(t.stack.recv(h, &mut buf).unwrap(), 2000);
    t.flush();
    t.expect(at(70), seg().flags(TcpFlags::ACK).ack(seq).len(0));
}

/// Linux's rule measures windows as the window field can carry them: with a 256 KB buffer
/// and no window scaling the window offered is 65535 at most, so a read never doubles it
/// from above half, and no update goes.
#[test]
fn window_update_with_the_linux_rule_counts_the_unscaled_field_limit() {
    let mut cfg = Harness::config();
    cfg.tcp.rcv_update_when_doubled = true;
    let mut t = Harness::server_with(80, cfg);
    let (h, _) = t.establish(at(0), 1000, seg().win(65535).mss(1000));
    peer_sends(&mut t, 20, 1001, 2);
    let mut buf = [0u8; 4000];
    assert_eq!(t.stack.recv(h, &mut buf).unwrap(), 2000);
    t.flush();
    t.expect_nothing_until(at(300));
}

/// TCP_NOTSENT_LOWAT: writes take more only while fewer than `lowat` bytes wait unsent,
/// and writers are woken only below half of it (Linux `tcp_stream_memory_free`, which
/// `tcp_poll` asks with the count doubled). The per-socket value overrides the stack's
/// `notsent_lowat` (`tcp_notsent_lowat`).
#[test]
fn notsent_lowat_gates_writes_and_wakeups_on_unsent_bytes() {
    let mut cfg = Harness::config();
    cfg.tcp.notsent_lowat = 4000;
    let mut t = Harness::server_with(80, cfg);
    let (h, s) = established(&mut t);
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.notsent_lowat(), 4000);
    assert!(c.send_writable() && c.notsent_room());
    // IW10: 10000 of 13000 leave, 3000 wait unsent.
    t.stack.send(h, &[1u8; 13_000]).unwrap();
    t.flush();
    for i in 0..10 {
        t.expect(at(10), seg().seq(s + i * 1000).len(1000));
    }
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.notsent_bytes(), 3000);
    assert!(c.notsent_room(), "3000 < 4000: a write may take more");
    assert!(!c.send_writable(), "2 * 3000 >= 4000: no wakeup yet");
    t.stack
        .with_connection(h, |c| c.set_notsent_lowat(Some(3000)));
    assert!(
        !t.stack.connection(h).unwrap().notsent_room(),
        "3000 >= 3000"
    );
    t.stack.with_connection(h, |c| c.set_notsent_lowat(None));
    // An ACK of one segment (slow start: cwnd 11) lets two more go: 1000 unsent.
    t.send(at(20), seg().ack_flag().seq(1001).ack(s + 1000).win(65535));
    t.expect(at(20), seg().seq(s + 10_000).len(1000));
    t.expect(at(20), seg().seq(s + 11_000).len(1000));
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.notsent_bytes(), 1000);
    assert!(c.send_writable(), "2 * 1000 < 4000");
    // The socket's own value wins over the stack's; None returns to it.
    t.stack
        .with_connection(h, |c| c.set_notsent_lowat(Some(2000)));
    let c = t.stack.connection(h).unwrap();
    assert!(!c.send_writable() && c.notsent_room());
    t.stack
        .with_connection(h, |c| c.set_notsent_lowat(Some(1000)));
    assert!(!t.stack.connection(h).unwrap().notsent_room());
    t.stack.with_connection(h, |c| c.set_notsent_lowat(None));
    assert_eq!(t.stack.connection(h).unwrap().notsent_lowat(), 4000);
}

/// A write's unit (Linux `tcp_xmit_size_goal`): one SMSS without segmentation offload;
/// with it, the largest super-segment, at most half the peer's largest window, in SMSS.
#[test]
fn size_goal_is_one_super_segment_bounded_by_half_the_peer_window() {
    let mut t = Harness::server(80);
    let (h, _) = established(&mut t);
    assert_eq!(t.stack.connection(h).unwrap().size_goal(), 1000);
    let mut cfg = Harness::config();
    cfg.offload = true;
    let mut t = Harness::server_with(80, cfg);
    // The handshake's last ACK offers 65535: half is 32767, 32 segments.
    let (h, _) = t.establish(at(0), 1000, seg().win(65535).mss(1000));
    assert_eq!(t.stack.connection(h).unwrap().size_goal(), 32_000);
}
