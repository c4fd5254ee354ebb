//! The Convex value model: the `Value` enum, its total order, hashing and conversions.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A Convex value.
///
/// Values are totally ordered (see the [`Ord`] impl) and that order is also the order of
/// their index keys (see [`crate::key`]).
#[derive(Clone, Debug)]
pub enum Value {
    /// `null`.
    Null,
    /// A 64-bit signed integer (`bigint` in JavaScript).
    Int64(i64),
    /// A double (`number` in JavaScript). NaN, ±Infinity and -0 are allowed.
    Float64(f64),
    /// `true` or `false`.
    Boolean(bool),
    /// A UTF-8 string.
    String(String),
    /// A byte string (`ArrayBuffer` in JavaScript).
    Bytes(Vec<u8>),
    /// An array of values.
    Array(Vec<Value>),
    /// An object whose field names follow [`crate::validate_field_name`].
    Object(BTreeMap<String, Value>),
}

/// Every NaN is treated as this one (the quiet NaN with no payload, bits `0x7ff8_0000_0000_0000`).
pub(crate) const CANONICAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0000;

/// Replaces any NaN with the canonical NaN and leaves other floats alone.
pub(crate) fn canonical_f64(f: f64) -> f64 {
    if f.is_nan() {
        f64::from_bits(CANONICAL_NAN_BITS)
    } else {
        f
    }
}

impl Value {
    /// Builds an object from `(name, value)` pairs; a later pair wins over an earlier one with
    /// the same name. Field names are not validated here (see [`Value::validate`]).
    pub fn object<I, K, V>(fields: I) -> Value
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The Convex name of this value's type: `null`, `int64`, `float64`, `boolean`, `string`,
    /// `bytes`, `array` or `object`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int64(_) => "int64",
            Value::Float64(_) => "float64",
            Value::Boolean(_) => "boolean",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Position of this value's type in the cross-type order.
    fn type_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Int64(_) => 1,
            Value::Float64(_) => 2,
            Value::Boolean(_) => 3,
            Value::String(_) => 4,
            Value::Bytes(_) => 5,
            Value::Array(_) => 6,
            Value::Object(_) => 7,
        }
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string, if this is a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is a [`Value::Int64`] (floats are not converted).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int64(i) => Some(*i),
            _ => None,
        }
    }

    /// The float, if this is a [`Value::Float64`] (integers are not converted).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float64(f) => Some(*f),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Boolean`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The bytes, if this is a [`Value::Bytes`].
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::Array`].
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The fields, if this is a [`Value::Object`].
    pub fn as_object(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
}

/// Convex's total order: first by type (null < int64 < float64 < boolean < string < bytes <
/// array < object), then within the type. Floats use IEEE total order with every NaN equal to
/// one canonical NaN (which sorts above +Infinity), and -0.0 < 0.0. Strings and bytes compare
/// bytewise, arrays lexicographically, objects as sorted `(name, value)` sequences.
impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Int64(a), Value::Int64(b)) => a.cmp(b),
            (Value::Float64(a), Value::Float64(b)) => {
                canonical_f64(*a).total_cmp(&canonical_f64(*b))
            }
            (Value::Boolean(a), Value::Boolean(b)) => a.cmp(b),
            (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            (Value::Array(a), Value::Array(b)) => a.iter().cmp(b.iter()),
            (Value::Object(a), Value::Object(b)) => a.iter().cmp(b.iter()),
            _ => self.type_rank().cmp(&other.type_rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.type_rank());
        match self {
            Value::Null => {}
            Value::Int64(i) => i.hash(state),
            Value::Float64(f) => canonical_f64(*f).to_bits().hash(state),
            Value::Boolean(b) => b.hash(state),
            Value::String(s) => s.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::Array(a) => a.hash(state),
            Value::Object(m) => m.hash(state),
        }
    }
}

/// Prints the Convex JSON form (the same text as [`crate::canonical_string`]).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_convex_json())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int64(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float64(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v)
    }
}

impl From<BTreeMap<String, Value>> for Value {
    fn from(v: BTreeMap<String, Value>) -> Self {
        Value::Object(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of(v: &Value) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn types_order_null_int_float_bool_string_bytes_array_object() {
        let ordered = [
            Value::Null,
            Value::Int64(i64::MAX),
            Value::Float64(f64::NEG_INFINITY),
            Value::Boolean(false),
            Value::from(""),
            Value::Bytes(vec![]),
            Value::Array(vec![]),
            Value::object::<[(&str, Value); 0], _, _>([]),
        ];
        for w in ordered.windows(2) {
            assert!(w[0] < w[1], "{:?} < {:?}", w[0], w[1]);
        }
    }

    #[test]
    fn all_nans_are_equal_and_sort_above_infinity() {
        let a = Value::Float64(f64::NAN);
        let b = Value::Float64(f64::from_bits(0xfff8_0000_0000_0001));
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        assert!(Value::Float64(f64::INFINITY) < b);
    }

    #[test]
    fn negative_zero_is_distinct_and_below_positive_zero() {
        let neg = Value::Float64(-0.0);
        let pos = Value::Float64(0.0);
        assert_ne!(neg, pos);
        assert!(neg < pos);
        assert!(Value::Float64(-f64::MIN_POSITIVE) < neg);
    }

    #[test]
    fn strings_compare_bytewise() {
        assert!(Value::from("a") < Value::from("a\0"));
        assert!(Value::from("a\0") < Value::from("ab"));
        assert!(Value::from("Z") < Value::from("a"));
        assert!(Value::from("\u{ffff}") < Value::from("\u{10000}"));
    }

    #[test]
    fn arrays_compare_lexicographically() {
        let a = Value::from(vec![Value::Int64(1)]);
        let b = Value::from(vec![Value::Int64(1), Value::Null]);
        let c = Value::from(vec![Value::Int64(2)]);
        assert!(a < b && b < c);
    }

    #[test]
    fn objects_compare_as_sorted_pairs() {
        let empty = Value::object::<[(&str, Value); 0], _, _>([]);
        let a1 = Value::object([("a", 1i64)]);
        let a1b = Value::object([("a", Value::Int64(1)), ("b", Value::Null)]);
        let a2 = Value::object([("a", 2i64)]);
        let b0 = Value::object([("b", 0i64)]);
        assert!(empty < a1 && a1 < a1b && a1b < a2 && a2 < b0);
    }

    #[test]
    fn accessors_do_not_convert_between_types() {
        assert_eq!(Value::Int64(3).as_i64(), Some(3));
        assert_eq!(Value::Int64(3).as_f64(), None);
        assert_eq!(Value::Float64(3.0).as_i64(), None);
        assert_eq!(Value::from("x").as_str(), Some("x"));
        assert!(Value::Null.is_null());
        assert!(Value::object([("k", true)]).as_object().is_some());
    }

    #[test]
    fn type_names_match_convex() {
        let names: Vec<_> = [
            Value::Null,
            Value::Int64(0),
            Value::Float64(0.0),
            Value::Boolean(true),
            Value::from("s"),
            Value::from(vec![1u8]),
            Value::from(Vec::<Value>::new()),
            Value::from(BTreeMap::new()),
        ]
        .iter()
        .map(Value::type_name)
        .collect();
        assert_eq!(
            names,
            [
                "null", "int64", "float64", "boolean", "string", "bytes", "array", "object"
            ]
        );
    }

    #[test]
    fn display_prints_convex_json() {
        let v = Value::object([("n", Value::Int64(1)), ("f", Value::Float64(1.5))]);
        assert_eq!(
            v.to_string(),
            r#"{"f":1.5,"n":{"$integer":"AQAAAAAAAAA="}}"#
        );
    }
}
