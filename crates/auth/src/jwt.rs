//! Compact JWTs: RS256 signing with an in-memory key, and strict verification (algorithm
//! allow-list, `kid` lookup, signature, `iss`, `aud`, `exp`/`nbf` with 5 s leeway, size limit).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferrovex_engine::Identity;
use ferrovex_values::Value;
use serde_json::{Map, Value as Json, json};

use crate::error::AuthError;
use crate::keys::{PublicKey, SigningKey};

/// Longest token accepted for verification.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Clock leeway for `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 5;
/// Claims that are not copied into the identity.
const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

fn invalid(msg: impl Into<String>) -> AuthError {
    AuthError::InvalidToken(msg.into())
}

/// Signs `claims` with RS256; the header carries `alg`, `kid` and `typ`.
pub fn sign(key: &SigningKey, claims: &Map<String, Json>) -> Result<String, AuthError> {
    let header = json!({ "alg": "RS256", "kid": key.kid, "typ": "JWT" });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Json::Object(claims.clone()).to_string())
    );
    let sig = key.sign_rs256(input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// A parsed but not yet verified token.
#[derive(Debug)]
pub struct Decoded {
    /// `alg` from the header.
    pub alg: String,
    /// `kid` from the header, if any.
    pub kid: Option<String>,
    /// The payload.
    pub claims: Map<String, Json>,
    signing_input: String,
    signature: Vec<u8>,
}

/// Splits and decodes a token without trusting it.
pub fn decode(token: &str) -> Result<Decoded, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid(format!(
            "token is larger than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(
            "token is not a compact JWS (three dot-separated parts)",
        ));
    };
    let part = |text: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| invalid(format!("token {what} is not base64url")))
    };
    let header: Json = serde_json::from_slice(&part(h, "header")?)
        .map_err(|_| invalid("token header is not JSON"))?;
    let claims = match serde_json::from_slice::<Json>(&part(p, "payload")?) {
        Ok(Json::Object(map)) => map,
        _ => return Err(invalid("token payload is not a JSON object")),
    };
    let alg = header["alg"]
        .as_str()
        .ok_or_else(|| invalid("token header has no alg"))?
        .to_owned();
    Ok(Decoded {
        alg,
        kid: header["kid"].as_str().map(str::to_owned),
        claims,
        signing_input: format!("{h}.{p}"),
        signature: part(s, "signature")?,
    })
}

/// What a token must satisfy.
#[derive(Clone, Debug)]
pub struct Expectations<'a> {
    /// Exact issuer.
    pub issuer: &'a str,
    /// Required audience, if any.
    pub audience: Option<&'a str>,
    /// Accepted algorithms.
    pub algorithms: &'a [&'a str],
    /// Now, seconds since the epoch.
    pub now_secs: u64,
}

/// Normalizes an issuer for comparison: adds `https://` when there is no scheme and trims a
/// trailing `/`, as the Convex backend does.
pub fn normalize_issuer(iss: &str) -> String {
    let with_scheme = if iss.contains("://") {
        iss.to_owned()
    } else {
        format!("https://{iss}")
    };
    with_scheme.trim_end_matches('/').to_owned()
}

/// A NumericDate claim (RFC 7519: seconds, possibly fractional): absent is `None`; anything
/// but a finite number is an error, so no malformed time is ever ignored.
fn numeric_date(claims: &Map<String, Json>, name: &str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Json::Number(n)) => n
            .as_f64()
            .filter(|t| t.is_finite())
            .map(Some)
            .ok_or_else(|| invalid(format!("{name} is not a NumericDate"))),
        Some(_) => Err(invalid(format!("{name} is not a NumericDate"))),
    }
}

/// `exp` (required) and `nbf` (optional) against `now_secs`, with [`LEEWAY_SECS`] either way.
pub(crate) fn check_times(claims: &Map<String, Json>, now_secs: u64) -> Result<(), AuthError> {
    let now = now_secs as f64;
    let leeway = LEEWAY_SECS as f64;
    let exp = numeric_date(claims, "exp")?.ok_or_else(|| invalid("token has no exp"))?;
    if now >= exp + leeway {
        return Err(invalid("token expired"));
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && now + leeway < nbf
    {
        return Err(invalid("token not yet valid (nbf)"));
    }
    Ok(())
}

/// Checks algorithm, signature and claims.
pub fn verify(
    decoded: &Decoded,
    key: &PublicKey,
    expect: &Expectations<'_>,
) -> Result<(), AuthError> {
    if decoded.alg.eq_ignore_ascii_case("none") {
        return Err(invalid("unsigned tokens (alg none) are not accepted"));
    }
    if !expect.algorithms.contains(&decoded.alg.as_str()) {
        return Err(invalid(format!(
            "algorithm {} is not accepted",
            decoded.alg
        )));
    }
    if decoded.alg != key.alg() {
        return Err(invalid(format!(
            "key {} is for {}, not {}",
            key.kid(),
            key.alg(),
            decoded.alg
        )));
    }
    if !key.verify(decoded.signing_input.as_bytes(), &decoded.signature) {
        return Err(invalid("bad signature"));
    }
    let c = &decoded.claims;
    let iss = c
        .get("iss")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid("token has no iss"))?;
    if normalize_issuer(iss) != normalize_issuer(expect.issuer) {
        return Err(invalid(format!("wrong issuer {iss:?}")));
    }
    if let Some(aud) = expect.audience {
        let ok = match c.get("aud") {
            Some(Json::String(s)) => s == aud,
            Some(Json::Array(items)) => items.iter().any(|i| i.as_str() == Some(aud)),
            _ => false,
        };
        if !ok {
            return Err(invalid("wrong audience"));
        }
    }
    check_times(c, expect.now_secs)?;
    if c.get("sub").and_then(Json::as_str).is_none() {
        return Err(invalid("token has no sub"));
    }
    Ok(())
}

fn json_to_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => Value::Float64(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(json_to_value).collect()),
        Json::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        ),
    }
}

fn flatten(prefix: &str, v: &Json, out: &mut BTreeMap<String, Value>) {
    match v {
        Json::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), json_to_value(other));
        }
    }
}

/// The identity functions see: `tokenIdentifier = iss|sub`, plus every non-registered claim,
/// nested objects flattened to dotted keys (as Convex does for custom JWTs).
pub fn identity_from_claims(claims: &Map<String, Json>) -> Identity {
    let iss = claims
        .get("iss")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let sub = claims
        .get("sub")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut out = BTreeMap::new();
    for (k, v) in claims {
        if REGISTERED.contains(&k.as_str()) || k == "fva" || k.starts_with('$') {
            continue;
        }
        flatten(k, v, &mut out);
    }
    out.retain(|k, _| ferrovex_values::validate_field_name(k).is_ok());
    Identity::new(
        iss,
        sub,
        out,
        claims.get("exp").and_then(Json::as_f64).map(|e| e as u64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn nbf_and_exp_are_numeric_dates_and_never_ignored() {
        let now = 1_700_000_000u64;
        let t = now as f64;
        let ok = |c: Json| check_times(&claims(c), now).is_ok();
        assert!(ok(serde_json::json!({"exp": t + 600.0})));
        assert!(ok(serde_json::json!({"exp": t + 600.5, "nbf": t - 1.5})));
        // D11: a fractional or huge nbf in the future is "not yet valid", like an integer one.
        assert!(!ok(
            serde_json::json!({"exp": t + 600.0, "nbf": t + 3600.0})
        ));
        assert!(!ok(
            serde_json::json!({"exp": t + 600.0, "nbf": t + 3600.5})
        ));
        assert!(!ok(serde_json::json!({"exp": t + 600.0, "nbf": 1e12})));
        // Not a number at all: refused, not skipped.
        assert!(!ok(serde_json::json!({"exp": t + 600.0, "nbf": "later"})));
        assert!(!ok(serde_json::json!({"exp": t + 600.0, "nbf": null})));
        assert!(!ok(serde_json::json!({"exp": "soon"})));
        assert!(!ok(serde_json::json!({})));
        // Expired, with the leeway.
        assert!(!ok(serde_json::json!({"exp": t - 10.0})));
        assert!(ok(serde_json::json!({"exp": t - 1.0})));
    }
}
