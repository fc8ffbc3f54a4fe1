//! Opening the outbox's database from the `--database` argument: a
//! `postgres://` URL (as the `orderflow_relay` role, or the owner for
//! `migrate`) or a SQLite file path.

use orderflow_store::{DbError, NativePg, NativeSqlite};

/// Either native backend (the store's).
pub use orderflow_store::NativeDb as AnyDb;

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
