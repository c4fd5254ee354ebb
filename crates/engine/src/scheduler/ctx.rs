//! `ctx.scheduler()`: [`MutationScheduler`] writes jobs in the mutation's transaction;
//! [`ActionScheduler`] commits each call on its own, with the same per-call limit.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ferrovex_store::DocumentId;

use super::{MAX_SCHEDULED_PER_MUTATION, cancel, schedule};
use crate::db::DatabaseWriter;
use crate::engine::Engine;
use crate::error::{EngineError, FnError, FnResult};
use crate::registry::App;

/// `ctx.scheduler()` in a mutation: jobs are written in the mutation's transaction.
pub struct MutationScheduler<'c, 'a> {
    pub(crate) db: &'c mut DatabaseWriter<'a>,
    pub(crate) app: &'c App,
}

impl MutationScheduler<'_, '_> {
    /// Runs `path` (a mutation or action, internal or public) `delay` after this mutation
    /// commits; the job's id.
    pub fn run_after(
        &mut self,
        delay: Duration,
        path: &str,
        args: &impl serde::Serialize,
    ) -> FnResult<DocumentId> {
        let at = self.db.txn.ts().as_millis_f64() + delay.as_secs_f64() * 1e3;
        self.run_at_ms(at, path, args)
    }

    /// Runs `path` at `time` (a past time means as soon as possible).
    pub fn run_at(
        &mut self,
        time: std::time::SystemTime,
        path: &str,
        args: &impl serde::Serialize,
    ) -> FnResult<DocumentId> {
        let ms = time
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(0.0);
        self.run_at_ms(ms, path, args)
    }

    /// Runs `path` at `ms` milliseconds since the epoch (Convex's `runAt` with a number).
    pub fn run_at_ms(
        &mut self,
        ms: f64,
        path: &str,
        args: &impl serde::Serialize,
    ) -> FnResult<DocumentId> {
        let args = ferrovex_values::to_value(args)?;
        schedule(self.db, self.app, ms, path, args)
    }

    /// Cancels a pending job; a job already run, failed or canceled is left as it is.
    pub fn cancel(&mut self, id: &DocumentId) -> FnResult<()> {
        cancel(self.db, id)
    }
}

/// `ctx.scheduler()` in an action: each call is a small transaction of its own.
pub struct ActionScheduler<'c> {
    pub(crate) engine: &'c Engine,
    /// Jobs this action (or HTTP action) scheduled so far, for the per-call limit.
    pub(crate) scheduled: &'c std::sync::atomic::AtomicUsize,
}

impl ActionScheduler<'_> {
    /// Runs `path` `delay` from now; the job's id.
    pub async fn run_after(
        &self,
        delay: Duration,
        path: &str,
        args: &impl serde::Serialize,
    ) -> FnResult<DocumentId> {
        let at = self.engine.now_ms() + delay.as_secs_f64() * 1e3;
        self.run_at_ms(at, path, args).await
    }

    /// Runs `path` at `ms` milliseconds since the epoch.
    pub async fn run_at_ms(
        &self,
        ms: f64,
        path: &str,
        args: &impl serde::Serialize,
    ) -> FnResult<DocumentId> {
        let args = ferrovex_values::to_value(args)?;
        if self.scheduled.fetch_add(1, Ordering::Relaxed) >= MAX_SCHEDULED_PER_MUTATION {
            return Err(FnError::internal(format!(
                "a function may schedule at most {MAX_SCHEDULED_PER_MUTATION} jobs"
            )));
        }
        let path = path.to_owned();
        let engine = self.engine.clone();
        let result = self
            .engine
            .system_write(move |db| {
                schedule(db, engine.app(), ms, &path, args).map_err(|e| match e {
                    FnError::Internal(e) => EngineError::BadDatabaseCall(e.to_string()),
                    other => EngineError::BadDatabaseCall(format!("{other:?}")),
                })
            })
            .await?;
        self.engine.scheduler_wake().notify_one();
        Ok(result)
    }

    /// Cancels a pending job.
    pub async fn cancel(&self, id: &DocumentId) -> FnResult<()> {
        let id = id.clone();
        self.engine
            .system_write(move |db| {
                cancel(db, &id).map_err(|e| EngineError::BadDatabaseCall(format!("{e:?}")))
            })
            .await?;
        Ok(())
    }
}
