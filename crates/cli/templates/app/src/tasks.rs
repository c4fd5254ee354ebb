//! Tasks: a query, a mutation, an action and an internal query.

use ferrovex::prelude::*;

/// The list used when none is given.
pub const DEFAULT_LIST: &str = "inbox";

/// A stored task (the `tasks` table's document type).
#[derive(Clone, Debug, Serialize, Deserialize, Type)]
#[ferrovex(table = "tasks")]
pub struct Task {
    /// Which list it is on.
    pub list: String,
    /// What to do.
    pub text: String,
    /// Whether it is done.
    pub done: bool,
}

#[derive(Deserialize, Type)]
struct ListArgs {
    list: Option<String>,
}

#[derive(Deserialize, Type)]
struct AddArgs {
    text: String,
    list: Option<String>,
}

#[derive(Deserialize, Type)]
struct SetDoneArgs {
    id: Id<Task>,
    done: bool,
}

#[derive(Serialize, Type)]
#[serde(rename_all = "camelCase")]
struct Summary {
    list: String,
    open_count: i64,
}

fn list(ctx: &mut QueryCtx, args: ListArgs) -> FnResult<Vec<Doc<Task>>> {
    let list = args.list.unwrap_or_else(|| DEFAULT_LIST.to_owned());
    let docs = ctx
        .db
        .query("tasks")?
        .with_index("by_list", |q| q.eq("list", list))?
        .collect()?;
    Ok(docs.into_iter().map(Doc::try_from).collect::<Result<_, _>>()?)
}

fn add(ctx: &mut MutationCtx, args: AddArgs) -> FnResult<Id<Task>> {
    let text = args.text.trim();
    if text.is_empty() {
        return Err(ConvexError::new("a task needs some text").into());
    }
    let task = Task {
        list: args.list.unwrap_or_else(|| DEFAULT_LIST.to_owned()),
        text: text.to_owned(),
        done: false,
    };
    Ok(Id::new(ctx.db.insert("tasks", &task)?))
}

fn set_done(ctx: &mut MutationCtx, args: SetDoneArgs) -> FnResult<()> {
    // `get_doc` checks that the id is a task's (ids do not say which table they belong to).
    if ctx.db.get_doc(&args.id)?.is_none() {
        return Err(ConvexError::new("no such task").into());
    }
    ctx.db.patch(&args.id, &Value::object([("done", args.done)]))?;
    Ok(())
}

/// Internal: clients cannot call it, other functions can.
fn open_count(ctx: &mut QueryCtx, args: ListArgs) -> FnResult<i64> {
    let tasks = list(ctx, args)?;
    Ok(tasks.iter().filter(|t| !t.done).count() as i64)
}

async fn summary(ctx: ActionCtx, args: ListArgs) -> FnResult<Summary> {
    let list = args.list.unwrap_or_else(|| DEFAULT_LIST.to_owned());
    let open_count: i64 = ctx
        .run_query("tasks:openCount", &Value::object([("list", list.as_str())]))
        .await?;
    Ok(Summary { list, open_count })
}

/// Registers the task functions.
pub fn register(app: App) -> App {
    app.query("tasks:list", list)
        .mutation("tasks:add", add)
        .mutation("tasks:setDone", set_done)
        .internal_query("tasks:openCount", open_count)
        .action("tasks:summary", summary)
}
