//! Where the signing keys come from: `--jwks` (static), the deployment's `JWKS` environment
//! variable (static, switched at runtime: the seed's `npx convex run auth:getLatestJwks |
//! npx convex env set JWKS`), or the `_jwks` table (dynamic, created on first use and rotated).
//! A `JWKS` variable wins over the table while it is set; removing it returns to the table.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::Value as Json;

use super::{AuthService, KeyMode};
use crate::error::AuthError;
use crate::keys::{JwksRow, SigningKey, new_id, parse_jwks_env};
use crate::time::now_ms;

/// The environment variable that holds static keys, as in Better Auth's Convex plugin.
pub const JWKS_ENV: &str = "JWKS";

impl AuthService {
    /// The signing key, creating the first one under a lock if there is none (dynamic mode).
    pub(super) async fn signing_key(&self) -> Result<Arc<SigningKey>, AuthError> {
        let now = now_ms();
        if let Some(k) = self.ring.signing_key(now) {
            return Ok(k);
        }
        match &self.config.key_mode {
            KeyMode::Static { .. } => Err(AuthError::Key("every key in JWKS has expired".into())),
            KeyMode::Dynamic { .. } => {
                let _guard = self.key_lock.lock().await;
                if let Some(k) = self.ring.signing_key(now) {
                    return Ok(k);
                }
                // Another process may have made one since we loaded.
                self.reload_keys().await?;
                if let Some(k) = self.ring.signing_key(now) {
                    return Ok(k);
                }
                if self.keys_from_env() {
                    return Err(AuthError::Key(
                        "every key in the JWKS environment variable has expired".into(),
                    ));
                }
                self.add_key().await
            }
        }
    }

    /// Whether the keys in use come from the deployment's `JWKS` environment variable.
    pub fn keys_from_env(&self) -> bool {
        self.env_keys.load(Ordering::Relaxed)
    }

    /// Checks that `value` is a usable `JWKS` value (Better Auth's rows, decryptable with this
    /// deployment's secret), so that setting a bad one is refused instead of locking sign-in out.
    pub fn check_jwks_value(&self, value: &str) -> Result<(), AuthError> {
        let keys = parse_jwks_env(value, &self.config.secret)?;
        if keys.is_empty() {
            return Err(AuthError::Key("JWKS holds no keys".into()));
        }
        Ok(())
    }

    async fn add_key(&self) -> Result<Arc<SigningKey>, AuthError> {
        let key = tokio::task::spawn_blocking(|| SigningKey::generate(new_id(), now_ms()))
            .await
            .map_err(|e| AuthError::Key(e.to_string()))??;
        let key = Arc::new(key);
        self.store
            .insert_jwks(JwksRow::from_key(&key, &self.config.secret)?)
            .await?;
        let mut keys: Vec<_> = self.ring.all().iter().cloned().collect();
        keys.push(key.clone());
        self.ring.set(keys);
        tracing::info!(kid = %key.kid, "created a new JWT signing key");
        Ok(key)
    }

    /// Re-reads the keys (dynamic mode): the `JWKS` environment variable when it is set and
    /// usable, else the `_jwks` table; picks up other processes' rotations and `env set`.
    pub async fn reload_keys(&self) -> Result<(), AuthError> {
        if !matches!(self.config.key_mode, KeyMode::Dynamic { .. }) {
            return Ok(());
        }
        if let Some(value) = self.store.env_var(JWKS_ENV).await? {
            match parse_jwks_env(&value, &self.config.secret) {
                Ok(keys) if !keys.is_empty() => {
                    if !self.env_keys.swap(true, Ordering::Relaxed) {
                        tracing::info!(
                            keys = keys.len(),
                            "signing keys now come from the JWKS environment variable"
                        );
                    }
                    self.ring.set(keys);
                    return Ok(());
                }
                Ok(_) => tracing::warn!(
                    "the JWKS environment variable holds no keys; using the stored keys"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "the JWKS environment variable cannot be used; using the stored keys")
                }
            }
        }
        if self.env_keys.swap(false, Ordering::Relaxed) {
            tracing::info!("signing keys come from the database again");
        }
        let keys = Self::decrypt_rows(self.store.load_jwks().await?, &self.config.secret);
        if !keys.is_empty() {
            self.ring.set(keys);
        }
        Ok(())
    }

    /// Periodic key maintenance (dynamic mode): reload, and rotate when the newest key is older
    /// than the rotation interval (never while `JWKS` is set). Returns whether a key was added.
    pub async fn maintain_keys(&self) -> Result<bool, AuthError> {
        let KeyMode::Dynamic { rotation } = &self.config.key_mode else {
            return Ok(false);
        };
        let rotation_ms = u64::try_from(rotation.as_millis()).unwrap_or(u64::MAX);
        let _guard = self.key_lock.lock().await;
        self.reload_keys().await?;
        if self.keys_from_env()
            || self.ring.all().is_empty()
            || !self.ring.rotation_due(now_ms(), rotation_ms)
        {
            return Ok(false);
        }
        self.add_key().await?;
        Ok(true)
    }

    /// Adds a key now (dynamic mode), e.g. from `ferrovex jwks rotate`.
    pub async fn rotate_now(&self) -> Result<Arc<SigningKey>, AuthError> {
        let _guard = self.key_lock.lock().await;
        self.reload_keys().await?;
        if self.keys_from_env() {
            return Err(AuthError::Key(
                "the keys come from the JWKS environment variable: set a new value there to rotate"
                    .into(),
            ));
        }
        self.add_key().await
    }

    /// The newest key as a `JWKS` value (Better Auth's `getLatestJwks` shape), creating one if
    /// needed; with `all`, every live key.
    pub async fn export_jwks(&self, all: bool) -> Result<Json, AuthError> {
        let newest = self.signing_key().await?;
        let keys: Vec<Arc<SigningKey>> = if all {
            self.ring.all().iter().cloned().collect()
        } else {
            vec![newest]
        };
        let rows = keys
            .iter()
            .rev()
            .map(|k| JwksRow::from_key(k, &self.config.secret).map(|r| r.to_json()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Json::Array(rows))
    }

    /// The published JWKS document.
    pub fn jwks(&self) -> Json {
        self.ring.jwks_json(now_ms())
    }
}
