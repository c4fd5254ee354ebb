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
    /// The deployment's admin key, to call internal functions (`Authorization: Convex <key>`).
    #[arg(long, env = "FERROVEX_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Print values as Convex-encoded JSON (lossless) instead of plain JSON (where int64s are
    /// plain integers).
    #[arg(long)]
    pub encoded: bool,
}

/// Most arguments converted to int64 for one call (each conversion is one retry).
const MAX_INT64_FIXES: usize = 32;

/// `args` with the number at `path` (`.by`, `.items[2].n`) replaced by the same integer as
/// Convex JSON int64 (`{"$integer": ...}`), if it is a whole number there.
fn to_int64_at(args: &mut serde_json::Value, path: &str) -> bool {
    let mut at = args;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix('.') {
            let end = tail.find(['.', '[']).unwrap_or(tail.len());
            let Some(next) = at.get_mut(&tail[..end]) else {
                return false;
            };
            at = next;
            rest = &tail[end..];
        } else if let Some(tail) = rest.strip_prefix('[') {
            let Some((index, tail)) = tail.split_once(']') else {
                return false;
            };
            let Some(next) = index.parse::<usize>().ok().and_then(|i| at.get_mut(i)) else {
                return false;
            };
            at = next;
            rest = tail;
        } else {
            return false;
        }
    }
    let Some(n) = at.as_f64() else { return false };
    if n.fract() != 0.0 || !n.is_finite() || n.abs() > 9.007_199_254_740_992e15 {
        return false;
    }
    let value = ferrovex_values::Value::Int64(n as i64);
    *at = value.to_convex_json();
    true
}

/// The path of an int64 argument that was sent as a float, from Convex's validation message.
fn int64_mismatch(message: &str) -> Option<&str> {
    if !message.starts_with("ArgumentValidationError: Value does not match validator.") {
        return None;
    }
    let path = message.lines().find_map(|l| l.strip_prefix("Path: "))?;
    let validator = message
        .lines()
        .find_map(|l| l.strip_prefix("Validator: "))?;
    (validator.contains("v.int64()")).then_some(path)
}

/// A value as plain JSON for people: int64s as integers, bytes as base64, other special
/// floats as strings.
fn plain(value: &ferrovex_values::Value) -> serde_json::Value {
    use ferrovex_values::Value;
    match value {
        Value::Int64(n) => serde_json::Value::from(*n),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(plain).collect()),
        Value::Object(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
        }
        other => other.to_clean_json(),
    }
}

/// Runs the function and prints the result; exits non-zero on failure.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut fn_args: serde_json::Value = match &args.args {
        None => serde_json::json!({}),
        Some(raw) => serde_json::from_str(raw).context("args must be a JSON object")?,
    };
    if !fn_args.is_object() {
        bail!("args must be a JSON object");
    }
    if !args.url.starts_with("http://") && !args.url.starts_with("https://") {
        bail!(
            "--url {} has no scheme: did you mean http://{}?",
            args.url,
            args.url
        );
    }
    let url = format!("{}/api/function", args.url.trim_end_matches('/'));
    let client = HttpClient::new(1);
    let mut fixes = 0;
    let (status, reply) = loop {
        let body = serde_json::json!({
            "path": args.path, "args": fn_args, "format": "convex_encoded_json"
        });
        let mut headers = vec![("content-type", "application/json".to_owned())];
        if let Some(key) = args.admin_key.as_deref().filter(|k| !k.trim().is_empty()) {
            headers.push(("authorization", format!("Convex {}", key.trim())));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, bytes) = client
            .request("POST", &url, &headers, serde_json::to_vec(&body)?)
            .await
            .with_context(|| format!("cannot reach {}", args.url))?;
        let reply: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(reply) if status != 404 => reply,
            _ => bail!(
                "{} answered HTTP {status} to /api/function: is it the API origin? `--url` takes \
                 the `api:` URL that `ferrovex serve` prints (default http://127.0.0.1:3210)",
                args.url
            ),
        };
        // People type `5` where a function wants an int64: convert that argument and retry.
        // (Failed validation runs nothing, so a retry is safe.)
        let path = reply["errorMessage"].as_str().and_then(int64_mismatch);
        match path {
            Some(path) if fixes < MAX_INT64_FIXES && to_int64_at(&mut fn_args, path) => {
                fixes += 1;
            }
            _ => break (status, reply),
        }
    };
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
        let printed = if args.encoded {
            reply["value"].clone()
        } else {
            let value = ferrovex_values::Value::from_convex_json(&reply["value"])
                .context("the deployment answered a value that is not Convex JSON")?;
            plain(&value)
        };
        println!("{}", serde_json::to_string_pretty(&printed)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_become_int64_where_the_validator_asked() {
        let mut args = serde_json::json!({"by": 5.0, "items": [{"n": 2}], "x": 1.5});
        assert!(to_int64_at(&mut args, ".by"));
        assert_eq!(args["by"], serde_json::json!({"$integer": "BQAAAAAAAAA="}));
        assert!(to_int64_at(&mut args, ".items[0].n"));
        assert!(!to_int64_at(&mut args, ".x"), "1.5 is not an integer");
        assert!(!to_int64_at(&mut args, ".missing"));
        let message = "ArgumentValidationError: Value does not match validator.\nPath: .by\nValue: 5.0\nValidator: v.union(v.int64(), v.null())";
        assert_eq!(int64_mismatch(message), Some(".by"));
        assert_eq!(
            int64_mismatch("ArgumentValidationError: Object is missing"),
            None
        );
    }
}
