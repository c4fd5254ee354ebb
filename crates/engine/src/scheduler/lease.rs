//! Leases on running scheduled actions, so that several processes on one database tell an
//! action another process is running from one whose process died.
//!
//! Claiming an action writes, in the claim's own transaction, a row of [`LEASES_TABLE`]
//! (`job`, `runner`, `expires`). The claiming process renews its leases every
//! [`LEASE_RENEW`]. Any process fails an `inProgress` job whose lease expired (or that has
//! none: claimed by a version without leases) with Convex's transient error, and never re-runs
//! it, so an action still runs at most once. A process that starts leaves alone the actions
//! that live processes are running; those of a killed process are failed within
//! [`LEASE`] + [`LEASE_RENEW`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferrovex_store::{DocumentId, Schema, TableDef, TableName};
use ferrovex_values::Value;
use parking_lot::Mutex;

use super::{BY_STATE_TIME, IN_PROGRESS, INTERRUPTED_ACTION, Job, SCHEDULED_TABLE, state_kind};
use crate::db::DatabaseWriter;
use crate::engine::Engine;
use crate::error::EngineError;

/// The system table of leases on running actions.
pub const LEASES_TABLE: &str = "_scheduler_leases";
/// How long a lease lasts without renewal: a running action's process that has not renewed
/// it for this long is taken for dead.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often a process renews its leases and looks for expired ones.
pub const LEASE_RENEW: Duration = Duration::from_secs(2);
const BY_JOB: &str = "by_job";

/// The table, for the scheduler's system schema.
pub(crate) fn add_table(schema: Schema) -> Schema {
    schema.table(LEASES_TABLE, TableDef::default().index(BY_JOB, ["job"]))
}

/// The leases this process holds: job → its lease row.
#[derive(Debug, Default)]
pub(crate) struct Held(Mutex<HashMap<DocumentId, DocumentId>>);

impl Held {
    pub(crate) fn insert(&self, job: DocumentId, lease: DocumentId) {
        self.0.lock().insert(job, lease);
    }

    pub(crate) fn remove(&self, job: &DocumentId) {
        self.0.lock().remove(job);
    }

    fn snapshot(&self) -> Vec<(DocumentId, DocumentId)> {
        self.0
            .lock()
            .iter()
            .map(|(j, l)| (j.clone(), l.clone()))
            .collect()
    }
}

fn lease_row(job: &DocumentId, runner: &str, expires_ms: f64) -> Value {
    Value::object([
        ("job", Value::from(job.to_string())),
        ("runner", Value::from(runner)),
        ("expires", Value::Float64(expires_ms)),
    ])
}

fn expires_ms(now_ms: f64) -> f64 {
    now_ms + LEASE.as_secs_f64() * 1e3
}

/// Takes the lease of `job` for `runner`, in the claim's transaction.
pub(crate) fn take(
    db: &mut DatabaseWriter<'_>,
    job: &DocumentId,
    runner: &str,
) -> Result<DocumentId, EngineError> {
    let now = db.txn.ts().as_millis_f64();
    db.insert_into(
        TableName::system(LEASES_TABLE),
        lease_row(job, runner, expires_ms(now)),
    )
}

/// Deletes the lease rows of `job` (when it ends, whoever ends it).
pub(crate) fn release(db: &mut DatabaseWriter<'_>, job: &DocumentId) -> Result<(), EngineError> {
    let key = job.to_string();
    let rows = db
        .query(LEASES_TABLE)?
        .with_index(BY_JOB, |q| q.eq("job", key.as_str()))?
        .take(16)?;
    for row in rows {
        db.raw_delete(&row.id)?;
    }
    Ok(())
}

/// Whether `job` is running under a lease that has not expired at `now_ms`.
fn is_leased(
    db: &mut DatabaseWriter<'_>,
    job: &DocumentId,
    now_ms: f64,
) -> Result<bool, EngineError> {
    let key = job.to_string();
    let rows = db
        .query(LEASES_TABLE)?
        .with_index(BY_JOB, |q| q.eq("job", key.as_str()))?
        .take(16)?;
    Ok(rows
        .iter()
        .any(|row| matches!(row.fields.get("expires"), Some(Value::Float64(t)) if *t >= now_ms)))
}

impl Engine {
    /// This process's name on its leases: its commit-log origin, unique per open.
    pub(crate) fn runner_name(&self) -> String {
        format!("{:016x}", self.persistence_origin())
    }

    /// Renews every lease this process holds. A lease found gone means another process
    /// failed the job (this one was not renewing in time); the action's end is then ignored.
    async fn renew_leases(&self, held: &Held) -> Result<(), EngineError> {
        let leases = held.snapshot();
        if leases.is_empty() {
            return Ok(());
        }
        let lost = self
            .system_write(move |db| {
                let until = expires_ms(db.txn.ts().as_millis_f64());
                let mut lost = Vec::new();
                for (job, lease) in leases {
                    match db.raw_get(&lease)? {
                        Some(doc) => {
                            let mut fields = doc.fields.clone();
                            fields.insert("expires".to_owned(), Value::Float64(until));
                            db.raw_replace(doc, fields)?;
                        }
                        None => lost.push(job),
                    }
                }
                Ok(lost)
            })
            .await?;
        for job in lost {
            tracing::warn!(job = %job, "a running scheduled action's lease was not renewed in time; another process marked it failed");
            held.remove(&job);
        }
        Ok(())
    }

    /// Fails the `inProgress` actions whose lease expired: their process is gone. Decided
    /// again inside the write, so a lease renewed meanwhile keeps its job.
    pub(crate) async fn fail_abandoned_actions(&self) -> Result<usize, EngineError> {
        // Candidates only (a read): jobs whose lease looks expired. Live ones cost no write.
        // The clock, not the read's snapshot: on an idle database the snapshot is as old as
        // the last commit, which may be the dead process's last renewal.
        let now = self.now_ms();
        let running = self
            .system_read(move |db| {
                let docs = db
                    .query(SCHEDULED_TABLE)?
                    .with_index(BY_STATE_TIME, |q| q.eq("state.kind", IN_PROGRESS))?
                    .take(1000)?;
                let mut candidates = Vec::new();
                for job in docs.iter().filter_map(Job::from_document) {
                    let key = job.id.to_string();
                    let leased = db
                        .query(LEASES_TABLE)?
                        .with_index(BY_JOB, |q| q.eq("job", key.as_str()))?
                        .take(16)?
                        .iter()
                        .any(|row| matches!(row.fields.get("expires"), Some(Value::Float64(t)) if *t >= now));
                    if !leased {
                        candidates.push(job);
                    }
                }
                Ok(candidates)
            })
            .await?;
        let mut failed = 0;
        for job in running {
            let id = job.id.clone();
            let next = self.next_tick(&job, self.now_ms());
            let abandoned = self
                .system_write(move |db| {
                    let now = db.txn.ts().as_millis_f64();
                    let Some(doc) = db.raw_get(&id)? else {
                        return Ok(false);
                    };
                    if state_kind(&doc) != Some(IN_PROGRESS) || is_leased(db, &id, now)? {
                        return Ok(false);
                    }
                    release(db, &id)?;
                    super::finish_row(
                        db,
                        doc,
                        super::state("failed", Some(INTERRUPTED_ACTION)),
                        now,
                    )?;
                    // A cron's tick: its next one, as when a tick ends normally.
                    if let Some(next) = next {
                        db.insert_into(TableName::system(SCHEDULED_TABLE), next)?;
                    }
                    Ok(true)
                })
                .await?;
            if abandoned {
                failed += 1;
                tracing::warn!(job = %job.id, name = %job.name, "a scheduled action's process stopped while running it; marked failed, not re-run");
                self.metrics().jobs_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(failed)
    }

    /// Until the engine stops: renews this process's leases every [`LEASE_RENEW`], and, in a
    /// loop of its own (so a slow scan never delays a renewal), fails abandoned actions.
    pub(crate) async fn run_leases(self, held: std::sync::Arc<Held>) {
        let scanner = self.clone();
        tokio::spawn(async move {
            while !scanner.is_stopped() {
                if let Err(e) = scanner.fail_abandoned_actions().await
                    && !scanner.is_stopped()
                {
                    tracing::warn!(error = %e, "cannot look for abandoned scheduled actions");
                }
                tokio::time::sleep(LEASE_RENEW).await;
            }
        });
        let mut ticker = tokio::time::interval(LEASE_RENEW);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.is_stopped() {
            ticker.tick().await;
            if let Err(e) = self.renew_leases(&held).await
                && !self.is_stopped()
            {
                tracing::warn!(error = %e, "cannot renew the leases of running scheduled actions");
            }
        }
    }
}
