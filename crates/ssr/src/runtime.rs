//! The browser runtime (plain JavaScript, no build step), embedded in the binary.

/// Where the web origin serves the runtime.
pub const RUNTIME_PATH: &str = "/_ferrovex/runtime.js";

/// The runtime's source.
pub const RUNTIME_JS: &str = include_str!("../assets/runtime.js");
