//! Connection failures and reports: R1/R2, the user timeout, soft error events, windows
//! that shrink below sent data (RFC 9293 §3.8.3, §3.8.6, §3.9.1.8).

mod support;

use std::net::SocketAddrV4;
use support::*;
use tuntcp::tcp::{Error, Event, SoftError, State};
use tuntcp::time::Duration;
use tuntcp::wire::{IcmpMessage, IcmpPacket, IpMeta, TcpFlags};

const ACK: TcpFlags = TcpFlags::ACK;

fn events(t: &mut Harness, h: tuntcp::stack::SocketHandle) -> Vec<Event> {
    std::iter::from_fn(|| t.stack.poll_event(h)).collect()
}

#[test]
fn shld_9_shld_10_shld_11_r1_reported_after_three_retransmissions_r2_not_before_100s() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish(0, 1000, seg());
    events(&mut t, h);
    t.stack.send(h, b"x").unwrap();
    t.flush();
    // Retransmissions at 200, 600, 1400 ms (RTO 200 ms doubling).
    t.advance(1399);
    assert!(
        events(&mut t, h).is_empty(),
        "no report before the third retransmission"
    );
    t.advance(1400);
    assert_eq!(
        events(&mut t, h),
        vec![Event::SoftError(SoftError::Retransmissions(3))]
    );
    t.advance(100_000);
    assert_eq!(
        t.state(h),
        State::Established,
        "SHLD-11: R2 is at least 100 s"
    );
}

#[test]
fn must_21_user_timeout_sets_r2_per_connection() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish(0, 1000, seg());
    t.stack
        .with_connection(h, |c| c.set_user_timeout(Some(Duration::from_secs(10))));
    t.stack.send(h, b"x").unwrap();
    // Retransmissions at 0.2, 0.6, 1.4, 3.0, 6.2 s; the first at 0.2 s starts the user
    // timeout, and the next RTO (due at 12.6 s) is clamped to its end, 10.2 s, as Linux
    // clamps it (tcp_clamp_rto_to_user_timeout).
    t.advance(10_199);
    assert_eq!(t.state(h), State::Established);
    t.advance(10_200);
    assert_eq!(t.stack.recv(h, &mut [0; 1]), Err(Error::TimedOut));
}

#[test]
fn must_21_infinite_user_timeout_keeps_retransmitting() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish(0, 1000, seg());
    t.stack
        .with_connection(h, |c| c.set_user_timeout(Some(Duration::MAX)));
    t.stack.send(h, b"x").unwrap();
    t.advance(30 * 60 * 1000);
    assert_eq!(t.state(h), State::Established);
    t.drain();
    t.expect_between(t.now_ms, t.now_ms + 120_001, seg().len(1));
}

#[test]
fn shld_20_soft_error_reports_can_be_turned_off() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish(0, 1000, seg());
    t.stack
        .with_connection(h, |c| c.set_soft_error_reports(false));
    events(&mut t, h);
    t.stack.send(h, b"x").unwrap();
    t.advance(5_000);
    assert!(events(&mut t, h).is_empty());
    assert!(
        t.stack.connection(h).unwrap().soft_errors() >= 1,
        "still counted"
    );
}

#[test]
fn u_2_icmp_r1_and_urgent_all_reach_the_report_api() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    events(&mut t, h);
    t.stack.send(h, b"x").unwrap();
    t.flush();
    let q = t.raw_out.last().unwrap()[..28].to_vec();
    let icmp = IcmpPacket {
        src: PEER,
        dst: US,
        ip: IpMeta::default(),
        message: IcmpMessage::DestUnreachable {
            code: 1,
            next_hop_mtu: 0,
            original: &q,
        },
    };
    let mut raw = vec![0; icmp.buffer_len()];
    icmp.emit(&mut raw).unwrap();
    t.send_raw(at(1), &raw);
    t.send(
        at(2),
        seg()
            .ack_flag()
            .urg_flag()
            .urgent(1)
            .seq(1001)
            .ack(iss + 1)
            .data(b"u"),
    );
    t.advance(1500);
    let ev = events(&mut t, h);
    assert!(
        ev.contains(&Event::SoftError(SoftError::Icmp { hard: false })),
        "{ev:?}"
    );
    assert!(ev.iter().any(|e| matches!(e, Event::Urgent(_))), "{ev:?}");
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::SoftError(SoftError::Retransmissions(_)))),
        "{ev:?}"
    );
}

#[test]
fn shld_16_shld_17_shrunk_window_retransmits_inside_it_and_survives_past_r2() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.stack.send(h, &[0u8; 3000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 3);
    // The peer shrinks its window to 0, below what we sent, and only ACKs SND.UNA.
    t.send(at(10), seg().ack_flag().seq(1001).ack(iss + 1).win(0));
    let mut now = 10;
    while now < 3_600_000 {
        now += 10_000;
        t.send(at(now), seg().ack_flag().seq(1001).ack(iss + 1).win(0));
    }
    assert_eq!(
        t.state(h),
        State::Established,
        "no timeout for data beyond a shrunk window"
    );
    // The window reopens to 500: what lies inside it is retransmitted.
    t.drain();
    t.send(
        at(now + 1),
        seg().ack_flag().seq(1001).ack(iss + 1).win(500),
    );
    let r = t.expect_between(now + 1, now + 130_000, seg().seq(iss + 1));
    assert_eq!(r.payload.len(), 500);
}

#[test]
fn must_38_sender_avoids_silly_window_syndrome() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.send(at(0), seg().ack_flag().seq(1001).ack(iss + 1).win(4000));
    t.stack.send(h, &[0u8; 4000]).unwrap();
    t.flush();
    let first: Vec<_> = t.drain();
    assert_eq!(first.iter().map(|s| s.payload.len()).sum::<usize>(), 4000);
    let mut acked = iss + 1;
    for s in &first {
        acked += s.payload.len() as u32;
    }
    t.stack.send(h, &[0u8; 5000]).unwrap();
    // The peer opens its window 10 bytes at a time: no train of 10-byte segments.
    for i in 0..20 {
        t.send(
            at(1 + i),
            seg()
                .ack_flag()
                .seq(1001)
                .ack(acked)
                .win(10 * (i as u16 + 1)),
        );
    }
    let tiny = t
        .drain()
        .iter()
        .filter(|s| !s.payload.is_empty() && s.payload.len() < 100)
        .count();
    assert_eq!(tiny, 0);
}

#[test]
fn must_43_open_with_a_chosen_local_address_and_port() {
    let mut t = Harness::with_config(Harness::config());
    let local = SocketAddrV4::new(US, 4321);
    let h = t
        .stack
        .connect_from(instant(0), Some(local), t.peer)
        .unwrap();
    t.flush();
    t.expect(at(0), seg().flags(TcpFlags::SYN).from(local));
    assert_eq!(t.state(h), State::SynSent);
    let foreign = SocketAddrV4::new("10.66.0.9".parse().unwrap(), 1);
    assert!(t
        .stack
        .connect_from(instant(0), Some(foreign), t.peer)
        .is_err());
}

#[test]
fn shld_21_shld_22_ds_field_set_mid_connection_is_passed_unchanged() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish(0, 1000, seg());
    t.stack.with_connection(h, |c| {
        c.set_tos(10 << 2);
        c.set_nodelay(true);
    });
    t.stack.send(h, b"a").unwrap();
    t.flush();
    let s = t.expect(at(0), seg().len(1));
    assert_eq!(s.ip.tos, 10 << 2);
}

#[test]
fn may_1_full_close_model_no_reads_after_close() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.close(h);
    t.send(at(1), seg().ack_flag().seq(1001).ack(iss + 2));
    assert_eq!(t.stack.recv(h, &mut [0; 4]), Err(Error::NotConnected));
}

#[test]
fn may_3_mss_option_sent_even_when_it_equals_the_default() {
    let mut cfg = Harness::config();
    cfg.mtu = 576;
    let mut t = Harness::server_with(80, cfg);
    t.send(at(0), seg().syn().seq(1));
    t.expect(at(0), seg().flags(TcpFlags::SYN | ACK).mss(536));
}

#[test]
fn u_7_ack_completing_active_open_carries_queued_data() {
    let mut t = Harness::with_config(Harness::config());
    let h = t.stack.connect(instant(0), t.peer).unwrap();
    t.stack.send(h, b"GET / HTTP/1.1\r\n\r\n").unwrap();
    t.flush();
    let syn = t.expect(at(0), seg().flags(TcpFlags::SYN));
    t.us = syn.src;
    t.send(at(10), seg().syn().ack_flag().seq(500).ack(syn.seq + 1));
    let a = t.expect(at(10), seg().ack(501).seq(syn.seq + 1));
    assert_eq!(a.payload, b"GET / HTTP/1.1\r\n\r\n");
    assert!(t.drain().is_empty(), "no separate pure ACK");
}

#[test]
fn timeouts_and_keepalive_probes_are_counted_like_nstat() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish(0, 1000, seg());
    t.stack.with_connection(h, |c| {
        c.set_keepalive(true);
        c.set_keepalive_times(Duration::from_secs(10), Duration::from_secs(5), 9);
    });
    t.advance(21_000);
    assert_eq!(
        t.stack.counters().tcp_ext_tcp_keep_alive,
        3,
        "probes at 10, 15, 20 s"
    );
    t.stack.send(h, b"x").unwrap();
    t.advance(21_700);
    assert!(t.stack.counters().tcp_ext_tcp_timeouts >= 1);
}
