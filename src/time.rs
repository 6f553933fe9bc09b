//! Virtual time for the sans-IO core.
//!
//! The core never reads a clock: every input carries an [`Instant`] given by the caller
//! (the runtime reads the real clock once per wakeup; tests build instants from numbers).
//! Both types count microseconds in a `u64` and print like `1.500s`.
//!
//! This module does not know where time comes from, and does not sleep.

use core::fmt;
use core::ops::{Add, AddAssign, Mul, Sub};

/// A point in time, in microseconds since an arbitrary epoch chosen by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

/// A span of time in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);

    /// `us` microseconds after the epoch.
    pub const fn from_micros(us: u64) -> Instant {
        Instant(us)
    }
    /// `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms.saturating_mul(1000))
    }
    /// `s` seconds after the epoch.
    pub const fn from_secs(s: u64) -> Instant {
        Instant(s.saturating_mul(1_000_000))
    }
    /// Microseconds since the epoch.
    pub const fn micros(self) -> u64 {
        self.0
    }
    /// Milliseconds since the epoch (rounded down).
    pub const fn millis(self) -> u64 {
        self.0 / 1000
    }
    /// Time since `earlier`, or zero if `earlier` is later (time never runs backwards here).
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// No time.
    pub const ZERO: Duration = Duration(0);
    /// The longest duration (an unset deadline).
    pub const MAX: Duration = Duration(u64::MAX);

    /// `us` microseconds.
    pub const fn from_micros(us: u64) -> Duration {
        Duration(us)
    }
    /// `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Duration {
        Duration(ms.saturating_mul(1000))
    }
    /// `s` seconds.
    pub const fn from_secs(s: u64) -> Duration {
        Duration(s.saturating_mul(1_000_000))
    }
    /// In microseconds.
    pub const fn micros(self) -> u64 {
        self.0
    }
    /// In milliseconds (rounded down).
    pub const fn millis(self) -> u64 {
        self.0 / 1000
    }
    /// In seconds (rounded down).
    pub const fn secs(self) -> u64 {
        self.0 / 1_000_000
    }
    /// `self - rhs`, zero if `rhs` is longer.
    pub fn saturating_sub(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_sub(rhs.0))
    }
    /// The shorter of the two.
    pub fn min(self, other: Duration) -> Duration {
        Duration(self.0.min(other.0))
    }
    /// The longer of the two.
    pub fn max(self, other: Duration) -> Duration {
        Duration(self.0.max(other.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs.0))
    }
}
impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}
impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: a later `rhs` gives zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}
impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}
impl Sub for Duration {
    type Output = Duration;
    fn sub(self, rhs: Duration) -> Duration {
        self.saturating_sub(rhs)
    }
}
impl Mul<u32> for Duration {
    type Output = Duration;
    fn mul(self, rhs: u32) -> Duration {
        Duration(self.0.saturating_mul(u64::from(rhs)))
    }
}

impl From<core::time::Duration> for Duration {
    fn from(d: core::time::Duration) -> Duration {
        Duration(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}
impl From<Duration> for core::time::Duration {
    fn from(d: Duration) -> core::time::Duration {
        core::time::Duration::from_micros(d.0)
    }
}

fn fmt_micros(us: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}.{:03}s", us / 1_000_000, (us % 1_000_000) / 1000)
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_micros(self.0, f)
    }
}
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_micros(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_seconds_with_millis() {
        assert_eq!(Instant::from_millis(1500).to_string(), "1.500s");
        assert_eq!(Duration::from_micros(999).to_string(), "0.000s");
        assert_eq!(Duration::from_secs(60).to_string(), "60.000s");
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_secs(1);
        assert_eq!(t + Duration::from_millis(250), Instant::from_millis(1250));
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(Duration::MAX + Duration::from_secs(1), Duration::MAX);
        assert_eq!(Duration::from_millis(200) * 3, Duration::from_millis(600));
    }
}
