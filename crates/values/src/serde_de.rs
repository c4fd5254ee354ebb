//! serde deserialization out of `Value` (`from_value`, `Deserializer for Value`) and
//! `Deserialize for Value`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::value::{SeqDeserializer as BytesSeq, StrDeserializer, StringDeserializer};
use serde::de::{
    self, Deserialize, DeserializeOwned, DeserializeSeed, Error as _, IntoDeserializer, Unexpected,
    Visitor,
};

use crate::error::ValueError;
use crate::limits::validate_field_name;
use crate::path::Segment;
use crate::value::Value;

/// Converts a [`Value`] into any deserializable type.
///
/// Numbers are strict, like Convex's `v.int64()` / `v.float64()` validators: integer targets
/// accept only [`Value::Int64`] (range-checked) and float targets only [`Value::Float64`].
/// `Option<T>` accepts `Null` as `None`, and absent `Option` struct fields become `None`.
/// `Vec<u8>` accepts both [`Value::Bytes`] and an array of small integers. Enums accept
/// `"Variant"` or `{"Variant": payload}`. Errors name the expected and the actual type and the
/// path, e.g. `at .items[2].count: invalid type: float64 1.5, expected i64`.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(value)
}

/// Rebuilds a [`Value`] from serde's data model: `visit_i64` → int64, `visit_f64` → float64,
/// bytes → bytes, unit/none → null. With [`from_value`] this is the identity.
///
/// Deserializing from serde_json text directly (`serde_json::from_str::<Value>`) turns JSON
/// integers into int64 and does not understand `$integer`/`$float`/`$bytes`; wire input must be
/// decoded with [`Value::from_convex_json`] or [`crate::parse_convex_json_str`].
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Convex value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int64(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int64)
            .map_err(|_| E::custom(format_args!("integer {v} does not fit in int64")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int64)
            .map_err(|_| E::custom(format_args!("integer {v} does not fit in int64")))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int64)
            .map_err(|_| E::custom(format_args!("integer {v} does not fit in int64")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            validate_field_name(&name).map_err(A::Error::custom)?;
            let value = map.next_value()?;
            fields.insert(name, value);
        }
        Ok(Value::Object(fields))
    }
}

/// A description of a value for type-mismatch messages, e.g. "float64 1.5".
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Int64(i) => format!("int64 {i}"),
        Value::Float64(f) => format!("float64 {f:?}"),
        Value::Boolean(b) => format!("boolean {b}"),
        Value::String(s) if s.chars().count() <= 40 => format!("string {s:?}"),
        Value::String(_) => "string".to_owned(),
        Value::Bytes(b) => format!("bytes of length {}", b.len()),
        Value::Array(a) => format!("array of length {}", a.len()),
        Value::Object(_) => "object".to_owned(),
    }
}

fn mismatch(v: &Value, expected: &dyn de::Expected) -> ValueError {
    ValueError::invalid_type(Unexpected::Other(&describe(v)), expected)
}

fn visit_array<'de, V: Visitor<'de>>(
    items: Vec<Value>,
    visitor: V,
) -> Result<V::Value, ValueError> {
    let len = items.len();
    let mut seq = SeqAccess {
        iter: items.into_iter(),
        index: 0,
    };
    let out = visitor.visit_seq(&mut seq)?;
    if seq.iter.len() == 0 {
        Ok(out)
    } else {
        Err(ValueError::invalid_length(
            len,
            &format!("{} elements", seq.index).as_str(),
        ))
    }
}

fn visit_object<'de, V: Visitor<'de>>(
    fields: BTreeMap<String, Value>,
    visitor: V,
) -> Result<V::Value, ValueError> {
    let len = fields.len();
    let mut map = MapAccess {
        iter: fields.into_iter(),
        pending: None,
    };
    let out = visitor.visit_map(&mut map)?;
    if map.iter.len() == 0 {
        Ok(out)
    } else {
        Err(ValueError::invalid_length(len, &"fewer fields"))
    }
}

/// `deserialize_i8` … `deserialize_u128`: only int64 is accepted; the visitor range-checks.
macro_rules! deserialize_integer {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
                match self {
                    Value::Int64(i) => visitor.visit_i64(i),
                    other => Err(mismatch(&other, &visitor)),
                }
            }
        )*
    };
}

macro_rules! deserialize_float {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
                match self {
                    Value::Float64(f) => visitor.visit_f64(f),
                    other => Err(mismatch(&other, &visitor)),
                }
            }
        )*
    };
}

macro_rules! deserialize_string {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
                match self {
                    Value::String(s) => visitor.visit_string(s),
                    other => Err(mismatch(&other, &visitor)),
                }
            }
        )*
    };
}

macro_rules! deserialize_bytes {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
                match self {
                    Value::Bytes(b) => visitor.visit_byte_buf(b),
                    Value::Array(items) => visit_array(items, visitor),
                    other => Err(mismatch(&other, &visitor)),
                }
            }
        )*
    };
}

/// A [`Value`] is a self-describing serde deserializer, used by [`from_value`].
impl<'de> de::Deserializer<'de> for Value {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            Value::Int64(i) => visitor.visit_i64(i),
            Value::Float64(f) => visitor.visit_f64(f),
            Value::Boolean(b) => visitor.visit_bool(b),
            Value::String(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::Array(items) => visit_array(items, visitor),
            Value::Object(fields) => visit_object(fields, visitor),
        }
    }

    deserialize_integer! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    deserialize_float! { deserialize_f32 deserialize_f64 }

    deserialize_string! { deserialize_char deserialize_str deserialize_string deserialize_identifier }

    deserialize_bytes! { deserialize_bytes deserialize_byte_buf }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Boolean(b) => visitor.visit_bool(b),
            other => Err(mismatch(&other, &visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            other => Err(mismatch(&other, &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Array(items) => visit_array(items, visitor),
            Value::Bytes(bytes) => {
                let mut seq = BytesSeq::<_, ValueError>::new(bytes.into_iter());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            other => Err(mismatch(&other, &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Object(fields) => visit_object(fields, visitor),
            other => Err(mismatch(&other, &visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::String(variant) => {
                let unit_only: StringDeserializer<ValueError> = variant.into_deserializer();
                visitor.visit_enum(unit_only)
            }
            Value::Object(fields) if fields.len() == 1 => {
                let Some((variant, payload)) = fields.into_iter().next() else {
                    return Err(ValueError::custom_message("empty enum object"));
                };
                visitor.visit_enum(EnumAccess { variant, payload })
            }
            other => Err(mismatch(
                &other,
                &"a string or an object with exactly one field (an enum)",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }
}

impl IntoDeserializer<'_, ValueError> for Value {
    type Deserializer = Value;

    fn into_deserializer(self) -> Value {
        self
    }
}

/// Hands out array elements, adding their index to error paths.
struct SeqAccess {
    iter: std::vec::IntoIter<Value>,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        let Some(item) = self.iter.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(item)
            .map(Some)
            .map_err(|e| e.under(Segment::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// Hands out object fields, adding their names to error paths.
struct MapAccess {
    iter: std::collections::btree_map::IntoIter<String, Value>,
    pending: Option<(String, Value)>,
}

impl<'de> de::MapAccess<'de> for MapAccess {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        let Some((name, value)) = self.iter.next() else {
            return Ok(None);
        };
        let key_de: StrDeserializer<'_, ValueError> = name.as_str().into_deserializer();
        let key = seed.deserialize(key_de)?;
        self.pending = Some((name, value));
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ValueError> {
        let (name, value) = self.pending.take().ok_or_else(|| {
            ValueError::custom_message("a map value was requested before its key")
        })?;
        seed.deserialize(value)
            .map_err(|e| e.under(Segment::Field(&name)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// `{variant: payload}`.
struct EnumAccess {
    variant: String,
    payload: Value,
}

impl<'de> de::EnumAccess<'de> for EnumAccess {
    type Error = ValueError;
    type Variant = VariantAccess;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantAccess), ValueError> {
        let name_de: StrDeserializer<'_, ValueError> = self.variant.as_str().into_deserializer();
        let tag = seed.deserialize(name_de)?;
        Ok((
            tag,
            VariantAccess {
                variant: self.variant,
                payload: self.payload,
            },
        ))
    }
}

struct VariantAccess {
    variant: String,
    payload: Value,
}

impl<'de> de::VariantAccess<'de> for VariantAccess {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.payload {
            Value::Null => Ok(()),
            other => {
                Err(mismatch(&other, &"null (unit variant)").under(Segment::Field(&self.variant)))
            }
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        seed.deserialize(self.payload)
            .map_err(|e| e.under(Segment::Field(&self.variant)))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        de::Deserializer::deserialize_tuple(self.payload, len, visitor)
            .map_err(|e| e.under(Segment::Field(&self.variant)))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        de::Deserializer::deserialize_struct(self.payload, "", fields, visitor)
            .map_err(|e| e.under(Segment::Field(&self.variant)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde_ser::to_value;
    use crate::test_support::arb_value;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Message {
        author: String,
        body: Option<String>,
        likes: i64,
        score: f64,
        tags: Vec<String>,
        matrix: Vec<Vec<i32>>,
        reply_to: Option<Box<Message>>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Event {
        Ping,
        Text(String),
        Move(i64, i64),
        Resize { w: u32, h: u32 },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wrapper(i64);

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        a: i64,
    }

    fn sample_message() -> Message {
        Message {
            author: "ada".into(),
            body: None,
            likes: -3,
            score: 0.25,
            tags: vec!["x".into(), "y".into()],
            matrix: vec![vec![1, 2], vec![], vec![3]],
            reply_to: Some(Box::new(Message {
                author: "bob".into(),
                body: Some("hi".into()),
                likes: i64::MAX,
                score: f64::INFINITY,
                tags: vec![],
                matrix: vec![],
                reply_to: None,
            })),
        }
    }

    #[test]
    fn typed_structs_round_trip() {
        let m = sample_message();
        let v = to_value(&m).unwrap();
        assert_eq!(from_value::<Message>(v).unwrap(), m);
    }

    #[test]
    fn absent_option_fields_become_none() {
        let v = Value::object([
            ("author", Value::from("ada")),
            ("likes", Value::Int64(1)),
            ("score", Value::Float64(1.0)),
            ("tags", Value::Array(vec![])),
            ("matrix", Value::Array(vec![])),
        ]);
        let m: Message = from_value(v).unwrap();
        assert_eq!(m.body, None);
        assert!(m.reply_to.is_none());
    }

    #[test]
    fn missing_required_fields_are_reported() {
        let err = from_value::<Message>(Value::object([("author", "ada")])).unwrap_err();
        assert!(matches!(err, ValueError::Serde { .. }));
        assert!(err.to_string().contains("missing field"), "{err}");
    }

    #[test]
    fn int64_target_rejects_float64() {
        let err = from_value::<i64>(Value::Float64(1.0)).unwrap_err();
        assert!(matches!(err, ValueError::Serde { .. }));
        assert_eq!(
            err.to_string(),
            "at .: invalid type: float64 1.0, expected i64"
        );
        assert!(from_value::<u8>(Value::Float64(1.0)).is_err());
    }

    #[test]
    fn float_target_rejects_int64() {
        let err = from_value::<f64>(Value::Int64(1)).unwrap_err();
        assert_eq!(err.to_string(), "at .: invalid type: int64 1, expected f64");
        assert!(from_value::<f32>(Value::Int64(1)).is_err());
    }

    #[test]
    fn narrow_integer_targets_are_range_checked() {
        assert_eq!(from_value::<u8>(Value::Int64(255)).unwrap(), 255);
        let err = from_value::<u8>(Value::Int64(256)).unwrap_err();
        assert!(err.to_string().contains("256"), "{err}");
        assert!(from_value::<u64>(Value::Int64(-1)).is_err());
        assert_eq!(from_value::<i128>(Value::Int64(-5)).unwrap(), -5);
    }

    #[test]
    fn type_mismatches_carry_the_path() {
        let mut v = to_value(&sample_message()).unwrap();
        if let Value::Object(fields) = &mut v {
            fields.insert(
                "matrix".into(),
                Value::Array(vec![Value::Array(vec![Value::from("no")])]),
            );
        }
        let err = from_value::<Message>(v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at .matrix[0][0]: invalid type: string \"no\", expected i32"
        );
    }

    #[test]
    fn enums_round_trip_in_every_shape() {
        for e in [
            Event::Ping,
            Event::Text("hello".into()),
            Event::Move(-1, 2),
            Event::Resize { w: 3, h: 4 },
        ] {
            let v = to_value(&e).unwrap();
            assert_eq!(from_value::<Event>(v).unwrap(), e);
        }
    }

    #[test]
    fn enum_errors_name_the_variant_path() {
        let v = Value::object([("Resize", Value::object([("w", 1.5), ("h", 2.0)]))]);
        let err = from_value::<Event>(v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at .Resize.h: invalid type: float64 2.0, expected u32"
        );
        assert!(from_value::<Event>(Value::from("Nope")).is_err());
        assert!(from_value::<Event>(Value::Int64(0)).is_err());
        assert!(from_value::<Event>(Value::from("Text")).is_err());
    }

    #[test]
    fn vec_u8_accepts_bytes_and_arrays() {
        let from_bytes: Vec<u8> = from_value(Value::Bytes(vec![0, 1, 255])).unwrap();
        assert_eq!(from_bytes, vec![0, 1, 255]);
        let from_array: Vec<u8> =
            from_value(Value::Array(vec![Value::Int64(7), Value::Int64(8)])).unwrap();
        assert_eq!(from_array, vec![7, 8]);
        assert!(from_value::<Vec<u8>>(Value::Array(vec![Value::Int64(300)])).is_err());
    }

    #[test]
    fn newtype_structs_and_options_unwrap() {
        assert_eq!(from_value::<Wrapper>(Value::Int64(4)).unwrap(), Wrapper(4));
        assert_eq!(from_value::<Option<i64>>(Value::Null).unwrap(), None);
        assert_eq!(from_value::<Option<i64>>(Value::Int64(2)).unwrap(), Some(2));
        assert_eq!(from_value::<()>(Value::Null).unwrap(), ());
        assert!(from_value::<()>(Value::Boolean(true)).is_err());
    }

    #[test]
    fn tuples_reject_extra_elements() {
        let v = Value::Array(vec![Value::Int64(1), Value::Int64(2), Value::Int64(3)]);
        assert!(from_value::<(i64, i64)>(v.clone()).is_err());
        assert_eq!(from_value::<(i64, i64, i64)>(v).unwrap(), (1, 2, 3));
    }

    #[test]
    fn unknown_fields_are_reported_when_denied() {
        let v = Value::object([("a", Value::Int64(1)), ("b", Value::Null)]);
        assert!(
            from_value::<Strict>(v)
                .unwrap_err()
                .to_string()
                .contains("unknown field")
        );
    }

    #[test]
    fn maps_deserialize_from_objects() {
        let v = Value::object([("x", 1i64), ("y", 2i64)]);
        let m: BTreeMap<String, i64> = from_value(v).unwrap();
        assert_eq!(m, BTreeMap::from([("x".into(), 1), ("y".into(), 2)]));
    }

    #[test]
    fn value_deserialized_from_serde_json_text_keeps_integers() {
        let v: Value = serde_json::from_str(r#"{"a":[1,1.5,"s",null,true]}"#).unwrap();
        assert_eq!(
            v,
            Value::object([(
                "a",
                Value::Array(vec![
                    Value::Int64(1),
                    Value::Float64(1.5),
                    Value::from("s"),
                    Value::Null,
                    Value::Boolean(true),
                ])
            )])
        );
        assert!(serde_json::from_str::<Value>(r#"{"$x":1}"#).is_err());
        assert!(serde_json::from_str::<Value>("18446744073709551615").is_err());
    }

    #[test]
    fn special_floats_survive_the_serde_bridge_bit_for_bit() {
        for f in [-0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let Value::Float64(g) = from_value::<Value>(Value::Float64(f)).unwrap() else {
                panic!("not a float");
            };
            assert_eq!(f.to_bits(), g.to_bits());
            let Value::Float64(h) = to_value(&Value::Float64(f)).unwrap() else {
                panic!("not a float");
            };
            assert_eq!(f.to_bits(), h.to_bits());
        }
    }

    proptest! {
        #[test]
        fn value_is_identity_through_serde(v in arb_value()) {
            prop_assert_eq!(&to_value(&v).unwrap(), &v);
            prop_assert_eq!(&from_value::<Value>(v.clone()).unwrap(), &v);
        }
    }
}
