//! Public URLs: a deployment bound to 0.0.0.0 with `--api-url`, `--site-url` and `--web-url`
//! names them in its banner, pages, tokens and discovery document, and the demo works when
//! opened at `http://localhost:<port>` (driven by `tests/compat/public_urls.test.mjs`).

use crate::common::{Server, run_node_suite};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn bound_to_all_interfaces_with_public_urls_the_demo_works_at_localhost() {
    let dir = tempfile::tempdir().unwrap();
    let (api, site, web) = (free_port(), free_port(), free_port());
    let api_url = format!("http://localhost:{api}");
    let site_url = format!("http://localhost:{site}");
    let web_url = format!("http://localhost:{web}");
    let site_port = site.to_string();
    let web_port = web.to_string();
    let server = Server::start_with(
        dir.path(),
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
        &[("FERROVEX_LOG", "info")],
    );
    // The banner announces the public URLs, never 0.0.0.0.
    assert_eq!(server.url, api_url);
    assert_eq!(server.site_url, site_url);
    assert_eq!(server.web_url, web_url);
    run_node_suite(
        "public_urls.test.mjs",
        "puppeteer-core",
        &[
            ("WEB_URL", web_url.as_str()),
            ("API_URL", api_url.as_str()),
            ("SITE_URL", site_url.as_str()),
        ],
        3,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bound_to_all_interfaces_without_public_urls_it_warns_and_never_announces_0_0_0_0() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        0,
        &["--host", "0.0.0.0"],
        &[("FERROVEX_LOG", "warn")],
    );
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    assert!(
        server.web_url.starts_with("http://127.0.0.1:"),
        "{}",
        server.web_url
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let stderr = server.stderr.lock().join("\n");
    let warnings = stderr.matches("without public URLs").count();
    assert_eq!(warnings, 1, "one warning naming the flags:\n{stderr}");
    assert!(
        stderr.contains("--api-url")
            && stderr.contains("--site-url")
            && stderr.contains("--web-url")
    );
    let stdout = server.stdout.lock().join("\n");
    assert!(!stdout.contains("0.0.0.0"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_loopback_both_localhost_and_127_0_0_1_may_sign_in_through_the_web_origin() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let port = crate::common::port_of(&server.web_url);
    for (i, origin) in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ]
    .iter()
    .enumerate()
    {
        let body = serde_json::json!({
            "name": "Lo", "email": format!("lo{i}@example.com"), "password": "correct horse battery"
        });
        let (status, _, _) = crate::common::send(
            "POST",
            &format!("{}/api/auth/sign-up/email", server.web_url),
            body.to_string().into_bytes(),
            &[("content-type", "application/json"), ("origin", origin)],
        )
        .await;
        assert_eq!(status, 200, "sign-up from {origin}");
    }
    let body = serde_json::json!({"name": "Ev", "email": "ev@example.com", "password": "correct horse battery"});
    let (status, _, _) = crate::common::send(
        "POST",
        &format!("{}/api/auth/sign-up/email", server.web_url),
        body.to_string().into_bytes(),
        &[
            ("content-type", "application/json"),
            ("origin", "http://evil.example"),
        ],
    )
    .await;
    assert_eq!(status, 403, "other origins are still refused");
}
