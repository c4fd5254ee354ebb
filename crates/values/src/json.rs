//! The Convex JSON wire codec (`$integer`, `$float`, `$bytes` wrappers), clean JSON export,
//! text parsing and canonical strings.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value as Json;

use crate::error::ValueError;
use crate::limits::{MAX_DEPTH, check_array_len, check_field_count, validate_field_name};
use crate::path::{ROOT, Segment};
use crate::value::{Value, canonical_f64};

const BYTES_KEY: &str = "$bytes";
const INTEGER_KEY: &str = "$integer";
const FLOAT_KEY: &str = "$float";

fn is_negative_zero(f: f64) -> bool {
    f == 0.0 && f.is_sign_negative()
}

/// `{"<key>": "<standard padded base64 of bytes>"}`.
fn wrapped(key: &str, bytes: &[u8]) -> Json {
    let mut map = serde_json::Map::new();
    map.insert(key.to_owned(), Json::String(STANDARD.encode(bytes)));
    Json::Object(map)
}

impl Value {
    /// Decodes Convex JSON (the wire format) into a value, enforcing the limits in
    /// [`crate::limits`] and the field-name rules.
    ///
    /// Every JSON number becomes a [`Value::Float64`] (JavaScript numbers are doubles); int64s
    /// travel as `{"$integer": ...}`.
    pub fn from_convex_json(json: &Json) -> Result<Value, ValueError> {
        decode(json, 0)
    }

    /// Encodes the value as Convex JSON (the wire format). NaN is always written as the
    /// canonical NaN, so equal values give equal JSON.
    pub fn to_convex_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Int64(i) => wrapped(INTEGER_KEY, &i.to_le_bytes()),
            Value::Float64(f) => {
                let number = if is_negative_zero(*f) {
                    None
                } else {
                    serde_json::Number::from_f64(*f)
                };
                match number {
                    Some(n) => Json::Number(n),
                    None => wrapped(FLOAT_KEY, &canonical_f64(*f).to_le_bytes()),
                }
            }
            Value::Boolean(b) => Json::Bool(*b),
            Value::String(s) => Json::String(s.clone()),
            Value::Bytes(b) => wrapped(BYTES_KEY, b),
            Value::Array(items) => Json::Array(items.iter().map(Value::to_convex_json).collect()),
            Value::Object(fields) => Json::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_convex_json()))
                    .collect(),
            ),
        }
    }

    /// Lossy "clean" JSON (Convex `format: "json"`): int64 → decimal string, bytes → standard
    /// base64 string, NaN → `"NaN"`, ±Infinity → `"Infinity"`/`"-Infinity"`, -0 → `0`;
    /// everything else as in Convex JSON.
    pub fn to_clean_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Int64(i) => Json::String(i.to_string()),
            Value::Float64(f) => {
                if f.is_nan() {
                    Json::String("NaN".to_owned())
                } else if *f == f64::INFINITY {
                    Json::String("Infinity".to_owned())
                } else if *f == f64::NEG_INFINITY {
                    Json::String("-Infinity".to_owned())
                } else {
                    // Finite, so from_f64 succeeds; -0.0 == 0.0 makes the `+ 0.0` turn -0 into 0.
                    serde_json::Number::from_f64(*f + 0.0).map_or(Json::Null, Json::Number)
                }
            }
            Value::Boolean(b) => Json::Bool(*b),
            Value::String(s) => Json::String(s.clone()),
            Value::Bytes(b) => Json::String(STANDARD.encode(b)),
            Value::Array(items) => Json::Array(items.iter().map(Value::to_clean_json).collect()),
            Value::Object(fields) => Json::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_clean_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses Convex JSON text straight into a value.
///
/// JSON syntax errors become [`ValueError::InvalidJson`]; input nested past serde_json's own
/// recursion limit becomes [`ValueError::NestingTooDeep`] (its path gives the line and column).
pub fn parse_convex_json_str(s: &str) -> Result<Value, ValueError> {
    let json: Json = serde_json::from_str(s).map_err(|e| {
        let message = e.to_string();
        if message.starts_with("recursion limit exceeded") {
            ValueError::NestingTooDeep {
                path: format!("line {} column {}", e.line(), e.column()),
                max: MAX_DEPTH,
            }
        } else {
            ValueError::InvalidJson { message }
        }
    })?;
    Value::from_convex_json(&json)
}

/// Canonical compact text for a value: Convex JSON with object fields in sorted order and NaN
/// canonicalized, so two values are equal exactly when their canonical strings are. Suitable as
/// a cache or deduplication key.
pub fn canonical_string(v: &Value) -> String {
    v.to_convex_json().to_string()
}

/// `depth` is the number of arrays/objects enclosing `json`.
fn decode(json: &Json, depth: usize) -> Result<Value, ValueError> {
    match json {
        Json::Null => Ok(Value::Null),
        Json::Bool(b) => Ok(Value::Boolean(*b)),
        Json::String(s) => Ok(Value::String(s.clone())),
        Json::Number(n) => n
            .as_f64()
            .map(Value::Float64)
            .ok_or_else(|| ValueError::InvalidJson {
                message: format!("number {n} is not representable as a float64"),
            }),
        Json::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(ValueError::nesting_too_deep());
            }
            check_array_len(items.len())?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| decode(item, depth + 1).map_err(|e| e.under(Segment::Index(i))))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Json::Object(fields) => {
            if let Some(special) = decode_special(fields) {
                return special;
            }
            if depth >= MAX_DEPTH {
                return Err(ValueError::nesting_too_deep());
            }
            check_field_count(fields.len())?;
            fields
                .iter()
                .map(|(name, item)| {
                    validate_field_name(name)?;
                    let v = decode(item, depth + 1).map_err(|e| e.under(Segment::Field(name)))?;
                    Ok((name.clone(), v))
                })
                .collect::<Result<_, ValueError>>()
                .map(Value::Object)
        }
    }
}

/// Handles single-key `$`-objects. `None` means "an ordinary object".
fn decode_special(fields: &serde_json::Map<String, Json>) -> Option<Result<Value, ValueError>> {
    if fields.len() != 1 {
        return None;
    }
    let (key, payload) = fields.iter().next()?;
    let unsupported = |message: String| {
        Some(Err(ValueError::UnsupportedType {
            path: ROOT.to_owned(),
            message,
        }))
    };
    match key.as_str() {
        BYTES_KEY => Some(special_bytes(key, payload).map(Value::Bytes)),
        INTEGER_KEY => Some(special_u64(key, payload).map(|b| Value::Int64(i64::from_le_bytes(b)))),
        FLOAT_KEY => Some(special_u64(key, payload).and_then(|b| {
            let f = f64::from_le_bytes(b);
            if f.is_finite() && !is_negative_zero(f) {
                Err(special_error(
                    key,
                    format!("$float must be used only for NaN, ±Infinity and -0, not {f}"),
                ))
            } else {
                Ok(Value::Float64(canonical_f64(f)))
            }
        })),
        "$set" | "$map" => unsupported(format!(
            "{key} is no longer supported; use an array or an object instead"
        )),
        "$commitTs" => unsupported("$commitTs is unsupported".to_owned()),
        _ => None,
    }
}

fn special_error(key: &str, reason: String) -> ValueError {
    ValueError::InvalidSpecialValue {
        path: ROOT.to_owned(),
        key: key.to_owned(),
        reason,
    }
}

/// The payload of a `$bytes`/`$integer`/`$float` wrapper: a base64 string, standard alphabet
/// (URL-safe `-` and `_` also accepted), padded to a multiple of 4.
fn special_bytes(key: &str, payload: &Json) -> Result<Vec<u8>, ValueError> {
    let Json::String(text) = payload else {
        return Err(special_error(key, "expected a base64 string".to_owned()));
    };
    if text.len() % 4 != 0 {
        return Err(special_error(
            key,
            format!("base64 length {} is not a multiple of 4", text.len()),
        ));
    }
    let decoded = if text.contains(['-', '_']) {
        STANDARD.decode(text.replace('-', "+").replace('_', "/"))
    } else {
        STANDARD.decode(text)
    };
    decoded.map_err(|e| special_error(key, format!("invalid base64: {e}")))
}

fn special_u64(key: &str, payload: &Json) -> Result<[u8; 8], ValueError> {
    let bytes = special_bytes(key, payload)?;
    <[u8; 8]>::try_from(bytes.as_slice()).map_err(|_| {
        special_error(
            key,
            format!("expected exactly 8 bytes, got {}", bytes.len()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MAX_ARRAY_LEN, MAX_FIELD_NAME_LEN, MAX_OBJECT_FIELDS};
    use crate::test_support::arb_value;
    use proptest::prelude::*;
    use serde_json::json;

    fn decode_str(s: &str) -> Result<Value, ValueError> {
        parse_convex_json_str(s)
    }

    fn nested_json(depth: usize) -> String {
        format!("{}null{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn int64_vectors_match_the_wire_format() {
        assert_eq!(
            Value::Int64(1).to_convex_json(),
            json!({"$integer": "AQAAAAAAAAA="})
        );
        assert_eq!(
            Value::Int64(i64::MIN).to_convex_json(),
            json!({"$integer": "AAAAAAAAAIA="})
        );
        assert_eq!(
            Value::Int64(i64::MAX).to_convex_json(),
            json!({"$integer": "/////////38="})
        );
        assert_eq!(
            Value::Int64(-1).to_convex_json(),
            json!({"$integer": "//////////8="})
        );
        for i in [0, 1, -1, i64::MIN, i64::MAX, 1 << 53] {
            let v = Value::Int64(i);
            assert_eq!(Value::from_convex_json(&v.to_convex_json()).unwrap(), v);
        }
    }

    #[test]
    fn special_floats_use_float_wrapper() {
        assert_eq!(
            Value::Float64(f64::NAN).to_convex_json(),
            json!({"$float": "AAAAAAAA+H8="})
        );
        assert_eq!(
            Value::Float64(-0.0).to_convex_json(),
            json!({"$float": "AAAAAAAAAIA="})
        );
        assert_eq!(
            Value::Float64(f64::INFINITY).to_convex_json(),
            json!({"$float": "AAAAAAAA8H8="})
        );
        assert_eq!(
            Value::Float64(f64::NEG_INFINITY).to_convex_json(),
            json!({"$float": "AAAAAAAA8P8="})
        );
        for f in [f64::NAN, -0.0, f64::INFINITY, f64::NEG_INFINITY] {
            let back = Value::from_convex_json(&Value::Float64(f).to_convex_json()).unwrap();
            let Value::Float64(g) = back else {
                panic!("not a float")
            };
            assert_eq!(canonical_f64(f).to_bits(), g.to_bits());
        }
    }

    #[test]
    fn non_canonical_nan_is_written_as_canonical_nan() {
        let odd = Value::Float64(f64::from_bits(0xfff8_0000_0000_0042));
        assert_eq!(odd.to_convex_json(), json!({"$float": "AAAAAAAA+H8="}));
    }

    #[test]
    fn ordinary_floats_are_json_numbers() {
        assert_eq!(Value::Float64(1.5).to_convex_json(), json!(1.5));
        assert_eq!(Value::Float64(0.0).to_convex_json(), json!(0.0));
        assert_eq!(decode_str("1.5").unwrap(), Value::Float64(1.5));
        let tiny = f64::from_bits(1);
        assert_eq!(
            decode_str(&canonical_string(&Value::Float64(tiny))).unwrap(),
            Value::Float64(tiny)
        );
    }

    #[test]
    fn json_integers_decode_as_float64() {
        assert_eq!(decode_str("5").unwrap(), Value::Float64(5.0));
        assert_eq!(decode_str("-7").unwrap(), Value::Float64(-7.0));
        assert_eq!(
            decode_str("18446744073709551615").unwrap(),
            Value::Float64(18_446_744_073_709_551_615_u64 as f64)
        );
        let Value::Float64(z) = decode_str("-0").unwrap() else {
            panic!("not a float")
        };
        assert!(is_negative_zero(z));
    }

    #[test]
    fn bytes_use_standard_padded_base64() {
        let v = Value::Bytes(vec![0xfb, 0xff, 0x00, 0x01]);
        assert_eq!(v.to_convex_json(), json!({"$bytes": "+/8AAQ=="}));
        assert_eq!(Value::from_convex_json(&v.to_convex_json()).unwrap(), v);
        assert_eq!(Value::Bytes(vec![]).to_convex_json(), json!({"$bytes": ""}));
        assert_eq!(
            decode_str(r#"{"$bytes":""}"#).unwrap(),
            Value::Bytes(vec![])
        );
    }

    #[test]
    fn url_safe_base64_characters_are_accepted() {
        assert_eq!(
            decode_str(r#"{"$bytes":"-_8AAQ=="}"#).unwrap(),
            Value::Bytes(vec![0xfb, 0xff, 0x00, 0x01])
        );
        assert_eq!(
            decode_str(r#"{"$integer":"__________8="}"#).unwrap(),
            Value::Int64(-1)
        );
    }

    #[test]
    fn unpadded_or_malformed_base64_is_rejected() {
        for bad in [
            r#"{"$bytes":"+/8AAQ"}"#,
            r#"{"$bytes":"****"}"#,
            r#"{"$bytes":5}"#,
            r#"{"$integer":"AQAAAAAAAA=="}"#,
            r#"{"$integer":"AQAAAAAAAAAA"}"#,
            r#"{"$float":null}"#,
        ] {
            assert!(
                matches!(decode_str(bad), Err(ValueError::InvalidSpecialValue { .. })),
                "{bad}: {:?}",
                decode_str(bad)
            );
        }
    }

    #[test]
    fn float_wrapper_rejects_ordinary_floats() {
        let one = wrapped(FLOAT_KEY, &1.0f64.to_le_bytes());
        let err = Value::from_convex_json(&one).unwrap_err();
        assert!(matches!(err, ValueError::InvalidSpecialValue { .. }));
        assert!(err.to_string().contains("only for NaN"), "{err}");
        let zero = wrapped(FLOAT_KEY, &0.0f64.to_le_bytes());
        assert!(Value::from_convex_json(&zero).is_err());
    }

    #[test]
    fn set_and_map_are_no_longer_supported() {
        for bad in [r#"{"$set":[]}"#, r#"{"$map":[]}"#] {
            let err = decode_str(bad).unwrap_err();
            assert!(matches!(err, ValueError::UnsupportedType { .. }));
            assert!(err.to_string().contains("no longer supported"), "{err}");
        }
        let err = decode_str(r#"{"$commitTs":"AQAAAAAAAAA="}"#).unwrap_err();
        assert!(matches!(err, ValueError::UnsupportedType { .. }));
        assert!(err.to_string().contains("unsupported"));
    }

    #[test]
    fn dollar_fields_are_rejected_with_their_path() {
        let err = decode_str(r#"{"args":{"items":[1,2,3,{"name":{"$x":1}}]}}"#).unwrap_err();
        assert!(matches!(err, ValueError::InvalidFieldName { .. }));
        assert_eq!(
            err.to_string(),
            "at .args.items[3].name: field name \"$x\" must not start with '$'"
        );
        // A special key next to another key is just a bad field name.
        let err = decode_str(r#"{"$integer":"AQAAAAAAAAA=","a":1}"#).unwrap_err();
        assert!(matches!(err, ValueError::InvalidFieldName { .. }));
    }

    #[test]
    fn non_ascii_and_overlong_field_names_are_rejected() {
        assert!(matches!(
            decode_str(r#"{"é":1}"#),
            Err(ValueError::InvalidFieldName { .. })
        ));
        assert!(matches!(
            decode_str(r#"{"a\nb":1}"#),
            Err(ValueError::InvalidFieldName { .. })
        ));
        let ok = format!(r#"{{"{}":1}}"#, "a".repeat(MAX_FIELD_NAME_LEN));
        decode_str(&ok).unwrap();
        let long = format!(r#"{{"{}":1}}"#, "a".repeat(MAX_FIELD_NAME_LEN + 1));
        assert!(matches!(
            decode_str(&long),
            Err(ValueError::InvalidFieldName { .. })
        ));
        assert_eq!(decode_str(r#"{"":1}"#).unwrap(), Value::object([("", 1.0)]));
    }

    #[test]
    fn depth_64_is_accepted_and_65_rejected() {
        decode_str(&nested_json(MAX_DEPTH)).unwrap();
        let err = decode_str(&nested_json(MAX_DEPTH + 1)).unwrap_err();
        assert!(matches!(err, ValueError::NestingTooDeep { .. }));
        assert_eq!(err.path(), Some(&*"[0]".repeat(MAX_DEPTH)));
        // Objects count as levels too; wrapped scalars do not.
        let mut obj = r#"{"$integer":"AQAAAAAAAAA="}"#.to_owned();
        for _ in 0..MAX_DEPTH {
            obj = format!(r#"{{"a":{obj}}}"#);
        }
        decode_str(&obj).unwrap();
        let deeper = format!(r#"{{"a":{obj}}}"#);
        assert!(matches!(
            decode_str(&deeper),
            Err(ValueError::NestingTooDeep { .. })
        ));
    }

    #[test]
    fn serde_json_recursion_limit_maps_to_nesting_too_deep() {
        let err = decode_str(&nested_json(1000)).unwrap_err();
        assert!(matches!(err, ValueError::NestingTooDeep { .. }), "{err:?}");
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        for bad in ["", "{", "[1,]", "nul", "1 2", "{\"a\" 1}"] {
            assert!(
                matches!(decode_str(bad), Err(ValueError::InvalidJson { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn array_length_limit_is_enforced() {
        let ok = Json::Array(vec![Json::Null; MAX_ARRAY_LEN]);
        Value::from_convex_json(&ok).unwrap();
        let long = json!({"a": vec![Json::Null; MAX_ARRAY_LEN + 1]});
        let err = Value::from_convex_json(&long).unwrap_err();
        assert!(matches!(err, ValueError::ArrayTooLong { .. }));
        assert_eq!(
            err.to_string(),
            "at .a: array has 8193 elements, more than the maximum of 8192"
        );
    }

    #[test]
    fn object_field_limit_is_enforced() {
        let fields =
            |n: usize| Json::Object((0..n).map(|i| (format!("f{i}"), Json::Null)).collect());
        Value::from_convex_json(&fields(MAX_OBJECT_FIELDS)).unwrap();
        assert!(matches!(
            Value::from_convex_json(&fields(MAX_OBJECT_FIELDS + 1)),
            Err(ValueError::TooManyFields { .. })
        ));
    }

    #[test]
    fn clean_json_is_lossy_and_readable() {
        let v = Value::object([
            ("int", Value::Int64(-12)),
            ("bytes", Value::Bytes(vec![1, 2, 3])),
            ("nan", Value::Float64(f64::NAN)),
            ("inf", Value::Float64(f64::INFINITY)),
            ("ninf", Value::Float64(f64::NEG_INFINITY)),
            ("nzero", Value::Float64(-0.0)),
            ("f", Value::Float64(2.5)),
            (
                "list",
                Value::Array(vec![Value::Null, Value::Boolean(true)]),
            ),
        ]);
        let clean = v.to_clean_json();
        assert_eq!(
            clean,
            json!({
                "int": "-12", "bytes": "AQID", "nan": "NaN", "inf": "Infinity",
                "ninf": "-Infinity", "nzero": 0.0, "f": 2.5, "list": [null, true]
            })
        );
        assert_eq!(
            clean["nzero"].as_f64().map(f64::is_sign_negative),
            Some(false)
        );
    }

    #[test]
    fn canonical_string_sorts_fields_and_is_compact() {
        let v = Value::object([
            ("b", Value::from("x")),
            ("a", Value::Array(vec![Value::Float64(1.0), Value::Null])),
        ]);
        assert_eq!(canonical_string(&v), r#"{"a":[1.0,null],"b":"x"}"#);
        let nan1 = Value::Float64(f64::NAN);
        let nan2 = Value::Float64(f64::from_bits(0x7ff0_0000_0000_0001));
        assert_eq!(canonical_string(&nan1), canonical_string(&nan2));
    }

    proptest! {
        #[test]
        fn convex_json_round_trips(v in arb_value()) {
            let back = Value::from_convex_json(&v.to_convex_json()).unwrap();
            prop_assert_eq!(&back, &v);
            let reparsed = parse_convex_json_str(&canonical_string(&v)).unwrap();
            prop_assert_eq!(&reparsed, &v);
            prop_assert_eq!(canonical_string(&reparsed), canonical_string(&v));
        }
    }
}
