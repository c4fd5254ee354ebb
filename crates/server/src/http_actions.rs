//! The app's HTTP actions on the site origin, behind auth's routes: every path that auth does
//! not serve is matched against the app's routes. This module turns HTTP into the engine's
//! plain [`HttpRequest`] and back, and owns the body limit, the per-route CORS (preflights
//! included) and the error answers: a `ConvexError` is 400 with its data as JSON, anything
//! else is 500 naming only a request id.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrovex_engine::{Cors, HttpOutcome, HttpRequest, HttpRoute, MAX_HTTP_ACTION_BODY};
use serde_json::json;

use crate::site::SiteState;

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "code": code, "message": message }).to_string(),
    )
        .into_response()
}

/// The CORS headers a response to `origin` gets under `cors`.
fn cors_headers(cors: &Cors, origin: Option<&str>) -> Vec<(HeaderName, String)> {
    match (cors, origin) {
        (Cors::Any, _) => vec![(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*".to_owned())],
        (Cors::Origins(list), Some(origin)) if list.iter().any(|o| o == origin) => vec![
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.to_owned()),
            (header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true".to_owned()),
            (header::VARY, "Origin".to_owned()),
        ],
        _ => Vec::new(),
    }
}

fn with_headers(mut response: Response, headers: Vec<(HeaderName, String)>) -> Response {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Answers a CORS preflight for `path` from the routes that allow it.
fn preflight(routes: &[HttpRoute], headers: &HeaderMap, origin: Option<&str>) -> Response {
    let wanted = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_uppercase();
    let Some(route) = routes
        .iter()
        .find(|r| r.method == wanted && r.cors != Cors::None)
    else {
        return refusal(
            StatusCode::FORBIDDEN,
            "CorsNotAllowed",
            "this route does not allow cross-origin requests",
        );
    };
    let allowed = cors_headers(&route.cors, origin);
    if allowed.is_empty() {
        return refusal(
            StatusCode::FORBIDDEN,
            "CorsNotAllowed",
            "this origin may not call the route",
        );
    }
    let methods: Vec<&str> = routes
        .iter()
        .filter(|r| r.cors != Cors::None)
        .map(|r| r.method.as_str())
        .collect();
    let mut extra = vec![
        (header::ACCESS_CONTROL_ALLOW_METHODS, methods.join(", ")),
        (header::ACCESS_CONTROL_MAX_AGE, "86400".to_owned()),
    ];
    if let Some(asked) = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
    {
        extra.push((header::ACCESS_CONTROL_ALLOW_HEADERS, asked.to_owned()));
    }
    with_headers(
        StatusCode::NO_CONTENT.into_response(),
        allowed.into_iter().chain(extra).collect(),
    )
}

/// Serves one request to the app's HTTP actions.
pub(crate) async fn serve(State(state): State<SiteState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let Some(engine) = state.engine.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Auth's paths stay auth's: an unknown one is a 404, never a user route.
    if path == "/api/auth" || path.starts_with("/api/auth/") || !engine.has_http_routes() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let routes = engine.http_routes_for(&path);
    if routes.is_empty() {
        return refusal(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no HTTP action at this path",
        );
    }
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if request.method() == Method::OPTIONS {
        return preflight(&routes, request.headers(), origin.as_deref());
    }
    let method = request.method().as_str().to_ascii_uppercase();
    let Some(route) = routes.iter().find(|r| r.method == method).cloned() else {
        let allow: Vec<&str> = routes.iter().map(|r| r.method.as_str()).collect();
        return with_headers(
            refusal(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                &format!("this path answers {}", allow.join(", ")),
            ),
            vec![(header::ALLOW, allow.join(", "))],
        );
    };
    let cors = cors_headers(&route.cors, origin.as_deref());
    // Only a Bearer token names a Convex identity; other schemes (a webhook's Basic auth,
    // say) are the handler's business, in `req.headers`.
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
        });
    let identity = if !bearer {
        None
    } else {
        match crate::http_api::bearer_identity(state.verifier.as_ref(), request.headers()).await {
            Ok(identity) => identity,
            Err(e) => {
                return with_headers(
                    refusal(StatusCode::UNAUTHORIZED, e.code(), &e.to_string()),
                    cors,
                );
            }
        }
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_HTTP_ACTION_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return with_headers(
                refusal(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLarge",
                    &format!("request body exceeds {MAX_HTTP_ACTION_BODY} bytes"),
                ),
                cors,
            );
        }
    };
    let request = HttpRequest {
        method,
        path,
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    let Some((_, outcome)) = engine.http_action(request, identity).await else {
        return refusal(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no HTTP action at this path",
        );
    };
    let response = match outcome {
        HttpOutcome::Response(r) => {
            let status =
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = Response::new(Body::from(r.body));
            *response.status_mut() = status;
            for (name, value) in r.headers {
                match (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    (Ok(name), Ok(value)) => {
                        response.headers_mut().append(name, value);
                    }
                    _ => {
                        tracing::warn!(header = %name, "an HTTP action set an invalid header; dropped")
                    }
                }
            }
            response
        }
        HttpOutcome::Convex(data) => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            data.to_clean_json().to_string(),
        )
            .into_response(),
        HttpOutcome::Failed(message) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            &message,
        ),
    };
    with_headers(response, cors)
}
