//! `ss -ti`'s line for a connection (`Connection::info`, `report::ss_info`) after a
//! scripted exchange at explicit virtual times: every value follows from the trace.

mod support;

use support::*;
use tuntcp::stack::report::{self, SsOptions};
use tuntcp::tcp::CaState;
use tuntcp::time::Duration;
use tuntcp::wire::TcpFlags;

#[test]
fn ss_info_shows_linux_tcp_info_fields_computed_from_the_exchange() {
    let mut h = Harness::server(80);
    // Peer: MSS 1460, window scale 7, SACK, timestamps; its ACKs echo our TSvals 10 ms
    // later (RTT samples of 10 ms).
    h.send(
        at(0),
        seg().syn().seq(1000).mss(1460).ws(7).sack_perm().ts(100, 0),
    );
    let sa = h.expect(at(0), seg().flags(TcpFlags::SYN | TcpFlags::ACK));
    let (ts0, iss) = (sa.options.timestamps.unwrap().tsval, sa.seq);
    let una = iss + 1;
    h.send(at(10), seg().seq(1001).ack(una).win(1000).ts(101, ts0));
    let c = h.stack.accept(80).unwrap();
    // At 10 ms, 3000 bytes: 1448 + 1448 + 104 (the timestamp option takes 12 of 1460).
    h.stack.send(c, &[7; 3000]).unwrap();
    h.flush();
    assert_eq!(h.drain().len(), 3);
    h.send(
        at(30),
        seg().seq(1001).ack(una + 2896).win(1000).ts(102, ts0 + 20),
    );
    h.send(
        at(40),
        seg()
            .seq(1001)
            .ack(una + 2896)
            .win(1000)
            .ts(103, ts0 + 20)
            .data(&[1; 500]),
    );
    // The connection's first data: a quick ACK (Linux's quick-ACK mode), not delayed.
    h.expect(at(40), seg().flags(TcpFlags::ACK).ack(1501));

    let i = h.stack.connection(c).unwrap().info(instant(100));
    assert_eq!(i.wscale, Some((7, 7)), "shift 7, from tcp_rmem[2] (6 MiB)");
    // RFC 6298: 10/5 after the first sample, rttvar 3/4 of that after the second.
    assert_eq!(
        i.rtt,
        Some((Duration::from_millis(10), Duration::from_micros(3750)))
    );
    assert_eq!(i.min_rtt, Some(Duration::from_millis(10)));
    assert_eq!(i.rto, Duration::from_millis(200), "the 200 ms floor");
    assert_eq!(
        (i.mss, i.advmss, i.pmtu, i.rcv_mss),
        (1448, 1460, 1500, 536)
    );
    assert_eq!(
        (i.bytes_sent, i.bytes_acked, i.bytes_received),
        (3000, 2896, 500)
    );
    assert_eq!(
        (i.segs_out, i.segs_in, i.data_segs_out, i.data_segs_in),
        (5, 4, 3, 1)
    );
    assert_eq!(i.unacked, 1, "the 104-byte segment");
    assert_eq!(i.snd_wnd, 1000 << 7);
    assert_eq!(
        (i.last_send, i.last_recv, i.last_ack, i.busy),
        (
            Duration::from_millis(90),
            Duration::from_millis(60),
            Duration::from_millis(60),
            Duration::from_millis(90)
        )
    );
    // Slow start (no ssthresh yet): pacing at 200% of cwnd * mss / srtt.
    let cwnd_bytes = u64::from(i.cwnd * i.mss);
    assert_eq!(i.send_bps, Some(cwnd_bytes * 8 * 100));
    assert_eq!(i.pacing_bps, Some(cwnd_bytes * 8 * 100 * 2));
    let line = report::ss_info(&i);
    assert!(
        line.starts_with("ts sack cubic wscale:7,7 rto:200 rtt:10/3.75 ato:40 mss:1448 pmtu:1500 rcvmss:536 advmss:1460 cwnd:"),
        "{line}"
    );
    assert!(
        line.contains(" bytes_sent:3000 bytes_acked:2896 bytes_received:500 segs_out:5 segs_in:4 data_segs_out:3 data_segs_in:1 send "),
        "{line}"
    );
    assert!(
        line.contains("bps lastsnd:90 lastrcv:60 lastack:60 pacing_rate "),
        "{line}"
    );
    assert!(
        // rcv_wnd: the first 64 KiB (tcp_rmem[1] / 2) less 500 unread and the 1 KiB
        // rounding reserve, rounded up to the 128-byte unit of scale 7: as advertised.
        // rcv_space: auto-tuning's first guess, an initial window (10 x our MSS 1460).
        line.ends_with(
            " busy:90ms unacked:1 rcv_space:14600 minrtt:10 snd_wnd:128000 rcv_wnd:64128"
        ),
        "{line}"
    );

    // The last segment is lost. The tail loss probe (RFC 8985 §7.2: 2 * SRTT + 200 ms for
    // one segment in flight, capped at the RTO armed at 30 ms) resends it at 230 ms without
    // a backoff; the timeout 200 ms later resends it again (backoff 1, one retransmission
    // outstanding), and the peer's ACK carries a D-SACK for a copy (RFC 2883).
    h.expect(at(230), seg().seq(una + 2896).len(104));
    let i = h.stack.connection(c).unwrap().info(instant(240));
    assert_eq!(
        (i.backoff, i.retrans, i.total_retrans, i.bytes_retrans),
        (0, 1, 1, 104)
    );
    h.expect(at(430), seg().seq(una + 2896).len(104));
    let i = h.stack.connection(c).unwrap().info(instant(440));
    assert_eq!(
        (i.backoff, i.retrans, i.total_retrans, i.bytes_retrans),
        (1, 1, 2, 208)
    );
    assert!(report::ss_info(&i).contains(" backoff:1 "));
    assert!(report::ss_info(&i).contains(" bytes_retrans:208 "));
    assert!(report::ss_info(&i).contains(" retrans:1/2 "));
    h.send(
        at(450),
        seg()
            .seq(1501)
            .ack(una + 3000)
            .win(1000)
            .ts(104, ts0 + 430)
            .sack(&[(una + 2896, una + 3000)]),
    );
    let i = h.stack.connection(c).unwrap().info(instant(460));
    assert_eq!((i.dsack_dups, i.unacked, i.retrans), (1, 0, 0));
    assert!(report::ss_info(&i).contains(" retrans:0/2 dsack_dups:1 "));

    // And in the `ss -ti` table, under its connection line.
    let table = report::ss(
        &h.stack,
        SsOptions {
            info: true,
            ..SsOptions::default()
        },
        instant(460),
    );
    assert!(table.contains("ESTAB"), "{table}");
    assert!(table.contains("\tts sack cubic wscale:7,7 "), "{table}");
}

#[test]
fn last_data_recv_counts_from_the_handshakes_end() {
    // Linux's tcpi_last_data_recv before any data: from when the connection became
    // ESTABLISHED (tcp_finish_connect sets icsk_ack.lrcvtime), not from connect().
    let mut h = Harness::with_config(Harness::config());
    let c = h.stack.connect(instant(0), h.peer).expect("connect");
    h.flush();
    let syn = h.expect(at(0), seg().flags(TcpFlags::SYN));
    h.us = syn.src;
    h.send(at(30), seg().syn().ack_flag().seq(5000).ack(syn.seq + 1));
    h.expect(at(30), seg().flags(TcpFlags::ACK).ack(5001));
    let i = h.stack.connection(c).unwrap().info(instant(1030));
    assert_eq!(i.last_recv, Duration::from_millis(1000));
}

#[test]
fn busy_time_runs_from_a_send_to_the_ack_of_everything() {
    // tcpi_busy_time: time with data in flight, 10 ms to 110 ms here.
    let mut h = Harness::server(80);
    let (c, iss) = h.establish(at(0), 1000, seg());
    h.advance(at(10));
    h.stack.send(c, b"hello").unwrap();
    h.flush();
    h.expect(at(10), seg().flags(TcpFlags::ACK | TcpFlags::PSH).len(5));
    h.send(at(110), seg().ack_flag().seq(1001).ack(iss + 6));
    let info = h.stack.connection(c).unwrap().info(instant(500));
    assert_eq!(info.busy, Duration::from_millis(100));
}

#[test]
fn ca_state_follows_disorder_recovery_and_loss() {
    // Linux's tcpi_ca_state: Open, Disorder (something SACKed, no recovery yet), Recovery
    // (fast recovery), Loss (after a timeout, until SND.UNA passes what was sent then).
    let mut h = Harness::server(80);
    let (c, iss) = h.establish_rtt(0, 100, 1000, seg().mss(1000).sack_perm());
    let una = iss + 1;
    let state = |h: &Harness, ms| h.stack.connection(c).unwrap().info(instant(ms)).ca_state;
    h.advance(100);
    assert_eq!(state(&h, 100), CaState::Open);
    h.stack.send(c, &[7; 10000]).unwrap();
    h.flush();
    assert_eq!(h.drain().len(), 10, "IW10 of 1000-byte segments");

    // The second segment is SACKed: Disorder.
    h.send(
        at(200),
        seg().seq(1001).ack(una).sack(&[(una + 1000, una + 2000)]),
    );
    let i = h.stack.connection(c).unwrap().info(instant(200));
    assert_eq!((i.ca_state, i.sacked, i.lost), (CaState::Disorder, 1, 0));
    // RACK (RFC 8985 §6.2) marks the first lost a reordering window (min_rtt / 4) after
    // an RTT: fast recovery resends it.
    h.expect(at(225), seg().seq(una).len(1000));
    assert_eq!(state(&h, 225), CaState::Recovery);
    // Everything acknowledged: recovery is over.
    h.send(at(300), seg().seq(1001).ack(una + 10000));
    assert_eq!(state(&h, 300), CaState::Open);

    // A lost segment and no answer: the tail loss probe, then the timeout (Loss).
    h.stack.send(c, &[7; 1000]).unwrap();
    h.flush();
    h.expect(at(300), seg().seq(una + 10000).len(1000));
    h.advance(3000);
    let sent = h.drain();
    assert!(sent.len() >= 2, "TLP and RTO resends: {}", sent.len());
    let i = h.stack.connection(c).unwrap().info(instant(3000));
    assert!(i.backoff > 0);
    assert_eq!(i.ca_state, CaState::Loss);
    h.send(at(3000), seg().seq(1001).ack(una + 11000));
    assert_eq!(state(&h, 3000), CaState::Open);
}

#[test]
fn probes_count_unanswered_zero_window_probes() {
    // Linux's tcpi_probes (icsk_probes_out): persist probes sent since the peer last
    // acknowledged anything.
    let mut h = Harness::server(80);
    let (c, iss) = h.establish_rtt(0, 100, 1000, seg().mss(1000));
    let una = iss + 1;
    h.send(at(100), seg().seq(1001).ack(una).win(0));
    h.stack.send(c, &[7; 100]).unwrap();
    h.flush();
    assert_eq!(h.stack.connection(c).unwrap().info(instant(100)).probes, 0);
    h.advance(5000);
    let sent = h.drain().len() as u32;
    assert!(sent >= 2, "persist probes sent: {sent}");
    let i = h.stack.connection(c).unwrap().info(instant(5000));
    assert_eq!(i.probes, sent);
    // The peer answers the last probe (still no window): the count starts over.
    h.send(at(5000), seg().seq(1001).ack(una).win(0));
    assert_eq!(h.stack.connection(c).unwrap().info(instant(5000)).probes, 0);
}

#[test]
fn reordering_grows_to_the_distance_a_late_segment_lay_below_the_highest_sacked() {
    // Linux's tcpi_reordering (tcp_check_sack_reordering): 3 until an original segment
    // is delivered below the highest SACKed byte, then that distance in segments.
    let mut h = Harness::server(80);
    let (c, iss) = h.establish_rtt(0, 20, 1000, seg().mss(1000).sack_perm());
    let una = iss + 1;
    let reordering = |h: &Harness| h.stack.connection(c).unwrap().info(instant(40)).reordering;
    h.advance(20);
    h.stack.send(c, &[7; 10000]).unwrap();
    h.flush();
    assert_eq!(h.drain().len(), 10);
    let last = (una + 9000, una + 10000);
    h.send(at(40), seg().seq(1001).ack(una).sack(&[last]));
    assert_eq!(reordering(&h), 3, "nothing below the highest SACKed yet");
    // The fourth segment arrives 7 segments below the highest SACKed end.
    h.send(
        at(40),
        seg()
            .seq(1001)
            .ack(una)
            .sack(&[(una + 3000, una + 4000), last]),
    );
    assert_eq!(reordering(&h), 7);
    // The cumulative ACK delivers the first, never resent, 10 segments below.
    h.send(at(40), seg().seq(1001).ack(una + 10000));
    assert_eq!(reordering(&h), 10);
    let i = h.stack.connection(c).unwrap().info(instant(40));
    assert_eq!(i.reord_seen, 2, "two ACKs showed reordering");
}

#[test]
fn rcv_rtt_and_rcv_space_come_from_receive_buffer_auto_tuning() {
    // Linux's tcpi_rcv_rtt and tcpi_rcv_space (tcp_rcv_rtt_measure, tcp_rcv_space_adjust):
    // the receiver's RTT is the time RCV.NXT takes to pass the right edge advertised when
    // the measurement began; rcv_space the most the application read in one such RTT.
    let mut h = Harness::server(80);
    let (c, iss) = h.establish_rtt(0, 10, 1000, seg().mss(1000));
    let info = |h: &Harness, ms| h.stack.connection(c).unwrap().info(instant(ms));
    // The first data, at 10 ms: the measurements begin. No receiver RTT yet; rcv_space is
    // the first guess, an initial window (10 x our MSS 1460), as Linux's
    // tcp_init_buffer_space.
    h.send(at(10), seg().seq(1001).ack(iss + 1).data(&[1; 1000]));
    h.expect(at(10), seg().flags(TcpFlags::ACK).ack(2001));
    h.read_all(c);
    let i = info(&h, 10);
    assert_eq!((i.rcv_rtt, i.rcv_space), (None, 14_600));
    assert!(
        report::ss_info(&i).contains(" data_segs_in:1 send "),
        "{}",
        report::ss_info(&i)
    );
    assert!(report::ss_info(&i).contains(" rcv_space:14600 minrtt:10 "));
    // At 30 ms the peer fills the window the SYN-ACK offered (65535 from 1001, so up to
    // 66536), the application reading as it comes: the segment that passes that edge ends
    // the measurement, 20 ms after it began.
    let mut seq = 2001u32;
    while info(&h, 30).rcv_rtt.is_none() {
        assert!(seq < 66_536, "the window's edge passed without a sample");
        h.send(at(30), seg().seq(seq).ack(iss + 1).data(&[1; 1000]));
        seq += 1000;
        h.read_all(c);
    }
    assert_eq!(seq, 67_001, "ended by the segment 66001..67001");
    let i = info(&h, 30);
    assert_eq!(i.rcv_rtt, Some(Duration::from_millis(20)));
    // One receiver RTT after 30 ms, the next arrival counts what was read since: 65,000
    // bytes (2001..67001), more than the guess.
    h.send(at(50), seg().seq(seq).ack(iss + 1).data(&[1; 1000]));
    let i = info(&h, 50);
    assert_eq!(i.rcv_space, 65_000);
    let line = report::ss_info(&i);
    // Where ss prints them: after reord_seen, before notsent and minrtt.
    assert!(
        line.contains(" rcv_rtt:20 rcv_space:65000 minrtt:10 "),
        "{line}"
    );
}
