//! Web origin benchmark: time to first byte of the server-rendered chat page for a signed-in
//! user with the auth cache off, in memory and in Redis, and for an anonymous visitor.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::bench::Stats;
use ferrovex::client::HttpClient;
use ferrovex::serve::{AuthArgs, ServeArgs, start};

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

/// Latencies of the signed-in and the anonymous page.
struct Paired {
    signed: Vec<Duration>,
    anonymous: Vec<Duration>,
}

/// Alternates signed-in and anonymous requests on one keep-alive connection until `stop`
/// says so, so both kinds see the same machine state; this shared box drifts between runs,
/// which made back-to-back phases disagree by more than the difference being measured.
async fn alternate(
    url: &str,
    cookie: &str,
    mut stop: impl FnMut(usize) -> bool,
) -> anyhow::Result<Paired> {
    let client = HttpClient::new(1);
    let signed_headers = [("cookie", cookie)];
    let mut out = Paired {
        signed: Vec::new(),
        anonymous: Vec::new(),
    };
    let mut i = 0;
    while !stop(i) {
        let signed = i % 2 == 0;
        let headers: &[(&str, &str)] = if signed { &signed_headers } else { &[] };
        let t = Instant::now();
        let (status, _, _) = client.request("GET", url, headers, Vec::new()).await?;
        let took = t.elapsed();
        anyhow::ensure!(status == 200, "page answered {status}");
        if signed {
            out.signed.push(took);
        } else {
            out.anonymous.push(took);
        }
        i += 1;
    }
    Ok(out)
}

/// Sequential samples, then `connections` concurrent connections for `secs`.
async fn ttfb(
    url: &str,
    cookie: &str,
    sequential: usize,
    secs: u64,
    connections: usize,
) -> anyhow::Result<(Paired, Paired, f64)> {
    alternate(url, cookie, |i| i >= 200).await?;
    let seq = alternate(url, cookie, |i| i >= 2 * sequential).await?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (url, cookie) = (url.to_owned(), cookie.to_owned());
        tasks.push(tokio::spawn(async move {
            alternate(&url, &cookie, |_| Instant::now() >= deadline).await
        }));
    }
    let mut conc = Paired {
        signed: Vec::new(),
        anonymous: Vec::new(),
    };
    for t in tasks {
        let p = t.await??;
        conc.signed.extend(p.signed);
        conc.anonymous.extend(p.anonymous);
    }
    let rps = (conc.signed.len() + conc.anonymous.len()) as f64 / started.elapsed().as_secs_f64();
    Ok((seq, conc, rps))
}

fn p50(samples: &[Duration]) -> Duration {
    let mut v = samples.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// `+12.3 %`: how much slower the signed-in page is than the anonymous one at p50.
fn gap(p: &Paired) -> String {
    let (s, a) = (
        p50(&p.signed).as_secs_f64(),
        p50(&p.anonymous).as_secs_f64(),
    );
    format!("{:+.1} %", (s / a.max(f64::EPSILON) - 1.0) * 100.0)
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
        let running = deployment(dir.path(), cache, redis_url).await?;
        let web = format!(
            "http://{}",
            running.web_addr.context("the demo has a web origin")?
        );
        let cookie = auth_post(&web, "sign-up/email", None).await?;
        let url = format!("{web}/");
        let (seq, conc, rps) = ttfb(&url, &cookie, sequential, secs, connections).await?;
        // Signed-in and anonymous requests alternate on each connection (like for like).
        rows.push(
            Stats::of(seq.signed.clone())
                .row(&format!("web: signed-in SSR page, {label}, sequential")),
        );
        rows.push(Stats::of(seq.anonymous.clone()).row(&format!(
            "web: anonymous SSR page ({label} deployment), sequential; signed-in {} at p50",
            gap(&seq)
        )));
        rows.push(Stats::of(conc.signed.clone()).row(&format!(
            "web: signed-in SSR page, {label}, {connections} connections ({rps:.0} req/s, both kinds)"
        )));
        rows.push(Stats::of(conc.anonymous.clone()).row(&format!(
            "web: anonymous SSR page ({label} deployment), {connections} connections; signed-in {} at p50",
            gap(&conc)
        )));
        running.stop().await?;
    }
    if let Ok((_, url)) = &redis {
        rows.push(revocation_row(url, sequential.clamp(1, 200)).await?);
    }
    Ok(rows)
}

/// A deployment in-process on `dir`.
async fn deployment(
    dir: &std::path::Path,
    auth_cache: bool,
    redis_url: Option<String>,
) -> anyhow::Result<ferrovex::serve::Running> {
    start(
        &crate::demo(),
        &ServeArgs {
            auth_cache,
            redis_url,
            ..ServeArgs::for_bench(dir.to_owned(), AuthArgs::for_bench())
        },
    )
    .await
}

/// POSTs to `{web}/api/auth/{path}` through the proxy: sign-up and sign-in send the bench
/// user's credentials and return the new session cookie; others send `cookie`.
async fn auth_post(web: &str, path: &str, cookie: Option<&str>) -> anyhow::Result<String> {
    let body = serde_json::json!({"name": "Web Bench", "email": "web-bench@example.com", "password": "web bench password"}).to_string();
    let mut headers = vec![("content-type", "application/json"), ("origin", web)];
    if let Some(c) = cookie {
        headers.push(("cookie", c));
    }
    let (status, answer, _) = HttpClient::new(1)
        .request(
            "POST",
            &format!("{web}/api/auth/{path}"),
            &headers,
            body.into_bytes(),
        )
        .await?;
    anyhow::ensure!(status == 200, "{path} failed: {status}");
    Ok(answer
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("better-auth.session_token="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_owned())
}

/// How long a session signed out on instance A stays usable from instance B's cache (two
/// deployments on one database sharing a Redis token cache): from the sign-out's answer to
/// the first page on B that no longer uses the cached token. The seed's trade-off table says
/// "up to TTL delay" for revocation with a cache.
async fn revocation_row(redis_url: &str, rounds: usize) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let a = deployment(dir.path(), true, Some(redis_url.to_owned())).await?;
    let b = deployment(dir.path(), true, Some(redis_url.to_owned())).await?;
    let (web_a, web_b) = (
        format!(
            "http://{}",
            a.web_addr.context("the demo has a web origin")?
        ),
        format!(
            "http://{}",
            b.web_addr.context("the demo has a web origin")?
        ),
    );
    auth_post(&web_a, "sign-up/email", None).await?;
    let client = HttpClient::new(1);
    let page = |cookie: String| {
        let (client, url) = (&client, format!("{web_b}/"));
        async move {
            let (status, headers, _) = client
                .request("GET", &url, &[("cookie", &cookie)], Vec::new())
                .await?;
            anyhow::ensure!(status == 200);
            let timing = headers
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            anyhow::Ok(timing.contains("desc=\"hit\""))
        }
    };
    let mut delays = Vec::with_capacity(rounds);
    let mut first_page_missed = 0;
    for _ in 0..rounds {
        let cookie = auth_post(&web_a, "sign-in/email", None).await?;
        page(cookie.clone()).await?;
        anyhow::ensure!(page(cookie.clone()).await?, "B caches the token");
        auth_post(&web_a, "sign-out", Some(&cookie)).await?;
        let answered = Instant::now();
        let mut polls = 0;
        while page(cookie.clone()).await? {
            polls += 1;
            anyhow::ensure!(
                answered.elapsed() < Duration::from_secs(5),
                "B kept the token"
            );
        }
        if polls == 0 {
            first_page_missed += 1;
        }
        delays.push(answered.elapsed());
    }
    a.stop().await?;
    b.stop().await?;
    Ok(Stats::of(delays).row(&format!(
        "web: sign-out on A until B stops using the cached token (Redis, 2 instances; the first page on B already missed in {first_page_missed} of {rounds} rounds)"
    )))
}
