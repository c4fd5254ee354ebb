//! The shared storage suite (`ferrovex_store::suite`) on a real PostgreSQL server: a
//! throwaway cluster per test (initdb on a free 127.0.0.1 port), one database in it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use ferrovex_store::suite::Backend;
use ferrovex_store::{Clock, Persistence};
use ferrovex_store_postgres::PgPersistence;
use ferrovex_store_postgres::testing::PgCluster;

/// A cluster with one fresh database; each `open` is another instance's handle on it.
struct Postgres {
    url: String,
    _cluster: PgCluster,
}

fn postgres() -> Postgres {
    let cluster = PgCluster::start().expect("a throwaway PostgreSQL cluster");
    let url = cluster.new_database().unwrap();
    Postgres {
        url,
        _cluster: cluster,
    }
}

impl Backend for Postgres {
    fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn Persistence> {
        Arc::new(PgPersistence::open(&self.url, clock).unwrap())
    }
}

ferrovex_store::store_suite!(postgres());
