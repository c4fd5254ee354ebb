//! Users, accounts, sessions and keys as system tables (`_users`, `_accounts`, `_sessions`,
//! `_jwks`) in the same database as the application's data, read in snapshots and written
//! through the engine's committer. Every call is counted in [`AuthStats`].

use std::sync::Arc;

use ferrovex_engine::{DatabaseReader, Engine, EngineError};
use ferrovex_store::{Document, DocumentId, Schema, TableDef};
use ferrovex_values::Value;

use crate::error::AuthError;
use crate::keys::JwksRow;
use crate::stats::AuthStats;

/// The system tables and their indexes; merged into the application's schema.
pub fn system_schema() -> Schema {
    Schema::new()
        .table("_users", TableDef::default().index("by_email", ["email"]))
        .table(
            "_accounts",
            TableDef::default().index("by_user", ["userId"]),
        )
        .table(
            "_sessions",
            TableDef::default()
                .index("by_token", ["token"])
                .index("by_user", ["userId"]),
        )
        .table("_jwks", TableDef::default())
        .table("_auth_meta", TableDef::default().index("by_key", ["key"]))
}

/// A user as Better Auth returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    /// Id (the `_users` document id).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lower-cased email.
    pub email: String,
    /// Whether the email was verified (always false here: no verification mail).
    pub email_verified: bool,
    /// Avatar URL.
    pub image: Option<String>,
    /// Creation time (ms).
    pub created_at_ms: u64,
    /// Last update (ms).
    pub updated_at_ms: u64,
}

/// A session row.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// Row id.
    pub id: String,
    /// The secret session token (what the cookie carries, signed).
    pub token: String,
    /// Owner.
    pub user_id: String,
    /// Expiry (ms).
    pub expires_at_ms: u64,
    /// Creation (ms).
    pub created_at_ms: u64,
    /// Last extension (ms).
    pub updated_at_ms: u64,
    /// Client address at creation.
    pub ip_address: String,
    /// Client user agent at creation.
    pub user_agent: String,
}

fn num(doc: &Document, f: &str) -> u64 {
    doc.fields
        .get(f)
        .and_then(Value::as_f64)
        .map_or(0, |v| v as u64)
}

fn text(doc: &Document, f: &str) -> String {
    doc.fields
        .get(f)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn user_of(doc: &Document) -> User {
    User {
        id: doc.id.to_string(),
        name: text(doc, "name"),
        email: text(doc, "email"),
        email_verified: doc
            .fields
            .get("emailVerified")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        image: doc
            .fields
            .get("image")
            .and_then(Value::as_str)
            .map(str::to_owned),
        created_at_ms: num(doc, "createdAt"),
        updated_at_ms: num(doc, "updatedAt"),
    }
}

fn session_of(doc: &Document) -> Session {
    Session {
        id: doc.id.to_string(),
        token: text(doc, "token"),
        user_id: text(doc, "userId"),
        expires_at_ms: num(doc, "expiresAt"),
        created_at_ms: num(doc, "createdAt"),
        updated_at_ms: num(doc, "updatedAt"),
        ip_address: text(doc, "ipAddress"),
        user_agent: text(doc, "userAgent"),
    }
}

fn ms(v: u64) -> Value {
    Value::Float64(v as f64)
}

fn session_value(s: &Session) -> Value {
    Value::object([
        ("token", Value::from(s.token.as_str())),
        ("userId", Value::from(s.user_id.as_str())),
        ("expiresAt", ms(s.expires_at_ms)),
        ("createdAt", ms(s.created_at_ms)),
        ("updatedAt", ms(s.updated_at_ms)),
        ("ipAddress", Value::from(s.ip_address.as_str())),
        ("userAgent", Value::from(s.user_agent.as_str())),
    ])
}

fn find_one(
    db: &mut DatabaseReader<'_>,
    table: &str,
    index: &str,
    field: &str,
    value: &str,
) -> Result<Option<Document>, EngineError> {
    db.query(table)?
        .with_index(index, |q| q.eq(field, value))?
        .first()
}

fn doc_id(id: &str) -> Result<DocumentId, EngineError> {
    DocumentId::parse(id).ok_or_else(|| EngineError::BadDatabaseCall(format!("invalid id {id:?}")))
}

/// Most sessions listed or revoked for one user in one call.
pub const MAX_SESSIONS_PER_USER: usize = 1000;

/// The auth tables, through the engine.
#[derive(Clone, Debug)]
pub struct AuthStore {
    engine: Engine,
    stats: Arc<AuthStats>,
}

/// A new session to store.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Token.
    pub token: String,
    /// Expiry (ms).
    pub expires_at_ms: u64,
    /// Now (ms).
    pub now_ms: u64,
    /// Client address.
    pub ip_address: String,
    /// Client user agent.
    pub user_agent: String,
}

impl NewSession {
    fn into_session(self, user_id: String) -> Session {
        Session {
            id: String::new(),
            token: self.token,
            user_id,
            expires_at_ms: self.expires_at_ms,
            created_at_ms: self.now_ms,
            updated_at_ms: self.now_ms,
            ip_address: self.ip_address,
            user_agent: self.user_agent,
        }
    }
}

impl AuthStore {
    /// A store on `engine`, counting into `stats`.
    pub fn new(engine: Engine, stats: Arc<AuthStats>) -> AuthStore {
        AuthStore { engine, stats }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<AuthStats> {
        &self.stats
    }

    /// A user by email with the password hash of its credential account (one snapshot).
    pub async fn find_user_with_password(
        &self,
        email: &str,
    ) -> Result<Option<(User, Option<String>)>, AuthError> {
        self.stats.bump("user.find_by_email");
        self.stats.bump("account.find");
        let email = email.to_owned();
        Ok(self
            .engine
            .system_read(move |db| {
                let Some(user) = find_one(db, "_users", "by_email", "email", &email)? else {
                    return Ok(None);
                };
                let accounts = db
                    .query("_accounts")?
                    .with_index("by_user", |q| q.eq("userId", user.id.as_str()))?
                    .take(16)?;
                let hash = accounts
                    .iter()
                    .find(|a| {
                        a.fields.get("providerId").and_then(Value::as_str) == Some("credential")
                    })
                    .and_then(|a| {
                        a.fields
                            .get("password")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    });
                Ok(Some((user_of(&user), hash)))
            })
            .await?)
    }

    /// Creates a user, its credential account and a first session in one transaction.
    pub async fn create_user(
        &self,
        name: String,
        email: String,
        password_hash: String,
        session: NewSession,
    ) -> Result<(User, Session), AuthError> {
        self.stats.bump("user.find_by_email");
        let result = self
            .engine
            .system_write(move |db| {
                if db
                    .query("_users")?
                    .with_index("by_email", |q| q.eq("email", email.as_str()))?
                    .first()?
                    .is_some()
                {
                    return Ok(None);
                }
                let now = session.now_ms;
                let user_id = db.insert_system(
                    "_users",
                    Value::object([
                        ("name", Value::from(name.as_str())),
                        ("email", Value::from(email.as_str())),
                        ("emailVerified", Value::Boolean(false)),
                        ("image", Value::Null),
                        ("createdAt", ms(now)),
                        ("updatedAt", ms(now)),
                    ]),
                )?;
                db.insert_system(
                    "_accounts",
                    Value::object([
                        ("userId", Value::from(user_id.as_str())),
                        ("accountId", Value::from(user_id.as_str())),
                        ("providerId", Value::from("credential")),
                        ("password", Value::from(password_hash.as_str())),
                        ("createdAt", ms(now)),
                        ("updatedAt", ms(now)),
                    ]),
                )?;
                let mut s = session.into_session(user_id.to_string());
                s.id = db
                    .insert_system("_sessions", session_value(&s))?
                    .to_string();
                let user = User {
                    id: user_id.to_string(),
                    name,
                    email,
                    email_verified: false,
                    image: None,
                    created_at_ms: now,
                    updated_at_ms: now,
                };
                Ok(Some((user, s)))
            })
            .await?;
        match result {
            Some(created) => {
                self.stats.bump("user.insert");
                self.stats.bump("account.insert");
                self.stats.bump("session.insert");
                Ok(created)
            }
            None => Err(AuthError::UserExists),
        }
    }

    /// Stores a new session for `user_id`.
    pub async fn create_session(
        &self,
        user_id: &str,
        session: NewSession,
    ) -> Result<Session, AuthError> {
        self.stats.bump("session.insert");
        let user_id = user_id.to_owned();
        Ok(self
            .engine
            .system_write(move |db| {
                let mut s = session.into_session(user_id);
                s.id = db
                    .insert_system("_sessions", session_value(&s))?
                    .to_string();
                Ok(s)
            })
            .await?)
    }

    /// The session with `token` and its user, in one snapshot (one counted read).
    pub async fn find_session(&self, token: &str) -> Result<Option<(Session, User)>, AuthError> {
        self.stats.bump("session.find");
        let token = token.to_owned();
        Ok(self
            .engine
            .system_read(move |db| {
                let Some(session) = find_one(db, "_sessions", "by_token", "token", &token)? else {
                    return Ok(None);
                };
                let session = session_of(&session);
                let Some(user) = db.get(&doc_id(&session.user_id)?)? else {
                    return Ok(None);
                };
                Ok(Some((session, user_of(&user))))
            })
            .await?)
    }

    /// Extends a session (sliding refresh).
    pub async fn extend_session(
        &self,
        session_id: &str,
        expires_at_ms: u64,
        now_ms: u64,
    ) -> Result<(), AuthError> {
        self.stats.bump("session.update");
        let id = session_id.to_owned();
        self.engine
            .system_write(move |db| {
                let id = doc_id(&id)?;
                db.patch(
                    &id,
                    &Value::object([("expiresAt", ms(expires_at_ms)), ("updatedAt", ms(now_ms))]),
                )
            })
            .await?;
        Ok(())
    }

    /// Deletes the session with `token`, if it exists.
    pub async fn delete_session(&self, token: &str) -> Result<bool, AuthError> {
        self.stats.bump("session.delete");
        let token = token.to_owned();
        Ok(self
            .engine
            .system_write(move |db| {
                let found = db
                    .query("_sessions")?
                    .with_index("by_token", |q| q.eq("token", token.as_str()))?
                    .first()?;
                match found {
                    Some(doc) => {
                        db.delete(&doc.id)?;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            })
            .await?)
    }

    /// Sets a user's name and/or image (`Some(None)` clears the image); the updated user.
    pub async fn update_user(
        &self,
        user_id: &str,
        name: Option<String>,
        image: Option<Option<String>>,
        now_ms: u64,
    ) -> Result<Option<User>, AuthError> {
        self.stats.bump("user.update");
        let id = user_id.to_owned();
        Ok(self
            .engine
            .system_write(move |db| {
                let id = doc_id(&id)?;
                if db.get(&id)?.is_none() {
                    return Ok(None);
                }
                let mut changes = vec![("updatedAt", ms(now_ms))];
                if let Some(name) = &name {
                    changes.push(("name", Value::from(name.as_str())));
                }
                if let Some(image) = &image {
                    changes.push(("image", image.as_deref().map_or(Value::Null, Value::from)));
                }
                db.patch(&id, &Value::object(changes))?;
                Ok(db.get(&id)?.as_ref().map(user_of))
            })
            .await?)
    }

    /// The id and password hash of a user's credential account.
    pub async fn credential_account(
        &self,
        user_id: &str,
    ) -> Result<Option<(DocumentId, Option<String>)>, AuthError> {
        self.stats.bump("account.find");
        let user_id = user_id.to_owned();
        Ok(self
            .engine
            .system_read(move |db| {
                let accounts = db
                    .query("_accounts")?
                    .with_index("by_user", |q| q.eq("userId", user_id.as_str()))?
                    .take(16)?;
                Ok(accounts
                    .into_iter()
                    .find(|a| {
                        a.fields.get("providerId").and_then(Value::as_str) == Some("credential")
                    })
                    .map(|a| {
                        let hash = a
                            .fields
                            .get("password")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        (a.id, hash)
                    }))
            })
            .await?)
    }

    /// Sets the password hash of an account.
    pub async fn set_password(
        &self,
        account: &DocumentId,
        hash: String,
        now_ms: u64,
    ) -> Result<(), AuthError> {
        self.stats.bump("account.update");
        let account = account.clone();
        self.engine
            .system_write(move |db| {
                db.patch(
                    &account,
                    &Value::object([
                        ("password", Value::from(hash.as_str())),
                        ("updatedAt", ms(now_ms)),
                    ]),
                )
            })
            .await?;
        Ok(())
    }

    /// Deletes a user with its accounts and sessions in one transaction; the deleted sessions'
    /// tokens.
    pub async fn delete_user(&self, user_id: &str) -> Result<Vec<String>, AuthError> {
        self.stats.bump("user.delete");
        let user_id = user_id.to_owned();
        Ok(self
            .engine
            .system_write(move |db| {
                let mut tokens = Vec::new();
                for table in ["_sessions", "_accounts"] {
                    let docs = db
                        .query(table)?
                        .with_index("by_user", |q| q.eq("userId", user_id.as_str()))?
                        .take(MAX_SESSIONS_PER_USER)?;
                    for doc in docs {
                        if table == "_sessions" {
                            tokens.push(text(&doc, "token"));
                        }
                        db.delete(&doc.id)?;
                    }
                }
                let id = doc_id(&user_id)?;
                if db.get(&id)?.is_some() {
                    db.delete(&id)?;
                }
                Ok(tokens)
            })
            .await?)
    }

    /// The sessions of `user_id` (expired ones included; callers filter).
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, AuthError> {
        self.stats.bump("session.find_many");
        let user_id = user_id.to_owned();
        Ok(self
            .engine
            .system_read(move |db| {
                let docs = db
                    .query("_sessions")?
                    .with_index("by_user", |q| q.eq("userId", user_id.as_str()))?
                    .take(MAX_SESSIONS_PER_USER)?;
                Ok(docs.iter().map(session_of).collect())
            })
            .await?)
    }

    /// Deletes every session of `user_id` except the one with token `keep`, in one
    /// transaction. Returns the deleted sessions' tokens.
    pub async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> Result<Vec<String>, AuthError> {
        self.stats.bump("session.delete_many");
        let user_id = user_id.to_owned();
        let keep = keep.map(str::to_owned);
        Ok(self
            .engine
            .system_write(move |db| {
                let docs = db
                    .query("_sessions")?
                    .with_index("by_user", |q| q.eq("userId", user_id.as_str()))?
                    .take(MAX_SESSIONS_PER_USER)?;
                let mut revoked = Vec::new();
                for doc in &docs {
                    let token = text(doc, "token");
                    if keep.as_deref() != Some(token.as_str()) {
                        db.delete(&doc.id)?;
                        revoked.push(token);
                    }
                }
                Ok(revoked)
            })
            .await?)
    }

    /// A deployment environment variable (`JWKS`).
    pub async fn env_var(&self, name: &str) -> Result<Option<String>, AuthError> {
        self.stats.bump("jwks.env");
        Ok(self.engine.env_var(name).await?)
    }

    /// Every stored key row.
    pub async fn load_jwks(&self) -> Result<Vec<JwksRow>, AuthError> {
        self.stats.bump("jwks.find_many");
        Ok(self
            .engine
            .system_read(|db| {
                let docs = db.query("_jwks")?.collect()?;
                Ok(docs
                    .iter()
                    .map(|d| JwksRow {
                        id: text(d, "kid"),
                        public_key: text(d, "publicKey"),
                        private_key: text(d, "privateKey"),
                        created_at_ms: num(d, "createdAt"),
                        expires_at_ms: d
                            .fields
                            .get("expiresAt")
                            .and_then(Value::as_f64)
                            .map(|v| v as u64),
                    })
                    .collect())
            })
            .await?)
    }

    /// Stores a key row.
    pub async fn insert_jwks(&self, row: JwksRow) -> Result<(), AuthError> {
        self.stats.bump("jwks.insert");
        self.engine
            .system_write(move |db| {
                db.insert_system(
                    "_jwks",
                    Value::object([
                        ("kid", Value::from(row.id.as_str())),
                        ("publicKey", Value::from(row.public_key.as_str())),
                        ("privateKey", Value::from(row.private_key.as_str())),
                        ("createdAt", ms(row.created_at_ms)),
                        ("expiresAt", row.expires_at_ms.map_or(Value::Null, ms)),
                        ("alg", Value::from("RS256")),
                    ]),
                )
            })
            .await?;
        Ok(())
    }

    /// A persisted system secret by key, created with `make` on first use (one transaction).
    pub async fn secret(
        &self,
        key: &str,
        make: impl FnOnce() -> String + Send + 'static,
    ) -> Result<String, AuthError> {
        self.stats.bump("secret.find");
        let key = key.to_owned();
        Ok(self
            .engine
            .system_write(move |db| {
                if let Some(doc) = db
                    .query("_auth_meta")?
                    .with_index("by_key", |q| q.eq("key", key.as_str()))?
                    .first()?
                {
                    return Ok(text(&doc, "value"));
                }
                let value = make();
                db.insert_system(
                    "_auth_meta",
                    Value::object([
                        ("key", Value::from(key.as_str())),
                        ("value", Value::from(value.as_str())),
                    ]),
                )?;
                Ok(value)
            })
            .await?)
    }
}
