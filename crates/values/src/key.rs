//! Order-preserving, prefix-free byte encoding of values for database index keys.
//!
//! For any values `a` and `b`, `encode(a) < encode(b)` (bytewise, as SQLite compares BLOBs
//! with memcmp) exactly when `a < b` in [`Value`]'s [`Ord`], and the encoding is injective.
//! No encoding is a prefix of another, so encodings can be concatenated into compound keys
//! that sort like tuples. A "missing field" marker sorts before every value, `Null` included.
//!
//! Layout (every encoded value starts with a tag byte; no tag is `0x00` or `0xFF`):
//!
//! | value   | bytes |
//! |---------|-------|
//! | missing | `01` |
//! | null    | `02` |
//! | int64   | `03`, big-endian `(i as u64) ^ (1 << 63)` |
//! | float64 | `04`, big-endian of the bits (NaN canonicalized) with all bits flipped if the sign bit is set, else only the sign bit flipped |
//! | boolean | `05`, `00` or `01` |
//! | string  | `06`, UTF-8 bytes escaped (`00` → `00 FF`), then `00 01` |
//! | bytes   | `07`, bytes escaped the same way, then `00 01` |
//! | array   | `08`, each element, then `00` |
//! | object  | `09`, for each field in name order: `01`, escaped name + `00 01`, value; then `00` |

use crate::error::ValueError;
use crate::limits::MAX_DEPTH;
use crate::value::{CANONICAL_NAN_BITS, Value, canonical_f64};

const TAG_MISSING: u8 = 0x01;
const TAG_NULL: u8 = 0x02;
const TAG_INT64: u8 = 0x03;
const TAG_FLOAT64: u8 = 0x04;
const TAG_BOOLEAN: u8 = 0x05;
const TAG_STRING: u8 = 0x06;
const TAG_BYTES: u8 = 0x07;
const TAG_ARRAY: u8 = 0x08;
const TAG_OBJECT: u8 = 0x09;

/// Ends an array or an object.
const END: u8 = 0x00;
/// Starts each field of an object (greater than [`END`], so shorter objects sort first).
const FIELD: u8 = 0x01;
/// `00 01` ends an escaped string; `00 FF` is an escaped NUL byte.
const ESCAPE: u8 = 0x00;
const ESCAPED_END: u8 = 0x01;
const ESCAPED_NUL: u8 = 0xFF;

const SIGN: u64 = 1 << 63;

/// Appends the index-key encoding of `v` to `out`.
pub fn encode_key_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::Int64(i) => {
            out.push(TAG_INT64);
            out.extend_from_slice(&(i.cast_unsigned() ^ SIGN).to_be_bytes());
        }
        Value::Float64(f) => {
            out.push(TAG_FLOAT64);
            let bits = canonical_f64(*f).to_bits();
            let ordered = if bits & SIGN != 0 { !bits } else { bits ^ SIGN };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Value::Boolean(b) => {
            out.push(TAG_BOOLEAN);
            out.push(u8::from(*b));
        }
        Value::String(s) => {
            out.push(TAG_STRING);
            encode_escaped(s.as_bytes(), out);
        }
        Value::Bytes(b) => {
            out.push(TAG_BYTES);
            encode_escaped(b, out);
        }
        Value::Array(items) => {
            out.push(TAG_ARRAY);
            for item in items {
                encode_key_value(item, out);
            }
            out.push(END);
        }
        Value::Object(fields) => {
            out.push(TAG_OBJECT);
            for (name, item) in fields {
                out.push(FIELD);
                encode_escaped(name.as_bytes(), out);
                encode_key_value(item, out);
            }
            out.push(END);
        }
    }
}

/// Appends the "missing field" (undefined) marker, which sorts before every value.
pub fn encode_missing(out: &mut Vec<u8>) {
    out.push(TAG_MISSING);
}

/// The smallest byte string greater than every key that starts with `prefix` (a concatenation
/// of whole encoded values): `prefix` followed by `0xFF`. Because no encoded value starts with
/// `0xFF`, the range `prefix..prefix_successor(prefix)` holds exactly the keys with that prefix.
pub fn prefix_successor(prefix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 1);
    out.extend_from_slice(prefix);
    out.push(0xFF);
    out
}

/// Decodes one encoded value from the front of `bytes`, returning it (`None` for the missing
/// marker) and the remaining bytes.
///
/// Only canonical encodings are accepted (canonical NaN, booleans `00`/`01`, valid UTF-8,
/// strictly increasing field names), so decoding and re-encoding gives back the same bytes.
/// Arrays and objects nested deeper than [`MAX_DEPTH`] are rejected.
pub fn decode_key_value(bytes: &[u8]) -> Result<(Option<Value>, &[u8]), ValueError> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = if reader.peek()? == TAG_MISSING {
        reader.pos += 1;
        None
    } else {
        Some(reader.value(0)?)
    };
    Ok((value, bytes.get(reader.pos..).unwrap_or_default()))
}

fn encode_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == ESCAPE {
            out.push(ESCAPED_NUL);
        }
    }
    out.push(ESCAPE);
    out.push(ESCAPED_END);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, reason: impl Into<String>) -> ValueError {
        ValueError::InvalidKeyEncoding {
            offset: self.pos,
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Result<u8, ValueError> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.error("unexpected end of key"))
    }

    fn byte(&mut self) -> Result<u8, ValueError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    fn word(&mut self) -> Result<u64, ValueError> {
        let chunk = self
            .bytes
            .get(self.pos..self.pos + 8)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .ok_or_else(|| self.error("unexpected end of key inside an 8-byte number"))?;
        self.pos += 8;
        Ok(u64::from_be_bytes(chunk))
    }

    fn escaped(&mut self) -> Result<Vec<u8>, ValueError> {
        let mut out = Vec::new();
        loop {
            let b = self.byte()?;
            if b != ESCAPE {
                out.push(b);
                continue;
            }
            match self.byte()? {
                ESCAPED_END => return Ok(out),
                ESCAPED_NUL => out.push(0),
                other => {
                    self.pos -= 1;
                    return Err(self.error(format!("invalid escape byte {other:#04x}")));
                }
            }
        }
    }

    fn string(&mut self) -> Result<String, ValueError> {
        let start = self.pos;
        String::from_utf8(self.escaped()?).map_err(|_| ValueError::InvalidKeyEncoding {
            offset: start,
            reason: "string is not valid UTF-8".to_owned(),
        })
    }

    /// Reads a value (not the missing marker); `depth` is the number of enclosing containers.
    fn value(&mut self, depth: usize) -> Result<Value, ValueError> {
        let tag_pos = self.pos;
        let tag = self.byte()?;
        let container_depth = || {
            if depth >= MAX_DEPTH {
                Err(ValueError::InvalidKeyEncoding {
                    offset: tag_pos,
                    reason: format!("nested more than {MAX_DEPTH} levels deep"),
                })
            } else {
                Ok(depth + 1)
            }
        };
        match tag {
            TAG_NULL => Ok(Value::Null),
            TAG_INT64 => Ok(Value::Int64((self.word()? ^ SIGN).cast_signed())),
            TAG_FLOAT64 => {
                let ordered = self.word()?;
                let bits = if ordered & SIGN != 0 {
                    ordered ^ SIGN
                } else {
                    !ordered
                };
                let f = f64::from_bits(bits);
                if f.is_nan() && bits != CANONICAL_NAN_BITS {
                    self.pos -= 8;
                    return Err(self.error("NaN is not in canonical form"));
                }
                Ok(Value::Float64(f))
            }
            TAG_BOOLEAN => match self.byte()? {
                0 => Ok(Value::Boolean(false)),
                1 => Ok(Value::Boolean(true)),
                other => {
                    self.pos -= 1;
                    Err(self.error(format!("invalid boolean byte {other:#04x}")))
                }
            },
            TAG_STRING => self.string().map(Value::String),
            TAG_BYTES => self.escaped().map(Value::Bytes),
            TAG_ARRAY => {
                let child_depth = container_depth()?;
                let mut items = Vec::new();
                while self.peek()? != END {
                    items.push(self.value(child_depth)?);
                }
                self.pos += 1;
                Ok(Value::Array(items))
            }
            TAG_OBJECT => {
                let child_depth = container_depth()?;
                let mut fields = std::collections::BTreeMap::new();
                let mut last: Option<String> = None;
                loop {
                    match self.byte()? {
                        END => return Ok(Value::Object(fields)),
                        FIELD => {
                            let name_pos = self.pos;
                            let name = self.string()?;
                            if last.as_ref().is_some_and(|prev| *prev >= name) {
                                return Err(ValueError::InvalidKeyEncoding {
                                    offset: name_pos,
                                    reason: "object field names are not in increasing order"
                                        .to_owned(),
                                });
                            }
                            let item = self.value(child_depth)?;
                            last = Some(name.clone());
                            fields.insert(name, item);
                        }
                        other => {
                            self.pos -= 1;
                            return Err(
                                self.error(format!("invalid object field marker {other:#04x}"))
                            );
                        }
                    }
                }
            }
            TAG_MISSING => {
                self.pos = tag_pos;
                Err(self.error("missing marker inside an array or object"))
            }
            other => {
                self.pos = tag_pos;
                Err(self.error(format!("invalid type tag {other:#04x}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::arb_value;
    use proptest::prelude::*;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key_value(v, &mut out);
        out
    }

    fn enc_missing() -> Vec<u8> {
        let mut out = Vec::new();
        encode_missing(&mut out);
        out
    }

    fn round_trip(v: &Value) {
        let bytes = enc(v);
        let (back, rest) = decode_key_value(&bytes).unwrap();
        assert!(rest.is_empty());
        assert_eq!(back.as_ref(), Some(v));
        assert_eq!(enc(&back.unwrap()), bytes);
    }

    /// A hand-picked list of values in strictly increasing order.
    fn ordered_samples() -> Vec<Value> {
        let floats = [
            f64::NEG_INFINITY,
            f64::MIN,
            -1.0,
            -f64::MIN_POSITIVE,
            -f64::from_bits(1),
            -0.0,
            0.0,
            f64::from_bits(1),
            f64::MIN_POSITIVE,
            1.0,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
        ];
        let mut out = vec![Value::Null];
        out.extend([i64::MIN, -1, 0, 1, i64::MAX].map(Value::Int64));
        out.extend(floats.map(Value::Float64));
        out.extend([false, true].map(Value::Boolean));
        out.extend(["", "\0", "\0\0", "\0a", "a", "a\0", "a\0\0", "ab", "b", "é"].map(Value::from));
        out.extend(
            [
                &[][..],
                &[0],
                &[0, 0],
                &[0, 0xff],
                &[1],
                &[0xff],
                &[0xff, 0],
            ]
            .map(|b| Value::Bytes(b.to_vec())),
        );
        out.extend([
            Value::Array(vec![]),
            Value::Array(vec![Value::Null]),
            Value::Array(vec![Value::Null, Value::Null]),
            Value::Array(vec![Value::Int64(0)]),
            Value::Array(vec![Value::from("")]),
            Value::Array(vec![Value::from("a")]),
            Value::Array(vec![Value::Array(vec![])]),
            Value::Array(vec![Value::Array(vec![]), Value::Null]),
            Value::Array(vec![Value::Array(vec![Value::Null])]),
        ]);
        out.extend([
            Value::object::<[(&str, Value); 0], _, _>([]),
            Value::object([("", Value::Null)]),
            Value::object([("", Value::Null), ("a", Value::Null)]),
            Value::object([("", Value::Int64(0))]),
            Value::object([(" ", Value::Null)]),
            Value::object([("a", Value::Null)]),
            Value::object([("a", Value::Null), ("b", Value::Null)]),
            Value::object([("a", Value::Boolean(true))]),
            Value::object([("aa", Value::Null)]),
            Value::object([("b", Value::Null)]),
        ]);
        out
    }

    #[test]
    fn hand_picked_values_encode_in_increasing_order() {
        let samples = ordered_samples();
        let mut keys = vec![enc_missing()];
        keys.extend(samples.iter().map(enc));
        for (i, w) in samples.windows(2).enumerate() {
            assert!(
                w[0] < w[1],
                "samples out of order at {i}: {:?} {:?}",
                w[0],
                w[1]
            );
        }
        for (i, w) in keys.windows(2).enumerate() {
            assert!(
                w[0] < w[1],
                "keys out of order at {i}: {:?} {:?}",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn hand_picked_values_round_trip() {
        for v in ordered_samples() {
            round_trip(&v);
        }
        assert_eq!(decode_key_value(&enc_missing()).unwrap(), (None, &[][..]));
    }

    #[test]
    fn known_encodings() {
        assert_eq!(enc(&Value::Int64(0)), [3, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(enc(&Value::Int64(i64::MIN)), [3, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(enc(&Value::Float64(0.0)), [4, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            enc(&Value::Float64(-0.0)),
            [4, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(enc(&Value::from("a\0")), [6, b'a', 0, 0xff, 0, 1]);
        assert_eq!(
            enc(&Value::object([("k", true)])),
            [9, 1, b'k', 0, 1, 5, 1, 0]
        );
    }

    #[test]
    fn every_nan_encodes_like_the_canonical_nan() {
        let a = enc(&Value::Float64(f64::NAN));
        let b = enc(&Value::Float64(f64::from_bits(0xfff0_0000_0000_0001)));
        assert_eq!(a, b);
    }

    #[test]
    fn decode_returns_the_rest_of_a_compound_key() {
        let mut key = Vec::new();
        encode_key_value(&Value::from("users"), &mut key);
        encode_missing(&mut key);
        encode_key_value(&Value::Int64(5), &mut key);
        let (a, rest) = decode_key_value(&key).unwrap();
        let (b, rest) = decode_key_value(rest).unwrap();
        let (c, rest) = decode_key_value(rest).unwrap();
        assert_eq!(
            (a, b, c, rest),
            (
                Some(Value::from("users")),
                None,
                Some(Value::Int64(5)),
                &[][..]
            )
        );
    }

    #[test]
    fn prefix_successor_bounds_all_keys_with_the_prefix() {
        let mut prefix = Vec::new();
        encode_key_value(&Value::from("a"), &mut prefix);
        let upper = prefix_successor(&prefix);
        for v in ordered_samples() {
            let mut key = prefix.clone();
            encode_key_value(&v, &mut key);
            assert!(prefix < key && key < upper, "{v:?}");
        }
        let mut other = Vec::new();
        encode_key_value(&Value::from("a\0"), &mut other);
        assert!(other > upper);
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x00],
            vec![0xff],
            vec![0x0a],
            vec![3, 0, 0],
            vec![5, 2],
            vec![6, b'a', 0],
            vec![6, b'a', 0, 7],
            vec![6, 0xc3, 0, 1],
            vec![8, 2],
            vec![8, 1, 0],
            vec![9, 1, b'b', 0, 1, 2, 1, b'a', 0, 1, 2, 0],
            vec![9, 1, b'a', 0, 1, 2, 1, b'a', 0, 1, 2, 0],
            vec![9, 7],
            vec![4, 0xff, 0xf8, 0, 0, 0, 0, 0, 1],
        ];
        for bytes in cases {
            assert!(
                matches!(
                    decode_key_value(&bytes),
                    Err(ValueError::InvalidKeyEncoding { .. })
                ),
                "{bytes:?} decoded as {:?}",
                decode_key_value(&bytes)
            );
        }
    }

    #[test]
    fn decode_limits_nesting_depth() {
        let mut ok = vec![TAG_ARRAY; MAX_DEPTH];
        ok.extend(vec![END; MAX_DEPTH]);
        decode_key_value(&ok).unwrap();
        let mut deep = vec![TAG_ARRAY; MAX_DEPTH + 1];
        deep.extend(vec![END; MAX_DEPTH + 1]);
        assert!(decode_key_value(&deep).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn byte_order_matches_value_order(a in arb_value(), b in arb_value()) {
            prop_assert_eq!(enc(&a).cmp(&enc(&b)), a.cmp(&b));
            prop_assert_eq!(enc(&a) == enc(&b), a == b);
        }

        #[test]
        fn compound_keys_sort_like_tuples(
            a1 in arb_value(), a2 in arb_value(), b1 in arb_value(), b2 in arb_value()
        ) {
            let mut ka = enc(&a1);
            encode_key_value(&a2, &mut ka);
            let mut kb = enc(&b1);
            encode_key_value(&b2, &mut kb);
            prop_assert_eq!(ka.cmp(&kb), (&a1, &a2).cmp(&(&b1, &b2)));
        }

        #[test]
        fn decode_inverts_encode(v in arb_value()) {
            let bytes = enc(&v);
            let (back, rest) = decode_key_value(&bytes).unwrap();
            prop_assert!(rest.is_empty());
            prop_assert_eq!(back.as_ref(), Some(&v));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            if let Ok((v, rest)) = decode_key_value(&bytes) {
                // Whatever decodes re-encodes to the bytes it was read from.
                let mut again = Vec::new();
                match &v {
                    Some(v) => encode_key_value(v, &mut again),
                    None => encode_missing(&mut again),
                }
                prop_assert_eq!(&bytes[..bytes.len() - rest.len()], &again[..]);
            }
        }
    }
}
