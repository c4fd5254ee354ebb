//! Request auth for SSR: the session cookie (the `__Secure-` name first) is exchanged for a
//! Convex JWT at the site origin's `/api/auth/convex/token`, through the token cache when it
//! is enabled. No cookie means anonymous with no network call. The JWT is for server-side
//! calls only: it must never be written into HTML.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::cache::{CachedToken, TokenCache, cache_key, cache_key_of_digest};
use crate::http::Http;
use crate::stats::SsrStats;
use crate::timing::ServerTiming;

/// Cached tokens are dropped this long before their `exp`.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Deadline of one token exchange.
pub const EXCHANGE_DEADLINE: Duration = Duration::from_secs(5);
/// Largest cookie header considered.
const MAX_COOKIE_HEADER: usize = 16 * 1024;

/// Settings of the auth token cache (off by default, like the Nuxt module's `authCache`).
#[derive(Clone, Debug)]
pub struct AuthCacheConfig {
    /// Use the cache.
    pub enabled: bool,
    /// Longest time an entry is kept (it is also cut at the JWT's `exp` minus [`EXPIRY_MARGIN`]).
    pub ttl: Duration,
}

impl Default for AuthCacheConfig {
    fn default() -> Self {
        AuthCacheConfig {
            enabled: false,
            ttl: Duration::from_secs(900),
        }
    }
}

/// What a page may show about the signed-in user (decoded from the JWT's claims).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DisplayUser {
    /// `sub`.
    pub id: String,
    /// `name`.
    pub name: Option<String>,
    /// `email`.
    pub email: Option<String>,
}

/// The auth state of one request.
#[derive(Clone, Debug, Default)]
pub struct RequestAuth {
    /// The Convex JWT for server-side calls. Never render it.
    pub token: Option<String>,
    /// Display claims.
    pub user: Option<DisplayUser>,
    /// The raw session token from the cookie (for cache invalidation).
    pub session_token: Option<String>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The session token inside the session cookie of a `Cookie` header (`__Secure-` first).
pub fn session_token(cookie_header: &str) -> Option<String> {
    session_cookie(cookie_header).map(|c| c.token)
}

/// A request's session cookie: the token, and a digest of the whole signed value.
struct SessionCookie {
    token: String,
    proof: String,
}

fn session_cookie(cookie_header: &str) -> Option<SessionCookie> {
    if cookie_header.len() > MAX_COOKIE_HEADER {
        return None;
    }
    let find = |name: &str| {
        cookie_header.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
    };
    let (name, raw) = [
        "__Secure-better-auth.session_token",
        "better-auth.session_token",
    ]
    .into_iter()
    .find_map(|name| Some((name, find(name)?)))?;
    let decoded = percent_decode(raw)?;
    let token = decoded
        .rsplit_once('.')
        .map_or(decoded.as_str(), |(t, _)| t);
    (!token.is_empty()).then(|| SessionCookie {
        token: token.to_owned(),
        // The name is part of the proof: a cache entry made for the `__Secure-` cookie is no
        // answer to a plain cookie carrying the same value (planted by a sibling site), which
        // the site origin of an https deployment refuses.
        proof: hex::encode(Sha256::digest(format!("{name}={decoded}").as_bytes())),
    })
}

/// The claims of a JWT, without verification (display only; the backend verifies).
pub fn decode_claims(jwt: &str) -> Option<Json> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn display_user(claims: &Json) -> Option<DisplayUser> {
    Some(DisplayUser {
        id: claims["sub"].as_str()?.to_owned(),
        name: claims["name"].as_str().map(str::to_owned),
        email: claims["email"].as_str().map(str::to_owned),
    })
}

/// Exchanges session cookies for Convex JWTs.
#[derive(Debug)]
pub struct SsrAuth {
    site_url: String,
    http: Http,
    cache: Option<Arc<dyn TokenCache>>,
    config: AuthCacheConfig,
    stats: Arc<SsrStats>,
}

impl SsrAuth {
    /// Exchanges at `site_url`; `cache` is used when `config.enabled`.
    pub fn new(
        site_url: &str,
        config: AuthCacheConfig,
        cache: Option<Arc<dyn TokenCache>>,
    ) -> SsrAuth {
        SsrAuth {
            site_url: site_url.trim_end_matches('/').to_owned(),
            http: Http::new(EXCHANGE_DEADLINE),
            cache: if config.enabled { cache } else { None },
            config,
            stats: Arc::new(SsrStats::default()),
        }
    }

    /// How many token exchanges were made (cache misses).
    pub fn exchanges(&self) -> u64 {
        self.stats.exchanges()
    }

    /// The toolkit's counters (the page renderer records its pages here too).
    pub fn stats(&self) -> &Arc<SsrStats> {
        &self.stats
    }

    /// The auth state of a request, recording phases in `timing`.
    pub async fn authenticate(
        &self,
        cookie_header: Option<&str>,
        timing: &mut ServerTiming,
    ) -> RequestAuth {
        let start = Instant::now();
        let Some(SessionCookie {
            token: session,
            proof,
        }) = cookie_header.and_then(session_cookie)
        else {
            timing.add("auth_session", start.elapsed(), Some("no session"));
            return RequestAuth::default();
        };
        timing.add("auth_session", start.elapsed(), Some("cookie"));
        let key = cache_key(&session);
        if let Some(cache) = &self.cache {
            let start = Instant::now();
            let hit = cache
                .get(&key, now_ms())
                .await
                .filter(|hit| hit.proof == proof);
            timing.add(
                "auth_cache",
                start.elapsed(),
                Some(if hit.is_some() { "hit" } else { "miss" }),
            );
            self.stats.cache_lookup(hit.is_some());
            if let Some(hit) = hit {
                let user = decode_claims(&hit.jwt).as_ref().and_then(display_user);
                return RequestAuth {
                    token: Some(hit.jwt),
                    user,
                    session_token: Some(session),
                };
            }
        }
        let start = Instant::now();
        let exchange_started_ms = crate::cache::now_ms();
        let token = self.exchange(cookie_header.unwrap_or_default()).await;
        self.stats.exchange(token.is_some());
        timing.add(
            "auth_exchange",
            start.elapsed(),
            Some(if token.is_some() { "token" } else { "no token" }),
        );
        let Some(token) = token else {
            return RequestAuth {
                token: None,
                user: None,
                session_token: Some(session),
            };
        };
        let claims = decode_claims(&token);
        if let (Some(cache), Some(exp)) =
            (&self.cache, claims.as_ref().and_then(|c| c["exp"].as_u64()))
        {
            let ttl_end = now_ms()
                .saturating_add(u64::try_from(self.config.ttl.as_millis()).unwrap_or(u64::MAX / 2));
            let exp_end = exp
                .saturating_mul(1000)
                .saturating_sub(u64::try_from(EXPIRY_MARGIN.as_millis()).unwrap_or(0));
            let expires_at_ms = ttl_end.min(exp_end);
            if expires_at_ms > now_ms() {
                cache
                    .put(
                        &key,
                        CachedToken {
                            jwt: token.clone(),
                            expires_at_ms,
                            proof,
                            exchange_started_ms,
                        },
                    )
                    .await;
            }
        }
        let user = claims.as_ref().and_then(display_user);
        RequestAuth {
            token: Some(token),
            user,
            session_token: Some(session),
        }
    }

    async fn exchange(&self, cookie_header: &str) -> Option<String> {
        let req = hyper::Request::get(format!("{}/api/auth/convex/token", self.site_url))
            .header("cookie", cookie_header)
            .body(Full::new(Bytes::new()))
            .ok()?;
        match self.http.send(req).await {
            Ok(answer) if answer.status == 200 => serde_json::from_slice::<Json>(&answer.body)
                .ok()
                .and_then(|j| j["token"].as_str().map(str::to_owned)),
            Ok(answer) => {
                tracing::debug!(status = answer.status, "token exchange refused: anonymous");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "token exchange failed: rendering anonymously");
                None
            }
        }
    }

    /// Drops the cached token of a session (sign-out, revocation).
    pub async fn clear_auth_cache(&self, session_token: &str) {
        if let Some(cache) = &self.cache {
            cache.remove(&cache_key(session_token)).await;
            self.stats.revoked();
        }
    }

    /// Drops the cached token of a session named by its digest (hex SHA-256 of the token, as
    /// the site origin announces revocations). Malformed digests are ignored.
    pub async fn clear_auth_cache_digest(&self, digest: &str) {
        if let (Some(cache), Some(key)) = (&self.cache, cache_key_of_digest(digest)) {
            cache.remove(&key).await;
            self.stats.revoked();
        }
    }

    /// Drops cached tokens as revocations arrive (digest batches, e.g. from an auth service in
    /// the same process), until the sender is gone. A listener that fell behind has missed
    /// revocations, so it drops every cached token it can.
    pub fn follow_revocations(
        self: &Arc<Self>,
        mut revocations: tokio::sync::broadcast::Receiver<Arc<[String]>>,
    ) -> tokio::task::JoinHandle<()> {
        let auth = self.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match revocations.recv().await {
                    Ok(digests) => {
                        for d in digests.iter() {
                            auth.clear_auth_cache_digest(d).await;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "auth cache: revocations missed; clearing the cache"
                        );
                        if let Some(cache) = &auth.cache {
                            cache.clear().await;
                        }
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }
}
