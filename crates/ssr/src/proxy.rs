//! The `/api/auth/*` proxy from the web origin to the site origin, so the browser talks to one
//! origin: GET and POST only, same-origin check on POST, bounded bodies, a deadline, redirects
//! passed back (never followed), and only Better Auth cookies in `Set-Cookie`. A successful
//! sign-out through the proxy drops the session's cached token at once.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http_body_util::Full;

use crate::auth::{SsrAuth, session_token};
use crate::http::Http;

/// Largest request body forwarded.
pub const MAX_PROXY_BODY: usize = 64 * 1024;
/// Deadline of one proxied request.
pub const PROXY_DEADLINE: Duration = Duration::from_secs(8);
/// Request headers forwarded to the site origin.
const FORWARDED: [&str; 7] = [
    "cookie",
    "content-type",
    "origin",
    "referer",
    "user-agent",
    "authorization",
    "accept",
];

/// State of the proxy.
#[derive(Clone, Debug)]
pub struct ProxyState {
    site_url: String,
    web_origin: String,
    auth: Arc<SsrAuth>,
    http: Http,
}

impl ProxyState {
    /// Proxies to `site_url`; POSTs must come from `web_origin` (e.g. `http://127.0.0.1:3000`).
    pub fn new(site_url: &str, web_origin: &str, auth: Arc<SsrAuth>) -> ProxyState {
        ProxyState {
            site_url: site_url.trim_end_matches('/').to_owned(),
            web_origin: web_origin.trim_end_matches('/').to_owned(),
            auth,
            http: Http::new(PROXY_DEADLINE),
        }
    }
}

/// The proxy routes (`/api/auth/*`).
pub fn proxy_router(state: ProxyState) -> Router {
    Router::new()
        .route("/api/auth/{*rest}", any(handle))
        .layer(DefaultBodyLimit::max(MAX_PROXY_BODY))
        .with_state(state)
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"message": message, "code": code})),
    )
        .into_response()
}

fn is_auth_cookie(set_cookie: &str) -> bool {
    set_cookie.starts_with("better-auth.") || set_cookie.starts_with("__Secure-better-auth.")
}

async fn handle(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if method != Method::GET && method != Method::POST {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Only GET and POST are proxied",
        );
    }
    if method == Method::POST {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        if origin.map(|o| o.trim_end_matches('/')) != Some(state.web_origin.as_str()) {
            return refuse(
                StatusCode::FORBIDDEN,
                "INVALID_ORIGIN",
                "Cross-origin requests are not proxied",
            );
        }
    }
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Request body too large",
            );
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "Cannot read the request body",
            );
        }
    };
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let mut req = hyper::Request::builder()
        .method(method.clone())
        .uri(format!("{}{path}", state.site_url));
    for name in FORWARDED {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v);
        }
    }
    let Ok(req) = req.body(Full::new(body)) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Cannot forward this request",
        );
    };
    let answer = match state.http.send(req).await {
        Ok(a) => a,
        Err(crate::SsrError::Deadline) => {
            return refuse(
                StatusCode::GATEWAY_TIMEOUT,
                "UPSTREAM_TIMEOUT",
                "The auth server did not answer in time",
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "auth proxy upstream failed");
            return refuse(
                StatusCode::BAD_GATEWAY,
                "UPSTREAM_ERROR",
                "The auth server could not be reached",
            );
        }
    };
    if method == Method::POST && uri.path().ends_with("/sign-out") && answer.status == 200 {
        // Sign-out through the proxy: forget the cached token of this session right away.
        if let Some(token) = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(session_token)
        {
            state.auth.clear_auth_cache(&token).await;
        }
    }
    let mut resp = Response::builder().status(answer.status);
    for name in [
        header::CONTENT_TYPE,
        header::CACHE_CONTROL,
        header::LOCATION,
    ] {
        if let Some(v) = answer.headers.get(&name) {
            resp = resp.header(name, v);
        }
    }
    for v in answer.headers.get_all(header::SET_COOKIE) {
        if v.to_str().is_ok_and(is_auth_cookie) {
            resp = resp.header(header::SET_COOKIE, v);
        }
    }
    resp.body(Body::from(answer.body)).unwrap_or_else(|_| {
        let mut r = StatusCode::BAD_GATEWAY.into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    })
}
