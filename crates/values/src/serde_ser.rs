//! serde serialization into `Value` (`to_value`) and `Serialize for Value`.

use std::collections::BTreeMap;

use serde::ser::{self, Impossible, Serialize};

use crate::error::ValueError;
use crate::limits::{
    MAX_ARRAY_LEN, MAX_DEPTH, check_array_len, check_field_count, validate_field_name,
};
use crate::path::{ROOT, Segment};
use crate::value::Value;

/// Converts any serializable data into a [`Value`].
///
/// Integers become [`Value::Int64`] (u64/u128/i128 only when they fit), floats
/// [`Value::Float64`], `None`/`()` [`Value::Null`], byte slices (`serialize_bytes`)
/// [`Value::Bytes`], sequences and tuples [`Value::Array`], maps and structs
/// [`Value::Object`]. Enums follow serde's externally tagged form: `"Unit"`,
/// `{"Variant": payload}`. The result obeys the limits in [`crate::limits`] and the
/// field-name rules, so it survives the wire unchanged.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    value.serialize(ValueSerializer { depth: 0 })
}

/// Serializes through serde's data model: int64 via `serialize_i64`, float64 via
/// `serialize_f64`, bytes via `serialize_bytes`. With [`to_value`] this is the identity.
///
/// Serializing a `Value` with serde_json directly loses Convex types (bytes become arrays of
/// numbers, NaN becomes `null`); use [`Value::to_convex_json`] for the wire.
impl Serialize for Value {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Int64(i) => serializer.serialize_i64(*i),
            Value::Float64(f) => serializer.serialize_f64(*f),
            Value::Boolean(b) => serializer.serialize_bool(*b),
            Value::String(s) => serializer.serialize_str(s),
            Value::Bytes(b) => serializer.serialize_bytes(b),
            Value::Array(items) => serializer.collect_seq(items),
            Value::Object(fields) => serializer.collect_map(fields),
        }
    }
}

fn out_of_range(value: impl ToString) -> ValueError {
    ValueError::IntegerOutOfRange {
        path: ROOT.to_owned(),
        value: value.to_string(),
    }
}

/// Serializes one value; `depth` is the number of arrays/objects enclosing it.
#[derive(Clone, Copy)]
struct ValueSerializer {
    depth: usize,
}

impl ValueSerializer {
    /// The depth of the children of a new array/object created at this level.
    fn enter(self) -> Result<usize, ValueError> {
        if self.depth >= MAX_DEPTH {
            Err(ValueError::nesting_too_deep())
        } else {
            Ok(self.depth + 1)
        }
    }

    fn seq(self, len: Option<usize>) -> Result<SeqSerializer, ValueError> {
        let child_depth = self.enter()?;
        if let Some(len) = len {
            check_array_len(len)?;
        }
        Ok(SeqSerializer {
            items: Vec::with_capacity(len.unwrap_or(0)),
            child_depth,
        })
    }

    fn map(self) -> Result<MapSerializer, ValueError> {
        Ok(MapSerializer {
            fields: BTreeMap::new(),
            pending_key: None,
            child_depth: self.enter()?,
        })
    }

    /// For `{variant: ...}` wrappers: checks the name and returns the serializer for the payload.
    fn variant(self, variant: &'static str) -> Result<ValueSerializer, ValueError> {
        validate_field_name(variant)?;
        Ok(ValueSerializer {
            depth: self.enter()?,
        })
    }
}

fn single_field(name: &str, value: Value) -> Value {
    Value::Object(BTreeMap::from([(name.to_owned(), value)]))
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = SeqSerializer;
    type SerializeTuple = SeqSerializer;
    type SerializeTupleStruct = SeqSerializer;
    type SerializeTupleVariant = VariantSerializer<SeqSerializer>;
    type SerializeMap = MapSerializer;
    type SerializeStruct = MapSerializer;
    type SerializeStructVariant = VariantSerializer<MapSerializer>;

    fn serialize_bool(self, v: bool) -> Result<Value, ValueError> {
        Ok(Value::Boolean(v))
    }

    fn serialize_i8(self, v: i8) -> Result<Value, ValueError> {
        Ok(Value::Int64(v.into()))
    }

    fn serialize_i16(self, v: i16) -> Result<Value, ValueError> {
        Ok(Value::Int64(v.into()))
    }

    fn serialize_i32(self, v: i32) -> Result<Value, ValueError> {
        Ok(Value::Int64(v.into()))
    }

    fn serialize_i64(self, v: i64) -> Result<Value, ValueError> {
        Ok(Value::Int64(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Value, ValueError> {
        i64::try_from(v)
            .map(Value::Int64)
            .map_err(|_| out_of_range(v))
    }

    fn serialize_u8(self, v: u8) -> Result<Value, ValueError> {
        Ok(Value::Int64(v.into()))
    }

    fn serialize_u16(self, v: u16) -> Result<Value, ValueError> {
        Ok(Value::Int64(v.into()))
    }

    fn serialize_u32(self, v: u32) -> Result<Value, ValueError> {
        Ok(Value::Int64(v.into()))
    }

    fn serialize_u64(self, v: u64) -> Result<Value, ValueError> {
        i64::try_from(v)
            .map(Value::Int64)
            .map_err(|_| out_of_range(v))
    }

    fn serialize_u128(self, v: u128) -> Result<Value, ValueError> {
        i64::try_from(v)
            .map(Value::Int64)
            .map_err(|_| out_of_range(v))
    }

    fn serialize_f32(self, v: f32) -> Result<Value, ValueError> {
        Ok(Value::Float64(v.into()))
    }

    fn serialize_f64(self, v: f64) -> Result<Value, ValueError> {
        Ok(Value::Float64(v))
    }

    fn serialize_char(self, v: char) -> Result<Value, ValueError> {
        Ok(Value::String(v.to_string()))
    }

    fn serialize_str(self, v: &str) -> Result<Value, ValueError> {
        Ok(Value::String(v.to_owned()))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ValueError> {
        Ok(Value::Bytes(v.to_vec()))
    }

    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ValueError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
    ) -> Result<Value, ValueError> {
        Ok(Value::String(variant.to_owned()))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        let inner = value
            .serialize(self.variant(variant)?)
            .map_err(|e| e.under(Segment::Field(variant)))?;
        Ok(single_field(variant, inner))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSerializer, ValueError> {
        self.seq(len)
    }

    fn serialize_tuple(self, len: usize) -> Result<SeqSerializer, ValueError> {
        self.seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqSerializer, ValueError> {
        self.seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSerializer<SeqSerializer>, ValueError> {
        let inner = self
            .variant(variant)?
            .seq(Some(len))
            .map_err(|e| e.under(Segment::Field(variant)))?;
        Ok(VariantSerializer { variant, inner })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<MapSerializer, ValueError> {
        self.map()
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<MapSerializer, ValueError> {
        self.map()
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantSerializer<MapSerializer>, ValueError> {
        let inner = self
            .variant(variant)?
            .map()
            .map_err(|e| e.under(Segment::Field(variant)))?;
        Ok(VariantSerializer { variant, inner })
    }
}

/// Builds a [`Value::Array`].
pub(crate) struct SeqSerializer {
    items: Vec<Value>,
    child_depth: usize,
}

impl SeqSerializer {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let index = self.items.len();
        if index >= MAX_ARRAY_LEN {
            return Err(ValueError::ArrayTooLong {
                path: ROOT.to_owned(),
                len: index + 1,
                max: MAX_ARRAY_LEN,
            });
        }
        let item = value
            .serialize(ValueSerializer {
                depth: self.child_depth,
            })
            .map_err(|e| e.under(Segment::Index(index)))?;
        self.items.push(item);
        Ok(())
    }
}

impl ser::SerializeSeq for SeqSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Array(self.items))
    }
}

impl ser::SerializeTuple for SeqSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Array(self.items))
    }
}

impl ser::SerializeTupleStruct for SeqSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Array(self.items))
    }
}

/// Builds a [`Value::Object`].
pub(crate) struct MapSerializer {
    fields: BTreeMap<String, Value>,
    pending_key: Option<String>,
    child_depth: usize,
}

impl MapSerializer {
    fn insert<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<(), ValueError> {
        validate_field_name(&key)?;
        let item = value
            .serialize(ValueSerializer {
                depth: self.child_depth,
            })
            .map_err(|e| e.under(Segment::Field(&key)))?;
        self.fields.insert(key, item);
        check_field_count(self.fields.len())
    }
}

impl ser::SerializeMap for MapSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        self.pending_key = Some(key.serialize(MapKeySerializer)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self.pending_key.take().ok_or_else(|| {
            ValueError::custom_message("serialize_value was called before serialize_key")
        })?;
        self.insert(key, value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Object(self.fields))
    }
}

impl ser::SerializeStruct for MapSerializer {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.insert(key.to_owned(), value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(Value::Object(self.fields))
    }
}

/// Builds `{variant: payload}` where the payload is built by `S`.
pub(crate) struct VariantSerializer<S> {
    variant: &'static str,
    inner: S,
}

impl ser::SerializeTupleVariant for VariantSerializer<SeqSerializer> {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.inner
            .push(value)
            .map_err(|e| e.under(Segment::Field(self.variant)))
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(single_field(self.variant, Value::Array(self.inner.items)))
    }
}

impl ser::SerializeStructVariant for VariantSerializer<MapSerializer> {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.inner
            .insert(key.to_owned(), value)
            .map_err(|e| e.under(Segment::Field(self.variant)))
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(single_field(self.variant, Value::Object(self.inner.fields)))
    }
}

/// Serializes map keys, which must be strings (or chars, or unit enum variants).
struct MapKeySerializer;

fn bad_key(found: &str) -> ValueError {
    ValueError::InvalidMapKey {
        path: ROOT.to_owned(),
        found: found.to_owned(),
    }
}

macro_rules! reject_key {
    ($($method:ident($ty:ty) => $found:literal;)*) => {
        $(
            fn $method(self, _v: $ty) -> Result<String, ValueError> {
                Err(bad_key($found))
            }
        )*
    };
}

impl ser::Serializer for MapKeySerializer {
    type Ok = String;
    type Error = ValueError;
    type SerializeSeq = Impossible<String, ValueError>;
    type SerializeTuple = Impossible<String, ValueError>;
    type SerializeTupleStruct = Impossible<String, ValueError>;
    type SerializeTupleVariant = Impossible<String, ValueError>;
    type SerializeMap = Impossible<String, ValueError>;
    type SerializeStruct = Impossible<String, ValueError>;
    type SerializeStructVariant = Impossible<String, ValueError>;

    reject_key! {
        serialize_bool(bool) => "a boolean";
        serialize_i8(i8) => "an integer";
        serialize_i16(i16) => "an integer";
        serialize_i32(i32) => "an integer";
        serialize_i64(i64) => "an integer";
        serialize_i128(i128) => "an integer";
        serialize_u8(u8) => "an integer";
        serialize_u16(u16) => "an integer";
        serialize_u32(u32) => "an integer";
        serialize_u64(u64) => "an integer";
        serialize_u128(u128) => "an integer";
        serialize_f32(f32) => "a float";
        serialize_f64(f64) => "a float";
        serialize_bytes(&[u8]) => "bytes";
    }

    fn serialize_char(self, v: char) -> Result<String, ValueError> {
        Ok(v.to_string())
    }

    fn serialize_str(self, v: &str) -> Result<String, ValueError> {
        Ok(v.to_owned())
    }

    fn serialize_none(self) -> Result<String, ValueError> {
        Err(bad_key("null"))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, ValueError> {
        Err(bad_key("an option"))
    }

    fn serialize_unit(self) -> Result<String, ValueError> {
        Err(bad_key("null"))
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, ValueError> {
        Err(bad_key("a unit struct"))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        variant: &'static str,
    ) -> Result<String, ValueError> {
        Ok(variant.to_owned())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, ValueError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, ValueError> {
        Err(bad_key("an enum variant with data"))
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, ValueError> {
        Err(bad_key("an array"))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, ValueError> {
        Err(bad_key("a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, ValueError> {
        Err(bad_key("a tuple struct"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, ValueError> {
        Err(bad_key("an enum variant with data"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, ValueError> {
        Err(bad_key("a map"))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, ValueError> {
        Err(bad_key("a struct"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _variant_index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, ValueError> {
        Err(bad_key("an enum variant with data"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::HashMap;

    #[derive(Serialize)]
    struct Task {
        id: u32,
        title: String,
        done: bool,
        score: f64,
        tags: Vec<String>,
        note: Option<String>,
        #[serde(with = "bytes_field")]
        blob: Vec<u8>,
    }

    mod bytes_field {
        pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(b)
        }
    }

    #[derive(Serialize)]
    enum Shape {
        Empty,
        Circle(f64),
        Point(i64, i64),
        Rect { w: i64, h: i64 },
    }

    #[derive(Serialize)]
    struct Meters(i32);

    #[test]
    fn structs_become_objects() {
        let t = Task {
            id: 7,
            title: "write".into(),
            done: false,
            score: 0.5,
            tags: vec!["a".into()],
            note: None,
            blob: vec![1, 2],
        };
        assert_eq!(
            to_value(&t).unwrap(),
            Value::object([
                ("id", Value::Int64(7)),
                ("title", Value::from("write")),
                ("done", Value::Boolean(false)),
                ("score", Value::Float64(0.5)),
                ("tags", Value::Array(vec![Value::from("a")])),
                ("note", Value::Null),
                ("blob", Value::Bytes(vec![1, 2])),
            ])
        );
    }

    #[test]
    fn integers_become_int64_and_floats_float64() {
        assert_eq!(to_value(&5u8).unwrap(), Value::Int64(5));
        assert_eq!(to_value(&-5i16).unwrap(), Value::Int64(-5));
        assert_eq!(to_value(&u32::MAX).unwrap(), Value::Int64(4_294_967_295));
        assert_eq!(
            to_value(&(i64::MAX as u64)).unwrap(),
            Value::Int64(i64::MAX)
        );
        assert_eq!(
            to_value(&(i64::MIN as i128)).unwrap(),
            Value::Int64(i64::MIN)
        );
        assert_eq!(to_value(&1.5f32).unwrap(), Value::Float64(1.5));
        assert_eq!(to_value(&'x').unwrap(), Value::from("x"));
        assert_eq!(to_value(&()).unwrap(), Value::Null);
    }

    #[test]
    fn integers_outside_int64_are_rejected() {
        assert!(matches!(
            to_value(&u64::MAX),
            Err(ValueError::IntegerOutOfRange { .. })
        ));
        assert!(matches!(
            to_value(&(i128::from(i64::MIN) - 1)),
            Err(ValueError::IntegerOutOfRange { .. })
        ));
        let err = to_value(&vec![0u128, u128::MAX]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("at [1]: integer {} does not fit in int64", u128::MAX)
        );
    }

    #[test]
    fn enums_use_external_tagging() {
        assert_eq!(to_value(&Shape::Empty).unwrap(), Value::from("Empty"));
        assert_eq!(
            to_value(&Shape::Circle(1.0)).unwrap(),
            Value::object([("Circle", 1.0)])
        );
        assert_eq!(
            to_value(&Shape::Point(1, 2)).unwrap(),
            Value::object([(
                "Point",
                Value::Array(vec![Value::Int64(1), Value::Int64(2)])
            )])
        );
        assert_eq!(
            to_value(&Shape::Rect { w: 3, h: 4 }).unwrap(),
            Value::object([("Rect", Value::object([("w", 3i64), ("h", 4i64)]))])
        );
    }

    #[test]
    fn newtypes_and_options_are_transparent() {
        assert_eq!(to_value(&Meters(3)).unwrap(), Value::Int64(3));
        assert_eq!(to_value(&Some(2.0)).unwrap(), Value::Float64(2.0));
        assert_eq!(to_value(&None::<i64>).unwrap(), Value::Null);
        assert_eq!(
            to_value(&(1i64, "a")).unwrap(),
            Value::Array(vec![Value::Int64(1), Value::from("a")])
        );
    }

    #[test]
    fn plain_vec_u8_is_an_array_of_int64() {
        assert_eq!(
            to_value(&vec![1u8, 2]).unwrap(),
            Value::Array(vec![Value::Int64(1), Value::Int64(2)])
        );
    }

    #[test]
    fn map_keys_must_be_strings() {
        let m = HashMap::from([(1i64, 2i64)]);
        assert!(matches!(
            to_value(&m),
            Err(ValueError::InvalidMapKey { .. })
        ));
        let ok = BTreeMap::from([("k", 1i64)]);
        assert_eq!(to_value(&ok).unwrap(), Value::object([("k", 1i64)]));
    }

    #[test]
    fn dollar_keys_are_rejected_with_their_path() {
        let inner = BTreeMap::from([("$bad", 1i64)]);
        let outer = BTreeMap::from([("args", vec![inner])]);
        let err = to_value(&outer).unwrap_err();
        assert!(matches!(err, ValueError::InvalidFieldName { .. }));
        assert_eq!(
            err.to_string(),
            "at .args[0]: field name \"$bad\" must not start with '$'"
        );
    }

    #[test]
    fn serialization_enforces_depth_and_size_limits() {
        let mut deep = Value::Null;
        for _ in 0..MAX_DEPTH {
            deep = Value::Array(vec![deep]);
        }
        to_value(&deep).unwrap();
        let too_deep = Value::Array(vec![deep]);
        assert!(matches!(
            to_value(&too_deep),
            Err(ValueError::NestingTooDeep { .. })
        ));
        assert!(matches!(
            to_value(&vec![0i64; MAX_ARRAY_LEN + 1]),
            Err(ValueError::ArrayTooLong { .. })
        ));
        // A sequence of unknown length is checked element by element.
        struct Unsized;
        impl Serialize for Unsized {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq((0..=MAX_ARRAY_LEN as i64).filter(|_| true))
            }
        }
        assert!(matches!(
            to_value(&Unsized),
            Err(ValueError::ArrayTooLong { .. })
        ));
    }
}
