//! The store's [`Db`] over a native PostgreSQL connection (the `postgres`
//! crate), for tests, the relay and other native tools.
//!
//! Parameters adapt to the type the server inferred for each placeholder, so
//! the store's dialect-neutral [`Param`]s bind to `timestamptz`, `numeric`,
//! `jsonb`, `boolean` and integer columns alike (text holding an RFC 3339
//! time or a decimal is accepted too, for statements written for SQLite's
//! text columns). Results are normalized as [`Cell`] documents: flags as 0/1,
//! decimals and times as text.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
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
                cells.push(cell(row, i, col.type_()).map_err(|e| DbError::Decode(format!("{}: {e}", col.name())))?);
            }
            out.push(cells);
        }
        Ok(Rows { columns, rows: out })
    }
}

fn to_db_error(e: postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => DbError::from_sqlstate(db.code().code(), db.to_string()),
        None => DbError::Other(e.to_string()),
    }
}

fn cell(row: &postgres::Row, i: usize, ty: &Type) -> Result<Cell, postgres::Error> {
    fn opt<'a, T: postgres::types::FromSql<'a>>(
        row: &'a postgres::Row,
        i: usize,
        f: impl FnOnce(T) -> Cell,
    ) -> Result<Cell, postgres::Error> {
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
        Type::TIMESTAMPTZ => opt(row, i, |t: DateTime<Utc>| Cell::Text(fmt_time(t))),
        Type::TIMESTAMP => opt(row, i, |t: NaiveDateTime| Cell::Text(fmt_time(t.and_utc()))),
        Type::JSON | Type::JSONB => opt(row, i, |v: serde_json::Value| Cell::Text(v.to_string())),
        Type::BYTEA => opt(row, i, Cell::Blob),
        Type::VOID => Ok(Cell::Null),
        _ => opt(row, i, Cell::Text),
    }
}

/// A [`Param`] bound to whatever type the server inferred for its placeholder.
#[derive(Debug)]
struct Bound<'a>(&'a Param<'a>);

impl ToSql for Bound<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(n) => int(*n, ty, out),
            Param::Bool(b) => match *ty {
                Type::BOOL => b.to_sql(ty, out),
                _ => int(i64::from(*b), ty, out),
            },
            Param::Decimal(d) => match *ty {
                Type::NUMERIC => d.to_sql(ty, out),
                _ => d.to_string().to_sql(ty, out),
            },
            Param::Time(t) => time(*t, ty, out),
            Param::Text(s) | Param::Json(s) => text(s, ty, out),
            Param::Blob(b) => match *ty {
                Type::BYTEA => b.as_ref().to_sql(ty, out),
                _ => std::str::from_utf8(b)?.to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn int(n: i64, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
    match *ty {
        Type::INT2 => i16::try_from(n)?.to_sql(ty, out),
        Type::INT4 => i32::try_from(n)?.to_sql(ty, out),
        Type::INT8 => n.to_sql(ty, out),
        Type::BOOL => (n != 0).to_sql(ty, out),
        Type::NUMERIC => Decimal::from(n).to_sql(ty, out),
        _ => n.to_string().to_sql(ty, out),
    }
}

fn time(t: DateTime<Utc>, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
    match *ty {
        Type::TIMESTAMPTZ => t.to_sql(ty, out),
        Type::TIMESTAMP => t.naive_utc().to_sql(ty, out),
        _ => fmt_time(t).to_sql(ty, out),
    }
}

fn text(s: &str, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
    match *ty {
        Type::TIMESTAMPTZ | Type::TIMESTAMP => time(DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc), ty, out),
        Type::NUMERIC => Decimal::from_str(s)?.to_sql(ty, out),
        Type::JSON | Type::JSONB => serde_json::from_str::<serde_json::Value>(s)?.to_sql(ty, out),
        Type::INT2 | Type::INT4 | Type::INT8 => int(s.parse()?, ty, out),
        Type::BOOL => match s {
            "true" | "t" | "1" => true.to_sql(ty, out),
            "false" | "f" | "0" => false.to_sql(ty, out),
            other => Err(format!("`{other}` is not a boolean").into()),
        },
        Type::BYTEA => s.as_bytes().to_sql(ty, out),
        _ => s.to_sql(ty, out),
    }
}
