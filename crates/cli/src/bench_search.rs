//! `bench --suite search`: full-text search over `--documents` synthetic posts (12 words each
//! from a 5,000-word vocabulary with a Zipf-like spread) in the engine on a SQLite file, with
//! the query cache off: search latency for one- and two-word queries (the last word also a
//! prefix), and the cost of a write that maintains a search index beside the same write to a
//! table without one.

use std::sync::Arc;
use std::time::Instant;

use ferrovex::prelude::*;
use ferrovex_engine::{Engine, EngineConfig, FunctionKind, FunctionPath};
use ferrovex_store::SystemClock;
use ferrovex_store_sqlite::{Durability, SqlitePersistence};

use crate::bench::Stats;

const VOCABULARY: u64 = 5000;
const WORDS_PER_POST: u64 = 12;
const BATCH: u64 = 4000;

/// A pronounceable word for vocabulary entry `i` (distinct for distinct `i`).
fn word(mut i: u64) -> String {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "po", "si", "de", "fu", "ga", "hi", "jo", "be", "vo",
        "za", "qu", "xi", "wy", "ce",
    ];
    let mut out = String::new();
    loop {
        out.push_str(SYLLABLES[(i % 20) as usize]);
        i /= 20;
        if i == 0 {
            return out;
        }
    }
}

/// A deterministic pseudo-random number from a seed (splitmix64).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A vocabulary index skewed toward small ones (frequent words), roughly Zipf-like.
fn skewed(seed: u64) -> u64 {
    let u = (mix(seed) % 1_000_000) as f64 / 1_000_000.0;
    ((VOCABULARY as f64).powf(u) as u64).saturating_sub(1) % VOCABULARY
}

fn text(n: u64) -> String {
    (0..WORDS_PER_POST)
        .map(|k| word(skewed(n * 97 + k)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Deserialize, Type)]
struct ManyArgs {
    start: f64,
    n: f64,
}

#[derive(Deserialize, Type)]
struct OneArgs {
    n: f64,
}

#[derive(Deserialize, Type)]
struct SearchArgs {
    q: String,
}

fn app() -> App {
    let schema = Schema::new()
        .table(
            "posts",
            TableDef::default().search_index("search_text", "text", ["channel"]),
        )
        .table("plain", TableDef::default());
    App::new(schema)
        .mutation("b:insertMany", |ctx: &mut MutationCtx, a: ManyArgs| {
            for i in 0..a.n as u64 {
                let n = a.start as u64 + i;
                ctx.db.insert(
                    "posts",
                    &Value::object([
                        (
                            "channel",
                            Value::from(if n.is_multiple_of(2) { "even" } else { "odd" }),
                        ),
                        ("text", Value::from(text(n))),
                    ]),
                )?;
            }
            Ok(())
        })
        .mutation("b:addIndexed", |ctx: &mut MutationCtx, a: OneArgs| {
            let n = a.n as u64;
            Ok(ctx.db.insert(
                "posts",
                &Value::object([
                    ("channel", Value::from("even")),
                    ("text", Value::from(text(n))),
                ]),
            )?)
        })
        .mutation("b:addPlain", |ctx: &mut MutationCtx, a: OneArgs| {
            let n = a.n as u64;
            Ok(ctx.db.insert(
                "plain",
                &Value::object([
                    ("channel", Value::from("even")),
                    ("text", Value::from(text(n))),
                ]),
            )?)
        })
        .query("b:search", |ctx: &mut QueryCtx, a: SearchArgs| {
            Ok(ctx
                .db
                .query("posts")?
                .with_search_index("search_text", |s| s.search("text", a.q.as_str()))?
                .take(10)?
                .len() as f64)
        })
}

async fn run(
    engine: &Engine,
    kind: FunctionKind,
    path: &str,
    args: Value,
) -> anyhow::Result<Value> {
    let path = FunctionPath::parse(path)?;
    engine
        .run(kind, &path, args)
        .await
        .result
        .map_err(|e| anyhow::anyhow!("{path}: {}", e.message()))
}

/// Rows for the report.
pub async fn search_rows(documents: u64, iterations: usize) -> anyhow::Result<Vec<String>> {
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(SystemClock);
    let p = SqlitePersistence::open(dir.path(), Durability::Normal, clock.clone())?;
    let config = EngineConfig {
        cache_bytes: 0,
        scheduler: false,
        ..EngineConfig::default()
    };
    let engine = Engine::start_with(app(), Arc::new(p), clock, config)?;
    let loading = Instant::now();
    let mut start = 0;
    while start < documents {
        let n = BATCH.min(documents - start);
        run(
            &engine,
            FunctionKind::Mutation,
            "b:insertMany",
            Value::object([("start", start as f64), ("n", n as f64)]),
        )
        .await?;
        start += n;
    }
    let load_secs = loading.elapsed().as_secs_f64();
    let mut rows = vec![format!(
        "| load: {documents} posts, {WORDS_PER_POST} words each, in mutations of {BATCH} | {documents} | {:.0} posts/s | | {:.1} s |",
        documents as f64 / load_secs,
        load_secs
    )];
    for words in [1u64, 2] {
        let mut samples = Vec::with_capacity(iterations);
        for i in 0..iterations as u64 {
            let q = (0..words)
                .map(|k| word(skewed(i * 31 + k + 7_000_000)))
                .collect::<Vec<_>>()
                .join(" ");
            let t = Instant::now();
            run(
                &engine,
                FunctionKind::Query,
                "b:search",
                Value::object([("q", q.as_str())]),
            )
            .await?;
            samples.push(t.elapsed());
        }
        rows.push(Stats::of(samples).row(&format!(
            "search, {words}-word query (last word a prefix), top 10, uncached"
        )));
    }
    for (path, label) in [
        (
            "b:addIndexed",
            "insert one post into a table with a search index (12 words, 2 filter subsets)",
        ),
        (
            "b:addPlain",
            "insert the same post into a table without one",
        ),
    ] {
        let mut samples = Vec::with_capacity(iterations);
        for i in 0..iterations as u64 {
            let t = Instant::now();
            run(
                &engine,
                FunctionKind::Mutation,
                path,
                Value::object([("n", (documents + i) as f64)]),
            )
            .await?;
            samples.push(t.elapsed());
        }
        rows.push(Stats::of(samples).row(label));
    }
    let engine2 = engine.clone();
    tokio::task::spawn_blocking(move || engine2.shutdown()).await?;
    Ok(rows)
}
