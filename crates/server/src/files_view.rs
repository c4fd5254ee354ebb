//! `/_dashboard/files`: the stored files (`_storage`), newest first, with size, type, SHA-256,
//! when they were stored and a download link; the count and total size on top.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::ApiState;
use crate::dashboard::{STYLE, escape};

/// Files listed.
const SHOWN: usize = 200;

fn size(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    } else if bytes >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn when(ms: f64) -> String {
    let secs = (ms / 1e3) as u64;
    format!(
        "{:02}:{:02}:{:02} UTC",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

pub(crate) async fn page(State(state): State<ApiState>) -> Response {
    let mut html = String::new();
    match state.engine.recent_files(SHOWN).await {
        Err(e) => {
            let _ = write!(
                html,
                r#"<p class="err">Cannot read the files: {}</p>"#,
                escape(&e.to_string())
            );
        }
        Ok((files, count, total)) => {
            let counted = if count >= ferrovex_engine::FILES_COUNTED {
                format!("{count}+")
            } else {
                count.to_string()
            };
            let _ = write!(
                html,
                r#"<section class="cards"><div class="card"><span>files</span><b>{counted}</b></div><div class="card"><span>total size</span><b>{}</b></div></section>
<table><thead><tr><th>stored</th><th>file</th><th>type</th><th class="num">size</th><th>sha256</th><th></th></tr></thead><tbody>"#,
                size(total)
            );
            if files.is_empty() {
                html.push_str(r#"<tr><td colspan="6" class="empty">No stored files.</td></tr>"#);
            }
            for (created, f, path) in files {
                let id = escape(f.storage_id.as_str());
                let _ = write!(
                    html,
                    r#"<tr><td class="mono">{}</td><td class="mono">{id}</td><td>{}</td><td class="num">{}</td><td class="mono dim">{}</td><td><a href="{}" download>download</a></td></tr>"#,
                    when(created),
                    escape(f.content_type.as_deref().unwrap_or("(none)")),
                    size(f.size),
                    escape(&f.sha256),
                    escape(&path),
                );
            }
            html.push_str("</tbody></table>");
        }
    }
    let page = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Ferrovex files</title><style>{STYLE}</style></head><body>
<header><h1>Ferrovex</h1><span>files</span><a href="/_dashboard">function log</a><a href="/_dashboard/data">data</a><a href="/_dashboard/health">health</a></header>
<main>{html}</main></body></html>"#
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}
