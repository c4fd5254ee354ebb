//! Built-in auth end to end: Better-Auth-compatible routes, counted store costs, key rotation
//! across processes, static keys, rejected tokens, and logs free of secrets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferrovex_auth::keys::{JwksRow, SigningKey, new_id};
use ferrovex_auth::time::now_ms;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value as Json, json};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{PASSWORD, Server, cookie_of, send, sign_up, site, token};

const SECRET: &str = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz";

async fn current_user(server: &Server, jwt: &str) -> (u16, Json) {
    let auth = format!("Bearer {jwt}");
    let (status, _, body) = send(
        "POST",
        &format!("{}/api/query", server.url),
        json!({"path": "auth:getCurrentUser", "args": {}})
            .to_string()
            .into_bytes(),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
    )
    .await;
    (status, serde_json::from_slice(&body).unwrap_or(Json::Null))
}

async fn auth_counter(server: &Server, op: &str) -> u64 {
    let (_, _, body) = send("GET", &format!("{}/metrics", server.url), vec![], &[]).await;
    let text = String::from_utf8(body).unwrap();
    let prefix = format!("ferrovex_auth_store_calls_total{{op=\"{op}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
        .unwrap_or_else(|| panic!("no counter {op} in\n{text}"))
}

async fn jwks_total(server: &Server) -> u64 {
    auth_counter(server, "jwks.find_many").await + auth_counter(server, "jwks.insert").await
}

fn kid_of(jwt: &str) -> String {
    let header: Json = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn claims_of(jwt: &str) -> Map<String, Json> {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn static_jwks(keys: &[&SigningKey]) -> String {
    Json::Array(
        keys.iter()
            .map(|k| JwksRow::from_key(k, SECRET).unwrap().to_json())
            .collect(),
    )
    .to_string()
}

#[tokio::test]
async fn better_auth_routes_answer_like_better_auth() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        0,
        &[
            "--auth-secret",
            SECRET,
            "--trusted-origins",
            "http://localhost:3000",
        ],
        &[],
    );
    let (status, headers, body) = site(
        &server,
        "POST",
        "/api/auth/sign-up/email",
        json!({"name": "Ann", "email": "Ann@Example.com", "password": PASSWORD}),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user"]["email"], "ann@example.com",
        "emails are lower-cased"
    );
    assert!(body["user"].get("password").is_none());
    let raw_set_cookie: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        raw_set_cookie
            .iter()
            .any(|c| c.starts_with("better-auth.session_token=")
                && c.contains("Max-Age=604800; Path=/; HttpOnly; SameSite=Lax")),
        "{raw_set_cookie:?}"
    );
    assert!(
        raw_set_cookie
            .iter()
            .any(|c| c.starts_with("better-auth.convex_jwt=") && c.contains("Max-Age=900"))
    );
    let cookie = cookie_of(&headers, "better-auth.session_token").unwrap();
    let session_token = body["token"].as_str().unwrap().to_owned();

    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-up/email",
        json!({"name": "Ann", "email": "ann@example.com", "password": PASSWORD}),
        &[],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"))
    );
    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-in/email",
        json!({"email": "ann@example.com", "password": "wrong password!"}),
        &[],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("INVALID_EMAIL_OR_PASSWORD"))
    );
    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-in/email",
        json!({"email": "nobody@example.com", "password": PASSWORD}),
        &[],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("INVALID_EMAIL_OR_PASSWORD")),
        "unknown users look like wrong passwords"
    );
    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-up/email",
        json!({"name": "B", "email": "b@example.com", "password": "short"}),
        &[],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("PASSWORD_TOO_SHORT"))
    );
    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-up/email",
        json!({"name": "B", "email": "not-an-email", "password": PASSWORD}),
        &[],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-in/email",
        json!({"email": "ann@example.com", "password": PASSWORD}),
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("INVALID_ORIGIN"))
    );
    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-in/email",
        json!({"email": "ann@example.com", "password": PASSWORD}),
        &[("origin", "http://localhost:3000")],
    )
    .await;
    assert_eq!((status, &body["redirect"]), (200, &json!(false)), "{body}");
    let (status, _, _) = send(
        "POST",
        &format!("{}/api/auth/sign-in/email", server.site_url),
        b"x".to_vec(),
        &[("content-type", "text/plain")],
    )
    .await;
    assert_eq!(status, 415);
    let huge = json!({"email": "ann@example.com", "password": "x".repeat(100 * 1024)})
        .to_string()
        .into_bytes();
    let (status, _, _) = send(
        "POST",
        &format!("{}/api/auth/sign-in/email", server.site_url),
        huge,
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(status, 413, "auth bodies are limited to 64 KiB");
    let (status, _, body) = send(
        "GET",
        &format!("{}/api/auth/nope", server.site_url),
        vec![],
        &[],
    )
    .await;
    assert_eq!((status, body.len()), (404, 0));

    let (status, _, body) = site(
        &server,
        "GET",
        "/api/auth/get-session",
        Json::Null,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["session"]["token"], session_token.as_str());
    // Bearer with the raw session token works like the cookie.
    let bearer = format!("Bearer {session_token}");
    let (status, _, _) = site(
        &server,
        "GET",
        "/api/auth/convex/token",
        Json::Null,
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 200);

    // Cookie-bearing POSTs need a trusted Origin.
    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-out",
        json!({}),
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("MISSING_OR_NULL_ORIGIN"))
    );
    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-out",
        json!({}),
        &[("cookie", &cookie), ("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("INVALID_ORIGIN"))
    );
    // A forged signature is no session.
    let forged = format!(
        "{}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D",
        cookie.split('.').next().unwrap()
    );
    let (status, _, body) = site(
        &server,
        "GET",
        "/api/auth/get-session",
        Json::Null,
        &[("cookie", &forged)],
    )
    .await;
    assert_eq!((status, body), (200, Json::Null));
    let (status, _, body) = site(
        &server,
        "POST",
        "/api/auth/sign-out",
        json!({}),
        &[("cookie", &cookie), ("origin", &server.site_url)],
    )
    .await;
    assert_eq!((status, body), (200, json!({"success": true})));
    // Replaying the signed-out session gets nothing.
    let (status, _, body) = site(
        &server,
        "GET",
        "/api/auth/get-session",
        Json::Null,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!((status, body), (200, Json::Null));
    let (status, _, body) = site(
        &server,
        "GET",
        "/api/auth/convex/token",
        Json::Null,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("UNAUTHORIZED")));
    server.interrupt();
}

#[tokio::test]
async fn rate_limit_applies_per_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        0,
        &["--auth-secret", SECRET, "--auth-rate-limit", "3"],
        &[],
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, headers, _) = site(
            &server,
            "POST",
            "/api/auth/sign-in/email",
            json!({"email": "x@example.com", "password": "whatever123"}),
            &[],
        )
        .await;
        if status == 429 {
            assert!(headers.contains_key("x-retry-after"));
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    server.interrupt();
}

#[tokio::test]
async fn token_operations_read_no_keys_and_one_joined_session_in_both_modes() {
    let key = SigningKey::generate(new_id(), now_ms()).unwrap();
    let jwks = static_jwks(&[&key]);
    for (mode, args) in [
        ("dynamic", vec!["--auth-secret", SECRET]),
        (
            "static",
            vec!["--auth-secret", SECRET, "--jwks", jwks.as_str()],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start_with(dir.path(), 0, &args, &[]);
        let cookie = sign_up(&server, "cost@example.com").await;
        let first = token(&server, &cookie).await;
        let (jwks_before, sessions_before) = (
            jwks_total(&server).await,
            auth_counter(&server, "session.find").await,
        );
        let mut last = String::new();
        for _ in 0..20 {
            last = token(&server, &cookie).await;
        }
        assert_eq!(
            jwks_total(&server).await - jwks_before,
            0,
            "{mode}: token operations read no keys"
        );
        assert_eq!(
            auth_counter(&server, "session.find").await - sessions_before,
            20,
            "{mode}: one joined session read per token"
        );
        if mode == "static" {
            assert_eq!(
                jwks_total(&server).await,
                0,
                "static mode never touches the jwks table"
            );
            assert_eq!(kid_of(&first), key.kid);
        }
        // Verifying a built-in token costs no auth-store call at all.
        let before: Vec<u64> = futures_util::future::join_all(
            ferrovex_auth::stats::OPERATIONS
                .iter()
                .map(|op| auth_counter(&server, op)),
        )
        .await;
        for _ in 0..10 {
            let (status, body) = current_user(&server, &last).await;
            assert_eq!(status, 200);
            assert_eq!(body["value"]["email"], "cost@example.com");
        }
        let after: Vec<u64> = futures_util::future::join_all(
            ferrovex_auth::stats::OPERATIONS
                .iter()
                .map(|op| auth_counter(&server, op)),
        )
        .await;
        assert_eq!(before, after, "{mode}: verification reads nothing");
        server.interrupt();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_old_tokens_valid_and_reaches_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let shared = [
        "--auth-secret",
        SECRET,
        "--site-url",
        "http://auth.test",
        "--jwks-refresh-secs",
        "1",
    ];
    let mut a_args = shared.to_vec();
    a_args.extend(["--jwks-rotation-secs", "3"]);
    let a = Server::start_with(dir.path(), 0, &a_args, &[]);
    let cookie = sign_up(&a, "rotate@example.com").await;
    let old = token(&a, &cookie).await;
    let old_kid = kid_of(&old);
    let b = Server::start_with(dir.path(), 0, &shared, &[]);
    // Wait for A to rotate.
    let deadline = Instant::now() + Duration::from_secs(20);
    let new = loop {
        let t = token(&a, &cookie).await;
        if kid_of(&t) != old_kid {
            break t;
        }
        assert!(Instant::now() < deadline, "no rotation within 20 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let new_kid = kid_of(&new);
    let (status, body) = current_user(&a, &old).await;
    assert_eq!(
        (status, &body["value"]["email"]),
        (200, &json!("rotate@example.com")),
        "the old key is in its grace period"
    );
    let (_, _, published) = site(&a, "GET", "/api/auth/convex/jwks", Json::Null, &[]).await;
    let kids: Vec<&str> = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
    // The second process learns the new key without a restart.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = current_user(&b, &new).await;
        if status == 200 {
            assert_eq!(body["value"]["email"], "rotate@example.com");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B never accepted A's new key: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.interrupt();
    b.interrupt();
}

#[tokio::test]
async fn static_mode_works_with_two_keys_and_jwks_commands_round_trip() {
    let older = SigningKey::generate(new_id(), now_ms() - 60_000).unwrap();
    let newer = SigningKey::generate(new_id(), now_ms()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks = static_jwks(&[&newer, &older]);
    let server = Server::start_with(
        dir.path(),
        0,
        &["--auth-secret", SECRET],
        &[("JWKS", jwks.as_str())],
    );
    let cookie = sign_up(&server, "static@example.com").await;
    let t = token(&server, &cookie).await;
    assert_eq!(kid_of(&t), newer.kid, "new tokens use the newest key");
    let (_, _, published) = site(&server, "GET", "/api/auth/convex/jwks", Json::Null, &[]).await;
    assert_eq!(published["keys"].as_array().unwrap().len(), 2);
    // A token signed with the older key still verifies.
    let mut claims = claims_of(&t);
    claims.insert("iat".into(), json!(now_ms() / 1000));
    let by_older = ferrovex_auth::jwt::sign(&older, &claims).unwrap();
    assert_eq!(current_user(&server, &by_older).await.0, 200);
    server.interrupt();

    // `jwks latest` prints a value static mode accepts; `jwks rotate` (static) adds a key.
    let exe = env!("CARGO_BIN_EXE_ferrovex");
    let keys_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(exe)
        .args(["jwks", "latest", "--auth-secret", SECRET, "--data-dir"])
        .arg(keys_dir.path())
        .env_remove("JWKS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let latest = String::from_utf8(out.stdout).unwrap();
    let rows: Json = serde_json::from_str(latest.trim()).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert!(
        rows[0]["privateKey"].as_str().unwrap().starts_with('"'),
        "Better Auth's JSON-quoted encrypted key"
    );
    let out = std::process::Command::new(exe)
        .args(["jwks", "rotate", "--auth-secret", SECRET, "--data-dir"])
        .arg(keys_dir.path())
        .env("JWKS", latest.trim())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rotated.as_array().unwrap().len(), 2);
    // Keys encrypted with another deployment's secret: the error says which flag to set.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "serve",
            "--api-port",
            "0",
            "--site-port",
            "0",
            "--web-port",
            "0",
        ])
        .args([
            "--auth-secret",
            "another-deployments-secret-0123456789",
            "--data-dir",
        ])
        .arg(elsewhere.path())
        .env("JWKS", latest.trim())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("set --auth-secret (or BETTER_AUTH_SECRET) to the secret of the deployment that made these keys"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let rotated_text = rotated.to_string();
    let server = Server::start_with(
        dir.path(),
        0,
        &["--auth-secret", SECRET],
        &[("JWKS", rotated_text.as_str())],
    );
    let cookie = sign_up(&server, "rotated@example.com").await;
    let t = token(&server, &cookie).await;
    assert_eq!(kid_of(&t), rotated[0]["id"].as_str().unwrap());
    assert_eq!(current_user(&server, &t).await.0, 200);
    server.interrupt();
}

fn forge(header: Json, claims: &Map<String, Json>, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Json::Object(claims.clone()).to_string())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test]
async fn unsafe_tokens_are_rejected_with_clear_errors() {
    let key = SigningKey::generate(new_id(), now_ms()).unwrap();
    let stranger = SigningKey::generate(new_id(), now_ms()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks = static_jwks(&[&key]);
    let server = Server::start_with(
        dir.path(),
        0,
        &["--auth-secret", SECRET, "--jwks", jwks.as_str()],
        &[],
    );
    let cookie = sign_up(&server, "attack@example.com").await;
    let good = token(&server, &cookie).await;
    assert_eq!(current_user(&server, &good).await.0, 200);
    let base = claims_of(&good);
    let now = now_ms() / 1000;
    let with = |k: &str, v: Json| {
        let mut c = base.clone();
        c.insert(k.to_owned(), v);
        c
    };
    let rs256 = |kid: &str| json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
    let public_jwk = key.public_jwk().to_string();
    let mut tampered = good.split('.').map(str::to_owned).collect::<Vec<_>>();
    tampered[1] =
        URL_SAFE_NO_PAD.encode(Json::Object(with("sub", json!("someone-else"))).to_string());
    let tampered = tampered.join(".");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            forge(json!({"alg": "none", "kid": key.kid}), &base, |_| {
                Vec::new()
            }),
            "alg none",
        ),
        (
            "HS256 signed with the public key",
            forge(json!({"alg": "HS256", "kid": key.kid}), &base, |m| {
                let mut mac = Hmac::<Sha256>::new_from_slice(public_jwk.as_bytes()).unwrap();
                mac.update(m);
                mac.finalize().into_bytes().to_vec()
            }),
            "HS256 is not accepted",
        ),
        (
            "unknown kid",
            ferrovex_auth::jwt::sign(&stranger, &base).unwrap(),
            "unknown kid",
        ),
        (
            "expired",
            ferrovex_auth::jwt::sign(&key, &with("exp", json!(now - 60))).unwrap(),
            "expired",
        ),
        (
            "not yet valid",
            ferrovex_auth::jwt::sign(&key, &with("nbf", json!(now + 3600))).unwrap(),
            "not yet valid",
        ),
        (
            "wrong iss",
            ferrovex_auth::jwt::sign(&key, &with("iss", json!("http://evil.example"))).unwrap(),
            "no auth provider",
        ),
        (
            "wrong aud",
            ferrovex_auth::jwt::sign(&key, &with("aud", json!("not-convex"))).unwrap(),
            "wrong audience",
        ),
        ("tampered payload", tampered, "bad signature"),
        (
            "oversized",
            ferrovex_auth::jwt::sign(&key, &with("pad", json!("x".repeat(20_000)))).unwrap(),
            "larger than",
        ),
        (
            "no kid",
            forge(json!({"alg": "RS256"}), &base, |m| {
                key.sign_rs256(m).unwrap()
            }),
            "no kid",
        ),
        ("garbage", "not-a-jwt".to_owned(), "three dot-separated"),
    ];
    let _ = rs256;
    for (name, jwt, reason) in &cases {
        let (status, body) = current_user(&server, jwt).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["code"], "InvalidAuthHeader", "{name}");
        assert!(
            body["message"].as_str().unwrap().contains(reason),
            "{name}: {body}"
        );
    }
    // The same tokens are refused over the WebSocket with an AuthError and a close.
    let ws_url = format!("{}/api/sync", server.url.replace("http://", "ws://"));
    for (name, jwt, _) in cases.iter().take(4) {
        let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
        ws.send(Message::Text(json!({"type": "Connect", "sessionId": "6b2c5a1e-8f3d-4c2a-9e1b-7a6d5c4b3a21", "connectionCount": 0, "lastCloseReason": null, "clientTs": 0}).to_string().into())).await.unwrap();
        ws.send(Message::Text(
            json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": jwt})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let msg = loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .unwrap()
            {
                Some(Ok(Message::Text(t))) => {
                    break serde_json::from_str::<Json>(t.as_str()).unwrap();
                }
                Some(Ok(_)) => continue,
                other => panic!("{name}: socket ended without AuthError: {other:?}"),
            }
        };
        assert_eq!(msg["type"], "AuthError", "{name}: {msg}");
        assert_eq!(msg["baseVersion"], 0);
        assert_eq!(msg["authUpdateAttempted"], true);
    }
    // A valid token over the WebSocket bumps the identity version.
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    ws.send(Message::Text(json!({"type": "Connect", "sessionId": "6b2c5a1e-8f3d-4c2a-9e1b-7a6d5c4b3a21", "connectionCount": 0, "lastCloseReason": null, "clientTs": 0}).to_string().into())).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": good})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    ws.send(Message::Text(json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [{"type": "Add", "queryId": 0, "udfPath": "auth:getCurrentUser", "args": [{}]}]}).to_string().into())).await.unwrap();
    let mut identity = 0;
    let mut user = Json::Null;
    while identity < 1 || user.is_null() {
        let Some(Ok(Message::Text(t))) = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
        else {
            continue;
        };
        let msg: Json = serde_json::from_str(t.as_str()).unwrap();
        if msg["type"] == "Transition" {
            identity = msg["endVersion"]["identity"].as_u64().unwrap();
            for m in msg["modifications"].as_array().unwrap() {
                if m["type"] == "QueryUpdated" {
                    user = m["value"].clone();
                }
            }
        }
    }
    assert_eq!(user["email"], "attack@example.com");
    server.interrupt();
}

#[tokio::test]
async fn no_log_line_holds_a_password_token_or_secret() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        0,
        &["--auth-secret", SECRET],
        &[("FERROVEX_LOG", "trace")],
    );
    let (_, headers, body) = site(
        &server,
        "POST",
        "/api/auth/sign-up/email",
        json!({"name": "Log", "email": "log@example.com", "password": PASSWORD}),
        &[],
    )
    .await;
    let session_token = body["token"].as_str().unwrap().to_owned();
    let cookie = cookie_of(&headers, "better-auth.session_token").unwrap();
    site(
        &server,
        "POST",
        "/api/auth/sign-in/email",
        json!({"email": "log@example.com", "password": "a wrong password"}),
        &[],
    )
    .await;
    let jwt = token(&server, &cookie).await;
    current_user(&server, &jwt).await;
    current_user(&server, &format!("{jwt}x")).await;
    // D9: the JWT over the sync socket too (the WebSocket library logs frames at trace).
    let ws_url = format!("{}/api/sync", server.url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    ws.send(Message::Text(json!({"type": "Connect", "sessionId": "0d3e7c0e-0000-4000-8000-0000000000aa", "connectionCount": 0, "lastCloseReason": null, "clientTs": 0}).to_string().into())).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": jwt})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    ws.send(Message::Text(json!({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [{"type": "Add", "queryId": 0, "udfPath": "auth:getCurrentUser", "args": [{}]}]}).to_string().into())).await.unwrap();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        if matches!(&frame, Message::Text(t) if t.as_str().contains("Transition")) {
            break;
        }
    }
    drop(ws);
    send(
        "POST",
        &format!("{}/api/mutation", server.url),
        json!({"path": "teams:create", "args": {"name": "t"}})
            .to_string()
            .into_bytes(),
        &[("authorization", &format!("Bearer {jwt}"))],
    )
    .await;
    site(
        &server,
        "POST",
        "/api/auth/sign-out",
        json!({}),
        &[("cookie", &cookie), ("origin", &server.site_url)],
    )
    .await;
    let stderr = server.stderr.clone();
    let stdout = server.stdout.clone();
    server.interrupt();
    let lines: Vec<String> = stderr
        .lock()
        .iter()
        .chain(stdout.lock().iter())
        .cloned()
        .collect();
    assert!(!lines.is_empty(), "trace logging produced lines");
    let jwt_signature = jwt.rsplit('.').next().unwrap().to_owned();
    for secret in [
        PASSWORD,
        "a wrong password",
        session_token.as_str(),
        jwt_signature.as_str(),
        SECRET,
    ] {
        let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaked.is_empty(), "a log line holds a secret: {leaked:?}");
    }
    let _ = Arc::new(());
}

/// The Better Auth peer (`bench/better-auth-peer`), started for one test.
struct Peer {
    child: std::process::Child,
    url: String,
    jwks: String,
}

impl Peer {
    fn start(env: &[(&str, &str)]) -> Peer {
        use std::io::BufRead;
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/better-auth-peer");
        assert!(
            dir.join("node_modules/better-auth").is_dir(),
            "the Better Auth peer is not installed in {}; run scripts/test, which installs it",
            dir.display()
        );
        let mut cmd = std::process::Command::new("node");
        cmd.arg("server.mjs")
            .current_dir(&dir)
            .env_remove("JWKS")
            .stdout(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the Better Auth peer");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = String::new();
        let jwks = loop {
            let line = lines.next().expect("peer exited early").unwrap();
            if let Some(u) = line.strip_prefix("peer: ") {
                url = u.trim().to_owned();
            }
            if let Some(j) = line.strip_prefix("jwks: ") {
                break j.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Peer { child, url, jwks }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_move_both_ways_between_better_auth_and_ferrovex() {
    // Better Auth -> Ferrovex: the peer's getLatestJwks output signs Ferrovex's tokens.
    let peer = Peer::start(&[("BETTER_AUTH_SECRET", SECRET)]);
    let ba_rows: Json = serde_json::from_str(&peer.jwks).unwrap();
    let ba_kid = ba_rows[0]["id"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        0,
        &["--auth-secret", SECRET],
        &[("JWKS", peer.jwks.as_str())],
    );
    let cookie = sign_up(&server, "from-ba@example.com").await;
    let jwt = token(&server, &cookie).await;
    assert_eq!(kid_of(&jwt), ba_kid);
    assert_eq!(current_user(&server, &jwt).await.0, 200);
    // ... and the peer's own published key verifies it.
    let (_, _, body) = send(
        "GET",
        &format!("{}/api/auth/convex/jwks", peer.url),
        vec![],
        &[],
    )
    .await;
    let published: Json = serde_json::from_slice(&body).unwrap();
    let jwk = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == ba_kid.as_str())
        .expect("peer publishes its key")
        .clone();
    let public = ferrovex_auth::keys::PublicKey::from_jwk(&jwk).unwrap();
    let decoded = ferrovex_auth::jwt::decode(&jwt).unwrap();
    let expect = ferrovex_auth::jwt::Expectations {
        issuer: &server.site_url,
        audience: Some("convex"),
        algorithms: &["RS256"],
        now_secs: now_ms() / 1000,
    };
    ferrovex_auth::jwt::verify(&decoded, &public, &expect).unwrap();
    server.interrupt();
    drop(peer);

    // Ferrovex -> Better Auth: `ferrovex jwks latest` signs the peer's tokens in static mode.
    let keys_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrovex"))
        .args(["jwks", "latest", "--auth-secret", SECRET, "--data-dir"])
        .arg(keys_dir.path())
        .env_remove("JWKS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fx_jwks = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let fx_rows: Json = serde_json::from_str(&fx_jwks).unwrap();
    let fx_key = JwksRow::from_json(&fx_rows[0])
        .unwrap()
        .to_key(SECRET)
        .unwrap();
    let peer = Peer::start(&[
        ("BETTER_AUTH_SECRET", SECRET),
        ("MODE", "static"),
        ("JWKS", fx_jwks.as_str()),
    ]);
    let origin = peer.url.clone();
    let (status, headers, body) = send(
        "POST",
        &format!("{}/api/auth/sign-up/email", peer.url),
        json!({"name": "Peer", "email": "to-ba@example.com", "password": PASSWORD})
            .to_string()
            .into_bytes(),
        &[("content-type", "application/json"), ("origin", &origin)],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let cookie = cookie_of(&headers, "better-auth.session_token").unwrap();
    let (status, _, body) = send(
        "GET",
        &format!("{}/api/auth/convex/token", peer.url),
        vec![],
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let peer_jwt = serde_json::from_slice::<Json>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        kid_of(&peer_jwt),
        fx_key.kid,
        "the peer signs with Ferrovex's key"
    );
    let decoded = ferrovex_auth::jwt::decode(&peer_jwt).unwrap();
    let expect = ferrovex_auth::jwt::Expectations {
        issuer: &peer.url,
        audience: Some("convex"),
        algorithms: &["RS256"],
        now_secs: now_ms() / 1000,
    };
    ferrovex_auth::jwt::verify(&decoded, &fx_key.public_key(), &expect).unwrap();
}

/// The official npm `better-auth` client and `convex` clients together, in
/// `tests/compat/auth_client.test.mjs` (it starts its own server from this binary).
#[tokio::test]
async fn official_better_auth_client_suite_passes() {
    crate::common::run_node_suite("auth_client.test.mjs", "better-auth", &[], 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_create_exactly_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(Server::start_with(
        dir.path(),
        0,
        &["--auth-secret", SECRET],
        &[],
    ));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            sign_up(&server, &format!("first{i}@example.com")).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(auth_counter(&server, "jwks.insert").await, 1);
    let (_, _, published) = site(&server, "GET", "/api/auth/convex/jwks", Json::Null, &[]).await;
    assert_eq!(published["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn sessions_slide_once_older_than_the_update_age() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        0,
        &["--auth-secret", SECRET, "--session-update-age-secs", "1"],
        &[],
    );
    let cookie = sign_up(&server, "slide@example.com").await;
    let (_, _, first) = site(
        &server,
        "GET",
        "/api/auth/get-session",
        Json::Null,
        &[("cookie", &cookie)],
    )
    .await;
    let updates = auth_counter(&server, "session.update").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, headers, second) = site(
        &server,
        "GET",
        "/api/auth/get-session",
        Json::Null,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        second["session"]["expiresAt"].as_str().unwrap()
            > first["session"]["expiresAt"].as_str().unwrap(),
        "{first} -> {second}"
    );
    assert!(
        cookie_of(&headers, "better-auth.session_token").is_some(),
        "the cookie is re-set with a new Max-Age"
    );
    assert_eq!(auth_counter(&server, "session.update").await, updates + 1);
    server.interrupt();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_jwt_and_oidc_providers_verify_tokens_from_elsewhere() {
    // An OIDC issuer: another Ferrovex deployment.
    let issuer_dir = tempfile::tempdir().unwrap();
    let issuer = Server::start_with(
        issuer_dir.path(),
        0,
        &["--auth-secret", "another-secret-abcdefghijklmnopqrstuvwxyz"],
        &[],
    );
    let cookie = sign_up(&issuer, "oidc@example.com").await;
    let oidc_token = token(&issuer, &cookie).await;
    // A customJwt provider with its keys inline in a data: URI.
    let key = SigningKey::generate(new_id(), now_ms()).unwrap();
    let jwks = json!({"keys": [key.published_jwk()]}).to_string();
    let data_uri = format!(
        "data:text/plain;charset=utf-8;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jwks)
    );
    let config = json!({"providers": [
        {"type": "customJwt", "issuer": "https://custom.example", "jwks": data_uri, "algorithm": "RS256", "applicationID": "my-app"},
        {"domain": issuer.site_url, "applicationID": "convex"},
    ]});
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("auth.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let server = Server::start_with(
        dir.path(),
        0,
        &[
            "--auth-secret",
            SECRET,
            "--auth-config",
            config_path.to_str().unwrap(),
        ],
        &[],
    );

    let (status, body) = current_user(&server, &oidc_token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"]["email"], "oidc@example.com");
    let mut claims = third_party_claims("https://custom.example", "user-1", "my-app", "Custom");
    claims.insert("org".to_owned(), json!({"id": 7}));
    let custom = ferrovex_auth::jwt::sign(&key, &claims).unwrap();
    let (status, body) = current_user(&server, &custom).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"]["name"], "Custom");
    assert_eq!(
        body["value"]["tokenIdentifier"],
        "https://custom.example|user-1"
    );
    claims.insert("aud".to_owned(), json!("someone-else"));
    let wrong = ferrovex_auth::jwt::sign(&key, &claims).unwrap();
    assert_eq!(current_user(&server, &wrong).await.0, 401);
    server.interrupt();
    issuer.interrupt();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_mid_session_ends_it_with_an_auth_error() {
    let key = SigningKey::generate(new_id(), now_ms()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks = static_jwks(&[&key]);
    let server = Server::start_with(
        dir.path(),
        0,
        &["--auth-secret", SECRET, "--jwks", jwks.as_str()],
        &[],
    );
    let cookie = sign_up(&server, "expire@example.com").await;
    let mut claims = claims_of(&token(&server, &cookie).await);
    let now = now_ms() / 1000;
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 2));
    let short = ferrovex_auth::jwt::sign(&key, &claims).unwrap();
    let ws_url = format!("{}/api/sync", server.url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    ws.send(Message::Text(json!({"type": "Connect", "sessionId": "6b2c5a1e-8f3d-4c2a-9e1b-7a6d5c4b3a21", "connectionCount": 0, "lastCloseReason": null, "clientTs": 0}).to_string().into())).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": short})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let started = Instant::now();
    let mut saw_identity = false;
    let error = loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("an AuthError within 20 s");
        let Some(Ok(Message::Text(t))) = frame else {
            continue;
        };
        let msg: Json = serde_json::from_str(t.as_str()).unwrap();
        if msg["type"] == "Transition" && msg["endVersion"]["identity"] == 1 {
            saw_identity = true;
        }
        if msg["type"] == "AuthError" {
            break msg;
        }
    };
    assert!(saw_identity, "the token was accepted first");
    assert_eq!(error["authUpdateAttempted"], false, "{error}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    server.interrupt();
}

/// Claims of a token from another issuer, valid for ten minutes.
fn third_party_claims(iss: &str, sub: &str, aud: &str, name: &str) -> Map<String, Json> {
    let now = now_ms() / 1000;
    let mut claims = Map::new();
    for (k, v) in [
        ("iss", json!(iss)),
        ("sub", json!(sub)),
        ("aud", json!(aud)),
        ("iat", json!(now)),
        ("exp", json!(now + 600)),
        ("name", json!(name)),
    ] {
        claims.insert(k.to_owned(), v);
    }
    claims
}

/// Runs the openssl CLI in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An HTTPS server on 127.0.0.1 answering every request with `body` as JSON. Its certificate
/// (for `localhost` and 127.0.0.1) is signed by a throwaway CA; returns the port and the CA's
/// PEM file.
async fn https_json_server(dir: &std::path::Path, body: String) -> (u16, std::path::PathBuf) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let quiet = ["-days", "2", "-nodes"];
    openssl(
        dir,
        &[
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=Ferrovex test CA",
            ][..],
            &quiet,
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("leaf.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                // Untrusting clients abort the handshake: nothing to answer then.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65536 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, dir.join("ca.pem"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_key_sets_are_fetched_over_https_from_trusted_issuers_only() {
    let tls_dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(new_id(), now_ms()).unwrap();
    let jwks = json!({"keys": [key.published_jwk()]}).to_string();
    let (port, ca) = https_json_server(tls_dir.path(), jwks).await;
    let config = json!({"providers": [
        {"type": "customJwt", "issuer": "https://tls.example", "jwks": format!("https://localhost:{port}/jwks"), "algorithm": "RS256", "applicationID": "tls-app"},
    ]});
    let claims = third_party_claims("https://tls.example", "tls-user", "tls-app", "Over TLS");
    let token = ferrovex_auth::jwt::sign(&key, &claims).unwrap();
    let ca = ca.to_str().unwrap().to_owned();
    // Trusting the test CA (SSL_CERT_FILE): the key set is fetched over TLS and the token passes.
    // Without it, the certificate is unknown: the fetch fails and so does the token.
    for (trust, expected) in [(Some(ca.as_str()), 200), (None, 401)] {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("auth.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let env: Vec<(&str, &str)> = trust.map(|c| ("SSL_CERT_FILE", c)).into_iter().collect();
        let server = Server::start_with(
            dir.path(),
            0,
            &[
                "--auth-secret",
                SECRET,
                "--auth-config",
                config_path.to_str().unwrap(),
            ],
            &env,
        );
        let (status, body) = current_user(&server, &token).await;
        assert_eq!(
            status,
            expected,
            "trusting the CA: {}: {body}",
            trust.is_some()
        );
        if expected == 200 {
            assert_eq!(body["value"]["name"], "Over TLS");
        } else {
            let logged = server.stderr.lock().join("\n");
            assert!(
                logged.contains("certificate") || body.to_string().contains("certificate"),
                "the refusal names the certificate: {body} / {logged}"
            );
        }
        server.interrupt();
    }
}

#[tokio::test]
async fn account_changes_refuse_bad_input_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 0, &["--auth-secret", SECRET], &[]);
    let cookie = sign_up(&server, "changes@example.com").await;
    let origin = server.site_url.clone();
    let with = |cookie: &str| {
        vec![
            ("cookie".to_owned(), cookie.to_owned()),
            ("origin".to_owned(), origin.clone()),
        ]
    };
    let post = |path: &'static str, body: Json, headers: Vec<(String, String)>| {
        let server = &server;
        async move {
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            site(server, "POST", path, body, &h).await
        }
    };
    let cases = [
        (
            "/api/auth/update-user",
            json!({"name": "x".repeat(257)}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"name": ""}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"name": 7}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"image": "h".repeat(2049)}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/update-user",
            json!({"email": "new@example.com"}),
            400,
            "EMAIL_CAN_NOT_BE_UPDATED",
        ),
        (
            "/api/auth/update-user",
            json!({}),
            400,
            "NO_FIELDS_TO_UPDATE",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": PASSWORD}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": PASSWORD, "newPassword": "p".repeat(129)}),
            400,
            "PASSWORD_TOO_LONG",
        ),
        (
            "/api/auth/change-password",
            json!({"currentPassword": "wrong password", "newPassword": "new password 1"}),
            400,
            "INVALID_PASSWORD",
        ),
        (
            "/api/auth/revoke-session",
            json!({"token": 12}),
            400,
            "VALIDATION_ERROR",
        ),
    ];
    for (path, body, status, code) in cases {
        let (got, _, reply) = post(path, body.clone(), with(&cookie)).await;
        assert_eq!(
            (got, reply["code"].as_str()),
            (status, Some(code)),
            "{path} {body}: {reply}"
        );
    }
    // Account deletion is off unless enabled (`--auth-delete-user`): 404, as in Better Auth.
    let (status, _, reply) = post(
        "/api/auth/delete-user",
        json!({"password": PASSWORD}),
        with(&cookie),
    )
    .await;
    assert_eq!((status, reply["code"].as_str()), (404, Some("NOT_FOUND")));
    // No session: 401; a foreign origin with the cookie: 403.
    let (status, _, _) = post(
        "/api/auth/update-user",
        json!({"name": "X"}),
        vec![("origin".into(), origin.clone())],
    )
    .await;
    assert_eq!(status, 401);
    let mut foreign = with(&cookie);
    foreign[1].1 = "http://evil.example".into();
    let (status, _, _) = post(
        "/api/auth/change-password",
        json!({"currentPassword": PASSWORD, "newPassword": "new password 1"}),
        foreign,
    )
    .await;
    assert_eq!(status, 403);
    // Nothing changed: the name and the password are the originals.
    let (_, _, session) = site(
        &server,
        "GET",
        "/api/auth/get-session",
        Json::Null,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(session["user"]["name"], "Ann");
    let (status, _, _) = site(
        &server,
        "POST",
        "/api/auth/sign-in/email",
        json!({"email": "changes@example.com", "password": PASSWORD}),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    server.interrupt();
}
