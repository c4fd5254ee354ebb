//! Commit timestamps (nanoseconds since the Unix epoch) and the clock they come from.

use std::time::{SystemTime, UNIX_EPOCH};

/// A commit timestamp in nanoseconds since the Unix epoch.
///
/// Timestamps are strictly increasing across commits and across restarts: each commit takes
/// `max(last + 1, clock.now())`, and `last` is persisted with the commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The zero timestamp (an empty database).
    pub const ZERO: Timestamp = Timestamp(0);

    /// Wraps a raw nanosecond value.
    pub const fn from_nanos(ns: u64) -> Self {
        Timestamp(ns)
    }

    /// The raw nanosecond value.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Milliseconds since the epoch as a float, the unit of `_creationTime`.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    /// The next timestamp for a commit after `self`, never behind `now`.
    pub fn next_commit(self, now: Timestamp) -> Timestamp {
        Timestamp(self.0.saturating_add(1).max(now.0))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where "now" comes from, so tests can control time.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Timestamp(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_commit_is_strictly_increasing_even_when_clock_goes_back() {
        let last = Timestamp::from_nanos(1_000);
        assert_eq!(
            last.next_commit(Timestamp::from_nanos(10)).as_nanos(),
            1_001
        );
        assert_eq!(
            last.next_commit(Timestamp::from_nanos(5_000)).as_nanos(),
            5_000
        );
    }
}
