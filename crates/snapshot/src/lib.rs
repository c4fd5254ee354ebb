//! Export and import in Convex's snapshot ZIP layout (`ferrovex export`/`import`, the
//! dashboard's and the Convex CLI's endpoints).
//!
//! - [`export`]: one consistent snapshot streamed into a ZIP with bounded memory.
//! - [`import`]: a snapshot ZIP, a `.jsonl` or a `.json` file into the app's tables, all or
//!   nothing, keeping `_id` and `_creationTime`; errors name the entry, line and field.
//! - [`codec`]: values in Convex's uniform export format and in plain JSON.
//! - [`zip_write`]: a streaming ZIP writer (deflate, data descriptors; no ZIP64 on write).
//! - [`zip_read`]: a reader of stored and deflated entries (ZIP64 directories too), with CRC
//!   checks and entries bounded by their declared sizes.

pub mod codec;
mod crc32;
mod error;
pub mod export;
pub mod import;
pub mod zip_read;
pub mod zip_write;

pub use error::SnapshotError;
