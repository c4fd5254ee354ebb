//! `demo:echo` (returns any value unchanged) and `demo:failAfterWrite` (writes, then fails, to
//! show that a failed mutation leaves no trace).

use ferrovex::prelude::*;

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields)]
struct EchoArgs {
    value: Value,
}

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields)]
struct FailArgs {
    channel: Option<String>,
}

async fn echo(ctx: ActionCtx, args: EchoArgs) -> FnResult<Value> {
    ctx.log(format!("echo {}", args.value.type_name()));
    Ok(args.value)
}

fn fail_after_write(ctx: &mut MutationCtx, args: FailArgs) -> FnResult<()> {
    let channel = args.channel.unwrap_or_else(|| "general".to_owned());
    ctx.db.insert(
        "messages",
        &Value::object([
            ("channel", Value::from(channel)),
            ("author", Value::from("system")),
            ("body", Value::from("this write is rolled back")),
        ]),
    )?;
    ctx.log("wrote a message, now failing");
    Err(ConvexError::new(Value::object([("code", "DELIBERATE_FAILURE")])).into())
}

/// Registers the demo functions.
pub fn register(app: App) -> App {
    app.action("demo:echo", echo)
        .mutation("demo:failAfterWrite", fail_after_write)
}
