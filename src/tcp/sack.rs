//! The sender's SACK scoreboard (RFC 2018, D-SACK per RFC 2883) and the RFC 6675 loss
//! recovery helpers `IsLost` ([`Scoreboard::is_lost`]), `SetPipe` ([`Scoreboard::pipe`]) and
//! `NextSeg` ([`Scoreboard::next_seg`] for rule 1, [`Scoreboard::next_seg_rule3`],
//! [`Scoreboard::rescue`] for rule 4).
//!
//! What it is: the byte ranges above SND.UNA that the peer has selectively acknowledged,
//! sorted, merged and bounded ([`MAX_RANGES`]). Pure data: no time, no segments, no
//! congestion window. The sender owns the recovery state (RecoveryPoint, HighRxt, RescueRxt,
//! cwnd, ssthresh) and asks the scoreboard what is lost, how much is in flight and what to
//! resend next.
//!
//! What it does not do: free send-buffer data (SACKed data stays until it is cumulatively
//! ACKed, RFC 2018 §8), change cwnd, time anything (RACK-TLP, RFC 8985, keeps per-segment
//! send times in `rack.rs` and reads these ranges), or build SACK blocks (the receiver's
//! business).
//!
//! Contract and conventions:
//! - Call [`Scoreboard::update`] on every acceptable ACK (SEG.ACK >= SND.UNA), with SND.UNA
//!   *after* applying the ACK, even when the segment has no SACK blocks: that is how acked
//!   ranges are forgotten and reneging is noticed. The queries take `snd_una`/`snd_max`
//!   again and tolerate a mismatch, but are exact only right after `update` with the same
//!   values. `snd_max` is the highest sequence number sent so far (HighData + 1).
//! - `high_rxt` is **exclusive**: octets in `[snd_una, high_rxt)` were retransmitted in this
//!   recovery episode. Set it to `snd_una` on entering recovery and to `start + len` after
//!   retransmitting what [`Scoreboard::next_seg`] returned. (RFC 6675 names the last
//!   retransmitted octet HighRxt; ours is HighRxt + 1, so the initial value needs no `- 1`.)
//! - The scoreboard knows bytes, not segment boundaries. RFC 6675 `IsLost` counts
//!   "DupThresh discontiguous SACKs" above a sequence number; we count each SACKed range
//!   above it as `ceil(len / SMSS)` segments, the fewest segments of at most SMSS bytes
//!   that can make it up. So we never claim more SACKed segments than arrived.
//! - Memory: at most [`MAX_RANGES`] ranges (2 KiB, plus as much scratch space). When a new
//!   range would exceed it, the highest range is dropped (or the new one, if it is the
//!   highest) and [`AckUpdate::overflowed`] says so. Forgetting a SACK is always safe: the
//!   data is at worst retransmitted needlessly and counted in `pipe` (conservative); the
//!   lowest ranges, which decide what is lost near SND.UNA, are the ones kept.
//! - RTO policy: keep the scoreboard across an RTO (RFC 6675 §5.1 SHOULD: do not resend
//!   SACKed data), so this module never clears itself on timeouts; [`Scoreboard::clear`] is
//!   there for the sender to forget SACKed bits when a timeout finds reneging suspected
//!   (RFC 2018 §8). Reneging is detected: a cumulative ACK that stops at or inside a SACKed
//!   range means the receiver may have thrown that data away (had it kept it, the ACK would
//!   have covered the whole range), so `update` sets [`AckUpdate::reneged`]. The ranges are
//!   kept, the one holding SND.UNA starting at offset 0 ([`Scoreboard::head_sacked`]): only
//!   suspected, as Linux (`tcp_check_sack_reneging` shortens the retransmission timer;
//!   `tcp_timeout_mark_lost` forgets the SACKs if the head is still SACKed then). A later
//!   ACK past the range ends the suspicion with nothing resent.
//!
//! Nothing here panics, whatever the arguments: sequence numbers wrap (RFC 9293 §3.4), a
//! `snd_max` before `snd_una` means an empty window, `smss == 0` is taken as 1.

use super::seq::SeqNum;

/// Most SACKed ranges remembered (see the module doc for what happens beyond).
pub const MAX_RANGES: usize = 256;

/// RFC 6675 §2 DupThresh.
pub const DUPTHRESH: u32 = 3;

/// What one [`Scoreboard::update`] learned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckUpdate {
    /// Octets SACKed now that were not before this update (above the new SND.UNA).
    pub newly_sacked: u32,
    /// The first block when it is a D-SACK (RFC 2883 §4): below SND.UNA, or contained in the
    /// second block. Reported as sent, never recorded as SACKed.
    pub dsack: Option<(SeqNum, SeqNum)>,
    /// All octets SACKed above SND.UNA after this update ([`Scoreboard::sacked_bytes`]).
    pub sacked_above_una: u32,
    /// The cumulative ACK moved and stopped at or inside a SACKed range: the receiver may
    /// have reneged (RFC 2018 §8). The ranges are kept (see the module doc).
    pub reneged: bool,
    /// At least one range was dropped (or not recorded) because of [`MAX_RANGES`].
    pub overflowed: bool,
    /// Blocks ignored because they are not inside (snd_una, snd_max] or are empty
    /// (RFC 2018 §8 / RFC 6675 §5 robustness). A D-SACK is not counted here.
    pub invalid_blocks: u32,
}

/// The SACKed ranges above SND.UNA. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Scoreboard {
    /// SND.UNA at the last update; ranges are offsets from it.
    base: SeqNum,
    /// SND.MAX - SND.UNA at the last update.
    limit: u32,
    /// Sorted, disjoint, non-touching `(lo, hi)` offsets with `0 < lo < hi <= limit`, but
    /// for a first range with `lo == 0` while reneging is suspected.
    ranges: Vec<(u32, u32)>,
    /// Copy of `ranges` before an update's blocks, to count newly SACKed octets exactly.
    before: Vec<(u32, u32)>,
    /// Sum of the ranges' lengths.
    sacked: u32,
}

/// `snd_max - snd_una`, or 0 when `snd_max` is before `snd_una`.
fn window(snd_una: SeqNum, snd_max: SeqNum) -> u32 {
    if snd_max.lt(snd_una) {
        0
    } else {
        snd_max.since(snd_una)
    }
}

/// Offset of `seq` from `snd_una`, clamped to `[0, win]`.
fn clamp_off(seq: SeqNum, snd_una: SeqNum, win: u32) -> u32 {
    let off = i64::from(seq.diff(snd_una)).clamp(0, i64::from(win));
    off as u32
}

fn total(ranges: &[(u32, u32)]) -> u64 {
    ranges.iter().map(|&(lo, hi)| u64::from(hi - lo)).sum()
}

/// Octets in both sorted, disjoint range lists.
fn overlap(a: &[(u32, u32)], b: &[(u32, u32)]) -> u64 {
    let (mut i, mut j, mut sum) = (0, 0, 0u64);
    while let (Some(&(alo, ahi)), Some(&(blo, bhi))) = (a.get(i), b.get(j)) {
        let (lo, hi) = (alo.max(blo), ahi.min(bhi));
        if lo < hi {
            sum += u64::from(hi - lo);
        }
        if ahi < bhi {
            i += 1;
        } else {
            j += 1;
        }
    }
    sum
}

/// RFC 2883 §4: the first block is a D-SACK when it lies below the cumulative ACK or inside
/// the second block. Either way it must be a real block of data already sent.
fn dsack(
    blocks: &[(SeqNum, SeqNum)],
    snd_una: SeqNum,
    snd_max: SeqNum,
) -> Option<(SeqNum, SeqNum)> {
    let &(l, r) = blocks.first()?;
    if !l.lt(r) || r.gt(snd_max) {
        return None;
    }
    if l.lt(snd_una) {
        return Some((l, r));
    }
    let &(l2, r2) = blocks.get(1)?;
    (l2.le(l) && r.le(r2)).then_some((l, r))
}

impl Scoreboard {
    /// An empty scoreboard. Allocates nothing until the first SACK block.
    pub fn new() -> Scoreboard {
        Scoreboard::default()
    }

    /// Applies a cumulative ACK (everything below `snd_una` is forgotten) and the segment's
    /// SACK blocks `(left, right)` (right exclusive), in the order they appear in the option.
    ///
    /// A block is recorded only if `snd_una < left < right <= snd_max` (RFC 2018 §8,
    /// RFC 6675 §5: ignore blocks that make no sense). A first block below `snd_una` or
    /// contained in the second block is a D-SACK (RFC 2883 §4): reported, not recorded.
    /// Caveat: pass `snd_una` after this ACK; an old, reordered ACK (SEG.ACK < SND.UNA)
    /// should not be fed here, or its ordinary blocks below SND.UNA would read as D-SACKs.
    pub fn update(
        &mut self,
        snd_una: SeqNum,
        snd_max: SeqNum,
        blocks: &[(SeqNum, SeqNum)],
    ) -> AckUpdate {
        if blocks.is_empty() && self.ranges.is_empty() {
            // Nothing SACKed, before or now (nearly every ACK): only the base and the limit
            // move, as below.
            self.base = snd_una;
            self.limit = window(snd_una, snd_max);
            self.sacked = 0;
            return AckUpdate::default();
        }
        let mut out = AckUpdate {
            reneged: self.advance(snd_una),
            ..AckUpdate::default()
        };
        let limit = window(snd_una, snd_max);
        self.limit = limit;
        // A smaller snd_max than before is a caller bug; keep what is still inside.
        self.ranges.retain_mut(|r| {
            r.1 = r.1.min(limit);
            r.0 < r.1
        });

        let mut rest = blocks;
        if let Some(d) = dsack(blocks, snd_una, snd_max) {
            out.dsack = Some(d);
            rest = &blocks[1..];
        }
        if !rest.is_empty() {
            self.before.clear();
            // Exactly the ranges' capacity (at most MAX_RANGES), not amortized growth.
            let want = self.ranges.capacity();
            if self.before.capacity() < want {
                self.before.reserve_exact(want);
            }
            self.before.extend_from_slice(&self.ranges);
            for &(l, r) in rest {
                let (lo, hi) = (l.since(snd_una), r.since(snd_una));
                if lo == 0 || lo >= hi || hi > limit {
                    out.invalid_blocks = out.invalid_blocks.saturating_add(1);
                    continue;
                }
                out.overflowed |= self.insert(lo, hi);
            }
        }
        // The ranges lie inside [1, limit], so their sum fits a u32.
        let after = total(&self.ranges);
        self.sacked = u32::try_from(after).unwrap_or(u32::MAX);
        if !rest.is_empty() {
            let newly = after.saturating_sub(overlap(&self.ranges, &self.before));
            out.newly_sacked = u32::try_from(newly).unwrap_or(u32::MAX);
        }
        out.sacked_above_una = self.sacked;
        out
    }

    /// Moves the base to `snd_una`, forgetting acknowledged ranges. Returns whether the ACK
    /// stopped at or inside a SACKed range (reneging suspected, RFC 2018 §8); that range
    /// then starts at offset 0 (the rest of it is still SACKed).
    fn advance(&mut self, snd_una: SeqNum) -> bool {
        let d = snd_una.since(self.base);
        self.base = snd_una;
        if d == 0 {
            return false;
        }
        if d > self.limit {
            // SND.UNA moved backwards, or past all that was sent: nothing old is meaningful.
            self.ranges.clear();
            return false;
        }
        let reneged = self.ranges.iter().any(|&(lo, hi)| lo <= d && d < hi);
        self.ranges.retain(|&(_, hi)| hi > d);
        for r in &mut self.ranges {
            // Every kept range ends above d; only the one holding d starts at 0.
            r.0 = r.0.saturating_sub(d);
            r.1 = r.1.saturating_sub(d);
        }
        reneged
    }

    /// The octet at SND.UNA is SACKed: the receiver may have reneged (see the module doc).
    pub fn head_sacked(&self) -> bool {
        self.ranges.first().is_some_and(|&(lo, _)| lo == 0)
    }

    /// Records `[lo, hi)` (offsets, `0 < lo < hi <= limit`). Returns true if a range was
    /// dropped or not recorded because of [`MAX_RANGES`].
    fn insert(&mut self, lo: u32, hi: u32) -> bool {
        // Ranges i..j overlap or touch [lo, hi).
        let i = self.ranges.partition_point(|&(_, h)| h < lo);
        let j = self.ranges.partition_point(|&(l, _)| l <= hi);
        if i < j {
            let merged = (lo.min(self.ranges[i].0), hi.max(self.ranges[j - 1].1));
            self.ranges[i] = merged;
            self.ranges.drain(i + 1..j);
            return false;
        }
        if self.ranges.len() >= MAX_RANGES {
            if i >= self.ranges.len() {
                return true; // the new range is the highest: it is the one dropped
            }
            self.ranges.pop();
            self.ranges.insert(i, (lo, hi));
            return true;
        }
        self.ranges.insert(i, (lo, hi));
        false
    }

    /// Whether the octet `seq` is SACKed (false below SND.UNA; at it only while reneging is
    /// suspected).
    pub fn is_sacked(&self, seq: SeqNum) -> bool {
        let off = seq.since(self.base);
        let idx = self.ranges.partition_point(|&(_, hi)| hi <= off);
        self.ranges.get(idx).is_some_and(|&(lo, _)| lo <= off)
    }

    /// The SACKed ranges as offsets from `snd_una`, clipped to `[0, win]`, sorted.
    fn view(&self, snd_una: SeqNum, win: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let shift = i64::from(snd_una.diff(self.base));
        let win = i64::from(win);
        self.ranges.iter().filter_map(move |&(lo, hi)| {
            let lo = (i64::from(lo) - shift).clamp(0, win);
            let hi = (i64::from(hi) - shift).clamp(0, win);
            (lo < hi).then_some((lo as u32, hi as u32))
        })
    }

    /// IsLost for the octet at offset `off` from `snd_una` (RFC 6675 §4).
    fn lost_at(&self, snd_una: SeqNum, win: u32, off: i64, smss: u32, dupthresh: u32) -> bool {
        let smss = u64::from(smss.max(1));
        let (mut bytes, mut segs) = (0u64, 0u64);
        for (lo, hi) in self.view(snd_una, win) {
            // Octets with sequence numbers greater than the one asked about.
            let lo = i64::from(lo).max(off.saturating_add(1));
            let hi = i64::from(hi);
            if lo < hi {
                let n = (hi - lo) as u64;
                bytes += n;
                segs += n.div_ceil(smss);
            }
        }
        segs >= u64::from(dupthresh) || bytes > u64::from(dupthresh.saturating_sub(1)) * smss
    }

    /// RFC 6675 §4 IsLost(SeqNum): at least `dupthresh` SACKed segments above `seq` (each
    /// range counted as `ceil(len / smss)` segments, see the module doc), or more than
    /// `(dupthresh - 1) * smss` octets above `seq` SACKed.
    pub fn is_lost(&self, seq: SeqNum, smss: u32, dupthresh: u32) -> bool {
        let off = i64::from(seq.diff(self.base));
        self.lost_at(self.base, self.limit, off, smss, dupthresh)
    }

    /// SACKed octets in `[a, b)` (offsets from `snd_una`).
    fn sacked_in(&self, snd_una: SeqNum, win: u32, a: u32, b: u32) -> u64 {
        self.view(snd_una, win)
            .map(|(lo, hi)| u64::from(hi.min(b).saturating_sub(lo.max(a))))
            .sum()
    }

    /// RFC 6675 §4 SetPipe over `[snd_una, snd_max)`: each octet not SACKed counts once if it
    /// is not lost (IsLost false) and once more if it was retransmitted (below `high_rxt`,
    /// which is exclusive, see the module doc). Saturates at `u32::MAX`.
    pub fn pipe(
        &self,
        snd_una: SeqNum,
        snd_max: SeqNum,
        high_rxt: SeqNum,
        smss: u32,
        dupthresh: u32,
    ) -> u32 {
        let win = window(snd_una, snd_max);
        // IsLost only gets truer going down (more SACKed above), so the octets not lost are
        // exactly those from some offset up: find it by bisection.
        let (mut a, mut b) = (0u32, win);
        while a < b {
            let mid = a + (b - a) / 2;
            if self.lost_at(snd_una, win, i64::from(mid), smss, dupthresh) {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        let not_lost = u64::from(win - a) - self.sacked_in(snd_una, win, a, win);
        let h = clamp_off(high_rxt, snd_una, win);
        let retransmitted = u64::from(h) - self.sacked_in(snd_una, win, 0, h);
        u32::try_from(not_lost + retransmitted).unwrap_or(u32::MAX)
    }

    /// The lowest unSACKed octet at or above offset `from` below `win`: `(start, end of its
    /// hole, whether SACKed data lies above it)`.
    fn hole_from(&self, snd_una: SeqNum, win: u32, from: u32) -> Option<(u32, u32, bool)> {
        let mut s = from;
        for (lo, hi) in self.view(snd_una, win) {
            if hi <= s {
                continue;
            }
            if lo <= s {
                s = hi;
                continue;
            }
            return Some((s, lo, true));
        }
        (s < win).then_some((s, win, false))
    }

    /// RFC 6675 §4 NextSeg() rule (1): the lowest unSACKed octet at or above `high_rxt`
    /// (exclusive HighRxt, so "above HighRxt") and `snd_una`, below the highest SACKed octet,
    /// for which IsLost is true; returns it with up to `smss` octets, stopping at the next
    /// SACKed range. Rule (2) (new data) is the caller's; see also
    /// [`Scoreboard::next_seg_rule3`] and [`Scoreboard::rescue`].
    pub fn next_seg(
        &self,
        snd_una: SeqNum,
        snd_max: SeqNum,
        high_rxt: SeqNum,
        smss: u32,
        dupthresh: u32,
    ) -> Option<(SeqNum, u32)> {
        let win = window(snd_una, snd_max);
        let (s, end, sacked_above) =
            self.hole_from(snd_una, win, clamp_off(high_rxt, snd_una, win))?;
        // Lost-ness only grows going down, so if the lowest candidate is not lost, none is.
        if !sacked_above || !self.lost_at(snd_una, win, i64::from(s), smss, dupthresh) {
            return None;
        }
        Some((snd_una + s, (end - s).min(smss.max(1))))
    }

    /// RFC 6675 §4 NextSeg() rule (3), for when rules (1) and (2) found nothing: the lowest
    /// unSACKed octet at or above `high_rxt` and below the highest SACKed octet, lost or not,
    /// with up to `smss` octets.
    pub fn next_seg_rule3(
        &self,
        snd_una: SeqNum,
        snd_max: SeqNum,
        high_rxt: SeqNum,
        smss: u32,
    ) -> Option<(SeqNum, u32)> {
        let win = window(snd_una, snd_max);
        let (s, end, sacked_above) =
            self.hole_from(snd_una, win, clamp_off(high_rxt, snd_una, win))?;
        sacked_above.then_some((snd_una + s, (end - s).min(smss.max(1))))
    }

    /// RFC 6675 §4 NextSeg() rule (4), the rescue retransmission: up to `smss` octets ending
    /// with the highest unSACKed octet below `snd_max`, or `None` when all is SACKed. The
    /// once-per-recovery condition (HighACK > RescueRxt) and setting RescueRxt are the
    /// caller's; HighRxt must not be updated for it.
    pub fn rescue(&self, snd_una: SeqNum, snd_max: SeqNum, smss: u32) -> Option<(SeqNum, u32)> {
        let win = window(snd_una, snd_max);
        let (mut prev_hi, mut last_hole) = (0u32, None);
        for (lo, hi) in self.view(snd_una, win) {
            if lo > prev_hi {
                last_hole = Some((prev_hi, lo));
            }
            prev_hi = hi;
        }
        if win > prev_hi {
            last_hole = Some((prev_hi, win));
        }
        let (a, b) = last_hole?;
        let start = a.max(b.saturating_sub(smss.max(1)));
        Some((snd_una + start, b - start))
    }

    /// The lowest unSACKed octets at or above `from` (and `snd_una`) below `snd_max`, up to
    /// `smss`, stopping at the next SACKed range: what to resend after an RTO without
    /// resending SACKed data (RFC 6675 §5.1).
    pub fn next_unsacked(
        &self,
        snd_una: SeqNum,
        snd_max: SeqNum,
        from: SeqNum,
        smss: u32,
    ) -> Option<(SeqNum, u32)> {
        let win = window(snd_una, snd_max);
        let (s, end, _) = self.hole_from(snd_una, win, clamp_off(from, snd_una, win))?;
        Some((snd_una + s, (end - s).min(smss.max(1))))
    }

    /// Octets SACKed above SND.UNA.
    pub fn sacked_bytes(&self) -> u32 {
        self.sacked
    }

    /// One past the highest SACKed octet (the right edge of the highest range).
    pub fn highest_sacked(&self) -> Option<SeqNum> {
        self.ranges.last().map(|&(_, hi)| self.base + hi)
    }

    /// The SACKed ranges `(left, right)`, right exclusive, lowest first.
    pub fn ranges(&self) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        self.ranges
            .iter()
            .map(|&(lo, hi)| (self.base + lo, self.base + hi))
    }

    /// Number of SACKed ranges held (at most [`MAX_RANGES`]).
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Ranges sorted, disjoint, not touching, inside `(0, limit]` of the last update's
    /// SND.UNA, and their byte count right.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut prev = None;
        for &(lo, hi) in &self.ranges {
            if prev.is_some_and(|p| lo <= p) || hi <= lo || hi > self.limit {
                return Err(format!(
                    "scoreboard range ({lo}, {hi}) after {prev:?}, limit {} (base {})",
                    self.limit, self.base.0
                ));
            }
            prev = Some(hi);
        }
        if self.ranges.len() > MAX_RANGES || u64::from(self.sacked) != total(&self.ranges) {
            return Err(format!(
                "scoreboard: {} ranges (max {MAX_RANGES}), {} SACKed bytes counted of {}",
                self.ranges.len(),
                self.sacked,
                total(&self.ranges)
            ));
        }
        Ok(())
    }

    /// Forgets every SACKed range (RFC 2018 §8, after an RTO that finds reneging suspected;
    /// otherwise they are kept, see the module doc). Keeps the base and the allocation.
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.sacked = 0;
    }
}

#[cfg(test)]
mod tests;
