//! `ferrovex run <path> [args]`: call a function on a running deployment, like `npx convex run`.

use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::client::HttpClient;

/// Flags of `ferrovex run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Function path, e.g. `messages:list`.
    pub path: String,
    /// Arguments as a JSON object in Convex JSON (`{"by": {"$integer": "AQAAAAAAAAA="}}`).
    pub args: Option<String>,
    /// URL of the deployment's API origin.
    #[arg(long, env = "FERROVEX_URL", default_value = "http://127.0.0.1:3210")]
    pub url: String,
    /// Print values as Convex-encoded JSON (lossless) instead of clean JSON.
    #[arg(long)]
    pub encoded: bool,
}

/// Runs the function and prints the result; exits non-zero on failure.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let fn_args: serde_json::Value = match &args.args {
        None => serde_json::json!({}),
        Some(raw) => serde_json::from_str(raw).context("args must be a JSON object")?,
    };
    if !fn_args.is_object() {
        bail!("args must be a JSON object");
    }
    let format = if args.encoded {
        "convex_encoded_json"
    } else {
        "json"
    };
    let body = serde_json::json!({ "path": args.path, "args": fn_args, "format": format });
    let url = format!("{}/api/function", args.url.trim_end_matches('/'));
    let (status, bytes) = HttpClient::new(1)
        .post_json(&url, serde_json::to_vec(&body)?)
        .await
        .with_context(|| format!("cannot reach {}", args.url))?;
    let reply: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "unexpected reply (HTTP {status}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    if status != 200 {
        bail!(
            "HTTP {status}: {}",
            reply["message"].as_str().unwrap_or("request refused")
        );
    }
    if let Some(lines) = reply["logLines"].as_array() {
        for line in lines {
            eprintln!("{}", line.as_str().unwrap_or_default());
        }
    }
    if reply["status"] == "success" {
        println!("{}", serde_json::to_string_pretty(&reply["value"])?);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "Error: {}",
            reply["errorMessage"].as_str().unwrap_or("unknown error")
        );
        if let Some(data) = reply.get("errorData") {
            eprintln!("Data: {data}");
        }
        Ok(ExitCode::FAILURE)
    }
}
