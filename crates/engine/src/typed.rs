//! Rust types as Convex validators: the [`Type`] trait (derived with `#[derive(Type)]` from
//! `ferrovex-macros`), its impls for std types, and typed ids and documents of a table
//! ([`Table`], [`Id`], [`Doc`]).
//!
//! One validator per type drives three things: the argument check before a function runs, the
//! function's entry in the generated TypeScript, and (through [`Table`]) a table's document
//! validator.
//!
//! **Integers.** Ferrovex's serde bridge stores every Rust integer as a Convex `Int64`, and an
//! integer argument refuses a float, so every Rust integer type is `v.int64()` (a `bigint` in
//! TypeScript: clients write `1n`). `f32`/`f64` are `v.float64()` (`number`).
//!
//! **Options.** An `Option<T>` is `v.union(T, v.null())`; as an object field it is also
//! optional (`f?: T | null`), because serde reads a missing field as `None`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use ferrovex_store::validator::{Validator, v};
use ferrovex_store::{Document, DocumentId};
use ferrovex_values::{Value, ValueError, from_value, to_value};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::db::{PaginationOpts, PaginationResult};
use crate::registry::NoArgs;

/// A Rust type with a Convex validator.
pub trait Type {
    /// The validator of this type's values.
    fn validator() -> Validator;

    /// Whether an object field of this type may be missing (`Option<T>`).
    fn optional_field() -> bool {
        false
    }
}

/// A table whose documents have a Rust type: `#[derive(Type)] #[ferrovex(table = "messages")]`.
pub trait Table: Type {
    /// The table's name.
    const NAME: &'static str;
}

/// The validator of an object field of type `T`: `v.optional(...)` when it may be missing.
pub fn field_validator<T: Type + ?Sized>(has_default: bool) -> Validator {
    if has_default || T::optional_field() {
        v::optional(T::validator())
    } else {
        T::validator()
    }
}

macro_rules! leaf {
    ($validator:expr => $($t:ty),* $(,)?) => {
        $(impl Type for $t {
            fn validator() -> Validator {
                $validator
            }
        })*
    };
}

leaf!(v::int64() => i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
leaf!(v::float64() => f32, f64);
leaf!(v::boolean() => bool);
leaf!(v::string() => String, str, char, DocumentId);
leaf!(v::null() => ());
leaf!(v::any() => Value, serde_json::Value, Document);
leaf!(v::object([]) => NoArgs);

impl<T: Type + ?Sized> Type for &T {
    fn validator() -> Validator {
        T::validator()
    }
    fn optional_field() -> bool {
        T::optional_field()
    }
}

impl<T: Type + ?Sized> Type for Box<T> {
    fn validator() -> Validator {
        T::validator()
    }
    fn optional_field() -> bool {
        T::optional_field()
    }
}

impl<T: Type + ?Sized> Type for Arc<T> {
    fn validator() -> Validator {
        T::validator()
    }
    fn optional_field() -> bool {
        T::optional_field()
    }
}

impl<T: Type> Type for Option<T> {
    fn validator() -> Validator {
        match T::validator() {
            Validator::Union(mut options) => {
                if !options.contains(&Validator::Null) {
                    options.push(Validator::Null);
                }
                Validator::Union(options)
            }
            Validator::Null => Validator::Null,
            Validator::Any => Validator::Any,
            inner => v::union([inner, v::null()]),
        }
    }
    fn optional_field() -> bool {
        true
    }
}

macro_rules! sequence {
    ($($t:ident),*) => {
        $(impl<T: Type> Type for $t<T> {
            fn validator() -> Validator {
                v::array(T::validator())
            }
        })*
    };
}
sequence!(Vec, VecDeque, BTreeSet, HashSet);

impl<T: Type> Type for [T] {
    fn validator() -> Validator {
        v::array(T::validator())
    }
}

impl<T: Type, const N: usize> Type for [T; N] {
    fn validator() -> Validator {
        v::array(T::validator())
    }
}

impl<V: Type, S> Type for HashMap<String, V, S> {
    fn validator() -> Validator {
        v::record(v::string(), V::validator())
    }
}

impl<V: Type> Type for BTreeMap<String, V> {
    fn validator() -> Validator {
        v::record(v::string(), V::validator())
    }
}

impl Type for PaginationOpts {
    fn validator() -> Validator {
        v::object([
            ("numItems", v::float64()),
            ("cursor", v::union([v::string(), v::null()])),
            ("endCursor", v::optional(v::union([v::string(), v::null()]))),
            ("id", v::optional(v::float64())),
            ("maximumRowsRead", v::optional(v::float64())),
            ("maximumBytesRead", v::optional(v::float64())),
        ])
    }
}

impl<T: Type> Type for PaginationResult<T> {
    fn validator() -> Validator {
        v::object([
            ("page", v::array(T::validator())),
            ("isDone", v::boolean()),
            ("continueCursor", v::string()),
        ])
    }
}

/// The id of a document in table `T` (`Id<"messages">` in TypeScript, `v.id("messages")`).
pub struct Id<T> {
    id: DocumentId,
    table: PhantomData<fn() -> T>,
}

impl<T> Id<T> {
    /// Types an untyped id (the caller vouches for its table).
    pub fn new(id: DocumentId) -> Id<T> {
        Id {
            id,
            table: PhantomData,
        }
    }

    /// The untyped id.
    pub fn untyped(&self) -> &DocumentId {
        &self.id
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        self.id.as_str()
    }
}

impl<T> Clone for Id<T> {
    fn clone(&self) -> Self {
        Id::new(self.id.clone())
    }
}

impl<T> PartialEq for Id<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<T> Eq for Id<T> {}

impl<T> std::hash::Hash for Id<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl<T> fmt::Debug for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.id.as_str())
    }
}

impl<T> fmt::Display for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id.as_str())
    }
}

impl<T> Deref for Id<T> {
    type Target = DocumentId;
    fn deref(&self) -> &DocumentId {
        &self.id
    }
}

impl<T> From<Id<T>> for DocumentId {
    fn from(id: Id<T>) -> DocumentId {
        id.id
    }
}

impl<T> Serialize for Id<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id.as_str())
    }
}

impl<'de, T> Deserialize<'de> for Id<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        DocumentId::parse(&s)
            .map(Id::new)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a document id")))
    }
}

impl<T: Table> Type for Id<T> {
    fn validator() -> Validator {
        v::id(T::NAME)
    }
}

/// A stored document of table `T`: its fields (`Deref`s to `T`) plus `_id` and `_creationTime`.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc<T> {
    /// `_id`.
    pub id: Id<T>,
    /// `_creationTime`, milliseconds since the epoch.
    pub creation_time: f64,
    /// The user fields.
    pub value: T,
}

impl<T> Deref for Doc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: serde::de::DeserializeOwned> TryFrom<Document> for Doc<T> {
    type Error = ValueError;
    fn try_from(doc: Document) -> Result<Doc<T>, ValueError> {
        Ok(Doc {
            id: Id::new(doc.id),
            creation_time: doc.creation_time,
            value: from_value(Value::Object(doc.fields))?,
        })
    }
}

impl<T: Serialize> Serialize for Doc<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = match to_value(&self.value).map_err(serde::ser::Error::custom)? {
            Value::Object(map) => map,
            other => {
                return Err(serde::ser::Error::custom(format!(
                    "a document must be an object, not {other}"
                )));
            }
        };
        fields.insert("_id".to_owned(), Value::from(self.id.as_str()));
        fields.insert(
            "_creationTime".to_owned(),
            Value::Float64(self.creation_time),
        );
        Value::Object(fields).serialize(serializer)
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Doc<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let Value::Object(mut fields) = Value::deserialize(deserializer)? else {
            return Err(D::Error::custom("a document must be an object"));
        };
        let id = match fields.remove("_id") {
            Some(Value::String(s)) => {
                DocumentId::parse(&s).ok_or_else(|| D::Error::custom("invalid _id"))?
            }
            _ => return Err(D::Error::custom("a document needs an _id")),
        };
        let creation_time = match fields.remove("_creationTime") {
            Some(Value::Float64(t)) => t,
            _ => return Err(D::Error::custom("a document needs a _creationTime")),
        };
        let value = from_value(Value::Object(fields)).map_err(D::Error::custom)?;
        Ok(Doc {
            id: Id::new(id),
            creation_time,
            value,
        })
    }
}

/// Adds the system fields to every object shape of a table's document validator (a plain
/// object, or each object of a union for enum-typed tables).
fn with_system_fields(validator: Validator, table: &str) -> Validator {
    match validator {
        Validator::Object(mut fields) => {
            fields.insert("_id".to_owned(), v::id(table));
            fields.insert("_creationTime".to_owned(), v::float64());
            Validator::Object(fields)
        }
        Validator::Union(options) => Validator::Union(
            options
                .into_iter()
                .map(|o| with_system_fields(o, table))
                .collect(),
        ),
        other => other,
    }
}

impl<T: Table> Type for Doc<T> {
    fn validator() -> Validator {
        with_system_fields(T::validator(), T::NAME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_types_map_to_convex_validators() {
        assert_eq!(u8::validator(), v::int64());
        assert_eq!(f32::validator(), v::float64());
        assert_eq!(
            Option::<String>::validator(),
            v::union([v::string(), v::null()])
        );
        assert!(Option::<String>::optional_field());
        assert_eq!(
            HashMap::<String, Vec<bool>>::validator(),
            v::record(v::string(), v::array(v::boolean()))
        );
        assert_eq!(Value::validator(), v::any());
        assert_eq!(field_validator::<i64>(true), v::optional(v::int64()));
    }
}
