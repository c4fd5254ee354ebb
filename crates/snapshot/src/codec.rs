//! Values in Convex's snapshot JSON ("uniform" export format, `ConvexExportJSON`), and the plain
//! JSON single-file imports use.
//!
//! | value | uniform | plain |
//! |---|---|---|
//! | int64 | bare integer `42` | (none: every number is a float64) |
//! | float64 | always with `.` or an exponent: `2.0`, `-0.0`, `1e21`; NaN and ±∞ as `{"$float": base64 LE}` | number |
//! | bytes | `{"$bytes": base64}` | (none) |
//! | null, boolean, string, array, object | as JSON | as JSON |
//!
//! A `$`-wrapped object is only read where the archive says it is uniform
//! (`<table>/generated_schema.jsonl` holding `"uniform"`).

use ferrovex_values::Value;
use serde_json::Value as Json;

/// How the numbers and `$` objects of a document line are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Convex's lossless export format: integer literals are int64, `$bytes`/`$float`/`$integer`
    /// objects are decoded.
    Uniform,
    /// Plain JSON (a ZIP table without `generated_schema.jsonl`, or a `.jsonl`/`.json` file):
    /// every number is a float64 and `$` field names are refused.
    Plain,
}

/// Most nesting a document line may have (Convex values nest at most 64 deep).
const MAX_DEPTH: usize = 64;

/// The value in the uniform export format.
pub fn encode(value: &Value) -> Json {
    match value {
        Value::Int64(i) => Json::from(*i),
        Value::Float64(f) if f.is_finite() => Json::from(*f),
        Value::Array(items) => Json::Array(items.iter().map(encode).collect()),
        Value::Object(fields) => {
            Json::Object(fields.iter().map(|(k, v)| (k.clone(), encode(v))).collect())
        }
        // NaN, ±∞ (`$float`), bytes (`$bytes`), null, booleans and strings: as Convex JSON.
        other => other.to_convex_json(),
    }
}

/// Reads one value; the error says what is wrong and where (`field.sub[2]`).
pub fn decode(json: &Json, encoding: Encoding) -> Result<Value, String> {
    decode_at(json, encoding, "", 0)
}

fn decode_at(json: &Json, encoding: Encoding, at: &str, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(*b),
        Json::String(s) => Value::String(s.clone()),
        Json::Number(n) => match (encoding, n.as_i64()) {
            (Encoding::Uniform, Some(i)) if !n.is_f64() => Value::Int64(i),
            _ => Value::Float64(
                n.as_f64()
                    .ok_or_else(|| format!("{at}: {n} is not a number Convex can hold"))?,
            ),
        },
        Json::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| decode_at(item, encoding, &format!("{at}[{i}]"), depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(fields) => {
            let wrapped = fields.len() == 1 && fields.keys().all(|k| k.starts_with('$'));
            if wrapped && encoding == Encoding::Uniform {
                return Value::from_convex_json(json).map_err(|e| format!("{at}: {e}"));
            }
            let mut out = std::collections::BTreeMap::new();
            for (name, item) in fields {
                if name.starts_with('$') {
                    return Err(format!(
                        "{}: field name {name:?} starts with '$', which is reserved{}",
                        if at.is_empty() { name.as_str() } else { at },
                        if encoding == Encoding::Plain {
                            " ($bytes, $integer and $float are only read from a ZIP export whose generated_schema.jsonl says \"uniform\")"
                        } else {
                            ""
                        }
                    ));
                }
                let path = if at.is_empty() {
                    name.clone()
                } else {
                    format!("{at}.{name}")
                };
                out.insert(name.clone(), decode_at(item, encoding, &path, depth + 1)?);
            }
            Value::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_type() -> Value {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("nul".to_owned(), Value::Null);
        fields.insert("i".to_owned(), Value::Int64(42));
        fields.insert("imin".to_owned(), Value::Int64(i64::MIN));
        fields.insert("f".to_owned(), Value::Float64(3.5));
        fields.insert("fint".to_owned(), Value::Float64(2.0));
        fields.insert("big".to_owned(), Value::Float64(1e21));
        fields.insert("negZero".to_owned(), Value::Float64(-0.0));
        fields.insert("nan".to_owned(), Value::Float64(f64::NAN));
        fields.insert("inf".to_owned(), Value::Float64(f64::INFINITY));
        fields.insert("negInf".to_owned(), Value::Float64(f64::NEG_INFINITY));
        fields.insert("b".to_owned(), Value::Boolean(true));
        fields.insert("s".to_owned(), Value::from("hello"));
        fields.insert("bytes".to_owned(), Value::Bytes(vec![0, 1, 0xfe, 0xff]));
        fields.insert(
            "arr".to_owned(),
            Value::Array(vec![Value::Int64(1), Value::Float64(1.0), Value::from("x")]),
        );
        Value::Object(fields)
    }

    #[test]
    fn the_uniform_format_round_trips_every_type() {
        let value = every_type();
        let text = encode(&value).to_string();
        assert!(text.contains("\"i\":42,"), "{text}");
        assert!(text.contains("\"fint\":2.0"), "{text}");
        assert!(text.contains("\"negZero\":-0.0"), "{text}");
        assert!(
            text.contains("\"bytes\":{\"$bytes\":\"AAH+/w==\"}"),
            "{text}"
        );
        assert!(
            text.contains("\"inf\":{\"$float\":\"AAAAAAAA8H8=\"}"),
            "{text}"
        );
        let back = decode(&serde_json::from_str(&text).unwrap(), Encoding::Uniform).unwrap();
        assert_eq!(
            ferrovex_values::canonical_string(&back),
            ferrovex_values::canonical_string(&value)
        );
        let Value::Object(fields) = back else {
            panic!("an object")
        };
        assert!(matches!(fields["negZero"], Value::Float64(f) if f == 0.0 && f.is_sign_negative()));
    }

    #[test]
    fn plain_json_has_only_floats_and_refuses_dollar_fields() {
        let json: Json = serde_json::from_str(r#"{"n": 1, "o": {"m": [2]}}"#).unwrap();
        let Value::Object(fields) = decode(&json, Encoding::Plain).unwrap() else {
            panic!("an object")
        };
        assert!(matches!(fields["n"], Value::Float64(f) if f == 1.0));
        let json: Json = serde_json::from_str(r#"{"o": {"b": {"$bytes": "AA=="}}}"#).unwrap();
        let err = decode(&json, Encoding::Plain).unwrap_err();
        assert!(err.contains("o.b") && err.contains("$bytes"), "{err}");
    }
}
