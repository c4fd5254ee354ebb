//! Size limits on Convex values and the field-name rules, with checks that enforce them.
//!
//! The limits are enforced by [`crate::Value::from_convex_json`], [`crate::to_value`] and
//! [`crate::Value::validate`]. Values built by hand (e.g. with `From<BTreeMap<..>>`) are not
//! checked until one of those is called.

use crate::error::ValueError;
use crate::path::Segment;
use crate::value::Value;

/// Deepest allowed nesting of arrays and objects. A scalar has depth 0 and an array or object
/// has depth one more than its deepest child, so `[[1.0]]` has depth 2. Depth 64 is accepted,
/// 65 is rejected with [`ValueError::NestingTooDeep`].
pub const MAX_DEPTH: usize = 64;

/// Most elements an array may have ([`ValueError::ArrayTooLong`] beyond that).
pub const MAX_ARRAY_LEN: usize = 8192;

/// Most fields an object may have ([`ValueError::TooManyFields`] beyond that).
pub const MAX_OBJECT_FIELDS: usize = 1024;

/// Longest allowed field name, in characters (field names are ASCII, so also in bytes).
pub const MAX_FIELD_NAME_LEN: usize = 1024;

/// Checks a field name against Convex's rules: at most [`MAX_FIELD_NAME_LEN`] characters, only
/// printable ASCII (32..=126), and not starting with `$`. The empty name is allowed.
pub fn validate_field_name(name: &str) -> Result<(), ValueError> {
    match field_name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(ValueError::invalid_field_name(name, reason)),
    }
}

fn field_name_problem(name: &str) -> Option<String> {
    if name.len() > MAX_FIELD_NAME_LEN {
        return Some(format!(
            "is {} bytes long, more than the maximum of {MAX_FIELD_NAME_LEN}",
            name.len()
        ));
    }
    if name.starts_with('$') {
        return Some("must not start with '$'".to_owned());
    }
    if let Some(c) = name.chars().find(|c| !(' '..='~').contains(c)) {
        return Some(format!(
            "contains {c:?}; field names may only contain printable ASCII characters"
        ));
    }
    None
}

impl Value {
    /// Checks that this value respects every limit and field-name rule that
    /// [`Value::from_convex_json`] enforces, so that it survives the wire unchanged.
    pub fn validate(&self) -> Result<(), ValueError> {
        validate_at(self, 0)
    }
}

/// `depth` is the number of arrays/objects enclosing `v`.
fn validate_at(v: &Value, depth: usize) -> Result<(), ValueError> {
    match v {
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(ValueError::nesting_too_deep());
            }
            check_array_len(items.len())?;
            for (i, item) in items.iter().enumerate() {
                validate_at(item, depth + 1).map_err(|e| e.under(Segment::Index(i)))?;
            }
            Ok(())
        }
        Value::Object(fields) => {
            if depth >= MAX_DEPTH {
                return Err(ValueError::nesting_too_deep());
            }
            check_field_count(fields.len())?;
            for (name, item) in fields {
                validate_field_name(name)?;
                validate_at(item, depth + 1).map_err(|e| e.under(Segment::Field(name)))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Error unless an array of `len` elements is allowed.
pub(crate) fn check_array_len(len: usize) -> Result<(), ValueError> {
    if len > MAX_ARRAY_LEN {
        return Err(ValueError::ArrayTooLong {
            path: crate::path::ROOT.to_owned(),
            len,
            max: MAX_ARRAY_LEN,
        });
    }
    Ok(())
}

/// Error unless an object of `count` fields is allowed.
pub(crate) fn check_field_count(count: usize) -> Result<(), ValueError> {
    if count > MAX_OBJECT_FIELDS {
        return Err(ValueError::TooManyFields {
            path: crate::path::ROOT.to_owned(),
            count,
            max: MAX_OBJECT_FIELDS,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_arrays(depth: usize) -> Value {
        let mut v = Value::Null;
        for _ in 0..depth {
            v = Value::Array(vec![v]);
        }
        v
    }

    #[test]
    fn field_names_may_be_empty_or_any_printable_ascii() {
        validate_field_name("").unwrap();
        validate_field_name(" !azAZ09~_x$").unwrap();
        validate_field_name(&"a".repeat(MAX_FIELD_NAME_LEN)).unwrap();
    }

    #[test]
    fn field_names_starting_with_dollar_are_rejected() {
        let err = validate_field_name("$x").unwrap_err();
        assert!(matches!(err, ValueError::InvalidFieldName { .. }));
        assert_eq!(
            err.to_string(),
            "at .: field name \"$x\" must not start with '$'"
        );
    }

    #[test]
    fn field_names_with_control_or_non_ascii_chars_are_rejected() {
        for name in ["a\nb", "\u{7f}", "é", "tab\t", "nul\0"] {
            assert!(
                matches!(
                    validate_field_name(name),
                    Err(ValueError::InvalidFieldName { .. })
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn field_names_longer_than_the_limit_are_rejected() {
        let err = validate_field_name(&"a".repeat(MAX_FIELD_NAME_LEN + 1)).unwrap_err();
        assert!(matches!(err, ValueError::InvalidFieldName { .. }));
        assert!(err.to_string().contains("1025 bytes long"));
    }

    #[test]
    fn validate_accepts_depth_64_and_rejects_65() {
        nested_arrays(MAX_DEPTH).validate().unwrap();
        let err = nested_arrays(MAX_DEPTH + 1).validate().unwrap_err();
        assert!(matches!(err, ValueError::NestingTooDeep { .. }));
    }

    #[test]
    fn validate_reports_the_path_of_a_bad_field_name() {
        let v = Value::object([(
            "args",
            Value::object([("items", Value::Array(vec![Value::object([("$x", 1.0)])]))]),
        )]);
        let err = v.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "at .args.items[0]: field name \"$x\" must not start with '$'"
        );
    }

    #[test]
    fn validate_enforces_array_and_object_sizes() {
        let long = Value::Array(vec![Value::Null; MAX_ARRAY_LEN + 1]);
        assert!(matches!(
            long.validate(),
            Err(ValueError::ArrayTooLong { len: 8193, .. })
        ));
        let wide = Value::object((0..=MAX_OBJECT_FIELDS).map(|i| (format!("f{i}"), Value::Null)));
        assert!(matches!(
            wide.validate(),
            Err(ValueError::TooManyFields { count: 1025, .. })
        ));
    }
}
