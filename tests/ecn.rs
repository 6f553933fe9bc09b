//! ECN (RFC 3168): negotiation, ECT(0) on new data, CE echoed with ECE until CWR, and the
//! sender's once-per-window reduction with CWR, at explicit virtual times.

mod support;

use support::{seg, Harness, Spec};
use tuntcp::wire::{IpMeta, TcpFlags};

const SA: TcpFlags = TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0);
const ECE_CWR: TcpFlags = TcpFlags(TcpFlags::ECE.0 | TcpFlags::CWR.0);

fn server(ecn: u8) -> Harness {
    let mut cfg = Harness::config();
    cfg.tcp.ecn = ecn;
    Harness::server_with(80, cfg)
}

/// A segment of the peer with the ECN field `ecn` in its TOS byte.
fn marked(s: Spec, ecn: u8) -> Spec {
    let mut s = s;
    s.ip = Some(IpMeta {
        tos: ecn,
        ..IpMeta::default()
    });
    s
}

/// The peer's ECN-setup SYN (ECE|CWR, RFC 3168 §6.1.1), answered; established at 10 ms.
fn establish_ecn(t: &mut Harness) -> (tuntcp::stack::SocketHandle, u32) {
    t.send(
        0,
        seg()
            .syn()
            .flags(TcpFlags::SYN | ECE_CWR)
            .seq(1000)
            .mss(1000),
    );
    let sa = t.expect(0, seg().flags(SA | TcpFlags::ECE));
    t.send(10, seg().seq(1001).ack(sa.seq + 1));
    let h = t.stack.accept(80).expect("accepted");
    assert!(t.stack.connection(h).unwrap().ecn_ok());
    (h, sa.seq)
}

#[test]
fn shld_8_an_ecn_setup_syn_is_accepted_by_default_and_refused_when_off() {
    // Default (tcp_ecn 2): the SYN-ACK carries ECE, not CWR.
    let mut t = server(2);
    establish_ecn(&mut t);
    // A SYN without ECE|CWR: no ECN.
    let mut t = server(2);
    t.send(0, seg().syn().seq(1000));
    let sa = t.expect(0, seg().flags(SA));
    assert!(!sa.flags.ece() && !sa.flags.cwr());
    // tcp_ecn 0: the ECN-setup SYN gets a plain SYN-ACK.
    let mut t = server(0);
    t.send(0, seg().syn().flags(TcpFlags::SYN | ECE_CWR).seq(1000));
    t.expect(0, seg().flags(SA));
}

#[test]
fn ecn_1_asks_in_the_syn_and_2_does_not() {
    let mut cfg = Harness::config();
    cfg.tcp.ecn = 1;
    let mut t = Harness::with_config(cfg);
    let h = t.stack.connect(support::instant(0), t.peer).unwrap();
    t.flush();
    let syn = t.expect(0, seg().flags(TcpFlags::SYN | ECE_CWR));
    t.us = syn.src;
    t.send(
        10,
        seg().flags(SA | TcpFlags::ECE).seq(5000).ack(syn.seq + 1),
    );
    t.expect(10, seg().flags(TcpFlags::ACK).ack(5001));
    assert!(t.stack.connection(h).unwrap().ecn_ok());

    let mut t = Harness::with_config(Harness::config());
    t.stack.connect(support::instant(0), t.peer).unwrap();
    t.flush();
    t.expect(0, seg().flags(TcpFlags::SYN));
}

#[test]
fn new_data_is_ect0_and_retransmissions_and_acks_are_not() {
    let mut t = server(2);
    let (h, iss) = establish_ecn(&mut t);
    t.stack.send(h, &[1; 1000]).unwrap();
    t.flush();
    let d = t.expect(10, seg().seq(iss + 1).len(1000));
    assert_eq!(d.ip.tos & 3, 2, "ECT(0): {}", d.line);
    // Lost: the retransmission (tail loss probe or RTO) is not ECN-capable (§6.1.5).
    let r = t.expect_between(11, 1500, seg().seq(iss + 1).len(1000));
    assert_eq!(r.ip.tos & 3, 0, "retransmission not ECT: {}", r.line);
    // A pure ACK of the peer's data is not ECT either.
    t.advance(1999);
    t.drain();
    t.send(2000, seg().seq(1001).ack(iss + 1001).data(&[2; 100]));
    let a = t.expect_between(2000, 2040, seg().flags(TcpFlags::ACK).ack(1101));
    assert_eq!(a.ip.tos & 3, 0, "{}", a.line);
}

#[test]
fn ce_is_echoed_with_ece_on_every_ack_until_cwr() {
    let mut t = server(2);
    let (_, iss) = establish_ecn(&mut t);
    // Data marked CE (§6.1.3): ACKed at once, with ECE.
    t.send(20, marked(seg().seq(1001).ack(iss + 1).data(&[1; 100]), 3));
    t.expect(20, seg().flags(TcpFlags::ACK | TcpFlags::ECE).ack(1101));
    // Unmarked data: ECE goes on until the sender says CWR.
    t.send(30, seg().seq(1101).ack(iss + 1).data(&[1; 100]));
    t.expect_between(30, 70, seg().flags(TcpFlags::ACK | TcpFlags::ECE).ack(1201));
    t.send(
        80,
        seg()
            .flags(TcpFlags::ACK | TcpFlags::CWR)
            .seq(1201)
            .ack(iss + 1)
            .data(&[1; 100]),
    );
    let a = t.expect_between(80, 120, seg().ack(1301));
    assert!(!a.flags.ece(), "CWR ends the echo: {}", a.line);
}

#[test]
fn ece_reduces_cwnd_once_per_window_and_the_next_data_carries_cwr() {
    let mut t = server(2);
    let (h, iss) = establish_ecn(&mut t);
    t.stack.send(h, &[1; 30_000]).unwrap();
    t.flush();
    let flight = t.drain();
    assert_eq!(flight.len(), 10, "IW10");
    let cwnd0 = t.stack.connection(h).unwrap().cwnd();
    // The first ACK echoes a CE mark: cwnd drops as for a loss (CUBIC: 0.7 of the flight).
    t.send(
        20,
        seg()
            .flags(TcpFlags::ACK | TcpFlags::ECE)
            .seq(1001)
            .ack(iss + 1 + 1000),
    );
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.ecn_counts(), (0, 1, 1));
    let cwnd1 = c.cwnd();
    assert!(cwnd1 < cwnd0, "{cwnd1} < {cwnd0}");
    // 9,000 in flight is more than the reduced cwnd: nothing new until more is ACKed.
    assert!(t.drain().iter().all(|s| s.payload.is_empty()));
    t.send(21, seg().seq(1001).ack(iss + 1 + 5000));
    let next = t.drain();
    let first_new = next
        .iter()
        .find(|s| !s.payload.is_empty())
        .expect("new data");
    assert!(
        first_new.flags.cwr(),
        "CWR on the next new data: {}",
        first_new.line
    );
    assert_eq!(next.iter().filter(|s| s.flags.cwr()).count(), 1, "CWR once");
    // Another ECE within the window sent before the reduction: no second reduction.
    t.send(
        22,
        seg()
            .flags(TcpFlags::ACK | TcpFlags::ECE)
            .seq(1001)
            .ack(iss + 1 + 6000),
    );
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.ecn_counts(), (0, 2, 1));
    assert!(c.cwnd() >= cwnd1);
}
