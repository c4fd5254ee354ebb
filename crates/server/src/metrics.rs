//! `/metrics`: the engine's counters and latency histograms in Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use ferrovex_engine::{FunctionKind, LATENCY_BUCKETS, Metrics};

use crate::ApiState;

const KINDS: [FunctionKind; 3] = [
    FunctionKind::Query,
    FunctionKind::Mutation,
    FunctionKind::Action,
];

fn kind_label(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Query => "query",
        FunctionKind::Mutation => "mutation",
        FunctionKind::Action => "action",
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Renders every metric.
pub fn render(metrics: &Metrics, cache_bytes: usize, cache_entries: usize) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "# HELP ferrovex_executions_total Function executions, including cache hits."
    );
    let _ = writeln!(out, "# TYPE ferrovex_executions_total counter");
    for kind in KINDS {
        let n = metrics.executions[Metrics::kind_index(kind)].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "ferrovex_executions_total{{kind=\"{}\"}} {n}",
            kind_label(kind)
        );
    }
    let _ = writeln!(
        out,
        "# HELP ferrovex_execution_failures_total Function executions that failed."
    );
    let _ = writeln!(out, "# TYPE ferrovex_execution_failures_total counter");
    for kind in KINDS {
        let n = metrics.failures[Metrics::kind_index(kind)].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "ferrovex_execution_failures_total{{kind=\"{}\"}} {n}",
            kind_label(kind)
        );
    }
    let counters = [
        (
            "ferrovex_cache_hits_total",
            "Query results served from the cache.",
            metrics.cache_hits.load(Ordering::Relaxed),
        ),
        (
            "ferrovex_cache_misses_total",
            "Query executions that missed the cache.",
            metrics.cache_misses.load(Ordering::Relaxed),
        ),
        (
            "ferrovex_commits_total",
            "Committed mutations.",
            metrics.commits.load(Ordering::Relaxed),
        ),
        (
            "ferrovex_mutations_deduplicated_total",
            "Re-sent mutations answered from their recorded outcome.",
            metrics.mutations_deduplicated.load(Ordering::Relaxed),
        ),
        (
            "ferrovex_subscription_reruns_total",
            "Subscribed queries invalidated by a commit.",
            metrics.subscription_reruns.load(Ordering::Relaxed),
        ),
        (
            "ferrovex_foreign_commits_total",
            "Commits by other processes on the same database, read from the commit log.",
            metrics.foreign_commits.load(Ordering::Relaxed),
        ),
        (
            "ferrovex_commit_log_full_invalidations_total",
            "Times the commit log could not say what changed, so everything was invalidated.",
            metrics
                .commit_log_full_invalidations
                .load(Ordering::Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        metric(&mut out, name, "counter", help, v);
    }
    metric(
        &mut out,
        "ferrovex_cache_hit_ratio",
        "gauge",
        "Cache hits / (hits + misses).",
        metrics.cache_hit_ratio(),
    );
    metric(
        &mut out,
        "ferrovex_cache_bytes",
        "gauge",
        "Estimated bytes held by the query cache.",
        cache_bytes,
    );
    metric(
        &mut out,
        "ferrovex_cache_entries",
        "gauge",
        "Entries in the query cache.",
        cache_entries,
    );
    metric(
        &mut out,
        "ferrovex_open_sockets",
        "gauge",
        "Open sync WebSockets.",
        metrics.open_sockets.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "ferrovex_active_subscriptions",
        "gauge",
        "Subscribed queries on all sockets.",
        metrics.active_subscriptions.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP ferrovex_execution_duration_seconds Execution time (cache hits count as zero)."
    );
    let _ = writeln!(out, "# TYPE ferrovex_execution_duration_seconds histogram");
    for kind in KINDS {
        let (buckets, count, sum) = metrics.latency[Metrics::kind_index(kind)].snapshot();
        let label = kind_label(kind);
        for (bound, n) in LATENCY_BUCKETS.iter().zip(&buckets) {
            let _ = writeln!(
                out,
                "ferrovex_execution_duration_seconds_bucket{{kind=\"{label}\",le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "ferrovex_execution_duration_seconds_bucket{{kind=\"{label}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "ferrovex_execution_duration_seconds_sum{{kind=\"{label}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "ferrovex_execution_duration_seconds_count{{kind=\"{label}\"}} {count}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP ferrovex_scheduled_jobs_total Scheduled jobs and cron ticks run, by outcome.\n# TYPE ferrovex_scheduled_jobs_total counter"
    );
    for (outcome, counter) in [
        ("success", &metrics.jobs_succeeded),
        ("failed", &metrics.jobs_failed),
    ] {
        let _ = writeln!(
            out,
            "ferrovex_scheduled_jobs_total{{outcome=\"{outcome}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP ferrovex_scheduler_lag_seconds From a job's scheduledTime to its start.\n# TYPE ferrovex_scheduler_lag_seconds histogram"
    );
    let (buckets, count, sum) = metrics.scheduler_lag.snapshot();
    for (bound, n) in LATENCY_BUCKETS.iter().zip(&buckets) {
        let _ = writeln!(
            out,
            "ferrovex_scheduler_lag_seconds_bucket{{le=\"{bound}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "ferrovex_scheduler_lag_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(out, "ferrovex_scheduler_lag_seconds_sum {sum}");
    let _ = writeln!(out, "ferrovex_scheduler_lag_seconds_count {count}");
    out
}

/// Renders the auth-store call counters.
pub fn render_auth(stats: &ferrovex_auth::stats::AuthStats) -> String {
    let mut out = String::from(
        "# HELP ferrovex_auth_store_calls_total Auth-store database calls by operation.\n",
    );
    out.push_str("# TYPE ferrovex_auth_store_calls_total counter\n");
    for (op, n) in stats.snapshot() {
        let _ = writeln!(out, "ferrovex_auth_store_calls_total{{op=\"{op}\"}} {n}");
    }
    out
}

pub(crate) async fn handler(State(state): State<ApiState>) -> impl IntoResponse {
    let (bytes, entries) = state.engine.cache_usage();
    let mut text = render(state.engine.metrics(), bytes, entries);
    if let Some(auth) = &state.auth {
        text.push_str(&render_auth(auth.stats()));
    }
    for section in &state.sections {
        text.push_str(&section.prometheus());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
