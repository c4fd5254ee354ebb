//! Read snapshots: a pooled reader connection inside a deferred transaction.

use std::sync::Arc;

use ferrovex_store::{
    Document, DocumentId, IndexEntry, IndexId, KeyRange, Order, ReadTxn, StoreError, Timestamp,
};
use rusqlite::Connection;

use crate::Shared;
use crate::connection::{backend, get, read_latest_ts, scan};

/// A read snapshot; the connection goes back to the pool when dropped.
pub(crate) struct SqliteRead {
    shared: Arc<Shared>,
    conn: Option<Connection>,
    ts: Timestamp,
}

impl SqliteRead {
    pub(crate) fn begin(shared: Arc<Shared>) -> Result<SqliteRead, StoreError> {
        let conn = shared.take_reader()?;
        conn.execute_batch("BEGIN DEFERRED").map_err(backend)?;
        // The first read fixes the WAL snapshot, so the timestamp matches what we will see.
        let ts = match read_latest_ts(&conn) {
            Ok(ts) => ts,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        Ok(SqliteRead {
            shared,
            conn: Some(conn),
            ts,
        })
    }

    fn conn(&self) -> Result<&Connection, StoreError> {
        self.conn.as_ref().ok_or(StoreError::Closed)
    }
}

impl ReadTxn for SqliteRead {
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

impl Drop for SqliteRead {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && conn.execute_batch("ROLLBACK").is_ok()
        {
            self.shared.return_reader(conn);
        }
    }
}
