//! `/_dashboard/jobs`: the scheduled jobs (running, pending, recent outcomes) with a cancel
//! button, and the scheduler's counters. Usable without JavaScript.
//!
//! Cancelling is a POST that must come from the dashboard's own page: its `Origin` must be the
//! deployment's own (`http://<Host>`), so a page on another site cannot cancel jobs through a
//! visitor's browser. (Admin-key protection of the dashboard as a whole is separate work.)

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use ferrovex_engine::JobSummary;
use ferrovex_store::DocumentId;

use crate::ApiState;
use crate::dashboard::{STYLE, escape};

/// Jobs shown per state.
const PER_STATE: usize = 50;

fn time(ms: f64) -> String {
    if !ms.is_finite() || ms <= 0.0 {
        return String::new();
    }
    let secs = (ms / 1e3) as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03} UTC",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
        (ms as u64) % 1000
    )
}

fn row(job: &JobSummary) -> String {
    let action = if job.state == "pending" {
        format!(
            r#"<form method="post" action="/_dashboard/jobs/cancel"><input type="hidden" name="id" value="{}"><button>cancel</button></form>"#,
            escape(job.id.as_str())
        )
    } else {
        String::new()
    };
    let state = match &job.error {
        Some(error) => format!(
            r#"<span class="err" title="{}">{}</span>"#,
            escape(error),
            escape(&job.state)
        ),
        None => format!(
            r#"<span class="{}">{}</span>"#,
            if job.state == "success" { "ok" } else { "dim" },
            escape(&job.state)
        ),
    };
    format!(
        "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
        escape(job.id.as_str()),
        escape(&job.name),
        job.cron.as_deref().map(escape).unwrap_or_default(),
        time(job.scheduled_ms),
        job.completed_ms.map(time).unwrap_or_default(),
        state,
        action
    )
}

pub(crate) async fn page(
    State(state): State<ApiState>,
    axum::extract::Query(params): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let m = state.engine.metrics();
    let (_, lag_count, lag_sum) = m.scheduler_lag.snapshot();
    let mean_lag_ms = if lag_count == 0 {
        0.0
    } else {
        lag_sum / lag_count as f64 * 1e3
    };
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<section class="cards"><div class="card"><span>jobs succeeded</span><b>{}</b></div><div class="card"><span>jobs failed</span><b>{}</b></div><div class="card"><span>mean start lag</span><b>{mean_lag_ms:.1} ms</b><small>{lag_count} runs</small></div></section>"#,
        m.jobs_succeeded.load(Ordering::Relaxed),
        m.jobs_failed.load(Ordering::Relaxed),
    );
    if let Some(note) = params.get("canceled") {
        let _ = write!(
            html,
            r#"<p class="note">{}</p>"#,
            if note == "1" {
                "Canceled."
            } else {
                "That job was no longer pending; nothing changed."
            }
        );
    }
    match state.engine.scheduled_jobs(PER_STATE).await {
        Ok(jobs) => {
            html.push_str("<table><thead><tr><th>id</th><th>function</th><th>cron</th><th>scheduled</th><th>completed</th><th>state</th><th></th></tr></thead><tbody>");
            if jobs.is_empty() {
                html.push_str(r#"<tr><td colspan="7" class="empty">No scheduled jobs.</td></tr>"#);
            }
            for job in &jobs {
                html.push_str(&row(job));
            }
            html.push_str("</tbody></table>");
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read scheduled jobs for the dashboard");
            html.push_str(
                r#"<p class="err">Cannot read the scheduled jobs; see the server log.</p>"#,
            );
        }
    }
    let page = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Ferrovex scheduled jobs</title><style>{STYLE}</style></head><body>
<header><h1>Ferrovex</h1><span>scheduled jobs</span><a href="/_dashboard">function log</a><a href="/metrics">/metrics</a></header>
<main>{html}</main></body></html>"#
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

/// Whether a POST comes from the dashboard's own page on a loopback address: its `Origin` is
/// `http://<Host>` and the host is a loopback name (a DNS-rebinding page has its own host name,
/// so it cannot pass). Cancelling from elsewhere waits for the admin key.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (host, origin) {
        (Some(host), Some(origin)) => {
            let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
            matches!(name, "127.0.0.1" | "localhost" | "[::1]")
                && origin == format!("http://{host}")
        }
        _ => false,
    }
}

pub(crate) async fn cancel(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !crate::operator::from_own_page(&state, &headers) {
        return crate::operator::not_own_page("cancel");
    }
    let id = crate::operator::form_value(&body, "id").and_then(|id| DocumentId::parse(&id));
    let Some(id) = id else {
        return (StatusCode::BAD_REQUEST, "the form needs the id of a job\n").into_response();
    };
    match state.engine.cancel_job(&id).await {
        Ok(true) => Redirect::to("/_dashboard/jobs?canceled=1").into_response(),
        Ok(false) => Redirect::to("/_dashboard/jobs?canceled=0").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot cancel a job from the dashboard");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot cancel; see the server log\n",
            )
                .into_response()
        }
    }
}
