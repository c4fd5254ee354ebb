//! The `format` of values in HTTP responses: Convex-encoded JSON or clean JSON.

use ferrovex_values::Value;

use crate::error::ApiError;

/// How values are written in a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueFormat {
    /// `convex_encoded_json` (alias `convex_json`): lossless, with `$integer`, `$float`, `$bytes`.
    ConvexEncoded,
    /// `json` (alias `convex_clean_json`): lossy plain JSON (int64 as decimal strings, bytes as base64).
    Clean,
}

impl ValueFormat {
    /// Parses a `format` field; absent means `default`.
    pub fn parse(raw: Option<&str>, default: ValueFormat) -> Result<ValueFormat, ApiError> {
        match raw {
            None => Ok(default),
            Some("convex_encoded_json" | "convex_json") => Ok(ValueFormat::ConvexEncoded),
            Some("json" | "convex_clean_json") => Ok(ValueFormat::Clean),
            Some(other) => Err(ApiError::BadFormat(format!(
                "unknown format {other:?}; use \"convex_encoded_json\" or \"json\""
            ))),
        }
    }

    /// Encodes a value.
    pub fn encode(self, value: &Value) -> serde_json::Value {
        match self {
            ValueFormat::ConvexEncoded => value.to_convex_json(),
            ValueFormat::Clean => value.to_clean_json(),
        }
    }
}
