//! The narrow database interface the store needs: run one statement with
//! bound parameters and get rows back. Implemented for Spin's SQLite, a
//! native SQLite, Spin's PostgreSQL and a native PostgreSQL.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Which SQL dialect a backend speaks. Statements are written once, in the
/// common subset with `$1`-style placeholders, and adapted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: placeholders become `?1`; writes take the database lock with
    /// `BEGIN IMMEDIATE`, which also makes row locks (`FOR UPDATE`) moot, so
    /// that clause is dropped.
    Sqlite,
    /// PostgreSQL: statements run as written; a transaction is a plain
    /// `BEGIN` (read committed) whose first statement sets the tenant for
    /// row-level security, and writers of one row serialize on its row lock.
    Postgres,
}

impl Dialect {
    /// Rewrites a statement for this dialect: `$n` placeholders, and the
    /// PostgreSQL-only row-lock clauses `FOR UPDATE` / `SKIP LOCKED`, which
    /// SQLite does not parse and does not need under its database lock.
    pub fn sql<'a>(self, sql: &'a str) -> Cow<'a, str> {
        match self {
            Dialect::Sqlite => Cow::Owned(
                sql.replace('$', "?")
                    .replace(" FOR UPDATE SKIP LOCKED", "")
                    .replace(" FOR UPDATE", ""),
            ),
            Dialect::Postgres => Cow::Borrowed(sql),
        }
    }

    /// The statement that opens a write transaction: on SQLite it takes the
    /// database write lock at once, so concurrent writers queue instead of
    /// failing at their first write.
    pub fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// A subquery yielding the text elements of the JSON array bound at
    /// placeholder `$n` (for `x IN (…)` with a list of ids in one parameter,
    /// since Spin's SQLite has no array parameters).
    pub fn json_array_elements(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value FROM json_each(${n})"),
            Dialect::Postgres => format!("SELECT jsonb_array_elements_text(CAST(${n} AS jsonb))"),
        }
    }
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param<'a> {
    /// SQL NULL.
    Null,
    /// A 64-bit integer: `INTEGER` on SQLite, `bigint` on PostgreSQL (Spin
    /// binds it as an `i64`, which no `integer` column accepts).
    Int(i64),
    /// Text.
    Text(Cow<'a, str>),
    /// Bytes.
    Blob(Cow<'a, [u8]>),
    /// A flag: `INTEGER` 0/1 on SQLite, `boolean` on PostgreSQL.
    Bool(bool),
    /// An exact decimal: text on SQLite, `numeric` on PostgreSQL.
    Decimal(Decimal),
    /// An instant: RFC 3339 text with microseconds on SQLite (so text order
    /// is time order), `timestamp` holding UTC on PostgreSQL (Spin binds a
    /// date-time as a naive one, which no `timestamptz` column accepts).
    Time(DateTime<Utc>),
    /// A JSON document (serialized): text on SQLite, `jsonb` on PostgreSQL.
    Json(Cow<'a, str>),
}

/// A parameter as SQLite stores it: the four storage classes the schema uses.
#[derive(Debug, Clone, PartialEq)]
pub enum SqliteValue<'a> {
    /// NULL.
    Null,
    /// INTEGER (also flags, as 0/1).
    Int(i64),
    /// TEXT (also decimals, RFC 3339 times and JSON).
    Text(Cow<'a, str>),
    /// BLOB.
    Blob(Cow<'a, [u8]>),
}

impl Param<'_> {
    /// The value as SQLite stores it.
    pub fn to_sqlite(&self) -> SqliteValue<'_> {
        match self {
            Param::Null => SqliteValue::Null,
            Param::Int(n) => SqliteValue::Int(*n),
            Param::Bool(b) => SqliteValue::Int(i64::from(*b)),
            Param::Text(s) | Param::Json(s) => SqliteValue::Text(Cow::Borrowed(s)),
            Param::Decimal(d) => SqliteValue::Text(Cow::Owned(d.to_string())),
            Param::Time(t) => SqliteValue::Text(Cow::Owned(fmt_time(*t))),
            Param::Blob(b) => SqliteValue::Blob(Cow::Borrowed(b)),
        }
    }
}

/// A time as both dialects return it: RFC 3339 UTC with microseconds.
pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(s: &'a str) -> Self {
        Param::Text(Cow::Borrowed(s))
    }
}

impl From<String> for Param<'_> {
    fn from(s: String) -> Self {
        Param::Text(Cow::Owned(s))
    }
}

impl From<Decimal> for Param<'_> {
    fn from(d: Decimal) -> Self {
        Param::Decimal(d)
    }
}

impl From<DateTime<Utc>> for Param<'_> {
    fn from(t: DateTime<Utc>) -> Self {
        Param::Time(t)
    }
}

impl From<bool> for Param<'_> {
    fn from(b: bool) -> Self {
        Param::Bool(b)
    }
}

impl From<i64> for Param<'_> {
    fn from(n: i64) -> Self {
        Param::Int(n)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// A value read back. Backends normalize: flags come back as `Int` 0/1,
/// decimals as their text, instants as RFC 3339 text with microseconds in UTC,
/// JSON as its text — so rows decode the same way from either dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float; the schema has none, but a backend may report one.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// One row, with access by column name.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    columns: &'a [String],
    cells: &'a [Cell],
}

impl<'a> Row<'a> {
    /// The cell in `column`.
    pub fn get(&self, column: &str) -> Result<&'a Cell, DbError> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.cells.get(i))
            .ok_or_else(|| DbError::Decode(format!("no column `{column}`")))
    }

    /// A non-null text column.
    pub fn text(&self, column: &str) -> Result<&'a str, DbError> {
        match self.get(column)? {
            Cell::Text(s) => Ok(s),
            other => Err(DbError::Decode(format!("`{column}` is {other:?}, expected text"))),
        }
    }

    /// A nullable text column.
    pub fn opt_text(&self, column: &str) -> Result<Option<&'a str>, DbError> {
        match self.get(column)? {
            Cell::Null => Ok(None),
            Cell::Text(s) => Ok(Some(s)),
            other => Err(DbError::Decode(format!(
                "`{column}` is {other:?}, expected text or null"
            ))),
        }
    }

    /// A non-null integer column.
    pub fn int(&self, column: &str) -> Result<i64, DbError> {
        match self.get(column)? {
            Cell::Int(n) => Ok(*n),
            other => Err(DbError::Decode(format!("`{column}` is {other:?}, expected an integer"))),
        }
    }

    /// A nullable blob column (text is accepted as its bytes).
    pub fn opt_blob(&self, column: &str) -> Result<Option<&'a [u8]>, DbError> {
        match self.get(column)? {
            Cell::Null => Ok(None),
            Cell::Blob(b) => Ok(Some(b)),
            Cell::Text(s) => Ok(Some(s.as_bytes())),
            other => Err(DbError::Decode(format!("`{column}` is {other:?}, expected bytes"))),
        }
    }
}

/// A statement's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// Row values, in column order.
    pub rows: Vec<Vec<Cell>>,
}

impl Rows {
    /// Iterates rows.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|cells| Row {
            columns: &self.columns,
            cells,
        })
    }

    /// The first row, if any.
    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }

    /// How many rows came back.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no rows came back.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// What a backend reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// Another writer holds the lock; the transaction may be retried.
    #[error("database is busy")]
    Busy,
    /// A uniqueness or key constraint refused the write; carries the message
    /// (which names the constraint) for mapping to a conflict.
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// A value could not be read as the schema promises.
    #[error("cannot decode row: {0}")]
    Decode(String),
    /// Anything else the backend reported.
    #[error("database error: {0}")]
    Other(String),
}

impl DbError {
    /// Classifies a PostgreSQL error by its SQLSTATE: serialization failures
    /// and deadlocks may be retried, integrity violations name their
    /// constraint (unique violations say "unique", which the store maps to
    /// a duplicate).
    pub fn from_sqlstate(code: &str, msg: String) -> DbError {
        match code {
            "40001" | "40P01" | "55P03" => DbError::Busy,
            "23505" if !msg.to_ascii_lowercase().contains("unique") => DbError::Constraint(format!("unique: {msg}")),
            c if c.starts_with("23") => DbError::Constraint(msg),
            _ => DbError::Other(msg),
        }
    }

    /// Classifies a backend's message text.
    pub fn from_message(msg: String) -> DbError {
        let lower = msg.to_ascii_lowercase();
        if lower.contains("database is locked")
            || lower.contains("busy")
            || lower.contains("could not serialize access")
            || lower.contains("deadlock detected")
        {
            DbError::Busy
        } else if lower.contains("constraint") {
            DbError::Constraint(msg)
        } else {
            DbError::Other(msg)
        }
    }
}

/// One statement at a time, with bound parameters. Transactions are plain
/// `BEGIN`/`COMMIT` statements on the same connection.
pub trait Db {
    /// The backend's dialect.
    fn dialect(&self) -> Dialect;

    /// Runs one statement (already in this dialect) and returns its rows.
    fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, DbError>;
}
