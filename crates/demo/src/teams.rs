//! Teams: `teams:listMyTeams` (the caller's teams) and `teams:create` `{name}`. Both require
//! a signed-in caller; anonymous calls fail with ConvexError `{code: "UNAUTHENTICATED"}`.

use ferrovex::prelude::*;

/// Longest team name, in characters.
pub const MAX_TEAM_NAME_CHARS: usize = 64;

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields)]
struct CreateArgs {
    name: String,
}

/// The error anonymous callers get from functions that need a signed-in user.
pub(crate) fn unauthenticated() -> FnError {
    ConvexError::new(Value::object([("code", "UNAUTHENTICATED")])).into()
}

fn list_my_teams(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Vec<Document>> {
    let user = ctx
        .auth()
        .user_identity()
        .ok_or_else(unauthenticated)?
        .token_identifier
        .clone();
    Ok(ctx
        .db
        .query("teams")?
        .with_index("by_owner", |q| q.eq("owner", user))?
        .collect()?)
}

fn create(ctx: &mut MutationCtx, args: CreateArgs) -> FnResult<DocumentId> {
    let user = ctx
        .auth()
        .user_identity()
        .ok_or_else(unauthenticated)?
        .token_identifier
        .clone();
    let name = args.name.trim();
    if name.is_empty() || name.chars().count() > MAX_TEAM_NAME_CHARS {
        return Err(ConvexError::new(Value::object([("code", "INVALID_NAME")])).into());
    }
    Ok(ctx.db.insert(
        "teams",
        &Value::object([("name", Value::from(name)), ("owner", Value::from(user))]),
    )?)
}

/// Registers the team functions.
pub fn register(app: App) -> App {
    app.query("teams:listMyTeams", list_my_teams)
        .mutation("teams:create", create)
}
