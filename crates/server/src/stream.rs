//! Response bodies streamed from a file or blob on a blocking thread: 64 KiB chunks, at most
//! four in flight, so memory stays bounded whatever the size.

use std::io::Read;

use axum::body::{Body, Bytes};

/// A body of at most `limit` bytes read from `reader`.
pub(crate) fn read_body(mut reader: Box<dyn Read + Send>, limit: u64) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut left = limit;
        while left > 0 {
            let mut buf = vec![0u8; usize::try_from(left.min(64 * 1024)).unwrap_or(64 * 1024)];
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    left -= n as u64;
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}
