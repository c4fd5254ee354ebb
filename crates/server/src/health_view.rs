//! `/_dashboard/health`: what an operator checks first. Version and uptime; the storage
//! backend, where it is and its size; cache and subscription figures; commits seen from other
//! instances on the same database; the last export and the last backup; and the server's own
//! recent warnings and errors.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use ferrovex_engine::EXPORTS_TABLE;
use ferrovex_values::Value;

use crate::ApiState;
use crate::dashboard::{STYLE, escape};

/// Where `ferrovex backup` records its last copy (in the data directory).
pub const LAST_BACKUP_FILE: &str = "last_backup.json";

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Notes the process's start (the first router built), for the uptime.
pub(crate) fn mark_started() {
    STARTED.get_or_init(Instant::now);
}

fn uptime() -> String {
    let secs = STARTED.get().map_or(0, |t| t.elapsed().as_secs());
    format!(
        "{}d {:02}h {:02}m {:02}s",
        secs / 86_400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn when(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02} UTC",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

fn field_text(fields: &std::collections::BTreeMap<String, Value>, name: &str) -> String {
    match fields.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Int64(i)) => i.to_string(),
        Some(other) => other.to_convex_json().to_string(),
        None => String::new(),
    }
}

fn last_export(state: &ApiState, exports: &[ferrovex_store::Document]) -> String {
    let Some(doc) = exports.first() else {
        return "none yet".to_owned();
    };
    let status = field_text(&doc.fields, "state");
    let mut text = format!("{} at {}", escape(&status), when(doc.creation_time as u64));
    if status == "completed" {
        let _ = write!(
            text,
            ": <code>{}</code>, {} documents, {}",
            escape(&field_text(&doc.fields, "zip_object_key")),
            escape(&field_text(&doc.fields, "documents")),
            mib(field_text(&doc.fields, "size").parse().unwrap_or(0))
        );
    } else if status == "failed" {
        let _ = write!(
            text,
            ": {}",
            escape(&field_text(&doc.fields, "error_message"))
        );
    }
    let _ = state;
    text
}

fn last_backup(state: &ApiState) -> String {
    let Some(dir) = &state.storage.data_dir else {
        return "not recorded (PostgreSQL: use its own tools)".to_owned();
    };
    let Ok(text) = std::fs::read_to_string(dir.join(LAST_BACKUP_FILE)) else {
        return "none recorded (<code>ferrovex backup --path FILE</code>)".to_owned();
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    format!(
        "{} to <code>{}</code>: {} documents, {}",
        when(json["finishedMs"].as_u64().unwrap_or(0)),
        escape(json["path"].as_str().unwrap_or("?")),
        json["documents"].as_u64().unwrap_or(0),
        mib(json["bytes"].as_u64().unwrap_or(0))
    )
}

fn storage_size(state: &ApiState) -> String {
    match &state.storage.data_dir {
        Some(dir) => {
            let size: u64 = ["ferrovex.sqlite3", "ferrovex.sqlite3-wal"]
                .iter()
                .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
                .map(|m| m.len())
                .sum();
            mib(size)
        }
        None => "see PostgreSQL".to_owned(),
    }
}

pub(crate) async fn page(State(state): State<ApiState>) -> Response {
    let engine = &state.engine;
    let m = engine.metrics();
    let (cache_bytes, cache_entries) = engine.cache_usage();
    let exports = engine
        .recent_jobs(EXPORTS_TABLE, 1)
        .await
        .unwrap_or_default();
    let mut html = String::with_capacity(16 * 1024);
    let _ = write!(
        html,
        r#"<section class="cards">
<div class="card"><span>version</span><b>{}</b></div>
<div class="card"><span>uptime</span><b>{}</b></div>
<div class="card"><span>storage</span><b>{}</b><small>{}</small></div>
<div class="card"><span>size</span><b>{}</b></div>
<div class="card"><span>cache</span><b>{:.1}%</b><small>hit ratio; {cache_entries} entries, {} KiB</small></div>
<div class="card"><span>subscriptions</span><b>{}</b><small>on {} open sockets; {} re-runs</small></div>
<div class="card"><span>other instances</span><b>{}</b><small>commits seen from other processes on this database</small></div>
</section>
<table><tbody>
<tr><th>last export</th><td>{}</td></tr>
<tr><th>last backup</th><td>{}</td></tr>
</tbody></table>
<h2>Recent warnings and errors</h2>
<table><thead><tr><th>time</th><th>level</th><th>where</th><th>message</th></tr></thead><tbody>"#,
        env!("CARGO_PKG_VERSION"),
        uptime(),
        escape(&state.storage.backend),
        escape(&state.storage.description),
        storage_size(&state),
        m.cache_hit_ratio() * 100.0,
        cache_bytes / 1024,
        m.active_subscriptions.load(Ordering::Relaxed),
        m.open_sockets.load(Ordering::Relaxed),
        m.subscription_reruns.load(Ordering::Relaxed),
        m.foreign_commits.load(Ordering::Relaxed),
        last_export(&state, &exports),
        last_backup(&state),
    );
    let warnings = crate::warnings::recent();
    if warnings.is_empty() {
        html.push_str(r#"<tr><td colspan="4" class="empty">None since the start.</td></tr>"#);
    }
    for w in warnings.iter().take(100) {
        let _ = write!(
            html,
            r#"<tr><td class="mono">{}</td><td class="{}">{}</td><td class="mono dim">{}</td><td>{}</td></tr>"#,
            when(w.time_ms),
            if w.level == "ERROR" { "err" } else { "" },
            w.level,
            escape(&w.target),
            escape(&w.message)
        );
    }
    html.push_str("</tbody></table>");
    let page = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Ferrovex health</title><style>{STYLE}</style></head><body>
<header><h1>Ferrovex</h1><span>health</span><a href="/_dashboard">function log</a><a href="/_dashboard/jobs">scheduled jobs</a><a href="/_dashboard/data">data</a><a href="/_dashboard/run">run a function</a><a href="/metrics">/metrics</a></header>
<main>{html}</main></body></html>"#
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}
