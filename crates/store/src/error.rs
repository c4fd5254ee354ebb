//! The one error type of the storage layer.

use ferrovex_values::ValueError;

/// Everything that can go wrong below the engine.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend itself failed (I/O, SQL error, corrupt file).
    #[error("storage backend error: {0}")]
    Backend(String),
    /// A stored document body could not be decoded.
    #[error("stored document {id} is corrupt: {source}")]
    Corrupt {
        id: String,
        #[source]
        source: ValueError,
    },
    /// A write referenced a document that does not exist.
    #[error("document {0} does not exist")]
    NotFound(String),
    /// A write would create a second document with an existing id.
    #[error("document {0} already exists")]
    AlreadyExists(String),
    /// The index named in a read is not part of the schema.
    #[error("index {0} does not exist")]
    UnknownIndex(String),
    /// The disk (or the database's quota) is full: the write was not committed. Reads go on,
    /// and writes work again once space returns.
    #[error("storage is full: {0}")]
    Full(String),
    /// The storage is shutting down or its writer is gone.
    #[error("storage is shut down")]
    Closed,
}
