//! `bench --suite soak`: a bounded mixed load on an in-process deployment for
//! `--duration-secs`, reporting each interval's RSS, open file descriptors, operations,
//! errors and p99 latency, so drift (memory, descriptors, latency) shows over time.
//!
//! The load, on loopback: HTTP queries and mutations; WebSocket subscription churn (connect,
//! subscribe, see a write, close); sign-ins with a token fetch; signed-in SSR pages through
//! the web origin. Each kind runs in a few tasks one request at a time, so the load is
//! bounded by their number, not by the machine. RSS and descriptors are this process's,
//! load generator included.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use ferrovex::client::HttpClient;
use ferrovex::serve::{AuthArgs, ServeArgs, start};

/// What the load tasks record for the current interval.
#[derive(Default)]
struct Window {
    latencies: Mutex<Vec<Duration>>,
    ops: AtomicU64,
    errors: AtomicU64,
    /// The first few errors, to show in the report.
    samples: Mutex<Vec<String>>,
}

impl Window {
    fn ok(&self, took: Duration) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let mut l = self.latencies.lock();
        // Bounded: a soak must not grow its own memory.
        if l.len() < 200_000 {
            l.push(took);
        }
    }

    fn failed(&self, what: &str, e: &anyhow::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut s = self.samples.lock();
        if s.len() < 5 {
            s.push(format!("{what}: {e:#}"));
        }
    }

    /// The interval's (ops, errors, p99) and a reset.
    fn take(&self) -> (u64, u64, Duration) {
        let mut l = std::mem::take(&mut *self.latencies.lock());
        l.sort_unstable();
        let p99 = l
            .get((l.len() as f64 * 0.99) as usize)
            .or(l.last())
            .copied()
            .unwrap_or_default();
        (
            self.ops.swap(0, Ordering::Relaxed),
            self.errors.swap(0, Ordering::Relaxed),
            p99,
        )
    }
}

/// Resident memory of this process, MiB (Linux `/proc`).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// Whether this process still has a file under `dir` open (the deployment's store).
fn holds_files_under(dir: &std::path::Path) -> bool {
    std::fs::read_dir("/proc/self/fd").is_ok_and(|entries| {
        entries
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .any(|target| target.starts_with(dir))
    })
}

/// Runs `op` until `deadline`, recording each outcome in `window`.
async fn repeat<F, Fut>(what: &'static str, window: Arc<Window>, deadline: Instant, mut op: F)
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut i = 0u64;
    while Instant::now() < deadline {
        let t = Instant::now();
        match tokio::time::timeout(Duration::from_secs(30), op(i)).await {
            Ok(Ok(())) => window.ok(t.elapsed()),
            Ok(Err(e)) => window.failed(what, &e),
            Err(_) => window.failed(what, &anyhow::anyhow!("timed out after 30 s")),
        }
        i += 1;
    }
}

async fn call(
    http: &HttpClient,
    api: &str,
    kind: &str,
    path: &str,
    args: serde_json::Value,
) -> anyhow::Result<()> {
    let body = json!({ "path": path, "args": args, "format": "json" }).to_string();
    let (status, reply) = http
        .post_json(&format!("{api}/api/{kind}"), body.into_bytes())
        .await?;
    anyhow::ensure!(status == 200, "{path} answered {status}");
    let reply: serde_json::Value = serde_json::from_slice(&reply)?;
    anyhow::ensure!(reply["status"] == "success", "{path}: {reply}");
    Ok(())
}

/// Connect, subscribe to a counter, see the initial result and one write, close.
async fn churn(api_ws: &str, http: &HttpClient, api: &str, i: u64) -> anyhow::Result<()> {
    let (mut ws, _) = connect_async(format!("{api_ws}/api/sync")).await?;
    let session = format!("00000000-0000-4000-8000-{:012x}", i);
    ws.send(Message::Text(json!({"type": "Connect", "sessionId": session, "connectionCount": 0, "lastCloseReason": null, "clientTs": 0}).to_string().into())).await?;
    let name = format!("soak-churn-{}", i % 8);
    ws.send(Message::Text(json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [{"type": "Add", "queryId": 0, "udfPath": "counter:get", "args": [{"name": name}]}]}).to_string().into())).await?;
    let mut transitions = 0;
    while transitions < 2 {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .context("no Transition within 10 s")?
            .context("the socket closed")??;
        if let Message::Text(t) = frame
            && t.as_str().contains("\"Transition\"")
        {
            transitions += 1;
            if transitions == 1 {
                call(
                    http,
                    api,
                    "mutation",
                    "counter:increment",
                    json!({ "name": name }),
                )
                .await?;
            }
        }
    }
    ws.close(None).await?;
    Ok(())
}

fn session_cookie(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("better-auth.session_token="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

/// Runs the soak and returns its report (Markdown).
pub async fn soak(duration: Duration, interval: Duration) -> anyhow::Result<(String, u64)> {
    let fds_before = open_fds();
    let dir = tempfile::tempdir()?;
    let running = start(
        &crate::demo(),
        &ServeArgs {
            auth_cache: true,
            ..ServeArgs::for_bench(dir.path().to_owned(), AuthArgs::for_bench())
        },
    )
    .await?;
    let api = format!("http://{}", running.api_addr);
    let site = format!("http://{}", running.site_addr);
    let web = format!(
        "http://{}",
        running.web_addr.context("the demo has a web origin")?
    );
    let api_ws = api.replace("http://", "ws://");
    let http = HttpClient::new(32);
    let password = "soak password 1234";
    let (status, headers, _) = http
        .request(
            "POST",
            &format!("{site}/api/auth/sign-up/email"),
            &[("content-type", "application/json"), ("origin", &site)],
            json!({"name": "Soak", "email": "soak@example.com", "password": password})
                .to_string()
                .into_bytes(),
        )
        .await?;
    anyhow::ensure!(status == 200, "sign-up answered {status}");
    let page_cookie = session_cookie(&headers).context("no session cookie")?;
    let window = Arc::new(Window::default());
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let (w, http, api) = (window.clone(), http.clone(), api.clone());
        tasks.push(tokio::spawn(repeat("query", w, deadline, move |i| {
            let (http, api) = (http.clone(), api.clone());
            async move {
                call(
                    &http,
                    &api,
                    "query",
                    "counter:get",
                    json!({ "name": format!("soak-{}", (i + t) % 16) }),
                )
                .await
            }
        })));
    }
    for t in 0..2u64 {
        let (w, http, api) = (window.clone(), http.clone(), api.clone());
        tasks.push(tokio::spawn(repeat("mutation", w, deadline, move |i| {
            let (http, api) = (http.clone(), api.clone());
            async move {
                call(
                    &http,
                    &api,
                    "mutation",
                    "counter:increment",
                    json!({ "name": format!("soak-{}", (i + t) % 16) }),
                )
                .await
            }
        })));
    }
    for t in 0..2u64 {
        let (w, http, api, api_ws) = (window.clone(), http.clone(), api.clone(), api_ws.clone());
        tasks.push(tokio::spawn(repeat(
            "subscription churn",
            w,
            deadline,
            move |i| {
                let (http, api, api_ws) = (http.clone(), api.clone(), api_ws.clone());
                async move { churn(&api_ws, &http, &api, i * 2 + t).await }
            },
        )));
    }
    {
        let (w, http, site) = (window.clone(), http.clone(), site.clone());
        tasks.push(tokio::spawn(repeat(
            "sign-in and token",
            w,
            deadline,
            move |_| {
                let (http, site) = (http.clone(), site.clone());
                async move {
                    let (status, headers, _) = http
                        .request(
                            "POST",
                            &format!("{site}/api/auth/sign-in/email"),
                            &[("content-type", "application/json"), ("origin", &site)],
                            json!({"email": "soak@example.com", "password": password})
                                .to_string()
                                .into_bytes(),
                        )
                        .await?;
                    anyhow::ensure!(status == 200, "sign-in answered {status}");
                    let cookie = session_cookie(&headers).context("no session cookie")?;
                    let (status, _, _) = http
                        .request(
                            "GET",
                            &format!("{site}/api/auth/convex/token"),
                            &[("cookie", &cookie)],
                            Vec::new(),
                        )
                        .await?;
                    anyhow::ensure!(status == 200, "convex/token answered {status}");
                    // Sign out again, so sessions do not pile up.
                    let (status, _, _) = http
                        .request(
                            "POST",
                            &format!("{site}/api/auth/sign-out"),
                            &[
                                ("content-type", "application/json"),
                                ("origin", &site),
                                ("cookie", &cookie),
                            ],
                            b"{}".to_vec(),
                        )
                        .await?;
                    anyhow::ensure!(status == 200, "sign-out answered {status}");
                    Ok(())
                }
            },
        )));
    }
    for _ in 0..2 {
        let (w, http, web, cookie) = (
            window.clone(),
            http.clone(),
            web.clone(),
            page_cookie.clone(),
        );
        tasks.push(tokio::spawn(repeat("SSR page", w, deadline, move |_| {
            let (http, web, cookie) = (http.clone(), web.clone(), cookie.clone());
            async move {
                let (status, _, _) = http
                    .request(
                        "GET",
                        &format!("{web}/"),
                        &[("cookie", &cookie)],
                        Vec::new(),
                    )
                    .await?;
                anyhow::ensure!(status == 200, "the page answered {status}");
                Ok(())
            }
        })));
    }
    let mut report = vec![
        "| at | RSS | open fds | operations | errors | p99 |".to_owned(),
        "|---|---|---|---|---|---|".to_owned(),
    ];
    let mut total_errors = 0;
    let mut next = started + interval;
    while Instant::now() < deadline {
        tokio::time::sleep_until(next.min(deadline).into()).await;
        next += interval;
        let (ops, errors, p99) = window.take();
        total_errors += errors;
        report.push(format!(
            "| {:.0} s | {:.1} MiB | {} | {ops} | {errors} | {:.1} ms |",
            started.elapsed().as_secs_f64(),
            rss_mib(),
            open_fds(),
            p99.as_secs_f64() * 1e3
        ));
        eprintln!("{}", report.last().map_or("", String::as_str));
    }
    for t in tasks {
        t.await?;
    }
    let (_, errors, _) = window.take();
    total_errors += errors;
    drop(http);
    running.stop().await?;
    // Background loops (scheduler, leases, the commit-log watcher) notice the stop within
    // their poll interval and drop their engine handles, which closes the store. On a busy
    // machine that can take longer than one interval, so wait for the descriptors to come back
    // (up to 30 s): a leak never comes back, a slow loop does.
    let settle = std::time::Instant::now() + Duration::from_secs(30);
    tokio::time::sleep(Duration::from_secs(1)).await;
    while holds_files_under(dir.path()) && std::time::Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(dir);
    // Once the deployment has stopped (and the client's pool is gone), what is still open
    // was leaked.
    report.push(String::new());
    report.push(format!(
        "errors: {total_errors}; open fds before starting: {fds_before}, after stopping: {}",
        open_fds()
    ));
    if open_fds() > fds_before
        && let Ok(entries) = std::fs::read_dir("/proc/self/fd")
    {
        let mut targets: Vec<String> = entries
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|t| t.display().to_string())
            .collect();
        targets.sort();
        report.push(format!("open after stopping: {}", targets.join(", ")));
    }
    for sample in window.samples.lock().iter() {
        report.push(format!("error sample: {sample}"));
    }
    Ok((report.join("\n"), total_errors))
}
