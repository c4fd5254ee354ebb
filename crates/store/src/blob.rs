//! The bytes of stored files (`ctx.storage()`), kept apart from documents behind
//! [`BlobStore`]. [`FsBlobStore`] keeps them in the data directory, content-addressed: a blob
//! is named by the hex SHA-256 of its bytes, written first to `tmp/` and fsynced, then renamed
//! into place (and the directory fsynced), so a crash never leaves a half file under a real
//! name; whatever `tmp/` holds at start is a crashed upload and is deleted. An S3-compatible
//! store can implement the same trait.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::StoreError;

/// A blob's name: the lowercase hex SHA-256 of its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    /// The key of bytes whose SHA-256 is `digest`.
    pub fn from_digest(digest: &[u8; 32]) -> BlobKey {
        BlobKey(hex::encode(digest))
    }

    /// Parses a key (64 lowercase hex digits).
    pub fn parse(s: &str) -> Option<BlobKey> {
        (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| BlobKey(s.to_owned()))
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a finished write stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its name.
    pub key: BlobKey,
    /// The SHA-256 of its bytes.
    pub sha256: [u8; 32],
    /// Its length in bytes.
    pub size: u64,
}

/// A blob being written; dropped without [`BlobWriter::finish`], it leaves nothing behind.
pub trait BlobWriter: Write + Send {
    /// Makes the bytes durable and visible under their key.
    fn finish(self: Box<Self>) -> Result<StoredBlob, StoreError>;
    /// Bytes written so far.
    fn written(&self) -> u64;
}

/// A stored blob open for reading.
pub struct BlobReader {
    /// Its bytes (seekable, for range requests).
    pub reader: Box<dyn ReadSeek>,
    /// Its length.
    pub size: u64,
}

/// `Read + Seek + Send`.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Where file bytes live.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Starts a new blob.
    fn begin(&self) -> Result<Box<dyn BlobWriter>, StoreError>;
    /// Opens a blob, or `None` when there is none under `key`.
    fn open(&self, key: &BlobKey) -> Result<Option<BlobReader>, StoreError>;
    /// Deletes a blob (nothing when there is none).
    fn delete(&self, key: &BlobKey) -> Result<(), StoreError>;
    /// Deletes a blob only if it was stored (or stored again) before `cutoff`; whether it did.
    /// The collector uses this, so bytes a new upload just reused are never taken.
    fn delete_if_older(&self, key: &BlobKey, cutoff: SystemTime) -> Result<bool, StoreError>;
    /// Every blob with the time it was stored (for garbage collection).
    fn list(&self) -> Result<Vec<(BlobKey, SystemTime)>, StoreError>;
}

fn io(what: &str, path: &Path, e: &std::io::Error) -> StoreError {
    if e.raw_os_error() == Some(28) {
        return StoreError::Full(format!("{what} {}: {e}", path.display()));
    }
    StoreError::Backend(format!("{what} {}: {e}", path.display()))
}

/// Blobs in a directory (`<data dir>/storage`).
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Opens (creating) the store in `root` and deletes what a crash left in `tmp/`.
    pub fn open(root: &Path) -> Result<FsBlobStore, StoreError> {
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| io("cannot create", &tmp, &e))?;
        let entries = std::fs::read_dir(&tmp).map_err(|e| io("cannot read", &tmp, &e))?;
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(FsBlobStore {
            root: root.to_owned(),
        })
    }

    fn path_of(&self, key: &BlobKey) -> PathBuf {
        self.root.join(&key.0[..2]).join(&key.0)
    }

    /// Files under `tmp/` (uploads in progress, or left by a crash until the next start).
    pub fn partial_files(&self) -> usize {
        std::fs::read_dir(self.root.join("tmp")).map_or(0, |e| e.count())
    }
}

struct FsWriter {
    file: Option<File>,
    tmp: PathBuf,
    root: PathBuf,
    hasher: Sha256,
    written: u64,
}

impl Write for FsWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the blob is finished"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl BlobWriter for FsWriter {
    fn finish(mut self: Box<Self>) -> Result<StoredBlob, StoreError> {
        let Some(file) = self.file.take() else {
            return Err(StoreError::Backend("the blob is finished".to_owned()));
        };
        let sync = file.sync_all();
        drop(file);
        if let Err(e) = sync {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(io("cannot sync", &self.tmp, &e));
        }
        let sha256: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        let key = BlobKey::from_digest(&sha256);
        let dir = self.root.join(&key.0[..2]);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| io("cannot create", &dir, &e))?;
            sync_dir(&self.root);
        }
        let path = dir.join(&key.0);
        if path.exists() {
            // The same bytes are stored already: mark them young again, so the collector (which
            // only deletes bytes older than its grace period) leaves them to the new file.
            let _ = std::fs::remove_file(&self.tmp);
            if let Ok(f) = File::options().write(true).open(&path) {
                let _ = f.set_modified(SystemTime::now());
            }
        } else {
            std::fs::rename(&self.tmp, &path).map_err(|e| {
                let _ = std::fs::remove_file(&self.tmp);
                io("cannot move into place", &path, &e)
            })?;
            sync_dir(&dir);
        }
        Ok(StoredBlob {
            key,
            sha256,
            size: self.written,
        })
    }

    fn written(&self) -> u64 {
        self.written
    }
}

impl BlobStore for FsBlobStore {
    fn begin(&self) -> Result<Box<dyn BlobWriter>, StoreError> {
        let name: [u8; 16] = rand::random();
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{}.part", hex::encode(name)));
        let file = File::create(&tmp).map_err(|e| io("cannot create", &tmp, &e))?;
        Ok(Box::new(FsWriter {
            file: Some(file),
            tmp,
            root: self.root.clone(),
            hasher: Sha256::new(),
            written: 0,
        }))
    }

    fn open(&self, key: &BlobKey) -> Result<Option<BlobReader>, StoreError> {
        let path = self.path_of(key);
        match File::open(&path) {
            Ok(file) => {
                let size = file
                    .metadata()
                    .map_err(|e| io("cannot read", &path, &e))?
                    .len();
                Ok(Some(BlobReader {
                    reader: Box::new(file),
                    size,
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("cannot open", &path, &e)),
        }
    }

    fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        let path = self.path_of(key);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("cannot delete", &path, &e)),
        }
    }

    fn delete_if_older(&self, key: &BlobKey, cutoff: SystemTime) -> Result<bool, StoreError> {
        let path = self.path_of(key);
        let old = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < cutoff);
        if old {
            self.delete(key)?;
        }
        Ok(old)
    }

    fn list(&self) -> Result<Vec<(BlobKey, SystemTime)>, StoreError> {
        let mut out = Vec::new();
        let dirs = std::fs::read_dir(&self.root).map_err(|e| io("cannot read", &self.root, &e))?;
        for dir in dirs.flatten() {
            if dir.file_name().len() != 2 {
                continue;
            }
            for entry in std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let Some(key) = entry.file_name().to_str().and_then(BlobKey::parse) else {
                    continue;
                };
                let time = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                out.push((key, time));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_content_addressed_and_crashed_writes_leave_nothing() {
        let dir = std::env::temp_dir().join(format!("ferrovex-blobs-{}", rand::random::<u64>()));
        let store = FsBlobStore::open(&dir).unwrap();
        let mut w = store.begin().unwrap();
        w.write_all(b"hello").unwrap();
        let stored = w.finish().unwrap();
        assert_eq!(
            stored.key.as_str(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(stored.size, 5);
        let mut text = String::new();
        store
            .open(&stored.key)
            .unwrap()
            .unwrap()
            .reader
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello");
        // A write dropped half way leaves nothing; one "crashed" (left in tmp/) is removed at
        // the next open.
        let mut half = store.begin().unwrap();
        half.write_all(b"half").unwrap();
        drop(half);
        assert_eq!(store.partial_files(), 0);
        std::fs::write(dir.join("tmp").join("crashed.part"), b"x").unwrap();
        let store = FsBlobStore::open(&dir).unwrap();
        assert_eq!(store.partial_files(), 0);
        assert_eq!(store.list().unwrap().len(), 1);
        store.delete(&stored.key).unwrap();
        assert!(store.open(&stored.key).unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
