//! Engine and storage behaviour on real SQLite files: durability across restarts, monotonic
//! timestamps, all-or-nothing mutations, serializable increments, index ranges and pagination.

// Test helpers may panic: a panic is a test failure with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "engine/search.rs"]
mod search;
#[path = "engine/storage.rs"]
mod storage;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrovex_engine::prelude::*;
use ferrovex_engine::{
    Engine, FunctionKind, FunctionPath, Identity, IndexRange, Outcome, Transport,
};
use ferrovex_store::{Clock, Timestamp};
use ferrovex_store_sqlite::{Durability, SqlitePersistence};

/// A clock tests can set, to show timestamps never go backwards even when time does.
struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
struct InsertArgs {
    group: String,
    from: i64,
    to: i64,
}

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
struct RangeArgs {
    group: String,
    gt: Option<i64>,
    gte: Option<i64>,
    lt: Option<i64>,
    lte: Option<i64>,
    desc: Option<bool>,
}

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
#[serde(rename_all = "camelCase")]
struct PageArgs {
    group: String,
    pagination_opts: PaginationOpts,
    desc: Option<bool>,
}

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
struct ScheduleManyArgs {
    n: i64,
    pad: i64,
}

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
struct AtArgs {
    at: f64,
}

/// Schedules `n` runs of `jobs:noop` an hour from now, each with `pad` bytes of arguments.
fn schedule_many(ctx: &mut MutationCtx, a: ScheduleManyArgs) -> FnResult<()> {
    let pad = "x".repeat(usize::try_from(a.pad).unwrap_or(0));
    for _ in 0..a.n {
        ctx.scheduler().run_after(
            std::time::Duration::from_secs(3600),
            "jobs:noop",
            &Value::object([("pad", pad.as_str())]),
        )?;
    }
    Ok(())
}

fn test_app() -> App {
    let schema = Schema::new()
        .table(
            "items",
            TableDef::default().index("by_group_n", ["group", "n"]),
        )
        .table(
            "people",
            TableDef::default().document(v::object([
                ("name", v::string()),
                ("age", v::optional(v::int64())),
            ])),
        );
    App::new(schema)
        .mutation("jobs:scheduleMany", schedule_many)
        .internal_mutation("jobs:noop", |_ctx: &mut MutationCtx, _: Value| Ok(()))
        .mutation("jobs:scheduleAt", |ctx: &mut MutationCtx, a: AtArgs| {
            ctx.scheduler()
                .run_at_ms(a.at, "jobs:noop", &Value::object([("pad", "")]))
        })
        .query("jobs:count", |ctx: &mut QueryCtx, _: NoArgs| {
            Ok(ctx
                .db
                .system()
                .query("_scheduled_functions")?
                .collect()?
                .len() as i64)
        })
        .query("jobs:peekUsers", |ctx: &mut QueryCtx, _: NoArgs| {
            Ok(ctx.db.system().query("_users")?.collect()?.len() as i64)
        })
        .query("people:count", |ctx: &mut QueryCtx, _: NoArgs| {
            Ok(ctx.db.query("people")?.collect()?.len() as i64)
        })
        .query("who:name", |ctx: &mut QueryCtx, _: NoArgs| {
            Ok(ctx
                .auth()
                .user_identity()
                .and_then(|i| i.claim_str("name"))
                .map(str::to_owned))
        })
        .mutation("people:insert", |ctx: &mut MutationCtx, doc: Value| {
            Ok(ctx.db.insert("people", &doc)?)
        })
        // Hands the engine's error text back as a ConvexError (clients otherwise get a
        // redacted "Server Error" for it).
        .mutation(
            "people:tryInsert",
            |ctx: &mut MutationCtx, doc: Value| -> FnResult<DocumentId> {
                ctx.db
                    .insert("people", &doc)
                    .map_err(|e| ConvexError::new(e.to_string()).into())
            },
        )
        .mutation(
            "people:insertThenPatch",
            |ctx: &mut MutationCtx, patch: Value| {
                let id = ctx
                    .db
                    .insert("people", &Value::object([("name", Value::from("Ada"))]))?;
                ctx.db.patch(&id, &patch)?;
                Ok(id)
            },
        )
        .mutation("items:insert", |ctx: &mut MutationCtx, a: InsertArgs| {
            for n in a.from..a.to {
                ctx.db.insert(
                    "items",
                    &Value::object([
                        ("group", Value::from(a.group.as_str())),
                        ("n", Value::Int64(n)),
                    ]),
                )?;
            }
            Ok(())
        })
        .mutation(
            "items:insertThenFail",
            |ctx: &mut MutationCtx, a: InsertArgs| -> FnResult<()> {
                for n in a.from..a.to {
                    ctx.db.insert(
                        "items",
                        &Value::object([
                            ("group", Value::from(a.group.as_str())),
                            ("n", Value::Int64(n)),
                        ]),
                    )?;
                }
                Err(ConvexError::new("halfway").into())
            },
        )
        .mutation(
            "items:insertThenPanic",
            |ctx: &mut MutationCtx, a: InsertArgs| -> FnResult<()> {
                ctx.db.insert(
                    "items",
                    &Value::object([
                        ("group", Value::from(a.group.as_str())),
                        ("n", Value::Int64(a.from)),
                    ]),
                )?;
                panic!("deliberate panic after a write");
            },
        )
        .mutation("items:increment", |ctx: &mut MutationCtx, a: InsertArgs| {
            let doc = ctx
                .db
                .query("items")?
                .with_index("by_group_n", |q| q.eq("group", a.group.as_str()))?
                .first()?;
            let next = match doc {
                Some(doc) => {
                    let n = doc.fields.get("n").and_then(Value::as_i64).unwrap_or(0) + 1;
                    ctx.db
                        .patch(&doc.id, &Value::object([("n", Value::Int64(n))]))?;
                    n
                }
                None => {
                    ctx.db.insert(
                        "items",
                        &Value::object([
                            ("group", Value::from(a.group.as_str())),
                            ("n", Value::Int64(1)),
                        ]),
                    )?;
                    1
                }
            };
            Ok(next)
        })
        .query("items:range", |ctx: &mut QueryCtx, a: RangeArgs| {
            let group = a.group.clone();
            let range = move |q: IndexRange| {
                let mut q = q.eq("group", group.as_str());
                if let Some(v) = a.gt {
                    q = q.gt("n", v)
                }
                if let Some(v) = a.gte {
                    q = q.gte("n", v)
                }
                if let Some(v) = a.lt {
                    q = q.lt("n", v)
                }
                if let Some(v) = a.lte {
                    q = q.lte("n", v)
                }
                q
            };
            let order = if a.desc == Some(true) {
                Order::Desc
            } else {
                Order::Asc
            };
            let docs = ctx
                .db
                .query("items")?
                .with_index("by_group_n", range)?
                .order(order)
                .collect()?;
            Ok(docs
                .iter()
                .filter_map(|d| d.fields.get("n").and_then(Value::as_i64))
                .collect::<Vec<_>>())
        })
        .query("items:page", |ctx: &mut QueryCtx, a: PageArgs| {
            Ok(ctx
                .db
                .query("items")?
                .with_index("by_group_n", |q| q.eq("group", a.group.as_str()))?
                .order(if a.desc == Some(true) {
                    Order::Desc
                } else {
                    Order::Asc
                })
                .paginate(&a.pagination_opts)?)
        })
        .query("env:get", |ctx: &mut QueryCtx, a: Value| {
            let name = match &a {
                Value::Object(f) => match f.get("name") {
                    Some(Value::String(n)) => n.clone(),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            ctx.env(&name)
        })
        .query("items:all", |ctx: &mut QueryCtx, _: NoArgs| {
            Ok(ctx.db.query("items")?.collect()?)
        })
        .query("items:badIndexOrder", |ctx: &mut QueryCtx, _: NoArgs| {
            Ok(ctx
                .db
                .query("items")?
                .with_index("by_group_n", |q| q.eq("n", 1))?
                .collect()?)
        })
}

fn open(dir: &Path, clock: Arc<TestClock>) -> Engine {
    let p = SqlitePersistence::open(dir, Durability::Normal, clock.clone()).unwrap();
    Engine::start(test_app(), Arc::new(p), clock).unwrap()
}

fn clock_at(ns: u64) -> Arc<TestClock> {
    Arc::new(TestClock(AtomicU64::new(ns)))
}

async fn call(engine: &Engine, kind: FunctionKind, path: &str, args: Value) -> Outcome {
    engine
        .run(kind, &FunctionPath::parse(path).unwrap(), args)
        .await
}

fn insert_args(group: &str, from: i64, to: i64) -> Value {
    Value::object([
        ("group", Value::from(group)),
        ("from", Value::Int64(from)),
        ("to", Value::Int64(to)),
    ])
}

async fn ns(engine: &Engine, args: Value) -> Vec<i64> {
    let out = call(engine, FunctionKind::Query, "items:range", args).await;
    from_value::<Vec<i64>>(out.result.unwrap())
}

fn from_value<T: serde::de::DeserializeOwned>(v: Value) -> T {
    ferrovex_values::from_value(v).unwrap()
}

#[tokio::test]
async fn data_and_timestamps_survive_restart_even_if_the_clock_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock_at(5_000_000_000_000);
    let engine = open(dir.path(), clock.clone());
    let out = call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("g", 0, 3),
    )
    .await;
    let ts_before = out.ts.unwrap();
    assert!(out.result.is_ok());
    engine.shutdown();
    drop(engine);

    // The wall clock is now far behind the last commit.
    let clock = clock_at(1_000);
    let engine = open(dir.path(), clock);
    assert_eq!(engine.latest_ts(), ts_before);
    assert_eq!(
        ns(&engine, Value::object([("group", "g")])).await,
        vec![0, 1, 2]
    );
    let out = call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("g", 3, 4),
    )
    .await;
    let ts_after = out.ts.unwrap();
    assert!(ts_after > ts_before, "{ts_after} must be after {ts_before}");
    let out = call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("g", 4, 5),
    )
    .await;
    assert!(out.ts.unwrap() > ts_after);
    engine.shutdown();
}

#[tokio::test]
async fn failed_or_panicking_mutation_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(1_000_000));
    call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("g", 0, 2),
    )
    .await
    .result
    .unwrap();
    let before = engine.latest_ts();
    let out = call(
        &engine,
        FunctionKind::Mutation,
        "items:insertThenFail",
        insert_args("g", 10, 20),
    )
    .await;
    let failure = out.result.unwrap_err();
    assert_eq!(failure.data(), Some(&Value::from("halfway")));
    assert!(out.ts.is_none());
    let out = call(
        &engine,
        FunctionKind::Mutation,
        "items:insertThenPanic",
        insert_args("g", 30, 31),
    )
    .await;
    let failure = out.result.unwrap_err();
    assert!(
        failure.message().contains("Server Error"),
        "{}",
        failure.message()
    );
    assert!(
        !failure.message().contains("deliberate"),
        "panic text must not leak: {}",
        failure.message()
    );
    assert_eq!(engine.latest_ts(), before, "no commit happened");
    assert_eq!(
        ns(&engine, Value::object([("group", "g")])).await,
        vec![0, 1]
    );
    // The committer still works after a panic.
    call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("g", 2, 3),
    )
    .await
    .result
    .unwrap();
    assert_eq!(
        ns(&engine, Value::object([("group", "g")])).await,
        vec![0, 1, 2]
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_are_serializable() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(1_000_000));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..250 {
                let out = call(
                    &engine,
                    FunctionKind::Mutation,
                    "items:increment",
                    insert_args("c", 0, 0),
                )
                .await;
                out.result.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        ns(&engine, Value::object([("group", "c")])).await,
        vec![2000]
    );
    engine.shutdown();
}

#[tokio::test]
async fn index_ranges_return_the_right_documents_in_both_orders() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(1_000_000));
    call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("a", 0, 10),
    )
    .await
    .result
    .unwrap();
    call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("b", 0, 10),
    )
    .await
    .result
    .unwrap();
    call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("ab", 0, 3),
    )
    .await
    .result
    .unwrap();
    let q = |extra: Vec<(&str, Value)>| {
        let mut fields = vec![("group", Value::from("a"))];
        fields.extend(extra);
        Value::object(fields)
    };
    type Case<'a> = (Vec<(&'a str, Value)>, Vec<i64>);
    let cases: Vec<Case> = vec![
        (vec![], (0..10).collect()),
        (vec![("gt", Value::Int64(6))], vec![7, 8, 9]),
        (vec![("gte", Value::Int64(6))], vec![6, 7, 8, 9]),
        (vec![("lt", Value::Int64(2))], vec![0, 1]),
        (vec![("lte", Value::Int64(2))], vec![0, 1, 2]),
        (
            vec![("gt", Value::Int64(2)), ("lt", Value::Int64(5))],
            vec![3, 4],
        ),
        (
            vec![("gte", Value::Int64(2)), ("lte", Value::Int64(5))],
            vec![2, 3, 4, 5],
        ),
        (
            vec![("gt", Value::Int64(5)), ("lt", Value::Int64(5))],
            vec![],
        ),
        (vec![("gt", Value::Int64(100))], vec![]),
    ];
    for (extra, expected) in cases {
        let asc = ns(&engine, q(extra.clone())).await;
        assert_eq!(asc, expected, "asc {extra:?}");
        let mut desc_args = extra.clone();
        desc_args.push(("desc", Value::Boolean(true)));
        let desc = ns(&engine, q(desc_args)).await;
        let mut rev = expected.clone();
        rev.reverse();
        assert_eq!(desc, rev, "desc {extra:?}");
    }
    // An eq on the wrong field is a clear error, not a silent full scan.
    let out = call(
        &engine,
        FunctionKind::Query,
        "items:badIndexOrder",
        Value::object::<_, &str, Value>([]),
    )
    .await;
    assert!(out.result.is_err());
    engine.shutdown();
}

#[tokio::test]
async fn pagination_walks_1000_documents_without_gaps_or_duplicates_under_writes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(1_000_000));
    call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("p", 0, 1000),
    )
    .await
    .result
    .unwrap();
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut extra = 10_000;
    loop {
        let mut opts = vec![("numItems", Value::Float64(37.0))];
        opts.push(("cursor", cursor.clone().map_or(Value::Null, Value::from)));
        let args = Value::object([
            ("group", Value::from("p")),
            ("paginationOpts", Value::object(opts)),
        ]);
        let out = call(&engine, FunctionKind::Query, "items:page", args).await;
        let page = out.result.unwrap();
        let obj = page.as_object().unwrap();
        for doc in obj["page"].as_array().unwrap() {
            seen.push(doc.as_object().unwrap()["n"].as_i64().unwrap());
        }
        pages += 1;
        // Writes between pages: new documents before and after the cursor, in this group and another.
        call(
            &engine,
            FunctionKind::Mutation,
            "items:insert",
            insert_args("p", extra, extra + 1),
        )
        .await
        .result
        .unwrap();
        call(
            &engine,
            FunctionKind::Mutation,
            "items:insert",
            insert_args("p", -extra, -extra + 1),
        )
        .await
        .result
        .unwrap();
        call(
            &engine,
            FunctionKind::Mutation,
            "items:insert",
            insert_args("q", 0, 5),
        )
        .await
        .result
        .unwrap();
        extra += 1;
        if obj["isDone"] == Value::Boolean(true) {
            break;
        }
        cursor = Some(obj["continueCursor"].as_str().unwrap().to_owned());
        assert!(pages < 100, "pagination does not terminate");
    }
    let original: Vec<i64> = seen
        .iter()
        .copied()
        .filter(|n| (0..1000).contains(n))
        .collect();
    assert_eq!(
        original,
        (0..1000).collect::<Vec<_>>(),
        "every original document exactly once, in order"
    );
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    assert!(
        seen.iter().all(|n| *n >= 0),
        "documents inserted before the cursor are not revisited"
    );
    // A forged cursor is a clean error.
    let args = Value::object([
        ("group", Value::from("p")),
        (
            "paginationOpts",
            Value::object([
                ("numItems", Value::Float64(5.0)),
                ("cursor", Value::from("!!not base64!!")),
            ]),
        ),
    ]);
    assert!(
        call(&engine, FunctionKind::Query, "items:page", args)
            .await
            .result
            .is_err()
    );
    engine.shutdown();
}

/// One page: its `n`s, `isDone` and `continueCursor`.
async fn page_of(
    engine: &Engine,
    desc: bool,
    group: &str,
    cursor: Option<&str>,
    end: Option<&str>,
) -> (Vec<i64>, bool, String) {
    let mut opts = vec![
        ("numItems", Value::Float64(4.0)),
        ("cursor", cursor.map_or(Value::Null, Value::from)),
    ];
    if let Some(end) = end {
        opts.push(("endCursor", Value::from(end)));
    }
    let args = Value::object([
        ("group", Value::from(group)),
        ("desc", Value::Boolean(desc)),
        ("paginationOpts", Value::object(opts)),
    ]);
    let out = call(engine, FunctionKind::Query, "items:page", args).await;
    let page = out.result.unwrap();
    let obj = page.as_object().unwrap();
    (
        obj["page"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_object().unwrap()["n"].as_i64().unwrap())
            .collect(),
        obj["isDone"] == Value::Boolean(true),
        obj["continueCursor"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn pinned_pages_keep_their_bounds_while_documents_come_and_go() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(1_000_000));
    let insert = |group: &'static str, from, to| {
        let engine = engine.clone();
        async move {
            call(
                &engine,
                FunctionKind::Mutation,
                "items:insert",
                insert_args(group, from, to),
            )
            .await
            .result
            .unwrap();
        }
    };
    for (desc, g) in [(false, "asc"), (true, "desc")] {
        insert(g, 0, 10).await;
        let (first, done, c1) = page_of(&engine, desc, g, None, None).await;
        let (second, _, c2) = page_of(&engine, desc, g, Some(&c1), None).await;
        let expected: (Vec<i64>, Vec<i64>) = if desc {
            (vec![9, 8, 7, 6], vec![5, 4, 3, 2])
        } else {
            (vec![0, 1, 2, 3], vec![4, 5, 6, 7])
        };
        assert_eq!((&first, &second), (&expected.0, &expected.1));
        assert!(!done);
        // A document lands inside the first page: pinned to its end cursor, the first page
        // grows, and the second page neither shifts nor repeats anything.
        let inside = first[2];
        insert(g, inside, inside + 1).await;
        let (grown, done, cursor) = page_of(&engine, desc, g, None, Some(&c1)).await;
        assert_eq!(grown.len(), 5, "{grown:?}");
        assert!(grown.iter().filter(|n| **n == inside).count() == 2 && !done);
        assert_eq!(cursor, c1, "a pinned page ends where it did");
        let (same, done, cursor) = page_of(&engine, desc, g, Some(&c1), Some(&c2)).await;
        assert_eq!(
            (same, done, cursor),
            (expected.1.clone(), false, c2.clone())
        );
        let (last, done, _) = page_of(&engine, desc, g, Some(&c2), None).await;
        assert!(done && last.len() == 2, "{last:?}");
        // The pinned last page is done; a cursor pair past the end is an empty page.
        let (_, done, c3) = page_of(&engine, desc, g, Some(&c2), None).await;
        assert!(page_of(&engine, desc, g, Some(&c2), Some(&c3)).await.1 && done);
        let (empty, _, _) = page_of(&engine, desc, g, Some(&c2), Some(&c1)).await;
        assert!(empty.is_empty(), "end before start: {empty:?}");
    }
    engine.shutdown();
}

#[tokio::test]
async fn documents_that_do_not_match_the_table_validator_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(1_000_000));
    let insert = |doc: Value| call(&engine, FunctionKind::Mutation, "people:insert", doc);
    let good = Value::object([("name", Value::from("Ada")), ("age", Value::Int64(36))]);
    assert!(insert(good).await.result.is_ok());
    assert!(
        insert(Value::object([("name", Value::from("Bo"))]))
            .await
            .result
            .is_ok()
    );
    for (bad, why) in [
        (
            Value::object([("name", Value::Int64(1))]),
            "an int64 does not match v.string() (at .name)",
        ),
        (
            Value::object([("age", Value::Int64(1))]),
            "the required field \"name\" is missing",
        ),
        (
            Value::object([("name", Value::from("Cy")), ("email", Value::from("c@x"))]),
            "the field \"email\" is not in the validator",
        ),
        (
            Value::object([("name", Value::from("Cy")), ("age", Value::Float64(3.0))]),
            "a float64 does not match v.int64() (at .age)",
        ),
    ] {
        let out = call(
            &engine,
            FunctionKind::Mutation,
            "people:tryInsert",
            bad.clone(),
        )
        .await;
        let err = format!("{:?}", out.result.unwrap_err());
        assert!(
            err.contains("Failed to insert or update a document in table \\\"people\\\" because it does not match the schema") && err.contains(&why.replace('"', "\\\"")),
            "{why}: {err}"
        );
        // Uncaught, the client sees a redacted server error.
        let out = insert(bad).await;
        assert!(format!("{:?}", out.result.unwrap_err()).contains("Server Error"));
    }
    // A patch that breaks the shape fails the whole mutation: its insert is rolled back too.
    let out = call(
        &engine,
        FunctionKind::Mutation,
        "people:insertThenPatch",
        Value::object([("age", Value::from("old"))]),
    )
    .await;
    assert!(format!("{:?}", out.result.unwrap_err()).contains("Server Error"));
    let people = call(
        &engine,
        FunctionKind::Query,
        "people:count",
        Value::Object(Default::default()),
    )
    .await;
    assert_eq!(
        people.result.unwrap(),
        Value::Int64(2),
        "only the two good inserts were stored"
    );
    engine.shutdown();
}

#[tokio::test]
async fn results_that_read_the_identity_are_cached_per_identity_claims_included() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(1_000_000));
    let who = |name: &str| {
        let claims = [("name".to_owned(), Value::from(name))]
            .into_iter()
            .collect();
        Arc::new(Identity::new(
            "https://issuer".into(),
            "user-1".into(),
            claims,
            None,
        ))
    };
    let path = FunctionPath::parse("who:name").unwrap();
    let ask = |identity: Option<Arc<Identity>>| {
        let (engine, path) = (engine.clone(), path.clone());
        async move {
            let out = engine
                .call_as(
                    Some(FunctionKind::Query),
                    &path,
                    Value::Object(Default::default()),
                    Transport::Internal,
                    identity,
                )
                .await;
            (out.result.unwrap(), out.cached)
        }
    };
    assert_eq!(ask(Some(who("Ada"))).await, (Value::from("Ada"), false));
    assert_eq!(ask(Some(who("Ada"))).await, (Value::from("Ada"), true));
    // Same user (same tokenIdentifier), renamed: a result of its own, not Ada's.
    assert_eq!(
        ask(Some(who("Ada L."))).await,
        (Value::from("Ada L."), false)
    );
    assert_eq!(ask(None).await, (Value::Null, false));
    engine.shutdown();
}

#[tokio::test]
async fn query_read_sets_cover_only_the_scanned_index_range() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(1_000_000));
    call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("a", 0, 3),
    )
    .await
    .result
    .unwrap();
    let read_a = call(
        &engine,
        FunctionKind::Query,
        "items:range",
        Value::object([("group", "a")]),
    )
    .await;
    let reads = read_a.reads.unwrap();
    let write_b = call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("b", 0, 1),
    )
    .await;
    assert!(
        !reads.overlaps(&write_b.writes.unwrap()),
        "a write to group b does not touch a read of group a"
    );
    let write_a = call(
        &engine,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("a", 7, 8),
    )
    .await;
    assert!(
        reads.overlaps(&write_a.writes.unwrap()),
        "a write to group a does"
    );
    engine.shutdown();
}

#[tokio::test]
async fn scheduling_limits_are_enforced_and_a_refused_batch_schedules_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(5_000_000_000_000));
    let many =
        |n: i64, pad: i64| Value::object([("n", Value::Int64(n)), ("pad", Value::Int64(pad))]);
    let count = |engine: Engine| async move {
        from_value::<i64>(
            call(
                &engine,
                FunctionKind::Query,
                "jobs:count",
                Value::object::<[(&str, Value); 0], &str, Value>([]),
            )
            .await
            .result
            .unwrap(),
        )
    };
    let ok = call(
        &engine,
        FunctionKind::Mutation,
        "jobs:scheduleMany",
        many(1000, 10),
    )
    .await;
    assert!(ok.result.is_ok(), "{:?}", ok.result);
    assert_eq!(count(engine.clone()).await, 1000);
    let too_many = call(
        &engine,
        FunctionKind::Mutation,
        "jobs:scheduleMany",
        many(1001, 10),
    )
    .await;
    assert!(too_many.result.is_err());
    assert_eq!(
        count(engine.clone()).await,
        1000,
        "the refused mutation scheduled nothing"
    );
    let too_big = call(
        &engine,
        FunctionKind::Mutation,
        "jobs:scheduleMany",
        many(
            1,
            i64::try_from(ferrovex_engine::MAX_SCHEDULED_ARGS_BYTES).unwrap(),
        ),
    )
    .await;
    assert!(too_big.result.is_err());
    assert_eq!(count(engine.clone()).await, 1000);
    // Times beyond ten years (or not finite) are refused; they would never run anyway.
    for at in [1e300, f64::INFINITY] {
        let far = call(
            &engine,
            FunctionKind::Mutation,
            "jobs:scheduleAt",
            Value::object([("at", Value::Float64(at))]),
        )
        .await;
        assert!(far.result.is_err(), "{at}");
    }
    assert_eq!(count(engine.clone()).await, 1000);
    // Functions read `_scheduled_functions` through ctx.db.system(), but never auth's tables.
    let users = call(
        &engine,
        FunctionKind::Query,
        "jobs:peekUsers",
        Value::object::<[(&str, Value); 0], &str, Value>([]),
    )
    .await;
    assert!(users.result.is_err());
    engine.shutdown();
}

fn open_with_poll(
    dir: &Path,
    poll: Option<std::time::Duration>,
) -> (Engine, Arc<SqlitePersistence>) {
    let clock: Arc<dyn Clock> = Arc::new(ferrovex_store::SystemClock);
    let p = Arc::new(SqlitePersistence::open(dir, Durability::Normal, clock.clone()).unwrap());
    let config = ferrovex_engine::EngineConfig {
        foreign_commit_poll: poll,
        scheduler: false,
        ..ferrovex_engine::EngineConfig::default()
    };
    let engine = Engine::start_with(test_app(), p.clone(), clock, config).unwrap();
    (engine, p)
}

fn range_args(group: &str) -> Value {
    Value::object([("group", Value::from(group))])
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done().await {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_handles_commits_invalidate_exactly_what_they_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = open_with_poll(dir.path(), Some(std::time::Duration::from_millis(10)));
    let (b, _) = open_with_poll(dir.path(), Some(std::time::Duration::from_millis(10)));
    // B caches two results on disjoint ranges.
    for group in ["x", "y"] {
        assert!(ns(&b, range_args(group)).await.is_empty());
        let again = call(&b, FunctionKind::Query, "items:range", range_args(group)).await;
        assert!(again.cached, "{group} is cached on B");
    }
    // A writes to x only; B learns it from the commit log.
    let out = call(
        &a,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("x", 1, 3),
    )
    .await;
    out.result.unwrap();
    wait_until("B to read A's commit", async || {
        b.metrics().foreign_commits.load(Ordering::Relaxed) >= 1
    })
    .await;
    let x = call(&b, FunctionKind::Query, "items:range", range_args("x")).await;
    assert!(!x.cached, "x was invalidated on B");
    assert_eq!(from_value::<Vec<i64>>(x.result.unwrap()), vec![1, 2]);
    let y = call(&b, FunctionKind::Query, "items:range", range_args("y")).await;
    assert!(y.cached, "a write to x must not invalidate y on B");
    assert_eq!(
        b.metrics()
            .commit_log_full_invalidations
            .load(Ordering::Relaxed),
        0
    );
    // A's own commits never count as foreign on A.
    assert_eq!(a.metrics().foreign_commits.load(Ordering::Relaxed), 0);
    // B's own commit, made after A's next one, publishes A's first (no skipped commit).
    call(
        &a,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("y", 5, 6),
    )
    .await
    .result
    .unwrap();
    call(
        &b,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("z", 1, 2),
    )
    .await
    .result
    .unwrap();
    let y = call(&b, FunctionKind::Query, "items:range", range_args("y")).await;
    assert_eq!(from_value::<Vec<i64>>(y.result.unwrap()), vec![5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_behind_the_pruned_commit_log_invalidates_everything_once() {
    use ferrovex_store::Persistence as _;
    let dir = tempfile::tempdir().unwrap();
    let (a, pa) = open_with_poll(dir.path(), None);
    let (b, _) = open_with_poll(dir.path(), None);
    assert!(ns(&b, range_args("x")).await.is_empty());
    call(
        &a,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("x", 1, 2),
    )
    .await
    .result
    .unwrap();
    // A prunes its record before B (which does not poll) has read it.
    let mut txn = pa.begin_write().unwrap();
    assert_eq!(
        txn.prune_commit_log(Timestamp::from_nanos(u64::MAX))
            .unwrap(),
        1
    );
    txn.commit().unwrap();
    // B's next commit catches up: the record is gone, so everything is invalidated, counted.
    call(
        &b,
        FunctionKind::Mutation,
        "items:insert",
        insert_args("z", 1, 2),
    )
    .await
    .result
    .unwrap();
    assert_eq!(
        b.metrics()
            .commit_log_full_invalidations
            .load(Ordering::Relaxed),
        1
    );
    let x = call(&b, FunctionKind::Query, "items:range", range_args("x")).await;
    assert!(!x.cached);
    assert_eq!(from_value::<Vec<i64>>(x.result.unwrap()), vec![1]);
}

#[tokio::test]
async fn environment_variables_are_set_read_by_functions_and_bounded() {
    use ferrovex_engine::EnvChange;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(1_000_000_000));
    let get = |engine: Engine| async move {
        call(
            &engine,
            FunctionKind::Query,
            "env:get",
            Value::object([("name", "JWKS")]),
        )
        .await
        .result
        .unwrap()
    };
    assert_eq!(get(engine.clone()).await, Value::Null);
    let set = |v: Option<&str>| {
        vec![EnvChange {
            name: "JWKS".to_owned(),
            value: v.map(str::to_owned),
        }]
    };
    engine.update_env_vars(set(Some("one"))).await.unwrap();
    assert_eq!(get(engine.clone()).await, Value::from("one"));
    engine.update_env_vars(set(Some("two"))).await.unwrap();
    assert_eq!(get(engine.clone()).await, Value::from("two"));
    assert_eq!(engine.env_vars().await.unwrap().len(), 1);
    // A bad name or an oversized value changes nothing, and names the variable.
    let bad = engine
        .update_env_vars(vec![
            EnvChange {
                name: "OK".to_owned(),
                value: Some("x".to_owned()),
            },
            EnvChange {
                name: "1BAD".to_owned(),
                value: Some("x".to_owned()),
            },
        ])
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("1BAD"), "{bad}");
    let big = "x".repeat(ferrovex_engine::MAX_ENV_VALUE_BYTES + 1);
    let err = engine.update_env_vars(set(Some(&big))).await.unwrap_err();
    assert!(err.to_string().contains("JWKS"), "{err}");
    assert_eq!(engine.env_vars().await.unwrap().len(), 1);
    engine.update_env_vars(set(None)).await.unwrap();
    assert_eq!(get(engine.clone()).await, Value::Null);
    // System rows stay out of the app's tables and out of user queries.
    assert!(!engine.user_tables().iter().any(|t| t.starts_with('_')));
    engine.shutdown();
}

#[tokio::test]
async fn an_import_is_all_or_nothing_and_keeps_ids_and_creation_times() {
    use ferrovex_engine::{ImportDocument, ImportMode, PageCursor};
    use ferrovex_store::{DocumentId, TableName};
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), clock_at(1_000_000_000));
    let people = TableName::parse("people").unwrap();
    let person = |id: &str, name: Value| ImportDocument {
        table: people.clone(),
        id: Some(DocumentId::parse(id).unwrap()),
        creation_time: Some(1_700_000_000_000.5),
        fields: [("name".to_owned(), name)].into_iter().collect(),
    };
    let ids = ["0000000000000000000000000a", "0000000000000000000000000b"];
    // The second document breaks the table's validator: nothing is written.
    let docs = vec![
        person(ids[0], Value::from("Ada")),
        person(ids[1], Value::Int64(3)),
    ];
    let err = engine
        .import_documents(
            vec![(people.clone(), ImportMode::RequireEmpty)],
            Box::new(move |sink| docs.into_iter().try_for_each(&mut *sink)),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
    let count = |engine: Engine, table: TableName| async move {
        engine
            .with_snapshot(move |s| Ok(s.page(&table, &PageCursor::default(), 100)?.0))
            .await
            .unwrap()
    };
    assert!(count(engine.clone(), people.clone()).await.is_empty());
    let docs = vec![
        person(ids[0], Value::from("Ada")),
        person(ids[1], Value::from("Bo")),
    ];
    let report = engine
        .import_documents(
            vec![(people.clone(), ImportMode::RequireEmpty)],
            Box::new(move |sink| docs.into_iter().try_for_each(&mut *sink)),
        )
        .await
        .unwrap();
    assert_eq!(report.written.get("people"), Some(&2));
    let stored = count(engine.clone(), people.clone()).await;
    let stored_ids: Vec<_> = stored.iter().map(|d| d.id.as_str().to_owned()).collect();
    assert_eq!(stored_ids, ids);
    assert!(
        stored
            .iter()
            .all(|d| d.creation_time == 1_700_000_000_000.5)
    );
    // Not empty any more: the default mode refuses, Replace swaps the contents.
    let again = vec![person(ids[0], Value::from("Cy"))];
    let err = engine
        .import_documents(
            vec![(people.clone(), ImportMode::RequireEmpty)],
            Box::new(move |sink| again.into_iter().try_for_each(&mut *sink)),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    let again = vec![person(ids[0], Value::from("Cy"))];
    let report = engine
        .import_documents(
            vec![(people.clone(), ImportMode::Replace)],
            Box::new(move |sink| again.into_iter().try_for_each(&mut *sink)),
        )
        .await
        .unwrap();
    assert_eq!(report.deleted.get("people"), Some(&2));
    assert_eq!(count(engine.clone(), people.clone()).await.len(), 1);
    engine.shutdown();
}
