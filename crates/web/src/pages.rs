//! The demo pages. Each renders its data on the server (the HTML holds it before any script
//! runs), embeds the payload, and hands over to the browser runtime.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use ferrovex_ssr::auth::RequestAuth;
use ferrovex_ssr::payload::{Payload, PayloadQuery};
use ferrovex_ssr::query::{QueryArgs, QueryOptions, ServerQueries};
use ferrovex_ssr::runtime::RUNTIME_PATH;
use ferrovex_ssr::timing::ServerTiming;
use serde_json::{Value as Json, json};

use crate::WebState;

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const STYLE: &str = "
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;color:#1d2330;background:#f6f7f9}
header{display:flex;justify-content:space-between;align-items:center;padding:12px 24px;background:#1d2330;color:#fff}
header a{color:#cdd8ff;text-decoration:none;margin-left:14px}header a[aria-current]{color:#fff;border-bottom:2px solid #7f9cff}header .brand{font-weight:700;color:#fff;margin:0}
.layout{display:flex;max-width:1100px;margin:0 auto;gap:24px;padding:24px}
aside{width:230px;flex:none;background:#fff;border:1px solid #e2e5ea;border-radius:10px;padding:16px;align-self:flex-start}
aside h3{margin:0 0 8px;font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:#5b6475}
main{flex:1;min-width:0}
.card{background:#fff;border:1px solid #e2e5ea;border-radius:10px;padding:18px}
ul.messages{list-style:none;margin:0;padding:0;max-height:60vh;overflow:auto}
ul.messages li{padding:8px 0;border-bottom:1px solid #eef0f3}ul.messages li.pending{opacity:.55}ul.messages b{color:#2f5bea}
form.row{display:flex;gap:8px;margin-top:14px}
input{font:inherit;padding:8px 10px;border:1px solid #c9ced8;border-radius:8px;flex:1}
button{font:inherit;padding:8px 14px;border:0;border-radius:8px;background:#2f5bea;color:#fff;cursor:pointer}
button.link{background:none;color:#cdd8ff;padding:0;margin-left:14px}button:disabled{opacity:.5;cursor:default}.pager{display:flex;gap:12px;align-items:center;margin:14px 0 0}
.muted{color:#5b6475}.error{color:#c62828}.status{font-size:12px;color:#8a93a3}
.who{margin-left:18px;font-weight:600}h3{margin:16px 0 6px;font-size:14px;color:#5b6475}
.drop{border:2px dashed #c9ced8;border-radius:10px;padding:22px;text-align:center;color:#5b6475}.drop.over{border-color:#2f5bea;background:#eef2ff}
progress{width:100%;height:10px}ul.files{list-style:none;margin:0;padding:0}ul.files li{display:flex;gap:12px;align-items:center;padding:8px 0;border-bottom:1px solid #eef0f3}
ul.files img{width:56px;height:56px;object-fit:cover;border-radius:6px;background:#eef0f3}ul.files .thumb{width:56px;height:56px;border-radius:6px;background:#eef0f3;display:flex;align-items:center;justify-content:center;font-size:11px;color:#5b6475}
ul.files .meta{flex:1;min-width:0}ul.files .meta small{display:block;color:#5b6475}
.auth{max-width:380px;margin:60px auto}.auth form{display:flex;flex-direction:column;gap:10px}
";

fn user_label(user: Option<&Json>) -> String {
    match user.filter(|u| !u.is_null()) {
        Some(u) => escape(
            u["name"]
                .as_str()
                .or(u["email"].as_str())
                .unwrap_or("signed in"),
        ),
        None => "Guest".to_owned(),
    }
}

/// Chat messages (`{author, body}`) as list items; nothing for a missing or non-array value.
fn message_items(messages: Option<&Json>) -> String {
    messages
        .and_then(Json::as_array)
        .map(|list| {
            list.iter()
                .map(|m| {
                    format!(
                        "<li><b>{}</b> {}</li>",
                        escape(m["author"].as_str().unwrap_or_default()),
                        escape(m["body"].as_str().unwrap_or_default())
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The header's page links; the current page is marked for assistive tech and styled.
fn nav_links(title: &str) -> String {
    [
        ("/", "Chat"),
        ("/teams", "Teams"),
        ("/settings", "Settings"),
        ("/search", "Search"),
        ("/files", "Files"),
        ("/session", "Session"),
        ("/reports", "Reports"),
        ("/history", "History"),
    ]
    .iter()
    .map(|(href, name)| {
        let current = if *name == title {
            r#" aria-current="page""#
        } else {
            ""
        };
        format!(r#"<a href="{href}"{current}>{name}</a>"#)
    })
    .collect()
}

fn page(
    title: &str,
    auth: &RequestAuth,
    me: Option<&Json>,
    body: &str,
    payload: &Payload,
    script: &str,
) -> String {
    let nav = if auth.user.is_some() {
        r#"<button class="link" id="sign-out">Sign out</button>"#.to_owned()
    } else {
        r#"<a href="/sign-in">Sign in</a><a href="/sign-up">Sign up</a>"#.to_owned()
    };
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title} · Ferrovex demo</title><style>{STYLE}</style></head><body>
<header><a class="brand" href="/">Ferrovex demo</a><nav>{links}
<span id="header-user" class="who">{user}</span>{nav}</nav></header>
<div class="layout"><aside><h3>Account</h3><div id="sidebar-user">{user}</div><p class="status" id="connection">connecting…</p></aside>
<main>{body}</main></div>
{payload}<script src="{RUNTIME_PATH}"></script><script>{script}</script></body></html>"#,
        links = nav_links(title),
        title = escape(title),
        user = user_label(me),
        payload = payload.script(),
    )
}

/// Shared page script: header and sidebar share one `auth:getCurrentUser` subscription.
const LAYOUT_SCRIPT: &str = r#"
const label = (u) => (u && (u.name || u.email)) || "Guest";
Ferrovex.query("auth:getCurrentUser", {}, {}, (u) => { document.getElementById("header-user").textContent = label(u); });
Ferrovex.query("auth:getCurrentUser", {}, {}, (u) => { document.getElementById("sidebar-user").textContent = label(u); });
Ferrovex.onConnectionChange((s) => { document.getElementById("connection").textContent = s.connected ? (s.pendingMutations ? `saving ${s.pendingMutations}…` : "live") : "reconnecting…"; });
const out = document.getElementById("sign-out");
if (out) out.onclick = async () => { await Ferrovex.signOut(); location.href = "/"; };
"#;

fn respond(html: String, timing: &ServerTiming) -> Response {
    let mut resp = Html(html).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&timing.header_value()) {
        h.insert("server-timing", v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Cookie"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    resp
}

/// `/`: the live chat on `messages:list` and `messages:send`.
pub(crate) async fn chat(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let script = r#"
const list = document.getElementById("messages");
Ferrovex.query("messages:list", {channel: "general"}, {}, (msgs) => {
  if (!msgs) return;
  list.replaceChildren(...msgs.map((m) => { const li = document.createElement("li"); if (m.pending) li.className = "pending"; const b = document.createElement("b"); b.textContent = m.author; li.append(b, " " + m.body); return li; }));
  list.scrollTop = list.scrollHeight;
});
// The message shows at once (dimmed) and gives way to the stored one when the server has it.
const appendPending = (store, args) => {
  const current = store.getQuery("messages:list", {channel: "general"});
  if (current) store.setQuery("messages:list", {channel: "general"}, [...current, {_id: "pending", author: args.author, body: args.body, pending: true}]);
};
document.getElementById("send").onsubmit = async (e) => {
  e.preventDefault();
  const input = document.getElementById("body");
  const author = document.getElementById("header-user").textContent;
  const body = input.value;
  input.value = "";
  try { await Ferrovex.mutation("messages:send", {channel: "general", author, body}, {optimisticUpdate: appendPending}); document.getElementById("send-error").textContent = ""; }
  catch (err) { input.value = body; document.getElementById("send-error").textContent = err.data && err.data.code === "INVALID_BODY" ? "Messages must be 1 to 2000 characters." : err.message; }
};"#;
    render(
        &state,
        &headers,
        "Chat",
        vec![("messages:list", QueryArgs::Args(json!({"channel": "general"})), QueryOptions::default())],
        |q| {
            let items = message_items(q[0].value.as_ref());
            format!(
                r#"<div class="card"><h2>#general</h2><ul class="messages" id="messages">{items}</ul>
<form class="row" id="send"><input id="body" placeholder="Say something" maxlength="2000" autocomplete="off" required><button>Send</button></form>
<p class="error" id="send-error"></p></div>"#
            )
        },
        script,
    )
    .await
}

fn auth_page(title: &str, action: &str, fields: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title} · Ferrovex demo</title><style>{STYLE}</style></head><body>
<header><a class="brand" href="/">Ferrovex demo</a><nav><a href="/sign-in">Sign in</a><a href="/sign-up">Sign up</a></nav></header>
<div class="auth card"><h2>{title}</h2><form id="auth">{fields}<button>{title}</button><p class="error" id="auth-error"></p></form></div>
<script src="{RUNTIME_PATH}"></script><script>
document.getElementById("auth").onsubmit = async (e) => {{
  e.preventDefault();
  const v = (id) => (document.getElementById(id) || {{}}).value;
  try {{ await {action}; location.href = "/"; }}
  catch (err) {{ document.getElementById("auth-error").textContent = err.message; }}
}};
</script></body></html>"#
    )
}

/// `/sign-in`.
pub(crate) async fn sign_in() -> Response {
    let fields = r#"<input id="email" type="email" placeholder="Email" required><input id="password" type="password" placeholder="Password" required minlength="8">"#;
    Html(auth_page(
        "Sign in",
        r#"Ferrovex.signIn(v("email"), v("password"))"#,
        fields,
    ))
    .into_response()
}

/// `/sign-up`.
pub(crate) async fn sign_up() -> Response {
    let fields = r#"<input id="name" placeholder="Name" required><input id="email" type="email" placeholder="Email" required><input id="password" type="password" placeholder="Password (8+ characters)" required minlength="8">"#;
    Html(auth_page(
        "Sign up",
        r#"Ferrovex.signUp(v("name"), v("email"), v("password"))"#,
        fields,
    ))
    .into_response()
}

/// Renders a page with the layout's queries plus `queries`, and the page's body and script.
async fn render(
    state: &WebState,
    headers: &HeaderMap,
    title: &str,
    queries: Vec<(&str, QueryArgs, QueryOptions)>,
    body: impl FnOnce(&[PayloadQuery]) -> String,
    script: &str,
) -> Response {
    let started = std::time::Instant::now();
    let mut timing = ServerTiming::default();
    let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    let auth = state.auth.authenticate(cookie, &mut timing).await;
    // The layout's query and the page's queries run concurrently.
    let mut all = vec![(
        "auth:getCurrentUser",
        QueryArgs::Args(json!({})),
        QueryOptions::default(),
    )];
    all.extend(queries);
    let mut prepared = state
        .queries
        .prepare_all(all, auth.token.as_deref(), &mut timing)
        .await;
    let me = prepared.remove(0);
    let html_body = body(&prepared);
    let me_value = me.value.clone();
    let mut all = vec![me];
    all.extend(prepared);
    let payload = Payload {
        api_url: state.config.public_api_url.clone(),
        user: auth.user.clone(),
        queries: all,
    };
    let html = page(
        title,
        &auth,
        me_value.as_ref(),
        &html_body,
        &payload,
        &format!("{LAYOUT_SCRIPT}\n{script}"),
    );
    state
        .auth
        .stats()
        .page(auth.user.is_some(), started.elapsed());
    respond(html, &timing)
}

fn error_text(q: &PayloadQuery) -> String {
    q.error
        .as_ref()
        .map(|e| match e["data"]["code"].as_str() {
            Some("UNAUTHENTICATED") => "Sign in to see your teams.".to_owned(),
            _ => e["message"].as_str().unwrap_or("Error").to_owned(),
        })
        .map(|m| escape(&m))
        .unwrap_or_default()
}

const ERROR_TEXT_JS: &str = r#"const errorText = (e) => e && e.data && e.data.code === "UNAUTHENTICATED" ? "Sign in to see your teams." : (e ? e.message : "");"#;

/// `/teams`: `teams:listMyTeams` (live) and `teams:create`.
pub(crate) async fn teams(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let script = format!(
        r#"{ERROR_TEXT_JS}
const list = document.getElementById("teams"), err = document.getElementById("teams-error");
Ferrovex.query("teams:listMyTeams", {{}}, {{}}, (teams, e) => {{
  err.textContent = errorText(e);
  list.replaceChildren(...(teams || []).map((t) => {{ const li = document.createElement("li"); li.textContent = t.name; return li; }}));
}});
document.getElementById("create").onsubmit = async (ev) => {{
  ev.preventDefault();
  const input = document.getElementById("team-name");
  try {{ await Ferrovex.mutation("teams:create", {{name: input.value}}); input.value = ""; }} catch (e) {{ err.textContent = errorText(e); }}
}};"#
    );
    render(
        &state,
        &headers,
        "Teams",
        vec![("teams:listMyTeams", QueryArgs::Args(json!({})), QueryOptions::default())],
        |q| {
            let items: String = q[0]
                .value
                .as_ref()
                .and_then(Json::as_array)
                .map(|l| l.iter().map(|t| format!("<li>{}</li>", escape(t["name"].as_str().unwrap_or_default()))).collect())
                .unwrap_or_default();
            format!(
                r#"<div class="card"><h2>My teams</h2><ul class="messages" id="teams">{items}</ul><p class="error" id="teams-error">{}</p>
<form class="row" id="create"><input id="team-name" placeholder="New team name" required maxlength="64"><button>Create</button></form></div>"#,
                error_text(&q[0])
            )
        },
        &script,
    )
    .await
}

/// `/settings`: `config:getSettings` with `subscribe: false` (changes show after refresh).
pub(crate) async fn settings(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let script = r#"
const show = (s) => { if (s) { document.getElementById("theme").textContent = s.theme; document.getElementById("motd").textContent = s.motd; } };
const settings = Ferrovex.query("config:getSettings", {}, {subscribe: false}, show);
document.getElementById("refresh").onclick = () => settings.refresh();
document.getElementById("save").onsubmit = async (e) => {
  e.preventDefault();
  try {
    await Ferrovex.mutation("config:setSettings", {motd: document.getElementById("new-motd").value});
    document.getElementById("saved").textContent = "Saved. Press Refresh to see it.";
  } catch (err) {
    document.getElementById("saved").textContent = err.data && err.data.code === "UNAUTHENTICATED"
      ? "Sign in to change the message of the day." : "Not saved: " + err.message;
  }
};"#;
    render(
        &state,
        &headers,
        "Settings",
        vec![("config:getSettings", QueryArgs::Args(json!({})), QueryOptions { server: true, subscribe: false })],
        |q| {
            let v = q[0].value.clone().unwrap_or(Json::Null);
            format!(
                r#"<div class="card"><h2>Settings</h2><p class="muted">Fetched once (no subscription): use Refresh to see changes.</p>
<p>Theme: <b id="theme">{}</b></p><p>Message of the day: <b id="motd">{}</b></p><button id="refresh">Refresh</button>
<form class="row" id="save"><input id="new-motd" placeholder="New message of the day" required maxlength="280"><button>Save</button></form><p class="muted" id="saved"></p></div>"#,
                escape(v["theme"].as_str().unwrap_or_default()),
                escape(v["motd"].as_str().unwrap_or_default())
            )
        },
        script,
    )
    .await
}

/// `/search`: `posts:search` stays `'skip'` until there is a query; results are fetched with
/// `subscribe: false` and a manual refresh, while a live panel (also `'skip'` first) follows
/// the same search over the WebSocket.
pub(crate) async fn search(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let script = r#"
const hint = (text) => { const li = document.createElement("li"); li.className = "muted"; li.textContent = text; return li; };
const render = (id) => (posts) => document.getElementById(id).replaceChildren(...(posts === undefined || posts === null ? [hint("Type a word and press Search.")] : posts.length === 0 ? [hint("No posts match.")] : posts.map((p) => { const li = document.createElement("li"); const b = document.createElement("b"); b.textContent = p.title; li.append(b, " " + p.body); return li; })));
const results = Ferrovex.query("posts:search", "skip", {subscribe: false}, render("results"));
const live = Ferrovex.query("posts:search", "skip", {}, render("live"));
document.getElementById("search").onsubmit = async (e) => {
  e.preventDefault();
  const q = document.getElementById("q").value.trim();
  const args = q ? {q} : "skip";
  // Setting the arguments fetches once (results) and subscribes (live).
  results.setArgs(args); live.setArgs(args);
};
document.getElementById("post").onsubmit = async (e) => {
  e.preventDefault();
  await Ferrovex.mutation("posts:create", {title: document.getElementById("title").value, body: document.getElementById("body").value});
  document.getElementById("title").value = ""; document.getElementById("body").value = "";
};"#;
    render(
        &state,
        &headers,
        "Search",
        vec![("posts:search", QueryArgs::Skip, QueryOptions { server: true, subscribe: false })],
        |_| {
            r#"<div class="card"><h2>Search posts</h2><form class="row" id="search"><input id="q" placeholder="Search" maxlength="100"><button>Search</button></form>
<h3>Results (fetched on demand)</h3><ul class="messages" id="results"><li class="muted">Type a word and press Search.</li></ul><h3>Live</h3><ul class="messages" id="live"><li class="muted">Type a word and press Search.</li></ul>
<h3>New post</h3><form class="row" id="post"><input id="title" placeholder="Title" required maxlength="280"><input id="body" placeholder="Text" required maxlength="280"><button>Post</button></form></div>"#
                .to_owned()
        },
        script,
    )
    .await
}

fn size_label(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    } else if bytes >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// Listed files (`files:list` rows) as list items, rendered on the server.
fn file_items(files: Option<&Json>) -> String {
    let Some(list) = files.and_then(Json::as_array) else {
        return String::new();
    };
    if list.is_empty() {
        return r#"<li class="muted">No files yet.</li>"#.to_owned();
    }
    list.iter()
        .map(|f| {
            let name = escape(f["name"].as_str().unwrap_or_default());
            let url = escape(f["url"].as_str().unwrap_or_default());
            let kind = f["contentType"].as_str().unwrap_or("application/octet-stream");
            let thumb = if kind.starts_with("image/") {
                format!(r#"<img src="{url}" alt="{name}">"#)
            } else {
                r#"<span class="thumb">file</span>"#.to_owned()
            };
            format!(
                r#"<li data-id="{id}">{thumb}<span class="meta"><a href="{url}" download="{name}">{name}</a><small>{size} · {kind}</small></span><button class="remove" data-id="{id}">Remove</button></li>"#,
                id = escape(f["_id"].as_str().unwrap_or_default()),
                size = size_label(f["size"].as_f64().unwrap_or(0.0)),
                kind = escape(kind),
            )
        })
        .collect()
}

/// `/files`: drag-and-drop (or pick) uploads with a progress bar, straight to the upload URL
/// `files:generateUploadUrl` returns; a live list with image previews and download links.
pub(crate) async fn files(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let script = r#"
const list = document.getElementById("files");
const size = (n) => n >= 1048576 ? (n / 1048576).toFixed(1) + " MiB" : n >= 1024 ? (n / 1024).toFixed(1) + " KiB" : n + " B";
Ferrovex.query("files:list", {}, {}, (files) => {
  if (!files) return;
  if (files.length === 0) { const li = document.createElement("li"); li.className = "muted"; li.textContent = "No files yet."; list.replaceChildren(li); return; }
  list.replaceChildren(...files.map((f) => {
    const li = document.createElement("li"); li.dataset.id = f._id;
    let thumb;
    if ((f.contentType || "").startsWith("image/")) { thumb = document.createElement("img"); thumb.src = f.url; thumb.alt = f.name; }
    else { thumb = document.createElement("span"); thumb.className = "thumb"; thumb.textContent = "file"; }
    const meta = document.createElement("span"); meta.className = "meta";
    const a = document.createElement("a"); a.href = f.url; a.download = f.name; a.textContent = f.name;
    const small = document.createElement("small"); small.textContent = size(f.size) + " · " + (f.contentType || "application/octet-stream");
    meta.append(a, small);
    const rm = document.createElement("button"); rm.className = "remove"; rm.dataset.id = f._id; rm.textContent = "Remove";
    li.append(thumb, meta, rm); return li;
  }));
});
list.onclick = async (e) => { const id = e.target.dataset && e.target.dataset.id; if (id && e.target.classList.contains("remove")) await Ferrovex.mutation("files:remove", {id}); };
const bar = document.getElementById("progress"), status = document.getElementById("upload-status");
// XMLHttpRequest, not fetch: it reports upload progress.
const send = (url, file) => new Promise((resolve, reject) => {
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; status.textContent = `Uploading ${file.name}: ${Math.round(100 * e.loaded / e.total)}%`; } };
  xhr.onload = () => { let body = {}; try { body = JSON.parse(xhr.responseText); } catch (_) {} xhr.status === 200 ? resolve(body) : reject(new Error(body.message || `upload failed (${xhr.status})`)); };
  xhr.onerror = () => reject(new Error("the upload failed (network)"));
  xhr.send(file);
});
const upload = async (files) => {
  for (const file of files) {
    try {
      bar.hidden = false; bar.value = 0;
      const url = await Ferrovex.mutation("files:generateUploadUrl", {});
      const { storageId } = await send(url, file);
      await Ferrovex.mutation("files:save", {storageId, name: file.name});
      status.textContent = `Uploaded ${file.name}`;
    } catch (err) { status.textContent = `${file.name}: ${err.message}`; }
  }
  bar.hidden = true;
};
const drop = document.getElementById("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); upload([...e.dataTransfer.files]); };
document.getElementById("pick").onchange = (e) => { upload([...e.target.files]); e.target.value = ""; };"#;
    render(
        &state,
        &headers,
        "Files",
        vec![("files:list", QueryArgs::Args(json!({})), QueryOptions::default())],
        |q| {
            let items = file_items(q[0].value.as_ref());
            format!(
                r#"<div class="card"><h2>Files</h2><div class="drop" id="drop">Drop files here, or <label><u>choose</u><input type="file" id="pick" multiple hidden></label></div>
<progress id="progress" value="0" max="1" hidden></progress><p class="status" id="upload-status"></p>
<ul class="files" id="files">{items}</ul></div>"#
            )
        },
        script,
    )
    .await
}

/// `/session`: `session:get` with `server: false` (client only, over the WebSocket).
pub(crate) async fn session(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let script = r#"
Ferrovex.query("session:get", {}, {server: false}, (s) => {
  document.getElementById("session").textContent = !s ? "…" : s.signedIn ? `Signed in as ${s.subject} (session ${s.sessionId}), token valid until ${new Date(Number(s.expiresAt) * 1000).toLocaleTimeString()}` : "Not signed in";
});"#;
    render(
        &state,
        &headers,
        "Session",
        vec![("session:get", QueryArgs::Args(json!({})), QueryOptions { server: false, subscribe: true })],
        |_| r#"<div class="card"><h2>Session</h2><p class="muted">Loaded in the browser only (server: false).</p><p id="session">Loading…</p></div>"#.to_owned(),
        script,
    )
    .await
}

/// `/reports`: `reports:get` with `server: false, subscribe: false` (one client HTTP fetch).
pub(crate) async fn reports(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let script = r#"
const report = Ferrovex.query("reports:get", {}, {server: false, subscribe: false}, (r) => {
  if (r) document.getElementById("report").textContent = `${r.messages} messages · ${r.posts} posts · ${r.teams} teams`;
});
document.getElementById("refresh").onclick = () => report.refresh();"#;
    render(
        &state,
        &headers,
        "Reports",
        vec![("reports:get", QueryArgs::Args(json!({})), QueryOptions { server: false, subscribe: false })],
        |_| r#"<div class="card"><h2>Reports</h2><p class="muted">One fetch from the browser (server: false, subscribe: false).</p><p id="report">Loading…</p><button id="refresh">Refresh</button></div>"#.to_owned(),
        script,
    )
    .await
}

/// `/history?channel=`: `messages:page` newest first through the runtime's paginated query;
/// every loaded page stays live and keeps its bounds.
pub(crate) async fn history(
    State(state): State<WebState>,
    Query(params): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let channel = params
        .get("channel")
        .map(String::as_str)
        .filter(|c| !c.is_empty() && c.chars().count() <= 64)
        .unwrap_or("general")
        .to_owned();
    let script = r#"
const channel = document.getElementById("history").dataset.channel;
const list = document.getElementById("pages");
const more = document.getElementById("more");
const history = Ferrovex.paginatedQuery("messages:page", {channel, newestFirst: true}, {initialNumItems: 5}, (items, status) => {
  list.replaceChildren(...items.map((m) => { const li = document.createElement("li"); const b = document.createElement("b"); b.textContent = m.author; li.append(b, " " + m.body); return li; }));
  document.getElementById("page-status").textContent = {LoadingFirstPage: "Loading…", CanLoadMore: `${items.length} loaded`, LoadingMore: "Loading more…", Exhausted: `All ${items.length} messages`}[status];
  document.getElementById("history").dataset.status = status;
  more.disabled = status !== "CanLoadMore";
});
more.onclick = () => history.loadMore(5);"#;
    // The first page is rendered here and hydrated by the runtime (same arguments).
    let first_page =
        ServerQueries::first_page_args(&json!({"channel": channel, "newestFirst": true}), 5);
    let channel = escape(&channel);
    render(
        &state,
        &headers,
        "History",
        vec![("messages:page", first_page, QueryOptions::default())],
        move |q| {
            let items = message_items(q[0].value.as_ref().map(|p| &p["page"]));
            format!(
                r#"<div class="card" id="history" data-channel="{channel}"><h2>History of #{channel}</h2><p class="muted">Newest first, five at a time. Every loaded page stays live and keeps its place.</p>
<ul class="messages" id="pages">{items}</ul><p class="pager"><button id="more" disabled>Load more</button><span class="status" id="page-status"></span></p></div>"#
            )
        },
        script,
    )
    .await
}
