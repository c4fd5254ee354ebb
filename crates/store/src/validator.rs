//! Document validators, Convex's `v.*`. A table may declare the shape of its documents
//! ([`crate::TableDef::document`]); the engine checks every insert, patch and replace against
//! it, so a document that does not match is never stored.
//!
//! ```
//! use ferrovex_store::validator::v;
//! let message = v::object([
//!     ("channel", v::string()),
//!     ("body", v::string()),
//!     ("pinned", v::optional(v::boolean())),
//! ]);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use ferrovex_values::Value;

use crate::DocumentId;

/// The shape of a value.
#[derive(Clone, Debug, PartialEq)]
pub enum Validator {
    /// Anything.
    Any,
    /// `null`.
    Null,
    /// A double.
    Float64,
    /// A 64-bit integer.
    Int64,
    /// `true` or `false`.
    Boolean,
    /// A string.
    String,
    /// A byte string.
    Bytes,
    /// A document id (the string form) meant for the named table. Only the id's shape is
    /// checked: ids do not encode their table here.
    Id(String),
    /// Exactly this value.
    Literal(Value),
    /// An array whose elements all match.
    Array(Box<Validator>),
    /// An object with exactly these fields (optional ones may be missing).
    Object(BTreeMap<String, Validator>),
    /// An object with any keys matching the first validator and values matching the second.
    Record(Box<Validator>, Box<Validator>),
    /// Any one of these.
    Union(Vec<Validator>),
    /// Inside an object: the field may be missing.
    Optional(Box<Validator>),
}

/// Where a value stopped matching, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Path inside the value (`.author`, `.tags[2]`), empty for the value itself.
    pub path: String,
    /// What went wrong.
    pub reason: String,
    /// The same, as data (for messages in Convex's own wording).
    pub kind: Box<MismatchKind>,
}

/// The three ways a value can fail a validator.
#[derive(Clone, Debug, PartialEq)]
pub enum MismatchKind {
    /// `value` does not match `validator`.
    Type {
        /// The value at the path.
        value: Value,
        /// What was expected there.
        validator: Validator,
    },
    /// An object lacks a required field.
    MissingField {
        /// The field's name.
        field: String,
        /// The object.
        object: Value,
        /// The object's validator.
        validator: Validator,
    },
    /// An object has a field its validator does not list.
    ExtraField {
        /// The field's name.
        field: String,
        /// The object.
        object: Value,
        /// The object's validator.
        validator: Validator,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{} (at {})", self.reason, self.path)
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Int64(_) => "an int64",
        Value::Float64(_) => "a float64",
        Value::Boolean(_) => "a boolean",
        Value::String(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn mismatch(path: &str, reason: String, kind: MismatchKind) -> Mismatch {
    Mismatch {
        path: path.to_owned(),
        reason,
        kind: Box::new(kind),
    }
}

fn check_object(
    fields: &BTreeMap<String, Validator>,
    map: &BTreeMap<String, Value>,
    path: &str,
) -> Result<(), Mismatch> {
    for (name, field) in fields {
        let at = format!("{path}.{name}");
        match (map.get(name), field) {
            (Some(v), Validator::Optional(inner)) => inner.check_at(v, &at)?,
            (Some(v), field) => field.check_at(v, &at)?,
            (None, Validator::Optional(_)) => {}
            (None, _) => {
                return Err(mismatch(
                    path,
                    format!("the required field {name:?} is missing"),
                    MismatchKind::MissingField {
                        field: name.clone(),
                        object: Value::Object(map.clone()),
                        validator: Validator::Object(fields.clone()),
                    },
                ));
            }
        }
    }
    if let Some(extra) = map.keys().find(|k| !fields.contains_key(*k)) {
        return Err(mismatch(
            path,
            format!("the field {extra:?} is not in the validator"),
            MismatchKind::ExtraField {
                field: extra.clone(),
                object: Value::Object(map.clone()),
                validator: Validator::Object(fields.clone()),
            },
        ));
    }
    Ok(())
}

impl Validator {
    /// Checks `value`; the first mismatch found, if any.
    pub fn check(&self, value: &Value) -> Result<(), Mismatch> {
        self.check_at(value, "")
    }

    /// Checks a document's user fields (an object, without copying it for object validators).
    pub fn check_document(&self, fields: &BTreeMap<String, Value>) -> Result<(), Mismatch> {
        match self {
            Validator::Object(expected) => check_object(expected, fields, ""),
            other => other.check(&Value::Object(fields.clone())),
        }
    }

    fn check_at(&self, value: &Value, path: &str) -> Result<(), Mismatch> {
        let expected = |v: &Validator| {
            mismatch(
                path,
                format!("{} does not match {v}", type_name(value)),
                MismatchKind::Type {
                    value: value.clone(),
                    validator: v.clone(),
                },
            )
        };
        match (self, value) {
            (Validator::Any, _)
            | (Validator::Null, Value::Null)
            | (Validator::Float64, Value::Float64(_))
            | (Validator::Int64, Value::Int64(_))
            | (Validator::Boolean, Value::Boolean(_))
            | (Validator::String, Value::String(_))
            | (Validator::Bytes, Value::Bytes(_)) => Ok(()),
            (Validator::Id(table), Value::String(s)) => match DocumentId::parse(s) {
                Some(_) => Ok(()),
                None => Err(mismatch(
                    path,
                    format!("{s:?} is not an id (expected an id for table {table:?})"),
                    MismatchKind::Type {
                        value: value.clone(),
                        validator: self.clone(),
                    },
                )),
            },
            (Validator::Literal(expected_value), v) => {
                if v == expected_value {
                    Ok(())
                } else {
                    Err(expected(self))
                }
            }
            (Validator::Array(inner), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    inner.check_at(item, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            (Validator::Object(fields), Value::Object(map)) => check_object(fields, map, path),
            (Validator::Record(keys, values), Value::Object(map)) => {
                for (k, v) in map {
                    keys.check_at(&Value::String(k.clone()), &format!("{path} key {k:?}"))?;
                    values.check_at(v, &format!("{path}.{k}"))?;
                }
                Ok(())
            }
            (Validator::Union(options), v) => {
                if options.iter().any(|o| o.check_at(v, path).is_ok()) {
                    Ok(())
                } else {
                    Err(expected(self))
                }
            }
            (Validator::Optional(inner), v) => inner.check_at(v, path),
            _ => Err(expected(self)),
        }
    }
}

impl fmt::Display for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validator::Any => f.write_str("v.any()"),
            Validator::Null => f.write_str("v.null()"),
            Validator::Float64 => f.write_str("v.float64()"),
            Validator::Int64 => f.write_str("v.int64()"),
            Validator::Boolean => f.write_str("v.boolean()"),
            Validator::String => f.write_str("v.string()"),
            Validator::Bytes => f.write_str("v.bytes()"),
            Validator::Id(t) => write!(f, "v.id({t:?})"),
            Validator::Literal(v) => write!(f, "v.literal({})", v.to_convex_json()),
            Validator::Array(inner) => write!(f, "v.array({inner})"),
            Validator::Object(fields) => {
                f.write_str("v.object({")?;
                for (i, (name, field)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}: {field}")?;
                }
                f.write_str("})")
            }
            Validator::Record(k, v) => write!(f, "v.record({k}, {v})"),
            Validator::Union(options) => {
                f.write_str("v.union(")?;
                for (i, o) in options.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{o}")?;
                }
                f.write_str(")")
            }
            Validator::Optional(inner) => write!(f, "v.optional({inner})"),
        }
    }
}

/// Constructors named like Convex's `v` builder.
pub mod v {
    use super::{Validator, Value};

    /// `v.any()`.
    pub fn any() -> Validator {
        Validator::Any
    }
    /// `v.null()`.
    pub fn null() -> Validator {
        Validator::Null
    }
    /// `v.float64()` (also `v.number()`).
    pub fn float64() -> Validator {
        Validator::Float64
    }
    /// `v.number()`.
    pub fn number() -> Validator {
        Validator::Float64
    }
    /// `v.int64()`.
    pub fn int64() -> Validator {
        Validator::Int64
    }
    /// `v.boolean()`.
    pub fn boolean() -> Validator {
        Validator::Boolean
    }
    /// `v.string()`.
    pub fn string() -> Validator {
        Validator::String
    }
    /// `v.bytes()`.
    pub fn bytes() -> Validator {
        Validator::Bytes
    }
    /// `v.id(table)`.
    pub fn id(table: &str) -> Validator {
        Validator::Id(table.to_owned())
    }
    /// `v.literal(value)`.
    pub fn literal(value: impl Into<Value>) -> Validator {
        Validator::Literal(value.into())
    }
    /// `v.array(inner)`.
    pub fn array(inner: Validator) -> Validator {
        Validator::Array(Box::new(inner))
    }
    /// `v.object({...})`.
    pub fn object<'a>(fields: impl IntoIterator<Item = (&'a str, Validator)>) -> Validator {
        Validator::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
    /// `v.record(keys, values)`.
    pub fn record(keys: Validator, values: Validator) -> Validator {
        Validator::Record(Box::new(keys), Box::new(values))
    }
    /// `v.union(...)`.
    pub fn union(options: impl IntoIterator<Item = Validator>) -> Validator {
        Validator::Union(options.into_iter().collect())
    }
    /// `v.optional(inner)`: an object field that may be missing.
    pub fn optional(inner: Validator) -> Validator {
        Validator::Optional(Box::new(inner))
    }
}

#[cfg(test)]
mod tests {
    use super::v;
    use super::*;

    fn obj<'a>(fields: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[test]
    fn objects_need_their_required_fields_and_nothing_else() {
        let message = v::object([
            ("body", v::string()),
            ("likes", v::int64()),
            ("tags", v::optional(v::array(v::string()))),
        ]);
        let good = obj([("body", "hi".into()), ("likes", Value::Int64(2))]);
        assert_eq!(message.check(&good), Ok(()));
        let tagged = obj([
            ("body", "hi".into()),
            ("likes", Value::Int64(2)),
            ("tags", Value::Array(vec!["a".into(), Value::Int64(1)])),
        ]);
        let err = message.check(&tagged).unwrap_err();
        assert_eq!(err.path, ".tags[1]");
        assert_eq!(err.reason, "an int64 does not match v.string()");
        let missing = obj([("body", "hi".into())]);
        assert!(
            message
                .check(&missing)
                .unwrap_err()
                .reason
                .contains("\"likes\" is missing")
        );
        let extra = obj([
            ("body", "hi".into()),
            ("likes", Value::Int64(2)),
            ("spam", Value::Null),
        ]);
        assert!(
            message
                .check(&extra)
                .unwrap_err()
                .reason
                .contains("\"spam\"")
        );
        let wrong = obj([("body", "hi".into()), ("likes", Value::Float64(2.0))]);
        assert_eq!(message.check(&wrong).unwrap_err().path, ".likes");
    }

    #[test]
    fn unions_literals_records_and_ids() {
        let status = v::union([v::literal("open"), v::literal("closed")]);
        assert!(status.check(&"open".into()).is_ok());
        let err = status.check(&"maybe".into()).unwrap_err();
        assert_eq!(
            err.reason,
            "a string does not match v.union(v.literal(\"open\"), v.literal(\"closed\"))"
        );
        let scores = v::record(v::string(), v::float64());
        assert!(scores.check(&obj([("a", Value::Float64(1.0))])).is_ok());
        assert_eq!(
            scores.check(&obj([("a", "x".into())])).unwrap_err().path,
            ".a"
        );
        let owner = v::id("users");
        assert!(owner.check(&"not an id".into()).is_err());
        assert!(owner.check(&Value::Int64(1)).is_err());
        assert!(v::any().check(&Value::Bytes(vec![1])).is_ok());
        assert_eq!(
            v::object([("n", v::optional(v::null()))]).to_string(),
            "v.object({n: v.optional(v.null())})"
        );
    }
}
