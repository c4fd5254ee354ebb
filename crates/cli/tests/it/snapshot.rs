//! `ferrovex export` / `import` against real deployments: a snapshot taken while one serves
//! moves it from SQLite to PostgreSQL and back with every document, `_id` and `_creationTime`
//! kept; the export and import endpoints refuse callers without the admin key and bound what
//! they accept.

use serde_json::json;

use crate::common::{Server, call, send};

fn ferrovex(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ferrovex"))
        .args(args)
        .env_remove("FERROVEX_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `messages` lines of an archive, sorted.
fn messages(zip: &std::path::Path) -> Vec<String> {
    let file = std::fs::File::open(zip).unwrap();
    let reader = ferrovex_snapshot::zip_read::ZipReader::open(file).unwrap();
    let entry = reader.find("messages/documents.jsonl").unwrap().clone();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut reader.open_entry(&entry).unwrap(), &mut text).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_moves_from_sqlite_to_postgres_and_back_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("sqlite");
    let server = Server::start(&sqlite);
    for i in 0..25 {
        let reply = call(
            &server,
            "mutation",
            "messages:send",
            json!({ "channel": "move", "author": "m", "body": format!("moving {i}") }),
        )
        .await;
        assert_eq!(reply["status"], "success", "{reply}");
    }
    // Exported while the deployment keeps serving.
    let first = dir.path().join("first.zip");
    let printed = ok(&ferrovex(&[
        "export",
        "--path",
        first.to_str().unwrap(),
        "--data-dir",
        sqlite.to_str().unwrap(),
    ]));
    assert!(printed.contains("exported 25 documents"), "{printed}");
    let again = ferrovex(&[
        "export",
        "--path",
        first.to_str().unwrap(),
        "--data-dir",
        sqlite.to_str().unwrap(),
    ]);
    assert!(!again.status.success(), "an export never overwrites a file");
    drop(server);

    let (_cluster, url) = crate::scaleout::cluster();
    let printed = ok(&ferrovex(&[
        "import",
        first.to_str().unwrap(),
        "--database-url",
        &url,
    ]));
    assert!(printed.contains("imported 25 documents"), "{printed}");
    // The PostgreSQL deployment serves what was imported.
    let pg = Server::start_with(&dir.path().join("pg"), 0, &["--database-url", &url], &[]);
    let listed = call(&pg, "query", "messages:list", json!({ "channel": "move" })).await;
    let text = listed["value"].to_string();
    assert!(
        text.contains("moving 0") && text.contains("moving 24"),
        "{text}"
    );
    drop(pg);

    let second = dir.path().join("second.zip");
    ok(&ferrovex(&[
        "export",
        "--path",
        second.to_str().unwrap(),
        "--database-url",
        &url,
    ]));
    let back = dir.path().join("back");
    ok(&ferrovex(&[
        "import",
        second.to_str().unwrap(),
        "--data-dir",
        back.to_str().unwrap(),
    ]));
    let third = dir.path().join("third.zip");
    ok(&ferrovex(&[
        "export",
        "--path",
        third.to_str().unwrap(),
        "--data-dir",
        back.to_str().unwrap(),
    ]));
    let original = messages(&first);
    assert_eq!(original.len(), 25);
    assert_eq!(original, messages(&second), "SQLite → PostgreSQL");
    assert_eq!(original, messages(&third), "PostgreSQL → SQLite");

    // Into tables that hold documents: refused and nothing written, unless --replace.
    let refused = ferrovex(&[
        "import",
        third.to_str().unwrap(),
        "--data-dir",
        back.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("not empty"),
        "{stderr}"
    );
    let printed = ok(&ferrovex(&[
        "import",
        third.to_str().unwrap(),
        "--replace",
        "--data-dir",
        back.to_str().unwrap(),
    ]));
    assert!(
        printed.contains("messages: 25 documents (replaced 25)"),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_snapshot_endpoints_need_the_admin_key_and_bound_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let key = std::fs::read_to_string(dir.path().join("admin_key")).unwrap();
    let auth = format!("Convex {}", key.trim());
    for (method, path) in [
        ("POST", "/api/export/request/zip"),
        ("GET", "/api/export/zip/1"),
        ("POST", "/api/import/start_upload"),
        ("POST", "/api/update_environment_variables"),
        ("GET", "/api/stream_function_logs?cursor=0"),
    ] {
        let url = format!("{}{path}", server.url);
        let (status, _, body) = send(method, &url, Vec::new(), &[]).await;
        assert_eq!(status, 401, "{path}: {}", String::from_utf8_lossy(&body));
        let (status, _, _) = send(
            method,
            &url,
            Vec::new(),
            &[("authorization", "Convex wrong-key-123456")],
        )
        .await;
        assert_eq!(status, 401, "{path} with a wrong key");
    }
    // File storage is not exported yet: asking for it is refused, not ignored.
    let (status, _, body) = send(
        "POST",
        &format!("{}/api/export/request/zip?includeStorage=true", server.url),
        Vec::new(),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("ExportStorageUnsupported"));
    let (status, _, body) = send(
        "POST",
        &format!("{}/api/import/start_upload", server.url),
        Vec::new(),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(status, 200);
    let token = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["uploadToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let part = |n: &str, size: usize| {
        let url = format!(
            "{}/api/import/upload_part?uploadToken={token}&partNumber={n}",
            server.url
        );
        let auth = auth.clone();
        async move {
            send(
                "POST",
                &url,
                vec![b'x'; size],
                &[
                    ("authorization", &auth),
                    ("content-type", "application/octet-stream"),
                ],
            )
            .await
            .0
        }
    };
    assert_eq!(part("1", 1024).await, 200);
    assert_eq!(part("0", 10).await, 400, "part numbers start at 1");
    assert_eq!(part("10000", 10).await, 400, "at most 9999 parts");
    assert_eq!(
        part("2", (32 << 20) + 1).await,
        413,
        "a part is at most 32 MiB"
    );
    // A broken upload is refused at finish_upload with the reason, and no import is recorded.
    let (status, _, body) = send(
        "POST",
        &format!("{}/api/import/finish_upload", server.url),
        json!({ "import": { "format": "zip", "mode": "requireEmpty" }, "uploadToken": token, "partTokens": ["1"] })
            .to_string()
            .into_bytes(),
        &[("authorization", &auth), ("content-type", "application/json")],
    )
    .await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("InvalidImport"), "{body}");
    let (status, _, _) = send(
        "POST",
        &format!(
            "{}/api/import/upload_part?uploadToken=00000000000000000000000000000000&partNumber=1",
            server.url
        ),
        b"x".to_vec(),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(status, 400, "an unknown upload token");
}
