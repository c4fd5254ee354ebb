//! `ferrovex serve`: open the data directory, start the engine and the API origin.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use ferrovex_engine::{Engine, EngineConfig};
use ferrovex_server::ApiState;
use ferrovex_store::SystemClock;
use ferrovex_store_sqlite::{Durability, SqlitePersistence};

/// Flags of `ferrovex serve`; each has an environment variable of the same meaning.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Directory holding the SQLite database.
    #[arg(long, env = "FERROVEX_DATA_DIR", default_value = "./ferrovex-data")]
    pub data_dir: PathBuf,
    /// Port of the API origin (Convex HTTP API); 0 picks a free port.
    #[arg(long, env = "FERROVEX_API_PORT", default_value_t = 3210)]
    pub api_port: u16,
    /// Address to bind.
    #[arg(long, env = "FERROVEX_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// `normal` (safe against process crashes) or `full` (fsync every commit).
    #[arg(long, env = "FERROVEX_DURABILITY", default_value = "normal", value_parser = ["normal", "full"])]
    pub durability: String,
    /// Print one stdout line per function execution (`Q messages:list (WebSocket) success 0ms`).
    #[arg(long, env = "FERROVEX_PRINT_LOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub print_log: bool,
}

/// A running deployment.
pub struct Running {
    /// The bound API address.
    pub api_addr: SocketAddr,
    /// The engine (for shutdown).
    pub engine: Engine,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// Stops accepting requests, finishes in-flight ones and flushes the committer.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.server.await.context("server task")??;
        let engine = self.engine;
        tokio::task::spawn_blocking(move || engine.shutdown()).await?;
        Ok(())
    }
}

/// Starts the demo deployment (used by `serve` and by `bench`).
pub async fn start(args: &ServeArgs) -> anyhow::Result<Running> {
    let durability = if args.durability == "full" {
        Durability::Full
    } else {
        Durability::Normal
    };
    let persistence = SqlitePersistence::open(&args.data_dir, durability, Arc::new(SystemClock))
        .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    let config = EngineConfig {
        print_log: args.print_log,
        ..EngineConfig::default()
    };
    let engine = Engine::start_with(
        ferrovex_demo::app(),
        Arc::new(persistence),
        Arc::new(SystemClock),
        config,
    )?;
    let listener = tokio::net::TcpListener::bind((args.host, args.api_port))
        .await
        .with_context(|| format!("cannot bind the API port {}:{}", args.host, args.api_port))?;
    let api_addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = ApiState {
        engine: engine.clone(),
    };
    let server = tokio::spawn(ferrovex_server::serve_api(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(Running {
        api_addr,
        engine,
        server,
        stop,
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
pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERROVEX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let running = start(&args).await?;
    println!("Ferrovex {} is running", env!("CARGO_PKG_VERSION"));
    println!("  data:  {}", args.data_dir.display());
    println!("  api:   http://{}", running.api_addr);
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    println!("shutting down");
    running.stop().await?;
    println!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}
