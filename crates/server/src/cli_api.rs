//! The HTTP endpoints the Convex CLI uses besides function calls, all behind the admin key
//! (`Authorization: Convex <key>`), answered in Convex's shapes (errors are `{code, message}`):
//!
//! - `POST /api/update_environment_variables` `{changes: [{name, value|null}]}` (`env set`,
//!   `env remove`), all or nothing.
//! - `POST /api/export/request/zip` starts an export job (one at a time: 400
//!   `ExportInProgress`); its state is the newest `_exports` row, which the CLI watches through
//!   `_system/cli/exports:getLatest`; `GET /api/export/zip/{ts}` downloads the archive.
//!   Archives live in `<data dir>/snapshots/`; the newest [`KEPT_EXPORTS`] are kept.
//! - `POST /api/import/start_upload`, `upload_part` (at most [`MAX_PART_BYTES`] each,
//!   [`MAX_UPLOAD_BYTES`] in all), `finish_upload` (checks the file's shape and records a
//!   `_snapshot_imports` row waiting for confirmation) and `POST /api/perform_import` (runs it
//!   in the background, all or nothing); the CLI watches `_system/cli/queryImport`.
//! - `GET /api/stream_function_logs?cursor=N` (`npx convex logs`): the function log after
//!   `cursor`, waiting up to [`LOG_POLL`] for an entry.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrovex_engine::{
    EXPORTS_TABLE, Engine, EngineError, EnvChange, IMPORTS_TABLE, ImportMode, Transport,
};
use ferrovex_snapshot::import::{ImportFormat, ImportOptions, ImportPlan};
use ferrovex_store::DocumentId;
use ferrovex_values::Value;
use serde_json::json;

use crate::{ApiError, ApiState};

/// Largest part of an import upload (the CLI sends 5 MiB parts).
pub const MAX_PART_BYTES: usize = 32 << 20;
/// Largest import upload, all parts together.
pub const MAX_UPLOAD_BYTES: u64 = 8 << 30;
/// Most parts of one upload (as in Convex).
pub const MAX_PARTS: u32 = 9_999;
/// Export archives kept on disk (older ones are deleted when a new one completes).
pub const KEPT_EXPORTS: usize = 3;
/// Longest a log poll waits for an entry.
pub const LOG_POLL: Duration = Duration::from_secs(30);
/// Uploads never finished are deleted after this long.
pub const UPLOAD_TTL: Duration = Duration::from_secs(24 * 3600);

/// Serializes the check-then-insert of a new export job.
static EXPORT_START: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Whether this process is running an export (a row left `requested` or `in_progress` while
/// none runs here was interrupted by a restart).
static EXPORT_RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/update_environment_variables",
            post(update_environment_variables),
        )
        .route("/api/export/request/zip", post(request_export))
        .route("/api/export/zip/{ts}", get(download_export))
        .route("/api/import/start_upload", post(start_upload))
        .route("/api/import/upload_part", post(upload_part))
        .route("/api/import/finish_upload", post(finish_upload))
        .route("/api/perform_import", post(perform_import))
        .route("/api/stream_function_logs", get(stream_function_logs))
}

/// Refuses callers without the admin key.
async fn require_admin(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    match crate::http_api::identity(state, headers).await?.1 {
        Transport::AdminHttpApi => Ok(()),
        _ => Err(ApiError::AdminRequired(
            "this endpoint needs the admin key: Authorization: Convex <admin key>".to_owned(),
        )),
    }
}

fn refused(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Refused {
        code,
        message: message.into(),
    }
}

fn engine_error(e: EngineError) -> ApiError {
    refused("BadRequest", e.to_string())
}

fn snapshots_dir(state: &ApiState) -> Result<PathBuf, ApiError> {
    state
        .snapshots_dir
        .clone()
        .ok_or_else(|| refused("Unavailable", "this deployment keeps no snapshot files"))
}

fn body_json(body: Result<Bytes, BytesRejection>) -> Result<serde_json::Value, ApiError> {
    let bytes = body.map_err(|e| ApiError::BadJsonBody(format!("cannot read the body: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadJsonBody(format!("the body is not valid JSON: {e}")))
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn fields<const N: usize>(pairs: [(&str, Value); N]) -> BTreeMap<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(fields(pairs))
}

// ---- environment variables -------------------------------------------------------------

async fn update_environment_variables(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers).await?;
    let body = body_json(body)?;
    let changes = body
        .get("changes")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| ApiError::BadJsonBody("expected {\"changes\": [...]}".to_owned()))?;
    let changes = changes
        .iter()
        .map(|c| {
            let name = c.get("name").and_then(serde_json::Value::as_str);
            let value = c.get("value");
            match (name, value) {
                (Some(name), None | Some(serde_json::Value::Null)) => Ok(EnvChange {
                    name: name.to_owned(),
                    value: None,
                }),
                (Some(name), Some(serde_json::Value::String(v))) => Ok(EnvChange {
                    name: name.to_owned(),
                    value: Some(v.clone()),
                }),
                _ => Err(ApiError::BadJsonBody(
                    "each change is {\"name\": string, \"value\": string or null}".to_owned(),
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    state
        .engine
        .update_env_vars(changes)
        .await
        .map_err(|e| refused("InvalidEnvironmentVariable", e.to_string()))?;
    Ok(StatusCode::OK.into_response())
}

// ---- export ------------------------------------------------------------------------------

fn export_format() -> Value {
    object([
        ("format", Value::from("zip")),
        ("include_storage", Value::Boolean(false)),
    ])
}

fn state_of(doc: &ferrovex_store::Document) -> Option<&str> {
    match doc.fields.get("state") {
        Some(Value::String(s)) => Some(s),
        Some(Value::Object(o)) => match o.get("state") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

async fn request_export(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers).await?;
    if params.get("includeStorage").is_some_and(|v| v == "true") {
        return Err(refused(
            "ExportStorageUnsupported",
            "exports hold documents only so far: leave out --include-file-storage",
        ));
    }
    let dir = snapshots_dir(&state)?;
    let engine = state.engine.clone();
    let _start = EXPORT_START.lock().await;
    let latest = engine
        .recent_jobs(EXPORTS_TABLE, 1)
        .await
        .map_err(engine_error)?;
    if let Some(stale) = latest
        .first()
        .filter(|d| matches!(state_of(d), Some("requested" | "in_progress")))
    {
        if EXPORT_RUNNING.load(std::sync::atomic::Ordering::Acquire) {
            return Err(refused(
                "ExportInProgress",
                "There is already an export requested or in progress.",
            ));
        }
        // Nothing runs it here: the deployment restarted during that export.
        let mut failed = stale.fields.clone();
        failed.insert("state".to_owned(), Value::from("failed"));
        failed.insert("failed_ts".to_owned(), Value::Int64(now_ns()));
        failed.insert(
            "error_message".to_owned(),
            Value::from("interrupted: the deployment restarted during the export"),
        );
        engine
            .record_job(EXPORTS_TABLE, Some(stale.id.clone()), failed)
            .await
            .map_err(engine_error)?;
    }
    let row = fields([
        ("state", Value::from("requested")),
        ("format", export_format()),
        ("requestor", Value::from("snapshotExport")),
        (
            "expiration_ts",
            Value::Int64(now_ns().saturating_add(14 * 86_400 * 1_000_000_000)),
        ),
    ]);
    let id = engine
        .record_job(EXPORTS_TABLE, None, row)
        .await
        .map_err(engine_error)?;
    EXPORT_RUNNING.store(true, std::sync::atomic::Ordering::Release);
    tokio::spawn(async move {
        run_export(engine, dir, id).await;
        EXPORT_RUNNING.store(false, std::sync::atomic::Ordering::Release);
    });
    Ok(StatusCode::OK.into_response())
}

fn export_file(dir: &Path, ts: u64) -> PathBuf {
    dir.join(format!("snapshot_{ts}.zip"))
}

async fn run_export(engine: Engine, dir: PathBuf, id: DocumentId) {
    let started = now_ns();
    let progress_row = fields([
        ("state", Value::from("in_progress")),
        ("start_ts", Value::Int64(started)),
        ("format", export_format()),
        ("requestor", Value::from("snapshotExport")),
        ("progress_message", Value::from("Exporting")),
    ]);
    let _ = engine
        .record_job(EXPORTS_TABLE, Some(id.clone()), progress_row)
        .await;
    let outcome = export_to(&engine, &dir, &id).await;
    let row = match outcome {
        Ok((ts, size, documents)) => fields([
            ("state", Value::from("completed")),
            (
                "start_ts",
                Value::Int64(i64::try_from(ts).unwrap_or(i64::MAX)),
            ),
            ("complete_ts", Value::Int64(now_ns())),
            ("format", export_format()),
            ("requestor", Value::from("snapshotExport")),
            (
                "zip_object_key",
                Value::from(format!("snapshot_{ts}.zip").as_str()),
            ),
            (
                "size",
                Value::Int64(i64::try_from(size).unwrap_or(i64::MAX)),
            ),
            (
                "documents",
                Value::Int64(i64::try_from(documents).unwrap_or(i64::MAX)),
            ),
        ]),
        Err(e) => {
            tracing::warn!(error = %e, "export failed");
            fields([
                ("state", Value::from("failed")),
                ("start_ts", Value::Int64(started)),
                ("failed_ts", Value::Int64(now_ns())),
                ("format", export_format()),
                ("requestor", Value::from("snapshotExport")),
                ("error_message", Value::from(e.as_str())),
            ])
        }
    };
    if let Err(e) = engine.record_job(EXPORTS_TABLE, Some(id), row).await {
        tracing::warn!(error = %e, "cannot record the end of an export");
    }
}

/// Writes the archive; returns its snapshot ts, size and document count.
async fn export_to(
    engine: &Engine,
    dir: &Path,
    id: &DocumentId,
) -> Result<(u64, u64, u64), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let partial = dir.join(format!("{id}.zip.partial"));
    let file = std::fs::File::create(&partial)
        .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let result =
        ferrovex_snapshot::export::export(engine, std::io::BufWriter::new(file), |_| {}).await;
    let finished = result
        .map_err(|e| e.to_string())
        .and_then(|(out, summary)| {
            let file = out.into_inner().map_err(|e| e.to_string())?;
            file.sync_all().map_err(|e| e.to_string())?;
            let ts = summary.ts.as_nanos();
            let target = export_file(dir, ts);
            std::fs::rename(&partial, &target).map_err(|e| e.to_string())?;
            let size = std::fs::metadata(&target).map_or(0, |m| m.len());
            Ok((ts, size, summary.documents))
        });
    if finished.is_err() {
        let _ = std::fs::remove_file(&partial);
    } else {
        prune_exports(dir);
    }
    finished
}

/// Keeps the newest [`KEPT_EXPORTS`] archives.
fn prune_exports(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut archives: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let ts = path
                .file_name()?
                .to_str()?
                .strip_prefix("snapshot_")?
                .strip_suffix(".zip")?
                .parse()
                .ok()?;
            Some((ts, path))
        })
        .collect();
    archives.sort_by_key(|a| std::cmp::Reverse(a.0));
    for (_, old) in archives.into_iter().skip(KEPT_EXPORTS) {
        let _ = std::fs::remove_file(old);
    }
}

async fn download_export(
    State(state): State<ApiState>,
    headers: HeaderMap,
    UrlPath(ts): UrlPath<String>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers).await?;
    let dir = snapshots_dir(&state)?;
    let ts: u64 = ts
        .parse()
        .map_err(|_| refused("ExportNotFound", format!("no export at {ts:?}")))?;
    let path = export_file(&dir, ts);
    let file = std::fs::File::open(&path)
        .map_err(|_| refused("ExportNotFound", format!("no completed export at ts {ts}")))?;
    let size = file.metadata().map_or(0, |m| m.len());
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=snapshot_{ts}.zip"),
            ),
            (header::CACHE_CONTROL, "private, max-age=2592000".to_owned()),
        ],
        crate::stream::read_body(Box::new(file), size),
    )
        .into_response())
}

// ---- import ------------------------------------------------------------------------------

fn uploads_dir(state: &ApiState) -> Result<PathBuf, ApiError> {
    Ok(snapshots_dir(state)?.join("uploads"))
}

fn upload_dir(state: &ApiState, token: &str) -> Result<PathBuf, ApiError> {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refused("InvalidUploadToken", "unknown upload token"));
    }
    let dir = uploads_dir(state)?.join(token);
    if !dir.is_dir() {
        return Err(refused(
            "InvalidUploadToken",
            "unknown or expired upload token",
        ));
    }
    Ok(dir)
}

/// Deletes uploads older than [`UPLOAD_TTL`].
fn prune_uploads(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UPLOAD_TTL);
        if old {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

async fn start_upload(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers).await?;
    let uploads = uploads_dir(&state)?;
    prune_uploads(&uploads);
    let token: String = (0..16)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    std::fs::create_dir_all(uploads.join(&token))
        .map_err(|e| refused("Unavailable", format!("cannot store the upload: {e}")))?;
    Ok(Json(json!({ "uploadToken": token })).into_response())
}

fn part_file(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("part-{n:05}"))
}

fn uploaded_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    })
}

async fn upload_part(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    // The key first: nobody else gets to make the server read a part.
    require_admin(&state, &headers).await?;
    let dir = upload_dir(&state, params.get("uploadToken").map_or("", String::as_str))?;
    let n: u32 = params
        .get("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            refused(
                "InvalidPartNumber",
                format!("partNumber must be 1 to {MAX_PARTS}"),
            )
        })?;
    let bytes = axum::body::to_bytes(body, MAX_PART_BYTES)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "an upload part may be at most {MAX_PART_BYTES} bytes"
            ))
        })?;
    if uploaded_bytes(&dir) + bytes.len() as u64 > MAX_UPLOAD_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "an import may be at most {MAX_UPLOAD_BYTES} bytes"
        )));
    }
    let path = part_file(&dir, n);
    tokio::task::spawn_blocking(move || std::fs::write(&path, &bytes))
        .await
        .map_err(|e| refused("Unavailable", e.to_string()))?
        .map_err(|e| refused("Unavailable", format!("cannot store the part: {e}")))?;
    Ok(Json(json!(n.to_string())).into_response())
}

fn upload_file(dir: &Path, format: ImportFormat) -> PathBuf {
    dir.join(match format {
        ImportFormat::Zip => "upload.zip",
        ImportFormat::JsonLines => "upload.jsonl",
        ImportFormat::JsonArray => "upload.json",
    })
}

fn mode_name(mode: ImportMode) -> &'static str {
    match mode {
        ImportMode::RequireEmpty => "requireEmpty",
        ImportMode::Replace => "replace",
        ImportMode::Append => "append",
    }
}

fn options_of(import: &serde_json::Value) -> Result<ImportOptions, ApiError> {
    let bad = |e: ferrovex_snapshot::SnapshotError| refused("InvalidImport", e.to_string());
    if import
        .get("componentPath")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|c| !c.is_empty())
    {
        return Err(refused(
            "InvalidImport",
            "Convex components are not supported",
        ));
    }
    let format = ImportFormat::from_name(
        import
            .get("format")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("zip"),
    )
    .map_err(bad)?;
    let mode = ferrovex_snapshot::import::mode_from_name(
        import
            .get("mode")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("requireEmpty"),
    )
    .map_err(bad)?;
    Ok(ImportOptions {
        format,
        table: import
            .get("tableName")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        mode,
    })
}

fn confirmation(plan: &ImportPlan) -> String {
    let mut text = String::from("Import change summary:\n| table | create |\n|---|---|\n");
    for table in &plan.tables {
        text.push_str(&format!("| {} | {} |\n", table.table, table.documents));
    }
    text.push_str(
        "Once the import has started, it will run in the background.\nInterrupting `npx convex import` will not cancel it.",
    );
    text
}

async fn finish_upload(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers).await?;
    let body = body_json(body)?;
    let token = body
        .get("uploadToken")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let dir = upload_dir(&state, &token)?;
    let import = body.get("import").cloned().unwrap_or_default();
    let options = options_of(&import)?;
    let parts: Vec<u32> = body
        .get("partTokens")
        .and_then(serde_json::Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let target = upload_file(&dir, options.format);
    let plan_options = options.clone();
    let planned = tokio::task::spawn_blocking(move || -> Result<ImportPlan, String> {
        let mut out = std::fs::File::create(&target).map_err(|e| e.to_string())?;
        for n in parts {
            let part = part_file(&dir, n);
            let mut input =
                std::fs::File::open(&part).map_err(|_| format!("part {n} was never uploaded"))?;
            std::io::copy(&mut input, &mut out).map_err(|e| e.to_string())?;
            let _ = std::fs::remove_file(part);
        }
        out.flush().map_err(|e| e.to_string())?;
        ferrovex_snapshot::import::plan(&target, plan_options).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| refused("InvalidImport", e.to_string()))?
    .map_err(|e| refused("InvalidImport", e))?;
    let mut row = fields([
        (
            "state",
            object([
                ("state", Value::from("waiting_for_confirmation")),
                (
                    "message_to_confirm",
                    Value::from(confirmation(&planned).as_str()),
                ),
                (
                    "require_manual_confirmation",
                    Value::Boolean(options.mode == ImportMode::Replace),
                ),
            ]),
        ),
        ("upload_token", Value::from(token.as_str())),
        ("format", Value::from(options.format.name())),
        ("mode", Value::from(mode_name(options.mode))),
    ]);
    if let Some(table) = &options.table {
        row.insert("table_name".to_owned(), Value::from(table.as_str()));
    }
    let id = state
        .engine
        .record_job(IMPORTS_TABLE, None, row)
        .await
        .map_err(engine_error)?;
    Ok(Json(json!({ "importId": id.as_str() })).into_response())
}

async fn perform_import(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers).await?;
    let body = body_json(body)?;
    let id = body
        .get("importId")
        .and_then(serde_json::Value::as_str)
        .and_then(DocumentId::parse)
        .ok_or_else(|| refused("ImportNotFound", "missing or malformed importId"))?;
    let engine = state.engine.clone();
    let row = engine
        .job(IMPORTS_TABLE, id.clone())
        .await
        .map_err(engine_error)?
        .ok_or_else(|| refused("ImportNotFound", format!("no import {id}")))?;
    if state_of(&row) != Some("waiting_for_confirmation") {
        return Err(refused(
            "ImportNotWaiting",
            "this import is not waiting for confirmation",
        ));
    }
    let text = |name: &str| match row.fields.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let token = text("upload_token").unwrap_or_default();
    let dir = upload_dir(&state, &token)?;
    let import = json!({
        "format": text("format"),
        "mode": text("mode"),
        "tableName": text("table_name"),
    });
    let options = options_of(&import)?;
    let mut running = row.fields.clone();
    running.insert(
        "state".to_owned(),
        object([
            ("state", Value::from("in_progress")),
            ("progress_message", Value::from("Importing")),
            ("checkpoint_messages", Value::Array(Vec::new())),
        ]),
    );
    engine
        .record_job(IMPORTS_TABLE, Some(id.clone()), running.clone())
        .await
        .map_err(engine_error)?;
    tokio::spawn(async move {
        let file = upload_file(&dir, options.format);
        let outcome = run_import(&engine, file, options).await;
        let _ = std::fs::remove_dir_all(&dir);
        let state = match outcome {
            Ok((ts, written)) => object([
                ("state", Value::from("completed")),
                ("timestamp", Value::Int64(ts)),
                ("num_rows_written", Value::Int64(written)),
            ]),
            Err(e) => object([
                ("state", Value::from("failed")),
                (
                    "error_message",
                    Value::from(format!("Hit an error while importing:\n{e}").as_str()),
                ),
            ]),
        };
        running.insert("state".to_owned(), state);
        if let Err(e) = engine.record_job(IMPORTS_TABLE, Some(id), running).await {
            tracing::warn!(error = %e, "cannot record the end of an import");
        }
    });
    Ok(StatusCode::OK.into_response())
}

async fn run_import(
    engine: &Engine,
    file: PathBuf,
    options: ImportOptions,
) -> Result<(i64, i64), String> {
    let plan = tokio::task::spawn_blocking(move || ferrovex_snapshot::import::plan(&file, options))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let report = ferrovex_snapshot::import::import(engine, plan)
        .await
        .map_err(|e| e.to_string())?;
    let written: usize = report.written.values().sum();
    Ok((
        i64::try_from(report.ts.as_nanos()).unwrap_or(i64::MAX),
        i64::try_from(written).unwrap_or(i64::MAX),
    ))
}

// ---- logs --------------------------------------------------------------------------------

fn log_entry(e: &ferrovex_engine::Execution) -> serde_json::Value {
    let secs = e.time_ms as f64 / 1000.0;
    json!({
        "kind": "Completion",
        "udfType": e.kind.name(),
        "identifier": e.path,
        "componentPath": null,
        "logLines": e.log_lines,
        "timestamp": secs,
        "executionTimestamp": secs - e.duration.as_secs_f64(),
        "executionTime": e.duration.as_secs_f64(),
        "cachedResult": e.cached,
        "success": null,
        "error": e.error,
        "requestId": format!("{:016x}", e.seq),
        "executionId": format!("{:016x}", e.seq),
        "caller": e.transport.label(),
    })
}

async fn stream_function_logs(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers).await?;
    let cursor = params
        .get("cursor")
        .and_then(|c| c.parse::<f64>().ok())
        .filter(|c| c.is_finite() && *c >= 0.0)
        .unwrap_or(0.0) as u64;
    let log = state.engine.function_log();
    let deadline = tokio::time::Instant::now() + LOG_POLL;
    let mut stopping = state.stopping.clone();
    loop {
        let entries = log.since(cursor);
        // The first poll (cursor 0) answers at once with what the log holds, so a plain
        // `npx convex logs`, which skips the first batch, misses nothing after it.
        if !entries.is_empty() || cursor == 0 || tokio::time::Instant::now() >= deadline {
            let new_cursor = entries
                .last()
                .map_or(cursor.max(log.last_seq().min(cursor)), |e| e.seq);
            let new_cursor = if cursor == 0 {
                new_cursor.max(log.last_seq())
            } else {
                new_cursor
            };
            let body = json!({
                "entries": entries.iter().map(|e| log_entry(e)).collect::<Vec<_>>(),
                "newCursor": new_cursor,
            });
            return Ok(Json(body).into_response());
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stopping.changed() => {
                return Ok(Json(json!({ "entries": [], "newCursor": cursor })).into_response());
            }
        }
    }
}
