//! `bench --suite files`: a `--file-mib` MiB upload through the Convex flow and its download,
//! against a `ferrovex serve` child process (so the server's peak memory, `VmHWM`, is its own),
//! on loopback with a plain streaming client; beside them a plain copy of the same file on the
//! same disk (with fsync, as the upload does).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::bench_sync::ServerProcess;

/// Host and path of an `http://host/path` URL.
fn split(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url.strip_prefix("http://").context("an http:// URL")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((host.to_owned(), format!("/{path}")))
}

/// Sends a request (streaming `body` from a file when given) and returns the status and the
/// number of body bytes read (the body is read and dropped).
fn request(
    method: &str,
    url: &str,
    body: Option<(&Path, u64)>,
) -> anyhow::Result<(u16, u64, String)> {
    let (host, path) = split(url)?;
    let mut socket = TcpStream::connect(&host)?;
    let length = body.map_or(0, |(_, n)| n);
    write!(
        socket,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
    )?;
    if let Some((file, _)) = body {
        let mut input = std::fs::File::open(file)?;
        std::io::copy(&mut input, &mut socket)?;
    }
    socket.flush()?;
    let mut reader = BufReader::with_capacity(1 << 20, socket);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("an HTTP status line")?;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
    }
    let mut small = Vec::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if small.len() < 4096 {
            small.extend_from_slice(&buf[..n.min(4096)]);
        }
        total += n as u64;
    }
    Ok((status, total, String::from_utf8_lossy(&small).into_owned()))
}

fn write_file(path: &Path, mib: u64) -> anyhow::Result<()> {
    // Incompressible bytes from a xorshift generator (no dependency needed for a benchmark).
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let block: Vec<u8> = (0..(1 << 20))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..mib {
        let mut b = block.clone();
        b[..8].copy_from_slice(&i.to_le_bytes());
        out.write_all(&b)?;
    }
    out.flush()?;
    Ok(())
}

/// Runs the suite and returns its Markdown report.
pub fn files_report(mib: u64) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("upload.bin");
    write_file(&input, mib)?;
    let bytes = mib << 20;
    let server = ServerProcess::start()?;
    let api = server.url.clone();
    let rss_idle = server.peak_rss_mib()?;
    let upload_url = call(
        &api,
        "mutation",
        "files:generateUploadUrl",
        serde_json::json!({}),
    )?;
    let upload_url = upload_url.as_str().context("an upload URL")?.to_owned();
    let started = Instant::now();
    let (status, _, reply) = request("POST", &upload_url, Some((&input, bytes)))?;
    let upload_secs = started.elapsed().as_secs_f64();
    if status != 200 {
        bail!("upload: {status} {reply}");
    }
    let rss_upload = server.peak_rss_mib()?;
    let stored: serde_json::Value = serde_json::from_str(&reply)?;
    let storage_id = stored["storageId"].as_str().context("a storageId")?;
    // The file's URL comes from `get_url` (through the demo's files:list), not from its id.
    call(
        &api,
        "mutation",
        "files:save",
        serde_json::json!({ "storageId": storage_id, "name": "bench.bin" }),
    )?;
    let listed = call(&api, "query", "files:list", serde_json::json!({}))?;
    let file_url = listed[0]["url"].as_str().context("a file URL")?.to_owned();
    let started = Instant::now();
    let (status, got, _) = request("GET", &file_url, None)?;
    let download_secs = started.elapsed().as_secs_f64();
    if status != 200 || got != bytes {
        bail!("download: {status}, {got} of {bytes} bytes");
    }
    let rss_download = server.peak_rss_mib()?;
    let copy = dir.path().join("copy.bin");
    let started = Instant::now();
    std::fs::copy(&input, &copy)?;
    std::fs::File::open(&copy)?.sync_all()?;
    let copy_secs = started.elapsed().as_secs_f64();
    let rate = |secs: f64| mib as f64 / secs.max(1e-9);
    Ok([
        format!("files suite: one {mib} MiB file; server peak memory (VmHWM) {rss_idle:.1} MiB idle"),
        String::new(),
        "| step | time | MiB/s | server peak memory after |".to_owned(),
        "|---|---|---|---|".to_owned(),
        format!("| upload (POST to the upload URL, hashed and fsynced) | {upload_secs:.2} s | {:.0} | {rss_upload:.1} MiB |", rate(upload_secs)),
        format!("| download (GET the file URL) | {download_secs:.2} s | {:.0} | {rss_download:.1} MiB |", rate(download_secs)),
        format!("| plain file copy + fsync (baseline) | {copy_secs:.2} s | {:.0} | - |", rate(copy_secs)),
    ]
    .join("\n"))
}

/// Calls a function over `POST /api/<kind>` and returns its value.
fn call(
    api: &str,
    kind: &str,
    path: &str,
    args: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let (host, _) = split(api)?;
    let body = serde_json::json!({ "path": path, "args": args }).to_string();
    let mut socket = TcpStream::connect(&host)?;
    write!(
        socket,
        "POST /api/{kind} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut text = String::new();
    socket.read_to_string(&mut text)?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let reply: serde_json::Value =
        serde_json::from_str(body).with_context(|| format!("{path}: not a JSON reply: {text}"))?;
    if reply["status"] != "success" {
        bail!("{path}: {reply}");
    }
    Ok(reply["value"].clone())
}
