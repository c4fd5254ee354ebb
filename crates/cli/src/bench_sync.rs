//! Sync benchmarks against a `ferrovex serve` child process (so its memory can be measured
//! on its own): write-to-update latency for several fan-outs, commits per second with live
//! subscriptions, and memory per idle WebSocket.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use crate::bench::Stats;
use ferrovex::client::HttpClient;

/// A server child process.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) url: String,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    pub(crate) fn start() -> anyhow::Result<ServerProcess> {
        Self::start_with(&[])
    }

    /// A server with extra `serve` flags (such as `--database-url`).
    pub(crate) fn start_with(extra: &[&str]) -> anyhow::Result<ServerProcess> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "serve",
                "--api-port",
                "0",
                "--site-port",
                "0",
                "--web-port",
                "0",
                "--print-log",
                "false",
                "--data-dir",
            ])
            .arg(dir.path())
            .args(extra)
            .env("FERROVEX_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .context("spawn ferrovex serve")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines.next().context("server exited early")??;
            if let Some(rest) = line.trim().strip_prefix("api:") {
                break rest.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(ServerProcess {
            child,
            url,
            _dir: dir,
        })
    }

    /// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`).
    fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
            .with_context(|| format!("no {field}"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .with_context(|| format!("{field} value"))?
            .parse()?)
    }

    fn rss_kib(&self) -> anyhow::Result<u64> {
        self.status_kib("VmRSS")
    }

    /// The server's peak resident memory so far, MiB.
    pub(crate) fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        Ok(self.status_kib("VmHWM")? as f64 / 1024.0)
    }

    pub(crate) fn ws_url(&self) -> String {
        format!("{}/api/sync", self.url.replace("http://", "ws://"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a socket subscribed to `counter:get {name}` that reports the arrival time of
/// every Transition carrying a changed result.
pub(crate) async fn subscriber(
    ws_url: String,
    name: String,
    arrivals: mpsc::UnboundedSender<Instant>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (mut ws, _) = connect_async(ws_url).await?;
    let session = format!("00000000-0000-4000-8000-{:012x}", rand_suffix());
    ws.send(Message::Text(
        json!({"type": "Connect", "sessionId": session, "connectionCount": 0, "lastCloseReason": "InitialConnect", "clientTs": 0})
            .to_string()
            .into(),
    ))
    .await?;
    ws.send(Message::Text(
        json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
               "modifications": [{"type": "Add", "queryId": 0, "udfPath": "counter:get", "args": [{"name": name}]}]})
        .to_string()
        .into(),
    ))
    .await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(text) = msg
                && text.as_str().contains("\"QueryUpdated\"")
                && arrivals.send(Instant::now()).is_err()
            {
                break;
            }
        }
    }))
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() & 0xFFFF_FFFF_FFFF
}

pub(crate) async fn metric(client: &HttpClient, url: &str, name: &str) -> anyhow::Result<f64> {
    let (_, body) = client.get(&format!("{url}/metrics")).await?;
    let text = String::from_utf8_lossy(&body);
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .with_context(|| format!("metric {name} missing"))?;
    Ok(line.split_whitespace().nth(1).context("value")?.parse()?)
}

pub(crate) async fn increment(client: &HttpClient, url: &str, name: &str) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&json!({"path": "counter:increment", "args": [{"name": name}]}))?;
    let (status, _) = client
        .post_json(&format!("{url}/api/mutation"), body)
        .await?;
    anyhow::ensure!(status == 200, "mutation failed with {status}");
    Ok(())
}

/// Write-to-update latency with `n` subscribers, either all on one query or each on its own
/// (`distinct`), where only the first is written. Returns the stats and query executions per
/// write.
async fn fanout(
    server: &ServerProcess,
    n: usize,
    distinct: bool,
    writes: usize,
) -> anyhow::Result<(Stats, f64)> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tag = format!("fan{n}{}", if distinct { "d" } else { "s" });
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let name = if distinct {
            format!("{tag}-{i}")
        } else {
            tag.clone()
        };
        tasks.push(subscriber(server.ws_url(), name, tx.clone()).await?);
    }
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await?
            .context("subscriber gone")?;
    }
    let client = HttpClient::new(1);
    let target = if distinct {
        format!("{tag}-0")
    } else {
        tag.clone()
    };
    let expected = if distinct { 1 } else { n };
    let misses_before = metric(&client, &server.url, "ferrovex_cache_misses_total").await?;
    let mut samples = Vec::with_capacity(writes * expected);
    for _ in 0..writes {
        let t0 = Instant::now();
        increment(&client, &server.url, &target).await?;
        for _ in 0..expected {
            let at = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await?
                .context("subscriber gone")?;
            samples.push(at.saturating_duration_since(t0));
        }
    }
    let misses_after = metric(&client, &server.url, "ferrovex_cache_misses_total").await?;
    for t in tasks {
        t.abort();
    }
    Ok((
        Stats::of(samples),
        (misses_after - misses_before) / writes as f64,
    ))
}

/// Commits per second from 16 connections while 100 sockets watch the written counter.
async fn commits_with_subscriptions(server: &ServerProcess, secs: u64) -> anyhow::Result<f64> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        tasks.push(subscriber(server.ws_url(), "hot".to_owned(), tx.clone()).await?);
    }
    drop(tx);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let client = HttpClient::new(1);
    let before = metric(&client, &server.url, "ferrovex_commits_total").await?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut writers = Vec::new();
    for _ in 0..16 {
        let url = server.url.clone();
        writers.push(tokio::spawn(async move {
            let client = HttpClient::new(1);
            while Instant::now() < deadline {
                increment(&client, &url, "hot").await?;
            }
            anyhow::Ok(())
        }));
    }
    for w in writers {
        w.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = metric(&client, &server.url, "ferrovex_commits_total").await?;
    for t in tasks {
        t.abort();
    }
    drain.abort();
    Ok((after - before) / elapsed)
}

/// Server RSS growth per idle socket (connected, Connect sent, no queries).
async fn idle_socket_memory(server: &ServerProcess, n: usize) -> anyhow::Result<f64> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib()?;
    let mut sockets = Vec::with_capacity(n);
    for i in 0..n {
        let (mut ws, _) = connect_async(server.ws_url())
            .await
            .with_context(|| format!("socket {i}"))?;
        ws.send(Message::Text(
            json!({"type": "Connect", "sessionId": format!("00000000-0000-4000-8000-{i:012}"), "connectionCount": 0, "lastCloseReason": "InitialConnect", "clientTs": 0})
                .to_string()
                .into(),
        ))
        .await?;
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kib()?;
    let client = HttpClient::new(1);
    let open = metric(&client, &server.url, "ferrovex_open_sockets").await?;
    if (open as usize) < n {
        bail!("only {open} of {n} sockets are open");
    }
    drop(sockets);
    Ok((after.saturating_sub(before) as f64 * 1024.0) / n as f64)
}

/// Runs the sync benchmarks and returns Markdown rows.
pub async fn sync_rows(writes: usize, secs: u64) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    for (n, distinct, label) in [
        (1, false, "1 subscriber"),
        (100, false, "100 subscribers, one query (100 sockets)"),
        (1000, false, "1000 subscribers, one query (1000 sockets)"),
        (
            1000,
            true,
            "1000 subscribers on 1000 different counters, one written",
        ),
    ] {
        // A fresh server per case, so earlier sockets do not linger in the measurement.
        let server = ServerProcess::start()?;
        let (stats, per_write) = fanout(&server, n, distinct, writes).await?;
        rows.push(stats.row(&format!(
            "sync: write-to-update latency, {label} ({per_write:.2} query executions per write)"
        )));
    }
    let server = ServerProcess::start()?;
    let cps = commits_with_subscriptions(&server, secs).await?;
    rows.push(format!("| sync: commits/s from 16 HTTP connections with 100 live subscriptions on the written query | | | | {cps:.0} commits/s |"));
    drop(server);
    let server = ServerProcess::start()?;
    let per_socket = idle_socket_memory(&server, 5000).await?;
    rows.push(format!(
        "| sync: server memory per idle WebSocket (5000 open) | 5000 | | | {:.1} KiB |",
        per_socket / 1024.0
    ));
    Ok(rows)
}
