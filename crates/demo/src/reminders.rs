//! Scheduled functions: `reminders:schedule`, `reminders:cancel`, `reminders:list` and
//! `reminders:jobs`, plus what the scheduler tests need (`demo:scheduleSleep`, a slow
//! scheduled action, and `demo:cronTicks`, the demo cron's runs).

use std::time::Duration;

use ferrovex::prelude::*;

/// Longest reminder text, in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Longest delay a reminder may be scheduled with (a day).
pub const MAX_DELAY_MS: f64 = 86_400_000.0;

/// A fired reminder (the `reminders` table's document type).
#[derive(Clone, Debug, Serialize, Deserialize, Type)]
#[serde(rename_all = "camelCase")]
#[ferrovex(table = "reminders")]
pub struct Reminder {
    /// What it says.
    pub text: String,
    /// When `reminders:fire` ran, ms since the epoch.
    pub fired_at: f64,
}

#[derive(Deserialize, Type)]
#[serde(rename_all = "camelCase")]
struct ScheduleArgs {
    text: String,
    delay_ms: f64,
}

#[derive(Serialize, Deserialize, Type)]
struct FireArgs {
    text: String,
}

#[derive(Deserialize, Type)]
struct CancelArgs {
    id: DocumentId,
}

/// One `_scheduled_functions` row, as `reminders:jobs` shows it.
#[derive(Serialize, Type)]
#[serde(rename_all = "camelCase")]
struct JobRow {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    args: Value,
    state: Value,
    scheduled_time: f64,
    completed_time: Option<f64>,
}

#[derive(Serialize, Deserialize, Type)]
struct SleepArgs {
    ms: f64,
}

fn invalid_text() -> FnError {
    ConvexError::new(Value::object([("code", "INVALID_TEXT")])).into()
}

fn schedule(ctx: &mut MutationCtx, args: ScheduleArgs) -> FnResult<DocumentId> {
    if !(1..=MAX_TEXT_CHARS).contains(&args.text.chars().count()) {
        return Err(invalid_text());
    }
    if !(0.0..=MAX_DELAY_MS).contains(&args.delay_ms) {
        return Err(ConvexError::new(Value::object([("code", "INVALID_DELAY")])).into());
    }
    let delay = Duration::from_secs_f64(args.delay_ms / 1e3);
    ctx.scheduler()
        .run_after(delay, "reminders:fire", &FireArgs { text: args.text })
}

fn fire(ctx: &mut MutationCtx, args: FireArgs) -> FnResult<()> {
    let fired_at = ctx.now_ms();
    ctx.db.insert(
        "reminders",
        &Reminder {
            text: args.text,
            fired_at,
        },
    )?;
    Ok(())
}

/// Schedules a reminder, then fails: the job must not exist afterwards.
fn schedule_then_fail(ctx: &mut MutationCtx, args: FireArgs) -> FnResult<()> {
    ctx.scheduler()
        .run_after(Duration::ZERO, "reminders:fire", &args)?;
    Err(ConvexError::new(Value::object([("code", "DELIBERATE_FAILURE")])).into())
}

fn cancel(ctx: &mut MutationCtx, args: CancelArgs) -> FnResult<()> {
    ctx.scheduler().cancel(&args.id)
}

fn list(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Vec<Doc<Reminder>>> {
    let docs = ctx.db.query("reminders")?.collect()?;
    Ok(docs
        .into_iter()
        .map(Doc::try_from)
        .collect::<Result<_, _>>()?)
}

fn job_rows(ctx: &mut QueryCtx, name: &str, cron: Option<&str>) -> FnResult<Vec<JobRow>> {
    let docs = ctx.db.system().query("_scheduled_functions")?.collect()?;
    Ok(docs
        .into_iter()
        .filter(|d| d.fields.get("name").and_then(Value::as_str) == Some(name))
        .filter(|d| cron.is_none() || d.fields.get("cron").and_then(Value::as_str) == cron)
        .map(|d| JobRow {
            id: d.id.as_str().to_owned(),
            name: name.to_owned(),
            args: match d.fields.get("args") {
                Some(Value::Array(items)) => items.first().cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            },
            state: d.fields.get("state").cloned().unwrap_or(Value::Null),
            scheduled_time: d
                .fields
                .get("scheduledTime")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            completed_time: d.fields.get("completedTime").and_then(Value::as_f64),
        })
        .collect())
}

fn jobs(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Vec<JobRow>> {
    job_rows(ctx, "reminders:fire", None)
}

fn schedule_sleep(ctx: &mut MutationCtx, args: SleepArgs) -> FnResult<DocumentId> {
    ctx.scheduler()
        .run_after(Duration::ZERO, "demo:sleep", &args)
}

/// Sleeps, then counts itself in the counter `slept`: a re-run would count twice.
async fn sleep(ctx: ActionCtx, args: SleepArgs) -> FnResult<()> {
    tokio_sleep(args.ms).await;
    let _: i64 = ctx
        .run_mutation("counter:increment", &Value::object([("name", "slept")]))
        .await?;
    Ok(())
}

async fn tokio_sleep(ms: f64) {
    ferrovex::sleep(Duration::from_secs_f64(ms.clamp(0.0, 60_000.0) / 1e3)).await;
}

fn sleep_jobs(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Vec<JobRow>> {
    job_rows(ctx, "demo:sleep", None)
}

fn cron_ticks(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Vec<JobRow>> {
    job_rows(ctx, "counter:increment", Some(crate::DEMO_CRON))
}

/// Registers the reminder functions.
pub fn register(app: App) -> App {
    app.mutation("reminders:schedule", schedule)
        .internal_mutation("reminders:fire", fire)
        .mutation("reminders:cancel", cancel)
        .mutation("reminders:scheduleThenFail", schedule_then_fail)
        .query("reminders:list", list)
        .query("reminders:jobs", jobs)
        .mutation("demo:scheduleSleep", schedule_sleep)
        .internal_action("demo:sleep", sleep)
        .query("demo:sleepJobs", sleep_jobs)
        .query("demo:cronTicks", cron_ticks)
}
