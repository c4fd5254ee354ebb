//! Named int64 counters: `counter:get` and `counter:increment`.

use ferrovex::prelude::*;

const DEFAULT_NAME: &str = "default";

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields)]
struct GetArgs {
    name: Option<String>,
}

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields)]
struct IncrementArgs {
    name: Option<String>,
    by: Option<i64>,
}

#[derive(Serialize, Type)]
struct Counter {
    name: String,
    value: i64,
}

fn stored_value(doc: &Document) -> i64 {
    doc.fields.get("value").and_then(Value::as_i64).unwrap_or(0)
}

fn get(ctx: &mut QueryCtx, args: GetArgs) -> FnResult<Counter> {
    let name = args.name.unwrap_or_else(|| DEFAULT_NAME.to_owned());
    let doc = ctx
        .db
        .query("counters")?
        .with_index("by_name", |q| q.eq("name", name.as_str()))?
        .unique()?;
    let value = doc.as_ref().map_or(0, stored_value);
    Ok(Counter { name, value })
}

fn increment(ctx: &mut MutationCtx, args: IncrementArgs) -> FnResult<i64> {
    let name = args.name.unwrap_or_else(|| DEFAULT_NAME.to_owned());
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ConvexError::new(Value::object([("code", "INVALID_NAME")])).into());
    }
    let by = args.by.unwrap_or(1);
    let existing = ctx
        .db
        .query("counters")?
        .with_index("by_name", |q| q.eq("name", name.as_str()))?
        .unique()?;
    let current = existing.as_ref().map_or(0, stored_value);
    let value = current
        .checked_add(by)
        .ok_or_else(|| ConvexError::new(Value::object([("code", "OVERFLOW")])))?;
    match existing {
        Some(doc) => ctx.db.patch(&doc.id, &Value::object([("value", value)]))?,
        None => {
            ctx.db.insert("counters", &Counter { name, value })?;
        }
    }
    Ok(value)
}

/// Registers the counter functions.
pub fn register(app: App) -> App {
    app.query("counter:get", get)
        .mutation("counter:increment", increment)
}
