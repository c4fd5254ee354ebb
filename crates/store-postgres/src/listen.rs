//! Wake-ups: one dedicated connection per instance LISTENs on `ferrovex_commits`, which every
//! commit NOTIFYs after it committed (carrying only its timestamp). A notification only cuts
//! the engine's poll short; the commit log stays the source of truth, so a lost notification,
//! a dropped listener or a reconnect delays nothing beyond one poll interval, and no
//! invalidation is missed: after a reconnect the engine reads on from its cursor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use parking_lot::{Condvar, Mutex};
use tokio_postgres::{AsyncMessage, NoTls};

/// Pause before reconnecting a dropped listener.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// Notifications seen, and the waiter's bookmark.
#[derive(Default)]
pub(crate) struct Wakeups {
    seen: AtomicU64,
    bookmark: Mutex<u64>,
    changed: Condvar,
}

impl Wakeups {
    fn bump(&self) {
        self.seen.fetch_add(1, Ordering::AcqRel);
        let _guard = self.bookmark.lock();
        self.changed.notify_all();
    }

    /// Waits up to `timeout` for a notification not yet waited for.
    pub(crate) fn wait(&self, timeout: Duration) {
        let mut bookmark = self.bookmark.lock();
        if self.seen.load(Ordering::Acquire) == *bookmark {
            let _ = self.changed.wait_for(&mut bookmark, timeout);
        }
        *bookmark = self.seen.load(Ordering::Acquire);
    }
}

/// Keeps a LISTEN connection open until the runtime shuts down.
pub(crate) async fn listen(mut config: tokio_postgres::Config, wakeups: Arc<Wakeups>) {
    config
        .connect_timeout(crate::conn::CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .application_name("ferrovex-listener");
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let mut messages =
                    futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                let listening = async {
                    client.batch_execute("LISTEN ferrovex_commits").await?;
                    Ok::<_, tokio_postgres::Error>(())
                };
                // The LISTEN runs while the connection is driven below.
                let mut listening = std::pin::pin!(listening);
                let mut listened = false;
                loop {
                    tokio::select! {
                        done = &mut listening, if !listened => {
                            listened = true;
                            if done.is_err() { break; }
                            // Commits made while we were not listening: read the log now.
                            wakeups.bump();
                        }
                        message = messages.next() => match message {
                            Some(Ok(AsyncMessage::Notification(_))) => wakeups.bump(),
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => break,
                        }
                    }
                }
                tracing::debug!("the PostgreSQL listener connection dropped; reconnecting");
            }
            Err(e) => tracing::debug!(error = %e, "cannot open the PostgreSQL listener"),
        }
        wakeups.bump();
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}
