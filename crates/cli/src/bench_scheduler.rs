//! `ferrovex bench --suite scheduler`: scheduled-mutation throughput and start lag with
//! 10,000 jobs due at the same moment, and an HTTP action's round trip beside
//! `POST /api/mutation` running the same mutation. Uses a small app of its own, served
//! in process on loopback like the other suites.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferrovex::client::HttpClient;
use ferrovex::prelude::*;
use ferrovex::serve::{AuthArgs, ServeArgs, start};

use crate::bench::Stats;

#[derive(Serialize, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
struct ManyArgs {
    n: u32,
    at_ms: f64,
}

#[derive(Serialize, Deserialize, Type)]
struct TickArgs {
    i: u32,
}

#[derive(Serialize, Type)]
#[serde(rename_all = "camelCase")]
struct Progress {
    done: u32,
    lags_ms: Vec<f64>,
    first_start: f64,
    last_end: f64,
}

fn schedule_many(ctx: &mut MutationCtx, args: ManyArgs) -> FnResult<()> {
    for i in 0..args.n {
        ctx.scheduler()
            .run_at_ms(args.at_ms, "bench:tick", &TickArgs { i })?;
    }
    Ok(())
}

fn tick(ctx: &mut MutationCtx, args: TickArgs) -> FnResult<()> {
    ctx.db
        .insert("ticks", &Value::object([("i", i64::from(args.i))]))?;
    Ok(())
}

fn progress(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Progress> {
    let rows = ctx.db.system().query("_scheduled_functions")?.collect()?;
    let mut out = Progress {
        done: 0,
        lags_ms: Vec::new(),
        first_start: f64::MAX,
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
            out.done += 1;
            out.lags_ms.push(done - at);
            out.first_start = out.first_start.min(done);
            out.last_end = out.last_end.max(done);
        }
    }
    Ok(out)
}

fn echo(ctx: &mut MutationCtx, args: TickArgs) -> FnResult<u32> {
    ctx.db
        .insert("echoes", &Value::object([("i", i64::from(args.i))]))?;
    Ok(args.i)
}

async fn echo_route(ctx: ActionCtx, req: HttpRequest) -> FnResult<HttpResponse> {
    let args: TickArgs = req
        .json()
        .map_err(|e| FnError::internal(format!("bad body: {e}")))?;
    let i: u32 = ctx.run_mutation("bench:echo", &args).await?;
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

fn ms(d: f64) -> Duration {
    Duration::from_secs_f64(d.max(0.0) / 1e3)
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
        anyhow::ensure!(
            status == 200,
            "scheduling failed: {}",
            String::from_utf8_lossy(&body)
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
        let value = &reply["value"];
        if value["done"].as_u64() == Some(u64::from(jobs)) {
            break value.clone();
        }
        anyhow::ensure!(Instant::now() < deadline, "jobs did not finish: {reply}");
    };
    let lags: Vec<Duration> = progress["lagsMs"]
        .as_array()
        .context("lags")?
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .map(ms)
        .collect();
    let span_ms = progress["lastEnd"].as_f64().unwrap_or(0.0) - due;
    let rate = f64::from(jobs) / (span_ms / 1e3).max(1e-9);
    let mut rows = vec![Stats::of(lags).row_ms(&format!(
        "scheduler: {jobs} mutations due at once, scheduledTime → run ({rate:.0} jobs/s)"
    ))];
    // HTTP action round trip vs the same mutation over the HTTP API.
    let mut mutation = Vec::with_capacity(iterations);
    let mut action = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let i = u32::try_from(i)?;
        let t = Instant::now();
        let (status, _) = client
            .post_json(
                &format!("{api}/api/mutation"),
                call("bench:echo", serde_json::json!({ "i": i }))?,
            )
            .await?;
        anyhow::ensure!(status == 200);
        mutation.push(t.elapsed());
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
