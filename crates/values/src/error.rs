//! The crate's error type, `ValueError`, shared by the JSON codec, the serde bridge and the key codec.

use std::fmt::Display;

use thiserror::Error;

use crate::path::{self, ROOT, Segment};

/// Longest field name quoted verbatim inside an error message; longer names are shortened.
const MAX_QUOTED_NAME_CHARS: usize = 64;

/// Everything that can go wrong while building, decoding or converting a [`crate::Value`].
///
/// Variants that concern a position inside a value carry a `path` such as
/// `.args.items[3]` (`.` is the top-level value) and print it first, e.g.
/// `at .args.items[3]: field name "$x" must not start with '$'`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The input text is not valid JSON.
    #[error("invalid JSON: {message}")]
    InvalidJson {
        /// serde_json's description, including line and column.
        message: String,
    },
    /// Arrays/objects are nested more deeply than [`crate::limits::MAX_DEPTH`].
    #[error("at {path}: value is nested more than {max} levels deep")]
    NestingTooDeep {
        /// Where the first too-deep array or object starts.
        path: String,
        /// The limit that was exceeded.
        max: usize,
    },
    /// An array has more than [`crate::limits::MAX_ARRAY_LEN`] elements.
    #[error("at {path}: array has {len} elements, more than the maximum of {max}")]
    ArrayTooLong {
        /// Path of the array.
        path: String,
        /// Its length (or the number of elements seen before giving up).
        len: usize,
        /// The limit that was exceeded.
        max: usize,
    },
    /// An object has more than [`crate::limits::MAX_OBJECT_FIELDS`] fields.
    #[error("at {path}: object has {count} fields, more than the maximum of {max}")]
    TooManyFields {
        /// Path of the object.
        path: String,
        /// Its field count (or the number seen before giving up).
        count: usize,
        /// The limit that was exceeded.
        max: usize,
    },
    /// A field name breaks the field-name rules (see [`crate::validate_field_name`]).
    #[error("at {path}: field name {name:?} {reason}")]
    InvalidFieldName {
        /// Path of the object holding the field.
        path: String,
        /// The offending name (shortened when very long).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `{"$bytes"|"$integer"|"$float": ...}` wrapper holds a bad payload.
    #[error("at {path}: invalid {key} value: {reason}")]
    InvalidSpecialValue {
        /// Path of the wrapper object.
        path: String,
        /// The wrapper key, e.g. `$integer`.
        key: String,
        /// What is wrong with the payload.
        reason: String,
    },
    /// The input uses a type that Convex values cannot hold (e.g. `$set`, `$map`, `$commitTs`).
    #[error("at {path}: {message}")]
    UnsupportedType {
        /// Where the unsupported value is.
        path: String,
        /// What is unsupported.
        message: String,
    },
    /// An integer (u64, i128, u128) does not fit in an int64.
    #[error("at {path}: integer {value} does not fit in int64")]
    IntegerOutOfRange {
        /// Where the integer is.
        path: String,
        /// The integer, in decimal.
        value: String,
    },
    /// A serialized map has a key that is not a string.
    #[error("at {path}: object keys must be strings, found {found}")]
    InvalidMapKey {
        /// Path of the map.
        path: String,
        /// What kind of key was found.
        found: String,
    },
    /// Bytes handed to [`crate::decode_key_value`] are not a valid index key encoding.
    #[error("invalid index key at byte {offset}: {reason}")]
    InvalidKeyEncoding {
        /// Offset of the problem from the start of the decoded slice.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A message from serde: a type mismatch, a missing field, or a custom error.
    #[error("at {path}: {message}")]
    Serde {
        /// Where the error occurred.
        path: String,
        /// serde's message, e.g. `invalid type: float64 1.5, expected i64`.
        message: String,
    },
}

impl ValueError {
    /// The path inside the value where the error occurred, for variants that have one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ValueError::NestingTooDeep { path, .. }
            | ValueError::ArrayTooLong { path, .. }
            | ValueError::TooManyFields { path, .. }
            | ValueError::InvalidFieldName { path, .. }
            | ValueError::InvalidSpecialValue { path, .. }
            | ValueError::UnsupportedType { path, .. }
            | ValueError::IntegerOutOfRange { path, .. }
            | ValueError::InvalidMapKey { path, .. }
            | ValueError::Serde { path, .. } => Some(path),
            ValueError::InvalidJson { .. } | ValueError::InvalidKeyEncoding { .. } => None,
        }
    }

    fn path_mut(&mut self) -> Option<&mut String> {
        match self {
            ValueError::NestingTooDeep { path, .. }
            | ValueError::ArrayTooLong { path, .. }
            | ValueError::TooManyFields { path, .. }
            | ValueError::InvalidFieldName { path, .. }
            | ValueError::InvalidSpecialValue { path, .. }
            | ValueError::UnsupportedType { path, .. }
            | ValueError::IntegerOutOfRange { path, .. }
            | ValueError::InvalidMapKey { path, .. }
            | ValueError::Serde { path, .. } => Some(path),
            ValueError::InvalidJson { .. } | ValueError::InvalidKeyEncoding { .. } => None,
        }
    }

    /// Re-roots the error one level up: an error at `.b` inside field `a` becomes an error at `.a.b`.
    pub(crate) fn under(mut self, segment: Segment<'_>) -> Self {
        if let Some(p) = self.path_mut() {
            *p = path::prepend(segment, p);
        }
        self
    }

    /// An [`ValueError::InvalidFieldName`] at the top level, with long names shortened.
    pub(crate) fn invalid_field_name(name: &str, reason: String) -> Self {
        let shown = if name.chars().count() > MAX_QUOTED_NAME_CHARS {
            let mut s: String = name.chars().take(MAX_QUOTED_NAME_CHARS).collect();
            s.push('…');
            s
        } else {
            name.to_owned()
        };
        ValueError::InvalidFieldName {
            path: ROOT.to_owned(),
            name: shown,
            reason,
        }
    }

    pub(crate) fn nesting_too_deep() -> Self {
        ValueError::NestingTooDeep {
            path: ROOT.to_owned(),
            max: crate::limits::MAX_DEPTH,
        }
    }

    pub(crate) fn custom_message(msg: impl Display) -> Self {
        ValueError::Serde {
            path: ROOT.to_owned(),
            message: msg.to_string(),
        }
    }
}

impl serde::ser::Error for ValueError {
    fn custom<T: Display>(msg: T) -> Self {
        ValueError::custom_message(msg)
    }
}

impl serde::de::Error for ValueError {
    fn custom<T: Display>(msg: T) -> Self {
        ValueError::custom_message(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_builds_nested_paths_from_the_inside_out() {
        let e = ValueError::invalid_field_name("$x", "must not start with '$'".into())
            .under(Segment::Field("name"))
            .under(Segment::Index(3))
            .under(Segment::Field("items"))
            .under(Segment::Field("args"));
        assert_eq!(
            e.to_string(),
            "at .args.items[3].name: field name \"$x\" must not start with '$'"
        );
        assert_eq!(e.path(), Some(".args.items[3].name"));
    }

    #[test]
    fn top_level_errors_show_the_root_path() {
        let e = ValueError::nesting_too_deep();
        assert_eq!(
            e.to_string(),
            "at .: value is nested more than 64 levels deep"
        );
    }

    #[test]
    fn long_field_names_are_shortened_in_messages() {
        let long = "a".repeat(2000);
        let ValueError::InvalidFieldName { name, .. } =
            ValueError::invalid_field_name(&long, "is too long".into())
        else {
            panic!("wrong variant");
        };
        assert_eq!(name.chars().count(), MAX_QUOTED_NAME_CHARS + 1);
    }

    #[test]
    fn errors_without_a_path_are_not_rerooted() {
        let e = ValueError::InvalidJson {
            message: "eof".into(),
        }
        .under(Segment::Field("a"));
        assert_eq!(e.path(), None);
        assert_eq!(e.to_string(), "invalid JSON: eof");
    }
}
