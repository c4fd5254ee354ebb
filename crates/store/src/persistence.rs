//! The storage traits a backend implements.
//!
//! Contract:
//! - [`ReadTxn`] is one consistent snapshot as of [`ReadTxn::ts`]; it never sees later commits.
//! - [`WriteTxn`] sees its own writes, and nothing is visible to readers until
//!   [`WriteTxn::commit`] returns. Dropping a write transaction without committing discards it.
//! - At most one write transaction exists at a time (the engine's committer thread is the only
//!   caller of [`Persistence::begin_write`]); a backend may additionally enforce that.
//! - Commit timestamps are strictly increasing, also across restarts.
//! - Every commit that carries a write set ([`WriteTxn::log_writes`]) leaves a
//!   [`CommitRecord`] in the commit log, written in the same transaction, so other processes
//!   on the same database learn exactly what it wrote ([`Persistence::read_commit_log`]).

use crate::document::Document;
use crate::error::StoreError;
use crate::id::DocumentId;
use crate::index::{IndexEntry, IndexId, KeyRange, Order};
use crate::schema::IndexDef;
use crate::timestamp::Timestamp;

/// A consistent read snapshot.
pub trait ReadTxn: Send {
    /// The timestamp of the last commit visible in this snapshot.
    fn ts(&self) -> Timestamp;

    /// A document by id.
    fn get(&mut self, id: &DocumentId) -> Result<Option<Document>, StoreError>;

    /// Up to `limit` entries of `index` whose keys lie in `range`, in `order`.
    fn scan(
        &mut self,
        index: &IndexId,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError>;
}

/// A read-write transaction. Index entries are maintained by the backend from the index
/// definitions given to [`Persistence::open_indexes`].
pub trait WriteTxn: ReadTxn {
    /// Inserts a new document. Fails with [`StoreError::AlreadyExists`] on an id clash.
    fn insert(&mut self, doc: &Document) -> Result<(), StoreError>;

    /// Replaces an existing document, returning the previous version.
    fn replace(&mut self, doc: &Document) -> Result<Document, StoreError>;

    /// Deletes a document, returning it.
    fn delete(&mut self, id: &DocumentId) -> Result<Document, StoreError>;

    /// Stores a small system record (for example a mutation outcome) under `key` in the same
    /// transaction as the documents.
    fn put_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Reads a system record written by [`WriteTxn::put_meta`].
    fn get_meta(&mut self, key: &str) -> Result<Option<String>, StoreError>;

    /// The stored outcome of mutation `request_id` of client session `session`, if it ran.
    fn find_mutation_outcome(
        &mut self,
        session: &str,
        request_id: u32,
    ) -> Result<Option<StoredOutcome>, StoreError>;

    /// Records the outcome of a mutation in this transaction, so that a client re-sending it
    /// after a reconnect gets the same answer without running it twice.
    fn record_mutation_outcome(
        &mut self,
        session: &str,
        request_id: u32,
        outcome: &StoredOutcome,
    ) -> Result<(), StoreError>;

    /// Drops recorded mutation outcomes committed before `before`; returns how many.
    fn prune_mutation_outcomes(&mut self, before: Timestamp) -> Result<usize, StoreError>;

    /// The latest commit stored when this transaction began, whoever made it. Commits between
    /// the ones this process published and this are other processes' (see the commit log).
    fn previous_ts(&self) -> Timestamp;

    /// Sets this commit's write set (an engine-defined encoding), stored in the commit log
    /// with the commit's timestamp when [`WriteTxn::commit`] succeeds.
    fn log_writes(&mut self, writes: Vec<u8>);

    /// Drops commit log records older than `before`; returns how many. Later readers whose
    /// cursor is below the newest dropped record learn it from [`CommitLogPage::pruned_through`].
    fn prune_commit_log(&mut self, before: Timestamp) -> Result<usize, StoreError>;

    /// Makes every write durable and visible at [`ReadTxn::ts`].
    fn commit(self: Box<Self>) -> Result<Timestamp, StoreError>;
}

/// A recorded mutation outcome: its commit timestamp and an opaque body written by the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOutcome {
    /// Commit timestamp of the mutation.
    pub ts: Timestamp,
    /// Engine-defined encoding of the result and log lines.
    pub body: String,
}

/// A random [`Persistence::origin`] for a new handle: the process id and the clock, hashed
/// with a random key, so that two handles (or two processes) practically never share one.
pub fn new_origin() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// One commit in the commit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitRecord {
    /// The commit's timestamp.
    pub ts: Timestamp,
    /// [`Persistence::origin`] of the handle that committed it.
    pub origin: u64,
    /// The write set, as given to [`WriteTxn::log_writes`].
    pub writes: Vec<u8>,
}

/// Commit log records after a cursor, read in one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitLogPage {
    /// Records with `ts > after`, oldest first.
    pub records: Vec<CommitRecord>,
    /// Every commit up to this timestamp is either in `records` or carried no write set: the
    /// stored latest commit, or the last record's ts when the page is full.
    pub through: Timestamp,
    /// The newest record ever pruned; a cursor below it has missed records.
    pub pruned_through: Timestamp,
    /// Whether more records follow `through`.
    pub more: bool,
}

/// A storage backend.
pub trait Persistence: Send + Sync + 'static {
    /// Makes `indexes` the set of maintained indexes: new or changed ones are backfilled from
    /// the stored documents, ones no longer listed are dropped. Called once at startup.
    fn open_indexes(&self, indexes: &[IndexDef]) -> Result<(), StoreError>;

    /// Opens a read snapshot of the latest commit.
    fn begin_read(&self) -> Result<Box<dyn ReadTxn>, StoreError>;

    /// Opens the write transaction; its timestamp is `max(latest + 1, now)`.
    fn begin_write(&self) -> Result<Box<dyn WriteTxn>, StoreError>;

    /// The timestamp of the latest commit.
    fn latest_ts(&self) -> Timestamp;

    /// This handle's id in the commit log: random per open, so two processes (or two handles
    /// in one process) on the same database tell their records apart.
    fn origin(&self) -> u64;

    /// Up to `limit` commit log records with `ts > after`, oldest first.
    fn read_commit_log(&self, after: Timestamp, limit: usize) -> Result<CommitLogPage, StoreError>;

    /// Blocks up to `timeout`, returning early when another process may have committed (a
    /// backend with change notifications, such as PostgreSQL's LISTEN/NOTIFY). Only a hint:
    /// the caller reads the commit log either way. The default just sleeps.
    fn wait_for_commits(&self, timeout: std::time::Duration) {
        std::thread::sleep(timeout);
    }

    /// Closes the backend's connections once the engine has stopped: idle ones now, busy ones
    /// when their transaction ends. Later transactions fail. The default does nothing.
    fn close(&self) {}

    /// The timestamp of the latest commit as stored, including commits made by other
    /// processes sharing the database (which [`Persistence::latest_ts`] may not know of).
    fn stored_latest_ts(&self) -> Result<Timestamp, StoreError> {
        Ok(self.begin_read()?.ts())
    }
}
