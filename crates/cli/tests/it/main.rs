//! End-to-end tests of the `ferrovex` binary (one test binary, one module per area).

// Test helpers may panic: a panic is a test failure with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod app;
mod auth;
mod backup;
mod common;
mod connections;
mod convex_cli;
mod dashboard_browser;
mod data_browser;
mod demo_access;
mod disk;
mod docs;
mod files;
mod http;
mod http_actions;
mod public_urls;
mod review;
mod scaleout;
mod scheduler;
mod search;
mod site_cors;
mod snapshot;
mod sync;
mod web;
