//! The Convex HTTP API: `POST /api/query|mutation|action|function`, `GET /api/query` and
//! `POST /api/run/{module}/{fn}`. Function outcomes are always HTTP 200 with
//! `{"status":"success"|"error", ...}`; malformed requests get 4xx with `{code, message}`.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

use ferrovex_engine::{FunctionKind, FunctionPath, Identity, Outcome, Transport};
use ferrovex_values::Value;
use serde_json::{Map, json};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::ApiState;
use crate::error::ApiError;
use crate::format::ValueFormat;

/// Largest accepted request body (8 MiB); larger bodies get 413 `PayloadTooLarge`.
pub const MAX_BODY_BYTES: usize = 8 << 20;

pub(crate) fn router(state: ApiState) -> Router {
    let cors = CorsLayer::new()
        // As Convex's backend does. No cookie is honoured on this origin, so a credentialed
        // request gains nothing; the operator routes (dashboard, metrics) have no CORS at all.
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_headers(AllowHeaders::mirror_request())
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .max_age(Duration::from_secs(86_400));
    // The dashboard and /metrics answer only their own origin: no CORS on them (D12).
    let operator = Router::new()
        .route("/_dashboard", get(crate::dashboard::handler))
        .route("/_dashboard/jobs", get(crate::jobs_view::page))
        .route("/_dashboard/health", get(crate::health_view::page))
        .route("/_dashboard/files", get(crate::files_view::page))
        .route("/_dashboard/jobs/cancel", post(crate::jobs_view::cancel))
        .route(
            crate::operator::LOGIN_PATH,
            get(crate::operator::login_form).post(crate::operator::login),
        )
        .route(
            "/_dashboard/run",
            get(crate::runner_view::form).post(crate::runner_view::run),
        )
        .route("/_dashboard/data", get(crate::data_view::tables))
        .route("/_dashboard/data/{table}", get(crate::data_view::documents))
        .route(
            "/_dashboard/data/{table}/insert",
            post(crate::data_view::insert),
        )
        .route(
            "/_dashboard/data/{table}/{id}/edit",
            post(crate::data_view::edit),
        )
        .route(
            "/_dashboard/data/{table}/{id}/delete",
            post(crate::data_view::delete),
        )
        .route(
            "/_dashboard/data/{table}/{id}",
            get(crate::data_view::document),
        )
        .route("/metrics", get(crate::metrics::handler))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::operator::guard,
        ));
    Router::new()
        .route("/", get(root))
        .route("/version", get(version))
        .route("/api/query", post(post_query).get(get_query))
        .route("/api/mutation", post(post_mutation))
        .route("/api/action", post(post_action))
        .route("/api/function", post(post_function))
        .route("/api/run/{*path}", post(post_run))
        .route("/api/sync", get(crate::sync::upgrade))
        .route("/api/{version}/sync", get(crate::sync::upgrade))
        .merge(crate::storage_api::routes())
        .layer(cors)
        .merge(operator)
        .merge(crate::cli_api::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn root() -> &'static str {
    "This is a Ferrovex deployment (Convex-compatible API). See /api/query, /api/mutation, /api/action.\n"
}

async fn version() -> String {
    format!("ferrovex {}\n", env!("CARGO_PKG_VERSION"))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".to_owned())
}

/// Reads the body, turning a size rejection into 413 and anything else into 400.
fn body_json(
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, serde_json::Value>, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!("request body exceeds {MAX_BODY_BYTES} bytes"))
        } else {
            ApiError::BadJsonBody(format!("cannot read the request body: {e}"))
        }
    })?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadJsonBody(format!("the request body is not valid JSON: {e}")))?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(ApiError::BadJsonBody(
            "the request body must be a JSON object".to_owned(),
        )),
    }
}

/// `args` may be missing (`{}`), an object, or an array holding exactly one object.
fn parse_args(raw: Option<serde_json::Value>) -> Result<Value, ApiError> {
    let object = match raw {
        None | Some(serde_json::Value::Null) => return Ok(Value::Object(Default::default())),
        Some(serde_json::Value::Array(mut items)) if items.len() == 1 => items.remove(0),
        Some(serde_json::Value::Array(items)) => {
            return Err(ApiError::InvalidArgs(format!(
                "args must be an object or an array holding one object, got an array of {}",
                items.len()
            )));
        }
        Some(other) => other,
    };
    if !object.is_object() {
        return Err(ApiError::InvalidArgs("args must be an object".to_owned()));
    }
    let value = Value::from_convex_json(&object)
        .map_err(|e| ApiError::InvalidArgs(format!("invalid args: {e}")))?;
    Ok(value)
}

fn string_field(
    map: &mut Map<String, serde_json::Value>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    match map.remove(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::BadJsonBody(format!("{name:?} must be a string"))),
    }
}

fn parse_path(raw: &str) -> Result<FunctionPath, ApiError> {
    FunctionPath::parse(raw).map_err(|e| ApiError::InvalidPath(e.to_string()))
}

/// The wire form of an outcome.
fn outcome_response(outcome: Outcome, format: ValueFormat) -> Response {
    let body = match outcome.result {
        Ok(value) => json!({
            "status": "success",
            "value": format.encode(&value),
            "logLines": outcome.log_lines,
        }),
        Err(failure) => {
            let mut body = json!({
                "status": "error",
                "errorMessage": failure.message(),
                "logLines": outcome.log_lines,
            });
            if let (Some(data), Some(obj)) = (failure.data(), body.as_object_mut()) {
                obj.insert("errorData".to_owned(), format.encode(data));
            }
            body
        }
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// The caller: `Authorization: Bearer <jwt>` is a user; `Authorization: Convex <key>[:<id>]`
/// is an admin (internal functions callable), optionally acting as a user; no header is
/// anonymous. The transport says which, for the engine and the log.
pub(crate) async fn identity(
    state: &ApiState,
    headers: &HeaderMap,
) -> Result<(Option<Arc<Identity>>, Transport), ApiError> {
    if let Some(raw) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some((scheme, credential)) = raw.trim().split_once(' ')
        && scheme.eq_ignore_ascii_case("convex")
    {
        let admin = state.admin.as_ref().ok_or(ApiError::BadAdminKey)?;
        let (key, acting) = crate::admin::split_credential(credential);
        let refused = |r: crate::admin::AdminRefusal| match r {
            crate::admin::AdminRefusal::BadKey => ApiError::BadAdminKey,
            crate::admin::AdminRefusal::TooMany => ApiError::TooManyRequests,
            crate::admin::AdminRefusal::BadIdentity(why) => ApiError::InvalidAuthHeader(why),
        };
        admin.check(key).map_err(refused)?;
        let identity = acting
            .map(crate::admin::acting_as_base64)
            .transpose()
            .map_err(refused)?;
        return Ok((identity, Transport::AdminHttpApi));
    }
    Ok((
        bearer_identity(state.verifier.as_ref(), headers).await?,
        Transport::HttpApi,
    ))
}

/// The identity of `Authorization: Bearer <jwt>` verified by `verifier`; none without the
/// header.
pub(crate) async fn bearer_identity(
    verifier: Option<&Arc<ferrovex_auth::verify::Verifier>>,
    headers: &HeaderMap,
) -> Result<Option<Arc<Identity>>, ApiError> {
    let Some(raw) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let raw = raw.to_str().map_err(|_| {
        ApiError::InvalidAuthHeader("the Authorization header is not ASCII".to_owned())
    })?;
    let (scheme, token) = raw.trim().split_once(' ').unwrap_or((raw, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::InvalidAuthHeader(
            "only \"Authorization: Bearer <token>\" (or \"Convex <admin key>\") is supported"
                .to_owned(),
        ));
    }
    let verifier = verifier.ok_or_else(|| {
        ApiError::InvalidAuthHeader("authentication is not configured".to_owned())
    })?;
    let identity = verifier
        .verify(token.trim())
        .await
        .map_err(|e| ApiError::InvalidAuthHeader(format!("could not verify the token: {e}")))?;
    Ok(Some(identity))
}

async fn call(
    state: &ApiState,
    headers: &HeaderMap,
    kind: Option<FunctionKind>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (identity, transport) = identity(state, headers).await?;
    let mut map = body_json(body)?;
    let path = string_field(&mut map, "path")?
        .ok_or_else(|| ApiError::BadJsonBody("missing \"path\"".to_owned()))?;
    let path = parse_path(&path)?;
    let format = ValueFormat::parse(
        string_field(&mut map, "format")?.as_deref(),
        ValueFormat::Clean,
    )?;
    let args = parse_args(map.remove("args"))?;
    let outcome = match kind {
        Some(kind) => {
            state
                .engine
                .call_as(Some(kind), &path, args, transport, identity)
                .await
        }
        None => {
            state
                .engine
                .call_as(None, &path, args, transport, identity)
                .await
        }
    };
    Ok(outcome_response(outcome, format))
}

async fn post_query(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    call(&state, &headers, Some(FunctionKind::Query), body).await
}

async fn post_mutation(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    call(&state, &headers, Some(FunctionKind::Mutation), body).await
}

async fn post_action(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    call(&state, &headers, Some(FunctionKind::Action), body).await
}

async fn post_function(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    call(&state, &headers, None, body).await
}

async fn post_run(
    State(state): State<ApiState>,
    Path(raw_path): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (identity, transport) = identity(&state, &headers).await?;
    let path =
        FunctionPath::from_url_path(&raw_path).map_err(|e| ApiError::InvalidPath(e.to_string()))?;
    let is_empty = body
        .as_ref()
        .is_ok_and(|b| b.iter().all(u8::is_ascii_whitespace));
    let mut map = if is_empty {
        Map::new()
    } else {
        body_json(body)?
    };
    let format = ValueFormat::parse(
        string_field(&mut map, "format")?.as_deref(),
        ValueFormat::Clean,
    )?;
    let args = parse_args(map.remove("args"))?;
    let outcome = state
        .engine
        .call_as(None, &path, args, transport, identity)
        .await;
    Ok(outcome_response(outcome, format))
}

async fn get_query(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (identity, transport) = identity(&state, &headers).await?;
    let path = params
        .get("path")
        .ok_or_else(|| ApiError::BadJsonBody("missing query parameter \"path\"".to_owned()))?;
    let path = parse_path(path)?;
    let format = ValueFormat::parse(params.get("format").map(String::as_str), ValueFormat::Clean)?;
    let args = match params.get("args") {
        None => None,
        Some(raw) => Some(serde_json::from_str(raw).map_err(|e| {
            ApiError::InvalidArgs(format!("the \"args\" parameter is not valid JSON: {e}"))
        })?),
    };
    let args = parse_args(args)?;
    let outcome = state
        .engine
        .call_as(Some(FunctionKind::Query), &path, args, transport, identity)
        .await;
    Ok(outcome_response(outcome, format))
}
