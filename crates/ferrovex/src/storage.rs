//! Where a deployment keeps its data: the SQLite file in the data directory (the default) or a
//! PostgreSQL database named by `--database-url` (or `DATABASE_URL`), shared by any number of
//! instances.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use ferrovex_store::SystemClock;
use ferrovex_store_sqlite::{Durability, SqlitePersistence};

/// Where the data lives: `--database-url` (or `DATABASE_URL`) when given, else the SQLite
/// file in the data directory.
#[derive(Clone, Debug)]
pub enum Storage {
    /// The embedded default.
    Sqlite {
        /// The data directory.
        data_dir: PathBuf,
        /// `normal` or `full`.
        durability: String,
    },
    /// A PostgreSQL database shared by any number of instances.
    Postgres {
        /// The connection URL (may hold a password: never print it, see [`Storage::describe`]).
        url: String,
    },
}

impl Storage {
    /// The storage the flags name.
    pub fn from_flags(
        data_dir: &std::path::Path,
        database_url: Option<&str>,
        durability: &str,
    ) -> anyhow::Result<Storage> {
        let url = database_url
            .map(str::to_owned)
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .filter(|u| !u.trim().is_empty());
        match url {
            None => Ok(Storage::Sqlite {
                data_dir: data_dir.to_owned(),
                durability: durability.to_owned(),
            }),
            Some(url) if ferrovex_store_postgres::is_postgres_url(&url) => {
                Ok(Storage::Postgres { url })
            }
            Some(_) => anyhow::bail!(
                "--database-url (or DATABASE_URL) must start with postgres:// or postgresql://; \
                 leave it unset to use SQLite in --data-dir"
            ),
        }
    }

    /// A description for people: the data directory, or the database URL without its
    /// password.
    pub fn describe(&self) -> String {
        match self {
            Storage::Sqlite { data_dir, .. } => data_dir.display().to_string(),
            Storage::Postgres { url } => ferrovex_store_postgres::redacted_url(url),
        }
    }

    /// Opens the store.
    pub fn open(&self) -> anyhow::Result<Arc<dyn ferrovex_store::Persistence>> {
        Ok(match self {
            Storage::Sqlite {
                data_dir,
                durability,
            } => {
                let durability = if durability == "full" {
                    Durability::Full
                } else {
                    Durability::Normal
                };
                Arc::new(
                    SqlitePersistence::open(data_dir, durability, Arc::new(SystemClock))
                        .with_context(|| {
                            format!("cannot open the data directory {}", data_dir.display())
                        })?,
                )
            }
            Storage::Postgres { url } => Arc::new(
                ferrovex_store_postgres::PgPersistence::open(url, Arc::new(SystemClock))
                    .with_context(|| {
                        format!(
                            "cannot open the PostgreSQL database {}",
                            ferrovex_store_postgres::redacted_url(url)
                        )
                    })?,
            ),
        })
    }
}
