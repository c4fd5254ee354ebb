//! The dashboard's function runner: pick any function (internal ones too), give JSON
//! arguments, optionally act as a user, and see the result and its log lines. It runs as the
//! admin (the log says `HTTP API, admin`); its POST must come from the dashboard's own page.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use ferrovex_engine::{FunctionKind, FunctionPath, Transport, Visibility};
use ferrovex_values::Value;

use crate::ApiState;
use crate::dashboard::escape;

/// Largest form accepted.
pub const MAX_RUN_FORM_BYTES: usize = 256 * 1024;

fn render(state: &ApiState, path: &str, args: &str, subject: &str, result: &str) -> Response {
    let mut options = String::new();
    for (p, kind, visibility) in state.engine.functions() {
        let label = format!(
            "{p} ({}{})",
            kind.name().to_ascii_lowercase(),
            if visibility == Visibility::Internal {
                ", internal"
            } else {
                ""
            }
        );
        let _ = write!(
            options,
            "<option value=\"{}\"{}>{}</option>",
            escape(&p),
            if p == path { " selected" } else { "" },
            escape(&label)
        );
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Run a function · Ferrovex</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:1.5rem;max-width:60rem}}label{{display:block;margin-top:.75rem}}\
         textarea,input,select{{width:100%;font-family:monospace}}pre{{background:#f4f4f4;padding:.5rem;white-space:pre-wrap}}nav a{{margin-right:1rem}}</style>\
         </head><body><nav><a href=\"/_dashboard\">Functions</a><a href=\"/_dashboard/jobs\">Jobs</a><a href=\"/_dashboard/data\">Data</a>\
         <a href=\"/_dashboard/run\">Run</a></nav><h1>Run a function</h1>\
         <form method=\"post\" action=\"/_dashboard/run\"><label for=\"path\">Function</label><select id=\"path\" name=\"path\">{options}</select>\
         <label for=\"args\">Arguments (a JSON object)</label><textarea id=\"args\" name=\"args\" rows=\"6\">{}</textarea>\
         <label for=\"subject\">Act as the user with this subject (optional)</label><input id=\"subject\" name=\"subject\" value=\"{}\">\
         <p><button type=\"submit\">Run</button></p></form>{result}</body></html>",
        escape(args),
        escape(subject)
    ))
    .into_response()
}

/// `GET /_dashboard/run`.
pub(crate) async fn form(State(state): State<ApiState>) -> Response {
    render(&state, "", "{}", "", "")
}

/// `POST /_dashboard/run`: runs the function and shows the outcome.
pub(crate) async fn run(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !crate::operator::from_own_page(&state, &headers) {
        return crate::operator::not_own_page("run functions");
    }
    if body.len() > MAX_RUN_FORM_BYTES {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the form is larger than {MAX_RUN_FORM_BYTES} bytes\n"),
        )
            .into_response();
    }
    let path = crate::operator::form_value(&body, "path").unwrap_or_default();
    let args_text = crate::operator::form_value(&body, "args").unwrap_or_else(|| "{}".to_owned());
    let subject = crate::operator::form_value(&body, "subject").unwrap_or_default();
    let fail = |message: String| {
        let shown = format!(
            "<h2>Refused</h2><pre role=\"alert\">{}</pre>",
            escape(&message)
        );
        let mut r = render(&state, &path, &args_text, &subject, &shown);
        *r.status_mut() = StatusCode::BAD_REQUEST;
        r
    };
    let parsed = match FunctionPath::parse(&path) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let json = match serde_json::from_str::<serde_json::Value>(if args_text.trim().is_empty() {
        "{}"
    } else {
        &args_text
    }) {
        Ok(j) if j.is_object() => j,
        Ok(_) => return fail("the arguments must be a JSON object".to_owned()),
        Err(e) => return fail(format!("the arguments are not JSON: {e}")),
    };
    let args = match Value::from_convex_json(&json) {
        Ok(v) => v,
        Err(e) => return fail(format!("the arguments are not Convex values: {e}")),
    };
    let identity = if subject.trim().is_empty() {
        None
    } else {
        match crate::admin::acting_as(&serde_json::json!({ "subject": subject.trim() })) {
            Ok(i) => Some(i),
            Err(e) => return fail(format!("{e:?}")),
        }
    };
    let outcome = state
        .engine
        .call_as(
            None::<FunctionKind>,
            &parsed,
            args,
            Transport::AdminHttpApi,
            identity,
        )
        .await;
    let mut shown = String::new();
    match &outcome.result {
        Ok(value) => {
            let pretty = serde_json::to_string_pretty(&value.to_clean_json()).unwrap_or_default();
            let _ = write!(
                shown,
                "<h2>Result</h2><pre id=\"result\">{}</pre>",
                escape(&pretty)
            );
        }
        Err(failure) => {
            let _ = write!(
                shown,
                "<h2>Failed</h2><pre id=\"result\" role=\"alert\">{}</pre>",
                escape(failure.message())
            );
        }
    }
    if !outcome.log_lines.is_empty() {
        shown.push_str("<h2>Log lines</h2><pre id=\"logs\">");
        for line in &outcome.log_lines {
            shown.push_str(&escape(line));
            shown.push('\n');
        }
        shown.push_str("</pre>");
    }
    let _ = write!(shown, "<p>{} ms</p>", outcome.duration.as_millis());
    render(&state, &path, &args_text, &subject, &shown)
}
