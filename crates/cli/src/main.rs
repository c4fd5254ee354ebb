//! The `ferrovex` binary: the built-in demo deployment (`serve`, `run`, `jwks`, `codegen`, as
//! any app built on the `ferrovex` library has) plus the tools that work on apps: `init`
//! scaffolds one, `dev` rebuilds and restarts it on every change, `bench` measures.

mod bench;
mod bench_auth;
mod bench_dev;
mod bench_files;
mod bench_scaleout;
mod bench_scheduler;
mod bench_search;
mod bench_snapshot;
mod bench_soak;
mod bench_sync;
mod bench_web;
mod dev;
mod init;

use clap::{Parser, Subcommand};

/// Ferrovex: a self-hosted realtime backend with built-in auth, compatible with Convex clients.
#[derive(Parser, Debug)]
#[command(
    name = "ferrovex",
    version,
    about = "Ferrovex: a self-hosted realtime backend with built-in auth, compatible with Convex clients. Without an app of its own this binary serves the built-in demo; `init` and `dev` work on your own app."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Deployment(Box<ferrovex::Command>),
    /// Measure the HTTP API on loopback against an in-process deployment.
    Bench(bench::BenchArgs),
    /// Scaffold a new app crate (a Rust backend on the ferrovex library) in a folder.
    Init(init::InitArgs),
    /// In an app's folder: build, serve, and rebuild, regenerate and restart on every change.
    Dev(dev::DevArgs),
}

/// The built-in demo: its functions, plus its pages on the web origin.
pub(crate) fn demo() -> ferrovex::Deployment {
    ferrovex::Deployment::new(ferrovex_demo::app())
        .web(ferrovex::demo_web::DemoWeb)
        .customize(|app, args| match args.demo_cron_secs {
            Some(secs) if secs > 0 => {
                ferrovex_demo::with_cron(app, std::time::Duration::from_secs(secs))
            }
            _ => app,
        })
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Deployment(command) => {
            ferrovex::run_async(async move { ferrovex::run_command(&demo(), *command).await })
        }
        Command::Bench(args) => ferrovex::run_async(bench::bench(args)),
        Command::Init(args) => ferrovex::run_async(async move { init::init(args) }),
        Command::Dev(args) => ferrovex::run_async(dev::dev(args)),
    }
}
