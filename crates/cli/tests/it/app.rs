//! A user's own app: `ferrovex init` scaffolds it outside the workspace, it builds and passes
//! its own tests, its `codegen` output drives the official clients and `tsc`, and
//! `ferrovex dev` rebuilds and restarts it on every edit.
//!
//! Scaffolded apps share this workspace's target directory, so only the app crate itself and
//! the Ferrovex crates it depends on are compiled again.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;

use crate::common::{Server, compat_dir, post, run_node_suite};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `ferrovex init <tmp>/<name> [extra]`; the app's folder.
fn scaffold(tmp: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let dir = tmp.join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_ferrovex"))
        .arg("init")
        .arg(&dir)
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "init failed: {out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("ferrovex dev"), "{printed}");
    dir
}

/// Runs cargo in the app with the shared target directory.
fn cargo(app: &Path, args: &[&str]) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(args)
        .arg("--manifest-path")
        .arg(app.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `tsc --noEmit` (TypeScript from tests/compat) on some files of the app's frontend.
fn tsc(web: &Path, files: &[&str]) -> Output {
    Command::new("node")
        .arg(compat_dir().join("node_modules/typescript/bin/tsc"))
        .args([
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2022,dom",
        ])
        .args(files)
        .current_dir(web)
        .output()
        .unwrap()
}

const TYPED_OK: &str = r#"
import { ConvexHttpClient } from "convex/browser";
import { api } from "../convex/_generated/api";
import type { Doc, Id } from "../convex/_generated/dataModel";

const client = new ConvexHttpClient("http://127.0.0.1:1");

export async function run(): Promise<bigint> {
  const id: Id<"tasks"> = await client.mutation(api.tasks.add, { text: "typed", list: "x" });
  const tasks: Doc<"tasks">[] = await client.query(api.tasks.list, { list: "x" });
  const done: boolean = tasks[0].done;
  await client.mutation(api.tasks.setDone, { id, done: !done });
  await client.query(api.tasks.list, {});
  const summary = await client.action(api.tasks.summary, {});
  return summary.openCount;
}
"#;

const WRONG_ARG: &str = r#"
import { ConvexHttpClient } from "convex/browser";
import { api } from "../convex/_generated/api";
export const p = new ConvexHttpClient("http://127.0.0.1:1").mutation(api.tasks.add, { text: 5 });
"#;

const MISSING_FN: &str = r#"
import { ConvexHttpClient } from "convex/browser";
import { api } from "../convex/_generated/api";
export const p = new ConvexHttpClient("http://127.0.0.1:1").query(api.tasks.nope, {});
"#;

/// Enough of Vite's `import.meta.env` for the template's page to type-check without Vite.
const VITE_ENV: &str =
    "interface ImportMeta { readonly env: Record<string, string | undefined> }\n";

#[tokio::test(flavor = "multi_thread")]
async fn newcomer_path_from_init_to_typed_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let app = scaffold(tmp.path(), "newcomer-app", &["--frontend", "vite"]);
    assert!(app.join("web/src/main.ts").is_file());
    let manifest = std::fs::read_to_string(app.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!(
            "path = \"{}\"",
            workspace_root().join("crates/ferrovex").display()
        )),
        "{manifest}"
    );
    // A second init into the same folder refuses and leaves it alone.
    let again = Command::new(env!("CARGO_BIN_EXE_ferrovex"))
        .arg("init")
        .arg(&app)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(text(&again).contains("not empty"), "{}", text(&again));

    // The app's own tests pass on the real engine.
    let tested = cargo(&app, &["test"]);
    assert!(
        tested.status.success(),
        "cargo test failed:\n{}",
        text(&tested)
    );
    assert!(text(&tested).contains("2 passed"), "{}", text(&tested));

    let built = cargo(&app, &["build"]);
    assert!(
        built.status.success(),
        "cargo build failed:\n{}",
        text(&built)
    );
    let exe = target_dir().join("debug/newcomer-app");

    // codegen writes the three files; --check passes, then fails on a stale file.
    let generated = app.join("web/convex/_generated");
    let out = Command::new(&exe)
        .arg("codegen")
        .arg("--out")
        .arg(&generated)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for file in ["api.js", "api.d.ts", "dataModel.d.ts"] {
        assert!(generated.join(file).is_file(), "{file} missing");
    }
    let api_d_ts = std::fs::read_to_string(generated.join("api.d.ts")).unwrap();
    assert!(
        api_d_ts.contains(
            "add: FunctionReference<\"mutation\", \"public\", { list?: string | null; text: string }, Id<\"tasks\">>;"
        ),
        "{api_d_ts}"
    );
    assert!(
        api_d_ts.contains("openCount: FunctionReference<\"query\", \"internal\""),
        "{api_d_ts}"
    );
    let check = |expect_ok: bool| {
        let out = Command::new(&exe)
            .arg("codegen")
            .arg("--check")
            .arg("--out")
            .arg(&generated)
            .output()
            .unwrap();
        assert_eq!(out.status.success(), expect_ok, "{}", text(&out));
        text(&out)
    };
    check(true);
    std::fs::write(generated.join("api.d.ts"), "// edited by hand\n").unwrap();
    assert!(check(false).contains("api.d.ts is stale"));
    let out = Command::new(&exe)
        .arg("codegen")
        .arg("--out")
        .arg(&generated)
        .output()
        .unwrap();
    assert!(
        text(&out).contains("1 file(s) written, 2 unchanged"),
        "{}",
        text(&out)
    );
    check(true);

    // The frontend resolves `convex` from the compat suite's node_modules.
    let web = app.join("web");
    std::os::unix::fs::symlink(compat_dir().join("node_modules"), web.join("node_modules"))
        .unwrap();

    // tsc accepts correct uses (the template's page among them) and rejects wrong ones.
    std::fs::write(web.join("src/vite-env.d.ts"), VITE_ENV).unwrap();
    std::fs::write(web.join("src/typed_ok.ts"), TYPED_OK).unwrap();
    std::fs::write(web.join("src/wrong_arg.ts"), WRONG_ARG).unwrap();
    std::fs::write(web.join("src/missing_fn.ts"), MISSING_FN).unwrap();
    let ok = tsc(
        &web,
        &["src/vite-env.d.ts", "src/main.ts", "src/typed_ok.ts"],
    );
    assert!(
        ok.status.success(),
        "tsc rejected correct code:\n{}",
        text(&ok)
    );
    let wrong = tsc(&web, &["src/wrong_arg.ts"]);
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("src/wrong_arg.ts")
            && text(&wrong).contains("'number' is not assignable to type 'string'"),
        "{}",
        text(&wrong)
    );
    let missing = tsc(&web, &["src/missing_fn.ts"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("Property 'nope' does not exist"),
        "{}",
        text(&missing)
    );

    // It serves, and the official clients call it through the generated api.js.
    let data = tmp.path().join("data");
    let server = Server::start_program(&exe, &data, 0, &[], &[]);
    assert!(
        server.web_url.is_empty(),
        "an app without a web origin prints no web URL"
    );
    let api_js = generated.join("api.js");
    run_node_suite(
        "app_client.test.mjs",
        "convex",
        &[
            ("CONVEX_URL", server.url.as_str()),
            ("APP_API", api_js.to_str().unwrap()),
        ],
        4,
    )
    .await;
    // The function log names the app's functions like the demo's.
    let log = server.stdout.lock().join("\n");
    assert!(log.contains("tasks:add"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.starts_with("M tasks:add (HTTP API) failure")
                && l.ends_with(": ArgumentValidationError at .text")),
        "{log}"
    );
}

/// A child process whose stdout and stderr lines are collected.
struct Watched {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Watched {
    fn spawn(mut cmd: Command) -> Watched {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let collect = |pipe: Box<dyn std::io::Read + Send>, label: &'static str| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    eprintln!("[{label}] {line}");
                    sink.lock().push(line);
                }
            });
            lines
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()), "out");
        let stderr = collect(Box::new(child.stderr.take().unwrap()), "err");
        Watched {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits until a stdout line satisfies `pred`; the number of lines seen before it.
    fn wait_stdout(&self, from: usize, within: Duration, pred: impl Fn(&str) -> bool) -> usize {
        let deadline = Instant::now() + within;
        loop {
            if let Some(i) = self.stdout.lock().iter().skip(from).position(|l| pred(l)) {
                return from + i + 1;
            }
            assert!(
                Instant::now() < deadline,
                "timed out; stdout:\n{}\nstderr:\n{}",
                self.stdout.lock().join("\n"),
                self.stderr.lock().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hello_module(greeting: &str) -> String {
    format!(
        r#"//! A greeting, edited by the dev-loop test.
use ferrovex::prelude::*;

fn greeting(_ctx: &mut QueryCtx, _: NoArgs) -> FnResult<String> {{
    Ok("{greeting}".to_owned())
}}

pub fn register(app: App) -> App {{
    app.query("hello:greeting", greeting)
}}
"#
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_loop_serves_edits_live_and_survives_a_broken_build() {
    let tmp = tempfile::tempdir().unwrap();
    let app = scaffold(tmp.path(), "dev-loop-app", &[]);
    std::fs::write(app.join("src/hello.rs"), hello_module("hello v1")).unwrap();
    let lib = std::fs::read_to_string(app.join("src/lib.rs")).unwrap();
    let lib = lib
        .replace("pub mod tasks;", "pub mod hello;\npub mod tasks;")
        .replace(
            "tasks::register(App::new(schema()))",
            "hello::register(tasks::register(App::new(schema())))",
        );
    std::fs::write(app.join("src/lib.rs"), lib).unwrap();

    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrovex"));
    cmd.args([
        "dev",
        "--api-port",
        &port.to_string(),
        "--site-port",
        "0",
        "--dir",
    ])
    .arg(&app)
    .env("CARGO_TARGET_DIR", target_dir())
    .env("FERROVEX_LOG", "warn");
    let mut dev = Watched::spawn(cmd);
    let seen = dev.wait_stdout(0, Duration::from_secs(600), |l| {
        l.starts_with("ferrovex dev: serving on")
    });
    let url = format!("http://127.0.0.1:{port}");

    // One ConvexClient, subscribed before the edit, for the whole test.
    let mut node = Command::new("node");
    node.arg(compat_dir().join("dev_client.mjs"))
        .current_dir(compat_dir())
        .env("CONVEX_URL", &url);
    let client = Watched::spawn(node);
    client.wait_stdout(0, Duration::from_secs(30), |l| l == "UPDATE \"hello v1\"");

    // Edit the function's body: the same client receives the new result.
    std::fs::write(app.join("src/hello.rs"), hello_module("hello v2")).unwrap();
    let seen = dev.wait_stdout(seen, Duration::from_secs(300), |l| {
        l.starts_with("ferrovex dev: rebuilt and restarted in")
    });
    client.wait_stdout(0, Duration::from_secs(60), |l| l == "UPDATE \"hello v2\"");

    // Break the build: the error is printed and the old server keeps answering.
    let broken = hello_module("hello v3").replace("Ok(\"hello v3\".to_owned())", "Ok(42)");
    std::fs::write(app.join("src/hello.rs"), broken).unwrap();
    dev.wait_stdout(seen, Duration::from_secs(300), |l| {
        l.starts_with("ferrovex dev: build failed; the previous server keeps answering")
    });
    let errors = dev.stderr.lock().join("\n");
    assert!(
        errors.contains("error[E0308]"),
        "compiler error not shown:\n{errors}"
    );
    assert!(errors.contains("src/hello.rs"), "{errors}");
    let (status, reply) = post(
        &format!("{url}/api/query"),
        json!({ "path": "hello:greeting", "args": {} }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["value"], "hello v2", "{reply}");
    assert!(
        client.stdout.lock().iter().all(|l| !l.starts_with("ERROR")),
        "{:?}",
        client.stdout.lock()
    );

    // Stopping dev stops its server.
    let _ = Command::new("kill")
        .args(["-TERM", &dev.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while dev.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ferrovex dev did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(
        refused.is_err(),
        "the dev server still answers after dev stopped"
    );
}

/// The shell lines of README.md's "Your own app" section.
fn readme_app_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Your own app\n")
        .nth(1)
        .expect("README has a 'Your own app' section");
    let section = section.split("\n## ").next().unwrap();
    let mut lines = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        match (in_sh, line.trim()) {
            (false, "```sh") => in_sh = true,
            (true, "```") => in_sh = false,
            (true, l) if !l.is_empty() => {
                let command = l.split(" #").next().unwrap().trim();
                lines.extend(command.split("&&").map(|c| c.trim().to_owned()));
            }
            _ => {}
        }
    }
    lines
}

#[test]
fn readme_app_commands_name_real_verbs_flags_and_scripts() {
    let commands = readme_app_commands();
    assert!(
        (5..10).contains(&commands.len()),
        "from init to a live page in under ten commands: {commands:?}"
    );
    for command in &commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        let flags: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| w.starts_with("--") && *w != "--")
            .collect();
        let help = |verb: &str| {
            let out = Command::new(env!("CARGO_BIN_EXE_ferrovex"))
                .args([verb, "--help"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "`ferrovex {verb}` does not exist ({command})"
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        match words.as_slice() {
            // `cargo run -- <verb>` in an app: the app's binary has the same verbs as ours.
            ["ferrovex", verb, ..] | ["cargo", "run", "--", verb, ..] => {
                let help = help(verb);
                for flag in flags {
                    assert!(
                        help.contains(flag),
                        "`{command}`: {flag} is not a flag of {verb}"
                    );
                }
            }
            ["cargo", "install", ..] => {
                let path = words.iter().skip_while(|w| **w != "--path").nth(1).unwrap();
                let manifest =
                    std::fs::read_to_string(workspace_root().join(path).join("Cargo.toml"))
                        .unwrap();
                assert!(
                    manifest.contains("name = \"ferrovex\""),
                    "{path} builds no ferrovex binary"
                );
            }
            ["cargo", "test"] | ["cd", _] => {}
            ["npm", "install"] => {}
            ["npm", "run", script] => {
                let package = include_str!("../../templates/vite/package.json");
                assert!(
                    package.contains(&format!("\"{script}\":")),
                    "no npm script {script}"
                );
            }
            _ => panic!("README command not checked by this test: {command}"),
        }
    }
}
