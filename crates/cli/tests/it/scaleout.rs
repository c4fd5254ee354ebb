//! Several instances on one PostgreSQL database (a throwaway cluster per test): the official
//! clients across instances (`tests/compat/scaleout_client.test.mjs`), and faults of the
//! database itself.

use std::time::Duration;

use ferrovex_store_postgres::testing::PgCluster;
use serde_json::{Value as Json, json};

use crate::common::{Server, call, run_node_suite};

pub(crate) fn cluster() -> (PgCluster, String) {
    let cluster = PgCluster::start().expect("a throwaway PostgreSQL cluster");
    let url = cluster.new_database().unwrap();
    (cluster, url)
}

fn on_postgres(dir: &std::path::Path, url: &str) -> Server {
    Server::start_with(dir, 0, &["--database-url", url], &[])
}

/// Precision, serializability and exactly-once across instances, with the official clients.
#[tokio::test]
async fn official_clients_across_three_instances_stay_precise_serializable_and_exactly_once() {
    let (_cluster, url) = cluster();
    run_node_suite(
        "scaleout_client.test.mjs",
        "convex",
        &[("FERROVEX_TEST_DATABASE_URL", &url)],
        3,
    )
    .await;
}

async fn bodies(server: &Server, channel: &str) -> Vec<String> {
    let reply = call(
        server,
        "query",
        "messages:list",
        json!({ "channel": channel }),
    )
    .await;
    reply["value"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"))
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect()
}

async fn send(server: &Server, channel: &str, body: &str) -> Json {
    call(
        server,
        "mutation",
        "messages:send",
        json!({"channel": channel, "author": "fault", "body": body}),
    )
    .await
}

/// Retries `f` until it succeeds (the instance reconnects to a restarted server).
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(std::time::Instant::now() < end, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_faults_lose_no_acknowledged_write_and_miss_no_invalidation() {
    let (cluster, url) = cluster();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = on_postgres(da.path(), &url);
    let b = on_postgres(db.path(), &url);
    for i in 0..20 {
        assert_eq!(
            send(&a, "f", &format!("before {i}")).await["status"],
            "success"
        );
    }
    // A crash restart of PostgreSQL: every acknowledged write is still there, and both
    // instances serve again once their connections are replaced.
    cluster.restart_immediate().unwrap();
    eventually("B reads after the restart", async || {
        call(&b, "query", "messages:list", json!({"channel": "f"})).await["status"] == "success"
    })
    .await;
    assert_eq!(
        bodies(&b, "f").await.len(),
        20,
        "an acknowledged write was lost"
    );
    eventually("A writes after the restart", async || {
        send(&a, "f", "after restart").await["status"] == "success"
    })
    .await;
    // B's cache saw the new write, read from the commit log.
    eventually("B to see A's write after the restart", async || {
        bodies(&b, "f").await.contains(&"after restart".to_owned())
    })
    .await;

    // Every Ferrovex connection killed by the server: nothing is missed afterwards.
    assert_eq!(bodies(&b, "g").await.len(), 0);
    let killed = cluster
        .psql(
            &url,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name LIKE 'ferrovex%'",
        )
        .unwrap();
    // Listeners and pooled connections (how many are open at this moment varies).
    assert!(killed.parse::<u32>().unwrap() >= 1, "{killed}");
    eventually("A writes after its connections were killed", async || {
        send(&a, "g", "after terminate").await["status"] == "success"
    })
    .await;
    eventually("B to see it", async || {
        bodies(&b, "g").await == vec!["after terminate".to_owned()]
    })
    .await;

    // A mutation on an instance that cannot reach the database fails and leaves no trace.
    cluster.stop().unwrap();
    let failed = send(&a, "h", "while down").await;
    assert_eq!(failed["status"], "error", "{failed}");
    cluster.start_again().unwrap();
    eventually("reads after the server is back", async || {
        call(&b, "query", "messages:list", json!({"channel": "h"})).await["status"] == "success"
    })
    .await;
    assert!(
        bodies(&b, "h").await.is_empty(),
        "the failed mutation left a trace"
    );
    a.interrupt();
    b.interrupt();
}

/// The official-client suites of the SQLite deployment, run again on a PostgreSQL-backed one:
/// the HTTP client (71 checks), the scheduler, HTTP actions (Node and Chromium) and the
/// WebSocket client (12, with restarts). Servers the suites start themselves get the
/// database through `DATABASE_URL`.
#[tokio::test(flavor = "multi_thread")]
async fn protocol_suites_pass_on_postgres() {
    let (cluster, url) = cluster();
    let dir = tempfile::tempdir().unwrap();
    let server = on_postgres(dir.path(), &url);
    run_node_suite(
        "http_client.test.mjs",
        "convex",
        &[("CONVEX_URL", &server.url)],
        71,
    )
    .await;
    run_node_suite(
        "scheduler_client.test.mjs",
        "convex",
        &[("CONVEX_URL", &server.url)],
        3,
    )
    .await;
    run_node_suite(
        "http_actions.test.mjs",
        "puppeteer-core",
        &[("SITE_URL", &server.site_url), ("WEB_URL", &server.web_url)],
        11,
    )
    .await;
    server.interrupt();
    let fresh = cluster.new_database().unwrap();
    run_node_suite(
        "sync_client.test.mjs",
        "convex",
        &[("DATABASE_URL", &fresh)],
        14,
    )
    .await;
    let stored = cluster
        .psql(&fresh, "SELECT count(*) FROM ferrovex_commit_log")
        .unwrap();
    assert!(
        stored.parse::<u64>().unwrap() > 0,
        "the suite's servers used PostgreSQL"
    );
}

/// Auth (the official better-auth client, 12 checks) and the SSR web origin in Chromium on a
/// PostgreSQL-backed deployment.
#[tokio::test(flavor = "multi_thread")]
async fn auth_and_ssr_suites_pass_on_postgres() {
    let (cluster, url) = cluster();
    run_node_suite(
        "auth_client.test.mjs",
        "better-auth",
        &[("DATABASE_URL", &url)],
        12,
    )
    .await;
    let web = cluster.new_database().unwrap();
    run_node_suite(
        "browser.test.mjs",
        "puppeteer-core",
        &[("DATABASE_URL", &web), ("BROWSERS", "chromium")],
        12,
    )
    .await;
    for db in [&url, &web] {
        let users = cluster
            .psql(
                db,
                "SELECT count(*) FROM ferrovex_documents WHERE table_name = '_users'",
            )
            .unwrap();
        assert!(
            users.parse::<u64>().unwrap() > 0,
            "users were stored in PostgreSQL"
        );
    }
}

/// File storage on PostgreSQL: a file uploaded through one instance is listed and served,
/// byte for byte (Range too), by another, whose data directory never held it; removed
/// through the second, it is gone for the first.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_uploaded_through_one_instance_is_served_by_another() {
    let (_cluster, url) = cluster();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = on_postgres(dir_a.path(), &url);
    let b = on_postgres(dir_b.path(), &url);
    let reply = crate::common::call(&a, "mutation", "files:generateUploadUrl", json!({})).await;
    let upload = reply["value"].as_str().unwrap().to_owned();
    // Three parts and a bit, so the bytes cross several stored parts.
    let bytes: Vec<u8> = (0..(3 * ferrovex_store_postgres::PART_BYTES + 12_345))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let (status, _, body) = crate::common::send(
        "POST",
        &upload,
        bytes.clone(),
        &[("content-type", "application/x-shared")],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let storage_id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["storageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let saved = crate::common::call(
        &a,
        "mutation",
        "files:save",
        json!({ "storageId": storage_id, "name": "shared.bin" }),
    )
    .await;
    let id = saved["value"].as_str().unwrap().to_owned();
    let listed = crate::common::call(&b, "query", "files:list", json!({})).await;
    let row = &listed["value"][0];
    let file_url = row["url"].as_str().unwrap().to_owned();
    assert!(
        file_url.starts_with(&b.url),
        "B names its own URL: {file_url}"
    );
    let (status, headers, got) = crate::common::send("GET", &file_url, Vec::new(), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-shared");
    assert!(got == bytes, "B serves the same bytes");
    let (status, _, slice) = crate::common::send(
        "GET",
        &file_url,
        Vec::new(),
        &[("range", "bytes=1048570-1048585")],
    )
    .await;
    assert_eq!(status, 206);
    assert_eq!(slice, bytes[1_048_570..=1_048_585]);
    crate::common::call(&b, "mutation", "files:remove", json!({ "id": id })).await;
    let gone = format!("{}/api/storage/{storage_id}", a.url);
    let (status, _, _) = crate::common::send("GET", &gone, Vec::new(), &[]).await;
    assert_eq!(status, 404);
}
