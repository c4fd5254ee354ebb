//! The write transaction (holding the commit clock from its first statement to COMMIT) and
//! index maintenance, including the backfill at startup.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrovex_store::{
    CREATION_TIME_INDEX, Document, DocumentId, IndexDef, IndexEntry, IndexId, KeyRange, Order,
    ReadTxn, StoreError, StoredOutcome, Timestamp, WriteTxn,
};

use crate::Shared;
use crate::conn::{Conn, Param, block_on, key_prefix, ts_of, ts_sql};
use crate::queries;

/// Takes the commit clock: every writer of every instance waits here for the previous one.
const TAKE_CLOCK: &str = "SELECT ts FROM ferrovex_clock WHERE id = 1 FOR UPDATE";

/// The open write transaction.
pub(crate) struct PgWrite {
    shared: Arc<Shared>,
    conn: Option<Arc<Conn>>,
    ts: Timestamp,
    previous: Timestamp,
    log: Option<Vec<u8>>,
}

impl PgWrite {
    pub(crate) fn begin(shared: Arc<Shared>) -> Result<PgWrite, StoreError> {
        let s = shared.clone();
        let (conn, previous) = block_on(&shared.runtime, async move {
            let conn = s.begin("BEGIN").await?;
            let rows = conn.query(TAKE_CLOCK, Vec::new()).await;
            match rows {
                Ok(rows) => {
                    let previous = rows.first().map(|r| ts_of(r.get(0))).ok_or_else(|| {
                        StoreError::Backend("the ferrovex_clock row is missing".to_owned())
                    })?;
                    Ok::<_, StoreError>((conn, previous))
                }
                Err(e) => {
                    let _ = conn.batch("ROLLBACK").await;
                    Err(e)
                }
            }
        })??;
        let ts = previous.next_commit(shared.clock.now());
        Ok(PgWrite {
            shared,
            conn: Some(conn),
            ts,
            previous,
            log: None,
        })
    }

    fn conn(&self) -> Result<Arc<Conn>, StoreError> {
        self.conn.clone().ok_or(StoreError::Closed)
    }

    /// Runs `f` with the transaction's connection on the backend's runtime.
    fn with<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Conn>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let conn = self.conn()?;
        block_on(&self.shared.runtime, f(conn))?
    }

    fn index_rows(&self, doc: &Document) -> Vec<(IndexId, Vec<u8>)> {
        self.shared
            .indexes_of(&doc.table)
            .iter()
            .flat_map(|def| def.keys_of(doc).into_iter().map(|key| (def.id(), key)))
            .collect()
    }

    fn existing(&self, id: &DocumentId) -> Result<Document, StoreError> {
        let id = id.clone();
        self.with(move |conn| async move {
            queries::get(&conn, &id)
                .await?
                .ok_or_else(|| StoreError::NotFound(id.to_string()))
        })
    }
}

async fn add_entries(
    conn: &Conn,
    rows: Vec<(IndexId, Vec<u8>)>,
    doc_id: String,
) -> Result<(), StoreError> {
    for (index, key) in rows {
        conn.execute(
            "INSERT INTO ferrovex_index_entries (index_id, key_prefix, key, doc_id) \
             VALUES ($1, $2, $3, $4)",
            vec![
                Box::new(index.as_str().to_owned()),
                Box::new(key_prefix(&key)),
                Box::new(key),
                Box::new(doc_id.clone()),
            ],
        )
        .await?;
    }
    Ok(())
}

async fn remove_entries(conn: &Conn, rows: Vec<(IndexId, Vec<u8>)>) -> Result<(), StoreError> {
    for (index, key) in rows {
        conn.execute(
            "DELETE FROM ferrovex_index_entries \
             WHERE index_id = $1 AND key_prefix = $2 AND key = $3",
            vec![
                Box::new(index.as_str().to_owned()),
                Box::new(key_prefix(&key)),
                Box::new(key),
            ],
        )
        .await?;
    }
    Ok(())
}

impl ReadTxn for PgWrite {
    fn ts(&self) -> Timestamp {
        self.ts
    }

    fn get(&mut self, id: &DocumentId) -> Result<Option<Document>, StoreError> {
        let id = id.clone();
        self.with(move |conn| async move { queries::get(&conn, &id).await })
    }

    fn scan(
        &mut self,
        index: &IndexId,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let (index, range) = (index.clone(), range.clone());
        self.with(
            move |conn| async move { queries::scan(&conn, &index, &range, order, limit).await },
        )
    }
}

impl WriteTxn for PgWrite {
    fn insert(&mut self, doc: &Document) -> Result<(), StoreError> {
        let rows = self.index_rows(doc);
        let (id, table, ct, body) = (
            doc.id.as_str().to_owned(),
            doc.table.as_str().to_owned(),
            doc.creation_time,
            doc.encode_body(),
        );
        self.with(move |conn| async move {
            let inserted = conn
                .execute(
                    "INSERT INTO ferrovex_documents (id, table_name, creation_time, body) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                    vec![
                        Box::new(id.clone()),
                        Box::new(table),
                        Box::new(ct),
                        Box::new(body),
                    ],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists(id));
            }
            add_entries(&conn, rows, id).await
        })
    }

    fn replace(&mut self, doc: &Document) -> Result<Document, StoreError> {
        let old = self.existing(&doc.id)?;
        // The table and creation time are immutable; index from the stored ones.
        let stored = Document {
            table: old.table.clone(),
            creation_time: old.creation_time,
            ..doc.clone()
        };
        let (old_rows, new_rows) = (self.index_rows(&old), self.index_rows(&stored));
        let (id, body) = (doc.id.as_str().to_owned(), doc.encode_body());
        self.with(move |conn| async move {
            remove_entries(&conn, old_rows).await?;
            conn.execute(
                "UPDATE ferrovex_documents SET body = $2 WHERE id = $1",
                vec![Box::new(id.clone()), Box::new(body)],
            )
            .await?;
            add_entries(&conn, new_rows, id).await
        })?;
        Ok(old)
    }

    fn delete(&mut self, id: &DocumentId) -> Result<Document, StoreError> {
        let old = self.existing(id)?;
        let rows = self.index_rows(&old);
        let id = id.as_str().to_owned();
        self.with(move |conn| async move {
            remove_entries(&conn, rows).await?;
            conn.execute(
                "DELETE FROM ferrovex_documents WHERE id = $1",
                vec![Box::new(id)],
            )
            .await?;
            Ok(())
        })?;
        Ok(old)
    }

    fn put_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.with(move |conn| async move {
            conn.execute(
                "INSERT INTO ferrovex_meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                vec![Box::new(key), Box::new(value)],
            )
            .await?;
            Ok(())
        })
    }

    fn get_meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.with(move |conn| async move {
            let rows = conn
                .query(
                    "SELECT value FROM ferrovex_meta WHERE key = $1",
                    vec![Box::new(key)],
                )
                .await?;
            Ok(rows.first().map(|r| r.get(0)))
        })
    }

    fn find_mutation_outcome(
        &mut self,
        session: &str,
        request_id: u32,
    ) -> Result<Option<StoredOutcome>, StoreError> {
        let session = session.to_owned();
        self.with(move |conn| async move {
            let rows = conn
                .query(
                    "SELECT ts, body FROM ferrovex_mutation_outcomes \
                     WHERE session_id = $1 AND request_id = $2",
                    vec![Box::new(session), Box::new(i64::from(request_id))],
                )
                .await?;
            Ok(rows.first().map(|r| StoredOutcome {
                ts: ts_of(r.get(0)),
                body: r.get(1),
            }))
        })
    }

    fn record_mutation_outcome(
        &mut self,
        session: &str,
        request_id: u32,
        outcome: &StoredOutcome,
    ) -> Result<(), StoreError> {
        let params: Vec<Param> = vec![
            Box::new(session.to_owned()),
            Box::new(i64::from(request_id)),
            Box::new(ts_sql(outcome.ts)),
            Box::new(outcome.body.clone()),
        ];
        self.with(move |conn| async move {
            conn.execute(
                "INSERT INTO ferrovex_mutation_outcomes (session_id, request_id, ts, body) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (session_id, request_id) \
                 DO UPDATE SET ts = excluded.ts, body = excluded.body",
                params,
            )
            .await?;
            Ok(())
        })
    }

    fn prune_mutation_outcomes(&mut self, before: Timestamp) -> Result<usize, StoreError> {
        self.with(move |conn| async move {
            let n = conn
                .execute(
                    "DELETE FROM ferrovex_mutation_outcomes WHERE ts < $1",
                    vec![Box::new(ts_sql(before))],
                )
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn previous_ts(&self) -> Timestamp {
        self.previous
    }

    fn log_writes(&mut self, writes: Vec<u8>) {
        self.log = Some(writes);
    }

    fn prune_commit_log(&mut self, before: Timestamp) -> Result<usize, StoreError> {
        self.with(move |conn| async move {
            let rows = conn
                .query(
                    "WITH gone AS (DELETE FROM ferrovex_commit_log WHERE ts < $1 RETURNING ts) \
                     SELECT count(*), max(ts) FROM gone",
                    vec![Box::new(ts_sql(before))],
                )
                .await?;
            let (count, newest): (i64, Option<i64>) = rows
                .first()
                .map(|r| (r.get(0), r.get(1)))
                .unwrap_or((0, None));
            if let Some(newest) = newest {
                conn.execute(
                    "UPDATE ferrovex_clock SET log_pruned_through = \
                     GREATEST(log_pruned_through, $1) WHERE id = 1",
                    vec![Box::new(newest)],
                )
                .await?;
            }
            Ok(usize::try_from(count).unwrap_or(0))
        })
    }

    fn commit(mut self: Box<Self>) -> Result<Timestamp, StoreError> {
        let ts = self.ts;
        let origin = i64::from_ne_bytes(self.shared.origin.to_ne_bytes());
        let log = self.log.take();
        let conn = self.conn.take().ok_or(StoreError::Closed)?;
        let shared = self.shared.clone();
        block_on(&self.shared.runtime, async move {
            let result = async {
                conn.execute(
                    "UPDATE ferrovex_clock SET ts = $1 WHERE id = 1",
                    vec![Box::new(ts_sql(ts))],
                )
                .await?;
                if let Some(writes) = log {
                    conn.execute(
                        "INSERT INTO ferrovex_commit_log (ts, origin, writes) VALUES ($1, $2, $3)",
                        vec![Box::new(ts_sql(ts)), Box::new(origin), Box::new(writes)],
                    )
                    .await?;
                }
                conn.batch("COMMIT").await
            }
            .await;
            match result {
                Ok(()) => {
                    // A hint for the other instances, outside the serialized section; they
                    // poll the log anyway, so a lost notification delays nothing for long.
                    let _ = conn
                        .execute(
                            "SELECT pg_notify('ferrovex_commits', $1)",
                            vec![Box::new(ts.as_nanos().to_string())],
                        )
                        .await;
                    shared.put(conn);
                    Ok(())
                }
                Err(e) => {
                    let _ = conn.batch("ROLLBACK").await;
                    shared.put(conn);
                    Err(e)
                }
            }
        })??;
        self.shared.set_latest(ts);
        Ok(ts)
    }
}

impl Drop for PgWrite {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Not committed: discard everything and release the clock.
            let shared = self.shared.clone();
            let _ = block_on(&self.shared.runtime, async move {
                if conn.batch("ROLLBACK").await.is_ok() {
                    shared.put(conn);
                }
            });
        }
    }
}

/// Makes the stored index registry match `indexes` (backfilling new or changed ones and
/// dropping removed ones) in one transaction holding the clock.
pub(crate) fn sync_indexes(shared: &Arc<Shared>, indexes: &[IndexDef]) -> Result<(), StoreError> {
    let mut txn = PgWrite::begin(shared.clone())?;
    let conn = txn.conn()?;
    let mut wanted = BTreeMap::new();
    for def in indexes.iter().filter(|d| d.name != CREATION_TIME_INDEX) {
        // Field names are printable ASCII, so a newline is a safe separator.
        wanted.insert(def.id().as_str().to_owned(), (def.clone(), def.signature()));
    }
    block_on(&shared.runtime, async move {
        let stored: BTreeMap<String, String> = conn
            .query("SELECT index_id, fields FROM ferrovex_indexes", Vec::new())
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for (id, fields) in &stored {
            if wanted.get(id).is_some_and(|(_, f)| f == fields) {
                continue;
            }
            conn.execute(
                "DELETE FROM ferrovex_index_entries WHERE index_id = $1",
                vec![Box::new(id.clone())],
            )
            .await?;
            conn.execute(
                "DELETE FROM ferrovex_indexes WHERE index_id = $1",
                vec![Box::new(id.clone())],
            )
            .await?;
        }
        for (id, (def, fields)) in wanted {
            if stored.get(&id) == Some(&fields) {
                continue;
            }
            backfill(&conn, &def).await?;
            conn.execute(
                "INSERT INTO ferrovex_indexes (index_id, fields) VALUES ($1, $2)",
                vec![Box::new(id), Box::new(fields)],
            )
            .await?;
        }
        conn.batch("COMMIT").await
    })??;
    // Committed above (without moving the clock): hand the connection back.
    if let Some(conn) = txn.conn.take() {
        shared.put(conn);
    }
    Ok(())
}

async fn backfill(conn: &Conn, def: &IndexDef) -> Result<(), StoreError> {
    let creation = IndexDef {
        table: def.table.clone(),
        name: CREATION_TIME_INDEX.to_owned(),
        fields: Vec::new(),
        search: None,
    };
    let mut after: Vec<u8> = Vec::new();
    loop {
        let range = KeyRange {
            start: after.clone(),
            end: None,
        };
        let batch = queries::scan(conn, &creation.id(), &range, Order::Asc, 512).await?;
        let Some(last) = batch.last() else { break };
        after = last.key.clone();
        after.push(0);
        for entry in batch {
            let rows = def
                .keys_of(&entry.document)
                .into_iter()
                .map(|key| (def.id(), key))
                .collect();
            add_entries(conn, rows, entry.document.id.as_str().to_owned()).await?;
        }
    }
    Ok(())
}
