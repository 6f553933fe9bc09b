//! TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).
//!
//! `SeqNum` deliberately has no `Ord`: the order is not total (a and a + 2^31 are each
//! "after" the other). Compare with [`SeqNum::lt`] and friends, which read `a < b` as
//! "the signed distance from a to b is positive", as Linux `before()`/`after()` do.
//! Lengths and distances stay `u32`.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence number: arithmetic and comparison modulo 2^32 (RFC 9293 §3.4).
/// Not `Ord`: the order is only meaningful within half the sequence space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance from `other` to `self` (`self - other` read as an i32).
    #[inline]
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// `self` comes before `other` (modulo 2^32).
    #[inline]
    pub fn lt(self, other: SeqNum) -> bool {
        self.diff(other) < 0
    }
    /// `self` comes before or is `other`.
    #[inline]
    pub fn le(self, other: SeqNum) -> bool {
        self.diff(other) <= 0
    }
    /// `self` comes after `other`.
    #[inline]
    pub fn gt(self, other: SeqNum) -> bool {
        self.diff(other) > 0
    }
    /// `self` comes after or is `other`.
    #[inline]
    pub fn ge(self, other: SeqNum) -> bool {
        self.diff(other) >= 0
    }
    /// `start <= self < start + len` modulo 2^32 (an empty window holds nothing).
    #[inline]
    pub fn in_window(self, start: SeqNum, len: u32) -> bool {
        self.0.wrapping_sub(start.0) < len
    }
    /// The later of two sequence numbers.
    #[inline]
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.lt(other) {
            other
        } else {
            self
        }
    }
    /// The earlier of two sequence numbers.
    #[inline]
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.lt(other) {
            self
        } else {
            other
        }
    }
    /// Unsigned distance from `earlier` to `self`, assuming `earlier <= self`.
    #[inline]
    pub fn since(self, earlier: SeqNum) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}
impl AddAssign<u32> for SeqNum {
    #[inline]
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}
impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps_at_2_pow_32() {
        let a = SeqNum(0xFFFF_FFF0);
        let b = a + 0x20;
        assert_eq!(b, SeqNum(0x10));
        assert!(a.lt(b) && b.gt(a) && a.le(b) && b.ge(a));
        assert_eq!(b.since(a), 0x20);
        assert!(SeqNum(0x5).in_window(a, 0x20));
        assert!(!SeqNum(0x10).in_window(a, 0x20));
        assert!(!a.in_window(a, 0));
        assert_eq!(a.max(b), b);
        assert_eq!(b.min(a), a);
    }

    proptest! {
        #[test]
        fn order_is_consistent_across_wrap(x: u32, d in 1u32..0x8000_0000) {
            let a = SeqNum(x);
            let b = a + d;
            prop_assert!(a.lt(b));
            prop_assert!(b.gt(a));
            prop_assert!(!b.le(a));
            prop_assert_eq!(b - d, a);
            prop_assert_eq!(b.since(a), d);
            prop_assert!(a.in_window(a, d) && !b.in_window(a, d));
            prop_assert!((b - 1).in_window(a, d));
        }

        #[test]
        fn equal_is_le_and_ge(x: u32) {
            let a = SeqNum(x);
            prop_assert!(a.le(a) && a.ge(a) && !a.lt(a) && !a.gt(a));
        }
    }
}
