//! Errors: [`EngineError`] for the engine itself, [`FnError`] and [`ConvexError`] for what
//! user functions return, and [`FunctionFailure`], the client-visible form of a failed call.

use ferrovex_store::StoreError;
use ferrovex_values::{Value, ValueError, canonical_string};

/// Failures of the engine and of database calls made by functions.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A function path that cannot be canonicalized.
    #[error("invalid function path {0}")]
    InvalidPath(String),
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value that cannot be stored or returned.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// A database call made with bad input (unknown index, bad range, bad cursor, ...).
    #[error("{0}")]
    BadDatabaseCall(String),
    /// A write whose document does not match its table's validator.
    #[error(
        "Failed to insert or update a document in table {table:?} because it does not match the schema: {mismatch}"
    )]
    SchemaMismatch {
        /// The table.
        table: String,
        /// What did not match.
        mismatch: ferrovex_store::validator::Mismatch,
    },
    /// A document, log or read limit was exceeded.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    ShuttingDown,
}

/// An application error carrying data, delivered to clients as `errorData` (Convex's
/// `ConvexError`). Build one with [`ConvexError::new`] and return it with `?` or `.into()`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvexError {
    /// The payload the client receives.
    pub data: Value,
}

impl ConvexError {
    /// An error whose `data` is `data`.
    pub fn new(data: impl Into<Value>) -> ConvexError {
        ConvexError { data: data.into() }
    }
}

/// What a function returns on failure. Anything that is not a [`ConvexError`] is reported to
/// clients as a generic server error; the details only reach the server log.
#[derive(Debug)]
pub enum FnError {
    /// A `ConvexError` with data for the client.
    Convex(ConvexError),
    /// The arguments did not match the function's argument type.
    InvalidArgs(String),
    /// Any other error: logged, never shown to clients.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl From<ConvexError> for FnError {
    fn from(e: ConvexError) -> Self {
        FnError::Convex(e)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for FnError {
    fn from(e: E) -> Self {
        FnError::Internal(Box::new(e))
    }
}

impl FnError {
    /// An internal error from a message (logged, not shown to clients).
    pub fn internal(msg: impl Into<String>) -> FnError {
        FnError::Internal(msg.into().into())
    }
}

/// The result type of user functions.
pub type FnResult<T> = Result<T, FnError>;

/// The client-visible failure of a call.
#[derive(Clone, Debug, PartialEq)]
pub enum FunctionFailure {
    /// A `ConvexError`: `errorMessage` plus `errorData`.
    Convex {
        /// The error message.
        message: String,
        /// The data.
        data: Value,
    },
    /// Any other failure; the message never reveals internals.
    Message(String),
}

impl FunctionFailure {
    /// The `errorMessage` sent to clients.
    pub fn message(&self) -> &str {
        match self {
            FunctionFailure::Convex { message, .. } | FunctionFailure::Message(message) => message,
        }
    }

    /// The `errorData`, if any.
    pub fn data(&self) -> Option<&Value> {
        match self {
            FunctionFailure::Convex { data, .. } => Some(data),
            FunctionFailure::Message(_) => None,
        }
    }

    /// The failure for a `ConvexError`: the message is the data itself when it is a string,
    /// else its Convex JSON, as the JS `ConvexError` constructor does.
    pub fn convex(data: Value) -> FunctionFailure {
        let message = match &data {
            Value::String(s) => s.clone(),
            other => canonical_string(other),
        };
        FunctionFailure::Convex { message, data }
    }
}
