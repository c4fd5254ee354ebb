//! A full disk: a commit that fails for lack of space returns a clear error and changes
//! nothing, reads keep being served, and writes resume when space returns. Runs on a small
//! tmpfs, which needs root (as in CI); elsewhere it says why it did not run.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value as Json, json};

use crate::common::{Server, post};

/// A size-limited tmpfs, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the disk with a file until writing fails; returns its path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    path
}

async fn send(server: &Server, body: &str) -> Json {
    let (status, reply) = post(
        &format!("{}/api/mutation", server.url),
        json!({ "path": "messages:send", "args": { "channel": "disk", "author": "d", "body": body }, "format": "json" })
            .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    reply
}

async fn bodies(server: &Server) -> Vec<String> {
    let (status, reply) = post(
        &format!("{}/api/query", server.url),
        json!({ "path": "messages:list", "args": { "channel": "disk" }, "format": "json" })
            .to_string(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "success", "reads are served: {reply}");
    reply["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_fails_commits_clearly_keeps_reads_and_recovers() {
    let disk = match SmallDisk::mount("24m") {
        Ok(disk) => disk,
        Err(why) => {
            // Said loudly: this machine cannot show the behaviour.
            eprintln!("NOT RUN: cannot mount a small tmpfs here (needs root): {why}");
            return;
        }
    };
    let data = disk.path().join("data");
    let server = Server::start(&data);
    assert_eq!(send(&server, "before").await["status"], "success");
    let filler = fill(disk.path());
    // Writes until one fails for lack of space (the WAL may still hold a little).
    let body = "x".repeat(1900);
    let mut written = vec!["before".to_owned()];
    let mut failure = None;
    for i in 0..2000 {
        let reply = send(&server, &format!("{i} {body}")).await;
        if reply["status"] == "success" {
            written.push(format!("{i} {body}"));
        } else {
            failure = Some(reply);
            break;
        }
    }
    let failure = failure.expect("a write failed on the full disk");
    let message = failure["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("StorageFull"),
        "a clear error, not a generic one: {failure}"
    );
    // Nothing half-written, and reads are still served.
    assert_eq!(bodies(&server).await, written);
    // Space returns: writes resume.
    std::fs::remove_file(&filler).unwrap();
    let mut resumed = false;
    for _ in 0..50 {
        if send(&server, "after").await["status"] == "success" {
            resumed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(resumed, "writes did not resume once space returned");
    written.push("after".to_owned());
    assert_eq!(bodies(&server).await, written);
    server.interrupt();
}
