//! The dashboard's data browser: the app's tables with their document counts, one table's
//! documents newest first, a page at a time, and one document's JSON; insert, edit (as Convex
//! JSON, checked against the table's validator) and delete, each one commit, so subscribed
//! clients see it live. System tables (users, sessions, keys) are never shown or written.
//! Server-rendered; works without JavaScript; its POSTs must come from the dashboard's own
//! page.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use ferrovex_engine::PaginationOpts;
use ferrovex_store::{DocumentId, Order};

use crate::ApiState;
use crate::dashboard::escape;

/// Largest edit or insert form (a document is at most 1 MiB).
pub const MAX_EDIT_FORM_BYTES: usize = 2 << 20;

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
    // A field filter: `field` (a dotted path) equal to `equals` (JSON; plain text is taken as a
    // string). It scans up to COUNT_LIMIT documents, newest first, and shows the first page of
    // matches.
    let filter = match params
        .get("field")
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
    {
        None => None,
        Some(field) => {
            let raw = params.get("equals").map(String::as_str).unwrap_or("");
            let value = serde_json::from_str::<serde_json::Value>(raw)
                .ok()
                .and_then(|j| ferrovex_values::Value::from_convex_json(&j).ok())
                .unwrap_or_else(|| ferrovex_values::Value::from(raw));
            Some((field.chars().take(256).collect::<String>(), value))
        }
    };
    let name = table.clone();
    let filtered = filter.clone();
    // A filter on the first field of an index reads that index's range, page by page.
    let index = filter
        .as_ref()
        .and_then(|(field, _)| state.engine.index_on(&table, field));
    let using = index.clone();
    let page_cursor = cursor.clone();
    let result = state
        .engine
        .system_read(move |db| match filtered {
            Some((field, value)) if using.is_some() => db
                .query(&name)?
                .with_index(using.as_deref().unwrap_or_default(), |q| {
                    q.eq(&field, value)
                })?
                .order(Order::Desc)
                .paginate(&PaginationOpts {
                    num_items: PAGE_SIZE as f64,
                    cursor: page_cursor,
                    end_cursor: None,
                }),
            None => db
                .query(&name)?
                .order(Order::Desc)
                .paginate(&PaginationOpts {
                    num_items: PAGE_SIZE as f64,
                    cursor,
                    end_cursor: None,
                }),
            Some((field, value)) => {
                let page: Vec<_> = db
                    .query(&name)?
                    .order(Order::Desc)
                    .take(COUNT_LIMIT)?
                    .into_iter()
                    .filter(|d| d.field(&field).as_ref() == Some(&value))
                    .take(PAGE_SIZE)
                    .collect();
                Ok(ferrovex_engine::PaginationResult {
                    page,
                    is_done: true,
                    continue_cursor: String::new(),
                })
            }
        })
        .await;
    let result = match result {
        Ok(r) => r,
        Err(e) => return not_found(&format!("Cannot read this page: {e}")),
    };
    let (field, equals) = (
        params.get("field").cloned().unwrap_or_default(),
        params.get("equals").cloned().unwrap_or_default(),
    );
    let mut body = format!(
        "<form method=\"get\"><label>Field <input name=\"field\" value=\"{}\" placeholder=\"author\"></label> \
         <label>equals <input name=\"equals\" value=\"{}\" placeholder=\"&quot;ada&quot; or 5\"></label> \
         <button type=\"submit\">Filter</button>{}</form>",
        escape(&field),
        escape(&equals),
        match (&filter, &index) {
            (Some(_), Some(index)) => format!(
                " <a href=\"/_dashboard/data/{}\">clear</a> <small>(the range of index <code>{}</code>)</small>",
                escape(&table),
                escape(index)
            ),
            (Some(_), None) => format!(
                " <a href=\"/_dashboard/data/{}\">clear</a> <small>(the newest {COUNT_LIMIT} documents are searched; no index starts with this field)</small>",
                escape(&table)
            ),
            _ => String::new(),
        }
    );
    body.push_str("<table><tr><th>_id</th><th>_creationTime</th><th>fields</th></tr>");
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
    let _ = write!(
        body,
        "<h2>Insert a document</h2><form method=\"post\" action=\"/_dashboard/data/{}/insert\">\
         <p>Fields as Convex JSON (int64 as <code>{{\"$integer\": base64}}</code>), checked against the table's validator.</p>\
         <textarea name=\"fields\" rows=\"5\" style=\"width:100%;font-family:monospace\">{{}}</textarea>\
         <p><button type=\"submit\">Insert</button></p></form>",
        escape(&table)
    );
    if !result.is_done {
        let _ = write!(
            body,
            "<p><a rel=\"next\" href=\"/_dashboard/data/{}?cursor={}{}\">Next {PAGE_SIZE}</a></p>",
            escape(&table),
            escape(&percent_encode(&result.continue_cursor)),
            if index.is_some() {
                escape(&format!(
                    "&field={}&equals={}",
                    percent_encode(&field),
                    percent_encode(&equals)
                ))
            } else {
                String::new()
            }
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
            page(doc.id.as_str(), &document_body(&table, &doc, &json, None))
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

/// A document's page: its JSON, the edit form (Convex JSON of its fields) and delete.
fn document_body(
    table: &str,
    doc: &ferrovex_store::Document,
    json: &str,
    error: Option<&str>,
) -> String {
    document_body_with(table, doc, json, error, None)
}

/// [`document_body`] with the edit box holding `typed` (a refused edit keeps what was typed).
fn document_body_with(
    table: &str,
    doc: &ferrovex_store::Document,
    json: &str,
    error: Option<&str>,
    typed: Option<&str>,
) -> String {
    let fields = typed.map_or_else(
        || {
            serde_json::to_string_pretty(
                &ferrovex_values::Value::Object(doc.fields.clone()).to_convex_json(),
            )
            .unwrap_or_default()
        },
        str::to_owned,
    );
    let error = error
        .map(|e| {
            format!(
                "<pre role=\"alert\" style=\"color:#b00020\">{}</pre>",
                escape(e)
            )
        })
        .unwrap_or_default();
    format!(
        "<p><a href=\"/_dashboard/data/{t}\">← {t}</a></p><pre id=\"doc\">{json}</pre>{error}\
         <h2>Edit</h2><form method=\"post\" action=\"/_dashboard/data/{t}/{id}/edit\">\
         <textarea name=\"fields\" rows=\"10\" style=\"width:100%;font-family:monospace\">{fields}</textarea>\
         <p><button type=\"submit\">Save</button></p></form>\
         <form method=\"post\" action=\"/_dashboard/data/{t}/{id}/delete\"><button type=\"submit\">Delete this document</button></form>",
        t = escape(table),
        id = escape(doc.id.as_str()),
        json = escape(json),
        fields = escape(&fields),
    )
}

/// The fields of an insert or edit form as a Convex object, or why not.
fn fields_of(body: &[u8]) -> Result<ferrovex_values::Value, String> {
    let text = crate::operator::form_value(body, "fields").unwrap_or_default();
    let json: serde_json::Value =
        serde_json::from_str(if text.trim().is_empty() { "{}" } else { &text })
            .map_err(|e| format!("the fields are not JSON: {e}"))?;
    if !json.is_object() {
        return Err("the fields must be a JSON object".to_owned());
    }
    ferrovex_values::Value::from_convex_json(&json).map_err(|e| format!("not Convex JSON: {e}"))
}

fn refused(status: StatusCode, message: &str) -> Response {
    let mut r = page(
        "Refused",
        &format!("<pre role=\"alert\">{}</pre>", escape(message)),
    );
    *r.status_mut() = status;
    r
}

/// Checks a data-changing POST (own page, size, an app table): the refusal, if any.
fn check_post(
    state: &ApiState,
    headers: &HeaderMap,
    body: &Bytes,
    table: &str,
) -> Option<Response> {
    if !crate::operator::from_own_page(state, headers) {
        return Some(crate::operator::not_own_page("change data"));
    }
    if body.len() > MAX_EDIT_FORM_BYTES {
        return Some(refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the form is larger than {MAX_EDIT_FORM_BYTES} bytes"),
        ));
    }
    if !state.engine.user_tables().iter().any(|t| t == table) {
        return Some(not_found(&format!(
            "There is no table {table:?} in this app."
        )));
    }
    None
}

/// Refuses a write to `id` unless it is a document of `table` (the URL names both).
fn in_table(
    db: &mut ferrovex_engine::DatabaseWriter<'_>,
    id: &DocumentId,
    table: &str,
) -> Result<(), ferrovex_engine::EngineError> {
    match db.get(id)? {
        Some(doc) if doc.table.as_str() == table => Ok(()),
        _ => Err(ferrovex_engine::EngineError::BadDatabaseCall(format!(
            "document {id} is not in table {table}"
        ))),
    }
}

fn see_other(to: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)], "done").into_response()
}

/// `POST /_dashboard/data/{table}/insert`.
pub(crate) async fn insert(
    State(state): State<ApiState>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = check_post(&state, &headers, &body, &table) {
        return r;
    }
    let fields = match fields_of(&body) {
        Ok(f) => f,
        Err(e) => return refused(StatusCode::BAD_REQUEST, &e),
    };
    let name = table.clone();
    match state
        .engine
        .system_write(move |db| db.insert(&name, &fields))
        .await
    {
        Ok(id) => see_other(format!("/_dashboard/data/{table}/{}", id.as_str())),
        Err(e) => refused(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// `POST /_dashboard/data/{table}/{id}/edit`: replaces the document's fields.
pub(crate) async fn edit(
    State(state): State<ApiState>,
    Path((table, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = check_post(&state, &headers, &body, &table) {
        return r;
    }
    let Some(doc_id) = DocumentId::parse(&id) else {
        return not_found("That is not a document id.");
    };
    let written = match fields_of(&body) {
        Ok(fields) => {
            let (name, target) = (table.clone(), doc_id.clone());
            state
                .engine
                .system_write(move |db| {
                    in_table(db, &target, &name)?;
                    db.replace(&target, &fields)
                })
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => see_other(format!("/_dashboard/data/{table}/{id}")),
        Err(e) => edit_refused(&state, &table, doc_id, &body, &e).await,
    }
}

/// The document's page again, with the refusal and the JSON that was typed kept in the box.
async fn edit_refused(
    state: &ApiState,
    table: &str,
    id: DocumentId,
    body: &[u8],
    message: &str,
) -> Response {
    let wanted = table.to_owned();
    let current = state
        .engine
        .system_read(move |db| db.get(&id))
        .await
        .ok()
        .flatten()
        .filter(|d| d.table.as_str() == wanted);
    let Some(doc) = current else {
        return refused(StatusCode::BAD_REQUEST, message);
    };
    let typed = crate::operator::form_value(body, "fields").unwrap_or_default();
    let json = serde_json::to_string_pretty(&doc.to_value().to_clean_json()).unwrap_or_default();
    let mut r = page(
        doc.id.as_str(),
        &document_body_with(table, &doc, &json, Some(message), Some(&typed)),
    );
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

/// `POST /_dashboard/data/{table}/{id}/delete`.
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Path((table, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = check_post(&state, &headers, &body, &table) {
        return r;
    }
    let Some(doc_id) = DocumentId::parse(&id) else {
        return not_found("That is not a document id.");
    };
    let name = table.clone();
    let deleted = state
        .engine
        .system_write(move |db| {
            in_table(db, &doc_id, &name)?;
            db.delete(&doc_id)
        })
        .await;
    match deleted {
        Ok(()) => see_other(format!("/_dashboard/data/{table}")),
        Err(e) => refused(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}
