//! The Ferrovex engine: applications register queries, mutations and actions written in Rust;
//! the engine runs them against a [`ferrovex_store::Persistence`] with snapshot reads for
//! queries and serialized transactions for mutations.

mod committer;
mod context;
mod db;
mod engine;
mod env;
mod error;
mod flight;
mod foreign;
mod http_action;
mod identity;
mod invalidation;
mod kind;
mod log;
mod operator;
mod path;
mod range;
mod readset;
mod registry;
mod scheduler;
pub mod search;
mod snapshot;
mod storage;
mod typed;
mod validation;

pub use context::{ActionCtx, LogLines, MAX_LOG_LINE_BYTES, MAX_LOG_LINES, MutationCtx, QueryCtx};
pub use db::{
    DatabaseReader, DatabaseWriter, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS_READ, MAX_DOCUMENTS_WRITTEN,
    MAX_PAGE_SIZE, PaginationOpts, PaginationResult, Query, READABLE_SYSTEM_TABLES, SystemReader,
};
pub use engine::{
    Engine, EngineConfig, MAX_CONCURRENT_QUERIES, MAX_SESSION_ID_LEN, MUTATION_OUTCOME_RETENTION,
    Outcome,
};
pub use env::{
    ENV_TABLE, EnvChange, MAX_ENV_NAME_LEN, MAX_ENV_VALUE_BYTES, MAX_ENV_VARS, check_env_name,
};
pub use error::{ConvexError, EngineError, FnError, FnResult, FunctionFailure};
pub use ferrovex_store::Timestamp;
pub use http_action::{
    Cors, HttpOutcome, HttpRequest, HttpResponse, HttpRoute, MAX_HTTP_ACTION_BODY,
    MAX_HTTP_ACTION_HEADERS,
};
pub use identity::{Auth, Identity};
pub use invalidation::{COMMIT_LOG_LEN, DEFAULT_CACHE_BYTES, SessionHandle, WatcherId};
pub use kind::FunctionKind;
pub use log::{
    Execution, FunctionLog, Histogram, LATENCY_BUCKETS, LOG_RING_CAPACITY, Metrics, Transport,
};
pub use operator::{EXPORTS_TABLE, IMPORTS_TABLE, is_system_path};
pub use path::{FunctionPath, MAX_PATH_LEN};
pub use range::IndexRange;
pub use readset::{ReadSet, WriteSet};
pub use registry::{App, FunctionSpec, NoArgs, Visibility};
pub use scheduler::{
    ActionScheduler, CronSchedule, CronSpec, FINISHED_RETENTION, INTERRUPTED_ACTION, JobSummary,
    MAX_RUNNING_ACTIONS, MAX_SCHEDULED_ARGS_BYTES, MAX_SCHEDULED_PER_MUTATION, MutationScheduler,
    SCHEDULED_TABLE, SCHEDULER_POLL,
};
pub use search::{MAX_SEARCH_RESULTS, SearchFilter, SearchQuery};
pub use snapshot::{
    ImportDocument, ImportMode, ImportReport, ImportSink, ImportSource, MAX_IMPORT_DOCUMENTS,
    PageCursor, SnapshotReader,
};
pub use storage::{
    ActionStorage, FILES_COUNTED, FileMetadata, MutationStorage, QueryStorage, STORAGE_TABLE,
    UNREFERENCED_GRACE, UPLOAD_URL_TTL, UploadRefusal,
};
pub use typed::{Doc, Id, Table, Type, field_validator};

/// Everything an application module needs: `use ferrovex_engine::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ActionCtx, App, ConvexError, Doc, FnError, FnResult, Id, MutationCtx, NoArgs,
        PaginationOpts, PaginationResult, QueryCtx, Table, Type,
    };
    pub use ferrovex_store::validator::{Validator, v};
    pub use ferrovex_store::{Document, DocumentId, Order, Schema, TableDef};
    pub use ferrovex_values::Value;
    pub use serde::{Deserialize, Serialize};
}

/// What `#[derive(Type)]` expands to refers to these; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use ferrovex_store::validator::Validator;
    pub use ferrovex_values::Value;
}
