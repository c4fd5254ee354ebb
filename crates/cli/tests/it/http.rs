//! The HTTP API end to end: a real `ferrovex serve` process on a real SQLite file, driven over
//! HTTP, with the CLI, and with the official npm `convex` HTTP client.

use std::process::Command;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value as Json, json};

use crate::common::{Server, call, client, post, send};

async fn list(server: &Server, channel: &str) -> Vec<Json> {
    let reply = call(
        server,
        "query",
        "messages:list",
        json!({ "channel": channel }),
    )
    .await;
    assert_eq!(reply["status"], "success", "{reply}");
    reply["value"].as_array().unwrap().clone()
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    call(
        &server,
        "mutation",
        "messages:send",
        json!({"channel": "bad", "author": "a", "body": "kept"}),
    )
    .await;
    let mutation = format!("{}/api/mutation", server.url);
    let huge = format!(
        r#"{{"path":"messages:send","args":[{{"channel":"bad","author":"a","body":"{}"}}]}}"#,
        "x".repeat(9 << 20)
    );
    // (body, expected HTTP status, expected code or errorMessage prefix)
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "BadJsonBody"),
        ("[1,2]".into(), 400, "BadJsonBody"),
        (r#"{"args":[{}]}"#.into(), 400, "BadJsonBody"),
        (r#"{"path":"messages:send","args":"hello"}"#.into(), 400, "InvalidArgs"),
        (r#"{"path":"messages:send","args":[1]}"#.into(), 400, "InvalidArgs"),
        (r#"{"path":"messages:send","args":[{},{}]}"#.into(), 400, "InvalidArgs"),
        (r#"{"path":"messages:send","args":{"channel":"bad","author":"a","body":"x","$bad":1}}"#.into(), 400, "InvalidArgs"),
        (r#"{"path":"messages:send","args":{"channel":"bad","author":"a","body":"x","caf\u00e9":1}}"#.into(), 400, "InvalidArgs"),
        (format!(r#"{{"path":"messages:send","args":{{"channel":"bad","author":"a","body":{}}}}}"#, nested(70)), 400, "InvalidArgs"),
        (format!(r#"{{"path":"messages:send","args":{{"channel":"bad","author":"a","body":{}}}}}"#, nested(300)), 400, "BadJsonBody"),
        (r#"{"path":"../etc:passwd","args":{}}"#.into(), 400, "InvalidPath"),
        (r#"{"path":"messages:send","args":{},"format":"xml"}"#.into(), 400, "BadFormat"),
        (huge, 413, "PayloadTooLarge"),
        (r#"{"path":"messages:send","args":{"channel":"bad","author":"a","body":5}}"#.into(), 200, "ArgumentValidationError"),
        (r#"{"path":"messages:send","args":{"channel":"bad","author":"a"}}"#.into(), 200, "ArgumentValidationError"),
        (r#"{"path":"messages:send","args":{"channel":"bad","author":"a","body":"x","extra":1}}"#.into(), 200, "ArgumentValidationError"),
        (r#"{"path":"messages:nothere","args":{}}"#.into(), 200, "Could not find public function"),
        (r#"{"path":"messages:list","args":{}}"#.into(), 200, "Trying to execute messages:list as Mutation"),
    ];
    for (body, status, expected) in cases {
        let shown: String = body.chars().take(80).collect();
        let (got_status, reply) = post(&mutation, body).await;
        assert_eq!(got_status, status, "{shown}: {reply}");
        if status == 200 {
            assert_eq!(reply["status"], "error", "{shown}: {reply}");
            let msg = reply["errorMessage"].as_str().unwrap();
            assert!(msg.starts_with(expected), "{shown}: {msg}");
        } else {
            assert_eq!(reply["code"], expected, "{shown}: {reply}");
            assert!(!reply["message"].as_str().unwrap().is_empty());
        }
    }
    let messages = list(&server, "bad").await;
    assert_eq!(
        messages.len(),
        1,
        "nothing was written by bad requests: {messages:?}"
    );
    // GET /api/query with bad args is refused too; the server still answers afterwards.
    let (status, _, _) = send(
        "GET",
        &format!("{}/api/query?path=messages:list&args=%7Bnope", server.url),
        vec![],
        &[],
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, body) = send(
        "GET",
        &format!(
            "{}/api/query?path=messages:list&args=%7B%22channel%22:%22bad%22%7D",
            server.url
        ),
        vec![],
        &[],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    server.interrupt();
}

#[tokio::test]
async fn data_survives_clean_shutdown_and_crash_with_increasing_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    call(
        &server,
        "mutation",
        "messages:send",
        json!({"channel": "r", "author": "a", "body": "one"}),
    )
    .await;
    server.interrupt();

    let server = Server::start(dir.path());
    assert_eq!(list(&server, "r").await.len(), 1);
    call(
        &server,
        "mutation",
        "messages:send",
        json!({"channel": "r", "author": "a", "body": "two"}),
    )
    .await;
    server.crash();

    let server = Server::start(dir.path());
    let messages = list(&server, "r").await;
    let bodies: Vec<&str> = messages
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["one", "two"], "a committed write survives a crash");
    call(
        &server,
        "mutation",
        "messages:send",
        json!({"channel": "r", "author": "a", "body": "three"}),
    )
    .await;
    let times: Vec<f64> = list(&server, "r")
        .await
        .iter()
        .map(|m| m["_creationTime"].as_f64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "creation times increase across restarts: {times:?}"
    );
    server.interrupt();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_http_clients_incrementing_250_times_end_at_2000() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let url = format!("{}/api/mutation", server.url);
    let body = json!({"path": "counter:increment", "args": [{"name": "race"}], "format": "convex_encoded_json"}).to_string();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (url, body) = (url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let client = client();
            for _ in 0..250 {
                let req = hyper::Request::post(&url)
                    .body(Full::new(Bytes::from(body.clone())))
                    .unwrap();
                let resp = client.request(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                let bytes = resp.into_body().collect().await.unwrap().to_bytes();
                let reply: Json = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(reply["status"], "success", "{reply}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let reply = call(&server, "query", "counter:get", json!({"name": "race"})).await;
    // 2000 as a little-endian int64 in base64.
    assert_eq!(
        reply["value"],
        json!({"name": "race", "value": {"$integer": "0AcAAAAAAAA="}}),
        "{reply}"
    );
    server.interrupt();
}

#[tokio::test]
async fn run_subcommand_prints_the_result_and_fails_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let exe = env!("CARGO_BIN_EXE_ferrovex");
    let out = Command::new(exe)
        .args([
            "run",
            "--url",
            &server.url,
            "messages:send",
            r#"{"author":"cli","body":"from the cli","channel":"cli"}"#,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(exe)
        .args([
            "run",
            "--url",
            &server.url,
            "messages:list",
            r#"{"channel":"cli"}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed[0]["body"], "from the cli");
    let out = Command::new(exe)
        .args(["run", "--url", &server.url, "counter:increment"])
        .env("FERROVEX_URL", "http://unused")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "int64 prints as a plain integer"
    );
    // A typed `5` where the function wants an int64 is converted.
    let out = Command::new(exe)
        .args([
            "run",
            "--url",
            &server.url,
            "counter:increment",
            r#"{"by":5}"#,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "6");
    let out = Command::new(exe)
        .args(["run", "--encoded", "--url", &server.url, "counter:get"])
        .output()
        .unwrap();
    let encoded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        encoded["value"],
        serde_json::json!({"$integer": "BgAAAAAAAAA="}),
        "--encoded stays lossless"
    );
    let out = Command::new(exe)
        .args([
            "run",
            "--url",
            &server.url,
            "messages:send",
            r#"{"author":"cli","body":""}"#,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_BODY"));
    server.interrupt();
}

#[tokio::test]
async fn browser_callers_get_cors_preflight_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (status, headers, _) = send(
        "OPTIONS",
        &format!("{}/api/query", server.url),
        vec![],
        &[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,convex-client,authorization",
            ),
        ],
    )
    .await;
    assert!(status == 200 || status == 204, "{status}");
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("convex-client") && allowed.contains("authorization"),
        "{allowed}"
    );
    server.interrupt();
}

#[tokio::test]
async fn official_convex_http_client_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    crate::common::run_node_suite(
        "http_client.test.mjs",
        "convex",
        &[("CONVEX_URL", &server.url)],
        71,
    )
    .await;
    server.interrupt();
}
