//! Full-text search indexes: the tokenizer and the index keys that make a search a set of
//! byte-range scans, maintained in the same transaction as the document like any index.
//!
//! **Tokenizer.** A term is a maximal run of Unicode alphanumeric characters
//! (`char::is_alphanumeric`), case-folded with `to_lowercase`; everything else separates terms.
//! Terms longer than [`MAX_TERM_CHARS`] characters are cut to that length, and a document
//! contributes at most [`MAX_TERMS_PER_DOCUMENT`] distinct terms (its first ones).
//!
//! **Keys.** For every subset of the index's filter fields (at most [`MAX_FILTER_FIELDS`], so at
//! most 8 subsets) and every distinct term of the search field, one key:
//! `[subset mask][the subset's field values, order-preserving][term bytes][0x00][_id]`.
//! A search with equality filters on exactly the fields of subset `S` reads, for each query
//! term, the range `[mask(S)][values][term][0x00]` (the last term: `[mask(S)][values][term]`,
//! which matches every term it begins: prefix search). So its read set names only its filter
//! values and its terms, and a write re-runs it only when it adds or removes one of those
//! terms under those filter values.

use std::collections::HashSet;

use ferrovex_values::Value;
use ferrovex_values::key::{encode_key_value, encode_missing};

use crate::document::Document;
use crate::index::KeyRange;

/// Most filter fields a search index may declare.
pub const MAX_FILTER_FIELDS: usize = 3;
/// Longest term kept, in characters (longer ones are cut).
pub const MAX_TERM_CHARS: usize = 32;
/// Most distinct terms one document contributes to an index.
pub const MAX_TERMS_PER_DOCUMENT: usize = 2048;

/// What a search index covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchSpec {
    /// The text field searched.
    pub search_field: String,
    /// Fields a search may filter on by equality.
    pub filter_fields: Vec<String>,
}

/// The terms of `text`, in order (repeats kept: term frequencies count them).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut chars = 0;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if chars < MAX_TERM_CHARS {
                current.extend(c.to_lowercase());
            }
            chars += 1;
        } else if !current.is_empty() {
            terms.push(std::mem::take(&mut current));
            chars = 0;
        } else {
            chars = 0;
        }
    }
    if !current.is_empty() {
        terms.push(current);
    }
    terms
}

/// The text a document holds in `field` (a string; anything else holds none).
pub fn text_of(doc: &Document, field: &str) -> Option<String> {
    match doc.field(field) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The distinct terms a document contributes (at most [`MAX_TERMS_PER_DOCUMENT`]).
pub fn document_terms(spec: &SearchSpec, doc: &Document) -> Vec<String> {
    let Some(text) = text_of(doc, &spec.search_field) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    tokenize(&text)
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .take(MAX_TERMS_PER_DOCUMENT)
        .collect()
}

/// The key prefix of a filter subset: the mask, then the values (`None`: the field is missing).
pub fn filter_prefix(mask: u8, values: &[Option<Value>]) -> Vec<u8> {
    let mut out = vec![mask];
    for value in values {
        match value {
            Some(v) => encode_key_value(v, &mut out),
            None => encode_missing(&mut out),
        }
    }
    out
}

/// Every key of `doc` in a search index.
pub fn search_keys(spec: &SearchSpec, doc: &Document) -> Vec<Vec<u8>> {
    let terms = document_terms(spec, doc);
    if terms.is_empty() {
        return Vec::new();
    }
    let mut id = Vec::new();
    encode_key_value(&Value::String(doc.id.as_str().to_owned()), &mut id);
    let subsets = 1u8 << spec.filter_fields.len().min(MAX_FILTER_FIELDS);
    let mut keys = Vec::with_capacity(terms.len() * usize::from(subsets));
    for mask in 0..subsets {
        let values: Vec<Option<Value>> = spec
            .filter_fields
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, f)| doc.field(f))
            .collect();
        let prefix = filter_prefix(mask, &values);
        for term in &terms {
            let mut key = prefix.clone();
            key.extend_from_slice(term.as_bytes());
            key.push(0);
            key.extend_from_slice(&id);
            keys.push(key);
        }
    }
    keys
}

/// The range of a query term under `prefix`: the term exactly, or (`prefix_match`) every term
/// that begins with it.
pub fn term_range(prefix: &[u8], term: &str, prefix_match: bool) -> KeyRange {
    let mut start = prefix.to_vec();
    start.extend_from_slice(term.as_bytes());
    if !prefix_match {
        start.push(0);
    }
    KeyRange::prefix(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_unicode_words_case_folded_and_bounded() {
        assert_eq!(
            tokenize("Hello, WORLD! Grüße—naïve café 42x"),
            ["hello", "world", "grüße", "naïve", "café", "42x"]
        );
        assert_eq!(tokenize("  ...  "), Vec::<String>::new());
        let long = "a".repeat(100);
        assert_eq!(tokenize(&long)[0].chars().count(), MAX_TERM_CHARS);
        assert_eq!(tokenize("日本語 テキスト"), ["日本語", "テキスト"]);
    }

    #[test]
    fn a_term_range_holds_its_term_and_a_prefix_range_its_continuations() {
        let exact = term_range(&[0], "cat", false);
        let prefix = term_range(&[0], "cat", true);
        let key = |t: &str| {
            let mut k = vec![0];
            k.extend_from_slice(t.as_bytes());
            k.push(0);
            k.extend_from_slice(b"id");
            k
        };
        assert!(exact.contains(&key("cat")) && !exact.contains(&key("cats")));
        assert!(prefix.contains(&key("cat")) && prefix.contains(&key("cats")));
        assert!(!prefix.contains(&key("ca")) && !prefix.contains(&key("dog")));
    }
}
