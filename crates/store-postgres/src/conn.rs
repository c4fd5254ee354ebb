//! Connections: opening them with Ferrovex's session settings, the schema, a per-connection
//! statement cache, and the bridge that lets the synchronous store traits wait for them.
//!
//! Every connection is driven by the backend's own Tokio runtime. The store traits are
//! synchronous (the engine calls them from its committer thread and the blocking pool), so a
//! call spawns its future on that runtime and waits on a channel: it never nests runtimes,
//! whatever thread it is called from.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ferrovex_store::StoreError;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

/// Longest wait for a TCP connection to the server.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Session settings of every connection:
/// - `idle_in_transaction_session_timeout`: a stalled or partitioned instance holding the
///   commit clock loses it (and its transaction) after 5 s instead of stopping every writer;
/// - `lock_timeout`: a writer waits at most 10 s for the clock, then fails with a clear error;
/// - `statement_timeout`: no statement runs longer than 30 s;
/// - `client_connection_check_interval`: a statement whose client died is cancelled within 1 s.
const SESSION_OPTIONS: &str = "-c idle_in_transaction_session_timeout=5000 -c lock_timeout=10000 \
     -c statement_timeout=30000 -c client_connection_check_interval=1000";

/// The schema, created idempotently at open. Index keys are stored whole in `key` and ordered
/// by `(key_prefix, key)`: a btree entry is limited to about 2.7 KB, so only the first
/// [`KEY_PREFIX_BYTES`] go into the index (byte order of the prefix agrees with the key's).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ferrovex_documents (
    id TEXT PRIMARY KEY,
    table_name TEXT NOT NULL,
    creation_time DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ferrovex_index_entries (
    index_id TEXT NOT NULL,
    key_prefix BYTEA NOT NULL,
    key BYTEA NOT NULL,
    doc_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ferrovex_index_entries_by_key
    ON ferrovex_index_entries (index_id, key_prefix);
CREATE TABLE IF NOT EXISTS ferrovex_indexes (
    index_id TEXT PRIMARY KEY,
    fields TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ferrovex_mutation_outcomes (
    session_id TEXT NOT NULL,
    request_id BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (session_id, request_id)
);
CREATE INDEX IF NOT EXISTS ferrovex_mutation_outcomes_by_ts ON ferrovex_mutation_outcomes (ts);
CREATE TABLE IF NOT EXISTS ferrovex_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ferrovex_commit_log (
    ts BIGINT PRIMARY KEY,
    origin BIGINT NOT NULL,
    writes BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS ferrovex_clock (
    id INT PRIMARY KEY CHECK (id = 1),
    ts BIGINT NOT NULL,
    log_pruned_through BIGINT NOT NULL
);
INSERT INTO ferrovex_clock (id, ts, log_pruned_through) VALUES (1, 0, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS ferrovex_blob_parts (
    key TEXT NOT NULL,
    part INT NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (key, part)
);
CREATE TABLE IF NOT EXISTS ferrovex_blobs (
    key TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    parts INT NOT NULL,
    stored_at DOUBLE PRECISION NOT NULL
);
";

/// Bytes of an index key kept in the btree.
pub(crate) const KEY_PREFIX_BYTES: usize = 1024;

/// The btree part of an index key.
pub(crate) fn key_prefix(key: &[u8]) -> Vec<u8> {
    key[..key.len().min(KEY_PREFIX_BYTES)].to_vec()
}

/// A boxed, owned query parameter.
pub(crate) type Param = Box<dyn ToSql + Send + Sync>;

/// One open connection and its prepared statements.
pub(crate) struct Conn {
    client: Client,
    statements: parking_lot::Mutex<HashMap<&'static str, Statement>>,
}

pub(crate) fn backend(e: tokio_postgres::Error) -> StoreError {
    // The server's own message (with its SQLSTATE) when there is one.
    match e.as_db_error() {
        // disk_full.
        Some(db) if db.code().code() == "53100" => StoreError::Full(format!(
            "PostgreSQL: {} ({})",
            db.message(),
            db.code().code()
        )),
        Some(db) => StoreError::Backend(format!(
            "PostgreSQL: {} ({})",
            db.message(),
            db.code().code()
        )),
        None => StoreError::Backend(format!("PostgreSQL: {e}")),
    }
}

impl Conn {
    /// Opens a connection; its driver task runs on `runtime`.
    pub(crate) async fn open(
        config: tokio_postgres::Config,
        runtime: tokio::runtime::Handle,
    ) -> Result<Arc<Conn>, StoreError> {
        let mut config = config;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .options(SESSION_OPTIONS)
            .application_name("ferrovex");
        let (client, connection) = config.connect(NoTls).await.map_err(backend)?;
        runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a PostgreSQL connection ended");
            }
        });
        Ok(Arc::new(Conn {
            client,
            statements: parking_lot::Mutex::new(HashMap::new()),
        }))
    }

    /// Whether the connection is gone (the server restarted, or the network failed).
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    async fn statement(&self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.lock().get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await.map_err(backend)?;
        self.statements.lock().insert(sql, s.clone());
        Ok(s)
    }

    /// Runs a statement returning rows.
    pub(crate) async fn query(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql).await?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.client.query(&statement, &refs).await.map_err(backend)
    }

    /// Runs a statement, returning the number of rows it changed.
    pub(crate) async fn execute(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<u64, StoreError> {
        let statement = self.statement(sql).await?;
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.client
            .execute(&statement, &refs)
            .await
            .map_err(backend)
    }

    /// Runs statements without parameters (BEGIN, COMMIT, the schema).
    pub(crate) async fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).await.map_err(backend)
    }
}

/// Runs `fut` on `runtime` and waits for it from this (synchronous) thread.
pub(crate) fn block_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    fut: impl Future<Output = T> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| StoreError::Backend("the PostgreSQL runtime stopped".to_owned()))
}

/// Converts a timestamp for a BIGINT column.
pub(crate) fn ts_sql(ts: ferrovex_store::Timestamp) -> i64 {
    i64::try_from(ts.as_nanos()).unwrap_or(i64::MAX)
}

/// Reads a BIGINT timestamp column.
pub(crate) fn ts_of(v: i64) -> ferrovex_store::Timestamp {
    ferrovex_store::Timestamp::from_nanos(u64::try_from(v).unwrap_or(0))
}
