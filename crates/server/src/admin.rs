//! The deployment's admin key, accepted as Convex's admin auth: `Authorization: Convex <key>`
//! on the HTTP API (the official `ConvexHttpClient.setAdminAuth`) and `Authenticate` with
//! `tokenType: "Admin"` on the sync socket, optionally acting as a user (`<key>:<base64 JSON
//! identity>` over HTTP, `impersonating` on the socket). Admin callers may call internal
//! functions. Keys are compared in constant time, never logged, and wrong keys are
//! rate-limited.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ferrovex_engine::Identity;
use ferrovex_values::Value;
use parking_lot::Mutex;

/// Shortest admin key accepted from `--admin-key`.
pub const MIN_ADMIN_KEY_LEN: usize = 16;
/// Wrong admin keys accepted per [`WRONG_KEY_WINDOW`] (deployment-wide); more get 429.
pub const MAX_WRONG_KEYS: u32 = 20;
/// The window of [`MAX_WRONG_KEYS`].
pub const WRONG_KEY_WINDOW: Duration = Duration::from_secs(10);
/// Issuer of identities an admin acts as when the identity names none.
pub const ACTING_AS_ISSUER: &str = "ferrovex-admin";

/// Why an admin credential was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRefusal {
    /// The key is wrong (or the deployment has none).
    BadKey,
    /// Too many wrong keys lately.
    TooMany,
    /// The acting-as identity is malformed.
    BadIdentity(String),
}

/// The admin key of a deployment.
pub struct AdminKey {
    key: String,
    wrong: Mutex<(u32, Instant)>,
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminKey(<secret>)")
    }
}

impl AdminKey {
    /// A key from `--admin-key`; refused when shorter than [`MIN_ADMIN_KEY_LEN`] or holding
    /// characters that cannot travel in a header.
    pub fn new(key: &str) -> Result<AdminKey, String> {
        let key = key.trim();
        if key.len() < MIN_ADMIN_KEY_LEN {
            return Err(format!(
                "--admin-key must be at least {MIN_ADMIN_KEY_LEN} characters"
            ));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(
                "--admin-key may hold printable ASCII only, without spaces or ':'".to_owned(),
            );
        }
        Ok(AdminKey {
            key: key.to_owned(),
            wrong: Mutex::new((0, Instant::now())),
        })
    }

    /// A new random key: `ferrovex|` and 64 hex digits (256 bits).
    pub fn generate() -> String {
        let bytes: [u8; 32] = rand::random();
        format!("ferrovex|{}", hex_encode(&bytes))
    }

    /// The key itself (for a client of this process; never log it).
    pub fn expose(&self) -> &str {
        &self.key
    }

    /// Checks a presented key in constant time. The right key is always accepted (nobody can
    /// lock the admin out by sending wrong ones); past [`MAX_WRONG_KEYS`] wrong keys in a
    /// window, wrong ones get `TooMany`, which keeps floods out of the log.
    pub fn check(&self, presented: &str) -> Result<(), AdminRefusal> {
        if ferrovex_auth::password::constant_time_eq(presented.as_bytes(), self.key.as_bytes()) {
            return Ok(());
        }
        let mut wrong = self.wrong.lock();
        if wrong.1.elapsed() > WRONG_KEY_WINDOW {
            *wrong = (0, Instant::now());
        }
        wrong.0 = wrong.0.saturating_add(1);
        if wrong.0 > MAX_WRONG_KEYS {
            return Err(AdminRefusal::TooMany);
        }
        Err(AdminRefusal::BadKey)
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key and the optional base64 identity of `Authorization: Convex <key>[:<identity>]`.
pub fn split_credential(value: &str) -> (&str, Option<&str>) {
    match value.trim().split_once(':') {
        Some((key, identity)) => (key, Some(identity)),
        None => (value.trim(), None),
    }
}

/// The identity an admin acts as, from Convex's `UserIdentityAttributes` JSON (`subject`
/// required; `issuer` defaults to [`ACTING_AS_ISSUER`]; other fields become claims).
pub fn acting_as(attributes: &serde_json::Value) -> Result<Arc<Identity>, AdminRefusal> {
    let bad = |why: &str| AdminRefusal::BadIdentity(why.to_owned());
    let object = attributes
        .as_object()
        .ok_or_else(|| bad("the identity to act as must be a JSON object"))?;
    let subject = object
        .get("subject")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("the identity to act as needs a \"subject\""))?;
    let issuer = object
        .get("issuer")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(ACTING_AS_ISSUER);
    let mut claims = BTreeMap::new();
    for (name, value) in object {
        if matches!(name.as_str(), "subject" | "issuer" | "tokenIdentifier") {
            continue;
        }
        let value = match value {
            serde_json::Value::String(s) => Value::from(s.as_str()),
            serde_json::Value::Bool(b) => Value::Boolean(*b),
            serde_json::Value::Number(n) => Value::Float64(n.as_f64().unwrap_or(f64::NAN)),
            _ => continue,
        };
        claims.insert(name.clone(), value);
    }
    Ok(Arc::new(Identity::new(
        issuer.to_owned(),
        subject.to_owned(),
        claims,
        None,
    )))
}

/// [`acting_as`] from the base64 (standard, as `ConvexHttpClient` writes it) JSON.
pub fn acting_as_base64(encoded: &str) -> Result<Arc<Identity>, AdminRefusal> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AdminRefusal::BadIdentity("the identity is not base64".to_owned()))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| AdminRefusal::BadIdentity("the identity is not JSON".to_owned()))?;
    acting_as(&json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_exactly_and_wrong_ones_are_limited() {
        assert!(AdminKey::new("short").is_err());
        assert!(AdminKey::new("has a space in it here").is_err());
        let key = AdminKey::new(&AdminKey::generate()).unwrap();
        assert_eq!(format!("{key:?}"), "AdminKey(<secret>)");
        let good = key.expose().to_owned();
        assert_eq!(key.check(&good), Ok(()));
        assert_eq!(key.check(&format!("{good}x")), Err(AdminRefusal::BadKey));
        for _ in 1..MAX_WRONG_KEYS {
            assert_eq!(key.check("ferrovex|wrong"), Err(AdminRefusal::BadKey));
        }
        assert_eq!(key.check("ferrovex|wrong"), Err(AdminRefusal::TooMany));
        // A flood of wrong keys never locks the admin out.
        assert_eq!(key.check(&good), Ok(()));
    }

    #[test]
    fn acting_as_reads_convex_user_identity_attributes() {
        let who = acting_as(&serde_json::json!({"subject": "u1", "name": "Ann", "email": "a@x"}))
            .unwrap();
        assert_eq!(who.token_identifier, "ferrovex-admin|u1");
        assert_eq!(who.claim_str("name"), Some("Ann"));
        assert!(acting_as(&serde_json::json!({"name": "no subject"})).is_err());
        assert_eq!(split_credential("key:abc"), ("key", Some("abc")));
        assert_eq!(split_credential("key"), ("key", None));
    }
}
