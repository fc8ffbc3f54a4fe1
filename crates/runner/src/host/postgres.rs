//! `spin:postgres/postgres@4.0.0` (what `spin_sdk::pg4` uses), backed by
//! `tokio-postgres` without TLS, binding and decoding exactly as Spin does.
//!
//! Spin (`crates/factor-outbound-pg/src/types.rs`, `client.rs`; the same in
//! v3.6.x and v4.0.x) turns each `parameter-value` into one fixed Rust type and
//! hands it to tokio-postgres, whose `ToSql` accepts only the PostgreSQL types
//! that Rust type maps to: `int64` is an `i64` and binds to `int8` only, never
//! to an `integer` column; `str` is a `String` (text types only, never `uuid`,
//! `numeric` or `jsonb`); `datetime` is a chrono `NaiveDateTime` (`timestamp`
//! only, never `timestamptz`); `timestamp` is a `DateTime<Utc>` built from
//! whole seconds. A mismatch is not converted: the query fails with
//! tokio-postgres's `WrongType` error. Columns are decoded the same way
//! (`timestamptz` is read as `NaiveDateTime` and fails; `json`, `name` and
//! `"char"` are `unsupported`). We use the same Rust types through the same
//! driver, so the same statements fail the same way.
//!
//! Spin 4.0.0–4.0.2 never return from a `query` whose result has no rows
//! (spinframework/spin issue 3671, fixed after 4.0.2 by pull request 3673);
//! Spin 3.x returns an empty row set without columns. A request that would
//! hang on Spin fails here at once with an error naming the issue
//! ([`EmptyQuery::Error`], the default), unless the runner was started with
//! `--pg-empty-query empty` (Spin 3.x and later 4.x).

// The WIT error type is large (it carries PostgreSQL's error fields); the
// generated bindings return it by value, so boxing it here would not help.
#![allow(clippy::result_large_err)]

use std::error::Error as StdError;

use bytes::{Buf, BufMut, BytesMut};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use rust_decimal::Decimal;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};
use wasmtime::component::Resource;

use crate::bindings::postgres::{
    self, Column, DbDataType, DbError, DbValue, Error, Interval, ParameterValue, QueryError, RowSet,
};
use crate::host::pg_pool::Pooled;
use crate::outbound::Destination;
use crate::state::RequestState;

/// What a synchronous `query` with no result rows does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EmptyQuery {
    /// Spin 4.0.0–4.0.2: the call never returns there, so it fails here,
    /// naming the Spin issue (a test fails where a request would hang).
    #[default]
    Error,
    /// Spin 3.x (and 4.x after the fix): an empty row set without columns.
    Empty,
}

/// The message of a refused zero-row `query` (see [`EmptyQuery::Error`]).
pub const EMPTY_QUERY_MESSAGE: &str = "spin-local: this query returned no rows; on Spin 4.0.0-4.0.2 a \
     synchronous `query` with no result rows never returns (spinframework/spin issue 3671), so this \
     request would hang there. Send statements without results (BEGIN, COMMIT, INSERT/UPDATE \
     without RETURNING) through `execute`, and shape reads so that they always return a row. \
     (`spin-local up --pg-empty-query empty` reproduces Spin 3.x, which returns an empty set.)";

/// A guest's open PostgreSQL connection: a pooled client, back to the pool
/// when the guest drops it or its instance goes away (also after a trap).
#[derive(Debug)]
pub struct GuestConnection(Pooled);

type BoxError = Box<dyn StdError + Sync + Send>;

impl postgres::Host for RequestState {}

impl postgres::HostConnection for RequestState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<GuestConnection>, Error>> {
        let config: tokio_postgres::Config = match address.parse() {
            Ok(c) => c,
            Err(e) => return Ok(Err(Error::ConnectionFailed(format!("{e:?}")))),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        for host in config.get_hosts() {
            let name = match host {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            };
            let dest = Destination {
                scheme: "postgres",
                host: &name,
                port: Some(port),
            };
            if !self.grants.allowed_hosts.allows(&dest) {
                eprintln!(
                    "spin-local: component '{}' tried to connect to postgres://{name}:{port}, which is not in allowed_outbound_hosts",
                    self.grants.id
                );
                return Ok(Err(Error::ConnectionFailed(format!(
                    "address postgres://{name}:{port} is not permitted"
                ))));
            }
        }
        match self.app.services.pg_pool.get(&address, &config).await {
            Ok(client) => Ok(Ok(self.table.push(GuestConnection(client))?)),
            Err(e) => Ok(Err(Error::ConnectionFailed(format!("{e:?}")))),
        }
    }

    async fn query(
        &mut self,
        this: Resource<GuestConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let empty_query = self.app.services.pg_empty_query;
        let client = self.table.get(&this)?.0.client();
        // As Spin's `query`: a parameter that cannot be built is `bad-parameter`.
        let params = match to_sql_parameters(&params) {
            Ok(p) => p,
            Err(e) => return Ok(Err(Error::BadParameter(e))),
        };
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
        let rows = match client.query(&statement, &refs).await {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(query_failed(&e))),
        };
        if crate::crash::is_commit_statement(&statement) {
            self.app.services.commits.record("postgres");
        }
        let Some(first) = rows.first() else {
            return Ok(match empty_query {
                EmptyQuery::Error => Err(Error::Other(EMPTY_QUERY_MESSAGE.to_owned())),
                EmptyQuery::Empty => Ok(RowSet {
                    columns: Vec::new(),
                    rows: Vec::new(),
                }),
            });
        };
        let columns = first
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                data_type: data_type(c.type_()),
            })
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            match (0..row.len()).map(|i| convert_entry(row, i)).collect() {
                Ok(values) => out.push(values),
                // Spin reports a column it cannot decode as a failed query.
                Err(e) => return Ok(Err(Error::QueryFailed(QueryError::Text(format!("{e:?}"))))),
            }
        }
        Ok(Ok(RowSet { columns, rows: out }))
    }

    async fn execute(
        &mut self,
        this: Resource<GuestConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let client = self.table.get(&this)?.0.client();
        // As Spin's `execute`: a parameter that cannot be built is `value-conversion-failed`.
        let params = match to_sql_parameters(&params) {
            Ok(p) => p,
            Err(e) => return Ok(Err(Error::ValueConversionFailed(e))),
        };
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
        let result = client.execute(&statement, &refs).await;
        if result.is_ok() && crate::crash::is_commit_statement(&statement) {
            self.app.services.commits.record("postgres");
        }
        Ok(result.map_err(|e| query_failed(&e)))
    }

    async fn drop(&mut self, rep: Resource<GuestConnection>) -> wasmtime::Result<()> {
        // Dropping the pooled client returns it to the pool as it is.
        self.table.delete(rep)?;
        Ok(())
    }
}

/// Spin's `query_failed`: the driver's error in `Debug` form, with the
/// server's fields when the server reported it.
fn query_failed(e: &tokio_postgres::Error) -> Error {
    let as_text = format!("{e:?}");
    Error::QueryFailed(match e.as_db_error() {
        Some(db) => QueryError::DbError(DbError {
            as_text,
            severity: db.severity().to_owned(),
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            extras: extras(db),
        }),
        None => QueryError::Text(as_text),
    })
}

fn extras(db: &tokio_postgres::error::DbError) -> Vec<(String, String)> {
    let fields = [
        ("column", db.column().map(str::to_owned)),
        ("constraint", db.constraint().map(str::to_owned)),
        ("routine", db.routine().map(str::to_owned)),
        ("hint", db.hint().map(str::to_owned)),
        ("table", db.table().map(str::to_owned)),
        ("datatype", db.datatype().map(str::to_owned)),
        ("schema", db.schema().map(str::to_owned)),
        ("file", db.file().map(str::to_owned)),
        ("line", db.line().map(|l| l.to_string())),
        ("where_", db.where_().map(str::to_owned)),
    ];
    fields
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name.to_owned(), v)))
        .collect()
}

type Boxed = Box<dyn ToSql + Send + Sync>;

fn to_sql_parameters(params: &[ParameterValue]) -> Result<Vec<Boxed>, String> {
    params
        .iter()
        .map(|p| to_sql_parameter(p).map_err(|e| format!("{e:?}")))
        .collect()
}

/// One parameter as the one Rust type Spin binds it as.
fn to_sql_parameter(value: &ParameterValue) -> Result<Boxed, BoxError> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date((y, m, d)) => Box::new(date(*y, *m, *d)?),
        ParameterValue::Time((h, mi, s, ns)) => Box::new(time(*h, *mi, *s, *ns)?),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            Box::new(NaiveDateTime::new(date(*y, *mo, *d)?, time(*h, *mi, *s, *ns)?))
        }
        ParameterValue::Timestamp(secs) => Box::new(
            DateTime::<Utc>::from_timestamp(*secs, 0).ok_or_else(|| format!("invalid epoch timestamp {secs}"))?,
        ),
        ParameterValue::Uuid(v) => Box::new(uuid::Uuid::parse_str(v).map_err(|e| format!("invalid UUID {v}: {e}"))?),
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .map_err(|e| format!("invalid JSON {}: {e}", String::from_utf8_lossy(v)))?,
        ),
        ParameterValue::Decimal(v) => Box::new(decimal(v)?),
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| d.as_deref().map(decimal).transpose())
                .collect::<Result<Vec<Option<Decimal>>, _>>()?,
        ),
        ParameterValue::Interval(i) => Box::new(PgInterval(*i)),
        ParameterValue::DbNull => Box::new(PgNull),
        ParameterValue::RangeInt32(_) | ParameterValue::RangeInt64(_) | ParameterValue::RangeDecimal(_) => {
            return Err("range parameters are not supported by spin-local".into())
        }
    })
}

fn date(y: i32, m: u8, d: u8) -> Result<NaiveDate, BoxError> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into()).ok_or_else(|| format!("invalid date y={y}, m={m}, d={d}").into())
}

fn time(h: u8, mi: u8, s: u8, ns: u32) -> Result<NaiveTime, BoxError> {
    NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns)
        .ok_or_else(|| format!("invalid time {h}:{mi}:{s}:{ns}").into())
}

fn decimal(v: &str) -> Result<Decimal, BoxError> {
    Decimal::from_str_exact(v).map_err(|e| format!("invalid decimal {v}: {e}").into())
}

/// SQL NULL, accepted for a placeholder of any type (as Spin's `PgNull`).
#[derive(Debug)]
struct PgNull;

impl ToSql for PgNull {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    tokio_postgres::types::to_sql_checked!();
}

/// An `interval` in PostgreSQL's binary form: microseconds, days, months.
#[derive(Debug)]
struct PgInterval(Interval);

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
    tokio_postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, mut raw: &'a [u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err("an interval has 16 bytes".into());
        }
        let micros = raw.get_i64();
        let days = raw.get_i32();
        let months = raw.get_i32();
        Ok(PgInterval(Interval { micros, days, months }))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// Any other column, as its raw bytes (`unsupported`).
struct Other(Vec<u8>);

impl<'a> FromSql<'a> for Other {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Other(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The `db-data-type` Spin reports for a column type.
fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

/// Reads column `i` as the Rust type Spin reads that column type as.
fn convert_entry(row: &tokio_postgres::Row, i: usize) -> Result<DbValue, BoxError> {
    fn get<'a, T: FromSql<'a>>(
        row: &'a tokio_postgres::Row,
        i: usize,
        f: impl FnOnce(T) -> Result<DbValue, BoxError>,
    ) -> Result<DbValue, BoxError> {
        match row.try_get::<_, Option<T>>(i)? {
            Some(v) => f(v),
            None => Ok(DbValue::DbNull),
        }
    }
    let ty = row.columns()[i].type_().clone();
    match ty {
        Type::BOOL => get(row, i, |v| Ok(DbValue::Boolean(v))),
        Type::BYTEA => get(row, i, |v| Ok(DbValue::Binary(v))),
        Type::FLOAT4 => get(row, i, |v| Ok(DbValue::Floating32(v))),
        Type::FLOAT8 => get(row, i, |v| Ok(DbValue::Floating64(v))),
        Type::INT2 => get(row, i, |v| Ok(DbValue::Int16(v))),
        Type::INT4 => get(row, i, |v| Ok(DbValue::Int32(v))),
        Type::INT8 => get(row, i, |v| Ok(DbValue::Int64(v))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => get(row, i, |v| Ok(DbValue::Str(v))),
        // Both read as NaiveDateTime, which accepts only `timestamp`: a
        // `timestamptz` column fails here as it does on Spin.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => get(row, i, |v: NaiveDateTime| {
            Ok(DbValue::Datetime((
                v.year(),
                u8::try_from(v.month())?,
                u8::try_from(v.day())?,
                u8::try_from(v.hour())?,
                u8::try_from(v.minute())?,
                u8::try_from(v.second())?,
                v.nanosecond(),
            )))
        }),
        Type::DATE => get(row, i, |v: NaiveDate| {
            Ok(DbValue::Date((
                v.year(),
                u8::try_from(v.month())?,
                u8::try_from(v.day())?,
            )))
        }),
        Type::TIME => get(row, i, |v: NaiveTime| {
            Ok(DbValue::Time((
                u8::try_from(v.hour())?,
                u8::try_from(v.minute())?,
                u8::try_from(v.second())?,
                v.nanosecond(),
            )))
        }),
        Type::UUID => get(row, i, |v: uuid::Uuid| Ok(DbValue::Uuid(v.to_string()))),
        Type::JSONB => get(row, i, |v: serde_json::Value| {
            Ok(DbValue::Jsonb(serde_json::to_vec(&v)?))
        }),
        Type::NUMERIC => get(row, i, |v: Decimal| Ok(DbValue::Decimal(v.to_string()))),
        Type::INT4_ARRAY => get(row, i, |v| Ok(DbValue::ArrayInt32(v))),
        Type::INT8_ARRAY => get(row, i, |v| Ok(DbValue::ArrayInt64(v))),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => get(row, i, |v| Ok(DbValue::ArrayStr(v))),
        Type::NUMERIC_ARRAY => get(row, i, |v: Vec<Option<Decimal>>| {
            Ok(DbValue::ArrayDecimal(
                v.into_iter().map(|d| d.map(|d| d.to_string())).collect(),
            ))
        }),
        Type::INTERVAL => get(row, i, |v: PgInterval| Ok(DbValue::Interval(v.0))),
        Type::INT4_RANGE | Type::INT8_RANGE | Type::NUM_RANGE => {
            Err("range columns are not supported by spin-local".into())
        }
        _ => get(row, i, |v: Other| Ok(DbValue::Unsupported(v.0))),
    }
}
