//! Precise invalidation: who read what, which commits touched it, and the query result cache
//! kept consistent with both under one lock.
//!
//! Every cached result and every subscribed query registers a *watcher* on its read set. When a
//! commit is published, only the watchers whose ranges contain a written key fire. Ranges are
//! found through their longest common prefix: a key can only lie in `[start, end)` if it starts
//! with the common prefix of `start` and `end`, so looking up each prefix of a written key finds
//! every candidate range without visiting unrelated ones. The work per commit grows with the
//! number of affected watchers, not with the number of watchers.
//!
//! A watcher is registered together with the snapshot timestamp its result was computed at;
//! registration checks the recent-commit log for commits after that snapshot which overlap
//! the read set, so a result that went stale while it was being computed is never kept.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ferrovex_store::{DocumentId, IndexId, KeyRange, Timestamp};
use ferrovex_values::Value;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::log::Metrics;
use crate::path::FunctionPath;
use crate::readset::{ReadSet, WriteSet};

/// Commits remembered for registration checks; a result computed at an older snapshot is
/// treated as stale.
pub const COMMIT_LOG_LEN: usize = 4096;
/// Default memory bound of the query result cache.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Identifies a registered watcher.
pub type WatcherId = u64;

/// The per-socket handle the engine marks when a subscribed query must be re-run. Each mark
/// carries the timestamp from which the result the client holds is no longer valid.
#[derive(Debug, Default)]
pub struct SessionHandle {
    dirty: Mutex<BTreeMap<u32, Timestamp>>,
    notify: Notify,
}

impl SessionHandle {
    /// A new handle.
    pub fn new() -> Arc<SessionHandle> {
        Arc::new(SessionHandle::default())
    }

    /// Marks a query as invalid from `from` on (keeping the earliest mark) and wakes the
    /// session. `Timestamp::ZERO` means "has no valid result yet".
    pub fn mark_dirty(&self, query_id: u32, from: Timestamp) {
        self.dirty
            .lock()
            .entry(query_id)
            .and_modify(|t| *t = (*t).min(from))
            .or_insert(from);
        self.notify.notify_one();
    }

    /// Takes the queries to re-run with their invalidation timestamps.
    pub fn take_dirty(&self) -> BTreeMap<u32, Timestamp> {
        std::mem::take(&mut *self.dirty.lock())
    }

    /// Forgets a query (it was removed by the client).
    pub fn forget(&self, query_id: u32) {
        self.dirty.lock().remove(&query_id);
    }

    /// Waits until some query is marked dirty.
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

/// Key of a cached query result: canonical path and canonical (sorted) arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The query.
    pub path: FunctionPath,
    /// Canonical Convex JSON of the arguments.
    pub args: String,
    /// `None` when the result does not depend on the caller; else the caller's token
    /// identifier (`""` for anonymous callers).
    pub identity: Option<String>,
}

/// What a watcher belongs to.
enum WatcherKind {
    CacheEntry(CacheKey),
    Subscription {
        session: Arc<SessionHandle>,
        query_id: u32,
    },
}

/// A cache hit.
#[derive(Clone, Debug)]
pub struct CachedResult {
    /// The result value.
    pub value: Value,
    /// The original log lines, replayed to the caller.
    pub log_lines: Vec<String>,
    /// What the original run read.
    pub reads: Arc<ReadSet>,
    /// The snapshot it was computed at.
    pub ts: Timestamp,
}

struct CacheEntry {
    result: CachedResult,
    watcher: WatcherId,
    size: usize,
    tick: u64,
}

/// Ranges of one index, bucketed by the common prefix of their bounds.
#[derive(Default)]
struct IndexRanges {
    by_prefix: HashMap<Vec<u8>, HashMap<WatcherId, Vec<KeyRange>>>,
    /// How many buckets exist per prefix length (only these lengths are probed).
    lengths: BTreeMap<usize, usize>,
}

fn common_prefix(range: &KeyRange) -> Vec<u8> {
    match &range.end {
        None => Vec::new(),
        Some(end) => range
            .start
            .iter()
            .zip(end)
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| *a)
            .collect(),
    }
}

#[derive(Default)]
struct ReadIndex {
    indexes: HashMap<IndexId, IndexRanges>,
    ids: HashMap<DocumentId, HashSet<WatcherId>>,
}

impl ReadIndex {
    fn insert(&mut self, id: WatcherId, reads: &ReadSet) {
        for (index, range) in &reads.ranges {
            let ranges = self.indexes.entry(index.clone()).or_default();
            let prefix = common_prefix(range);
            let len = prefix.len();
            let bucket = ranges.by_prefix.entry(prefix).or_insert_with(|| {
                *ranges.lengths.entry(len).or_insert(0) += 1;
                HashMap::new()
            });
            bucket.entry(id).or_default().push(range.clone());
        }
        for doc in &reads.ids {
            self.ids.entry(doc.clone()).or_default().insert(id);
        }
    }

    fn remove(&mut self, id: WatcherId, reads: &ReadSet) {
        for (index, range) in &reads.ranges {
            let Some(ranges) = self.indexes.get_mut(index) else {
                continue;
            };
            let prefix = common_prefix(range);
            let len = prefix.len();
            if let Some(bucket) = ranges.by_prefix.get_mut(&prefix) {
                bucket.remove(&id);
                if bucket.is_empty() {
                    ranges.by_prefix.remove(&prefix);
                    if let Some(n) = ranges.lengths.get_mut(&len) {
                        *n -= 1;
                        if *n == 0 {
                            ranges.lengths.remove(&len);
                        }
                    }
                }
            }
            if ranges.by_prefix.is_empty() {
                self.indexes.remove(index);
            }
        }
        for doc in &reads.ids {
            if let Some(set) = self.ids.get_mut(doc) {
                set.remove(&id);
                if set.is_empty() {
                    self.ids.remove(doc);
                }
            }
        }
    }

    fn affected(&self, writes: &WriteSet) -> HashSet<WatcherId> {
        let mut out = HashSet::new();
        for (index, key) in &writes.keys {
            let Some(ranges) = self.indexes.get(index) else {
                continue;
            };
            for &len in ranges.lengths.keys() {
                if len > key.len() {
                    break;
                }
                let Some(bucket) = ranges.by_prefix.get(&key[..len]) else {
                    continue;
                };
                for (id, ranges) in bucket {
                    if ranges.iter().any(|r| r.contains(key)) {
                        out.insert(*id);
                    }
                }
            }
        }
        for doc in &writes.ids {
            if let Some(set) = self.ids.get(doc) {
                out.extend(set.iter().copied());
            }
        }
        out
    }
}

struct State {
    published: Timestamp,
    log: VecDeque<(Timestamp, Arc<WriteSet>)>,
    /// Commits at or before this timestamp have left the log.
    log_floor: Timestamp,
    index: ReadIndex,
    watchers: HashMap<WatcherId, (Arc<ReadSet>, WatcherKind)>,
    next_id: WatcherId,
    cache: HashMap<CacheKey, CacheEntry>,
    lru: BTreeMap<u64, CacheKey>,
    tick: u64,
    cache_bytes: usize,
}

/// The invalidation state and the query cache.
pub(crate) struct Invalidation {
    state: Mutex<State>,
    max_cache_bytes: usize,
    metrics: Arc<Metrics>,
}

fn entry_size(result: &CachedResult, key: &CacheKey) -> usize {
    let reads: usize = result
        .reads
        .ranges
        .iter()
        .map(|(i, r)| i.as_str().len() + r.start.len() + r.end.as_ref().map_or(0, Vec::len))
        .sum();
    let logs: usize = result.log_lines.iter().map(String::len).sum();
    result.value.to_string().len() + logs + reads + key.args.len() + 256
}

impl State {
    /// The first published commit after `snapshot` that overlaps `reads`, if any. A snapshot
    /// older than the log counts as invalidated right after itself.
    fn first_overlap(&self, reads: &ReadSet, snapshot: Timestamp) -> Option<Timestamp> {
        if snapshot < self.log_floor {
            return Some(Timestamp::from_nanos(snapshot.as_nanos() + 1));
        }
        let newer = self
            .log
            .iter()
            .rev()
            .take_while(|(ts, _)| *ts > snapshot)
            .count();
        self.log
            .iter()
            .skip(self.log.len() - newer)
            .find(|(_, writes)| reads.overlaps(writes))
            .map(|(ts, _)| *ts)
    }

    fn stale(&self, reads: &ReadSet, snapshot: Timestamp) -> bool {
        self.first_overlap(reads, snapshot).is_some()
    }

    fn add_watcher(&mut self, reads: Arc<ReadSet>, kind: WatcherKind) -> WatcherId {
        self.next_id += 1;
        let id = self.next_id;
        self.index.insert(id, &reads);
        self.watchers.insert(id, (reads, kind));
        id
    }

    fn remove_watcher(&mut self, id: WatcherId) -> Option<WatcherKind> {
        let (reads, kind) = self.watchers.remove(&id)?;
        self.index.remove(id, &reads);
        Some(kind)
    }

    fn remove_cache_entry(&mut self, key: &CacheKey) {
        if let Some(entry) = self.cache.remove(key) {
            self.lru.remove(&entry.tick);
            self.cache_bytes -= entry.size;
            self.remove_watcher(entry.watcher);
        }
    }
}

impl Invalidation {
    pub(crate) fn new(
        published: Timestamp,
        max_cache_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> Invalidation {
        Invalidation {
            state: Mutex::new(State {
                published,
                log: VecDeque::new(),
                log_floor: published,
                index: ReadIndex::default(),
                watchers: HashMap::new(),
                next_id: 0,
                cache: HashMap::new(),
                lru: BTreeMap::new(),
                tick: 0,
                cache_bytes: 0,
            }),
            max_cache_bytes,
            metrics,
        }
    }

    /// Publishes a commit: fires every watcher it touches. Returns how many fired.
    pub(crate) fn publish(&self, ts: Timestamp, writes: Arc<WriteSet>) -> usize {
        if writes.everything {
            return self.publish_unknown(ts);
        }
        let mut state = self.state.lock();
        let affected = state.index.affected(&writes);
        self.fire(&mut state, &affected, ts);
        state.log.push_back((ts, writes));
        while state.log.len() > COMMIT_LOG_LEN {
            if let Some((old, _)) = state.log.pop_front() {
                state.log_floor = old;
            }
        }
        state.published = state.published.max(ts);
        affected.len()
    }

    /// Moves the published timestamp to `ts` for commits known to have written nothing.
    pub(crate) fn advance(&self, ts: Timestamp) {
        let mut state = self.state.lock();
        state.published = state.published.max(ts);
    }

    /// Publishes commits made elsewhere (another process on the same database) up to `ts`,
    /// whose writes are unknown here: every watcher fires, the cache empties, and a result
    /// computed at a snapshot before `ts` counts as stale. Returns how many fired.
    pub(crate) fn publish_unknown(&self, ts: Timestamp) -> usize {
        let mut state = self.state.lock();
        let all: Vec<WatcherId> = state.watchers.keys().copied().collect();
        self.fire(&mut state, &all, ts);
        state.log.clear();
        state.log_floor = state.log_floor.max(ts);
        state.published = state.published.max(ts);
        all.len()
    }

    fn fire<'a>(
        &self,
        state: &mut State,
        watchers: impl IntoIterator<Item = &'a WatcherId>,
        ts: Timestamp,
    ) {
        for id in watchers {
            match state.remove_watcher(*id) {
                Some(WatcherKind::CacheEntry(key)) => state.remove_cache_entry(&key),
                Some(WatcherKind::Subscription { session, query_id }) => {
                    self.metrics
                        .subscription_reruns
                        .fetch_add(1, Ordering::Relaxed);
                    session.mark_dirty(query_id, ts);
                }
                None => {}
            }
        }
    }

    /// The latest published commit.
    pub(crate) fn published(&self) -> Timestamp {
        self.state.lock().published
    }

    /// Registers a subscription result computed at `snapshot`. If a published commit after
    /// the snapshot already overlaps it, the query is marked dirty from that commit on.
    pub(crate) fn watch(
        &self,
        session: &Arc<SessionHandle>,
        query_id: u32,
        reads: Arc<ReadSet>,
        snapshot: Timestamp,
    ) -> WatcherId {
        let mut state = self.state.lock();
        if let Some(from) = state.first_overlap(&reads, snapshot) {
            session.mark_dirty(query_id, from);
        }
        state.add_watcher(
            reads,
            WatcherKind::Subscription {
                session: session.clone(),
                query_id,
            },
        )
    }

    /// Removes a watcher (a removed subscription or a closed socket).
    pub(crate) fn unwatch(&self, id: WatcherId) {
        self.state.lock().remove_watcher(id);
    }

    /// The published timestamp and the session's pending invalidations, read together: every
    /// result the session holds and that is not pending is valid at the published timestamp.
    pub(crate) fn pending(&self, session: &SessionHandle) -> (Timestamp, BTreeMap<u32, Timestamp>) {
        let state = self.state.lock();
        let dirty = session.dirty.lock().clone();
        (state.published, dirty)
    }

    /// A valid cached result.
    pub(crate) fn cache_get(&self, key: &CacheKey) -> Option<CachedResult> {
        let mut state = self.state.lock();
        state.tick += 1;
        let tick = state.tick;
        let entry = state.cache.get_mut(key)?;
        let old = std::mem::replace(&mut entry.tick, tick);
        let result = entry.result.clone();
        state.lru.remove(&old);
        state.lru.insert(tick, key.clone());
        Some(result)
    }

    /// Caches a result computed at `result.ts` unless a commit since then made it stale.
    /// Returns whether it was cached.
    pub(crate) fn cache_insert(&self, key: CacheKey, result: CachedResult) -> bool {
        let size = entry_size(&result, &key);
        if size > self.max_cache_bytes / 4 {
            return false;
        }
        let mut state = self.state.lock();
        if state.stale(&result.reads, result.ts) {
            return false;
        }
        state.remove_cache_entry(&key);
        let watcher = state.add_watcher(result.reads.clone(), WatcherKind::CacheEntry(key.clone()));
        state.tick += 1;
        let tick = state.tick;
        state.lru.insert(tick, key.clone());
        state.cache_bytes += size;
        state.cache.insert(
            key,
            CacheEntry {
                result,
                watcher,
                size,
                tick,
            },
        );
        while state.cache_bytes > self.max_cache_bytes {
            let Some((_, oldest)) = state.lru.pop_first() else {
                break;
            };
            state.remove_cache_entry(&oldest);
        }
        true
    }

    /// Cache size in bytes (estimated) and entry count.
    pub(crate) fn cache_usage(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.cache_bytes, state.cache.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: &[u8], end: &[u8]) -> KeyRange {
        KeyRange {
            start: start.to_vec(),
            end: Some(end.to_vec()),
        }
    }

    fn reads(index: &IndexId, r: KeyRange) -> Arc<ReadSet> {
        let mut rs = ReadSet::default();
        rs.add_range(index.clone(), r);
        Arc::new(rs)
    }

    fn writes(index: &IndexId, key: &[u8]) -> Arc<WriteSet> {
        Arc::new(WriteSet {
            keys: vec![(index.clone(), key.to_vec())],
            ids: Default::default(),
            everything: false,
        })
    }

    #[test]
    fn only_watchers_whose_range_holds_the_written_key_fire() {
        let idx = IndexId::new(&ferrovex_store::TableName::system("t"), "i");
        let inv = Invalidation::new(Timestamp::ZERO, 1 << 20, Arc::new(Metrics::default()));
        let session = SessionHandle::new();
        for q in 0..1000u32 {
            let start = format!("chan{q:04}");
            let mut end = start.clone().into_bytes();
            end.push(0xFF);
            let r = reads(&idx, range(start.as_bytes(), &end));
            inv.watch(&session, q, r, Timestamp::ZERO);
        }
        let fired = inv.publish(Timestamp::from_nanos(1), writes(&idx, b"chan0042xyz"));
        assert_eq!(fired, 1);
        let dirty: Vec<_> = session.take_dirty().into_iter().collect();
        assert_eq!(dirty, vec![(42, Timestamp::from_nanos(1))]);
        // A watcher fires once; it must re-register after re-running.
        let again = inv.publish(Timestamp::from_nanos(2), writes(&idx, b"chan0042xyz"));
        assert_eq!(again, 0);
    }

    #[test]
    fn a_result_that_went_stale_while_computing_is_marked_dirty_from_that_commit() {
        let idx = IndexId::new(&ferrovex_store::TableName::system("t"), "i");
        let inv = Invalidation::new(Timestamp::ZERO, 1 << 20, Arc::new(Metrics::default()));
        inv.publish(Timestamp::from_nanos(5), writes(&idx, b"b"));
        let session = SessionHandle::new();
        // Computed at ts 4, before the commit at 5 that wrote inside its range: invalid from 5.
        inv.watch(
            &session,
            1,
            reads(&idx, range(b"a", b"c")),
            Timestamp::from_nanos(4),
        );
        let dirty: Vec<_> = session.take_dirty().into_iter().collect();
        assert_eq!(dirty, vec![(1, Timestamp::from_nanos(5))]);
        // Computed at ts 5: up to date. A disjoint range computed at 4 is fine too.
        inv.watch(
            &session,
            1,
            reads(&idx, range(b"a", b"c")),
            Timestamp::from_nanos(5),
        );
        inv.watch(
            &session,
            2,
            reads(&idx, range(b"x", b"z")),
            Timestamp::from_nanos(4),
        );
        assert!(session.take_dirty().is_empty());
    }

    #[test]
    fn cache_entries_are_dropped_by_overlapping_commits_and_by_the_memory_bound() {
        let idx = IndexId::new(&ferrovex_store::TableName::system("t"), "i");
        let inv = Invalidation::new(Timestamp::ZERO, 64 * 1024, Arc::new(Metrics::default()));
        let key = |n: usize| CacheKey {
            path: FunctionPath::parse("m:q").unwrap(),
            args: format!("{{\"n\":{n}}}"),
            identity: None,
        };
        let result = |r: &[u8]| CachedResult {
            value: Value::from("x".repeat(1000)),
            log_lines: vec![],
            reads: reads(&idx, range(r, b"zz")),
            ts: Timestamp::ZERO,
        };
        assert!(inv.cache_insert(key(0), result(b"m")));
        assert!(inv.cache_get(&key(0)).is_some());
        inv.publish(Timestamp::from_nanos(1), writes(&idx, b"a"));
        assert!(
            inv.cache_get(&key(0)).is_some(),
            "a write outside the range keeps the entry"
        );
        inv.publish(Timestamp::from_nanos(2), writes(&idx, b"n"));
        assert!(
            inv.cache_get(&key(0)).is_none(),
            "a write inside the range drops it"
        );
        let stale = CachedResult {
            ts: Timestamp::from_nanos(1),
            ..result(b"m")
        };
        assert!(
            !inv.cache_insert(key(1), stale),
            "computed before the overlapping commit at 2"
        );
        for n in 0..200 {
            let fresh = CachedResult {
                ts: Timestamp::from_nanos(2),
                ..result(b"m")
            };
            assert!(inv.cache_insert(key(n), fresh));
        }
        let (bytes, entries) = inv.cache_usage();
        assert!(
            bytes <= 64 * 1024 && entries < 200,
            "{bytes} bytes in {entries} entries"
        );
        assert!(
            inv.cache_get(&key(199)).is_some(),
            "the newest entry survives eviction"
        );
        assert!(inv.cache_get(&key(0)).is_none(), "the oldest was evicted");
    }
}
