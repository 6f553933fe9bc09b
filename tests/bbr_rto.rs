//! BBR (v1) and the end of RTO recovery, as a trace against a scripted peer
//! (draft-cardwell-iccrg-bbr-congestion-control-00 §4.2.3.4: upon exiting loss recovery,
//! RTO recovery or fast recovery, BBR restores the cwnd it had before; Linux's
//! `bbr_set_cwnd_to_recover_or_restore` leaving `TCP_CA_Loss`).
//!
//! The connection: 20 ms RTT (SYN-ACK at 0, the peer's ACK at 20 ms), MSS 1000, no
//! timestamps, SACK; RTO at its 200 ms floor, RACK's reordering window 5 ms.

mod support;

use support::*;
use tuntcp::stack::SocketHandle;
use tuntcp::tcp::congestion::Algorithm;

fn ack(t: &mut Harness, ms: u64, a: u32, blocks: &[(u32, u32)]) {
    t.send(ms, seg().ack_flag().seq(1001).ack(a).sack(blocks));
}

fn cwnd(t: &Harness, h: SocketHandle) -> u32 {
    t.stack.connection(h).unwrap().cwnd()
}

/// A peer 20 ms of round trip away, from `from` ms up to (not including) `to` ms, one
/// millisecond at a time: what was sent in millisecond `m` arrives at `m + 20`, and each
/// millisecond in which something arrived ends with one ACK of it (with a SACK block
/// above a hole). Every copy of the segment starting at `lose` is lost. `got` is what the
/// peer holds (one contiguous range above RCV.NXT at most, which is all these traces need).
struct Peer {
    sent: Vec<(u64, u32, u32)>,
    rcv_nxt: u32,
    above: Option<(u32, u32)>,
    lose: Option<u32>,
}

impl Peer {
    fn run(&mut self, t: &mut Harness, from: u64, to: u64) {
        for m in from..to {
            let mut arrived = false;
            for &(_, seq, end) in self.sent.iter().filter(|&&(at, _, _)| at + 20 == m) {
                if Some(seq) == self.lose {
                    continue;
                }
                arrived = true;
                if seq == self.rcv_nxt {
                    self.rcv_nxt = end;
                } else if seq.wrapping_sub(self.rcv_nxt) < 1 << 31 {
                    let (l, r) = self.above.unwrap_or((seq, end));
                    self.above = Some((l.min(seq), r.max(end)));
                }
                if self
                    .above
                    .is_some_and(|(l, r)| l <= self.rcv_nxt || r <= self.rcv_nxt)
                {
                    self.rcv_nxt = self.rcv_nxt.max(self.above.unwrap().1);
                    self.above = None;
                }
            }
            if arrived {
                let blocks: Vec<(u32, u32)> = self.above.into_iter().collect();
                ack(t, m, self.rcv_nxt, &blocks);
            } else {
                t.advance(m);
            }
            for s in t.drain() {
                self.sent.push((m, s.seq, s.seq + s.seq_len()));
            }
        }
    }
}

#[test]
fn bbr_restores_its_cwnd_when_rto_recovery_ends() {
    let mut cfg = Harness::config();
    cfg.tcp.congestion = Algorithm::Bbr;
    cfg.tcp.send_buffer = 1 << 20;
    let mut t = Harness::server_with(80, cfg);
    let (h, iss) = t.establish_rtt(0, 20, 1000, seg().mss(1000).sack_perm());
    let d = iss + 1;
    // 100 segments, each acknowledged 20 ms after it left: the initial window at 20 ms,
    // then STARTUP grows cwnd by what is delivered, paced at 2/ln 2 times the delivery
    // rate.
    assert_eq!(t.stack.send(h, &[7u8; 100_000]), Ok(100_000));
    let mut peer = Peer {
        sent: Vec::new(),
        rcv_nxt: d,
        above: None,
        lose: None,
    };
    peer.run(&mut t, 20, 70);
    let before = cwnd(&t, h);
    assert_eq!(before, 35_000, "STARTUP's cwnd at 70 ms");
    // Every copy of the segment at 47,000 (it leaves at 70 ms) is lost; the peer SACKs
    // what follows it. RACK resends it at 91 ms, once its ACK is overdue by the reordering
    // window; that copy is lost too, and nothing sent later can reveal it: all else is
    // SACKed by 110 ms.
    peer.lose = Some(d + 47_000);
    peer.run(&mut t, 70, 200);
    let hole_sends: Vec<u64> = peer
        .sent
        .iter()
        .filter(|&&(_, s, _)| s == d + 47_000)
        .map(|&(at, _, _)| at)
        .collect();
    assert_eq!(hole_sends, [70, 91]);
    let end = peer.sent.iter().map(|&(_, _, e)| e).max();
    assert_eq!(end, Some(d + 100_000), "all sent");
    assert_eq!(
        peer.above,
        Some((d + 48_000, d + 100_000)),
        "all else SACKed"
    );
    assert_eq!(t.stack.counters().get("TcpExtTCPTimeouts"), Some(0));
    // The RTO (200 ms floor, restarted by the resend of the first segment) sends it a
    // third time at 291 ms, and cwnd is one segment.
    t.expect_nothing_until(290);
    t.expect(291, seg().seq(d + 47_000).len(1000));
    assert_eq!(t.stack.counters().get("TcpExtTCPTimeouts"), Some(1));
    assert_eq!(cwnd(&t, h), 1000, "one segment after the RTO");
    // Its ACK at 311 ms covers everything sent before the timeout: RTO recovery ends and
    // cwnd is back to at least its value before recovery. Before the fix: 4000 (the floor
    // of 4 segments), regrown from there over log2(cwnd / MSS) round trips.
    ack(&mut t, 311, d + 100_000, &[]);
    assert!(
        cwnd(&t, h) >= before,
        "cwnd {} after RTO recovery, {before} at 70 ms",
        cwnd(&t, h)
    );
}
