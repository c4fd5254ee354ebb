//! The `/api/auth/*` proxy from the web origin to the site origin, so the browser talks to one
//! origin: GET and POST only, same-origin check on POST, bounded bodies, a deadline, redirects
//! passed back (never followed), and only Better Auth cookies in `Set-Cookie`. A successful
//! sign-out or session revocation through the proxy drops the revoked sessions' cached tokens
//! at once (see [`drop_revoked`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http_body_util::Full;

use crate::auth::{SsrAuth, session_token};
use crate::http::Http;

/// Response header in which the site origin names the digests of revoked sessions.
pub const REVOKED_SESSIONS_HEADER: &str = "x-ferrovex-revoked-sessions";
/// Request header carrying the deployment's proxy key, so the site origin tells this proxy
/// (and only it) which sessions a request revoked.
pub const PROXY_KEY_HEADER: &str = "x-ferrovex-proxy-key";
/// The browser's address, sent with the proxy key so the site origin rate-limits each user,
/// not the proxy (the site ignores it without the key).
pub const CLIENT_ADDRESS_HEADER: &str = "x-ferrovex-client-address";
/// Largest request body forwarded.
pub const MAX_PROXY_BODY: usize = 64 * 1024;
/// Deadline of one proxied request.
pub const PROXY_DEADLINE: Duration = Duration::from_secs(8);
/// Request headers forwarded to the site origin.
const FORWARDED: [&str; 7] = [
    "cookie",
    "content-type",
    "origin",
    "referer",
    "user-agent",
    "authorization",
    "accept",
];

/// State of the proxy.
#[derive(Clone)]
pub struct ProxyState {
    site_url: String,
    web_origin: String,
    auth: Arc<SsrAuth>,
    http: Http,
    /// The deployment's proxy key (`None` in front of a site that is not Ferrovex's).
    proxy_key: Option<String>,
    /// Other origins whose POSTs are proxied (a loopback twin, trusted origins).
    extra_origins: Vec<String>,
}

impl std::fmt::Debug for ProxyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyState")
            .field("site_url", &self.site_url)
            .field("web_origin", &self.web_origin)
            .field("proxy_key", &ProxyKeyRedacted(&self.proxy_key))
            .finish_non_exhaustive()
    }
}

impl ProxyState {
    /// Proxies to `site_url`; POSTs must come from `web_origin` (e.g. `http://127.0.0.1:3000`).
    pub fn new(site_url: &str, web_origin: &str, auth: Arc<SsrAuth>) -> ProxyState {
        ProxyState {
            site_url: site_url.trim_end_matches('/').to_owned(),
            web_origin: web_origin.trim_end_matches('/').to_owned(),
            auth,
            http: Http::new(PROXY_DEADLINE),
            proxy_key: None,
            extra_origins: Vec::new(),
        }
    }

    /// Also proxies POSTs from these origins (`http://localhost:3000` beside
    /// `http://127.0.0.1:3000`, or a trusted frontend origin).
    pub fn with_extra_origins(mut self, origins: &[String]) -> ProxyState {
        self.extra_origins = origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        self
    }

    /// Presents `key` (the site's `AuthService::proxy_key`) on every proxied request.
    pub fn with_proxy_key(mut self, key: Option<String>) -> ProxyState {
        self.proxy_key = key.filter(|k| !k.is_empty());
        self
    }
}

impl std::fmt::Debug for ProxyKeyRedacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "set" } else { "none" })
    }
}

/// Prints whether a key is set, never the key.
struct ProxyKeyRedacted<'a>(&'a Option<String>);

/// The proxy routes (`/api/auth/*`).
pub fn proxy_router(state: ProxyState) -> Router {
    Router::new()
        .route("/api/auth/{*rest}", any(handle))
        .layer(DefaultBodyLimit::max(MAX_PROXY_BODY))
        .with_state(state)
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"message": message, "code": code})),
    )
        .into_response()
}

fn is_auth_cookie(set_cookie: &str) -> bool {
    set_cookie.starts_with("better-auth.") || set_cookie.starts_with("__Secure-better-auth.")
}

/// Routes whose success revokes the caller's own session or changes its token's claims.
const DROPS_OWN: [&str; 5] = [
    "/api/auth/sign-out",
    "/api/auth/revoke-sessions",
    "/api/auth/delete-user",
    "/api/auth/change-password",
    "/api/auth/update-user",
];
/// Most digests honoured from one answer.
const MAX_ANNOUNCED: usize = 1000;

/// After a successful POST, drops the cached tokens of the sessions it revoked (or whose user
/// it changed), so no web instance serves them again. A Ferrovex site names them in
/// [`REVOKED_SESSIONS_HEADER`] (which is never passed on to the browser). Without it (a Better
/// Auth site), the routes in [`DROPS_OWN`] drop the caller's own entry, and `/revoke-session`
/// drops the entry of the token in its body; other sessions revoked by
/// `/revoke-other-sessions` or `/change-password` then fall out of the cache at its TTL or
/// their JWT's expiry, whichever comes first.
async fn drop_revoked(
    auth: &SsrAuth,
    path: &str,
    request: &HeaderMap,
    body: &Bytes,
    answer: &HeaderMap,
) {
    if let Some(list) = answer
        .get(REVOKED_SESSIONS_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        for digest in list.split(',').take(MAX_ANNOUNCED) {
            auth.clear_auth_cache_digest(digest.trim()).await;
        }
        return;
    }
    if DROPS_OWN.contains(&path) {
        if let Some(token) = request
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(session_token)
        {
            auth.clear_auth_cache(&token).await;
        }
    } else if path == "/api/auth/revoke-session"
        && let Ok(json) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(token) = json["token"].as_str()
    {
        auth.clear_auth_cache(token).await;
    }
}

async fn handle(
    State(state): State<ProxyState>,
    extensions: axum::http::Extensions,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if method != Method::GET && method != Method::POST {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Only GET and POST are proxied",
        );
    }
    if method == Method::POST {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let origin = origin.map(|o| o.trim_end_matches('/'));
        let allowed = origin
            .is_some_and(|o| o == state.web_origin || state.extra_origins.iter().any(|e| e == o));
        if !allowed {
            return refuse(
                StatusCode::FORBIDDEN,
                "INVALID_ORIGIN",
                "Cross-origin requests are not proxied",
            );
        }
    }
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Request body too large",
            );
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "Cannot read the request body",
            );
        }
    };
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let mut req = hyper::Request::builder()
        .method(method.clone())
        .uri(format!("{}{path}", state.site_url));
    for name in FORWARDED {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v);
        }
    }
    if let Some(key) = &state.proxy_key {
        req = req.header(PROXY_KEY_HEADER, key.as_str());
        if let Some(axum::extract::ConnectInfo(peer)) =
            extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        {
            req = req.header(CLIENT_ADDRESS_HEADER, peer.ip().to_canonical().to_string());
        }
    }
    let sent = body.clone();
    let Ok(req) = req.body(Full::new(body)) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Cannot forward this request",
        );
    };
    let answer = match state.http.send(req).await {
        Ok(a) => a,
        Err(crate::SsrError::Deadline) => {
            return refuse(
                StatusCode::GATEWAY_TIMEOUT,
                "UPSTREAM_TIMEOUT",
                "The auth server did not answer in time",
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "auth proxy upstream failed");
            return refuse(
                StatusCode::BAD_GATEWAY,
                "UPSTREAM_ERROR",
                "The auth server could not be reached",
            );
        }
    };
    if method == Method::POST && answer.status == 200 {
        drop_revoked(&state.auth, uri.path(), &headers, &sent, &answer.headers).await;
    }
    let mut resp = Response::builder().status(answer.status);
    for name in [
        header::CONTENT_TYPE,
        header::CACHE_CONTROL,
        header::LOCATION,
    ] {
        if let Some(v) = answer.headers.get(&name) {
            resp = resp.header(name, v);
        }
    }
    for v in answer.headers.get_all(header::SET_COOKIE) {
        if v.to_str().is_ok_and(is_auth_cookie) {
            resp = resp.header(header::SET_COOKIE, v);
        }
    }
    resp.body(Body::from(answer.body)).unwrap_or_else(|_| {
        let mut r = StatusCode::BAD_GATEWAY.into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthCacheConfig;
    use crate::cache::{CachedToken, MemoryCache, TokenCache, cache_key, session_digest};

    fn entry() -> CachedToken {
        CachedToken {
            jwt: "jwt".into(),
            expires_at_ms: u64::MAX,
            proof: "proof".into(),
            exchange_started_ms: crate::cache::now_ms(),
        }
    }

    async fn cached(tokens: &[&str]) -> (Arc<MemoryCache>, SsrAuth) {
        let cache = Arc::new(MemoryCache::default());
        for t in tokens {
            cache.put(&cache_key(t), entry()).await;
        }
        let config = AuthCacheConfig {
            enabled: true,
            ..AuthCacheConfig::default()
        };
        let auth = SsrAuth::new("http://127.0.0.1:9", config, Some(cache.clone()));
        (cache, auth)
    }

    async fn present(cache: &MemoryCache, token: &str) -> bool {
        cache.get(&cache_key(token), 0).await.is_some()
    }

    fn cookie(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("better-auth.session_token={token}.sig");
        h.insert(header::COOKIE, HeaderValue::from_str(&v).unwrap());
        h
    }

    #[tokio::test]
    async fn announced_digests_are_dropped_and_malformed_ones_ignored() {
        let (cache, auth) = cached(&["a", "b", "c"]).await;
        let mut answer = HeaderMap::new();
        let list = format!(
            "{}, {},not-hex,{}",
            session_digest("a"),
            session_digest("b"),
            "f".repeat(65)
        );
        answer.insert(
            REVOKED_SESSIONS_HEADER,
            HeaderValue::from_str(&list).unwrap(),
        );
        // The header wins over the path rules: the caller's own entry ("c") stays.
        drop_revoked(
            &auth,
            "/api/auth/sign-out",
            &cookie("c"),
            &Bytes::new(),
            &answer,
        )
        .await;
        assert!(!present(&cache, "a").await && !present(&cache, "b").await);
        assert!(present(&cache, "c").await);
    }

    #[tokio::test]
    async fn without_announcements_the_path_decides() {
        let (cache, auth) = cached(&["own", "other", "third"]).await;
        let none = HeaderMap::new();
        let body = Bytes::from(r#"{"token":"other"}"#);
        drop_revoked(
            &auth,
            "/api/auth/revoke-session",
            &cookie("own"),
            &body,
            &none,
        )
        .await;
        assert!(!present(&cache, "other").await && present(&cache, "own").await);
        drop_revoked(
            &auth,
            "/api/auth/sign-in/email",
            &cookie("own"),
            &Bytes::new(),
            &none,
        )
        .await;
        assert!(present(&cache, "own").await, "a route that revokes nothing");
        drop_revoked(
            &auth,
            "/api/auth/revoke-sessions",
            &cookie("own"),
            &Bytes::new(),
            &none,
        )
        .await;
        assert!(!present(&cache, "own").await && present(&cache, "third").await);
    }
}
