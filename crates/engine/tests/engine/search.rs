//! Full-text search: relevance order and prefix matching on a fixed corpus, equality filters,
//! an index maintained with every write (insert, replace, delete) and built for documents
//! that existed before it was declared, and read sets precise enough that a write without
//! any of a search's terms (or under other filter values) does not touch it.

use std::sync::Arc;

use ferrovex_engine::prelude::*;
use ferrovex_engine::{Engine, FunctionKind, FunctionPath, Outcome};
use ferrovex_store::SystemClock;
use ferrovex_store_sqlite::{Durability, SqlitePersistence};

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
struct AddArgs {
    channel: String,
    body: String,
}

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
struct SearchArgs {
    q: String,
    channel: Option<String>,
}

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
struct EditArgs {
    id: DocumentId,
    body: String,
}

fn app(with_index: bool) -> App {
    let mut notes = TableDef::default();
    if with_index {
        notes = notes.search_index("search_body", "body", ["channel"]);
    }
    App::new(Schema::new().table("notes", notes))
        .mutation("notes:add", |ctx: &mut MutationCtx, a: AddArgs| {
            Ok(ctx.db.insert(
                "notes",
                &Value::object([("channel", a.channel.as_str()), ("body", a.body.as_str())]),
            )?)
        })
        .mutation("notes:edit", |ctx: &mut MutationCtx, a: EditArgs| {
            Ok(ctx
                .db
                .patch(&a.id, &Value::object([("body", a.body.as_str())]))?)
        })
        .mutation("notes:remove", |ctx: &mut MutationCtx, a: EditArgs| {
            Ok(ctx.db.delete(&a.id)?)
        })
        .query("notes:search", |ctx: &mut QueryCtx, a: SearchArgs| {
            let found = ctx
                .db
                .query("notes")?
                .with_search_index("search_body", |s| {
                    let s = s.search("body", a.q.as_str());
                    match &a.channel {
                        Some(c) => s.eq("channel", c.as_str()),
                        None => s,
                    }
                })?
                .take(10)?;
            Ok(found
                .iter()
                .map(|d| d.fields["body"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<String>>())
        })
}

fn open(dir: &std::path::Path, with_index: bool) -> Engine {
    let clock = Arc::new(SystemClock);
    let p = SqlitePersistence::open(dir, Durability::Normal, clock.clone()).unwrap();
    Engine::start(app(with_index), Arc::new(p), clock).unwrap()
}

async fn call(engine: &Engine, kind: FunctionKind, path: &str, args: Value) -> Outcome {
    engine
        .run(kind, &FunctionPath::parse(path).unwrap(), args)
        .await
}

async fn add(engine: &Engine, channel: &str, body: &str) -> Outcome {
    let out = call(
        engine,
        FunctionKind::Mutation,
        "notes:add",
        Value::object([("channel", channel), ("body", body)]),
    )
    .await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    out
}

async fn search(engine: &Engine, q: &str, channel: Option<&str>) -> (Vec<String>, Outcome) {
    let mut args = vec![("q", Value::from(q))];
    if let Some(c) = channel {
        args.push(("channel", Value::from(c)));
    }
    let out = call(
        engine,
        FunctionKind::Query,
        "notes:search",
        Value::object(args),
    )
    .await;
    let Ok(Value::Array(items)) = &out.result else {
        panic!("{:?}", out.result)
    };
    let bodies = items
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    (bodies, out)
}

const CORPUS: [(&str, &str); 6] = [
    ("a", "The quick brown fox jumps over the lazy dog"),
    (
        "a",
        "Foxes are quick; a fox is quicker than a dog. Fox fox fox!",
    ),
    ("a", "Dogs and cats living together"),
    ("b", "A fox in channel b"),
    ("a", "Categories of catalogues"),
    ("a", "Nothing to see here"),
];

#[tokio::test(flavor = "multi_thread")]
async fn relevance_prefixes_and_filters_rank_a_fixed_corpus_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), true);
    for (channel, body) in CORPUS {
        add(&engine, channel, body).await;
    }
    // More occurrences of a term in a shorter text rank higher.
    let (found, _) = search(&engine, "fox", None).await;
    assert_eq!(
        found,
        [
            CORPUS[1].1, // "fox" five times (as a prefix: fox, foxes, fox, fox, fox)
            CORPUS[3].1, // short text
            CORPUS[0].1,
        ]
    );
    // Any term matches, both rank first; "dog" is a whole word here ("Dogs" does not match).
    let (found, _) = search(&engine, "dog lazy", None).await;
    assert_eq!(found, [CORPUS[0].1, CORPUS[1].1]);
    // A note holding both terms beats one holding only the commoner term.
    let (found, _) = search(&engine, "quick lazy", None).await;
    assert_eq!(found, [CORPUS[0].1, CORPUS[1].1], "{found:?}");
    // The last term is a prefix: "cat" finds cats, categories, catalogues; earlier terms
    // must match whole words ("quic dog" finds "dog" notes only, not "quick" ones).
    let (found, _) = search(&engine, "cat", None).await;
    assert_eq!(found, [CORPUS[4].1, CORPUS[2].1]);
    let (found, _) = search(&engine, "quic dog", None).await;
    assert_eq!(found.len(), 3, "{found:?}");
    // Case and punctuation do not matter.
    let (found, _) = search(&engine, "  FOXES!! ", None).await;
    assert_eq!(found, [CORPUS[1].1]);
    // Filters: only channel b.
    let (found, _) = search(&engine, "fox", Some("b")).await;
    assert_eq!(found, [CORPUS[3].1]);
    let (found, _) = search(&engine, "fox", Some("c")).await;
    assert!(found.is_empty());
    // No terms, no results.
    let (found, _) = search(&engine, " ... ", None).await;
    assert!(found.is_empty());
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_follows_every_write_and_read_sets_are_precise() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), true);
    let first = add(&engine, "a", "alpha beta").await;
    let Ok(Value::String(id)) = first.result else {
        panic!()
    };
    let (found, read) = search(&engine, "alpha", Some("a")).await;
    assert_eq!(found, ["alpha beta"]);
    let reads = read.reads.unwrap();
    // Writes without the term, or with it under another filter value, do not touch the search.
    let other = add(&engine, "a", "gamma delta").await;
    assert!(!reads.overlaps(&other.writes.unwrap()));
    let elsewhere = add(&engine, "b", "alpha elsewhere").await;
    assert!(!reads.overlaps(&elsewhere.writes.unwrap()));
    // A matching note under the same filter does.
    let matching = add(&engine, "a", "alpha again").await;
    assert!(reads.overlaps(&matching.writes.unwrap()));
    // Editing a returned note away from the term touches it, and the index follows the edit.
    let edit = call(
        &engine,
        FunctionKind::Mutation,
        "notes:edit",
        Value::object([("id", id.as_str()), ("body", "omega")]),
    )
    .await;
    assert!(reads.overlaps(&edit.writes.unwrap()));
    let (found, _) = search(&engine, "alpha", Some("a")).await;
    assert_eq!(found, ["alpha again"]);
    let (found, _) = search(&engine, "omega", None).await;
    assert_eq!(found, ["omega"]);
    // Deleting removes it from the index.
    let remove = call(
        &engine,
        FunctionKind::Mutation,
        "notes:remove",
        Value::object([("id", id.as_str()), ("body", "")]),
    )
    .await;
    assert!(remove.result.is_ok(), "{:?}", remove.result);
    let (found, _) = search(&engine, "omega", None).await;
    assert!(found.is_empty());
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_search_index_declared_later_is_built_from_the_existing_documents() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), false);
    add(&engine, "a", "written before the index").await;
    engine.shutdown();
    drop(engine);
    let engine = open(dir.path(), true);
    let (found, _) = search(&engine, "before", None).await;
    assert_eq!(found, ["written before the index"]);
    engine.shutdown();
}

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
struct ManyArgs {
    n: f64,
    body: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_query_over_common_words_stays_within_the_read_limit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SystemClock);
    let p = SqlitePersistence::open(dir.path(), Durability::Normal, clock.clone()).unwrap();
    let app = app(true).mutation("notes:addMany", |ctx: &mut MutationCtx, a: ManyArgs| {
        for _ in 0..a.n as usize {
            ctx.db.insert(
                "notes",
                &Value::object([("channel", "a"), ("body", a.body.as_str())]),
            )?;
        }
        Ok(())
    });
    let engine = Engine::start(app, Arc::new(p), clock).unwrap();
    let words: Vec<String> = (0..20).map(|i| format!("common{i}")).collect();
    let body = words.join(" ");
    // Every note holds every word: 16 query terms × 2,100 notes would pass the function read
    // limit (32,768) if each term read all its notes.
    let added = call(
        &engine,
        FunctionKind::Mutation,
        "notes:addMany",
        Value::object([
            ("n", Value::Float64(2100.0)),
            ("body", Value::from(body.as_str())),
        ]),
    )
    .await;
    assert!(added.result.is_ok(), "{:?}", added.result);
    let (found, _) = search(&engine, &body, None).await;
    assert_eq!(found.len(), 10);
    engine.shutdown();
}
