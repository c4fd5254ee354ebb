//! What a transaction read and what a commit wrote, as index key ranges and keys.
//!
//! A query's read set is the list of `(index, key range)` it scanned plus the ids it fetched
//! directly. A commit's write set is, for every changed document, its index keys before and
//! after the change. A subscription is affected by a commit exactly when one of the written keys
//! falls in one of its ranges, or one of the written ids is among its point reads.

use std::collections::BTreeSet;

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
    /// Too much changed to list (a bulk import): every subscription and cached result is
    /// invalid, and the commit log records [`WRITES_UNKNOWN`].
    pub everything: bool,
}

impl WriteSet {
    /// Records one document change (`None` for "did not exist").
    pub fn record(&mut self, schema: &Schema, old: Option<&Document>, new: Option<&Document>) {
        for doc in [old, new].into_iter().flatten() {
            self.ids.insert(doc.id.clone());
            for def in schema.indexes_of(&doc.table) {
                for key in def.keys_of(doc) {
                    self.keys.push((def.id(), key));
                }
            }
        }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        !self.everything && self.ids.is_empty()
    }

    /// The commit log form: a version byte, then the ids and the `(index, key)` pairs, each
    /// length-prefixed. A write set whose encoding would pass [`MAX_LOGGED_WRITE_SET`] is
    /// logged as [`WRITES_UNKNOWN`] instead: readers then invalidate everything (counted).
    pub fn encode(&self) -> Vec<u8> {
        if self.everything {
            return vec![WRITES_UNKNOWN];
        }
        let mut out = vec![ENCODING_V1];
        let put = |out: &mut Vec<u8>, bytes: &[u8]| {
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(bytes);
        };
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
        out.extend_from_slice(&count(self.ids.len()));
        for id in &self.ids {
            put(&mut out, id.as_str().as_bytes());
        }
        out.extend_from_slice(&count(self.keys.len()));
        for (index, key) in &self.keys {
            put(&mut out, index.as_str().as_bytes());
            put(&mut out, key);
            if out.len() > MAX_LOGGED_WRITE_SET {
                return vec![WRITES_UNKNOWN];
            }
        }
        if out.len() > MAX_LOGGED_WRITE_SET {
            return vec![WRITES_UNKNOWN];
        }
        out
    }

    /// Reads [`WriteSet::encode`]'s form back; `None` for [`WRITES_UNKNOWN`] or anything it
    /// cannot read (both mean: assume everything changed).
    pub fn decode(bytes: &[u8]) -> Option<WriteSet> {
        let mut r = Reader(bytes);
        if r.take(1)? != [ENCODING_V1] {
            return None;
        }
        let mut set = WriteSet::default();
        for _ in 0..r.u32()? {
            let id = String::from_utf8(r.chunk()?.to_vec()).ok()?;
            set.ids.insert(DocumentId::from_stored(id));
        }
        for _ in 0..r.u32()? {
            let index = String::from_utf8(r.chunk()?.to_vec()).ok()?;
            let key = r.chunk()?.to_vec();
            set.keys.push((IndexId::from_stored(index), key));
        }
        r.0.is_empty().then_some(set)
    }
}

/// First byte of an encoded write set.
const ENCODING_V1: u8 = 1;
/// The whole encoding of a write set too large to log key by key.
pub const WRITES_UNKNOWN: u8 = 0xff;
/// Largest encoded write set kept key by key in the commit log (1 MiB).
pub const MAX_LOGGED_WRITE_SET: usize = 1 << 20;

/// A cursor over an encoded write set.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn chunk(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_sets_round_trip_through_the_log_encoding_and_huge_ones_degrade() {
        let mut set = WriteSet::default();
        set.ids.insert(DocumentId::from_stored("abc".to_owned()));
        set.keys
            .push((IndexId::from_stored("t.by_x".to_owned()), vec![0, 1, 255]));
        set.keys
            .push((IndexId::from_stored("t.by_y".to_owned()), Vec::new()));
        let back = WriteSet::decode(&set.encode()).expect("decodes");
        assert_eq!(back.ids, set.ids);
        assert_eq!(back.keys, set.keys);
        // Truncated or unknown encodings read as "unknown" (invalidate everything).
        let bytes = set.encode();
        assert!(WriteSet::decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(WriteSet::decode(&[WRITES_UNKNOWN]).is_none());
        let mut huge = WriteSet::default();
        for i in 0..3000u32 {
            huge.keys.push((
                IndexId::from_stored("t.by_x".to_owned()),
                vec![u8::try_from(i % 251).unwrap_or(0); 512],
            ));
        }
        assert_eq!(huge.encode(), vec![WRITES_UNKNOWN]);
    }
}
