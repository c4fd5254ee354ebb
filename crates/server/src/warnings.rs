//! The server's own recent warnings and errors (what it logged at `WARN` or `ERROR`), kept in a
//! bounded ring for the dashboard's health page. The log layer that feeds it lives where the
//! subscriber is set up (`ferrovex/src/logging.rs`); log lines never hold secrets, so neither
//! does this.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Warnings kept (oldest dropped).
pub const MAX_WARNINGS: usize = 200;
/// Longest message kept (characters).
pub const MAX_WARNING_CHARS: usize = 2000;

/// One logged warning or error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// When, in ms since the epoch.
    pub time_ms: u64,
    /// `WARN` or `ERROR`.
    pub level: &'static str,
    /// The module that logged it.
    pub target: String,
    /// The message and its fields.
    pub message: String,
}

static RING: Mutex<VecDeque<Warning>> = Mutex::new(VecDeque::new());

/// Records a warning (called by the log layer).
pub fn record(level: &'static str, target: &str, message: &str) {
    let time_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let warning = Warning {
        time_ms,
        level,
        target: target.chars().take(200).collect(),
        message: message.chars().take(MAX_WARNING_CHARS).collect(),
    };
    let mut ring = RING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if ring.len() == MAX_WARNINGS {
        ring.pop_front();
    }
    ring.push_back(warning);
}

/// The recorded warnings, newest first.
pub fn recent() -> Vec<Warning> {
    let ring = RING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ring.iter().rev().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_is_bounded_and_newest_first() {
        for i in 0..(MAX_WARNINGS + 5) {
            record("WARN", "test", &format!("w{i}"));
        }
        let recent = recent();
        assert!(recent.len() <= MAX_WARNINGS);
        assert_eq!(recent[0].message, format!("w{}", MAX_WARNINGS + 4));
    }
}
