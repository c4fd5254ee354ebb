//! Argument validation errors in Convex's wording, so clients and tests that match on
//! Convex's messages work unchanged.

use std::fmt::Write as _;

use ferrovex_store::validator::{Mismatch, MismatchKind};
use ferrovex_values::Value;

/// Longest rendering of a value inside an error message; longer ones are cut.
const MAX_RENDERED_VALUE: usize = 1024;

/// The error message for arguments that failed their validator, as Convex words it
/// (`crates/common/src/schemas/validator.rs`): the `Path:` line is empty at the top level.
pub(crate) fn argument_error(mismatch: &Mismatch) -> String {
    let context = if mismatch.path.is_empty() {
        String::new()
    } else {
        format!("Path: {}", mismatch.path)
    };
    let message = match mismatch.kind.as_ref() {
        MismatchKind::Type { value, validator } => format!(
            "Value does not match validator.\n{context}\nValue: {}\nValidator: {validator}",
            render(value)
        ),
        MismatchKind::MissingField {
            field,
            object,
            validator,
        } => format!(
            "Object is missing the required field `{field}`. Consider wrapping the field validator in `v.optional(...)` if this is expected.\n{context}\nObject: {}\nValidator: {validator}",
            render(object)
        ),
        MismatchKind::ExtraField {
            field,
            object,
            validator,
        } => format!(
            "Object contains extra field `{field}` that is not in the validator.\n{context}\nObject: {}\nValidator: {validator}",
            render(object)
        ),
    };
    format!("ArgumentValidationError: {message}")
}

/// A value as Convex prints it in messages: object keys unquoted and sorted, floats always
/// with a fraction (`5.0`), strings quoted.
fn render(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    if out.len() > MAX_RENDERED_VALUE {
        let mut cut = MAX_RENDERED_VALUE;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Int64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float64(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Boolean(b) => {
            let _ = write!(out, "{b}");
        }
        Value::String(s) => {
            let _ = write!(out, "{s:?}");
        }
        Value::Bytes(b) => {
            let _ = write!(out, "ArrayBuffer(byteLength={})", b.len());
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{k}: ");
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrovex_store::validator::v;

    #[test]
    fn messages_follow_convex() {
        let validator = v::object([("body", v::string()), ("n", v::optional(v::int64()))]);
        let wrong = Value::object([("body", Value::Float64(5.0))]);
        let m = validator.check(&wrong).unwrap_err();
        assert_eq!(
            argument_error(&m),
            "ArgumentValidationError: Value does not match validator.\nPath: .body\nValue: 5.0\nValidator: v.string()"
        );
        let missing = Value::object([("n", Value::Int64(1))]);
        let m = validator.check(&missing).unwrap_err();
        assert_eq!(
            argument_error(&m),
            "ArgumentValidationError: Object is missing the required field `body`. Consider wrapping the field validator in `v.optional(...)` if this is expected.\n\nObject: {n: 1}\nValidator: v.object({body: v.string(), n: v.optional(v.int64())})"
        );
        let extra = Value::object([("body", "x".into()), ("spam", Value::Null)]);
        let m = validator.check(&extra).unwrap_err();
        assert_eq!(
            argument_error(&m),
            "ArgumentValidationError: Object contains extra field `spam` that is not in the validator.\n\nObject: {body: \"x\", spam: null}\nValidator: v.object({body: v.string(), n: v.optional(v.int64())})"
        );
    }
}
