//! Ferrovex as a library: your app's binary builds an [`App`] and hands it to [`main`], which
//! gives it every verb a deployment needs (`serve`, `run`, `jwks`, `codegen`), with the same
//! flags and environment variables as the `ferrovex` binary.
//!
//! ```no_run
//! use ferrovex::prelude::*;
//!
//! #[derive(Serialize, Deserialize, Type)]
//! #[ferrovex(table = "messages")]
//! struct Message {
//!     body: String,
//! }
//!
//! #[derive(Deserialize, Type)]
//! struct SendArgs {
//!     body: String,
//! }
//!
//! fn list(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Vec<Doc<Message>>> {
//!     ctx.db.query("messages")?.collect()?.into_iter().map(|d| Ok(Doc::try_from(d)?)).collect()
//! }
//!
//! fn send(ctx: &mut MutationCtx, args: SendArgs) -> FnResult<Id<Message>> {
//!     Ok(Id::new(ctx.db.insert("messages", &Message { body: args.body })?))
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let schema = Schema::new().table("messages", TableDef::default().document(Message::validator()));
//!     ferrovex::main(App::new(schema).query("messages:list", list).mutation("messages:send", send))
//! }
//! ```
//!
//! What a user's app may touch is exactly what this crate exports: the [`prelude`], the
//! [`testing`] harness, [`codegen`], the [`ssr`] toolkit and [`Deployment`] for serving a web
//! origin beside the backend. Engine internals stay in `ferrovex-engine`.

// `#[derive(Type)]` names `::ferrovex`; this makes that path work inside the crate too.
extern crate self as ferrovex;

pub mod admin_key;
pub mod backup;
mod builtins;
mod cli;
pub mod codegen;
mod connections;
#[cfg(feature = "demo-web")]
pub mod demo_web;
mod deployment;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod derive_tests;
mod jwks;
mod logging;
mod run;
pub mod serve;
mod snapshot;
mod storage;
pub mod testing;

#[doc(hidden)]
pub mod client;

use std::process::ExitCode;

pub use cli::{Command, run_async, run_command};
pub use deployment::{Deployment, WebContext, WebOrigin, WebStarted};
pub use ferrovex_engine::Type;
pub use ferrovex_engine::{
    ActionCtx, ActionScheduler, App, ConvexError, CronSchedule, DatabaseReader, DatabaseWriter,
    Doc, FnError, FnResult, FunctionKind, FunctionPath, FunctionSpec, Id, Identity, MutationCtx,
    MutationScheduler, NoArgs, PaginationOpts, PaginationResult, QueryCtx, SystemReader, Table,
    Visibility, field_validator,
};
pub use ferrovex_engine::{
    ActionStorage, FileMetadata, MAX_SEARCH_RESULTS, MutationStorage, QueryStorage, SearchFilter,
    SearchQuery,
};
pub use ferrovex_engine::{Cors, HttpRequest, HttpResponse, HttpRoute, MAX_HTTP_ACTION_BODY};
pub use ferrovex_macros::Type;
pub use ferrovex_store::validator::{Validator, v};
pub use ferrovex_store::{Document, DocumentId, Order, Schema, TableDef};
pub use ferrovex_values::Value;

/// The SSR toolkit for an axum web app on Ferrovex (request auth with a token cache, server
/// queries, the `/api/auth` proxy, the browser runtime).
pub use ferrovex_ssr as ssr;

#[doc(hidden)]
pub use ferrovex_engine::__private;

/// README.md's Rust snippets compile against this crate (`cargo test --doc -p ferrovex`).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeSnippets;

/// Everything a function file needs: `use ferrovex::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ActionCtx, App, ConvexError, Doc, Document, DocumentId, FileMetadata, FnError, FnResult,
        HttpRequest, HttpResponse, HttpRoute, Id, MutationCtx, NoArgs, Order, PaginationOpts,
        PaginationResult, QueryCtx, Schema, Table, TableDef, Type, Validator, Value, v,
    };
    pub use serde::{Deserialize, Serialize};
}

/// Waits `duration` (for actions: `ferrovex::sleep(Duration::from_millis(50)).await`).
pub async fn sleep(duration: std::time::Duration) {
    tokio::time::sleep(duration).await;
}

/// The entry point of an app's binary: parses the command line (`serve`, `run`, `jwks`,
/// `codegen`) and runs it for `app`.
pub fn main(app: App) -> ExitCode {
    use clap::Parser as _;
    let cli = cli::AppCli::parse();
    let deployment = Deployment::new(app);
    run_async(async move { run_command(&deployment, cli.command).await })
}
