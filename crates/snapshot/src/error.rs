//! The crate's error type.

/// Why an export or import failed. Messages name the archive entry, line and field at fault.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The archive is not a ZIP file this reader understands, or is damaged.
    #[error("{0}")]
    Archive(String),
    /// A document or archive line is malformed or does not fit its table.
    #[error("{0}")]
    Invalid(String),
    /// A limit was passed.
    #[error("{0}")]
    TooLarge(String),
    /// The engine refused (the import's transaction, a snapshot read).
    #[error(transparent)]
    Engine(#[from] ferrovex_engine::EngineError),
}
