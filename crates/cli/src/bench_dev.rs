//! `ferrovex bench --suite dev`: how long `ferrovex dev` takes from saving a one-line change
//! to serving its result. Scaffolds an app with `init` in a temporary folder (sharing this
//! checkout's target directory, as a user would after a first build), runs `ferrovex dev`,
//! and edits one function's body `edits` times, timing each edit until the API answers with
//! the new value.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrovex::client::HttpClient;

use crate::bench::Stats;

fn greeting_module(value: &str) -> String {
    format!(
        "use ferrovex::prelude::*;\n\nfn greeting(_ctx: &mut QueryCtx, _: NoArgs) -> FnResult<String> {{\n    Ok(\"{value}\".to_owned())\n}}\n\npub fn register(app: App) -> App {{\n    app.query(\"hello:greeting\", greeting)\n}}\n"
    )
}

async fn greeting(client: &HttpClient, url: &str) -> Option<String> {
    let body = br#"{"path":"hello:greeting","args":{}}"#.to_vec();
    let (status, bytes) = client.post_json(url, body).await.ok()?;
    if status != 200 {
        return None;
    }
    let reply: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    reply["value"].as_str().map(str::to_owned)
}

/// Rows for the report.
pub async fn dev_rows(edits: usize) -> anyhow::Result<Vec<String>> {
    let checkout = crate::init::own_checkout()
        .context("the dev suite needs the checkout this binary was built from")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| checkout.join("target"));
    let tmp = tempfile::tempdir()?;
    let app = tmp.path().join("bench-dev-app");
    crate::init::init(crate::init::InitArgs {
        dir: app.clone(),
        ferrovex_path: Some(checkout),
        frontend: None,
        name: None,
    })?;
    std::fs::write(app.join("src/hello.rs"), greeting_module("v0"))?;
    let lib = std::fs::read_to_string(app.join("src/lib.rs"))?
        .replace("pub mod tasks;", "pub mod hello;\npub mod tasks;")
        .replace(
            "tasks::register(App::new(schema()))",
            "hello::register(tasks::register(App::new(schema())))",
        );
    std::fs::write(app.join("src/lib.rs"), lib)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut dev = Command::new(std::env::current_exe()?)
        .args([
            "dev",
            "--api-port",
            &port.to_string(),
            "--site-port",
            "0",
            "--dir",
        ])
        .arg(&app)
        .env("CARGO_TARGET_DIR", &target)
        .env("FERROVEX_LOG", "warn")
        .env("FERROVEX_PRINT_LOG", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = dev.stdout.take().context("dev stdout")?;
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let wait_line = |prefix: &str, within: Duration| -> anyhow::Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Ok(line),
                Ok(_) => {}
                Err(_) => bail!("ferrovex dev printed no line starting with {prefix:?}"),
            }
        }
    };
    let result = async {
        wait_line("ferrovex dev: serving on", Duration::from_secs(900))?;
        let client = HttpClient::new(1);
        let url = format!("http://127.0.0.1:{port}/api/query");
        let mut served = Vec::new();
        let mut reported = Vec::new();
        for i in 1..=edits {
            let value = format!("v{i}");
            // mtime granularity: make sure the watcher sees a new time.
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let started = Instant::now();
            std::fs::write(app.join("src/hello.rs"), greeting_module(&value))?;
            loop {
                if greeting(&client, &url).await.as_deref() == Some(value.as_str()) {
                    break;
                }
                if started.elapsed() > Duration::from_secs(300) {
                    bail!("edit {i} was not served within 300 s");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            served.push(started.elapsed());
            let line = wait_line(
                "ferrovex dev: rebuilt and restarted in",
                Duration::from_secs(60),
            )?;
            if let Some(secs) = line
                .rsplit(' ')
                .next()
                .and_then(|s| s.trim_end_matches('s').parse::<f64>().ok())
            {
                reported.push(Duration::from_secs_f64(secs));
            }
        }
        Ok::<_, anyhow::Error>((Stats::of(served), Stats::of(reported)))
    }
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &dev.id().to_string()])
        .status();
    let _ = dev.wait();
    let (served, reported) = result?;
    Ok(vec![
        served.row_ms("dev: one-line edit saved → new result served (wall)"),
        reported.row_ms("dev: rebuild + codegen + restart (as printed by dev)"),
    ])
}
