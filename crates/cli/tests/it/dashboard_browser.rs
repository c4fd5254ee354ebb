//! The operator dashboard in headless Chromium, driven by `tests/compat/dashboard.test.mjs`
//! (puppeteer-core and the official `convex` clients): an edit made in the data browser's form
//! is a commit that a live `ConvexClient` sees, an edit that breaks the table's validator is
//! refused with its message, the function runner runs the internal `reminders:fire`, full-page
//! screenshots of the dashboard's pages are real renders, and on a deployment bound to 0.0.0.0
//! the dashboard shows only its sign-in form, refuses a wrong key and signs the right one in
//! with an HttpOnly, SameSite=Strict cookie.

use std::path::Path;

use crate::common::{Server, run_node_suite};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    // Bound to all interfaces, with public URLs (so it starts without the warning that pages
    // would name an unreachable address): the dashboard needs the admin key. Off loopback the
    // Host header is not checked, so the suite reaches it at 127.0.0.1.
    let remote_dir = tempfile::tempdir().unwrap();
    let (api, site, web) = (free_port(), free_port(), free_port());
    let api_url = format!("http://127.0.0.1:{api}");
    let site_url = format!("http://127.0.0.1:{site}");
    let web_url = format!("http://127.0.0.1:{web}");
    let site_port = site.to_string();
    let web_port = web.to_string();
    let remote = Server::start_with(
        remote_dir.path(),
        api,
        &[
            "--host",
            "0.0.0.0",
            "--site-port",
            &site_port,
            "--web-port",
            &web_port,
            "--api-url",
            &api_url,
            "--site-url",
            &site_url,
            "--web-url",
            &web_url,
        ],
        &[],
    );
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
    // The runner's call ran as the admin, and the remote started cleanly.
    let log = local.stdout.lock().join("\n");
    assert!(
        log.contains("M reminders:fire (HTTP API, admin) success"),
        "{log}"
    );
    let warnings = remote.stderr.lock().join("\n");
    assert!(!warnings.contains("without public URLs"), "{warnings}");
}
