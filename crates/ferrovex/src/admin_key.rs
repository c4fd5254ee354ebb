//! The admin key of `serve`: `--admin-key` (`FERROVEX_ADMIN_KEY`), or one generated on the
//! first start and kept in `<data dir>/admin_key`, readable by its owner only. The key itself
//! is never printed or logged: the banner says where to read it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ferrovex_server::admin::AdminKey;

/// The file holding a generated admin key.
pub const ADMIN_KEY_FILE: &str = "admin_key";

/// Where the key came from, for the banner.
#[derive(Clone, Debug)]
pub enum AdminKeySource {
    /// `--admin-key` / `FERROVEX_ADMIN_KEY`.
    Flag,
    /// Generated (now or earlier) and kept in this file.
    File(PathBuf),
}

/// The deployment's admin key.
pub fn resolve(flag: Option<&str>, data_dir: &Path) -> anyhow::Result<(AdminKey, AdminKeySource)> {
    if let Some(key) = flag.filter(|k| !k.trim().is_empty()) {
        let key = AdminKey::new(key).map_err(|e| anyhow::anyhow!(e))?;
        return Ok((key, AdminKeySource::Flag));
    }
    let path = data_dir.join(ADMIN_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(stored) => {
            warn_if_readable_by_others(&path);
            let key = AdminKey::new(stored.trim())
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok((key, AdminKeySource::File(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let key = AdminKey::generate();
            write_private(&path, &key)
                .with_context(|| format!("cannot write the admin key to {}", path.display()))?;
            let key = AdminKey::new(&key).map_err(|e| anyhow::anyhow!(e))?;
            Ok((key, AdminKeySource::File(path)))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, key: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{key}")?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, key: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    writeln!(file, "{key}")?;
    file.sync_all()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            "the admin key file is readable by other users; run chmod 600 on it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}
