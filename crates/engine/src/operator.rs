//! The system functions the Convex CLI calls (`npx convex data`, `env`, `export`, `import`,
//! `run`), registered in every deployment under `_system/cli/...` as internal queries, so only
//! admin callers reach them, over HTTP or the sync socket, and subscriptions to them are live
//! like any query's. Also the `_exports` and `_snapshot_imports` tables that record the state
//! of export and import jobs (written by the server's endpoints, read by these queries).
//!
//! | path | args | returns |
//! |---|---|---|
//! | `_system/cli/tables:default` | `{paginationOpts}` | `{page: [{name}], isDone, continueCursor}` |
//! | `_system/cli/tableData:default` | `{table, order?, paginationOpts}` | a page of documents |
//! | `_system/cli/queryEnvironmentVariables:default` | `{}` | `[{name, value}]` by name |
//! | `_system/cli/queryEnvironmentVariables:get` | `{name}` | `{name, value}` or `null` |
//! | `_system/cli/exports:getLatest` | `{}` | the newest `_exports` row or `null` |
//! | `_system/cli/queryImport:default` | `{importId}` | that `_snapshot_imports` row or `null` |
//! | `_system/cli/queryImport:list` | `{}` | the newest 20 `_snapshot_imports` rows |
//! | `_system/cli/modules:apiSpec` | `{}` | `[{identifier, functionType, visibility}]` |

use std::collections::BTreeMap;

use ferrovex_store::{Document, DocumentId, Order, Schema, TableDef, TableName};
use ferrovex_values::Value;

use crate::db::{DatabaseReader, PaginationOpts, Query};
use crate::engine::Engine;
use crate::error::{EngineError, FnError};
use crate::registry::App;

/// Export jobs, newest last (Convex's `_exports`).
pub const EXPORTS_TABLE: &str = "_exports";
/// Import jobs (Convex's `_snapshot_imports`).
pub const IMPORTS_TABLE: &str = "_snapshot_imports";
/// Paths under this prefix are Ferrovex's own and never listed as the app's.
pub const SYSTEM_PREFIX: &str = "_system/";

/// The job tables, added to every app's schema.
pub(crate) fn system_schema() -> Schema {
    Schema::new()
        .table(EXPORTS_TABLE, TableDef::default())
        .table(IMPORTS_TABLE, TableDef::default())
}

fn obj<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn field<'v>(args: &'v Value, name: &str) -> Option<&'v Value> {
    match args {
        Value::Object(fields) => fields.get(name),
        _ => None,
    }
}

fn bad_args(why: String) -> FnError {
    FnError::InvalidArgs(why)
}

fn pagination(args: &Value) -> Result<PaginationOpts, FnError> {
    let raw = field(args, "paginationOpts")
        .cloned()
        .ok_or_else(|| bad_args("missing paginationOpts".to_owned()))?;
    ferrovex_values::from_value(raw).map_err(|e| bad_args(format!("paginationOpts: {e}")))
}

/// A system table's rows, read as a query (recorded, so subscriptions re-run on change).
fn system_query<'q>(db: &'q mut DatabaseReader<'_>, table: &str) -> Result<Query<'q>, EngineError> {
    db.state.system = true;
    Query::open(db.txn, db.state, table, false)
}

fn page_value(docs: Vec<Document>, is_done: bool, cursor: String) -> Value {
    obj([
        (
            "page",
            Value::Array(docs.iter().map(Document::to_value).collect()),
        ),
        ("isDone", Value::Boolean(is_done)),
        ("continueCursor", Value::String(cursor)),
    ])
}

/// `app` with the CLI's system functions.
pub(crate) fn add(app: App) -> App {
    let tables: Vec<String> = {
        let mut names: Vec<String> = app
            .schema()
            .tables()
            .map(|t| t.as_str().to_owned())
            .filter(|t| !t.starts_with('_'))
            .collect();
        names.sort();
        names
    };
    let spec: Vec<Value> = app
        .functions()
        .map(|f| {
            obj([
                ("identifier", Value::from(f.path.to_string().as_str())),
                ("functionType", Value::from(f.kind.name())),
                (
                    "visibility",
                    obj([("kind", Value::from(f.visibility.name()))]),
                ),
                ("args", Value::from(f.args.to_string().as_str())),
                ("returns", Value::from(f.returns.to_string().as_str())),
            ])
        })
        .collect();
    let known = tables.clone();
    app.internal_query("_system/cli/tables:default", move |_ctx, _: Value| {
        let page = known
            .iter()
            .map(|t| obj([("name", Value::from(t.as_str()))]))
            .collect();
        Ok(obj([
            ("page", Value::Array(page)),
            ("isDone", Value::Boolean(true)),
            ("continueCursor", Value::from("end")),
        ]))
    })
    .internal_query("_system/cli/tableData:default", move |ctx, args: Value| {
        let Some(Value::String(table)) = field(&args, "table") else {
            return Err(bad_args("missing table".to_owned()));
        };
        let order = match field(&args, "order") {
            Some(Value::String(o)) if o == "asc" => Order::Asc,
            _ => Order::Desc,
        };
        let opts = pagination(&args)?;
        if !tables.contains(table) {
            return Ok(page_value(Vec::new(), true, "end".to_owned()));
        }
        let page = ctx.db.query(table)?.order(order).paginate(&opts)?;
        Ok(page_value(page.page, page.is_done, page.continue_cursor))
    })
    .internal_query(
        "_system/cli/queryEnvironmentVariables:default",
        |ctx, _: Value| {
            let rows =
                system_query(&mut ctx.db, crate::env::ENV_TABLE)?.take(crate::env::MAX_ENV_VARS)?;
            let mut vars: Vec<(String, Value)> = rows
                .iter()
                .filter_map(|d| match d.fields.get("name") {
                    Some(Value::String(name)) => Some((name.clone(), d.to_value())),
                    _ => None,
                })
                .collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(Value::Array(vars.into_iter().map(|(_, v)| v).collect()))
        },
    )
    .internal_query(
        "_system/cli/queryEnvironmentVariables:get",
        |ctx, args: Value| {
            let Some(Value::String(name)) = field(&args, "name") else {
                return Err(bad_args("missing name".to_owned()));
            };
            Ok(match ctx.db.env(name)? {
                Some(value) => obj([
                    ("name", Value::from(name.as_str())),
                    ("value", Value::String(value)),
                ]),
                None => Value::Null,
            })
        },
    )
    .internal_query("_system/cli/exports:getLatest", |ctx, _: Value| {
        let latest = system_query(&mut ctx.db, EXPORTS_TABLE)?
            .order(Order::Desc)
            .first()?;
        Ok(latest.map_or(Value::Null, |d| d.to_value()))
    })
    .internal_query("_system/cli/queryImport:default", |ctx, args: Value| {
        let Some(Value::String(id)) = field(&args, "importId") else {
            return Err(bad_args("missing importId".to_owned()));
        };
        let Some(id) = DocumentId::parse(id) else {
            return Ok(Value::Null);
        };
        ctx.db.state.system = true;
        let doc = ctx
            .db
            .get(&id)?
            .filter(|d| d.table.as_str() == IMPORTS_TABLE);
        Ok(doc.map_or(Value::Null, |d| d.to_value()))
    })
    .internal_query("_system/cli/queryImport:list", |ctx, _: Value| {
        let rows = system_query(&mut ctx.db, IMPORTS_TABLE)?
            .order(Order::Desc)
            .take(20)?;
        Ok(Value::Array(rows.iter().map(Document::to_value).collect()))
    })
    .internal_query("_system/cli/modules:apiSpec", move |_ctx, _: Value| {
        Ok(Value::Array(spec.clone()))
    })
}

impl Engine {
    /// Writes an export or import job's row (`table` is [`EXPORTS_TABLE`] or
    /// [`IMPORTS_TABLE`]): a new row when `id` is `None`, else its fields replaced. Returns the
    /// row's id.
    pub async fn record_job(
        &self,
        table: &'static str,
        id: Option<DocumentId>,
        fields: BTreeMap<String, Value>,
    ) -> Result<DocumentId, EngineError> {
        if table != EXPORTS_TABLE && table != IMPORTS_TABLE {
            return Err(EngineError::BadDatabaseCall(format!(
                "{table} is not a job table"
            )));
        }
        self.system_write(move |db| match id {
            None => db.insert_into(TableName::system(table), Value::Object(fields)),
            Some(id) => {
                let old = db
                    .raw_get(&id)?
                    .filter(|d| d.table.as_str() == table)
                    .ok_or_else(|| EngineError::BadDatabaseCall(format!("no job {id}")))?;
                db.raw_replace(old, fields)?;
                Ok(id)
            }
        })
        .await
    }

    /// An export or import job's row.
    pub async fn job(
        &self,
        table: &'static str,
        id: DocumentId,
    ) -> Result<Option<Document>, EngineError> {
        self.system_read(move |db| Ok(db.get(&id)?.filter(|d| d.table.as_str() == table)))
            .await
    }

    /// The newest rows of a job table, newest first.
    pub async fn recent_jobs(
        &self,
        table: &'static str,
        n: usize,
    ) -> Result<Vec<Document>, EngineError> {
        self.system_read(move |db| system_query(db, table)?.order(Order::Desc).take(n))
            .await
    }
}

/// Whether `path` is one of Ferrovex's own system functions.
pub fn is_system_path(path: &str) -> bool {
    path.starts_with(SYSTEM_PREFIX)
}
