//! The narrow database interface the store needs: run one statement with
//! bound parameters and get rows back. Implemented for Spin's SQLite and a
//! native SQLite.

use std::borrow::Cow;

/// Which SQL dialect a backend speaks. Statements are written once with
/// `$1`-style placeholders and adapted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: placeholders become `?1`; writes take the database lock with `BEGIN IMMEDIATE`.
    Sqlite,
}

impl Dialect {
    /// Rewrites `$n` placeholders for this dialect.
    pub fn sql<'a>(self, sql: &'a str) -> Cow<'a, str> {
        match self {
            Dialect::Sqlite => Cow::Owned(sql.replace('$', "?")),
        }
    }

    /// The statement that opens a write transaction holding the write lock.
    pub fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
        }
    }
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param<'a> {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Int(i64),
    /// Text.
    Text(Cow<'a, str>),
    /// Bytes.
    Blob(Cow<'a, [u8]>),
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

/// A value read back.
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
            other => Err(DbError::Decode(format!("`{column}` is {other:?}, expected text or null"))),
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
        self.rows.iter().map(|cells| Row { columns: &self.columns, cells })
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
    /// Classifies a backend's message text.
    pub fn from_message(msg: String) -> DbError {
        let lower = msg.to_ascii_lowercase();
        if lower.contains("database is locked") || lower.contains("busy") {
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
