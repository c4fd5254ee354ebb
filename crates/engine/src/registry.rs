//! The application: its schema and functions registered by path with typed arguments.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use ferrovex_store::Schema;
use ferrovex_values::{Value, from_value, to_value};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::{ActionCtx, MutationCtx, QueryCtx};
use crate::error::{FnError, FnResult};
use crate::path::FunctionPath;

pub(crate) type QueryFn = dyn Fn(&mut QueryCtx<'_>, Value) -> FnResult<Value> + Send + Sync;
pub(crate) type MutationFn = dyn Fn(&mut MutationCtx<'_>, Value) -> FnResult<Value> + Send + Sync;
pub(crate) type ActionFn =
    dyn Fn(ActionCtx, Value) -> BoxFuture<'static, FnResult<Value>> + Send + Sync;

/// A registered function.
#[derive(Clone)]
pub(crate) enum Function {
    Query(Arc<QueryFn>),
    Mutation(Arc<MutationFn>),
    Action(Arc<ActionFn>),
}

/// Arguments for functions that take none (`{}`).
#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

fn decode_args<A: DeserializeOwned>(args: Value) -> FnResult<A> {
    from_value(args).map_err(|e| FnError::InvalidArgs(format!("ArgumentValidationError: {e}")))
}

fn encode_result<R: Serialize>(r: &R) -> FnResult<Value> {
    to_value(r).map_err(|e| FnError::internal(format!("cannot encode the return value: {e}")))
}

/// An application: a schema plus queries, mutations and actions by path.
///
/// ```ignore
/// App::new(schema)
///     .query("messages:list", list)          // fn(&mut QueryCtx, Args) -> FnResult<R>
///     .mutation("messages:send", send)       // fn(&mut MutationCtx, Args) -> FnResult<R>
///     .action("demo:echo", |ctx, args: Echo| async move { Ok(args.value) });
/// ```
pub struct App {
    pub(crate) schema: Schema,
    pub(crate) functions: BTreeMap<FunctionPath, Function>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl App {
    /// An application with `schema` and no functions yet.
    pub fn new(schema: Schema) -> App {
        App {
            schema,
            functions: BTreeMap::new(),
        }
    }

    fn add(mut self, path: &str, f: Function) -> Self {
        // Paths are written in code; an invalid one is a programming error caught at startup.
        let path = match FunctionPath::parse(path) {
            Ok(p) => p,
            Err(e) => panic!("cannot register function: {e}"),
        };
        if self.functions.insert(path.clone(), f).is_some() {
            panic!("function {path} registered twice");
        }
        self
    }

    /// Registers a query: it reads one consistent snapshot and cannot write.
    pub fn query<A, R, F>(self, path: &str, f: F) -> Self
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(&mut QueryCtx<'_>, A) -> FnResult<R> + Send + Sync + 'static,
    {
        self.add(
            path,
            Function::Query(Arc::new(move |ctx, args| {
                encode_result(&f(ctx, decode_args(args)?)?)
            })),
        )
    }

    /// Registers a mutation: a serializable transaction, all or nothing.
    pub fn mutation<A, R, F>(self, path: &str, f: F) -> Self
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(&mut MutationCtx<'_>, A) -> FnResult<R> + Send + Sync + 'static,
    {
        self.add(
            path,
            Function::Mutation(Arc::new(move |ctx, args| {
                encode_result(&f(ctx, decode_args(args)?)?)
            })),
        )
    }

    /// Registers an action: async code that may call queries and mutations.
    pub fn action<A, R, F, Fut>(self, path: &str, f: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize,
        F: Fn(ActionCtx, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = FnResult<R>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.add(
            path,
            Function::Action(Arc::new(move |ctx, args| {
                let f = f.clone();
                Box::pin(async move {
                    let args = decode_args::<A>(args)?;
                    let r = f(ctx, args).await?;
                    encode_result(&r)
                })
            })),
        )
    }

    /// Adds tables (for example Ferrovex's own system tables) to the schema.
    pub fn with_tables(mut self, extra: Schema) -> Self {
        self.schema = self.schema.merge(extra);
        self
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}
