//! A test harness that runs the real engine in process on a temporary SQLite database, under
//! plain `cargo test` (no async test attribute needed):
//!
//! ```no_run
//! # fn app() -> ferrovex::App { unimplemented!() }
//! use ferrovex::testing::TestApp;
//!
//! let t = TestApp::new(app());
//! let id: String = t.mutation("messages:send", &serde_json::json!({"body": "hi"})).unwrap();
//! let alice = t.as_user("alice");
//! let mine: Vec<serde_json::Value> = alice.query("messages:mine", &serde_json::json!({})).unwrap();
//! ```
//!
//! Calls block; they work from plain `#[test]`s and inside `#[tokio::test]`s. Unlike a mock,
//! every call goes through the same argument validation, transactions, indexes
//! and document validators as a deployment. Calls are internal, so internal functions can be
//! tested too.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrovex_engine::{App, Engine, EngineConfig, FunctionKind, FunctionPath, Identity, Transport};
use ferrovex_store::SystemClock;
use ferrovex_store_sqlite::{Durability, SqlitePersistence};
use ferrovex_values::{Value, from_value, to_value};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The issuer of identities made by [`TestApp::as_user`].
pub const TEST_ISSUER: &str = "https://ferrovex.test";

/// Why a test call failed.
#[derive(Debug)]
pub enum TestError {
    /// The function threw a `ConvexError`; its data.
    Convex(Value),
    /// Any other failure, with the client-visible message (argument validation included).
    Failed(String),
    /// The arguments or the result could not be converted.
    Conversion(String),
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestError::Convex(data) => write!(f, "ConvexError: {data}"),
            TestError::Failed(message) => f.write_str(message),
            TestError::Conversion(message) => write!(f, "conversion failed: {message}"),
        }
    }
}

impl std::error::Error for TestError {}

struct Shared {
    /// The harness's own runtime; `None` once dropped.
    runtime: Option<tokio::runtime::Runtime>,
    engine: Engine,
    /// Kept until the harness is dropped; the database lives in it.
    _dir: tempfile::TempDir,
}

impl Shared {
    /// Runs `f` to completion on the harness's runtime, from a thread of its own, so calls
    /// work from plain `#[test]`s and from inside `#[tokio::test]`s alike.
    fn block_on<F>(&self, f: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        let Some(runtime) = &self.runtime else {
            unreachable!("the runtime lives as long as the harness")
        };
        std::thread::scope(|s| match s.spawn(|| runtime.block_on(f)).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.engine.shutdown();
        // A runtime may not be dropped inside another one (a `#[tokio::test]`): drop it on a
        // thread of its own.
        if let Some(runtime) = self.runtime.take() {
            let _ = std::thread::spawn(move || drop(runtime)).join();
        }
    }
}

/// An app running on the real engine over a temporary database.
#[derive(Clone)]
pub struct TestApp {
    shared: Arc<Shared>,
    identity: Option<Arc<Identity>>,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl TestApp {
    /// Starts `app` on a fresh temporary database. Panics if it cannot (a test failure).
    pub fn new(app: App) -> TestApp {
        match TestApp::try_new(app) {
            Ok(t) => t,
            Err(e) => panic!("cannot start the test app: {e:#}"),
        }
    }

    /// Starts `app` on a fresh temporary database.
    pub fn try_new(app: App) -> anyhow::Result<TestApp> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let dir = tempfile::tempdir()?;
        let engine = {
            let _guard = runtime.enter();
            let persistence =
                SqlitePersistence::open(dir.path(), Durability::Normal, Arc::new(SystemClock))?;
            Engine::start_with(
                app.with_tables(ferrovex_auth::store::system_schema()),
                Arc::new(persistence),
                Arc::new(SystemClock),
                EngineConfig {
                    print_log: false,
                    ..EngineConfig::default()
                },
            )?
        };
        Ok(TestApp {
            shared: Arc::new(Shared {
                runtime: Some(runtime),
                engine,
                _dir: dir,
            }),
            identity: None,
        })
    }

    /// The same app, called as the user `subject` (issuer [`TEST_ISSUER`], so its
    /// `tokenIdentifier` is `https://ferrovex.test|<subject>`).
    pub fn as_user(&self, subject: &str) -> TestApp {
        self.with_identity(Identity::new(
            TEST_ISSUER.to_owned(),
            subject.to_owned(),
            BTreeMap::new(),
            None,
        ))
    }

    /// The same app, called with `identity`.
    pub fn with_identity(&self, identity: Identity) -> TestApp {
        TestApp {
            shared: self.shared.clone(),
            identity: Some(Arc::new(identity)),
        }
    }

    /// The same app, called anonymously.
    pub fn anonymous(&self) -> TestApp {
        TestApp {
            shared: self.shared.clone(),
            identity: None,
        }
    }

    /// The engine, for anything the typed calls do not cover.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// Runs a query.
    pub fn query<R: DeserializeOwned>(
        &self,
        path: &str,
        args: &impl Serialize,
    ) -> Result<R, TestError> {
        self.call(FunctionKind::Query, path, args)
    }

    /// Runs a mutation.
    pub fn mutation<R: DeserializeOwned>(
        &self,
        path: &str,
        args: &impl Serialize,
    ) -> Result<R, TestError> {
        self.call(FunctionKind::Mutation, path, args)
    }

    /// Runs an action.
    pub fn action<R: DeserializeOwned>(
        &self,
        path: &str,
        args: &impl Serialize,
    ) -> Result<R, TestError> {
        self.call(FunctionKind::Action, path, args)
    }

    fn call<R: DeserializeOwned>(
        &self,
        kind: FunctionKind,
        path: &str,
        args: &impl Serialize,
    ) -> Result<R, TestError> {
        let path = FunctionPath::parse(path).map_err(|e| TestError::Failed(e.to_string()))?;
        let args = to_value(args).map_err(|e| TestError::Conversion(e.to_string()))?;
        let engine = self.shared.engine.clone();
        let identity = self.identity.clone();
        let outcome = self.shared.block_on(async move {
            engine
                .call_as(Some(kind), &path, args, Transport::Internal, identity)
                .await
        });
        match outcome.result {
            Ok(value) => from_value(value).map_err(|e| TestError::Conversion(e.to_string())),
            Err(failure) => match failure.data() {
                Some(data) => Err(TestError::Convex(data.clone())),
                None => Err(TestError::Failed(failure.message().to_owned())),
            },
        }
    }
}
