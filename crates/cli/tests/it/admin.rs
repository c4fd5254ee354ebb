//! The admin key: generated on first start (owner-only file, never printed), accepted as
//! Convex's admin auth by the official clients (`tests/compat/admin_client.test.mjs`) and by
//! `ferrovex run --admin-key`, and required for the dashboard and `/metrics` off loopback.

use serde_json::json;

use crate::common::{Server, cookie_of, run_node_suite, send};

fn run_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ferrovex"))
        .args(args)
        .env_remove("FERROVEX_ADMIN_KEY")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_clients_use_the_admin_key_and_it_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 0, &[], &[("FERROVEX_LOG", "trace")]);
    let file = dir.path().join("admin_key");
    let key = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(
        key.starts_with("ferrovex|") && key.len() > 60,
        "a generated key"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "owner-only");
    }
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains(&format!("admin key: cat {}", file.display()))),
        "{:?}",
        server.banner
    );
    run_node_suite(
        "admin_client.test.mjs",
        "convex",
        &[("CONVEX_URL", &server.url), ("ADMIN_KEY", &key)],
        4,
    )
    .await;
    // `ferrovex run` reaches internal functions only with the key.
    let args = json!({ "text": "from run" }).to_string();
    let without = run_cli(&["run", "reminders:fire", &args, "--url", &server.url]);
    assert!(!without.status.success());
    assert!(
        String::from_utf8_lossy(&without.stderr).contains("Could not find public function"),
        "{without:?}"
    );
    let with = run_cli(&[
        "run",
        "reminders:fire",
        &args,
        "--url",
        &server.url,
        "--admin-key",
        &key,
    ]);
    assert!(with.status.success(), "{with:?}");
    let wrong = run_cli(&[
        "run",
        "messages:list",
        "{}",
        "--url",
        &server.url,
        "--admin-key",
        "ferrovex|not-the-key-at-all",
    ]);
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("admin key was invalid"),
        "{wrong:?}"
    );
    // A restart keeps the key.
    let stdout = server.stdout.clone();
    let stderr = server.stderr.clone();
    server.interrupt();
    let lines: Vec<String> = stdout
        .lock()
        .iter()
        .chain(stderr.lock().iter())
        .cloned()
        .collect();
    // Ferrovex itself logs little even at trace; what would hold the key is the WebSocket
    // library's frame logging (the admin `Authenticate`), which stays capped.
    assert!(!lines.is_empty(), "the server logged");
    let secret = key.split('|').nth(1).unwrap();
    let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(secret)).collect();
    assert!(
        leaked.is_empty(),
        "a log line holds the admin key: {leaked:?}"
    );
    let again = Server::start(dir.path());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        key,
        "the key survives restarts"
    );
    drop(again);
}

#[tokio::test(flavor = "multi_thread")]
async fn off_loopback_the_dashboard_and_metrics_need_the_admin_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = "a-test-admin-key-of-some-length";
    let server = Server::start_with(
        dir.path(),
        0,
        &["--host", "0.0.0.0", "--admin-key", key],
        &[],
    );
    let url = |path: &str| format!("{}{path}", server.url);
    let (status, headers, _) = send("GET", &url("/_dashboard"), Vec::new(), &[]).await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/_dashboard/login");
    let (status, _, body) = send("GET", &url("/metrics"), Vec::new(), &[]).await;
    assert_eq!(status, 401);
    assert!(String::from_utf8_lossy(&body).contains("AdminKeyRequired"));
    let (status, _, body) = send("GET", &url("/_dashboard/login"), Vec::new(), &[]).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("type=\"password\""));
    // The header works for scripts...
    let header = format!("Convex {key}");
    let (status, _, _) = send(
        "GET",
        &url("/metrics"),
        Vec::new(),
        &[("authorization", &header)],
    )
    .await;
    assert_eq!(status, 200);
    // ...and the login form for people: a wrong key is refused, the right one sets a
    // cookie no other site can send.
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let (status, headers, _) = send(
        "POST",
        &url("/_dashboard/login"),
        b"key=wrong".to_vec(),
        &form,
    )
    .await;
    assert_eq!(status, 401);
    assert!(headers.get("set-cookie").is_none());
    let (status, headers, _) = send(
        "POST",
        &url("/_dashboard/login"),
        format!("key={key}").into_bytes(),
        &form,
    )
    .await;
    assert_eq!(status, 303);
    let set = headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains(key), "the cookie is not the key: {set}");
    assert!(
        set.contains("Path=/_dashboard") && set.contains("Max-Age="),
        "{set}"
    );
    let cookie = cookie_of(&headers, "ferrovex_admin").unwrap();
    // A forged or altered cookie is not a sign-in.
    let forged = format!("{cookie}0");
    let (status, _, _) = send(
        "GET",
        &url("/_dashboard"),
        Vec::new(),
        &[("cookie", &forged)],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _, page) = send(
        "GET",
        &url("/_dashboard"),
        Vec::new(),
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("Ferrovex"));
    // The Convex API itself stays open to its clients.
    let (status, _, _) = send(
        "POST",
        &url("/api/query"),
        json!({ "path": "messages:list", "args": {} })
            .to_string()
            .into_bytes(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(status, 200);
    drop(server);
    // `--metrics-public true` opens /metrics only.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        0,
        &["--host", "0.0.0.0", "--metrics-public", "true"],
        &[],
    );
    let (status, _, _) = send("GET", &format!("{}/metrics", server.url), Vec::new(), &[]).await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        "GET",
        &format!("{}/_dashboard", server.url),
        Vec::new(),
        &[],
    )
    .await;
    assert_eq!(status, 303);
}

/// On a loopback bind the dashboard is open, but only at a loopback name (a DNS-rebound site
/// sends its own `Host`), and no page of it may be framed.
#[tokio::test(flavor = "multi_thread")]
async fn on_loopback_the_dashboard_refuses_other_host_names_and_framing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for path in [
        "/_dashboard",
        "/_dashboard/data",
        "/_dashboard/run",
        "/metrics",
    ] {
        let (status, headers, _) =
            send("GET", &format!("{}{path}", server.url), Vec::new(), &[]).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["content-security-policy"], "frame-ancestors 'none'");
        let port = server.url.rsplit(':').next().unwrap();
        let rebound = format!("evil.example:{port}");
        let (status, _, _) = send(
            "GET",
            &format!("{}{path}", server.url),
            Vec::new(),
            &[("host", &rebound)],
        )
        .await;
        assert_eq!(status, 403, "{path} answered a rebound host");
    }
    // The Convex API itself is not an operator route: any Host may call it.
    let (status, _, _) = send(
        "GET",
        &format!("{}/version", server.url),
        Vec::new(),
        &[("host", "evil.example")],
    )
    .await;
    assert_eq!(status, 200);
}
