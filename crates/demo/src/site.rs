//! Functions behind the demo web app's pages: settings (`config:getSettings`,
//! `config:setSettings`), posts (`posts:search`, `posts:create`), the caller's session
//! (`session:get`) and a small report (`reports:get`).
//!
//! Settings and posts show on every visitor's pages, so changing them needs a signed-in user
//! (anonymous calls fail with ConvexError `{code: "UNAUTHENTICATED"}`).

use ferrovex::prelude::*;

/// Longest setting value and post field, in characters.
pub const MAX_TEXT_CHARS: usize = 280;
/// Results `posts:search` returns at most.
pub const SEARCH_RESULTS: usize = 50;
/// The posts' search index (over [`POSTS_SEARCH_FIELD`]).
pub const POSTS_SEARCH_INDEX: &str = "search_text";
/// The field a post's title and body are searched in (written by `posts:create`).
pub const POSTS_SEARCH_FIELD: &str = "text";

fn invalid(code: &str) -> FnError {
    ConvexError::new(Value::object([("code", code)])).into()
}

fn text(v: &str) -> FnResult<String> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > MAX_TEXT_CHARS {
        return Err(invalid("INVALID_TEXT"));
    }
    Ok(v.to_owned())
}

#[derive(Serialize, Type)]
struct Settings {
    theme: String,
    motd: String,
}

fn get_settings(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Settings> {
    let doc = ctx.db.query("settings")?.first()?;
    let field = |d: &Option<Document>, f: &str, default: &str| {
        d.as_ref()
            .and_then(|d| d.fields.get(f).and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| default.to_owned())
    };
    Ok(Settings {
        theme: field(&doc, "theme", "light"),
        motd: field(&doc, "motd", "Welcome to Ferrovex"),
    })
}

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields)]
struct SetSettingsArgs {
    theme: Option<String>,
    motd: Option<String>,
}

fn set_settings(ctx: &mut MutationCtx, args: SetSettingsArgs) -> FnResult<()> {
    if ctx.auth().user_identity().is_none() {
        return Err(crate::teams::unauthenticated());
    }
    let mut changes = Vec::new();
    if let Some(theme) = args.theme {
        if theme != "light" && theme != "dark" {
            return Err(invalid("INVALID_THEME"));
        }
        changes.push(("theme", Value::from(theme)));
    }
    if let Some(motd) = args.motd {
        changes.push(("motd", Value::from(text(&motd)?)));
    }
    match ctx.db.query("settings")?.first()? {
        Some(doc) => ctx.db.patch(&doc.id, &Value::object(changes))?,
        None => {
            ctx.db.insert("settings", &Value::object(changes))?;
        }
    }
    Ok(())
}

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    q: String,
}

/// Posts most relevant to `q` first (the `search_text` index over title and body: whole
/// words, and the last word also as a prefix), at most [`SEARCH_RESULTS`].
fn search(ctx: &mut QueryCtx, args: SearchArgs) -> FnResult<Vec<Document>> {
    let q = args.q.trim();
    if q.is_empty() || q.chars().count() > 100 {
        return Err(invalid("INVALID_QUERY"));
    }
    Ok(ctx
        .db
        .query("posts")?
        .with_search_index(POSTS_SEARCH_INDEX, |s| s.search(POSTS_SEARCH_FIELD, q))?
        .take(SEARCH_RESULTS)?)
}

#[derive(Deserialize, Type)]
#[serde(deny_unknown_fields)]
struct CreatePostArgs {
    title: String,
    body: String,
}

fn create_post(ctx: &mut MutationCtx, args: CreatePostArgs) -> FnResult<DocumentId> {
    if ctx.auth().user_identity().is_none() {
        return Err(crate::teams::unauthenticated());
    }
    let (title, body) = (text(&args.title)?, text(&args.body)?);
    let post = Value::object([
        (POSTS_SEARCH_FIELD, Value::from(format!("{title}\n{body}"))),
        ("title", Value::from(title)),
        ("body", Value::from(body)),
    ]);
    Ok(ctx.db.insert("posts", &post)?)
}

#[derive(Serialize, Type)]
#[serde(rename_all = "camelCase")]
struct SessionInfo {
    signed_in: bool,
    subject: Option<String>,
    session_id: Option<String>,
    expires_at: Option<u64>,
}

fn get_session(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<SessionInfo> {
    Ok(match ctx.auth().user_identity() {
        Some(i) => SessionInfo {
            signed_in: true,
            subject: Some(i.subject.clone()),
            session_id: i.claim_str("sessionId").map(str::to_owned),
            expires_at: i.expires_at,
        },
        None => SessionInfo {
            signed_in: false,
            subject: None,
            session_id: None,
            expires_at: None,
        },
    })
}

#[derive(Serialize, Type)]
struct Report {
    messages: i64,
    posts: i64,
    teams: i64,
}

fn report(ctx: &mut QueryCtx, _: NoArgs) -> FnResult<Report> {
    let mut count =
        |table: &str| -> FnResult<i64> { Ok(ctx.db.query(table)?.take(5000)?.len() as i64) };
    Ok(Report {
        messages: count("messages")?,
        posts: count("posts")?,
        teams: count("teams")?,
    })
}

/// Registers the page functions.
pub fn register(app: App) -> App {
    app.query("config:getSettings", get_settings)
        .mutation("config:setSettings", set_settings)
        .query("posts:search", search)
        .mutation("posts:create", create_post)
        .query("session:get", get_session)
        .query("reports:get", report)
}
