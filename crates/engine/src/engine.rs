//! The engine: runs registered functions against the store and reports each outcome.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferrovex_store::{Clock, IdGenerator, Persistence, Schema, StoredOutcome, Timestamp};
use ferrovex_values::{Value, canonical_string};
use futures_util::FutureExt;
use parking_lot::Mutex;
use tokio::sync::{Semaphore, oneshot};

use crate::committer::{Committer, JobEnd};
use crate::context::{ActionCtx, LogLines, MutationCtx, QueryCtx};
use crate::db::{DatabaseReader, DatabaseWriter, TxnState};
use crate::error::{EngineError, FnError, FunctionFailure};
use crate::flight::{Flight, Flights};
use crate::identity::Identity;
use crate::invalidation::{
    CacheKey, CachedResult, DEFAULT_CACHE_BYTES, Invalidation, SessionHandle, WatcherId,
};
use crate::kind::FunctionKind;
use crate::log::{Execution, FunctionLog, Metrics, Transport};
use crate::path::FunctionPath;
use crate::readset::{ReadSet, WriteSet};
use crate::registry::{App, Function, Visibility};

/// Most queries running at once on the blocking pool; more wait for a permit.
pub const MAX_CONCURRENT_QUERIES: usize = 64;

/// The outcome of one function call.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The value, or the client-visible failure.
    pub result: Result<Value, FunctionFailure>,
    /// Log lines in wire form.
    pub log_lines: Vec<String>,
    /// Snapshot timestamp (queries) or commit timestamp (committed mutations).
    pub ts: Option<Timestamp>,
    /// What a query read (for caching and subscriptions).
    pub reads: Option<Arc<ReadSet>>,
    /// What a committed mutation wrote.
    pub writes: Option<Arc<WriteSet>>,
    /// Wall time of the execution.
    pub duration: Duration,
    /// Served from the query cache (or a recorded mutation outcome) instead of executing.
    pub cached: bool,
    /// The function read the caller's identity.
    pub identity_read: bool,
}

impl Outcome {
    fn failed(failure: FunctionFailure, started: Instant) -> Outcome {
        Outcome {
            result: Err(failure),
            log_lines: Vec::new(),
            ts: None,
            reads: None,
            writes: None,
            duration: started.elapsed(),
            cached: false,
            identity_read: false,
        }
    }

    fn from_cache(hit: CachedResult, identity_read: bool, started: Instant) -> Outcome {
        Outcome {
            result: Ok(hit.value),
            log_lines: hit.log_lines,
            ts: Some(hit.ts),
            reads: Some(hit.reads),
            writes: None,
            duration: started.elapsed(),
            cached: true,
            identity_read,
        }
    }
}

/// Tunables of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Memory bound of the query result cache, in bytes (estimated from encoded sizes).
    pub cache_bytes: usize,
    /// Print one stdout line per execution.
    pub print_log: bool,
    /// How often to look for commits made by another process on the same database (`None`:
    /// never, for a database only this process writes).
    pub foreign_commit_poll: Option<Duration>,
    /// Run scheduled functions and crons (off for one-shot commands such as `jwks`, which
    /// open the database but must not run anyone's jobs).
    pub scheduler: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cache_bytes: DEFAULT_CACHE_BYTES,
            print_log: false,
            foreign_commit_poll: Some(Duration::from_millis(50)),
            scheduler: true,
        }
    }
}

/// How long recorded mutation outcomes are kept for deduplication.
pub const MUTATION_OUTCOME_RETENTION: Duration = Duration::from_secs(3600);
/// How long commit log records are kept for other processes to read (one that falls further
/// behind invalidates everything once).
pub const COMMIT_LOG_RETENTION: Duration = Duration::from_secs(600);
/// Longest accepted client session id.
pub const MAX_SESSION_ID_LEN: usize = 64;

pub(crate) struct Inner {
    pub(crate) persistence: Arc<dyn Persistence>,
    schema: Arc<Schema>,
    pub(crate) app: App,
    pub(crate) committer: Committer,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: IdGenerator,
    query_permits: Semaphore,
    pub(crate) invalidation: Invalidation,
    flights: Flights,
    log: FunctionLog,
    pub(crate) metrics: Arc<Metrics>,
    commits: AtomicU64,
    /// Held from a commit until it is published (see [`Inner::catch_up_foreign_commits`]).
    pub(crate) publish_lock: Arc<parking_lot::Mutex<()>>,
    pub(crate) stopped: std::sync::atomic::AtomicBool,
    /// The commit log could not be read on the last try (warned about once per outage).
    pub(crate) log_unreadable: std::sync::atomic::AtomicBool,
    /// Woken by commits that scheduled jobs, so the scheduler need not poll for them.
    scheduler_wake: tokio::sync::Notify,
    /// File storage's bytes and URL prefix.
    pub(crate) files: crate::storage::Files,
}

/// A running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("app", &self.inner.app)
            .finish_non_exhaustive()
    }
}

/// A short random id that ties a generic client error to the server log line with details.
fn request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// Decodes a recorded mutation outcome.
fn decode_stored(stored: &StoredOutcome, started: Instant) -> Result<Outcome, FnError> {
    let body: serde_json::Value = serde_json::from_str(&stored.body)
        .map_err(|e| FnError::internal(format!("corrupt recorded outcome: {e}")))?;
    let value = Value::from_convex_json(&body["value"])?;
    let log_lines = body["logLines"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(Outcome {
        result: Ok(value),
        log_lines,
        ts: Some(stored.ts),
        reads: None,
        writes: None,
        duration: started.elapsed(),
        cached: true,
        identity_read: false,
    })
}

/// Converts a function error into what the client sees; internals go to the server log only.
/// What a mutation's transaction records besides the function's own writes.
#[derive(Default)]
struct MutationExtra {
    /// `(session, request id)`: the outcome, for deduplicating a re-sent mutation.
    dedup: Option<(String, u32)>,
    /// A scheduled job's row (claimed before, marked `success` after).
    hook: Option<crate::scheduler::JobHook>,
}

/// The client-visible failure of a write refused because the storage is full.
pub const STORAGE_FULL: &str = "StorageFull: the server's storage is full, so this write was not committed; retry once space is freed";

/// Convex's answer for a path no client may call: missing, or internal.
fn not_found(path: &FunctionPath) -> FunctionFailure {
    FunctionFailure::Message(format!("Could not find public function for '{path}'."))
}

/// Convex's answer to an admin for a path that does not exist (the Convex CLI then lists the
/// functions there are, from `_system/cli/modules:apiSpec`).
fn not_found_for(path: &FunctionPath, transport: Transport) -> FunctionFailure {
    match transport {
        Transport::AdminHttpApi | Transport::AdminWebSocket => FunctionFailure::Message(format!(
            "Could not find function for '{path}'. Did you forget to register it in the app?"
        )),
        _ => not_found(path),
    }
}

fn to_failure(path: &FunctionPath, error: FnError) -> FunctionFailure {
    to_failure_label(path.as_str(), error)
}

/// [`to_failure`] for anything the log names by a label (an HTTP route).
pub(crate) fn to_failure_label(path: &str, error: FnError) -> FunctionFailure {
    match error {
        FnError::Convex(e) => FunctionFailure::convex(e.data),
        FnError::InvalidArgs(message) => FunctionFailure::Message(message),
        FnError::Internal(e)
            if matches!(
                e.downcast_ref::<EngineError>(),
                Some(EngineError::Store(ferrovex_store::StoreError::Full(_)))
            ) || matches!(
                e.downcast_ref::<ferrovex_store::StoreError>(),
                Some(ferrovex_store::StoreError::Full(_))
            ) =>
        {
            // The caller can act on this one (retry later), and it reveals nothing inside.
            tracing::error!(path = %path, error = %e, "a write failed: storage is full");
            FunctionFailure::Message(STORAGE_FULL.to_owned())
        }
        FnError::Internal(e) => {
            let id = request_id();
            tracing::error!(path = %path, request_id = %id, error = %e, "function failed");
            FunctionFailure::Message(format!("[Request ID: {id}] Server Error"))
        }
    }
}

impl Engine {
    /// Opens the schema's indexes (backfilling new ones) and starts the committer.
    pub fn start(
        app: App,
        persistence: Arc<dyn Persistence>,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, EngineError> {
        Engine::start_with(app, persistence, clock, EngineConfig::default())
    }

    /// [`Engine::start`] with explicit tunables.
    pub fn start_with(
        app: App,
        persistence: Arc<dyn Persistence>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        let mut app = app;
        app.schema = app
            .schema
            .merge(crate::scheduler::system_schema())
            .merge(crate::env::system_schema())
            .merge(crate::operator::system_schema())
            .merge(crate::storage::system_schema());
        let app = crate::operator::add(app);
        persistence.open_indexes(&app.schema.all_indexes())?;
        let publish_lock = Arc::new(parking_lot::Mutex::new(()));
        let committer = Committer::start(persistence.clone(), publish_lock.clone())?;
        let metrics = Arc::new(Metrics::default());
        let published = persistence.latest_ts();
        let engine = Engine {
            inner: Arc::new(Inner {
                persistence,
                schema: Arc::new(app.schema.clone()),
                app,
                committer,
                clock,
                ids: IdGenerator::default(),
                query_permits: Semaphore::new(MAX_CONCURRENT_QUERIES),
                invalidation: Invalidation::new(published, config.cache_bytes, metrics.clone()),
                flights: Flights::default(),
                log: FunctionLog::new(config.print_log, metrics.clone()),
                metrics,
                commits: AtomicU64::new(0),
                publish_lock,
                stopped: std::sync::atomic::AtomicBool::new(false),
                log_unreadable: std::sync::atomic::AtomicBool::new(false),
                scheduler_wake: tokio::sync::Notify::new(),
                files: crate::storage::Files::default(),
            }),
        };
        if let Some(every) = config.foreign_commit_poll {
            crate::foreign::spawn_watch(&engine.inner, every)?;
        }
        if config.scheduler {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(engine.clone().run_scheduler());
                }
                Err(_) => tracing::warn!("no async runtime: scheduled functions will not run"),
            }
        }
        Ok(engine)
    }

    /// Runs the queued writes and stops the committer. Blocks; later mutations fail.
    pub fn shutdown(&self) {
        self.inner.stopped.store(true, Ordering::Relaxed);
        self.inner.committer.shutdown();
        // Close the store now rather than when the last handle drops: a background task that
        // has not yet noticed the stop must not keep the database files open.
        self.inner.persistence.close();
    }

    /// The timestamp of the latest commit.
    pub fn latest_ts(&self) -> Timestamp {
        self.inner.persistence.latest_ts()
    }

    /// This handle's id in the commit log (see `Persistence::origin`).
    pub(crate) fn persistence_origin(&self) -> u64 {
        self.inner.persistence.origin()
    }

    /// The clock the engine stamps commits with.
    pub(crate) fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// Every registered function: path, kind and visibility, in path order.
    pub fn functions(&self) -> Vec<(String, FunctionKind, Visibility)> {
        self.inner
            .app
            .functions
            .iter()
            .filter(|(path, _)| !crate::operator::is_system_path(path.as_str()))
            .map(|(path, r)| (path.as_str().to_owned(), r.spec.kind, r.spec.visibility))
            .collect()
    }

    /// The declared (non-search) index of `table` whose first field is `field`, if any: a
    /// filter on that field can read an index range instead of scanning the table.
    pub fn index_on(&self, table: &str, field: &str) -> Option<String> {
        let table = ferrovex_store::TableName::parse(table)?;
        self.inner
            .app
            .schema
            .indexes_of(&table)
            .into_iter()
            .find(|i| i.search.is_none() && i.fields.first().map(String::as_str) == Some(field))
            .map(|i| i.name)
    }

    /// The app's own tables (system tables, whose names start with `_`, are left out), sorted.
    pub fn user_tables(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .app
            .schema
            .tables()
            .map(|t| t.as_str().to_owned())
            .filter(|t| !t.starts_with('_'))
            .collect();
        names.sort();
        names
    }

    /// The application.
    pub(crate) fn app(&self) -> &App {
        &self.inner.app
    }

    /// Whether [`Engine::shutdown`] was called.
    pub(crate) fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Relaxed)
    }

    /// Notified when a commit scheduled jobs.
    pub(crate) fn scheduler_wake(&self) -> &tokio::sync::Notify {
        &self.inner.scheduler_wake
    }

    /// Runs a due scheduled mutation in one transaction with its job row's change to
    /// `success` (and a cron's next tick), after checking the row is still pending.
    pub(crate) async fn run_scheduled_mutation(
        &self,
        path: &FunctionPath,
        args: Value,
        hook: crate::scheduler::JobHook,
        transport: Transport,
    ) -> Outcome {
        let started = Instant::now();
        let canonical_args = canonical_string(&args);
        let Some(Function::Mutation(f)) = self.lookup(path, Transport::Internal) else {
            return Outcome::failed(not_found(path), started);
        };
        let outcome = self
            .run_mutation(
                path,
                f,
                args,
                MutationExtra {
                    dedup: None,
                    hook: Some(hook),
                },
                None,
                started,
            )
            .await;
        let skipped = matches!(&outcome.result, Err(f) if crate::scheduler::is_not_pending(f));
        if !skipped {
            self.record(
                FunctionKind::Mutation,
                path,
                &canonical_args,
                transport,
                &outcome,
            );
        }
        outcome
    }

    /// The kind of the function at `path`, if registered.
    pub fn kind_of(&self, path: &FunctionPath) -> Option<FunctionKind> {
        self.inner.app.functions.get(path).map(|f| f.body.kind())
    }

    /// Runs the function at `path` as an internal call; it must be of `kind`.
    pub async fn run(&self, kind: FunctionKind, path: &FunctionPath, args: Value) -> Outcome {
        self.call(Some(kind), path, args, Transport::Internal).await
    }

    /// Runs the function at `path` as an internal call, whatever its kind.
    pub async fn run_any(&self, path: &FunctionPath, args: Value) -> Outcome {
        self.call(None, path, args, Transport::Internal).await
    }

    /// Runs the function at `path` (which must be of `kind` when given) and records the
    /// execution in the function log. Queries go through the shared result cache.
    pub async fn call(
        &self,
        kind: Option<FunctionKind>,
        path: &FunctionPath,
        args: Value,
        transport: Transport,
    ) -> Outcome {
        self.call_as(kind, path, args, transport, None).await
    }

    /// The function at `path` as a caller over `transport` may see it: internal functions
    /// exist only for internal calls.
    fn lookup(&self, path: &FunctionPath, transport: Transport) -> Option<Function> {
        let registered = self.inner.app.functions.get(path)?;
        match (registered.spec.visibility, transport) {
            (Visibility::Internal, Transport::HttpApi | Transport::WebSocket) => None,
            _ => Some(registered.body.clone()),
        }
    }

    /// Whether the function at `path` is internal (callers over HTTP or the socket are told it
    /// does not exist).
    pub fn is_internal(&self, path: &FunctionPath) -> bool {
        self.inner
            .app
            .functions
            .get(path)
            .is_some_and(|r| r.spec.visibility == Visibility::Internal)
    }

    /// [`Engine::call`] on behalf of an authenticated caller.
    pub async fn call_as(
        &self,
        kind: Option<FunctionKind>,
        path: &FunctionPath,
        args: Value,
        transport: Transport,
        identity: Option<Arc<Identity>>,
    ) -> Outcome {
        let started = Instant::now();
        let canonical_args = canonical_string(&args);
        let function = self.lookup(path, transport);
        let actual = function.as_ref().map(Function::kind);
        let outcome = match (function, kind) {
            (None, _) => Outcome::failed(not_found_for(path, transport), started),
            (Some(_), Some(kind)) if Some(kind) != actual => Outcome::failed(
                FunctionFailure::Message(format!(
                    "Trying to execute {path} as {}, but it is defined as {}.",
                    kind.name(),
                    actual.map_or("nothing", FunctionKind::name)
                )),
                started,
            ),
            (Some(Function::Query(f)), _) => {
                self.query(path, f, args, &canonical_args, identity, started)
                    .await
            }
            (Some(Function::Mutation(f)), _) => {
                self.run_mutation(path, f, args, MutationExtra::default(), identity, started)
                    .await
            }
            (Some(Function::Action(f)), _) => {
                self.run_action(path, f, args, identity, started).await
            }
        };
        self.record(
            kind.or(actual).unwrap_or(FunctionKind::Query),
            path,
            &canonical_args,
            transport,
            &outcome,
        );
        outcome
    }

    /// Runs a mutation sent by a sync client at most once per `(session, request_id)`: a
    /// re-sent mutation gets the recorded outcome (stored in the mutation's own transaction).
    pub async fn call_mutation_once(
        &self,
        session: &str,
        request_id: u32,
        path: &FunctionPath,
        args: Value,
        transport: Transport,
        identity: Option<Arc<Identity>>,
    ) -> Outcome {
        let started = Instant::now();
        let canonical_args = canonical_string(&args);
        let outcome = match self.lookup(path, transport) {
            Some(Function::Mutation(f)) if session.len() <= MAX_SESSION_ID_LEN => {
                let dedup = Some((session.to_owned(), request_id));
                self.run_mutation(
                    path,
                    f,
                    args,
                    MutationExtra { dedup, hook: None },
                    identity,
                    started,
                )
                .await
            }
            Some(Function::Mutation(f)) => {
                self.run_mutation(path, f, args, MutationExtra::default(), identity, started)
                    .await
            }
            _ => {
                return self
                    .call_as(
                        Some(FunctionKind::Mutation),
                        path,
                        args,
                        transport,
                        identity,
                    )
                    .await;
            }
        };
        if outcome.cached {
            self.inner
                .metrics
                .mutations_deduplicated
                .fetch_add(1, Ordering::Relaxed);
        }
        self.record(
            FunctionKind::Mutation,
            path,
            &canonical_args,
            transport,
            &outcome,
        );
        outcome
    }

    /// Adds an execution to the function log (and its stdout line).
    pub(crate) fn record_execution(&self, execution: Execution) {
        self.inner.log.record(execution);
    }

    fn record(
        &self,
        kind: FunctionKind,
        path: &FunctionPath,
        canonical_args: &str,
        transport: Transport,
        outcome: &Outcome,
    ) {
        self.inner.log.record(Execution {
            seq: 0,
            time_ms: 0,
            kind,
            path: path.to_string(),
            args_hash: self.inner.log.args_hash(canonical_args),
            transport,
            error: outcome
                .result
                .as_ref()
                .err()
                .map(|f| f.message().to_owned()),
            cached: outcome.cached,
            duration: if outcome.cached {
                Duration::ZERO
            } else {
                outcome.duration
            },
            log_lines: outcome.log_lines.clone(),
        });
    }

    /// Runs Ferrovex's own read-only code (auth) against one snapshot, with access to system
    /// tables. Not logged as a function execution.
    pub async fn system_read<R, F>(&self, f: F) -> Result<R, EngineError>
    where
        R: Send + 'static,
        F: FnOnce(&mut DatabaseReader<'_>) -> Result<R, EngineError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut txn = inner.persistence.begin_read()?;
            let mut state = TxnState::new(inner.schema.clone());
            state.system = true;
            let mut db = DatabaseReader {
                txn: txn.as_mut(),
                state: &mut state,
            };
            f(&mut db)
        })
        .await
        .map_err(|e| {
            EngineError::Store(ferrovex_store::StoreError::Backend(format!(
                "system read failed: {e}"
            )))
        })?
    }

    /// Runs Ferrovex's own read-write code (auth) in one transaction on the committer, with
    /// access to system tables; committed when `f` returns `Ok`.
    pub async fn system_write<R, F>(&self, f: F) -> Result<R, EngineError>
    where
        R: Send + 'static,
        F: FnOnce(&mut DatabaseWriter<'_>) -> Result<R, EngineError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel::<Result<R, EngineError>>();
        let inner = self.inner.clone();
        let job: crate::committer::Job = Box::new(move |txn| {
            let txn = match txn {
                Ok(txn) => txn,
                Err(e) => {
                    return JobEnd::rollback(move || {
                        let _ = reply_tx.send(Err(e.into()));
                    });
                }
            };
            let mut state = TxnState::new(inner.schema.clone());
            state.system = true;
            let mut writes = WriteSet::default();
            let result = catch_unwind(AssertUnwindSafe(|| {
                let mut db = DatabaseWriter {
                    txn,
                    state: &mut state,
                    writes: &mut writes,
                    written: 0,
                    ids: &inner.ids,
                    clock: inner.clock.as_ref(),
                };
                f(&mut db)
            }))
            .unwrap_or_else(|_| {
                Err(EngineError::BadDatabaseCall(
                    "system write panicked".to_owned(),
                ))
            });
            match result {
                Ok(value) => {
                    let writes = Arc::new(writes);
                    JobEnd {
                        commit: true,
                        writes: Some(writes.clone()),
                        finish: Box::new(move |committed| {
                            let reply = match committed {
                                Ok(Some(committed)) => {
                                    crate::foreign::publish_local(&inner, committed, writes);
                                    inner.metrics.commits.fetch_add(1, Ordering::Relaxed);
                                    Ok(value)
                                }
                                Ok(None) => Err(EngineError::ShuttingDown),
                                Err(e) => Err(e.into()),
                            };
                            let _ = reply_tx.send(reply);
                        }),
                    }
                }
                Err(e) => JobEnd::rollback(move || {
                    let _ = reply_tx.send(Err(e));
                }),
            }
        });
        self.inner.committer.submit(job).await?;
        reply_rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// The function log.
    pub fn function_log(&self) -> &FunctionLog {
        &self.inner.log
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Estimated bytes and entries in the query cache.
    pub fn cache_usage(&self) -> (usize, usize) {
        self.inner.invalidation.cache_usage()
    }

    /// The latest commit whose effects on caches and subscriptions have been applied.
    pub fn published_ts(&self) -> Timestamp {
        self.inner.invalidation.published()
    }

    /// Waits (at most `within`) until commits up to `ts` are published here, reading other
    /// processes' commits from the log meanwhile. For a client that moves from another
    /// instance having seen `ts` there. Returns whether it caught up.
    pub async fn catch_up_to(&self, ts: Timestamp, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.published_ts() >= ts {
                return true;
            }
            let inner = self.inner.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let _published = inner.publish_lock.lock();
                crate::foreign::catch_up_locked(&inner, None);
            })
            .await;
            if self.published_ts() >= ts {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Watches a subscribed query's read set (computed at `snapshot`); the session handle is
    /// marked dirty for `query_id` when a commit touches it (at once, if one already did).
    pub fn watch(
        &self,
        session: &Arc<SessionHandle>,
        query_id: u32,
        reads: Arc<ReadSet>,
        snapshot: Timestamp,
    ) -> WatcherId {
        self.inner
            .invalidation
            .watch(session, query_id, reads, snapshot)
    }

    /// Stops watching.
    pub fn unwatch(&self, id: WatcherId) {
        self.inner.invalidation.unwatch(id);
    }

    /// The published timestamp and the session's pending invalidations, read atomically.
    pub fn pending(
        &self,
        session: &SessionHandle,
    ) -> (Timestamp, std::collections::BTreeMap<u32, Timestamp>) {
        self.inner.invalidation.pending(session)
    }

    async fn query(
        &self,
        path: &FunctionPath,
        f: Arc<crate::registry::QueryFn>,
        args: Value,
        canonical_args: &str,
        identity: Option<Arc<Identity>>,
        started: Instant,
    ) -> Outcome {
        let metrics = &self.inner.metrics;
        // Results that did not read the identity are shared by every caller; the others are
        // kept per identity, claims included ("" is the anonymous caller).
        let shared_key = CacheKey {
            path: path.clone(),
            args: canonical_args.to_owned(),
            identity: None,
        };
        let caller_key = CacheKey {
            identity: Some(
                identity
                    .as_ref()
                    .map_or_else(String::new, |i| i.cache_key().to_owned()),
            ),
            ..shared_key.clone()
        };
        if let Some(hit) = self.inner.invalidation.cache_get(&shared_key) {
            metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Outcome::from_cache(hit, false, started);
        }
        if let Some(hit) = self.inner.invalidation.cache_get(&caller_key) {
            metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Outcome::from_cache(hit, true, started);
        }
        let guard = match self.inner.flights.begin(&caller_key) {
            Flight::Lead(guard) => guard,
            Flight::Join(rx) => {
                if let Ok(mut shared) = rx.await {
                    metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
                    shared.cached = true;
                    shared.duration = started.elapsed();
                    return shared;
                }
                // The leader gave up (failed or cancelled): run it here, uncached.
                metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
                return self.run_query(path, f, args, identity, started).await;
            }
        };
        metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
        let outcome = self.run_query(path, f, args, identity, started).await;
        let key = if outcome.identity_read {
            caller_key
        } else {
            shared_key
        };
        let cached = match (&outcome.result, &outcome.reads, outcome.ts) {
            (Ok(value), Some(reads), Some(ts)) => self.inner.invalidation.cache_insert(
                key,
                CachedResult {
                    value: value.clone(),
                    log_lines: outcome.log_lines.clone(),
                    reads: reads.clone(),
                    ts,
                },
            ),
            _ => false,
        };
        guard.finish(cached.then_some(&outcome));
        outcome
    }

    async fn run_query(
        &self,
        path: &FunctionPath,
        f: Arc<crate::registry::QueryFn>,
        args: Value,
        identity: Option<Arc<Identity>>,
        started: Instant,
    ) -> Outcome {
        let Ok(_permit) = self.inner.query_permits.acquire().await else {
            return Outcome::failed(to_failure(path, EngineError::ShuttingDown.into()), started);
        };
        let inner = self.inner.clone();
        let task_path = path.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut txn = match inner.persistence.begin_read() {
                Ok(t) => t,
                Err(e) => return Outcome::failed(to_failure(&task_path, e.into()), started),
            };
            let ts = txn.ts();
            let mut state = TxnState::new(inner.schema.clone());
            state.identity = identity;
            let mut logs = LogLines::default();
            let result = catch_unwind(AssertUnwindSafe(|| {
                let mut ctx = QueryCtx {
                    db: DatabaseReader {
                        txn: txn.as_mut(),
                        state: &mut state,
                    },
                    logs: &mut logs,
                    files: &inner.files,
                };
                f(&mut ctx, args)
            }))
            .unwrap_or_else(|p| {
                Err(FnError::internal(format!(
                    "query panicked: {}",
                    panic_message(&*p)
                )))
            });
            Outcome {
                result: result.map_err(|e| to_failure(&task_path, e)),
                log_lines: logs.into_lines(),
                ts: Some(ts),
                identity_read: state.identity_read,
                reads: Some(Arc::new(state.reads)),
                writes: None,
                duration: started.elapsed(),
                cached: false,
            }
        })
        .await;
        joined.unwrap_or_else(|e| {
            Outcome::failed(
                to_failure(path, FnError::internal(format!("query task failed: {e}"))),
                started,
            )
        })
    }

    async fn run_mutation(
        &self,
        path: &FunctionPath,
        f: Arc<crate::registry::MutationFn>,
        args: Value,
        extra: MutationExtra,
        identity: Option<Arc<Identity>>,
        started: Instant,
    ) -> Outcome {
        let MutationExtra { dedup, hook } = extra;
        let (reply_tx, reply_rx) = oneshot::channel::<Outcome>();
        let inner = self.inner.clone();
        let job_path = path.clone();
        let job: crate::committer::Job = Box::new(move |txn| {
            let reply = move |outcome: Outcome| {
                let _ = reply_tx.send(outcome);
            };
            let txn = match txn {
                Ok(txn) => txn,
                Err(e) => {
                    let outcome = Outcome::failed(to_failure(&job_path, e.into()), started);
                    return JobEnd::rollback(move || reply(outcome));
                }
            };
            if let Some((session, request)) = &dedup {
                match txn.find_mutation_outcome(session, *request) {
                    Ok(Some(stored)) => {
                        let outcome = decode_stored(&stored, started)
                            .unwrap_or_else(|e| Outcome::failed(to_failure(&job_path, e), started));
                        return JobEnd::rollback(move || reply(outcome));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let outcome = Outcome::failed(to_failure(&job_path, e.into()), started);
                        return JobEnd::rollback(move || reply(outcome));
                    }
                }
            }
            let mut state = TxnState::new(inner.schema.clone());
            state.identity = identity;
            let mut writes = WriteSet::default();
            let mut logs = LogLines::default();
            // A scheduled run: the job must still be pending (exactly once).
            let mut system_state = TxnState::new(inner.schema.clone());
            system_state.system = true;
            if let Some(hook) = &hook {
                let mut db = DatabaseWriter {
                    txn: &mut *txn,
                    state: &mut system_state,
                    writes: &mut writes,
                    written: 0,
                    ids: &inner.ids,
                    clock: inner.clock.as_ref(),
                };
                match hook.claim(&mut db) {
                    Ok(true) => {}
                    Ok(false) => {
                        let outcome = Outcome::failed(
                            FunctionFailure::Message(crate::scheduler::NOT_PENDING.to_owned()),
                            started,
                        );
                        return JobEnd::rollback(move || reply(outcome));
                    }
                    Err(e) => {
                        let outcome = Outcome::failed(to_failure(&job_path, e.into()), started);
                        return JobEnd::rollback(move || reply(outcome));
                    }
                }
            }
            let result = catch_unwind(AssertUnwindSafe(|| {
                let mut ctx = MutationCtx {
                    db: DatabaseWriter {
                        txn: &mut *txn,
                        state: &mut state,
                        writes: &mut writes,
                        written: 0,
                        ids: &inner.ids,
                        clock: inner.clock.as_ref(),
                    },
                    logs: &mut logs,
                    app: &inner.app,
                    files: &inner.files,
                };
                f(&mut ctx, args)
            }))
            .unwrap_or_else(|p| {
                Err(FnError::internal(format!(
                    "mutation panicked: {}",
                    panic_message(&*p)
                )))
            });
            let log_lines = logs.into_lines();
            let value = match result {
                Ok(value) => value,
                Err(e) => {
                    let failure = to_failure(&job_path, e);
                    return JobEnd::rollback(move || {
                        reply(Outcome {
                            log_lines,
                            ..Outcome::failed(failure, started)
                        })
                    });
                }
            };
            // Bookkeeping in the same transaction: the outcome for deduplication, and now and
            // then the removal of outcomes too old to be re-sent.
            let ts = txn.ts();
            let bookkeeping = (|| -> Result<(), EngineError> {
                if let Some(hook) = &hook {
                    let mut db = DatabaseWriter {
                        txn: &mut *txn,
                        state: &mut system_state,
                        writes: &mut writes,
                        written: 0,
                        ids: &inner.ids,
                        clock: inner.clock.as_ref(),
                    };
                    hook.succeed(&mut db)?;
                }
                if let Some((session, request)) = &dedup {
                    let body = serde_json::json!({
                        "value": value.to_convex_json(),
                        "logLines": log_lines,
                    });
                    txn.record_mutation_outcome(
                        session,
                        *request,
                        &StoredOutcome {
                            ts,
                            body: body.to_string(),
                        },
                    )?;
                }
                if inner.commits.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
                    let retention =
                        u64::try_from(MUTATION_OUTCOME_RETENTION.as_nanos()).unwrap_or(u64::MAX);
                    let cutoff = Timestamp::from_nanos(ts.as_nanos().saturating_sub(retention));
                    txn.prune_mutation_outcomes(cutoff)?;
                    let retention =
                        u64::try_from(COMMIT_LOG_RETENTION.as_nanos()).unwrap_or(u64::MAX);
                    let cutoff = Timestamp::from_nanos(ts.as_nanos().saturating_sub(retention));
                    txn.prune_commit_log(cutoff)?;
                }
                Ok(())
            })();
            if let Err(e) = bookkeeping {
                let outcome = Outcome::failed(to_failure(&job_path, e.into()), started);
                return JobEnd::rollback(move || reply(outcome));
            }
            let writes = Arc::new(writes);
            JobEnd {
                commit: true,
                writes: Some(writes.clone()),
                finish: Box::new(move |committed| {
                    let outcome = match committed {
                        Ok(Some(committed)) => {
                            let ts = committed.ts;
                            // Caches and subscriptions learn of the commit before anyone
                            // learns that the mutation succeeded.
                            crate::foreign::publish_local(&inner, committed, writes.clone());
                            inner.metrics.commits.fetch_add(1, Ordering::Relaxed);
                            if state.scheduled > 0 {
                                inner.scheduler_wake.notify_one();
                            }
                            Outcome {
                                result: Ok(value),
                                log_lines,
                                ts: Some(ts),
                                identity_read: state.identity_read,
                                reads: Some(Arc::new(state.reads)),
                                writes: Some(writes),
                                duration: started.elapsed(),
                                cached: false,
                            }
                        }
                        Ok(None) => Outcome::failed(
                            to_failure(&job_path, FnError::internal("commit skipped")),
                            started,
                        ),
                        Err(e) => Outcome::failed(to_failure(&job_path, e.into()), started),
                    };
                    reply(outcome);
                }),
            }
        });
        if let Err(e) = self.inner.committer.submit(job).await {
            return Outcome::failed(to_failure(path, e.into()), started);
        }
        reply_rx.await.unwrap_or_else(|_| {
            Outcome::failed(
                to_failure(path, FnError::internal("the committer dropped a mutation")),
                started,
            )
        })
    }

    async fn run_action(
        &self,
        path: &FunctionPath,
        f: Arc<crate::registry::ActionFn>,
        args: Value,
        identity: Option<Arc<Identity>>,
        started: Instant,
    ) -> Outcome {
        let logs = Arc::new(Mutex::new(LogLines::default()));
        let ctx = ActionCtx {
            engine: self.clone(),
            logs: logs.clone(),
            identity,
            scheduled: std::sync::atomic::AtomicUsize::new(0),
        };
        let result = AssertUnwindSafe(f(ctx, args))
            .catch_unwind()
            .await
            .unwrap_or_else(|p| {
                Err(FnError::internal(format!(
                    "action panicked: {}",
                    panic_message(&*p)
                )))
            });
        let log_lines = std::mem::take(&mut *logs.lock()).into_lines();
        Outcome {
            result: result.map_err(|e| to_failure(path, e)),
            log_lines,
            ts: None,
            reads: None,
            writes: None,
            duration: started.elapsed(),
            cached: false,
            identity_read: false,
        }
    }
}
