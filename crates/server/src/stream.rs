//! Response bodies streamed from a file or blob: each 64 KiB chunk is read on the blocking
//! pool when the client asks for it, so a slow client holds memory for one chunk and no
//! blocking thread while it dawdles.

use std::io::Read;

use axum::body::{Body, Bytes};

/// Bytes read per chunk.
const CHUNK: usize = 64 * 1024;

type Reader = Box<dyn Read + Send>;

/// A body of at most `limit` bytes read from `reader`.
pub(crate) fn read_body(reader: Reader, limit: u64) -> Body {
    let state = Some((reader, limit));
    Body::from_stream(futures_util::stream::unfold(state, |state| async move {
        let (mut reader, left) = state?;
        if left == 0 {
            return None;
        }
        let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; want];
            let n = reader.read(&mut buf);
            (reader, buf, n)
        })
        .await;
        match read {
            Ok((reader, mut buf, Ok(n))) if n > 0 => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(Bytes::from(buf)),
                    Some((reader, left - n as u64)),
                ))
            }
            Ok((_, _, Ok(_))) => None,
            Ok((_, _, Err(e))) => Some((Err(e), None)),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    }))
}
