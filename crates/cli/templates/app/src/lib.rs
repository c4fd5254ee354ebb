//! The app: its schema and its functions. Each module registers its own functions under
//! `module:name` paths, which clients call as `api.module.name`.

pub mod tasks;

use ferrovex::prelude::*;

/// The schema: one table of tasks, indexed by list.
pub fn schema() -> Schema {
    Schema::new().table(
        "tasks",
        TableDef::default()
            .index("by_list", ["list"])
            .document(tasks::Task::validator()),
    )
}

/// The app with every function registered.
pub fn app() -> App {
    tasks::register(App::new(schema()))
}
