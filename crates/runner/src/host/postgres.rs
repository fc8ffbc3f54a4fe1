//! `spin:postgres/postgres@4.0.0` (what `spin_sdk::pg4` uses), backed by
//! `tokio-postgres` without TLS. The connection string comes from the guest
//! (typically from a Spin variable); its host and port must be allowed by the
//! component's `allowed_outbound_hosts` (`postgres://host:port`).
//!
//! Values travel in PostgreSQL's binary format. Parameters adapt to the type
//! the server inferred for each placeholder (an `int64` bound to an `INT4`
//! column is narrowed with a range check; a `str` bound to `UUID`, `JSONB` or
//! `NUMERIC` is converted). Result columns of the common types are decoded into
//! the matching `db-value`; other types come back as `unsupported(raw bytes)`.
//! Range, array and interval *parameters* are refused with `bad-parameter`.

// The WIT error type is large (it carries PostgreSQL's error fields); the
// generated bindings return it by value, so boxing it here would not help.
#![allow(clippy::result_large_err)]

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};
use wasmtime::component::Resource;

use crate::bindings::postgres::{
    self, Column, DbDataType, DbError, DbValue, Error, ParameterValue, QueryError, RowSet,
};
use crate::outbound::Destination;
use crate::state::RequestState;

/// A guest's open PostgreSQL connection.
#[derive(Debug)]
pub struct GuestConnection {
    /// The connection string it was opened with (its pool).
    address: String,
    client: tokio_postgres::Client,
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl postgres::Host for RequestState {}

impl postgres::HostConnection for RequestState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<GuestConnection>, Error>> {
        let config: tokio_postgres::Config = match address.parse() {
            Ok(c) => c,
            Err(e) => return Ok(Err(Error::ConnectionFailed(e.to_string()))),
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
        if let Some(client) = self.app.services.pg_pool.take(&address) {
            return Ok(Ok(self.table.push(GuestConnection { address, client })?));
        }
        match config.connect(tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        eprintln!("spin-local: postgres connection error: {e}");
                    }
                });
                Ok(Ok(self.table.push(GuestConnection { address, client })?))
            }
            Err(e) => Ok(Err(Error::ConnectionFailed(e.to_string()))),
        }
    }

    async fn query(
        &mut self,
        this: Resource<GuestConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let client = &self.table.get(&this)?.client;
        let params = match to_params(params) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let stmt = match client.prepare(&statement).await {
            Ok(s) => s,
            Err(e) => return Ok(Err(query_failed(e))),
        };
        let rows = match client.query(&stmt, &refs).await {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(query_failed(e))),
        };
        let columns: Vec<Column> = stmt
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                data_type: data_type(c.type_()),
            })
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(columns.len());
            for (i, col) in stmt.columns().iter().enumerate() {
                let raw: Raw = match row.try_get(i) {
                    Ok(r) => r,
                    Err(e) => return Ok(Err(Error::ValueConversionFailed(e.to_string()))),
                };
                values.push(match raw.0 {
                    None => DbValue::DbNull,
                    Some(bytes) => match decode(col.type_(), &bytes) {
                        Ok(v) => v,
                        Err(e) => return Ok(Err(Error::ValueConversionFailed(e.to_string()))),
                    },
                });
            }
            out.push(values);
        }
        if crate::crash::is_commit_statement(&statement) {
            self.app.services.commits.record("postgres");
        }
        Ok(Ok(RowSet { columns, rows: out }))
    }

    async fn execute(
        &mut self,
        this: Resource<GuestConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let client = &self.table.get(&this)?.client;
        let params = match to_params(params) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let result = client.execute(&statement, &refs).await;
        if result.is_ok() && crate::crash::is_commit_statement(&statement) {
            self.app.services.commits.record("postgres");
        }
        Ok(result.map_err(query_failed))
    }

    async fn drop(&mut self, rep: Resource<GuestConnection>) -> wasmtime::Result<()> {
        let GuestConnection { address, client } = self.table.delete(rep)?;
        self.app.services.pg_pool.give_back(address, client).await;
        Ok(())
    }
}

fn query_failed(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::QueryFailed(QueryError::DbError(DbError {
            as_text: db.to_string(),
            severity: db.severity().to_owned(),
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            extras: Vec::new(),
        })),
        None => Error::QueryFailed(QueryError::Text(e.to_string())),
    }
}

/// A parameter that adapts to the placeholder's inferred type.
#[derive(Debug)]
struct Param(ParameterValue);

fn to_params(params: Vec<ParameterValue>) -> Result<Vec<Param>, Error> {
    params
        .into_iter()
        .map(|p| match p {
            ParameterValue::RangeInt32(_)
            | ParameterValue::RangeInt64(_)
            | ParameterValue::RangeDecimal(_)
            | ParameterValue::ArrayInt32(_)
            | ParameterValue::ArrayInt64(_)
            | ParameterValue::ArrayDecimal(_)
            | ParameterValue::ArrayStr(_)
            | ParameterValue::Interval(_)
            | ParameterValue::Time(_) => Err(Error::BadParameter(
                "range, array, interval and time parameters are not supported by spin-local".into(),
            )),
            p => Ok(Param(p)),
        })
        .collect()
}

fn put_int(value: i64, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    match *ty {
        Type::INT2 => out.put_i16(i16::try_from(value)?),
        Type::INT4 => out.put_i32(i32::try_from(value)?),
        Type::INT8 => out.put_i64(value),
        Type::CHAR => out.put_i8(i8::try_from(value)?),
        Type::NUMERIC => encode_numeric(&value.to_string(), out)?,
        #[allow(clippy::cast_precision_loss)]
        Type::FLOAT8 => out.put_f64(value as f64),
        _ => return Err(format!("cannot bind an integer to a {ty} parameter").into()),
    }
    Ok(())
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match &self.0 {
            ParameterValue::DbNull => return Ok(IsNull::Yes),
            ParameterValue::Boolean(b) => out.put_u8(u8::from(*b)),
            ParameterValue::Int8(v) => put_int((*v).into(), ty, out)?,
            ParameterValue::Int16(v) => put_int((*v).into(), ty, out)?,
            ParameterValue::Int32(v) => put_int((*v).into(), ty, out)?,
            ParameterValue::Int64(v) => put_int(*v, ty, out)?,
            ParameterValue::Floating32(v) => match *ty {
                Type::FLOAT8 => out.put_f64(f64::from(*v)),
                _ => out.put_f32(*v),
            },
            ParameterValue::Floating64(v) => out.put_f64(*v),
            ParameterValue::Str(s) | ParameterValue::Uuid(s) | ParameterValue::Decimal(s) => {
                match *ty {
                    Type::UUID => out.put_slice(&parse_uuid(s)?),
                    Type::JSONB => {
                        out.put_u8(1);
                        out.put_slice(s.as_bytes());
                    }
                    Type::NUMERIC => encode_numeric(s, out)?,
                    _ => out.put_slice(s.as_bytes()),
                }
            }
            ParameterValue::Binary(b) => out.put_slice(b),
            ParameterValue::Jsonb(b) => {
                if *ty == Type::JSONB {
                    out.put_u8(1);
                }
                out.put_slice(b);
            }
            ParameterValue::Timestamp(secs) => {
                out.put_i64((secs - PG_EPOCH_UNIX_SECS) * 1_000_000);
            }
            ParameterValue::Date((y, m, d)) => {
                let days = days_from_civil(i64::from(*y), u32::from(*m), u32::from(*d));
                out.put_i32(i32::try_from(days - PG_EPOCH_DAYS)?);
            }
            ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
                let days = days_from_civil(i64::from(*y), u32::from(*mo), u32::from(*d)) - PG_EPOCH_DAYS;
                let secs = days * 86_400 + i64::from(*h) * 3600 + i64::from(*mi) * 60 + i64::from(*s);
                out.put_i64(secs * 1_000_000 + i64::from(*ns / 1000));
            }
            other => return Err(format!("unsupported parameter {other:?}").into()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Any column, as raw binary bytes (decoded by [`decode`]).
struct Raw(Option<Vec<u8>>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(Some(raw.to_vec())))
    }
    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSON | Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N], BoxError> {
    raw.get(..N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| "truncated value".into())
}

fn decode(ty: &Type, raw: &[u8]) -> Result<DbValue, BoxError> {
    Ok(match *ty {
        Type::BOOL => DbValue::Boolean(raw.first().is_some_and(|b| *b != 0)),
        Type::CHAR => DbValue::Int8(i8::from_be_bytes(be(raw)?)),
        Type::INT2 => DbValue::Int16(i16::from_be_bytes(be(raw)?)),
        Type::INT4 => DbValue::Int32(i32::from_be_bytes(be(raw)?)),
        Type::INT8 => DbValue::Int64(i64::from_be_bytes(be(raw)?)),
        Type::FLOAT4 => DbValue::Floating32(f32::from_be_bytes(be(raw)?)),
        Type::FLOAT8 => DbValue::Floating64(f64::from_be_bytes(be(raw)?)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            DbValue::Str(String::from_utf8(raw.to_vec())?)
        }
        Type::BYTEA => DbValue::Binary(raw.to_vec()),
        Type::UUID => DbValue::Uuid(format_uuid(&be::<16>(raw)?)),
        Type::JSON => DbValue::Jsonb(raw.to_vec()),
        Type::JSONB => DbValue::Jsonb(raw.get(1..).unwrap_or_default().to_vec()),
        Type::NUMERIC => DbValue::Decimal(decode_numeric(raw)?),
        Type::DATE => {
            let days = i64::from(i32::from_be_bytes(be(raw)?)) + PG_EPOCH_DAYS;
            let (y, m, d) = civil_from_days(days);
            DbValue::Date((i32::try_from(y)?, u8::try_from(m)?, u8::try_from(d)?))
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(be(raw)?);
            let secs = micros.div_euclid(1_000_000);
            let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000)?;
            let days = secs.div_euclid(86_400) + PG_EPOCH_DAYS;
            let tod = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            DbValue::Datetime((
                i32::try_from(y)?,
                u8::try_from(m)?,
                u8::try_from(d)?,
                u8::try_from(tod / 3600)?,
                u8::try_from(tod % 3600 / 60)?,
                u8::try_from(tod % 60)?,
                nanos,
            ))
        }
        _ => DbValue::Unsupported(raw.to_vec()),
    })
}

/// 2000-01-01 (PostgreSQL's epoch) in days since 1970-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
/// 2000-01-01 in Unix seconds.
const PG_EPOCH_UNIX_SECS: i64 = PG_EPOCH_DAYS * 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn parse_uuid(s: &str) -> Result<[u8; 16], BoxError> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let bytes = hex::decode(hex)?;
    bytes.try_into().map_err(|_| "a UUID has 16 bytes".into())
}

fn format_uuid(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Decodes PostgreSQL's binary NUMERIC (base-10000 digits) to a decimal string.
fn decode_numeric(raw: &[u8]) -> Result<String, BoxError> {
    let ndigits = usize::from(u16::from_be_bytes(be(raw)?));
    let weight = i16::from_be_bytes(be(raw.get(2..).unwrap_or_default())?);
    let sign = u16::from_be_bytes(be(raw.get(4..).unwrap_or_default())?);
    let dscale = usize::from(u16::from_be_bytes(be(raw.get(6..).unwrap_or_default())?));
    if sign == 0xC000 {
        return Ok("NaN".to_owned());
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|i| be::<2>(raw.get(8 + 2 * i..).unwrap_or_default()).map(u16::from_be_bytes))
        .collect::<Result<_, _>>()?;
    let mut int_part = String::new();
    let weight = i32::from(weight);
    for w in 0..=weight.max(-1) {
        let d = usize::try_from(w).ok().and_then(|i| digits.get(i)).copied().unwrap_or(0);
        if int_part.is_empty() {
            if d != 0 {
                int_part = d.to_string();
            }
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut i = weight + 1;
    while frac.len() < dscale {
        let d = usize::try_from(i).ok().and_then(|i| digits.get(i)).copied().unwrap_or(0);
        frac.push_str(&format!("{d:04}"));
        i += 1;
    }
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(if frac.is_empty() {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac}")
    })
}

/// Encodes a decimal string as PostgreSQL's binary NUMERIC.
fn encode_numeric(s: &str, out: &mut BytesMut) -> Result<(), BoxError> {
    let s = s.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return Err(format!("'{s}' is not a decimal number").into());
    }
    let dscale = u16::try_from(frac.len())?;
    // Left-pad the integer part and right-pad the fraction to groups of 4.
    let int_pad = (4 - int.len() % 4) % 4;
    let int_digits = format!("{}{int}", "0".repeat(int_pad));
    let frac_digits = format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4));
    let mut groups: Vec<u16> = Vec::new();
    for chunk in int_digits.as_bytes().chunks(4).chain(frac_digits.as_bytes().chunks(4)) {
        groups.push(std::str::from_utf8(chunk)?.parse()?);
    }
    let mut weight = i16::try_from(int_digits.len() / 4)? - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_u16(u16::try_from(groups.len())?);
    out.put_i16(weight);
    out.put_u16(if negative && !groups.is_empty() { 0x4000 } else { 0 });
    out.put_u16(dscale);
    for g in groups {
        out.put_u16(g);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_round_trips_through_the_binary_format() {
        for s in ["0", "1", "-12.50", "12345678.0001", "0.0042", "10000", "-0.1"] {
            let mut buf = BytesMut::new();
            encode_numeric(s, &mut buf).expect("encodes");
            let back = decode_numeric(&buf).expect("decodes");
            assert_eq!(back, s.trim_start_matches('+'), "{s}");
        }
    }

    #[test]
    fn civil_dates_convert_both_ways() {
        assert_eq!(days_from_civil(2000, 1, 1), PG_EPOCH_DAYS);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn uuids_format_and_parse() {
        let s = "123e4567-e89b-12d3-a456-426614174000";
        assert_eq!(format_uuid(&parse_uuid(s).expect("parses")), s);
    }
}
