//! The database a component uses, chosen by configuration: Spin's SQLite
//! (`default` label) when the `database_url` variable is empty, PostgreSQL
//! when it holds a `postgres://` URL. The components do not change.

use crate::db::{Db, DbError, Dialect, Param, Rows};
use crate::spin_pg::SpinPg;
use crate::spin_sqlite::SpinSqlite;

/// Either of the Spin backends.
#[derive(Debug)]
pub enum SpinDb {
    /// Spin's SQLite database.
    Sqlite(SpinSqlite),
    /// PostgreSQL through Spin's PostgreSQL API.
    Postgres(SpinPg),
}

impl SpinDb {
    /// Opens the database `database_url` names: empty (or blank) means the
    /// SQLite database labelled `sqlite_label`; `postgres://…` or
    /// `postgresql://…` means PostgreSQL. Anything else is refused.
    pub fn open(database_url: &str, sqlite_label: &str) -> Result<Self, DbError> {
        let url = database_url.trim();
        if url.is_empty() {
            SpinSqlite::open(sqlite_label).map(SpinDb::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            SpinPg::open(url).map(SpinDb::Postgres)
        } else {
            Err(DbError::Other(
                "database_url must be empty (SQLite) or a postgres:// URL".into(),
            ))
        }
    }
}

impl Db for SpinDb {
    fn dialect(&self) -> Dialect {
        match self {
            SpinDb::Sqlite(db) => db.dialect(),
            SpinDb::Postgres(db) => db.dialect(),
        }
    }

    fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, DbError> {
        match self {
            SpinDb::Sqlite(db) => db.run(sql, params),
            SpinDb::Postgres(db) => db.run(sql, params),
        }
    }
}
