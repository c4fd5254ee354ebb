//! The embedded SQLite backend: one database file in WAL mode, one write connection used only
//! by the engine's committer thread, and a pool of reader connections for snapshots.
//!
//! Durability: by default `synchronous=NORMAL` in WAL mode. A commit survives a crash or kill
//! of the process as soon as [`ferrovex_store::WriteTxn::commit`] returns; after a power loss
//! or OS crash the last few commits before the last checkpoint may be lost, but the file is
//! never corrupt. [`Durability::Full`] fsyncs the WAL on every commit instead.

mod backup;
mod connection;
mod read;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrovex_store::{Clock, IndexDef, Persistence, ReadTxn, StoreError, Timestamp, WriteTxn};
use parking_lot::Mutex;
use rusqlite::Connection;

pub use backup::{BackupSummary, backup};
pub use connection::Durability;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "ferrovex.sqlite3";
/// Most idle reader connections kept open.
const MAX_IDLE_READERS: usize = 16;

/// The SQLite [`Persistence`].
pub struct SqlitePersistence {
    shared: Arc<Shared>,
}

/// State shared with open transactions.
pub(crate) struct Shared {
    path: PathBuf,
    durability: Durability,
    /// The write connection; `None` while a write transaction holds it.
    writer: Mutex<Option<Connection>>,
    /// Idle reader connections.
    readers: Mutex<Vec<Connection>>,
    /// Latest committed timestamp as seen by this process.
    latest: AtomicU64,
    /// Indexes maintained per table, set by `open_indexes`.
    indexes: parking_lot::RwLock<Vec<IndexDef>>,
    clock: Arc<dyn Clock>,
    /// This handle's id in the commit log.
    pub(crate) origin: u64,
    /// Set by `close`: connections are dropped instead of pooled, and no new one opens.
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for SqlitePersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlitePersistence")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl SqlitePersistence {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(
        data_dir: &Path,
        durability: Durability,
        clock: Arc<dyn Clock>,
    ) -> Result<SqlitePersistence, StoreError> {
        if data_dir.exists() && !data_dir.is_dir() {
            return Err(StoreError::Backend(format!(
                "{} is not a directory",
                data_dir.display()
            )));
        }
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Backend(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(DB_FILE);
        let writer = connection::open_writer(&path, durability)?;
        if writer
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(connection::backend)?
        {
            return Err(StoreError::Backend(format!(
                "{} is read-only: the server needs to write it and its directory",
                path.display()
            )));
        }
        let latest = connection::read_latest_ts(&writer)?;
        Ok(SqlitePersistence {
            shared: Arc::new(Shared {
                path,
                durability,
                writer: Mutex::new(Some(writer)),
                readers: Mutex::new(Vec::new()),
                latest: AtomicU64::new(latest.as_nanos()),
                indexes: parking_lot::RwLock::new(Vec::new()),
                clock,
                origin: ferrovex_store::new_origin(),
                closed: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }
}

impl Shared {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn take_reader(&self) -> Result<Connection, StoreError> {
        if self.is_closed() {
            return Err(StoreError::Closed);
        }
        if let Some(conn) = self.readers.lock().pop() {
            return Ok(conn);
        }
        connection::open_reader(&self.path, self.durability)
    }

    pub(crate) fn return_reader(&self, conn: Connection) {
        let mut idle = self.readers.lock();
        if idle.len() < MAX_IDLE_READERS && !self.is_closed() {
            idle.push(conn);
        }
    }

    /// Puts the write connection back in its slot (drops it once the store is closed).
    pub(crate) fn return_writer(&self, conn: Option<Connection>) {
        let mut slot = self.writer.lock();
        if !self.is_closed() {
            *slot = conn;
        }
    }

    pub(crate) fn indexes_of(&self, table: &ferrovex_store::TableName) -> Vec<IndexDef> {
        IndexDef::maintained_for(&self.indexes.read(), table)
    }

    pub(crate) fn set_latest(&self, ts: Timestamp) {
        self.latest.fetch_max(ts.as_nanos(), Ordering::AcqRel);
    }
}

impl Persistence for SqlitePersistence {
    fn open_indexes(&self, indexes: &[IndexDef]) -> Result<(), StoreError> {
        *self.shared.indexes.write() = indexes.to_vec();
        write::sync_indexes(&self.shared, indexes)
    }

    fn begin_read(&self) -> Result<Box<dyn ReadTxn>, StoreError> {
        Ok(Box::new(read::SqliteRead::begin(self.shared.clone())?))
    }

    fn begin_write(&self) -> Result<Box<dyn WriteTxn>, StoreError> {
        Ok(Box::new(write::SqliteWrite::begin(self.shared.clone())?))
    }

    fn latest_ts(&self) -> Timestamp {
        Timestamp::from_nanos(self.shared.latest.load(Ordering::Acquire))
    }

    fn origin(&self) -> u64 {
        self.shared.origin
    }

    fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        let writer = self.shared.writer.lock().take();
        let readers = std::mem::take(&mut *self.shared.readers.lock());
        drop((writer, readers));
    }

    fn read_commit_log(
        &self,
        after: Timestamp,
        limit: usize,
    ) -> Result<ferrovex_store::CommitLogPage, StoreError> {
        let conn = self.shared.take_reader()?;
        conn.execute_batch("BEGIN DEFERRED")
            .map_err(connection::backend)?;
        let page = connection::read_commit_log(&conn, after, limit.max(1));
        if conn.execute_batch("ROLLBACK").is_ok() {
            self.shared.return_reader(conn);
        }
        page
    }
}
