//! Schema migrations: forward-only, numbered, embedded in the binary, and
//! applied under the write lock so concurrent first requests do not race.

use chrono::{DateTime, Utc};

use crate::codec::fmt_time;
use crate::db::{Db, Param};
use crate::error::StoreError;
use crate::orders::Store;

/// `(version, name, SQLite statements)`, in order. The PostgreSQL set uses
/// the same version numbers.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "orders", include_str!("../../../migrations/sqlite/0001_orders.sql")),
    (2, "saga", include_str!("../../../migrations/sqlite/0002_saga.sql")),
];

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

impl<D: Db> Store<D> {
    /// Brings the schema up to date, under the write lock so concurrent
    /// first requests apply each migration once. Cheap when it already is:
    /// one query.
    pub fn migrate(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        if current(self.db()).ok() == Some(latest()) {
            return Ok(());
        }
        self.write(|s| {
            s.run(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
                &[],
            )?;
            let have = current(s.db())?;
            for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > have) {
                for statement in statements(sql) {
                    s.run(&statement, &[])?;
                }
                s.run(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    &[Param::Int(*version), (*name).into(), fmt_time(now).into()],
                )?;
            }
            Ok(())
        })
    }
}

fn current(db: &impl Db) -> Result<i64, StoreError> {
    let rows = db.run("SELECT coalesce(max(version), 0) AS v FROM schema_migrations", &[])?;
    Ok(rows.first().map(|r| r.int("v")).transpose()?.unwrap_or(0))
}

/// Splits a migration file into statements: each ends with `;` at the end of
/// a line; `--` comment lines are dropped.
pub(crate) fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            out.push(std::mem::take(&mut current).trim().trim_end_matches(';').to_owned());
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_line_ending_semicolons_and_skip_comments() {
        let sql = "-- a comment\nCREATE TABLE a (\n  x TEXT CHECK (x IN ('a;b'))\n);\n\nCREATE INDEX i ON a (x);\n";
        assert_eq!(statements(sql), vec!["CREATE TABLE a (\n  x TEXT CHECK (x IN ('a;b'))\n)", "CREATE INDEX i ON a (x)"]);
    }

    #[test]
    fn migration_versions_are_strictly_increasing() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(MIGRATIONS[0].0, 1);
    }
}
