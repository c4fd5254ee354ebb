//! Visibility of the site origin's auth routes, which the seed tells users to measure
//! (`/api/auth/convex/token`): one stdout line per request (`AUTH GET /convex/token 200
//! 0.3ms`), and per-route counters and latency histograms on `/metrics` and the dashboard.
//! Lines and labels hold the method, the route, the status and the time: never a query
//! string, a cookie, a token or a body.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ferrovex_engine::{Histogram, LATENCY_BUCKETS};
use parking_lot::Mutex;

/// Counts and times per `(method, route)`.
#[derive(Debug)]
struct RouteStat {
    /// `"GET /convex/token"`, made once per route (a fixed, small set).
    label: &'static str,
    by_status: BTreeMap<u16, u64>,
    latency: Histogram,
}

/// `(route, method)`.
type RouteKey = (String, String);

/// Per-route counters of the auth routes (the routes are a fixed set, so this is bounded).
#[derive(Debug, Default)]
pub struct AuthRouteStats {
    routes: Mutex<BTreeMap<RouteKey, Arc<Mutex<RouteStat>>>>,
    print: bool,
}

impl AuthRouteStats {
    /// Counters that also print a stdout line per request when `print` (`--print-log`).
    pub fn new(print: bool) -> AuthRouteStats {
        AuthRouteStats {
            routes: Mutex::default(),
            print,
        }
    }

    fn record(&self, method: &str, route: &str, status: u16, took: Duration) {
        let stat = self
            .routes
            .lock()
            .entry((route.to_owned(), method.to_owned()))
            .or_insert_with(|| {
                Arc::new(Mutex::new(RouteStat {
                    label: Box::leak(format!("{method} {route}").into_boxed_str()),
                    by_status: BTreeMap::new(),
                    latency: Histogram::default(),
                }))
            })
            .clone();
        let mut stat = stat.lock();
        *stat.by_status.entry(status).or_default() += 1;
        stat.latency.observe(took);
        if self.print {
            println!(
                "AUTH {method} {route} {status} {:.1}ms",
                took.as_secs_f64() * 1e3
            );
        }
    }
}

/// The middleware on auth's routes.
pub(crate) async fn middleware(
    State(stats): State<Arc<AuthRouteStats>>,
    request: Request,
    next: Next,
) -> Response {
    // Any other method is one label, so callers cannot grow the table.
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "OPTIONS") => m.to_owned(),
        _ => "OTHER".to_owned(),
    };
    // Only auth's own fixed routes pass through here, so the path is the route (the query
    // string, which could hold a token, is not part of it).
    let path = request.uri().path();
    let route = path.strip_prefix("/api/auth").unwrap_or(path).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    stats.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

impl crate::MetricsSection for AuthRouteStats {
    fn title(&self) -> &str {
        "auth routes (site origin)"
    }

    fn summary(&self) -> Vec<(&'static str, String)> {
        let routes = self.routes.lock();
        routes
            .values()
            .map(|stat| {
                let stat = stat.lock();
                let (_, count, sum) = stat.latency.snapshot();
                let mean = if count == 0 {
                    0.0
                } else {
                    sum / count as f64 * 1e3
                };
                (stat.label, format!("{count} · {mean:.2} ms mean"))
            })
            .collect()
    }

    fn prometheus(&self) -> String {
        let mut out = String::from(
            "# HELP ferrovex_auth_requests_total Requests to the site origin's auth routes.\n# TYPE ferrovex_auth_requests_total counter\n",
        );
        let routes = self.routes.lock();
        for ((route, method), stat) in routes.iter() {
            for (status, n) in &stat.lock().by_status {
                let _ = writeln!(
                    out,
                    "ferrovex_auth_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP ferrovex_auth_request_duration_seconds Time to answer an auth route.\n# TYPE ferrovex_auth_request_duration_seconds histogram\n");
        for ((route, method), stat) in routes.iter() {
            let (buckets, count, sum) = stat.lock().latency.snapshot();
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bound, n) in LATENCY_BUCKETS.iter().zip(&buckets) {
                let _ = writeln!(
                    out,
                    "ferrovex_auth_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "ferrovex_auth_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\nferrovex_auth_request_duration_seconds_sum{{{labels}}} {sum}\nferrovex_auth_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        out
    }
}
