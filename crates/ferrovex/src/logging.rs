//! The server's log: `FERROVEX_LOG` as a tracing filter, with the targets that would log
//! secrets capped whatever the filter says.

use tracing_subscriber::EnvFilter;

/// Targets that log whole WebSocket frames (JWTs in `Authenticate`, function arguments) at
/// trace level: capped at `info`, even under `FERROVEX_LOG=trace`.
const CAPPED: [&str; 2] = ["tungstenite=info", "tokio_tungstenite=info"];

/// The filter for `FERROVEX_LOG` (default `info`), and a warning to log when it is malformed.
pub(crate) fn filter() -> (EnvFilter, Option<String>) {
    let spec = std::env::var("FERROVEX_LOG").unwrap_or_default();
    let (mut filter, warning) = if spec.trim().is_empty() {
        (EnvFilter::new("info"), None)
    } else {
        match EnvFilter::try_new(&spec) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new("info"),
                Some(format!(
                    "FERROVEX_LOG={spec:?} is not a log filter ({e}); logging at info. Use a level (error, warn, info, debug, trace) or target=level pairs"
                )),
            ),
        }
    };
    for directive in CAPPED {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    (filter, warning)
}

/// Sends every `WARN` and `ERROR` event to the dashboard's health page
/// ([`ferrovex_server::warnings`]), message and fields as one line.
pub(crate) struct WarningLayer;

/// Collects an event's message and fields.
struct Line(String);

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarningLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let level = *event.metadata().level();
        let name = if level == tracing::Level::ERROR {
            "ERROR"
        } else if level == tracing::Level::WARN {
            "WARN"
        } else {
            return;
        };
        let mut line = Line(String::new());
        event.record(&mut line);
        ferrovex_server::warnings::record(name, event.metadata().target(), line.0.trim());
    }
}
