//! Commits made elsewhere: other processes (or other handles) on the same database.
//!
//! Every commit logs its write set in the store's commit log, in the same transaction. This
//! process reads the records it did not write, in timestamp order, and feeds each to the same
//! [`Invalidation::publish`](crate::invalidation::Invalidation) as its own commits, so a write
//! made by another process re-runs exactly the subscriptions and cached results it touched.
//!
//! Two paths read the log, both under the engine's publish lock so that nothing is published
//! twice or out of order:
//! - the watch thread, every poll interval, up to the stored latest commit;
//! - a local commit whose transaction began after a commit this process has not published yet
//!   ([`WriteTxn::previous_ts`](ferrovex_store::WriteTxn::previous_ts)): the records before it
//!   are published first, so publishing our own commit never skips one of theirs.
//!
//! Invalidating everything (counted in `commit_log_full_invalidations`) is the fallback when
//! the precise answer is unknown: a write set too large to log ([`WRITES_UNKNOWN`]), a cursor
//! below the pruned floor of the log, or a log that cannot be read. Over-invalidation costs
//! re-runs; a missed invalidation would serve stale data, so it never happens.
//!
//! [`WRITES_UNKNOWN`]: crate::readset::WRITES_UNKNOWN

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferrovex_store::Timestamp;

use crate::committer::Committed;
use crate::engine::Inner;
use crate::error::EngineError;
use crate::readset::WriteSet;

/// Records read from the commit log per query.
const LOG_PAGE: usize = 512;

/// Publishes a commit of this process. Called with the publish lock held (by the committer).
pub(crate) fn publish_local(inner: &Inner, committed: Committed, writes: Arc<WriteSet>) {
    if committed.previous > inner.invalidation.published() {
        catch_up_locked(inner, Some(committed.ts));
    }
    inner.invalidation.publish(committed.ts, writes);
}

/// Publishes every commit of other processes newer than what this process published, up to
/// the stored latest commit (or only those before `before`). The publish lock must be held.
pub(crate) fn catch_up_locked(inner: &Inner, before: Option<Timestamp>) {
    let origin = inner.persistence.origin();
    let metrics = &inner.metrics;
    // The newest timestamp this catch-up may publish.
    let limit = before.map(|b| Timestamp::from_nanos(b.as_nanos().saturating_sub(1)));
    loop {
        let after = inner.invalidation.published();
        if limit.is_some_and(|l| after >= l) {
            return;
        }
        let page = match inner.persistence.read_commit_log(after, LOG_PAGE) {
            Ok(page) => {
                if inner.log_unreadable.swap(false, Ordering::Relaxed) {
                    tracing::info!("the commit log is readable again");
                }
                page
            }
            Err(e) => {
                if !inner.log_unreadable.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "cannot read the commit log (retrying)");
                }
                // Unknown writes before our own commit: assume everything changed.
                if let Some(limit) = limit {
                    inner.invalidation.publish_unknown(limit);
                    metrics
                        .commit_log_full_invalidations
                        .fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        };
        let through = limit.map_or(page.through, |l| page.through.min(l));
        if page.pruned_through > after {
            // Records after our cursor were pruned before we read them. (A pruning commit
            // is newer than what it pruned, so this never passes `limit`.)
            tracing::warn!("fell behind the pruned commit log: invalidating everything");
            inner.invalidation.publish_unknown(page.pruned_through);
            metrics
                .commit_log_full_invalidations
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        for record in page.records.iter().filter(|r| r.ts <= through) {
            if record.origin == origin {
                continue; // ours: published when it committed
            }
            metrics.foreign_commits.fetch_add(1, Ordering::Relaxed);
            match WriteSet::decode(&record.writes) {
                Some(writes) => {
                    inner.invalidation.publish(record.ts, Arc::new(writes));
                }
                None => {
                    inner.invalidation.publish_unknown(record.ts);
                    metrics
                        .commit_log_full_invalidations
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Commits up to `through` that left no record wrote nothing.
        inner.invalidation.advance(through);
        if !page.more || limit.is_some_and(|l| through >= l) {
            return;
        }
    }
}

/// Reads other processes' commits every `every` until the engine stops or is dropped.
pub(crate) fn spawn_watch(inner: &Arc<Inner>, every: Duration) -> Result<(), EngineError> {
    let weak = Arc::downgrade(inner);
    std::thread::Builder::new()
        .name("ferrovex-foreign-commits".to_owned())
        .spawn(move || {
            loop {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                // A notification from the database cuts the wait short; the poll bounds it.
                inner.persistence.wait_for_commits(every);
                if inner.stopped.load(Ordering::Relaxed) {
                    return;
                }
                let _published = inner.publish_lock.lock();
                catch_up_locked(&inner, None);
            }
        })
        .map(|_| ())
        .map_err(|e| EngineError::Store(ferrovex_store::StoreError::Backend(e.to_string())))
}
