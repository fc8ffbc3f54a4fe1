//! The store's [`Db`] over a native PostgreSQL connection (the `postgres`
//! crate), for tests, the relay and other native tools.
//!
//! Parameters and columns are typed exactly as Spin's PostgreSQL interface
//! types them (`crates/factor-outbound-pg/src/types.rs` in Spin), so the
//! contract tests run natively catch what would fail on Spin: a [`Param`] is
//! bound as one fixed Rust type (integers `i64` → `bigint` only, text
//! `String` → text types only, times `NaiveDateTime` → `timestamp` only,
//! decimals `Decimal` → `numeric`, JSON → `json`/`jsonb`, flags `bool`,
//! bytes `bytea`) and a mismatch is tokio-postgres's `WrongType` error;
//! `timestamptz` columns cannot be read, and types Spin returns as
//! `unsupported` are refused. Results are normalized as [`Cell`]s: flags as
//! 0/1, decimals and times as text. (Zero-row results are returned as they
//! are: the Spin backend alone shapes its queries, see [`crate::one_row`].)

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use chrono::NaiveDateTime;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use rust_decimal::Decimal;

use crate::db::{fmt_time, Cell, Db, DbError, Dialect, Param, Rows};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A native PostgreSQL connection, with a per-connection statement cache.
pub struct NativePg {
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Statement>>,
}

impl std::fmt::Debug for NativePg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NativePg")
    }
}

impl NativePg {
    /// Connects with a libpq-style URL or key-value string (no TLS: for
    /// loopback and trusted networks).
    pub fn connect(url: &str) -> Result<Self, DbError> {
        let client = Client::connect(url, NoTls).map_err(to_db_error)?;
        Ok(NativePg {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
        })
    }

    /// Runs statements without parameters (a script, e.g. setup in tests).
    pub fn batch(&self, sql: &str) -> Result<(), DbError> {
        self.client.borrow_mut().batch_execute(sql).map_err(to_db_error)
    }
}

impl Db for NativePg {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, DbError> {
        let mut client = self.client.borrow_mut();
        let cached = self.statements.borrow().get(sql).cloned();
        let stmt = match cached {
            Some(s) => s,
            None => {
                let s = client.prepare(sql).map_err(to_db_error)?;
                // Transaction control and DDL are not worth caching.
                if !sql.starts_with("BEGIN") && !sql.starts_with("COMMIT") && !sql.starts_with("ROLLBACK") {
                    self.statements.borrow_mut().insert(sql.to_owned(), s.clone());
                }
                s
            }
        };
        let bound: Vec<Bound<'_>> = params.iter().map(Bound).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
        let rows = client.query(&stmt, &refs).map_err(|e| {
            // A schema change invalidates cached plans; forget them.
            self.statements.borrow_mut().clear();
            to_db_error(e)
        })?;
        let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut cells = Vec::with_capacity(columns.len());
            for (i, col) in stmt.columns().iter().enumerate() {
                cells.push(cell(row, i, col.type_()).map_err(|e| DbError::Decode(format!("{}: {e:?}", col.name())))?);
            }
            out.push(cells);
        }
        Ok(Rows { columns, rows: out })
    }
}

fn to_db_error(e: postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => DbError::from_sqlstate(db.code().code(), db.to_string()),
        // As Spin reports it: the driver's Debug text, which names the cause
        // (e.g. a `WrongType` parameter).
        None => DbError::Other(format!("{e:?}")),
    }
}

fn cell(row: &postgres::Row, i: usize, ty: &Type) -> Result<Cell, BoxError> {
    fn opt<'a, T: postgres::types::FromSql<'a>>(
        row: &'a postgres::Row,
        i: usize,
        f: impl FnOnce(T) -> Cell,
    ) -> Result<Cell, BoxError> {
        Ok(row.try_get::<_, Option<T>>(i)?.map_or(Cell::Null, f))
    }
    match *ty {
        Type::BOOL => opt(row, i, |b: bool| Cell::Int(i64::from(b))),
        Type::INT2 => opt(row, i, |n: i16| Cell::Int(n.into())),
        Type::INT4 => opt(row, i, |n: i32| Cell::Int(n.into())),
        Type::INT8 => opt(row, i, Cell::Int),
        Type::FLOAT4 => opt(row, i, |x: f32| Cell::Real(x.into())),
        Type::FLOAT8 => opt(row, i, Cell::Real),
        Type::NUMERIC => opt(row, i, |d: Decimal| Cell::Text(d.to_string())),
        // As on Spin: both read as NaiveDateTime, so `timestamptz` fails.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => opt(row, i, |t: NaiveDateTime| Cell::Text(fmt_time(t.and_utc()))),
        Type::JSONB => opt(row, i, |v: serde_json::Value| Cell::Text(v.to_string())),
        Type::BYTEA => opt(row, i, Cell::Blob),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => opt(row, i, Cell::Text),
        _ => Err(
            format!("a `{ty}` column is `unsupported` on Spin's PostgreSQL interface; cast it in the statement").into(),
        ),
    }
}

/// A [`Param`] bound as the one Rust type Spin binds its parameter variant
/// as (see the module documentation): a placeholder of another type is
/// tokio-postgres's `WrongType` error, never a conversion.
#[derive(Debug)]
struct Bound<'a>(&'a Param<'a>);

impl ToSql for Bound<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(n) => n.to_sql(ty, out),
            Param::Bool(b) => b.to_sql(ty, out),
            Param::Decimal(d) => d.to_sql(ty, out),
            Param::Time(t) => t.naive_utc().to_sql(ty, out),
            Param::Text(s) => s.as_ref().to_sql(ty, out),
            Param::Json(s) => serde_json::from_str::<serde_json::Value>(s)?.to_sql(ty, out),
            Param::Blob(b) => b.as_ref().to_sql(ty, out),
        }
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        fn check<T: ToSql>(ty: &Type) -> Result<(), BoxError> {
            if T::accepts(ty) {
                Ok(())
            } else {
                Err(Box::new(postgres::types::WrongType::new::<T>(ty.clone())))
            }
        }
        match self.0 {
            Param::Null => {}
            Param::Int(_) => check::<i64>(ty)?,
            Param::Bool(_) => check::<bool>(ty)?,
            Param::Decimal(_) => check::<Decimal>(ty)?,
            Param::Time(_) => check::<NaiveDateTime>(ty)?,
            Param::Text(_) => check::<String>(ty)?,
            Param::Json(_) => check::<serde_json::Value>(ty)?,
            Param::Blob(_) => check::<Vec<u8>>(ty)?,
        }
        self.to_sql(ty, out)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
