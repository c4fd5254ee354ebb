//! The identity of a caller, as functions see it through `ctx.auth().user_identity()`.

use std::collections::BTreeMap;

use ferrovex_values::Value;

/// A verified caller: who issued the token, whom it is about, and its other claims.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// `"<iss>|<sub>"`: a stable key for the user across tokens.
    pub token_identifier: String,
    /// `sub`.
    pub subject: String,
    /// `iss`.
    pub issuer: String,
    /// Every other claim (`name`, `email`, custom claims...), except registered ones.
    pub claims: BTreeMap<String, Value>,
    /// `exp` in seconds since the epoch, when the token has one.
    pub expires_at: Option<u64>,
    /// Everything a function can see of this identity in one canonical string: results that
    /// read the identity are cached under it, so two tokens of one user whose claims differ
    /// (a renamed user, another session) never share a result.
    cache_key: String,
}

impl Identity {
    /// An identity; `tokenIdentifier` is `"<issuer>|<subject>"`.
    pub fn new(
        issuer: String,
        subject: String,
        claims: BTreeMap<String, Value>,
        expires_at: Option<u64>,
    ) -> Identity {
        let mut identity = Identity {
            token_identifier: format!("{issuer}|{subject}"),
            subject,
            issuer,
            claims,
            expires_at,
            cache_key: String::new(),
        };
        identity.cache_key = identity.to_value().to_convex_json().to_string();
        identity
    }

    /// The key of results cached for this identity (see the field's documentation).
    pub fn cache_key(&self) -> &str {
        &self.cache_key
    }

    /// The `UserIdentity` object: the claims plus `tokenIdentifier`, `subject`, `issuer`.
    pub fn to_value(&self) -> Value {
        let mut map = self.claims.clone();
        map.insert(
            "tokenIdentifier".to_owned(),
            Value::from(self.token_identifier.as_str()),
        );
        map.insert("subject".to_owned(), Value::from(self.subject.as_str()));
        map.insert("issuer".to_owned(), Value::from(self.issuer.as_str()));
        Value::Object(map)
    }

    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// Whether the token has expired at `now_secs`.
    pub fn expired(&self, now_secs: u64) -> bool {
        self.expires_at.is_some_and(|exp| exp <= now_secs)
    }
}

/// Access to the caller's identity from a function context. Reading it makes the result
/// depend on the caller, so it is cached per identity.
pub struct Auth<'a> {
    pub(crate) identity: Option<&'a Identity>,
}

impl<'a> Auth<'a> {
    /// The caller's identity, or `None` for anonymous calls.
    pub fn user_identity(&self) -> Option<&'a Identity> {
        self.identity
    }
}
