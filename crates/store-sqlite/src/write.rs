//! The write transaction and index maintenance (including backfill at startup).

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrovex_store::{
    CREATION_TIME_INDEX, Document, DocumentId, IndexDef, IndexEntry, IndexId, KeyRange, Order,
    ReadTxn, StoreError, StoredOutcome, TableName, Timestamp, WriteTxn,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::Shared;
use crate::connection::{
    LATEST_TS_KEY, LOG_PRUNED_KEY, backend, encode_body, get, read_latest_ts, read_ts_meta, scan,
    ts_sql,
};

/// Takes the write connection out of its slot; the slot is empty while a writer holds it.
fn take_writer(shared: &Shared) -> Result<Connection, StoreError> {
    shared
        .writer
        .lock()
        .take()
        .ok_or_else(|| StoreError::Backend("a write transaction is already open".to_owned()))
}

/// The open write transaction.
pub(crate) struct SqliteWrite {
    shared: Arc<Shared>,
    conn: Option<Connection>,
    ts: Timestamp,
    /// The stored latest commit when this transaction began.
    previous: Timestamp,
    /// The write set to log with the commit.
    log: Option<Vec<u8>>,
}

impl SqliteWrite {
    pub(crate) fn begin(shared: Arc<Shared>) -> Result<SqliteWrite, StoreError> {
        let conn = take_writer(&shared)?;
        let mut txn = SqliteWrite {
            shared,
            conn: Some(conn),
            ts: Timestamp::ZERO,
            previous: Timestamp::ZERO,
            log: None,
        };
        let conn = txn.conn()?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(backend)?;
        // Read the stored latest timestamp inside the transaction so that another process
        // writing the same file can never make us reuse a timestamp.
        let latest = read_latest_ts(conn)?;
        txn.previous = latest;
        txn.ts = latest.next_commit(txn.shared.clock.now());
        Ok(txn)
    }

    fn conn(&self) -> Result<&Connection, StoreError> {
        self.conn.as_ref().ok_or(StoreError::Closed)
    }

    fn index_rows(&self, doc: &Document) -> Vec<(IndexId, Vec<u8>)> {
        self.shared
            .indexes_of(&doc.table)
            .iter()
            .flat_map(|def| def.keys_of(doc).into_iter().map(|key| (def.id(), key)))
            .collect()
    }

    fn add_entries(&self, doc: &Document) -> Result<(), StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached("INSERT INTO index_entries (index_id, key, doc_id) VALUES (?1, ?2, ?3)")
            .map_err(backend)?;
        for (index, key) in self.index_rows(doc) {
            stmt.execute(params![index.as_str(), key, doc.id.as_str()])
                .map_err(backend)?;
        }
        Ok(())
    }

    fn remove_entries(&self, doc: &Document) -> Result<(), StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached("DELETE FROM index_entries WHERE index_id = ?1 AND key = ?2")
            .map_err(backend)?;
        for (index, key) in self.index_rows(doc) {
            stmt.execute(params![index.as_str(), key])
                .map_err(backend)?;
        }
        Ok(())
    }

    fn existing(&self, id: &DocumentId) -> Result<Document, StoreError> {
        get(self.conn()?, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
    }
}

impl ReadTxn for SqliteWrite {
    fn ts(&self) -> Timestamp {
        self.ts
    }

    fn get(&mut self, id: &DocumentId) -> Result<Option<Document>, StoreError> {
        get(self.conn()?, id)
    }

    fn scan(
        &mut self,
        index: &IndexId,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        scan(self.conn()?, index, range, order, limit)
    }
}

impl WriteTxn for SqliteWrite {
    fn insert(&mut self, doc: &Document) -> Result<(), StoreError> {
        let inserted = self
            .conn()?
            .prepare_cached(
                "INSERT INTO documents (id, table_name, creation_time, body) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    doc.id.as_str(),
                    doc.table.as_str(),
                    doc.creation_time,
                    encode_body(doc)
                ])
            })
            .map_err(backend)?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists(doc.id.to_string()));
        }
        self.add_entries(doc)
    }

    fn replace(&mut self, doc: &Document) -> Result<Document, StoreError> {
        let old = self.existing(&doc.id)?;
        self.remove_entries(&old)?;
        self.conn()?
            .prepare_cached("UPDATE documents SET body = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![doc.id.as_str(), encode_body(doc)]))
            .map_err(backend)?;
        // The table and creation time are immutable; index from the stored ones.
        let stored = Document {
            table: old.table.clone(),
            creation_time: old.creation_time,
            ..doc.clone()
        };
        self.add_entries(&stored)?;
        Ok(old)
    }

    fn delete(&mut self, id: &DocumentId) -> Result<Document, StoreError> {
        let old = self.existing(id)?;
        self.remove_entries(&old)?;
        self.conn()?
            .prepare_cached("DELETE FROM documents WHERE id = ?1")
            .and_then(|mut s| s.execute([id.as_str()]))
            .map_err(backend)?;
        Ok(old)
    }

    fn put_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn()?
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut s| s.execute([key, value]))
            .map_err(backend)?;
        Ok(())
    }

    fn get_meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()?
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(backend)
    }

    fn find_mutation_outcome(
        &mut self,
        session: &str,
        request_id: u32,
    ) -> Result<Option<StoredOutcome>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn()?
            .prepare_cached(
                "SELECT ts, body FROM mutation_outcomes WHERE session_id = ?1 AND request_id = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![session, request_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(backend)?;
        Ok(row.map(|(ts, body)| StoredOutcome {
            ts: Timestamp::from_nanos(u64::try_from(ts).unwrap_or(0)),
            body,
        }))
    }

    fn record_mutation_outcome(
        &mut self,
        session: &str,
        request_id: u32,
        outcome: &StoredOutcome,
    ) -> Result<(), StoreError> {
        let ts = i64::try_from(outcome.ts.as_nanos()).unwrap_or(i64::MAX);
        self.conn()?
            .prepare_cached(
                "INSERT INTO mutation_outcomes (session_id, request_id, ts, body) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (session_id, request_id) DO UPDATE SET ts = excluded.ts, body = excluded.body",
            )
            .and_then(|mut s| s.execute(params![session, request_id, ts, outcome.body]))
            .map_err(backend)?;
        Ok(())
    }

    fn prune_mutation_outcomes(&mut self, before: Timestamp) -> Result<usize, StoreError> {
        let before = i64::try_from(before.as_nanos()).unwrap_or(i64::MAX);
        self.conn()?
            .prepare_cached("DELETE FROM mutation_outcomes WHERE ts < ?1")
            .and_then(|mut s| s.execute([before]))
            .map_err(backend)
    }

    fn previous_ts(&self) -> Timestamp {
        self.previous
    }

    fn log_writes(&mut self, writes: Vec<u8>) {
        self.log = Some(writes);
    }

    fn prune_commit_log(&mut self, before: Timestamp) -> Result<usize, StoreError> {
        let conn = self.conn()?;
        let newest: Option<i64> = conn
            .query_row(
                "SELECT max(ts) FROM commit_log WHERE ts < ?1",
                [ts_sql(before)],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let Some(newest) = newest else { return Ok(0) };
        let pruned = conn
            .execute("DELETE FROM commit_log WHERE ts <= ?1", [newest])
            .map_err(backend)?;
        let through = read_ts_meta(conn, LOG_PRUNED_KEY)?
            .max(Timestamp::from_nanos(u64::try_from(newest).unwrap_or(0)));
        self.put_meta(LOG_PRUNED_KEY, &through.as_nanos().to_string())?;
        Ok(pruned)
    }

    fn commit(mut self: Box<Self>) -> Result<Timestamp, StoreError> {
        let ts = self.ts;
        self.put_meta(LATEST_TS_KEY, &ts.as_nanos().to_string())?;
        if let Some(writes) = self.log.take() {
            let origin = i64::from_ne_bytes(self.shared.origin.to_ne_bytes());
            self.conn()?
                .prepare_cached("INSERT INTO commit_log (ts, origin, writes) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![ts_sql(ts), origin, writes]))
                .map_err(backend)?;
        }
        self.conn()?.execute_batch("COMMIT").map_err(backend)?;
        self.shared.set_latest(ts);
        if let Some(conn) = self.conn.take() {
            self.shared.return_writer(Some(conn));
        }
        Ok(ts)
    }
}

impl Drop for SqliteWrite {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Not committed: discard everything. If even ROLLBACK fails the connection is
            // in an unknown state, so it is replaced by a fresh one.
            let conn = match conn.execute_batch("ROLLBACK") {
                Ok(()) => Some(conn),
                Err(_) if conn.is_autocommit() => Some(conn),
                Err(_) => {
                    crate::connection::open_writer(&self.shared.path, self.shared.durability).ok()
                }
            };
            self.shared.return_writer(conn);
        }
    }
}

/// Makes the stored index registry match `indexes`: backfills new or changed indexes and
/// drops removed ones, in one transaction.
pub(crate) fn sync_indexes(shared: &Arc<Shared>, indexes: &[IndexDef]) -> Result<(), StoreError> {
    let txn = SqliteWrite::begin(shared.clone())?;
    let conn = txn.conn()?;
    let stored: BTreeMap<String, String> = conn
        .prepare("SELECT index_id, fields FROM indexes")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .map_err(backend)?;
    let mut wanted = BTreeMap::new();
    for def in indexes.iter().filter(|d| d.name != CREATION_TIME_INDEX) {
        // Field names are printable ASCII, so a newline is a safe separator.
        wanted.insert(def.id().as_str().to_owned(), (def, def.signature()));
    }
    for (id, fields) in &stored {
        let unchanged = wanted.get(id).is_some_and(|(_, f)| f == fields);
        if !unchanged {
            conn.execute("DELETE FROM index_entries WHERE index_id = ?1", [id])
                .map_err(backend)?;
            conn.execute("DELETE FROM indexes WHERE index_id = ?1", [id])
                .map_err(backend)?;
        }
    }
    for (id, (def, fields)) in &wanted {
        if stored.get(id) == Some(fields) {
            continue;
        }
        backfill(conn, def)?;
        conn.execute(
            "INSERT INTO indexes (index_id, fields) VALUES (?1, ?2)",
            params![id, fields],
        )
        .map_err(backend)?;
    }
    conn.execute_batch("COMMIT").map_err(backend)?;
    let mut txn = txn;
    if let Some(conn) = txn.conn.take() {
        shared.return_writer(Some(conn));
    }
    Ok(())
}

fn backfill(conn: &Connection, def: &IndexDef) -> Result<(), StoreError> {
    let id = def.id();
    let table: &TableName = &def.table;
    let mut insert = conn
        .prepare("INSERT INTO index_entries (index_id, key, doc_id) VALUES (?1, ?2, ?3)")
        .map_err(backend)?;
    let mut after: Vec<u8> = Vec::new();
    let creation = IndexDef {
        table: table.clone(),
        name: CREATION_TIME_INDEX.to_owned(),
        fields: Vec::new(),
        search: None,
    };
    loop {
        let range = KeyRange {
            start: after.clone(),
            end: None,
        };
        let batch = scan(conn, &creation.id(), &range, Order::Asc, 512)?;
        let Some(last) = batch.last() else { break };
        after = last.key.clone();
        after.push(0);
        for entry in &batch {
            for key in def.keys_of(&entry.document) {
                insert
                    .execute(params![id.as_str(), key, entry.document.id.as_str()])
                    .map_err(backend)?;
            }
        }
    }
    Ok(())
}
