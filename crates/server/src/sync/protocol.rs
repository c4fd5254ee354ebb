//! Server → client messages of the Convex sync protocol, written by hand so that optional
//! fields are omitted rather than `null` (the official JS client misreads a `null`
//! `clientClockSkew`), and the encoding of u64 timestamps (8 little-endian bytes, padded
//! standard base64).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ferrovex_engine::{FunctionFailure, Outcome};
use serde_json::{Value as Json, json};

/// Encodes a u64 the way the protocol carries timestamps: `"AAAAAAAAAAA="` is 0.
pub fn encode_u64(v: u64) -> String {
    STANDARD.encode(v.to_le_bytes())
}

/// Decodes [`encode_u64`] (also accepting the URL-safe alphabet, as the JS client does).
pub fn decode_u64(s: &str) -> Option<u64> {
    let normalized: String = s
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bytes = STANDARD.decode(normalized).ok()?;
    let arr: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_le_bytes(arr))
}

/// `{querySet, identity, ts}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateVersion {
    /// Last query-set version reflected.
    pub query_set: u32,
    /// Number of identity changes reflected.
    pub identity: u32,
    /// Timestamp (ns) at which the results are valid.
    pub ts: u64,
}

impl StateVersion {
    fn to_json(self) -> Json {
        json!({ "querySet": self.query_set, "identity": self.identity, "ts": encode_u64(self.ts) })
    }
}

/// A `Transition` from `start` to `end` carrying `modifications`.
pub fn transition(
    start: StateVersion,
    end: StateVersion,
    modifications: Vec<Json>,
    client_clock_skew_ms: Option<i64>,
    server_ts_ns: u64,
) -> Json {
    // Both are integers on the wire: the Rust client parses them as i64.
    let mut msg = json!({
        "type": "Transition",
        "startVersion": start.to_json(),
        "endVersion": end.to_json(),
        "modifications": modifications,
        "serverTs": server_ts_ns,
    });
    if let (Some(skew), Some(obj)) = (client_clock_skew_ms, msg.as_object_mut()) {
        obj.insert("clientClockSkew".to_owned(), json!(skew));
    }
    msg
}

/// `QueryUpdated` or `QueryFailed` for one query outcome.
pub fn query_modification(query_id: u32, outcome: &Outcome) -> Json {
    match &outcome.result {
        Ok(value) => json!({
            "type": "QueryUpdated",
            "queryId": query_id,
            "value": value.to_convex_json(),
            "logLines": outcome.log_lines,
            "journal": null,
        }),
        Err(failure) => {
            let mut m = json!({
                "type": "QueryFailed",
                "queryId": query_id,
                "errorMessage": failure.message(),
                "logLines": outcome.log_lines,
                "journal": null,
            });
            add_error_data(&mut m, failure);
            m
        }
    }
}

/// `QueryFailed` for arguments that could not even be decoded.
pub fn query_failed(query_id: u32, message: &str) -> Json {
    json!({
        "type": "QueryFailed",
        "queryId": query_id,
        "errorMessage": message,
        "logLines": [],
        "journal": null,
    })
}

/// `QueryRemoved`.
pub fn query_removed(query_id: u32) -> Json {
    json!({ "type": "QueryRemoved", "queryId": query_id })
}

fn add_error_data(msg: &mut Json, failure: &FunctionFailure) {
    if let (Some(data), Some(obj)) = (failure.data(), msg.as_object_mut()) {
        obj.insert("errorData".to_owned(), data.to_convex_json());
    }
}

/// `MutationResponse`; `ts` is the commit timestamp of a successful mutation.
pub fn mutation_response(request_id: u32, outcome: &Outcome, ts: u64) -> Json {
    match &outcome.result {
        Ok(value) => json!({
            "type": "MutationResponse",
            "requestId": request_id,
            "success": true,
            "result": value.to_convex_json(),
            "ts": encode_u64(ts),
            "logLines": outcome.log_lines,
        }),
        Err(failure) => {
            let mut m = json!({
                "type": "MutationResponse",
                "requestId": request_id,
                "success": false,
                "result": failure.message(),
                "logLines": outcome.log_lines,
            });
            add_error_data(&mut m, failure);
            m
        }
    }
}

/// `ActionResponse`.
pub fn action_response(request_id: u32, outcome: &Outcome) -> Json {
    match &outcome.result {
        Ok(value) => json!({
            "type": "ActionResponse",
            "requestId": request_id,
            "success": true,
            "result": value.to_convex_json(),
            "logLines": outcome.log_lines,
        }),
        Err(failure) => {
            let mut m = json!({
                "type": "ActionResponse",
                "requestId": request_id,
                "success": false,
                "result": failure.message(),
                "logLines": outcome.log_lines,
            });
            add_error_data(&mut m, failure);
            m
        }
    }
}

/// A failed `ActionResponse` or `MutationResponse` that never reached the engine.
pub fn request_failed(kind: &str, request_id: u32, message: &str) -> Json {
    json!({
        "type": kind,
        "requestId": request_id,
        "success": false,
        "result": message,
        "logLines": [],
    })
}

/// `AuthError`; `base_version` is the identity version before the failed update.
pub fn auth_error(error: &str, base_version: u32, auth_update_attempted: bool) -> Json {
    json!({
        "type": "AuthError",
        "error": error,
        "baseVersion": base_version,
        "authUpdateAttempted": auth_update_attempted,
    })
}

/// `FatalError`: the client is broken; the JS client stops for good.
pub fn fatal_error(error: &str) -> Json {
    json!({ "type": "FatalError", "error": error })
}

/// `Ping`, sent after 15 s of silence.
pub fn ping() -> Json {
    json!({ "type": "Ping" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_encode_as_little_endian_padded_base64() {
        assert_eq!(encode_u64(0), "AAAAAAAAAAA=");
        assert_eq!(encode_u64(1000), "6AMAAAAAAAA=");
        assert_eq!(decode_u64("6AMAAAAAAAA="), Some(1000));
        assert_eq!(decode_u64("6AMAAAAAAAA"), None);
        assert_eq!(decode_u64("AAAA"), None);
    }

    #[test]
    fn transitions_omit_unknown_clock_skew_instead_of_sending_null() {
        let t = transition(
            StateVersion::default(),
            StateVersion::default(),
            vec![],
            None,
            5,
        );
        assert!(t.get("clientClockSkew").is_none());
        assert_eq!(t["serverTs"], json!(5));
        assert_eq!(t["startVersion"]["ts"], "AAAAAAAAAAA=");
    }
}
