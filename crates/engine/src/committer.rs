//! The committer: the one thread that runs write transactions, fed by a bounded channel.
//!
//! Every mutation, from every transport, is a job on this channel, so writes are serialized
//! and a mutation's reads and writes happen in one transaction: serializable by construction.

use std::sync::Arc;
use std::thread::JoinHandle;

use ferrovex_store::{Persistence, StoreError, Timestamp, WriteTxn};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::error::EngineError;
use crate::readset::WriteSet;

/// A successful commit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Committed {
    /// Its timestamp.
    pub(crate) ts: Timestamp,
    /// The latest commit stored before it (another process's when it is newer than what this
    /// process published).
    pub(crate) previous: Timestamp,
}

/// Most write jobs waiting for the committer; senders wait when it is full.
pub const COMMIT_QUEUE: usize = 1024;

/// What a job decided after running against the transaction.
pub(crate) struct JobEnd {
    /// Commit (true) or roll back (false).
    pub(crate) commit: bool,
    /// What the commit wrote, logged with it for other processes on the same database.
    pub(crate) writes: Option<std::sync::Arc<WriteSet>>,
    /// Called with the commit (or the commit error, or `Ok(None)` on rollback).
    pub(crate) finish: Box<dyn FnOnce(Result<Option<Committed>, StoreError>) + Send>,
}

impl JobEnd {
    /// Roll back, then run `after`.
    pub(crate) fn rollback(after: impl FnOnce() + Send + 'static) -> JobEnd {
        JobEnd {
            commit: false,
            writes: None,
            finish: Box::new(move |_| after()),
        }
    }
}

/// A write job: runs inside the transaction (or learns it could not be opened).
pub(crate) type Job = Box<dyn FnOnce(Result<&mut dyn WriteTxn, StoreError>) -> JobEnd + Send>;

/// Handle to the committer thread.
pub(crate) struct Committer {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    /// Starts the committer thread.
    /// `publish_lock` is held from each commit until its effects are published, so the watch
    /// for other processes' commits never mistakes one of ours for theirs.
    pub(crate) fn start(
        persistence: Arc<dyn Persistence>,
        publish_lock: Arc<parking_lot::Mutex<()>>,
    ) -> Result<Committer, EngineError> {
        let (tx, mut rx) = mpsc::channel::<Job>(COMMIT_QUEUE);
        let thread = std::thread::Builder::new()
            .name("ferrovex-committer".to_owned())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    run_job(persistence.as_ref(), &publish_lock, job);
                }
            })
            .map_err(|e| {
                EngineError::Store(StoreError::Backend(format!("cannot start committer: {e}")))
            })?;
        Ok(Committer {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a job; fails once shutdown began.
    pub(crate) async fn submit(&self, job: Job) -> Result<(), EngineError> {
        let tx = self.tx.lock().clone().ok_or(EngineError::ShuttingDown)?;
        tx.send(job).await.map_err(|_| EngineError::ShuttingDown)
    }

    /// Stops accepting jobs, runs the queued ones and joins the thread.
    pub(crate) fn shutdown(&self) {
        drop(self.tx.lock().take());
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

fn run_job(persistence: &dyn Persistence, publish_lock: &parking_lot::Mutex<()>, job: Job) {
    let mut txn = match persistence.begin_write() {
        Ok(txn) => txn,
        Err(e) => {
            let end = job(Err(e));
            (end.finish)(Ok(None));
            return;
        }
    };
    let end = job(Ok(txn.as_mut()));
    if end.commit {
        if let Some(writes) = end.writes.as_ref().filter(|w| !w.is_empty()) {
            txn.log_writes(writes.encode());
        }
        let previous = txn.previous_ts();
        let _published = publish_lock.lock();
        (end.finish)(txn.commit().map(|ts| Some(Committed { ts, previous })));
    } else {
        drop(txn);
        (end.finish)(Ok(None));
    }
}
