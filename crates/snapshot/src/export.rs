//! Writing one consistent snapshot of a deployment as a Convex snapshot ZIP:
//!
//! ```text
//! README.md
//! _tables/documents.jsonl          {"name":"messages","id":10001} per table
//! <table>/documents.jsonl          one document per line, uniform format (see `codec`)
//! <table>/generated_schema.jsonl   "uniform"
//! ```
//!
//! Documents are read from one snapshot page by page ([`EXPORT_PAGE`] at a time) and deflated
//! as they are written, so memory stays bounded whatever the deployment's size.

use std::io::Write;

use ferrovex_engine::{Engine, PageCursor, SnapshotReader};
use ferrovex_store::{Document, Timestamp};
use serde_json::{Map, Value as Json};

use crate::SnapshotError;
use crate::codec;
use crate::zip_write::ZipWriter;

/// Documents read from the snapshot per page.
pub const EXPORT_PAGE: usize = 1000;
/// Convex numbers user tables from here; `_tables/documents.jsonl` follows it.
pub const FIRST_TABLE_NUMBER: u32 = 10_001;

const README: &str = "# Ferrovex snapshot export\n\nOne folder per table, each with `documents.jsonl` (one document per line, in Convex's\nuniform export format) and `generated_schema.jsonl`. Import it with `ferrovex import` or\n`npx convex import`.\n";

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// The snapshot's timestamp: the export holds every commit up to it.
    pub ts: Timestamp,
    /// Tables written.
    pub tables: usize,
    /// Documents written.
    pub documents: u64,
}

/// One document line (no newline).
pub fn document_line(doc: &Document) -> Json {
    let mut line = Map::new();
    line.insert("_creationTime".to_owned(), Json::from(doc.creation_time));
    line.insert("_id".to_owned(), Json::from(doc.id.as_str()));
    for (name, value) in &doc.fields {
        line.insert(name.clone(), codec::encode(value));
    }
    Json::Object(line)
}

/// Writes the snapshot `reader` holds to `out`; `progress` hears the documents written so far
/// (after every page). Returns `out` and the summary.
pub fn write_snapshot<W: Write>(
    reader: &mut SnapshotReader,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<(W, ExportSummary), SnapshotError> {
    let mut zip = ZipWriter::new(out);
    let tables = reader.user_tables();
    let mut summary = ExportSummary {
        ts: reader.ts(),
        tables: tables.len(),
        documents: 0,
    };
    {
        let mut entry = zip.entry("README.md")?;
        entry.write_all(README.as_bytes())?;
        entry.finish()?;
    }
    {
        let mut entry = zip.entry("_tables/documents.jsonl")?;
        for (number, table) in (FIRST_TABLE_NUMBER..).zip(&tables) {
            let line = serde_json::json!({ "name": table.as_str(), "id": number });
            writeln!(entry, "{line}")?;
        }
        entry.finish()?;
    }
    let mut line = Vec::new();
    for table in &tables {
        let mut entry = zip.entry(&format!("{table}/documents.jsonl"))?;
        let mut cursor = PageCursor::default();
        loop {
            let (docs, next) = reader.page(table, &cursor, EXPORT_PAGE)?;
            for doc in &docs {
                line.clear();
                serde_json::to_writer(&mut line, &document_line(doc))
                    .map_err(|e| SnapshotError::Invalid(format!("{table}: {e}")))?;
                line.push(b'\n');
                entry.write_all(&line)?;
            }
            summary.documents += docs.len() as u64;
            progress(summary.documents);
            match next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        entry.finish()?;
        let mut schema = zip.entry(&format!("{table}/generated_schema.jsonl"))?;
        schema.write_all(b"\"uniform\"\n")?;
        schema.finish()?;
    }
    Ok((zip.finish()?, summary))
}

/// Exports one consistent snapshot of `engine`'s deployment to `out`, on a blocking thread.
pub async fn export<W, P>(
    engine: &Engine,
    out: W,
    mut progress: P,
) -> Result<(W, ExportSummary), SnapshotError>
where
    W: Write + Send + 'static,
    P: FnMut(u64) + Send + 'static,
{
    engine
        .with_snapshot(move |reader| Ok(write_snapshot(reader, out, &mut progress)))
        .await?
}
