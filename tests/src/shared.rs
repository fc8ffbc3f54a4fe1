//! What the instances of a fleet share, for the fleet test and the
//! benchmark: one PostgreSQL database with the schema applied by its owner,
//! and one Redis holding the key-value store `default`, named in a Spin
//! runtime config (`type = "redis"`) each instance is started with.

use std::path::{Path, PathBuf};

use orderflow_store::{Cell, Db, NativePg, Param, Store};

use crate::pg_cluster::{self, TestDatabase};
use crate::redis_server::RedisServer;

/// A fresh database of the throwaway cluster, migrated by its owner.
pub fn migrated_database(hint: &str) -> TestDatabase {
    pg_cluster::fresh_database(hint, |owner| {
        let store = Store::new(NativePg::connect(owner).expect("connect as the schema owner"));
        store.migrate(chrono::Utc::now()).expect("the owner applies the schema");
    })
}

/// A throwaway Redis and a runtime config that puts key-value `default` on it.
#[derive(Debug)]
pub struct SharedKeyValue {
    /// The server.
    pub redis: RedisServer,
    dir: tempfile::TempDir,
}

impl SharedKeyValue {
    /// Starts the server and writes the runtime config.
    pub fn start() -> SharedKeyValue {
        let redis = RedisServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("runtime-config.toml"),
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                redis.url()
            ),
        )
        .expect("runtime config");
        SharedKeyValue { redis, dir }
    }

    /// The runtime config file (`--runtime-config-file`).
    pub fn runtime_config(&self) -> PathBuf {
        Path::new(self.dir.path()).join("runtime-config.toml")
    }
}

/// Rows of `sql` as text (NULL as empty), read with a connection to `url`:
/// an auditor's view of the database, for assertions.
pub fn rows_as_text(url: &str, sql: &str, params: &[Param<'_>]) -> Vec<Vec<String>> {
    let db = NativePg::connect(url).expect("connect to inspect");
    let rows = db.run(sql, params).unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Cell::Text(s) => s.clone(),
                    Cell::Int(n) => n.to_string(),
                    Cell::Null => String::new(),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .collect()
}
