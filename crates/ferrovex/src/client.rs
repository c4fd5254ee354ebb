//! A small keep-alive HTTP/1 client for `run` and `bench` (loopback or LAN only; no TLS).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// An HTTP client with a connection pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    /// A client keeping up to `pool` idle connections per host.
    pub fn new(pool: usize) -> HttpClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        HttpClient {
            inner: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(pool)
                .build(connector),
        }
    }

    /// GETs a URL and returns the status and body.
    pub async fn get(&self, url: &str) -> anyhow::Result<(u16, Bytes)> {
        let req = hyper::Request::get(url).body(Full::new(Bytes::new()))?;
        let resp = self.inner.request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends a request with extra headers; returns status, response headers and body.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, hyper::HeaderMap, Bytes)> {
        let mut req = hyper::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .inner
            .request(req.body(Full::new(Bytes::from(body)))?)
            .await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, headers, body))
    }

    /// POSTs a JSON body and returns the status and body.
    pub async fn post_json(&self, url: &str, body: Vec<u8>) -> anyhow::Result<(u16, Bytes)> {
        let req = hyper::Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let resp = self.inner.request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
