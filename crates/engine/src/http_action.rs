//! HTTP actions: user routes on the site origin (where Convex serves `.convex.site` HTTP
//! actions). The engine only knows plain request and response values; the server turns real
//! HTTP into them and back, checks the body limit and answers CORS preflights.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;

use crate::context::{ActionCtx, LogLines};
use crate::engine::Engine;
use crate::error::{FnError, FnResult, FunctionFailure};
use crate::identity::Identity;
use crate::kind::FunctionKind;
use crate::log::{Execution, Transport};

/// Largest request body an HTTP action receives; larger ones get 413.
pub const MAX_HTTP_ACTION_BODY: usize = 4 * 1024 * 1024;
/// Most response headers a handler may set.
pub const MAX_HTTP_ACTION_HEADERS: usize = 64;

/// A request to an HTTP action.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path (`/demo/messages`).
    pub path: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
    /// Request headers (names lowercase).
    pub headers: Vec<(String, String)>,
    /// The body (at most [`MAX_HTTP_ACTION_BODY`] bytes).
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A header's value by (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == name).then(|| decode(v))
        })
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What an HTTP action answers.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with `status` and a JSON body.
    pub fn json(status: u16, body: &serde_json::Value) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }

    /// A response with `status` and a plain-text body.
    pub fn text(status: u16, body: impl Into<String>) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![(
                "content-type".to_owned(),
                "text/plain; charset=utf-8".to_owned(),
            )],
            body: body.into().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> HttpResponse {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Which browsers may call a route cross-origin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Cors {
    /// No CORS headers: same-origin and non-browser callers only (the default).
    #[default]
    None,
    /// Any origin (`Access-Control-Allow-Origin: *`, no credentials).
    Any,
    /// These origins, with credentials.
    Origins(Vec<String>),
}

/// A route's method and path. A path ending in `*` matches every path with that prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRoute {
    /// The method (uppercase).
    pub method: String,
    /// The exact path, or the prefix when `prefix` is set.
    pub path: String,
    /// Whether `path` is a prefix.
    pub prefix: bool,
    /// CORS for this route.
    pub cors: Cors,
}

impl HttpRoute {
    /// `HttpRoute::new("POST", "/hooks/stripe")`, or `"/files/*"` for a prefix.
    pub fn new(method: &str, path: &str) -> HttpRoute {
        let (path, prefix) = match path.strip_suffix('*') {
            Some(p) => (p.to_owned(), true),
            None => (path.to_owned(), false),
        };
        HttpRoute {
            method: method.to_ascii_uppercase(),
            path,
            prefix,
            cors: Cors::None,
        }
    }

    /// Lets browsers on any origin call it (preflights answered).
    pub fn cors_any(mut self) -> HttpRoute {
        self.cors = Cors::Any;
        self
    }

    /// Lets browsers on these origins call it, with credentials.
    pub fn cors_origins(mut self, origins: &[&str]) -> HttpRoute {
        self.cors = Cors::Origins(origins.iter().map(|o| (*o).to_owned()).collect());
        self
    }

    fn matches_path(&self, path: &str) -> bool {
        if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }

    /// How the function log names it.
    pub fn label(&self) -> String {
        format!(
            "{} {}{}",
            self.method,
            self.path,
            if self.prefix { "*" } else { "" }
        )
    }
}

pub(crate) type HttpHandler =
    dyn Fn(ActionCtx, HttpRequest) -> BoxFuture<'static, FnResult<HttpResponse>> + Send + Sync;

/// A registered route and its handler.
#[derive(Clone)]
pub(crate) struct RegisteredRoute {
    pub(crate) route: HttpRoute,
    pub(crate) handler: Arc<HttpHandler>,
}

/// The route serving `method path`: an exact path first, then the longest prefix.
pub(crate) fn find<'r>(
    routes: &'r [RegisteredRoute],
    method: &str,
    path: &str,
) -> Option<&'r RegisteredRoute> {
    let candidates = routes
        .iter()
        .filter(|r| r.route.method == method && r.route.matches_path(path));
    candidates.max_by_key(|r| (!r.route.prefix, r.route.path.len()))
}

/// What the server learns from running an HTTP action.
#[derive(Debug)]
pub enum HttpOutcome {
    /// The handler's response.
    Response(HttpResponse),
    /// The handler returned a `ConvexError`: 400 with its data.
    Convex(ferrovex_values::Value),
    /// Anything else: 500; the message names only the request id.
    Failed(String),
}

impl Engine {
    /// The routes whose path matches `path` (any method), for preflights and 405s.
    pub fn http_routes_for(&self, path: &str) -> Vec<HttpRoute> {
        self.app()
            .http_routes
            .iter()
            .filter(|r| r.route.matches_path(path))
            .map(|r| r.route.clone())
            .collect()
    }

    /// Whether the app has any HTTP action.
    pub fn has_http_routes(&self) -> bool {
        !self.app().http_routes.is_empty()
    }

    /// Runs the HTTP action for `request`, if a route matches: `None` means no route.
    pub async fn http_action(
        &self,
        request: HttpRequest,
        identity: Option<Arc<Identity>>,
    ) -> Option<(HttpRoute, HttpOutcome)> {
        let registered = find(&self.app().http_routes, &request.method, &request.path)?.clone();
        let started = Instant::now();
        let logs = Arc::new(Mutex::new(LogLines::default()));
        let ctx = ActionCtx {
            engine: self.clone(),
            logs: logs.clone(),
            identity,
            scheduled: std::sync::atomic::AtomicUsize::new(0),
        };
        let result = AssertUnwindSafe((registered.handler)(ctx, request))
            .catch_unwind()
            .await
            .unwrap_or_else(|p| {
                Err(FnError::internal(format!(
                    "HTTP action panicked: {}",
                    crate::engine::panic_message(&*p)
                )))
            });
        let label = registered.route.label();
        let (outcome, error) = match result {
            Ok(mut response) => {
                response.headers.truncate(MAX_HTTP_ACTION_HEADERS);
                (HttpOutcome::Response(response), None)
            }
            Err(FnError::Convex(e)) => {
                let message = FunctionFailure::convex(e.data.clone()).message().to_owned();
                (HttpOutcome::Convex(e.data), Some(message))
            }
            Err(other) => {
                let failure = crate::engine::to_failure_label(&label, other);
                let message = failure.message().to_owned();
                (HttpOutcome::Failed(message.clone()), Some(message))
            }
        };
        let log_lines = std::mem::take(&mut *logs.lock()).into_lines();
        self.record_execution(Execution {
            seq: 0,
            time_ms: 0,
            kind: FunctionKind::Action,
            path: label,
            args_hash: String::new(),
            transport: Transport::Http,
            error,
            cached: false,
            duration: started.elapsed(),
            log_lines,
        });
        Some((registered.route, outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded_and_routes_prefer_exact_paths() {
        let req = HttpRequest {
            method: "GET".into(),
            path: "/x".into(),
            query: Some("channel=caf%C3%A9+bar&bad=%zz&x".into()),
            headers: vec![],
            body: vec![],
        };
        assert_eq!(req.query_param("channel").as_deref(), Some("café bar"));
        assert_eq!(req.query_param("bad").as_deref(), Some("%zz"));
        assert_eq!(req.query_param("x").as_deref(), Some(""));
        assert_eq!(req.query_param("nope"), None);
        let handler: Arc<HttpHandler> =
            Arc::new(|_, _| Box::pin(async { Ok(HttpResponse::text(200, "")) }));
        let routes = vec![
            RegisteredRoute {
                route: HttpRoute::new("GET", "/files/*"),
                handler: handler.clone(),
            },
            RegisteredRoute {
                route: HttpRoute::new("GET", "/files/special"),
                handler,
            },
        ];
        assert!(!find(&routes, "GET", "/files/special").unwrap().route.prefix);
        assert!(find(&routes, "GET", "/files/other").unwrap().route.prefix);
        assert!(find(&routes, "POST", "/files/other").is_none());
        assert!(find(&routes, "GET", "/elsewhere").is_none());
    }
}
