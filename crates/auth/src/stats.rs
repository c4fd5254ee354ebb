//! Counts of auth-store database calls by operation, shown on `/metrics` and the dashboard:
//! the cost the seed page talks about ("watch `adapter:findMany` calls for JWKS disappear").

use std::sync::atomic::{AtomicU64, Ordering};

/// Every counted operation.
pub const OPERATIONS: [&str; 17] = [
    "session.find",
    "session.find_many",
    "session.insert",
    "session.update",
    "session.delete",
    "session.delete_many",
    "user.find_by_email",
    "user.insert",
    "user.update",
    "user.delete",
    "account.find",
    "account.insert",
    "account.update",
    "jwks.find_many",
    "jwks.insert",
    "jwks.env",
    "secret.find",
];

/// Counters, one per operation.
#[derive(Debug, Default)]
pub struct AuthStats {
    counts: [AtomicU64; OPERATIONS.len()],
}

impl AuthStats {
    /// Counts one call of `op` (one of [`OPERATIONS`]).
    pub fn bump(&self, op: &str) {
        let i = OPERATIONS.iter().position(|o| *o == op);
        debug_assert!(i.is_some(), "uncounted auth-store operation {op}");
        if let Some(i) = i {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `(operation, count)` for every operation.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        OPERATIONS
            .iter()
            .zip(&self.counts)
            .map(|(op, c)| (*op, c.load(Ordering::Relaxed)))
            .collect()
    }

    /// The count of one operation.
    pub fn get(&self, op: &str) -> u64 {
        self.snapshot()
            .into_iter()
            .find(|(o, _)| *o == op)
            .map_or(0, |(_, c)| c)
    }

    /// Total of the `jwks.*` operations.
    pub fn jwks_total(&self) -> u64 {
        self.snapshot()
            .into_iter()
            .filter(|(o, _)| o.starts_with("jwks."))
            .map(|(_, c)| c)
            .sum()
    }
}
