//! The web origin: SSR headers and payload over HTTP, the auth proxy's rules, and the browser
//! suite (`tests/compat/browser.test.mjs`) in headless Chromium.

use serde_json::json;

use crate::common::{Server, send};

#[tokio::test]
async fn pages_carry_server_timing_vary_and_no_store_and_the_proxy_checks_origins() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 0, &[], &[]);
    let web = server.web_url.clone();
    let (status, headers, body) = send("GET", &format!("{web}/"), vec![], &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["vary"], "Cookie");
    assert_eq!(headers["cache-control"], "private, no-store");
    let timing = headers["server-timing"].to_str().unwrap();
    assert!(
        timing.contains("auth_session") && timing.contains("q_messages_list"),
        "{timing}"
    );
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains(r#"id="__ferrovex""#) && html.contains("/_ferrovex/runtime.js"));
    // The proxy: cross-origin POSTs are refused, other methods too, and bodies are bounded.
    let signup = json!({"name": "P", "email": "proxy@example.com", "password": "proxy password"})
        .to_string();
    let (status, _, _) = send(
        "POST",
        &format!("{web}/api/auth/sign-up/email"),
        signup.clone().into_bytes(),
        &[
            ("content-type", "application/json"),
            ("origin", "http://evil.example"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = send("DELETE", &format!("{web}/api/auth/sign-out"), vec![], &[]).await;
    assert_eq!(status, 405);
    let (status, _, _) = send(
        "POST",
        &format!("{web}/api/auth/sign-in/email"),
        vec![b'x'; 100 * 1024],
        &[("content-type", "application/json"), ("origin", &web)],
    )
    .await;
    assert_eq!(status, 413);
    let (status, headers, _) = send(
        "POST",
        &format!("{web}/api/auth/sign-up/email"),
        signup.into_bytes(),
        &[("content-type", "application/json"), ("origin", &web)],
    )
    .await;
    assert_eq!(status, 200);
    let cookies: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        !cookies.is_empty() && cookies.iter().all(|c| c.starts_with("better-auth.")),
        "{cookies:?}"
    );
    // The signed-in page is rendered for the user and holds no JWT.
    let session = cookies
        .iter()
        .find(|c| c.starts_with("better-auth.session_token="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (_, headers, body) = send("GET", &format!("{web}/"), vec![], &[("cookie", &session)]).await;
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains(">P<"), "the sidebar shows the user");
    assert!(!html.contains("eyJhbGciOiJSUzI1NiIs"), "no JWT in the HTML");
    assert!(
        headers["server-timing"]
            .to_str()
            .unwrap()
            .contains("auth_exchange")
    );
    server.interrupt();
}

#[tokio::test]
async fn browser_suite_passes_in_headless_chromium() {
    let compat = crate::common::compat_dir();
    assert!(
        compat.join("node_modules/playwright-core").is_dir()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "Chromium or playwright-core is missing; run scripts/test, which installs them"
    );
    let out = tokio::process::Command::new("node")
        .args(["--test", "--test-reporter=spec", "browser.test.mjs"])
        .current_dir(&compat)
        .env("FERROVEX_BIN", env!("CARGO_BIN_EXE_ferrovex"))
        .output()
        .await
        .expect("run node");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "browser tests failed:\n{report}");
    assert!(report.contains("pass 8"), "{report}");
}
