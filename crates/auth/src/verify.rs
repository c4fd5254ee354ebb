//! Token verification for the API origin, through the configured providers:
//! - the built-in provider, verified in process against the key ring (no database, no HTTP);
//! - `customJwt` providers (issuer, applicationID, algorithm, jwks as a URL or `data:` URI);
//! - OIDC providers (discovery at `<domain>/.well-known/openid-configuration`).
//!
//! Remote key sets are cached for [`REMOTE_TTL`] and refetched on an unknown `kid`, at most
//! once per [`REFETCH_MIN_INTERVAL`]. Remote fetches speak `https://` (rustls, trusting the
//! system's CA certificates, or the bundle named by `SSL_CERT_FILE` / `SSL_CERT_DIR`) and plain
//! `http://` for local issuers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use ferrovex_engine::Identity;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value as Json;

use crate::error::AuthError;
use crate::jwt::{self, Expectations, normalize_issuer};
use crate::keys::PublicKey;
use crate::service::AuthService;
use crate::time::now_ms;

/// How long a fetched key set is trusted.
pub const REMOTE_TTL: Duration = Duration::from_secs(600);
/// Least time between two fetches of one provider's keys.
pub const REFETCH_MIN_INTERVAL: Duration = Duration::from_secs(30);
/// Largest key set or discovery document accepted.
const MAX_REMOTE_BYTES: usize = 256 * 1024;
/// Deadline of one remote fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The audience of built-in tokens.
pub const BUILTIN_AUDIENCE: &str = "convex";

/// A provider from the auth config (`{"providers": [...]}`, as in Convex's `auth.config.ts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderConfig {
    /// `{type:"customJwt", issuer, jwks, algorithm, applicationID?}`.
    CustomJwt {
        /// Expected `iss`.
        issuer: String,
        /// Expected `aud`, if any.
        application_id: Option<String>,
        /// `RS256` or `ES256`.
        algorithm: String,
        /// A URL or a `data:` URI.
        jwks: String,
    },
    /// `{domain, applicationID}`.
    Oidc {
        /// Issuer URL.
        domain: String,
        /// Expected `aud`.
        application_id: String,
    },
}

/// Parses an auth config document.
pub fn parse_auth_config(text: &str) -> Result<Vec<ProviderConfig>, AuthError> {
    let doc: Json = serde_json::from_str(text)
        .map_err(|e| AuthError::Key(format!("auth config is not JSON: {e}")))?;
    let providers = doc["providers"]
        .as_array()
        .ok_or_else(|| AuthError::Key("auth config needs a \"providers\" array".into()))?;
    providers
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().map(str::to_owned);
            match s("type").as_deref() {
                Some("customJwt") => {
                    let algorithm = s("algorithm").unwrap_or_else(|| "RS256".into());
                    if algorithm != "RS256" && algorithm != "ES256" {
                        return Err(AuthError::Key(format!(
                            "customJwt algorithm {algorithm} is not supported (RS256, ES256)"
                        )));
                    }
                    Ok(ProviderConfig::CustomJwt {
                        issuer: s("issuer")
                            .ok_or_else(|| AuthError::Key("customJwt needs issuer".into()))?,
                        application_id: s("applicationID"),
                        algorithm,
                        jwks: s("jwks")
                            .ok_or_else(|| AuthError::Key("customJwt needs jwks".into()))?,
                    })
                }
                None => Ok(ProviderConfig::Oidc {
                    domain: s("domain")
                        .ok_or_else(|| AuthError::Key("an OIDC provider needs domain".into()))?,
                    application_id: s("applicationID").ok_or_else(|| {
                        AuthError::Key("an OIDC provider needs applicationID".into())
                    })?,
                }),
                Some(other) => Err(AuthError::Key(format!("unknown provider type {other}"))),
            }
        })
        .collect()
}

#[derive(Default)]
struct Cached {
    keys: Vec<PublicKey>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

struct Remote {
    config: ProviderConfig,
    cache: tokio::sync::Mutex<Cached>,
}

/// Verified tokens remembered (by their exact bytes) until they expire.
const MAX_VERIFIED: usize = 10_000;

/// Verifies tokens against every configured provider.
pub struct Verifier {
    /// Tokens already verified: the same bytes verify the same way until `exp`, so SSR pages
    /// that send the same token for several queries pay one signature check.
    verified: parking_lot::Mutex<std::collections::HashMap<String, Arc<Identity>>>,
    builtin: Option<Arc<AuthService>>,
    remotes: Vec<Remote>,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    reload_lock: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("builtin", &self.builtin.is_some())
            .field("remotes", &self.remotes.len())
            .finish()
    }
}

fn data_uri_payload(uri: &str) -> Result<String, AuthError> {
    let (meta, data) = uri
        .strip_prefix("data:")
        .and_then(|r| r.split_once(','))
        .ok_or_else(|| AuthError::Key("malformed data: URI".into()))?;
    if meta.ends_with(";base64") {
        let bytes = STANDARD
            .decode(data)
            .map_err(|_| AuthError::Key("data: URI is not base64".into()))?;
        String::from_utf8(bytes).map_err(|_| AuthError::Key("data: URI is not UTF-8".into()))
    } else {
        crate::cookie::percent_decode(data)
            .ok_or_else(|| AuthError::Key("data: URI is not URL-encoded text".into()))
    }
}

fn parse_jwks(text: &str) -> Result<Vec<PublicKey>, AuthError> {
    let doc: Json =
        serde_json::from_str(text).map_err(|_| AuthError::Key("JWKS is not JSON".into()))?;
    let keys = doc["keys"]
        .as_array()
        .ok_or_else(|| AuthError::Key("JWKS has no keys array".into()))?;
    Ok(keys
        .iter()
        .filter_map(|k| PublicKey::from_jwk(k).ok())
        .collect())
}

/// An error and its sources ("client error (Connect): invalid peer certificate: …"), so a TLS
/// refusal says why.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// HTTPS (and plain HTTP) for remote key sets. Trusts the system's CA certificates; without
/// any, HTTPS fetches fail with an unknown-issuer error rather than the process failing.
fn https_connector() -> HttpsConnector<HttpConnector> {
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(error = %e, "no CA certificates found: https key sets cannot be fetched");
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    builder.https_or_http().enable_http1().build()
}

impl Verifier {
    /// A verifier with the built-in provider (if any) and remote providers.
    pub fn new(builtin: Option<Arc<AuthService>>, providers: Vec<ProviderConfig>) -> Verifier {
        Verifier {
            verified: parking_lot::Mutex::new(std::collections::HashMap::new()),
            builtin,
            remotes: providers
                .into_iter()
                .map(|config| Remote {
                    config,
                    cache: tokio::sync::Mutex::new(Cached::default()),
                })
                .collect(),
            http: Client::builder(TokioExecutor::new()).build(https_connector()),
            reload_lock: tokio::sync::Mutex::new(None),
        }
    }

    async fn fetch(&self, url: &str) -> Result<String, AuthError> {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(AuthError::Key(format!(
                "cannot fetch {url}: only https://, http:// and data: URIs are supported"
            )));
        }
        let req = hyper::Request::get(url)
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| AuthError::Key(e.to_string()))?;
        let resp = tokio::time::timeout(FETCH_TIMEOUT, self.http.request(req))
            .await
            .map_err(|_| AuthError::Key(format!("fetching {url} timed out")))?
            .map_err(|e| AuthError::Key(format!("fetching {url} failed: {}", causes(&e))))?;
        if !resp.status().is_success() {
            return Err(AuthError::Key(format!(
                "fetching {url} returned {}",
                resp.status()
            )));
        }
        let body = Limited::new(resp.into_body(), MAX_REMOTE_BYTES)
            .collect()
            .await
            .map_err(|_| {
                AuthError::Key(format!(
                    "{url} returned a body over {MAX_REMOTE_BYTES} bytes"
                ))
            })?
            .to_bytes();
        String::from_utf8(body.to_vec())
            .map_err(|_| AuthError::Key(format!("{url} returned non-UTF-8")))
    }

    async fn remote_keys(
        &self,
        remote: &Remote,
        refresh: bool,
    ) -> Result<Vec<PublicKey>, AuthError> {
        let mut cache = remote.cache.lock().await;
        let fresh = cache.fetched.is_some_and(|t| t.elapsed() < REMOTE_TTL);
        let may_refetch = cache
            .attempted
            .is_none_or(|t| t.elapsed() >= REFETCH_MIN_INTERVAL);
        if fresh && !(refresh && may_refetch) {
            return Ok(cache.keys.clone());
        }
        if cache.fetched.is_some() && !may_refetch {
            return Ok(cache.keys.clone());
        }
        cache.attempted = Some(Instant::now());
        let text = match &remote.config {
            ProviderConfig::CustomJwt { jwks, .. } if jwks.starts_with("data:") => {
                data_uri_payload(jwks)?
            }
            ProviderConfig::CustomJwt { jwks, .. } => self.fetch(jwks).await?,
            ProviderConfig::Oidc { domain, .. } => {
                let discovery = self
                    .fetch(&format!(
                        "{}/.well-known/openid-configuration",
                        domain.trim_end_matches('/')
                    ))
                    .await?;
                let doc: Json = serde_json::from_str(&discovery)
                    .map_err(|_| AuthError::Key("discovery document is not JSON".into()))?;
                let uri = doc["jwks_uri"]
                    .as_str()
                    .ok_or_else(|| AuthError::Key("discovery has no jwks_uri".into()))?;
                self.fetch(uri).await?
            }
        };
        cache.keys = parse_jwks(&text)?;
        cache.fetched = Some(Instant::now());
        Ok(cache.keys.clone())
    }

    /// Verifies a token and returns the caller's identity (shared: one allocation per token).
    pub async fn verify(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        let now = now_ms() / 1000;
        if let Some(identity) = self.verified.lock().get(token)
            && !identity.expired(now)
        {
            return Ok(identity.clone());
        }
        let identity = Arc::new(self.verify_uncached(token).await?);
        let mut verified = self.verified.lock();
        if verified.len() >= MAX_VERIFIED {
            verified.retain(|_, i| !i.expired(now));
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
        }
        verified.insert(token.to_owned(), identity.clone());
        Ok(identity)
    }

    async fn verify_uncached(&self, token: &str) -> Result<Identity, AuthError> {
        let decoded = jwt::decode(token)?;
        let iss = decoded
            .claims
            .get("iss")
            .and_then(Json::as_str)
            .ok_or_else(|| AuthError::InvalidToken("token has no iss".into()))?
            .to_owned();
        let now = now_ms() / 1000;
        if let Some(service) = &self.builtin
            && normalize_issuer(&iss) == normalize_issuer(&service.config().site_url)
        {
            let kid = decoded
                .kid
                .clone()
                .ok_or_else(|| AuthError::InvalidToken("token has no kid".into()))?;
            let ring = service.key_ring();
            let key = match ring.find(&kid, now_ms()) {
                Some(k) => k,
                None => {
                    // Maybe another process rotated: reload once, rate-limited.
                    let mut last = self.reload_lock.lock().await;
                    if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                        *last = Some(Instant::now());
                        service.reload_keys().await?;
                    }
                    ring.find(&kid, now_ms())
                        .ok_or_else(|| AuthError::InvalidToken(format!("unknown kid {kid:?}")))?
                }
            };
            let expect = Expectations {
                issuer: &service.config().site_url,
                audience: Some(BUILTIN_AUDIENCE),
                algorithms: &["RS256"],
                now_secs: now,
            };
            jwt::verify(&decoded, &key, &expect)?;
            return Ok(jwt::identity_from_claims(&decoded.claims));
        }
        for remote in &self.remotes {
            let (issuer, audience, algorithms): (&str, Option<&str>, Vec<&str>) =
                match &remote.config {
                    ProviderConfig::CustomJwt {
                        issuer,
                        application_id,
                        algorithm,
                        ..
                    } => (issuer, application_id.as_deref(), vec![algorithm.as_str()]),
                    ProviderConfig::Oidc {
                        domain,
                        application_id,
                    } => (
                        domain,
                        Some(application_id.as_str()),
                        vec!["RS256", "ES256"],
                    ),
                };
            if normalize_issuer(issuer) != normalize_issuer(&iss) {
                continue;
            }
            let kid = decoded
                .kid
                .clone()
                .ok_or_else(|| AuthError::InvalidToken("token has no kid".into()))?;
            let mut keys = self.remote_keys(remote, false).await?;
            if !keys.iter().any(|k| k.kid() == kid) {
                keys = self.remote_keys(remote, true).await?;
            }
            let key = keys
                .iter()
                .find(|k| k.kid() == kid)
                .ok_or_else(|| AuthError::InvalidToken(format!("unknown kid {kid:?}")))?;
            let expect = Expectations {
                issuer,
                audience,
                algorithms: &algorithms,
                now_secs: now,
            };
            jwt::verify(&decoded, key, &expect)?;
            return Ok(jwt::identity_from_claims(&decoded.claims));
        }
        Err(AuthError::InvalidToken(format!(
            "no auth provider accepts tokens from issuer {iss:?}"
        )))
    }
}
