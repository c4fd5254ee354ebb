//! Single flight: concurrent identical query cache misses run once; the others wait for the
//! leader's result.

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::engine::Outcome;
use crate::invalidation::CacheKey;

/// In-flight query executions by cache key.
#[derive(Default)]
pub(crate) struct Flights {
    waiting: Mutex<HashMap<CacheKey, Vec<oneshot::Sender<Outcome>>>>,
}

/// Either run the query (and later share it) or wait for the one already running.
pub(crate) enum Flight<'a> {
    Lead(FlightGuard<'a>),
    Join(oneshot::Receiver<Outcome>),
}

impl Flights {
    pub(crate) fn begin(&self, key: &CacheKey) -> Flight<'_> {
        let mut waiting = self.waiting.lock();
        if let Some(waiters) = waiting.get_mut(key) {
            let (tx, rx) = oneshot::channel();
            waiters.push(tx);
            return Flight::Join(rx);
        }
        waiting.insert(key.clone(), Vec::new());
        Flight::Lead(FlightGuard {
            flights: self,
            key: Some(key.clone()),
        })
    }
}

/// Held by the leader; dropping it without [`FlightGuard::finish`] releases the waiters,
/// who then run the query themselves.
pub(crate) struct FlightGuard<'a> {
    flights: &'a Flights,
    key: Option<CacheKey>,
}

impl FlightGuard<'_> {
    /// Hands a shareable result to every waiter (or releases them with `None`).
    pub(crate) fn finish(mut self, shared: Option<&Outcome>) {
        let Some(key) = self.key.take() else { return };
        let waiters = self.flights.waiting.lock().remove(&key).unwrap_or_default();
        if let Some(outcome) = shared {
            for w in waiters {
                let _ = w.send(outcome.clone());
            }
        }
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.flights.waiting.lock().remove(&key);
        }
    }
}
