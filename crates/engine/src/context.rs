//! What a function receives: `QueryCtx`, `MutationCtx` and `ActionCtx`, plus their log lines.

use std::fmt::Display;
use std::sync::Arc;

use ferrovex_values::{Value, from_value, to_value};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::db::{DatabaseReader, DatabaseWriter};
use crate::engine::Engine;
use crate::error::{ConvexError, FnError, FnResult, FunctionFailure};
use crate::identity::{Auth, Identity};
use crate::path::FunctionPath;

/// Most log lines kept per execution; later lines are dropped with one warning line.
pub const MAX_LOG_LINES: usize = 256;
/// Longest log line kept (bytes); longer lines are cut.
pub const MAX_LOG_LINE_BYTES: usize = 4096;

/// Log lines of one execution, in the wire form `"[LEVEL] text"`.
#[derive(Clone, Debug, Default)]
pub struct LogLines {
    lines: Vec<String>,
    dropped: usize,
}

impl LogLines {
    /// Adds a line at `level` (`LOG`, `INFO`, `WARN`, `ERROR`, `DEBUG`).
    pub fn push(&mut self, level: &str, message: &dyn Display) {
        if self.lines.len() >= MAX_LOG_LINES {
            self.dropped += 1;
            return;
        }
        let mut line = format!("[{level}] {message}");
        if line.len() > MAX_LOG_LINE_BYTES {
            let mut cut = MAX_LOG_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push_str(" (truncated)");
        }
        self.lines.push(line);
    }

    /// Appends lines produced elsewhere (a nested call from an action).
    pub fn extend(&mut self, lines: Vec<String>) {
        for line in lines {
            if self.lines.len() >= MAX_LOG_LINES {
                self.dropped += 1;
            } else {
                self.lines.push(line);
            }
        }
    }

    /// The final lines, with a note when some were dropped.
    pub fn into_lines(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.lines.push(format!(
                "[WARN] {} more log lines were dropped (limit {MAX_LOG_LINES})",
                self.dropped
            ));
        }
        self.lines
    }
}

macro_rules! log_methods {
    () => {
        /// The caller's identity (`ctx.auth().user_identity()`); using it makes the result
        /// per-caller in the query cache.
        pub fn auth(&mut self) -> Auth<'_> {
            self.db.state.identity_read = true;
            Auth {
                identity: self.db.state.identity.as_deref(),
            }
        }

        /// The deployment environment variable `name` (`npx convex env set`), if set. A
        /// query that reads one re-runs when it changes.
        pub fn env(&mut self, name: &str) -> FnResult<Option<String>> {
            Ok(self.db.env(name)?)
        }

        /// Logs a line at level `LOG` (returned to the caller in `logLines`).
        pub fn log(&mut self, message: impl Display) {
            self.logs.push("LOG", &message);
        }
        /// Logs a line at level `INFO`.
        pub fn info(&mut self, message: impl Display) {
            self.logs.push("INFO", &message);
        }
        /// Logs a line at level `WARN`.
        pub fn warn(&mut self, message: impl Display) {
            self.logs.push("WARN", &message);
        }
        /// Logs a line at level `ERROR`.
        pub fn error(&mut self, message: impl Display) {
            self.logs.push("ERROR", &message);
        }
    };
}

/// The context of a query: a read-only snapshot.
pub struct QueryCtx<'a> {
    /// The database, read-only.
    pub db: DatabaseReader<'a>,
    pub(crate) logs: &'a mut LogLines,
    pub(crate) files: &'a crate::storage::Files,
}

impl<'a> QueryCtx<'a> {
    log_methods!();

    /// File storage: URLs and metadata of stored files.
    pub fn storage(&mut self) -> crate::storage::QueryStorage<'_, 'a> {
        crate::storage::QueryStorage {
            db: &mut self.db,
            files: self.files,
        }
    }
}

/// The context of a mutation: a serializable read-write transaction, committed when the
/// function returns `Ok` and discarded when it returns `Err` or panics.
pub struct MutationCtx<'a> {
    /// The database, read-write.
    pub db: DatabaseWriter<'a>,
    pub(crate) logs: &'a mut LogLines,
    pub(crate) app: &'a crate::registry::App,
    pub(crate) files: &'a crate::storage::Files,
}

impl<'a> MutationCtx<'a> {
    log_methods!();

    /// This mutation's commit time, ms since the epoch (the same for every call in it).
    pub fn now_ms(&self) -> f64 {
        self.db.txn.ts().as_millis_f64()
    }

    /// File storage in this mutation's transaction: upload URLs, file URLs and metadata,
    /// deletes (undone if the mutation fails).
    pub fn storage(&mut self) -> crate::storage::MutationStorage<'_, 'a> {
        crate::storage::MutationStorage {
            db: &mut self.db,
            files: self.files,
        }
    }

    /// Schedules functions in this mutation's transaction: if the mutation fails, nothing is
    /// scheduled (`ctx.scheduler().run_after(delay, "reminders:fire", &args)`).
    pub fn scheduler(&mut self) -> crate::scheduler::MutationScheduler<'_, 'a> {
        crate::scheduler::MutationScheduler {
            db: &mut self.db,
            app: self.app,
        }
    }
}

/// The context of an action: no database access of its own, but it can run queries and
/// mutations (each in its own transaction) and do anything async.
pub struct ActionCtx {
    pub(crate) engine: Engine,
    pub(crate) logs: Arc<Mutex<LogLines>>,
    pub(crate) identity: Option<Arc<Identity>>,
    /// Jobs scheduled by this call (bounded like a mutation's).
    pub(crate) scheduled: std::sync::atomic::AtomicUsize,
}

fn failure_to_error(f: FunctionFailure) -> FnError {
    match f {
        FunctionFailure::Convex { data, .. } => FnError::Convex(ConvexError { data }),
        FunctionFailure::Message(m) => FnError::internal(m),
    }
}

impl ActionCtx {
    /// The caller's identity (`ctx.auth().user_identity()`).
    pub fn auth(&self) -> Auth<'_> {
        Auth {
            identity: self.identity.as_deref(),
        }
    }

    /// The deployment environment variable `name` (`npx convex env set`), read now.
    pub async fn env(&self, name: &str) -> FnResult<Option<String>> {
        Ok(self.engine.env_var(name).await?)
    }

    /// Logs a line at level `LOG`.
    pub fn log(&self, message: impl Display) {
        self.logs.lock().push("LOG", &message);
    }

    /// File storage: store and read bytes, URLs, metadata, deletes, upload URLs.
    pub fn storage(&self) -> crate::storage::ActionStorage<'_> {
        crate::storage::ActionStorage {
            engine: &self.engine,
        }
    }

    /// Schedules functions; each call commits on its own.
    pub fn scheduler(&self) -> crate::scheduler::ActionScheduler<'_> {
        crate::scheduler::ActionScheduler {
            engine: &self.engine,
            scheduled: &self.scheduled,
        }
    }

    /// Runs another action and returns its result.
    pub async fn run_action<R: DeserializeOwned>(
        &self,
        path: &str,
        args: &impl Serialize,
    ) -> FnResult<R> {
        self.call(crate::kind::FunctionKind::Action, path, args)
            .await
    }

    async fn call<R: DeserializeOwned>(
        &self,
        kind: crate::kind::FunctionKind,
        path: &str,
        args: &impl Serialize,
    ) -> FnResult<R> {
        let path = FunctionPath::parse(path)?;
        let args = to_value(args)?;
        let outcome = self
            .engine
            .call_as(
                Some(kind),
                &path,
                args,
                crate::log::Transport::Internal,
                self.identity.clone(),
            )
            .await;
        self.logs.lock().extend(outcome.log_lines);
        let value: Value = outcome.result.map_err(failure_to_error)?;
        Ok(from_value(value)?)
    }

    /// Runs a query in its own snapshot and returns its result.
    pub async fn run_query<R: DeserializeOwned>(
        &self,
        path: &str,
        args: &impl Serialize,
    ) -> FnResult<R> {
        self.call(crate::kind::FunctionKind::Query, path, args)
            .await
    }

    /// Runs a mutation in its own transaction and returns its result.
    pub async fn run_mutation<R: DeserializeOwned>(
        &self,
        path: &str,
        args: &impl Serialize,
    ) -> FnResult<R> {
        self.call(crate::kind::FunctionKind::Mutation, path, args)
            .await
    }
}
