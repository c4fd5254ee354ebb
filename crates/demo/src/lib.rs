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

mod auth;
mod counter;
mod demo;
mod messages;
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
                .document(v::object([("title", v::string()), ("body", v::string())])),
        )
        .table("counters", TableDef::default().index("by_name", ["name"]))
        .table("teams", TableDef::default().index("by_owner", ["owner"]))
}

/// The demo application.
pub fn app() -> App {
    let app = App::new(schema());
    let app = messages::register(app);
    let app = counter::register(app);
    let app = auth::register(app);
    let app = teams::register(app);
    let app = site::register(app);
    demo::register(app)
}
