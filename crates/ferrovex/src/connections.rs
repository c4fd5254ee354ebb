//! The connection counters of the three origins' listeners, as a `/metrics` section and a
//! dashboard card.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ferrovex_listener::ListenerStats;

/// One [`ListenerStats`] per origin.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionMetrics {
    pub(crate) api: Arc<ListenerStats>,
    pub(crate) site: Arc<ListenerStats>,
    pub(crate) web: Arc<ListenerStats>,
}

impl ConnectionMetrics {
    fn origins(&self) -> [(&'static str, &ListenerStats); 3] {
        [("api", &self.api), ("site", &self.site), ("web", &self.web)]
    }
}

impl ferrovex_server::MetricsSection for ConnectionMetrics {
    fn title(&self) -> &str {
        "connections"
    }

    fn summary(&self) -> Vec<(&'static str, String)> {
        let open = |s: &ListenerStats| s.open.load(Ordering::Relaxed).to_string();
        let refused: u64 = self
            .origins()
            .iter()
            .map(|(_, s)| s.refused_per_client.load(Ordering::Relaxed))
            .sum();
        vec![
            ("open (api)", open(&self.api)),
            ("open (site)", open(&self.site)),
            ("open (web)", open(&self.web)),
            ("refused (per-client cap)", refused.to_string()),
        ]
    }

    fn prometheus(&self) -> String {
        let mut out = String::from(
            "# HELP ferrovex_connections_open Connections open now, WebSockets included.\n# TYPE ferrovex_connections_open gauge\n",
        );
        for (origin, s) in self.origins() {
            let _ = writeln!(
                out,
                "ferrovex_connections_open{{origin=\"{origin}\"}} {}",
                s.open.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP ferrovex_connections_accepted_total Connections accepted.\n# TYPE ferrovex_connections_accepted_total counter\n");
        for (origin, s) in self.origins() {
            let _ = writeln!(
                out,
                "ferrovex_connections_accepted_total{{origin=\"{origin}\"}} {}",
                s.accepted.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP ferrovex_connections_refused_total Connections refused because their client address was at its cap.\n# TYPE ferrovex_connections_refused_total counter\n");
        for (origin, s) in self.origins() {
            let _ = writeln!(
                out,
                "ferrovex_connections_refused_total{{origin=\"{origin}\"}} {}",
                s.refused_per_client.load(Ordering::Relaxed)
            );
        }
        out
    }
}
