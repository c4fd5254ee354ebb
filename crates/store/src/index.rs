//! Index ids, order-preserving index keys, key ranges and scan order.
//!
//! An index key is the concatenation of the order-preserving encodings
//! (`ferrovex_values::key`) of the indexed fields, then `_creationTime`, then `_id`.
//! Byte order of keys equals Convex order of the tuples, so a backend only needs
//! byte-wise range scans (SQLite compares BLOBs with memcmp), and a read set is just a
//! list of byte ranges per index.

use ferrovex_values::Value;
use ferrovex_values::key::{encode_key_value, encode_missing, prefix_successor};

use crate::document::Document;
use crate::id::TableName;
use crate::schema::IndexDef;

/// Storage id of an index: `"<table>.<index>"`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexId(String);

impl IndexId {
    /// The id of index `name` on `table`.
    pub fn new(table: &TableName, name: &str) -> IndexId {
        IndexId(format!("{}.{}", table.as_str(), name))
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id read back from storage (the commit log), as [`IndexId::as_str`] wrote it.
    pub fn from_stored(id: String) -> IndexId {
        IndexId(id)
    }
}

impl std::fmt::Display for IndexId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Scan direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Order {
    /// Smallest key first.
    #[default]
    Asc,
    /// Largest key first.
    Desc,
}

/// A half-open byte range `[start, end)` of index keys; `end == None` is unbounded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyRange {
    /// Inclusive lower bound.
    pub start: Vec<u8>,
    /// Exclusive upper bound, or unbounded.
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> KeyRange {
        KeyRange {
            start: Vec::new(),
            end: None,
        }
    }

    /// Every key starting with `prefix`.
    pub fn prefix(prefix: Vec<u8>) -> KeyRange {
        let end = prefix_successor(&prefix);
        KeyRange {
            start: prefix,
            end: Some(end),
        }
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }

    /// Whether the range holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.end
            .as_deref()
            .is_some_and(|end| end <= self.start.as_slice())
    }

    /// Whether two ranges share at least one key.
    pub fn overlaps(&self, other: &KeyRange) -> bool {
        let lo = self.start.as_slice().max(other.start.as_slice());
        let hi = match (&self.end, &other.end) {
            (None, None) => None,
            (Some(a), None) => Some(a.as_slice()),
            (None, Some(b)) => Some(b.as_slice()),
            (Some(a), Some(b)) => Some(a.as_slice().min(b.as_slice())),
        };
        hi.is_none_or(|hi| lo < hi)
    }
}

/// One row of an index scan.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    /// The full index key of the document.
    pub key: Vec<u8>,
    /// The document.
    pub document: Document,
}

/// Encodes the index-field part of a key from field values (`None` = missing field).
pub fn encode_fields<'a>(values: impl IntoIterator<Item = Option<&'a Value>>, out: &mut Vec<u8>) {
    for value in values {
        match value {
            Some(v) => encode_key_value(v, out),
            None => encode_missing(out),
        }
    }
}

/// The full key of `doc` in `index`: indexed fields, `_creationTime`, `_id`.
pub fn index_key(index: &IndexDef, doc: &Document) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    for field in &index.fields {
        match doc.field(field) {
            Some(v) => encode_key_value(&v, &mut out),
            None => encode_missing(&mut out),
        }
    }
    encode_key_value(&Value::Float64(doc.creation_time), &mut out);
    encode_key_value(&Value::String(doc.id.as_str().to_owned()), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: &[u8], end: Option<&[u8]>) -> KeyRange {
        KeyRange {
            start: start.to_vec(),
            end: end.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn ranges_overlap_only_when_they_share_a_key() {
        assert!(r(b"a", Some(b"c")).overlaps(&r(b"b", Some(b"d"))));
        assert!(!r(b"a", Some(b"b")).overlaps(&r(b"b", Some(b"c"))));
        assert!(r(b"a", None).overlaps(&r(b"z", Some(b"zz"))));
        assert!(!r(b"b", Some(b"b")).overlaps(&KeyRange::all()));
        assert!(r(b"b", Some(b"b")).is_empty());
        assert!(r(b"b", Some(b"c")).contains(b"b"));
        assert!(!r(b"b", Some(b"c")).contains(b"c"));
    }
}
