//! `#[derive(Type)]` against serde: for each shape, the derived validator accepts exactly what
//! the serde bridge writes, and refuses what it would not read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Doc, Id, Type, Validator, Value, v};
use ferrovex_values::{from_value, to_value};

/// The validator accepts the value serde writes for `x`, and that value reads back.
fn round_trips<T>(x: &T)
where
    T: Type + Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let value = to_value(x).unwrap();
    assert_eq!(T::validator().check(&value), Ok(()), "{value}");
    assert_eq!(&from_value::<T>(value).unwrap(), x);
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
struct Profile {
    display_name: String,
    #[serde(rename = "years")]
    age: u32,
    nick_name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    extra: Vec<i64>,
    #[serde(skip)]
    cache: u8,
    scores: BTreeMap<String, f64>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Type)]
enum Plain {
    Red,
    #[serde(rename = "verde")]
    Green,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Event {
    SignedIn { user: String },
    SignedOut,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Type)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    Num(f64),
    Pair { a: bool },
    Nothing,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Type)]
enum External {
    Text(String),
    Point { x: f64, y: f64 },
    Empty,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Type)]
#[serde(untagged)]
enum Loose {
    Flag(bool),
    Named { name: String },
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Type)]
#[serde(transparent)]
struct Maybe {
    inner: Option<i64>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Type)]
struct Holder {
    maybe: Maybe,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
#[ferrovex(table = "notes")]
struct Note {
    text: String,
}

#[test]
fn structs_follow_serde_renames_defaults_and_skips() {
    let profile = Profile {
        display_name: "Ada".into(),
        age: 36,
        nick_name: None,
        tags: vec!["x".into()],
        extra: vec![],
        cache: 0,
        scores: BTreeMap::from([("a".to_owned(), 1.5)]),
    };
    round_trips(&profile);
    let Validator::Object(fields) = Profile::validator() else {
        panic!("a struct is an object")
    };
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "displayName",
            "extra",
            "nickName",
            "scores",
            "tags",
            "years"
        ]
    );
    assert_eq!(fields["years"], v::int64());
    assert_eq!(fields["tags"], v::optional(v::array(v::string())));
    assert_eq!(fields["extra"], v::optional(v::array(v::int64())));
    assert_eq!(
        fields["nickName"],
        v::optional(v::union([v::string(), v::null()]))
    );
    // What serde reads without the optional fields, the validator accepts too.
    let minimal = Value::object([
        ("displayName", Value::from("B")),
        ("years", Value::Int64(1)),
        (
            "scores",
            Value::object::<[(&str, Value); 0], &str, Value>([]),
        ),
    ]);
    assert_eq!(Profile::validator().check(&minimal), Ok(()));
    assert!(from_value::<Profile>(minimal).is_ok());
    // A float where serde wants an integer is refused by both.
    let float_age = Value::object([
        ("displayName", Value::from("B")),
        ("years", Value::Float64(1.0)),
        (
            "scores",
            Value::object::<[(&str, Value); 0], &str, Value>([]),
        ),
    ]);
    assert!(Profile::validator().check(&float_age).is_err());
}

#[test]
fn enums_follow_each_serde_tagging() {
    round_trips(&Plain::Red);
    round_trips(&Plain::Green);
    assert!(Plain::validator().check(&Value::from("Green")).is_err());
    round_trips(&Event::SignedIn { user: "u".into() });
    round_trips(&Event::SignedOut);
    round_trips(&Adjacent::Num(2.0));
    round_trips(&Adjacent::Pair { a: true });
    round_trips(&Adjacent::Nothing);
    round_trips(&External::Text("t".into()));
    round_trips(&External::Point { x: 1.0, y: 2.0 });
    round_trips(&External::Empty);
    round_trips(&Loose::Flag(true));
    round_trips(&Loose::Named { name: "n".into() });
    let wrong_tag = Value::object([("kind", Value::from("signed_up"))]);
    assert!(Event::validator().check(&wrong_tag).is_err());
}

#[test]
fn transparent_options_may_be_missing_like_the_option() {
    round_trips(&Holder {
        maybe: Maybe { inner: Some(3) },
    });
    let empty = Value::object::<[(&str, Value); 0], &str, Value>([]);
    assert_eq!(Holder::validator().check(&empty), Ok(()));
    assert_eq!(
        from_value::<Holder>(empty).unwrap(),
        Holder {
            maybe: Maybe { inner: None }
        }
    );
}

#[test]
fn tables_give_typed_ids_and_documents() {
    assert_eq!(Id::<Note>::validator(), v::id("notes"));
    let Validator::Object(fields) = Doc::<Note>::validator() else {
        panic!("a document is an object")
    };
    assert_eq!(fields["_id"], v::id("notes"));
    assert_eq!(fields["_creationTime"], v::float64());
    assert_eq!(fields["text"], v::string());
}
