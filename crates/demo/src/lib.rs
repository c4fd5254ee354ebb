//! The demo application built into `ferrovex serve`. Tests and users rely on these function
//! names and contracts, so they stay stable:
//!
//! - `messages:list` `{channel?}`, `messages:send` `{channel?, author, body}`,
//!   `messages:page` `{channel?, paginationOpts, newestFirst?}`
//! - `counter:get` `{name?}`, `counter:increment` `{name?, by?: int64}`
//! - `demo:echo` `{value}`, `demo:failAfterWrite` `{channel?}`
//! - `auth:getCurrentUser` `{}`, `teams:listMyTeams` `{}`, `teams:create` `{name}`
//! - `config:getSettings` `{}`, `config:setSettings` `{theme?, motd?}`, `posts:search` `{q}`,
//!   `posts:create` `{title, body}`, `session:get` `{}`, `reports:get` `{}`
//! - `reminders:schedule` `{text, delayMs}` (schedules the internal `reminders:fire {text}`),
//!   `reminders:cancel` `{id}`, `reminders:list` `{}`, `reminders:jobs` `{}`
//! - `demo:scheduleSleep` `{ms}` (a scheduled action), `demo:sleepJobs` `{}`, `demo:cronTicks`
//!   `{}` (the runs of the `demo` cron, on with `--demo-cron-secs N`)
//! - `files:generateUploadUrl` `{}`, `files:save` `{storageId, name}`, `files:list` `{}`,
//!   `files:remove` `{id}` (file storage)
//! - HTTP actions on the site origin: `POST /demo/messages`, `GET /demo/messages?channel=`

mod auth;
mod counter;
mod demo;
mod files;
mod http;
mod messages;
mod reminders;
mod site;
mod teams;

use ferrovex::prelude::*;

pub use messages::Message;

/// The demo schema. Messages and posts declare their document shapes.
pub fn schema() -> Schema {
    Schema::new()
        .table(
            "messages",
            TableDef::default()
                .index("by_channel", ["channel"])
                .document(Message::validator()),
        )
        .table(
            "posts",
            TableDef::default()
                .document(v::object([
                    ("title", v::string()),
                    ("body", v::string()),
                    (site::POSTS_SEARCH_FIELD, v::optional(v::string())),
                ]))
                .search_index(
                    site::POSTS_SEARCH_INDEX,
                    site::POSTS_SEARCH_FIELD,
                    Vec::<String>::new(),
                ),
        )
        .table("counters", TableDef::default().index("by_name", ["name"]))
        .table(
            "reminders",
            TableDef::default().document(reminders::Reminder::validator()),
        )
        .table("teams", TableDef::default().index("by_owner", ["owner"]))
        .table(
            "files",
            TableDef::default().document(files::File::validator()),
        )
}

/// The demo application.
pub fn app() -> App {
    let app = App::new(schema());
    let app = messages::register(app);
    let app = counter::register(app);
    let app = auth::register(app);
    let app = teams::register(app);
    let app = site::register(app);
    let app = reminders::register(app);
    let app = http::register(app);
    let app = files::register(app);
    demo::register(app)
}

/// The demo cron's name: it increments the counter `cron` (`--demo-cron-secs N`).
pub const DEMO_CRON: &str = "demo";

/// The demo app with its cron running every `every`.
pub fn with_cron(app: App, every: std::time::Duration) -> App {
    app.cron_interval(
        DEMO_CRON,
        every,
        "counter:increment",
        &Value::object([("name", "cron")]),
    )
}
