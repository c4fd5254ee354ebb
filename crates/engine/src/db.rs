//! The database API functions use: `ctx.db.get`, `ctx.db.query(..)`, and in mutations
//! `insert`, `patch`, `replace` and `delete`. Every read is recorded in the read set, every
//! write in the write set.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferrovex_store::{
    Clock, Document, DocumentId, IdGenerator, IndexDef, KeyRange, Order, ReadTxn, Schema,
    TableName, WriteTxn,
};
use ferrovex_values::{Value, to_value, validate_field_name};
use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::identity::Identity;
use crate::range::IndexRange;
use crate::readset::{ReadSet, WriteSet};
use crate::typed::{Doc, Id, Table};

/// Most documents one execution may read.
pub const MAX_DOCUMENTS_READ: usize = 32_768;
/// Most documents one mutation may write.
pub const MAX_DOCUMENTS_WRITTEN: usize = 8_192;
/// Largest stored document (its Convex JSON), as in Convex.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Largest page of a paginated query.
pub const MAX_PAGE_SIZE: usize = 8_192;
/// Rows fetched from storage per round trip while scanning.
const SCAN_BATCH: usize = 256;

/// The smallest key greater than `key`.
fn key_successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// Bookkeeping shared by the reader and writer views of one transaction.
pub(crate) struct TxnState {
    pub(crate) schema: Arc<Schema>,
    pub(crate) reads: ReadSet,
    pub(crate) documents_read: usize,
    /// The caller, if authenticated.
    pub(crate) identity: Option<Arc<Identity>>,
    /// Whether the function looked at the identity (its result is then per-identity).
    pub(crate) identity_read: bool,
    /// Ferrovex's own code (auth) may touch system tables; user functions may not.
    pub(crate) system: bool,
    /// Jobs this transaction scheduled (bounded; a commit that scheduled wakes the scheduler).
    pub(crate) scheduled: usize,
}

impl TxnState {
    pub(crate) fn new(schema: Arc<Schema>) -> TxnState {
        TxnState {
            schema,
            reads: ReadSet::default(),
            documents_read: 0,
            identity: None,
            identity_read: false,
            system: false,
            scheduled: 0,
        }
    }

    pub(crate) fn count_reads(&mut self, n: usize) -> Result<(), EngineError> {
        self.documents_read += n;
        if self.documents_read > MAX_DOCUMENTS_READ {
            return Err(EngineError::LimitExceeded(format!(
                "a function may read at most {MAX_DOCUMENTS_READ} documents"
            )));
        }
        Ok(())
    }
}

fn user_table(name: &str) -> Result<TableName, EngineError> {
    TableName::parse(name).ok_or_else(|| {
        EngineError::BadDatabaseCall(format!(
            "invalid table name {name:?}: use letters, digits and _, starting with a letter"
        ))
    })
}

fn get_recorded(
    txn: &mut dyn ReadTxn,
    state: &mut TxnState,
    id: &DocumentId,
) -> Result<Option<Document>, EngineError> {
    state.reads.ids.insert(id.clone());
    // System documents (users, sessions, keys) are invisible to user functions.
    let doc = txn
        .get(id)?
        .filter(|d| state.system || !d.table.as_str().starts_with('_'));
    state.count_reads(usize::from(doc.is_some()))?;
    Ok(doc)
}

/// A document of any table by id, recorded as read (for Ferrovex's own system tables, such as
/// `_storage` behind `ctx.storage()`).
pub(crate) fn get_recorded_system(
    txn: &mut dyn ReadTxn,
    state: &mut TxnState,
    id: &DocumentId,
) -> Result<Option<Document>, EngineError> {
    state.reads.ids.insert(id.clone());
    let doc = txn.get(id)?;
    state.count_reads(usize::from(doc.is_some()))?;
    Ok(doc)
}

/// Read access to the database, for queries.
pub struct DatabaseReader<'a> {
    pub(crate) txn: &'a mut dyn ReadTxn,
    pub(crate) state: &'a mut TxnState,
}

/// A typed document of table `T` by typed id; `None` when missing or stored in another table
/// (ids do not encode their table, so an `Id<T>` from a client is checked here).
fn get_typed<T: Table + serde::de::DeserializeOwned>(
    txn: &mut dyn ReadTxn,
    state: &mut TxnState,
    id: &Id<T>,
) -> Result<Option<Doc<T>>, EngineError> {
    match get_recorded(txn, state, id.untyped())? {
        Some(doc) if doc.table.as_str() == T::NAME => Ok(Some(Doc::try_from(doc)?)),
        _ => Ok(None),
    }
}

/// System tables functions may read through `ctx.db.system()` (Convex's `ctx.db.system`).
/// Auth's tables (`_users`, `_sessions`, ...) are not among them.
pub const READABLE_SYSTEM_TABLES: &[&str] = &[
    crate::scheduler::SCHEDULED_TABLE,
    crate::storage::STORAGE_TABLE,
];

/// Read access to [`READABLE_SYSTEM_TABLES`] (`ctx.db.system().query("_scheduled_functions")`).
pub struct SystemReader<'r> {
    txn: &'r mut dyn ReadTxn,
    state: &'r mut TxnState,
}

impl SystemReader<'_> {
    /// Starts a query over a readable system table.
    pub fn query(&mut self, table: &str) -> Result<Query<'_>, EngineError> {
        if !READABLE_SYSTEM_TABLES.contains(&table) {
            return Err(EngineError::BadDatabaseCall(format!(
                "{table:?} is not a system table functions may read (those are {READABLE_SYSTEM_TABLES:?})"
            )));
        }
        Query::open(self.txn, self.state, table, true)
    }

    /// A document of a readable system table by id, or `None`.
    pub fn get(&mut self, id: &DocumentId) -> Result<Option<Document>, EngineError> {
        self.state.reads.ids.insert(id.clone());
        let doc = self
            .txn
            .get(id)?
            .filter(|d| READABLE_SYSTEM_TABLES.contains(&d.table.as_str()));
        self.state.count_reads(usize::from(doc.is_some()))?;
        Ok(doc)
    }
}

impl DatabaseReader<'_> {
    /// Read access to the system tables functions may see (`_scheduled_functions`).
    pub fn system(&mut self) -> SystemReader<'_> {
        SystemReader {
            txn: self.txn,
            state: self.state,
        }
    }

    /// A document by id, or `None`.
    pub fn get(&mut self, id: &DocumentId) -> Result<Option<Document>, EngineError> {
        get_recorded(self.txn, self.state, id)
    }

    /// A typed document by typed id, or `None` when it is missing or in another table.
    pub fn get_doc<T: Table + serde::de::DeserializeOwned>(
        &mut self,
        id: &Id<T>,
    ) -> Result<Option<Doc<T>>, EngineError> {
        get_typed(self.txn, self.state, id)
    }

    /// Starts a query over `table` (by creation time unless an index is chosen).
    pub fn query(&mut self, table: &str) -> Result<Query<'_>, EngineError> {
        Query::new(self.txn, self.state, table)
    }
}

/// Read-write access to the database, for mutations.
pub struct DatabaseWriter<'a> {
    pub(crate) txn: &'a mut dyn WriteTxn,
    pub(crate) state: &'a mut TxnState,
    pub(crate) writes: &'a mut WriteSet,
    pub(crate) written: usize,
    pub(crate) ids: &'a IdGenerator,
    pub(crate) clock: &'a dyn Clock,
}

/// Checks and converts user fields for storage.
fn user_fields(value: Value) -> Result<std::collections::BTreeMap<String, Value>, EngineError> {
    let Value::Object(fields) = value else {
        return Err(EngineError::BadDatabaseCall(format!(
            "a document must be an object, not {}",
            value.type_name()
        )));
    };
    for name in fields.keys() {
        validate_field_name(name)?;
        if name.starts_with('_') {
            return Err(EngineError::BadDatabaseCall(format!(
                "field {name:?} starts with '_', which is reserved for system fields"
            )));
        }
    }
    Ok(fields)
}

fn check_size(doc: &Document) -> Result<(), EngineError> {
    let size = doc.to_value().to_convex_json().to_string().len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(EngineError::LimitExceeded(format!(
            "document is {size} bytes; the limit is {MAX_DOCUMENT_BYTES}"
        )));
    }
    Ok(())
}

/// Everything a write checks of a document from outside (an import): field names, the
/// table's validator and the size limit.
pub(crate) fn check_document(
    schema: &ferrovex_store::Schema,
    doc: &Document,
) -> Result<(), EngineError> {
    user_fields(Value::Object(doc.fields.clone()))?;
    check_shape(schema, doc)?;
    check_size(doc)
}

/// The document against its table's validator, if the schema declares one.
fn check_shape(schema: &ferrovex_store::Schema, doc: &Document) -> Result<(), EngineError> {
    match schema.validator_of(&doc.table) {
        Some(validator) => {
            validator
                .check_document(&doc.fields)
                .map_err(|mismatch| EngineError::SchemaMismatch {
                    table: doc.table.as_str().to_owned(),
                    mismatch,
                })
        }
        None => Ok(()),
    }
}

impl DatabaseWriter<'_> {
    fn count_write(&mut self) -> Result<(), EngineError> {
        self.written += 1;
        if self.written > MAX_DOCUMENTS_WRITTEN {
            return Err(EngineError::LimitExceeded(format!(
                "a mutation may write at most {MAX_DOCUMENTS_WRITTEN} documents"
            )));
        }
        Ok(())
    }

    /// A document by id, or `None` (sees this mutation's own writes).
    pub fn get(&mut self, id: &DocumentId) -> Result<Option<Document>, EngineError> {
        get_recorded(self.txn, self.state, id)
    }

    /// Read access to the system tables functions may see (`_scheduled_functions`).
    pub fn system(&mut self) -> SystemReader<'_> {
        SystemReader {
            txn: &mut *self.txn,
            state: self.state,
        }
    }

    /// A typed document by typed id, or `None` when it is missing or in another table.
    pub fn get_doc<T: Table + serde::de::DeserializeOwned>(
        &mut self,
        id: &Id<T>,
    ) -> Result<Option<Doc<T>>, EngineError> {
        get_typed(self.txn, self.state, id)
    }

    /// Starts a query over `table` (sees this mutation's own writes).
    pub fn query(&mut self, table: &str) -> Result<Query<'_>, EngineError> {
        Query::new(self.txn, self.state, table)
    }

    /// Inserts a document (an object of user fields) and returns its new `_id`.
    pub fn insert<T: Serialize + ?Sized>(
        &mut self,
        table: &str,
        value: &T,
    ) -> Result<DocumentId, EngineError> {
        let table = user_table(table)?;
        self.insert_into(table, to_value(value)?)
    }

    /// Inserts into a system table (name starting with `_`); only for Ferrovex's own code.
    pub fn insert_system(&mut self, table: &str, value: Value) -> Result<DocumentId, EngineError> {
        if !self.state.system || !table.starts_with('_') {
            return Err(EngineError::BadDatabaseCall(format!(
                "{table:?} is not a system table"
            )));
        }
        self.insert_into(TableName::system(table), value)
    }

    /// Inserts into any table, including system tables (names starting with `_`).
    pub(crate) fn insert_into(
        &mut self,
        table: TableName,
        value: Value,
    ) -> Result<DocumentId, EngineError> {
        self.count_write()?;
        let doc = Document {
            id: self.ids.generate(self.clock),
            table,
            creation_time: self.txn.ts().as_millis_f64(),
            fields: user_fields(value)?,
        };
        check_shape(&self.state.schema, &doc)?;
        check_size(&doc)?;
        self.txn.insert(&doc)?;
        self.writes.record(&self.state.schema, None, Some(&doc));
        Ok(doc.id)
    }

    /// A document by id in any table, for Ferrovex's own bookkeeping (the scheduler's rows).
    pub(crate) fn raw_get(&mut self, id: &DocumentId) -> Result<Option<Document>, EngineError> {
        Ok(self.txn.get(id)?)
    }

    /// Replaces a document's fields in any table, for Ferrovex's own bookkeeping.
    pub(crate) fn raw_replace(
        &mut self,
        old: Document,
        fields: std::collections::BTreeMap<String, Value>,
    ) -> Result<(), EngineError> {
        self.write_replacement(old, fields)
    }

    /// Deletes a document in any table, for Ferrovex's own bookkeeping.
    pub(crate) fn raw_delete(&mut self, id: &DocumentId) -> Result<(), EngineError> {
        self.count_write()?;
        let old = self.txn.delete(id)?;
        self.writes.record(&self.state.schema, Some(&old), None);
        Ok(())
    }

    fn existing(&mut self, id: &DocumentId) -> Result<Document, EngineError> {
        let system = self.state.system;
        self.txn
            .get(id)?
            .filter(|d| system || !d.table.as_str().starts_with('_'))
            .ok_or_else(|| EngineError::BadDatabaseCall(format!("document {id} does not exist")))
    }

    fn write_replacement(
        &mut self,
        old: Document,
        fields: std::collections::BTreeMap<String, Value>,
    ) -> Result<(), EngineError> {
        self.count_write()?;
        let new = Document {
            fields,
            ..old.clone()
        };
        check_shape(&self.state.schema, &new)?;
        check_size(&new)?;
        self.txn.replace(&new)?;
        self.writes
            .record(&self.state.schema, Some(&old), Some(&new));
        Ok(())
    }

    /// Shallow-merges the fields of `value` into the document.
    pub fn patch<T: Serialize + ?Sized>(
        &mut self,
        id: &DocumentId,
        value: &T,
    ) -> Result<(), EngineError> {
        let changes = user_fields(to_value(value)?)?;
        let old = self.existing(id)?;
        let mut fields = old.fields.clone();
        fields.extend(changes);
        self.write_replacement(old, fields)
    }

    /// Replaces all user fields of the document.
    pub fn replace<T: Serialize + ?Sized>(
        &mut self,
        id: &DocumentId,
        value: &T,
    ) -> Result<(), EngineError> {
        let fields = user_fields(to_value(value)?)?;
        let old = self.existing(id)?;
        self.write_replacement(old, fields)
    }

    /// Deletes the document.
    pub fn delete(&mut self, id: &DocumentId) -> Result<(), EngineError> {
        self.existing(id)?;
        self.count_write()?;
        let old = self.txn.delete(id).map_err(|e| match e {
            ferrovex_store::StoreError::NotFound(_) => {
                EngineError::BadDatabaseCall(format!("document {id} does not exist"))
            }
            other => other.into(),
        })?;
        self.writes.record(&self.state.schema, Some(&old), None);
        Ok(())
    }
}

/// Options of a paginated query, as sent by clients (`{numItems, cursor}`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PaginationOpts {
    /// Page size (a JS number on the wire, so a float holding a whole number).
    pub num_items: f64,
    /// `null` for the first page, else a `continueCursor` from the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Keeps a loaded page's bounds fixed: the page then holds every result after `cursor` up
    /// to and including this one (a `continueCursor` it returned before), however many there
    /// are now, so pages neither overlap nor leave gaps while documents come and go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_cursor: Option<String>,
}

fn decode_cursor(cursor: Option<&str>) -> Result<Option<Vec<u8>>, EngineError> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => URL_SAFE_NO_PAD
            .decode(c)
            .map(Some)
            .map_err(|_| EngineError::BadDatabaseCall("invalid pagination cursor".to_owned())),
    }
}

/// One page, as returned to clients (`{page, isDone, continueCursor}`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationResult<T = Document> {
    /// The documents of this page.
    pub page: Vec<T>,
    /// Whether the query has no more results after this page.
    pub is_done: bool,
    /// Pass this as `cursor` to get the next page.
    pub continue_cursor: String,
}

/// A query under construction: table, index range, order.
pub struct Query<'a> {
    txn: &'a mut dyn ReadTxn,
    state: &'a mut TxnState,
    index: IndexDef,
    range: KeyRange,
    order: Order,
}

impl<'a> Query<'a> {
    fn new(
        txn: &'a mut dyn ReadTxn,
        state: &'a mut TxnState,
        table: &str,
    ) -> Result<Query<'a>, EngineError> {
        Query::open(txn, state, table, false)
    }

    /// `readable_system`: the caller went through `ctx.db.system()`, so the system tables in
    /// [`READABLE_SYSTEM_TABLES`] are allowed too.
    pub(crate) fn open(
        txn: &'a mut dyn ReadTxn,
        state: &'a mut TxnState,
        table: &str,
        readable_system: bool,
    ) -> Result<Query<'a>, EngineError> {
        let allowed_system =
            state.system || (readable_system && READABLE_SYSTEM_TABLES.contains(&table));
        let table = TableName::parse(table)
            .or_else(|| {
                (allowed_system && table.starts_with('_')).then(|| TableName::system(table))
            })
            .ok_or_else(|| EngineError::BadDatabaseCall(format!("invalid table name {table:?}")))?;
        let index = state
            .schema
            .index(&table, ferrovex_store::CREATION_TIME_INDEX)
            .ok_or_else(|| EngineError::BadDatabaseCall("no creation-time index".to_owned()))?;
        Ok(Query {
            txn,
            state,
            index,
            range: KeyRange::all(),
            order: Order::Asc,
        })
    }

    /// Uses index `name`, restricted by `range` (`|q| q.eq("channel", "general")`).
    pub fn with_index(
        mut self,
        name: &str,
        range: impl FnOnce(IndexRange) -> IndexRange,
    ) -> Result<Self, EngineError> {
        let index = self.declared_index(name)?;
        if index.search.is_some() {
            return Err(EngineError::BadDatabaseCall(format!(
                "index {name:?} of table {} is a search index; use with_search_index",
                self.index.table
            )));
        }
        self.range = range(IndexRange::default()).to_key_range(name, &index.fields)?;
        self.index = index;
        Ok(self)
    }

    /// Index `name` of this query's table, as the schema declares it.
    fn declared_index(&self, name: &str) -> Result<IndexDef, EngineError> {
        self.state
            .schema
            .index(&self.index.table, name)
            .ok_or_else(|| {
                EngineError::BadDatabaseCall(format!(
                    "table {} has no index {name:?} in the schema",
                    self.index.table
                ))
            })
    }

    /// A full-text search on search index `name` of this table, most relevant first
    /// (`|q| q.search("text", "hello").eq("channel", "general")`); see [`crate::search`].
    pub fn with_search_index(
        self,
        name: &str,
        filter: impl FnOnce(crate::search::SearchFilter) -> crate::search::SearchFilter,
    ) -> Result<crate::search::SearchQuery<'a>, EngineError> {
        let index = self.declared_index(name)?;
        let Some(spec) = index.search.clone() else {
            return Err(EngineError::BadDatabaseCall(format!(
                "index {name:?} of table {} is not a search index; use with_index",
                self.index.table
            )));
        };
        crate::search::SearchQuery::new(
            self.txn,
            self.state,
            index,
            spec,
            filter(crate::search::SearchFilter::default()),
        )
    }

    /// Sets the order (ascending by default).
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Reads up to `limit` entries, recording the part of the range actually covered: the whole
    /// range when it was exhausted, else only up to the last key read.
    fn scan(&mut self, limit: Option<usize>) -> Result<Vec<Document>, EngineError> {
        if limit == Some(0) {
            return Ok(Vec::new());
        }
        let index_id = self.index.id();
        let mut out = Vec::new();
        let mut remaining = self.range.clone();
        let mut last_key: Option<Vec<u8>> = None;
        let mut exhausted = false;
        loop {
            let want = limit.map_or(SCAN_BATCH, |l| (l - out.len()).min(SCAN_BATCH));
            if want == 0 {
                break;
            }
            let batch = self.txn.scan(&index_id, &remaining, self.order, want)?;
            self.state.count_reads(batch.len())?;
            let short = batch.len() < want;
            if let Some(last) = batch.last() {
                match self.order {
                    Order::Asc => remaining.start = key_successor(&last.key),
                    Order::Desc => remaining.end = Some(last.key.clone()),
                }
                last_key = Some(last.key.clone());
            }
            out.extend(batch.into_iter().map(|e| e.document));
            if short {
                exhausted = true;
                break;
            }
        }
        let covered = match (exhausted, last_key) {
            (false, Some(key)) => match self.order {
                Order::Asc => KeyRange {
                    start: self.range.start.clone(),
                    end: Some(key_successor(&key)),
                },
                Order::Desc => KeyRange {
                    start: key,
                    end: self.range.end.clone(),
                },
            },
            _ => self.range.clone(),
        };
        self.state.reads.add_range(index_id, covered);
        Ok(out)
    }

    /// Every matching document.
    pub fn collect(mut self) -> Result<Vec<Document>, EngineError> {
        self.scan(None)
    }

    /// The first `n` matching documents.
    pub fn take(mut self, n: usize) -> Result<Vec<Document>, EngineError> {
        self.scan(Some(n))
    }

    /// The first matching document, if any.
    pub fn first(mut self) -> Result<Option<Document>, EngineError> {
        Ok(self.scan(Some(1))?.into_iter().next())
    }

    /// The only matching document; more than one is an error.
    pub fn unique(mut self) -> Result<Option<Document>, EngineError> {
        let mut docs = self.scan(Some(2))?;
        if docs.len() > 1 {
            return Err(EngineError::BadDatabaseCall(format!(
                "unique() found more than one document in {}",
                self.index.id()
            )));
        }
        Ok(docs.pop())
    }

    /// One page of results after `opts.cursor`.
    pub fn paginate(mut self, opts: &PaginationOpts) -> Result<PaginationResult, EngineError> {
        let n = Some(opts.num_items)
            .filter(|n| n.fract() == 0.0 && (1.0..=MAX_PAGE_SIZE as f64).contains(n))
            .map(|n| n as usize)
            .ok_or_else(|| {
                EngineError::BadDatabaseCall(format!(
                    "numItems must be between 1 and {MAX_PAGE_SIZE}, got {}",
                    opts.num_items
                ))
            })?;
        let after = decode_cursor(opts.cursor.as_deref())?;
        if let Some(after) = &after {
            match self.order {
                Order::Asc => {
                    let start = key_successor(after);
                    if start > self.range.start {
                        self.range.start = start;
                    }
                }
                Order::Desc => {
                    if self.range.end.as_ref().is_none_or(|e| after < e) {
                        self.range.end = Some(after.clone());
                    }
                }
            }
        }
        if let Some(end) = decode_cursor(opts.end_cursor.as_deref())? {
            return self.paginate_to(end, opts);
        }
        // Fetch one extra entry to learn whether this is the last page.
        let mut docs = self.scan(Some(n + 1))?;
        let is_done = docs.len() <= n;
        docs.truncate(n);
        let continue_cursor = match docs.last() {
            Some(last) => {
                let key = ferrovex_store::index::index_key(&self.index, last);
                URL_SAFE_NO_PAD.encode(key)
            }
            None => opts.cursor.clone().unwrap_or_default(),
        };
        Ok(PaginationResult {
            page: docs,
            is_done,
            continue_cursor,
        })
    }

    /// The page from the current range's start up to and including the key `end`.
    fn paginate_to(
        mut self,
        end: Vec<u8>,
        opts: &PaginationOpts,
    ) -> Result<PaginationResult, EngineError> {
        let whole = self.range.clone();
        match self.order {
            Order::Asc => {
                let stop = key_successor(&end);
                if self.range.end.as_ref().is_none_or(|e| &stop < e) {
                    self.range.end = Some(stop);
                }
            }
            Order::Desc => {
                if end > self.range.start {
                    self.range.start = end.clone();
                }
            }
        }
        let empty = self
            .range
            .end
            .as_ref()
            .is_some_and(|e| *e <= self.range.start);
        let docs = if empty {
            Vec::new()
        } else {
            self.scan(Some(MAX_PAGE_SIZE + 1))?
        };
        if docs.len() > MAX_PAGE_SIZE {
            return Err(EngineError::BadDatabaseCall(format!(
                "the page between these cursors holds more than {MAX_PAGE_SIZE} documents"
            )));
        }
        // Whether anything lies beyond the end (read, so a later insert there is noticed).
        self.range = whole;
        match self.order {
            Order::Asc => self.range.start = self.range.start.clone().max(key_successor(&end)),
            Order::Desc => {
                if self.range.end.as_ref().is_none_or(|e| end < *e) {
                    self.range.end = Some(end);
                }
            }
        }
        let is_done = self.scan(Some(1))?.is_empty();
        Ok(PaginationResult {
            page: docs,
            is_done,
            continue_cursor: opts.end_cursor.clone().unwrap_or_default(),
        })
    }
}
