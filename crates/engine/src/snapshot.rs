//! Whole-deployment reads and writes for export and import (`ferrovex export`/`import`,
//! `npx convex export`/`import`): one consistent snapshot read page by page with bounded
//! memory, and an import that writes every document of a run in one transaction, keeping the
//! `_id` and `_creationTime` it is given.
//!
//! An import is not a mutation: it is not bound by [`crate::MAX_DOCUMENTS_WRITTEN`], it runs on
//! the committer (so other writes wait for it), and its commit invalidates every subscription
//! and cached result (it records `everything` instead of a write set per document).

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrovex_store::{
    Document, DocumentId, KeyRange, Order, ReadTxn, Schema, StoreError, TableName, Timestamp,
};
use ferrovex_values::Value;

use crate::committer::JobEnd;
use crate::db::{TxnState, check_document};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::readset::WriteSet;

/// Most documents one import may write (its write transaction holds them all).
pub const MAX_IMPORT_DOCUMENTS: usize = 10_000_000;

/// A read-only snapshot of every user table, for export.
pub struct SnapshotReader {
    txn: Box<dyn ReadTxn>,
    schema: Arc<Schema>,
}

/// Where a table's scan stopped: pass it to the next [`SnapshotReader::page`].
#[derive(Clone, Debug, Default)]
pub struct PageCursor(Option<Vec<u8>>);

impl SnapshotReader {
    /// The snapshot's timestamp: it holds every commit up to this one.
    pub fn ts(&self) -> Timestamp {
        self.txn.ts()
    }

    /// The app's tables (not system tables), sorted by name.
    pub fn user_tables(&self) -> Vec<TableName> {
        let mut names: Vec<TableName> = self
            .schema
            .tables()
            .filter(|t| !t.as_str().starts_with('_'))
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Up to `limit` documents of `table` after `cursor`, oldest first; `None` as the next
    /// cursor when the table is done.
    pub fn page(
        &mut self,
        table: &TableName,
        cursor: &PageCursor,
        limit: usize,
    ) -> Result<(Vec<Document>, Option<PageCursor>), EngineError> {
        let index = self
            .schema
            .index(table, ferrovex_store::CREATION_TIME_INDEX)
            .ok_or_else(|| EngineError::BadDatabaseCall(format!("no table {table}")))?;
        let mut range = KeyRange::all();
        if let Some(after) = &cursor.0 {
            let mut start = after.clone();
            start.push(0);
            range.start = start;
        }
        let limit = limit.max(1);
        let entries = self.txn.scan(&index.id(), &range, Order::Asc, limit)?;
        let next = (entries.len() == limit)
            .then(|| entries.last().map(|e| PageCursor(Some(e.key.clone()))))
            .flatten();
        Ok((entries.into_iter().map(|e| e.document).collect(), next))
    }
}

/// What an import does with a table that already holds documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// Refuse to import into a table that is not empty (Convex's default).
    RequireEmpty,
    /// Delete the table's documents first, in the same transaction.
    Replace,
    /// Add to the documents already there.
    Append,
}

/// One document to import. Without `id` a new one is made; without `creation_time`, now.
#[derive(Clone, Debug)]
pub struct ImportDocument {
    /// The table.
    pub table: TableName,
    /// The `_id` to keep.
    pub id: Option<DocumentId>,
    /// The `_creationTime` to keep (ms since the epoch).
    pub creation_time: Option<f64>,
    /// The user fields.
    pub fields: BTreeMap<String, Value>,
}

/// How an import went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Documents written, per table.
    pub written: BTreeMap<String, usize>,
    /// Documents deleted first (`Replace`), per table.
    pub deleted: BTreeMap<String, usize>,
    /// The commit.
    pub ts: Timestamp,
}

/// Receives the documents of an import, one at a time.
pub type ImportSink<'s> = dyn FnMut(ImportDocument) -> Result<(), EngineError> + 's;

/// Feeds an import: calls the sink for every document and returns `Ok` to commit them all.
pub type ImportSource = Box<dyn FnOnce(&mut ImportSink<'_>) -> Result<(), EngineError> + Send>;

impl Engine {
    /// Runs `f` against one consistent snapshot of the whole deployment, on a blocking thread.
    pub async fn with_snapshot<R, F>(&self, f: F) -> Result<R, EngineError>
    where
        R: Send + 'static,
        F: FnOnce(&mut SnapshotReader) -> Result<R, EngineError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let txn = inner.persistence.begin_read()?;
            let mut reader = SnapshotReader {
                txn,
                schema: Arc::new(inner.app.schema.clone()),
            };
            f(&mut reader)
        })
        .await
        .map_err(|e| {
            EngineError::Store(StoreError::Backend(format!("snapshot read failed: {e}")))
        })?
    }

    /// Imports what `source` yields into `tables` (each with its mode), all or nothing: the
    /// first error rolls back every write of the run. Every document is checked against its
    /// table's validator; a kept `_id` that exists already is an error.
    pub async fn import_documents(
        &self,
        tables: Vec<(TableName, ImportMode)>,
        source: ImportSource,
    ) -> Result<ImportReport, EngineError> {
        let schema = Arc::new(self.inner.app.schema.clone());
        for (table, _) in &tables {
            if table.as_str().starts_with('_')
                || schema
                    .index(table, ferrovex_store::CREATION_TIME_INDEX)
                    .is_none()
            {
                return Err(EngineError::BadDatabaseCall(format!(
                    "table {table} is not in the app's schema (imports go into the app's own tables)"
                )));
            }
        }
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        let inner = self.inner.clone();
        let job: crate::committer::Job = Box::new(move |txn| {
            let txn = match txn {
                Ok(txn) => txn,
                Err(e) => {
                    return JobEnd::rollback(move || {
                        let _ = reply_tx.send(Err(e.into()));
                    });
                }
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                write_import(txn, &schema, &inner, &tables, source)
            }))
            .unwrap_or_else(|_| Err(EngineError::BadDatabaseCall("import panicked".to_owned())));
            match result {
                Ok(mut report) => {
                    let writes = Arc::new(WriteSet {
                        everything: true,
                        ..WriteSet::default()
                    });
                    JobEnd {
                        commit: true,
                        writes: Some(writes.clone()),
                        finish: Box::new(move |committed| {
                            let reply = match committed {
                                Ok(Some(committed)) => {
                                    report.ts = committed.ts;
                                    crate::foreign::publish_local(&inner, committed, writes);
                                    Ok(report)
                                }
                                Ok(None) => Err(EngineError::ShuttingDown),
                                Err(e) => Err(e.into()),
                            };
                            let _ = reply_tx.send(reply);
                        }),
                    }
                }
                Err(e) => JobEnd::rollback(move || {
                    let _ = reply_tx.send(Err(e));
                }),
            }
        });
        self.inner.committer.submit(job).await?;
        reply_rx.await.map_err(|_| EngineError::ShuttingDown)?
    }
}

fn write_import(
    txn: &mut dyn ferrovex_store::WriteTxn,
    schema: &Arc<Schema>,
    inner: &crate::engine::Inner,
    tables: &[(TableName, ImportMode)],
    source: ImportSource,
) -> Result<ImportReport, EngineError> {
    let mut report = ImportReport::default();
    for (table, mode) in tables {
        let index = schema
            .index(table, ferrovex_store::CREATION_TIME_INDEX)
            .ok_or_else(|| EngineError::BadDatabaseCall(format!("no table {table}")))?;
        match mode {
            ImportMode::Append => {}
            ImportMode::RequireEmpty => {
                if !txn
                    .scan(&index.id(), &KeyRange::all(), Order::Asc, 1)?
                    .is_empty()
                {
                    return Err(EngineError::BadDatabaseCall(format!(
                        "table {table} is not empty: choose --replace or --append"
                    )));
                }
            }
            ImportMode::Replace => {
                let mut deleted = 0;
                loop {
                    let batch = txn.scan(&index.id(), &KeyRange::all(), Order::Asc, 512)?;
                    if batch.is_empty() {
                        break;
                    }
                    for entry in batch {
                        txn.delete(&entry.document.id)?;
                        deleted += 1;
                    }
                }
                report.deleted.insert(table.as_str().to_owned(), deleted);
            }
        }
        report.written.insert(table.as_str().to_owned(), 0);
    }
    let now = txn.ts().as_millis_f64();
    let state = TxnState::new(schema.clone());
    let mut total = 0usize;
    let mut sink = |doc: ImportDocument| -> Result<(), EngineError> {
        let Some(count) = report.written.get_mut(doc.table.as_str()) else {
            return Err(EngineError::BadDatabaseCall(format!(
                "table {} is not part of this import",
                doc.table
            )));
        };
        total += 1;
        if total > MAX_IMPORT_DOCUMENTS {
            return Err(EngineError::LimitExceeded(format!(
                "an import may write at most {MAX_IMPORT_DOCUMENTS} documents"
            )));
        }
        let document = Document {
            id: doc
                .id
                .unwrap_or_else(|| inner.ids.generate(inner.clock.as_ref())),
            table: doc.table,
            creation_time: doc.creation_time.unwrap_or(now),
            fields: doc.fields,
        };
        check_document(&state.schema, &document)?;
        txn.insert(&document).map_err(|e| match e {
            StoreError::AlreadyExists(_) => EngineError::BadDatabaseCall(format!(
                "a document with _id {} exists already",
                document.id
            )),
            other => other.into(),
        })?;
        *count += 1;
        Ok(())
    };
    source(&mut sink)?;
    Ok(report)
}
