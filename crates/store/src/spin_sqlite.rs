//! The store's [`Db`] over Spin's SQLite (`fermyon:spin/sqlite@2.0.0`, which
//! every Spin 2.x, 3.x and 4.x host provides).
//!
//! Spin opens each guest connection with SQLite's and rusqlite's defaults and
//! sets nothing else, so what the store relies on it sets itself, on every
//! connection: a 5 s busy timeout (a writer waits for the lock instead of
//! failing at once) and WAL journaling (readers are not blocked by the writer;
//! the mode is stored in the file, so after the first connection this only
//! confirms it).

use spin_sdk::sqlite::{Connection, Error, Value};

use crate::db::{Cell, Db, DbError, Dialect, Param, Rows, SqliteValue};

/// How long a statement waits for another connection's lock, in ms.
const BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 5000";

/// A Spin SQLite connection.
pub struct SpinSqlite(Connection);

impl std::fmt::Debug for SpinSqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpinSqlite")
    }
}

impl SpinSqlite {
    /// Opens the database with this label (granted in `spin.toml`).
    pub fn open(label: &str) -> Result<Self, DbError> {
        let db = Connection::open(label).map(SpinSqlite).map_err(to_db_error)?;
        db.run(BUSY_TIMEOUT, &[])?;
        db.run("PRAGMA journal_mode = WAL", &[])?;
        Ok(db)
    }
}

impl Db for SpinSqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, DbError> {
        let values: Vec<Value> = params
            .iter()
            .map(|p| match p.to_sqlite() {
                SqliteValue::Null => Value::Null,
                SqliteValue::Int(n) => Value::Integer(n),
                SqliteValue::Text(s) => Value::Text(s.to_string()),
                SqliteValue::Blob(b) => Value::Blob(b.to_vec()),
            })
            .collect();
        let result = self.0.execute(sql, &values).map_err(to_db_error)?;
        let rows = result
            .rows
            .into_iter()
            .map(|r| {
                r.values
                    .into_iter()
                    .map(|v| match v {
                        Value::Null => Cell::Null,
                        Value::Integer(n) => Cell::Int(n),
                        Value::Real(x) => Cell::Real(x),
                        Value::Text(s) => Cell::Text(s),
                        Value::Blob(b) => Cell::Blob(b),
                    })
                    .collect()
            })
            .collect();
        Ok(Rows {
            columns: result.columns,
            rows,
        })
    }
}

fn to_db_error(e: Error) -> DbError {
    match e {
        Error::Io(msg) => DbError::from_message(msg),
        other => DbError::Other(format!("{other:?}")),
    }
}
