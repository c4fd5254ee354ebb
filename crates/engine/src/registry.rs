//! The application: its schema and functions registered by path, each with its kind, its
//! visibility and the validators of its arguments and return value.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use ferrovex_store::Schema;
use ferrovex_store::validator::Validator;
use ferrovex_values::{Value, from_value, to_value};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::{ActionCtx, MutationCtx, QueryCtx};
use crate::error::{FnError, FnResult};
use crate::http_action::{HttpRequest, HttpResponse, HttpRoute, RegisteredRoute};
use crate::kind::FunctionKind;
use crate::path::FunctionPath;
use crate::scheduler::{CronSchedule, CronSpec};
use crate::typed::Type;
use crate::validation::argument_error;

pub(crate) type QueryFn = dyn Fn(&mut QueryCtx<'_>, Value) -> FnResult<Value> + Send + Sync;
pub(crate) type MutationFn = dyn Fn(&mut MutationCtx<'_>, Value) -> FnResult<Value> + Send + Sync;
pub(crate) type ActionFn =
    dyn Fn(ActionCtx, Value) -> BoxFuture<'static, FnResult<Value>> + Send + Sync;

/// The body of a registered function.
#[derive(Clone)]
pub(crate) enum Function {
    Query(Arc<QueryFn>),
    Mutation(Arc<MutationFn>),
    Action(Arc<ActionFn>),
}

impl Function {
    pub(crate) fn kind(&self) -> FunctionKind {
        match self {
            Function::Query(_) => FunctionKind::Query,
            Function::Mutation(_) => FunctionKind::Mutation,
            Function::Action(_) => FunctionKind::Action,
        }
    }
}

/// Who may call a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Any client, over HTTP or the sync socket.
    Public,
    /// Only other functions (`ctx.run_query` from an action) and Ferrovex itself.
    Internal,
}

impl Visibility {
    /// `"public"` or `"internal"`, as in Convex's function spec and generated types.
    pub fn name(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }
}

/// What the outside world may know of a registered function: enough for codegen and the
/// function spec.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionSpec {
    /// `module:name`.
    pub path: FunctionPath,
    /// Query, mutation or action.
    pub kind: FunctionKind,
    /// Public or internal.
    pub visibility: Visibility,
    /// The validator of the arguments object.
    pub args: Validator,
    /// The validator of the return value.
    pub returns: Validator,
}

/// A registered function: its spec and its body.
#[derive(Clone)]
pub(crate) struct Registered {
    pub(crate) spec: Arc<FunctionSpec>,
    pub(crate) body: Function,
}

/// Whether arguments of this shape can be an object, which is what clients always send.
fn takes_an_object(validator: &Validator) -> bool {
    match validator {
        Validator::Object(_) | Validator::Record(..) | Validator::Any => true,
        Validator::Union(options) => !options.is_empty() && options.iter().all(takes_an_object),
        _ => false,
    }
}

/// Arguments for functions that take none (`{}`).
#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

fn decode_args<A: DeserializeOwned>(validator: &Validator, args: Value) -> FnResult<A> {
    if let Err(mismatch) = validator.check(&args) {
        return Err(FnError::InvalidArgs(argument_error(&mismatch)));
    }
    from_value(args).map_err(|e| {
        FnError::InvalidArgs(format!(
            "ArgumentValidationError: Value does not match validator.\n{e}"
        ))
    })
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
///     .internal_mutation("messages:purge", purge)
///     .action("demo:echo", |ctx, args: Echo| async move { Ok(args.value) });
/// ```
///
/// Argument and return types implement [`Type`] (`#[derive(Type)]`): arguments are checked
/// against their validator before the function runs, and codegen writes both into the
/// generated TypeScript.
#[derive(Clone)]
pub struct App {
    pub(crate) schema: Schema,
    pub(crate) functions: BTreeMap<FunctionPath, Registered>,
    pub(crate) crons: Vec<CronSpec>,
    pub(crate) http_routes: Vec<RegisteredRoute>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

macro_rules! register_methods {
    ($query:ident, $mutation:ident, $action:ident, $visibility:expr, $what:literal) => {
        #[doc = concat!("Registers ", $what, " query: it reads one consistent snapshot and cannot write.")]
        pub fn $query<A, R, F>(self, path: &str, f: F) -> Self
        where
            A: DeserializeOwned + Type,
            R: Serialize + Type,
            F: Fn(&mut QueryCtx<'_>, A) -> FnResult<R> + Send + Sync + 'static,
        {
            let spec = Self::spec::<A, R>(path, FunctionKind::Query, $visibility);
            let args = spec.args.clone();
            self.add(
                spec,
                Function::Query(Arc::new(move |ctx, value| {
                    encode_result(&f(ctx, decode_args(&args, value)?)?)
                })),
            )
        }

        #[doc = concat!("Registers ", $what, " mutation: a serializable transaction, all or nothing.")]
        pub fn $mutation<A, R, F>(self, path: &str, f: F) -> Self
        where
            A: DeserializeOwned + Type,
            R: Serialize + Type,
            F: Fn(&mut MutationCtx<'_>, A) -> FnResult<R> + Send + Sync + 'static,
        {
            let spec = Self::spec::<A, R>(path, FunctionKind::Mutation, $visibility);
            let args = spec.args.clone();
            self.add(
                spec,
                Function::Mutation(Arc::new(move |ctx, value| {
                    encode_result(&f(ctx, decode_args(&args, value)?)?)
                })),
            )
        }

        #[doc = concat!("Registers ", $what, " action: async code that may call queries and mutations.")]
        pub fn $action<A, R, F, Fut>(self, path: &str, f: F) -> Self
        where
            A: DeserializeOwned + Type + Send + 'static,
            R: Serialize + Type,
            F: Fn(ActionCtx, A) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = FnResult<R>> + Send + 'static,
        {
            let spec = Self::spec::<A, R>(path, FunctionKind::Action, $visibility);
            let args = Arc::new(spec.args.clone());
            let f = Arc::new(f);
            self.add(
                spec,
                Function::Action(Arc::new(move |ctx, value| {
                    let f = f.clone();
                    let args = args.clone();
                    Box::pin(async move {
                        let decoded = decode_args::<A>(&args, value)?;
                        let r = f(ctx, decoded).await?;
                        encode_result(&r)
                    })
                })),
            )
        }
    };
}

impl App {
    /// An application with `schema` and no functions yet.
    pub fn new(schema: Schema) -> App {
        App {
            schema,
            functions: BTreeMap::new(),
            crons: Vec::new(),
            http_routes: Vec::new(),
        }
    }

    fn spec<A: Type, R: Type>(
        path: &str,
        kind: FunctionKind,
        visibility: Visibility,
    ) -> FunctionSpec {
        // Paths are written in code; an invalid one is a programming error caught at startup.
        let path = match FunctionPath::parse(path) {
            Ok(p) => p,
            Err(e) => panic!("cannot register function: {e}"),
        };
        let args = A::validator();
        if !takes_an_object(&args) {
            panic!(
                "cannot register function {path}: its arguments are {args}, but clients always send an object; use a struct (or NoArgs)"
            );
        }
        FunctionSpec {
            path,
            kind,
            visibility,
            args,
            returns: R::validator(),
        }
    }

    fn add(mut self, spec: FunctionSpec, body: Function) -> Self {
        let path = spec.path.clone();
        let registered = Registered {
            spec: Arc::new(spec),
            body,
        };
        if self.functions.insert(path.clone(), registered).is_some() {
            panic!("function {path} registered twice");
        }
        self
    }

    register_methods!(query, mutation, action, Visibility::Public, "a public");
    register_methods!(
        internal_query,
        internal_mutation,
        internal_action,
        Visibility::Internal,
        "an internal"
    );

    /// Runs the mutation or action at `path` with `args` every `every` (a cron). It never
    /// overlaps itself, runs a tick at most once across restarts, and skips ticks missed while
    /// the server was down. Each run shows in the function log as `(cron)`.
    pub fn cron_interval(
        self,
        name: &str,
        every: std::time::Duration,
        path: &str,
        args: &impl Serialize,
    ) -> Self {
        if every.is_zero() {
            panic!("cron {name:?}: the interval must not be zero");
        }
        self.add_cron(name, CronSchedule::Interval(every), path, args)
    }

    /// Runs `path` with `args` on a cron expression in UTC (`"0 16 * * *"`, or six fields
    /// with seconds first); panics on an invalid expression, which is written in code.
    pub fn cron(self, name: &str, expression: &str, path: &str, args: &impl Serialize) -> Self {
        let schedule = match CronSchedule::parse(expression) {
            Ok(s) => s,
            Err(e) => panic!("cron {name:?}: {e}"),
        };
        self.add_cron(name, schedule, path, args)
    }

    fn add_cron(
        mut self,
        name: &str,
        schedule: CronSchedule,
        path: &str,
        args: &impl Serialize,
    ) -> Self {
        let path = match FunctionPath::parse(path) {
            Ok(p) => p,
            Err(e) => panic!("cron {name:?}: {e}"),
        };
        let args = match to_value(args) {
            Ok(v @ Value::Object(_)) => v,
            Ok(other) => panic!("cron {name:?}: arguments must be an object, not {other}"),
            Err(e) => panic!("cron {name:?}: {e}"),
        };
        if self.crons.iter().any(|c| c.name == name) {
            panic!("cron {name:?} registered twice");
        }
        self.crons.push(CronSpec {
            name: name.to_owned(),
            schedule,
            path,
            args,
        });
        self
    }

    /// Serves `method path` on the site origin with `handler` (an HTTP action; a path
    /// ending in `*` is a prefix). No CORS; see [`App::http_route_with`].
    pub fn http_route<F, Fut>(self, method: &str, path: &str, handler: F) -> Self
    where
        F: Fn(ActionCtx, HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = FnResult<HttpResponse>> + Send + 'static,
    {
        self.http_route_with(HttpRoute::new(method, path), handler)
    }

    /// Serves `route` (with its CORS setting) with `handler`. Paths under `/api/auth/` belong
    /// to auth and are refused.
    pub fn http_route_with<F, Fut>(mut self, route: HttpRoute, handler: F) -> Self
    where
        F: Fn(ActionCtx, HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = FnResult<HttpResponse>> + Send + 'static,
    {
        if !route.path.starts_with('/') {
            panic!("HTTP route {}: the path must start with /", route.label());
        }
        if route.path.starts_with("/api/auth") || route.path.starts_with("/.well-known/") {
            panic!(
                "HTTP route {}: /api/auth and /.well-known belong to auth",
                route.label()
            );
        }
        if !matches!(
            route.method.as_str(),
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
        ) {
            panic!("HTTP route {}: unsupported method", route.label());
        }
        if self.http_routes.iter().any(|r| {
            r.route.method == route.method
                && r.route.path == route.path
                && r.route.prefix == route.prefix
        }) {
            panic!("HTTP route {} registered twice", route.label());
        }
        let handler = Arc::new(handler);
        self.http_routes.push(RegisteredRoute {
            route,
            handler: Arc::new(move |ctx, request| {
                let handler = handler.clone();
                Box::pin(async move { handler(ctx, request).await })
            }),
        });
        self
    }

    /// The registered HTTP routes.
    pub fn http_routes(&self) -> impl Iterator<Item = &HttpRoute> {
        self.http_routes.iter().map(|r| &r.route)
    }

    /// The registered crons.
    pub fn crons(&self) -> &[CronSpec] {
        &self.crons
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

    /// Every registered function's spec, by path.
    pub fn functions(&self) -> impl Iterator<Item = &FunctionSpec> {
        self.functions.values().map(|r| r.spec.as_ref())
    }
}
