//! The reads shared by snapshots and the write transaction: documents by id, index scans and
//! the commit log.

use ferrovex_store::{
    CommitLogPage, CommitRecord, Document, DocumentId, IndexEntry, IndexId, KeyRange, Order,
    StoreError, Timestamp,
};

use crate::conn::{Conn, key_prefix, ts_of, ts_sql};

fn decode(row: &tokio_postgres::Row, first: usize) -> Result<Document, StoreError> {
    Document::decode_stored(
        row.get(first),
        row.get::<_, &str>(first + 1),
        row.get(first + 2),
        row.get::<_, &str>(first + 3),
    )
}

/// One document by id.
pub(crate) async fn get(conn: &Conn, id: &DocumentId) -> Result<Option<Document>, StoreError> {
    let rows = conn
        .query(
            "SELECT id, table_name, creation_time, body FROM ferrovex_documents WHERE id = $1",
            vec![Box::new(id.as_str().to_owned())],
        )
        .await?;
    rows.first().map(|r| decode(r, 0)).transpose()
}

const SCAN_ASC: &str = "SELECT e.key, d.id, d.table_name, d.creation_time, d.body \
     FROM ferrovex_index_entries e JOIN ferrovex_documents d ON d.id = e.doc_id \
     WHERE e.index_id = $1 AND e.key_prefix >= $2 AND e.key >= $3 \
     ORDER BY e.key_prefix ASC, e.key ASC LIMIT $4";
const SCAN_DESC: &str = "SELECT e.key, d.id, d.table_name, d.creation_time, d.body \
     FROM ferrovex_index_entries e JOIN ferrovex_documents d ON d.id = e.doc_id \
     WHERE e.index_id = $1 AND e.key_prefix >= $2 AND e.key >= $3 \
     ORDER BY e.key_prefix DESC, e.key DESC LIMIT $4";
const SCAN_ASC_END: &str = "SELECT e.key, d.id, d.table_name, d.creation_time, d.body \
     FROM ferrovex_index_entries e JOIN ferrovex_documents d ON d.id = e.doc_id \
     WHERE e.index_id = $1 AND e.key_prefix >= $2 AND e.key >= $3 \
       AND e.key_prefix <= $5 AND e.key < $6 \
     ORDER BY e.key_prefix ASC, e.key ASC LIMIT $4";
const SCAN_DESC_END: &str = "SELECT e.key, d.id, d.table_name, d.creation_time, d.body \
     FROM ferrovex_index_entries e JOIN ferrovex_documents d ON d.id = e.doc_id \
     WHERE e.index_id = $1 AND e.key_prefix >= $2 AND e.key >= $3 \
       AND e.key_prefix <= $5 AND e.key < $6 \
     ORDER BY e.key_prefix DESC, e.key DESC LIMIT $4";

/// One bounded index scan.
pub(crate) async fn scan(
    conn: &Conn,
    index: &IndexId,
    range: &KeyRange,
    order: Order,
    limit: usize,
) -> Result<Vec<IndexEntry>, StoreError> {
    if range.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut params: Vec<crate::conn::Param> = vec![
        Box::new(index.as_str().to_owned()),
        Box::new(key_prefix(&range.start)),
        Box::new(range.start.clone()),
        Box::new(limit),
    ];
    let sql = match (&range.end, order) {
        (Some(end), order) => {
            params.push(Box::new(key_prefix(end)));
            params.push(Box::new(end.clone()));
            match order {
                Order::Asc => SCAN_ASC_END,
                Order::Desc => SCAN_DESC_END,
            }
        }
        (None, Order::Asc) => SCAN_ASC,
        (None, Order::Desc) => SCAN_DESC,
    };
    let rows = conn.query(sql, params).await?;
    rows.iter()
        .map(|r| {
            Ok(IndexEntry {
                key: r.get(0),
                document: decode(r, 1)?,
            })
        })
        .collect()
}

/// The commit clock: the latest commit and the newest pruned commit log record.
pub(crate) async fn clock(conn: &Conn) -> Result<(Timestamp, Timestamp), StoreError> {
    let rows = conn
        .query(
            "SELECT ts, log_pruned_through FROM ferrovex_clock WHERE id = 1",
            Vec::new(),
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Backend("the ferrovex_clock row is missing".to_owned()))?;
    Ok((ts_of(row.get(0)), ts_of(row.get(1))))
}

/// Commit log records after `after`, inside the caller's snapshot.
pub(crate) async fn commit_log(
    conn: &Conn,
    after: Timestamp,
    limit: usize,
) -> Result<CommitLogPage, StoreError> {
    let (latest, pruned_through) = clock(conn).await?;
    let rows = conn
        .query(
            "SELECT ts, origin, writes FROM ferrovex_commit_log WHERE ts > $1 ORDER BY ts LIMIT $2",
            vec![
                Box::new(ts_sql(after)),
                Box::new(i64::try_from(limit).unwrap_or(i64::MAX)),
            ],
        )
        .await?;
    let records: Vec<CommitRecord> = rows
        .iter()
        .map(|r| CommitRecord {
            ts: ts_of(r.get(0)),
            origin: u64::from_ne_bytes(r.get::<_, i64>(1).to_ne_bytes()),
            writes: r.get(2),
        })
        .collect();
    let more = records.len() >= limit;
    let through = match (more, records.last()) {
        (true, Some(last)) => last.ts,
        _ => latest,
    };
    Ok(CommitLogPage {
        records,
        through,
        pruned_through,
        more,
    })
}
