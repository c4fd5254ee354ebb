//! The PostgreSQL backend: several Ferrovex instances on one database, each accepting writes.
//!
//! **Commit protocol.** One row, `ferrovex_clock`, is the commit clock. A write transaction
//! starts with `SELECT … FROM ferrovex_clock FOR UPDATE` (READ COMMITTED), so write
//! transactions of all instances run one at a time, each against everything committed before
//! it: serializable by construction, with no conflicts to detect. Its timestamp is
//! `max(clock + 1, now)`; the commit sets the clock to it and inserts the commit log record in
//! the same transaction. Invariants:
//! - commit timestamps strictly increase across instances and restarts (the clock row only
//!   grows, under its lock);
//! - a snapshot (REPEATABLE READ, READ ONLY) that reads clock value `T` sees every commit at or
//!   below `T` and none above: commits become visible in clock order, because the next writer
//!   gets the lock only after the previous one committed. No gaps fill in later;
//! - a crashed or killed writer's transaction is rolled back by the server and holds nothing:
//!   its connection closes, `idle_in_transaction_session_timeout` (5 s) ends a stalled one,
//!   and `lock_timeout` (10 s) bounds any wait for the clock.
//!
//! Why a lock and not optimistic concurrency: the serialized section is the commit anyway
//! (the clock row must be taken in commit order), and a mutation is a few round trips on a
//! local network, so holding the lock for the whole mutation costs little more than holding it
//! for the commit, and needs no retry loop. A long mutation holds every other writer up for its
//! duration; mutations are bounded (documents written, run time) for that reason.
//!
//! Reads never take the lock: each query is a REPEATABLE READ snapshot on a pooled connection.

mod blobs;
mod conn;
mod listen;
mod queries;
mod read;
#[cfg(feature = "testing")]
pub mod testing;
mod write;

pub use blobs::{PART_BYTES, PgBlobStore};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrovex_store::{
    Clock, CommitLogPage, IndexDef, Persistence, ReadTxn, StoreError, Timestamp, WriteTxn,
};
use parking_lot::Mutex;

use crate::conn::{Conn, block_on};

/// Most idle connections kept per instance.
const MAX_IDLE: usize = 16;
/// Advisory lock key held while the schema is created, so instances starting together do not
/// race on `CREATE TABLE IF NOT EXISTS`.
const SCHEMA_LOCK: i64 = 0x6665_7272_6f76_6578; // "ferrovex"

/// The PostgreSQL [`Persistence`].
pub struct PgPersistence {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
}

/// State shared with open transactions.
pub(crate) struct Shared {
    config: tokio_postgres::Config,
    runtime: tokio::runtime::Handle,
    idle: Mutex<Vec<Arc<Conn>>>,
    latest: AtomicU64,
    indexes: parking_lot::RwLock<Vec<IndexDef>>,
    clock: Arc<dyn Clock>,
    origin: u64,
    wakeups: Arc<listen::Wakeups>,
}

impl std::fmt::Debug for PgPersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPersistence")
            .field("origin", &self.shared.origin)
            .finish_non_exhaustive()
    }
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` for people: user, host, port and database, never the password.
pub fn redacted_url(url: &str) -> String {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return "postgres://(invalid URL)".to_owned();
    };
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}@{host}:{port}/{db}")
}

impl PgPersistence {
    /// Connects to `url` (`postgres://user@host:port/db`), creating the tables if needed.
    pub fn open(url: &str, clock: Arc<dyn Clock>) -> Result<PgPersistence, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ferrovex-postgres")
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the PostgreSQL runtime: {e}"))
            })?;
        let shared = Arc::new(Shared {
            config,
            runtime: runtime.handle().clone(),
            idle: Mutex::new(Vec::new()),
            latest: AtomicU64::new(0),
            indexes: parking_lot::RwLock::new(Vec::new()),
            clock,
            origin: ferrovex_store::new_origin(),
            wakeups: Arc::new(listen::Wakeups::default()),
        });
        let s = shared.clone();
        let latest = block_on(&shared.runtime, async move {
            let conn = s.connect().await?;
            conn.batch(&format!("SELECT pg_advisory_lock({SCHEMA_LOCK})"))
                .await?;
            let created = conn.batch(conn::SCHEMA).await;
            conn.batch(&format!("SELECT pg_advisory_unlock({SCHEMA_LOCK})"))
                .await?;
            created?;
            let (latest, _) = queries::clock(&conn).await?;
            s.put(conn);
            Ok::<_, StoreError>(latest)
        })??;
        shared.latest.store(latest.as_nanos(), Ordering::Release);
        shared.runtime.spawn(listen::listen(
            shared.config.clone(),
            shared.wakeups.clone(),
        ));
        Ok(PgPersistence {
            runtime: Some(runtime),
            shared,
        })
    }
}

impl Drop for PgPersistence {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Safe in any context, async included.
            rt.shutdown_background();
        }
    }
}

impl Shared {
    async fn connect(&self) -> Result<Arc<Conn>, StoreError> {
        Conn::open(self.config.clone(), self.runtime.clone()).await
    }

    /// An idle connection, or a new one.
    pub(crate) async fn take(&self) -> Result<Arc<Conn>, StoreError> {
        loop {
            let idle = self.idle.lock().pop();
            match idle {
                Some(conn) if conn.is_closed() => continue,
                Some(conn) => return Ok(conn),
                None => return self.connect().await,
            }
        }
    }

    /// Returns a connection outside any transaction to the pool.
    pub(crate) fn put(&self, conn: Arc<Conn>) {
        if conn.is_closed() {
            return;
        }
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Opens a connection and runs `begin` on it; a pooled connection that turns out to be
    /// dead (the server restarted) is replaced once by a fresh one.
    pub(crate) async fn begin(&self, begin: &'static str) -> Result<Arc<Conn>, StoreError> {
        let conn = self.take().await?;
        match conn.batch(begin).await {
            Ok(()) => Ok(conn),
            Err(_) if conn.is_closed() => {
                let conn = self.connect().await?;
                conn.batch(begin).await?;
                Ok(conn)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn indexes_of(&self, table: &ferrovex_store::TableName) -> Vec<IndexDef> {
        IndexDef::maintained_for(&self.indexes.read(), table)
    }

    pub(crate) fn set_latest(&self, ts: Timestamp) {
        self.latest.fetch_max(ts.as_nanos(), Ordering::AcqRel);
    }
}

impl Persistence for PgPersistence {
    fn open_indexes(&self, indexes: &[IndexDef]) -> Result<(), StoreError> {
        *self.shared.indexes.write() = indexes.to_vec();
        write::sync_indexes(&self.shared, indexes)
    }

    fn begin_read(&self) -> Result<Box<dyn ReadTxn>, StoreError> {
        Ok(Box::new(read::PgRead::begin(self.shared.clone())?))
    }

    fn begin_write(&self) -> Result<Box<dyn WriteTxn>, StoreError> {
        Ok(Box::new(write::PgWrite::begin(self.shared.clone())?))
    }

    fn latest_ts(&self) -> Timestamp {
        Timestamp::from_nanos(self.shared.latest.load(Ordering::Acquire))
    }

    fn origin(&self) -> u64 {
        self.shared.origin
    }

    fn read_commit_log(&self, after: Timestamp, limit: usize) -> Result<CommitLogPage, StoreError> {
        let shared = self.shared.clone();
        let limit = limit.max(1);
        block_on(&self.shared.runtime, async move {
            let conn = shared
                .begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            let page = queries::commit_log(&conn, after, limit).await;
            if conn.batch("ROLLBACK").await.is_ok() {
                shared.put(conn);
            }
            page
        })?
    }

    fn wait_for_commits(&self, timeout: std::time::Duration) {
        self.shared.wakeups.wait(timeout);
    }
}
