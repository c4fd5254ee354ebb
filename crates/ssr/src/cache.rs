//! The auth token cache: session → Convex JWT, keyed by a hash of the session token (never the
//! token itself), and never kept past the JWT's `exp` minus a safety margin.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

/// Most entries in the memory cache.
pub const MAX_MEMORY_ENTRIES: usize = 100_000;

/// A cached token and when it must no longer be used (ms since the epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedToken {
    /// The JWT.
    pub jwt: String,
    /// Expiry of the entry: `min(now + ttl, exp - margin)`.
    pub expires_at_ms: u64,
}

/// The cache key for a session token: hex SHA-256, prefixed.
pub fn cache_key(session_token: &str) -> String {
    format!(
        "ferrovex:jwt:{}",
        hex::encode(Sha256::digest(session_token.as_bytes()))
    )
}

/// A boxed future, so the trait stays object-safe.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where cached tokens live (memory by default; Redis shares them between web instances).
pub trait TokenCache: Send + Sync + std::fmt::Debug {
    /// A valid entry, if any (implementations drop expired ones).
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> BoxFut<'a, Option<CachedToken>>;
    /// Stores an entry.
    fn put<'a>(&'a self, key: &'a str, token: CachedToken) -> BoxFut<'a, ()>;
    /// Drops an entry (sign-out, revocation).
    fn remove<'a>(&'a self, key: &'a str) -> BoxFut<'a, ()>;
}

/// In-process cache, bounded in entries.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, CachedToken>>,
}

impl MemoryCache {
    /// Drops every entry.
    pub fn clear(&self) {
        self.entries.lock().clear();
    }
}

impl TokenCache for MemoryCache {
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> BoxFut<'a, Option<CachedToken>> {
        Box::pin(async move {
            let mut entries = self.entries.lock();
            match entries.get(key) {
                Some(t) if t.expires_at_ms > now_ms => Some(t.clone()),
                Some(_) => {
                    entries.remove(key);
                    None
                }
                None => None,
            }
        })
    }

    fn put<'a>(&'a self, key: &'a str, token: CachedToken) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let mut entries = self.entries.lock();
            if entries.len() >= MAX_MEMORY_ENTRIES {
                let now = token.expires_at_ms.saturating_sub(1);
                entries.retain(|_, t| t.expires_at_ms > now);
                if entries.len() >= MAX_MEMORY_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(key.to_owned(), token);
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFut<'a, ()> {
        Box::pin(async move {
            self.entries.lock().remove(key);
        })
    }
}
