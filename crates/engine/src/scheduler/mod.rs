//! Scheduled functions and crons, with Convex's guarantees.
//!
//! Jobs are rows of the `_scheduled_functions` system table (`name`, `args`, `scheduledTime`,
//! `completedTime`, `state: {kind}`), written in the scheduling mutation's own transaction, so
//! a mutation that fails schedules nothing. The timers live only there: the scheduler loop reads
//! the due rows in time order, after a restart too.
//!
//! - A scheduled **mutation** runs in one transaction with the change of its row to `success`,
//!   after re-checking the row is still `pending`: it runs exactly once, whatever crashes.
//! - A scheduled **action** is first marked `inProgress` in a commit of its own, which also
//!   takes a lease on it for this process ([`lease`]), then run, then marked `success` or
//!   `failed`. An action whose process dies stays `inProgress` until its lease expires; then
//!   any process marks it failed, never re-run: at most once. Processes sharing a database
//!   leave each other's running actions alone.
//! - A **cron** is a job that, when it finishes, schedules its own next tick (in the same
//!   transaction as a mutation's run), so it never overlaps itself and runs a tick at most once.
//!   Ticks missed while the server was down are skipped, not run in a burst.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferrovex_store::{Document, DocumentId, Schema, TableDef, TableName};
use ferrovex_values::Value;

use crate::db::{DatabaseReader, DatabaseWriter};
use crate::engine::Engine;
use crate::error::{EngineError, FnError};
use crate::kind::FunctionKind;
use crate::path::FunctionPath;
use crate::registry::App;

mod ctx;
pub mod lease;
mod view;

pub use ctx::{ActionScheduler, MutationScheduler};
pub use view::JobSummary;

/// The system table of scheduled jobs.
pub const SCHEDULED_TABLE: &str = "_scheduled_functions";
/// Most jobs one mutation (or one action call) may schedule.
pub const MAX_SCHEDULED_PER_MUTATION: usize = 1000;
/// Largest arguments of a scheduled job (Convex JSON bytes).
pub const MAX_SCHEDULED_ARGS_BYTES: usize = 512 * 1024;
/// How far ahead a job may be scheduled (Convex's limit is also years, not forever).
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(10 * 365 * 86_400);
/// Finished cron ticks are deleted this long after they finished (a 1 s cron would otherwise
/// keep 600,000 rows for the 7 days other jobs are kept).
pub const FINISHED_CRON_RETENTION: Duration = Duration::from_secs(3600);
/// Most scheduled actions running at once; more wait, due, in time order.
pub const MAX_RUNNING_ACTIONS: usize = 16;
/// Due jobs read per pass of the scheduler loop.
pub const SCHEDULER_BATCH: usize = 64;
/// Longest sleep of an idle scheduler: jobs scheduled by another process on the same database
/// are seen within this time.
pub const SCHEDULER_POLL: Duration = Duration::from_secs(1);
/// Finished rows (`success`, `failed`, `canceled`) are deleted this long after they finished,
/// as Convex does.
pub const FINISHED_RETENTION: Duration = Duration::from_secs(7 * 86_400);
/// The error of an action that was running when the server stopped (Convex's wording).
pub const INTERRUPTED_ACTION: &str = "Transient error while executing action";

pub(crate) const PENDING: &str = "pending";
pub(crate) const IN_PROGRESS: &str = "inProgress";
pub(crate) const BY_STATE_TIME: &str = "by_state_time";
const BY_CRON: &str = "by_cron";

/// The scheduler's system table.
pub fn system_schema() -> Schema {
    lease::add_table(
        Schema::new().table(
            SCHEDULED_TABLE,
            TableDef::default()
                .index(BY_STATE_TIME, ["state.kind", "scheduledTime"])
                .index(BY_CRON, ["cron", "state.kind"]),
        ),
    )
}

/// When a cron runs.
#[derive(Clone, Debug)]
pub enum CronSchedule {
    /// Every `Duration`, from the first start.
    Interval(Duration),
    /// A cron expression, in UTC (5 fields `min hour dom month dow`, or 6 with seconds first).
    Expression(Box<cron::Schedule>),
}

impl CronSchedule {
    /// Parses a cron expression; 5-field Unix expressions get a `0` seconds field.
    pub fn parse(expression: &str) -> Result<CronSchedule, String> {
        let fields = expression.split_whitespace().count();
        let full = if fields == 5 {
            format!("0 {expression}")
        } else {
            expression.to_owned()
        };
        full.parse::<cron::Schedule>()
            .map(|s| CronSchedule::Expression(Box::new(s)))
            .map_err(|e| format!("invalid cron expression {expression:?}: {e}"))
    }

    /// The first tick strictly after `after_ms`, anchored at `anchor_ms` for intervals.
    fn next_after(&self, anchor_ms: f64, after_ms: f64) -> Option<f64> {
        match self {
            CronSchedule::Interval(every) => {
                let every = every.as_secs_f64() * 1e3;
                if every <= 0.0 {
                    return None;
                }
                let k = ((after_ms - anchor_ms) / every).floor() + 1.0;
                Some(anchor_ms + k.max(1.0) * every)
            }
            CronSchedule::Expression(schedule) => {
                let secs = (after_ms / 1e3).floor() as i64;
                let after = chrono::DateTime::from_timestamp(secs, 0)?;
                schedule
                    .after(&after)
                    .next()
                    .map(|t| t.timestamp_millis() as f64)
            }
        }
    }
}

/// A cron registered on the [`App`].
#[derive(Clone, Debug)]
pub struct CronSpec {
    /// Unique name.
    pub name: String,
    /// When it runs.
    pub schedule: CronSchedule,
    /// The function (mutation or action, internal or public).
    pub path: FunctionPath,
    /// Its arguments.
    pub args: Value,
}

/// A job row as the scheduler reads it.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub(crate) id: DocumentId,
    pub(crate) name: String,
    pub(crate) args: Value,
    pub(crate) scheduled_ms: f64,
    pub(crate) cron: Option<String>,
}

impl Job {
    pub(crate) fn from_document(doc: &Document) -> Option<Job> {
        let args = match doc.fields.get("args") {
            Some(Value::Array(items)) => items.first().cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        Some(Job {
            id: doc.id.clone(),
            name: doc.fields.get("name")?.as_str()?.to_owned(),
            args,
            scheduled_ms: match doc.fields.get("scheduledTime")? {
                Value::Float64(t) => *t,
                _ => return None,
            },
            cron: doc
                .fields
                .get("cron")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

pub(crate) fn state_kind(doc: &Document) -> Option<&str> {
    match doc.fields.get("state") {
        Some(Value::Object(state)) => state.get("kind").and_then(Value::as_str),
        _ => None,
    }
}

pub(crate) fn state(kind: &str, error: Option<&str>) -> Value {
    let mut map = BTreeMap::new();
    map.insert("kind".to_owned(), Value::from(kind));
    if let Some(error) = error {
        map.insert("error".to_owned(), Value::from(error));
    }
    Value::Object(map)
}

/// The row of a new pending job.
fn job_row(path: &FunctionPath, args: Value, at_ms: f64, cron: Option<&str>) -> Value {
    let mut row = BTreeMap::new();
    row.insert("name".to_owned(), Value::from(path.as_str()));
    row.insert("args".to_owned(), Value::Array(vec![args]));
    row.insert("scheduledTime".to_owned(), Value::Float64(at_ms));
    row.insert("state".to_owned(), state(PENDING, None));
    if let Some(cron) = cron {
        row.insert("cron".to_owned(), Value::from(cron));
    }
    Value::Object(row)
}

/// Checks a job against the app and the limits, then writes it in `db`'s transaction.
pub(crate) fn schedule(
    db: &mut DatabaseWriter<'_>,
    app: &App,
    at_ms: f64,
    path: &str,
    args: Value,
) -> Result<DocumentId, FnError> {
    let path = FunctionPath::parse(path)?;
    match app.functions.get(&path).map(|f| f.spec.kind) {
        Some(FunctionKind::Mutation | FunctionKind::Action) => {}
        Some(FunctionKind::Query) => {
            return Err(FnError::internal(format!(
                "cannot schedule {path}: only mutations and actions can be scheduled"
            )));
        }
        None => {
            return Err(FnError::internal(format!(
                "cannot schedule {path}: no such function"
            )));
        }
    }
    if !matches!(args, Value::Object(_)) {
        return Err(FnError::internal(format!(
            "cannot schedule {path}: arguments must be an object"
        )));
    }
    let size = args.to_convex_json().to_string().len();
    if size > MAX_SCHEDULED_ARGS_BYTES {
        return Err(FnError::internal(format!(
            "cannot schedule {path}: arguments are {size} bytes, the limit is {MAX_SCHEDULED_ARGS_BYTES}"
        )));
    }
    let now = db.txn.ts().as_millis_f64();
    if !at_ms.is_finite() || at_ms > now + MAX_SCHEDULE_AHEAD.as_secs_f64() * 1e3 {
        return Err(FnError::internal(format!(
            "cannot schedule {path}: the time must be a finite number at most {} days ahead",
            MAX_SCHEDULE_AHEAD.as_secs() / 86_400
        )));
    }
    // A time in the past means "as soon as possible".
    let at_ms = at_ms.max(0.0);
    db.state.scheduled += 1;
    if db.state.scheduled > MAX_SCHEDULED_PER_MUTATION {
        return Err(FnError::internal(format!(
            "a function may schedule at most {MAX_SCHEDULED_PER_MUTATION} jobs"
        )));
    }
    Ok(db.insert_into(
        TableName::system(SCHEDULED_TABLE),
        job_row(&path, args, at_ms, None),
    )?)
}

/// Cancels a pending job (a job that already ran, failed or was canceled is left alone).
pub(crate) fn cancel(db: &mut DatabaseWriter<'_>, id: &DocumentId) -> Result<(), FnError> {
    let Some(doc) = db.raw_get(id)? else {
        return Ok(());
    };
    if doc.table.as_str() != SCHEDULED_TABLE {
        return Err(FnError::internal(format!("{id} is not a scheduled job")));
    }
    if doc.fields.contains_key("cron") {
        return Err(FnError::internal(format!(
            "{id} is a cron tick: remove the cron from the app instead of canceling a tick"
        )));
    }
    if state_kind(&doc) == Some(PENDING) {
        let completed = db.txn.ts().as_millis_f64();
        finish_row(db, doc, state("canceled", None), completed)?;
    }
    Ok(())
}

pub(crate) fn finish_row(
    db: &mut DatabaseWriter<'_>,
    doc: Document,
    new_state: Value,
    completed_ms: f64,
) -> Result<(), EngineError> {
    let mut fields = doc.fields.clone();
    fields.insert("state".to_owned(), new_state);
    fields.insert("completedTime".to_owned(), Value::Float64(completed_ms));
    db.raw_replace(doc, fields)
}

/// What a scheduled mutation's transaction does besides the function: mark its row, and for a
/// cron write the next tick.
#[derive(Clone, Debug)]
pub(crate) struct JobHook {
    pub(crate) job: DocumentId,
    pub(crate) next: Option<Value>,
}

/// The failure a scheduled mutation reports when its row was no longer pending (another
/// process ran or canceled it first).
pub(crate) const NOT_PENDING: &str = "the scheduled job is no longer pending";

/// Whether `failure` is the scheduler's own "no longer pending" (not a function's error: a
/// `ConvexError` with the same text carries data).
pub(crate) fn is_not_pending(failure: &crate::error::FunctionFailure) -> bool {
    failure.data().is_none() && failure.message() == NOT_PENDING
}

impl JobHook {
    /// Before the function runs: is the job still pending?
    pub(crate) fn claim(&self, db: &mut DatabaseWriter<'_>) -> Result<bool, EngineError> {
        Ok(db
            .raw_get(&self.job)?
            .is_some_and(|doc| state_kind(&doc) == Some(PENDING)))
    }

    /// After it succeeded, in the same transaction.
    pub(crate) fn succeed(&self, db: &mut DatabaseWriter<'_>) -> Result<(), EngineError> {
        if let Some(doc) = db.raw_get(&self.job)? {
            let completed = db.txn.ts().as_millis_f64();
            finish_row(db, doc, state("success", None), completed)?;
        }
        if let Some(next) = &self.next {
            db.insert_into(TableName::system(SCHEDULED_TABLE), next.clone())?;
        }
        Ok(())
    }
}

/// The recovery checks run in a read (to decide) and again in the write (to act, serialized
/// with other processes): this is what they need of either.
trait ScheduledRows {
    fn scheduled(&mut self) -> Result<crate::db::Query<'_>, EngineError>;
}

impl ScheduledRows for DatabaseReader<'_> {
    fn scheduled(&mut self) -> Result<crate::db::Query<'_>, EngineError> {
        self.query(SCHEDULED_TABLE)
    }
}

impl ScheduledRows for DatabaseWriter<'_> {
    fn scheduled(&mut self) -> Result<crate::db::Query<'_>, EngineError> {
        self.query(SCHEDULED_TABLE)
    }
}

/// Whether the cron `name` has a pending or running tick.
fn has_open_tick(db: &mut impl ScheduledRows, name: &str) -> Result<bool, EngineError> {
    for kind in [PENDING, IN_PROGRESS] {
        let tick = db
            .scheduled()?
            .with_index(BY_CRON, |q| q.eq("cron", name).eq("state.kind", kind))?
            .first()?;
        if tick.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Pending ticks of crons no longer registered. Only cron rows are read (the index puts rows
/// without `cron` first), and finished ticks are purged after an hour, so this stays small.
fn orphan_ticks(
    db: &mut impl ScheduledRows,
    crons: &[CronSpec],
) -> Result<Vec<Document>, EngineError> {
    let ticks = db
        .scheduled()?
        .with_index(BY_CRON, |q| q.gt("cron", ""))?
        .take(10_000)?;
    Ok(ticks
        .into_iter()
        .filter(|doc| {
            state_kind(doc) == Some(PENDING)
                && doc
                    .fields
                    .get("cron")
                    .and_then(Value::as_str)
                    .is_some_and(|c| !crons.iter().any(|spec| spec.name == c))
        })
        .collect())
}

/// Due pending jobs, oldest first.
fn due_jobs(
    db: &mut DatabaseReader<'_>,
    now_ms: f64,
    limit: usize,
) -> Result<Vec<Job>, EngineError> {
    let docs = db
        .query(SCHEDULED_TABLE)?
        .with_index(BY_STATE_TIME, |q| {
            q.eq("state.kind", PENDING).lte("scheduledTime", now_ms)
        })?
        .take(limit)?;
    Ok(docs.iter().filter_map(Job::from_document).collect())
}

/// When the next pending job is due.
fn next_due(db: &mut DatabaseReader<'_>) -> Result<Option<f64>, EngineError> {
    let doc = db
        .query(SCHEDULED_TABLE)?
        .with_index(BY_STATE_TIME, |q| q.eq("state.kind", PENDING))?
        .first()?;
    Ok(doc
        .as_ref()
        .and_then(Job::from_document)
        .map(|j| j.scheduled_ms))
}

impl Engine {
    pub(crate) fn now_ms(&self) -> f64 {
        self.clock().now().as_millis_f64()
    }

    /// The next tick's row for a cron job that finishes at `now_ms`.
    pub(crate) fn next_tick(&self, job: &Job, now_ms: f64) -> Option<Value> {
        let name = job.cron.as_deref()?;
        let spec = self.app().crons.iter().find(|c| c.name == name)?;
        let at = spec.schedule.next_after(job.scheduled_ms, now_ms)?;
        Some(job_row(&spec.path, spec.args.clone(), at, Some(name)))
    }

    /// Marks a job finished (unless it already is) and writes a cron's next tick, retrying a
    /// failed commit a few times: a lost end would leave a cron without its next tick.
    async fn finish_job(&self, job: &Job, kind: &'static str, error: Option<String>) {
        for attempt in 0..5u32 {
            let next = self.next_tick(job, self.now_ms());
            let id = job.id.clone();
            let error = error.clone();
            let result = self
                .system_write(move |db| {
                    lease::release(db, &id)?;
                    if let Some(doc) = db.raw_get(&id)?
                        && matches!(state_kind(&doc), Some(PENDING | IN_PROGRESS))
                    {
                        let completed = db.txn.ts().as_millis_f64();
                        finish_row(db, doc, state(kind, error.as_deref()), completed)?;
                        if let Some(next) = next {
                            db.insert_into(TableName::system(SCHEDULED_TABLE), next)?;
                        }
                    }
                    Ok(())
                })
                .await;
            match result {
                Ok(()) => return,
                Err(e) if self.is_stopped() => {
                    tracing::warn!(job = %job.id, error = %e, "stopping before a scheduled job's end was recorded");
                    return;
                }
                Err(e) => {
                    tracing::warn!(job = %job.id, attempt, error = %e, "cannot record a scheduled job's end; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
    }

    /// Runs one due job; `true` when it is an action left for later because
    /// [`MAX_RUNNING_ACTIONS`] are running.
    async fn run_job(
        &self,
        job: Job,
        actions: &Arc<tokio::sync::Semaphore>,
        held: &Arc<lease::Held>,
    ) -> bool {
        let lag_ms = (self.now_ms() - job.scheduled_ms).max(0.0);
        self.metrics()
            .scheduler_lag
            .observe(Duration::try_from_secs_f64(lag_ms / 1e3).unwrap_or(Duration::MAX));
        let transport = if job.cron.is_some() {
            crate::log::Transport::Cron
        } else {
            crate::log::Transport::Scheduler
        };
        let path = match FunctionPath::parse(&job.name) {
            Ok(p) => p,
            Err(e) => {
                self.finish_job(&job, "failed", Some(e.to_string())).await;
                return false;
            }
        };
        match self.kind_of(&path) {
            Some(FunctionKind::Mutation) => {
                let hook = JobHook {
                    job: job.id.clone(),
                    next: self.next_tick(&job, self.now_ms()),
                };
                let outcome = self
                    .run_scheduled_mutation(&path, job.args.clone(), hook, transport)
                    .await;
                match outcome.result {
                    Ok(_) => {
                        self.metrics()
                            .jobs_succeeded
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    Err(failure) if is_not_pending(&failure) => {}
                    // Stopping mid-run: nothing committed; the job stays pending for the next start.
                    Err(_) if self.is_stopped() => {}
                    Err(failure) => {
                        self.metrics().jobs_failed.fetch_add(1, Ordering::Relaxed);
                        self.finish_job(&job, "failed", Some(failure.message().to_owned()))
                            .await;
                    }
                }
            }
            Some(FunctionKind::Action) => {
                // Never wait for a permit here: a batch waiting on long actions would hold up
                // every due mutation and cron behind it.
                let Ok(permit) = actions.clone().try_acquire_owned() else {
                    return true;
                };
                let id = job.id.clone();
                let runner = self.runner_name();
                let claimed = self
                    .system_write(move |db| match db.raw_get(&id)? {
                        Some(doc) if state_kind(&doc) == Some(PENDING) => {
                            let mut fields = doc.fields.clone();
                            fields.insert("state".to_owned(), state(IN_PROGRESS, None));
                            db.raw_replace(doc, fields)?;
                            lease::take(db, &id, &runner).map(Some)
                        }
                        _ => Ok(None),
                    })
                    .await;
                let Ok(Some(lease)) = claimed else {
                    return false;
                };
                held.insert(job.id.clone(), lease);
                let held = held.clone();
                let engine = self.clone();
                tokio::spawn(async move {
                    let outcome = engine
                        .call_as(
                            Some(FunctionKind::Action),
                            &path,
                            job.args.clone(),
                            transport,
                            None,
                        )
                        .await;
                    let (kind, error) = match outcome.result {
                        Ok(_) => {
                            engine
                                .metrics()
                                .jobs_succeeded
                                .fetch_add(1, Ordering::Relaxed);
                            ("success", None)
                        }
                        Err(failure) => {
                            engine.metrics().jobs_failed.fetch_add(1, Ordering::Relaxed);
                            ("failed", Some(failure.message().to_owned()))
                        }
                    };
                    engine.finish_job(&job, kind, error).await;
                    held.remove(&job.id);
                    drop(permit);
                });
            }
            _ => {
                self.metrics().jobs_failed.fetch_add(1, Ordering::Relaxed);
                self.finish_job(
                    &job,
                    "failed",
                    Some(format!("Could not find function for '{}'", job.name)),
                )
                .await;
            }
        }
        false
    }

    /// At start: every registered cron gets a pending tick; ticks of crons no longer
    /// registered are canceled. (Actions left running by a dead process are failed by
    /// [`Engine::run_leases`] once their lease expires.)
    async fn recover_jobs(&self) -> Result<(), EngineError> {
        // In one transaction (serialized with other processes on the same database): each
        // registered cron without an open tick gets one; pending ticks of crons that are no
        // longer registered are canceled. A read first, so a start with nothing to fix
        // commits nothing.
        let crons = self.app().crons.clone();
        let check = crons.clone();
        let needed = self
            .system_read(move |db| {
                for spec in &check {
                    if !has_open_tick(db, &spec.name)? {
                        return Ok(true);
                    }
                }
                Ok(!orphan_ticks(db, &check)?.is_empty())
            })
            .await?;
        if !needed {
            return Ok(());
        }
        let now = self.now_ms();
        self.system_write(move |db| {
            for spec in &crons {
                if !has_open_tick(db, &spec.name)?
                    && let Some(at) = spec.schedule.next_after(now, now)
                {
                    db.insert_into(
                        TableName::system(SCHEDULED_TABLE),
                        job_row(&spec.path, spec.args.clone(), at, Some(&spec.name)),
                    )?;
                }
            }
            for doc in orphan_ticks(db, &crons)? {
                let completed = db.txn.ts().as_millis_f64();
                finish_row(db, doc, state("canceled", None), completed)?;
            }
            Ok(())
        })
        .await
    }

    /// Deletes finished rows older than [`FINISHED_RETENTION`], a batch at a time.
    async fn purge_finished(&self) -> Result<usize, EngineError> {
        let now = self.now_ms();
        let cutoff = now - FINISHED_RETENTION.as_secs_f64() * 1e3;
        let cron_cutoff = now - FINISHED_CRON_RETENTION.as_secs_f64() * 1e3;
        let crons: Vec<String> = self.app().crons.iter().map(|c| c.name.clone()).collect();
        let mut total = 0;
        // Batches until one comes back short (bounded per pass, so the loop stays responsive).
        for _ in 0..20 {
            let crons = crons.clone();
            let old: Vec<DocumentId> = self
                .system_read(move |db| {
                    let expired = |doc: &Document, limit: f64| {
                        matches!(doc.fields.get("completedTime"),
                            Some(Value::Float64(t)) if *t < limit)
                    };
                    let mut old = Vec::new();
                    for kind in ["success", "failed", "canceled"] {
                        // Other jobs, by due time (cron ticks have their own pass below).
                        let docs = db
                            .query(SCHEDULED_TABLE)?
                            .with_index(BY_STATE_TIME, |q| q.eq("state.kind", kind))?
                            .take(1000)?;
                        old.extend(
                            docs.into_iter()
                                .filter(|d| !d.fields.contains_key("cron") && expired(d, cutoff))
                                .map(|d| d.id),
                        );
                        // Each cron's finished ticks, oldest first.
                        for cron in &crons {
                            let docs = db
                                .query(SCHEDULED_TABLE)?
                                .with_index(BY_CRON, |q| {
                                    q.eq("cron", cron.as_str()).eq("state.kind", kind)
                                })?
                                .take(1000)?;
                            old.extend(
                                docs.into_iter()
                                    .filter(|d| expired(d, cron_cutoff))
                                    .map(|d| d.id),
                            );
                        }
                    }
                    Ok(old)
                })
                .await?;
            if old.is_empty() {
                break;
            }
            let n = old.len();
            total += n;
            self.system_write(move |db| {
                for id in &old {
                    db.raw_delete(id)?;
                }
                Ok(())
            })
            .await?;
            if n < 1000 {
                break;
            }
        }
        Ok(total)
    }

    /// The scheduler loop: runs due jobs in time order until the engine stops.
    pub(crate) async fn run_scheduler(self) {
        if let Err(e) = self.recover_jobs().await {
            tracing::error!(error = %e, "the scheduler cannot recover its jobs");
        }
        let actions = Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING_ACTIONS));
        let held = Arc::new(lease::Held::default());
        tokio::spawn(self.clone().run_leases(held.clone()));
        let mut last_purge: Option<std::time::Instant> = None;
        while !self.is_stopped() {
            // Retention, hourly, whatever the load.
            if last_purge.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                last_purge = Some(std::time::Instant::now());
                if let Err(e) = self.purge_finished().await {
                    tracing::warn!(error = %e, "cannot purge finished scheduled jobs");
                }
            }
            let now = self.now_ms();
            let due = match self
                .system_read(move |db| due_jobs(db, now, SCHEDULER_BATCH))
                .await
            {
                Ok(due) => due,
                Err(e) => {
                    if !self.is_stopped() {
                        tracing::warn!(error = %e, "the scheduler cannot read its jobs");
                    }
                    tokio::time::sleep(SCHEDULER_POLL).await;
                    continue;
                }
            };
            let full = due.len() == SCHEDULER_BATCH;
            // All of a batch at once: each job's first step is a committer job, submitted in
            // the batch's (time) order when the futures are first polled, so they still
            // commit in time order while the committer never waits for the next one.
            let deferred = futures_util::future::join_all(
                due.into_iter()
                    .map(|job| self.run_job(job, &actions, &held)),
            )
            .await
            .into_iter()
            .any(|d| d);
            if deferred {
                // Due actions wait for a running one to finish (or a poll interval).
                let _ = tokio::time::timeout(SCHEDULER_POLL, actions.clone().acquire_owned()).await;
                continue;
            }
            if full {
                continue;
            }
            let next = self.system_read(next_due).await.ok().flatten();
            let wait = match next {
                Some(at) => Duration::try_from_secs_f64(((at - self.now_ms()) / 1e3).max(0.0))
                    .unwrap_or(SCHEDULER_POLL),
                None => SCHEDULER_POLL,
            }
            .min(SCHEDULER_POLL);
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.scheduler_wake().notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_expressions_give_the_next_tick() {
        let every = CronSchedule::Interval(Duration::from_secs(1));
        assert_eq!(every.next_after(1_000.0, 1_000.0), Some(2_000.0));
        // Ticks missed while stopped are skipped: the next one is after now.
        assert_eq!(every.next_after(1_000.0, 5_500.0), Some(6_000.0));
        let daily = CronSchedule::parse("30 4 * * *").unwrap();
        // 1970-01-01T00:00:00Z → 04:30 the same day.
        assert_eq!(daily.next_after(0.0, 0.0), Some(4.5 * 3600.0 * 1e3));
        assert!(CronSchedule::parse("61 * * * *").is_err());
    }
}
