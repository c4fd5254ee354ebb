//! The demo is safe to leave running: writes that change what every visitor sees (settings,
//! posts) need a signed-in user, and an anonymous attempt changes nothing.

use serde_json::{Value as Json, json};

use crate::common::{Server, call, send, sign_up, token};

async fn as_user(server: &Server, jwt: &str, path: &str, args: Json) -> Json {
    let (_, _, body) = send(
        "POST",
        &format!("{}/api/mutation", server.url),
        json!({"path": path, "args": args}).to_string().into_bytes(),
        &[
            ("authorization", &format!("Bearer {jwt}")),
            ("content-type", "application/json"),
        ],
    )
    .await;
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn shared_demo_writes_need_a_signed_in_user() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let before = call(&server, "query", "config:getSettings", json!({})).await;
    let writes = [
        ("config:setSettings", json!({"motd": "pwned by anon"})),
        ("posts:create", json!({"title": "spam", "body": "by anon"})),
    ];
    for (path, args) in &writes {
        let reply = call(&server, "mutation", path, args.clone()).await;
        assert_eq!(reply["status"], "error", "{path}: {reply}");
        assert_eq!(
            reply["errorData"]["code"], "UNAUTHENTICATED",
            "{path}: {reply}"
        );
    }
    assert_eq!(
        call(&server, "query", "config:getSettings", json!({})).await,
        before,
        "an anonymous caller changed the settings"
    );
    let search = call(&server, "query", "posts:search", json!({"q": "spam"})).await;
    assert_eq!(search["value"], json!([]), "an anonymous post was stored");

    let jwt = token(&server, &sign_up(&server, "motd@example.com").await).await;
    for (path, args) in &writes {
        let reply = as_user(&server, &jwt, path, args.clone()).await;
        assert_eq!(reply["status"], "success", "{path}: {reply}");
    }
    let after = call(&server, "query", "config:getSettings", json!({})).await;
    assert_eq!(after["value"]["motd"], "pwned by anon");
    server.interrupt();
}
