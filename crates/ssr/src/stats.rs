//! Counters of the SSR toolkit, for `/metrics` and the dashboard: pages rendered by auth
//! state with a histogram of their render times, token-cache hits and misses, token
//! exchanges, and cached tokens dropped by revocations.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the render-time histogram buckets.
const BUCKETS: [f64; 8] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1.0];

/// Counters; every method is lock-free.
#[derive(Debug, Default)]
pub struct SsrStats {
    pages_signed_in: AtomicU64,
    pages_anonymous: AtomicU64,
    render_buckets: [AtomicU64; BUCKETS.len()],
    render_count: AtomicU64,
    render_sum_micros: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    exchanges: AtomicU64,
    exchange_failures: AtomicU64,
    revocations: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl SsrStats {
    /// Records a rendered page.
    pub fn page(&self, signed_in: bool, took: Duration) {
        bump(if signed_in {
            &self.pages_signed_in
        } else {
            &self.pages_anonymous
        });
        let secs = took.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.render_buckets) {
            if secs <= *bound {
                bump(count);
            }
        }
        bump(&self.render_count);
        self.render_sum_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn cache_lookup(&self, hit: bool) {
        bump(if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        });
    }

    pub(crate) fn exchange(&self, got_token: bool) {
        bump(&self.exchanges);
        if !got_token {
            bump(&self.exchange_failures);
        }
    }

    pub(crate) fn revoked(&self) {
        bump(&self.revocations);
    }

    /// Token exchanges made (each cache miss or uncached request with a session cookie).
    pub fn exchanges(&self) -> u64 {
        get(&self.exchanges)
    }

    /// `(name, value)` pairs for a dashboard card.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let count = get(&self.render_count);
        let mean = get(&self.render_sum_micros)
            .checked_div(count)
            .map_or_else(|| "–".to_owned(), |m| format!("{m} µs"));
        vec![
            ("signed-in pages", get(&self.pages_signed_in).to_string()),
            ("anonymous pages", get(&self.pages_anonymous).to_string()),
            ("mean render", mean),
            ("token cache hits", get(&self.cache_hits).to_string()),
            ("token cache misses", get(&self.cache_misses).to_string()),
            ("token exchanges", get(&self.exchanges).to_string()),
            (
                "exchanges without a token",
                get(&self.exchange_failures).to_string(),
            ),
            ("revoked cache entries", get(&self.revocations).to_string()),
        ]
    }

    /// The counters in the Prometheus text format.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP ferrovex_ssr_pages_total Pages rendered on the web origin.\n");
        out.push_str("# TYPE ferrovex_ssr_pages_total counter\n");
        let _ = writeln!(
            out,
            "ferrovex_ssr_pages_total{{auth=\"signed_in\"}} {}",
            get(&self.pages_signed_in)
        );
        let _ = writeln!(
            out,
            "ferrovex_ssr_pages_total{{auth=\"anonymous\"}} {}",
            get(&self.pages_anonymous)
        );
        out.push_str("# HELP ferrovex_ssr_render_seconds Time to render a page, auth and queries included.\n");
        out.push_str("# TYPE ferrovex_ssr_render_seconds histogram\n");
        for (bound, count) in BUCKETS.iter().zip(&self.render_buckets) {
            let _ = writeln!(
                out,
                "ferrovex_ssr_render_seconds_bucket{{le=\"{bound}\"}} {}",
                get(count)
            );
        }
        let count = get(&self.render_count);
        let _ = writeln!(
            out,
            "ferrovex_ssr_render_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "ferrovex_ssr_render_seconds_sum {}",
            get(&self.render_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "ferrovex_ssr_render_seconds_count {count}");
        for (name, help, value) in [
            (
                "ferrovex_ssr_token_cache_hits_total",
                "Token-cache lookups that found a token.",
                &self.cache_hits,
            ),
            (
                "ferrovex_ssr_token_cache_misses_total",
                "Token-cache lookups that found none.",
                &self.cache_misses,
            ),
            (
                "ferrovex_ssr_token_exchanges_total",
                "Session-for-JWT exchanges at the site origin.",
                &self.exchanges,
            ),
            (
                "ferrovex_ssr_token_exchange_failures_total",
                "Exchanges that returned no token.",
                &self.exchange_failures,
            ),
            (
                "ferrovex_ssr_token_revocations_total",
                "Cached tokens dropped because their session was revoked.",
                &self.revocations,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                get(value)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_counters_render() {
        let s = SsrStats::default();
        s.page(true, Duration::from_micros(300));
        s.page(false, Duration::from_millis(3));
        s.cache_lookup(true);
        s.exchange(false);
        let text = s.prometheus();
        assert!(
            text.contains("ferrovex_ssr_render_seconds_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("ferrovex_ssr_render_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("ferrovex_ssr_render_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("ferrovex_ssr_pages_total{auth=\"signed_in\"} 1\n"));
        assert!(text.contains("ferrovex_ssr_token_exchange_failures_total 1\n"));
        assert_eq!(s.summary()[2], ("mean render", "1650 µs".to_owned()));
    }
}
