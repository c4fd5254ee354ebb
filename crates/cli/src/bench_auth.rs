//! Auth benchmarks: `GET /api/auth/convex/token` and `GET /api/auth/get-session` latency
//! (sequential, one keep-alive connection) and throughput (16 keep-alive connections), against
//! Ferrovex's site origin or any Better-Auth-compatible peer (`--peer-url`), with the same
//! load generator so the figures compare.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::bench::Stats;
use ferrovex::client::HttpClient;

const PASSWORD: &str = "benchmark password 123";

/// Signs up a fresh user and returns the session cookie pair.
async fn session_cookie(client: &HttpClient, site: &str) -> anyhow::Result<String> {
    let email = format!(
        "bench-{}@example.com",
        ferrovex_auth::keys::new_id().to_lowercase()
    );
    let body =
        serde_json::json!({"name": "Bench", "email": email, "password": PASSWORD}).to_string();
    let origin = site.trim_end_matches('/').to_owned();
    let (status, headers, resp) = client
        .request(
            "POST",
            &format!("{origin}/api/auth/sign-up/email"),
            &[("content-type", "application/json"), ("origin", &origin)],
            body.into_bytes(),
        )
        .await?;
    anyhow::ensure!(
        status == 200,
        "sign-up failed with {status}: {}",
        String::from_utf8_lossy(&resp)
    );
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("session_token="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .context("no session cookie")
}

async fn measure(
    site: &str,
    path: &str,
    cookie: &str,
    sequential: usize,
    secs: u64,
    connections: usize,
) -> anyhow::Result<(Stats, Stats, f64)> {
    let url = format!("{}{path}", site.trim_end_matches('/'));
    let client = HttpClient::new(1);
    let get = |client: &HttpClient| {
        let url = url.clone();
        let cookie = cookie.to_owned();
        let client = client.clone();
        async move {
            let (status, _, _) = client
                .request("GET", &url, &[("cookie", &cookie)], Vec::new())
                .await?;
            anyhow::ensure!(status == 200, "{url} answered {status}");
            anyhow::Ok(())
        }
    };
    for _ in 0..200 {
        get(&client).await?;
    }
    let mut samples = Vec::with_capacity(sequential);
    for _ in 0..sequential {
        let t = Instant::now();
        get(&client).await?;
        samples.push(t.elapsed());
    }
    let seq = Stats::of(samples);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = HttpClient::new(1);
        let url = url.clone();
        let cookie = cookie.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let (status, _, _) = client
                    .request("GET", &url, &[("cookie", &cookie)], Vec::new())
                    .await?;
                anyhow::ensure!(status == 200, "{url} answered {status}");
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let rps = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((seq, Stats::of(all), rps))
}

/// Measures one target and returns Markdown rows.
pub async fn auth_rows(
    label: &str,
    site: &str,
    sequential: usize,
    secs: u64,
    connections: usize,
) -> anyhow::Result<Vec<String>> {
    let client = HttpClient::new(1);
    let cookie = session_cookie(&client, site).await?;
    let mut rows = Vec::new();
    for path in ["/api/auth/convex/token", "/api/auth/get-session"] {
        let (seq, conc, rps) = measure(site, path, &cookie, sequential, secs, connections).await?;
        rows.push(seq.row(&format!("{label}: GET {path}, sequential")));
        rows.push(conc.row(&format!(
            "{label}: GET {path}, {connections} connections ({rps:.0} req/s)"
        )));
    }
    Ok(rows)
}
