//! `auth:getCurrentUser`: the signed-in user, from the verified token's identity.

use ferrovex::prelude::*;

#[derive(Serialize, Type)]
#[serde(rename_all = "camelCase")]
struct CurrentUser {
    id: String,
    name: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    token_identifier: String,
}

fn get_current_user(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Option<CurrentUser>> {
    Ok(ctx.auth().user_identity().map(|i| CurrentUser {
        id: i.subject.clone(),
        name: i.claim_str("name").map(str::to_owned),
        email: i.claim_str("email").map(str::to_owned),
        email_verified: i.claims.get("emailVerified").and_then(Value::as_bool),
        token_identifier: i.token_identifier.clone(),
    }))
}

/// Registers the auth functions.
pub fn register(app: App) -> App {
    app.query("auth:getCurrentUser", get_current_user)
}
