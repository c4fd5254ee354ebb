//! File storage: the official-client and browser suite (`tests/compat/files.test.mjs`), and
//! crash safety: a `kill -9` in the middle of an upload leaves no half file under a real name,
//! and the restart removes the partial bytes.

use std::io::Write as _;
use std::time::Duration;

use serde_json::json;

use crate::common::{Server, call};

#[tokio::test(flavor = "multi_thread")]
async fn the_files_suite_passes_with_the_official_clients_and_chromium() {
    crate::common::run_node_suite("files.test.mjs", "puppeteer-core", &[], 7).await;
}

/// An upload URL from the demo's `files:generateUploadUrl`.
async fn upload_url(server: &Server) -> String {
    let reply = call(server, "mutation", "files:generateUploadUrl", json!({})).await;
    reply["value"].as_str().unwrap().to_owned()
}

/// An upload to `url` promising `length` bytes, of which `sent` are sent; the rest stays
/// pending until the socket is dropped.
fn start_upload(url: &str, length: usize, sent: usize) -> std::net::TcpStream {
    let (host, path) = url
        .strip_prefix("http://")
        .unwrap()
        .split_once('/')
        .unwrap();
    let mut socket = std::net::TcpStream::connect(host).unwrap();
    write!(
        socket,
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
    )
    .unwrap();
    socket.write_all(&vec![7u8; sent]).unwrap();
    socket.flush().unwrap();
    socket
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |e| e.count())
}

fn blobs(storage: &std::path::Path) -> usize {
    std::fs::read_dir(storage)
        .unwrap()
        .flatten()
        .filter(|d| d.file_name().len() == 2)
        .map(|d| count_files(&d.path()))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_mid_upload_leaves_no_half_file_and_the_restart_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let url = upload_url(&server).await;
    // Promise 8 MiB, send 1 MiB, and leave the rest pending.
    let socket = start_upload(&url, 8 << 20, 1 << 20);
    let storage = dir.path().join("storage");
    let tmp = storage.join("tmp");
    let mut waited = 0;
    while count_files(&tmp) == 0 && waited < 200 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        waited += 1;
    }
    assert_eq!(count_files(&tmp), 1, "the upload is being written to tmp/");
    server.crash();
    assert_eq!(
        blobs(&storage),
        0,
        "no half file is visible under a real name"
    );
    drop(socket);
    let restarted = Server::start(dir.path());
    assert_eq!(
        count_files(&tmp),
        0,
        "the restart removed the partial bytes"
    );
    assert_eq!(blobs(&storage), 0);
    // The deployment stores files normally afterwards.
    let listed = call(&restarted, "query", "files:list", json!({})).await;
    assert_eq!(listed["value"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_lists_stored_files_with_size_type_and_a_download_link() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let url = upload_url(&server).await;
    let (status, _, body) = crate::common::send(
        "POST",
        &url,
        vec![1u8; 3000],
        &[("content-type", "image/x-dashboard-test")],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["storageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, page) = crate::common::send(
        "GET",
        &format!("{}/_dashboard/files", server.url),
        Vec::new(),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&page);
    for expected in [id.as_str(), "image/x-dashboard-test", "2.9 KiB"] {
        assert!(page.contains(expected), "{expected:?} missing from\n{page}");
    }
    // The download link is the file's URL (a random token), which serves it; its id is not.
    let link = page
        .split("<a href=\"")
        .find_map(|rest| rest.strip_prefix("/api/storage/"))
        .and_then(|rest| rest.split('"').next())
        .expect("a download link");
    assert_ne!(link, id);
    let (status, _, got) = crate::common::send(
        "GET",
        &format!("{}/api/storage/{link}", server.url),
        Vec::new(),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got, vec![1u8; 3000]);
    let (status, _, _) = crate::common::send(
        "GET",
        &format!("{}/api/storage/{id}", server.url),
        Vec::new(),
        &[],
    )
    .await;
    assert_eq!(status, 404, "a storage id is not a URL");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_url_takes_one_upload_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let url = upload_url(&server).await;
    // The first upload is under way (headers and part of its body sent).
    let first = start_upload(&url, 1_000_000, 1000);
    let tmp = dir.path().join("storage").join("tmp");
    let mut waited = 0;
    while count_files(&tmp) == 0 && waited < 200 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        waited += 1;
    }
    // A second one in parallel is refused, and stores nothing.
    let (status, _, body) = crate::common::send(
        "POST",
        &url,
        b"second".to_vec(),
        &[("content-type", "text/plain")],
    )
    .await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("UploadUrlInUse"), "{body}");
    assert_eq!(count_files(&tmp), 1);
    // The first one broken off: its partial bytes are gone and the URL can be used.
    drop(first);
    let mut waited = 0;
    while count_files(&tmp) > 0 && waited < 200 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        waited += 1;
    }
    assert_eq!(count_files(&tmp), 0);
    let (status, _, body) = crate::common::send(
        "POST",
        &url,
        b"third".to_vec(),
        &[("content-type", "text/plain")],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}
