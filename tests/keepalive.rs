//! Keep-alive (RFC 9293 §3.8.4) and sending urgent data (§3.8.5).

mod support;

use support::*;
use tuntcp::tcp::{Error, State};
use tuntcp::time::Duration;
use tuntcp::wire::TcpFlags;

const ACK: TcpFlags = TcpFlags::ACK;
const H2: u64 = 7_200_000;

#[test]
fn must_25_keepalive_is_off_by_default() {
    let mut t = Harness::server(80);
    let (_h, _) = t.establish(0, 1000, seg());
    t.expect_nothing_until(at(3 * 3_600_000));
}

#[test]
fn may_5_must_24_must_28_shld_12_keepalive_per_connection_after_two_hours() {
    let mut t = Harness::server(80);
    let (a, iss) = t.establish(0, 1000, seg());
    t.peer = std::net::SocketAddrV4::new(PEER, 6000).into();
    let (_b, _) = t.establish(0, 2000, seg());
    t.stack.with_connection(a, |c| c.set_keepalive(true));
    t.expect_nothing_until(at(H2 - 1));
    // SHLD-12: no data, SEQ = SND.NXT - 1; only connection A probes.
    let p = t.expect(at(H2), seg().flags(ACK).seq(iss).ack(1001).len(0));
    assert_eq!(p.dst.port(), 5555);
    t.send(
        at(H2 + 10),
        seg().ack_flag().seq(1001).ack(iss + 1).from(t.peer_a()),
    );
    t.expect_nothing_until(at(2 * H2));
}

#[test]
fn must_27_keepalive_interval_is_configurable() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.with_connection(h, |c| {
        c.set_keepalive(true);
        c.set_keepalive_times(Duration::from_secs(30), Duration::from_secs(5), 3);
    });
    t.expect_nothing_until(at(29_999));
    t.expect(at(30_000), seg().seq(iss).len(0));
}

#[test]
fn must_26_no_probe_while_traffic_flows_or_data_is_outstanding() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.with_connection(h, |c| {
        c.set_keepalive(true);
        c.set_keepalive_times(Duration::from_secs(30), Duration::from_secs(5), 3);
    });
    // The peer talks every 15 s: no probes.
    for i in 1..=6u32 {
        t.send(
            at(u64::from(i) * 15_000),
            seg().ack_flag().seq(1001).ack(iss + 1),
        );
    }
    assert!(t.drain().is_empty());
    // Unacknowledged data: retransmissions, never keep-alive probes (SEQ = SND.NXT - 1).
    t.stack.send(h, b"data").unwrap();
    t.advance(90_000 + 60_000);
    let segs = t.drain();
    assert!(!segs.is_empty());
    assert!(
        segs.iter().all(|s| s.payload == b"data"),
        "only retransmissions"
    );
}

#[test]
fn must_29_one_lost_probe_is_not_death_but_all_are() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.with_connection(h, |c| {
        c.set_keepalive(true);
        c.set_keepalive_times(Duration::from_secs(30), Duration::from_secs(5), 3);
    });
    t.expect(at(30_000), seg().seq(iss).len(0));
    t.expect(at(35_000), seg().seq(iss).len(0)); // first probe unanswered
    t.send(at(36_000), seg().ack_flag().seq(1001).ack(iss + 1));
    assert_eq!(t.state(h), State::Established);
    // Then the peer vanishes: idle + 3 unanswered probes at 5 s -> dead.
    t.expect(at(66_000), seg().seq(iss).len(0));
    t.expect(at(71_000), seg().seq(iss).len(0));
    t.expect(at(76_000), seg().seq(iss).len(0));
    t.advance(81_000);
    assert_eq!(t.stack.recv(h, &mut [0; 1]), Err(Error::TimedOut));
}

#[test]
fn must_62_urgent_pointer_names_the_octet_after_the_urgent_data() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish(0, 1000, seg());
    t.stack.with_connection(h, |c| c.set_nodelay(true));
    t.stack.send(h, &[0; 100]).unwrap();
    t.flush();
    t.expect(at(0), seg().len(100));
    t.stack
        .with_connection(h, |c| c.send_urgent(b"!!!"))
        .unwrap()
        .unwrap();
    t.flush();
    let s = t.expect(at(0), seg().len(3).seq(iss + 101));
    assert!(s.flags.urg());
    assert_eq!(s.seq.wrapping_add(u32::from(s.urgent)), iss + 1 + 103);
    t.send(at(10), seg().ack_flag().seq(1001).ack(iss + 104));
    t.stack.send(h, b"plain").unwrap();
    t.flush();
    let p = t.expect(at(10), seg().len(5));
    assert!(!p.flags.urg(), "the mark ends once acknowledged");
}
