//! `ferrovex dev`, run in an app's folder: the loop `npx convex dev` is for Convex users.
//!
//! 1. `cargo build` the app (the compiler's diagnostics go straight to the terminal);
//! 2. regenerate the TypeScript when `[package.metadata.ferrovex] codegen = "DIR"` is set;
//! 3. start `<app> serve` on a dev data directory and fixed ports;
//! 4. watch `src/` and `Cargo.toml`; on a change, rebuild. A failed build (or a new binary
//!    whose `App` panics while it is built, caught by running its `codegen` first) keeps the
//!    old server answering; a good one replaces it on the same ports, and connected clients
//!    reconnect and re-run their queries by themselves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use parking_lot::Mutex;

/// How often the sources are checked for changes.
const POLL: Duration = Duration::from_millis(250);
/// How long a stopping server gets to finish before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Flags of `ferrovex dev`.
#[derive(clap::Args, Debug)]
pub struct DevArgs {
    /// The app's folder (holding its Cargo.toml).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Data directory of the dev deployment (relative to the app's folder).
    #[arg(long, default_value = ".ferrovex/dev")]
    pub data_dir: PathBuf,
    /// Port of the API origin.
    #[arg(long, env = "FERROVEX_API_PORT", default_value_t = 3210)]
    pub api_port: u16,
    /// Port of the site origin.
    #[arg(long, env = "FERROVEX_SITE_PORT", default_value_t = 3211)]
    pub site_port: u16,
    /// Build once, generate, serve, and do not watch.
    #[arg(long)]
    pub once: bool,
    /// More flags for `serve`, after `--` (e.g. `-- --trusted-origins http://localhost:5173`).
    #[arg(last = true)]
    pub serve_args: Vec<String>,
}

/// What `cargo metadata` says about the app.
struct AppInfo {
    manifest: PathBuf,
    root: PathBuf,
    bin: String,
    codegen: Option<PathBuf>,
}

fn app_info(dir: &Path) -> anyhow::Result<AppInfo> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{} has no Cargo.toml: run `ferrovex dev` in an app's folder (make one with `ferrovex init <dir>`)",
            dir.display()
        );
    }
    let out = Command::new(cargo())
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed for {}", manifest.display());
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let canonical = manifest.canonicalize()?;
    let same_file = |p: &serde_json::Value| {
        p["manifest_path"]
            .as_str()
            .and_then(|m| Path::new(m).canonicalize().ok())
            .is_some_and(|m| m == canonical)
    };
    let package = meta["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| same_file(p)))
        .with_context(|| format!("{} is not a package", manifest.display()))?;
    let bin = package["targets"]
        .as_array()
        .and_then(|ts| {
            ts.iter().find(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
        })
        .and_then(|t| t["name"].as_str())
        .with_context(|| format!("{} has no binary target", manifest.display()))?
        .to_owned();
    let root = manifest
        .canonicalize()?
        .parent()
        .map(Path::to_path_buf)
        .context("manifest without a folder")?;
    let codegen = package["metadata"]["ferrovex"]["codegen"]
        .as_str()
        .map(|p| root.join(p));
    Ok(AppInfo {
        manifest,
        root,
        bin,
        codegen,
    })
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Builds the app; the path of its binary, or `None` when the build failed (the compiler's
/// messages are already on the terminal).
fn build(app: &AppInfo) -> anyhow::Result<Option<PathBuf>> {
    let out = Command::new(cargo())
        .args([
            "build",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&app.manifest)
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .output()
        .context("cannot run cargo build")?;
    if !out.status.success() {
        return Ok(None);
    }
    let mut exe = None;
    for line in out.stdout.split(|b| *b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact"
            && msg["target"]["name"].as_str() == Some(app.bin.as_str())
            && let Some(path) = msg["executable"].as_str()
        {
            exe = Some(PathBuf::from(path));
        }
    }
    exe.map(Some)
        .context("cargo build succeeded but named no executable")
}

/// Regenerates the TypeScript (into a scratch folder when none is configured): this also
/// builds the new binary's `App`, so a registration that panics (a duplicate path, say) is
/// caught before the running server is replaced.
fn codegen(app: &AppInfo, exe: &Path) -> anyhow::Result<()> {
    let scratch;
    let out = match &app.codegen {
        Some(out) => out.as_path(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path()
        }
    };
    let output = Command::new(exe)
        .arg("codegen")
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .output()
        .context("cannot run the new binary")?;
    if !output.status.success() {
        bail!(
            "the new binary fails before serving:\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(())
}

/// Waits until the new server accepts connections on the API port, or has exited.
fn wait_ready(child: &mut Child, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the server exited at start ({status}); see its output above");
        }
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server did not open port {port} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_server(app: &AppInfo, exe: &Path, args: &DevArgs) -> anyhow::Result<Child> {
    let data_dir = app.root.join(&args.data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    // A copy of the binary runs, so the next build can replace the original freely.
    let run_dir = app.root.join(".ferrovex");
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let copy = run_dir.join(format!("{}-dev", app.bin));
    let _ = std::fs::remove_file(&copy);
    std::fs::copy(exe, &copy).context("cannot copy the app's binary")?;
    Command::new(&copy)
        .arg("serve")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--api-port")
        .arg(args.api_port.to_string())
        .arg("--site-port")
        .arg(args.site_port.to_string())
        .args(&args.serve_args)
        .current_dir(&app.root)
        .spawn()
        .context("cannot start the app")
}

/// Stops a server: SIGTERM, then SIGKILL after [`STOP_GRACE`].
fn stop_server(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Modification times of the files whose change triggers a rebuild.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut out = BTreeMap::new();
    for file in ["Cargo.toml", "build.rs"] {
        let path = root.join(file);
        if let Ok(meta) = std::fs::metadata(&path) {
            out.insert(path, meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        }
    }
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else {
                out.insert(path, meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
            }
        }
    }
    out
}

fn dev_loop(args: &DevArgs, running: &Mutex<Option<Child>>) -> anyhow::Result<ExitCode> {
    let app = app_info(&args.dir)?;
    println!("ferrovex dev: building {}", app.manifest.display());
    let started = Instant::now();
    let Some(exe) = build(&app)? else {
        bail!("the first build failed; fix the errors above and run `ferrovex dev` again");
    };
    codegen(&app, &exe)?;
    let mut child = start_server(&app, &exe, args)?;
    let ready = wait_ready(&mut child, args.api_port);
    *running.lock() = Some(child);
    ready?;
    println!(
        "ferrovex dev: serving on http://127.0.0.1:{} (ready in {:.1}s); watching {}",
        args.api_port,
        started.elapsed().as_secs_f64(),
        app.root.join("src").display()
    );
    if args.once {
        // The child stays in `running`, so a signal to `dev` still stops it.
        loop {
            let status = match running.lock().as_mut() {
                Some(child) => child.try_wait()?,
                None => return Ok(ExitCode::SUCCESS),
            };
            if let Some(status) = status {
                return Ok(if status.success() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            std::thread::sleep(POLL);
        }
    }
    let mut seen = snapshot(&app.root);
    loop {
        std::thread::sleep(POLL);
        let now = snapshot(&app.root);
        if now == seen {
            continue;
        }
        // Let an editor finish writing (several files, or write-then-rename).
        std::thread::sleep(Duration::from_millis(100));
        seen = snapshot(&app.root);
        let started = Instant::now();
        println!("ferrovex dev: change seen, rebuilding");
        match build(&app)? {
            None => {
                println!(
                    "ferrovex dev: build failed; the previous server keeps answering. Fix the errors above."
                );
            }
            Some(exe) => {
                if let Err(e) = codegen(&app, &exe) {
                    println!("ferrovex dev: {e:#}; the previous server keeps answering");
                    continue;
                }
                let mut guard = running.lock();
                if let Some(mut old) = guard.take() {
                    stop_server(&mut old);
                }
                let restarted = start_server(&app, &exe, args).and_then(|mut child| {
                    let ready = wait_ready(&mut child, args.api_port);
                    *guard = Some(child);
                    ready
                });
                drop(guard);
                match restarted {
                    Ok(()) => println!(
                        "ferrovex dev: rebuilt and restarted in {:.2}s",
                        started.elapsed().as_secs_f64()
                    ),
                    Err(e) => println!("ferrovex dev: {e:#}; fix it and save again"),
                }
            }
        }
    }
}

/// Runs the verb until Ctrl-C or SIGTERM; the server is stopped with it.
pub async fn dev(args: DevArgs) -> anyhow::Result<ExitCode> {
    let running: Arc<Mutex<Option<Child>>> = Arc::default();
    let worker = {
        let running = running.clone();
        tokio::task::spawn_blocking(move || dev_loop(&args, &running))
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let result = tokio::select! {
        r = worker => r.context("the dev loop panicked")?,
        _ = tokio::signal::ctrl_c() => Ok(ExitCode::SUCCESS),
        _ = term.recv() => Ok(ExitCode::SUCCESS),
    };
    if let Some(mut child) = running.lock().take() {
        stop_server(&mut child);
    }
    // The watcher thread cannot be cancelled and would keep the runtime alive: leave now.
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 })
}
