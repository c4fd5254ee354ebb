//! File bytes in PostgreSQL, so every instance on one database serves every file
//! ([`PgBlobStore`]). A blob is written to a local, content-addressed spool first (hashed on the
//! way, as in [`FsBlobStore`]), then copied into `ferrovex_blob_parts` in [`PART_BYTES`] parts
//! and recorded in `ferrovex_blobs`, in one transaction: other instances see a blob only whole.
//! Reads use the local copy when there is one, and otherwise fetch the parts into the spool
//! (checking the SHA-256) first, so memory stays at one part whatever the size.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrovex_store::{
    BlobKey, BlobReader, BlobStore, BlobWriter, FsBlobStore, StoreError, StoredBlob,
};

use crate::conn::{Conn, block_on};

/// Bytes per stored part.
pub const PART_BYTES: usize = 1 << 20;

struct Inner {
    config: tokio_postgres::Config,
    runtime: tokio::runtime::Handle,
    idle: parking_lot::Mutex<Vec<Arc<Conn>>>,
    local: FsBlobStore,
}

impl Inner {
    async fn take(&self) -> Result<Arc<Conn>, StoreError> {
        loop {
            let idle = self.idle.lock().pop();
            match idle {
                Some(conn) if conn.is_closed() => continue,
                Some(conn) => return Ok(conn),
                None => return Conn::open(self.config.clone(), self.runtime.clone()).await,
            }
        }
    }

    fn put(&self, conn: Arc<Conn>) {
        let mut idle = self.idle.lock();
        if !conn.is_closed() && idle.len() < 4 {
            idle.push(conn);
        }
    }

    /// One query on a pooled connection, from this synchronous thread.
    fn query(
        self: &Arc<Self>,
        sql: &'static str,
        params: Vec<crate::conn::Param>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let me = self.clone();
        block_on(&self.runtime, async move {
            let conn = me.take().await?;
            let rows = conn.query(sql, params).await;
            me.put(conn);
            rows
        })?
    }

    /// Copies a local blob into PostgreSQL, in one transaction (nothing if it is there).
    fn publish(self: &Arc<Self>, stored: &StoredBlob) -> Result<(), StoreError> {
        let key = stored.key.as_str().to_owned();
        let found = self.query(
            "SELECT 1 FROM ferrovex_blobs WHERE key = $1",
            vec![Box::new(key.clone())],
        )?;
        if !found.is_empty() {
            // Stored again: young again for the collector.
            let stored_at = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.query(
                "UPDATE ferrovex_blobs SET stored_at = $2 WHERE key = $1 RETURNING 1",
                vec![Box::new(key), Box::new(stored_at)],
            )?;
            return Ok(());
        }
        let Some(blob) = self.local.open(&stored.key)? else {
            return Err(StoreError::Backend(
                "a stored blob vanished before it was shared".to_owned(),
            ));
        };
        let mut reader = blob.reader;
        let me = self.clone();
        let conn = block_on(&self.runtime, async move {
            let conn = me.take().await?;
            conn.batch("BEGIN").await?;
            Ok::<_, StoreError>(conn)
        })??;
        let outcome = self.write_parts(&conn, &key, stored.size, &mut reader);
        let (me, failed, back) = (self.clone(), outcome.is_err(), conn.clone());
        block_on(&self.runtime, async move {
            if failed {
                let _ = back.batch("ROLLBACK").await;
            }
            me.put(back);
        })?;
        outcome
    }

    fn write_parts(
        &self,
        conn: &Arc<Conn>,
        key: &str,
        size: u64,
        reader: &mut Box<dyn ferrovex_store::blob::ReadSeek>,
    ) -> Result<(), StoreError> {
        let mut part: i32 = 0;
        loop {
            let mut buf = vec![0u8; PART_BYTES];
            let mut filled = 0;
            while filled < PART_BYTES {
                let n = reader
                    .read(&mut buf[filled..])
                    .map_err(|e| StoreError::Backend(format!("reading a blob: {e}")))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 && part > 0 {
                break;
            }
            buf.truncate(filled);
            let (c, k) = (conn.clone(), key.to_owned());
            block_on(&self.runtime, async move {
                c.execute(
                    "INSERT INTO ferrovex_blob_parts (key, part, bytes) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                    vec![Box::new(k), Box::new(part), Box::new(buf)],
                )
                .await
            })??;
            part += 1;
            if filled < PART_BYTES {
                break;
            }
        }
        let stored_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let (c, k) = (conn.clone(), key.to_owned());
        block_on(&self.runtime, async move {
            c.execute(
                "INSERT INTO ferrovex_blobs (key, size, parts, stored_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
                vec![
                    Box::new(k),
                    Box::new(i64::try_from(size).unwrap_or(i64::MAX)),
                    Box::new(part),
                    Box::new(stored_at),
                ],
            )
            .await?;
            c.batch("COMMIT").await
        })??;
        Ok(())
    }

    /// Fetches a blob's parts into the local spool; `false` when PostgreSQL has none.
    fn fetch(self: &Arc<Self>, key: &BlobKey) -> Result<bool, StoreError> {
        let rows = self.query(
            "SELECT parts FROM ferrovex_blobs WHERE key = $1",
            vec![Box::new(key.as_str().to_owned())],
        )?;
        let Some(parts) = rows.first().map(|r| r.get::<_, i32>(0)) else {
            return Ok(false);
        };
        let mut out = self.local.begin()?;
        for part in 0..parts {
            let rows = self.query(
                "SELECT bytes FROM ferrovex_blob_parts WHERE key = $1 AND part = $2",
                vec![Box::new(key.as_str().to_owned()), Box::new(part)],
            )?;
            let bytes: Vec<u8> = rows
                .first()
                .map(|r| r.get::<_, Vec<u8>>(0))
                .ok_or_else(|| StoreError::Backend(format!("blob part {part} is missing")))?;
            out.write_all(&bytes)
                .map_err(|e| StoreError::Backend(format!("spooling a blob: {e}")))?;
        }
        let fetched = out.finish()?;
        if &fetched.key != key {
            self.local.delete(&fetched.key)?;
            return Err(StoreError::Backend(format!(
                "blob {} came back with other bytes",
                key.as_str()
            )));
        }
        Ok(true)
    }
}

/// File bytes shared through PostgreSQL, with a local spool and cache.
pub struct PgBlobStore {
    inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for PgBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBlobStore").finish_non_exhaustive()
    }
}

impl Drop for PgBlobStore {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Safe in any context, async included.
            rt.shutdown_background();
        }
    }
}

impl PgBlobStore {
    /// Connects to `url` (whose tables `PgPersistence::open` created) and keeps its spool in
    /// `local` (crashed writes there are removed).
    pub fn open(url: &str, local: &Path) -> Result<PgBlobStore, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ferrovex-blobs")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot start the blob runtime: {e}")))?;
        Ok(PgBlobStore {
            inner: Arc::new(Inner {
                config,
                runtime: runtime.handle().clone(),
                idle: parking_lot::Mutex::new(Vec::new()),
                local: FsBlobStore::open(local)?,
            }),
            runtime: Some(runtime),
        })
    }
}

/// A blob being written: spooled locally, shared on `finish`.
struct PgWriter {
    spool: Box<dyn BlobWriter>,
    store: Arc<Inner>,
}

impl std::io::Write for PgWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.spool.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.spool.flush()
    }
}

impl BlobWriter for PgWriter {
    fn finish(self: Box<Self>) -> Result<StoredBlob, StoreError> {
        let stored = self.spool.finish()?;
        self.store.publish(&stored)?;
        Ok(stored)
    }

    fn written(&self) -> u64 {
        self.spool.written()
    }
}

impl BlobStore for PgBlobStore {
    fn begin(&self) -> Result<Box<dyn BlobWriter>, StoreError> {
        Ok(Box::new(PgWriter {
            spool: self.inner.local.begin()?,
            store: self.inner.clone(),
        }))
    }

    fn open(&self, key: &BlobKey) -> Result<Option<BlobReader>, StoreError> {
        if let Some(local) = self.inner.local.open(key)? {
            return Ok(Some(local));
        }
        if !self.inner.fetch(key)? {
            return Ok(None);
        }
        self.inner.local.open(key)
    }

    fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        let me = self.inner.clone();
        let name = key.as_str().to_owned();
        block_on(&self.inner.runtime, async move {
            let conn = me.take().await?;
            conn.batch("BEGIN").await?;
            let done = async {
                conn.execute(
                    "DELETE FROM ferrovex_blobs WHERE key = $1",
                    vec![Box::new(name.clone())],
                )
                .await?;
                conn.execute(
                    "DELETE FROM ferrovex_blob_parts WHERE key = $1",
                    vec![Box::new(name)],
                )
                .await?;
                conn.batch("COMMIT").await
            }
            .await;
            if done.is_err() {
                let _ = conn.batch("ROLLBACK").await;
            }
            me.put(conn);
            done
        })??;
        self.inner.local.delete(key)
    }

    fn delete_if_older(&self, key: &BlobKey, cutoff: SystemTime) -> Result<bool, StoreError> {
        let cutoff_secs = cutoff
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let shared = self.inner.query(
            "SELECT stored_at FROM ferrovex_blobs WHERE key = $1",
            vec![Box::new(key.as_str().to_owned())],
        )?;
        match shared.first().map(|r| r.get::<_, f64>(0)) {
            Some(at) if at >= cutoff_secs => Ok(false),
            Some(_) => {
                let me = self.inner.clone();
                let name = key.as_str().to_owned();
                let deleted = block_on(&self.inner.runtime, async move {
                    let conn = me.take().await?;
                    let n = conn
                        .execute(
                            "DELETE FROM ferrovex_blobs WHERE key = $1 AND stored_at < $2",
                            vec![Box::new(name.clone()), Box::new(cutoff_secs)],
                        )
                        .await;
                    if matches!(n, Ok(1)) {
                        let _ = conn
                            .execute(
                                "DELETE FROM ferrovex_blob_parts WHERE key = $1",
                                vec![Box::new(name)],
                            )
                            .await;
                    }
                    me.put(conn);
                    n
                })??;
                if deleted == 1 {
                    self.inner.local.delete(key)?;
                }
                Ok(deleted == 1)
            }
            // Not shared (a local copy of something deleted elsewhere): the spool's own rule.
            None => self.inner.local.delete_if_older(key, cutoff),
        }
    }

    /// The shared blobs, and this instance's local copies of blobs that are no longer shared
    /// (so the collector, which runs on every instance, clears every spool too).
    fn list(&self) -> Result<Vec<(BlobKey, SystemTime)>, StoreError> {
        let rows = self
            .inner
            .query("SELECT key, stored_at FROM ferrovex_blobs", Vec::new())?;
        let mut listed: Vec<(BlobKey, SystemTime)> = rows
            .iter()
            .filter_map(|r| {
                let key = BlobKey::parse(&r.get::<_, String>(0))?;
                let at = UNIX_EPOCH + Duration::from_secs_f64(r.get::<_, f64>(1).max(0.0));
                Some((key, at))
            })
            .collect();
        let shared: std::collections::HashSet<BlobKey> =
            listed.iter().map(|(k, _)| k.clone()).collect();
        listed.extend(
            self.inner
                .local
                .list()?
                .into_iter()
                .filter(|(k, _)| !shared.contains(k)),
        );
        Ok(listed)
    }
}
