//! The engine: runs registered functions against the store and reports each outcome.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrovex_store::{Clock, IdGenerator, Persistence, Schema, Timestamp};
use ferrovex_values::Value;
use futures_util::FutureExt;
use parking_lot::Mutex;
use tokio::sync::{Semaphore, oneshot};

use crate::committer::{Committer, JobEnd};
use crate::context::{ActionCtx, LogLines, MutationCtx, QueryCtx};
use crate::db::{DatabaseReader, DatabaseWriter, TxnState};
use crate::error::{EngineError, FnError, FunctionFailure};
use crate::path::FunctionPath;
use crate::readset::{ReadSet, WriteSet};
use crate::registry::{App, Function};

/// Most queries running at once on the blocking pool; more wait for a permit.
pub const MAX_CONCURRENT_QUERIES: usize = 64;

/// The three kinds of functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    /// Read-only, reactive.
    Query,
    /// Transactional write.
    Mutation,
    /// Arbitrary async code.
    Action,
}

impl FunctionKind {
    /// `Query`, `Mutation` or `Action`, as in Convex's error messages.
    pub fn name(self) -> &'static str {
        match self {
            FunctionKind::Query => "Query",
            FunctionKind::Mutation => "Mutation",
            FunctionKind::Action => "Action",
        }
    }
}

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
    pub reads: Option<ReadSet>,
    /// What a committed mutation wrote.
    pub writes: Option<Arc<WriteSet>>,
    /// Wall time of the execution.
    pub duration: Duration,
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
        }
    }
}

struct Inner {
    persistence: Arc<dyn Persistence>,
    schema: Arc<Schema>,
    app: App,
    committer: Committer,
    clock: Arc<dyn Clock>,
    ids: IdGenerator,
    query_permits: Semaphore,
}

/// A running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
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

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// Converts a function error into what the client sees; internals go to the server log only.
fn to_failure(path: &FunctionPath, error: FnError) -> FunctionFailure {
    match error {
        FnError::Convex(e) => FunctionFailure::convex(e.data),
        FnError::InvalidArgs(message) => FunctionFailure::Message(message),
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
        persistence.open_indexes(&app.schema.all_indexes())?;
        let committer = Committer::start(persistence.clone())?;
        Ok(Engine {
            inner: Arc::new(Inner {
                persistence,
                schema: Arc::new(app.schema.clone()),
                app,
                committer,
                clock,
                ids: IdGenerator::default(),
                query_permits: Semaphore::new(MAX_CONCURRENT_QUERIES),
            }),
        })
    }

    /// Runs the queued writes and stops the committer. Blocks; later mutations fail.
    pub fn shutdown(&self) {
        self.inner.committer.shutdown();
    }

    /// The timestamp of the latest commit.
    pub fn latest_ts(&self) -> Timestamp {
        self.inner.persistence.latest_ts()
    }

    /// The kind of the function at `path`, if registered.
    pub fn kind_of(&self, path: &FunctionPath) -> Option<FunctionKind> {
        self.inner.app.functions.get(path).map(|f| match f {
            Function::Query(_) => FunctionKind::Query,
            Function::Mutation(_) => FunctionKind::Mutation,
            Function::Action(_) => FunctionKind::Action,
        })
    }

    /// Runs the function at `path`, which must be of `kind`.
    pub async fn run(&self, kind: FunctionKind, path: &FunctionPath, args: Value) -> Outcome {
        let started = Instant::now();
        match self.kind_of(path) {
            None => Outcome::failed(
                FunctionFailure::Message(format!("Could not find public function for '{path}'")),
                started,
            ),
            Some(actual) if actual != kind => Outcome::failed(
                FunctionFailure::Message(format!(
                    "Trying to execute {path} as {}, but it is defined as {}.",
                    kind.name(),
                    actual.name()
                )),
                started,
            ),
            Some(_) => self.run_any(path, args).await,
        }
    }

    /// Runs the function at `path` whatever its kind.
    pub async fn run_any(&self, path: &FunctionPath, args: Value) -> Outcome {
        let started = Instant::now();
        match self.inner.app.functions.get(path).cloned() {
            None => Outcome::failed(
                FunctionFailure::Message(format!("Could not find public function for '{path}'")),
                started,
            ),
            Some(Function::Query(f)) => self.run_query(path, f, args, started).await,
            Some(Function::Mutation(f)) => self.run_mutation(path, f, args, started).await,
            Some(Function::Action(f)) => self.run_action(path, f, args, started).await,
        }
    }

    async fn run_query(
        &self,
        path: &FunctionPath,
        f: Arc<crate::registry::QueryFn>,
        args: Value,
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
            let mut logs = LogLines::default();
            let result = catch_unwind(AssertUnwindSafe(|| {
                let mut ctx = QueryCtx {
                    db: DatabaseReader {
                        txn: txn.as_mut(),
                        state: &mut state,
                    },
                    logs: &mut logs,
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
                reads: Some(state.reads),
                writes: None,
                duration: started.elapsed(),
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
        started: Instant,
    ) -> Outcome {
        let (reply_tx, reply_rx) = oneshot::channel::<Outcome>();
        let inner = self.inner.clone();
        let job_path = path.clone();
        let job: crate::committer::Job = Box::new(move |txn| {
            let txn = match txn {
                Ok(txn) => txn,
                Err(e) => {
                    let outcome = Outcome::failed(to_failure(&job_path, e.into()), started);
                    return JobEnd {
                        commit: false,
                        finish: Box::new(move |_| {
                            let _ = reply_tx.send(outcome);
                        }),
                    };
                }
            };
            let mut state = TxnState::new(inner.schema.clone());
            let mut writes = WriteSet::default();
            let mut logs = LogLines::default();
            let result = catch_unwind(AssertUnwindSafe(|| {
                let mut ctx = MutationCtx {
                    db: DatabaseWriter {
                        txn,
                        state: &mut state,
                        writes: &mut writes,
                        written: 0,
                        ids: &inner.ids,
                        clock: inner.clock.as_ref(),
                    },
                    logs: &mut logs,
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
            match result {
                Ok(value) => JobEnd {
                    commit: true,
                    finish: Box::new(move |committed| {
                        let outcome = match committed {
                            Ok(ts) => Outcome {
                                result: Ok(value),
                                log_lines,
                                ts,
                                reads: Some(state.reads),
                                writes: Some(Arc::new(writes)),
                                duration: started.elapsed(),
                            },
                            Err(e) => Outcome::failed(to_failure(&job_path, e.into()), started),
                        };
                        let _ = reply_tx.send(outcome);
                    }),
                },
                Err(e) => {
                    let failure = to_failure(&job_path, e);
                    JobEnd {
                        commit: false,
                        finish: Box::new(move |_| {
                            let _ = reply_tx.send(Outcome {
                                log_lines,
                                ..Outcome::failed(failure, started)
                            });
                        }),
                    }
                }
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
        started: Instant,
    ) -> Outcome {
        let logs = Arc::new(Mutex::new(LogLines::default()));
        let ctx = ActionCtx {
            engine: self.clone(),
            logs: logs.clone(),
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
        }
    }
}
