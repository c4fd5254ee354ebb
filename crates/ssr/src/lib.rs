//! The SSR toolkit: what a Rust web app (axum) needs to render Convex-backed pages on the
//! server with their data in the first bytes, and keep them live in the browser.
//!
//! - [`auth::SsrAuth`]: read the session cookie, exchange it for a Convex JWT at the site
//!   origin (through an optional [`cache::TokenCache`]), decode the display claims.
//! - [`query::ServerQueries`]: run queries over the HTTP API with the request's token and
//!   collect their results into the page payload ([`payload::Payload`]).
//! - [`timing::ServerTiming`]: the `Server-Timing` header with each auth phase and query.
//! - [`proxy`]: the `/api/auth/*` proxy from the web origin to the site origin.
//! - [`stats::SsrStats`]: counters and a render-time histogram for `/metrics`.
//! - [`runtime::RUNTIME_JS`]: the browser runtime, served at [`runtime::RUNTIME_PATH`].

pub mod auth;
pub mod cache;
mod http;
pub mod payload;
pub mod proxy;
pub mod query;
pub mod redis_cache;
pub mod runtime;
pub mod stats;
pub mod timing;

/// Errors of the toolkit.
#[derive(Debug, thiserror::Error)]
pub enum SsrError {
    /// The site or API origin could not be reached or answered badly.
    #[error("upstream error: {0}")]
    Upstream(String),
    /// The upstream took longer than the deadline.
    #[error("upstream deadline exceeded")]
    Deadline,
}
