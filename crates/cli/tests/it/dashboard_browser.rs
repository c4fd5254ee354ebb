//! The operator dashboard in headless Chromium, driven by `tests/compat/dashboard.test.mjs`
//! (puppeteer-core and the official `convex` clients): an edit made in the data browser's form
//! is a commit that a live `ConvexClient` sees, an edit that breaks the table's validator is
//! refused with its message, the function runner runs the internal `reminders:fire`, full-page
//! screenshots of the dashboard's pages are real renders, and on a deployment bound to 0.0.0.0
//! the dashboard shows only its sign-in form, refuses a wrong key and signs the right one in
//! with an HttpOnly, SameSite=Strict cookie.

use std::path::Path;

use crate::common::{Server, run_node_suite};

/// The generated admin key of a deployment (`<data dir>/admin_key`).
fn admin_key(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("admin_key"))
        .expect("the generated admin key file")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_works_in_headless_chromium_on_loopback_and_behind_its_key() {
    let chromium = "/usr/bin/chromium";
    assert!(
        Path::new(chromium).exists(),
        "{chromium} is missing; run scripts/test, which installs it"
    );
    // On loopback: the dashboard is open.
    let local_dir = tempfile::tempdir().unwrap();
    let local = Server::start(local_dir.path());
    // Bound to all interfaces (on free ports chosen by the server, so no other test can take
    // them first): the dashboard needs the admin key. Without public URLs the banner names
    // 127.0.0.1, and off loopback the Host header is not checked, so the suite reaches it there.
    let remote_dir = tempfile::tempdir().unwrap();
    let remote = Server::start_with(remote_dir.path(), 0, &["--host", "0.0.0.0"], &[]);
    let local_key = admin_key(local_dir.path());
    let remote_key = admin_key(remote_dir.path());
    run_node_suite(
        "dashboard.test.mjs",
        "puppeteer-core",
        &[
            ("CONVEX_URL", local.url.as_str()),
            ("ADMIN_KEY", local_key.as_str()),
            ("REMOTE_URL", remote.url.as_str()),
            ("REMOTE_ADMIN_KEY", remote_key.as_str()),
        ],
        5,
    )
    .await;
    // The runner's call ran as the admin.
    let log = local.stdout.lock().join("\n");
    assert!(
        log.contains("M reminders:fire (HTTP API, admin) success"),
        "{log}"
    );
    drop(remote);
}
