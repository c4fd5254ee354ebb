//! The site origin answers CORS with credentials for `--trusted-origins` (a frontend on
//! another origin, such as a Vite dev server, signs in directly) and for nobody else.

use serde_json::json;

use crate::common::{Server, send};

const FRONTEND: &str = "http://localhost:5173";

#[tokio::test]
async fn trusted_origins_get_credentialed_cors_and_others_get_none() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 0, &["--trusted-origins", FRONTEND], &[]);
    let url = format!("{}/api/auth/sign-up/email", server.site_url);
    let preflight = |origin: &'static str| {
        let url = url.clone();
        async move {
            send(
                "OPTIONS",
                &url,
                Vec::new(),
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "content-type"),
                ],
            )
            .await
        }
    };

    let (status, headers, _) = preflight(FRONTEND).await;
    assert_eq!(status, 200);
    assert_eq!(headers["access-control-allow-origin"], FRONTEND);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(headers["access-control-allow-headers"], "content-type");

    let (_, headers, _) = preflight("http://evil.example").await;
    assert!(headers.get("access-control-allow-origin").is_none());

    // The real request from the trusted origin is readable there, cookie included.
    let body =
        json!({"name": "Vi", "email": "vi@example.com", "password": "correct horse battery"});
    let (status, headers, _) = send(
        "POST",
        &url,
        body.to_string().into_bytes(),
        &[("content-type", "application/json"), ("origin", FRONTEND)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["access-control-allow-origin"], FRONTEND);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(headers.get("set-cookie").is_some());

    // An untrusted origin still cannot sign in with cookies, and gets no CORS headers.
    let body =
        json!({"name": "Ev", "email": "ev@example.com", "password": "correct horse battery"});
    let (status, headers, _) = send(
        "POST",
        &url,
        body.to_string().into_bytes(),
        &[
            ("content-type", "application/json"),
            ("origin", "http://evil.example"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    assert!(headers.get("access-control-allow-origin").is_none());
}
