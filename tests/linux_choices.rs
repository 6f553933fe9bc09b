//! Choices where the RFCs and Linux differ, each a knob the packetdrill profile sets:
//! - an ACK of data not yet sent (SEG.ACK > SND.NXT): RFC 9293 §3.10.7.4 and RFC 5961
//!   §5.2 drop it and answer with an ACK; Linux drops it silently (`answer_unsent_ack`
//!   off, as packetdrill's `ts_recent/invalid_ack` expects). Either way it changes nothing;
//! - when a read announces the space it freed: RFC 9293 §3.8.6.2.2's SWS threshold, or
//!   Linux's `tcp_cleanup_rbuf` (`rcv_update_when_doubled`, `blocking/blocking-read`).

mod support;

use support::*;

fn answers(answer_unsent_ack: bool) -> Vec<Owned> {
    let mut cfg = Harness::config();
    cfg.tcp.answer_unsent_ack = answer_unsent_ack;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000).win(20_000));
    // 100 ms: a FIN whose ACK lies 9998 past SND.NXT: dropped (the FIN is not taken).
    t.send(at(100), seg().fin().ack_flag().seq(1001).ack(iss + 9999));
    let out = t.drain();
    assert_eq!(t.state(h), tuntcp::tcp::State::Established);
    // Data after it is taken and ACKed as usual.
    t.send(at(100), seg().seq(1001).ack(iss + 1).data(&[7; 1000]));
    t.advance(200);
    assert!(t.drain().iter().any(|s| s.ack == 2001), "data ACKed");
    out
}

#[test]
fn an_ack_of_unsent_data_is_dropped_with_an_ack_by_default() {
    let out = answers(true);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].ack, 1001);
    assert!(out[0].payload.is_empty());
}

#[test]
fn with_answer_unsent_ack_off_an_ack_of_unsent_data_is_dropped_silently() {
    assert!(answers(false).is_empty());
}

/// The peer fills 5000 of an 8000-byte buffer (no window scaling): the window it sees is
/// 3000. Then the application reads 1000 bytes at a time, and the offer is 2875 + 1000 per
/// read (125 bytes of the buffer are kept back for rounding): at which reads (1-based) a
/// window update goes out.
fn window_updates(on_doubling: bool) -> Vec<usize> {
    let mut cfg = Harness::config();
    cfg.tcp.recv_buffer = 8000;
    cfg.tcp.rcv_update_when_doubled = on_doubling;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish(0, 1000, seg().mss(1000).win(20_000));
    for k in 0..5u32 {
        t.send(
            at(10),
            seg().seq(1001 + k * 1000).ack(iss + 1).data(&[1; 1000]),
        );
    }
    t.advance(100);
    let acks = t.drain();
    assert_eq!(acks.last().map(|s| (s.ack, s.window)), Some((6001, 3000)));
    let mut updates = Vec::new();
    for read in 1..=4 {
        let mut buf = [0u8; 1000];
        assert_eq!(t.stack.recv(h, &mut buf), Ok(1000));
        t.flush();
        if t.drain()
            .iter()
            .any(|s| s.ack == 6001 && s.payload.is_empty())
        {
            updates.push(read);
        }
    }
    updates
}

#[test]
fn a_read_announces_freed_space_once_it_passes_the_sws_threshold() {
    // RFC 9293 §3.8.6.2.2: each time the offer has grown by min(RCV.BUFF/2, MSS) = 1460
    // past the edge last advertised: 1875 at the 2nd read, 2000 more at the 4th.
    assert_eq!(window_updates(false), vec![2, 4]);
}

#[test]
fn with_rcv_update_when_doubled_a_read_announces_space_once_the_window_doubles() {
    // Linux tcp_cleanup_rbuf: the peer sees 3000 (under half the buffer); the offer
    // reaches 2 x 3000 only at the 4th read (6875). Nothing at the 2nd.
    assert_eq!(window_updates(true), vec![4]);
}
