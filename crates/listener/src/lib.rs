//! Accepting HTTP/1.1 connections for one origin, with the bounds a public port needs.
//!
//! `axum::serve` has none: a client that opens a connection and never finishes its headers
//! holds it forever, and enough of them exhaust the process's file descriptors. [`serve`]
//! runs an axum router with:
//!
//! - **a header-read timeout**: a connection must deliver a request's headers within
//!   [`ConnectionLimits::header_timeout`] of starting to read them, which also closes
//!   keep-alive connections idle that long between requests;
//! - **a cap per client address** ([`ConnectionLimits::max_per_client`]): one more connection
//!   from that address is answered `503` and closed at once. Addresses in
//!   [`ConnectionLimits::exempt`] (the deployment's own proxies, which carry many users'
//!   requests) are not capped;
//! - **a cap in total** ([`ConnectionLimits::max_connections`]): at the cap, accepting waits
//!   for a connection to close (new clients queue in the kernel's backlog) instead of failing;
//! - `Connection: close` on every `413`, whose body was not read, so no client reuses a
//!   connection with an unread request body in it;
//! - graceful shutdown: in-flight requests finish, idle connections close.
//!
//! A connection holds its slot until its socket closes, an upgraded WebSocket included.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower_service::Service;

/// How long shutdown waits for in-flight requests before cutting their connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Default of [`ConnectionLimits::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`ConnectionLimits::max_connections`] (per origin).
pub const DEFAULT_MAX_CONNECTIONS: usize = 6000;
/// Default of [`ConnectionLimits::max_per_client`].
pub const DEFAULT_MAX_PER_CLIENT: usize = 512;

/// The bounds of one origin's connections.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Longest wait for a request's headers, from when reading them starts (the connection's
    /// start, or the end of the previous response).
    pub header_timeout: Duration,
    /// Most connections open at once; at the cap, accepting waits.
    pub max_connections: usize,
    /// Most connections open at once from one client address; more are refused with `503`.
    pub max_per_client: usize,
    /// Addresses not subject to `max_per_client`: proxies in front of (or inside) the
    /// deployment, whose one address stands for many users.
    pub exempt: Vec<IpAddr>,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_client: DEFAULT_MAX_PER_CLIENT,
            exempt: vec![
                IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ],
        }
    }
}

/// What an origin's listener has seen, for `/metrics`.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections accepted since the start.
    pub accepted: AtomicU64,
    /// Connections refused because their address was at its cap.
    pub refused_per_client: AtomicU64,
}

/// Open connections per client address.
#[derive(Debug, Default)]
struct Clients(Mutex<HashMap<IpAddr, usize>>);

/// A connection's share of the caps, given back when it drops.
struct Slot {
    clients: Arc<Clients>,
    stats: Arc<ListenerStats>,
    ip: IpAddr,
    _total: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut clients = self.clients.0.lock();
        if let Some(n) = clients.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                clients.remove(&self.ip);
            }
        }
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's socket, holding its [`Slot`] for as long as it is open (through an upgrade
/// to a WebSocket, too: hyper hands this same value to the upgraded connection).
struct Tracked {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The address a client is counted under: IPv4 as is, IPv6 by its /64 (one host usually has
/// a whole /64 to pick addresses from).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) if !v6.is_loopback() => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        other => other,
    }
}

/// The slot for a new connection from `ip`, or `None` when that address is at its cap.
fn admit(
    clients: &Arc<Clients>,
    stats: &Arc<ListenerStats>,
    limits: &ConnectionLimits,
    ip: IpAddr,
    total: OwnedSemaphorePermit,
) -> Option<Slot> {
    let ip = client_key(ip);
    let mut open = clients.0.lock();
    let n = open.entry(ip).or_default();
    if *n >= limits.max_per_client && !limits.exempt.contains(&ip) {
        if *n == 0 {
            open.remove(&ip);
        }
        return None;
    }
    *n += 1;
    stats.open.fetch_add(1, Ordering::Relaxed);
    stats.accepted.fetch_add(1, Ordering::Relaxed);
    Some(Slot {
        clients: clients.clone(),
        stats: stats.clone(),
        ip,
        _total: total,
    })
}

/// Tells a client over its address's cap why, without waiting on it, and closes.
fn refuse(stream: TcpStream, limit: usize) {
    let body = format!(
        "{{\"code\":\"TooManyConnections\",\"message\":\"too many connections from your address (the limit is {limit} at once)\"}}"
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

/// Whether an `accept` error concerns one connection only (retry at once) rather than the
/// process (file descriptors exhausted: back off).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then lets
/// in-flight requests finish. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stats: Arc<ListenerStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let total = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let clients = Arc::new(Clients::default());
    let (stop, stopped) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut warned_full = false;
    tokio::pin!(shutdown);
    loop {
        let permit = match total.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if !warned_full {
                    warned_full = true;
                    tracing::warn!(
                        limit = limits.max_connections,
                        "an origin is at its connection cap; new connections wait (--max-connections)"
                    );
                }
                tokio::select! {
                    p = total.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = admit(&clients, &stats, &limits, peer.ip(), permit) else {
            stats.refused_per_client.fetch_add(1, Ordering::Relaxed);
            refuse(stream, limits.max_per_client);
            continue;
        };
        while tasks.try_join_next().is_some() {}
        tasks.spawn(connection(
            Tracked {
                stream,
                _slot: slot,
            },
            peer,
            router.clone(),
            limits.header_timeout,
            stopped.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    // In-flight requests finish; a connection stuck past the grace period is cut.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    Ok(())
}

/// Serves one connection until it closes, or until shutdown once its request is answered.
async fn connection(
    socket: Tracked,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = socket.stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move {
            std::future::poll_fn(|cx| Service::<Request<Incoming>>::poll_ready(&mut router, cx))
                .await?;
            let mut response = router.call(request).await?;
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder
        .serve_connection(TokioIo::new(socket), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = async { let _ = stopped.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Timeouts and clients that went away: the peer's business, not the server's.
        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permit(sem: &Arc<Semaphore>) -> OwnedSemaphorePermit {
        sem.clone().try_acquire_owned().unwrap()
    }

    #[test]
    fn a_client_over_its_cap_is_refused_and_its_slots_come_back_when_connections_close() {
        let limits = ConnectionLimits {
            max_per_client: 2,
            ..ConnectionLimits::default()
        };
        // One /64 is one client.
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let sem = Arc::new(Semaphore::new(10));
        let clients = Arc::new(Clients::default());
        let stats = Arc::new(ListenerStats::default());
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let a = admit(&clients, &stats, &limits, ip, permit(&sem)).unwrap();
        let _b = admit(&clients, &stats, &limits, ip, permit(&sem)).unwrap();
        assert!(admit(&clients, &stats, &limits, ip, permit(&sem)).is_none());
        // Another address has its own allowance, and the exempt loopback has none.
        let other: IpAddr = "10.0.0.8".parse().unwrap();
        assert!(admit(&clients, &stats, &limits, other, permit(&sem)).is_some());
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let locals: Vec<Slot> = (0..5)
            .map(|_| admit(&clients, &stats, &limits, local, permit(&sem)).unwrap())
            .collect();
        assert_eq!(stats.open.load(Ordering::Relaxed), 7);
        drop(a);
        let _c = admit(&clients, &stats, &limits, ip, permit(&sem)).unwrap();
        drop(locals);
        assert!(
            !clients.0.lock().contains_key(&local),
            "no entry outlives its connections"
        );
        // IPv4-mapped IPv6 is the same client as its IPv4 address.
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert!(admit(&clients, &stats, &limits, mapped, permit(&sem)).is_none());
    }
}
