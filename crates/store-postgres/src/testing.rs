//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory, started on a
//! free 127.0.0.1 port, stopped and removed on drop. `fsync` is off (the machine does not
//! crash during a test) but `synchronous_commit` stays on, so an acknowledged commit survives
//! a crash restart of the server (`pg_ctl stop -m immediate`), as in production.
//!
//! `initdb` refuses to run as root, so as root the cluster belongs to the `postgres` user that
//! Debian's package creates (commands run through `runuser`). The binaries are found in
//! `PG_BIN`, else in `/usr/lib/postgresql/<newest>/bin`. `scripts/test` installs the package.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running throwaway cluster.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    as_postgres: bool,
    next_db: std::sync::atomic::AtomicU32,
}

/// Why a cluster could not start.
#[derive(Debug)]
pub struct ClusterError(pub String);

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}

fn find_bin() -> Result<PathBuf, ClusterError> {
    if let Ok(bin) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map_err(|_| {
            ClusterError(
                "PostgreSQL is not installed (no /usr/lib/postgresql): run scripts/test, which \
                 installs Debian's postgresql package, or set PG_BIN"
                    .to_owned(),
            )
        })?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| ClusterError("no PostgreSQL server binaries in /usr/lib/postgresql".into()))
}

fn is_root() -> bool {
    // The effective user's home is not a reliable signal; `id -u` is.
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .is_some_and(|s| s.trim() == "0")
}

fn free_port() -> Result<u16, ClusterError> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ClusterError(format!("no free port: {e}")))
}

impl PgCluster {
    /// Creates and starts a cluster.
    pub fn start() -> Result<PgCluster, ClusterError> {
        let bin = find_bin()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("fx-pg-")
            .tempdir()
            .map_err(|e| ClusterError(format!("cannot create a temporary directory: {e}")))?;
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .map_err(|e| ClusterError(format!("chown: {e}")))?;
            if !status.success() {
                return Err(ClusterError(
                    "cannot chown the cluster directory to postgres".into(),
                ));
            }
        }
        let port = free_port()?;
        let cluster = PgCluster {
            dir,
            bin,
            port,
            as_postgres,
            next_db: std::sync::atomic::AtomicU32::new(0),
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "ferrovex",
                "--auth=trust",
                "-N",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), ClusterError> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| ClusterError(format!("cannot run {}: {e}", exe.display())))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(ClusterError(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    fn pg_ctl_start(&self) -> Result<(), ClusterError> {
        let data = self.data_dir();
        let log = self.dir.path().join("log").display().to_string();
        let socket_dir = self.dir.path().display().to_string();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {socket_dir} -c fsync=off \
             -c full_page_writes=off -c max_connections=200",
            self.port
        );
        self.run(
            "pg_ctl",
            &["-w", "-D", &data, "-l", &log, "-o", &options, "start"],
        )
    }

    /// A URL of a new, empty database on this cluster.
    pub fn new_database(&self) -> Result<String, ClusterError> {
        let n = self
            .next_db
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("fx{n}");
        let port = self.port.to_string();
        self.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "ferrovex",
                "-T",
                "template0",
                &name,
            ],
        )?;
        Ok(format!(
            "postgres://ferrovex@127.0.0.1:{}/{name}",
            self.port
        ))
    }

    /// `pg_ctl restart -m immediate`: a crash restart, as after a power cut of the server.
    pub fn restart_immediate(&self) -> Result<(), ClusterError> {
        let data = self.data_dir();
        self.run("pg_ctl", &["-w", "-D", &data, "-m", "immediate", "stop"])?;
        self.pg_ctl_start()
    }

    /// Stops the server (`pg_ctl stop -m fast`), keeping the data.
    pub fn stop(&self) -> Result<(), ClusterError> {
        let data = self.data_dir();
        self.run("pg_ctl", &["-w", "-D", &data, "-m", "fast", "stop"])
    }

    /// Starts the server again after [`PgCluster::stop`].
    pub fn start_again(&self) -> Result<(), ClusterError> {
        self.pg_ctl_start()
    }

    /// Runs one SQL statement with `psql` (for tests that reach into the server).
    pub fn psql(&self, database_url: &str, sql: &str) -> Result<String, ClusterError> {
        let exe = self.bin.join("psql");
        let out = Command::new(&exe)
            .args([database_url, "-X", "-A", "-t", "-c", sql])
            .output()
            .map_err(|e| ClusterError(format!("cannot run {}: {e}", exe.display())))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(ClusterError(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }
}
