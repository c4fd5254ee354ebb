//! The dashboard's data browser: tables with counts, pages of documents newest first, one
//! document's JSON; escaped; system tables (users, sessions, keys) never shown.

use serde_json::json;

use crate::common::{Server, call, send, sign_up};

async fn get(server: &Server, path: &str) -> (u16, String) {
    let (status, _, body) = send("GET", &format!("{}{path}", server.url), Vec::new(), &[]).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_browser_pages_through_a_table_and_hides_system_tables() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let cookie = sign_up(&server, "browse@example.com").await;
    let token = cookie
        .split_once('=')
        .unwrap()
        .1
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    for i in 0..55 {
        let body = if i == 54 {
            "<script>alert(1)</script>".to_owned()
        } else {
            format!("note {i}")
        };
        let reply = call(
            &server,
            "mutation",
            "messages:send",
            json!({ "channel": "browse", "author": "b", "body": body }),
        )
        .await;
        assert_eq!(reply["status"], "success", "{reply}");
    }
    let (status, tables) = get(&server, "/_dashboard/data").await;
    assert_eq!(status, 200);
    assert!(
        tables.contains("<a href=\"/_dashboard/data/messages\">messages</a></td><td>55</td>"),
        "{tables}"
    );
    assert!(
        !tables.contains("_users") && !tables.contains("_sessions"),
        "{tables}"
    );
    // Newest first, 50 a page, escaped.
    let (status, first) = get(&server, "/_dashboard/data/messages").await;
    assert_eq!(status, 200);
    assert_eq!(
        first
            .matches("<tr><td><a href=\"/_dashboard/data/messages/")
            .count(),
        50
    );
    assert!(
        first.contains("&lt;script&gt;") && !first.contains("<script>alert"),
        "escaped"
    );
    assert!(first.find("&lt;script&gt;").unwrap() < first.find("note 53").unwrap());
    let next = first
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a next-page link")
        .replace("&amp;", "&");
    let (status, second) = get(&server, &next).await;
    assert_eq!(status, 200);
    assert_eq!(
        second
            .matches("<tr><td><a href=\"/_dashboard/data/messages/")
            .count(),
        5
    );
    assert!(second.contains("note 0") && !second.contains("rel=\"next\""));
    // One document's JSON.
    let id = first
        .split("<a href=\"/_dashboard/data/messages/")
        .nth(2)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let (status, doc) = get(&server, &format!("/_dashboard/data/messages/{id}")).await;
    assert_eq!(status, 200);
    assert!(doc.contains(&id) && doc.contains("note 53"), "{doc}");
    // System tables and unknown ones are not there; no page holds the session token.
    for path in [
        "/_dashboard/data/_sessions",
        "/_dashboard/data/_users",
        "/_dashboard/data/nope",
    ] {
        let (status, page) = get(&server, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!page.contains(&token));
    }
    for page in [&tables, &first, &second, &doc] {
        assert!(!page.contains(&token), "a page shows a session token");
    }
}

/// The function runner: internal functions too, acting as a user, with the log lines; its
/// POST must come from the dashboard's own page.
#[tokio::test(flavor = "multi_thread")]
async fn the_function_runner_runs_internal_functions_as_a_user_from_its_own_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (status, form) = get(&server, "/_dashboard/run").await;
    assert_eq!(status, 200);
    assert!(
        form.contains("reminders:fire (mutation, internal)"),
        "{form}"
    );
    let origin = server.url.clone();
    let post = |body: String, origin: Option<String>| {
        let url = format!("{}/_dashboard/run", server.url);
        async move {
            let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
            let origin = origin.unwrap_or_default();
            if !origin.is_empty() {
                headers.push(("origin", origin.as_str()));
            }
            let (status, _, page) = send("POST", &url, body.into_bytes(), &headers).await;
            (status, String::from_utf8_lossy(&page).into_owned())
        }
    };
    let (status, page) = post(
        "path=reminders%3Afire&args=%7B%22text%22%3A%22from+the+runner%22%7D&subject=".to_owned(),
        Some(origin.clone()),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h2>Result</h2>"), "{page}");
    let fired = call(&server, "query", "reminders:list", json!({})).await;
    assert!(fired.to_string().contains("from the runner"), "{fired}");
    // Acting as a user, and the log lines of an action.
    let (_, page) = post(
        "path=auth%3AgetCurrentUser&args=%7B%7D&subject=runner-sub".to_owned(),
        Some(origin.clone()),
    )
    .await;
    assert!(page.contains("runner-sub"), "{page}");
    let (_, page) = post(
        "path=demo%3Aecho&args=%7B%22value%22%3A%22hi%22%7D&subject=".to_owned(),
        Some(origin.clone()),
    )
    .await;
    assert!(
        page.contains("<pre id=\"logs\">") && page.contains("echo string"),
        "{page}"
    );
    // Bad arguments are named; another origin, or none, is refused.
    let (status, page) = post("path=demo%3Aecho&args=%5B1%5D".to_owned(), Some(origin)).await;
    assert_eq!(status, 400);
    assert!(page.contains("must be a JSON object"), "{page}");
    let (status, _) = post("path=reminders%3Afire&args=%7B%7D".to_owned(), None).await;
    assert_eq!(status, 403);
    let (status, _) = post(
        "path=reminders%3Afire&args=%7B%7D".to_owned(),
        Some("http://evil.example".to_owned()),
    )
    .await;
    assert_eq!(status, 403);
}

/// Insert, edit and delete from the data browser are real commits: a subscribed socket sees
/// each one; an edit that breaks the table's validator is refused with its message.
#[tokio::test(flavor = "multi_thread")]
async fn data_browser_edits_are_commits_that_subscribers_see_and_the_validator_checks() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let ws_url = format!("{}/api/sync", server.url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let send_ws = |v: serde_json::Value| Message::Text(v.to_string().into());
    ws.send(send_ws(json!({"type": "Connect", "sessionId": "7d2c5a1e-8f3d-4c2a-9e1b-7a6d5c4b3a21", "connectionCount": 0, "lastCloseReason": null, "clientTs": 0}))).await.unwrap();
    ws.send(send_ws(json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [{"type": "Add", "queryId": 0, "udfPath": "messages:list", "args": [{"channel": "edit"}]}]}))).await.unwrap();
    // The bodies the subscription shows next (skipping Transitions that change nothing).
    type Ws = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;
    async fn seen(ws: &mut Ws) -> Vec<String> {
        loop {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                .await
                .expect("a Transition within 10 s")
                .unwrap()
                .unwrap();
            let Message::Text(t) = frame else { continue };
            let msg: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            if let Some(m) = msg["modifications"].as_array().and_then(|m| m.first()) {
                return m["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["body"].as_str().unwrap().to_owned())
                    .collect();
            }
        }
    }
    assert_eq!(seen(&mut ws).await, Vec::<String>::new());
    let origin = server.url.clone();
    let form = |fields: serde_json::Value| {
        let encoded: String = fields
            .to_string()
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("fields={encoded}").into_bytes()
    };
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", origin.as_str()),
    ];
    let (status, answer, _) = send(
        "POST",
        &format!("{}/_dashboard/data/messages/insert", server.url),
        form(json!({"channel": "edit", "author": "dash", "body": "inserted"})),
        &headers,
    )
    .await;
    assert_eq!(status, 303);
    let doc_page = answer["location"].to_str().unwrap().to_owned();
    assert_eq!(seen(&mut ws).await, ["inserted"]);
    let (status, _, _) = send(
        "POST",
        &format!("{}{doc_page}/edit", server.url),
        form(json!({"channel": "edit", "author": "dash", "body": "edited"})),
        &headers,
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(seen(&mut ws).await, ["edited"]);
    // The validator refuses a number for `body`, and nothing changes.
    let (status, _, page) = send(
        "POST",
        &format!("{}{doc_page}/edit", server.url),
        form(json!({"channel": "edit", "author": "dash", "body": 5})),
        &headers,
    )
    .await;
    assert_eq!(status, 400);
    let refused = String::from_utf8_lossy(&page);
    assert!(refused.contains("does not match the schema"), "{refused}");
    // The document's page again, with what was typed still in the edit box.
    assert!(
        refused.contains("role=\"alert\"") && refused.contains("&quot;body&quot;:5"),
        "{refused}"
    );
    let (_, shown) = get(&server, &doc_page).await;
    assert!(shown.contains("edited"));
    // From another origin: refused.
    let (status, _, _) = send(
        "POST",
        &format!("{}{doc_page}/delete", server.url),
        Vec::new(),
        &[("origin", "http://evil.example")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = send(
        "POST",
        &format!("{}{doc_page}/delete", server.url),
        Vec::new(),
        &headers,
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(seen(&mut ws).await, Vec::<String>::new());
}

/// Filtering a table by a field: JSON or plain text, a dotted path, nothing matched.
#[tokio::test(flavor = "multi_thread")]
async fn the_data_browser_filters_a_table_by_a_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for (author, body) in [("ada", "one"), ("bob", "two"), ("ada", "three")] {
        call(
            &server,
            "mutation",
            "messages:send",
            json!({ "channel": "filter", "author": author, "body": body }),
        )
        .await;
    }
    let rows = |page: &str| {
        page.matches("<tr><td><a href=\"/_dashboard/data/messages/")
            .count()
    };
    let (status, page) = get(
        &server,
        "/_dashboard/data/messages?field=author&equals=%22ada%22",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(rows(&page), 2, "{page}");
    assert!(page.contains("three") && page.contains("one") && !page.contains("two"));
    // Plain text is taken as a string.
    let (_, page) = get(&server, "/_dashboard/data/messages?field=body&equals=two").await;
    assert_eq!(rows(&page), 1);
    let (_, page) = get(
        &server,
        "/_dashboard/data/messages?field=body&equals=nothing",
    )
    .await;
    assert_eq!(rows(&page), 0);
    assert!(page.contains("No documents."));
    // A field an index starts with reads that index's range, page by page.
    for i in 0..60 {
        call(
            &server,
            "mutation",
            "messages:send",
            json!({ "channel": "ranged", "author": "r", "body": format!("ranged {i}") }),
        )
        .await;
    }
    let (_, page) = get(
        &server,
        "/_dashboard/data/messages?field=channel&equals=ranged",
    )
    .await;
    assert!(page.contains("index <code>by_channel</code>"), "{page}");
    assert_eq!(rows(&page), 50, "one page");
    assert!(page.contains("ranged 59") && !page.contains("three"));
    let next = page
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next link that keeps the filter")
        .replace("&amp;", "&");
    assert!(next.contains("field=channel"), "{next}");
    let (_, page) = get(&server, &next).await;
    assert_eq!(rows(&page), 10, "the rest of the range: {page}");
    assert!(page.contains("ranged 0") && !page.contains("one"));
}
