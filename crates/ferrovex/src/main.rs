//! The `ferrovex` command: `serve` runs the deployment, `run` calls a function on a running
//! deployment, `bench` measures it.

mod bench;
mod bench_auth;
mod bench_sync;
mod bench_web;
mod client;
mod jwks;
mod run;
mod serve;

use clap::{Parser, Subcommand};

/// Ferrovex: a self-hosted realtime backend with built-in auth, compatible with Convex clients.
#[derive(Parser, Debug)]
#[command(name = "ferrovex", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the deployment on the embedded SQLite defaults and print its URLs.
    Serve(serve::ServeArgs),
    /// Call a function on a running deployment and print its result as JSON.
    Run(run::RunArgs),
    /// Measure the HTTP API on loopback against an in-process deployment.
    Bench(bench::BenchArgs),
    /// Print (`latest`) or rotate (`rotate`) the JWT signing keys as a `JWKS` value.
    Jwks(jwks::JwksArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await,
            Command::Run(args) => run::run(args).await,
            Command::Bench(args) => bench::bench(args).await,
            Command::Jwks(args) => jwks::jwks(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
