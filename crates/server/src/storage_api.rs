//! File storage over HTTP, as Convex's client flow expects:
//!
//! - `POST /api/storage/upload?token=…` (the URL `generate_upload_url` returned): the bytes
//!   with their `Content-Type`, streamed to disk (bounded memory) and hashed on the way;
//!   answers `{"storageId": "…"}`. A used or unknown token and an expired one get 400 with a
//!   message saying so; more than `--max-file-bytes` gets 413 and nothing is stored.
//! - `GET /api/storage/{token}` (the URL `get_url` returned; the token is random, and a file's
//!   `_id` is not a URL): the bytes with `Content-Type`,
//!   `Content-Length`, an `ETag` (the SHA-256; `If-None-Match` answers 304), `Accept-Ranges`,
//!   one `Range` (206, or 416 when it cannot be satisfied) and `Cache-Control`. Files are
//!   served with `X-Content-Type-Options: nosniff` and a sandboxing CSP, so an uploaded HTML
//!   page cannot run script on the API origin.

use std::io::{Seek, SeekFrom, Write as _};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrovex_engine::UploadRefusal;
use futures_util::StreamExt as _;
use serde_json::json;

use crate::{ApiError, ApiState};

/// Default of `--max-file-bytes`.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 << 30;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/storage/upload", post(upload))
        .route("/api/storage/{id}", get(download))
}

fn refused(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Refused {
        code,
        message: message.into(),
    }
}

fn too_large(max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "a file may be at most {max} bytes (--max-file-bytes); nothing was stored"
    ))
}

/// Upload URLs with an upload under way in this process.
static UPLOADING: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Marks an upload URL busy until dropped.
struct Uploading(String);

impl Uploading {
    fn claim(token: &str) -> Option<Uploading> {
        let mut busy = UPLOADING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if busy.iter().any(|t| t == token) {
            return None;
        }
        busy.push(token.to_owned());
        Some(Uploading(token.to_owned()))
    }
}

impl Drop for Uploading {
    fn drop(&mut self) {
        let mut busy = UPLOADING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        busy.retain(|t| *t != self.0);
    }
}

fn refusal(r: UploadRefusal) -> ApiError {
    match r {
        UploadRefusal::Expired => refused("UploadUrlExpired", r.to_string()),
        UploadRefusal::UnknownOrUsed => refused("UploadUrlUsed", r.to_string()),
    }
}

async fn upload(
    State(state): State<ApiState>,
    Query(params): Query<std::collections::BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let engine = state.engine.clone();
    let blobs = engine
        .blobs()
        .ok_or_else(|| refused("StorageUnavailable", "file storage is not configured"))?;
    let max = state.max_file_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let token = params.get("token").map_or("", String::as_str).to_owned();
    engine
        .check_upload_token(&token)
        .await
        .map_err(|e| refused("Unavailable", e.to_string()))?
        .map_err(refusal)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(256).collect::<String>())
        .filter(|v| !v.is_empty());
    // One upload per URL at a time (a second one in parallel would only waste disk).
    let Some(_uploading) = Uploading::claim(&token) else {
        return Err(refused(
            "UploadUrlInUse",
            "an upload to this URL is already under way",
        ));
    };
    // Each chunk is written on the blocking pool as it arrives: memory stays at one chunk, and
    // a slow client holds no blocking thread while it sends.
    let mut out = tokio::task::spawn_blocking(move || blobs.begin())
        .await
        .map_err(|e| refused("Unavailable", e.to_string()))?
        .map_err(|e| refused("StorageFailed", e.to_string()))?;
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => return Err(ApiError::BadJsonBody(format!("the upload broke off: {e}"))),
        };
        received += chunk.len() as u64;
        if received > max {
            // Dropping the writer removes the partial bytes.
            return Err(too_large(max));
        }
        out = tokio::task::spawn_blocking(move || out.write_all(&chunk).map(|()| out))
            .await
            .map_err(|e| refused("Unavailable", e.to_string()))?
            .map_err(|e| refused("StorageFailed", e.to_string()))?;
    }
    let stored = tokio::task::spawn_blocking(move || out.finish())
        .await
        .map_err(|e| refused("Unavailable", e.to_string()))?
        .map_err(|e| refused("StorageFailed", e.to_string()))?;
    let id = engine
        .complete_upload(&token, stored, content_type)
        .await
        .map_err(|e| refused("Unavailable", e.to_string()))?
        .map_err(refusal)?;
    Ok(Json(json!({ "storageId": id.as_str() })).into_response())
}

/// One byte range of a `Range` header against `size`: `Ok(None)` for none (or one this
/// server ignores, such as several ranges), `Err` when it cannot be satisfied.
fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let n: u64 = end.parse().map_err(|_| ())?;
        if n == 0 || size == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = start.parse().map_err(|_| ())?;
        let end: u64 = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            end.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        if start >= size || end < start {
            return Err(());
        }
        (start, end)
    };
    Ok(Some(range))
}

async fn download(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let engine = state.engine.clone();
    let missing = || ApiError::NotFound("no such file".to_owned());
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(missing());
    }
    let meta = engine
        .file_by_url_token(&id)
        .await
        .map_err(|e| refused("Unavailable", e.to_string()))?
        .ok_or_else(missing)?;
    let key = meta.blob_key().ok_or_else(missing)?;
    let etag = format!("\"{}\"", key.as_str());
    let content_type = meta
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let mut response_headers = HeaderMap::new();
    let mut put = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            response_headers.insert(name, v);
        }
    };
    put(header::ETAG, &etag);
    put(header::CACHE_CONTROL, "private, max-age=86400, immutable");
    put(header::ACCEPT_RANGES, "bytes");
    put(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    put(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox",
    );
    put(header::CONTENT_TYPE, &content_type);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    let blobs = engine
        .blobs()
        .ok_or_else(|| refused("StorageUnavailable", "file storage is not configured"))?;
    let blob = tokio::task::spawn_blocking(move || blobs.open(&key))
        .await
        .map_err(|e| refused("Unavailable", e.to_string()))?
        .map_err(|e| refused("StorageFailed", e.to_string()))?
        .ok_or_else(missing)?;
    let size = blob.size;
    let range = byte_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        size,
    );
    let Ok(range) = range else {
        put(header::CONTENT_RANGE, &format!("bytes */{size}"));
        return Ok((StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response());
    };
    let mut reader = blob.reader;
    let (status, start, len) = match range {
        Some((start, end)) => {
            put(
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{size}"),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        None => (StatusCode::OK, 0, size),
    };
    if start > 0 {
        reader
            .seek(SeekFrom::Start(start))
            .map_err(|e| refused("StorageFailed", e.to_string()))?;
    }
    put(header::CONTENT_LENGTH, &len.to_string());
    Ok((
        status,
        response_headers,
        crate::stream::read_body(reader, len),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(byte_range(None, 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(byte_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(byte_range(Some("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(byte_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(byte_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=4-2"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=0-1,4-5"), 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=x-"), 10), Err(()));
    }
}
