//! What the dashboard shows of the scheduler: [`JobSummary`] rows by state, and cancelling a
//! pending job from its button.

use ferrovex_store::{Document, DocumentId};
use ferrovex_values::Value;

use super::{
    BY_STATE_TIME, IN_PROGRESS, Job, PENDING, SCHEDULED_TABLE, finish_row, state, state_kind,
};
use crate::engine::Engine;
use crate::error::EngineError;

/// One row of the jobs view: which state, and its fields.
#[derive(Clone, Debug)]
pub struct JobSummary {
    /// `_id`.
    pub id: DocumentId,
    /// The function.
    pub name: String,
    /// `pending`, `inProgress`, `success`, `failed` or `canceled`.
    pub state: String,
    /// The error of a failed job.
    pub error: Option<String>,
    /// When it is (was) due, ms since the epoch.
    pub scheduled_ms: f64,
    /// When it finished.
    pub completed_ms: Option<f64>,
    /// The cron it belongs to.
    pub cron: Option<String>,
}

impl JobSummary {
    fn from_document(doc: &Document) -> Option<JobSummary> {
        let job = Job::from_document(doc)?;
        let error = match doc.fields.get("state") {
            Some(Value::Object(s)) => s.get("error").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        Some(JobSummary {
            id: job.id,
            name: job.name,
            state: state_kind(doc)?.to_owned(),
            error,
            scheduled_ms: job.scheduled_ms,
            completed_ms: doc.fields.get("completedTime").and_then(Value::as_f64),
            cron: job.cron,
        })
    }
}

impl Engine {
    /// For the dashboard: up to `per_state` jobs of each state; pending and running ones due
    /// first, finished ones most recent first.
    pub async fn scheduled_jobs(&self, per_state: usize) -> Result<Vec<JobSummary>, EngineError> {
        self.system_read(move |db| {
            let mut out = Vec::new();
            for (kind, order) in [
                (IN_PROGRESS, ferrovex_store::Order::Asc),
                (PENDING, ferrovex_store::Order::Asc),
                ("failed", ferrovex_store::Order::Desc),
                ("success", ferrovex_store::Order::Desc),
                ("canceled", ferrovex_store::Order::Desc),
            ] {
                let docs = db
                    .query(SCHEDULED_TABLE)?
                    .with_index(BY_STATE_TIME, |q| q.eq("state.kind", kind))?
                    .order(order)
                    .take(per_state)?;
                out.extend(docs.iter().filter_map(JobSummary::from_document));
            }
            Ok(out)
        })
        .await
    }

    /// Cancels a pending job (the dashboard's button); whether it was pending.
    pub async fn cancel_job(&self, id: &DocumentId) -> Result<bool, EngineError> {
        let id = id.clone();
        self.system_write(move |db| match db.raw_get(&id)? {
            Some(doc)
                if doc.table.as_str() == SCHEDULED_TABLE
                    && state_kind(&doc) == Some(PENDING)
                    && !doc.fields.contains_key("cron") =>
            {
                let completed = db.txn.ts().as_millis_f64();
                finish_row(db, doc, state("canceled", None), completed)?;
                Ok(true)
            }
            _ => Ok(false),
        })
        .await
    }
}
