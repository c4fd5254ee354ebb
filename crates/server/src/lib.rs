//! The HTTP edge of Ferrovex. Only this crate knows HTTP and JSON request shapes; it converts
//! them to engine calls and engine outcomes back to the Convex wire format.

pub mod admin;
pub mod auth_log;
mod cli_api;
mod dashboard;
mod data_view;
mod error;
mod files_view;
mod format;
mod health_view;
mod http_actions;
mod http_api;
mod jobs_view;
mod metrics;
pub mod operator;
mod runner_view;
pub mod site;
mod storage_api;
mod stream;
pub mod sync;
pub mod warnings;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use ferrovex_engine::Engine;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use format::ValueFormat;
pub use http_api::MAX_BODY_BYTES;
pub use storage_api::DEFAULT_MAX_FILE_BYTES;

/// Shared state of the API origin's handlers.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The engine that runs functions.
    pub engine: Engine,
    /// Verifies `Authorization: Bearer` and WebSocket `Authenticate` tokens; `None` refuses
    /// every token.
    pub verifier: Option<Arc<ferrovex_auth::verify::Verifier>>,
    /// The built-in auth service, for its counters on `/metrics` and the dashboard.
    pub auth: Option<Arc<ferrovex_auth::service::AuthService>>,
    /// Counters of other components in this process (the web origin), shown on `/metrics`
    /// and the dashboard.
    pub sections: Vec<Arc<dyn MetricsSection>>,
    /// The admin key; `None` refuses every admin credential.
    pub admin: Option<Arc<admin::AdminKey>>,
    /// Whether the dashboard and `/metrics` need the admin key.
    pub operator: OperatorAccess,
    /// Turns true when the deployment stops: sync sockets close with 1001 `ServerShutdown`.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Largest file an upload may store (`--max-file-bytes`).
    pub max_file_bytes: u64,
    /// Which storage serves the deployment, for the health page.
    pub storage: StorageSummary,
    /// Where export archives and import uploads are kept (`<data dir>/snapshots`); `None`
    /// refuses the export and import endpoints.
    pub snapshots_dir: Option<std::path::PathBuf>,
}

pub use health_view::LAST_BACKUP_FILE;
pub use operator::OperatorAccess;

/// The deployment's storage as the health page shows it.
#[derive(Clone, Debug, Default)]
pub struct StorageSummary {
    /// `SQLite` or `PostgreSQL`.
    pub backend: String,
    /// Where: the data directory, or the database URL without its password.
    pub description: String,
    /// The data directory holding the SQLite file (its size is shown), if SQLite.
    pub data_dir: Option<std::path::PathBuf>,
}

/// Counters of a component outside the API origin (for example the web origin running in the
/// same process), added to `/metrics` and to a dashboard card.
pub trait MetricsSection: Send + Sync + std::fmt::Debug {
    /// Title of its dashboard card.
    fn title(&self) -> &str;
    /// `(name, value)` pairs shown on the card.
    fn summary(&self) -> Vec<(&'static str, String)>;
    /// The counters in the Prometheus text format.
    fn prometheus(&self) -> String;
}

/// The router of the API origin (default 127.0.0.1:3210).
pub fn api_router(state: ApiState) -> Router {
    health_view::mark_started();
    http_api::router(state)
}

/// Serves the API origin on `listener` within `limits` until `shutdown` resolves, then
/// finishes in-flight requests.
pub async fn serve_api(
    listener: TcpListener,
    state: ApiState,
    limits: ferrovex_listener::ConnectionLimits,
    stats: Arc<ferrovex_listener::ListenerStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    ferrovex_listener::serve(listener, api_router(state), limits, stats, shutdown).await
}
