//! The store's [`Db`] over Spin's PostgreSQL API (`spin:postgres/postgres@4.0.0`,
//! `spin_sdk::pg4`). The connection string comes from a Spin variable and its
//! host must be in the component's `allowed_outbound_hosts`.
//!
//! Parameters are sent typed (flags as booleans, decimals as decimals, times
//! as UTC date-times, JSON as jsonb), so they bind to the PostgreSQL schema's
//! `boolean`, `numeric`, `timestamptz` and `jsonb` columns; results are
//! normalized to [`Cell`]s exactly as the native backend does.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError as Error, QueryError};

use crate::db::{fmt_time, Cell, Db, DbError, Dialect, Param, Rows};

/// A Spin PostgreSQL connection.
pub struct SpinPg(Connection);

impl std::fmt::Debug for SpinPg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpinPg")
    }
}

impl SpinPg {
    /// Connects to `url` (`postgres://user:password@host:port/db`).
    pub fn open(url: &str) -> Result<Self, DbError> {
        Connection::open(url).map(SpinPg).map_err(to_db_error)
    }
}

impl Db for SpinPg {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, DbError> {
        let values: Vec<ParameterValue> = params.iter().map(parameter).collect();
        let result = self.0.query(sql, &values).map_err(to_db_error)?;
        let rows = result
            .rows
            .into_iter()
            .map(|r| r.into_iter().map(cell).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rows {
            columns: result.columns.into_iter().map(|c| c.name).collect(),
            rows,
        })
    }
}

fn parameter(p: &Param<'_>) -> ParameterValue {
    match p {
        Param::Null => ParameterValue::DbNull,
        Param::Int(n) => ParameterValue::Int64(*n),
        Param::Bool(b) => ParameterValue::Boolean(*b),
        Param::Text(s) => ParameterValue::Str(s.to_string()),
        Param::Blob(b) => ParameterValue::Binary(b.to_vec()),
        Param::Decimal(d) => ParameterValue::Decimal(d.to_string()),
        Param::Json(j) => ParameterValue::Jsonb(j.as_bytes().to_vec()),
        Param::Time(t) => ParameterValue::Datetime((
            t.year(),
            narrow(t.month()),
            narrow(t.day()),
            narrow(t.hour()),
            narrow(t.minute()),
            narrow(t.second()),
            t.nanosecond(),
        )),
    }
}

/// Calendar fields are below 256 by construction.
fn narrow(n: u32) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

fn cell(v: DbValue) -> Result<Cell, DbError> {
    Ok(match v {
        DbValue::DbNull => Cell::Null,
        DbValue::Boolean(b) => Cell::Int(i64::from(b)),
        DbValue::Int8(n) => Cell::Int(n.into()),
        DbValue::Int16(n) => Cell::Int(n.into()),
        DbValue::Int32(n) => Cell::Int(n.into()),
        DbValue::Int64(n) => Cell::Int(n),
        DbValue::Floating32(x) => Cell::Real(x.into()),
        DbValue::Floating64(x) => Cell::Real(x),
        DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => Cell::Text(s),
        DbValue::Binary(b) => Cell::Blob(b),
        DbValue::Jsonb(b) => Cell::Text(String::from_utf8(b).map_err(|e| DbError::Decode(e.to_string()))?),
        DbValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            let t = NaiveDate::from_ymd_opt(y, mo.into(), d.into())
                .and_then(|date| date.and_hms_nano_opt(h.into(), mi.into(), s.into(), ns))
                .ok_or_else(|| DbError::Decode(format!("date-time {y}-{mo}-{d} {h}:{mi}:{s}.{ns}")))?;
            Cell::Text(fmt_time(DateTime::<Utc>::from_naive_utc_and_offset(t, Utc)))
        }
        DbValue::Timestamp(secs) => Cell::Int(secs),
        other => return Err(DbError::Decode(format!("unsupported column value {other:?}"))),
    })
}

fn to_db_error(e: Error) -> DbError {
    match e {
        Error::QueryFailed(QueryError::DbError(db)) => DbError::from_sqlstate(&db.code, db.as_text),
        Error::QueryFailed(QueryError::Text(msg)) => DbError::from_message(msg),
        other => DbError::Other(format!("{other:?}")),
    }
}
