//! HTTP actions on the site origin, driven by `tests/compat/http_actions.test.mjs` (Node's
//! fetch and headless Chromium), plus the function log's view of them.

use crate::common::{Server, run_node_suite};

#[tokio::test(flavor = "multi_thread")]
async fn http_actions_answer_fetch_from_node_and_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    run_node_suite(
        "http_actions.test.mjs",
        "puppeteer-core",
        &[
            ("SITE_URL", server.site_url.as_str()),
            ("WEB_URL", server.web_url.as_str()),
        ],
        11,
    )
    .await;
    let log = server.stdout.lock().join("\n");
    assert!(
        log.contains("A POST /demo/messages (HTTP action) success"),
        "{log}"
    );
    assert!(
        log.contains("A POST /demo/panic (HTTP action) failure"),
        "{log}"
    );
    assert!(
        !log.contains("hunter2"),
        "a panic's details stay out of the log line"
    );
}
