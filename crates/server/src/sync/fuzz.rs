//! Property tests of the sync socket's frame parsing: any text frame is a message or a
//! `MalformedMessage` reason, never a panic; mutation frames keep their fields; arguments
//! decode or are refused.

use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::frames::{decode_args, decode_path, parse_frame};

fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u32>().prop_map(Json::from),
        any::<f64>().prop_map(Json::from),
        ".{0,16}".prop_map(Json::String),
        Just(json!("AAAAAAAAAAA=")),
        Just(json!({"$integer": "AQAAAAAAAAA="})),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::btree_map(".{0,10}", inner, 0..5)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

const TYPES: [&str; 8] = [
    "Connect",
    "ModifyQuerySet",
    "Mutation",
    "Action",
    "Authenticate",
    "Event",
    "Nope",
    "",
];
const FIELDS: [&str; 12] = [
    "sessionId",
    "connectionCount",
    "lastCloseReason",
    "baseVersion",
    "newVersion",
    "modifications",
    "requestId",
    "udfPath",
    "args",
    "tokenType",
    "value",
    "maxObservedTimestamp",
];

/// A frame shaped like a protocol message: a known (or unknown) type, known field names, any
/// values.
fn arb_frame() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&TYPES[..]),
        prop::collection::vec((prop::sample::select(&FIELDS[..]), arb_json()), 0..8),
    )
        .prop_map(|(kind, fields)| {
            let mut map = serde_json::Map::new();
            map.insert("type".to_owned(), json!(kind));
            for (k, v) in fields {
                map.insert(k.to_owned(), v);
            }
            Json::Object(map).to_string()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_frame_parses_or_is_malformed(text in ".{0,400}", frame in arb_frame()) {
        if let Err(reason) = parse_frame(&text) {
            prop_assert!(reason.starts_with("MalformedMessage"));
        }
        if let Err(reason) = parse_frame(&frame) {
            prop_assert!(reason.starts_with("MalformedMessage"));
        }
    }

    #[test]
    fn arguments_and_paths_decode_or_are_refused(args in arb_json(), raw in ".{0,200}") {
        let _ = decode_args(&args.to_string());
        let _ = decode_args(&raw);
        let _ = decode_path(&raw);
    }

    #[test]
    fn mutation_frames_keep_their_request_id_and_path(
        request_id in any::<u32>(),
        path in "[a-z]{1,8}:[a-z][a-z0-9_]{0,8}",
        n in any::<i64>(),
    ) {
        let frame = json!({"type": "Mutation", "requestId": request_id, "udfPath": path, "args": [{"n": n}]});
        match parse_frame(&frame.to_string()) {
            Ok(convex_sync_types::ClientMessage::Mutation { request_id: got, udf_path, args, .. }) => {
                prop_assert_eq!(got, request_id);
                prop_assert_eq!(udf_path.to_string(), path);
                let value = decode_args(args.get());
                prop_assert!(value.is_ok(), "{:?}", value);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
