//! The Redis token cache, shared by several web instances. Entries are stored with a `PX`
//! expiry (never past the JWT's `exp` minus the margin) and mirrored in a small in-process
//! layer so that a hit costs no round trip. Revocations (`remove`) delete the Redis entry and
//! are published on [`REVOKE_CHANNEL`]; every instance drops its in-process copy when the
//! message arrives. When Redis is unreachable, lookups count as misses (pages fall back to the
//! token exchange) and the log says so.
//!
//! A revocation wins against exchanges already under way (D1): it also writes a tombstone
//! (`ferrovex:revoked:<digest>` = when, kept [`REVOCATION_MEMORY_MS`]) in the same `MULTI` as
//! the delete, and a put is a script that stores nothing when a tombstone (or a clear-all
//! tombstone) is newer than the exchange's start less [`CLOCK_MARGIN_MS`]. While the revocation
//! channel is down, the in-process layer is not used (D15): a revocation published then
//! would be missed, so every lookup asks Redis, which has it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use redis::aio::ConnectionManager;

use crate::cache::{
    BoxFut, CLOCK_MARGIN_MS, CachedToken, MemoryCache, REVOCATION_MEMORY_MS, TokenCache, now_ms,
};

/// Longest wait for one Redis command before treating the cache as unavailable.
pub const REDIS_DEADLINE: std::time::Duration = std::time::Duration::from_millis(250);
/// Pub/sub channel carrying revoked cache keys.
pub const REVOKE_CHANNEL: &str = "ferrovex:auth:revoke";
/// Message on [`REVOKE_CHANNEL`] telling every instance to drop its whole local layer.
const CLEAR_ALL: &str = "*";
/// The tombstone written by [`TokenCache::clear`]: it blocks every put of an earlier exchange.
const CLEARED_TOMBSTONE: &str = "ferrovex:revoked:*";
/// Stores `KEYS[1]` unless tombstone `KEYS[2]` or `KEYS[3]` is at or after `ARGV[3]`.
const PUT_SCRIPT: &str = "for i = 2, 3 do local t = redis.call('GET', KEYS[i]) if t and tonumber(t) >= tonumber(ARGV[3]) then return 0 end end redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1";
/// Most keys deleted by one [`TokenCache::clear`].
const MAX_CLEAR_KEYS: usize = 1_000_000;

/// A Redis-backed [`TokenCache`].
pub struct RedisCache {
    conn: ConnectionManager,
    local: Arc<MemoryCache>,
    /// Whether the revocation channel is subscribed (the local layer is trusted only then).
    subscribed: Arc<AtomicBool>,
}

/// The tombstone of a cache key.
fn tombstone(key: &str) -> String {
    match key.strip_prefix("ferrovex:jwt:") {
        Some(digest) => format!("ferrovex:revoked:{digest}"),
        None => format!("ferrovex:revoked:{key}"),
    }
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisCache")
    }
}

impl RedisCache {
    /// Connects to `url` and starts listening for revocations.
    pub async fn connect(url: &str) -> Result<RedisCache, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        let local = Arc::new(MemoryCache::default());
        let listener_local = local.clone();
        let subscribed = Arc::new(AtomicBool::new(false));
        let listening = subscribed.clone();
        tokio::spawn(async move {
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(REVOKE_CHANNEL).await.is_ok() {
                            // Revocations published while unsubscribed were missed.
                            listener_local.clear();
                            listening.store(true, Ordering::Release);
                            let mut messages = pubsub.on_message();
                            while let Some(msg) = messages.next().await {
                                match msg.get_payload::<String>() {
                                    Ok(key) if key == CLEAR_ALL => listener_local.clear(),
                                    Ok(key) => listener_local.remove(&key).await,
                                    Err(_) => {}
                                }
                            }
                        }
                        // The subscription ended: everything local may be stale.
                        listening.store(false, Ordering::Release);
                        listener_local.clear();
                        tracing::warn!(
                            "auth cache: lost the Redis revocation channel; reconnecting"
                        );
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "auth cache: cannot subscribe to Redis revocations")
                    }
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        Ok(RedisCache {
            conn,
            local,
            subscribed,
        })
    }
}

impl RedisCache {
    /// Whether the revocation channel is subscribed now (while it is not, every lookup goes to
    /// Redis).
    pub fn revocations_live(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }
}

impl TokenCache for RedisCache {
    fn get<'a>(&'a self, key: &'a str, now: u64) -> BoxFut<'a, Option<CachedToken>> {
        Box::pin(async move {
            let trusted = self.subscribed.load(Ordering::Acquire);
            if trusted && let Some(hit) = self.local.get(key, now).await {
                return Some(hit);
            }
            let started = now_ms();
            let mut conn = self.conn.clone();
            let mut get = redis::cmd("GET");
            get.arg(key);
            let lookup = get.query_async::<Option<String>>(&mut conn);
            let raw = match tokio::time::timeout(REDIS_DEADLINE, lookup).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "auth cache unavailable (Redis): falling back to the token exchange");
                    return None;
                }
                Err(_) => {
                    tracing::warn!(
                        "auth cache unavailable (Redis timed out): falling back to the token exchange"
                    );
                    return None;
                }
            };
            let parsed: serde_json::Value = serde_json::from_str(&raw?).ok()?;
            let token = CachedToken {
                jwt: parsed["jwt"].as_str()?.to_owned(),
                expires_at_ms: parsed["exp"].as_u64()?,
                proof: parsed["proof"].as_str()?.to_owned(),
                // The local copy is as old as this read: a revocation arriving meanwhile wins.
                exchange_started_ms: started,
            };
            if token.expires_at_ms <= now {
                return None;
            }
            if trusted {
                self.local.put(key, token.clone()).await;
            }
            Some(token)
        })
    }

    fn put<'a>(&'a self, key: &'a str, token: CachedToken) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let ttl = token.expires_at_ms.saturating_sub(now_ms());
            if ttl == 0 {
                return;
            }
            let value =
                serde_json::json!({"jwt": token.jwt, "exp": token.expires_at_ms, "proof": token.proof})
                    .to_string();
            let mut conn = self.conn.clone();
            let mut put = redis::cmd("EVAL");
            put.arg(PUT_SCRIPT)
                .arg(3)
                .arg(key)
                .arg(tombstone(key))
                .arg(CLEARED_TOMBSTONE)
                .arg(value)
                .arg(ttl)
                .arg(token.exchange_started_ms.saturating_sub(CLOCK_MARGIN_MS));
            let store = put.query_async::<i64>(&mut conn);
            match tokio::time::timeout(REDIS_DEADLINE, store).await {
                Ok(Ok(1)) => {}
                Ok(Ok(_)) => return,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "auth cache unavailable (Redis): token not cached")
                }
                Err(_) => {
                    tracing::warn!("auth cache unavailable (Redis timed out): token not cached")
                }
            }
            if self.subscribed.load(Ordering::Acquire) {
                self.local.put(key, token).await;
            }
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFut<'a, ()> {
        Box::pin(async move {
            self.local.remove(key).await;
            let mut conn = self.conn.clone();
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("SET")
                .arg(tombstone(key))
                .arg(now_ms())
                .arg("PX")
                .arg(REVOCATION_MEMORY_MS)
                .ignore()
                .cmd("DEL")
                .arg(key)
                .ignore()
                .cmd("PUBLISH")
                .arg(REVOKE_CHANNEL)
                .arg(key)
                .ignore();
            let revoke = pipe.query_async::<()>(&mut conn);
            match tokio::time::timeout(REDIS_DEADLINE, revoke).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "auth cache: could not revoke in Redis"),
                Err(_) => tracing::warn!("auth cache: revocation in Redis timed out"),
            }
        })
    }

    fn clear(&self) -> BoxFut<'_, ()> {
        Box::pin(async move {
            self.local.clear();
            let mut conn = self.conn.clone();
            let mut mark = redis::cmd("SET");
            mark.arg(CLEARED_TOMBSTONE)
                .arg(now_ms())
                .arg("PX")
                .arg(REVOCATION_MEMORY_MS);
            if !matches!(
                tokio::time::timeout(REDIS_DEADLINE, mark.query_async::<()>(&mut conn)).await,
                Ok(Ok(()))
            ) {
                tracing::warn!("auth cache: could not mark the Redis cache cleared");
            }
            let mut cursor: u64 = 0;
            let mut deleted = 0;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg("ferrovex:jwt:*")
                    .arg("COUNT")
                    .arg(1000);
                let step = scan.query_async::<(u64, Vec<String>)>(&mut conn);
                let Ok(Ok((next, keys))) = tokio::time::timeout(REDIS_DEADLINE, step).await else {
                    tracing::warn!("auth cache: could not clear Redis");
                    break;
                };
                if !keys.is_empty() {
                    deleted += keys.len();
                    let mut del = redis::cmd("DEL");
                    del.arg(&keys);
                    let _ = tokio::time::timeout(REDIS_DEADLINE, del.query_async::<()>(&mut conn))
                        .await;
                }
                cursor = next;
                if cursor == 0 || deleted >= MAX_CLEAR_KEYS {
                    break;
                }
            }
            let mut publish = redis::cmd("PUBLISH");
            publish.arg(REVOKE_CHANNEL).arg(CLEAR_ALL);
            let _ =
                tokio::time::timeout(REDIS_DEADLINE, publish.query_async::<()>(&mut conn)).await;
        })
    }
}
