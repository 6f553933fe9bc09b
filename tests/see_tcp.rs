//! Watching a connection (issue 20): the sender-state trace records (`--trace`) and the
//! time spent in each state (`-v` at close, like bcc's `tcpstates`), on the virtual clock.

mod support;

use support::*;
use tuntcp::tcp::{CaState, State};
use tuntcp::time::Duration;
use tuntcp::trace::{TraceEvent, TraceRecord};

fn records(t: &mut Harness) -> Vec<TraceRecord> {
    std::iter::from_fn(|| t.stack.poll_trace()).collect()
}

/// (time ms, event, acked or timer, cwnd, ssthresh, srtt ms, rto ms, in flight)
fn row(r: &TraceRecord) -> (u64, String, u32, Option<u32>, Option<u64>, u64, u32) {
    let ev = match &r.event {
        TraceEvent::Ack { acked } => format!("ack {acked}"),
        TraceEvent::Timer(n) => n.clone(),
    };
    (
        r.at.millis(),
        ev,
        r.cwnd,
        r.ssthresh,
        r.srtt.map(|d| d.millis()),
        r.rto.millis(),
        r.in_flight,
    )
}

#[test]
fn trace_has_one_record_per_ack_and_per_timer_with_the_sender_state() {
    let mut t = Harness::server(80);
    t.stack.set_trace(true);
    // Handshake with a 10 ms RTT; the peer's MSS 1000, no SACK, no timestamps.
    let (h, iss) = t.establish_rtt(0, 10, 1000, seg().mss(1000));
    let d = iss + 1;
    t.stack.send(h, &[7u8; 3000]).unwrap();
    t.flush();
    assert_eq!(t.drain().len(), 3);
    // The peer ACKs the first two segments at 20 ms; the third is lost.
    t.send(20, seg().ack_flag().seq(1001).ack(d + 2000));
    // Nothing more: the retransmission timer fires and the third segment goes again.
    t.expect_between(21, 1500, seg().seq(d + 2000).len(1000));
    let rto_at = t.now_ms;
    t.send(rto_at + 10, seg().ack_flag().seq(1001).ack(d + 3000));
    let r = records(&mut t);
    let rows: Vec<_> = r.iter().map(row).collect();
    assert_eq!(
        rows,
        vec![
            // The handshake's ACK: the SYN acknowledged, the first RTT sample (RFC 6298
            // 2.2: SRTT = R, RTO = SRTT + 4 * R/2 = 30 ms, raised to the 200 ms minimum).
            (10, "ack 1".into(), 10_000, None, Some(10), 200, 0),
            // Two segments acknowledged in slow start, but cwnd does not grow: three
            // segments in flight never used a window of ten (RFC 7661; slow start grows
            // cwnd only up to twice the most in flight, as Linux).
            (20, "ack 2000".into(), 10_000, None, Some(10), 200, 1000),
            // At 20 + 200 ms: RFC 5681 (4): ssthresh = max(FlightSize / 2, 2 * SMSS),
            // cwnd = 1 SMSS (loss window); RFC 6298 5.5: the RTO doubles.
            (220, "rto".into(), 1000, Some(2000), Some(10), 400, 1000),
            // The retransmission acknowledged: slow start again, cwnd + 1 SMSS.
            (230, "ack 1000".into(), 2000, Some(2000), Some(10), 400, 0),
        ],
        "{:#?}",
        r
    );
    let first = &r[0];
    assert_eq!((first.local, first.remote), (t.us, t.peer));
    assert_eq!(first.state, State::Established);
    assert_eq!(r[2].ca_state, CaState::Loss);
    // Taken after the timeout, before output: SND.NXT went back to SND.UNA (go-back-N)
    // and the retransmission has not left yet; SND.MAX is still 3000 above.
    assert_eq!((r[2].snd_una, r[2].snd_nxt), (d + 2000, d + 2000));
    // The records survive their JSON lines.
    for rec in &r {
        assert_eq!(TraceRecord::from_json(&rec.to_json()).as_ref(), Some(rec));
    }
}

#[test]
fn no_records_unless_asked_for() {
    let mut t = Harness::server(80);
    let (h, _) = t.establish_rtt(0, 10, 1000, seg().mss(1000));
    t.stack.send(h, &[7u8; 1000]).unwrap();
    t.flush();
    t.advance(3000);
    assert!(t.stack.poll_trace().is_none());
}

#[test]
fn state_times_are_kept_at_the_times_passed_in() {
    let mut t = Harness::server(80);
    let (h, iss) = t.establish_rtt(0, 10, 1000, seg());
    // The peer closes at 1010 ms; we close at 1500 ms (close() carries no time: the next
    // timed call, the stack's poll_transmit, stamps it); the peer ACKs our FIN at 1520 ms.
    t.send(1010, seg().fin().ack_flag().seq(1001).ack(iss + 1));
    t.expect(1010, seg().ack_flag().ack(1002));
    t.advance(1500);
    t.stack.close(h);
    t.flush();
    t.expect(1500, seg().fin().ack_flag().seq(iss + 1));
    let c = t.stack.connection(h).expect("open");
    assert_eq!(
        c.state_times().spans(instant(1515)),
        vec![
            (State::SynReceived, Duration::from_millis(10)),
            (State::Established, Duration::from_millis(1000)),
            (State::CloseWait, Duration::from_millis(490)),
            (State::LastAck, Duration::from_millis(15)),
        ]
    );
    capture_log();
    t.send(1520, seg().ack_flag().seq(1002).ack(iss + 2));
    assert_eq!(t.state(h), State::Closed);
    // What -v prints when the connection closes (the connection is gone from the table).
    let lines: Vec<String> = LOG
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("state times"))
        .cloned()
        .collect();
    assert_eq!(
        lines,
        vec![
            "10.66.0.1:5555 state times: SYN-RECEIVED 0.010s, ESTABLISHED 1.000s, \
             CLOSE-WAIT 0.490s, LAST-ACK 0.020s (1.520s in all)"
        ]
    );
}

/// The crate's log lines, kept for the test that looks at them (the only test here that
/// closes a connection).
struct Capture {
    lines: std::sync::Mutex<Vec<String>>,
}

static LOG: Capture = Capture {
    lines: std::sync::Mutex::new(Vec::new()),
};

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target().starts_with("tuntcp")
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.lines.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn capture_log() {
    let _ = log::set_logger(&LOG);
    log::set_max_level(log::LevelFilter::Debug);
}

/// The ACK that completes a SYN-cookie connection (no TCB until it came) has its record,
/// like the handshake's ACK of a SYN-RECEIVED connection: the SYN-ACK acknowledged.
#[test]
fn the_ack_that_completes_a_syn_cookie_connection_is_traced() {
    let cfg = tuntcp::stack::StackConfig {
        max_syn_backlog: 1,
        ..Harness::config()
    };
    let mut t = Harness::server_with(80, cfg);
    t.stack.set_trace(true);
    // The first SYN fills the SYN queue; the second (another port) gets a cookie.
    t.send(0, seg().syn().seq(1000));
    t.drain();
    let b = std::net::SocketAddr::new(t.peer.ip(), 6666);
    t.send(10, seg().syn().seq(5000).mss(1460).from(b));
    let sa = t.expect(
        10,
        seg()
            .flags(tuntcp::wire::TcpFlags::SYN | tuntcp::wire::TcpFlags::ACK)
            .to(b),
    );
    assert_eq!(t.stack.counters().tcp_ext_syncookies_sent, 1);
    assert!(t.stack.poll_trace().is_none(), "a SYN is no ACK");
    t.send(40, seg().ack_flag().seq(5001).ack(sa.seq + 1).from(b));
    assert_eq!(t.stack.counters().tcp_ext_syncookies_recv, 1);
    let r = records(&mut t);
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!((r[0].remote, r[0].state), (b, State::Established));
    assert_eq!(r[0].event, TraceEvent::Ack { acked: 1 });
    assert_eq!((r[0].snd_una, r[0].in_flight), (sa.seq + 1, 0));
    // No RTT sample: the cookie kept no time of the SYN-ACK (and no timestamps here).
    assert_eq!((r[0].at.millis(), r[0].srtt), (40, None));
}
