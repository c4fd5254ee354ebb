//! The key ring: every signing key held decrypted in memory, newest last. Token issuance and
//! verification only ever read the ring; the database is read when keys change (startup, a
//! periodic refresh to see other processes' rotations, or an unknown `kid`), never per token.

use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::{Value as Json, json};

use crate::keys::{PublicKey, SigningKey};

/// The in-memory keys and the grace period of retired ones.
#[derive(Debug)]
pub struct KeyRing {
    keys: RwLock<Arc<Vec<Arc<SigningKey>>>>,
    /// How long a retired key is still published and accepted (ms).
    grace_ms: u64,
}

impl KeyRing {
    /// A ring holding `keys` (any order).
    pub fn new(mut keys: Vec<Arc<SigningKey>>, grace_ms: u64) -> KeyRing {
        keys.sort_by(|a, b| {
            a.created_at_ms
                .cmp(&b.created_at_ms)
                .then_with(|| a.kid.cmp(&b.kid))
        });
        KeyRing {
            keys: RwLock::new(Arc::new(keys)),
            grace_ms,
        }
    }

    /// Replaces the keys (after a refresh or a rotation).
    pub fn set(&self, mut keys: Vec<Arc<SigningKey>>) {
        keys.sort_by(|a, b| {
            a.created_at_ms
                .cmp(&b.created_at_ms)
                .then_with(|| a.kid.cmp(&b.kid))
        });
        *self.keys.write() = Arc::new(keys);
    }

    /// All keys, oldest first.
    pub fn all(&self) -> Arc<Vec<Arc<SigningKey>>> {
        self.keys.read().clone()
    }

    /// The key new tokens are signed with: the newest one that has not expired.
    pub fn signing_key(&self, now_ms: u64) -> Option<Arc<SigningKey>> {
        self.keys
            .read()
            .iter()
            .rev()
            .find(|k| k.expires_at_ms.is_none_or(|e| e > now_ms))
            .cloned()
    }

    /// Keys still valid for verification at `now_ms`: the newest one, and older ones until
    /// their successor is older than the grace period (or their own expiry plus grace).
    fn live(&self, now_ms: u64) -> Vec<Arc<SigningKey>> {
        let keys = self.keys.read().clone();
        keys.iter()
            .enumerate()
            .filter(|(i, k)| {
                let retired = match (keys.get(i + 1), k.expires_at_ms) {
                    (Some(next), Some(exp)) => Some(next.created_at_ms.min(exp)),
                    (Some(next), None) => Some(next.created_at_ms),
                    (None, exp) => exp,
                };
                retired.is_none_or(|r| now_ms < r.saturating_add(self.grace_ms))
            })
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// The public key with `kid`, if it is live.
    pub fn find(&self, kid: &str, now_ms: u64) -> Option<PublicKey> {
        self.live(now_ms)
            .iter()
            .find(|k| k.kid == kid)
            .map(|k| k.public_key())
    }

    /// The published JWKS document.
    pub fn jwks_json(&self, now_ms: u64) -> Json {
        let keys: Vec<Json> = self
            .live(now_ms)
            .iter()
            .map(|k| k.published_jwk())
            .collect();
        json!({ "keys": keys })
    }

    /// Whether a new key is due: none yet, or the newest is older than `rotation_ms`.
    pub fn rotation_due(&self, now_ms: u64, rotation_ms: u64) -> bool {
        self.keys
            .read()
            .last()
            .is_none_or(|k| now_ms >= k.created_at_ms.saturating_add(rotation_ms))
    }
}
