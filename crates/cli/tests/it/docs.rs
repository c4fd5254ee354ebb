//! README.md's tables against the code: every `serve` flag (and its env var) is in the
//! configuration table and nothing else is, and every demo function and HTTP action is in the
//! demo-functions table and nothing else is. Drift fails here.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap()
}

/// The body of README's `## {title}` section.
fn section(readme: &str, title: &str) -> String {
    let start = readme
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("README has no '{title}' section"));
    let rest = &readme[start + title.len() + 5..];
    rest.split("\n## ").next().unwrap().to_owned()
}

/// The `code` spans of a table row's first cell.
fn first_cell_codes(row: &str) -> Vec<String> {
    let cell = row
        .trim_start_matches('|')
        .split('|')
        .next()
        .unwrap_or_default();
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_configuration_table_lists_exactly_the_serve_flags_with_their_env_vars() {
    let help = Command::new(env!("CARGO_BIN_EXE_ferrovex"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    // flag → its help block (clap wraps long descriptions over several lines).
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        if let Some(flag) = trimmed
            .strip_prefix("--")
            .or_else(|| trimmed.split_once(", --").map(|(_, f)| f))
        {
            let name = flag.split([' ', '=']).next().unwrap().to_owned();
            blocks.push((name, String::new()));
        }
        if let Some((_, block)) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    let from_help: BTreeSet<String> = blocks
        .iter()
        .map(|(f, _)| f.clone())
        .filter(|f| f != "help")
        .collect();
    let readme = readme();
    let table = section(&readme, "Configuration");
    let mut from_readme = BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `--")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let flag = cells[1]
            .trim_matches('`')
            .trim_start_matches("--")
            .to_owned();
        let env = cells[2].split('`').nth(1).unwrap_or_default().to_owned();
        let block = blocks
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("README lists --{flag}, which `serve` does not have"));
        assert!(
            block.contains(&format!("[env: {env}")),
            "README says --{flag} reads {env}, `serve --help` says:\n{block}"
        );
        // A default in `--help` is the first thing the README's default cell says.
        if let Some(default) = block
            .split("[default: ")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
        {
            assert!(
                cells[3].starts_with(&format!("`{default}`")),
                "README gives --{flag}'s default as {:?}, `serve --help` says {default}",
                cells[3]
            );
        }
        from_readme.insert(flag);
    }
    let missing: Vec<_> = from_help.difference(&from_readme).collect();
    assert!(
        missing.is_empty(),
        "flags of `serve` missing from README: {missing:?}"
    );
}

#[test]
fn the_demo_functions_table_lists_exactly_the_demo_functions_and_http_actions() {
    let app = ferrovex_demo::app();
    let mut registered: BTreeSet<String> = app
        .functions()
        .map(|f| f.path.as_str().to_owned())
        .collect();
    registered.extend(
        app.http_routes()
            .map(|r| format!("{} {}", r.method, r.path)),
    );
    let readme = readme();
    let table = section(&readme, "Demo functions");
    let mut documented = BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        for code in first_cell_codes(row) {
            documented.insert(code);
        }
    }
    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "demo functions missing from README's table: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "README's table lists what the demo does not have: {extra:?}"
    );
}

/// README.md's sh and js snippets run against real deployments (`tests/compat/readme.test.mjs`):
/// six run (and pass, with the check that each snippet runs or says why not: seven), four say
/// why they do not. A snippet that stops working, or a new one that neither runs nor states a
/// reason, fails here.
#[tokio::test]
async fn readme_snippets_run_as_written() {
    crate::common::run_node_suite("readme.test.mjs", "esbuild", &[], 7).await;
}
