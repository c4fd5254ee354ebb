//! `bench --suite snapshot`: `ferrovex import` of `--documents` small messages (a `.jsonl`
//! file) into a fresh SQLite deployment, then `ferrovex export` of it, each in its own process
//! so its peak memory (`VmHWM`, printed by the verb) is its own; beside them, a plain copy of
//! the database file on the same disk as the baseline.

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail};

/// One verb run: its wall time and the peak memory it reported.
struct Run {
    secs: f64,
    peak_mib: f64,
}

fn run_verb(args: &[&str]) -> anyhow::Result<Run> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let out = std::process::Command::new(exe)
        .args(args)
        .env_remove("FERROVEX_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .output()?;
    let secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "ferrovex {} failed: {stdout}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let peak_mib = stdout
        .rsplit("peak memory ")
        .next()
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .context("the verb did not report its peak memory")?;
    Ok(Run { secs, peak_mib })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn write_messages(path: &Path, n: u64) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..n {
        writeln!(
            out,
            "{{\"channel\":\"bench\",\"author\":\"user{}\",\"body\":\"message number {i}\"}}",
            i % 100
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Runs the suite and returns its Markdown report.
pub fn snapshot_report(documents: u64) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("messages.jsonl");
    write_messages(&input, documents)?;
    let data = dir.path().join("data");
    let (input_s, data_s) = (input.to_string_lossy(), data.to_string_lossy());
    let import = run_verb(&[
        "import",
        &input_s,
        "--table",
        "messages",
        "--data-dir",
        &data_s,
    ])?;
    let zip = dir.path().join("export.zip");
    let zip_s = zip.to_string_lossy();
    let export = run_verb(&["export", "--path", &zip_s, "--data-dir", &data_s])?;
    let db = data.join(ferrovex_store_sqlite::DB_FILE);
    let copy_started = Instant::now();
    let copied = std::fs::copy(&db, dir.path().join("copy.sqlite3"))?;
    std::fs::File::open(dir.path().join("copy.sqlite3"))?.sync_all()?;
    let copy_secs = copy_started.elapsed().as_secs_f64();
    let zip_bytes = std::fs::metadata(&zip)?.len();
    let input_bytes = std::fs::metadata(&input)?.len();
    let rate = |secs: f64| documents as f64 / secs.max(1e-9);
    Ok([
        format!("snapshot suite: {documents} messages (~60 B each)"),
        String::new(),
        "| step | time | documents/s | MiB | peak memory |".to_owned(),
        "|---|---|---|---|---|".to_owned(),
        format!(
            "| `ferrovex import` (.jsonl, one transaction) | {:.1} s | {:.0} | {:.1} in | {:.1} MiB |",
            import.secs,
            rate(import.secs),
            mib(input_bytes),
            import.peak_mib
        ),
        format!(
            "| `ferrovex export` (ZIP, deflate) | {:.1} s | {:.0} | {:.1} out | {:.1} MiB |",
            export.secs,
            rate(export.secs),
            mib(zip_bytes),
            export.peak_mib
        ),
        format!(
            "| plain copy of the SQLite file (baseline) | {:.2} s | {:.0} | {:.1} | - |",
            copy_secs,
            rate(copy_secs),
            mib(copied)
        ),
    ]
    .join("\n"))
}
