//! `ferrovex export --path FILE` and `ferrovex import FILE`: Convex snapshot ZIPs of the
//! deployment in `--data-dir` (or `--database-url`), read and written directly (a running
//! deployment on the same database may keep serving: an export is one snapshot, an import one
//! commit that every instance sees). Moving between SQLite and PostgreSQL is an export from one
//! and an import into the other. The Convex CLI (`npx convex export`/`import`) reaches a
//! running deployment through its HTTP endpoints instead.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use ferrovex_engine::ImportMode;
use ferrovex_snapshot::import::{ImportFormat, ImportOptions};

use crate::serve::{Storage, open_engine};

/// Where the deployment's data is (shared by both verbs).
#[derive(clap::Args, Debug)]
pub struct DataFlags {
    /// Directory holding the SQLite database.
    #[arg(long, env = "FERROVEX_DATA_DIR", default_value = "./ferrovex-data")]
    pub data_dir: PathBuf,
    /// The PostgreSQL database of a deployment that keeps its data there (`DATABASE_URL`
    /// works too).
    #[arg(long, env = "FERROVEX_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// Flags of `ferrovex export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Where to write the ZIP (must not exist).
    #[arg(long)]
    pub path: PathBuf,
    #[command(flatten)]
    pub data: DataFlags,
}

/// Flags of `ferrovex import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// A snapshot ZIP (`ferrovex export`, `npx convex export`), a `.jsonl` or a `.json` file.
    pub file: PathBuf,
    /// The table a `.jsonl` or `.json` file goes into.
    #[arg(long)]
    pub table: Option<String>,
    /// Empty the imported tables first (in the same transaction).
    #[arg(long, conflicts_with = "append")]
    pub replace: bool,
    /// Add to the documents already there (without either flag the tables must be empty).
    #[arg(long)]
    pub append: bool,
    /// `zip`, `jsonLines` or `jsonArray` (default: from the file's extension).
    #[arg(long)]
    pub format: Option<String>,
    #[command(flatten)]
    pub data: DataFlags,
}

/// A one-line progress display on stderr (redrawn in place on a terminal).
fn progress_line(label: &'static str) -> impl FnMut(u64) + Send + 'static {
    let started = Instant::now();
    let mut last = Instant::now();
    move |done| {
        if last.elapsed().as_millis() >= 200 {
            last = Instant::now();
            let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprint!("\r{label}: {done} documents ({rate:.0}/s)   ");
            let _ = std::io::stderr().flush();
        }
    }
}

/// This process's peak resident memory in MiB (Linux `VmHWM`), for the summary line.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn storage(flags: &DataFlags) -> anyhow::Result<Storage> {
    Storage::from_flags(&flags.data_dir, flags.database_url.as_deref(), "normal")
}

/// Runs `export`.
pub async fn export(app: &ferrovex_engine::App, args: ExportArgs) -> anyhow::Result<ExitCode> {
    if args.path.exists() {
        bail!(
            "{} exists already; export writes a new file",
            args.path.display()
        );
    }
    let storage = storage(&args.data)?;
    let engine = open_engine(app, &storage, false, false)?;
    let started = Instant::now();
    // Written beside the destination and renamed into place when complete, so a failed export
    // never leaves a file that looks whole.
    let dir = args
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let partial = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let out = std::io::BufWriter::new(partial.reopen()?);
    let result = ferrovex_snapshot::export::export(&engine, out, progress_line("exported")).await;
    tokio::task::spawn_blocking(move || engine.shutdown()).await?;
    let (out, summary) = result?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    partial
        .persist_noclobber(&args.path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot create {}", args.path.display()))?;
    let size = std::fs::metadata(&args.path).map_or(0, |m| m.len());
    eprintln!();
    println!(
        "exported {} documents from {} tables ({:.1} MiB, snapshot at ts {}) to {} in {:.1} s (peak memory {:.1} MiB)",
        summary.documents,
        summary.tables,
        size as f64 / (1024.0 * 1024.0),
        summary.ts.as_nanos(),
        args.path.display(),
        started.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `import`.
pub async fn import(app: &ferrovex_engine::App, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let format = match &args.format {
        Some(name) => ImportFormat::from_name(name)?,
        None => ImportFormat::from_path(&args.file)?,
    };
    let mode = if args.replace {
        ImportMode::Replace
    } else if args.append {
        ImportMode::Append
    } else {
        ImportMode::RequireEmpty
    };
    let options = ImportOptions {
        format,
        table: args.table.clone(),
        mode,
    };
    let file = args.file.clone();
    let plan = tokio::task::spawn_blocking(move || ferrovex_snapshot::import::plan(&file, options))
        .await??;
    let storage = storage(&args.data)?;
    let engine = open_engine(app, &storage, false, false)?;
    let started = Instant::now();
    let result = ferrovex_snapshot::import::import(&engine, plan).await;
    tokio::task::spawn_blocking(move || engine.shutdown()).await?;
    let report = result.with_context(|| {
        format!(
            "importing {} failed; nothing was written",
            args.file.display()
        )
    })?;
    let total: usize = report.written.values().sum();
    for (table, n) in &report.written {
        let deleted = report.deleted.get(table).copied().unwrap_or(0);
        if deleted > 0 {
            println!("{table}: {n} documents (replaced {deleted})");
        } else {
            println!("{table}: {n} documents");
        }
    }
    println!(
        "imported {total} documents from {} in {:.1} s (peak memory {:.1} MiB)",
        args.file.display(),
        started.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
    Ok(ExitCode::SUCCESS)
}
