//! `ferrovex bench --suite scaleout`: SQLite beside PostgreSQL in one run (store reads and
//! commits, mutation latency, commits/s), then several instances on one PostgreSQL:
//! write-to-update latency from instance A to a subscriber on instance B, fan-out to 1000
//! subscribers spread over three instances, and commits/s as instances are added. Without
//! `--database-url` it starts a throwaway cluster (initdb on a free loopback port).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferrovex_store::SystemClock;
use ferrovex_store_postgres::PgPersistence;
use ferrovex_store_postgres::testing::PgCluster;
use tokio::sync::mpsc;

use crate::bench::{Stats, storage_rows};
use crate::bench_sync::{ServerProcess, increment, metric, subscriber};
use ferrovex::client::HttpClient;

/// Fresh databases: on the throwaway cluster, a new one each time; with `--database-url`, the
/// given one (measurements then share it).
struct Databases {
    cluster: Option<PgCluster>,
    given: Option<String>,
}

impl Databases {
    fn next(&self) -> anyhow::Result<String> {
        match (&self.given, &self.cluster) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(cluster)) => Ok(cluster.new_database()?),
            (None, None) => anyhow::bail!("no PostgreSQL"),
        }
    }
}

/// Sequential `counter:increment` latency over HTTP.
async fn mutation_latency(url: &str, n: usize) -> anyhow::Result<Stats> {
    let client = HttpClient::new(1);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        increment(&client, url, "latency").await?;
        samples.push(t.elapsed());
    }
    Ok(Stats::of(samples))
}

/// Commits per second from 16 HTTP connections spread over `urls`, each incrementing its own
/// counter, and the latency of each mutation.
async fn commits_per_second(urls: &[String], secs: u64) -> anyhow::Result<(f64, Stats)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..16 {
        let url = urls[w % urls.len()].clone();
        writers.push(tokio::spawn(async move {
            let client = HttpClient::new(1);
            let name = format!("cps-{w}");
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                increment(&client, &url, &name).await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Vec::new();
    for w in writers {
        all.extend(w.await??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((rate, Stats::of(all)))
}

/// Write-to-update latency: `per_instance[i]` subscribers on `servers[i]`, all on one counter,
/// written through `servers[0]`; every subscriber's arrival is one sample. Also returns the
/// query executions per write summed over the instances.
async fn fanout(
    servers: &[&ServerProcess],
    per_instance: &[usize],
    writes: usize,
) -> anyhow::Result<(Stats, f64)> {
    let name = format!("fan-{}", per_instance.iter().sum::<usize>());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for (server, n) in servers.iter().zip(per_instance) {
        for _ in 0..*n {
            tasks.push(subscriber(server.ws_url(), name.clone(), tx.clone()).await?);
        }
    }
    let total: usize = per_instance.iter().sum();
    for _ in 0..total {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await?
            .context("subscriber gone")?;
    }
    let client = HttpClient::new(1);
    let misses = async |client: &HttpClient| -> anyhow::Result<f64> {
        let mut sum = 0.0;
        for s in servers {
            sum += metric(client, &s.url, "ferrovex_cache_misses_total").await?;
        }
        Ok(sum)
    };
    let before = misses(&client).await?;
    let mut samples = Vec::with_capacity(writes * total);
    for _ in 0..writes {
        let t0 = Instant::now();
        increment(&client, &servers[0].url, &name).await?;
        for _ in 0..total {
            let at = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await?
                .context("subscriber gone")?;
            samples.push(at.saturating_duration_since(t0));
        }
    }
    let after = misses(&client).await?;
    for t in tasks {
        t.abort();
    }
    Ok((Stats::of(samples), (after - before) / writes as f64))
}

/// Runs the suite; returns Markdown rows.
pub async fn scaleout_rows(
    database_url: Option<String>,
    iterations: usize,
    writes: usize,
    secs: u64,
) -> anyhow::Result<Vec<String>> {
    let dbs = Databases {
        cluster: match database_url {
            Some(_) => None,
            None => Some(PgCluster::start().context("cannot start a throwaway PostgreSQL")?),
        },
        given: database_url,
    };
    let mut rows = Vec::new();

    // Store level, side by side.
    let n = iterations.min(2000);
    let dir = tempfile::tempdir()?;
    let pg_url = dbs.next()?;
    rows.extend(
        tokio::task::spawn_blocking(move || {
            let sqlite = ferrovex_store_sqlite::SqlitePersistence::open(
                dir.path(),
                ferrovex_store_sqlite::Durability::Normal,
                Arc::new(SystemClock),
            )?;
            let mut rows = storage_rows(&sqlite, "store (SQLite)", n)?;
            let pg = PgPersistence::open(&pg_url, Arc::new(SystemClock))?;
            rows.extend(storage_rows(&pg, "store (PostgreSQL)", n)?);
            anyhow::Ok(rows)
        })
        .await??,
    );

    // One instance on each backend.
    let sqlite = ServerProcess::start_with(&[])?;
    let url = dbs.next()?;
    let pg = ServerProcess::start_with(&["--database-url", &url])?;
    for (label, server) in [("SQLite", &sqlite), ("PostgreSQL", &pg)] {
        let stats = mutation_latency(&server.url, n).await?;
        rows.push(stats.row(&format!(
            "scaleout: counter:increment over HTTP, 1 connection, 1 instance on {label}"
        )));
    }
    for (label, server) in [("SQLite", &sqlite), ("PostgreSQL", &pg)] {
        let (rate, stats) = commits_per_second(std::slice::from_ref(&server.url), secs).await?;
        rows.push(stats.row(&format!(
            "scaleout: 16 connections, 1 instance on {label} ({rate:.0} commits/s)"
        )));
    }
    drop(sqlite);
    drop(pg);

    // Several instances on one database.
    let url = dbs.next()?;
    let servers = (0..3)
        .map(|_| ServerProcess::start_with(&["--database-url", &url]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let refs: Vec<&ServerProcess> = servers.iter().collect();
    let (stats, per_write) = fanout(&refs[..1], &[1], writes).await?;
    rows.push(stats.row(&format!(
        "scaleout: write-to-update latency, writer and subscriber on instance A ({per_write:.2} executions per write)"
    )));
    let (stats, per_write) = fanout(&[refs[0], refs[1]], &[0, 1], writes).await?;
    rows.push(stats.row(&format!(
        "scaleout: write-to-update latency, write on A, subscriber on B ({per_write:.2} executions per write)"
    )));
    let (stats, per_write) = fanout(&refs, &[334, 333, 333], writes.min(50)).await?;
    rows.push(stats.row(&format!(
        "scaleout: fan-out, 1000 subscribers over 3 instances, one query, written on A ({per_write:.2} executions per write, summed)"
    )));
    for k in 1..=3 {
        let urls: Vec<String> = servers[..k].iter().map(|s| s.url.clone()).collect();
        let (rate, stats) = commits_per_second(&urls, secs).await?;
        rows.push(stats.row(&format!(
            "scaleout: 16 connections spread over {k} instance(s) on one PostgreSQL ({rate:.0} commits/s)"
        )));
    }
    Ok(rows)
}
