//! `fermyon:spin/sqlite@2.0.0` (what `spin_sdk::sqlite` uses) and
//! `spin:sqlite/sqlite@3.0.0` (`spin_sdk::sqlite3`), backed by rusqlite, opened
//! the way Spin's in-process SQLite opens them (`crates/sqlite-inproc/src/lib.rs`).
//!
//! Each guest `open` gets its own rusqlite connection, opened lazily on the
//! first statement with `rusqlite::Connection::open` and nothing else: SQLite's
//! defaults (rollback journal unless the file is already in WAL mode,
//! `synchronous = FULL`) and rusqlite's 5 s busy timeout with SQLite's own
//! sleeping busy handler. Whatever an application wants of SQLite (WAL, a
//! different busy timeout) it sets through the interface, so it holds on Spin
//! too. The connection closes when the guest drops it or its instance goes
//! away (a trap included); closing rolls back a transaction left open. Every
//! SQLite error is reported as `io(message)`, as Spin does.

use std::path::PathBuf;

use rusqlite::types::{Value as SqlValue, ValueRef};
use wasmtime::component::Resource;

use crate::bindings::{sqlite2, sqlite3};
use crate::state::RequestState;

/// A guest's open SQLite connection.
#[derive(Debug)]
pub struct GuestConnection {
    path: PathBuf,
    conn: Slot,
}

/// The rusqlite connection behind a guest connection.
#[derive(Debug)]
enum Slot {
    /// Not opened yet: Spin opens the file on the first statement.
    Unopened,
    /// Open and idle.
    Open(rusqlite::Connection),
    /// A statement runs on a blocking thread.
    Busy,
}

impl Drop for GuestConnection {
    fn drop(&mut self) {
        let Slot::Open(conn) = std::mem::replace(&mut self.conn, Slot::Busy) else {
            return;
        };
        // Closing may roll back or checkpoint: keep it off the async executor threads.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(move || drop(conn));
            }
            Err(_) => drop(conn),
        }
    }
}

/// The version-independent error of the SQLite interfaces.
#[derive(Debug)]
enum DbError {
    NoSuchDatabase,
    AccessDenied,
    InvalidConnection,
    Io(String),
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        // Spin maps every rusqlite error to `io` with its message.
        DbError::Io(e.to_string())
    }
}

struct Output {
    columns: Vec<String>,
    rows: Vec<Vec<SqlValue>>,
}

impl RequestState {
    fn sqlite_open(&mut self, label: String) -> Result<GuestConnection, DbError> {
        if !self.grants.sqlite_databases.contains(&label) {
            return Err(DbError::AccessDenied);
        }
        let Some(db) = self.app.services.sqlite.get(&label) else {
            return Err(DbError::NoSuchDatabase);
        };
        Ok(GuestConnection {
            path: db.path().to_owned(),
            conn: Slot::Unopened,
        })
    }

    async fn sqlite_execute(
        &mut self,
        rep: u32,
        statement: String,
        params: Vec<SqlValue>,
    ) -> wasmtime::Result<Result<Output, DbError>> {
        let guest: &mut GuestConnection = self.table.get_mut(&Resource::<GuestConnection>::new_borrow(rep))?;
        let slot = match std::mem::replace(&mut guest.conn, Slot::Busy) {
            Slot::Busy => return Ok(Err(DbError::InvalidConnection)),
            slot => slot,
        };
        let path = guest.path.clone();
        let (slot, result, committed) = tokio::task::spawn_blocking(move || {
            let conn = match slot {
                Slot::Open(conn) => conn,
                _ => match open(&path) {
                    Ok(conn) => conn,
                    Err(e) => return (Slot::Unopened, Err(e), false),
                },
            };
            let in_transaction = !conn.is_autocommit();
            let result = run_statement(&conn, &statement, params);
            let committed = result.is_ok() && in_transaction && conn.is_autocommit() && !is_rollback(&statement);
            (Slot::Open(conn), result, committed)
        })
        .await?;
        let guest: &mut GuestConnection = self.table.get_mut(&Resource::<GuestConnection>::new_borrow(rep))?;
        guest.conn = slot;
        if committed {
            self.app.services.commits.record("sqlite");
        }
        Ok(result.map_err(DbError::from))
    }

    fn sqlite_connection(&mut self, rep: u32) -> wasmtime::Result<Option<&rusqlite::Connection>> {
        let guest: &GuestConnection = self.table.get(&Resource::<GuestConnection>::new_borrow(rep))?;
        match &guest.conn {
            Slot::Open(conn) => Ok(Some(conn)),
            Slot::Unopened => Ok(None),
            Slot::Busy => Err(wasmtime::Error::msg("sqlite connection used concurrently")),
        }
    }
}

/// Opens the file as Spin does: `rusqlite::Connection::open`, nothing more.
fn open(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    if let Some(parent) = path.parent() {
        // An error here resurfaces as the open error below.
        let _ = std::fs::create_dir_all(parent);
    }
    rusqlite::Connection::open(path)
}

fn is_rollback(statement: &str) -> bool {
    statement
        .split_whitespace()
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("rollback"))
}

fn run_statement(conn: &rusqlite::Connection, statement: &str, params: Vec<SqlValue>) -> rusqlite::Result<Output> {
    let mut stmt = conn.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let n = columns.len();
    let mut rows_out = Vec::new();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => SqlValue::Null,
                ValueRef::Integer(v) => SqlValue::Integer(v),
                ValueRef::Real(v) => SqlValue::Real(v),
                ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
            });
        }
        rows_out.push(values);
    }
    Ok(Output {
        columns,
        rows: rows_out,
    })
}

/// Implements one version of the interface; v2 and v3 have identical types
/// in different generated modules.
macro_rules! sqlite_interface {
    ($m:ident) => {
        impl From<DbError> for $m::Error {
            fn from(e: DbError) -> Self {
                match e {
                    DbError::NoSuchDatabase => $m::Error::NoSuchDatabase,
                    DbError::AccessDenied => $m::Error::AccessDenied,
                    DbError::InvalidConnection => $m::Error::InvalidConnection,
                    DbError::Io(s) => $m::Error::Io(s),
                }
            }
        }

        impl From<$m::Value> for SqlValue {
            fn from(v: $m::Value) -> Self {
                match v {
                    $m::Value::Integer(i) => SqlValue::Integer(i),
                    $m::Value::Real(r) => SqlValue::Real(r),
                    $m::Value::Text(t) => SqlValue::Text(t),
                    $m::Value::Blob(b) => SqlValue::Blob(b),
                    $m::Value::Null => SqlValue::Null,
                }
            }
        }

        impl From<Output> for $m::QueryResult {
            fn from(o: Output) -> Self {
                $m::QueryResult {
                    columns: o.columns,
                    rows: o
                        .rows
                        .into_iter()
                        .map(|values| $m::RowResult {
                            values: values
                                .into_iter()
                                .map(|v| match v {
                                    SqlValue::Null => $m::Value::Null,
                                    SqlValue::Integer(i) => $m::Value::Integer(i),
                                    SqlValue::Real(r) => $m::Value::Real(r),
                                    SqlValue::Text(t) => $m::Value::Text(t),
                                    SqlValue::Blob(b) => $m::Value::Blob(b),
                                })
                                .collect(),
                        })
                        .collect(),
                }
            }
        }

        impl $m::Host for RequestState {}
    };
}

sqlite_interface!(sqlite2);
sqlite_interface!(sqlite3);

impl sqlite2::HostConnection for RequestState {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<GuestConnection>, sqlite2::Error>> {
        match self.sqlite_open(database) {
            Ok(conn) => Ok(Ok(self.table.push(conn)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn execute(
        &mut self,
        this: Resource<GuestConnection>,
        statement: String,
        parameters: Vec<sqlite2::Value>,
    ) -> wasmtime::Result<Result<sqlite2::QueryResult, sqlite2::Error>> {
        let params = parameters.into_iter().map(SqlValue::from).collect();
        let out = self.sqlite_execute(this.rep(), statement, params).await?;
        Ok(out.map(Into::into).map_err(Into::into))
    }

    async fn drop(&mut self, rep: Resource<GuestConnection>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

impl sqlite3::HostConnection for RequestState {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<GuestConnection>, sqlite3::Error>> {
        match self.sqlite_open(database) {
            Ok(conn) => Ok(Ok(self.table.push(conn)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn execute(
        &mut self,
        this: Resource<GuestConnection>,
        statement: String,
        parameters: Vec<sqlite3::Value>,
    ) -> wasmtime::Result<Result<sqlite3::QueryResult, sqlite3::Error>> {
        let params = parameters.into_iter().map(SqlValue::from).collect();
        let out = self.sqlite_execute(this.rep(), statement, params).await?;
        Ok(out.map(Into::into).map_err(Into::into))
    }

    async fn last_insert_rowid(&mut self, this: Resource<GuestConnection>) -> wasmtime::Result<i64> {
        Ok(self
            .sqlite_connection(this.rep())?
            .map_or(0, rusqlite::Connection::last_insert_rowid))
    }

    async fn changes(&mut self, this: Resource<GuestConnection>) -> wasmtime::Result<u64> {
        Ok(self
            .sqlite_connection(this.rep())?
            .map_or(0, rusqlite::Connection::changes))
    }

    async fn drop(&mut self, rep: Resource<GuestConnection>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}
