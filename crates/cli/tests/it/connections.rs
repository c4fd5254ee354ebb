//! Connection bounds on a real `ferrovex serve`: thousands of idle or slow connections do not
//! stop a normal client, the header timeout closes them, one address over its cap is refused
//! with a clear 503, and a 413 closes its connection.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::{Server, call, send};

fn api_addr(server: &Server) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("api address")
}

/// A connection from `ip` (any 127.0.0.0/8 address is this machine).
async fn connect_from(ip: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((ip, 0).into()).unwrap();
    socket.connect(to).await.unwrap()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// `ferrovex_connections_open{origin="api"}` from `/metrics`.
async fn open_on_api(server: &Server) -> u64 {
    let (_, _, body) = send("GET", &format!("{}/metrics", server.url), Vec::new(), &[]).await;
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix("ferrovex_connections_open{origin=\"api\"} "))
        .and_then(|n| n.parse().ok())
        .expect("the open-connections gauge")
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A 408 or similar before the close is fine; keep reading to the end.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_normal_client_is_served_while_5000_idle_or_slow_connections_are_held() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 0, &["--header-timeout-secs", "10"], &[]);
    let api = api_addr(&server);
    let fds_before = open_fds(server.pid());
    // 5,000 connections from 25 addresses (200 each, under the default per-client cap):
    // every other one sends half a request and stalls, the rest send nothing.
    let started = Instant::now();
    let mut flood = Vec::with_capacity(5000);
    for i in 0..5000u32 {
        let ip = Ipv4Addr::new(127, 0, 0, 2 + (i % 25) as u8);
        let mut stream = connect_from(ip, api).await;
        if i % 2 == 1 {
            stream
                .write_all(b"GET /version HTTP/1.1\r\nhost: x\r\n")
                .await
                .unwrap();
        }
        flood.push(stream);
    }
    let opened_in = started.elapsed();
    // All of them are held by the server at once (accepted, not just queued)...
    let mut held = 0;
    for _ in 0..50 {
        held = open_on_api(&server).await;
        if held >= 5000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        held >= 5000,
        "only {held} connections held (opened in {opened_in:?})"
    );
    // ...and a normal client is served: a mutation and a query over HTTP.
    let sent = call(
        &server,
        "mutation",
        "messages:send",
        json!({ "channel": "flood", "author": "normal", "body": "still here" }),
    )
    .await;
    assert_eq!(sent["status"], "success", "{sent}");
    let listed = call(
        &server,
        "query",
        "messages:list",
        json!({ "channel": "flood" }),
    )
    .await;
    assert_eq!(listed["value"][0]["body"], "still here", "{listed}");
    // The header timeout closes every one of them, silent and slow alike.
    for (i, stream) in flood.iter_mut().enumerate().step_by(97) {
        assert!(
            closed_by_server(stream, Duration::from_secs(30)).await,
            "connection {i} still open after the header timeout"
        );
    }
    drop(flood);
    let mut open = u64::MAX;
    for _ in 0..100 {
        open = open_on_api(&server).await;
        if open <= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(open <= 2, "{open} connections still counted open");
    // No descriptor leaked: back to where it started, give or take the pools'.
    let fds_after = open_fds(server.pid());
    assert!(
        fds_after <= fds_before + 16,
        "{fds_before} descriptors before the flood, {fds_after} after"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_over_its_connection_cap_gets_a_clear_503_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 0, &["--max-connections-per-client", "50"], &[]);
    let api = api_addr(&server);
    let greedy = Ipv4Addr::new(127, 0, 0, 9);
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(connect_from(greedy, api).await);
    }
    let mut refused = connect_from(greedy, api).await;
    let mut answer = String::new();
    let _ =
        tokio::time::timeout(Duration::from_secs(10), refused.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("TooManyConnections"), "{answer}");
    assert!(answer.contains("the limit is 50"), "{answer}");
    // Loopback (the default trusted proxy) and other addresses are not affected.
    let version = send("GET", &format!("{}/version", server.url), Vec::new(), &[]).await;
    assert_eq!(version.0, 200);
    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 10), api).await;
    other
        .write_all(b"GET /version HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    other.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // Closing one frees a slot for that address again.
    held.pop();
    let mut again = None;
    for _ in 0..50 {
        let mut stream = connect_from(greedy, api).await;
        stream
            .write_all(b"GET /version HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply).await;
        if reply.starts_with("HTTP/1.1 200") {
            again = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "the freed slot was never given back");
    let (_, _, metrics) = send("GET", &format!("{}/metrics", server.url), Vec::new(), &[]).await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        !metrics.contains("ferrovex_connections_refused_total{origin=\"api\"} 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_413_closes_its_connection_so_the_unread_body_is_never_parsed_as_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let body = format!(
        r#"{{"path":"messages:send","args":[{{"channel":"c","author":"a","body":"{}"}}]}}"#,
        "x".repeat(9 << 20)
    );
    let (status, headers, _) = send(
        "POST",
        &format!("{}/api/mutation", server.url),
        body.into_bytes(),
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(headers["connection"], "close");
}

/// The short soak CI runs (`bench --suite soak`): 20 s of mixed load with no error, and no
/// descriptor growth: not between the first and the last interval under churn, and none left
/// once the deployment has stopped. No timing is checked.
#[test]
fn a_short_soak_has_no_errors_and_leaks_no_descriptors() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrovex"))
        .args([
            "bench",
            "--suite",
            "soak",
            "--duration-secs",
            "20",
            "--interval-secs",
            "5",
        ])
        .env("FERROVEX_LOG", "warn")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fds: Vec<usize> = report
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(" s | "))
        .map(|l| l.split('|').nth(3).unwrap().trim().parse().unwrap())
        .collect();
    assert!(fds.len() >= 3, "{report}");
    assert!(
        fds.last().unwrap() <= &(fds[0] + 8),
        "descriptors grew under load: {fds:?}\n{report}"
    );
    let summary = report.lines().find(|l| l.starts_with("errors: ")).unwrap();
    assert!(summary.starts_with("errors: 0;"), "{report}");
    let numbers: Vec<usize> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let (before, after) = (numbers[1], numbers[2]);
    assert!(
        after <= before + 4,
        "{after} descriptors open after stopping, {before} before\n{report}"
    );
}
