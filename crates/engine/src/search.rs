//! Full-text search queries: `ctx.db.query("posts")?.with_search_index("search_text", |q|
//! q.search("text", "hello wor").eq("channel", "general"))?.take(10)?`.
//!
//! Matching: a document matches when its search field holds any query term; the last query
//! term also matches every term it begins (prefix search, as Convex does while a user types).
//! Filters are equalities on the index's filter fields.
//!
//! Ranking: BM25 (k1 = 1.2, b = 0.75) over the documents that match any term: a term's IDF is
//! `ln(1 + (N − df + 0.5) / (df + 0.5))` with `N` the number of matching documents and `df`
//! those holding that term, and document lengths are compared with the matching documents'
//! mean. Ties go to the newer document. So a result depends only on the documents that hold
//! the query's terms under the query's filter values, which is exactly what the query reads:
//! a write re-runs a search subscription only when it adds, changes or removes such a
//! document.
//!
//! Bounds: at most [`MAX_QUERY_TERMS`] query terms, the newest [`MAX_CANDIDATES_PER_TERM`]
//! documents per term ([`MAX_SEARCH_READS`] over all terms), and [`MAX_SEARCH_RESULTS`]
//! results.

use std::collections::{HashMap, HashSet};

use ferrovex_store::search::{SearchSpec, filter_prefix, term_range, tokenize};
use ferrovex_store::{Document, DocumentId, IndexDef, Order, ReadTxn};
use ferrovex_values::Value;

use crate::db::TxnState;
use crate::error::EngineError;

/// Most results a search returns.
pub const MAX_SEARCH_RESULTS: usize = 1024;
/// Most query terms used (later ones are ignored).
pub const MAX_QUERY_TERMS: usize = 16;
/// Most index entries read per query term (the newest documents first).
pub const MAX_CANDIDATES_PER_TERM: usize = 4096;
/// Most index entries one search reads over all its terms (a function reads at most
/// `MAX_DOCUMENTS_READ`), so each term gets the smaller of this share and
/// [`MAX_CANDIDATES_PER_TERM`].
pub const MAX_SEARCH_READS: usize = 16_384;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// The search and filters of a search query (`|q| q.search(field, text).eq(field, value)`).
#[derive(Clone, Debug, Default)]
pub struct SearchFilter {
    search: Option<(String, String)>,
    eqs: Vec<(String, Value)>,
}

impl SearchFilter {
    /// Searches the index's search field for `text`.
    pub fn search(mut self, field: &str, text: impl Into<String>) -> Self {
        self.search = Some((field.to_owned(), text.into()));
        self
    }

    /// Keeps documents whose filter field `field` equals `value`.
    pub fn eq(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.eqs.push((field.to_owned(), value.into()));
        self
    }
}

/// A search query ready to run.
pub struct SearchQuery<'a> {
    pub(crate) txn: &'a mut dyn ReadTxn,
    pub(crate) state: &'a mut TxnState,
    pub(crate) index: IndexDef,
    pub(crate) spec: SearchSpec,
    pub(crate) text: String,
    /// Filter values by filter-field position.
    pub(crate) filters: Vec<Option<Value>>,
}

impl<'a> SearchQuery<'a> {
    /// Checks the filter against the index.
    pub(crate) fn new(
        txn: &'a mut dyn ReadTxn,
        state: &'a mut TxnState,
        index: IndexDef,
        spec: SearchSpec,
        filter: SearchFilter,
    ) -> Result<SearchQuery<'a>, EngineError> {
        let bad = |m: String| EngineError::BadDatabaseCall(m);
        let Some((field, text)) = filter.search else {
            return Err(bad(format!(
                "a search on index {:?} needs .search({:?}, text)",
                index.name, spec.search_field
            )));
        };
        if field != spec.search_field {
            return Err(bad(format!(
                "index {:?} searches field {:?}, not {field:?}",
                index.name, spec.search_field
            )));
        }
        let mut filters = vec![None; spec.filter_fields.len()];
        for (name, value) in filter.eqs {
            let Some(at) = spec.filter_fields.iter().position(|f| *f == name) else {
                return Err(bad(format!(
                    "{name:?} is not a filter field of search index {:?} (filter fields: {})",
                    index.name,
                    spec.filter_fields.join(", ")
                )));
            };
            if filters[at].is_some() {
                return Err(bad(format!("two .eq filters on {name:?}")));
            }
            filters[at] = Some(value);
        }
        Ok(SearchQuery {
            txn,
            state,
            index,
            spec,
            text,
            filters,
        })
    }

    /// The `n` most relevant documents (at most [`MAX_SEARCH_RESULTS`]).
    pub fn take(self, n: usize) -> Result<Vec<Document>, EngineError> {
        self.run(n.min(MAX_SEARCH_RESULTS))
    }

    /// Every matching document, most relevant first (at most [`MAX_SEARCH_RESULTS`]).
    pub fn collect(self) -> Result<Vec<Document>, EngineError> {
        self.run(MAX_SEARCH_RESULTS)
    }

    /// The most relevant document, if any.
    pub fn first(self) -> Result<Option<Document>, EngineError> {
        Ok(self.run(1)?.into_iter().next())
    }

    fn run(self, n: usize) -> Result<Vec<Document>, EngineError> {
        let mut seen = HashSet::new();
        let terms: Vec<String> = tokenize(&self.text)
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .take(MAX_QUERY_TERMS)
            .collect();
        if terms.is_empty() || n == 0 {
            return Ok(Vec::new());
        }
        let mut mask = 0u8;
        let mut values = Vec::new();
        for (i, value) in self.filters.iter().enumerate() {
            if let Some(v) = value {
                mask |= 1 << i;
                values.push(Some(v.clone()));
            }
        }
        let prefix = filter_prefix(mask, &values);
        let index_id = self.index.id();
        let mut candidates: HashMap<DocumentId, Document> = HashMap::new();
        let mut df = Vec::with_capacity(terms.len());
        let per_term = (MAX_SEARCH_READS / terms.len()).min(MAX_CANDIDATES_PER_TERM);
        for (i, term) in terms.iter().enumerate() {
            let range = term_range(&prefix, term, i + 1 == terms.len());
            let entries = self.txn.scan(&index_id, &range, Order::Desc, per_term)?;
            self.state.count_reads(entries.len())?;
            // The whole range is recorded, also when the scan stopped early: a write to its
            // unread part re-runs the query (too often, never too rarely).
            self.state.reads.add_range(index_id.clone(), range);
            let mut holders = HashSet::new();
            for entry in entries {
                holders.insert(entry.document.id.clone());
                candidates
                    .entry(entry.document.id.clone())
                    .or_insert(entry.document);
            }
            df.push(holders.len());
        }
        Ok(rank(&self.spec, &terms, &df, candidates, n))
    }
}

/// BM25 over `candidates`; the `n` best, ties to the newer document.
fn rank(
    spec: &SearchSpec,
    terms: &[String],
    df: &[usize],
    candidates: HashMap<DocumentId, Document>,
    n: usize,
) -> Vec<Document> {
    let total = candidates.len() as f64;
    let idf: Vec<f64> = df
        .iter()
        .map(|&d| (1.0 + (total - d as f64 + 0.5) / (d as f64 + 0.5)).ln())
        .collect();
    // Per document only its length and its count of each query term are kept, not its terms.
    let mut scored: Vec<(f64, Document, usize, Vec<f64>)> = candidates
        .into_values()
        .map(|doc| {
            let tokens = ferrovex_store::search::text_of(&doc, &spec.search_field)
                .map(|t| tokenize(&t))
                .unwrap_or_default();
            let counts = terms
                .iter()
                .enumerate()
                .map(|(i, term)| {
                    let prefix_match = i + 1 == terms.len();
                    tokens
                        .iter()
                        .filter(|t| {
                            if prefix_match {
                                t.starts_with(term.as_str())
                            } else {
                                *t == term
                            }
                        })
                        .count() as f64
                })
                .collect();
            (0.0, doc, tokens.len(), counts)
        })
        .collect();
    let mean_len = if scored.is_empty() {
        1.0
    } else {
        (scored.iter().map(|(_, _, len, _)| *len).sum::<usize>() as f64 / scored.len() as f64)
            .max(1.0)
    };
    for (score, _, len, counts) in &mut scored {
        let norm = K1 * (1.0 - B + B * *len as f64 / mean_len);
        for (i, tf) in counts.iter().enumerate() {
            if *tf > 0.0 {
                *score += idf[i] * tf * (K1 + 1.0) / (tf + norm);
            }
        }
    }
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(b.1.creation_time.total_cmp(&a.1.creation_time))
            .then(b.1.id.cmp(&a.1.id))
    });
    scored
        .into_iter()
        .take(n)
        .map(|(_, doc, _, _)| doc)
        .collect()
}
