//! `ferrovex backup`: an online copy taken while a writer keeps committing opens on its own,
//! passes its integrity check and holds every write acknowledged before the backup began.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;

use crate::common::{Server, call};

fn backup(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ferrovex"))
        .arg("backup")
        .args(args)
        .env_remove("FERROVEX_DATABASE_URL")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_under_write_load_opens_and_holds_every_acknowledged_commit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(Server::start(dir.path()));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (server, acknowledged, stop) = (server.clone(), acknowledged.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = format!("write {i}");
                let reply = call(
                    &server,
                    "mutation",
                    "messages:send",
                    json!({ "channel": "backup", "author": "w", "body": body }),
                )
                .await;
                assert_eq!(reply["status"], "success", "{reply}");
                acknowledged.lock().push(body);
                i += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before: Vec<String> = acknowledged.lock().clone();
    assert!(!before.is_empty());
    let copy = tempfile::tempdir().unwrap();
    let dest = copy.path().join(ferrovex_store_sqlite::DB_FILE);
    let data = dir.path().to_str().unwrap();
    let out = tokio::task::spawn_blocking({
        let dest = dest.clone();
        let data = data.to_owned();
        move || backup(&["--path", dest.to_str().unwrap(), "--data-dir", &data])
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("integrity check ok"), "{printed}");
    // The writer kept going during the backup.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let total = acknowledged.lock().len();
    assert!(total > before.len(), "writes continued during the backup");
    // The copy serves on its own and holds a prefix of the writes that covers everything
    // acknowledged before the backup started.
    let restored = Server::start(copy.path());
    let listed = call(
        &restored,
        "query",
        "messages:list",
        json!({ "channel": "backup" }),
    )
    .await;
    let bodies: Vec<String> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        bodies.len() >= before.len(),
        "{} < {}",
        bodies.len(),
        before.len()
    );
    assert_eq!(&bodies[..before.len()], &before[..]);
    let all = acknowledged.lock().clone();
    assert_eq!(
        &all[..bodies.len()],
        &bodies[..],
        "the copy is one consistent snapshot"
    );
    // It never overwrites, and it is not for PostgreSQL.
    let again = backup(&["--path", dest.to_str().unwrap(), "--data-dir", data]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let pg = backup(&[
        "--path",
        "/tmp/x.sqlite3",
        "--database-url",
        "postgres://h/db",
    ]);
    assert!(!pg.status.success());
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"));
}

/// The health page names the storage and its size, the last backup, the last export and the
/// server's own warnings.
#[tokio::test(flavor = "multi_thread")]
async fn the_health_page_shows_storage_the_last_backup_and_export_and_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let copy = tempfile::tempdir().unwrap();
    let dest = copy.path().join("health-backup.sqlite3");
    let out = backup(&[
        "--path",
        dest.to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let key = std::fs::read_to_string(dir.path().join("admin_key")).unwrap();
    let auth = format!("Convex {}", key.trim());
    let (status, _, _) = crate::common::send(
        "POST",
        &format!("{}/api/export/request/zip", server.url),
        Vec::new(),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(status, 200);
    let (mut page, mut tries) = (String::new(), 0);
    while tries < 100 && !page.contains("completed") {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, _, body) = crate::common::send(
            "GET",
            &format!("{}/_dashboard/health", server.url),
            Vec::new(),
            &[],
        )
        .await;
        assert_eq!(status, 200);
        page = String::from_utf8_lossy(&body).into_owned();
        tries += 1;
    }
    for expected in [
        "SQLite",
        env!("CARGO_PKG_VERSION"),
        "health-backup.sqlite3",
        "completed",
        "snapshot_",
        "Recent warnings and errors",
    ] {
        assert!(page.contains(expected), "{expected:?} missing from\n{page}");
    }
    assert!(
        !page.contains(key.trim()),
        "the admin key is never rendered"
    );
}
