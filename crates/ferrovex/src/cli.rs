//! The verbs every Ferrovex binary has (`serve`, `run`, `jwks`, `codegen`) and the runtime
//! they run on. The `ferrovex` binary adds its own (`bench`, `init`, `dev`) by flattening
//! [`Command`] into its command enum.

use std::future::Future;
use std::process::ExitCode;

use crate::codegen::{self, CodegenArgs};
use crate::deployment::Deployment;
use crate::{jwks, run, serve};

/// A Ferrovex deployment's command line.
#[derive(clap::Parser, Debug)]
#[command(
    version,
    about = "A Ferrovex deployment: your functions on the Ferrovex runtime."
)]
pub(crate) struct AppCli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The verbs of every Ferrovex binary.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Start the deployment on the embedded SQLite defaults and print its URLs.
    Serve(Box<serve::ServeArgs>),
    /// Call a function on a running deployment and print its result as JSON.
    Run(run::RunArgs),
    /// Print (`latest`) or rotate (`rotate`) the JWT signing keys as a `JWKS` value.
    Jwks(jwks::JwksArgs),
    /// Copy a SQLite deployment's database to a file, online, while it keeps serving.
    Backup(crate::backup::BackupArgs),
    /// Write one consistent snapshot of the deployment's tables as a Convex snapshot ZIP.
    Export(crate::snapshot::ExportArgs),
    /// Import a Convex snapshot ZIP, a `.jsonl` or a `.json` file, all or nothing.
    Import(crate::snapshot::ImportArgs),
    /// Write the TypeScript a Convex client needs (`convex/_generated/api.js`, `api.d.ts`,
    /// `dataModel.d.ts`) for this app's functions and tables.
    Codegen(CodegenArgs),
}

/// Runs one of the common verbs for `deployment`.
pub async fn run_command(deployment: &Deployment, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::serve(deployment, *args).await,
        Command::Run(args) => run::run(args).await,
        Command::Jwks(args) => jwks::jwks(&deployment.app, args).await,
        Command::Codegen(args) => codegen::codegen(&deployment.app, &args),
        Command::Backup(args) => crate::backup::backup(&args).await,
        Command::Export(args) => crate::snapshot::export(&deployment.app, args).await,
        Command::Import(args) => crate::snapshot::import(&deployment.app, args).await,
    }
}

/// Runs `f` on a new multi-threaded runtime; an error is printed as `error: ...` and exits 1.
pub fn run_async<F>(f: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<ExitCode>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(f) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
