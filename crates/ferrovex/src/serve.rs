//! `serve`: open the data directory, start the engine, the auth service, the API origin, the
//! site origin and (when the deployment has one) the web origin.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ferrovex_auth::service::{AuthConfig, AuthService, KeyMode};
use ferrovex_auth::store::system_schema;
use ferrovex_auth::verify::{Verifier, parse_auth_config};
use ferrovex_engine::{Engine, EngineConfig};
use ferrovex_server::ApiState;
use ferrovex_server::site::{SiteState, serve_site, spawn_key_maintenance};
use ferrovex_store::SystemClock;

use crate::deployment::{Deployment, WebContext};
pub use crate::storage::Storage;

/// Flags of `ferrovex serve`; each has an environment variable of the same meaning.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Directory holding the SQLite database.
    #[arg(long, env = "FERROVEX_DATA_DIR", default_value = "./ferrovex-data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL database to keep the data in instead of SQLite
    /// (`postgres://user:password@host:5432/db`; `DATABASE_URL` works too). Several instances
    /// may share one, each accepting writes.
    #[arg(long, env = "FERROVEX_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Port of the API origin (Convex HTTP API and sync WebSocket); 0 picks a free port.
    #[arg(long, env = "FERROVEX_API_PORT", default_value_t = 3210)]
    pub api_port: u16,
    /// Port of the site origin (auth routes, JWKS); 0 picks a free port.
    #[arg(long, env = "FERROVEX_SITE_PORT", default_value_t = 3211)]
    pub site_port: u16,
    /// Port of the web origin (the demo app, SSR, `/api/auth` proxy); 0 picks a free port.
    #[arg(long, env = "FERROVEX_WEB_PORT", default_value_t = 3000)]
    pub web_port: u16,
    /// Cache exchanged Convex tokens on the web origin (in memory).
    #[arg(long, env = "FERROVEX_AUTH_CACHE", default_value_t = false, action = clap::ArgAction::Set)]
    pub auth_cache: bool,
    /// Longest life of a cached token, seconds (also cut at the token's expiry minus 30 s).
    #[arg(long, env = "FERROVEX_AUTH_CACHE_TTL_SECS", default_value_t = 900)]
    pub auth_cache_ttl_secs: u64,
    /// Redis URL for a token cache shared by several web instances (with `--auth-cache true`),
    /// e.g. `redis://127.0.0.1:6379`; revocations reach every instance through pub/sub.
    #[arg(long, env = "FERROVEX_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Address to bind: an IP address, or `localhost` (127.0.0.1).
    #[arg(long, env = "FERROVEX_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST), value_parser = parse_host)]
    pub host: IpAddr,
    /// `normal` (safe against process crashes) or `full` (fsync every commit).
    #[arg(long, env = "FERROVEX_DURABILITY", default_value = "normal", value_parser = ["normal", "full"])]
    pub durability: String,
    /// Print one stdout line per function execution (`Q messages:list (WebSocket) success 0ms`).
    #[arg(long, env = "FERROVEX_PRINT_LOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub print_log: bool,
    /// Public URL of the API origin, as browsers reach it (default: the bound address). It is
    /// the `apiUrl` of pages and the address the banner prints.
    #[arg(long, env = "FERROVEX_API_URL")]
    pub api_url: Option<String>,
    /// Public URL of the web origin, as browsers reach it (default: the bound address). Auth
    /// POSTs through its `/api/auth` proxy must come from it (or from `--trusted-origins`).
    #[arg(long, env = "FERROVEX_WEB_URL")]
    pub web_url: Option<String>,
    /// Longest wait for a request's headers, seconds; it also closes a keep-alive connection
    /// idle that long. Slow or silent clients cannot hold connections past it.
    #[arg(long, env = "FERROVEX_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,
    /// Most connections open at once on each origin (WebSockets included); at the cap, new
    /// connections wait for one to close.
    #[arg(long, env = "FERROVEX_MAX_CONNECTIONS", default_value_t = ferrovex_listener::DEFAULT_MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_connections: usize,
    /// Most connections open at once from one client address on each origin (0: no cap);
    /// one more is answered 503 and closed.
    #[arg(long, env = "FERROVEX_MAX_CONNECTIONS_PER_CLIENT", default_value_t = ferrovex_listener::DEFAULT_MAX_PER_CLIENT)]
    pub max_connections_per_client: usize,
    /// Addresses of your own proxies, comma-separated: exempt from the per-client cap, since
    /// one of them carries many users' requests.
    #[arg(
        long,
        env = "FERROVEX_TRUSTED_PROXIES",
        value_delimiter = ',',
        default_value = "127.0.0.1,::1"
    )]
    pub trusted_proxies: Vec<IpAddr>,
    /// The admin key (Convex's admin auth: `Authorization: Convex <key>`, the dashboard, `run
    /// --admin-key`). Without one, a key is generated on the first start and kept in
    /// `<data dir>/admin_key` (owner-only).
    #[arg(long, env = "FERROVEX_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Serve `/metrics` without the admin key on a non-loopback `--host` (on loopback it is
    /// always open).
    #[arg(long, env = "FERROVEX_METRICS_PUBLIC", default_value_t = false, action = clap::ArgAction::Set)]
    pub metrics_public: bool,
    /// Largest file an upload may store, in bytes (larger ones get 413 and nothing is
    /// stored).
    #[arg(long, env = "FERROVEX_MAX_FILE_BYTES", default_value_t = ferrovex_server::DEFAULT_MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
    /// How long an upload URL (`ctx.storage().generate_upload_url()`) stays valid, seconds.
    #[arg(long, env = "FERROVEX_UPLOAD_URL_TTL_SECS", default_value_t = 3600)]
    pub upload_url_ttl_secs: u64,
    /// The built-in demo only: run its cron (incrementing the counter `cron`) every N seconds.
    #[arg(long, env = "FERROVEX_DEMO_CRON_SECS")]
    pub demo_cron_secs: Option<u64>,
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Auth flags (shared with `ferrovex jwks`).
#[derive(clap::Args, Debug, Clone)]
pub struct AuthArgs {
    /// Public URL of the site origin, the JWT issuer (default `http://<host>:<site port>`).
    #[arg(long, global = true, env = "FERROVEX_SITE_URL")]
    pub site_url: Option<String>,
    /// Secret for cookie signatures and key encryption (`BETTER_AUTH_SECRET` works too).
    /// Without one, a random secret is generated once and kept in the database.
    #[arg(
        long,
        global = true,
        env = "FERROVEX_AUTH_SECRET",
        hide_env_values = true
    )]
    pub auth_secret: Option<String>,
    /// Extra origins trusted for cookie-bearing requests, comma-separated.
    #[arg(
        long,
        global = true,
        env = "FERROVEX_TRUSTED_ORIGINS",
        value_delimiter = ','
    )]
    pub trusted_origins: Vec<String>,
    /// Static keys (Better Auth's `getLatestJwks` format, one or more); without it, keys
    /// live in the database and rotate automatically.
    #[arg(long, global = true, env = "JWKS", hide_env_values = true)]
    pub jwks: Option<String>,
    /// Lifetime of Convex JWTs, seconds.
    #[arg(
        long,
        global = true,
        env = "FERROVEX_JWT_LIFETIME_SECS",
        default_value_t = 900
    )]
    pub jwt_lifetime_secs: u64,
    /// Age at which a new signing key is made, seconds (default 30 days).
    #[arg(long, global = true, env = "FERROVEX_JWKS_ROTATION_SECS", default_value_t = 30 * 86_400)]
    pub jwks_rotation_secs: u64,
    /// How long a replaced key stays published and accepted, seconds (default 30 days).
    #[arg(long, global = true, env = "FERROVEX_JWKS_GRACE_SECS", default_value_t = 30 * 86_400)]
    pub jwks_grace_secs: u64,
    /// How often keys are re-read from the database (other processes' rotations), seconds.
    #[arg(
        long,
        global = true,
        env = "FERROVEX_JWKS_REFRESH_SECS",
        default_value_t = 10
    )]
    pub jwks_refresh_secs: u64,
    /// Session lifetime, seconds (default 7 days).
    #[arg(long, global = true, env = "FERROVEX_SESSION_EXPIRES_SECS", default_value_t = 7 * 86_400)]
    pub session_expires_secs: u64,
    /// Sessions are extended when last extended longer ago than this, seconds (default 1 day).
    #[arg(
        long,
        global = true,
        env = "FERROVEX_SESSION_UPDATE_AGE_SECS",
        default_value_t = 86_400
    )]
    pub session_update_age_secs: u64,
    /// Sign-in, sign-up, change-password and delete-user attempts allowed per client address
    /// per 10 seconds, each (0: no limit).
    #[arg(
        long,
        global = true,
        env = "FERROVEX_AUTH_RATE_LIMIT",
        default_value_t = 10
    )]
    pub auth_rate_limit: u32,
    /// Reuse a session's Convex JWT within the same second instead of signing it again (the
    /// bytes are identical either way: RS256 signatures are deterministic).
    #[arg(long, global = true, env = "FERROVEX_TOKEN_MEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub token_memo: bool,
    /// A JSON file listing extra token providers (`{"providers":[...]}` as in Convex).
    #[arg(long, global = true, env = "FERROVEX_AUTH_CONFIG")]
    pub auth_config: Option<PathBuf>,
    /// Let users delete their own account (`POST /api/auth/delete-user`, Better Auth's
    /// `user.deleteUser.enabled`); off by default.
    #[arg(long, global = true, env = "FERROVEX_AUTH_DELETE_USER", default_value_t = false, action = clap::ArgAction::Set)]
    pub auth_delete_user: bool,
}

impl ServeArgs {
    /// An in-process benchmark deployment on `data_dir`: free ports on 127.0.0.1, no stdout
    /// log, no token cache.
    pub fn for_bench(data_dir: PathBuf, auth: AuthArgs) -> ServeArgs {
        ServeArgs {
            data_dir,
            database_url: None,
            api_port: 0,
            site_port: 0,
            web_port: 0,
            auth_cache: false,
            auth_cache_ttl_secs: 900,
            redis_url: None,
            host: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            durability: "normal".to_owned(),
            print_log: false,
            demo_cron_secs: None,
            api_url: None,
            web_url: None,
            admin_key: None,
            metrics_public: false,
            max_file_bytes: ferrovex_server::DEFAULT_MAX_FILE_BYTES,
            upload_url_ttl_secs: 3600,
            header_timeout_secs: 10,
            max_connections: ferrovex_listener::DEFAULT_MAX_CONNECTIONS,
            // Load generators open thousands of sockets from one address.
            max_connections_per_client: 0,
            trusted_proxies: Vec::new(),
            auth,
        }
    }

    /// The connection bounds these flags set for each origin.
    pub fn connection_limits(&self) -> ferrovex_listener::ConnectionLimits {
        ferrovex_listener::ConnectionLimits {
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            max_connections: self.max_connections,
            max_per_client: match self.max_connections_per_client {
                0 => usize::MAX,
                n => n,
            },
            exempt: self.trusted_proxies.clone(),
        }
    }
}

impl AuthArgs {
    /// Defaults for an in-process benchmark deployment.
    pub fn for_bench() -> AuthArgs {
        AuthArgs {
            site_url: None,
            auth_secret: Some("bench-secret-not-for-production".to_owned()),
            trusted_origins: Vec::new(),
            jwks: None,
            jwt_lifetime_secs: 900,
            jwks_rotation_secs: 30 * 86_400,
            jwks_grace_secs: 30 * 86_400,
            jwks_refresh_secs: 10,
            auth_rate_limit: u32::MAX,
            auth_config: None,
            token_memo: true,
            session_expires_secs: 7 * 86_400,
            session_update_age_secs: 86_400,
            auth_delete_user: false,
        }
    }
}

/// The addresses browsers and tokens use, separate from the bind addresses.
#[derive(Clone, Debug)]
pub struct PublicUrls {
    /// The API origin.
    pub api: String,
    /// The site origin (the JWT issuer).
    pub site: String,
    /// The web origin, if any.
    pub web: Option<String>,
}

/// A URL for `addr` that a local process can reach: an unspecified bind (`0.0.0.0`, `::`)
/// becomes the loopback address, never `http://0.0.0.0:…`.
fn reachable(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

/// `--host`: an IP address, or `localhost` for 127.0.0.1.
fn parse_host(s: &str) -> Result<IpAddr, String> {
    if s.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    s.parse().map_err(|_| {
        format!("{s:?} is not an IP address (use 127.0.0.1, 0.0.0.0, ::1 or localhost)")
    })
}

/// The other spelling of a loopback origin (`localhost` ↔ `127.0.0.1`), which browsers treat
/// as a different origin.
fn loopback_twin(origin: &str) -> Option<String> {
    if let Some(port) = origin.strip_prefix("http://127.0.0.1:") {
        Some(format!("http://localhost:{port}"))
    } else {
        origin
            .strip_prefix("http://localhost:")
            .map(|port| format!("http://127.0.0.1:{port}"))
    }
}

fn trimmed(url: &Option<String>) -> Option<String> {
    url.as_deref()
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty())
}

/// A running deployment.
pub struct Running {
    /// The bound API address.
    pub api_addr: SocketAddr,
    /// The bound site address.
    pub site_addr: SocketAddr,
    /// The bound web address, when the deployment has a web origin.
    pub web_addr: Option<SocketAddr>,
    /// The public URLs (`--api-url`, `--site-url`, `--web-url`, else the bound addresses).
    pub urls: PublicUrls,
    /// The engine (for shutdown).
    pub engine: Engine,
    /// Where the admin key came from (the banner names the file, never the key).
    pub admin_key: crate::admin_key::AdminKeySource,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    maintenance: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Running {
    /// Stops accepting requests, finishes in-flight ones and flushes the committer.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.maintenance.abort();
        for server in self.servers {
            server.await.context("server task")??;
        }
        // Sync sockets were told (1001 ServerShutdown); give their close frames a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while self
            .engine
            .metrics()
            .open_sockets
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let engine = self.engine;
        tokio::task::spawn_blocking(move || engine.shutdown()).await?;
        Ok(())
    }
}

/// Opens the engine (the app plus auth's system tables) on `storage`.
pub fn open_engine(
    app: &ferrovex_engine::App,
    storage: &Storage,
    print_log: bool,
    scheduler: bool,
) -> anyhow::Result<Engine> {
    let persistence = storage.open()?;
    let config = EngineConfig {
        print_log,
        scheduler,
        ..EngineConfig::default()
    };
    let app = app.clone().with_tables(system_schema());
    Ok(Engine::start_with(
        app,
        persistence,
        Arc::new(SystemClock),
        config,
    )?)
}

/// Starts the auth service for `site_url`.
pub async fn start_auth(
    engine: &Engine,
    args: &AuthArgs,
    site_url: String,
) -> anyhow::Result<Arc<AuthService>> {
    let secret = match args
        .auth_secret
        .clone()
        .or_else(|| std::env::var("BETTER_AUTH_SECRET").ok())
    {
        Some(s) if !s.is_empty() => s,
        _ => {
            let store = ferrovex_auth::store::AuthStore::new(engine.clone(), Arc::default());
            store
                .secret("auth_secret", || {
                    format!(
                        "{}{}",
                        ferrovex_auth::keys::new_id(),
                        ferrovex_auth::keys::new_id()
                    )
                })
                .await?
        }
    };
    let mut config = AuthConfig::new(site_url, secret);
    config.trusted_origins = args
        .trusted_origins
        .iter()
        .filter(|o| !o.trim().is_empty())
        .map(|o| o.trim().to_owned())
        .collect();
    config.jwt_lifetime = Duration::from_secs(args.jwt_lifetime_secs);
    config.key_grace = Duration::from_secs(args.jwks_grace_secs);
    config.rate_limit_max = args.auth_rate_limit;
    config.token_memo = args.token_memo;
    config.delete_user = args.auth_delete_user;
    config.session_expires_in = Duration::from_secs(args.session_expires_secs);
    config.session_update_age = Duration::from_secs(args.session_update_age_secs);
    config.key_mode = match &args.jwks {
        Some(jwks) if !jwks.trim().is_empty() => KeyMode::Static { jwks: jwks.clone() },
        _ => KeyMode::Dynamic {
            rotation: Duration::from_secs(args.jwks_rotation_secs),
        },
    };
    AuthService::start(engine.clone(), config)
        .await
        .context("cannot start auth")
}

/// Starts the deployment (used by `serve`, by `bench` and by [`crate::testing`]).
pub async fn start(deployment: &Deployment, args: &ServeArgs) -> anyhow::Result<Running> {
    let app = match &deployment.customize {
        Some(customize) => customize(deployment.app.clone(), args),
        None => deployment.app.clone(),
    };
    let auth_cell = crate::builtins::AuthCell::default();
    let app = crate::builtins::add(app, &auth_cell);
    // Ports first: a busy port must fail before anything is created on disk.
    let api_listener = tokio::net::TcpListener::bind((args.host, args.api_port))
        .await
        .with_context(|| format!("cannot bind the API port {}:{}", args.host, args.api_port))?;
    let site_listener = tokio::net::TcpListener::bind((args.host, args.site_port))
        .await
        .with_context(|| format!("cannot bind the site port {}:{}", args.host, args.site_port))?;
    let web_listener = match &deployment.web {
        Some(_) => Some(
            tokio::net::TcpListener::bind((args.host, args.web_port))
                .await
                .with_context(|| {
                    format!("cannot bind the web port {}:{}", args.host, args.web_port)
                })?,
        ),
        None => None,
    };
    let storage = Storage::from_flags(
        &args.data_dir,
        args.database_url.as_deref(),
        &args.durability,
    )?;
    let engine = open_engine(&app, &storage, args.print_log, true)?;
    let api_addr = api_listener.local_addr()?;
    let site_addr = site_listener.local_addr()?;
    let web_addr = web_listener
        .as_ref()
        .map(tokio::net::TcpListener::local_addr)
        .transpose()?;
    let urls = PublicUrls {
        api: trimmed(&args.api_url).unwrap_or_else(|| reachable(api_addr)),
        site: trimmed(&args.auth.site_url).unwrap_or_else(|| reachable(site_addr)),
        web: web_addr.map(|addr| trimmed(&args.web_url).unwrap_or_else(|| reachable(addr))),
    };
    // File bytes: in the data directory on SQLite; on PostgreSQL in the database (so every
    // instance serves every file), spooled and cached in the data directory.
    let spool = args.data_dir.join("storage");
    let blobs: Arc<dyn ferrovex_store::BlobStore> = match &storage {
        Storage::Sqlite { .. } => {
            Arc::new(ferrovex_store::FsBlobStore::open(&spool).context("cannot open file storage")?)
        }
        Storage::Postgres { url } => Arc::new(
            ferrovex_store_postgres::PgBlobStore::open(url, &spool)
                .context("cannot open file storage in PostgreSQL")?,
        ),
    };
    engine.configure_files(
        blobs,
        &urls.api,
        Duration::from_secs(args.upload_url_ttl_secs.max(1)),
    );
    if args.host.is_unspecified()
        && (args.api_url.is_none()
            || args.auth.site_url.is_none()
            || (web_addr.is_some() && args.web_url.is_none()))
    {
        tracing::warn!(
            "bound to {} without public URLs: pages and tokens name 127.0.0.1, which only this machine reaches; set --api-url, --site-url and --web-url (FERROVEX_API_URL, FERROVEX_SITE_URL, FERROVEX_WEB_URL) to the addresses browsers use",
            args.host
        );
    }
    // A free site port changes at every start; the issuer (and so every user's
    // `tokenIdentifier`) must not. Without `--site-url`, the first issuer is kept.
    let site_url = if args.site_port == 0 && trimmed(&args.auth.site_url).is_none() {
        let first = urls.site.clone();
        let store = ferrovex_auth::store::AuthStore::new(engine.clone(), Arc::default());
        let kept = store.secret("issuer", move || first).await?;
        if kept != urls.site {
            tracing::warn!(
                issuer = %kept,
                "--site-port 0 without --site-url: keeping the first issuer so users' identities stay stable; set --site-url to the site origin's public URL"
            );
        }
        kept
    } else {
        urls.site.clone()
    };
    let web_origin = urls.web.clone();
    // Auth POSTs through the web proxy come from its public URL, its loopback twin
    // (`localhost` and `127.0.0.1` are both natural to type) and the trusted origins.
    let mut web_origins: Vec<String> = args.auth.trusted_origins.clone();
    // Only a loopback public URL has a twin: a public hostname trusts no loopback origin.
    if let Some(origin) = &web_origin {
        web_origins.extend(loopback_twin(origin));
    }
    let mut auth_args = args.auth.clone();
    // The site's own public address is trusted even when the issuer names another (kept)
    // one.
    auth_args.trusted_origins.push(urls.site.clone());
    // The web origin proxies auth requests, so its origins are trusted.
    auth_args.trusted_origins.extend(web_origin.clone());
    auth_args.trusted_origins.extend(web_origins.clone());
    let auth = start_auth(&engine, &auth_args, site_url).await?;
    let _ = auth_cell.set(auth.clone());
    let providers = match &args.auth.auth_config {
        Some(path) => parse_auth_config(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )?,
        None => Vec::new(),
    };
    let verifier = Arc::new(Verifier::new(Some(auth.clone()), providers));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut rx = stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut servers = Vec::new();
    let limits = args.connection_limits();
    let connections = crate::connections::ConnectionMetrics::default();
    let auth_routes = Arc::new(ferrovex_server::auth_log::AuthRouteStats::new(
        args.print_log,
    ));
    let mut sections: Vec<Arc<dyn ferrovex_server::MetricsSection>> =
        vec![auth_routes.clone(), Arc::new(connections.clone())];
    if let (Some(web), Some(listener), Some(web_origin)) =
        (&deployment.web, web_listener, web_origin)
    {
        let started = web
            .start(WebContext {
                listener,
                api_url: reachable(api_addr),
                public_api_url: urls.api.clone(),
                site_url: reachable(site_addr),
                web_origin,
                extra_origins: web_origins.clone(),
                auth_cache: ferrovex_ssr::auth::AuthCacheConfig {
                    enabled: args.auth_cache,
                    ttl: Duration::from_secs(args.auth_cache_ttl_secs),
                },
                redis_url: args.redis_url.clone(),
                proxy_key: auth.proxy_key(),
                revocations: auth.revocations(),
                limits: limits.clone(),
                listener_stats: connections.web.clone(),
                shutdown: Box::pin(until_stopped()),
            })
            .await?;
        servers.push(started.server);
        sections.extend(started.metrics);
    }
    let (admin, admin_source) =
        crate::admin_key::resolve(args.admin_key.as_deref(), &args.data_dir)?;
    let api_state = ApiState {
        engine: engine.clone(),
        verifier: Some(verifier.clone()),
        auth: Some(auth.clone()),
        sections,
        admin: Some(Arc::new(admin)),
        stopping: stop.subscribe(),
        snapshots_dir: Some(args.data_dir.join("snapshots")),
        max_file_bytes: args.max_file_bytes,
        storage: match &storage {
            Storage::Sqlite { data_dir, .. } => ferrovex_server::StorageSummary {
                backend: "SQLite".to_owned(),
                description: storage.describe(),
                data_dir: Some(data_dir.clone()),
            },
            Storage::Postgres { .. } => ferrovex_server::StorageSummary {
                backend: "PostgreSQL".to_owned(),
                description: storage.describe(),
                data_dir: None,
            },
        },
        operator: if args.host.is_loopback() {
            ferrovex_server::OperatorAccess::Open
        } else {
            ferrovex_server::OperatorAccess::KeyRequired {
                metrics_public: args.metrics_public,
            }
        },
    };
    let api = tokio::spawn(ferrovex_server::serve_api(
        api_listener,
        api_state,
        limits.clone(),
        connections.api.clone(),
        until_stopped(),
    ));
    let site = tokio::spawn(serve_site(
        site_listener,
        SiteState {
            auth: auth.clone(),
            engine: Some(engine.clone()),
            verifier: Some(verifier.clone()),
            routes: auth_routes.clone(),
            public_url: Some(urls.site.clone()),
        },
        limits,
        connections.site.clone(),
        until_stopped(),
    ));
    let keys = spawn_key_maintenance(
        auth.clone(),
        Duration::from_secs(args.auth.jwks_refresh_secs.max(1)),
    );
    let files_gc = spawn_file_gc(engine.clone());
    let maintenance = tokio::spawn(async move {
        let _ = tokio::join!(keys, files_gc);
    });
    Ok(Running {
        api_addr,
        site_addr,
        web_addr,
        urls,
        engine,
        admin_key: admin_source,
        servers: {
            servers.push(api);
            servers.push(site);
            servers
        },
        maintenance,
        stop,
    })
}

/// Deletes unreferenced file bytes and expired upload tokens a minute after the start, then
/// every ten minutes.
fn spawn_file_gc(engine: Engine) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        loop {
            match engine.collect_file_garbage().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(blobs = n, "deleted unreferenced file bytes"),
                Err(e) => tracing::warn!(error = %e, "file storage cleanup failed"),
            }
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs until Ctrl-C or SIGTERM, then shuts down cleanly.
pub async fn serve(deployment: &Deployment, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (filter, filter_warning) = crate::logging::filter();
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    // Colour only for a person at a terminal: files and pipes get plain text.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .with(crate::logging::WarningLayer)
            .init();
    }
    if let Some(warning) = filter_warning {
        tracing::warn!("{warning}");
    }
    let running = start(deployment, &args).await?;
    println!("Ferrovex {} is running", env!("CARGO_PKG_VERSION"));
    let storage = Storage::from_flags(
        &args.data_dir,
        args.database_url.as_deref(),
        &args.durability,
    )?;
    println!("  data:  {}", storage.describe());
    // The public URL, and where it listens when that differs (behind a proxy, say).
    let show = |public: &str, bound: SocketAddr| {
        let local = reachable(bound);
        if public == local {
            public.to_owned()
        } else {
            format!("{public} (listening on {local})")
        }
    };
    println!("  api:   {}", show(&running.urls.api, running.api_addr));
    println!("  site:  {}", show(&running.urls.site, running.site_addr));
    if let (Some(web), Some(addr)) = (&running.urls.web, running.web_addr) {
        println!("  web:   {}", show(web, addr));
    }
    println!("  dashboard: {}/_dashboard", running.urls.api);
    match &running.admin_key {
        crate::admin_key::AdminKeySource::Flag => {
            println!("  admin key: from --admin-key / FERROVEX_ADMIN_KEY");
        }
        crate::admin_key::AdminKeySource::File(path) => {
            println!("  admin key: cat {}", path.display());
        }
    }
    println!("Press Ctrl-C to stop.");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    println!("shutting down");
    running.stop().await?;
    println!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}
