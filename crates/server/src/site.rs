//! The site origin (default 127.0.0.1:3211): Better-Auth-compatible `/api/auth/*` routes,
//! the Convex JWKS and OIDC discovery. Request and response shapes, status codes, error
//! bodies `{message, code}`, cookies and origin rules follow Better Auth 1.6.
//! Nothing here logs a password, token, cookie or secret.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrovex_auth::cookie::{
    self, CONVEX_JWT, DONT_REMEMBER, SESSION_DATA, SESSION_TOKEN, cookie_name,
};
use ferrovex_auth::error::AuthError;
use ferrovex_auth::service::{AuthService, SessionInfo, Sliding, session_json, user_json};
use serde_json::{Map, Value as JsonValue, json};

/// Response header naming the digests (hex SHA-256) of the session tokens a request revoked,
/// comma-separated. The web origin's proxy reads it to drop those sessions' cached JWTs and
/// never passes it on to the browser (`ferrovex_ssr::proxy` reads the same name).
pub const REVOKED_SESSIONS_HEADER: &str = "x-ferrovex-revoked-sessions";
/// Request header by which Ferrovex's own web origin proves itself to the site origin
/// (`ferrovex_ssr::proxy` sends the same name); only then are revocations announced.
pub const PROXY_KEY_HEADER: &str = "x-ferrovex-proxy-key";
/// The browser's address, named by Ferrovex's own web proxy (with [`PROXY_KEY_HEADER`]).
pub const CLIENT_ADDRESS_HEADER: &str = "x-ferrovex-client-address";

/// Largest accepted auth request body.
pub const MAX_AUTH_BODY: usize = 64 * 1024;

/// State of the site origin.
#[derive(Clone)]
pub struct SiteState {
    /// The auth service.
    pub auth: Arc<AuthService>,
    /// The engine, for the app's HTTP actions (`None`: auth routes only).
    pub engine: Option<ferrovex_engine::Engine>,
    /// Verifies `Authorization: Bearer` tokens sent to HTTP actions.
    pub verifier: Option<Arc<ferrovex_auth::verify::Verifier>>,
    /// Per-route counters (and stdout lines) of the auth routes.
    pub routes: Arc<crate::auth_log::AuthRouteStats>,
    /// Where the site origin is reachable now, for discovery's endpoint URLs (`None`: the
    /// issuer). They differ when the issuer was kept from an earlier start on another port.
    pub public_url: Option<String>,
}

impl std::fmt::Debug for SiteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteState")
            .field("http_actions", &self.engine.is_some())
            .finish_non_exhaustive()
    }
}

/// CORS for browsers on the trusted origins (`--trusted-origins`, e.g. a Vite dev server):
/// credentialed requests, as `@convex-dev/better-auth`'s `cors: true` allows. Other origins
/// get no CORS headers, so their browsers cannot read the answers; cookie-bearing POSTs are
/// still checked against the same list by each route.
fn cors(auth: Arc<AuthService>) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|origin| auth.config().is_trusted_origin(origin))
        }))
        .allow_credentials(true)
        .allow_methods(AllowMethods::list([
            axum::http::Method::GET,
            axum::http::Method::POST,
        ]))
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(600))
}

/// The site origin's router: auth's routes (with their body limit and trusted-origin CORS),
/// then the app's HTTP actions for every other path.
pub fn site_router(state: SiteState) -> Router {
    let cors = cors(state.auth.clone());
    let auth: Router<SiteState> = Router::new()
        .route("/api/auth/sign-up/email", post(sign_up))
        .route("/api/auth/sign-in/email", post(sign_in))
        .route("/api/auth/get-session", get(get_session))
        .route("/api/auth/sign-out", post(sign_out))
        .route("/api/auth/list-sessions", get(list_sessions))
        .route("/api/auth/update-user", post(update_user))
        .route("/api/auth/change-password", post(change_password))
        .route("/api/auth/delete-user", post(delete_user))
        .route("/api/auth/revoke-session", post(revoke_session))
        .route("/api/auth/revoke-sessions", post(revoke_sessions))
        .route(
            "/api/auth/revoke-other-sessions",
            post(revoke_other_sessions),
        )
        .route("/api/auth/convex/token", get(convex_token))
        .route("/api/auth/convex/jwks", get(jwks))
        .route(
            "/api/auth/convex/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .layer(DefaultBodyLimit::max(MAX_AUTH_BODY))
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(
            state.routes.clone(),
            crate::auth_log::middleware,
        ));
    Router::new()
        .merge(auth)
        .fallback(crate::http_actions::serve)
        .with_state(state)
}

/// An error answer: `{message, code}` with a status.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    headers: Vec<(header::HeaderName, String)>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(json!({"message": self.message, "code": self.code})),
        )
            .into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().append(name, v);
            }
        }
        resp
    }
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Refusal {
        let status = match &e {
            AuthError::InvalidCredentials
            | AuthError::Unauthorized
            | AuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            AuthError::UserExists => StatusCode::UNPROCESSABLE_ENTITY,
            AuthError::NotFound => StatusCode::NOT_FOUND,
            AuthError::SessionNotFresh => StatusCode::FORBIDDEN,
            AuthError::Busy => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Validation(_)
            | AuthError::BadRequest(..)
            | AuthError::PasswordTooShort
            | AuthError::PasswordTooLong => StatusCode::BAD_REQUEST,
            AuthError::Key(_) | AuthError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "auth request failed");
            return Refusal::new(status, "INTERNAL_SERVER_ERROR", "Internal server error");
        }
        Refusal::new(status, e.code(), e.to_string())
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request's origin: `Origin`, else the origin of `Referer`.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    match header_str(headers, "origin") {
        Some("null") => None,
        Some(o) => Some(o.to_owned()),
        None => header_str(headers, "referer").and_then(ferrovex_auth::service::origin_of),
    }
}

/// Better Auth's origin rules for state-changing requests.
fn check_origin(auth: &AuthService, headers: &HeaderMap, login_route: bool) -> Result<(), Refusal> {
    let has_cookie = headers.contains_key(header::COOKIE);
    let origin = request_origin(headers);
    if has_cookie {
        return match origin {
            None => Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "MISSING_OR_NULL_ORIGIN",
                "Missing or null Origin",
            )),
            Some(o) if auth.config().is_trusted_origin(&o) => Ok(()),
            Some(_) => Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "INVALID_ORIGIN",
                "Invalid origin",
            )),
        };
    }
    if login_route {
        let site = header_str(headers, "sec-fetch-site");
        let mode = header_str(headers, "sec-fetch-mode");
        if site == Some("cross-site") && mode == Some("navigate") {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
                "Cross-site navigation login blocked",
            ));
        }
        let fetch_metadata =
            site.is_some() || mode.is_some() || headers.contains_key("sec-fetch-dest");
        match origin {
            Some(o) if !auth.config().is_trusted_origin(&o) => {
                return Err(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "INVALID_ORIGIN",
                    "Invalid origin",
                ));
            }
            None if fetch_metadata => {
                return Err(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "MISSING_OR_NULL_ORIGIN",
                    "Missing or null Origin",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The session credential: the session cookie, or `Authorization: Bearer` (signed or raw).
fn credential(auth: &AuthService, headers: &HeaderMap) -> Option<(String, bool)> {
    let secure = auth.config().secure_cookies();
    if let Some(c) = header_str(headers, "cookie").and_then(|h| cookie::session_cookie(h, secure)) {
        return Some((c.to_owned(), false));
    }
    let auth = header_str(headers, "authorization")?;
    let (scheme, value) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| (value.trim().to_owned(), true))
}

/// Whether a lookup may extend the caller's session: not when it signed in with
/// `rememberMe: false` (a validly signed `dont_remember` cookie), as in Better Auth.
fn sliding(auth: &AuthService, headers: &HeaderMap) -> Sliding {
    let secure = auth.config().secure_cookies();
    match header_str(headers, "cookie") {
        Some(h) if cookie::dont_remember(h, secure, auth.signer()) => Sliding::Keep,
        _ => Sliding::Extend,
    }
}

fn parse_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, JsonValue>, Refusal> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("Request body exceeds {MAX_AUTH_BODY} bytes"),
            )
        } else {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "Cannot read the request body",
            )
        }
    })?;
    let content_type = header_str(headers, "content-type").unwrap_or("application/json");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Map::new());
            }
            match serde_json::from_slice::<JsonValue>(&bytes) {
                Ok(JsonValue::Object(map)) => Ok(map),
                _ => Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    "Request body must be a JSON object",
                )),
            }
        }
        "application/x-www-form-urlencoded" => {
            let text = String::from_utf8_lossy(&bytes);
            let mut map = Map::new();
            for pair in text.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let decode = |s: &str| cookie::percent_decode(&s.replace('+', " "));
                if let (Some(k), Some(v)) = (decode(k), decode(v)) {
                    let value = match v.as_str() {
                        "true" => JsonValue::Bool(true),
                        "false" => JsonValue::Bool(false),
                        _ => JsonValue::String(v),
                    };
                    map.insert(k, value);
                }
            }
            Ok(map)
        }
        other => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("Content-Type \"{other}\" is not allowed. Allowed types: application/json"),
        )),
    }
}

fn field<'a>(body: &'a Map<String, JsonValue>, name: &str) -> Result<&'a str, Refusal> {
    match body.get(name) {
        Some(JsonValue::String(s)) => Ok(s),
        Some(_) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("[body.{name}] Invalid input: expected string"),
        )),
        None => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("[body.{name}] Invalid input: expected string, received undefined"),
        )),
    }
}

fn remember(body: &Map<String, JsonValue>) -> bool {
    body.get("rememberMe")
        .and_then(JsonValue::as_bool)
        .unwrap_or(true)
}

fn check_callback(
    auth: &AuthService,
    body: &Map<String, JsonValue>,
) -> Result<Option<String>, Refusal> {
    let Some(url) = body.get("callbackURL").and_then(JsonValue::as_str) else {
        return Ok(None);
    };
    // Whitespace and control characters never: URL parsers strip tab, CR and LF, so
    // `/\t/evil.example` would become `//evil.example`, another host.
    let clean = !url.chars().any(|c| c.is_control() || c.is_whitespace());
    if clean && (is_safe_relative_path(url) || auth.config().is_trusted_origin(url)) {
        Ok(Some(url.to_owned()))
    } else {
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "INVALID_CALLBACK_URL",
            "Invalid callbackURL",
        ))
    }
}

/// Better Auth 1.6's rule for a relative callback: `/`, not followed by `/`, `\`, `%2f` or
/// `%5c`, then only word characters and `-.+/@`, with an optional query of those and `=&%`.
/// No fragment, no scheme, nothing a browser could read as another host.
fn is_safe_relative_path(url: &str) -> bool {
    let Some(rest) = url.strip_prefix('/') else {
        return false;
    };
    let lower = rest.to_ascii_lowercase();
    if rest.starts_with(['/', '\\']) || lower.starts_with("%2f") || lower.starts_with("%5c") {
        return false;
    }
    let word = |c: char| c.is_ascii_alphanumeric() || "_-.+/@".contains(c);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    path.chars().all(word) && query.is_none_or(|q| q.chars().all(|c| word(c) || "=&%".contains(c)))
}

/// The client a request comes from, for rate limits and the session's `ipAddress`: the peer,
/// or, from Ferrovex's own web proxy (which proves itself with the proxy key), the address
/// the proxy names in [`CLIENT_ADDRESS_HEADER`]. Anyone else's header is ignored (D3: behind
/// the proxy every user would otherwise share the proxy's one bucket).
fn client_addr(auth: &AuthService, headers: &HeaderMap, addr: &SocketAddr) -> String {
    if from_own_proxy(auth, headers)
        && let Some(ip) = header_str(headers, CLIENT_ADDRESS_HEADER)
            .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
    {
        return ip.to_canonical().to_string();
    }
    addr.ip().to_canonical().to_string()
}

/// Whether the request presents the deployment's proxy key.
fn from_own_proxy(auth: &AuthService, headers: &HeaderMap) -> bool {
    let presented = headers
        .get(PROXY_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    !presented.is_empty()
        && ferrovex_auth::password::constant_time_eq(
            presented.as_bytes(),
            auth.proxy_key().as_bytes(),
        )
}

/// Set-Cookie headers for a new or refreshed session (plus the Convex JWT cookie).
fn session_cookies(
    auth: &AuthService,
    info: &SessionInfo,
    remember: bool,
    jwt: Option<&str>,
) -> Vec<String> {
    let secure = auth.config().secure_cookies();
    let max_age = remember.then(|| auth.config().session_expires_in.as_secs());
    let mut cookies = vec![cookie::set_cookie(
        &cookie_name(SESSION_TOKEN, secure),
        &auth.signer().sign(&info.session.token),
        max_age,
        secure,
    )];
    if !remember {
        cookies.push(cookie::set_cookie(
            &cookie_name(DONT_REMEMBER, secure),
            &auth.signer().sign("true"),
            None,
            secure,
        ));
    }
    if let Some(jwt) = jwt {
        cookies.push(cookie::set_cookie(
            &cookie_name(CONVEX_JWT, secure),
            jwt,
            Some(auth.config().jwt_lifetime.as_secs()),
            secure,
        ));
    }
    cookies
}

/// The re-set session cookie after a sliding refresh (not for Bearer callers).
fn refreshed_session_cookie(
    auth: &AuthService,
    info: &SessionInfo,
    bearer: bool,
) -> Option<String> {
    let secure = auth.config().secure_cookies();
    (info.refreshed && !bearer).then(|| {
        cookie::set_cookie(
            &cookie_name(SESSION_TOKEN, secure),
            &auth.signer().sign(&info.session.token),
            Some(auth.config().session_expires_in.as_secs()),
            secure,
        )
    })
}

fn expired_cookies(auth: &AuthService) -> Vec<String> {
    let secure = auth.config().secure_cookies();
    [SESSION_TOKEN, SESSION_DATA, DONT_REMEMBER, CONVEX_JWT]
        .iter()
        .map(|n| cookie::expire_cookie(&cookie_name(n, secure), secure))
        .collect()
}

fn with_cookies(body: JsonValue, cookies: Vec<String>) -> Response {
    let mut resp = (StatusCode::OK, Json(body)).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn limited(auth: &AuthService, addr: &str, path: &str) -> Result<(), Refusal> {
    auth.rate_limit(addr, path).map_err(|retry| {
        let mut r = Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "Too many requests. Please try again later.",
        );
        r.headers.push((
            header::HeaderName::from_static("x-retry-after"),
            retry.to_string(),
        ));
        r
    })
}

async fn sign_up(
    State(state): State<SiteState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    check_origin(auth, &headers, true)?;
    let client = client_addr(auth, &headers, &addr);
    limited(auth, &client, "/sign-up")?;
    let body = parse_body(&headers, body)?;
    check_callback(auth, &body)?;
    let (name, email, pass) = (
        field(&body, "name")?,
        field(&body, "email")?,
        field(&body, "password")?,
    );
    let ua = header_str(&headers, "user-agent").unwrap_or_default();
    let remember = remember(&body);
    let info = auth
        .sign_up(name, email, pass, remember, &client, ua)
        .await?;
    let jwt = auth.token(&info).await.ok();
    let cookies = session_cookies(auth, &info, remember, jwt.as_deref());
    Ok(with_cookies(
        json!({"token": info.session.token, "user": user_json(&info.user)}),
        cookies,
    ))
}

async fn sign_in(
    State(state): State<SiteState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    check_origin(auth, &headers, true)?;
    let client = client_addr(auth, &headers, &addr);
    limited(auth, &client, "/sign-in")?;
    let body = parse_body(&headers, body)?;
    let callback = check_callback(auth, &body)?;
    let (email, pass) = (field(&body, "email")?, field(&body, "password")?);
    let ua = header_str(&headers, "user-agent").unwrap_or_default();
    let remember = remember(&body);
    let info = auth.sign_in(email, pass, remember, &client, ua).await?;
    let jwt = auth.token(&info).await.ok();
    let cookies = session_cookies(auth, &info, remember, jwt.as_deref());
    let mut reply = json!({"redirect": callback.is_some(), "token": info.session.token, "user": user_json(&info.user)});
    if let (Some(url), Some(obj)) = (&callback, reply.as_object_mut()) {
        obj.insert("url".to_owned(), json!(url));
    }
    let mut resp = with_cookies(reply, cookies);
    if let Some(v) = callback.and_then(|url| HeaderValue::from_str(&url).ok()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

async fn get_session(
    State(state): State<SiteState>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    let Some((cred, bearer)) = credential(auth, &headers) else {
        return Ok(no_store(with_cookies(
            JsonValue::Null,
            vec![cookie::expire_cookie(
                &cookie_name(CONVEX_JWT, auth.config().secure_cookies()),
                auth.config().secure_cookies(),
            )],
        )));
    };
    let Some(info) = auth.session(&cred, bearer, sliding(auth, &headers)).await? else {
        return Ok(no_store(with_cookies(
            JsonValue::Null,
            expired_cookies(auth),
        )));
    };
    let jwt = auth.token(&info).await.ok();
    let mut cookies = Vec::new();
    let secure = auth.config().secure_cookies();
    cookies.extend(refreshed_session_cookie(auth, &info, bearer));
    if let Some(jwt) = &jwt {
        cookies.push(cookie::set_cookie(
            &cookie_name(CONVEX_JWT, secure),
            jwt,
            Some(auth.config().jwt_lifetime.as_secs()),
            secure,
        ));
    }
    Ok(no_store(with_cookies(
        json!({"session": session_json(&info.session), "user": user_json(&info.user)}),
        cookies,
    )))
}

async fn sign_out(
    State(state): State<SiteState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    check_origin(auth, &headers, false)?;
    parse_body(&headers, body)?;
    let revoked = match credential(auth, &headers) {
        Some((cred, bearer)) => auth.sign_out(&cred, bearer).await?,
        None => Vec::new(),
    };
    Ok(with_revoked(
        with_cookies(json!({"success": true}), expired_cookies(auth)),
        announced(auth, &headers, &revoked),
    ))
}

/// Better Auth's `{status: true}` for a revoking route, naming what it revoked.
fn revoked_answer(digests: &[String]) -> Response {
    with_revoked(with_cookies(json!({"status": true}), Vec::new()), digests)
}

/// The digests to announce in [`REVOKED_SESSIONS_HEADER`]: only to Ferrovex's own web
/// origin, which proves itself with [`PROXY_KEY_HEADER`] (a key derived from the auth secret).
/// Anyone else, such as a browser behind a plain forwarding proxy (the Nuxt module's), gets
/// nothing: the digests identify sessions and are no business of browsers. Revocations reach
/// web origins through the in-process broadcast and Redis regardless.
fn announced<'a>(auth: &AuthService, headers: &HeaderMap, digests: &'a [String]) -> &'a [String] {
    if from_own_proxy(auth, headers) {
        digests
    } else {
        &[]
    }
}

/// Adds [`REVOKED_SESSIONS_HEADER`] when sessions were revoked.
fn with_revoked(mut resp: Response, digests: &[String]) -> Response {
    if !digests.is_empty()
        && let Ok(v) = HeaderValue::from_str(&digests.join(","))
    {
        resp.headers_mut().insert(REVOKED_SESSIONS_HEADER, v);
    }
    resp
}

/// The caller's session, or 401. The flag says whether the credential was a Bearer value.
async fn require_session(
    auth: &AuthService,
    headers: &HeaderMap,
) -> Result<(SessionInfo, bool), Refusal> {
    let Some((cred, bearer)) = credential(auth, headers) else {
        return Err(AuthError::Unauthorized.into());
    };
    match auth.session(&cred, bearer, sliding(auth, headers)).await? {
        Some(info) => Ok((info, bearer)),
        None => Err(AuthError::Unauthorized.into()),
    }
}

async fn list_sessions(
    State(state): State<SiteState>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    let (info, bearer) = require_session(auth, &headers).await?;
    let sessions = auth.list_sessions(&info).await?;
    let body = JsonValue::Array(sessions.iter().map(session_json).collect());
    let cookies = refreshed_session_cookie(auth, &info, bearer)
        .into_iter()
        .collect();
    Ok(no_store(with_cookies(body, cookies)))
}

async fn update_user(
    State(state): State<SiteState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    check_origin(auth, &headers, false)?;
    let body = parse_body(&headers, body)?;
    if body.contains_key("email") {
        return Err(AuthError::BadRequest(
            "EMAIL_CAN_NOT_BE_UPDATED",
            "Email can not be updated".into(),
        )
        .into());
    }
    let name = body
        .contains_key("name")
        .then(|| field(&body, "name"))
        .transpose()?;
    let image = match body.get("image") {
        None => None,
        Some(JsonValue::Null) => Some(None),
        Some(_) => Some(Some(field(&body, "image")?)),
    };
    let (info, _) = require_session(auth, &headers).await?;
    let (_, stale) = auth.update_user(&info, name, image).await?;
    Ok(revoked_answer(announced(auth, &headers, &stale)))
}

async fn change_password(
    State(state): State<SiteState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    check_origin(auth, &headers, false)?;
    let client = client_addr(auth, &headers, &addr);
    limited(auth, &client, "/change-password")?;
    let body = parse_body(&headers, body)?;
    let (current, new) = (
        field(&body, "currentPassword")?,
        field(&body, "newPassword")?,
    );
    let revoke_others = body
        .get("revokeOtherSessions")
        .and_then(JsonValue::as_bool)
        .unwrap_or(false);
    let (info, _) = require_session(auth, &headers).await?;
    let ua = header_str(&headers, "user-agent").unwrap_or_default();
    let (session, revoked) = auth
        .change_password(&info, current, new, revoke_others, (&client, ua))
        .await?;
    let token = session.as_ref().map(|s| s.session.token.clone());
    let cookies = session
        .as_ref()
        .map(|s| session_cookies(auth, s, true, None))
        .unwrap_or_default();
    Ok(with_revoked(
        with_cookies(
            json!({"token": token, "user": user_json(&info.user)}),
            cookies,
        ),
        announced(auth, &headers, &revoked),
    ))
}

async fn delete_user(
    State(state): State<SiteState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    if !auth.config().delete_user {
        return Err(AuthError::NotFound.into());
    }
    check_origin(auth, &headers, false)?;
    let body = parse_body(&headers, body)?;
    let password = body
        .contains_key("password")
        .then(|| field(&body, "password"))
        .transpose()?;
    // A password check is a guess and a scrypt run: limited like sign-in (D5).
    if password.is_some() {
        limited(auth, &client_addr(auth, &headers, &addr), "/delete-user")?;
    }
    let (info, _) = require_session(auth, &headers).await?;
    let revoked = auth.delete_user(&info, password).await?;
    Ok(with_revoked(
        with_cookies(
            json!({"success": true, "message": "User deleted"}),
            expired_cookies(auth),
        ),
        announced(auth, &headers, &revoked),
    ))
}

async fn revoke_session(
    State(state): State<SiteState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    check_origin(auth, &headers, false)?;
    let body = parse_body(&headers, body)?;
    let token = field(&body, "token")?;
    let (info, _) = require_session(auth, &headers).await?;
    let revoked = auth.revoke_session(&info, token).await?;
    Ok(revoked_answer(announced(auth, &headers, &revoked)))
}

async fn revoke_sessions(
    State(state): State<SiteState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    revoke_many(state, headers, body, false).await
}

async fn revoke_other_sessions(
    State(state): State<SiteState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    revoke_many(state, headers, body, true).await
}

async fn revoke_many(
    state: SiteState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    keep_current: bool,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    check_origin(auth, &headers, false)?;
    parse_body(&headers, body)?;
    let (info, _) = require_session(auth, &headers).await?;
    let revoked = auth.revoke_sessions(&info, keep_current).await?;
    Ok(revoked_answer(announced(auth, &headers, &revoked)))
}

async fn convex_token(
    State(state): State<SiteState>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let auth = &state.auth;
    let Some((cred, bearer)) = credential(auth, &headers) else {
        return Err(AuthError::Unauthorized.into());
    };
    let Some(info) = auth.session(&cred, bearer, sliding(auth, &headers)).await? else {
        return Err(AuthError::Unauthorized.into());
    };
    let jwt = auth.token(&info).await?;
    let secure = auth.config().secure_cookies();
    let mut cookies = vec![cookie::set_cookie(
        &cookie_name(CONVEX_JWT, secure),
        &jwt,
        Some(auth.config().jwt_lifetime.as_secs()),
        secure,
    )];
    cookies.extend(refreshed_session_cookie(auth, &info, bearer));
    Ok(no_store(with_cookies(json!({"token": jwt}), cookies)))
}

async fn jwks(State(state): State<SiteState>) -> Response {
    let mut resp = Json(state.auth.jwks()).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    resp
}

async fn openid_configuration(State(state): State<SiteState>) -> Response {
    let site = state
        .auth
        .config()
        .site_url
        .trim_end_matches('/')
        .to_owned();
    let here = state
        .public_url
        .as_deref()
        .map_or(site.clone(), |u| u.trim_end_matches('/').to_owned());
    let mut resp = Json(json!({
        "issuer": site,
        "jwks_uri": format!("{here}/api/auth/convex/jwks"),
        "authorization_endpoint": format!("{here}/api/auth/convex/oauth2/authorize"),
        "token_endpoint": format!("{here}/api/auth/convex/oauth2/token"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    resp
}

/// Serves the site origin on `listener` within `limits` until `shutdown` resolves.
pub async fn serve_site(
    listener: tokio::net::TcpListener,
    state: SiteState,
    limits: ferrovex_listener::ConnectionLimits,
    stats: Arc<ferrovex_listener::ListenerStats>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    ferrovex_listener::serve(listener, site_router(state), limits, stats, shutdown).await
}

/// Runs key maintenance (reload and rotation) every `interval` until the process ends.
pub fn spawn_key_maintenance(
    auth: Arc<AuthService>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if let Err(e) = auth.maintain_keys().await {
                tracing::warn!(error = %e, "key maintenance failed");
            }
        }
    })
}
