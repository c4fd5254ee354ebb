//! Export and import against a real engine on a SQLite file: a hand-made archive in Convex's
//! layout with every value type imports exactly; export, wipe, import and export again give the
//! same documents; a broken line or a validator mismatch imports nothing and names the line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use ferrovex_engine::{App, Engine, ImportMode};
use ferrovex_snapshot::import::{ImportFormat, ImportOptions, import, plan};
use ferrovex_snapshot::zip_read::ZipReader;
use ferrovex_snapshot::zip_write::ZipWriter;
use ferrovex_store::validator::v;
use ferrovex_store::{Schema, SystemClock, TableDef};
use ferrovex_store_sqlite::{Durability, SqlitePersistence};
use serde_json::Value as Json;

/// Convex's worked example: one document holding every type, with a Convex-made `_id`.
const EVERY_TYPE: &str = r#"{"_creationTime":1712345678901.234,"_id":"j57028t5cy4tqkff04hmasw9nf6yyqzr","arr":[1,1.0,"x",null],"b":true,"big":1e+21,"bytes":{"$bytes":"AAH+/w=="},"f":3.5,"fint":2.0,"i":42,"imin":-9223372036854775808,"inf":{"$float":"AAAAAAAA8H8="},"nan":{"$float":"AAAAAAAA+H8="},"negInf":{"$float":"AAAAAAAA8P8="},"negZero":-0.0,"nul":null,"obj":{"n":7,"s":"hi"},"s":"hello"}"#;

fn app() -> App {
    App::new(Schema::new().table("items", TableDef::default()).table(
        "people",
        TableDef::default().document(v::object([
            ("name", v::string()),
            ("age", v::optional(v::int64())),
        ])),
    ))
}

fn engine(dir: &Path) -> Engine {
    let clock = Arc::new(SystemClock);
    let p = SqlitePersistence::open(dir, Durability::Normal, clock.clone()).unwrap();
    Engine::start(app(), Arc::new(p), clock).unwrap()
}

/// Writes a ZIP of `(name, text)` entries.
fn zip(path: &Path, entries: &[(&str, &str)]) {
    let mut zip = ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, text) in entries {
        let mut entry = zip.entry(name).unwrap();
        entry.write_all(text.as_bytes()).unwrap();
        entry.finish().unwrap();
    }
    zip.finish().unwrap();
}

fn zip_import(mode: ImportMode) -> ImportOptions {
    ImportOptions {
        format: ImportFormat::Zip,
        table: None,
        mode,
    }
}

async fn export_to(engine: &Engine, path: &Path) -> u64 {
    let file = std::fs::File::create(path).unwrap();
    let (_, summary) = ferrovex_snapshot::export::export(engine, file, |_| {})
        .await
        .unwrap();
    summary.documents
}

/// The document lines of one table in an archive, parsed.
fn lines(path: &Path, table: &str) -> Vec<Json> {
    let zip = ZipReader::open(std::fs::File::open(path).unwrap()).unwrap();
    let info = zip
        .find(&format!("{table}/documents.jsonl"))
        .unwrap()
        .clone();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.open_entry(&info).unwrap(), &mut text).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_made_convex_archive_with_every_type_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("convex.zip");
    zip(
        &archive,
        &[
            ("README.md", "# Welcome to your Convex snapshot export!\n"),
            (
                "_tables/documents.jsonl",
                "{\"name\":\"items\",\"id\":10001}\n{\"name\":\"people\",\"id\":10002}\n",
            ),
            ("items/documents.jsonl", &format!("{EVERY_TYPE}\n")),
            ("items/generated_schema.jsonl", "\"uniform\"\n"),
            (
                "people/documents.jsonl",
                "{\"name\":\"Ada\",\"age\":36}\n{\"name\":\"Bo\"}\n",
            ),
            ("people/generated_schema.jsonl", "\"uniform\"\n"),
        ],
    );
    let first = engine(&dir.path().join("a"));
    let planned = plan(&archive, zip_import(ImportMode::RequireEmpty)).unwrap();
    assert_eq!(planned.documents(), 3);
    let report = import(&first, planned).await.unwrap();
    assert_eq!(report.written["items"], 1);
    assert_eq!(report.written["people"], 2);

    // Export: the one document comes back exactly (types, bits, _id and _creationTime).
    let exported = dir.path().join("export-1.zip");
    assert_eq!(export_to(&first, &exported).await, 3);
    let items = lines(&exported, "items");
    let original: Json = serde_json::from_str(EVERY_TYPE).unwrap();
    assert_eq!(items, vec![original.clone()]);
    let text = serde_json::to_string(&items[0]).unwrap();
    assert!(
        text.contains("\"i\":42,") && text.contains("\"fint\":2.0"),
        "{text}"
    );
    assert!(
        text.contains("\"arr\":[1,1.0,"),
        "int64 and float64 stay apart: {text}"
    );
    assert!(text.contains("\"negZero\":-0.0"), "{text}");

    // Wipe (a fresh deployment), import the export, export again: the same documents.
    let second = engine(&dir.path().join("b"));
    let planned = plan(&exported, zip_import(ImportMode::RequireEmpty)).unwrap();
    import(&second, planned).await.unwrap();
    let again = dir.path().join("export-2.zip");
    assert_eq!(export_to(&second, &again).await, 3);
    for table in ["items", "people"] {
        assert_eq!(lines(&exported, table), lines(&again, table), "{table}");
    }

    // Into a table that holds documents: refused without a mode, replaced with one.
    let planned = plan(&again, zip_import(ImportMode::RequireEmpty)).unwrap();
    let err = import(&second, planned).await.unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
    let planned = plan(&again, zip_import(ImportMode::Replace)).unwrap();
    let report = import(&second, planned).await.unwrap();
    assert_eq!(report.deleted["people"], 2);
    first.shutdown();
    second.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_line_or_a_validator_mismatch_imports_nothing_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir.path().join("db"));
    let broken = dir.path().join("broken.zip");
    zip(
        &broken,
        &[
            ("items/documents.jsonl", "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"),
            (
                "people/documents.jsonl",
                "{\"name\":\"Ada\"}\n{\"name\": \n",
            ),
        ],
    );
    let err = import(
        &engine,
        plan(&broken, zip_import(ImportMode::RequireEmpty)).unwrap(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("people/documents.jsonl, line 2"), "{err}");

    let mismatch = dir.path().join("people.jsonl");
    std::fs::write(
        &mismatch,
        "{\"name\":\"Ada\"}\n{\"name\":\"Bo\",\"age\":\"old\"}\n",
    )
    .unwrap();
    let options = ImportOptions {
        format: ImportFormat::JsonLines,
        table: Some("people".to_owned()),
        mode: ImportMode::RequireEmpty,
    };
    let err = import(&engine, plan(&mismatch, options).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("people.jsonl, line 2") && err.contains("age"),
        "{err}"
    );

    let reserved = dir.path().join("items.jsonl");
    std::fs::write(&reserved, "{\"b\":{\"$bytes\":\"AA==\"}}\n").unwrap();
    let options = ImportOptions {
        format: ImportFormat::JsonLines,
        table: Some("items".to_owned()),
        mode: ImportMode::RequireEmpty,
    };
    let err = import(&engine, plan(&reserved, options).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1") && err.contains("$bytes"), "{err}");

    // Nothing of any failed run was written.
    let out = dir.path().join("after.zip");
    assert_eq!(export_to(&engine, &out).await, 0);
    engine.shutdown();
}
