//! Index range expressions (`eq` on a prefix of the index fields, then at most one lower and
//! one upper bound on the next field) and their translation to key ranges.

use ferrovex_store::KeyRange;
use ferrovex_store::index::encode_fields;
use ferrovex_values::Value;
use ferrovex_values::key::prefix_successor;

use crate::error::EngineError;

/// One bound of a range expression.
#[derive(Clone, Debug)]
struct Bound {
    field: String,
    value: Value,
    inclusive: bool,
}

/// A range over an index, built with [`IndexRange::eq`], [`IndexRange::gt`], ... as in
/// Convex's `withIndex("by_x", q => q.eq("a", 1).gt("b", 2))`.
#[derive(Clone, Debug, Default)]
pub struct IndexRange {
    eqs: Vec<(String, Value)>,
    lower: Option<Bound>,
    upper: Option<Bound>,
}

impl IndexRange {
    /// Restricts `field` (the next index field) to `value`.
    pub fn eq(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.eqs.push((field.to_owned(), value.into()));
        self
    }

    /// `field > value`.
    pub fn gt(self, field: &str, value: impl Into<Value>) -> Self {
        self.lower(field, value.into(), false)
    }

    /// `field >= value`.
    pub fn gte(self, field: &str, value: impl Into<Value>) -> Self {
        self.lower(field, value.into(), true)
    }

    /// `field < value`.
    pub fn lt(self, field: &str, value: impl Into<Value>) -> Self {
        self.upper(field, value.into(), false)
    }

    /// `field <= value`.
    pub fn lte(self, field: &str, value: impl Into<Value>) -> Self {
        self.upper(field, value.into(), true)
    }

    fn lower(mut self, field: &str, value: Value, inclusive: bool) -> Self {
        self.lower = Some(Bound {
            field: field.to_owned(),
            value,
            inclusive,
        });
        self
    }

    fn upper(mut self, field: &str, value: Value, inclusive: bool) -> Self {
        self.upper = Some(Bound {
            field: field.to_owned(),
            value,
            inclusive,
        });
        self
    }

    /// The key range for an index over `fields` (the implicit `_creationTime` may be used as
    /// the field after the declared ones).
    pub(crate) fn to_key_range(
        &self,
        index: &str,
        fields: &[String],
    ) -> Result<KeyRange, EngineError> {
        let bad =
            |why: String| EngineError::BadDatabaseCall(format!("index range on {index}: {why}"));
        let mut all: Vec<&str> = fields.iter().map(String::as_str).collect();
        all.push("_creationTime");
        if self.eqs.len() > all.len() {
            return Err(bad("more eq() terms than index fields".to_owned()));
        }
        for (i, (field, _)) in self.eqs.iter().enumerate() {
            if all[i] != field {
                return Err(bad(format!(
                    "eq({field:?}) must name index field {:?}; use the fields in index order",
                    all[i]
                )));
            }
        }
        let next = all.get(self.eqs.len()).copied();
        for bound in [&self.lower, &self.upper].into_iter().flatten() {
            if next != Some(bound.field.as_str()) {
                return Err(bad(format!(
                    "range on {:?} must be on the field after the eq() terms ({})",
                    bound.field,
                    next.unwrap_or("none left")
                )));
            }
        }
        let mut prefix = Vec::new();
        encode_fields(self.eqs.iter().map(|(_, v)| Some(v)), &mut prefix);
        let with = |b: &Bound| {
            let mut k = prefix.clone();
            encode_fields([Some(&b.value)], &mut k);
            k
        };
        let start = match &self.lower {
            None => prefix.clone(),
            Some(b) if b.inclusive => with(b),
            Some(b) => prefix_successor(&with(b)),
        };
        let end = match &self.upper {
            Some(b) if b.inclusive => Some(prefix_successor(&with(b))),
            Some(b) => Some(with(b)),
            None if prefix.is_empty() => None,
            None => Some(prefix_successor(&prefix)),
        };
        Ok(KeyRange { start, end })
    }
}
