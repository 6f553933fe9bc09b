//! `--step` (issue 20): the stops and the TCB lines they show, on the virtual clock. The
//! driver here does what the event loop does with `--step`: before each segment in and
//! after each segment out it asks `step::at_segment`, and answers a stop with the next key.

mod support;

use std::collections::VecDeque;
use support::*;
use tuntcp::step::{self, Dir, Key, Mode, Stepper};
use tuntcp::tcp::State;

/// The stack of a [`Harness`] stepped as the event loop steps it.
struct Stepped {
    t: Harness,
    stepper: Stepper,
    /// The keys typed, one per stop.
    keys: VecDeque<&'static str>,
    /// Every stop's text.
    stops: Vec<String>,
    /// Every segment seen (in or out), stopped at or not: (time ms, dir, flags).
    seen: usize,
}

impl Stepped {
    fn new(t: Harness, keys: &[&'static str]) -> Stepped {
        Stepped {
            t,
            stepper: Stepper::new(),
            keys: keys.iter().copied().collect(),
            stops: Vec::new(),
            seen: 0,
        }
    }

    #[track_caller]
    fn at(&mut self, dir: Dir, pkt: &[u8]) {
        self.seen += 1;
        let now = instant(self.t.now_ms);
        if let Some(text) = step::at_segment(&mut self.stepper, &self.t.stack, now, dir, pkt) {
            self.stops.push(text);
            let key = self.keys.pop_front().expect("a stop with no key left");
            assert_eq!(self.stepper.key(Some(key)), Key::Go);
        }
    }

    /// Sends what the stack has, one segment at a time, stopping after each.
    fn output(&mut self) {
        let mut buf = vec![0u8; 65536];
        let now = instant(self.t.now_ms);
        while let Some(n) = self.t.stack.poll_transmit(now, &mut buf) {
            let pkt = buf[..n].to_vec();
            self.at(Dir::Out, &pkt);
        }
    }

    /// Fires the timers due until `ms` at their own times.
    fn advance(&mut self, ms: u64) {
        while let Some(t) = self.t.stack.poll_timeout().filter(|&t| t <= instant(ms)) {
            self.t.now_ms = self.t.now_ms.max(t.millis());
            self.t.stack.handle_timeout(t.max(instant(self.t.now_ms)));
            self.output();
        }
        self.t.now_ms = ms;
    }

    /// The peer's segment at `ms`: a stop before the stack sees it, then its answers.
    fn send(&mut self, ms: u64, spec: Spec) {
        self.advance(ms);
        let pkt = self.t.build(&spec);
        self.at(Dir::In, &pkt);
        self.t.stack.handle_packet(instant(ms), &pkt);
        self.output();
    }
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().map(str::trim_end).collect()
}

#[test]
fn each_stop_shows_the_segment_and_the_tcb_from_handshake_to_fast_retransmit() {
    let mut s = Stepped::new(Harness::server(80), &["n"; 64]);
    let (p, us) = (s.t.peer, s.t.us);
    // The peer's SYN: MSS 1000, SACK, no timestamps or window scaling.
    s.send(0, seg().syn().seq(1000).mss(1000).sack_perm());
    assert_eq!(
        lines(&s.stops[0]),
        vec![
            format!(
                "    0.000s in  {p} > {us} [S] seq 1000 win 65535 <mss 1000,nop,nop,sackOK> len 0"
            ),
            "           no connection (yet: a listener, a SYN cookie, or none)".into(),
        ]
    );
    // After our SYN-ACK: SYN-RECEIVED, the SYN in flight, the RTO at RFC 6298's 1 s.
    let iss: u32 = s.stops[1]
        .split("seq ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        lines(&s.stops[1]),
        vec![
            format!(
                "    0.000s out {us} > {p} [S.] seq {iss} ack 1001 win 65535 <mss 1460,nop,nop,sackOK> len 0"
            ),
            format!(
                "           SYN-RECEIVED  SND.UNA {iss} SND.NXT {} SND.WND 65535  RCV.NXT 1001 RCV.WND 65535",
                iss + 1
            ),
            "           cwnd 10000 ssthresh -  srtt - rttvar - RTO 1000.000ms  timers: rto 1000.000ms  in flight 1 SACKed 0".into(),
        ]
    );
    // The handshake's ACK 10 ms later: the stop comes before the stack sees it, so the
    // TCB is still SYN-RECEIVED with 990 ms left on the timer.
    s.send(10, seg().ack_flag().seq(1001).ack(iss + 1));
    assert_eq!(
        lines(&s.stops[2])[1..],
        [
            format!(
                "           SYN-RECEIVED  SND.UNA {iss} SND.NXT {} SND.WND 65535  RCV.NXT 1001 RCV.WND 65535",
                iss + 1
            ),
            "           cwnd 10000 ssthresh -  srtt - rttvar - RTO 1000.000ms  timers: rto 990.000ms  in flight 1 SACKed 0".into(),
        ]
    );
    let h = s.t.stack.accept(80).expect("accepted");
    // Five segments out; each stop shows the flight growing and the RTO timer running
    // (RFC 6298 2.2: SRTT 10 ms, RTTVAR 5 ms, RTO raised to the 200 ms minimum) and the
    // tail loss probe (RFC 8985 §7.2: 2 SRTT, plus Linux's 2 ms).
    let d = iss + 1;
    s.t.stack.send(h, &[7u8; 5000]).unwrap();
    s.output();
    assert_eq!(s.stops.len(), 8);
    assert_eq!(
        lines(&s.stops[7]),
        vec![
            format!("    0.010s out {us} > {p} [P.] seq {} ack 1001 win 65535 len 1000", d + 4000),
            format!(
                "           ESTABLISHED  SND.UNA {d} SND.NXT {} SND.WND 65535  RCV.NXT 1001 RCV.WND 65535",
                d + 5000
            ),
            "           cwnd 10000 ssthresh -  srtt 10.000ms rttvar 5.000ms RTO 200.000ms  timers: tlp 22.000ms, rto 200.000ms  in flight 5000 SACKed 0".into(),
        ]
    );
    // The first segment is lost: three SACKs for the others. The third makes three
    // segments SACKed above it (RFC 6675 DupThresh): the fast retransmit leaves at once,
    // ssthresh 0.7 x the 5000 bytes in flight (CUBIC, RFC 9438 §4.6), cwnd as PRR
    // (RFC 6937) lets it grow back (as `ss` shows it).
    for k in [1u32, 2, 3] {
        s.send(
            20,
            seg()
                .ack_flag()
                .seq(1001)
                .ack(d)
                .sack(&[(d + 1000, d + 1000 + 1000 * k)]),
        );
    }
    let last = s.stops.last().unwrap();
    assert_eq!(
        lines(last),
        vec![
            format!("    0.020s out {us} > {p} [.] seq {d} ack 1001 win 65535 len 1000"),
            format!(
                "           ESTABLISHED (recovery)  SND.UNA {d} SND.NXT {} SND.WND 65535  RCV.NXT 1001 RCV.WND 65535",
                d + 5000
            ),
            // The resend of the first segment restarted the RTO (200 ms from 20 ms).
            "           cwnd 2000 ssthresh 3500  srtt 10.000ms rttvar 5.000ms RTO 200.000ms  timers: rto 200.000ms  in flight 5000 SACKed 3000".into(),
        ],
        "{}",
        s.stops.join("\n")
    );
    assert!(s.stops.len() == s.seen, "n stops at every segment");
}

#[test]
fn c_runs_to_the_first_segment_after_a_state_change_and_q_runs_freely() {
    // SYN in: c. The SYN-ACK out is the first segment of the new connection (a change).
    let mut s = Stepped::new(Harness::server(80), &["c", "c", "c", "q"]);
    s.send(0, seg().syn().seq(1000));
    assert_eq!(s.stops.len(), 2);
    assert!(s.stops[1].contains("SYN-RECEIVED"), "{}", s.stops[1]);
    // c again: the ACK in shows SYN-RECEIVED (no change yet); the data segment that
    // follows is the first one seen in ESTABLISHED.
    let iss: u32 = s.stops[1]
        .split("seq ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    s.send(10, seg().ack_flag().seq(1001).ack(iss + 1));
    assert_eq!(s.stops.len(), 2);
    s.send(
        20,
        seg().ack_flag().psh().seq(1001).ack(iss + 1).data(b"hello"),
    );
    assert_eq!(s.stops.len(), 3);
    assert!(
        s.stops[2].contains("len 5\n           ESTABLISHED "),
        "{}",
        s.stops[2]
    );
    // c: the peer's FIN is seen in ESTABLISHED (before the stack), its ACK after it in
    // CLOSE-WAIT: a stop. q there: nothing stops again.
    s.send(40, seg().ack_flag().fin().seq(1006).ack(iss + 1));
    assert_eq!(s.stops.len(), 4, "{}", s.stops.join("\n"));
    assert!(s.stops[3].contains("CLOSE-WAIT "), "{}", s.stops[3]);
    assert_eq!(s.stepper.mode(), Mode::Free);
    let h = s.t.stack.accept(80).expect("accepted");
    s.t.stack.close(h);
    s.output();
    s.send(60, seg().ack_flag().seq(1007).ack(iss + 2));
    assert_eq!(s.stops.len(), 4);
    assert!(s.seen > 6);
    assert_eq!(s.t.stack.connection(h).map(|c| c.state()), None::<State>);
}

#[test]
fn keys() {
    let mut st = Stepper::new();
    assert_eq!(st.mode(), Mode::Step);
    assert!(matches!(st.key(Some("x\n")), Key::Help(_)));
    assert_eq!(st.mode(), Mode::Step, "an unknown key changes nothing");
    assert_eq!(st.key(Some("c\n")), Key::Go);
    assert_eq!(st.mode(), Mode::UntilStateChange);
    assert_eq!(st.key(Some("\n")), Key::Go, "Enter is n");
    assert_eq!(st.mode(), Mode::Step);
    assert_eq!(st.key(Some(" q ")), Key::Go);
    assert_eq!(st.mode(), Mode::Free);
    let mut st = Stepper::new();
    assert_eq!(st.key(None), Key::Go, "end of input");
    assert_eq!(st.mode(), Mode::Free);
}

#[test]
fn state_changes_are_per_connection_and_their_memory_is_bounded() {
    let a = |p: u16| std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 1), p);
    let us = a(80);
    let mut st = Stepper::new();
    st.key(Some("c"));
    // A segment with no connection behind it (a SYN to a listener) is no change.
    assert!(!st.stop_at(us, a(1), None));
    assert_eq!(st.mode(), Mode::UntilStateChange);
    // The connection appears: a change, and stepping resumes.
    assert!(st.stop_at(us, a(1), Some(State::SynReceived)));
    assert_eq!(st.mode(), Mode::Step);
    st.key(Some("c"));
    // Another connection's first sight is a change of its own; the first one's same
    // state is not.
    assert!(!st.stop_at(us, a(1), Some(State::SynReceived)));
    assert!(st.stop_at(us, a(2), Some(State::Established)));
    st.key(Some("c"));
    assert!(st.stop_at(us, a(1), Some(State::Established)));
    st.key(Some("c"));
    // Going away (no connection after one) is a change too.
    assert!(st.stop_at(us, a(1), None));
    // Ten thousand tuples: the memory is cleared at 4,096, which costs at most a stop.
    st.key(Some("c"));
    let b = |p: u16| std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 2), p);
    for p in 0..10_000u16 {
        assert!(!st.stop_at(us, b(p), None));
    }
    assert_eq!(st.mode(), Mode::UntilStateChange);
}

#[test]
fn the_screen_says_the_peers_clock_keeps_running() {
    assert!(step::BANNER.contains("The kernel peer's clock keeps running"));
    assert!(step::PROMPT.contains("the peer's clock is running"));
    // Not TCP: no stop.
    let mut st = Stepper::new();
    let t = Harness::server(80);
    let icmp = icmp_packet(tuntcp::wire::IcmpMessage::EchoRequest {
        ident: 1,
        seq: 1,
        data: b"x",
    });
    assert_eq!(
        step::at_segment(&mut st, &t.stack, instant(0), Dir::In, &icmp),
        None
    );
}

#[test]
fn ipv6_segments_stop_with_their_bracketed_line_and_the_connections_tcb() {
    let mut s = Stepped::new(Harness::server6(80), &["n"; 8]);
    let (p, us) = (s.t.peer, s.t.us);
    s.send(0, seg().syn().seq(1000).mss(1440));
    assert_eq!(
        lines(&s.stops[0]),
        vec![
            format!("    0.000s in  {p} > {us} [S] seq 1000 win 65535 <mss 1440> len 0"),
            "           no connection (yet: a listener, a SYN cookie, or none)".into(),
        ]
    );
    assert!(
        s.stops[0].contains("[fd66::1]:5555 > [fd66::2]:80 [S]"),
        "{}",
        s.stops[0]
    );
    // The SYN-ACK out belongs to the IPv6 connection: its TCB is shown (MSS 1440 each way).
    assert_eq!(s.stops.len(), 2, "{}", s.stops.join("\n"));
    let l = lines(&s.stops[1]);
    assert!(
        l[0].contains(&format!("out {us} > {p} [S.] ")) && l[0].contains("<mss 1440>"),
        "{}",
        l[0]
    );
    assert!(
        l[1].trim_start().starts_with("SYN-RECEIVED  SND.UNA "),
        "{}",
        l[1]
    );
    // The tuple of an IPv6 segment, either way; not TCP (Next Header 58): none.
    let mut pkt = s.t.build(&seg().syn().seq(5));
    assert_eq!(step::tuple(Dir::In, &pkt), Some((us, p)));
    assert_eq!(step::tuple(Dir::Out, &pkt), Some((p, us)));
    pkt[6] = 58;
    assert_eq!(step::tuple(Dir::In, &pkt), None);
}
