//! The shared storage suite (`ferrovex_store::suite`) on a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use ferrovex_store::suite::Backend;
use ferrovex_store::{Clock, Persistence};
use ferrovex_store_sqlite::{Durability, SqlitePersistence};

/// A fresh data directory; each `open` is another handle on its database file.
struct Sqlite(tempfile::TempDir);

impl Backend for Sqlite {
    fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn Persistence> {
        Arc::new(SqlitePersistence::open(self.0.path(), Durability::Normal, clock).unwrap())
    }
}

ferrovex_store::store_suite!(Sqlite(tempfile::tempdir().unwrap()));
