//! Web origin benchmark: time to first byte of the server-rendered chat page for a signed-in
//! user with the auth cache off, in memory and in Redis, and for an anonymous visitor.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::bench::Stats;
use crate::client::HttpClient;
use crate::serve::{AuthArgs, ServeArgs, start};

struct RedisServer(Child);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> anyhow::Result<(RedisServer, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .context("redis-server is needed for the Redis cache measurement")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((RedisServer(child), format!("redis://127.0.0.1:{port}")))
}

async fn ttfb(
    url: &str,
    cookie: Option<&str>,
    sequential: usize,
    secs: u64,
    connections: usize,
) -> anyhow::Result<(Stats, Stats, f64)> {
    let headers: Vec<(&str, &str)> = cookie.map(|c| vec![("cookie", c)]).unwrap_or_default();
    let client = HttpClient::new(1);
    for _ in 0..100 {
        client.request("GET", url, &headers, Vec::new()).await?;
    }
    let mut samples = Vec::with_capacity(sequential);
    for _ in 0..sequential {
        let t = Instant::now();
        let (status, _, _) = client.request("GET", url, &headers, Vec::new()).await?;
        samples.push(t.elapsed());
        anyhow::ensure!(status == 200);
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (url, cookie) = (url.to_owned(), cookie.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            let client = HttpClient::new(1);
            let headers: Vec<(&str, &str)> = cookie
                .as_deref()
                .map(|c| vec![("cookie", c)])
                .unwrap_or_default();
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let (status, _, _) = client.request("GET", &url, &headers, Vec::new()).await?;
                samples.push(t.elapsed());
                anyhow::ensure!(status == 200);
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let rps = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((Stats::of(samples), Stats::of(all), rps))
}

/// Measures the four cases and returns Markdown rows.
pub async fn web_rows(
    sequential: usize,
    secs: u64,
    connections: usize,
) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    let redis = start_redis();
    let cases: Vec<(&str, bool, Option<String>)> = match &redis {
        Ok((_, url)) => vec![
            ("cache off", false, None),
            ("memory cache", true, None),
            ("Redis cache", true, Some(url.clone())),
        ],
        Err(e) => {
            rows.push(format!("| web: Redis cache not measured ({e}) | | | | |"));
            vec![("cache off", false, None), ("memory cache", true, None)]
        }
    };
    for (label, cache, redis_url) in cases {
        let dir = tempfile::tempdir()?;
        let running = start(&ServeArgs {
            data_dir: dir.path().to_owned(),
            api_port: 0,
            site_port: 0,
            web_port: 0,
            auth_cache: cache,
            auth_cache_ttl_secs: 900,
            redis_url,
            host: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            durability: "normal".to_owned(),
            print_log: false,
            auth: AuthArgs::for_bench(),
        })
        .await?;
        let web = format!("http://{}", running.web_addr);
        let client = HttpClient::new(1);
        let body = serde_json::json!({"name": "Web Bench", "email": "web-bench@example.com", "password": "web bench password"}).to_string();
        let (status, headers, _) = client
            .request(
                "POST",
                &format!("{web}/api/auth/sign-up/email"),
                &[("content-type", "application/json"), ("origin", &web)],
                body.into_bytes(),
            )
            .await?;
        anyhow::ensure!(status == 200, "sign-up failed: {status}");
        let cookie = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("better-auth.session_token="))
            .and_then(|c| c.split(';').next())
            .context("no session cookie")?
            .to_owned();
        let url = format!("{web}/");
        let (seq, conc, rps) = ttfb(&url, Some(&cookie), sequential, secs, connections).await?;
        rows.push(seq.row(&format!("web: signed-in SSR page, {label}, sequential")));
        rows.push(conc.row(&format!(
            "web: signed-in SSR page, {label}, {connections} connections ({rps:.0} req/s)"
        )));
        // The anonymous page in the same deployment, measured right after, so the two rows
        // compare like for like.
        let (seq, conc, rps) = ttfb(&url, None, sequential, secs, connections).await?;
        rows.push(seq.row(&format!(
            "web: anonymous SSR page ({label} deployment), sequential"
        )));
        rows.push(conc.row(&format!(
            "web: anonymous SSR page ({label} deployment), {connections} connections ({rps:.0} req/s)"
        )));
        running.stop().await?;
    }
    Ok(rows)
}
