//! Opening the outbox's database from the `--database` argument: a
//! `postgres://` URL (as the `orderflow_relay` role, or the owner for
//! `migrate`) or a SQLite file path.

use orderflow_store::{Db, DbError, Dialect, NativePg, NativeSqlite, Param, Rows};

/// Either native backend.
#[derive(Debug)]
pub enum AnyDb {
    /// A SQLite file (the one Spin's `default` database lives in).
    Sqlite(NativeSqlite),
    /// PostgreSQL.
    Postgres(Box<NativePg>),
}

/// The database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The connection or file open failed.
    #[error("cannot open {what}: {source}")]
    Open {
        /// What was being opened (the URL without credentials, or the path).
        what: String,
        /// Why.
        source: DbError,
    },
}

/// Opens `database`: `postgres://…`/`postgresql://…` or a SQLite path.
pub fn open(database: &str) -> Result<AnyDb, OpenError> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let what = database.rsplit('@').next().unwrap_or("postgres").to_owned();
        NativePg::connect(database)
            .map(|db| AnyDb::Postgres(Box::new(db)))
            .map_err(|source| OpenError::Open { what, source })
    } else {
        NativeSqlite::open(std::path::Path::new(database))
            .map(AnyDb::Sqlite)
            .map_err(|source| OpenError::Open {
                what: database.to_owned(),
                source,
            })
    }
}

impl Db for AnyDb {
    fn dialect(&self) -> Dialect {
        match self {
            AnyDb::Sqlite(d) => d.dialect(),
            AnyDb::Postgres(d) => d.dialect(),
        }
    }

    fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, DbError> {
        match self {
            AnyDb::Sqlite(d) => d.run(sql, params),
            AnyDb::Postgres(d) => d.run(sql, params),
        }
    }
}
