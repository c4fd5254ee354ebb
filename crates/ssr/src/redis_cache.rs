//! The Redis token cache, shared by several web instances. Entries are stored with a `PX`
//! expiry (never past the JWT's `exp` minus the margin) and mirrored in a small in-process
//! layer so that a hit costs no round trip. Revocations (`remove`) delete the Redis entry and
//! are published on [`REVOKE_CHANNEL`]; every instance drops its in-process copy when the
//! message arrives. When Redis is unreachable, lookups count as misses (pages fall back to the
//! token exchange) and the log says so.

use std::sync::Arc;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;

use crate::cache::{BoxFut, CachedToken, MemoryCache, TokenCache};

/// Longest wait for one Redis command before treating the cache as unavailable.
pub const REDIS_DEADLINE: std::time::Duration = std::time::Duration::from_millis(250);
/// Pub/sub channel carrying revoked cache keys.
pub const REVOKE_CHANNEL: &str = "ferrovex:auth:revoke";
/// Message on [`REVOKE_CHANNEL`] telling every instance to drop its whole local layer.
const CLEAR_ALL: &str = "*";
/// Most keys deleted by one [`TokenCache::clear`].
const MAX_CLEAR_KEYS: usize = 1_000_000;

/// A Redis-backed [`TokenCache`].
pub struct RedisCache {
    conn: ConnectionManager,
    local: Arc<MemoryCache>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisCache")
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl RedisCache {
    /// Connects to `url` and starts listening for revocations.
    pub async fn connect(url: &str) -> Result<RedisCache, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        let local = Arc::new(MemoryCache::default());
        let listener_local = local.clone();
        tokio::spawn(async move {
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(REVOKE_CHANNEL).await.is_ok() {
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
        Ok(RedisCache { conn, local })
    }
}

impl TokenCache for RedisCache {
    fn get<'a>(&'a self, key: &'a str, now: u64) -> BoxFut<'a, Option<CachedToken>> {
        Box::pin(async move {
            if let Some(hit) = self.local.get(key, now).await {
                return Some(hit);
            }
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
            };
            if token.expires_at_ms <= now {
                return None;
            }
            self.local.put(key, token.clone()).await;
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
            let mut set = redis::cmd("SET");
            set.arg(key).arg(value).arg("PX").arg(ttl);
            let store = set.query_async::<()>(&mut conn);
            match tokio::time::timeout(REDIS_DEADLINE, store).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "auth cache unavailable (Redis): token not cached")
                }
                Err(_) => {
                    tracing::warn!("auth cache unavailable (Redis timed out): token not cached")
                }
            }
            self.local.put(key, token).await;
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFut<'a, ()> {
        Box::pin(async move {
            self.local.remove(key).await;
            let mut conn = self.conn.clone();
            let mut pipe = redis::pipe();
            pipe.cmd("DEL")
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
