//! Online backups: `VACUUM INTO` from a connection of its own, while the deployment keeps
//! writing. The copy is one read snapshot (every commit acknowledged before the backup
//! started is in it), compacted, and checked with `PRAGMA integrity_check` before it is moved
//! into place, so a failed backup never leaves a half-written file at the destination.

use std::path::Path;

use ferrovex_store::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::connection::backend;

/// What a finished backup holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// Bytes of the copy.
    pub bytes: u64,
    /// Documents in it.
    pub documents: u64,
}

/// Copies the database in `data_dir` to `dest` (which must not exist yet).
pub fn backup(data_dir: &Path, dest: &Path) -> Result<BackupSummary, StoreError> {
    let source = data_dir.join(crate::DB_FILE);
    if !source.is_file() {
        return Err(StoreError::Backend(format!(
            "no database at {} (is --data-dir right?)",
            source.display()
        )));
    }
    if dest.exists() {
        return Err(StoreError::Backend(format!(
            "{} already exists; backups never overwrite a file",
            dest.display()
        )));
    }
    let partial = dest.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let conn = Connection::open_with_flags(
        &source,
        // Read-write without create (a WAL database's readers need the shared-memory file);
        // nothing is written to the source.
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(backend)?;
    let target = partial
        .to_str()
        .ok_or_else(|| StoreError::Backend("the backup path is not UTF-8".to_owned()))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(backend)?;
    drop(conn);
    let copy =
        Connection::open_with_flags(&partial, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(backend)?;
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(backend)?;
    if check != "ok" {
        let _ = std::fs::remove_file(&partial);
        return Err(StoreError::Backend(format!(
            "the copy failed its integrity check: {check}"
        )));
    }
    let documents: i64 = copy
        .query_row("SELECT count(*) FROM documents", [], |r| r.get(0))
        .map_err(backend)?;
    let documents = u64::try_from(documents).unwrap_or(0);
    drop(copy);
    std::fs::rename(&partial, dest)
        .map_err(|e| StoreError::Backend(format!("cannot move the copy into place: {e}")))?;
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(BackupSummary { bytes, documents })
}
