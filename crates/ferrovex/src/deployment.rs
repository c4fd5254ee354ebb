//! A deployment: the user's [`App`] plus, optionally, a web origin (an axum app built with the
//! SSR toolkit) that `serve` starts beside the API and site origins.

use std::sync::Arc;

use ferrovex_engine::App;
use futures_util::future::BoxFuture;

/// What `serve` hands a web origin when it starts it.
pub struct WebContext {
    /// The bound web listener (`--web-port`).
    pub listener: tokio::net::TcpListener,
    /// URL of the API origin for the web origin's own server-side calls (loopback when bound
    /// locally).
    pub api_url: String,
    /// Public URL of the API origin, which browsers connect to (`--api-url`).
    pub public_api_url: String,
    /// URL of the site origin (token exchange and the `/api/auth` proxy target).
    pub site_url: String,
    /// This origin as browsers see it (`--web-url`; trusted by the site origin for auth POSTs).
    pub web_origin: String,
    /// Other origins whose auth POSTs the web proxy accepts: the loopback twin of
    /// `web_origin` and `--trusted-origins`.
    pub extra_origins: Vec<String>,
    /// `--auth-cache` and `--auth-cache-ttl-secs`.
    pub auth_cache: ferrovex_ssr::auth::AuthCacheConfig,
    /// `--redis-url`.
    pub redis_url: Option<String>,
    /// The key the web origin's `/api/auth` proxy presents to the site origin
    /// (`ferrovex_ssr::proxy::ProxyState::with_proxy_key`) to hear which sessions a request
    /// revoked. A secret: never log it.
    pub proxy_key: String,
    /// Sessions revoked at the site origin (digests), for the web origin's token cache.
    pub revocations: tokio::sync::broadcast::Receiver<Arc<[String]>>,
    /// The connection bounds of `serve`'s flags, for `ferrovex_listener::serve`.
    pub limits: ferrovex_listener::ConnectionLimits,
    /// The web listener's counters, shown on `/metrics` beside the other origins'.
    pub listener_stats: Arc<ferrovex_listener::ListenerStats>,
    /// Resolves when the deployment stops.
    pub shutdown: BoxFuture<'static, ()>,
}

/// A started web origin.
pub struct WebStarted {
    /// The server task; `serve` waits for it on shutdown.
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Counters shown on the API origin's `/metrics` and dashboard.
    pub metrics: Option<Arc<dyn ferrovex_server::MetricsSection>>,
}

/// A web origin `serve` can start (the built-in demo's pages are one).
pub trait WebOrigin: Send + Sync + 'static {
    /// Starts serving on `ctx.listener` until `ctx.shutdown` resolves.
    fn start(&self, ctx: WebContext) -> BoxFuture<'static, anyhow::Result<WebStarted>>;
}

/// Adjusts the app to the `serve` flags (the demo's `--demo-cron-secs`).
pub type Customize = Arc<dyn Fn(App, &crate::serve::ServeArgs) -> App + Send + Sync>;

/// The app a binary serves, and its optional web origin.
#[derive(Clone)]
pub struct Deployment {
    pub(crate) app: App,
    pub(crate) web: Option<Arc<dyn WebOrigin>>,
    pub(crate) customize: Option<Customize>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("app", &self.app)
            .field("web", &self.web.is_some())
            .finish()
    }
}

impl Deployment {
    /// A deployment of `app` with no web origin.
    pub fn new(app: App) -> Deployment {
        Deployment {
            app,
            web: None,
            customize: None,
        }
    }

    /// Lets `serve` adjust the app to its flags before it starts.
    pub fn customize(
        mut self,
        f: impl Fn(App, &crate::serve::ServeArgs) -> App + Send + Sync + 'static,
    ) -> Deployment {
        self.customize = Some(Arc::new(f));
        self
    }

    /// Adds a web origin, served on `--web-port`.
    pub fn web(mut self, web: impl WebOrigin) -> Deployment {
        self.web = Some(Arc::new(web));
        self
    }

    /// The app.
    pub fn app(&self) -> &App {
        &self.app
    }
}
