//! Shared helpers: start and stop a real `ferrovex serve` process, and small HTTP calls.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use serde_json::{Value as Json, json};

/// A running `ferrovex serve` child process.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` of the API origin.
    pub url: String,
    /// `http://127.0.0.1:PORT` of the site origin (auth).
    pub site_url: String,
    /// `http://127.0.0.1:PORT` of the web origin (demo app); empty for apps without one.
    pub web_url: String,
    /// The banner's lines (public URLs as printed).
    pub banner: Vec<String>,
    /// Every stdout line printed so far (URLs, then one line per function execution).
    pub stdout: Arc<Mutex<Vec<String>>>,
    /// Every stderr line printed so far (the tracing log).
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_on(data_dir, 0)
    }

    /// Starts on a given port (0 = any), e.g. to restart where clients expect the server.
    pub fn start_on(data_dir: &Path, port: u16) -> Server {
        Server::start_with(data_dir, port, &[], &[])
    }

    /// Starts with extra flags and environment variables; stderr is collected in `stderr`.
    pub fn start_with(data_dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_program(
            Path::new(env!("CARGO_BIN_EXE_ferrovex")),
            data_dir,
            port,
            args,
            env,
        )
    }

    /// Starts `serve` of another binary built on the ferrovex library (a user's app).
    pub fn start_program(
        program: &Path,
        data_dir: &Path,
        port: u16,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut cmd = Command::new(program);
        cmd.args(["serve", "--api-port", &port.to_string()]);
        // Free ports for the other origins, unless the caller chose them.
        for flag in ["--site-port", "--web-port"] {
            if !args.contains(&flag) {
                cmd.args([flag, "0"]);
            }
        }
        cmd.arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("FERROVEX_LOG", "warn")
            // The deliberate panics of the tests print one line, not a backtrace each.
            .env("RUST_BACKTRACE", "0")
            .env_remove("JWKS")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn ferrovex serve");
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let err_sink = stderr_lines.clone();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[server] {line}");
                err_sink.lock().push(line);
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut url = None;
        let mut site_url = None;
        // Apps without a web origin print no `web:` line; the Ctrl-C hint comes last.
        // A public URL that is not the bound address is followed by `(listening on URL)`:
        // tests talk to where it listens.
        let listening = |rest: &str| -> String {
            match rest.split_once("(listening on ") {
                Some((_, tail)) => tail.trim_end_matches(')').trim().to_owned(),
                None => rest.trim().to_owned(),
            }
        };
        let mut web_url = String::new();
        let mut banner = Vec::new();
        loop {
            let line = lines
                .next()
                .expect("server exited before printing its URLs")
                .expect("read stdout");
            banner.push(line.clone());
            if let Some(rest) = line.trim().strip_prefix("api:") {
                url = Some(listening(rest));
            }
            if let Some(rest) = line.trim().strip_prefix("site:") {
                site_url = Some(listening(rest));
            }
            if let Some(rest) = line.trim().strip_prefix("web:") {
                web_url = listening(rest);
            }
            if line.trim().starts_with("Press Ctrl-C") {
                break;
            }
        }
        let url = url.expect("api URL before the dashboard line");
        let site_url = site_url.expect("site URL before the dashboard line");
        // Keep draining stdout so the child never blocks on a full pipe.
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let sink = stdout.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().push(line);
            }
        });
        Server {
            child,
            url,
            site_url,
            web_url,
            banner,
            stdout,
            stderr: stderr_lines,
        }
    }

    /// The process id (to count its open file descriptors).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ctrl-C: a clean shutdown.
    pub fn interrupt(mut self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "clean shutdown exits 0, got {exit}");
    }

    /// SIGKILL: a crash.
    pub fn crash(mut self) {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub async fn send(
    method: &str,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, hyper::HeaderMap, Vec<u8>) {
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client()
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

pub async fn post(url: &str, body: impl Into<Vec<u8>>) -> (u16, Json) {
    let (status, _, bytes) = send(
        "POST",
        url,
        body.into(),
        &[("content-type", "application/json")],
    )
    .await;
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
    (status, json)
}

pub async fn call(server: &Server, kind: &str, path: &str, args: Json) -> Json {
    let body = json!({ "path": path, "args": [args], "format": "convex_encoded_json" });
    let (status, reply) = post(&format!("{}/api/{kind}", server.url), body.to_string()).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

/// The port of a server URL.
pub fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in url")
}

/// Where the npm packages of the official clients are installed.
pub fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat")
}

/// Runs one `node --test` file of `tests/compat` with `env`, requiring `package` to be
/// installed (scripts/test installs it), success, and `pass <expected>` in the report.
pub async fn run_node_suite(file: &str, package: &str, env: &[(&str, &str)], expected: usize) {
    let compat = compat_dir();
    assert!(
        compat.join("node_modules").join(package).is_dir(),
        "npm package {package} is missing in {}; run scripts/test, which installs it",
        compat.display()
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.args(["--test", "--test-reporter=spec", file])
        .current_dir(&compat)
        .env("FERROVEX_BIN", env!("CARGO_BIN_EXE_ferrovex"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run node");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The spec reporter lists the failing tests with their errors at the end; put them first,
    // so a truncated CI log still shows why.
    let failing = report.find("failing tests:").map_or("", |at| &report[at..]);
    assert!(
        out.status.success(),
        "{file} failed:\n{failing}\n\nthe whole report:\n{report}"
    );
    assert!(report.contains(&format!("pass {expected}")), "{report}");
}

/// The `name=value` pair of cookie `name` in a response's `Set-Cookie` headers.
pub fn cookie_of(headers: &hyper::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// The password of the users tests sign up.
pub const PASSWORD: &str = "correct horse battery staple";

/// A request to the site origin with a JSON body (none when `body` is null).
pub async fn site(
    server: &Server,
    method: &str,
    path: &str,
    body: Json,
    headers: &[(&str, &str)],
) -> (u16, hyper::HeaderMap, Json) {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let (status, headers, body) =
        send(method, &format!("{}{path}", server.site_url), bytes, &all).await;
    let json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    (status, headers, json)
}

/// Signs up and returns the session cookie pair (`better-auth.session_token=...`).
pub async fn sign_up(server: &Server, email: &str) -> String {
    let (status, headers, body) = site(
        server,
        "POST",
        "/api/auth/sign-up/email",
        json!({"name": "Ann", "email": email, "password": PASSWORD}),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    cookie_of(&headers, "better-auth.session_token").expect("session cookie")
}

/// The Convex JWT of a session cookie.
pub async fn token(server: &Server, cookie: &str) -> String {
    let (status, _, body) = site(
        server,
        "GET",
        "/api/auth/convex/token",
        Json::Null,
        &[("cookie", cookie)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}
