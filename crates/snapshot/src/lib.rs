//! Export and import in Convex's snapshot ZIP layout. So far: the archive codec the export and
//! import verbs will stream through.
//!
//! - [`zip_write`]: a streaming ZIP writer (deflate, data descriptors; no ZIP64 on write).
//! - [`zip_read`]: a reader of stored and deflated entries (ZIP64 directories too), with CRC
//!   checks and entries bounded by their declared sizes.

mod crc32;
mod error;
pub mod zip_read;
pub mod zip_write;

pub use error::SnapshotError;
