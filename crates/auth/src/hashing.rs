//! A bound on password hashing: scrypt costs tens of milliseconds of one core by design, so
//! an unbounded flood of password checks (sign-in, change-password, delete-user) would stall
//! every other request. At most [`Hasher::parallel`] run at once; past
//! [`MAX_WAITING_HASHES`] waiting, new ones are refused with `TOO_MANY_REQUESTS` at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::error::AuthError;

/// Password hashes that may wait for a core before new ones are refused.
pub const MAX_WAITING_HASHES: usize = 64;

/// Runs password hashing on the blocking pool, a bounded number at a time.
#[derive(Debug)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    parallel: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Hasher {
    /// At most `parallel` at once, at most `max_waiting` queued.
    pub fn new(parallel: usize, max_waiting: usize) -> Hasher {
        let parallel = parallel.max(1);
        Hasher {
            permits: Arc::new(Semaphore::new(parallel)),
            parallel,
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// One per core (at least two), with [`MAX_WAITING_HASHES`] queued.
    pub fn for_this_machine() -> Hasher {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Hasher::new(cores.max(2), MAX_WAITING_HASHES)
    }

    /// How many hashes may run at once.
    pub fn parallel(&self) -> usize {
        self.parallel
    }

    /// Runs `work` when a slot is free, or refuses at once when too many already wait.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, AuthError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(AuthError::Busy);
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let permit = permit.map_err(|e| AuthError::Key(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| AuthError::Key(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_queue_bound_hashes_are_refused_at_once() {
        let hasher = Arc::new(Hasher::new(1, 2));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(parking_lot::Mutex::new(hold));
        // One runs (blocked), two wait: the fourth is refused.
        let mut running = Vec::new();
        for _ in 0..3 {
            let (h, hold) = (hasher.clone(), hold.clone());
            running.push(tokio::spawn(async move {
                h.run(move || {
                    let _ = hold.lock().recv();
                })
                .await
            }));
        }
        while hasher.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(hasher.run(|| ()).await, Err(AuthError::Busy)));
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for r in running {
            assert!(r.await.unwrap().is_ok());
        }
        assert!(hasher.run(|| 7).await.is_ok());
    }
}
