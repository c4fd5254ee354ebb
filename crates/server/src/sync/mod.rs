//! The sync WebSocket (`/api/sync`, `/api/{version}/sync`): the Convex protocol that the
//! official clients use for subscriptions, mutations, actions and authentication.

mod frames;
#[cfg(test)]
mod fuzz;
mod protocol;
mod session;

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;

use crate::ApiState;

pub use protocol::{StateVersion, decode_u64, encode_u64};

/// Largest accepted client frame (8 MiB, like the HTTP body limit). Larger frames close the
/// socket with code 1009.
pub const MAX_FRAME_BYTES: usize = 8 << 20;
/// Most queries one socket may subscribe to; more is a client bug answered with `FatalError`.
pub const MAX_QUERIES_PER_SOCKET: usize = 1024;
/// Bytes of subscribed queries' arguments one socket may hold (as sent, JSON); one more query
/// beyond it is a `FatalError` `QueryArgumentsTooLarge`.
pub const MAX_QUERY_ARGS_BYTES_PER_SOCKET: usize = 16 << 20;
/// Outbound messages queued for a socket; a client that stops reading is disconnected when
/// the queue is full.
pub const OUTBOUND_QUEUE: usize = 512;
/// Bytes of outbound messages queued for a socket before it counts as not reading (one
/// message is always allowed, however large).
pub const OUTBOUND_QUEUE_BYTES: usize = 16 << 20;
/// Mutations queued per socket (they run one at a time, in order).
pub const MUTATION_QUEUE: usize = 256;
/// Actions running at once per socket.
pub const MAX_CONCURRENT_ACTIONS: usize = 16;
/// A JSON `Ping` is sent after this much outbound silence.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A client silent for this long (no frames, no pongs) is dropped.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Initial read buffer per socket (tungstenite's default is 128 KiB).
const READ_BUFFER: usize = 4096;
/// Bytes tungstenite may buffer for writing before sends fail.
const MAX_WRITE_BUFFER: usize = 16 << 20;

pub(crate) async fn upgrade(State(state): State<ApiState>, ws: WebSocketUpgrade) -> Response {
    // Small initial buffers keep idle sockets cheap; they grow for large frames.
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| session::run(socket, state))
}
