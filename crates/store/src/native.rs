//! Either native backend behind one type, chosen at run time: the relay,
//! native tools and the tests open a SQLite path or a PostgreSQL URL.

use crate::db::{Db, DbError, Dialect, Param, Rows};
use crate::{NativePg, NativeSqlite};

/// A native SQLite or PostgreSQL connection.
#[derive(Debug)]
pub enum NativeDb {
    /// A SQLite file (the one Spin's `default` database lives in).
    Sqlite(NativeSqlite),
    /// PostgreSQL.
    Postgres(Box<NativePg>),
}

impl Db for NativeDb {
    fn dialect(&self) -> Dialect {
        match self {
            NativeDb::Sqlite(d) => d.dialect(),
            NativeDb::Postgres(d) => d.dialect(),
        }
    }

    fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, DbError> {
        match self {
            NativeDb::Sqlite(d) => d.run(sql, params),
            NativeDb::Postgres(d) => d.run(sql, params),
        }
    }
}
