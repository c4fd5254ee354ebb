//! The web origin: SSR headers and payload over HTTP, the auth proxy's rules, and the browser
//! suite (`tests/compat/browser.test.mjs`) in headless Chromium and Firefox.

use serde_json::json;

use crate::common::{Server, cookie_of, send};

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
    let session = cookie_of(&headers, "better-auth.session_token").unwrap();
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
    // The web origin's counters are on the API origin's /metrics and dashboard.
    let (_, _, metrics) = send("GET", &format!("{}/metrics", server.url), vec![], &[]).await;
    let metrics = String::from_utf8(metrics).unwrap();
    for line in [
        "ferrovex_ssr_pages_total{auth=\"signed_in\"} 1\n",
        "ferrovex_ssr_pages_total{auth=\"anonymous\"} 1\n",
        "ferrovex_ssr_token_exchanges_total 1\n",
        "ferrovex_ssr_render_seconds_count 2\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    let (_, _, dashboard) = send("GET", &format!("{}/_dashboard", server.url), vec![], &[]).await;
    assert!(
        String::from_utf8(dashboard)
            .unwrap()
            .contains("web origin (SSR)")
    );
    server.interrupt();
}

#[tokio::test]
async fn browser_suite_passes_in_headless_chromium_and_firefox() {
    for browser in ["/usr/bin/chromium", "/usr/bin/firefox-esr"] {
        assert!(
            std::path::Path::new(browser).exists(),
            "{browser} is missing; run scripts/test, which installs it"
        );
    }
    // Every test of the suite runs in both browsers.
    crate::common::run_node_suite("browser.test.mjs", "puppeteer-core", &[], 23).await;
}

/// A throwaway Redis server on a free port.
pub(crate) struct Redis {
    child: std::process::Child,
    pub(crate) url: String,
}

impl Redis {
    pub(crate) fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Redis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn page_timing(web: &str, cookie: &str) -> (String, String) {
    let (status, headers, body) =
        send("GET", &format!("{web}/"), vec![], &[("cookie", cookie)]).await;
    assert_eq!(status, 200);
    (
        headers["server-timing"].to_str().unwrap().to_owned(),
        String::from_utf8(body).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_auth_cache_is_shared_revoked_everywhere_bounded_by_exp_and_optional() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--auth-cache",
        "true",
        "--redis-url",
        redis.url.as_str(),
        "--auth-secret",
        "shared-secret-abcdefghijklmnopqrstuvwxyz",
        "--jwt-lifetime-secs",
        "34",
        "--site-url",
        "http://auth.test",
    ];
    let a = Server::start_with(dir.path(), 0, &args, &[]);
    let b = Server::start_with(dir.path(), 0, &args, &[]);
    let cookie = sign_up_via(
        &a.web_url,
        "Cached",
        "cached@example.com",
        "cached password",
    )
    .await;

    // A misses and exchanges; B then hits the shared entry and makes no exchange.
    let (timing, _) = page_timing(&a.web_url, &cookie).await;
    assert!(
        timing.contains("auth_cache;")
            && timing.contains("desc=\"miss\"")
            && timing.contains("auth_exchange"),
        "{timing}"
    );
    let (timing, html) = page_timing(&b.web_url, &cookie).await;
    assert!(
        timing.contains("desc=\"hit\"") && !timing.contains("auth_exchange"),
        "B uses A's cached token: {timing}"
    );
    assert!(html.contains(">Cached<"));

    // Sign-out through A's proxy: B stops using the cached token at once.
    let (status, _, _) = send(
        "POST",
        &format!("{}/api/auth/sign-out", a.web_url),
        b"{}".to_vec(),
        &[
            ("content-type", "application/json"),
            ("origin", &a.web_url),
            ("cookie", &cookie),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (timing, html) = page_timing(&b.web_url, &cookie).await;
    assert!(
        timing.contains("desc=\"miss\""),
        "the revoked entry is gone on B: {timing}"
    );
    assert!(
        html.contains(">Guest<"),
        "and the revoked session renders anonymously"
    );

    // No token outlives its exp: a 34 s token minus the 30 s margin is cached for at most 4 s.
    let signin = json!({"email": "cached@example.com", "password": "cached password"}).to_string();
    let (_, headers, _) = send(
        "POST",
        &format!("{}/api/auth/sign-in/email", a.web_url),
        signin.into_bytes(),
        &[("content-type", "application/json"), ("origin", &a.web_url)],
    )
    .await;
    let cookie = cookie_of(&headers, "better-auth.session_token").unwrap();
    page_timing(&a.web_url, &cookie).await;
    let (timing, _) = page_timing(&b.web_url, &cookie).await;
    assert!(timing.contains("desc=\"hit\""), "{timing}");
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let (timing, _) = page_timing(&b.web_url, &cookie).await;
    assert!(
        timing.contains("desc=\"miss\"") && timing.contains("auth_exchange"),
        "expired entries are not served: {timing}"
    );

    // A revocation at A's site origin directly (no proxy involved, like a Better Auth client
    // talking to the site): B stops using the revoked session's cached token at once too.
    let (other, _) = sign_in_via(&a.web_url, "cached@example.com", "cached password").await;
    page_timing(&a.web_url, &other).await;
    let (timing, _) = page_timing(&b.web_url, &other).await;
    assert!(timing.contains("desc=\"hit\""), "{timing}");
    let (status, _, _) = post_auth(
        &a.site_url,
        "revoke-other-sessions",
        json!({}),
        &cookie,
        "http://auth.test",
    )
    .await;
    assert_eq!(status, 200);
    let mut revoked = false;
    for _ in 0..20 {
        let (timing, html) = page_timing(&b.web_url, &other).await;
        if timing.contains("desc=\"miss\"") && html.contains(">Guest<") {
            revoked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(revoked, "B dropped the session revoked at A's site");

    // Redis down: pages still render through the exchange, and the log says so.
    drop(redis);
    let (timing, html) = page_timing(&a.web_url, &cookie).await;
    assert!(
        timing.contains("auth_exchange") && html.contains(">Cached<"),
        "{timing}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logged = a
        .stderr
        .lock()
        .iter()
        .any(|l| l.contains("falling back to the token exchange"));
    assert!(logged, "the fallback is logged");
    a.interrupt();
    b.interrupt();
}

/// POSTs JSON to `{base}/api/auth/{path}` with a session cookie and an `Origin`.
async fn post_auth(
    base: &str,
    path: &str,
    body: serde_json::Value,
    cookie: &str,
    origin: &str,
) -> (u16, hyper::HeaderMap, Vec<u8>) {
    send(
        "POST",
        &format!("{base}/api/auth/{path}"),
        body.to_string().into_bytes(),
        &[
            ("content-type", "application/json"),
            ("origin", origin),
            ("cookie", cookie),
        ],
    )
    .await
}

/// Signs up through the web proxy; returns the session cookie pair.
async fn sign_up_via(web: &str, name: &str, email: &str, password: &str) -> String {
    let body = json!({"name": name, "email": email, "password": password}).to_string();
    let (status, headers, _) = send(
        "POST",
        &format!("{web}/api/auth/sign-up/email"),
        body.into_bytes(),
        &[("content-type", "application/json"), ("origin", web)],
    )
    .await;
    assert_eq!(status, 200);
    cookie_of(&headers, "better-auth.session_token").unwrap()
}

/// Signs in through the web proxy; returns the session cookie pair and the raw token.
async fn sign_in_via(web: &str, email: &str, password: &str) -> (String, String) {
    let body = json!({"email": email, "password": password}).to_string();
    let (status, headers, body) = send(
        "POST",
        &format!("{web}/api/auth/sign-in/email"),
        body.into_bytes(),
        &[("content-type", "application/json"), ("origin", web)],
    )
    .await;
    assert_eq!(status, 200);
    let token = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (
        cookie_of(&headers, "better-auth.session_token").unwrap(),
        token,
    )
}

/// Whether the page for `cookie` was served from the token cache, and whether it shows the user.
async fn cached_and_signed_in(web: &str, cookie: &str) -> (bool, bool) {
    let (timing, html) = page_timing(web, cookie).await;
    (timing.contains("desc=\"hit\""), html.contains(">Rev<"))
}

#[tokio::test]
async fn every_revocation_route_drops_cached_tokens_and_forged_signatures_never_hit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 0, &["--auth-cache", "true"], &[]);
    let (web, site) = (server.web_url.clone(), server.site_url.clone());
    sign_up_via(&web, "Rev", "rev@example.com", "revoke password").await;
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(sign_in_via(&web, "rev@example.com", "revoke password").await);
    }
    for (cookie, _) in &sessions {
        page_timing(&web, cookie).await;
        assert_eq!(cached_and_signed_in(&web, cookie).await, (true, true));
    }
    let (main, main_token) = sessions[0].clone();

    // A known session token with a forged signature never gets the cached JWT.
    let forged = format!("better-auth.session_token={main_token}.Zm9yZ2Vk");
    assert_eq!(cached_and_signed_in(&web, &forged).await, (false, false));
    assert_eq!(cached_and_signed_in(&web, &main).await, (true, true));

    // list-sessions through the proxy.
    let (status, _, body) = send(
        "GET",
        &format!("{web}/api/auth/list-sessions"),
        vec![],
        &[("cookie", &main)],
    )
    .await;
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 5, "{listed}");

    // revoke-session through the proxy: that session's entry is gone at once, and the digest
    // header stays between the origins.
    let (status, headers, _) = post_auth(
        &web,
        "revoke-session",
        json!({"token": sessions[1].1}),
        &main,
        &web,
    )
    .await;
    assert_eq!(status, 200);
    assert!(headers.get("x-ferrovex-revoked-sessions").is_none());
    assert_eq!(
        cached_and_signed_in(&web, &sessions[1].0).await,
        (false, false)
    );
    assert_eq!(
        cached_and_signed_in(&web, &sessions[2].0).await,
        (true, true)
    );

    // revoke-other-sessions at the site origin directly (not through the proxy): the web
    // origin in the same process still drops the entries at once.
    let (status, headers, _) =
        post_auth(&site, "revoke-other-sessions", json!({}), &main, &site).await;
    assert_eq!(status, 200);
    // The digests are announced only to the deployment's own web origin (which presents the
    // proxy key), never to a caller of the site origin.
    assert!(
        headers.get("x-ferrovex-revoked-sessions").is_none(),
        "the site origin told a plain caller which sessions it revoked"
    );
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for (cookie, _) in &sessions[2..] {
        assert_eq!(cached_and_signed_in(&web, cookie).await, (false, false));
    }
    assert_eq!(cached_and_signed_in(&web, &main).await, (true, true));

    // Bad input: no token, no session, a foreign origin.
    let (status, _, _) = post_auth(&web, "revoke-session", json!({}), &main, &web).await;
    assert_eq!(status, 400);
    let (status, _, _) = post_auth(&web, "revoke-sessions", json!({}), "", &web).await;
    assert_eq!(status, 401);
    let (status, _, _) = post_auth(
        &site,
        "revoke-sessions",
        json!({}),
        &main,
        "http://evil.example",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(cached_and_signed_in(&web, &main).await, (true, true));

    // A rename drops the user's cached tokens (they carry the old name): the next page
    // exchanges again and shows the new name.
    let (status, _, _) =
        post_auth(&web, "update-user", json!({"name": "Renamed"}), &main, &web).await;
    assert_eq!(status, 200);
    let (timing, html) = page_timing(&web, &main).await;
    assert!(
        timing.contains("desc=\"miss\"") && html.contains(">Renamed<"),
        "{timing}"
    );

    // revoke-sessions through the proxy: the caller's own entry goes too.
    let (status, _, _) = post_auth(&web, "revoke-sessions", json!({}), &main, &web).await;
    assert_eq!(status, 200);
    assert_eq!(cached_and_signed_in(&web, &main).await, (false, false));
    server.interrupt();
}

/// A plain forwarding proxy, byte for byte, as any reverse proxy that passes every upstream
/// header on (the seed's Nuxt module does): its port.
async fn forwarding_proxy(upstream: std::net::SocketAddr) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn no_internal_header_reaches_a_browser_behind_a_plain_forwarding_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let site: std::net::SocketAddr = server
        .site_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = format!("http://127.0.0.1:{}", forwarding_proxy(site).await);
    let origin = server.site_url.clone();
    let sign_up = |email: &'static str| {
        let proxy = proxy.clone();
        let origin = origin.clone();
        async move {
            let body = json!({"name": "Pat", "email": email, "password": "correct horse battery"});
            let (status, headers, _) = send(
                "POST",
                &format!("{proxy}/api/auth/sign-up/email"),
                body.to_string().into_bytes(),
                &[("content-type", "application/json"), ("origin", &origin)],
            )
            .await;
            assert_eq!(status, 200);
            crate::common::cookie_of(&headers, "better-auth.session_token").unwrap()
        }
    };
    let internal = |headers: &hyper::HeaderMap| {
        headers
            .keys()
            .filter(|k| k.as_str().starts_with("x-ferrovex"))
            .map(|k| k.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let cookie = sign_up("pat@example.com").await;
    for route in ["revoke-other-sessions", "update-user", "sign-out"] {
        let body = if route == "update-user" {
            json!({"name": "P2"})
        } else {
            json!({})
        };
        let (status, headers, _) = send(
            "POST",
            &format!("{proxy}/api/auth/{route}"),
            body.to_string().into_bytes(),
            &[
                ("content-type", "application/json"),
                ("origin", &origin),
                ("cookie", &cookie),
            ],
        )
        .await;
        assert_eq!(status, 200, "{route}");
        assert!(
            internal(&headers).is_empty(),
            "{route} leaked {:?}",
            internal(&headers)
        );
    }
    // A browser cannot get the announcement by guessing the key either.
    let cookie = sign_up("quinn@example.com").await;
    let (status, headers, _) = send(
        "POST",
        &format!("{proxy}/api/auth/sign-out"),
        b"{}".to_vec(),
        &[
            ("content-type", "application/json"),
            ("origin", &origin),
            ("cookie", &cookie),
            (
                "x-ferrovex-proxy-key",
                "0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        internal(&headers).is_empty(),
        "leaked {:?}",
        internal(&headers)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_routes_show_on_stdout_and_metrics_without_tokens_or_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let origin = server.site_url.clone();
    let body =
        json!({"name": "Vis", "email": "vis@example.com", "password": "correct horse battery"});
    let (status, headers, _) = send(
        "POST",
        &format!("{}/api/auth/sign-up/email", server.site_url),
        body.to_string().into_bytes(),
        &[("content-type", "application/json"), ("origin", &origin)],
    )
    .await;
    assert_eq!(status, 200);
    let cookie = crate::common::cookie_of(&headers, "better-auth.session_token").unwrap();
    let (status, _, token) = send(
        "GET",
        &format!("{}/api/auth/convex/token?probe=1", server.site_url),
        vec![],
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, 200);
    let token: serde_json::Value = serde_json::from_slice(&token).unwrap();
    let jwt = token["token"].as_str().unwrap().to_owned();
    let session = cookie
        .split('=')
        .nth(1)
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let stdout = server.stdout.lock().join("\n");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("AUTH GET /convex/token 200 "))
        .unwrap_or_else(|| panic!("no AUTH line for /convex/token:\n{stdout}"));
    assert!(line.ends_with("ms"), "{line}");
    assert!(stdout.contains("AUTH POST /sign-up/email 200 "), "{stdout}");
    let (_, _, metrics) = send("GET", &format!("{}/metrics", server.url), vec![], &[]).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains(
            "ferrovex_auth_requests_total{method=\"GET\",route=\"/convex/token\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        "ferrovex_auth_request_duration_seconds_count{method=\"GET\",route=\"/convex/token\"} 1"
    ));
    let (_, _, dashboard) = send("GET", &format!("{}/_dashboard", server.url), vec![], &[]).await;
    let dashboard = String::from_utf8(dashboard).unwrap();
    assert!(
        dashboard.contains("GET /convex/token"),
        "the dashboard shows the route"
    );
    for (what, secret) in [
        ("JWT", jwt.as_str()),
        ("session token", session.as_str()),
        ("query", "probe"),
    ] {
        assert!(!stdout.contains(secret), "stdout holds the {what}");
        assert!(!metrics.contains(secret), "/metrics holds the {what}");
        assert!(
            !dashboard.contains(secret),
            "the dashboard holds the {what}"
        );
    }
}
