//! The chat: `messages:list`, `messages:send` and `messages:page`.

use ferrovex::prelude::*;

/// Channel used when none is given.
pub const DEFAULT_CHANNEL: &str = "general";
/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 2000;
/// Longest author name or channel name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    channel: Option<String>,
}

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields)]
struct SendArgs {
    channel: Option<String>,
    author: String,
    body: String,
}

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PageArgs {
    channel: Option<String>,
    pagination_opts: PaginationOpts,
    /// Newest first (default: oldest first).
    newest_first: Option<bool>,
}

/// A stored chat message (the `messages` table's document type).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
#[ferrovex(table = "messages")]
pub struct Message {
    /// The channel it was sent to.
    pub channel: String,
    /// Who sent it.
    pub author: String,
    /// The text.
    pub body: String,
}

fn invalid(code: &str) -> FnError {
    ConvexError::new(Value::object([("code", code)])).into()
}

fn channel_or_default(channel: Option<String>) -> String {
    channel.unwrap_or_else(|| DEFAULT_CHANNEL.to_owned())
}

fn list(ctx: &mut QueryCtx, args: ListArgs) -> FnResult<Vec<Doc<Message>>> {
    let channel = channel_or_default(args.channel);
    let docs = ctx
        .db
        .query("messages")?
        .with_index("by_channel", |q| q.eq("channel", channel))?
        .collect()?;
    Ok(docs
        .into_iter()
        .map(Doc::try_from)
        .collect::<Result<_, _>>()?)
}

fn page(ctx: &mut QueryCtx, args: PageArgs) -> FnResult<PaginationResult> {
    let channel = channel_or_default(args.channel);
    Ok(ctx
        .db
        .query("messages")?
        .with_index("by_channel", |q| q.eq("channel", channel))?
        .order(if args.newest_first == Some(true) {
            Order::Desc
        } else {
            Order::Asc
        })
        .paginate(&args.pagination_opts)?)
}

fn send(ctx: &mut MutationCtx, args: SendArgs) -> FnResult<Id<Message>> {
    let channel = channel_or_default(args.channel);
    if !(1..=MAX_BODY_CHARS).contains(&args.body.chars().count()) {
        return Err(invalid("INVALID_BODY"));
    }
    if !(1..=MAX_NAME_CHARS).contains(&args.author.chars().count()) {
        return Err(invalid("INVALID_AUTHOR"));
    }
    if !(1..=MAX_NAME_CHARS).contains(&channel.chars().count()) {
        return Err(invalid("INVALID_CHANNEL"));
    }
    let id = ctx.db.insert(
        "messages",
        &Message {
            channel,
            author: args.author,
            body: args.body,
        },
    )?;
    Ok(Id::new(id))
}

/// Registers the chat functions.
pub fn register(app: App) -> App {
    app.query("messages:list", list)
        .query("messages:page", page)
        .mutation("messages:send", send)
}
