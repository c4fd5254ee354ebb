//! The demo's pages on the web origin (feature `demo-web`), started by `serve` through the
//! [`crate::WebOrigin`] hook like any app's own web origin would be. The pages call the demo's
//! functions (`messages:list`, `teams:create`, ...) over HTTP and the sync socket, so they
//! belong with an app that has them. The router itself is [`pages::web_router`], for mounting
//! in your own axum app.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::{WebContext, WebOrigin, WebStarted};

/// The demo web app's crate: `WebState`, `web_router`, `serve_web`.
pub use ferrovex_web as pages;

/// The demo web app as a [`WebOrigin`]: `Deployment::new(app).web(DemoWeb)`.
#[derive(Debug, Clone, Copy)]
pub struct DemoWeb;

/// The web origin's counters, on the API origin's `/metrics` and dashboard.
#[derive(Debug)]
struct WebMetrics(Arc<ferrovex_ssr::stats::SsrStats>);

impl ferrovex_server::MetricsSection for WebMetrics {
    fn title(&self) -> &str {
        "web origin (SSR)"
    }

    fn summary(&self) -> Vec<(&'static str, String)> {
        self.0.summary()
    }

    fn prometheus(&self) -> String {
        self.0.prometheus()
    }
}

impl WebOrigin for DemoWeb {
    fn start(&self, ctx: WebContext) -> BoxFuture<'static, anyhow::Result<WebStarted>> {
        Box::pin(async move {
            let state = ferrovex_web::WebState::start(ferrovex_web::WebConfig {
                api_url: ctx.api_url,
                public_api_url: ctx.public_api_url,
                site_url: ctx.site_url,
                web_origin: ctx.web_origin,
                extra_origins: ctx.extra_origins,
                auth_cache: ctx.auth_cache,
                redis_url: ctx.redis_url,
                proxy_key: Some(ctx.proxy_key),
            })
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
            // Sessions revoked at the site origin directly (not through the web proxy) leave
            // the web cache at once too; with Redis the revocation reaches every web instance.
            state.auth().follow_revocations(ctx.revocations);
            let metrics: Arc<dyn ferrovex_server::MetricsSection> =
                Arc::new(WebMetrics(state.auth().stats().clone()));
            let server = tokio::spawn(ferrovex_web::serve_web(
                ctx.listener,
                state,
                ctx.limits,
                ctx.listener_stats,
                ctx.shutdown,
            ));
            Ok(WebStarted {
                server,
                metrics: Some(metrics),
            })
        })
    }
}
