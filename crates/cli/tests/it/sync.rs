//! The sync WebSocket end to end: raw protocol frames (versions, bad input, limits, slow
//! clients, mutation deduplication) and the official `convex` Rust crate as a client.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::common::{Server, call, port_of, send};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const ZERO_TS: &str = "AAAAAAAAAAA=";

async fn connect(server: &Server) -> Ws {
    let url = format!("{}/api/1.48.0/sync", server.url.replace("http://", "ws://"));
    let (ws, _) = connect_async(url).await.expect("websocket connect");
    ws
}

async fn send_json(ws: &mut Ws, msg: Json) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .expect("send");
}

/// The next JSON message (skipping pings), or `None` when the socket closed.
async fn next_json(ws: &mut Ws) -> Option<Json> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("timed out waiting for a message");
        match frame {
            Some(Ok(Message::Text(t))) => {
                let v: Json = serde_json::from_str(t.as_str()).expect("server sent JSON");
                if v["type"] != "Ping" {
                    return Some(v);
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

fn connect_msg(session: &str) -> Json {
    json!({"type": "Connect", "sessionId": session, "connectionCount": 0, "lastCloseReason": "InitialConnect", "clientTs": 0})
}

fn add(base: u32, query_id: u32, path: &str, args: Json) -> Json {
    json!({"type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + 1,
           "modifications": [{"type": "Add", "queryId": query_id, "udfPath": path, "args": [args]}]})
}

const SESSION: &str = "6b2c5a1e-8f3d-4c2a-9e1b-7a6d5c4b3a21";

#[tokio::test]
async fn transitions_chain_versions_and_push_writes_from_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut ws = connect(&server).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    send_json(&mut ws, add(0, 0, "messages:list", json!({"channel": "v"}))).await;
    let t1 = next_json(&mut ws).await.unwrap();
    assert_eq!(t1["type"], "Transition", "{t1}");
    assert_eq!(
        t1["startVersion"],
        json!({"querySet": 0, "identity": 0, "ts": ZERO_TS})
    );
    assert_eq!(t1["endVersion"]["querySet"], 1);
    assert_eq!(t1["modifications"][0]["type"], "QueryUpdated");
    assert_eq!(t1["modifications"][0]["value"], json!([]));
    assert!(t1["modifications"][0]["logLines"].is_array());
    assert!(
        t1.get("clientClockSkew").is_none_or(|v| v.is_number()),
        "never null: {t1}"
    );
    assert!(
        t1["serverTs"].is_u64(),
        "an integer: the Rust client parses it as i64"
    );

    call(
        &server,
        "mutation",
        "messages:send",
        json!({"channel": "v", "author": "h", "body": "over http"}),
    )
    .await;
    let t2 = next_json(&mut ws).await.unwrap();
    assert_eq!(
        t2["startVersion"], t1["endVersion"],
        "each Transition starts where the last ended"
    );
    assert_eq!(t2["modifications"][0]["value"][0]["body"], "over http");

    // A write to another channel sends nothing to this socket; the next message is the
    // Transition for the next write to this channel.
    call(
        &server,
        "mutation",
        "messages:send",
        json!({"channel": "other", "author": "h", "body": "x"}),
    )
    .await;
    call(
        &server,
        "mutation",
        "messages:send",
        json!({"channel": "v", "author": "h", "body": "second"}),
    )
    .await;
    let t3 = next_json(&mut ws).await.unwrap();
    assert_eq!(t3["startVersion"], t2["endVersion"]);
    assert_eq!(t3["modifications"][0]["value"].as_array().unwrap().len(), 2);
    server.interrupt();
}

#[tokio::test]
async fn mutation_response_precedes_a_transition_reaching_its_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut ws = connect(&server).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    send_json(&mut ws, json!({"type": "Mutation", "requestId": 0, "udfPath": "counter:increment", "args": [{"name": "m"}]})).await;
    let resp = next_json(&mut ws).await.unwrap();
    assert_eq!(resp["type"], "MutationResponse", "{resp}");
    assert_eq!(resp["success"], true);
    assert_eq!(resp["result"], json!({"$integer": "AQAAAAAAAAA="}));
    let ts = crate_ts(&resp["ts"]);
    let t = next_json(&mut ws).await.unwrap();
    assert_eq!(t["type"], "Transition");
    assert!(crate_ts(&t["endVersion"]["ts"]) >= ts);
    // A failing mutation is answered too, with errorData, and followed by a Transition.
    send_json(&mut ws, json!({"type": "Mutation", "requestId": 1, "udfPath": "messages:send", "args": [{"author": "a", "body": ""}]})).await;
    let resp = next_json(&mut ws).await.unwrap();
    assert_eq!(resp["success"], false);
    assert_eq!(resp["errorData"], json!({"code": "INVALID_BODY"}));
    assert!(resp["logLines"].is_array());
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "Transition");
    // Subscribed to what its mutations write, the socket still gets each MutationResponse
    // before any Transition carrying the write (clients drop optimistic updates on that
    // order), however the commit notification and the mutation's completion race.
    send_json(
        &mut ws,
        add(0, 7, "counter:get", json!({"name": "watched"})),
    )
    .await;
    let first = next_json(&mut ws).await.unwrap();
    assert_eq!(first["modifications"][0]["type"], "QueryUpdated", "{first}");
    for i in 0..40 {
        send_json(&mut ws, json!({"type": "Mutation", "requestId": 10 + i, "udfPath": "counter:increment", "args": [{"name": "watched"}]})).await;
        let resp = next_json(&mut ws).await.unwrap();
        assert_eq!(resp["type"], "MutationResponse", "round {i}: {resp}");
        let t = next_json(&mut ws).await.unwrap();
        assert_eq!(t["type"], "Transition", "{t}");
        assert_eq!(
            t["modifications"][0]["value"]["value"],
            ferrovex_values::Value::Int64(i64::from(i) + 1).to_convex_json(),
            "round {i}: {t}"
        );
    }
    server.interrupt();
}

/// Pipelined: 20 mutations sent back to back, 50 times. No Transition may carry a write whose
/// MutationResponse has not arrived: the counter it shows never exceeds the responses seen.
#[tokio::test]
async fn pipelined_mutations_are_each_answered_before_a_transition_shows_their_write() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut ws = connect(&server).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    send_json(&mut ws, add(0, 1, "counter:get", json!({"name": "piped"}))).await;
    let first = next_json(&mut ws).await.unwrap();
    assert_eq!(first["type"], "Transition", "{first}");
    let value_of = |t: &Json| -> Option<i64> {
        let m = t["modifications"]
            .as_array()?
            .iter()
            .find(|m| m["type"] == "QueryUpdated")?;
        match ferrovex_values::Value::from_convex_json(&m["value"]["value"]).ok()? {
            ferrovex_values::Value::Int64(n) => Some(n),
            _ => None,
        }
    };
    let mut answered = 0i64;
    let mut request = 0u32;
    for round in 0..50 {
        for _ in 0..20 {
            send_json(&mut ws, json!({"type": "Mutation", "requestId": request, "udfPath": "counter:increment", "args": [{"name": "piped"}]})).await;
            request += 1;
        }
        let target = (round + 1) * 20;
        let mut last_ts = 0;
        let mut shown = -1;
        while answered < target || shown < target {
            let msg = next_json(&mut ws).await.expect("the socket ended");
            match msg["type"].as_str() {
                Some("MutationResponse") => {
                    assert_eq!(msg["success"], true, "{msg}");
                    answered += 1;
                    last_ts = crate_ts(&msg["ts"]);
                }
                Some("Transition") => {
                    if let Some(v) = value_of(&msg) {
                        assert!(
                            v <= answered,
                            "round {round}: a Transition shows {v} increments after only {answered} MutationResponses"
                        );
                        shown = v;
                    }
                    if answered == target {
                        assert!(crate_ts(&msg["endVersion"]["ts"]) >= last_ts || shown < target);
                    }
                }
                _ => {}
            }
        }
    }
    server.interrupt();
}

/// D4: the arguments a socket's subscriptions hold are bounded in total (16 MiB), not only
/// per frame; removing a query gives its share back.
#[tokio::test]
async fn the_arguments_of_a_sockets_subscriptions_are_bounded_in_total() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut ws = connect(&server).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    let big = "x".repeat(3 << 20);
    let mut version = 0;
    let mut add_big = |id: u32| {
        version += 1;
        json!({"type": "ModifyQuerySet", "baseVersion": version - 1, "newVersion": version,
               "modifications": [{"type": "Add", "queryId": id, "udfPath": "messages:list", "args": [{"channel": big}]}]})
    };
    // Five of 3 MiB fit (15 MiB); one is removed, so a sixth fits too.
    for id in 0..5 {
        let frame = add_big(id);
        send_json(&mut ws, frame).await;
        assert_eq!(next_json(&mut ws).await.unwrap()["type"], "Transition");
    }
    send_json(
        &mut ws,
        json!({"type": "ModifyQuerySet", "baseVersion": 5, "newVersion": 6,
        "modifications": [{"type": "Remove", "queryId": 0}]}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "Transition");
    version = 6;
    let frame = json!({"type": "ModifyQuerySet", "baseVersion": version, "newVersion": version + 1,
        "modifications": [{"type": "Add", "queryId": 5, "udfPath": "messages:list", "args": [{"channel": "x".repeat(3 << 20)}]}]});
    send_json(&mut ws, frame).await;
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "Transition");
    // One more is over the total: a FatalError naming the limit, then the close.
    let frame = json!({"type": "ModifyQuerySet", "baseVersion": version + 1, "newVersion": version + 2,
        "modifications": [{"type": "Add", "queryId": 6, "udfPath": "messages:list", "args": [{"channel": "x".repeat(3 << 20)}]}]});
    send_json(&mut ws, frame).await;
    let msg = next_json(&mut ws).await.unwrap();
    assert_eq!(msg["type"], "FatalError", "{msg}");
    assert!(
        msg["error"]
            .as_str()
            .unwrap()
            .starts_with("QueryArgumentsTooLarge"),
        "{msg}"
    );
    // Other sockets are unaffected.
    let reply = call(&server, "query", "messages:list", json!({})).await;
    assert_eq!(reply["status"], "success", "{reply}");
    server.interrupt();
}

fn crate_ts(v: &Json) -> u64 {
    ferrovex_server::sync::decode_u64(v.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_resent_mutation_is_answered_without_running_twice() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mutation = json!({"type": "Mutation", "requestId": 7, "udfPath": "counter:increment", "args": [{"name": "dedup"}]});
    let mut ws = connect(&server).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    send_json(&mut ws, mutation.clone()).await;
    let first = next_json(&mut ws).await.unwrap();
    drop(ws);
    // Reconnect with the same session id and re-send the same request id, across a restart.
    let port = port_of(&server.url);
    server.interrupt();
    let server = Server::start_on(dir.path(), port);
    let mut ws = connect(&server).await;
    send_json(&mut ws, json!({"type": "Connect", "sessionId": SESSION, "connectionCount": 1, "lastCloseReason": null, "clientTs": 0, "maxObservedTimestamp": first["ts"]})).await;
    send_json(&mut ws, mutation).await;
    let second = next_json(&mut ws).await.unwrap();
    assert_eq!(second["result"], first["result"]);
    assert_eq!(second["ts"], first["ts"]);
    let reply = call(&server, "query", "counter:get", json!({"name": "dedup"})).await;
    assert_eq!(
        reply["value"]["value"],
        json!({"$integer": "AQAAAAAAAAA="}),
        "applied exactly once"
    );
    // The same request id from another session is a different mutation.
    let mut other = connect(&server).await;
    send_json(
        &mut other,
        connect_msg("0b2c5a1e-8f3d-4c2a-9e1b-7a6d5c4b3a21"),
    )
    .await;
    send_json(&mut other, json!({"type": "Mutation", "requestId": 7, "udfPath": "counter:increment", "args": [{"name": "dedup"}]})).await;
    assert_eq!(
        next_json(&mut other).await.unwrap()["result"],
        json!({"$integer": "AgAAAAAAAAA="})
    );
    server.interrupt();
}

/// Each bad frame gets a FatalError and a close reason, and other sockets keep working.
#[tokio::test]
async fn bad_frames_close_only_the_offending_socket() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut healthy = connect(&server).await;
    send_json(&mut healthy, connect_msg(SESSION)).await;
    send_json(
        &mut healthy,
        add(0, 0, "messages:list", json!({"channel": "healthy"})),
    )
    .await;
    let mut last = next_json(&mut healthy).await.unwrap();

    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["{not json".into()], "MalformedMessage"),
        (vec![json!({"type": "Teleport"}).to_string()], "MalformedMessage"),
        (vec![json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1}).to_string()], "MalformedMessage"),
        (vec![add(5, 0, "messages:list", json!({})).to_string()], "BaseVersionMismatch"),
        (vec![add(0, 0, "messages:list", json!({})).to_string(), add(1, 0, "messages:list", json!({})).to_string()], "QueryIdInUse"),
        (vec![json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [{"type": "Remove", "queryId": 3}]}).to_string()], "UnknownQueryId"),
        (vec![json!({"type": "Authenticate", "baseVersion": 4, "tokenType": "None"}).to_string()], "IdentityVersionMismatch"),
    ];
    for (frames, reason) in cases {
        let mut ws = connect(&server).await;
        send_json(&mut ws, connect_msg(SESSION)).await;
        for f in frames {
            ws.send(Message::Text(f.into())).await.unwrap();
        }
        let mut saw_fatal = false;
        let mut close = None;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .unwrap()
            {
                Some(Ok(Message::Text(t))) => {
                    let v: Json = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] == "FatalError" {
                        assert!(v["error"].as_str().unwrap().starts_with(reason), "{v}");
                        saw_fatal = true;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    close = frame.map(|f| f.reason.to_string());
                    break;
                }
                None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
        assert!(saw_fatal, "FatalError for {reason}");
        assert!(
            close.unwrap_or_default().starts_with(reason),
            "close reason for {reason}"
        );
        // The healthy socket still gets updates.
        call(
            &server,
            "mutation",
            "messages:send",
            json!({"channel": "healthy", "author": "a", "body": reason}),
        )
        .await;
        let t = next_json(&mut healthy).await.unwrap();
        assert_eq!(t["startVersion"], last["endVersion"]);
        last = t;
    }
    server.interrupt();
}

#[tokio::test]
async fn oversized_frames_and_too_many_subscriptions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    // A frame over the 8 MiB limit closes with 1009, every time, for a client that reads
    // while it is still sending (as browsers and Node's ws do): the server keeps the socket
    // open a moment after its close frame, so no reset overtakes it.
    for attempt in 0..5 {
        let mut ws = connect(&server).await;
        send_json(&mut ws, connect_msg(SESSION)).await;
        let big = json!({"type": "Mutation", "requestId": 0, "udfPath": "messages:send", "args": [{"author": "a", "body": "x".repeat(9 << 20)}]});
        let (mut tx, mut rx) = ws.split();
        let sending = tokio::spawn(async move {
            let _ = tx.send(Message::Text(big.to_string().into())).await;
            tx
        });
        let mut closed = None;
        while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(10), rx.next()).await {
            match frame {
                Ok(Message::Close(Some(frame))) => {
                    closed = Some((u16::from(frame.code), frame.reason.to_string()));
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    closed = Some((1006, e.to_string()));
                    break;
                }
            }
        }
        sending.abort();
        let (code, reason) = closed.expect("the socket ended without a close frame");
        assert_eq!(code, 1009, "attempt {attempt}: {reason}");
        assert!(reason.starts_with("MessageTooBig"), "{reason}");
    }
    // More than 1024 subscriptions on one socket.
    let mut ws = connect(&server).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    let mods: Vec<Json> = (0..1025)
        .map(|i| json!({"type": "Add", "queryId": i, "udfPath": "counter:get", "args": [{"name": format!("c{i}")}]}))
        .collect();
    send_json(
        &mut ws,
        json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": mods}),
    )
    .await;
    let msg = next_json(&mut ws).await.unwrap();
    assert_eq!(msg["type"], "FatalError");
    assert!(
        msg["error"]
            .as_str()
            .unwrap()
            .starts_with("TooManySubscriptions"),
        "{msg}"
    );
    // Nothing was written, and the server still answers.
    let reply = call(&server, "query", "messages:list", json!({})).await;
    assert_eq!(reply["value"], json!([]));
    server.interrupt();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    // 200 messages of 2000 characters: every Transition of this query is ~450 KB.
    for i in 0..200 {
        call(
            &server,
            "mutation",
            "messages:send",
            json!({"channel": "big", "author": "a", "body": format!("{i:04}{}", "y".repeat(1996))}),
        )
        .await;
    }
    let mut lazy = connect(&server).await;
    send_json(&mut lazy, connect_msg(SESSION)).await;
    send_json(
        &mut lazy,
        add(0, 0, "messages:list", json!({"channel": "big"})),
    )
    .await;
    // From now on `lazy` is never read. Keep writing until the server gives up on it.
    let metrics_url = format!("{}/metrics", server.url);
    let mut dropped = false;
    for i in 0..1500 {
        call(
            &server,
            "mutation",
            "messages:send",
            json!({"channel": "big", "author": "a", "body": format!("more {i}")}),
        )
        .await;
        let (_, _, body) = send("GET", &metrics_url, vec![], &[]).await;
        let text = String::from_utf8(body).unwrap();
        if text.lines().any(|l| l == "ferrovex_open_sockets 0") {
            eprintln!("dropped after {i} writes");
            dropped = true;
            break;
        }
    }
    let (_, _, body) = send("GET", &metrics_url, vec![], &[]).await;
    assert!(
        dropped,
        "the server must drop a socket whose outbound queue is full:\n{}",
        String::from_utf8_lossy(&body)
    );
    // Other clients are unaffected.
    let mut ws = connect(&server).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    send_json(&mut ws, add(0, 0, "counter:get", json!({}))).await;
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "Transition");
    drop(lazy);
    server.interrupt();
}

#[tokio::test]
async fn identity_changes_bump_the_identity_version_and_user_tokens_get_auth_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut ws = connect(&server).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    send_json(
        &mut ws,
        json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "None"}),
    )
    .await;
    let t = next_json(&mut ws).await.unwrap();
    assert_eq!(t["endVersion"]["identity"], 1, "{t}");
    send_json(&mut ws, json!({"type": "Authenticate", "baseVersion": 1, "tokenType": "User", "value": "not.a.jwt"})).await;
    let e = next_json(&mut ws).await.unwrap();
    assert_eq!(e["type"], "AuthError");
    assert_eq!(e["baseVersion"], 1);
    assert_eq!(e["authUpdateAttempted"], true);
    assert!(
        next_json(&mut ws).await.is_none(),
        "the socket closes after an AuthError"
    );
    server.interrupt();
}

#[tokio::test]
async fn dashboard_and_metrics_show_cached_and_fresh_executions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    call(
        &server,
        "query",
        "messages:list",
        json!({"channel": "dash"}),
    )
    .await;
    let mut ws = connect(&server).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    send_json(
        &mut ws,
        add(0, 0, "messages:list", json!({"channel": "dash"})),
    )
    .await;
    next_json(&mut ws).await.unwrap();
    // The stdout lines are read by another thread; give them a moment to arrive.
    let count = |lines: &[String]| {
        let fresh = lines
            .iter()
            .filter(|l| {
                l.starts_with("Q messages:list (HTTP API) success ") && !l.contains("cached")
            })
            .count();
        let cached = lines
            .iter()
            .filter(|l| l.as_str() == "Q messages:list (WebSocket) success (cached) 0ms")
            .count();
        (fresh, cached)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut lines = server.stdout.lock().clone();
    while count(&lines) != (1, 1) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        lines = server.stdout.lock().clone();
    }
    let (fresh, cached) = count(&lines);
    assert_eq!((fresh, cached), (1, 1), "{lines:#?}");
    let (status, _, body) = send(
        "GET",
        &format!("{}/_dashboard?kind=query&transport=ws", server.url),
        vec![],
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let html = String::from_utf8(body).unwrap();
    assert!(
        html.contains("messages:list") && html.contains("(cached)"),
        "{html}"
    );
    assert!(html.contains("active subscriptions"));
    let (_, _, body) = send(
        "GET",
        &format!("{}/_dashboard?fragment=1&transport=http", server.url),
        vec![],
        &[],
    )
    .await;
    let fragment = String::from_utf8(body).unwrap();
    assert!(
        !fragment.contains("<html") && !fragment.contains("(cached)"),
        "{fragment}"
    );
    let (_, _, body) = send("GET", &format!("{}/metrics", server.url), vec![], &[]).await;
    let metrics = String::from_utf8(body).unwrap();
    for needle in [
        "ferrovex_cache_hits_total 1",
        "ferrovex_open_sockets 1",
        "ferrovex_active_subscriptions 1",
        "ferrovex_execution_duration_seconds_bucket{kind=\"query\"",
    ] {
        assert!(metrics.contains(needle), "{needle} missing in\n{metrics}");
    }
    server.interrupt();
}

fn rust_args(channel: &str) -> BTreeMap<String, convex::Value> {
    BTreeMap::from([(
        "channel".to_owned(),
        convex::Value::String(channel.to_owned()),
    )])
}

fn bodies(result: &convex::FunctionResult) -> Vec<String> {
    match result {
        convex::FunctionResult::Value(convex::Value::Array(items)) => items
            .iter()
            .filter_map(|m| match m {
                convex::Value::Object(o) => match o.get("body") {
                    Some(convex::Value::String(s)) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        other => panic!("unexpected result {other:?}"),
    }
}

async fn next_bodies(sub: &mut convex::QuerySubscription) -> Vec<String> {
    let item = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("subscription update")
        .expect("stream open");
    bodies(&item)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_rust_client_subscribes_mutates_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let port = port_of(&server.url);
    let mut reader = convex::ConvexClient::new(&server.url).await.unwrap();
    let mut writer = convex::ConvexClient::new(&server.url).await.unwrap();
    let mut sub = reader
        .subscribe("messages:list", rust_args("rs"))
        .await
        .unwrap();
    assert_eq!(next_bodies(&mut sub).await, Vec::<String>::new());
    // A client that rejected the Transition would reconnect and re-run the query repeatedly.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reconnects = server
        .stdout
        .lock()
        .iter()
        .filter(|l| l.starts_with("Q messages:list"))
        .count();
    assert!(
        reconnects <= 1,
        "the Rust client accepted the first Transition without reconnecting ({reconnects} runs)"
    );

    let mut send_args = rust_args("rs");
    send_args.insert("author".into(), convex::Value::String("rust".into()));
    send_args.insert("body".into(), convex::Value::String("from rust".into()));
    let result = writer
        .mutation("messages:send", send_args.clone())
        .await
        .unwrap();
    assert!(
        matches!(
            result,
            convex::FunctionResult::Value(convex::Value::String(_))
        ),
        "{result:?}"
    );
    assert_eq!(next_bodies(&mut sub).await, vec!["from rust"]);
    // Read-your-writes right after the mutation resolves.
    let seen = writer
        .query("messages:list", rust_args("rs"))
        .await
        .unwrap();
    assert_eq!(bodies(&seen), vec!["from rust"]);
    // ConvexError data reaches the Rust client.
    let mut bad = send_args.clone();
    bad.insert("body".into(), convex::Value::String(String::new()));
    match writer.mutation("messages:send", bad).await.unwrap() {
        convex::FunctionResult::ConvexError(e) => {
            assert_eq!(
                e.data,
                convex::Value::Object(BTreeMap::from([(
                    "code".to_owned(),
                    convex::Value::String("INVALID_BODY".into())
                )]))
            );
        }
        other => panic!("expected a ConvexError, got {other:?}"),
    }
    // HTTP writes reach the Rust subscriber too.
    call(
        &server,
        "mutation",
        "messages:send",
        json!({"channel": "rs", "author": "h", "body": "from http"}),
    )
    .await;
    assert_eq!(next_bodies(&mut sub).await, vec!["from rust", "from http"]);

    // Crash and restart on the same port and data: the subscription resumes.
    server.crash();
    let server = Server::start_on(dir.path(), port);
    call(
        &server,
        "mutation",
        "messages:send",
        json!({"channel": "rs", "author": "h", "body": "after restart"}),
    )
    .await;
    let mut latest = Vec::new();
    for _ in 0..5 {
        let item = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
        let Ok(Some(item)) = item else {
            panic!(
                "no update after restart; server log: {:#?}",
                server.stdout.lock()
            );
        };
        latest = bodies(&item);
        if latest.len() == 3 {
            break;
        }
    }
    assert_eq!(latest, vec!["from rust", "from http", "after restart"]);
    drop(sub);
    drop(reader);
    drop(writer);
    server.interrupt();
}

/// The official npm `convex` ConvexClient (WebSocket) suite in `tests/compat/sync_client.test.mjs`:
/// live updates, read-your-writes, restarts, fan-out, precision and the cache. It starts its
/// own servers from this binary so that it can restart them.
#[tokio::test]
async fn official_convex_js_client_sync_suite_passes() {
    crate::common::run_node_suite("sync_client.test.mjs", "convex", &[], 14).await;
}

/// `ferrovex_foreign_commits_total` of a server.
async fn foreign_commits(server: &Server) -> u64 {
    let (_, _, metrics) = send("GET", &format!("{}/metrics", server.url), vec![], &[]).await;
    String::from_utf8(metrics)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("ferrovex_foreign_commits_total "))
        .and_then(|v| v.parse().ok())
        .expect("the foreign-commit counter")
}

/// Bodies of a `messages:list` result as the HTTP API returns it.
fn listed_bodies(reply: &Json) -> Vec<String> {
    reply["value"]
        .as_array()
        .map(|msgs| {
            msgs.iter()
                .filter_map(|m| m["body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_by_another_process_on_the_same_database_reach_subscribers_and_caches() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start_with(dir.path(), 0, &[], &[]);
    let b = Server::start_with(dir.path(), 0, &[], &[]);
    let args = json!({"channel": "shared"});
    // B caches the (empty) list and subscribes to it.
    assert!(listed_bodies(&call(&b, "query", "messages:list", args.clone()).await).is_empty());
    let mut ws = connect(&b).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    send_json(&mut ws, add(0, 1, "messages:list", args.clone())).await;
    let first = next_json(&mut ws).await.unwrap();
    assert_eq!(first["modifications"][0]["type"], "QueryUpdated", "{first}");
    // A second subscription on B, to a channel A does not write to.
    send_json(
        &mut ws,
        add(1, 2, "messages:list", json!({"channel": "untouched"})),
    )
    .await;
    let second = next_json(&mut ws).await.unwrap();
    assert_eq!(second["modifications"][0]["queryId"], 2, "{second}");
    // B's start-up wrote too (A may have noticed it): count from here.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a_foreign_before = foreign_commits(&a).await;
    // A writes 20 messages.
    for i in 0..20 {
        call(
            &a,
            "mutation",
            "messages:send",
            json!({"channel": "shared", "author": "a", "body": format!("from A {i}")}),
        )
        .await;
    }
    // B's subscriber sees them (within a poll interval or a few), without anyone writing on B.
    // Precisely: the commit log says what A wrote, so the other subscription never re-runs.
    let mut seen = 0;
    while seen < 20 {
        let t = next_json(&mut ws).await.expect("a Transition from B");
        for m in t["modifications"].as_array().unwrap() {
            assert_eq!(m["queryId"], 1, "A's write re-ran another query on B: {t}");
            if let Some(value) = m["value"].as_array() {
                seen = value.len();
            }
        }
    }
    // B's HTTP cache no longer serves the empty list.
    assert_eq!(
        listed_bodies(&call(&b, "query", "messages:list", args).await).len(),
        20
    );
    // A's own commits are never mistaken for another process's; B read each of A's.
    assert_eq!(foreign_commits(&a).await, a_foreign_before);
    assert!(foreign_commits(&b).await >= 20);
    // A write to the other channel reaches the other subscription.
    call(
        &a,
        "mutation",
        "messages:send",
        json!({"channel": "untouched", "author": "a", "body": "now touched"}),
    )
    .await;
    loop {
        let t = next_json(&mut ws).await.expect("a Transition from B");
        if t["modifications"][0]["queryId"] == 2 {
            assert_eq!(
                t["modifications"][0]["value"][0]["body"], "now touched",
                "{t}"
            );
            break;
        }
    }
    a.interrupt();
    b.interrupt();
}

/// A server shutting down closes its sync sockets with 1001 `ServerShutdown` (clients then
/// reconnect quietly), not an abnormal 1006.
#[tokio::test(flavor = "multi_thread")]
async fn a_clean_shutdown_closes_sync_sockets_with_1001() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut ws = connect(&server).await;
    send_json(&mut ws, connect_msg(SESSION)).await;
    send_json(&mut ws, add(0, 1, "counter:get", json!({"name": "bye"}))).await;
    assert_eq!(next_json(&mut ws).await.unwrap()["type"], "Transition");
    let stopping = tokio::task::spawn_blocking(move || server.interrupt());
    let mut close = None;
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        match frame {
            Ok(Message::Close(Some(frame))) => {
                close = Some((u16::from(frame.code), frame.reason.to_string()));
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("the socket failed instead of closing: {e}"),
        }
    }
    stopping.await.unwrap();
    assert_eq!(close, Some((1001, "ServerShutdown".to_owned())));
}
