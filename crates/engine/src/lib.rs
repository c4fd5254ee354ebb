//! The Ferrovex engine: applications register queries, mutations and actions written in Rust;
//! the engine runs them against a [`ferrovex_store::Persistence`] with snapshot reads for
//! queries and serialized transactions for mutations.

mod committer;
mod context;
mod db;
mod engine;
mod error;
mod path;
mod range;
mod readset;
mod registry;

pub use context::{ActionCtx, LogLines, MAX_LOG_LINE_BYTES, MAX_LOG_LINES, MutationCtx, QueryCtx};
pub use db::{
    DatabaseReader, DatabaseWriter, MAX_DOCUMENT_BYTES, MAX_DOCUMENTS_READ, MAX_DOCUMENTS_WRITTEN,
    MAX_PAGE_SIZE, PaginationOpts, PaginationResult, Query,
};
pub use engine::{Engine, FunctionKind, MAX_CONCURRENT_QUERIES, Outcome};
pub use error::{ConvexError, EngineError, FnError, FnResult, FunctionFailure};
pub use path::{FunctionPath, MAX_PATH_LEN};
pub use range::IndexRange;
pub use readset::{ReadSet, WriteSet};
pub use registry::{App, NoArgs};

/// Everything an application module needs: `use ferrovex_engine::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ActionCtx, App, ConvexError, FnError, FnResult, MutationCtx, NoArgs, PaginationOpts,
        PaginationResult, QueryCtx,
    };
    pub use ferrovex_store::{Document, DocumentId, Order, Schema, TableDef};
    pub use ferrovex_values::Value;
    pub use serde::{Deserialize, Serialize};
}
