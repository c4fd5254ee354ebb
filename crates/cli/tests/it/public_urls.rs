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
    // The banner announces the public URLs (and where they listen), never 0.0.0.0.
    let banner = server.banner.join("\n");
    for url in [&api_url, &site_url, &web_url] {
        assert!(
            banner.contains(&format!(": {url}")) || banner.contains(&format!("  {url}")),
            "{banner}"
        );
    }
    assert!(
        banner.contains(&format!(
            "api:   {api_url} (listening on http://127.0.0.1:{api})"
        )),
        "{banner}"
    );
    assert!(!banner.contains("0.0.0.0"), "{banner}");
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

/// `iss` of the token a fresh sign-up gets on `server`.
async fn issuer_after_sign_up(server: &Server, email: &str) -> String {
    let body =
        serde_json::json!({"name": "Id", "email": email, "password": "correct horse battery"});
    let (status, headers, _) = crate::common::send(
        "POST",
        &format!("{}/api/auth/sign-up/email", server.site_url),
        body.to_string().into_bytes(),
        &[
            ("content-type", "application/json"),
            ("origin", &server.site_url),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let cookie = crate::common::cookie_of(&headers, "better-auth.session_token").unwrap();
    let (_, _, token) = crate::common::send(
        "GET",
        &format!("{}/api/auth/convex/token", server.site_url),
        vec![],
        &[("cookie", &cookie)],
    )
    .await;
    let token: serde_json::Value = serde_json::from_slice(&token).unwrap();
    let payload = token["token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["iss"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_free_site_port_keeps_the_first_issuer_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path());
    let issuer = issuer_after_sign_up(&first, "one@example.com").await;
    assert_eq!(issuer, first.site_url);
    first.interrupt();
    let second = Server::start(dir.path());
    assert_ne!(second.site_url, issuer, "the free port changed");
    assert_eq!(
        issuer_after_sign_up(&second, "two@example.com").await,
        issuer,
        "tokenIdentifier (issuer|subject) stays stable"
    );
    // Discovery keeps the issuer but points at where the keys are served now.
    let (_, _, discovery) = crate::common::send(
        "GET",
        &format!("{}/.well-known/openid-configuration", second.site_url),
        vec![],
        &[],
    )
    .await;
    let discovery: serde_json::Value = serde_json::from_slice(&discovery).unwrap();
    assert_eq!(discovery["issuer"], issuer);
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/api/auth/convex/jwks", second.site_url)
    );
}

#[test]
fn a_busy_port_a_bad_data_dir_and_an_unknown_flag_each_give_one_clear_line() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "a file").unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let file_dir = file.join("sub");
    let cases: [(Vec<&str>, &str); 3] = [
        (
            vec!["--api-port", &port, "--data-dir", data],
            "cannot bind the API port",
        ),
        (
            vec!["--api-port", "0", "--data-dir", file_dir.to_str().unwrap()],
            "cannot open the data directory",
        ),
        (
            vec!["--no-such-flag"],
            "unexpected argument '--no-such-flag'",
        ),
    ];
    for (args, expected) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrovex"))
            .arg("serve")
            .args(["--site-port", "0", "--web-port", "0"])
            .args(&args)
            .env("FERROVEX_LOG", "error")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        assert!(first.contains(expected), "{args:?}: {stderr}");
        assert!(first.starts_with("error: "), "{args:?}: {stderr}");
    }
    drop(busy);
}
