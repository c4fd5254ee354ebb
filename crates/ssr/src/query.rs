//! Server-side queries over the HTTP API with the request's token, and the per-query options
//! the browser runtime honours: `server` (run during SSR, default true), `subscribe` (keep it
//! live over the WebSocket, default true) and `'skip'` arguments.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{Value as Json, json};

use crate::SsrError;
use crate::http::Http;
use crate::payload::PayloadQuery;
use crate::timing::ServerTiming;

/// Deadline of one SSR query.
pub const QUERY_DEADLINE: Duration = Duration::from_secs(10);

/// Options of one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryOptions {
    /// Run during SSR and embed the result.
    pub server: bool,
    /// Subscribe over the WebSocket after hydration (else fetch once over HTTP, with refresh).
    pub subscribe: bool,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            server: true,
            subscribe: true,
        }
    }
}

/// Arguments of a query, or `'skip'`.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryArgs {
    /// Convex-JSON arguments object.
    Args(Json),
    /// Do not run it (yet).
    Skip,
}

/// Runs queries against the API origin.
#[derive(Clone, Debug)]
pub struct ServerQueries {
    api_url: String,
    http: Http,
}

impl ServerQueries {
    /// Queries against `api_url` (the API origin).
    pub fn new(api_url: &str) -> ServerQueries {
        ServerQueries {
            api_url: api_url.trim_end_matches('/').to_owned(),
            http: Http::new(QUERY_DEADLINE),
        }
    }

    /// One query: its Convex-encoded value, or `(errorMessage, errorData)`.
    pub async fn run(
        &self,
        path: &str,
        args: &Json,
        token: Option<&str>,
    ) -> Result<Result<Json, (String, Option<Json>)>, SsrError> {
        let body =
            json!({"path": path, "args": [args], "format": "convex_encoded_json"}).to_string();
        let mut req = hyper::Request::post(format!("{}/api/query", self.api_url))
            .header("content-type", "application/json");
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SsrError::Upstream(e.to_string()))?;
        let answer = self.http.send(req).await?;
        let reply: Json = serde_json::from_slice(&answer.body)
            .map_err(|_| SsrError::Upstream(format!("query answered {}", answer.status)))?;
        if answer.status != 200 {
            return Ok(Err((
                reply["message"]
                    .as_str()
                    .unwrap_or("request refused")
                    .to_owned(),
                None,
            )));
        }
        Ok(match reply["status"].as_str() {
            Some("success") => Ok(reply["value"].clone()),
            _ => Err((
                reply["errorMessage"]
                    .as_str()
                    .unwrap_or("query failed")
                    .to_owned(),
                reply.get("errorData").cloned(),
            )),
        })
    }

    /// The arguments of the first page of a paginated query, exactly as the browser runtime's
    /// `paginatedQuery(path, args, {initialNumItems})` asks for it, so a page rendered with
    /// them is hydrated (and subscribed already pinned) instead of fetched again. `args` must
    /// be an object; `paginationOpts` is added.
    pub fn first_page_args(args: &Json, initial_num_items: u32) -> QueryArgs {
        let mut args = args.as_object().cloned().unwrap_or_default();
        args.insert(
            "paginationOpts".to_owned(),
            json!({"numItems": initial_num_items, "cursor": null}),
        );
        QueryArgs::Args(Json::Object(args))
    }

    /// Prepares several queries at once (they run concurrently); timings are recorded per query.
    pub async fn prepare_all(
        &self,
        queries: Vec<(&str, QueryArgs, QueryOptions)>,
        token: Option<&str>,
        timing: &mut ServerTiming,
    ) -> Vec<PayloadQuery> {
        let runs = queries.into_iter().map(|(path, args, options)| async move {
            let mut own = ServerTiming::default();
            let q = self.prepare(path, args, options, token, &mut own).await;
            (q, own)
        });
        let mut out = Vec::new();
        for (q, own) in futures_util::future::join_all(runs).await {
            timing.merge(own);
            out.push(q);
        }
        out
    }

    /// Prepares a query for the page: runs it now when `server` is on and it is not skipped
    /// (timed as `q_<path>`), and describes it for the browser runtime.
    pub async fn prepare(
        &self,
        path: &str,
        args: QueryArgs,
        options: QueryOptions,
        token: Option<&str>,
        timing: &mut ServerTiming,
    ) -> PayloadQuery {
        let mut q = PayloadQuery {
            path: path.to_owned(),
            args: match &args {
                QueryArgs::Args(a) => Some(a.clone()),
                QueryArgs::Skip => None,
            },
            server: options.server,
            subscribe: options.subscribe,
            value: None,
            error: None,
        };
        if let (true, QueryArgs::Args(a)) = (options.server, &args) {
            let start = Instant::now();
            let result = self.run(path, a, token).await;
            timing.add(&format!("q_{path}"), start.elapsed(), Some(path));
            match result {
                Ok(Ok(value)) => q.value = Some(value),
                Ok(Err((message, data))) => {
                    q.error = Some(json!({"message": message, "data": data}))
                }
                Err(e) => {
                    tracing::warn!(path, error = %e, "SSR query failed");
                    q.error = Some(
                        json!({"message": "The server could not load this data", "data": null}),
                    );
                }
            }
        }
        q
    }
}
