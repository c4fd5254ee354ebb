//! `ferrovex bench --suite scheduler`: scheduled-mutation throughput and start lag with
//! 10,000 jobs due at the same moment, and an HTTP action's round trip beside
//! `POST /api/mutation` running the same mutation. Uses a small app of its own, served
//! in process on loopback like the other suites.

use std::time::{Duration, Instant};

use ferrovex::client::HttpClient;
use ferrovex::prelude::*;
use ferrovex::serve::{AuthArgs, ServeArgs, start};

use crate::bench::Stats;

#[derive(Serialize, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
struct ManyArgs {
    /// Floats: the bench speaks plain JSON, where numbers are float64.
    n: f64,
    at_ms: f64,
}

#[derive(Serialize, Deserialize, Type)]
struct TickArgs {
    i: f64,
}

#[derive(Serialize, Type)]
#[serde(rename_all = "camelCase")]
struct Progress {
    /// A float, so clean JSON carries it as a number (int64s become strings there).
    done: f64,
    /// Start lag percentiles (ms): p50, p99, max (a query result's arrays are bounded, so
    /// the 10,000 samples are summarized here).
    lag_p50: f64,
    lag_p99: f64,
    lag_max: f64,
    lag_mean: f64,
    last_end: f64,
}

fn schedule_many(ctx: &mut MutationCtx, args: ManyArgs) -> FnResult<()> {
    for i in 0..(args.n as u32) {
        ctx.scheduler()
            .run_at_ms(args.at_ms, "bench:tick", &TickArgs { i: f64::from(i) })?;
    }
    Ok(())
}

fn tick(ctx: &mut MutationCtx, args: TickArgs) -> FnResult<()> {
    ctx.db.insert("ticks", &Value::object([("i", args.i)]))?;
    Ok(())
}

fn progress(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Progress> {
    let rows = ctx.db.system().query("_scheduled_functions")?.collect()?;
    let mut lags = Vec::new();
    let mut out = Progress {
        done: 0.0,
        lag_p50: 0.0,
        lag_p99: 0.0,
        lag_max: 0.0,
        lag_mean: 0.0,
        last_end: 0.0,
    };
    for row in rows {
        let state = row.field("state.kind");
        let (Some(Value::Float64(at)), Some(Value::Float64(done))) =
            (row.field("scheduledTime"), row.field("completedTime"))
        else {
            continue;
        };
        if state.as_ref().and_then(Value::as_str) == Some("success") {
            out.done += 1.0;
            lags.push(done - at);
            out.last_end = out.last_end.max(done);
        }
    }
    lags.sort_by(f64::total_cmp);
    let at = |q: f64| {
        lags.get(((lags.len() as f64 * q) as usize).min(lags.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    out.lag_p50 = at(0.5);
    out.lag_p99 = at(0.99);
    out.lag_max = lags.last().copied().unwrap_or(0.0);
    out.lag_mean = lags.iter().sum::<f64>() / (lags.len().max(1) as f64);
    Ok(out)
}

fn echo(ctx: &mut MutationCtx, args: TickArgs) -> FnResult<f64> {
    ctx.db.insert("echoes", &Value::object([("i", args.i)]))?;
    Ok(args.i)
}

async fn echo_route(ctx: ActionCtx, req: HttpRequest) -> FnResult<HttpResponse> {
    let args: TickArgs = req
        .json()
        .map_err(|e| FnError::internal(format!("bad body: {e}")))?;
    let i: f64 = ctx.run_mutation("bench:echo", &args).await?;
    Ok(HttpResponse::json(200, &serde_json::json!({ "i": i })))
}

fn bench_app() -> App {
    App::new(Schema::new())
        .mutation("bench:scheduleMany", schedule_many)
        .internal_mutation("bench:tick", tick)
        .query("bench:progress", progress)
        .mutation("bench:echo", echo)
        .http_route("POST", "/bench/echo", echo_route)
}

/// Rows for the report.
pub async fn scheduler_rows(jobs: u32, iterations: usize) -> anyhow::Result<Vec<String>> {
    let dir = tempfile::tempdir()?;
    let deployment = ferrovex::Deployment::new(bench_app());
    let running = start(
        &deployment,
        &ServeArgs::for_bench(dir.path().to_owned(), AuthArgs::for_bench()),
    )
    .await?;
    let api = format!("http://{}", running.api_addr);
    let site = format!("http://{}", running.site_addr);
    let client = HttpClient::new(4);
    let call = |path: &str, args: serde_json::Value| {
        let body = serde_json::json!({ "path": path, "args": args, "format": "json" });
        serde_json::to_vec(&body)
    };
    // All jobs due at one moment, 3 s from now; 1000 per scheduling mutation (the limit).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64()
        * 1e3;
    let due = now_ms + 3000.0;
    let mut left = jobs;
    while left > 0 {
        let n = left.min(1000);
        let (status, body) = client
            .post_json(
                &format!("{api}/api/mutation"),
                call(
                    "bench:scheduleMany",
                    serde_json::json!({ "n": n, "atMs": due }),
                )?,
            )
            .await?;
        let reply: serde_json::Value = serde_json::from_slice(&body)?;
        anyhow::ensure!(
            status == 200 && reply["status"] == "success",
            "scheduling failed: {reply}"
        );
        left -= n;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let progress = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (_, body) = client
            .post_json(
                &format!("{api}/api/query"),
                call("bench:progress", serde_json::json!({}))?,
            )
            .await?;
        let reply: serde_json::Value = serde_json::from_slice(&body)?;
        anyhow::ensure!(
            reply["status"] == "success",
            "bench:progress failed: {reply}"
        );
        let value = &reply["value"];
        if value["done"].as_f64() == Some(f64::from(jobs)) {
            break value.clone();
        }
        anyhow::ensure!(Instant::now() < deadline, "jobs did not finish: {reply}");
    };
    let f = |k: &str| progress[k].as_f64().unwrap_or(0.0);
    let span_ms = f("lastEnd") - due;
    let rate = f64::from(jobs) / (span_ms / 1e3).max(1e-9);
    let mut rows = vec![format!(
        "| scheduler: {jobs} mutations due at once, scheduledTime → run ({rate:.0} jobs/s; last done {span_ms:.0} ms after due) | {jobs} | {:.0} ms | {:.0} ms | {:.0} ms |",
        f("lagP50"),
        f("lagP99"),
        f("lagMean")
    )];
    // HTTP action round trip vs the same mutation over the HTTP API.
    let mut mutation = Vec::with_capacity(iterations);
    let mut action = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let i = i as f64;
        let t = Instant::now();
        let (status, reply_body) = client
            .post_json(
                &format!("{api}/api/mutation"),
                call("bench:echo", serde_json::json!({ "i": i }))?,
            )
            .await?;
        anyhow::ensure!(status == 200);
        mutation.push(t.elapsed());
        if i == 0.0 {
            anyhow::ensure!(
                String::from_utf8_lossy(&reply_body).contains("success"),
                "bench:echo failed: {}",
                String::from_utf8_lossy(&reply_body)
            );
        }
        let t = Instant::now();
        let (status, _) = client
            .post_json(
                &format!("{site}/bench/echo"),
                serde_json::to_vec(&serde_json::json!({ "i": i }))?,
            )
            .await?;
        anyhow::ensure!(status == 200);
        action.push(t.elapsed());
    }
    rows.push(Stats::of(mutation).row("http: POST /api/mutation bench:echo, 1 connection"));
    rows.push(
        Stats::of(action).row("http action: POST /bench/echo → the same mutation, 1 connection"),
    );
    running.stop().await?;
    Ok(rows)
}
