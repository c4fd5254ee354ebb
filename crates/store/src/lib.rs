//! Storage abstraction shared by every Ferrovex storage backend.
//!
//! The engine only talks to storage through [`Persistence`], [`ReadTxn`] and [`WriteTxn`];
//! a backend (SQLite today, PostgreSQL later) implements those three traits and reuses the
//! domain types here: [`DocumentId`], [`Timestamp`], [`Document`], [`Schema`] and the
//! order-preserving index keys in [`index`].

pub mod blob;
pub mod document;
pub mod error;
pub mod id;
pub mod index;
pub mod persistence;
pub mod schema;
pub mod search;
#[cfg(feature = "suite")]
pub mod suite;
pub mod timestamp;
pub mod validator;

pub use blob::{BlobKey, BlobReader, BlobStore, BlobWriter, FsBlobStore, StoredBlob};
pub use document::Document;
pub use error::StoreError;
pub use id::{DocumentId, IdGenerator, TableName};
pub use index::{IndexEntry, IndexId, KeyRange, Order};
pub use persistence::{
    CommitLogPage, CommitRecord, Persistence, ReadTxn, StoredOutcome, WriteTxn, new_origin,
};
pub use schema::{CREATION_TIME_INDEX, IndexDef, Schema, TableDef};
pub use search::SearchSpec;
pub use timestamp::{Clock, SystemClock, Timestamp};
pub use validator::Validator;
