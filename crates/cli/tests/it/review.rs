//! Regressions of the outside security review (`security-review.md`), by D-number, against a
//! real server: each test fails on the code the review read.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value as Json, json};

use crate::common::{PASSWORD, Server, cookie_of, send, sign_up, site};

async fn sign_in(server: &Server, email: &str, extra: Json) -> (u16, hyper::HeaderMap, Json) {
    let mut body = json!({ "email": email, "password": PASSWORD });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    site(server, "POST", "/api/auth/sign-in/email", body, &[]).await
}

async fn session_of(server: &Server, headers: &[(&str, &str)]) -> (hyper::HeaderMap, Json) {
    let (status, headers, body) =
        site(server, "GET", "/api/auth/get-session", Json::Null, headers).await;
    assert_eq!(status, 200, "{body}");
    (headers, body)
}

/// D6: a `callbackURL` a browser would read as another host is refused, whatever the
/// spelling; plain paths within the site still work.
#[tokio::test(flavor = "multi_thread")]
async fn d6_callback_urls_that_leave_the_site_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 0, &["--auth-rate-limit", "0"], &[]);
    let email = "d6@example.com";
    sign_up(&server, email).await;
    for evil in [
        "/\t/evil.example",
        "/\r/evil.example",
        "/\n/evil.example",
        "/ /evil.example",
        "//evil.example",
        "/\\evil.example",
        "/%2F/evil.example",
        "/%5c/evil.example",
        "/#//evil.example",
        "http://evil.example/",
        "javascript:alert(1)",
        "evil.example",
    ] {
        let (status, _, body) = sign_in(&server, email, json!({ "callbackURL": evil })).await;
        assert_eq!(status, 403, "{evil:?} was accepted: {body}");
        assert_eq!(body["code"], "INVALID_CALLBACK_URL", "{evil:?}: {body}");
    }
    for fine in [
        "/",
        "/dashboard",
        "/teams/a-b_c.d?tab=1&x=%20",
        &server.site_url.clone(),
    ] {
        let (status, _, body) = sign_in(&server, email, json!({ "callbackURL": fine })).await;
        assert_eq!(status, 200, "{fine:?} was refused: {body}");
        assert_eq!(body["url"], fine, "{body}");
    }
}

/// D7: signing out with the raw Bearer token sign-in answers with ends that session.
#[tokio::test(flavor = "multi_thread")]
async fn d7_bearer_sign_out_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let email = "d7@example.com";
    sign_up(&server, email).await;
    let (status, _, body) = sign_in(&server, email, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let bearer = format!("Bearer {}", body["token"].as_str().unwrap());
    let (_, before) = session_of(&server, &[("authorization", &bearer)]).await;
    assert_eq!(before["user"]["email"], email, "{before}");
    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-out",
        json!({}),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!((status, &body), (200, &json!({ "success": true })));
    let (_, after) = session_of(&server, &[("authorization", &bearer)]).await;
    assert!(
        after.is_null(),
        "the session outlived its sign-out: {after}"
    );
}

/// D8: a session signed in with `rememberMe: false` is not turned into a 7-day persistent one
/// by the first refresh.
#[tokio::test(flavor = "multi_thread")]
async fn d8_remember_me_false_survives_the_sliding_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let email = "d8@example.com";
    sign_up(&server, email).await;
    let (status, headers, body) = sign_in(&server, email, json!({ "rememberMe": false })).await;
    assert_eq!(status, 200, "{body}");
    let session = cookie_of(&headers, "better-auth.session_token").unwrap();
    let dont = cookie_of(&headers, "better-auth.dont_remember").expect("dont_remember cookie");
    let cookies = format!("{session}; {dont}");
    let (headers, body) = session_of(&server, &[("cookie", &cookies)]).await;
    assert_eq!(body["user"]["email"], email, "{body}");
    assert!(
        cookie_of(&headers, "better-auth.session_token").is_none(),
        "the session cookie was re-set (made persistent): {headers:?}"
    );
    let expires = body["session"]["expiresAt"].as_str().unwrap();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    let expires_ms = chrono_ms(expires);
    assert!(
        expires_ms - now_ms < 86_400_000.0 + 60_000.0,
        "extended past a day: {expires}"
    );
    // Without the marker, the same session slides as usual (the refresh still works).
    let (headers, _) = session_of(&server, &[("cookie", &session)]).await;
    assert!(cookie_of(&headers, "better-auth.session_token").is_some());
}

/// Milliseconds since the epoch of an ISO date `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn chrono_ms(iso: &str) -> f64 {
    let digits = |r: std::ops::Range<usize>| iso[r].parse::<i64>().unwrap();
    let (y, m, d) = (digits(0..4), digits(5..7), digits(8..10));
    // Days from 1970-01-01 (civil-from-days, inverted).
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + digits(11..13) * 3600 + digits(14..16) * 60 + digits(17..19);
    secs as f64 * 1e3 + digits(20..23) as f64
}

/// D10: on an https deployment only the `__Secure-` session cookie is read; the same value
/// under the plain name (which any sibling site can plant) is no session.
#[tokio::test(flavor = "multi_thread")]
async fn d10_an_https_deployment_reads_only_the_secure_cookie_name() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site_url = format!("https://127.0.0.1:{port}");
    let server = Server::start_with(
        dir.path(),
        0,
        &["--site-port", &port.to_string(), "--site-url", &site_url],
        &[],
    );
    let (status, headers, body) = site(
        &server,
        "POST",
        "/api/auth/sign-up/email",
        json!({ "name": "S", "email": "d10@example.com", "password": PASSWORD }),
        &[("origin", &site_url)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let secure = cookie_of(&headers, "__Secure-better-auth.session_token").expect("secure cookie");
    let value = secure.split_once('=').unwrap().1;
    let (_, good) = session_of(&server, &[("cookie", &secure)]).await;
    assert_eq!(good["user"]["email"], "d10@example.com", "{good}");
    let planted = format!("better-auth.session_token={value}");
    let (_, bad) = session_of(&server, &[("cookie", &planted)]).await;
    assert!(bad.is_null(), "the plain cookie name was honoured: {bad}");
}

/// A malformed `FERROVEX_LOG` is named in a warning (the server still starts, at `info`),
/// not silently replaced.
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_log_filter_is_named_in_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 0, &[], &[("FERROVEX_LOG", "loud=[")]);
    let mut found = false;
    for _ in 0..40 {
        found = server
            .stderr
            .lock()
            .iter()
            .any(|l| l.contains("FERROVEX_LOG=\"loud=[\" is not a log filter"));
        if found {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(found, "{:?}", server.stderr.lock());
    // Written to a pipe, the log carries no colour codes.
    let coloured: Vec<String> = server
        .stderr
        .lock()
        .iter()
        .filter(|l| l.contains('\u{1b}'))
        .cloned()
        .collect();
    assert!(coloured.is_empty(), "{coloured:?}");
}

/// D12: the dashboard shows no argument value (validation errors quote them), and neither it
/// nor `/metrics` is readable from another origin (the Convex API keeps Convex's CORS: it honours no cookie).
#[tokio::test(flavor = "multi_thread")]
async fn d12_the_dashboard_hides_argument_values_and_answers_no_other_origin() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let body = json!({
        "path": "messages:page",
        "args": { "channel": "x", "paginationOpts": { "numItems": 5, "cursor": null }, "newestFirst": "my-password-LEAK" },
    });
    let (status, _, reply) = send(
        "POST",
        &format!("{}/api/query", server.url),
        body.to_string().into_bytes(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&reply).contains("error"),
        "the query failed as expected"
    );
    let evil = [("origin", "http://evil.example")];
    for path in ["/_dashboard", "/metrics"] {
        let (status, headers, page) =
            send("GET", &format!("{}{path}", server.url), Vec::new(), &evil).await;
        assert_eq!(status, 200);
        assert!(
            !String::from_utf8_lossy(&page).contains("my-password-LEAK"),
            "{path} shows an argument value"
        );
        assert!(
            headers.get("access-control-allow-origin").is_none(),
            "{path} is readable from another origin: {headers:?}"
        );
    }
    let (_, headers, _) = send(
        "OPTIONS",
        &format!("{}/api/query", server.url),
        Vec::new(),
        &[
            ("origin", "http://evil.example"),
            ("access-control-request-method", "POST"),
        ],
    )
    .await;
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://evil.example"
    );
}

/// D5: delete-user's password check is rate-limited per client like sign-in, so it is neither
/// a guessing oracle nor a way to flood the server with scrypt work (the overall bound on
/// concurrent hashing is `ferrovex_auth::hashing`'s unit test).
#[tokio::test(flavor = "multi_thread")]
async fn d5_delete_user_password_guesses_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 0, &["--auth-delete-user", "true"], &[]);
    let email = "d5@example.com";
    let cookie = sign_up(&server, email).await;
    let mut statuses = Vec::new();
    for _ in 0..15 {
        let (status, _, body) = site(
            &server,
            "POST",
            "/api/auth/delete-user",
            json!({ "password": "not the password" }),
            &[("cookie", &cookie), ("origin", &server.site_url)],
        )
        .await;
        statuses.push(status);
        if status == 429 {
            assert_eq!(body["code"], "TOO_MANY_REQUESTS", "{body}");
            break;
        }
        assert_eq!(body["code"], "INVALID_PASSWORD", "{body}");
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses.len() <= 11, "{statuses:?}");
    // The user is still there.
    let (_, session) = session_of(&server, &[("cookie", &cookie)]).await;
    assert_eq!(session["user"]["email"], email, "{session}");
}

/// A JSON POST from a given local address (any 127.0.0.0/8 address is this machine).
async fn post_from(ip: &str, url: &str, body: &Json, headers: &[(&str, &str)]) -> (u16, Json) {
    use http_body_util::BodyExt;
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_local_address(Some(ip.parse().unwrap()));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Full<bytes::Bytes>>(connector);
    let mut req = hyper::Request::post(url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(body.to_string().into()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Json::Null))
}

/// D3: behind Ferrovex's web proxy each browser has its own sign-in bucket (the proxy names
/// the client with its key), and a client talking to the site directly cannot pick its
/// bucket with the header.
#[tokio::test(flavor = "multi_thread")]
async fn d3_sign_in_limits_are_per_browser_behind_the_web_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let email = "d3@example.com";
    sign_up(&server, email).await;
    let wrong = json!({ "email": email, "password": "not the password" });
    let through_proxy = format!("{}/api/auth/sign-in/email", server.web_url);
    let origin = [("origin", server.web_url.as_str())];
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            post_from("127.0.0.2", &through_proxy, &wrong, &origin)
                .await
                .0,
        );
    }
    assert!(
        statuses.contains(&429),
        "one browser is limited: {statuses:?}"
    );
    // Another browser behind the same proxy still gets its own answer.
    let (status, body) = post_from("127.0.0.3", &through_proxy, &wrong, &origin).await;
    assert_eq!(
        status, 401,
        "another browser shares the first one's bucket: {body}"
    );
    // Directly at the site, the header without the proxy key changes nothing.
    let direct = format!("{}/api/auth/sign-in/email", server.site_url);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let forged = format!("10.9.8.{i}");
        statuses.push(
            post_from(
                "127.0.0.4",
                &direct,
                &wrong,
                &[("x-ferrovex-client-address", &forged)],
            )
            .await
            .0,
        );
    }
    assert!(
        statuses.contains(&429),
        "a forged address escaped the limit: {statuses:?}"
    );
}

fn token_started(started_ms: u64) -> ferrovex::ssr::cache::CachedToken {
    ferrovex::ssr::cache::CachedToken {
        jwt: "header.claims.signature".to_owned(),
        expires_at_ms: ferrovex::ssr::cache::now_ms() + 600_000,
        proof: "proof".to_owned(),
        exchange_started_ms: started_ms,
    }
}

/// D1: a revocation wins against a token exchange already under way, in the memory cache and
/// in Redis (also when the revocation happens on another web instance, and for a clear-all).
#[tokio::test(flavor = "multi_thread")]
async fn d1_a_revocation_wins_against_an_exchange_in_flight() {
    use ferrovex::ssr::cache::{MemoryCache, TokenCache, cache_key, now_ms};
    use ferrovex::ssr::redis_cache::RedisCache;
    let redis = crate::web::Redis::start();
    let a = RedisCache::connect(&redis.url).await.unwrap();
    let b = RedisCache::connect(&redis.url).await.unwrap();
    let memory = MemoryCache::default();
    let caches: [(&str, &dyn TokenCache, &dyn TokenCache); 3] = [
        ("memory", &memory, &memory),
        ("redis, one instance", &a, &a),
        ("redis, revoked on another instance", &a, &b),
    ];
    for (i, (name, exchanging, revoking)) in caches.into_iter().enumerate() {
        let key = cache_key(&format!("session-{i}"));
        let started = now_ms();
        // The exchange is at the site; meanwhile the session is revoked.
        revoking.remove(&key).await;
        exchanging.put(&key, token_started(started)).await;
        assert!(
            exchanging.get(&key, now_ms()).await.is_none(),
            "{name}: the revoked session's JWT was cached"
        );
        assert!(revoking.get(&key, now_ms()).await.is_none(), "{name}");
        // Another session's exchange is unaffected.
        let other = cache_key(&format!("other-{i}"));
        exchanging.put(&other, token_started(now_ms())).await;
        assert!(exchanging.get(&other, now_ms()).await.is_some(), "{name}");
    }
    // A clear-all wins against earlier exchanges too (after it, puts are held back for the
    // clock margin, so this comes last).
    for (name, exchanging, revoking) in [
        (
            "memory",
            &memory as &dyn TokenCache,
            &memory as &dyn TokenCache,
        ),
        ("redis", &a, &b),
    ] {
        let later = cache_key(&format!("later-{name}"));
        let started = now_ms();
        revoking.clear().await;
        exchanging.put(&later, token_started(started)).await;
        assert!(
            exchanging.get(&later, now_ms()).await.is_none(),
            "{name}: put after clear"
        );
    }
}

/// D15: while a web instance's Redis revocation channel is down, it does not answer from its
/// in-process layer, so a revocation published meanwhile is not missed.
#[tokio::test(flavor = "multi_thread")]
async fn d15_redis_revocations_do_not_fail_open_while_the_channel_reconnects() {
    use ferrovex::ssr::cache::{TokenCache, cache_key, now_ms};
    use ferrovex::ssr::redis_cache::RedisCache;
    let redis = crate::web::Redis::start();
    let a = RedisCache::connect(&redis.url).await.unwrap();
    let b = RedisCache::connect(&redis.url).await.unwrap();
    let wait = |what: &'static str, cache: &RedisCache, live: bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while cache.revocations_live() != live {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    wait("a subscribes", &a, true);
    // Drop every pub/sub connection on the server: the instances reconnect in a second.
    let killed = std::process::Command::new("redis-cli")
        .args(["-u", &redis.url, "CLIENT", "KILL", "TYPE", "pubsub"])
        .output()
        .unwrap();
    assert!(killed.status.success(), "{killed:?}");
    wait("a notices", &a, false);
    let key = cache_key("session-d15");
    b.put(&key, token_started(now_ms())).await;
    assert!(
        a.get(&key, now_ms()).await.is_some(),
        "read through to Redis"
    );
    b.remove(&key).await;
    assert!(
        a.get(&key, now_ms()).await.is_none(),
        "the revoked JWT was served from the local layer while the channel was down"
    );
    wait("a resubscribes", &a, true);
    assert!(a.get(&key, now_ms()).await.is_none());
}
