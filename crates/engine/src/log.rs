//! The function log: one record per execution (kind, path, transport, outcome, cached flag,
//! duration, log lines), kept in a bounded ring for the dashboard, printed as one stdout line
//! per execution (`Q messages:list (WebSocket) success (cached) 0ms`), and counted in
//! [`Metrics`].

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::kind::FunctionKind;

/// Executions kept in memory for the dashboard.
pub const LOG_RING_CAPACITY: usize = 1000;

/// How a call reached the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// The HTTP API (`/api/query` ...).
    HttpApi,
    /// The sync WebSocket.
    WebSocket,
    /// Called by another function (an action's `run_query`) or by Ferrovex itself.
    Internal,
    /// A scheduled function (`ctx.scheduler().run_after`), run by the scheduler.
    Scheduler,
    /// A cron job's run.
    Cron,
    /// An HTTP action on the site origin.
    Http,
    /// The HTTP API with the admin key (`Authorization: Convex <key>`): internal functions
    /// are callable.
    AdminHttpApi,
    /// The sync WebSocket authenticated with the admin key: internal functions are callable.
    AdminWebSocket,
}

impl Transport {
    /// The label used in the log line and the dashboard.
    pub fn label(self) -> &'static str {
        match self {
            Transport::HttpApi => "HTTP API",
            Transport::WebSocket => "WebSocket",
            Transport::Internal => "internal",
            Transport::Scheduler => "scheduler",
            Transport::Cron => "cron",
            Transport::Http => "HTTP action",
            Transport::AdminHttpApi => "HTTP API, admin",
            Transport::AdminWebSocket => "WebSocket, admin",
        }
    }

    /// A short machine-friendly name (`http`, `ws`, `internal`).
    pub fn slug(self) -> &'static str {
        match self {
            Transport::HttpApi => "http",
            Transport::WebSocket => "ws",
            Transport::Internal => "internal",
            Transport::Scheduler => "scheduler",
            Transport::Cron => "cron",
            Transport::Http => "http-action",
            Transport::AdminHttpApi => "admin-http",
            Transport::AdminWebSocket => "admin-ws",
        }
    }
}

/// One execution.
#[derive(Clone, Debug)]
pub struct Execution {
    /// Increasing sequence number (for "everything after N" polling).
    pub seq: u64,
    /// Wall time when it finished, ms since the epoch.
    pub time_ms: u64,
    /// Query, mutation or action.
    pub kind: FunctionKind,
    /// Canonical path (or the raw path when it was not found).
    pub path: String,
    /// A keyed hash of the canonical arguments: tells calls apart without showing arguments,
    /// which may hold secrets. The key is random per process.
    pub args_hash: String,
    /// How the call arrived.
    pub transport: Transport,
    /// `None` on success, else the client-visible error message.
    pub error: Option<String>,
    /// Served from the query cache.
    pub cached: bool,
    /// Execution time (zero for cache hits).
    pub duration: Duration,
    /// Log lines of the execution (replayed for cache hits).
    pub log_lines: Vec<String>,
}

impl Execution {
    /// The stdout line: `Q messages:list (WebSocket) success (cached) 0ms`.
    pub fn line(&self) -> String {
        let letter = match self.kind {
            FunctionKind::Query => "Q",
            FunctionKind::Mutation => "M",
            FunctionKind::Action => "A",
        };
        let outcome = if self.error.is_some() {
            "failure"
        } else {
            "success"
        };
        let cached = if self.cached { " (cached)" } else { "" };
        let why = self
            .error
            .as_deref()
            .map(|e| format!(": {}", short_reason(e)))
            .unwrap_or_default();
        format!(
            "{letter} {} ({}) {outcome}{cached} {}ms{why}",
            self.path,
            self.transport.label(),
            self.duration.as_millis()
        )
    }
}

/// A failure in a few words for the stdout line, from the client-visible message (so never
/// more than a client sees): `ConvexError INVALID_BODY`, `ArgumentValidationError at .body`,
/// `Server Error [Request ID: …]`.
fn short_reason(message: &str) -> String {
    const MAX: usize = 80;
    if let Some(rest) = message.strip_prefix("ArgumentValidationError") {
        return match rest.lines().find_map(|l| l.strip_prefix("Path: ")) {
            Some(path) => format!("ArgumentValidationError at {path}"),
            None => "ArgumentValidationError".to_owned(),
        };
    }
    if let Some(id) = message
        .strip_prefix("[Request ID: ")
        .and_then(|r| r.split_once(']'))
        .map(|(id, _)| id)
    {
        return format!("Server Error [Request ID: {id}]");
    }
    if message.starts_with("Could not find public function") {
        return "no such public function".to_owned();
    }
    if message.starts_with("Could not find function") {
        return "no such function".to_owned();
    }
    if let Ok(serde_json::Value::Object(data)) = serde_json::from_str::<serde_json::Value>(message)
    {
        return match data.get("code").and_then(serde_json::Value::as_str) {
            Some(code) => format!("ConvexError {}", one_line(code, MAX)),
            None => "ConvexError".to_owned(),
        };
    }
    one_line(message, MAX)
}

/// A failure message as the log keeps it: the values a caller passed are taken out, since
/// arguments may hold secrets and the log is shown on the dashboard (D12). The
/// `Value:` line of an `ArgumentValidationError` and every quoted literal (serde's
/// ``invalid type: string "…"``) become `…`; a `ConvexError`'s data (the app's chosen payload)
/// stays.
pub fn without_values(message: &str) -> String {
    if serde_json::from_str::<serde_json::Value>(message).is_ok_and(|v| v.is_object()) {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    for (i, line) in message.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.starts_with("Value: ") {
            out.push_str("Value: …");
            continue;
        }
        let mut quote: Option<char> = None;
        for c in line.chars() {
            match quote {
                Some(q) if c == q => {
                    out.push('…');
                    out.push(c);
                    quote = None;
                }
                Some(_) => {}
                None => {
                    out.push(c);
                    if c == '"' || c == '`' {
                        quote = Some(c);
                    }
                }
            }
        }
        if quote.is_some() {
            out.push('…');
        }
    }
    out
}

/// The first line of `s`, cut to `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let first = s.lines().next().unwrap_or_default();
    let mut out: String = first.chars().take(max).collect();
    if first.chars().count() > max || s.lines().nth(1).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::short_reason;

    #[test]
    fn logged_failures_hold_no_argument_values() {
        use super::without_values;
        assert_eq!(
            without_values("invalid type: string \"my-password-LEAK\", expected a boolean"),
            "invalid type: string \"…\", expected a boolean"
        );
        assert_eq!(
            without_values(
                "ArgumentValidationError: Value does not match validator.\nPath: .body\nValue: \"hunter2\"\nValidator: v.number()"
            ),
            "ArgumentValidationError: Value does not match validator.\nPath: .body\nValue: …\nValidator: v.number()"
        );
        assert_eq!(without_values("unclosed `secret"), "unclosed `…");
        assert_eq!(
            without_values("{\"code\":\"INVALID_BODY\"}"),
            "{\"code\":\"INVALID_BODY\"}"
        );
        assert_eq!(
            without_values("[Request ID: 00ab] Server Error"),
            "[Request ID: 00ab] Server Error"
        );
    }

    #[test]
    fn failures_are_summed_up_in_a_few_words() {
        assert_eq!(
            short_reason("{\"code\":\"INVALID_BODY\"}"),
            "ConvexError INVALID_BODY"
        );
        assert_eq!(
            short_reason(
                "ArgumentValidationError: Value does not match validator.\nPath: .body\nValue: 5.0\nValidator: v.string()"
            ),
            "ArgumentValidationError at .body"
        );
        assert_eq!(
            short_reason("[Request ID: 00ab] Server Error"),
            "Server Error [Request ID: 00ab]"
        );
        assert_eq!(short_reason("no such task"), "no such task");
        assert_eq!(short_reason(&"x".repeat(200)).chars().count(), 81);
    }
}

/// Upper bounds (seconds) of the latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A fixed-bucket latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Cumulative bucket counts, total count and sum in seconds.
    pub fn snapshot(&self) -> (Vec<u64>, u64, f64) {
        let buckets = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (buckets, self.count.load(Ordering::Relaxed), sum)
    }
}

/// Counters shown on the dashboard and on `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Executions per kind: query, mutation, action.
    pub executions: [AtomicU64; 3],
    /// Failed executions per kind.
    pub failures: [AtomicU64; 3],
    /// Query cache hits.
    pub cache_hits: AtomicU64,
    /// Query cache misses (fresh executions of cacheable queries).
    pub cache_misses: AtomicU64,
    /// Commits.
    pub commits: AtomicU64,
    /// Mutations answered from a recorded outcome instead of running again.
    pub mutations_deduplicated: AtomicU64,
    /// Open sync WebSockets.
    pub open_sockets: AtomicI64,
    /// Subscribed queries across all sockets.
    pub active_subscriptions: AtomicI64,
    /// Re-executions of subscribed queries caused by commits.
    pub subscription_reruns: AtomicU64,
    /// Commits by another process on the same database, read from the commit log (each
    /// re-runs only what its write set touched).
    pub foreign_commits: AtomicU64,
    /// Times the commit log could not say what changed (a write set too large to log, a
    /// cursor below the pruned floor, an unreadable log), so everything was invalidated.
    pub commit_log_full_invalidations: AtomicU64,
    /// Latency per kind.
    pub latency: [Histogram; 3],
    /// Scheduled jobs (and cron ticks) that ran successfully.
    pub jobs_succeeded: AtomicU64,
    /// Scheduled jobs that failed (including actions interrupted by a restart).
    pub jobs_failed: AtomicU64,
    /// How late jobs start: from `scheduledTime` to the run.
    pub scheduler_lag: Histogram,
}

impl Metrics {
    /// Index of a kind in the per-kind arrays.
    pub fn kind_index(kind: FunctionKind) -> usize {
        match kind {
            FunctionKind::Query => 0,
            FunctionKind::Mutation => 1,
            FunctionKind::Action => 2,
        }
    }

    /// Hits / (hits + misses), or 0 with no traffic.
    pub fn cache_hit_ratio(&self) -> f64 {
        let hits = self.cache_hits.load(Ordering::Relaxed) as f64;
        let misses = self.cache_misses.load(Ordering::Relaxed) as f64;
        if hits + misses == 0.0 {
            0.0
        } else {
            hits / (hits + misses)
        }
    }
}

/// The function log.
pub struct FunctionLog {
    ring: Mutex<VecDeque<Arc<Execution>>>,
    seq: AtomicU64,
    print: bool,
    hash_key: std::collections::hash_map::RandomState,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for FunctionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionLog")
            .field("print", &self.print)
            .finish_non_exhaustive()
    }
}

impl FunctionLog {
    /// A log; `print` writes one stdout line per execution.
    pub fn new(print: bool, metrics: Arc<Metrics>) -> FunctionLog {
        FunctionLog {
            ring: Mutex::new(VecDeque::with_capacity(LOG_RING_CAPACITY)),
            seq: AtomicU64::new(0),
            print,
            hash_key: std::collections::hash_map::RandomState::new(),
            metrics,
        }
    }

    /// The keyed hash of canonical arguments.
    pub fn args_hash(&self, canonical_args: &str) -> String {
        format!("{:08x}", self.hash_key.hash_one(canonical_args) >> 32)
    }

    /// Records an execution (the `seq` and `time_ms` fields are filled in here).
    pub fn record(&self, mut execution: Execution) {
        execution.error = execution.error.as_deref().map(without_values);
        execution.seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        execution.time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let k = Metrics::kind_index(execution.kind);
        self.metrics.executions[k].fetch_add(1, Ordering::Relaxed);
        if execution.error.is_some() {
            self.metrics.failures[k].fetch_add(1, Ordering::Relaxed);
        }
        self.metrics.latency[k].observe(execution.duration);
        if self.print {
            println!("{}", execution.line());
        }
        let mut ring = self.ring.lock();
        if ring.len() == LOG_RING_CAPACITY {
            ring.pop_front();
        }
        ring.push_back(Arc::new(execution));
    }

    /// The recorded executions with `seq > after`, oldest first.
    pub fn since(&self, after: u64) -> Vec<Arc<Execution>> {
        self.ring
            .lock()
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect()
    }

    /// The latest sequence number.
    pub fn last_seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }
}
