//! The demo web app (default 127.0.0.1:3000): pages rendered on the server with the SSR
//! toolkit, their data in the first HTML bytes, then kept live by the browser runtime.

mod pages;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use ferrovex_ssr::auth::{AuthCacheConfig, SsrAuth};
use ferrovex_ssr::cache::{MemoryCache, TokenCache};
use ferrovex_ssr::proxy::{ProxyState, proxy_router};
use ferrovex_ssr::query::ServerQueries;
use ferrovex_ssr::runtime::{RUNTIME_JS, RUNTIME_PATH};

/// Configuration of the web origin.
#[derive(Clone)]
pub struct WebConfig {
    /// URL of the API origin for server-side queries.
    pub api_url: String,
    /// Public URL of the API origin (the browser connects to it; the page payload's `apiUrl`).
    pub public_api_url: String,
    /// URL of the site origin (token exchange and the auth proxy target).
    pub site_url: String,
    /// This origin, as browsers see it (for the proxy's same-origin check).
    pub web_origin: String,
    /// Other origins whose auth POSTs the proxy accepts (a loopback twin, trusted origins).
    pub extra_origins: Vec<String>,
    /// The SSR auth token cache.
    pub auth_cache: AuthCacheConfig,
    /// Share the token cache through Redis (and fan out revocations) instead of memory.
    pub redis_url: Option<String>,
    /// The deployment's proxy key, presented to the site origin (never logged).
    pub proxy_key: Option<String>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("api_url", &self.api_url)
            .field("public_api_url", &self.public_api_url)
            .field("site_url", &self.site_url)
            .field("web_origin", &self.web_origin)
            .field("auth_cache", &self.auth_cache)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "set"))
            .field("proxy_key", &self.proxy_key.as_ref().map(|_| "set"))
            .finish()
    }
}

/// Shared state of the pages.
#[derive(Clone, Debug)]
pub struct WebState {
    pub(crate) config: WebConfig,
    pub(crate) auth: Arc<SsrAuth>,
    pub(crate) queries: ServerQueries,
}

impl WebState {
    /// State with the configured token cache (memory, or Redis when `redis_url` is set).
    pub async fn start(config: WebConfig) -> Result<WebState, String> {
        let cache: Arc<dyn TokenCache> = match (&config.redis_url, config.auth_cache.enabled) {
            (Some(url), true) => Arc::new(
                ferrovex_ssr::redis_cache::RedisCache::connect(url)
                    .await
                    .map_err(|e| format!("cannot connect to Redis for the auth cache: {e}"))?,
            ),
            _ => Arc::new(MemoryCache::default()),
        };
        let auth = Arc::new(SsrAuth::new(
            &config.site_url,
            config.auth_cache.clone(),
            Some(cache),
        ));
        Ok(WebState {
            queries: ServerQueries::new(&config.api_url),
            auth,
            config,
        })
    }

    /// The SSR auth (for its exchange counter).
    pub fn auth(&self) -> &Arc<SsrAuth> {
        &self.auth
    }
}

async fn runtime() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        RUNTIME_JS,
    )
}

/// The web origin's router.
pub fn web_router(state: WebState) -> Router {
    let proxy = proxy_router(
        ProxyState::new(
            &state.config.site_url,
            &state.config.web_origin,
            state.auth.clone(),
        )
        .with_proxy_key(state.config.proxy_key.clone())
        .with_extra_origins(&state.config.extra_origins),
    );
    Router::new()
        .route("/", get(pages::chat))
        .route("/teams", get(pages::teams))
        .route("/settings", get(pages::settings))
        .route("/search", get(pages::search))
        .route("/files", get(pages::files))
        .route("/session", get(pages::session))
        .route("/reports", get(pages::reports))
        .route("/history", get(pages::history))
        .route("/sign-in", get(pages::sign_in))
        .route("/sign-up", get(pages::sign_up))
        .route(RUNTIME_PATH, get(runtime))
        .route("/favicon.ico", get(favicon))
        .with_state(state)
        .merge(proxy)
        .fallback(not_found)
}

/// The demo's icon (an SVG served at the path browsers ask for), so pages log no 404.
async fn favicon() -> impl axum::response::IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#b4532a"/><path d="M4 3h8v2H6v2h5v2H6v4H4z" fill="#fff"/></svg>"##,
    )
}

/// A small page for unknown paths, with a way back.
async fn not_found(uri: axum::http::Uri) -> impl axum::response::IntoResponse {
    let path = pages::escape(uri.path());
    (
        axum::http::StatusCode::NOT_FOUND,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Not found</title></head>\
             <body><h1>Not found</h1><p>Nothing lives at <code>{path}</code>.</p>\
             <p><a href=\"/\">Back to the chat</a></p></body></html>"
        ),
    )
}

/// Serves the web origin within `limits` until `shutdown` resolves.
pub async fn serve_web(
    listener: tokio::net::TcpListener,
    state: WebState,
    limits: ferrovex_listener::ConnectionLimits,
    stats: std::sync::Arc<ferrovex_listener::ListenerStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    ferrovex_listener::serve(listener, web_router(state), limits, stats, shutdown).await
}
