//! The dashboard's data browser (read-only for now): the app's tables with their document
//! counts, one table's documents newest first, a page at a time, and one document's JSON.
//! System tables (users, sessions, keys) are never shown. Server-rendered; works without
//! JavaScript.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use ferrovex_engine::PaginationOpts;
use ferrovex_store::{DocumentId, Order};

use crate::ApiState;
use crate::dashboard::escape;

/// Documents per page.
pub const PAGE_SIZE: usize = 50;
/// Counts stop here (the page says "10000+").
pub const COUNT_LIMIT: usize = 10_000;

fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{} · Ferrovex data</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:1.5rem;max-width:70rem}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}}\
         pre{{margin:0;white-space:pre-wrap;word-break:break-all;font-size:.85rem}}nav a{{margin-right:1rem}}</style>\
         </head><body><nav><a href=\"/_dashboard\">Functions</a><a href=\"/_dashboard/jobs\">Jobs</a>\
         <a href=\"/_dashboard/data\">Data</a></nav><h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    ))
    .into_response()
}

fn not_found(what: &str) -> Response {
    let mut r = page("Not found", &format!("<p>{}</p>", escape(what)));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// `GET /_dashboard/data`: the tables and their document counts.
pub(crate) async fn tables(State(state): State<ApiState>) -> Response {
    let names = state.engine.user_tables();
    let counted = state
        .engine
        .system_read(move |db| {
            let mut out = Vec::new();
            for name in names {
                let n = db.query(&name)?.take(COUNT_LIMIT + 1)?.len();
                out.push((name, n));
            }
            Ok(out)
        })
        .await;
    let rows = match counted {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "the data browser cannot count documents");
            return page("Data", "<p>The tables cannot be read right now.</p>");
        }
    };
    let mut body = String::from("<table><tr><th>table</th><th>documents</th></tr>");
    for (name, n) in rows {
        let count = if n > COUNT_LIMIT {
            format!("{COUNT_LIMIT}+")
        } else {
            n.to_string()
        };
        let _ = write!(
            body,
            "<tr><td><a href=\"/_dashboard/data/{0}\">{0}</a></td><td>{count}</td></tr>",
            escape(&name)
        );
    }
    body.push_str("</table>");
    page("Data", &body)
}

/// `GET /_dashboard/data/{table}?cursor=`: a page of documents, newest first.
pub(crate) async fn documents(
    State(state): State<ApiState>,
    Path(table): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if !state.engine.user_tables().contains(&table) {
        return not_found(&format!("There is no table {table:?} in this app."));
    }
    let cursor = params.get("cursor").cloned().filter(|c| !c.is_empty());
    let name = table.clone();
    let result = state
        .engine
        .system_read(move |db| {
            db.query(&name)?
                .order(Order::Desc)
                .paginate(&PaginationOpts {
                    num_items: PAGE_SIZE as f64,
                    cursor,
                    end_cursor: None,
                })
        })
        .await;
    let result = match result {
        Ok(r) => r,
        Err(e) => return not_found(&format!("Cannot read this page: {e}")),
    };
    let mut body =
        String::from("<table><tr><th>_id</th><th>_creationTime</th><th>fields</th></tr>");
    for doc in &result.page {
        let fields = ferrovex_values::Value::Object(doc.fields.clone()).to_clean_json();
        let _ = write!(
            body,
            "<tr><td><a href=\"/_dashboard/data/{t}/{id}\"><code>{id}</code></a></td><td>{time}</td><td><pre>{json}</pre></td></tr>",
            t = escape(&table),
            id = escape(doc.id.as_str()),
            time = doc.creation_time,
            json = escape(&fields.to_string())
        );
    }
    body.push_str("</table>");
    if result.page.is_empty() {
        body.push_str("<p>No documents.</p>");
    }
    if !result.is_done {
        let _ = write!(
            body,
            "<p><a rel=\"next\" href=\"/_dashboard/data/{}?cursor={}\">Next {PAGE_SIZE}</a></p>",
            escape(&table),
            escape(&percent_encode(&result.continue_cursor))
        );
    }
    page(&table, &body)
}

/// `GET /_dashboard/data/{table}/{id}`: one document as JSON.
pub(crate) async fn document(
    State(state): State<ApiState>,
    Path((table, id)): Path<(String, String)>,
) -> Response {
    if !state.engine.user_tables().contains(&table) {
        return not_found(&format!("There is no table {table:?} in this app."));
    }
    let Some(doc_id) = DocumentId::parse(&id) else {
        return not_found("That is not a document id.");
    };
    let found = state
        .engine
        .system_read(move |db| db.get(&doc_id))
        .await
        .ok()
        .flatten()
        .filter(|d| d.table.as_str() == table);
    match found {
        Some(doc) => {
            let json =
                serde_json::to_string_pretty(&doc.to_value().to_clean_json()).unwrap_or_default();
            page(
                doc.id.as_str(),
                &format!(
                    "<p><a href=\"/_dashboard/data/{}\">← {}</a></p><pre>{}</pre>",
                    escape(&table),
                    escape(&table),
                    escape(&json)
                ),
            )
        }
        None => not_found("No such document."),
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
