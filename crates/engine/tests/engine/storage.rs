//! File storage in the engine: a delete in a mutation that then fails deletes nothing; bytes
//! that no `_storage` row names are collected once older than the grace period, and bytes a
//! row names never are; `_storage` rows are readable through `ctx.db.system()`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferrovex_engine::prelude::*;
use ferrovex_engine::{Engine, FunctionKind, FunctionPath, UNREFERENCED_GRACE};
use ferrovex_store::{BlobStore, FsBlobStore, SystemClock};
use ferrovex_store_sqlite::{Durability, SqlitePersistence};

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
struct IdArgs {
    id: DocumentId,
}

#[derive(Deserialize, ferrovex_macros::Type)]
#[ferrovex(crate = "ferrovex_engine")]
struct StoreArgs {
    text: String,
}

fn app() -> App {
    App::new(Schema::new())
        .action("files:store", |ctx: ActionCtx, a: StoreArgs| async move {
            ctx.storage()
                .store(a.text.into_bytes(), Some("text/plain"))
                .await
        })
        .mutation(
            "files:deleteThenFail",
            |ctx: &mut MutationCtx, a: IdArgs| {
                ctx.storage().delete(&a.id)?;
                Err::<(), _>(FnError::internal("deliberate failure after the delete"))
            },
        )
        .mutation("files:delete", |ctx: &mut MutationCtx, a: IdArgs| {
            ctx.storage().delete(&a.id)
        })
        .query("files:count", |ctx: &mut QueryCtx, _: NoArgs| {
            Ok(ctx.db.system().query("_storage")?.collect()?.len() as f64)
        })
}

async fn call(engine: &Engine, kind: FunctionKind, path: &str, args: Value) -> Value {
    let out = engine
        .run(kind, &FunctionPath::parse(path).unwrap(), args)
        .await;
    out.result
        .unwrap_or_else(|e| Value::from(format!("error: {}", e.message())))
}

/// Makes every stored blob look `age` old.
fn age_blobs(root: &std::path::Path, age: Duration) {
    let then = SystemTime::now() - age;
    for dir in std::fs::read_dir(root).unwrap().flatten() {
        if dir.file_name().len() != 2 {
            continue;
        }
        for file in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let f = std::fs::File::options()
                .write(true)
                .open(file.path())
                .unwrap();
            f.set_modified(then).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_deletes_keep_files_and_unreferenced_bytes_are_collected_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SystemClock);
    let p = SqlitePersistence::open(dir.path(), Durability::Normal, clock.clone()).unwrap();
    let engine = Engine::start(app(), Arc::new(p), clock).unwrap();
    let root = dir.path().join("storage");
    let blobs = Arc::new(FsBlobStore::open(&root).unwrap());
    engine.configure_files(blobs.clone(), "http://127.0.0.1:1", Duration::from_secs(60));

    let kept = call(
        &engine,
        FunctionKind::Action,
        "files:store",
        Value::object([("text", "kept")]),
    )
    .await;
    let gone = call(
        &engine,
        FunctionKind::Action,
        "files:store",
        Value::object([("text", "gone")]),
    )
    .await;
    let (Value::String(kept), Value::String(gone)) = (kept, gone) else {
        panic!("stored ids")
    };
    let count = || {
        call(
            &engine,
            FunctionKind::Query,
            "files:count",
            Value::object(Vec::<(&str, Value)>::new()),
        )
    };
    assert_eq!(count().await, Value::Float64(2.0));

    // A mutation that deletes and then fails deletes nothing.
    let failed = call(
        &engine,
        FunctionKind::Mutation,
        "files:deleteThenFail",
        Value::object([("id", kept.as_str())]),
    )
    .await;
    assert!(
        matches!(failed, Value::String(ref s) if s.starts_with("error")),
        "{failed:?}"
    );
    assert_eq!(count().await, Value::Float64(2.0));
    call(
        &engine,
        FunctionKind::Mutation,
        "files:delete",
        Value::object([("id", gone.as_str())]),
    )
    .await;
    assert_eq!(count().await, Value::Float64(1.0));
    assert_eq!(
        blobs.list().unwrap().len(),
        2,
        "the bytes wait for the collector"
    );

    let orphan = call(
        &engine,
        FunctionKind::Action,
        "files:store",
        Value::object([("text", "orphan")]),
    )
    .await;
    let Value::String(orphan) = orphan else {
        panic!("stored id")
    };
    call(
        &engine,
        FunctionKind::Mutation,
        "files:delete",
        Value::object([("id", orphan.as_str())]),
    )
    .await;

    // Young unreferenced bytes are left alone; once past the grace they go, and named ones stay.
    assert_eq!(engine.collect_file_garbage().await.unwrap(), 0);
    age_blobs(&root, UNREFERENCED_GRACE + Duration::from_secs(60));
    // Uploading bytes equal to old unreferenced ones reuses them and makes them young again.
    call(
        &engine,
        FunctionKind::Action,
        "files:store",
        Value::object([("text", "gone")]),
    )
    .await;
    assert_eq!(
        engine.collect_file_garbage().await.unwrap(),
        1,
        "only the orphan's bytes"
    );
    assert_eq!(blobs.list().unwrap().len(), 2);
    let meta = engine
        .file_metadata(&DocumentId::parse(&kept).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(blobs.open(&meta.blob_key().unwrap()).unwrap().is_some());
    engine.shutdown();
}
