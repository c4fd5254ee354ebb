//! Document ids and table names.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::timestamp::Clock;

/// Alphabet of ids: Crockford base32, lowercase (no i, l, o, u).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Ids are 26 characters: 128 bits in base32.
pub const ID_LEN: usize = 26;
/// Lengths of Convex's ids (a table number, 16 random bytes and a checksum, in base32), which
/// documents imported from Convex keep.
pub const CONVEX_ID_LENS: std::ops::RangeInclusive<usize> = 31..=37;

/// The `_id` of a document: 48 bits of milliseconds then 80 random bits, base32 encoded,
/// so ids sort roughly by creation time and keep B-tree inserts local.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentId(String);

impl DocumentId {
    /// Parses an id received from a client, checking its shape: a Ferrovex id, or an id made
    /// by Convex (same alphabet, [`CONVEX_ID_LENS`] long), which an import keeps as it is.
    pub fn parse(s: &str) -> Option<DocumentId> {
        let ok = (s.len() == ID_LEN || CONVEX_ID_LENS.contains(&s.len()))
            && s.bytes().all(|b| ALPHABET.contains(&b));
        ok.then(|| DocumentId(s.to_owned()))
    }

    /// Trusted constructor for ids read back from storage.
    pub fn from_stored(s: String) -> DocumentId {
        DocumentId(s)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for DocumentId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for DocumentId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        DocumentId::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid document id {s:?}")))
    }
}

impl std::fmt::Display for DocumentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Makes new document ids; the random part comes from the thread rng, the time part from the
/// injected clock, and a counter keeps ids from one generator unique even within one millisecond.
pub struct IdGenerator {
    counter: AtomicU64,
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self {
            counter: AtomicU64::new(rand::random()),
        }
    }
}

impl std::fmt::Debug for IdGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdGenerator")
    }
}

impl IdGenerator {
    /// A new id.
    pub fn generate(&self, clock: &dyn Clock) -> DocumentId {
        let ms = (clock.now().as_nanos() / 1_000_000) & 0xFFFF_FFFF_FFFF;
        let seq = self.counter.fetch_add(1, Ordering::Relaxed) & 0xFFFF;
        let random: u64 = rand::random();
        let bits: u128 = (u128::from(ms) << 80) | (u128::from(seq) << 64) | u128::from(random);
        let mut out = String::with_capacity(ID_LEN);
        for i in (0..ID_LEN).rev() {
            let digit = ((bits >> (i * 5)) & 0x1F) as usize;
            out.push(char::from(ALPHABET[digit]));
        }
        DocumentId(out)
    }
}

/// A user table name: an ASCII identifier of at most 64 characters that starts with a letter.
/// Names starting with `_` are reserved for system tables.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName(String);

/// Longest accepted table name.
pub const MAX_TABLE_NAME_LEN: usize = 64;

impl TableName {
    /// Validates a user table name.
    pub fn parse(s: &str) -> Option<TableName> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let ok = first_ok
            && s.len() <= MAX_TABLE_NAME_LEN
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        ok.then(|| TableName(s.to_owned()))
    }

    /// A system table (name starting with `_`), only for Ferrovex's own tables.
    pub fn system(s: &str) -> TableName {
        TableName(s.to_owned())
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::SystemClock;

    #[test]
    fn generated_ids_parse_and_are_unique() {
        let g = IdGenerator::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = g.generate(&SystemClock);
            assert!(DocumentId::parse(id.as_str()).is_some(), "{id}");
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn malformed_ids_and_table_names_are_rejected() {
        assert!(DocumentId::parse("short").is_none());
        assert!(DocumentId::parse("IIIIIIIIIIIIIIIIIIIIIIIIII").is_none());
        assert!(TableName::parse("messages").is_some());
        assert!(TableName::parse("_users").is_none());
        assert!(TableName::parse("1abc").is_none());
        assert!(TableName::parse("a-b").is_none());
        assert!(TableName::parse(&"a".repeat(65)).is_none());
    }
}
