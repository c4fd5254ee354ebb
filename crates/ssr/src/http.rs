//! A small HTTP/1 client with a deadline and a response size bound, for calls from the web
//! origin to the site and API origins.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::SsrError;

/// Largest upstream response read.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// A keep-alive client.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    deadline: Duration,
}

/// An upstream answer.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Http {
    pub(crate) fn new(deadline: Duration) -> Http {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Http {
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(64)
                .build(connector),
            deadline,
        }
    }

    pub(crate) async fn send(&self, req: hyper::Request<Full<Bytes>>) -> Result<Answer, SsrError> {
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| SsrError::Upstream(e.to_string()))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|_| {
                    SsrError::Upstream(format!("response larger than {MAX_RESPONSE_BYTES} bytes"))
                })?
                .to_bytes();
            Ok(Answer {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(self.deadline, fut)
            .await
            .map_err(|_| SsrError::Deadline)?
    }
}
