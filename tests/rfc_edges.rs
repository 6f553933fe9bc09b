//! Small RFC corners: the 3 s RTO after a lost SYN (RFC 6298 §5.7), PAWS's 24-day idle
//! expiry of TS.Recent (RFC 7323 §5.5), the MSS a SYN-cookie SYN-ACK advertises, and the
//! segment-arrival corners mutation testing of `tcp/input.rs` found untested (data right
//! behind a SYN-ACK, SEQ = IRS, what restarts TIME-WAIT, RST and PAWS).

mod support;

use std::net::{SocketAddr, SocketAddrV4};
use support::*;
use tuntcp::stack::StackConfig;
use tuntcp::wire::TcpFlags;

const SYNACK: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
const DAY_MS: u64 = 24 * 3600 * 1000;

fn peer(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(PEER, port)
}

fn tsecr(s: &Owned) -> u32 {
    s.options.timestamps.expect("timestamps on").tsecr
}

/// Active open whose first SYN is lost; the SYN-ACK answers the retransmission at 1 s.
/// Returns the handle and our ISS.
fn connect_after_lost_syn(t: &mut Harness, synack: Spec) -> (tuntcp::stack::SocketHandle, u32) {
    t.peer = peer(80).into();
    let h = t.stack.connect(instant(0), peer(80)).expect("connect");
    t.flush();
    let syn = t.expect(0, seg().flags(TcpFlags::SYN));
    t.us = syn.src;
    t.expect_nothing_until(999);
    let again = t.expect(1000, seg().flags(TcpFlags::SYN).seq(syn.seq)); // RFC 6298 §2.1
    let synack = synack.syn().ack_flag().seq(9000).ack(syn.seq + 1);
    let synack = match again.options.timestamps {
        Some(ts) if synack.ts.is_some() => synack.ts(50, ts.tsval),
        _ => synack,
    };
    t.send(1010, synack);
    t.expect(1010, seg().flags(TcpFlags::ACK).ack(9001));
    (h, syn.seq)
}

#[test]
fn rfc6298_5_7_rto_is_3s_once_data_starts_after_a_lost_syn() {
    let mut t = Harness::with_config(Harness::config());
    let (h, iss) = connect_after_lost_syn(&mut t, seg().mss(1460));
    t.stack.send(h, b"hello").unwrap();
    t.flush();
    t.expect(1010, seg().seq(iss + 1).len(5));
    // No RTT sample came from the handshake (Karn): 3 s, not the 1 s initial RTO.
    t.expect_nothing_until(4009);
    t.expect(4010, seg().seq(iss + 1).len(5));
}

#[test]
fn rfc6298_5_7_rto_is_3s_once_data_starts_after_a_lost_synack() {
    let mut t = Harness::server(80);
    t.send(0, seg().syn().seq(1000).mss(1460));
    let sa = t.expect(0, seg().flags(SYNACK).ack(1001));
    t.expect(1000, seg().flags(SYNACK).seq(sa.seq)); // the first SYN-ACK was lost
    t.send(1010, seg().ack_flag().seq(1001).ack(sa.seq + 1));
    let h = t.stack.accept(80).expect("accepted");
    t.stack.send(h, b"hello").unwrap();
    t.flush();
    t.expect(1010, seg().seq(sa.seq + 1).len(5));
    t.expect_nothing_until(4009);
    t.expect(4010, seg().seq(sa.seq + 1).len(5));
}

#[test]
fn rfc6298_5_7_a_timestamp_sample_across_the_lost_syn_sets_the_rto_instead() {
    // Deviation (as Linux's tcp_init_metrics): the SYN-ACK echoes the retransmitted SYN's
    // TSval, which measures the 10 ms RTT; the RTO is then the 200 ms floor.
    let mut t = Harness::with_config(Harness::config());
    let (h, iss) = connect_after_lost_syn(&mut t, seg().mss(1460).ts(0, 0));
    t.stack.send(h, b"hello").unwrap();
    t.flush();
    t.expect(1010, seg().seq(iss + 1).len(5));
    t.expect_nothing_until(1209);
    t.expect(1210, seg().seq(iss + 1).len(5));
}

#[test]
fn rfc7323_5_5_paws_accepts_an_old_tsval_after_24_days_idle() {
    let mut t = Harness::server(80);
    t.send(0, seg().syn().seq(1000).ts(5000, 0));
    let sa = t.expect(0, seg().flags(SYNACK));
    let ours = sa.options.timestamps.expect("timestamps on").tsval;
    t.send(0, seg().ack_flag().seq(1001).ack(sa.seq + 1).ts(5001, ours));
    let h = t.stack.accept(80).expect("accepted");
    t.send(
        100,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(sa.seq + 1)
            .ts(5100, ours)
            .data(b"a"),
    );
    let a = t.expect_between(100, 400, seg().flags(TcpFlags::ACK).ack(1002));
    assert_eq!(tsecr(&a), 5100);
    // The peer's clock moved its sign bit on (more than 2^31 ticks): its TSval now looks
    // older than TS.Recent.
    let wrapped = 5100u32.wrapping_add(0x8000_0001);
    let data = |seq: u32, tsval: u32, d: &[u8]| {
        seg()
            .ack_flag()
            .seq(seq)
            .ack(sa.seq + 1)
            .ts(tsval, ours)
            .data(d)
    };
    // Idle less than 24 days: PAWS drops it (and ACKs, RFC 7323 §5.3 R1).
    let t1 = 24 * DAY_MS - 1000;
    t.send(t1, data(1002, wrapped, b"b"));
    let a = t.expect(t1, seg().flags(TcpFlags::ACK).ack(1002));
    assert_eq!(tsecr(&a), 5100);
    assert_eq!(t.read_all(h), b"a");
    // Idle more than 24 days since TS.Recent was set: accepted, TS.Recent replaced.
    let t2 = 24 * DAY_MS + 1000;
    t.send(t2, data(1002, wrapped + 1, b"b"));
    let a = t.expect_between(t2, t2 + 300, seg().flags(TcpFlags::ACK).ack(1003));
    assert_eq!(tsecr(&a), wrapped + 1);
    // PAWS works again from the new TS.Recent: the next segment in order is accepted.
    t.send(t2 + 500, data(1003, wrapped + 2, b"c"));
    let a = t.expect_between(t2 + 500, t2 + 800, seg().flags(TcpFlags::ACK).ack(1004));
    assert_eq!(tsecr(&a), wrapped + 2);
    assert_eq!(t.read_all(h), b"bc");
}

#[test]
fn syn_cookie_synack_advertises_our_mss_and_sends_within_the_peers() {
    let cfg = StackConfig {
        max_syn_backlog: 1,
        ..Harness::config()
    };
    let mut t = Harness::server_with(80, cfg);
    t.send(0, seg().syn().seq(1000).from(peer(1))); // fills the SYN queue
    t.expect(0, seg().flags(SYNACK).to(peer(1)));
    t.send(10, seg().syn().seq(5000).mss(536).from(peer(2)));
    // Our MSS is MTU 1500 - 40, whatever the peer's (RFC 9293 §3.7.1).
    let sa = t.expect(10, seg().flags(SYNACK).ack(5001).mss(1460).to(peer(2)));
    assert_eq!(t.stack.counters().tcp_ext_syncookies_sent, 1);
    t.send(20, seg().ack_flag().seq(5001).ack(sa.seq + 1).from(peer(2)));
    assert_eq!(t.stack.counters().tcp_ext_syncookies_recv, 1);
    let h = t.stack.accept(80).expect("cookie connection accepted");
    // The cookie carried the peer's 536: we send no segment larger.
    t.stack.send(h, &[7u8; 2000]).unwrap();
    let sent: Vec<Owned> = t
        .drain()
        .into_iter()
        .filter(|s| s.dst == SocketAddr::from(peer(2)) && !s.payload.is_empty())
        .collect();
    assert!(
        sent.iter().all(|s| s.payload.len() <= 536),
        "{:?}",
        sent.iter().map(|s| &s.line).collect::<Vec<_>>()
    );
    assert_eq!(sent.iter().map(|s| s.payload.len()).sum::<usize>(), 2000);
}

/// RFC 7323 §2.2: a SYN's window is never scaled, so it can offer an edge the scaled
/// windows after it cannot repeat. Here SO_RCVBUF shrinks to 32 KiB before the SYN leaves
/// (scale 3 stays, chosen for 256 KiB): a SYN offering the whole 32 KiB put its edge at the
/// buffer's end, and the first ACK of 3 unread bytes had to round it down, 5 bytes left of
/// what the SYN offered (RFC 9293 §3.8.6.2.2 SHLD-14). The SYN keeps the rounding reserve
/// instead (32 KiB / 64), so every later edge is at or right of it and the peer may send
/// all of it.
#[test]
fn rfc7323_2_2_no_edge_after_the_handshake_falls_short_of_the_syns() {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 256 * 1024; // fixed: scale 3
    cfg.tcp.quick_acks = 0; // delayed ACKs from the start: the edges are the point here
    let mut t = Harness::with_config(cfg);
    t.peer = peer(80).into();
    let h = t.stack.connect(instant(0), peer(80)).expect("connect");
    t.stack.with_connection(h, |c| c.set_recv_buffer(32 * 1024));
    t.flush();
    let syn = t.expect(0, seg().flags(TcpFlags::SYN).win(32 * 1024 - 512).ws(3));
    t.us = syn.src;
    let syn_edge = 9001 + u32::from(syn.window);
    t.send(
        10,
        seg()
            .syn()
            .ack_flag()
            .seq(9000)
            .ack(syn.seq + 1)
            .mss(1460)
            .ws(7),
    );
    let a = t.expect(10, seg().flags(TcpFlags::ACK).ack(9001));
    assert_eq!(a.ack.wrapping_add(u32::from(a.window) << 3), syn_edge);
    // 3 bytes at a time, never read: RCV.NXT lands off the 8-byte unit after each.
    let mut seq = 9001u32;
    let mut ms = 100;
    for _ in 0..6 {
        t.send(ms, seg().seq(seq).ack(syn.seq + 1).data(&[7; 3]));
        seq += 3;
        let a = t.expect(ms + 40, seg().flags(TcpFlags::ACK).ack(seq));
        let e = a.ack.wrapping_add(u32::from(a.window) << 3);
        assert!(
            e.wrapping_sub(syn_edge) as i32 >= 0,
            "edge {e} is {} bytes left of the SYN's {syn_edge} ({})",
            syn_edge.wrapping_sub(e),
            a.line
        );
        ms += 100;
    }
    // The rest of what the SYN offered, in one segment: all of it is accepted.
    let rest = syn_edge.wrapping_sub(seq) as usize;
    t.send(ms, seg().seq(seq).ack(syn.seq + 1).data(&vec![7; rest]));
    t.expect(ms, seg().flags(TcpFlags::ACK).ack(syn_edge));
    assert_eq!(
        t.stack.connection(h).expect("connection").recv_queue(),
        syn_edge.wrapping_sub(9001) as usize
    );
}

/// The SYN-ACK's window keeps the rounding reserve when it scales (64 KiB with scale 1:
/// 65536 - 1024, not 65535) and is the whole buffer when it does not (no rounding then).
#[test]
fn rfc7323_2_2_synack_window_keeps_the_rounding_reserve_only_when_scaled() {
    for (ws, window) in [(Some(7), 64512), (None, 65535)] {
        let mut cfg = Harness::config();
        cfg.tcp.recv_buffer = 65536;
        let mut t = Harness::server_with(80, cfg);
        let syn = seg().syn().seq(1000).mss(1460);
        t.send(0, if let Some(w) = ws { syn.ws(w) } else { syn });
        let sa = t.expect(0, seg().flags(SYNACK).ack(1001).win(window));
        assert_eq!(sa.options.window_scale, ws.map(|_| 1));
    }
}

/// A pure ACK carries SND.MAX, not the SND.NXT a retransmission timeout moved back: the
/// peer may hold everything sent, and a SEQ below its RCV.NXT makes the ACK unacceptable
/// to it (RFC 9293 §3.10.7.4), so it never learns what we received. Against smoltcp, which
/// rewinds the same way, both ends dropped each other's ACKs until the deadline
/// (interop_smoltcp's 5% loss test, seeds 9 and 13).
#[test]
fn rfc9293_3_10_7_4_a_pure_ack_after_a_timeout_carries_snd_max() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, &[5; 3000]).unwrap();
    t.flush();
    for i in 0..3 {
        t.expect(0, seg().seq(iss + 1 + i * 1000).len(1000));
    }
    // No ACK comes: the timeout resends the first segment only (cwnd 1 segment).
    t.expect_between(200, 3000, seg().seq(iss + 1).len(1000));
    t.expect_nothing_until(t.now_ms + 10);
    // The peer has all 3000 bytes (its ACKs were lost); its data segment, sent before they
    // arrived, is late and acknowledges nothing new.
    let ms = t.now_ms;
    t.send(ms, seg().ack_flag().seq(1001).ack(iss + 1).data(&[6; 10]));
    let a = t.expect_between(ms, ms + 200, seg().flags(TcpFlags::ACK).ack(1011).len(0));
    assert_eq!(a.seq, iss + 3001, "SEQ = SND.MAX ({})", a.line);
}

#[test]
fn data_queued_behind_the_synack_is_accepted_before_our_ack_goes_out() {
    // MUST-59: segments may arrive together. Data right behind the SYN-ACK (in one read
    // batch, before we ACK) lies inside the window the SYN-ACK opened (RFC 9293 §3.10.7.3).
    let mut t = Harness::with_config(Harness::config());
    t.peer = peer(80).into();
    let h = t.stack.connect(instant(0), peer(80)).expect("connect");
    t.flush();
    let syn = t.expect(0, seg().flags(TcpFlags::SYN));
    t.us = syn.src;
    t.send_burst(
        10,
        &[
            seg().syn().ack_flag().seq(9000).ack(syn.seq + 1),
            seg().ack_flag().seq(9001).ack(syn.seq + 1).data(b"hello"),
        ],
    );
    let acks = t.drain();
    assert_eq!(acks.last().map(|a| a.ack), Some(9006), "{acks:?}");
    assert_eq!(t.read_all(h), b"hello");
}

#[test]
fn data_overlapping_the_syns_sequence_number_is_trimmed_by_that_byte() {
    // RFC 9293 §3.10.7.4: what lies before RCV.NXT is trimmed. SEQ = IRS names the SYN's
    // sequence number, not a byte: a segment starting there carries one stale octet.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(10, seg().ack_flag().seq(1000).ack(iss + 1).data(b"xhello"));
    t.expect_between(10, 250, seg().flags(TcpFlags::ACK).ack(1006));
    assert_eq!(t.read_all(h), b"hello");
}

#[test]
fn time_wait_restarts_its_2msl_only_for_the_peers_fin_again() {
    // RFC 9293 §3.10.7.4: in TIME-WAIT only a retransmission of the remote FIN is
    // acknowledged and restarts the 2 MSL timeout; a bare ACK and an old FIN do not.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.close(h);
    t.flush();
    t.expect(0, seg().flags(TcpFlags::FIN | TcpFlags::ACK).seq(iss + 1));
    t.send(10, seg().ack_flag().seq(1001).ack(iss + 2));
    t.send(
        20,
        seg()
            .flags(TcpFlags::FIN | TcpFlags::ACK)
            .seq(1001)
            .ack(iss + 2),
    );
    t.expect(20, seg().flags(TcpFlags::ACK).ack(1002));
    // TIME-WAIT from 20 ms: gone at 60.020 s unless restarted.
    t.send(30_000, seg().ack_flag().seq(1002).ack(iss + 2));
    t.expect_nothing_until(39_999);
    t.send(
        40_000,
        seg()
            .flags(TcpFlags::FIN | TcpFlags::ACK)
            .seq(1000)
            .ack(iss + 2),
    );
    t.drain(); // a duplicate ACK may answer the old FIN
    t.advance(60_019);
    assert_eq!(t.stack.connections().count(), 1, "still in TIME-WAIT");
    t.advance(60_021);
    assert_eq!(
        t.stack.connections().count(),
        0,
        "2 MSL from the peer's FIN"
    );
}

#[test]
fn rfc7323_5_3_an_rst_is_acceptable_whatever_its_timestamp() {
    // RFC 7323 §5.3 / Appendix: PAWS does not apply to RST (as Linux's
    // tcp_validate_incoming): a RST at RCV.NXT with a TSval older than TS.Recent resets.
    let mut t = Harness::server(80);
    t.send(0, seg().syn().seq(1000).ts(5000, 0));
    let sa = t.expect(0, seg().flags(SYNACK));
    let ours = sa.options.timestamps.expect("timestamps on").tsval;
    t.send(0, seg().ack_flag().seq(1001).ack(sa.seq + 1).ts(5001, ours));
    let h = t.stack.accept(80).expect("accepted");
    t.send(
        10,
        seg()
            .ack_flag()
            .seq(1001)
            .ack(sa.seq + 1)
            .ts(6000, ours)
            .data(b"a"),
    );
    t.expect_between(10, 250, seg().flags(TcpFlags::ACK).ack(1002));
    assert_eq!(t.read_all(h), b"a");
    t.send(300, seg().rst().seq(1002).ts(5500, ours));
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(tuntcp::tcp::Error::Reset));
}

#[test]
fn old_data_resent_with_a_new_fin_is_acceptable_for_its_fin() {
    // RFC 9293 §3.10.7.4 table 6: a segment is acceptable when its last octet - here the
    // FIN - lies in the window, even if all its data is old. The peer's separate FIN was
    // lost and its retransmission timeout resends the data with the FIN.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(10, seg().ack_flag().seq(1001).ack(iss + 1).data(b"hello"));
    t.expect_between(10, 250, seg().flags(TcpFlags::ACK).ack(1006));
    let finack = TcpFlags::FIN | TcpFlags::ACK;
    t.send(
        1000,
        seg().flags(finack).seq(1001).ack(iss + 1).data(b"hello"),
    );
    t.expect(1000, seg().flags(TcpFlags::ACK).ack(1007));
    assert_eq!(t.state(h), tuntcp::tcp::State::CloseWait);
}

#[test]
fn rfc7323_4_3_an_out_of_order_segment_does_not_move_ts_recent() {
    // RFC 7323 §4.3 (2): TS.Recent takes a TSval only from a segment with
    // SEG.SEQ <= Last.ACK.sent; the ACK of data beyond a hole echoes the last in-order one.
    let mut t = Harness::server(80);
    t.send(0, seg().syn().seq(1000).ts(100, 0));
    let sa = t.expect(0, seg().flags(SYNACK));
    let ours = sa.options.timestamps.expect("timestamps on").tsval;
    t.send(0, seg().ack_flag().seq(1001).ack(sa.seq + 1).ts(101, ours));
    t.stack.accept(80).expect("accepted");
    let data = |seq: u32, tsval: u32| {
        seg()
            .ack_flag()
            .seq(seq)
            .ack(sa.seq + 1)
            .ts(tsval, ours)
            .data(b"abc")
    };
    t.send(10, data(1001, 200));
    let a = t.expect_between(10, 250, seg().flags(TcpFlags::ACK).ack(1004));
    assert_eq!(tsecr(&a), 200);
    t.send(300, data(2001, 300)); // beyond a hole: ACKed at once
    let a = t.expect(300, seg().flags(TcpFlags::ACK).ack(1004));
    assert_eq!(tsecr(&a), 200, "{}", a.line);
}

#[test]
fn a_synack_resent_with_data_delivers_all_of_it() {
    // Data on a SYN-ACK is not taken in SYN-SENT (we ACK only the SYN); its retransmission
    // starts at SEQ = IRS: the SYN's octet is trimmed, not the first data byte.
    let mut t = Harness::with_config(Harness::config());
    t.peer = peer(80).into();
    let h = t.stack.connect(instant(0), peer(80)).expect("connect");
    t.flush();
    let syn = t.expect(0, seg().flags(TcpFlags::SYN));
    t.us = syn.src;
    let synack = seg()
        .syn()
        .ack_flag()
        .seq(9000)
        .ack(syn.seq + 1)
        .data(b"hello");
    t.send(10, synack.clone());
    t.expect(10, seg().flags(TcpFlags::ACK).ack(9001));
    t.send(1000, synack);
    t.expect_between(1000, 1250, seg().flags(TcpFlags::ACK).ack(9006));
    assert_eq!(t.read_all(h), b"hello");
}

#[test]
fn a_new_syn_in_syn_received_returns_the_passive_open_to_listen() {
    // RFC 9293 §3.10.7.4 fourth step: a SYN (not the retransmitted one, SEQ != IRS) in
    // SYN-RECEIVED of a passive open drops the embryonic connection (EmbryonicRsts).
    let mut t = Harness::server(80);
    t.send(0, seg().syn().seq(1000));
    t.expect(0, seg().flags(SYNACK).ack(1001));
    t.send(10, seg().syn().seq(1500));
    assert_eq!(
        t.stack.connections().count(),
        0,
        "embryonic connection dropped"
    );
    assert_eq!(t.stack.counters().tcp_ext_embryonic_rsts, 1);
    // LISTEN again: a fresh SYN from the same port is answered.
    t.send(20, seg().syn().seq(3000));
    t.expect(20, seg().flags(SYNACK).ack(3001));
}

#[test]
fn an_ack_beyond_our_syn_in_syn_received_draws_a_reset() {
    // RFC 9293 §3.10.7.4 fifth step, SYN-RECEIVED: SND.UNA < SEG.ACK =< SND.NXT or
    // <SEQ=SEG.ACK><CTL=RST>. An ACK of data never sent does not complete the handshake.
    let mut t = Harness::server(80);
    t.send(0, seg().syn().seq(1000));
    let sa = t.expect(0, seg().flags(SYNACK).ack(1001));
    t.send(10, seg().ack_flag().seq(1001).ack(sa.seq + 2));
    t.expect(10, seg().flags(TcpFlags::RST).seq(sa.seq + 2));
    assert!(t.stack.accept(80).is_none(), "not established");
    t.send(20, seg().ack_flag().seq(1001).ack(sa.seq + 1));
    assert!(t.stack.accept(80).is_some());
}

#[test]
fn a_rst_in_last_ack_closes_at_once() {
    // RFC 9293 §3.10.7.4 second step, CLOSING / LAST-ACK: a RST at RCV.NXT closes; our
    // FIN is not retransmitted.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    let finack = TcpFlags::FIN | TcpFlags::ACK;
    t.send(10, seg().flags(finack).seq(1001).ack(iss + 1));
    t.expect_between(10, 250, seg().flags(TcpFlags::ACK).ack(1002));
    t.stack.close(h);
    t.flush();
    t.expect_between(10, 250, seg().flags(finack).seq(iss + 1));
    assert_eq!(t.stack.connections().count(), 1, "LAST-ACK");
    t.send(100, seg().rst().seq(1002));
    assert_eq!(t.stack.connections().count(), 0);
    t.expect_nothing_until(5000);
}

#[test]
fn rfc6298_5_3_a_partial_ack_restarts_the_timer_for_the_rest() {
    // RFC 6298 §5.3: an ACK of new data with more outstanding restarts the retransmission
    // timer; the unacknowledged rest is resent when it expires.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, &[5; 2000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 2);
    t.send(50, seg().ack_flag().seq(1001).ack(iss + 1001));
    t.expect_between(51, 3000, seg().seq(iss + 1001).len(1000));
}

#[test]
fn a_reordered_older_segment_cannot_close_the_window_a_newer_one_opened() {
    // RFC 9293 §3.10.7.4 (SND.WL1, SND.WL2): the window comes from the newest segment. B
    // (later SEQ, window 60000) overtakes A (window 0): A's window is not taken.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    let data = |seq: u32, win: u16| seg().ack_flag().seq(seq).ack(iss + 1).win(win);
    t.send(10, data(1101, 60000).data(&[2; 100])); // B, out of order
    t.send(11, data(1001, 0).data(&[1; 100])); // A
    t.drain();
    t.stack.send(h, &[9; 100]).unwrap();
    t.flush();
    let out = t.drain();
    assert!(
        out.iter().any(|s| s.payload.len() == 100),
        "window closed: {out:?}"
    );
}

#[test]
fn closing_and_last_ack_end_only_when_our_fin_is_acknowledged() {
    // RFC 9293 §3.10.7.4 fifth step: CLOSING goes to TIME-WAIT and LAST-ACK to CLOSED on
    // the ACK of our FIN, not on any acceptable ACK.
    let finack = TcpFlags::FIN | TcpFlags::ACK;
    // CLOSING: both FINs crossed; the peer's duplicate ACK of our data is not enough.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.close(h);
    t.flush();
    t.expect(0, seg().flags(finack).seq(iss + 1));
    t.send(10, seg().flags(finack).seq(1001).ack(iss + 1));
    t.expect(10, seg().flags(TcpFlags::ACK).ack(1002));
    assert_eq!(t.state(h), tuntcp::tcp::State::Closing);
    t.send(20, seg().ack_flag().seq(1002).ack(iss + 1));
    assert_eq!(t.state(h), tuntcp::tcp::State::Closing);
    t.send(30, seg().ack_flag().seq(1002).ack(iss + 2));
    assert_eq!(t.state(h), tuntcp::tcp::State::TimeWait);
    // LAST-ACK: likewise.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(10, seg().flags(finack).seq(1001).ack(iss + 1));
    t.expect_between(10, 250, seg().flags(TcpFlags::ACK).ack(1002));
    t.stack.close(h);
    t.flush();
    t.expect_between(10, 250, seg().flags(finack).seq(iss + 1));
    t.send(100, seg().ack_flag().seq(1002).ack(iss + 1));
    assert_eq!(t.stack.connections().count(), 1, "still LAST-ACK");
    t.send(110, seg().ack_flag().seq(1002).ack(iss + 2));
    assert_eq!(t.stack.connections().count(), 0);
}

#[test]
fn an_opened_window_stops_the_persist_timer() {
    // RFC 9293 §3.8.6.1: probing ends once the window opens; the connection then idles
    // with nothing sent and is not given up as a silent zero-window peer.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.send(1, seg().ack_flag().seq(1001).ack(iss + 1).win(0));
    t.stack.send(h, b"data").unwrap();
    t.flush();
    let probe = t.expect_between(2, 2000, seg().flags(TcpFlags::ACK));
    assert!(probe.payload.is_empty(), "{}", probe.line);
    let now = t.now_ms;
    t.send(now + 10, seg().ack_flag().seq(1001).ack(iss + 1).win(65535));
    t.expect(now + 10, seg().flags(TcpFlags::ACK | TcpFlags::PSH).len(4));
    t.send(now + 20, seg().ack_flag().seq(1001).ack(iss + 5).win(65535));
    t.expect_nothing_until(now + 600_000);
    assert_eq!(t.state(h), tuntcp::tcp::State::Established);
}

#[test]
fn a_second_zero_window_episode_starts_probing_without_the_first_ones_backoff() {
    // RFC 9293 §3.8.6.1 / RFC 6298: once the window opens, the persist backoff is over; a
    // later zero window starts again from one RTO.
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    let mut una = iss + 1;
    let mut gaps = Vec::new();
    for episode in 0..2u64 {
        let start = 10 + episode * 100_000;
        t.send(start, seg().ack_flag().seq(1001).ack(una).win(0));
        t.stack.send(h, b"data").unwrap();
        t.flush();
        let probe = t.expect_between(start + 1, start + 5000, seg().flags(TcpFlags::ACK));
        gaps.push(t.now_ms - start);
        assert!(probe.payload.is_empty(), "{}", probe.line);
        let now = t.now_ms;
        t.send(now + 10, seg().ack_flag().seq(1001).ack(una).win(65535));
        t.expect(now + 10, seg().flags(TcpFlags::ACK | TcpFlags::PSH).len(4));
        una += 4;
        t.send(now + 20, seg().ack_flag().seq(1001).ack(una).win(65535));
        t.expect_nothing_until(start + 90_000);
    }
    assert!(gaps[1] <= gaps[0], "first probes after {gaps:?} ms");
}

#[test]
fn rfc6298_5_7_no_3s_rto_after_a_simultaneous_open_without_loss() {
    // RFC 6298 §5.7's 3 s applies only when a SYN timed out; a simultaneous open with no
    // loss (and no RTT sample: the SYN-ACK repeats our SYN) keeps the 1 s initial RTO.
    let mut t = Harness::with_config(Harness::config());
    t.peer = peer(80).into();
    let h = t.stack.connect(instant(0), peer(80)).unwrap();
    t.flush();
    let syn = t.expect(0, seg().flags(TcpFlags::SYN));
    t.us = syn.src;
    t.send(5, seg().flags(TcpFlags::SYN).seq(7000).mss(1460));
    t.expect(5, seg().flags(SYNACK).seq(syn.seq).ack(7001));
    t.send(6, seg().syn().ack_flag().seq(7000).ack(syn.seq + 1));
    assert_eq!(t.state(h), tuntcp::tcp::State::Established);
    t.stack.send(h, b"data").unwrap();
    t.flush();
    let first = t.expect_between(6, 10, seg().len(4));
    t.expect_between(1000, 1500, seg().seq(first.seq).len(4)); // 1 s RTO, not 3 s
}

/// RFC 7323 §4 RTT samples from the echoed timestamp are taken only below 60 s (an echo that
/// old names no segment of this flight); at exactly 60 s the timed segment's own 10 ms
/// RTT (RFC 6298 §3) is taken instead.
#[test]
fn rfc7323_4_a_timestamp_echo_60_s_old_gives_no_rtt_sample_one_59_999_ms_old_does() {
    let mut t = Harness::server(80);
    t.send(at(0), seg().syn().seq(1000).mss(1000).ts(5000, 0));
    let sa = t.expect(at(0), seg().flags(SYNACK).ack(1001));
    let ts0 = sa.options.timestamps.unwrap().tsval;
    t.send(
        at(10),
        seg().ack_flag().seq(1001).ack(sa.seq + 1).ts(5001, ts0),
    );
    let h = t.stack.accept(80).unwrap();
    let d = sa.seq + 1;
    let srtt = |t: &Harness, ms| {
        t.stack
            .connection(h)
            .unwrap()
            .info(instant(ms))
            .rtt
            .unwrap()
            .0
    };
    assert_eq!(srtt(&t, 10).millis(), 10);
    // 100 s later one segment goes out, timed; its ACK 10 ms later echoes a TSval of ours
    // from exactly 60 s before that ACK.
    t.advance(at(100_000));
    t.stack.send(h, &[1u8; 900]).unwrap();
    t.flush();
    t.expect(at(100_000), seg().seq(d).len(900));
    let old = ts0.wrapping_add(100_010 - 60_000);
    t.send(
        at(100_010),
        seg().ack_flag().seq(1001).ack(d + 900).ts(5002, old),
    );
    assert_eq!(srtt(&t, 100_010).millis(), 10, "the timed segment's sample");
    // The next one, 59.999 s old, is taken: SRTT moves by an eighth of the difference.
    t.stack.send(h, &[1u8; 900]).unwrap();
    t.flush();
    t.expect(at(100_010), seg().seq(d + 900).len(900));
    let old = ts0.wrapping_add(100_020 - 59_999);
    t.send(
        at(100_020),
        seg().ack_flag().seq(1001).ack(d + 1800).ts(5003, old),
    );
    assert_eq!(srtt(&t, 100_020).millis(), 10 + (59_999 - 10) / 8);
}

/// Linux's TcpExtTCPRcvCoalesce: in-order data that joins unread data already queued
/// counts; data into an empty queue, and data held out of order (TcpExtTCPOFOQueue), do not.
#[test]
fn in_order_data_joining_unread_data_counts_as_coalesced_only_then() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(at(0), 1000, seg().mss(1000));
    let a = iss + 1;
    let count = |t: &Harness, name: &str| t.stack.counters().get(name).unwrap();
    let data = |t: &mut Harness, ms, seq: u32, len| {
        t.send(ms, seg().ack_flag().seq(seq).ack(a).data(&vec![3u8; len]));
    };
    data(&mut t, at(10), 1001, 100);
    assert_eq!(count(&t, "TcpExtTCPRcvCoalesce"), 0, "into an empty queue");
    data(&mut t, at(20), 1101, 100);
    assert_eq!(
        count(&t, "TcpExtTCPRcvCoalesce"),
        1,
        "joins 100 unread bytes"
    );
    assert_eq!(t.read_all(h).len(), 200);
    data(&mut t, at(30), 1201, 100);
    assert_eq!(
        count(&t, "TcpExtTCPRcvCoalesce"),
        1,
        "the queue was read empty"
    );
    data(&mut t, at(40), 1401, 100);
    assert_eq!(count(&t, "TcpExtTCPRcvCoalesce"), 1, "out of order");
    assert_eq!(count(&t, "TcpExtTCPOFOQueue"), 1);
    data(&mut t, at(50), 1301, 100);
    assert_eq!(
        count(&t, "TcpExtTCPRcvCoalesce"),
        2,
        "fills the hole behind unread data"
    );
    assert_eq!(t.read_all(h).len(), 300);
}

/// Quick-ACK mode (as Linux's tcp_event_data_recv) restarts for data after an idle period
/// longer than the RTO, not one exactly as long: that data waits for the delayed ACK.
#[test]
fn data_exactly_one_rto_after_the_last_is_not_acked_at_once_one_ms_later_is() {
    let mut cfg = Harness::config();
    cfg.tcp.quick_acks = 1;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(at(0), 1000, seg().mss(1000));
    let a = iss + 1;
    // The first data: quick-ACKed (its one quick ACK used).
    t.send(at(10), seg().ack_flag().seq(1001).ack(a).data(&[1; 100]));
    t.expect(at(10), seg().ack(1101));
    let rto = t
        .stack
        .connection(h)
        .unwrap()
        .info(instant(10))
        .rto
        .millis();
    t.send(
        at(10 + rto),
        seg().ack_flag().seq(1101).ack(a).data(&[1; 100]),
    );
    t.expect_nothing_until(at(10 + rto + 39));
    t.expect(at(10 + rto + 40), seg().ack(1201));
    t.send(
        at(10 + 2 * rto + 41),
        seg().ack_flag().seq(1201).ack(a).data(&[1; 100]),
    );
    t.expect(at(10 + 2 * rto + 41), seg().ack(1301));
}
