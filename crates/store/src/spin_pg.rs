//! The store's [`Db`] over Spin's PostgreSQL API (`spin:postgres/postgres@4.0.0`,
//! `spin_sdk::pg4`). The connection string comes from a Spin variable and its
//! host must be in the component's `allowed_outbound_hosts`.
//!
//! Written for what every released Spin (3.x from the version with
//! `spin:postgres@4.0.0`, and 4.x) actually does:
//! - Each parameter is bound as one fixed Rust type with no conversion by the
//!   host, so [`Param`]s go out as the variant whose type the schema's column
//!   has: integers as `int64` (`bigint` columns), text as `str` (`text`),
//!   flags as `boolean`, decimals as `decimal` (`numeric`), times as
//!   `datetime` (`timestamp`, UTC, with microseconds), JSON as `jsonb`.
//! - Spin 4.0.0–4.0.2 never return from a `query` whose result has no rows.
//!   Statements without results (`BEGIN`, `COMMIT`, writes without
//!   `RETURNING`) therefore go through `execute`, and every statement with a
//!   result goes through `query` wrapped by [`one_row::wrap`], so
//!   the host always has a row to return; the marker row is dropped here.
//! - Spin's pool hands a connection back to the next request without rolling
//!   back a transaction a trapped request left open. Opening a connection
//!   therefore rolls back first, and limits how long any transaction may sit
//!   idle, so an abandoned one cannot hold its locks for long either.
//!
//! Results are normalized to [`Cell`]s exactly as the native backend does.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError as Error, QueryError};

use crate::db::{fmt_time, Cell, Db, DbError, Dialect, Param, Rows};
use crate::one_row;

/// A Spin PostgreSQL connection.
pub struct SpinPg(Connection);

impl std::fmt::Debug for SpinPg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpinPg")
    }
}

/// How long a transaction may stay open with nobody using it before the
/// server ends the session (a request that trapped mid-transaction).
const IDLE_IN_TRANSACTION: &str =
    "SELECT set_config('idle_in_transaction_session_timeout', '30s', false) AS idle_in_transaction";

impl SpinPg {
    /// Connects to `url` (`postgres://user:password@host:port/db`), leaving
    /// no transaction open that a pooled connection may have brought along.
    pub fn open(url: &str) -> Result<Self, DbError> {
        let db = Connection::open(url).map(SpinPg).map_err(to_db_error)?;
        db.0.execute("ROLLBACK", &[]).map_err(to_db_error)?;
        db.run(IDLE_IN_TRANSACTION, &[])?;
        Ok(db)
    }
}

impl Db for SpinPg {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, DbError> {
        let values: Vec<ParameterValue> = params.iter().map(parameter).collect();
        if !one_row::returns_rows(sql) {
            self.0.execute(sql, &values).map_err(to_db_error)?;
            return Ok(Rows::default());
        }
        let result = self.0.query(&one_row::wrap(sql), &values).map_err(to_db_error)?;
        let rows = result
            .rows
            .into_iter()
            .map(|r| r.into_iter().map(cell).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(one_row::unwrap(Rows {
            columns: result.columns.into_iter().map(|c| c.name).collect(),
            rows,
        }))
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
        Error::QueryFailed(QueryError::DbError(db)) => {
            let constraint = db
                .extras
                .iter()
                .find(|(k, _)| k == "constraint")
                .map(|(_, v)| v.as_str());
            let message = match constraint {
                Some(c) => format!("{} (constraint {c})", db.message),
                None => db.message,
            };
            DbError::from_sqlstate(&db.code, message)
        }
        Error::QueryFailed(QueryError::Text(msg)) => DbError::from_message(msg),
        other => DbError::Other(format!("{other:?}")),
    }
}
