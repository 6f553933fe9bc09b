use super::*;
use proptest::prelude::*;

const ISS: u32 = 1_000_000;
const MSS: u32 = 1000;

fn s(x: u32) -> SeqNum {
    SeqNum(x)
}

/// Block `[a, b)` given as offsets from `base`.
fn blk(base: u32, a: u32, b: u32) -> (SeqNum, SeqNum) {
    (s(base) + a, s(base) + b)
}

fn ranges(sb: &Scoreboard, base: u32) -> Vec<(u32, u32)> {
    sb.ranges()
        .map(|(l, r)| (l.since(s(base)), r.since(s(base))))
        .collect()
}

/// 10 segments of MSS from ISS: segment k (1-based) is [ISS + (k-1)*MSS, ISS + k*MSS).
fn seg(k: u32) -> SeqNum {
    s(ISS) + (k - 1) * MSS
}

/// The textbook state: segments 1..=10 sent, 1 ACKed, 2 and 5 lost, `sacked` SACKed.
fn textbook(sacked: &[u32]) -> (Scoreboard, SeqNum, SeqNum) {
    let mut sb = Scoreboard::new();
    let (una, max) = (seg(2), seg(11));
    let blocks: Vec<_> = sacked.iter().map(|&k| (seg(k), seg(k + 1))).collect();
    for chunk in blocks.chunks(4) {
        sb.update(una, max, chunk);
    }
    (sb, una, max)
}

#[test]
fn new_scoreboard_holds_nothing() {
    let sb = Scoreboard::new();
    assert!(sb.is_empty());
    assert_eq!(sb.len(), 0);
    assert_eq!(sb.sacked_bytes(), 0);
    assert_eq!(sb.highest_sacked(), None);
    assert!(!sb.is_sacked(s(0)));
    assert!(!sb.is_lost(s(0), MSS, DUPTHRESH));
}

#[test]
fn overlapping_and_adjacent_blocks_merge_into_one_range() {
    let mut sb = Scoreboard::new();
    let u = sb.update(
        s(ISS),
        s(ISS + 10_000),
        &[blk(ISS, 1000, 2000), blk(ISS, 3000, 4000)],
    );
    assert_eq!((u.newly_sacked, u.sacked_above_una), (2000, 2000));
    // Adjacent on the left of the second, overlapping the first: all three become one.
    let u = sb.update(s(ISS), s(ISS + 10_000), &[blk(ISS, 1500, 3000)]);
    assert_eq!(ranges(&sb, ISS), vec![(1000, 4000)]);
    assert_eq!(u.newly_sacked, 1000);
    assert_eq!(sb.sacked_bytes(), 3000);
    // Exactly adjacent on the right.
    sb.update(s(ISS), s(ISS + 10_000), &[blk(ISS, 4000, 4500)]);
    assert_eq!(ranges(&sb, ISS), vec![(1000, 4500)]);
    assert_eq!(sb.highest_sacked(), Some(s(ISS + 4500)));
    assert!(sb.is_sacked(s(ISS + 1000)) && sb.is_sacked(s(ISS + 4499)));
    assert!(!sb.is_sacked(s(ISS + 999)) && !sb.is_sacked(s(ISS + 4500)));
}

#[test]
fn repeated_blocks_are_not_newly_sacked() {
    let mut sb = Scoreboard::new();
    sb.update(s(ISS), s(ISS + 5000), &[blk(ISS, 1000, 2000)]);
    // RFC 2018 §4: receivers repeat blocks; nothing new.
    let u = sb.update(
        s(ISS),
        s(ISS + 5000),
        &[blk(ISS, 3000, 3100), blk(ISS, 1000, 2000)],
    );
    assert_eq!(u.newly_sacked, 100);
    assert_eq!(u.sacked_above_una, 1100);
}

#[test]
fn disjoint_blocks_are_kept_sorted_whatever_their_order() {
    let mut sb = Scoreboard::new();
    let max = s(ISS + 10_000);
    sb.update(
        s(ISS),
        max,
        &[
            blk(ISS, 7000, 8000),
            blk(ISS, 1000, 2000),
            blk(ISS, 4000, 5000),
        ],
    );
    assert_eq!(
        ranges(&sb, ISS),
        vec![(1000, 2000), (4000, 5000), (7000, 8000)]
    );
    assert_eq!(sb.len(), 3);
}

#[test]
fn blocks_not_inside_snd_una_snd_max_are_ignored() {
    // RFC 2018 §8 / RFC 6675 §5: a sender must cope with nonsense blocks.
    let mut sb = Scoreboard::new();
    let (una, max) = (s(ISS), s(ISS + 5000));
    let u = sb.update(
        una,
        max,
        &[
            blk(ISS, 1000, 2000),       // valid, so the next ones are not D-SACK candidates
            blk(ISS, 0, 500),           // starts at SND.UNA: would have been ACKed
            blk(ISS, 4000, 5001),       // beyond SND.MAX
            blk(ISS, 3000, 3000),       // empty
            blk(ISS, 3000, 2500),       // reversed
            (s(ISS) - 500, s(ISS) - 1), // below SND.UNA, not first
        ],
    );
    assert_eq!(u.invalid_blocks, 5);
    assert_eq!(u.dsack, None);
    assert_eq!(ranges(&sb, ISS), vec![(1000, 2000)]);
    // A block ending exactly at SND.MAX is fine.
    let u = sb.update(una, max, &[blk(ISS, 4000, 5000)]);
    assert_eq!((u.invalid_blocks, u.newly_sacked), (0, 1000));
}

#[test]
fn dsack_below_the_cumulative_ack_is_reported_not_recorded() {
    // RFC 2883 §4: first block below SEG.ACK reports a duplicate.
    let mut sb = Scoreboard::new();
    let d = (s(ISS) + 1000, s(ISS) + 2000);
    let u = sb.update(s(ISS + 3000), s(ISS + 9000), &[d, blk(ISS, 5000, 6000)]);
    assert_eq!(u.dsack, Some(d));
    assert_eq!(u.invalid_blocks, 0);
    assert_eq!(u.newly_sacked, 1000);
    assert_eq!(ranges(&sb, ISS), vec![(5000, 6000)]);
}

#[test]
fn dsack_contained_in_the_second_block_is_reported_not_recorded() {
    // RFC 2883 §4: duplicate of out-of-order data, first block inside the second.
    let mut sb = Scoreboard::new();
    let d = blk(ISS, 4500, 5000);
    let u = sb.update(s(ISS), s(ISS + 9000), &[d, blk(ISS, 4000, 6000)]);
    assert_eq!(u.dsack, Some(d));
    assert_eq!(u.newly_sacked, 2000);
    assert_eq!(ranges(&sb, ISS), vec![(4000, 6000)]);
    // Equal to the second block counts as contained.
    let u = sb.update(
        s(ISS),
        s(ISS + 9000),
        &[blk(ISS, 4000, 6000), blk(ISS, 4000, 6000)],
    );
    assert_eq!(u.dsack, Some(blk(ISS, 4000, 6000)));
    assert_eq!(u.newly_sacked, 0);
}

#[test]
fn only_the_first_block_can_be_a_dsack() {
    let mut sb = Scoreboard::new();
    // Second inside third: ordinary blocks (RFC 2883 puts the D-SACK first).
    let u = sb.update(
        s(ISS),
        s(ISS + 9000),
        &[
            blk(ISS, 1000, 2000),
            blk(ISS, 4500, 5000),
            blk(ISS, 4000, 6000),
        ],
    );
    assert_eq!(u.dsack, None);
    assert_eq!(ranges(&sb, ISS), vec![(1000, 2000), (4000, 6000)]);
    // A first block overlapping but not inside the second is a normal SACK.
    let u = sb.update(
        s(ISS),
        s(ISS + 9000),
        &[blk(ISS, 3500, 4500), blk(ISS, 4000, 6000)],
    );
    assert_eq!(u.dsack, None);
    assert_eq!(u.newly_sacked, 500);
}

#[test]
fn cumulative_ack_past_ranges_forgets_them() {
    let mut sb = Scoreboard::new();
    let max = s(ISS + 10_000);
    sb.update(
        s(ISS),
        max,
        &[
            blk(ISS, 1000, 2000),
            blk(ISS, 3000, 4000),
            blk(ISS, 6000, 7000),
        ],
    );
    // ACK up to the right edge of the first range (the hole below it was filled).
    let u = sb.update(s(ISS + 2000), max, &[]);
    assert!(!u.reneged);
    assert_eq!(ranges(&sb, ISS), vec![(3000, 4000), (6000, 7000)]);
    assert_eq!(u.sacked_above_una, 2000);
    // ACK past two ranges at once.
    let u = sb.update(s(ISS + 8000), max, &[]);
    assert!(sb.is_empty() && !u.reneged);
    assert_eq!(u.sacked_above_una, 0);
    assert!(!sb.is_sacked(s(ISS + 6500)));
}

#[test]
fn ack_stopping_at_or_inside_a_sacked_range_is_suspected_reneging_and_keeps_the_ranges() {
    // RFC 2018 §8: a receiver may discard SACKed data; an ACK to the start of (or into) a
    // SACKed range suggests it did. Only suggests (Linux `tcp_check_sack_reneging`): the
    // ranges stay until the sender's timeout decides (`Scoreboard::clear`).
    let mut sb = Scoreboard::new();
    let max = s(ISS + 10_000);
    sb.update(s(ISS), max, &[blk(ISS, 1000, 2000), blk(ISS, 5000, 6000)]);
    assert!(!sb.head_sacked());
    let u = sb.update(s(ISS + 1000), max, &[blk(ISS, 7000, 8000)]);
    assert!(u.reneged && sb.head_sacked());
    assert!(sb.is_sacked(s(ISS + 1000)));
    assert_eq!(
        ranges(&sb, ISS),
        vec![(1000, 2000), (5000, 6000), (7000, 8000)]
    );
    assert_eq!(u.newly_sacked, 1000);
    sb.check_invariants().unwrap();
    // What to resend skips the SACKed head.
    assert_eq!(
        sb.next_unsacked(s(ISS + 1000), max, s(ISS + 1000), 1000),
        Some((s(ISS + 2000), 1000))
    );
    // Strictly inside a range, too.
    let u = sb.update(s(ISS + 7500), max, &[]);
    assert!(u.reneged && sb.head_sacked());
    assert_eq!(ranges(&sb, ISS), vec![(7500, 8000)]);
    // An ACK past the range ends the suspicion.
    let u = sb.update(s(ISS + 8000), max, &[]);
    assert!(!u.reneged && sb.is_empty());
}

#[test]
fn duplicate_ack_is_not_reneging() {
    let mut sb = Scoreboard::new();
    let max = s(ISS + 10_000);
    sb.update(s(ISS), max, &[blk(ISS, 1000, 2000)]);
    let u = sb.update(s(ISS), max, &[blk(ISS, 1000, 2000)]);
    assert!(!u.reneged);
    assert_eq!(sb.sacked_bytes(), 1000);
}

#[test]
fn wrap_around_2_pow_32() {
    // RFC 9293 §3.4: everything modulo 2^32; SND.UNA near the top, blocks across 0.
    let una = s(0xFFFF_FF00);
    let max = una + 6000;
    let mut sb = Scoreboard::new();
    let u = sb.update(
        una,
        max,
        &[
            (una + 200, una + 400),
            (una + 300, s(0x100)),
            (una + 1000, una + 2000),
        ],
    );
    assert_eq!(u.newly_sacked, 312 + 1000);
    let got: Vec<_> = sb.ranges().collect();
    assert_eq!(
        got,
        vec![(s(0xFFFF_FFC8), s(0x100)), (una + 1000, una + 2000)]
    );
    assert!(sb.is_sacked(s(0xFFFF_FFFF)) && sb.is_sacked(s(0)) && sb.is_sacked(s(0xFF)));
    assert!(!sb.is_sacked(s(0x100)) && !sb.is_sacked(s(0xFFFF_FFC7)));
    // A block "below" SND.UNA across the wrap is a D-SACK.
    let u = sb.update(una, max, &[(una - 100, una), (una + 3000, una + 3100)]);
    assert_eq!(u.dsack, Some((una - 100, una)));
    // ACK across 0 forgets the first range.
    let u = sb.update(s(0x100), max, &[]);
    assert!(!u.reneged);
    assert_eq!(u.sacked_above_una, 1100);
    // NextSeg across the wrap: the hole 0x100..una+1000 (488 octets) is lost with SMSS 500
    // (1100 SACKed octets above: 2 + 1 segments, and 1100 > 2 * 500).
    let next = sb.next_seg(s(0x100), max, s(0x100), 500, DUPTHRESH);
    assert_eq!(next, Some((s(0x100), 488)));
}

#[test]
fn is_lost_counts_three_discontiguous_sacked_segments() {
    // RFC 6675 §4 IsLost, first rule: DupThresh discontiguous SACKs above seq, here three
    // 100-byte segments (300 bytes, far below (DupThresh-1)*SMSS).
    let mut sb = Scoreboard::new();
    let max = s(ISS + 10_000);
    sb.update(s(ISS), max, &[blk(ISS, 1000, 1100), blk(ISS, 1200, 1300)]);
    assert!(
        !sb.is_lost(s(ISS), MSS, DUPTHRESH),
        "two SACKed segments are not enough"
    );
    sb.update(s(ISS), max, &[blk(ISS, 1400, 1500)]);
    assert!(sb.is_lost(s(ISS), MSS, DUPTHRESH));
    // Only what lies above seq counts: from 1150 up there are two.
    assert!(!sb.is_lost(s(ISS + 1150), MSS, DUPTHRESH));
    assert!(!sb.is_lost(s(ISS + 2000), MSS, DUPTHRESH));
}

#[test]
fn is_lost_counts_more_than_dupthresh_minus_one_smss_of_sacked_bytes() {
    // RFC 6675 §4 IsLost, second rule: more than (DupThresh-1)*SMSS bytes SACKed above.
    let mut sb = Scoreboard::new();
    let max = s(ISS + 10_000);
    sb.update(s(ISS), max, &[blk(ISS, 1000, 3000)]);
    assert!(
        !sb.is_lost(s(ISS), MSS, DUPTHRESH),
        "exactly 2*SMSS is not more than 2*SMSS"
    );
    sb.update(s(ISS), max, &[blk(ISS, 3000, 3001)]);
    assert!(sb.is_lost(s(ISS), MSS, DUPTHRESH));
    // A contiguous 1.5-SMSS range holds at least two segments: plus one more is three.
    let mut sb = Scoreboard::new();
    sb.update(s(ISS), max, &[blk(ISS, 1000, 2500), blk(ISS, 4000, 4100)]);
    assert!(sb.is_lost(s(ISS), MSS, DUPTHRESH));
    assert!(!sb.is_lost(s(ISS), MSS, 4));
}

#[test]
fn pipe_textbook_two_losses_after_retransmitting_the_first() {
    // RFC 6675 §4 SetPipe. 10 segments of 1000, segment 1 ACKed, 2 and 5 lost, the others
    // SACKed. Both holes are lost (>= 3 SACKed segments above each), so before any
    // retransmission nothing is in flight; after resending 2 only that copy is.
    let (sb, una, max) = textbook(&[3, 4, 6, 7, 8, 9, 10]);
    assert_eq!(sb.sacked_bytes(), 7000);
    assert!(sb.is_lost(seg(2), MSS, DUPTHRESH) && sb.is_lost(seg(5), MSS, DUPTHRESH));
    assert_eq!(sb.pipe(una, max, una, MSS, DUPTHRESH), 0);
    assert_eq!(sb.pipe(una, max, seg(3), MSS, DUPTHRESH), 1000);
    // After resending 5 as well.
    assert_eq!(sb.pipe(una, max, seg(6), MSS, DUPTHRESH), 2000);
}

#[test]
fn pipe_counts_unsacked_tail_once_and_retransmitted_unlost_octets_twice() {
    // Segments 2 and 5 missing, 3,4,6,7,8 SACKed, 9 and 10 not SACKed (still in flight).
    let (sb, una, max) = textbook(&[3, 4, 6, 7, 8]);
    // 9 and 10: nothing SACKed above, not lost: 2000. 5: 3000 SACKed above: lost.
    assert!(!sb.is_lost(seg(9), MSS, DUPTHRESH));
    assert!(sb.is_lost(seg(5), MSS, DUPTHRESH));
    assert_eq!(sb.pipe(una, max, una, MSS, DUPTHRESH), 2000);
    // Retransmitting 2 and 5 adds them once each (lost: counted only as retransmitted).
    assert_eq!(sb.pipe(una, max, seg(6), MSS, DUPTHRESH), 4000);
    // With DupThresh 4, segment 5 (3 SACKed segments above, 3000 bytes = 3*SMSS) is not
    // lost: it counts once as in flight and once more when retransmitted.
    assert!(!sb.is_lost(seg(5), MSS, 4));
    assert_eq!(sb.pipe(una, max, una, MSS, 4), 3000);
    assert_eq!(sb.pipe(una, max, seg(6), MSS, 4), 3000 + 2000);
}

#[test]
fn next_seg_returns_lost_holes_in_order_and_skips_retransmitted_ones() {
    // RFC 6675 §4 NextSeg rule (1).
    let (sb, una, max) = textbook(&[3, 4, 6, 7, 8, 9, 10]);
    let mut high_rxt = una;
    let mut sent = vec![];
    while let Some((start, len)) = sb.next_seg(una, max, high_rxt, MSS, DUPTHRESH) {
        sent.push((start, len));
        high_rxt = start + len;
        assert!(sent.len() <= 10, "next_seg must make progress");
    }
    assert_eq!(sent, vec![(seg(2), MSS), (seg(5), MSS)]);
    // Nothing SACKed is ever returned.
    assert!(sent
        .iter()
        .all(|&(st, len)| (0..len).all(|i| !sb.is_sacked(st + i))));
}

#[test]
fn next_seg_cuts_large_holes_to_smss_and_stops_at_sacked_data() {
    let mut sb = Scoreboard::new();
    let (una, max) = (s(ISS), s(ISS + 10_000));
    sb.update(una, max, &[blk(ISS, 2500, 6000)]);
    assert_eq!(sb.next_seg(una, max, una, MSS, DUPTHRESH), Some((una, MSS)));
    assert_eq!(
        sb.next_seg(una, max, una + 2000, MSS, DUPTHRESH),
        Some((una + 2000, 500))
    );
    // From inside the SACKed range: the next hole (6000..) has nothing SACKed above.
    assert_eq!(sb.next_seg(una, max, una + 2500, MSS, DUPTHRESH), None);
    // high_rxt below snd_una is taken as snd_una.
    assert_eq!(
        sb.next_seg(una, max, una - 5, MSS, DUPTHRESH),
        Some((una, MSS))
    );
}

#[test]
fn next_seg_rule3_returns_unlost_holes_below_the_highest_sack() {
    // RFC 6675 §4 NextSeg rule (3): 1.a and 1.b without IsLost.
    let mut sb = Scoreboard::new();
    let (una, max) = (s(ISS), s(ISS + 10_000));
    sb.update(una, max, &[blk(ISS, 1000, 2000)]);
    assert_eq!(
        sb.next_seg(una, max, una, MSS, DUPTHRESH),
        None,
        "one SACKed segment: not lost"
    );
    assert_eq!(sb.next_seg_rule3(una, max, una, MSS), Some((una, MSS)));
    assert_eq!(
        sb.next_seg_rule3(una, max, una + MSS, MSS),
        None,
        "nothing SACKed above 2000"
    );
}

#[test]
fn rescue_covers_the_highest_unsacked_octet() {
    // RFC 6675 §4 NextSeg rule (4).
    let (sb, una, max) = textbook(&[3, 4, 6, 7, 8]);
    assert_eq!(sb.rescue(una, max, MSS), Some((seg(10), MSS)));
    assert_eq!(sb.rescue(una, max, 300), Some((seg(11) - 300, 300)));
    // Tail fully SACKed: the highest hole is segment 5.
    let (sb, una, max) = textbook(&[3, 4, 6, 7, 8, 9, 10]);
    assert_eq!(sb.rescue(una, max, 3 * MSS), Some((seg(5), MSS)));
    // The octet at SND.UNA is never SACKed, so only an empty window has nothing to rescue.
    assert_eq!(sb.rescue(una, una, MSS), None);
}

#[test]
fn rto_keeps_the_scoreboard_so_go_back_n_skips_sacked_data() {
    // Decision (RFC 6675 §5.1): keep SACK state across an RTO; resend only unSACKed data.
    let (sb, una, max) = textbook(&[3, 4, 6, 7, 8]);
    let mut next = una;
    let mut resent = vec![];
    while let Some((start, len)) = sb.next_unsacked(una, max, next, MSS) {
        resent.push(start);
        next = start + len;
    }
    assert_eq!(resent, vec![seg(2), seg(5), seg(9), seg(10)]);
    // A sender choosing RFC 2018 §8 instead clears and resends everything.
    let mut sb = sb;
    sb.clear();
    assert!(sb.is_empty() && sb.sacked_bytes() == 0);
    assert_eq!(
        sb.next_unsacked(una, max, seg(3), 9000),
        Some((seg(3), 8000))
    );
}

#[test]
fn adversarial_tiny_blocks_keep_memory_bounded_and_the_lowest_ranges() {
    let una = s(ISS);
    let max = una + 1_000_000;
    // Ascending: every block above the others, so the new ones are dropped past the bound.
    let mut sb = Scoreboard::new();
    let mut overflowed = false;
    for i in 0..2000u32 {
        let b: Vec<_> = (0..4)
            .map(|k| blk(ISS, 2 + 8 * i + 2 * k, 3 + 8 * i + 2 * k))
            .collect();
        overflowed |= sb.update(una, max, &b).overflowed;
    }
    assert!(overflowed);
    assert_eq!(sb.len(), MAX_RANGES);
    assert!(sb.ranges.capacity() <= MAX_RANGES && sb.before.capacity() <= MAX_RANGES);
    let expected: Vec<_> = (0..MAX_RANGES as u32)
        .map(|k| (2 + 2 * k, 3 + 2 * k))
        .collect();
    assert_eq!(ranges(&sb, ISS), expected);
    assert_eq!(sb.sacked_bytes(), MAX_RANGES as u32);
    // Descending: each new block is the lowest, so the highest range is dropped instead.
    let mut sb = Scoreboard::new();
    for i in (0..2000u32).rev() {
        let u = sb.update(una, max, &[blk(ISS, 2 + 2 * i, 3 + 2 * i)]);
        assert_eq!(u.overflowed, i < 2000 - MAX_RANGES as u32);
    }
    assert_eq!(ranges(&sb, ISS), expected);
    assert!(sb.ranges.capacity() <= MAX_RANGES);
    // Still correct where it knows: filling gaps merges and frees slots.
    let u = sb.update(una, max, &[blk(ISS, 2, 600)]);
    assert!(!u.overflowed);
    assert_eq!(sb.len(), 1);
}

#[test]
fn degenerate_arguments_do_not_panic() {
    let (sb, una, max) = textbook(&[3, 4, 6, 7, 8]);
    // smss 0 is taken as 1; dupthresh 0 makes everything lost.
    assert!(sb.is_lost(seg(5), 0, DUPTHRESH));
    assert!(!sb.is_lost(seg(9), 0, DUPTHRESH));
    assert_eq!(sb.next_seg(una, max, una, 0, DUPTHRESH), Some((una, 1)));
    assert_eq!(sb.pipe(una, max, una, MSS, 0), 0);
    assert!(sb.is_lost(seg(10), MSS, 0));
    // snd_max before snd_una: an empty window.
    assert_eq!(sb.pipe(max, una, max, MSS, DUPTHRESH), 0);
    assert_eq!(sb.next_seg(max, una, max, MSS, DUPTHRESH), None);
    assert_eq!(sb.rescue(max, una, MSS), None);
    // high_rxt past snd_max: nothing left to resend.
    assert_eq!(sb.next_seg(una, max, max + 5, MSS, DUPTHRESH), None);
    // Update with snd_max before snd_una forgets everything.
    let mut sb = sb;
    let u = sb.update(una, una - 1, &[(una + 1, una + 2)]);
    assert!(sb.is_empty());
    assert_eq!(u.invalid_blocks, 1);
    // SND.UNA moving backwards forgets, too.
    let mut sb = textbook(&[3]).0;
    let u = sb.update(una - 10, max, &[]);
    assert!(sb.is_empty() && !u.reneged);
}

// ---- Property tests against a per-octet model -------------------------------------------

/// The naive model: one bool per octet, offsets from `origin`.
struct Model {
    sacked: Vec<bool>,
    una: usize,
    max: usize,
}

impl Model {
    /// RFC 6675 IsLost for every octet in [una, max), straight from the definition.
    fn lost(&self, smss: u32, dupthresh: u32) -> Vec<bool> {
        let smss = smss.max(1) as usize;
        let mut lost = vec![false; self.max + 1];
        let (mut done_segs, mut run, mut bytes) = (0usize, 0usize, 0usize);
        for i in (self.una..self.max).rev() {
            // Octets above i: i + 1 .. max.
            let j = i + 1;
            if j < self.max && self.sacked[j] {
                run += 1;
                bytes += 1;
            } else if run > 0 {
                done_segs += run.div_ceil(smss);
                run = 0;
            }
            let segs = done_segs + run.div_ceil(smss);
            lost[i] =
                segs >= dupthresh as usize || bytes > dupthresh.saturating_sub(1) as usize * smss;
        }
        lost
    }

    fn first_hole(&self, from: usize) -> Option<usize> {
        (from.max(self.una)..self.max).find(|&i| !self.sacked[i])
    }

    fn hole_len(&self, i: usize, smss: u32) -> u32 {
        let end = (i..self.max).find(|&k| self.sacked[k]).unwrap_or(self.max);
        ((end - i) as u32).min(smss.max(1))
    }
}

#[derive(Debug, Clone)]
struct Step {
    /// Where SEG.ACK goes, as a fraction of the outstanding window (0 = duplicate ACK).
    ack_frac: u16,
    /// If the ACK would land on SACKed data, move it past that range (no reneging).
    allow_renege: bool,
    /// How much more is sent.
    send: u16,
    /// Blocks as (offset from SND.UNA, may be negative; length, may be <= 0).
    blocks: Vec<(i32, i32)>,
    /// Make the first block a sub-block of the second (RFC 2883 second form).
    dup_first: bool,
    high_rxt: i32,
    smss: u32,
    dupthresh: u32,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![3 => Just(0u16), 2 => 0u16..1000],
        proptest::bool::weighted(0.1),
        0u16..400,
        proptest::collection::vec((-150i32..1500, -10i32..300), 0..5),
        proptest::bool::weighted(0.2),
        -50i32..1600,
        prop_oneof![Just(1u32), 20u32..200],
        0u32..5,
    )
        .prop_map(
            |(ack_frac, allow_renege, send, blocks, dup_first, high_rxt, smss, dupthresh)| Step {
                ack_frac,
                allow_renege,
                send,
                blocks,
                dup_first,
                high_rxt,
                smss,
                dupthresh,
            },
        )
}

fn origin() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0xFFFF_FF00u32),
        0xFFFF_F000u32..=u32::MAX,
        any::<u32>()
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_a_per_octet_model(origin in origin(), first_send in 1u16..1500, steps in proptest::collection::vec(step(), 1..12)) {
        const TOTAL: usize = 8000;
        let at = |off: i64| SeqNum(origin.wrapping_add(off as u32));
        let mut m = Model { sacked: vec![false; TOTAL], una: 0, max: usize::from(first_send) };
        let mut sb = Scoreboard::new();
        sb.update(at(0), at(m.max as i64), &[]);
        for st in steps {
            // The ACK.
            let old_una = m.una;
            let mut una = m.una + (m.max - m.una) * usize::from(st.ack_frac) / 1000;
            if !st.allow_renege {
                while una < m.max && m.sacked[una] {
                    una += 1;
                }
            }
            m.max = (m.max + usize::from(st.send)).min(TOTAL - 1);
            // Suspected reneging keeps what is SACKed (see the module doc).
            let reneged = una > old_una && m.sacked[una];
            m.sacked[..una].iter_mut().for_each(|b| *b = false);
            m.una = una;
            // The blocks, as sequence numbers.
            let mut blocks: Vec<(i64, i64)> = st
                .blocks
                .iter()
                .map(|&(l, len)| (una as i64 + i64::from(l), una as i64 + i64::from(l) + i64::from(len)))
                .collect();
            if st.dup_first && blocks.len() >= 2 && blocks[1].0 < blocks[1].1 {
                let (l2, r2) = blocks[1];
                blocks[0] = (l2 + (r2 - l2) / 3, r2 - (r2 - l2) / 3);
            }
            let seqs: Vec<_> = blocks.iter().map(|&(l, r)| (at(l), at(r))).collect();
            let (una_i, max_i) = (una as i64, m.max as i64);
            let u = sb.update(at(una_i), at(max_i), &seqs);

            // Model: RFC 2883 §4 D-SACK, then RFC 2018 §8 validity.
            let dsack = blocks.first().and_then(|&(l, r)| {
                let real = l < r && r <= max_i;
                let contained = blocks.get(1).is_some_and(|&(l2, r2)| l2 <= l && r <= r2);
                (real && (l < una_i || contained)).then_some((at(l), at(r)))
            });
            let rest = if dsack.is_some() { &blocks[1..] } else { &blocks[..] };
            let mut newly = 0;
            let mut invalid = 0;
            for &(l, r) in rest {
                if una_i < l && l < r && r <= max_i {
                    for b in &mut m.sacked[l as usize..r as usize] {
                        newly += u32::from(!*b);
                        *b = true;
                    }
                } else {
                    invalid += 1;
                }
            }
            let total = m.sacked[m.una..m.max].iter().filter(|&&b| b).count() as u32;
            prop_assert_eq!(u.dsack, dsack);
            prop_assert_eq!(u.reneged, reneged);
            prop_assert_eq!(u.newly_sacked, newly);
            prop_assert_eq!(u.invalid_blocks, invalid);
            prop_assert!(!u.overflowed);
            prop_assert_eq!(u.sacked_above_una, total);
            prop_assert_eq!(sb.sacked_bytes(), total);
            prop_assert!(sb.len() <= MAX_RANGES);

            // is_sacked for every octet around the window.
            for i in una.saturating_sub(20)..(m.max + 20).min(TOTAL) {
                let want = i >= m.una && i < m.max && m.sacked[i];
                prop_assert_eq!(sb.is_sacked(at(i as i64)), want, "octet {}", i);
            }
            // Ranges are the maximal runs.
            let mut runs = vec![];
            let mut i = m.una;
            while i < m.max {
                if m.sacked[i] {
                    let j = (i..m.max).find(|&k| !m.sacked[k]).unwrap_or(m.max);
                    runs.push((at(i as i64), at(j as i64)));
                    i = j;
                } else {
                    i += 1;
                }
            }
            prop_assert_eq!(sb.ranges().collect::<Vec<_>>(), runs.clone());
            prop_assert_eq!(sb.highest_sacked(), runs.last().map(|r| r.1));

            // IsLost, SetPipe, NextSeg (rules 1, 3, 4).
            let (smss, dt) = (st.smss, st.dupthresh);
            let lost = m.lost(smss, dt);
            for (i, &want) in lost.iter().enumerate().take(m.max).skip(m.una) {
                prop_assert_eq!(sb.is_lost(at(i as i64), smss, dt), want, "IsLost octet {}", i);
            }
            let hr = (una_i + i64::from(st.high_rxt)).clamp(una_i, max_i) as usize;
            let hr_seq = at(una_i + i64::from(st.high_rxt));
            let pipe: u32 = (m.una..m.max)
                .filter(|&i| !m.sacked[i])
                .map(|i| u32::from(!lost[i]) + u32::from(i < hr))
                .sum();
            prop_assert_eq!(sb.pipe(at(una_i), at(max_i), hr_seq, smss, dt), pipe);

            let above = |i: usize| m.sacked[i..m.max].iter().any(|&b| b);
            let hole = m.first_hole(hr);
            let want1 = hole
                .filter(|&i| above(i) && lost[i])
                .map(|i| (at(i as i64), m.hole_len(i, smss)));
            prop_assert_eq!(sb.next_seg(at(una_i), at(max_i), hr_seq, smss, dt), want1);
            let want3 = hole.filter(|&i| above(i)).map(|i| (at(i as i64), m.hole_len(i, smss)));
            prop_assert_eq!(sb.next_seg_rule3(at(una_i), at(max_i), hr_seq, smss), want3);
            let want_unsacked = hole.map(|i| (at(i as i64), m.hole_len(i, smss)));
            prop_assert_eq!(sb.next_unsacked(at(una_i), at(max_i), hr_seq, smss), want_unsacked);
            let want4 = (m.una..m.max).rev().find(|&i| !m.sacked[i]).map(|top| {
                let mut start = top;
                while start > m.una && !m.sacked[start - 1] && top + 1 - start < smss.max(1) as usize {
                    start -= 1;
                }
                (at(start as i64), (top + 1 - start) as u32)
            });
            prop_assert_eq!(sb.rescue(at(una_i), at(max_i), smss), want4);
        }
    }

    #[test]
    fn arbitrary_input_never_panics_and_keeps_invariants(
        calls in proptest::collection::vec(
            (any::<u32>(), any::<u32>(), proptest::collection::vec((any::<u32>(), any::<u32>()), 0..6), any::<u32>(), any::<u32>(), 0u32..8),
            1..20,
        )
    ) {
        let mut sb = Scoreboard::new();
        for (una, max, blocks, x, smss, dt) in calls {
            let blocks: Vec<_> = blocks.into_iter().map(|(l, r)| (s(l), s(r))).collect();
            let u = sb.update(s(una), s(max), &blocks);
            let rs: Vec<_> = sb.ranges().collect();
            prop_assert!(rs.len() <= MAX_RANGES);
            let win = window(s(una), s(max));
            let mut prev: Option<u32> = None;
            let mut sum = 0u64;
            for &(l, r) in &rs {
                let (lo, hi) = (l.since(s(una)), r.since(s(una)));
                // Only the first range may start at SND.UNA (suspected reneging).
                prop_assert!(prev.is_none_or(|p| p < lo) && lo < hi && hi <= win, "sorted, disjoint, inside [una, max]");
                prev = Some(hi);
                sum += u64::from(hi - lo);
            }
            prop_assert_eq!(u64::from(sb.sacked_bytes()), sum);
            prop_assert_eq!(u.sacked_above_una, sb.sacked_bytes());
            prop_assert_eq!(sb.is_sacked(s(una)), sb.head_sacked());
            sb.check_invariants().map_err(TestCaseError::fail)?;
            // Queries with arbitrary arguments: no panic, results inside the window.
            let _ = sb.is_lost(s(x), smss, dt);
            prop_assert!(u64::from(sb.pipe(s(una), s(max), s(x), smss, dt)) <= 2 * u64::from(win));
            for r in [
                sb.next_seg(s(una), s(max), s(x), smss, dt),
                sb.next_seg_rule3(s(una), s(max), s(x), smss),
                sb.rescue(s(una), s(max), smss),
                sb.next_unsacked(s(x), s(max), s(una), smss),
            ]
            .into_iter()
            .flatten()
            {
                prop_assert!(r.1 >= 1);
            }
        }
    }
}
