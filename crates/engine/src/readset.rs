//! What a transaction read and what a commit wrote, as index key ranges and keys.
//!
//! A query's read set is the list of `(index, key range)` it scanned plus the ids it fetched
//! directly. A commit's write set is, for every changed document, its index keys before and
//! after the change. A subscription is affected by a commit exactly when one of the written keys
//! falls in one of its ranges, or one of the written ids is among its point reads.

use std::collections::BTreeSet;

use ferrovex_store::index::index_key;
use ferrovex_store::{Document, DocumentId, IndexId, KeyRange, Schema};

/// Everything one function execution read.
#[derive(Clone, Debug, Default)]
pub struct ReadSet {
    /// Scanned ranges per index.
    pub ranges: Vec<(IndexId, KeyRange)>,
    /// Documents read by id.
    pub ids: BTreeSet<DocumentId>,
}

impl ReadSet {
    /// Records a scanned range.
    pub fn add_range(&mut self, index: IndexId, range: KeyRange) {
        if !range.is_empty() {
            self.ranges.push((index, range));
        }
    }

    /// Whether a commit's writes touch anything this read.
    pub fn overlaps(&self, writes: &WriteSet) -> bool {
        writes.ids.iter().any(|id| self.ids.contains(id))
            || writes.keys.iter().any(|(index, key)| {
                self.ranges
                    .iter()
                    .any(|(ri, range)| ri == index && range.contains(key))
            })
    }
}

/// Everything one commit changed.
#[derive(Clone, Debug, Default)]
pub struct WriteSet {
    /// Old and new index keys of every changed document.
    pub keys: Vec<(IndexId, Vec<u8>)>,
    /// Ids of every changed document.
    pub ids: BTreeSet<DocumentId>,
}

impl WriteSet {
    /// Records one document change (`None` for "did not exist").
    pub fn record(&mut self, schema: &Schema, old: Option<&Document>, new: Option<&Document>) {
        for doc in [old, new].into_iter().flatten() {
            self.ids.insert(doc.id.clone());
            for def in schema.indexes_of(&doc.table) {
                self.keys.push((def.id(), index_key(&def, doc)));
            }
        }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}
