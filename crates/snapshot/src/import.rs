//! Reading an archive or a file into a deployment, all or nothing.
//!
//! Formats (as `npx convex import` names them):
//! - `zip`: a Convex snapshot export. Every `<table>/documents.jsonl` is a table (leading
//!   folders are ignored, so an archive unpacked and zipped again still imports); a table listed
//!   in `_tables/documents.jsonl` without documents is emptied by `Replace`; system tables
//!   (`_storage`, `_scheduled_functions`, ...) are skipped. Values are read in the uniform format
//!   when `<table>/generated_schema.jsonl` says `"uniform"`, as plain JSON without one; the
//!   shape-based schemas of exports made before March 2026 are refused with a clear message.
//! - `jsonLines` (`.jsonl`) and `jsonArray` (`.json`, at most [`MAX_JSON_ARRAY_BYTES`]): one
//!   table, named by `--table`, plain JSON values.
//!
//! `_id` and `_creationTime` are kept when present. Every document is checked against its
//! table's validator; the first error names the entry, the line and the field, and nothing of
//! the run is written ([`ferrovex_engine::Engine::import_documents`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use ferrovex_engine::{Engine, EngineError, ImportDocument, ImportMode, ImportReport, ImportSink};
use ferrovex_store::{DocumentId, TableName};
use serde_json::Value as Json;

use crate::SnapshotError;
use crate::codec::{self, Encoding};
use crate::zip_read::{ZipEntryInfo, ZipReader};

/// Longest document line read (Convex documents are at most 1 MiB; lines carry some overhead).
pub const MAX_LINE_BYTES: usize = 8 << 20;
/// Most tables `_tables/documents.jsonl` may list.
pub const MAX_LISTED_TABLES: usize = 10_000;
/// Largest `.json` array file (it is parsed whole).
pub const MAX_JSON_ARRAY_BYTES: u64 = 16 << 20;

/// What kind of file is imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// A snapshot ZIP.
    Zip,
    /// One JSON object per line, one table.
    JsonLines,
    /// One JSON array of objects, one table.
    JsonArray,
}

impl ImportFormat {
    /// The format named as `npx convex import --format` names it (`zip`, `jsonLines`,
    /// `jsonArray`; `jsonl` and `json` too).
    pub fn from_name(name: &str) -> Result<ImportFormat, SnapshotError> {
        match name {
            "zip" => Ok(ImportFormat::Zip),
            "jsonLines" | "jsonl" => Ok(ImportFormat::JsonLines),
            "jsonArray" | "json" => Ok(ImportFormat::JsonArray),
            "csv" => Err(SnapshotError::Invalid(
                "CSV imports are not supported; convert the file to JSON lines (.jsonl)".to_owned(),
            )),
            other => Err(SnapshotError::Invalid(format!(
                "unknown import format {other:?} (zip, jsonLines or jsonArray)"
            ))),
        }
    }

    /// The format a file's extension implies.
    pub fn from_path(path: &Path) -> Result<ImportFormat, SnapshotError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) => ImportFormat::from_name(ext).map_err(|_| {
                SnapshotError::Invalid(format!(
                    "cannot tell the format of {} from its extension: use .zip, .jsonl or .json, or --format",
                    path.display()
                ))
            }),
            None => Err(SnapshotError::Invalid(format!(
                "{} has no extension: name the format with --format (zip, jsonLines, jsonArray)",
                path.display()
            ))),
        }
    }

    /// Convex's name of the format.
    pub fn name(self) -> &'static str {
        match self {
            ImportFormat::Zip => "zip",
            ImportFormat::JsonLines => "jsonLines",
            ImportFormat::JsonArray => "jsonArray",
        }
    }
}

/// Parses Convex's import mode names (`requireEmpty`, `replace`, `append`).
pub fn mode_from_name(name: &str) -> Result<ImportMode, SnapshotError> {
    match name {
        "requireEmpty" => Ok(ImportMode::RequireEmpty),
        "replace" => Ok(ImportMode::Replace),
        "append" => Ok(ImportMode::Append),
        "replaceAll" => Err(SnapshotError::Invalid(
            "--replace-all is not supported; name the tables to replace with --replace".to_owned(),
        )),
        other => Err(SnapshotError::Invalid(format!(
            "unknown import mode {other:?} (requireEmpty, replace or append)"
        ))),
    }
}

/// What to import and how.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The file's format.
    pub format: ImportFormat,
    /// The table of a `.jsonl`/`.json` import (required there, refused for ZIPs).
    pub table: Option<String>,
    /// What happens to tables that already hold documents.
    pub mode: ImportMode,
}

#[derive(Clone, Debug)]
enum Source {
    /// A ZIP entry, read with the given encoding.
    Entry(ZipEntryInfo, Encoding),
    /// The whole file (`.jsonl` or `.json`).
    File,
    /// Listed in `_tables` with no documents.
    Empty,
}

/// One table an import writes.
#[derive(Clone, Debug)]
pub struct PlannedTable {
    /// The table.
    pub table: TableName,
    /// Documents the file holds for it (lines; counted before importing).
    pub documents: u64,
    source: Source,
}

/// An import checked for shape (entries, tables, formats) but not yet run.
#[derive(Clone, Debug)]
pub struct ImportPlan {
    path: PathBuf,
    options: ImportOptions,
    /// The tables written, in name order.
    pub tables: Vec<PlannedTable>,
}

impl ImportPlan {
    /// Documents in the file, all tables together.
    pub fn documents(&self) -> u64 {
        self.tables.iter().map(|t| t.documents).sum()
    }
}

fn invalid(message: String) -> SnapshotError {
    SnapshotError::Invalid(message)
}

fn table_name(name: &str, at: &str) -> Result<TableName, SnapshotError> {
    TableName::parse(name)
        .ok_or_else(|| invalid(format!("{at}: {name:?} is not a valid table name")))
}

/// Reads the archive's directory (or the file's name) and counts its documents.
pub fn plan(path: &Path, options: ImportOptions) -> Result<ImportPlan, SnapshotError> {
    let file = File::open(path).map_err(|e| {
        SnapshotError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })?;
    let mut tables = Vec::new();
    match options.format {
        ImportFormat::Zip => {
            if options.table.is_some() {
                return Err(invalid(
                    "--table is for .jsonl and .json files; a ZIP names its own tables".to_owned(),
                ));
            }
            let zip = ZipReader::open(file)?;
            let mut found: BTreeMap<String, PlannedTable> = BTreeMap::new();
            for entry in zip.entries() {
                let Some(prefix) = entry.name.strip_suffix("/documents.jsonl") else {
                    continue;
                };
                if prefix.split('/').any(|s| s == "_components") {
                    return Err(invalid(format!(
                        "{}: Convex components are not supported by Ferrovex",
                        entry.name
                    )));
                }
                let name = prefix.rsplit('/').next().unwrap_or(prefix);
                if name.starts_with('_') {
                    continue;
                }
                let table = table_name(name, &entry.name)?;
                let schema_entry = format!("{prefix}/generated_schema.jsonl");
                let encoding = match zip.find(&schema_entry) {
                    None => Encoding::Plain,
                    Some(info) => read_generated_schema(&zip, info)?,
                };
                let documents = count_lines(zip.open_entry(entry)?, &entry.name)?;
                let planned = PlannedTable {
                    table,
                    documents,
                    source: Source::Entry(entry.clone(), encoding),
                };
                if found.insert(name.to_owned(), planned).is_some() {
                    return Err(invalid(format!(
                        "{}: the archive holds table {name} twice",
                        entry.name
                    )));
                }
            }
            if let Some(listed) = zip.entries().iter().find(|e| {
                e.name == "_tables/documents.jsonl" || e.name.ends_with("/_tables/documents.jsonl")
            }) {
                for name in read_tables_list(&zip, listed)? {
                    if name.starts_with('_') || found.contains_key(&name) {
                        continue;
                    }
                    let table = table_name(&name, &listed.name)?;
                    found.insert(
                        name,
                        PlannedTable {
                            table,
                            documents: 0,
                            source: Source::Empty,
                        },
                    );
                }
            }
            if found.is_empty() {
                return Err(invalid(format!(
                    "{} holds no <table>/documents.jsonl: is it a Convex snapshot export?",
                    path.display()
                )));
            }
            tables.extend(found.into_values());
        }
        ImportFormat::JsonLines | ImportFormat::JsonArray => {
            let Some(name) = options.table.as_deref() else {
                return Err(invalid(format!(
                    "importing a {} file needs --table",
                    options.format.name()
                )));
            };
            let table = table_name(name, "--table")?;
            let documents = if options.format == ImportFormat::JsonLines {
                count_lines(file, &file_label(path))?
            } else {
                0
            };
            tables.push(PlannedTable {
                table,
                documents,
                source: Source::File,
            });
        }
    }
    Ok(ImportPlan {
        path: path.to_owned(),
        options,
        tables,
    })
}

fn file_label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn read_generated_schema(zip: &ZipReader, info: &ZipEntryInfo) -> Result<Encoding, SnapshotError> {
    let mut reader = BufReader::new(zip.open_entry(info)?);
    let mut first = Vec::new();
    read_line_bounded(&mut reader, &mut first, MAX_LINE_BYTES, &info.name, 1)?;
    let json: Json = serde_json::from_slice(&first)
        .map_err(|e| invalid(format!("{}, line 1: not JSON: {e}", info.name)))?;
    if json == "uniform" {
        Ok(Encoding::Uniform)
    } else {
        Err(invalid(format!(
            "{}: a shape-based schema (Convex exports made before March 2026) is not supported; export again with a current Convex, or remove the file to read the values as plain JSON",
            info.name
        )))
    }
}

fn read_tables_list(zip: &ZipReader, info: &ZipEntryInfo) -> Result<Vec<String>, SnapshotError> {
    let mut reader = BufReader::new(zip.open_entry(info)?);
    let mut names = Vec::new();
    let mut line = Vec::new();
    for n in 1.. {
        if !read_line_bounded(&mut reader, &mut line, MAX_LINE_BYTES, &info.name, n)? {
            break;
        }
        let json: Json = serde_json::from_slice(&line)
            .map_err(|e| invalid(format!("{}, line {n}: not JSON: {e}", info.name)))?;
        let name = json
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| invalid(format!("{}, line {n}: no \"name\"", info.name)))?;
        if names.len() >= MAX_LISTED_TABLES {
            return Err(SnapshotError::TooLarge(format!(
                "{}: more than {MAX_LISTED_TABLES} tables",
                info.name
            )));
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

/// Reads one line (without its newline) into `line`; `false` at the end. A line longer than
/// `max` or an empty line before the end is an error naming `at` and the line number.
fn read_line_bounded(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
    at: &str,
    n: u64,
) -> Result<bool, SnapshotError> {
    line.clear();
    let read = reader
        .by_ref()
        .take(max as u64 + 1)
        .read_until(b'\n', line)
        .map_err(|e| SnapshotError::Io(std::io::Error::new(e.kind(), format!("{at}: {e}"))))?;
    if read == 0 {
        return Ok(false);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() > max {
        return Err(SnapshotError::TooLarge(format!(
            "{at}, line {n}: longer than {max} bytes"
        )));
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid(format!("{at}, line {n}: empty line")));
    }
    Ok(true)
}

fn count_lines(from: impl Read, at: &str) -> Result<u64, SnapshotError> {
    let mut reader = BufReader::with_capacity(1 << 16, from);
    let mut count = 0u64;
    let mut pending = false;
    loop {
        let buf = reader
            .fill_buf()
            .map_err(|e| SnapshotError::Io(std::io::Error::new(e.kind(), format!("{at}: {e}"))))?;
        if buf.is_empty() {
            break;
        }
        count += buf.iter().filter(|b| **b == b'\n').count() as u64;
        pending = buf.last() != Some(&b'\n');
        let len = buf.len();
        reader.consume(len);
    }
    Ok(count + u64::from(pending))
}

/// One document from a JSON object; errors say what is wrong, the caller says where.
fn document(table: &TableName, json: Json, encoding: Encoding) -> Result<ImportDocument, String> {
    let Json::Object(mut object) = json else {
        return Err("not a JSON object".to_owned());
    };
    let id = match object.remove("_id") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => {
            Some(DocumentId::parse(&s).ok_or_else(|| format!("_id {s:?} is not a document id"))?)
        }
        Some(other) => return Err(format!("_id must be a string, not {other}")),
    };
    let creation_time = match object.remove("_creationTime") {
        None | Some(Json::Null) => None,
        Some(Json::Number(n)) => match n.as_f64() {
            Some(t) if t.is_finite() && t >= 0.0 => Some(t),
            _ => return Err(format!("_creationTime {n} is not a time in milliseconds")),
        },
        Some(other) => return Err(format!("_creationTime must be a number, not {other}")),
    };
    let mut fields = BTreeMap::new();
    for (name, value) in object {
        let value = codec::decode(&value, encoding).map_err(|e| {
            if e.starts_with(&name) {
                format!("field {e}")
            } else {
                format!("field {name}{e}")
            }
        })?;
        fields.insert(name, value);
    }
    Ok(ImportDocument {
        table: table.clone(),
        id,
        creation_time,
        fields,
    })
}

/// Feeds the lines of `reader` to `sink` as documents of `table`.
fn feed_lines(
    reader: impl Read,
    table: &TableName,
    encoding: Encoding,
    at: &str,
    sink: &mut ImportSink<'_>,
) -> Result<(), EngineError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut line = Vec::new();
    let fail = |e: SnapshotError| EngineError::BadDatabaseCall(e.to_string());
    for n in 1.. {
        if !read_line_bounded(&mut reader, &mut line, MAX_LINE_BYTES, at, n).map_err(fail)? {
            break;
        }
        let json: Json = serde_json::from_slice(&line).map_err(|e| {
            EngineError::BadDatabaseCall(format!("{at}, line {n}: not valid JSON: {e}"))
        })?;
        let doc = document(table, json, encoding)
            .map_err(|e| EngineError::BadDatabaseCall(format!("{at}, line {n}: {e}")))?;
        sink(doc).map_err(|e| EngineError::BadDatabaseCall(format!("{at}, line {n}: {e}")))?;
    }
    Ok(())
}

fn feed_array(
    file: File,
    table: &TableName,
    at: &str,
    sink: &mut ImportSink<'_>,
) -> Result<(), EngineError> {
    let size = file.metadata().map_or(0, |m| m.len());
    if size > MAX_JSON_ARRAY_BYTES {
        return Err(EngineError::LimitExceeded(format!(
            "{at} is {size} bytes; a .json import may be at most {MAX_JSON_ARRAY_BYTES} bytes (use JSON lines for more)"
        )));
    }
    let json: Json = serde_json::from_reader(BufReader::new(file))
        .map_err(|e| EngineError::BadDatabaseCall(format!("{at}: not valid JSON: {e}")))?;
    let Json::Array(items) = json else {
        return Err(EngineError::BadDatabaseCall(format!(
            "{at}: not a JSON array"
        )));
    };
    for (i, item) in items.into_iter().enumerate() {
        let n = i + 1;
        let doc = document(table, item, Encoding::Plain)
            .map_err(|e| EngineError::BadDatabaseCall(format!("{at}, element {n}: {e}")))?;
        sink(doc).map_err(|e| EngineError::BadDatabaseCall(format!("{at}, element {n}: {e}")))?;
    }
    Ok(())
}

/// Runs `plan` against `engine`: every table of the plan in one transaction.
pub async fn import(engine: &Engine, plan: ImportPlan) -> Result<ImportReport, SnapshotError> {
    let known = engine.user_tables();
    for planned in &plan.tables {
        if !known.iter().any(|t| t == planned.table.as_str()) {
            return Err(invalid(format!(
                "table {} is not in the app's schema (tables: {}); declare it in the app first",
                planned.table,
                known.join(", ")
            )));
        }
    }
    let tables = plan
        .tables
        .iter()
        .map(|t| (t.table.clone(), plan.options.mode))
        .collect();
    let source: ferrovex_engine::ImportSource = Box::new(move |sink: &mut ImportSink<'_>| {
        let open = |path: &Path| {
            File::open(path).map_err(|e| {
                EngineError::BadDatabaseCall(format!("cannot open {}: {e}", path.display()))
            })
        };
        let label = file_label(&plan.path);
        match plan.options.format {
            ImportFormat::Zip => {
                let zip = ZipReader::open(open(&plan.path)?)
                    .map_err(|e| EngineError::BadDatabaseCall(e.to_string()))?;
                for planned in &plan.tables {
                    if let Source::Entry(info, encoding) = &planned.source {
                        let entry = zip
                            .open_entry(info)
                            .map_err(|e| EngineError::BadDatabaseCall(e.to_string()))?;
                        feed_lines(entry, &planned.table, *encoding, &info.name, sink)?;
                    }
                }
                Ok(())
            }
            ImportFormat::JsonLines => feed_lines(
                open(&plan.path)?,
                &plan.tables[0].table,
                Encoding::Plain,
                &label,
                sink,
            ),
            ImportFormat::JsonArray => {
                feed_array(open(&plan.path)?, &plan.tables[0].table, &label, sink)
            }
        }
    });
    Ok(engine.import_documents(tables, source).await?)
}
