//! Read snapshots: a pooled connection inside a REPEATABLE READ, READ ONLY transaction whose
//! first statement reads the commit clock, so the timestamp matches what the snapshot sees.

use std::sync::Arc;

use ferrovex_store::{
    Document, DocumentId, IndexEntry, IndexId, KeyRange, Order, ReadTxn, StoreError, Timestamp,
};

use crate::Shared;
use crate::conn::{Conn, block_on};
use crate::queries;

/// A read snapshot; the connection goes back to the pool when dropped.
pub(crate) struct PgRead {
    shared: Arc<Shared>,
    conn: Option<Arc<Conn>>,
    ts: Timestamp,
}

impl PgRead {
    pub(crate) fn begin(shared: Arc<Shared>) -> Result<PgRead, StoreError> {
        let s = shared.clone();
        let (conn, ts) = block_on(&shared.runtime, async move {
            let conn = s
                .begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            let (ts, _) = queries::clock(&conn).await?;
            Ok::<_, StoreError>((conn, ts))
        })??;
        Ok(PgRead {
            shared,
            conn: Some(conn),
            ts,
        })
    }

    fn conn(&self) -> Result<Arc<Conn>, StoreError> {
        self.conn.clone().ok_or(StoreError::Closed)
    }
}

impl ReadTxn for PgRead {
    fn ts(&self) -> Timestamp {
        self.ts
    }

    fn get(&mut self, id: &DocumentId) -> Result<Option<Document>, StoreError> {
        let conn = self.conn()?;
        let id = id.clone();
        block_on(&self.shared.runtime, async move {
            queries::get(&conn, &id).await
        })?
    }

    fn scan(
        &mut self,
        index: &IndexId,
        range: &KeyRange,
        order: Order,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let conn = self.conn()?;
        let (index, range) = (index.clone(), range.clone());
        block_on(&self.shared.runtime, async move {
            queries::scan(&conn, &index, &range, order, limit).await
        })?
    }
}

impl Drop for PgRead {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Ends the snapshot in the background; the connection is reused once it has.
            let shared = self.shared.clone();
            self.shared.runtime.spawn(async move {
                if conn.batch("ROLLBACK").await.is_ok() {
                    shared.put(conn);
                }
            });
        }
    }
}
