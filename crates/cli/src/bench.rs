//! `ferrovex bench`: measures storage, engine and HTTP API latency on this machine, against a
//! fresh in-process deployment in a temporary directory, and prints a Markdown report.
//! The load generator runs in the same process on loopback, so on a 2-core box the figures
//! include its own CPU cost.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrovex_engine::{Engine, FunctionKind, FunctionPath};
use ferrovex_store::{
    Document, IdGenerator, IndexDef, KeyRange, Order, Persistence, SystemClock, TableName,
};
use ferrovex_store_sqlite::{Durability, SqlitePersistence};
use ferrovex_values::Value;

use ferrovex::client::HttpClient;
use ferrovex::serve::{ServeArgs, start};

/// Which measurements to run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// Everything.
    All,
    /// Storage, engine and HTTP API.
    Http,
    /// Sync WebSocket fan-out, commits with subscriptions, idle socket memory.
    Sync,
    /// Auth: the Convex token and get-session routes (and a peer, with `--peer-url`).
    Auth,
    /// Web origin: SSR page time to first byte with the auth cache off, in memory, in Redis.
    Web,
    /// Scheduler throughput and lag with many jobs due at once; HTTP action round trip.
    Scheduler,
    /// SQLite beside PostgreSQL, and 1 to 3 instances on one PostgreSQL (a throwaway cluster
    /// unless `--database-url` is given; not part of `all`).
    Scaleout,
    /// A mixed load (queries, mutations, subscription churn, sign-ins, SSR pages) for
    /// `--duration-secs`, with RSS, descriptors, errors and p99 each `--interval-secs` (not
    /// part of `all`; exits non-zero on any error).
    Soak,
    /// `ferrovex dev`: a one-line edit in a scaffolded app until its result is served (needs
    /// this checkout and cargo; not part of `all`).
    Dev,
    /// A `--file-mib` MiB upload and download through file storage, beside a plain copy, with
    /// the server's peak memory (not part of `all`).
    Files,
    /// Full-text search latency over `--documents` posts and the cost of maintaining a search
    /// index per write (not part of `all`).
    Search,
    /// `ferrovex import` and `export` of `--documents` messages, time and peak memory, beside
    /// a plain copy of the database file (not part of `all`).
    Snapshot,
}

/// Flags of `ferrovex bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Which measurements to run.
    #[arg(long, value_enum, default_value = "all")]
    pub suite: Suite,
    /// A Better-Auth-compatible site to measure beside Ferrovex (e.g. the peer in
    /// `bench/better-auth-peer`), like `http://127.0.0.1:3300`.
    #[arg(long)]
    pub peer_url: Vec<String>,
    /// Sequential requests per auth latency measurement.
    #[arg(long, default_value_t = 1000)]
    pub auth_requests: usize,
    /// Writes per sync fan-out measurement.
    #[arg(long, default_value_t = 200)]
    pub sync_writes: usize,
    /// Seconds of the concurrent HTTP load phase.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Keep-alive connections in the concurrent HTTP phase.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Operations per sequential latency measurement.
    #[arg(long, default_value_t = 5000)]
    pub iterations: usize,
    /// Jobs due at once in the scheduler suite.
    #[arg(long, default_value_t = 10_000)]
    pub jobs: u32,
    /// Report interval of the soak suite, seconds.
    #[arg(long, default_value_t = 60)]
    pub interval_secs: u64,
    /// Edits in the dev suite.
    #[arg(long, default_value_t = 7)]
    pub edits: usize,
    /// Size of the files suite's file, MiB.
    #[arg(long, default_value_t = 1024)]
    pub file_mib: u64,
    /// Documents in the snapshot suite.
    #[arg(long, default_value_t = 1_000_000)]
    pub documents: u64,
    /// PostgreSQL database for the scaleout suite (default: a throwaway cluster).
    #[arg(long, env = "FERROVEX_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// Latency summary of one measurement.
pub struct Stats {
    n: usize,
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

impl Stats {
    pub fn of(mut samples: Vec<Duration>) -> Stats {
        samples.sort_unstable();
        let n = samples.len().max(1);
        let at = |q: f64| {
            samples
                .get(((n as f64 * q) as usize).min(n - 1))
                .copied()
                .unwrap_or_default()
        };
        let total: Duration = samples.iter().sum();
        Stats {
            n: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            mean: total / u32::try_from(n).unwrap_or(u32::MAX),
        }
    }

    /// A row in milliseconds (for measurements of seconds).
    pub fn row_ms(&self, name: &str) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "| {name} | {} | {:.0} ms | {:.0} ms | {:.0} ms |",
            self.n,
            ms(self.p50),
            ms(self.p99),
            ms(self.mean)
        )
    }

    pub fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {} | {:.1} µs | {:.1} µs | {:.1} µs |",
            self.n,
            micros(self.p50),
            micros(self.p99),
            micros(self.mean)
        )
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn time<F: FnMut() -> anyhow::Result<()>>(n: usize, mut f: F) -> anyhow::Result<Stats> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed());
    }
    Ok(Stats::of(samples))
}

/// Storage-level measurements on a raw SQLite persistence.
fn storage(dir: &std::path::Path, n: usize) -> anyhow::Result<Vec<String>> {
    let p = SqlitePersistence::open(dir, Durability::Normal, Arc::new(SystemClock))?;
    storage_rows(&p, "store", n)
}

/// Point reads, range reads and single-insert commits on a raw persistence; rows are labelled
/// `{label}: ...`.
pub(crate) fn storage_rows(
    p: &dyn Persistence,
    label: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let table = TableName::system("items");
    let by_group = IndexDef {
        table: table.clone(),
        name: "by_group".into(),
        fields: vec!["group".into()],
        search: None,
    };
    p.open_indexes(std::slice::from_ref(&by_group))?;
    let ids = IdGenerator::default();
    let mut all = Vec::new();
    let mut w = p.begin_write()?;
    for i in 0..10_000i64 {
        let doc = Document {
            id: ids.generate(&SystemClock),
            table: table.clone(),
            creation_time: w.ts().as_millis_f64(),
            fields: [
                ("group".to_owned(), Value::Int64(i % 100)),
                (
                    "body".to_owned(),
                    Value::from(format!("item number {i} with some text")),
                ),
            ]
            .into_iter()
            .collect(),
        };
        w.insert(&doc)?;
        all.push(doc.id);
    }
    w.commit()?;
    let mut rows = Vec::new();
    let mut k = 0usize;
    let point = time(n, || {
        k = (k + 7919) % all.len();
        let mut r = p.begin_read()?;
        anyhow::ensure!(r.get(&all[k])?.is_some());
        Ok(())
    })?;
    rows.push(point.row(&format!("{label}: point read by id (snapshot + get)")));
    let mut g = 0i64;
    let range = time(n, || {
        g = (g + 37) % 100;
        let mut prefix = Vec::new();
        ferrovex_values::key::encode_key_value(&Value::Int64(g), &mut prefix);
        let mut r = p.begin_read()?;
        let got = r.scan(&by_group.id(), &KeyRange::prefix(prefix), Order::Asc, 1000)?;
        anyhow::ensure!(got.len() == 100, "expected 100 rows, got {}", got.len());
        Ok(())
    })?;
    rows.push(range.row(&format!("{label}: index range read, 100 documents")));
    let commit = time(n, || {
        let mut w = p.begin_write()?;
        let doc = Document {
            id: ids.generate(&SystemClock),
            table: table.clone(),
            creation_time: w.ts().as_millis_f64(),
            fields: [("group".to_owned(), Value::Int64(1000))]
                .into_iter()
                .collect(),
        };
        w.insert(&doc)?;
        w.commit()?;
        Ok(())
    })?;
    rows.push(commit.row(&format!("{label}: single-document insert commit")));
    Ok(rows)
}

async fn engine_rows(engine: &Engine, n: usize) -> anyhow::Result<Vec<String>> {
    let inc = FunctionPath::parse("counter:increment")?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let out = engine
            .run(
                FunctionKind::Mutation,
                &inc,
                Value::object([("name", "bench")]),
            )
            .await;
        samples.push(t.elapsed());
        anyhow::ensure!(out.result.is_ok(), "mutation failed");
    }
    let mut rows =
        vec![Stats::of(samples).row("engine: counter:increment mutation (read + write + commit)")];
    let get = FunctionPath::parse("counter:get")?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let out = engine
            .run(
                FunctionKind::Query,
                &get,
                Value::object([("name", "bench")]),
            )
            .await;
        samples.push(t.elapsed());
        anyhow::ensure!(out.result.is_ok(), "query failed");
    }
    rows.push(Stats::of(samples).row("engine: counter:get query (cache hit after the first call)"));
    Ok(rows)
}

async fn http_rows(url: &str, args: &BenchArgs) -> anyhow::Result<Vec<String>> {
    let body = serde_json::to_vec(&serde_json::json!({
        "path": "counter:get", "args": [{"name": "bench"}], "format": "convex_encoded_json"
    }))?;
    let query_url = format!("{url}/api/query");
    let client = HttpClient::new(1);
    for _ in 0..200 {
        client.post_json(&query_url, body.clone()).await?;
    }
    let mut samples = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations {
        let t = Instant::now();
        let (status, _) = client.post_json(&query_url, body.clone()).await?;
        samples.push(t.elapsed());
        anyhow::ensure!(status == 200);
    }
    let mut rows =
        vec![Stats::of(samples).row("http: POST /api/query counter:get (cached), 1 connection")];
    let mut_body = serde_json::to_vec(&serde_json::json!({
        "path": "counter:increment", "args": [{"name": "bench-http"}], "format": "convex_encoded_json"
    }))?;
    let mut_url = format!("{url}/api/mutation");
    let mut samples = Vec::with_capacity(args.iterations / 2);
    for _ in 0..args.iterations / 2 {
        let t = Instant::now();
        let (status, _) = client.post_json(&mut_url, mut_body.clone()).await?;
        samples.push(t.elapsed());
        anyhow::ensure!(status == 200);
    }
    rows.push(Stats::of(samples).row("http: POST /api/mutation counter:increment, 1 connection"));

    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let client = HttpClient::new(1);
        let body = body.clone();
        let query_url = query_url.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let (status, _) = client.post_json(&query_url, body.clone()).await?;
                samples.push(t.elapsed());
                anyhow::ensure!(status == 200);
            }
            anyhow::Ok(samples)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rps = all.len() as f64 / elapsed;
    let stats = Stats::of(all);
    rows.push(stats.row(&format!(
        "http: POST /api/query, {} keep-alive connections ({rps:.0} req/s)",
        args.connections
    )));
    Ok(rows)
}

/// A one-key static `JWKS` value for the static-mode measurement.
fn static_jwks() -> anyhow::Result<String> {
    let key = ferrovex_auth::keys::SigningKey::generate(
        ferrovex_auth::keys::new_id(),
        ferrovex_auth::time::now_ms(),
    )?;
    let secret = ferrovex::serve::AuthArgs::for_bench()
        .auth_secret
        .unwrap_or_default();
    let row = ferrovex_auth::keys::JwksRow::from_key(&key, &secret)?;
    Ok(serde_json::Value::Array(vec![row.to_json()]).to_string())
}

/// Runs the chosen measurements and prints a Markdown table.
pub async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.suite == Suite::Soak {
        let (report, errors) = crate::bench_soak::soak(
            Duration::from_secs(args.duration_secs.max(1)),
            Duration::from_secs(args.interval_secs.max(1)),
        )
        .await?;
        println!("{report}");
        return Ok(if errors == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if args.suite == Suite::Files {
        let mib = args.file_mib.max(1);
        let report =
            tokio::task::spawn_blocking(move || crate::bench_files::files_report(mib)).await??;
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.suite == Suite::Snapshot {
        let documents = args.documents.max(1);
        let report =
            tokio::task::spawn_blocking(move || crate::bench_snapshot::snapshot_report(documents))
                .await??;
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = Vec::new();
    if matches!(args.suite, Suite::All | Suite::Http) {
        let store_dir = tempfile::tempdir()?;
        let n = args.iterations;
        rows.extend(
            tokio::task::spawn_blocking({
                let dir = store_dir.path().to_owned();
                move || storage(&dir, n)
            })
            .await??,
        );
        let data_dir = tempfile::tempdir()?;
        let running = start(
            &crate::demo(),
            &ServeArgs::for_bench(
                data_dir.path().to_owned(),
                ferrovex::serve::AuthArgs::for_bench(),
            ),
        )
        .await?;
        rows.extend(engine_rows(&running.engine, n).await?);
        rows.extend(http_rows(&format!("http://{}", running.api_addr), &args).await?);
        running.stop().await?;
    }
    if matches!(args.suite, Suite::All | Suite::Auth) {
        for peer in &args.peer_url {
            rows.extend(
                crate::bench_auth::auth_rows(
                    &format!("peer {peer}"),
                    peer,
                    args.auth_requests,
                    args.duration_secs,
                    args.connections,
                )
                .await?,
            );
        }
        let data_dir = tempfile::tempdir()?;
        for (label, jwks, memo) in [
            ("ferrovex dynamic", None, true),
            ("ferrovex static", Some(static_jwks()?), true),
            ("ferrovex dynamic, new signature per request", None, false),
        ] {
            let mut auth = ferrovex::serve::AuthArgs::for_bench();
            auth.jwks = jwks;
            auth.token_memo = memo;
            let dir = data_dir.path().join(label.replace(' ', "-"));
            let running = start(&crate::demo(), &ServeArgs::for_bench(dir, auth)).await?;
            let site = format!("http://{}", running.site_addr);
            rows.extend(
                crate::bench_auth::auth_rows(
                    label,
                    &site,
                    args.auth_requests,
                    args.duration_secs,
                    args.connections,
                )
                .await?,
            );
            running.stop().await?;
        }
    }
    if matches!(args.suite, Suite::All | Suite::Web) {
        rows.extend(
            crate::bench_web::web_rows(args.auth_requests, args.duration_secs, args.connections)
                .await?,
        );
    }
    if matches!(args.suite, Suite::All | Suite::Scheduler) {
        rows.extend(
            crate::bench_scheduler::scheduler_rows(args.jobs, args.iterations.min(2000)).await?,
        );
    }
    if args.suite == Suite::Scaleout {
        rows.extend(
            crate::bench_scaleout::scaleout_rows(
                args.database_url.clone(),
                args.iterations,
                args.sync_writes,
                args.duration_secs,
            )
            .await?,
        );
    }
    if args.suite == Suite::Search {
        rows.extend(
            crate::bench_search::search_rows(
                args.documents.min(1_000_000),
                args.iterations.min(5000),
            )
            .await?,
        );
    }
    if args.suite == Suite::Dev {
        rows.extend(crate::bench_dev::dev_rows(args.edits).await?);
    }
    if matches!(args.suite, Suite::All | Suite::Sync) {
        rows.extend(crate::bench_sync::sync_rows(args.sync_writes, args.duration_secs).await?);
    }
    println!("| measurement | n | p50 | p99 | mean |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(ExitCode::SUCCESS)
}
