//! Client frames of the sync socket: a text frame parsed into a protocol message, a query's
//! or mutation's arguments and path decoded, and an admin's acting-as identity read. Pure
//! functions, so the property tests (`fuzz.rs`) drive them directly.

use convex_sync_types::ClientMessage;
use ferrovex_engine::FunctionPath;
use ferrovex_values::Value;
use serde_json::Value as Json;

/// Convex's `UserIdentityAttributes` as the JSON object [`crate::admin::acting_as`] reads.
pub(super) fn attributes_json(a: &convex_sync_types::UserIdentityAttributes) -> Json {
    let mut map = serde_json::Map::new();
    let mut put = |name: &str, value: Option<Json>| {
        if let Some(v) = value {
            map.insert(name.to_owned(), v);
        }
    };
    put("subject", a.subject.clone().map(Json::from));
    put("issuer", a.issuer.clone().map(Json::from));
    put("name", a.name.clone().map(Json::from));
    put("givenName", a.given_name.clone().map(Json::from));
    put("familyName", a.family_name.clone().map(Json::from));
    put("nickname", a.nickname.clone().map(Json::from));
    put(
        "preferredUsername",
        a.preferred_username.clone().map(Json::from),
    );
    put("profileUrl", a.profile_url.clone().map(Json::from));
    put("pictureUrl", a.picture_url.clone().map(Json::from));
    put("email", a.email.clone().map(Json::from));
    put("emailVerified", a.email_verified.map(Json::from));
    put("phoneNumber", a.phone_number.clone().map(Json::from));
    for (k, v) in &a.custom_claims {
        put(k, Some(Json::from(v.as_str())));
    }
    Json::Object(map)
}

/// A client's text frame as a protocol message, or the `MalformedMessage` reason.
pub(super) fn parse_frame(text: &str) -> Result<ClientMessage, String> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| format!("MalformedMessage: not JSON: {e}"))?;
    ClientMessage::try_from(json).map_err(|e| format!("MalformedMessage: {e}"))
}

pub(super) fn decode_args(raw: &str) -> Result<Value, String> {
    let json: Json = serde_json::from_str(raw).map_err(|e| format!("invalid args: {e}"))?;
    let object = match json {
        Json::Array(mut items) if items.len() == 1 => items.remove(0),
        Json::Array(items) => {
            return Err(format!(
                "args must hold exactly one object, got {}",
                items.len()
            ));
        }
        other => other,
    };
    if !object.is_object() {
        return Err("args must be an object".to_owned());
    }
    Value::from_convex_json(&object).map_err(|e| format!("invalid args: {e}"))
}

pub(super) fn decode_path(raw: &str) -> Result<FunctionPath, String> {
    FunctionPath::parse(raw).map_err(|e| e.to_string())
}
