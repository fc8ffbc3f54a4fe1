//! The store's [`Db`] over a native SQLite (rusqlite), for tests and tools
//! that run outside a component. Configured as the runner configures Spin's:
//! WAL, a busy timeout, foreign keys on.

use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;

use crate::db::{Cell, Db, DbError, Dialect, Param, Rows, SqliteValue};

/// A native SQLite connection.
#[derive(Debug)]
pub struct NativeSqlite(Connection);

impl NativeSqlite {
    /// Opens (creating) the database file at `path`.
    pub fn open(path: &std::path::Path) -> Result<Self, DbError> {
        let conn = Connection::open(path).map_err(|e| DbError::from_message(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| DbError::Other(e.to_string()))?;
        // Switching to WAL needs a moment's exclusive access; when another
        // connection is doing the same, it is done by the time it matters.
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => {}
            Err(e) if DbError::from_message(e.to_string()) == DbError::Busy => {}
            Err(e) => return Err(DbError::Other(e.to_string())),
        }
        Ok(NativeSqlite(conn))
    }
}

impl Db for NativeSqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, DbError> {
        let err = |e: rusqlite::Error| DbError::from_message(e.to_string());
        let mut stmt = self.0.prepare_cached(sql).map_err(err)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let values: Vec<Value> = params
            .iter()
            .map(|p| match p.to_sqlite() {
                SqliteValue::Null => Value::Null,
                SqliteValue::Int(n) => Value::Integer(n),
                SqliteValue::Text(s) => Value::Text(s.to_string()),
                SqliteValue::Blob(b) => Value::Blob(b.to_vec()),
            })
            .collect();
        let mut rows = stmt.query(rusqlite::params_from_iter(values)).map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            let mut cells = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                cells.push(match row.get_ref(i).map_err(err)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(n) => Cell::Int(n),
                    ValueRef::Real(x) => Cell::Real(x),
                    ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
                });
            }
            out.push(cells);
        }
        Ok(Rows { columns, rows: out })
    }
}
