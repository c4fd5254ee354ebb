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
    /// Digest of the whole signed cookie value the token was exchanged for. A hit counts only
    /// when the request's cookie has the same digest, so a cookie carrying a known session
    /// token with a forged signature never gets the cached JWT.
    pub proof: String,
    /// When the exchange that produced the token started (ms since the epoch). A put is
    /// dropped when the key was revoked at or after that moment (less [`CLOCK_MARGIN_MS`]):
    /// a revocation wins against every exchange already under way (D1).
    pub exchange_started_ms: u64,
}

/// Slack for clocks of different machines (Redis tombstones are written by other instances):
/// a revocation this close before an exchange started still blocks its put.
pub const CLOCK_MARGIN_MS: u64 = 2_000;
/// How long a revocation is remembered to block late puts (far longer than an exchange may
/// take).
pub const REVOCATION_MEMORY_MS: u64 = 60_000;

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Prefix of cache keys.
const KEY_PREFIX: &str = "ferrovex:jwt:";

/// Hex SHA-256 of a session token. The site origin announces revocations by this digest.
pub fn session_digest(session_token: &str) -> String {
    hex::encode(Sha256::digest(session_token.as_bytes()))
}

/// The cache key for a session token: its [`session_digest`], prefixed.
pub fn cache_key(session_token: &str) -> String {
    format!("{KEY_PREFIX}{}", session_digest(session_token))
}

/// The cache key for an announced digest; `None` unless it is 64 lowercase hex digits.
pub fn cache_key_of_digest(digest: &str) -> Option<String> {
    (digest.len() == 64
        && digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    .then(|| format!("{KEY_PREFIX}{digest}"))
}

/// A boxed future, so the trait stays object-safe.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where cached tokens live (memory by default; Redis shares them between web instances).
pub trait TokenCache: Send + Sync + std::fmt::Debug {
    /// A valid entry, if any (implementations drop expired ones).
    fn get<'a>(&'a self, key: &'a str, now_ms: u64) -> BoxFut<'a, Option<CachedToken>>;
    /// Stores an entry, unless its key was revoked (or the cache cleared) since the token's
    /// exchange started.
    fn put<'a>(&'a self, key: &'a str, token: CachedToken) -> BoxFut<'a, ()>;
    /// Drops an entry (sign-out, revocation).
    fn remove<'a>(&'a self, key: &'a str) -> BoxFut<'a, ()>;
    /// Drops every entry (when revocations may have been missed).
    fn clear(&self) -> BoxFut<'_, ()>;
}

/// In-process cache, bounded in entries.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, CachedToken>>,
    /// Key → when it was last revoked, for [`REVOCATION_MEMORY_MS`].
    revoked: Mutex<HashMap<String, u64>>,
    /// When every entry was last dropped.
    cleared_ms: std::sync::atomic::AtomicU64,
}

impl MemoryCache {
    /// Drops every entry; puts of exchanges already under way are dropped too.
    pub fn clear(&self) {
        let mut entries = self.entries.lock();
        self.cleared_ms
            .store(now_ms(), std::sync::atomic::Ordering::Release);
        entries.clear();
    }

    /// Whether `key` was revoked, or everything cleared, since `started_ms` (less the margin).
    pub fn revoked_since(&self, key: &str, started_ms: u64) -> bool {
        let since = started_ms.saturating_sub(CLOCK_MARGIN_MS);
        self.cleared_ms.load(std::sync::atomic::Ordering::Acquire) >= since
            || self.revoked.lock().get(key).is_some_and(|at| *at >= since)
    }

    /// Records a revocation of `key`; the caller holds the entries lock (so a put cannot
    /// slip between its check and its insert). `false` when the record is full: the caller
    /// clears everything instead, which blocks every late put.
    fn remember_revocation(&self, key: &str) -> bool {
        let now = now_ms();
        let mut revoked = self.revoked.lock();
        if revoked.len() >= MAX_MEMORY_ENTRIES {
            revoked.retain(|_, at| now.saturating_sub(*at) < REVOCATION_MEMORY_MS);
            if revoked.len() >= MAX_MEMORY_ENTRIES {
                revoked.clear();
                return false;
            }
        }
        revoked.insert(key.to_owned(), now);
        true
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
            if self.revoked_since(key, token.exchange_started_ms) {
                return;
            }
            if entries.len() >= MAX_MEMORY_ENTRIES {
                let now = now_ms();
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
            let mut entries = self.entries.lock();
            if self.remember_revocation(key) {
                entries.remove(key);
            } else {
                self.cleared_ms
                    .store(now_ms(), std::sync::atomic::Ordering::Release);
                entries.clear();
            }
        })
    }

    fn clear(&self) -> BoxFut<'_, ()> {
        Box::pin(async move { MemoryCache::clear(self) })
    }
}
