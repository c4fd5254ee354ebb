//! Opening connections, the on-disk schema and the SQL shared by readers and the writer.

use std::path::Path;
use std::time::Duration;

use ferrovex_store::{
    Document, DocumentId, IndexEntry, IndexId, KeyRange, Order, StoreError, Timestamp,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// How hard a commit tries to reach the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=NORMAL`: safe against process crashes; a power loss may drop the newest
    /// commits (never corrupts). The default.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is fsynced before it is acknowledged.
    Full,
}

/// Meta key holding the latest commit timestamp.
pub(crate) const LATEST_TS_KEY: &str = "ferrovex.latest_ts";
/// Meta key holding the newest pruned commit log record's timestamp.
pub(crate) const LOG_PRUNED_KEY: &str = "ferrovex.commit_log_pruned_through";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    table_name TEXT NOT NULL,
    creation_time REAL NOT NULL,
    body TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_entries (
    index_id TEXT NOT NULL,
    key BLOB NOT NULL,
    doc_id TEXT NOT NULL,
    PRIMARY KEY (index_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS indexes (
    index_id TEXT PRIMARY KEY,
    fields TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mutation_outcomes (
    session_id TEXT NOT NULL,
    request_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (session_id, request_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mutation_outcomes_by_ts ON mutation_outcomes (ts);
CREATE TABLE IF NOT EXISTS commit_log (
    ts INTEGER PRIMARY KEY,
    origin INTEGER NOT NULL,
    writes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            StoreError::Full(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

fn pragmas(conn: &Connection, durability: Durability) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(backend)?;
    let sync = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous={sync}; PRAGMA foreign_keys=OFF; PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY;"
    ))
    .map_err(backend)
}

/// Opens the write connection, switching the file to WAL and creating the tables.
pub(crate) fn open_writer(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(backend)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "cannot enable WAL (mode {mode})"
        )));
    }
    pragmas(&conn, durability)?;
    conn.execute_batch(SCHEMA).map_err(backend)?;
    Ok(conn)
}

/// Opens a read-only connection.
pub(crate) fn open_reader(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    pragmas(&conn, durability)?;
    Ok(conn)
}

/// The latest commit timestamp recorded in the file (zero for a new database).
pub(crate) fn read_latest_ts(conn: &Connection) -> Result<Timestamp, StoreError> {
    read_ts_meta(conn, LATEST_TS_KEY)
}

/// A timestamp kept in `meta` (zero when absent).
pub(crate) fn read_ts_meta(conn: &Connection, key: &str) -> Result<Timestamp, StoreError> {
    let value: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(backend)?;
    match value {
        None => Ok(Timestamp::ZERO),
        Some(v) => v
            .parse::<u64>()
            .map(Timestamp::from_nanos)
            .map_err(|_| StoreError::Backend(format!("corrupt timestamp {v:?} under {key}"))),
    }
}

fn decode_document(
    id: String,
    table: String,
    creation_time: f64,
    body: &str,
) -> Result<Document, StoreError> {
    Document::decode_stored(id, &table, creation_time, body)
}

/// The JSON text stored for a document's user fields.
pub(crate) fn encode_body(doc: &Document) -> String {
    doc.encode_body()
}

/// Reads one document by id.
pub(crate) fn get(conn: &Connection, id: &DocumentId) -> Result<Option<Document>, StoreError> {
    let row: Option<(String, String, f64, String)> = conn
        .prepare_cached("SELECT id, table_name, creation_time, body FROM documents WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row([id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
        })
        .map_err(backend)?;
    row.map(|(id, table, ct, body)| decode_document(id, table, ct, &body))
        .transpose()
}

/// One bounded index scan.
pub(crate) fn scan(
    conn: &Connection,
    index: &IndexId,
    range: &KeyRange,
    order: Order,
    limit: usize,
) -> Result<Vec<IndexEntry>, StoreError> {
    if range.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    const COLS: &str = "SELECT e.key, d.id, d.table_name, d.creation_time, d.body \
         FROM index_entries e JOIN documents d ON d.id = e.doc_id \
         WHERE e.index_id = ?1 AND e.key >= ?2";
    let dir = match order {
        Order::Asc => "ASC",
        Order::Desc => "DESC",
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = match range.end {
        Some(_) => format!("{COLS} AND e.key < ?3 ORDER BY e.key {dir} LIMIT ?4"),
        None => format!("{COLS} ORDER BY e.key {dir} LIMIT ?3"),
    };
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let map_row = |r: &rusqlite::Row<'_>| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, f64>(3)?,
            r.get::<_, String>(4)?,
        ))
    };
    let rows: Vec<_> = match &range.end {
        Some(end) => stmt
            .query_map(params![index.as_str(), range.start, end, limit], map_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>()),
        None => stmt
            .query_map(params![index.as_str(), range.start, limit], map_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>()),
    }
    .map_err(backend)?;
    rows.into_iter()
        .map(|(key, id, table, ct, body)| {
            Ok(IndexEntry {
                key,
                document: decode_document(id, table, ct, &body)?,
            })
        })
        .collect()
}

/// Stored form of a timestamp (SQLite integers are signed).
pub(crate) fn ts_sql(ts: Timestamp) -> i64 {
    i64::try_from(ts.as_nanos()).unwrap_or(i64::MAX)
}

/// Commit log records after `after`, read inside the caller's snapshot.
pub(crate) fn read_commit_log(
    conn: &Connection,
    after: Timestamp,
    limit: usize,
) -> Result<ferrovex_store::CommitLogPage, StoreError> {
    let latest = read_latest_ts(conn)?;
    let pruned_through = read_ts_meta(conn, LOG_PRUNED_KEY)?;
    let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT ts, origin, writes FROM commit_log WHERE ts > ?1 ORDER BY ts LIMIT ?2",
        )
        .map_err(backend)?;
    let records = stmt
        .query_map(params![ts_sql(after), limit_sql], |r| {
            Ok(ferrovex_store::CommitRecord {
                ts: Timestamp::from_nanos(u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0)),
                origin: u64::from_ne_bytes(r.get::<_, i64>(1)?.to_ne_bytes()),
                writes: r.get(2)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(backend)?;
    let more = records.len() >= limit;
    let through = match (more, records.last()) {
        (true, Some(last)) => last.ts,
        _ => latest,
    };
    Ok(ferrovex_store::CommitLogPage {
        records,
        through,
        pruned_through,
        more,
    })
}
