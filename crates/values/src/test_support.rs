//! Test-only helpers: a proptest strategy for random, valid Convex values rich in edge cases.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::value::Value;

fn arb_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::from_bits(0xfff8_0000_0000_0001)),
        Just(f64::from_bits(0x7ff0_0000_0000_0001)),
        Just(0.0),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE),
        Just(-f64::MIN_POSITIVE),
        Just(f64::from_bits(1)),
        Just(f64::MAX),
        Just(f64::MIN),
        (-3i32..3).prop_map(f64::from),
    ]
}

fn arb_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0),
        Just(-1),
        -3i64..3,
    ]
}

/// Short strings over a tiny alphabet (including NUL and a non-ASCII char), so that equal
/// strings, prefixes and NULs are common.
fn arb_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just('\0'), Just('a'), Just('b'), Just('é')],
        0..4,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(0u8), Just(1), Just(0xff), Just(b'a')],
        0..4,
    )
}

/// Field names over a tiny alphabet, including the empty name.
fn arb_field_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just(' '), Just('a'), Just('b'), Just('~')],
        0..3,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

/// Random valid Convex values, a few levels deep.
pub(crate) fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        arb_i64().prop_map(Value::Int64),
        arb_f64().prop_map(Value::Float64),
        any::<bool>().prop_map(Value::Boolean),
        arb_string().prop_map(Value::String),
        arb_bytes().prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(arb_field_name(), inner, 0..4)
                .prop_map(|m: BTreeMap<String, Value>| Value::Object(m)),
        ]
    })
}
