//! `ferrovex backup --path FILE`: an online copy of a SQLite deployment (it may keep serving
//! and writing meanwhile) that opens on its own, passes `integrity_check` and holds every
//! commit acknowledged before the backup started. Restore by pointing `--data-dir` at a
//! directory holding the copy as `ferrovex.sqlite3`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;

/// Flags of `ferrovex backup`.
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist).
    #[arg(long)]
    pub path: PathBuf,
    /// The deployment's data directory.
    #[arg(long, env = "FERROVEX_DATA_DIR", default_value = "./ferrovex-data")]
    pub data_dir: PathBuf,
    /// Refused: PostgreSQL deployments are backed up with PostgreSQL's tools.
    #[arg(long, env = "FERROVEX_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// Runs the backup and prints what it holds.
pub async fn backup(args: &BackupArgs) -> anyhow::Result<ExitCode> {
    if args
        .database_url
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty())
    {
        bail!(
            "backup copies a SQLite deployment; for PostgreSQL use pg_dump or pg_basebackup (or unset --database-url / FERROVEX_DATABASE_URL)"
        );
    }
    let (data_dir, dest) = (args.data_dir.clone(), args.path.clone());
    let started = Instant::now();
    let summary =
        tokio::task::spawn_blocking(move || ferrovex_store_sqlite::backup(&data_dir, &dest))
            .await??;
    // Recorded for the dashboard's health page (best effort: the copy is what matters).
    let record = serde_json::json!({
        "path": args.path.display().to_string(),
        "finishedMs": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        "documents": summary.documents,
        "bytes": summary.bytes,
    });
    let _ = std::fs::write(
        args.data_dir.join(ferrovex_server::LAST_BACKUP_FILE),
        record.to_string(),
    );
    println!(
        "backed up {} documents ({:.1} MiB) to {} in {:.1} s; integrity check ok",
        summary.documents,
        summary.bytes as f64 / (1024.0 * 1024.0),
        args.path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
