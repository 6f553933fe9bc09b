//! An ACK of data not yet sent (SEG.ACK > SND.NXT): RFC 9293 §3.10.7.4 and RFC 5961 §5.2
//! drop it and answer with an ACK; Linux drops it silently (`answer_unsent_ack` off, as
//! packetdrill's `ts_recent/invalid_ack` expects). Either way it changes nothing.

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
