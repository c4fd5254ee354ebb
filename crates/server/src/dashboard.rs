//! `/_dashboard`: a server-rendered view of the function log and the counters. It works
//! without JavaScript (filters are a plain GET form); with JavaScript on, the live part is
//! re-fetched every second (`?fragment=1` returns just that part).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use ferrovex_engine::{Execution, FunctionKind, Transport};

use crate::ApiState;

/// Rows shown at most.
const MAX_ROWS: usize = 200;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The filters of the log list.
#[derive(Debug, Default)]
struct Filter {
    kind: Option<FunctionKind>,
    path: String,
    transport: Option<Transport>,
    cached: Option<bool>,
    errors_only: bool,
}

impl Filter {
    fn parse(params: &HashMap<String, String>) -> Filter {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        Filter {
            kind: match get("kind") {
                "query" => Some(FunctionKind::Query),
                "mutation" => Some(FunctionKind::Mutation),
                "action" => Some(FunctionKind::Action),
                _ => None,
            },
            path: get("path").chars().take(256).collect(),
            transport: match get("transport") {
                "http" => Some(Transport::HttpApi),
                "ws" => Some(Transport::WebSocket),
                "internal" => Some(Transport::Internal),
                "scheduler" => Some(Transport::Scheduler),
                "cron" => Some(Transport::Cron),
                _ => None,
            },
            cached: match get("cached") {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
            errors_only: get("status") == "error",
        }
    }

    fn matches(&self, e: &Execution) -> bool {
        self.kind.is_none_or(|k| k == e.kind)
            && (self.path.is_empty() || e.path.contains(&self.path))
            && self.transport.is_none_or(|t| t == e.transport)
            && self.cached.is_none_or(|c| c == e.cached)
            && (!self.errors_only || e.error.is_some())
    }
}

fn kind_letter(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Query => "Q",
        FunctionKind::Mutation => "M",
        FunctionKind::Action => "A",
    }
}

fn time_of_day(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
        ms % 1000
    )
}

fn live_part(state: &ApiState, filter: &Filter) -> String {
    let engine = &state.engine;
    let m = engine.metrics();
    let executions: u64 = m.executions.iter().map(|e| e.load(Ordering::Relaxed)).sum();
    let (cache_bytes, cache_entries) = engine.cache_usage();
    let mut html = String::with_capacity(16 * 1024);
    let _ = write!(
        html,
        r#"<section class="cards">
<div class="card"><span>executions</span><b>{executions}</b></div>
<div class="card"><span>cache hit ratio</span><b>{:.1}%</b><small>{cache_entries} entries, {} KiB</small></div>
<div class="card"><span>open sockets</span><b>{}</b></div>
<div class="card"><span>active subscriptions</span><b>{}</b></div>
<div class="card"><span>commits</span><b>{}</b></div>
</section>"#,
        m.cache_hit_ratio() * 100.0,
        cache_bytes / 1024,
        m.open_sockets.load(Ordering::Relaxed),
        m.active_subscriptions.load(Ordering::Relaxed),
        m.commits.load(Ordering::Relaxed),
    );
    if let Some(auth) = &state.auth {
        html.push_str(r#"<section class="cards auth"><div class="card wide"><span>auth-store database calls</span><small>"#);
        let parts: Vec<String> = auth
            .stats()
            .snapshot()
            .into_iter()
            .map(|(op, n)| format!("<code>{}</code>&nbsp;{n}", escape(op)))
            .collect();
        html.push_str(&parts.join(" · "));
        html.push_str("</small></div></section>");
    }
    for section in &state.sections {
        let _ = write!(
            html,
            r#"<section class="cards auth"><div class="card wide"><span>{}</span><small>"#,
            escape(section.title())
        );
        let parts: Vec<String> = section
            .summary()
            .into_iter()
            .map(|(name, value)| format!("{}&nbsp;<code>{}</code>", escape(name), escape(&value)))
            .collect();
        html.push_str(&parts.join(" · "));
        html.push_str("</small></div></section>");
    }
    let rows: Vec<_> = engine
        .function_log()
        .since(0)
        .into_iter()
        .rev()
        .filter(|e| filter.matches(e))
        .take(MAX_ROWS)
        .collect();
    html.push_str(
        "<table><thead><tr><th>time</th><th></th><th>function</th><th>args</th><th>via</th>\
         <th>outcome</th><th>duration</th><th>log lines</th></tr></thead><tbody>",
    );
    if rows.is_empty() {
        html.push_str(r#"<tr><td colspan="8" class="empty">No executions match.</td></tr>"#);
    }
    for e in rows {
        let outcome = match &e.error {
            None => r#"<span class="ok">success</span>"#.to_owned(),
            Some(err) => format!(
                r#"<span class="err" title="{}">failure</span>"#,
                escape(err)
            ),
        };
        let duration = if e.cached {
            r#"<span class="cached">(cached)</span>"#.to_owned()
        } else {
            format!("{:.2} ms", e.duration.as_secs_f64() * 1000.0)
        };
        let logs = if e.log_lines.is_empty() {
            String::new()
        } else {
            let lines: Vec<String> = e.log_lines.iter().map(|l| escape(l)).collect();
            format!(
                "<details><summary>{}</summary><pre>{}</pre></details>",
                e.log_lines.len(),
                lines.join("\n")
            )
        };
        let _ = write!(
            html,
            "<tr><td class=\"mono\">{}</td><td><span class=\"kind k{}\">{}</span></td><td class=\"mono\">{}</td>\
             <td class=\"mono dim\">#{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            time_of_day(e.time_ms),
            kind_letter(e.kind),
            kind_letter(e.kind),
            escape(&e.path),
            escape(&e.args_hash),
            e.transport.label(),
            outcome,
            duration,
            logs
        );
    }
    html.push_str("</tbody></table>");
    html
}

fn select(name: &str, current: &str, options: &[(&str, &str)]) -> String {
    let mut s = format!(r#"<label>{name} <select name="{name}">"#);
    for (value, label) in options {
        let sel = if *value == current { " selected" } else { "" };
        let _ = write!(s, r#"<option value="{value}"{sel}>{label}</option>"#);
    }
    s.push_str("</select></label>");
    s
}

pub(crate) const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:14px 24px;display:flex;align-items:baseline;gap:16px}
header h1{font-size:18px;margin:0}header a{color:#9db4ff}
main{padding:16px 24px;max-width:1200px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}
.card{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:10px 14px;min-width:150px}
.card span{display:block;color:#5b6475;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card b{font-size:22px}.card small{display:block;color:#5b6475}.card.wide{flex:1}
code{font-family:ui-monospace,Menlo,monospace;font-size:12px;background:#eef0f3;padding:1px 4px;border-radius:4px}
form{display:flex;gap:12px;flex-wrap:wrap;align-items:center;margin-bottom:12px}
input,select,button{font:inherit;padding:4px 8px;border:1px solid #c9ced8;border-radius:6px;background:#fff}
button{background:#2f5bea;color:#fff;border-color:#2f5bea;cursor:pointer}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #e2e5ea;border-radius:8px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-size:12px;color:#5b6475;text-transform:uppercase;letter-spacing:.04em}
.mono{font-family:ui-monospace,Menlo,monospace;font-size:13px}.dim{color:#8a93a3}.num{text-align:right}
.kind{display:inline-block;width:20px;text-align:center;border-radius:4px;font-weight:600;color:#fff}
.kQ{background:#2f5bea}.kM{background:#0f9d58}.kA{background:#b26a00}
.ok{color:#0f7a44}.err{color:#c62828;font-weight:600;cursor:help}.cached{color:#5b6475;font-style:italic}
.empty{color:#8a93a3;text-align:center;padding:24px}pre{margin:4px 0;white-space:pre-wrap}
";

const SCRIPT: &str = "
(function(){var live=document.getElementById('live');if(!live)return;
var q=new URLSearchParams(location.search);q.set('fragment','1');
function tick(){fetch('?'+q.toString(),{cache:'no-store'}).then(function(r){return r.ok?r.text():null})
.then(function(t){if(t!==null){var open=live.querySelectorAll('details[open]').length;if(!open)live.innerHTML=t;}})
.catch(function(){}).finally(function(){setTimeout(tick,1000)});}
setTimeout(tick,1000);})();
";

pub(crate) async fn handler(
    State(state): State<ApiState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let filter = Filter::parse(&params);
    let live = live_part(&state, &filter);
    if params.get("fragment").map(String::as_str) == Some("1") {
        return ([(header::CACHE_CONTROL, "no-store")], Html(live)).into_response();
    }
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let form = format!(
        r#"<form method="get">{}{}{}{}<label>path <input name="path" value="{}" placeholder="messages:"></label><button>Filter</button></form>"#,
        select(
            "kind",
            get("kind"),
            &[
                ("", "all kinds"),
                ("query", "queries"),
                ("mutation", "mutations"),
                ("action", "actions")
            ]
        ),
        select(
            "transport",
            get("transport"),
            &[
                ("", "any transport"),
                ("http", "HTTP API"),
                ("ws", "WebSocket"),
                ("internal", "internal"),
                ("scheduler", "scheduler"),
                ("cron", "cron")
            ]
        ),
        select(
            "cached",
            get("cached"),
            &[("", "cached or not"), ("yes", "cached"), ("no", "executed")]
        ),
        select(
            "status",
            get("status"),
            &[("", "any outcome"), ("error", "errors only")]
        ),
        escape(&filter.path),
    );
    let page = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Ferrovex dashboard</title><style>{STYLE}</style></head><body>
<header><h1>Ferrovex</h1><span>function log</span><a href="/_dashboard/jobs">scheduled jobs</a><a href="/_dashboard/data">data</a><a href="/_dashboard/run">run a function</a><a href="/_dashboard/files">files</a><a href="/_dashboard/health">health</a><a href="/metrics">/metrics</a></header>
<main>{form}<div id="live">{live}</div></main><script>{SCRIPT}</script></body></html>"#
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
