//! Who may use the operator routes (`/_dashboard*`, `/metrics`): anyone on a loopback bind,
//! as in local development; on any other bind only callers with the admin key, either as
//! `Authorization: Convex <key>` or through the dashboard's login form, which sets an
//! HttpOnly, SameSite=Strict cookie (so no other site can send it along). `/metrics` may be
//! left open with `--metrics-public true`.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::ApiState;

/// The dashboard's session cookie.
pub const ADMIN_COOKIE: &str = "ferrovex_admin";
/// The login form.
pub const LOGIN_PATH: &str = "/_dashboard/login";

/// Whether the operator routes need the admin key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorAccess {
    /// Bound to loopback: open, as in local development.
    Open,
    /// Bound elsewhere: the admin key is needed (for `/metrics` too unless `metrics_public`).
    KeyRequired {
        /// `--metrics-public true`.
        metrics_public: bool,
    },
}

/// How long a dashboard sign-in lasts.
pub const ADMIN_SESSION_SECS: u64 = 12 * 3600;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The cookie value for a sign-in at `issued` (seconds): `<issued>.<digest of key and
/// issued>`, so the cookie is not the key and expires with [`ADMIN_SESSION_SECS`].
fn cookie_value(key: &str, issued: u64) -> String {
    let mac = ferrovex_auth::service::session_digest(&format!("ferrovex-dashboard:{issued}:{key}"));
    format!("{issued}.{mac}")
}

/// Whether a cookie value is a current sign-in for `key`.
fn cookie_valid(key: &str, value: &str) -> bool {
    let Some(issued) = value
        .split_once('.')
        .and_then(|(t, _)| t.parse::<u64>().ok())
    else {
        return false;
    };
    let now = now_secs();
    issued <= now + 60
        && now.saturating_sub(issued) < ADMIN_SESSION_SECS
        && ferrovex_auth::password::constant_time_eq(
            value.as_bytes(),
            cookie_value(key, issued).as_bytes(),
        )
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|h| h.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
}

/// Whether the request carries the admin key (header) or the dashboard's cookie.
fn authorized(state: &ApiState, headers: &HeaderMap) -> bool {
    let Some(admin) = &state.admin else {
        return false;
    };
    if let Some(raw) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some((scheme, credential)) = raw.trim().split_once(' ')
        && scheme.eq_ignore_ascii_case("convex")
    {
        return admin
            .check(crate::admin::split_credential(credential).0)
            .is_ok();
    }
    cookie(headers, ADMIN_COOKIE).is_some_and(|c| cookie_valid(admin.expose(), &c))
}

/// Whether a dashboard POST comes from the dashboard's own page: its `Origin` names the host
/// it was sent to. On loopback the host must be a loopback name too (so a DNS-rebound site
/// cannot pose as it); elsewhere the guard already required the admin key, which a rebound
/// site cannot send (the cookie is SameSite=Strict and bound to the real host).
pub(crate) fn from_own_page(state: &ApiState, headers: &HeaderMap) -> bool {
    if crate::jobs_view::same_origin(headers) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    matches!(state.operator, OperatorAccess::KeyRequired { .. })
        && matches!((host, origin), (Some(host), Some(origin))
            if origin == format!("http://{host}") || origin == format!("https://{host}"))
}

/// The 403 for a dashboard POST that did not come from its own page; `what` says what was
/// refused (`cancel`, `run functions`, `change data`).
pub(crate) fn not_own_page(what: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        format!("{what} from the dashboard's own page (the Origin must be this deployment)\n"),
    )
        .into_response()
}

/// The middleware in front of the operator routes.
pub(crate) async fn guard(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let mut response = admit(state, request, next).await;
    // No other page may frame the dashboard (its forms would then carry its own Origin).
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    response
}

/// Whether the request's `Host` names a loopback address (`127.0.0.1`, `localhost`, `[::1]`).
fn loopback_host(headers: &HeaderMap) -> bool {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|host| host.rsplit_once(':').map_or(host, |(name, _)| name))
        .is_some_and(|name| matches!(name, "127.0.0.1" | "localhost" | "[::1]"))
}

async fn admit(state: ApiState, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    // Open on loopback, but only at a loopback name: a DNS-rebound site (Host: evil.example,
    // resolving to 127.0.0.1) must not read the dashboard or the data in it.
    if state.operator == OperatorAccess::Open && !loopback_host(request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "the dashboard answers at 127.0.0.1 or localhost on a loopback bind\n",
        )
            .into_response();
    }
    let needs_key = match state.operator {
        OperatorAccess::Open => false,
        OperatorAccess::KeyRequired { metrics_public } => !(metrics_public && path == "/metrics"),
    };
    if !needs_key || path == LOGIN_PATH || authorized(&state, request.headers()) {
        return next.run(request).await;
    }
    if path.starts_with("/_dashboard") && request.method() == axum::http::Method::GET {
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, LOGIN_PATH)],
            "the dashboard needs the admin key",
        )
            .into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({
            "code": "AdminKeyRequired",
            "message": "this route needs the admin key (Authorization: Convex <key>, or sign in at /_dashboard/login)",
        })),
    )
        .into_response()
}

fn login_page(status: StatusCode, message: Option<&str>) -> Response {
    let note = message
        .map(|m| format!("<p role=\"alert\" class=\"err\">{m}</p>"))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Ferrovex dashboard: sign in</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto}}\
         input{{width:100%;padding:.5rem;font-family:monospace}}button{{margin-top:.75rem;padding:.5rem 1rem}}\
         .err{{color:#b00020}}</style></head><body><h1>Ferrovex dashboard</h1>\
         <p>This deployment is not bound to loopback, so the dashboard needs its admin key \
         (<code>cat &lt;data dir&gt;/admin_key</code> on the server, or <code>--admin-key</code>).</p>{note}\
         <form method=\"post\" action=\"{LOGIN_PATH}\"><label for=\"key\">Admin key</label>\
         <input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
         <button type=\"submit\">Sign in</button></form></body></html>"
    );
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /_dashboard/login`.
pub(crate) async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

/// Decodes one value of an `application/x-www-form-urlencoded` body (every dashboard form).
pub(crate) fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then_some(v)
    })?;
    ferrovex_auth::cookie::percent_decode(&raw.replace('+', " "))
}

/// `POST /_dashboard/login`: the admin key from the form; on success the cookie and a
/// redirect to the dashboard.
pub(crate) async fn login(State(state): State<ApiState>, body: Bytes) -> Response {
    let Some(admin) = &state.admin else {
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("This deployment has no admin key."),
        );
    };
    if body.len() > 4096 {
        return login_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("The form is too large."),
        );
    }
    let key = form_value(&body, "key").unwrap_or_default();
    match admin.check(key.trim()) {
        Ok(()) => {
            let cookie = format!(
                "{ADMIN_COOKIE}={}; Path=/_dashboard; Max-Age={ADMIN_SESSION_SECS}; HttpOnly; SameSite=Strict",
                cookie_value(admin.expose(), now_secs())
            );
            let mut response = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, "/_dashboard")],
                "signed in",
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        Err(crate::admin::AdminRefusal::TooMany) => login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many wrong keys; wait a few seconds."),
        ),
        Err(_) => login_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not this deployment's admin key."),
        ),
    }
}
