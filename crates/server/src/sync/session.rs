//! One sync session: the per-socket state machine (versions, query set, identity), the
//! mutation queue, and the update step that re-runs invalidated queries and sends
//! Transitions.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use convex_sync_types::{AuthenticationToken, ClientMessage, QuerySetModification};

use super::frames::{attributes_json, decode_args, decode_path, parse_frame};
use ferrovex_auth::verify::Verifier;
use ferrovex_engine::{
    Engine, FunctionKind, FunctionPath, Metrics, Outcome, SessionHandle, Transport, WatcherId,
};
use ferrovex_engine::{Identity, Timestamp};
use ferrovex_values::Value;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value as Json;
use tokio::sync::{Semaphore, mpsc};

use super::protocol::{self, StateVersion};
use super::{
    CLIENT_TIMEOUT, HEARTBEAT, MAX_CONCURRENT_ACTIONS, MAX_QUERIES_PER_SOCKET, MUTATION_QUEUE,
    OUTBOUND_QUEUE_BYTES,
};
use crate::ApiState;

/// Update rounds in one step before yielding to other events (a query that is invalidated
/// again while it re-runs is retried in the next round).
const MAX_ROUNDS: usize = 8;
/// Longest a connecting client waits for this instance to publish what it observed elsewhere.
pub const HANDOVER_WAIT: Duration = Duration::from_secs(5);

/// Why a session ends.
enum End {
    /// The client closed or the socket failed.
    Gone,
    /// A protocol violation: `FatalError`, then close with this reason.
    Protocol(String),
    /// The client does not read its socket.
    SlowClient,
    /// Authentication failed: `AuthError` was sent; close.
    Auth,
    /// The client was silent too long.
    Timeout,
    /// A frame over the size limit: 1009 was queued.
    TooBig,
    /// The server is shutting down: close with 1001 so clients reconnect quietly.
    ServerStopping,
}

/// How long a socket closed for an oversized frame stays open after its close frame.
const TOO_BIG_GRACE: Duration = Duration::from_secs(1);

/// Work finished outside the main loop.
enum Event {
    MutationDone { request_id: u32, outcome: Outcome },
    ActionDone { request_id: u32, outcome: Outcome },
}

struct MutationJob {
    identity: Option<Arc<Identity>>,
    /// `WebSocket`, or `AdminWebSocket` after an admin `Authenticate`.
    transport: Transport,
    request_id: u32,
    path: Result<FunctionPath, String>,
    args: Result<Value, String>,
}

/// One subscribed query.
struct Subscribed {
    path: Result<FunctionPath, String>,
    args: Result<Value, String>,
    watcher: Option<WatcherId>,
    /// Hash of the last result sent, to skip unchanged results.
    sent_hash: Option<u64>,
    /// Snapshot timestamp of the result the client holds.
    valid_from: Timestamp,
    /// Size of its arguments as sent, counted against the socket's
    /// [`super::MAX_QUERY_ARGS_BYTES_PER_SOCKET`].
    args_bytes: usize,
}

struct Session {
    engine: Engine,
    metrics: Arc<Metrics>,
    out: mpsc::Sender<Message>,
    /// Bytes queued in `out` and not yet written to the socket.
    queued_bytes: Arc<AtomicUsize>,
    handle: Arc<SessionHandle>,
    sent: StateVersion,
    recv_query_set: u32,
    recv_identity: u32,
    queries: HashMap<u32, Subscribed>,
    /// Sum of the subscribed queries' `args_bytes`.
    args_bytes: usize,
    removed: Vec<u32>,
    session_id: Option<String>,
    clock_skew_ms: Option<i64>,
    mutations: mpsc::Sender<MutationJob>,
    events: mpsc::Sender<Event>,
    actions: Arc<Semaphore>,
    last_sent: Instant,
    /// The caller's verified identity, if authenticated.
    identity: Option<Arc<Identity>>,
    /// Verifies `Authenticate` tokens.
    verifier: Option<Arc<Verifier>>,
    /// `WebSocket`, or `AdminWebSocket` once authenticated with the admin key (internal
    /// functions callable).
    transport: Transport,
    /// The deployment's admin key, for `Authenticate` with `tokenType: "Admin"`.
    admin: Option<Arc<crate::admin::AdminKey>>,
    /// A Transition must still reach this timestamp (a mutation's commit), so the update is
    /// retried shortly even without a new invalidation.
    owed_ts: Option<Timestamp>,
    /// Mutations accepted and not yet answered. While there are any, invalidations wait: a
    /// commit is published before its caller hears of it, so an update run then could send a
    /// mutation's writes ahead of its MutationResponse, and a client would see the server's
    /// result and its own optimistic update at once. The update after each MutationResponse
    /// catches up.
    mutations_in_flight: usize,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn hash_outcome(msg: &Json) -> u64 {
    let mut h = DefaultHasher::new();
    // The message minus nothing: value or error, log lines. Query ids are equal per query.
    msg.to_string().hash(&mut h);
    h.finish()
}

/// Decodes the `args` array of a client message (`[{...}]`).
pub(crate) async fn run(socket: WebSocket, state: ApiState) {
    let engine = state.engine.clone();
    let metrics = engine.metrics().clone();
    metrics.open_sockets.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(super::OUTBOUND_QUEUE);
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let writer_bytes = queued_bytes.clone();
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            let closing = matches!(msg, Message::Close(_));
            let len = message_len(&msg);
            let failed = sink.send(msg).await.is_err();
            writer_bytes.fetch_sub(len, Ordering::Relaxed);
            if failed || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let (mutation_tx, mut mutation_rx) = mpsc::channel::<MutationJob>(MUTATION_QUEUE);
    let (event_tx, mut event_rx) = mpsc::channel::<Event>(MUTATION_QUEUE + MAX_CONCURRENT_ACTIONS);
    let mut session = Session {
        engine: engine.clone(),
        metrics: metrics.clone(),
        out: out_tx,
        queued_bytes,
        handle: SessionHandle::new(),
        sent: StateVersion::default(),
        recv_query_set: 0,
        recv_identity: 0,
        queries: HashMap::new(),
        removed: Vec::new(),
        session_id: None,
        clock_skew_ms: None,
        mutations: mutation_tx,
        events: event_tx.clone(),
        actions: Arc::new(Semaphore::new(MAX_CONCURRENT_ACTIONS)),
        last_sent: Instant::now(),
        owed_ts: None,
        identity: None,
        transport: Transport::WebSocket,
        admin: state.admin.clone(),
        verifier: state.verifier.clone(),
        mutations_in_flight: 0,
        args_bytes: 0,
    };
    // Mutations of one socket run one at a time, in the order they arrived.
    let session_id_cell = Arc::new(parking_lot::Mutex::new(None::<String>));
    let mutation_worker = {
        let engine = engine.clone();
        let session_id_cell = session_id_cell.clone();
        tokio::spawn(async move {
            while let Some(job) = mutation_rx.recv().await {
                let outcome = match (job.path, job.args) {
                    (Ok(path), Ok(args)) => {
                        let sid = session_id_cell.lock().clone();
                        match sid {
                            Some(sid) => {
                                engine
                                    .call_mutation_once(
                                        &sid,
                                        job.request_id,
                                        &path,
                                        args,
                                        job.transport,
                                        job.identity,
                                    )
                                    .await
                            }
                            None => {
                                engine
                                    .call_as(
                                        Some(FunctionKind::Mutation),
                                        &path,
                                        args,
                                        job.transport,
                                        job.identity,
                                    )
                                    .await
                            }
                        }
                    }
                    (Err(e), _) | (_, Err(e)) => failed_outcome(e),
                };
                if event_tx
                    .send(Event::MutationDone {
                        request_id: job.request_id,
                        outcome,
                    })
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };

    let mut stopping = state.stopping.clone();
    let mut last_inbound = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    let end = loop {
        tokio::select! {
            frame = stream.next() => {
                last_inbound = Instant::now();
                let result = match frame {
                    None => Err(End::Gone),
                    Some(Err(e)) => {
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                            let _ = session.out.try_send(Message::Close(Some(CloseFrame {
                                code: close_code::SIZE,
                                reason: Utf8Bytes::from(format!("MessageTooBig: frames are limited to {} bytes", super::MAX_FRAME_BYTES)),
                            })));
                            Err(End::TooBig)
                        } else {
                            Err(End::Gone)
                        }
                    }
                    Some(Ok(Message::Text(text))) => session.on_text(text.as_str(), &session_id_cell).await,
                    Some(Ok(Message::Binary(_))) => Err(End::Protocol("binary frames are not part of the protocol".to_owned())),
                    Some(Ok(Message::Close(_))) => Err(End::Gone),
                    Some(Ok(_)) => Ok(()),
                };
                if let Err(end) = result { break end; }
            }
            () = session.handle.changed(), if session.mutations_in_flight == 0 => {
                if let Err(end) = session.update(false).await { break end; }
            }
            Some(event) = event_rx.recv() => {
                if let Err(end) = session.on_event(event).await { break end; }
            }
            () = tokio::time::sleep(Duration::from_millis(2)), if session.owed_ts.is_some() && session.mutations_in_flight == 0 => {
                if let Err(end) = session.update(false).await { break end; }
            }
            // A dropped sender (no deployment to stop) never ends the session.
            () = async {
                if stopping.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => break End::ServerStopping,
            _ = ticker.tick() => {
                if last_inbound.elapsed() > CLIENT_TIMEOUT {
                    break End::Timeout;
                }
                if let Err(end) = session.check_expiry() { break end; }
                if session.last_sent.elapsed() >= HEARTBEAT {
                    if let Err(end) = session.send(protocol::ping()) { break end; }
                    let _ = session.out.try_send(Message::Ping(Default::default()));
                }
            }
        }
    };
    match &end {
        End::Protocol(reason) => {
            tracing::info!(%reason, "closing sync socket after a protocol error");
            let _ = session.send(protocol::fatal_error(reason));
            let _ = session.out.try_send(Message::Close(Some(CloseFrame {
                code: close_code::POLICY,
                reason: Utf8Bytes::from(truncate_reason(reason)),
            })));
        }
        End::Auth => {
            let _ = session.out.try_send(Message::Close(None));
        }
        End::SlowClient => {
            tracing::warn!("dropping a sync client that does not read its socket");
            writer.abort();
        }
        End::Timeout => {
            let _ = session.out.try_send(Message::Close(Some(CloseFrame {
                code: close_code::AWAY,
                reason: Utf8Bytes::from_static("ClientTimeout"),
            })));
        }
        End::ServerStopping => {
            let _ = session.out.try_send(Message::Close(Some(CloseFrame {
                code: close_code::AWAY,
                reason: Utf8Bytes::from_static("ServerShutdown"),
            })));
        }
        End::Gone | End::TooBig => {}
    }
    session.close();
    mutation_worker.abort();
    drop(session);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    if matches!(end, End::TooBig) {
        // The rest of the oversized frame is still arriving. Closing the socket on unread
        // data makes the kernel answer with a reset, which can reach the client before it
        // has read the close frame (it then reports 1006, not 1009): keep the socket open a
        // moment so the client reads the close frame and closes first.
        tokio::time::sleep(TOO_BIG_GRACE).await;
        drop(stream);
    }
    metrics.open_sockets.fetch_sub(1, Ordering::Relaxed);
}

/// The bytes a message adds to the outbound queue (counted for text frames only).
fn message_len(msg: &Message) -> usize {
    match msg {
        Message::Text(t) => t.len(),
        _ => 0,
    }
}

/// Close reasons are limited to 123 bytes.
fn truncate_reason(reason: &str) -> String {
    let mut r = reason.to_owned();
    let mut cut = r.len().min(120);
    while !r.is_char_boundary(cut) {
        cut -= 1;
    }
    r.truncate(cut);
    r
}

fn failed_outcome(message: String) -> Outcome {
    Outcome {
        result: Err(ferrovex_engine::FunctionFailure::Message(message)),
        log_lines: Vec::new(),
        ts: None,
        reads: None,
        writes: None,
        duration: Duration::ZERO,
        cached: false,
        identity_read: false,
    }
}

impl Session {
    fn send(&mut self, msg: Json) -> Result<(), End> {
        self.last_sent = Instant::now();
        let text = msg.to_string();
        let len = text.len();
        let queued = self.queued_bytes.load(Ordering::Relaxed);
        if queued > 0 && queued + len > OUTBOUND_QUEUE_BYTES {
            return Err(End::SlowClient);
        }
        self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        match self.out.try_send(Message::Text(Utf8Bytes::from(text))) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(End::SlowClient),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(End::Gone),
        }
    }

    async fn on_text(
        &mut self,
        text: &str,
        session_id_cell: &parking_lot::Mutex<Option<String>>,
    ) -> Result<(), End> {
        let msg = parse_frame(text).map_err(End::Protocol)?;
        match msg {
            ClientMessage::Connect {
                session_id,
                client_ts,
                max_observed_timestamp,
                ..
            } => {
                let sid = session_id.to_string();
                *session_id_cell.lock() = Some(sid.clone());
                self.session_id = Some(sid);
                if let Some(ts) = client_ts.filter(|ts| *ts > 0) {
                    let now_ms = i64::try_from(now_ns() / 1_000_000).unwrap_or(i64::MAX);
                    self.clock_skew_ms =
                        Some(i64::try_from(ts).unwrap_or(i64::MAX).saturating_sub(now_ms));
                }
                if let Some(observed) = max_observed_timestamp {
                    // A client coming from another instance may have seen commits this one
                    // has not read yet: hold it until they are published here.
                    let observed = Timestamp::from_nanos(u64::from(observed));
                    if observed > self.engine.published_ts()
                        && !self.engine.catch_up_to(observed, HANDOVER_WAIT).await
                    {
                        tracing::warn!(
                            observed = observed.as_nanos(),
                            published = self.engine.published_ts().as_nanos(),
                            "client has observed a timestamp newer than any stored commit"
                        );
                    }
                }
                Ok(())
            }
            ClientMessage::ModifyQuerySet {
                base_version,
                new_version,
                modifications,
            } => {
                self.modify_query_set(base_version, new_version, modifications)?;
                self.update(true).await
            }
            ClientMessage::Mutation {
                request_id,
                udf_path,
                args,
                ..
            } => {
                self.check_expiry()?;
                let job = MutationJob {
                    identity: self.identity.clone(),
                    transport: self.transport,
                    request_id,
                    path: decode_path(&udf_path.to_string()),
                    args: decode_args(args.get()),
                };
                self.mutations.try_send(job).map_err(|_| {
                    End::Protocol(format!(
                        "TooManyConcurrentRequests: more than {MUTATION_QUEUE} queued mutations"
                    ))
                })?;
                self.mutations_in_flight += 1;
                Ok(())
            }
            ClientMessage::Action {
                request_id,
                udf_path,
                args,
                ..
            } => {
                let path = decode_path(&udf_path.to_string());
                let args = decode_args(args.get());
                let Ok(permit) = self.actions.clone().try_acquire_owned() else {
                    return self.send(protocol::request_failed(
                        "ActionResponse",
                        request_id,
                        &format!("TooManyConcurrentRequests: at most {MAX_CONCURRENT_ACTIONS} actions may run at once per connection"),
                    ));
                };
                self.check_expiry()?;
                let engine = self.engine.clone();
                let events = self.events.clone();
                let identity = self.identity.clone();
                let transport = self.transport;
                tokio::spawn(async move {
                    let outcome = match (path, args) {
                        (Ok(path), Ok(args)) => {
                            engine
                                .call_as(
                                    Some(FunctionKind::Action),
                                    &path,
                                    args,
                                    transport,
                                    identity,
                                )
                                .await
                        }
                        (Err(e), _) | (_, Err(e)) => failed_outcome(e),
                    };
                    drop(permit);
                    let _ = events
                        .send(Event::ActionDone {
                            request_id,
                            outcome,
                        })
                        .await;
                });
                Ok(())
            }
            ClientMessage::Authenticate {
                base_version,
                token,
            } => {
                if base_version != self.recv_identity {
                    return Err(End::Protocol(format!(
                        "IdentityVersionMismatch: baseVersion {base_version}, expected {}",
                        self.recv_identity
                    )));
                }
                let identity = match token {
                    AuthenticationToken::None => None,
                    AuthenticationToken::User(jwt) => {
                        let verified =
                            match &self.verifier {
                                Some(v) => v.verify(&jwt).await.map_err(|e| e.to_string()),
                                None => Err("Authentication is not configured on this deployment"
                                    .to_owned()),
                            };
                        match verified {
                            Ok(identity) => Some(identity),
                            Err(message) => {
                                let _ = self.send(protocol::auth_error(
                                    &message,
                                    self.recv_identity,
                                    true,
                                ));
                                return Err(End::Auth);
                            }
                        }
                    }
                    AuthenticationToken::Admin(key, acting) => {
                        let checked = match &self.admin {
                            Some(admin) => admin.check(&key),
                            None => Err(crate::admin::AdminRefusal::BadKey),
                        }
                        .and_then(|()| {
                            acting
                                .as_ref()
                                .map(|a| crate::admin::acting_as(&attributes_json(a)))
                                .transpose()
                        });
                        match checked {
                            Ok(identity) => {
                                self.identity = identity;
                                self.transport = Transport::AdminWebSocket;
                                self.recv_identity += 1;
                                for id in self.queries.keys() {
                                    self.handle.mark_dirty(*id, Timestamp::ZERO);
                                }
                                return self.update(true).await;
                            }
                            Err(refusal) => {
                                let message = match refusal {
                                    crate::admin::AdminRefusal::BadKey => {
                                        "BadAdminKey: The provided admin key was invalid for this instance".to_owned()
                                    }
                                    crate::admin::AdminRefusal::TooMany => {
                                        "TooManyRequests: too many wrong admin keys".to_owned()
                                    }
                                    crate::admin::AdminRefusal::BadIdentity(why) => why,
                                };
                                let _ = self.send(protocol::auth_error(
                                    &message,
                                    self.recv_identity,
                                    true,
                                ));
                                return Err(End::Auth);
                            }
                        }
                    }
                };
                self.identity = identity;
                self.transport = Transport::WebSocket;
                self.recv_identity += 1;
                // Every query re-runs under the new identity, and user-scoped results change.
                for id in self.queries.keys() {
                    self.handle.mark_dirty(*id, Timestamp::ZERO);
                }
                self.update(true).await
            }
            ClientMessage::Event(_) => Ok(()),
        }
    }

    fn modify_query_set(
        &mut self,
        base_version: u32,
        new_version: u32,
        modifications: Vec<QuerySetModification>,
    ) -> Result<(), End> {
        if base_version != self.recv_query_set {
            return Err(End::Protocol(format!(
                "BaseVersionMismatch: baseVersion {base_version}, expected {}",
                self.recv_query_set
            )));
        }
        if new_version <= base_version {
            return Err(End::Protocol(format!(
                "InvalidQuerySetVersion: newVersion {new_version} must be greater than {base_version}"
            )));
        }
        for modification in modifications {
            match modification {
                QuerySetModification::Add(query) => {
                    let id = query.query_id.get_id();
                    if self.queries.contains_key(&id) {
                        return Err(End::Protocol(format!(
                            "QueryIdInUse: query id {id} is already in the query set"
                        )));
                    }
                    if self.queries.len() >= MAX_QUERIES_PER_SOCKET {
                        return Err(End::Protocol(format!(
                            "TooManySubscriptions: at most {MAX_QUERIES_PER_SOCKET} queries per connection"
                        )));
                    }
                    let args_bytes = query.args.get().len();
                    if self.args_bytes + args_bytes > super::MAX_QUERY_ARGS_BYTES_PER_SOCKET {
                        return Err(End::Protocol(format!(
                            "QueryArgumentsTooLarge: the subscribed queries' arguments may total at most {} bytes per connection",
                            super::MAX_QUERY_ARGS_BYTES_PER_SOCKET
                        )));
                    }
                    self.args_bytes += args_bytes;
                    self.queries.insert(
                        id,
                        Subscribed {
                            path: decode_path(&query.udf_path.to_string()),
                            args: decode_args(query.args.get()),
                            watcher: None,
                            sent_hash: None,
                            valid_from: Timestamp::ZERO,
                            args_bytes,
                        },
                    );
                    self.removed.retain(|r| *r != id);
                    self.metrics
                        .active_subscriptions
                        .fetch_add(1, Ordering::Relaxed);
                    self.handle.mark_dirty(id, Timestamp::ZERO);
                }
                QuerySetModification::Remove { query_id } => {
                    let id = query_id.get_id();
                    let Some(sub) = self.queries.remove(&id) else {
                        return Err(End::Protocol(format!(
                            "UnknownQueryId: query id {id} is not in the query set"
                        )));
                    };
                    if let Some(w) = sub.watcher {
                        self.engine.unwatch(w);
                    }
                    self.args_bytes -= sub.args_bytes;
                    self.handle.forget(id);
                    self.removed.push(id);
                    self.metrics
                        .active_subscriptions
                        .fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        self.recv_query_set = new_version;
        Ok(())
    }

    /// Re-runs invalidated queries and sends a Transition if anything changed (or always,
    /// with `force`).
    ///
    /// The Transition's timestamp `T` is only advanced to a value at which every result the
    /// client holds is valid: each result is valid from its snapshot timestamp until the first
    /// commit that overlaps its read set, so `T` must lie in `[max snapshot, min invalidation)`
    /// and be published. When writes keep invalidating results faster than they re-run, the
    /// new values are still sent, but `T` stays where it was until a consistent one exists.
    async fn update(&mut self, force: bool) -> Result<(), End> {
        let mut modifications: Vec<Json> = self
            .removed
            .drain(..)
            .map(protocol::query_removed)
            .collect();
        let mut consistent = None;
        for _ in 0..MAX_ROUNDS {
            for (id, _) in self.handle.take_dirty() {
                let Some(sub) = self.queries.get_mut(&id) else {
                    continue;
                };
                if let Some(w) = sub.watcher.take() {
                    self.engine.unwatch(w);
                }
                let msg = match (&sub.path, &sub.args) {
                    (Ok(path), Ok(args)) => {
                        let outcome = self
                            .engine
                            .call_as(
                                Some(FunctionKind::Query),
                                path,
                                args.clone(),
                                self.transport,
                                self.identity.clone(),
                            )
                            .await;
                        sub.valid_from = outcome.ts.unwrap_or(Timestamp::ZERO);
                        if let (Some(reads), Some(ts)) = (&outcome.reads, outcome.ts) {
                            sub.watcher =
                                Some(self.engine.watch(&self.handle, id, reads.clone(), ts));
                        }
                        protocol::query_modification(id, &outcome)
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        sub.valid_from = Timestamp::ZERO;
                        protocol::query_failed(id, e)
                    }
                };
                let hash = hash_outcome(&msg);
                if sub.sent_hash != Some(hash) {
                    sub.sent_hash = Some(hash);
                    modifications.push(msg);
                }
            }
            let (published, pending) = self.engine.pending(&self.handle);
            let lowest = self
                .queries
                .values()
                .map(|q| q.valid_from)
                .max()
                .unwrap_or(Timestamp::ZERO);
            let highest = pending
                .values()
                .map(|t| Timestamp::from_nanos(t.as_nanos().saturating_sub(1)))
                .min()
                .unwrap_or(published)
                .min(published);
            if highest >= lowest && !pending.values().any(|t| *t == Timestamp::ZERO) {
                consistent = Some(highest);
                break;
            }
            if pending.is_empty() {
                // A snapshot saw a commit that is not published yet; it will be in a moment.
                tokio::task::yield_now().await;
            }
        }
        let end_ts = match consistent {
            Some(ts) => self.sent.ts.max(ts.as_nanos()),
            None => self.sent.ts,
        };
        if self.owed_ts.is_some_and(|owed| owed.as_nanos() <= end_ts) {
            self.owed_ts = None;
        }
        let end = StateVersion {
            query_set: self.recv_query_set,
            identity: self.recv_identity,
            ts: end_ts,
        };
        let unchanged = end == self.sent;
        if modifications.is_empty() && !force && unchanged {
            return Ok(());
        }
        let msg = protocol::transition(self.sent, end, modifications, self.clock_skew_ms, now_ns());
        self.sent = end;
        self.send(msg)
    }

    async fn on_event(&mut self, event: Event) -> Result<(), End> {
        match event {
            Event::MutationDone {
                request_id,
                outcome,
            } => {
                self.mutations_in_flight = self.mutations_in_flight.saturating_sub(1);
                let ts = outcome.ts.map_or(0, |t| t.as_nanos());
                self.send(protocol::mutation_response(request_id, &outcome, ts))?;
                // Every MutationResponse is followed by a Transition reaching its timestamp,
                // but not while later mutations of this socket are in flight: they may have
                // committed already, and a Transition now would show their writes before
                // their MutationResponses (a client would count its optimistic update twice).
                // The update after the last one reaches every timestamp answered so far.
                if self.mutations_in_flight > 0 {
                    if let Some(t) = outcome.ts {
                        self.owed_ts = Some(self.owed_ts.map_or(t, |owed| owed.max(t)));
                    }
                    return Ok(());
                }
                self.update(true).await
            }
            Event::ActionDone {
                request_id,
                outcome,
            } => self.send(protocol::action_response(request_id, &outcome)),
        }
    }

    /// An expired token ends the session with `AuthError{authUpdateAttempted: false}`, so the
    /// client fetches a fresh token and reconnects.
    fn check_expiry(&mut self) -> Result<(), End> {
        let now = now_ns() / 1_000_000_000;
        if self.identity.as_ref().is_some_and(|i| i.expired(now)) {
            let _ = self.send(protocol::auth_error(
                "Token expired",
                self.recv_identity,
                false,
            ));
            return Err(End::Auth);
        }
        Ok(())
    }

    fn close(&mut self) {
        for (_, sub) in self.queries.drain() {
            if let Some(w) = sub.watcher {
                self.engine.unwatch(w);
            }
            self.metrics
                .active_subscriptions
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}
