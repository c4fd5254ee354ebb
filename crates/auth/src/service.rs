//! The auth service: sign-up, sign-in, sessions with sliding refresh, sign-out, Convex JWT
//! issuance and key management (dynamic keys in `_jwks` with automatic rotation, or static
//! keys from the `JWKS` variable). Transport-free: the HTTP routes live in the server crate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferrovex_engine::Engine;
use parking_lot::Mutex;
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use crate::cookie::CookieSigner;
use crate::error::AuthError;
use crate::jwt;
use crate::keyring::KeyRing;
use crate::keys::{JwksRow, SigningKey, new_id, parse_jwks_env};

mod keys;
use crate::password;
use crate::stats::AuthStats;
use crate::store::{AuthStore, NewSession, Session, User};
use crate::time::{iso_ms, now_ms};
pub use keys::JWKS_ENV;

/// Where signing keys come from.
#[derive(Clone, Debug)]
pub enum KeyMode {
    /// Keys live in the `_jwks` table: created on first use, rotated every `rotation`, and
    /// published and accepted for `grace` after being replaced.
    Dynamic {
        /// Age at which a new key is made.
        rotation: Duration,
    },
    /// Keys come from a `JWKS` value in Better Auth's `getLatestJwks` format (one or more).
    Static {
        /// The raw JSON.
        jwks: String,
    },
}

/// Configuration of the auth service.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Secret for cookie signatures and private-key encryption (`BETTER_AUTH_SECRET`).
    pub secret: String,
    /// Public URL of the site origin: the JWT issuer.
    pub site_url: String,
    /// Origins allowed on cookie-bearing POSTs, besides the site URL's own.
    pub trusted_origins: Vec<String>,
    /// Lifetime of Convex JWTs.
    pub jwt_lifetime: Duration,
    /// Session lifetime.
    pub session_expires_in: Duration,
    /// Sessions are extended when last extended longer ago than this.
    pub session_update_age: Duration,
    /// Listing sessions needs a session created less than this long ago (0: no check).
    pub session_fresh_age: Duration,
    /// Keys.
    pub key_mode: KeyMode,
    /// Retired keys stay valid this long.
    pub key_grace: Duration,
    /// Sign-in / sign-up attempts per client address per window.
    pub rate_limit_max: u32,
    /// The rate-limit window.
    pub rate_limit_window: Duration,
    /// Reuse a session's token within the same second (identical bytes; saves a signature).
    pub token_memo: bool,
    /// Users may delete their own account (Better Auth's `user.deleteUser.enabled`).
    pub delete_user: bool,
}

impl AuthConfig {
    /// Defaults for a site at `site_url` with `secret`.
    pub fn new(site_url: String, secret: String) -> AuthConfig {
        AuthConfig {
            secret,
            site_url,
            trusted_origins: Vec::new(),
            jwt_lifetime: Duration::from_secs(900),
            session_expires_in: Duration::from_secs(7 * 86_400),
            session_update_age: Duration::from_secs(86_400),
            session_fresh_age: Duration::from_secs(86_400),
            key_mode: KeyMode::Dynamic {
                rotation: Duration::from_secs(30 * 86_400),
            },
            key_grace: Duration::from_secs(30 * 86_400),
            rate_limit_max: 10,
            rate_limit_window: Duration::from_secs(10),
            token_memo: true,
            delete_user: false,
        }
    }

    /// Whether cookies get the `__Secure-` prefix and `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        self.site_url.starts_with("https://")
    }

    /// The origin of the site URL.
    pub fn site_origin(&self) -> String {
        origin_of(&self.site_url).unwrap_or_else(|| self.site_url.clone())
    }

    /// Whether `origin` (an `Origin` header or the origin of a `Referer`) is trusted.
    pub fn is_trusted_origin(&self, origin: &str) -> bool {
        let Some(origin) = origin_of(origin) else {
            return false;
        };
        origin == self.site_origin()
            || self
                .trusted_origins
                .iter()
                .any(|t| origin_of(t).as_deref() == Some(origin.as_str()))
    }
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| {
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        )
    })
}

/// Whether a session lookup may extend the session (the sliding refresh).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sliding {
    /// Extend it when due: a remembered session.
    Extend,
    /// Keep its expiry: the user signed in with `rememberMe: false`.
    Keep,
}

/// A signed-in session and its user.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// The session.
    pub session: Session,
    /// Its user.
    pub user: User,
    /// The session was extended now; the cookie must be re-set.
    pub refreshed: bool,
}

/// Counts attempts per key in fixed windows, bounded in memory.
#[derive(Debug, Default)]
struct RateLimiter {
    buckets: Mutex<HashMap<String, (u64, u32)>>,
}

/// Most tracked clients before old windows are dropped.
const MAX_RATE_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// `Err(retry_after_secs)` when over the limit.
    fn check(&self, key: &str, max: u32, window_ms: u64, now: u64) -> Result<(), u64> {
        if max == 0 {
            return Ok(()); // 0 turns the limit off
        }
        let mut buckets = self.buckets.lock();
        if buckets.len() > MAX_RATE_BUCKETS {
            buckets.retain(|_, (start, _)| now < start.saturating_add(window_ms));
        }
        let entry = buckets.entry(key.to_owned()).or_insert((now, 0));
        if now >= entry.0.saturating_add(window_ms) {
            *entry = (now, 0);
        }
        if entry.1 >= max {
            return Err((entry.0.saturating_add(window_ms) - now)
                .div_ceil(1000)
                .max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Issued tokens per session and second. RS256 (PKCS#1 v1.5) signatures are deterministic,
/// so a token asked for twice in the same second has the same bytes; remembering it saves
/// the signature without changing any answer.
#[derive(Debug, Default)]
struct TokenMemo {
    tokens: Mutex<HashMap<String, MemoEntry>>,
}

#[derive(Debug)]
struct MemoEntry {
    iat: u64,
    kid: String,
    jwt: String,
    session_token: String,
}

const MAX_MEMO: usize = 10_000;

/// The auth service.
#[derive(Debug)]
pub struct AuthService {
    config: AuthConfig,
    store: AuthStore,
    signer: CookieSigner,
    ring: Arc<KeyRing>,
    key_lock: tokio::sync::Mutex<()>,
    rate: RateLimiter,
    memo: TokenMemo,
    revocations: broadcast::Sender<Arc<[String]>>,
    hasher: crate::hashing::Hasher,
    /// Whether the ring holds the `JWKS` environment variable's keys (see `keys.rs`).
    env_keys: std::sync::atomic::AtomicBool,
}

/// Revocation batches buffered for slow listeners before they lag.
const REVOCATION_BUFFER: usize = 4096;

/// Hex SHA-256 of a session token. Revocations are announced by digest, never by token; the
/// web origin's auth token cache is keyed by the same digest.
pub fn session_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_token() -> String {
    new_id()
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

impl AuthService {
    /// Starts the service: loads (dynamic) or parses (static) the keys.
    pub async fn start(engine: Engine, config: AuthConfig) -> Result<Arc<AuthService>, AuthError> {
        let stats = Arc::new(AuthStats::default());
        let store = AuthStore::new(engine, stats);
        let grace_ms = u64::try_from(config.key_grace.as_millis()).unwrap_or(u64::MAX);
        let keys = match &config.key_mode {
            KeyMode::Static { jwks } => {
                let keys = parse_jwks_env(jwks, &config.secret)?;
                if keys.is_empty() {
                    return Err(AuthError::Key("JWKS holds no keys".into()));
                }
                keys
            }
            KeyMode::Dynamic { .. } => Vec::new(),
        };
        let service = Arc::new(AuthService {
            signer: CookieSigner::new(&config.secret),
            ring: Arc::new(KeyRing::new(keys, grace_ms)),
            config,
            store,
            key_lock: tokio::sync::Mutex::new(()),
            rate: RateLimiter::default(),
            memo: TokenMemo::default(),
            revocations: broadcast::channel(REVOCATION_BUFFER).0,
            hasher: crate::hashing::Hasher::for_this_machine(),
            env_keys: std::sync::atomic::AtomicBool::new(false),
        });
        service.reload_keys().await?;
        Ok(service)
    }

    fn decrypt_rows(rows: Vec<JwksRow>, secret: &str) -> Vec<Arc<SigningKey>> {
        rows.iter()
            .filter_map(|row| match row.to_key(secret) {
                Ok(k) => Some(Arc::new(k)),
                Err(e) => {
                    tracing::warn!(kid = %row.id, error = %e, "skipping a stored key that cannot be decrypted");
                    None
                }
            })
            .collect()
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The key Ferrovex's own web origins present to the site origin (a header on proxied
    /// requests) to be told which sessions a request revoked: derived from the auth secret,
    /// so every instance of a deployment agrees on it and nobody without the secret can.
    pub fn proxy_key(&self) -> String {
        hex::encode(Sha256::digest(
            format!("ferrovex web proxy key v1\n{}", self.config.secret).as_bytes(),
        ))
    }

    /// The counters of store calls.
    pub fn stats(&self) -> &Arc<AuthStats> {
        self.store.stats()
    }

    /// The key ring (shared with the token verifier of the API origin).
    pub fn key_ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// The cookie signer.
    pub fn signer(&self) -> &CookieSigner {
        &self.signer
    }

    /// Applies the sign-in/sign-up rate limit for a client address.
    pub fn rate_limit(&self, client: &str, path: &str) -> Result<(), u64> {
        let window = u64::try_from(self.config.rate_limit_window.as_millis()).unwrap_or(u64::MAX);
        self.rate.check(
            &format!("{client}|{path}"),
            self.config.rate_limit_max,
            window,
            now_ms(),
        )
    }

    fn new_session(&self, remember: bool, ip: &str, ua: &str) -> NewSession {
        let now = now_ms();
        let ttl = if remember {
            self.config.session_expires_in
        } else {
            Duration::from_secs(86_400)
        };
        NewSession {
            token: random_token(),
            expires_at_ms: now + u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX / 2),
            now_ms: now,
            ip_address: ip.chars().take(64).collect(),
            user_agent: ua.chars().take(512).collect(),
        }
    }

    /// Creates a user with an email and password and signs them in.
    pub async fn sign_up(
        &self,
        name: &str,
        email: &str,
        pass: &str,
        remember: bool,
        ip: &str,
        ua: &str,
    ) -> Result<SessionInfo, AuthError> {
        let email = email.trim().to_lowercase();
        if !valid_email(&email) {
            return Err(AuthError::Validation(
                "[body.email] Invalid email address".into(),
            ));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 256 {
            return Err(AuthError::Validation(
                "[body.name] Name must be 1 to 256 characters".into(),
            ));
        }
        password::check_policy(pass)?;
        let pass = pass.to_owned();
        let hash = self.hasher.run(move || password::hash(&pass)).await??;
        let (user, session) = self
            .store
            .create_user(
                name.to_owned(),
                email,
                hash,
                self.new_session(remember, ip, ua),
            )
            .await?;
        Ok(SessionInfo {
            session,
            user,
            refreshed: false,
        })
    }

    /// Signs in with email and password.
    pub async fn sign_in(
        &self,
        email: &str,
        pass: &str,
        remember: bool,
        ip: &str,
        ua: &str,
    ) -> Result<SessionInfo, AuthError> {
        let email = email.trim().to_lowercase();
        if !valid_email(&email) {
            return Err(AuthError::Validation("Invalid email".into()));
        }
        let found = self.store.find_user_with_password(&email).await?;
        let (user, hash) = match found {
            Some((user, Some(hash))) => (Some(user), hash),
            // Unknown user: hash anyway so both failures take the same time.
            Some((_, None)) | None => (None, password::DUMMY_HASH.to_owned()),
        };
        let pass = pass.to_owned();
        let ok = self
            .hasher
            .run(move || password::verify(&pass, &hash))
            .await?;
        let user = match (ok, user) {
            (true, Some(user)) => user,
            _ => return Err(AuthError::InvalidCredentials),
        };
        let session = self
            .store
            .create_session(&user.id, self.new_session(remember, ip, ua))
            .await?;
        Ok(SessionInfo {
            session,
            user,
            refreshed: false,
        })
    }

    /// The session named by a signed cookie value (or a Bearer value: signed or raw token),
    /// extended when due. `None` when missing, forged, expired or revoked.
    pub async fn session(
        &self,
        credential: &str,
        allow_raw: bool,
        sliding: Sliding,
    ) -> Result<Option<SessionInfo>, AuthError> {
        let Some(token) = self.session_token(credential, allow_raw) else {
            return Ok(None);
        };
        let Some((session, user)) = self.store.find_session(&token).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if session.expires_at_ms <= now {
            self.store.delete_session(&token).await?;
            self.announce(vec![token]);
            return Ok(None);
        }
        let expires_in =
            u64::try_from(self.config.session_expires_in.as_millis()).unwrap_or(u64::MAX / 2);
        let update_age =
            u64::try_from(self.config.session_update_age.as_millis()).unwrap_or(u64::MAX / 2);
        // A session whose user chose not to be remembered keeps its short life (Better Auth
        // skips the refresh when the `dont_remember` cookie is present).
        let due = sliding == Sliding::Extend
            && session
                .expires_at_ms
                .saturating_sub(expires_in)
                .saturating_add(update_age)
                <= now;
        if due {
            let expires = now + expires_in;
            self.store.extend_session(&session.id, expires, now).await?;
            let session = Session {
                expires_at_ms: expires,
                updated_at_ms: now,
                ..session
            };
            return Ok(Some(SessionInfo {
                session,
                user,
                refreshed: true,
            }));
        }
        Ok(Some(SessionInfo {
            session,
            user,
            refreshed: false,
        }))
    }

    /// Revokes the session named by a signed cookie value. Returns the digests of the revoked
    /// session tokens (see [`session_digest`]).
    pub async fn sign_out(
        &self,
        credential: &str,
        allow_raw: bool,
    ) -> Result<Vec<String>, AuthError> {
        let Some(token) = self.session_token(credential, allow_raw) else {
            return Ok(Vec::new());
        };
        self.store.delete_session(&token).await?;
        Ok(self.announce(vec![token]))
    }

    /// The session token a credential names: a signed cookie value, or (from a Bearer header,
    /// `allow_raw`) the raw 32-character token that sign-in answers with.
    fn session_token(&self, credential: &str, allow_raw: bool) -> Option<String> {
        match self.signer.verify(credential) {
            Some(t) => Some(t),
            None if allow_raw
                && credential.len() == 32
                && credential.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                Some(credential.to_owned())
            }
            None => None,
        }
    }

    /// Listens to revocations: each message holds the digests of session tokens whose cached
    /// JWTs must go: signed out, revoked, found expired, or their user's claims changed. The
    /// web origin drops those cached JWTs.
    pub fn revocations(&self) -> broadcast::Receiver<Arc<[String]>> {
        self.revocations.subscribe()
    }

    /// Forgets memoised tokens of revoked sessions and announces their digests.
    fn announce(&self, tokens: Vec<String>) -> Vec<String> {
        if tokens.is_empty() {
            return Vec::new();
        }
        self.memo
            .tokens
            .lock()
            .retain(|_, e| !tokens.contains(&e.session_token));
        let digests: Vec<String> = tokens.iter().map(|t| session_digest(t)).collect();
        // No listener is fine: nothing is cached then.
        let _ = self.revocations.send(digests.clone().into());
        digests
    }

    /// Changes the caller's name and/or image (`Some(None)` clears the image). Every session of
    /// the user is announced (their cached JWTs carry the old claims); the sessions stay valid.
    /// Returns the updated user and the announced digests.
    pub async fn update_user(
        &self,
        info: &SessionInfo,
        name: Option<&str>,
        image: Option<Option<&str>>,
    ) -> Result<(User, Vec<String>), AuthError> {
        let name = match name.map(str::trim) {
            Some(n) if n.is_empty() || n.chars().count() > 256 => {
                return Err(AuthError::Validation(
                    "[body.name] Name must be 1 to 256 characters".into(),
                ));
            }
            other => other.map(str::to_owned),
        };
        if image.flatten().is_some_and(|i| i.len() > 2048) {
            return Err(AuthError::Validation(
                "[body.image] Image URLs are limited to 2048 bytes".into(),
            ));
        }
        if name.is_none() && image.is_none() {
            return Err(AuthError::BadRequest(
                "NO_FIELDS_TO_UPDATE",
                "No fields to update".into(),
            ));
        }
        let user = self
            .store
            .update_user(
                &info.user.id,
                name,
                image.map(|i| i.map(str::to_owned)),
                now_ms(),
            )
            .await?
            .ok_or(AuthError::Unauthorized)?;
        let sessions = self.store.list_sessions(&info.user.id).await?;
        let digests = self.announce(sessions.into_iter().map(|s| s.token).collect());
        Ok((user, digests))
    }

    /// Changes the caller's password after checking the current one. With `revoke_others`
    /// every session of the user ends and a new one starts (returned, for the cookie). Returns
    /// it and the revoked digests.
    pub async fn change_password(
        &self,
        info: &SessionInfo,
        current: &str,
        new: &str,
        revoke_others: bool,
        client: (&str, &str),
    ) -> Result<(Option<SessionInfo>, Vec<String>), AuthError> {
        password::check_policy(new)?;
        let Some((account, Some(hash))) = self.store.credential_account(&info.user.id).await?
        else {
            return Err(AuthError::BadRequest(
                "CREDENTIAL_ACCOUNT_NOT_FOUND",
                "Credential account not found".into(),
            ));
        };
        let (current, new) = (current.to_owned(), new.to_owned());
        let (ok, new_hash) = self
            .hasher
            .run(move || {
                let ok = password::verify(&current, &hash);
                (ok, ok.then(|| password::hash(&new)))
            })
            .await?;
        let Some(new_hash) = new_hash.filter(|_| ok) else {
            return Err(AuthError::BadRequest(
                "INVALID_PASSWORD",
                "Invalid password".into(),
            ));
        };
        self.store
            .set_password(&account, new_hash?, now_ms())
            .await?;
        if !revoke_others {
            return Ok((None, Vec::new()));
        }
        let revoked = self.store.delete_user_sessions(&info.user.id, None).await?;
        let digests = self.announce(revoked);
        let (ip, ua) = client;
        let session = self
            .store
            .create_session(&info.user.id, self.new_session(true, ip, ua))
            .await?;
        Ok((
            Some(SessionInfo {
                session,
                user: info.user.clone(),
                refreshed: false,
            }),
            digests,
        ))
    }

    /// Deletes the caller's account: the user, its accounts and every session, in one
    /// transaction. Needs the password, or a session younger than the fresh age. Returns the
    /// revoked digests.
    pub async fn delete_user(
        &self,
        info: &SessionInfo,
        password: Option<&str>,
    ) -> Result<Vec<String>, AuthError> {
        if !self.config.delete_user {
            return Err(AuthError::NotFound);
        }
        match password {
            Some(password) => {
                let Some((_, Some(hash))) = self.store.credential_account(&info.user.id).await?
                else {
                    return Err(AuthError::BadRequest(
                        "CREDENTIAL_ACCOUNT_NOT_FOUND",
                        "Credential account not found".into(),
                    ));
                };
                let password = password.to_owned();
                let ok = self
                    .hasher
                    .run(move || password::verify(&password, &hash))
                    .await?;
                if !ok {
                    return Err(AuthError::BadRequest(
                        "INVALID_PASSWORD",
                        "Invalid password".into(),
                    ));
                }
            }
            None => {
                let fresh_age =
                    u64::try_from(self.config.session_fresh_age.as_millis()).unwrap_or(0);
                if fresh_age > 0 && now_ms().saturating_sub(info.session.created_at_ms) >= fresh_age
                {
                    return Err(AuthError::BadRequest(
                        "SESSION_EXPIRED",
                        "Session expired. Re-authenticate to perform this action.".into(),
                    ));
                }
            }
        }
        let revoked = self.store.delete_user(&info.user.id).await?;
        Ok(self.announce(revoked))
    }

    /// The caller's unexpired sessions, newest first.
    pub async fn list_sessions(&self, info: &SessionInfo) -> Result<Vec<Session>, AuthError> {
        let now = now_ms();
        let fresh_age = u64::try_from(self.config.session_fresh_age.as_millis()).unwrap_or(0);
        if fresh_age > 0 && now.saturating_sub(info.session.created_at_ms) >= fresh_age {
            return Err(AuthError::SessionNotFresh);
        }
        let mut sessions = self.store.list_sessions(&info.user.id).await?;
        sessions.retain(|s| s.expires_at_ms > now);
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at_ms));
        Ok(sessions)
    }

    /// Revokes one of the caller's sessions by its token (another user's token is ignored, as
    /// in Better Auth). Returns the revoked digests.
    pub async fn revoke_session(
        &self,
        info: &SessionInfo,
        token: &str,
    ) -> Result<Vec<String>, AuthError> {
        let Some((session, _)) = self.store.find_session(token).await? else {
            return Ok(Vec::new());
        };
        if session.user_id != info.user.id || !self.store.delete_session(token).await? {
            return Ok(Vec::new());
        }
        Ok(self.announce(vec![token.to_owned()]))
    }

    /// Revokes every session of the caller, or every other one when `keep_current`. Returns
    /// the revoked digests.
    pub async fn revoke_sessions(
        &self,
        info: &SessionInfo,
        keep_current: bool,
    ) -> Result<Vec<String>, AuthError> {
        let keep = keep_current.then_some(info.session.token.as_str());
        let revoked = self.store.delete_user_sessions(&info.user.id, keep).await?;
        Ok(self.announce(revoked))
    }

    /// A Convex JWT for a session: RS256, `kid` and `typ` in the header; `iss`, `aud`,
    /// `sub`, `sessionId`, `iat`, `exp` and the user's fields. No database access.
    pub async fn token(&self, info: &SessionInfo) -> Result<String, AuthError> {
        let key = self.signing_key().await?;
        let iat = now_ms() / 1000;
        if let Some(e) = self.memo.tokens.lock().get(&info.session.id)
            && self.config.token_memo
            && e.iat == iat
            && e.kid == key.kid
        {
            return Ok(e.jwt.clone());
        }
        let exp = iat + self.config.jwt_lifetime.as_secs();
        let u = &info.user;
        let mut claims = Map::new();
        claims.insert("name".into(), json!(u.name));
        claims.insert("email".into(), json!(u.email));
        claims.insert("emailVerified".into(), json!(u.email_verified));
        claims.insert("createdAt".into(), json!(iso_ms(u.created_at_ms)));
        claims.insert("updatedAt".into(), json!(iso_ms(u.updated_at_ms)));
        claims.insert("userId".into(), Json::Null);
        claims.insert("sessionId".into(), json!(info.session.id));
        claims.insert("iat".into(), json!(iat));
        claims.insert("sub".into(), json!(u.id));
        claims.insert("exp".into(), json!(exp));
        claims.insert("iss".into(), json!(self.config.site_url));
        claims.insert("aud".into(), json!("convex"));
        let token = jwt::sign(&key, &claims)?;
        let mut memo = self.memo.tokens.lock();
        if memo.len() >= MAX_MEMO {
            memo.clear();
        }
        memo.insert(
            info.session.id.clone(),
            MemoEntry {
                iat,
                kid: key.kid.clone(),
                jwt: token.clone(),
                session_token: info.session.token.clone(),
            },
        );
        Ok(token)
    }
}

/// JSON of a user as Better Auth returns it.
pub fn user_json(u: &User) -> Json {
    json!({
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "emailVerified": u.email_verified,
        "image": u.image,
        "createdAt": iso_ms(u.created_at_ms),
        "updatedAt": iso_ms(u.updated_at_ms),
        "userId": Json::Null,
    })
}

/// JSON of a session as Better Auth returns it.
pub fn session_json(s: &Session) -> Json {
    json!({
        "id": s.id,
        "token": s.token,
        "userId": s.user_id,
        "expiresAt": iso_ms(s.expires_at_ms),
        "createdAt": iso_ms(s.created_at_ms),
        "updatedAt": iso_ms(s.updated_at_ms),
        "ipAddress": s.ip_address,
        "userAgent": s.user_agent,
    })
}
