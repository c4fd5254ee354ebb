//! Convex values for Ferrovex: the value model, the Convex JSON wire codec, a serde bridge and
//! order-preserving index-key encoding.
//!
//! - [`Value`]: the eight Convex types with Convex's total order ([`Ord`]) and [`Hash`].
//! - [`Value::from_convex_json`], [`Value::to_convex_json`], [`parse_convex_json_str`],
//!   [`canonical_string`], [`Value::to_clean_json`]: the wire format (`$integer`, `$float`,
//!   `$bytes`) and the lossy "clean" export.
//! - [`to_value`], [`from_value`]: convert Rust types to and from values through serde.
//! - [`key`]: memcmp-ordered index keys.
//! - [`limits`]: depth, size and field-name limits, enforced on decode and by [`to_value`].
//!
//! Note that `serde_json::from_str::<Value>` and `serde_json::to_string(&value)` go through
//! serde's generic data model and do not speak the Convex wire format; use the functions above
//! for anything that crosses the wire.
//!
//! ```
//! use ferrovex_values::{Value, parse_convex_json_str, to_value, from_value};
//!
//! let v = parse_convex_json_str(r#"{"n": {"$integer": "AQAAAAAAAAA="}, "x": 5}"#)?;
//! assert_eq!(v, Value::object([("n", Value::Int64(1)), ("x", Value::Float64(5.0))]));
//! assert_eq!(v.to_string(), r#"{"n":{"$integer":"AQAAAAAAAAA="},"x":5.0}"#);
//!
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Point { x: f64, n: i64 }
//! let p: Point = from_value(v)?;
//! assert_eq!(to_value(&p)?, Value::object([("n", Value::Int64(1)), ("x", Value::Float64(5.0))]));
//! # Ok::<(), ferrovex_values::ValueError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod error;
mod json;
pub mod key;
pub mod limits;
mod path;
mod serde_de;
mod serde_ser;
#[cfg(test)]
mod test_support;
mod value;

pub use error::ValueError;
pub use json::{canonical_string, parse_convex_json_str};
pub use key::{decode_key_value, encode_key_value, encode_missing, prefix_successor};
pub use limits::{
    MAX_ARRAY_LEN, MAX_DEPTH, MAX_FIELD_NAME_LEN, MAX_OBJECT_FIELDS, validate_field_name,
};
pub use serde_de::from_value;
pub use serde_ser::to_value;
pub use value::Value;
