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
    // The first ACK echoes a CE mark: the controller's cwnd drops to ssthresh (CUBIC: 0.7
    // of cwnd; PRR paces the rest).
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

// ---- The CWR state (Linux `TCP_CA_CWR`): PRR-paced reduction for an ECE ----

use tuntcp::tcp::CaState;

const ECE: TcpFlags = TcpFlags(TcpFlags::ACK.0 | TcpFlags::ECE.0);

/// The peer's ACK of `ack` (flags `f`) at `ms`; returns what the sender sent in answer as
/// (segment number from 1, CWR flag).
fn ack_at(t: &mut Harness, ms: u64, f: TcpFlags, ack: u32, d: u32) -> Vec<(u32, bool)> {
    t.send(ms, seg().flags(f).seq(1001).ack(ack));
    t.drain()
        .iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| (s.seq.wrapping_sub(d) / 1000 + 1, s.flags.cwr()))
        .collect()
}

fn ca(t: &Harness, h: tuntcp::stack::SocketHandle, ms: u64) -> (CaState, u32) {
    let i = t.stack.connection(h).unwrap().info(support::instant(ms));
    (i.ca_state, i.cwnd)
}

/// IW10 of 1000-byte segments in flight from an ECN connection at 10 ms:
/// (harness, handle, first data sequence number).
fn ecn_sender() -> (Harness, tuntcp::stack::SocketHandle, u32) {
    let mut t = server(2);
    let (h, iss) = establish_ecn(&mut t);
    t.stack.send(h, &[1; 40_000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 10, "IW10");
    (t, h, iss + 1)
}

#[test]
fn ece_enters_cwr_and_prr_paces_the_reduction_until_snd_una_passes_the_point() {
    let (mut t, h, d) = ecn_sender();
    // 20 ms: the first ACK echoes a CE mark. CWR (ca_state 2): ssthresh 7000 (CUBIC 0.7
    // of cwnd 10000), RecoverFS 10000 (9000 in flight + the 1000 delivered). pipe 9000 >
    // ssthresh: PRR sends ceil(prr_delivered * 7000 / 10000) - prr_out: 700 now, so
    // the window is 9700 and nothing goes (a segment needs 1000).
    assert_eq!(ack_at(&mut t, 20, ECE, d + 1000, d), []);
    assert_eq!(ca(&t, h, 20), (CaState::Cwr, 9));
    assert_eq!(t.stack.connection(h).unwrap().ssthresh(), 7000);
    assert_eq!(t.stack.connection(h).unwrap().ecn_counts(), (0, 1, 1));
    // Plain ACKs (no ECE any more), one per segment. While pipe > ssthresh, 0.7 of what
    // is delivered: 1400 - 0 -> segment 11, with CWR (§6.1.2); 2100 - 1000 -> 12;
    // 2800 - 2000 = 800 -> nothing. At pipe = ssthresh (7000) nothing; below it, as much
    // as delivered (PRR-CRB): one for one, 13 to 17.
    let mut sent = Vec::new();
    for k in 2..=10u32 {
        sent.push(ack_at(
            &mut t,
            20 + u64::from(k),
            TcpFlags::ACK,
            d + k * 1000,
            d,
        ));
        assert_eq!(ca(&t, h, 20 + u64::from(k)).0, CaState::Cwr, "ACK {k}");
    }
    assert_eq!(
        sent,
        [
            vec![(11, true)],
            vec![(12, false)],
            vec![],
            vec![],
            vec![(13, false)],
            vec![(14, false)],
            vec![(15, false)],
            vec![(16, false)],
            vec![(17, false)],
        ]
    );
    // All ten acknowledged: 7 sent during CWR, 7 = ssthresh in flight. SND.UNA is at the
    // point, not past it: still CWR (Linux holds it until the CWR flag is acknowledged).
    assert_eq!(ca(&t, h, 30), (CaState::Cwr, 7));
    // Segment 11 (the one with CWR) acknowledged: Open, cwnd = ssthresh, and it grows
    // again (congestion avoidance), by less than a segment per ACK.
    let out = ack_at(&mut t, 40, TcpFlags::ACK, d + 11_000, d);
    assert_eq!(ca(&t, h, 40).0, CaState::Open);
    assert_eq!(out, [(18, false)], "one for one");
    let c = t.stack.connection(h).unwrap();
    assert!(c.cwnd() >= 7000 && c.cwnd() < 8000, "{}", c.cwnd());
    // A new ECE now is a new window: a second reduction.
    ack_at(&mut t, 41, ECE, d + 12_000, d);
    assert_eq!(t.stack.connection(h).unwrap().ecn_counts(), (0, 2, 2));
    assert_eq!(ca(&t, h, 41).0, CaState::Cwr);
}

#[test]
fn a_second_ece_within_the_window_changes_nothing() {
    let (mut t, h, d) = ecn_sender();
    ack_at(&mut t, 20, ECE, d + 1000, d);
    let before = t.stack.connection(h).unwrap().info(support::instant(20));
    // Every ACK echoes ECE until the peer sees our CWR: the same PRR sends as above.
    assert_eq!(ack_at(&mut t, 21, ECE, d + 2000, d), [(11, true)]);
    assert_eq!(ack_at(&mut t, 22, ECE, d + 3000, d), [(12, false)]);
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.ecn_counts(), (0, 3, 1), "one reduction per window");
    assert_eq!(c.ssthresh(), 7000);
    assert_eq!(before.ssthresh, Some(7));
}

#[test]
fn ece_during_fast_recovery_does_nothing_more() {
    let (mut t, h, d) = ecn_sender();
    // Segment 1 lost: three duplicate ACKs (no SACK) start fast recovery (RFC 5681 §3.2)
    // and the fast retransmission.
    for (i, ms) in [20u64, 21, 22].into_iter().enumerate() {
        let out = ack_at(&mut t, ms, TcpFlags::ACK, d, d);
        if i == 2 {
            assert_eq!(
                out.first(),
                Some(&(1, false)),
                "fast retransmission, no CWR"
            );
        }
    }
    let c = t.stack.connection(h).unwrap();
    let ssthresh = c.ssthresh();
    assert_eq!(ca(&t, h, 22).0, CaState::Recovery);
    // An ECE now: counted, no CWR state, no second reduction.
    ack_at(&mut t, 23, ECE, d, d);
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.ecn_counts(), (0, 1, 0));
    assert_eq!(c.ssthresh(), ssthresh);
    assert_eq!(ca(&t, h, 23).0, CaState::Recovery);
    // Fast recovery reduced cwnd: the first new data after it carries CWR (§6.1.2: a
    // reduction "for any reason").
    let mut first_new = None;
    for k in 2..=10u32 {
        let out = ack_at(&mut t, 30 + u64::from(k), TcpFlags::ACK, d + k * 1000, d);
        if let Some(&s) = out.iter().find(|s| s.0 > 10) {
            first_new.get_or_insert(s);
        }
    }
    assert_eq!(first_new.map(|s| s.1), Some(true), "{first_new:?}");
}

#[test]
fn a_loss_during_cwr_enters_recovery_without_a_second_reduction() {
    let (mut t, h, d) = ecn_sender();
    // CWR at 20 ms (ssthresh 7000), then segment 2 lost: duplicate ACKs of 1000.
    ack_at(&mut t, 20, ECE, d + 1000, d);
    assert_eq!(ca(&t, h, 20).0, CaState::Cwr);
    let mut out = Vec::new();
    let mut high = 10;
    for ms in [21u64, 22, 23] {
        out = ack_at(&mut t, ms, TcpFlags::ACK, d + 1000, d);
        high = out.iter().map(|s| s.0).fold(high, u32::max);
    }
    assert!(out.contains(&(2, false)), "fast retransmission: {out:?}");
    let c = t.stack.connection(h).unwrap();
    assert_eq!(ca(&t, h, 23).0, CaState::Recovery);
    assert_eq!(c.ssthresh(), 7000, "the CWR's ssthresh, not reduced again");
    assert_eq!(c.ecn_counts(), (0, 1, 1));
    // The hole filled and everything sent before recovery acknowledged: Open.
    ack_at(&mut t, 40, TcpFlags::ACK, d + high * 1000, d);
    let c = t.stack.connection(h).unwrap();
    assert_eq!(ca(&t, h, 40).0, CaState::Open);
    assert_eq!(c.ssthresh(), 7000);
}

// ---- Counters (nstat) and `ss -i` flags ----

use tuntcp::stack::report;

fn counter(t: &Harness, name: &str) -> u64 {
    t.stack
        .counters()
        .get(name)
        .unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn ecn_codepoints_are_counted_as_linux_nstat_names_them() {
    let mut t = server(2);
    let (_, iss) = establish_ecn(&mut t);
    // The SYN and the ACK: Not-ECT (RFC 3168 §6.1.1, §6.1.4).
    let names = [
        "IpExtInNoECTPkts",
        "IpExtInECT1Pkts",
        "IpExtInECT0Pkts",
        "IpExtInCEPkts",
    ];
    let counts = |t: &Harness| names.map(|n| counter(t, n));
    assert_eq!(counts(&t), [2, 0, 0, 0]);
    let mut next = 1001;
    for (ms, ecn) in [(20, 2), (21, 2), (22, 1), (23, 3)] {
        t.send(
            ms,
            marked(seg().seq(next).ack(iss + 1).data(&[1; 100]), ecn),
        );
        next += 100;
    }
    assert_eq!(counts(&t), [2, 1, 2, 1]);
    assert_eq!(counter(&t, "Ip6InECT0Pkts"), 0, "IPv4 only");
}

#[test]
fn ecn_codepoints_of_ipv6_are_counted_in_ip6() {
    let mut t = Harness::server6(80);
    let syn = t.build(&seg().syn().seq(1000));
    // The ECN field is the Traffic Class's low two bits: byte 1's bits 4-5.
    for (ms, ecn) in [(0u64, 0u8), (1, 1), (2, 2), (3, 2), (4, 3)] {
        let mut p = syn.clone();
        p[1] = (p[1] & 0xcf) | (ecn << 4);
        t.send_raw(ms, &p);
    }
    let got = [
        "Ip6InNoECTPkts",
        "Ip6InECT1Pkts",
        "Ip6InECT0Pkts",
        "Ip6InCEPkts",
    ]
    .map(|n| counter(&t, n));
    assert_eq!(got, [1, 1, 2, 1]);
    assert_eq!(counter(&t, "IpExtInNoECTPkts"), 0, "IPv6 only");
}

#[test]
fn tcp_delivered_ce_counts_the_segments_acked_with_ece() {
    let (mut t, h, d) = ecn_sender();
    ack_at(&mut t, 20, ECE, d + 1000, d);
    assert_eq!(counter(&t, "TcpExtTCPDeliveredCE"), 1);
    ack_at(&mut t, 21, TcpFlags::ACK, d + 3000, d);
    assert_eq!(counter(&t, "TcpExtTCPDeliveredCE"), 1, "no ECE");
    ack_at(&mut t, 22, ECE, d + 6000, d);
    assert_eq!(counter(&t, "TcpExtTCPDeliveredCE"), 4);
    let i = t.stack.connection(h).unwrap().info(support::instant(22));
    assert_eq!(i.delivered_ce, 4, "tcpi_delivered_ce");
}

#[test]
fn ss_i_prints_ecn_once_negotiated_and_ecnseen_once_ect_arrived() {
    // No ECN: neither flag.
    let mut t = server(2);
    let (h, _) = t.establish(0, 1000, seg().mss(1000));
    let line = report::ss_info(&t.stack.connection(h).unwrap().info(support::instant(0)));
    assert!(!line.contains("ecn"), "{line}");
    // ECN negotiated: `ecn`, after the options as ss orders them; `ecnseen` only once a
    // segment with ECT (or CE) arrived.
    let mut t = server(2);
    let (h, iss) = establish_ecn(&mut t);
    let ss = |t: &Harness, ms| {
        report::ss_info(&t.stack.connection(h).unwrap().info(support::instant(ms)))
    };
    let line = ss(&t, 10);
    assert!(line.starts_with("ecn cubic "), "{line}");
    t.send(20, seg().seq(1001).ack(iss + 1).data(&[1; 100]));
    assert!(!ss(&t, 20).contains("ecnseen"), "Not-ECT data");
    t.send(30, marked(seg().seq(1101).ack(iss + 1).data(&[1; 100]), 2));
    let line = ss(&t, 30);
    assert!(line.starts_with("ecn ecnseen cubic "), "{line}");
}

// ---- Tests that kill cargo-mutants' mutants of src/tcp/ecn.rs (scripts/mutants.sh ecn) ----

#[test]
fn ecn_is_off_without_an_ecn_setup_syn_or_with_tcp_ecn_0() {
    let mut t = server(2);
    let (h, _) = t.establish(0, 1000, seg());
    assert!(!t.stack.connection(h).unwrap().ecn_ok());
    let mut t = server(0);
    t.send(0, seg().flags(TcpFlags::SYN | ECE_CWR).seq(1000));
    let sa = t.expect(0, seg().flags(SA).ack(1001));
    t.send(10, seg().seq(1001).ack(sa.seq + 1));
    let h = t.stack.accept(80).expect("accepted");
    assert!(!t.stack.connection(h).unwrap().ecn_ok());
}

#[test]
fn ce_marked_data_segments_are_counted_and_a_ce_pure_ack_is_not() {
    let mut t = server(2);
    let (h, iss) = establish_ecn(&mut t);
    t.send(20, marked(seg().seq(1001).ack(iss + 1).data(&[1; 100]), 3));
    t.expect(20, seg().flags(TcpFlags::ACK | TcpFlags::ECE).ack(1101));
    t.send(30, marked(seg().seq(1101).ack(iss + 1).data(&[1; 100]), 3));
    t.expect(30, seg().flags(TcpFlags::ACK | TcpFlags::ECE).ack(1201));
    // A pure ACK marked CE carries nothing to count (§6.1.3 speaks of data).
    t.send(40, marked(seg().seq(1201).ack(iss + 1), 3));
    t.expect_nothing_until(41);
    assert_eq!(t.stack.connection(h).unwrap().ecn_counts(), (2, 0, 0));
}

#[test]
fn rfc3168_6_1_1_only_a_syn_ack_with_ece_and_without_cwr_answers_our_ecn_setup_syn() {
    // (tcp_ecn, SYN-ACK's ECN flags) -> ECN in use. A SYN-ACK with both is not an
    // ECN-setup SYN-ACK; one with ECE to a SYN that did not ask is ignored. Without ECN,
    // our first data is Not-ECT.
    for (ecn, flags, ok) in [
        (1, TcpFlags::ECE, true),
        (1, TcpFlags::NONE, false),
        (1, ECE_CWR, false),
        (2, TcpFlags::ECE, false),
    ] {
        let mut cfg = Harness::config();
        cfg.tcp.ecn = ecn;
        let mut t = Harness::with_config(cfg);
        let h = t.stack.connect(support::instant(0), t.peer).unwrap();
        t.flush();
        let syn = t.expect(0, seg());
        t.us = syn.src;
        t.send(10, seg().flags(SA | flags).seq(5000).ack(syn.seq + 1));
        t.expect(10, seg().flags(TcpFlags::ACK).ack(5001));
        assert_eq!(t.stack.connection(h).unwrap().ecn_ok(), ok, "{ecn} {flags}");
        t.stack.send(h, &[1; 100]).unwrap();
        t.flush();
        let d = t.expect(10, seg().len(100));
        let ect = if ok { 2 } else { 0 };
        assert_eq!(d.ip.tos & 3, ect, "{ecn} {flags}: {}", d.line);
    }
}

#[test]
fn a_simultaneous_open_negotiates_ecn_from_the_crossing_syn() {
    // tcp_ecn (1: we ask, 2: we do not), crossing SYN's ECN flags -> ECN in use. Our
    // SYN-ACK carries ECE exactly when it is.
    for (ecn, flags, ok) in [
        (1, ECE_CWR, true),
        (1, TcpFlags::NONE, false),
        (1, TcpFlags::ECE, false),
        (0, ECE_CWR, false),
    ] {
        let mut cfg = Harness::config();
        cfg.tcp.ecn = ecn;
        let mut t = Harness::with_config(cfg);
        let h = t.stack.connect(support::instant(0), t.peer).unwrap();
        t.flush();
        let syn = t.expect(0, seg());
        t.us = syn.src;
        t.send(5, seg().flags(TcpFlags::SYN | flags).seq(7000));
        let sa = t.expect(5, seg().seq(syn.seq).ack(7001));
        let want = if ok { SA | TcpFlags::ECE } else { SA };
        assert_eq!(sa.flags, want, "{ecn} {flags}");
        assert_eq!(t.stack.connection(h).unwrap().ecn_ok(), ok, "{ecn} {flags}");
    }
}

#[test]
fn a_syn_with_only_ece_or_only_cwr_is_not_an_ecn_setup_syn() {
    // RFC 3168 §6.1.1: the ECN-setup SYN has both.
    for flags in [TcpFlags::ECE, TcpFlags::CWR] {
        let mut t = server(2);
        t.send(0, seg().flags(TcpFlags::SYN | flags).seq(1000));
        let sa = t.expect(0, seg().flags(SA).ack(1001));
        t.send(10, seg().seq(1001).ack(sa.seq + 1));
        let h = t.stack.accept(80).expect("accepted");
        assert!(!t.stack.connection(h).unwrap().ecn_ok(), "{flags}");
    }
}

#[test]
fn without_ecn_ce_marks_and_ece_are_ignored() {
    // A connection that did not negotiate ECN: CE-marked data is ACKed as any data
    // (no ECE, not counted) and an ACK with ECE reduces nothing.
    let mut t = server(2);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000));
    t.send(10, marked(seg().seq(1001).ack(iss + 1).data(&[1; 100]), 3));
    t.expect(10, seg().flags(TcpFlags::ACK).ack(1101));
    t.stack.send(h, &[1; 10_000]).unwrap();
    t.flush();
    let flight = t.drain();
    assert_eq!(flight.len(), 10, "IW10");
    let now = t.now_ms;
    t.send(now, seg().flags(ECE).seq(1101).ack(iss + 1001));
    let c = t.stack.connection(h).unwrap();
    assert_eq!(c.ecn_counts(), (0, 0, 0));
    assert_eq!(ca(&t, h, now).0, CaState::Open);
    assert_eq!(counter(&t, "TcpExtTCPDeliveredCE"), 0);
}

#[test]
fn ect0_on_new_data_keeps_the_dscp_bits_of_the_tos() {
    // tos 0x20 (DSCP CS1): new data leaves with 0x22, its retransmission with 0x20.
    let mut cfg = Harness::config();
    cfg.tcp.tos = 0x20;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = establish_ecn(&mut t);
    t.stack.send(h, &[1; 1000]).unwrap();
    t.flush();
    let d = t.expect(10, seg().seq(iss + 1).len(1000));
    assert_eq!(d.ip.tos, 0x22, "{}", d.line);
    let r = t.expect_between(11, 1500, seg().seq(iss + 1).len(1000));
    assert_eq!(r.ip.tos, 0x20, "{}", r.line);
}

#[test]
fn a_rst_sent_while_echoing_ce_carries_no_ece() {
    let mut t = server(2);
    let (h, iss) = establish_ecn(&mut t);
    t.send(20, marked(seg().seq(1001).ack(iss + 1).data(&[1; 100]), 3));
    t.expect(20, seg().flags(TcpFlags::ACK | TcpFlags::ECE).ack(1101));
    t.stack.abort(h);
    t.flush();
    let r = t.expect(20, seg().seq(iss + 1));
    assert!(r.flags.rst() && !r.flags.ece(), "{}", r.line);
    assert_eq!(r.ip.tos & 3, 0, "{}", r.line);
}

#[test]
fn cwnd_grows_again_once_cwr_ends() {
    // As above: CWR from 20 ms, all ten first segments ACKed at 21..30 ms, CWR ends at
    // 40 ms with segment 11 ACKed (cwnd = ssthresh 7000). The ACKs after it grow cwnd
    // (congestion avoidance): nothing holds the controller in its reduction any more.
    let (mut t, h, d) = ecn_sender();
    ack_at(&mut t, 20, ECE, d + 1000, d);
    for k in 2..=10u32 {
        ack_at(&mut t, 20 + u64::from(k), TcpFlags::ACK, d + k * 1000, d);
    }
    ack_at(&mut t, 40, TcpFlags::ACK, d + 11_000, d);
    assert_eq!(ca(&t, h, 40).0, CaState::Open);
    let c40 = t.stack.connection(h).unwrap().cwnd();
    assert!(c40 >= 7000, "{c40}");
    let mut cwnds = Vec::new();
    for k in 12..=17u32 {
        ack_at(&mut t, 29 + u64::from(k), TcpFlags::ACK, d + k * 1000, d);
        cwnds.push(t.stack.connection(h).unwrap().cwnd());
    }
    assert!(cwnds[5] > c40, "{c40} then {cwnds:?}");
}

#[test]
fn fast_recovery_from_cwr_carries_prr_on_from_the_cwr_state() {
    // CWR at 20 ms (ssthresh 7000, RecoverFS 10000), then segment 2 lost: duplicate ACKs
    // of 1000 at 21, 22, 23 ms (no SACK: each one a segment delivered). PRR goes on with
    // CWR's RecoverFS and prr_delivered/prr_out, not from zero.
    let (mut t, h, d) = ecn_sender();
    assert_eq!(ack_at(&mut t, 20, ECE, d + 1000, d), []);
    let mut sent = Vec::new();
    for ms in [21u64, 22, 23, 24, 25, 26] {
        sent.push(ack_at(&mut t, ms, TcpFlags::ACK, d + 1000, d));
    }
    // 21, 22 ms: CWR's PRR sends 11 (with CWR) and 12; 23 ms: the third duplicate ACK,
    // the fast retransmission of 2; then PRR goes on one for every other ACK at first.
    assert_eq!(
        sent,
        [
            vec![(11, true)],
            vec![(12, false)],
            vec![(2, false)],
            vec![],
            vec![(13, false)],
            vec![(14, false)],
        ]
    );
    assert_eq!(ca(&t, h, 26).0, CaState::Recovery);
    assert_eq!(t.stack.connection(h).unwrap().ssthresh(), 7000);
}
