//! Issue 17: RACK's transmit records at their bound (`MAX_SEGS`, 1024) after a timeout.
//! Beyond the bound new data merges into the last record; when that merged record later
//! heads the queue and the RTO marks it lost, go-back-N resends its first segment. The
//! record must be split there: marked resent whole, `pipe` counted all of it in flight
//! and the sender, with a small cwnd, sent one segment per RTO (BBR into smoltcp, 50 ms,
//! 1%, seed 4: 43 RTOs, pipe some 29 segments at each). Segments of 100 bytes; times are
//! virtual.

use tuntcp::tcp::rack::{AckInput, Rack, MAX_SEGS};
use tuntcp::tcp::SeqNum;
use tuntcp::time::{Duration, Instant};

const MSS: u32 = 100;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn ack(now: u64, una: u32, nxt: u32) -> AckInput {
    AckInput {
        now: ms(now),
        snd_una: SeqNum(una),
        snd_nxt: SeqNum(nxt),
        advanced: true,
        dsack: None,
        min_rtt: Some(Duration::from_millis(100)),
        srtt: Some(Duration::from_millis(100)),
        in_recovery: false,
        smss: MSS,
        echo: None,
    }
}

/// Sends `n` segments from `from` at `now` (all new data); returns the end.
fn send(r: &mut Rack, now: u64, from: u32, n: u32) -> u32 {
    for i in 0..n {
        let s = from + i * MSS;
        r.on_send(ms(now), SeqNum(s), SeqNum(s + MSS), SeqNum(s));
    }
    from + n * MSS
}

#[test]
fn after_an_rto_at_the_record_bound_pipe_counts_only_the_resent_segment() {
    let mut r = Rack::new();
    let bound = MAX_SEGS as u32;
    // 0 ms: bound + 76 segments; the last 77 share one record [102300, 110000).
    let tail = (bound - 1) * MSS;
    let max = send(&mut r, 0, 0, bound + 76);
    assert_eq!((r.len(), max), (MAX_SEGS, 110_000));
    // 100 ms: ACK 102300 (all but the merged record); 1023 new segments leave.
    r.on_ack(&ack(100, tail, max), std::iter::empty());
    let max = send(&mut r, 100, max, bound - 1);
    assert_eq!(r.len(), MAX_SEGS);
    // 200 ms: ACK 102300, SACK [110100, max): the first new segment is missing.
    let mut a = ack(200, tail, max);
    a.advanced = false;
    r.on_ack(&a, [(SeqNum(110_100), SeqNum(max))].into_iter());
    r.check_invariants(SeqNum(tail), SeqNum(max)).unwrap();
    // 400 ms: RTO. Everything unSACKed is lost: nothing in flight.
    r.on_rto(SeqNum(max));
    assert_eq!(r.pipe(), 0);
    assert_eq!(r.next_lost(), Some((SeqNum(tail), 7700)));
    // 400 ms: go-back-N resends one segment of the merged record: only it is in flight,
    // the rest of the record (merged with the lost hole after it) waits for a resend.
    r.on_send(ms(400), SeqNum(tail), SeqNum(tail + MSS), SeqNum(max));
    r.check_invariants(SeqNum(tail), SeqNum(max)).unwrap();
    assert_eq!(
        r.pipe(),
        MSS,
        "pipe after resending one segment of a lost record"
    );
    assert_eq!(r.next_lost(), Some((SeqNum(tail + MSS), 7700)));
    // 500 ms: its ACK; the next segment goes, again alone in flight.
    r.on_ack(
        &ack(500, tail + MSS, max),
        [(SeqNum(110_100), SeqNum(max))].into_iter(),
    );
    assert_eq!(r.pipe(), 0);
    r.on_send(
        ms(500),
        SeqNum(tail + MSS),
        SeqNum(tail + 2 * MSS),
        SeqNum(max),
    );
    assert_eq!(r.pipe(), MSS);
    assert_eq!(r.next_lost(), Some((SeqNum(tail + 2 * MSS), 7600)));
    assert!(r.len() <= MAX_SEGS);
    r.check_invariants(SeqNum(tail + MSS), SeqNum(max)).unwrap();
}
