//! Schema migrations: forward-only, numbered, embedded in the binary, and
//! applied under the write lock so concurrent first requests do not race.

use chrono::{DateTime, Utc};

use crate::codec::fmt_time;
use crate::db::{Db, Dialect, Param};
use crate::error::StoreError;
use crate::orders::Store;

/// `(version, name, SQLite statements)`, in order. [`POSTGRES_MIGRATIONS`]
/// has the same version numbers and names.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "orders", include_str!("../../../migrations/sqlite/0001_orders.sql")),
    (2, "saga", include_str!("../../../migrations/sqlite/0002_saga.sql")),
    (
        3,
        "capacity",
        include_str!("../../../migrations/sqlite/0003_capacity.sql"),
    ),
    (
        4,
        "saga_lookups",
        include_str!("../../../migrations/sqlite/0004_saga_lookups.sql"),
    ),
    (
        5,
        "subscriptions",
        include_str!("../../../migrations/sqlite/0005_subscriptions.sql"),
    ),
    (
        6,
        "spin_types",
        include_str!("../../../migrations/sqlite/0006_spin_types.sql"),
    ),
    (
        7,
        "metrics",
        include_str!("../../../migrations/sqlite/0007_metrics.sql"),
    ),
    (
        8,
        "hardening",
        include_str!("../../../migrations/sqlite/0008_hardening.sql"),
    ),
    (
        9,
        "delivery",
        include_str!("../../../migrations/sqlite/0009_delivery.sql"),
    ),
    (
        10,
        "refunds",
        include_str!("../../../migrations/sqlite/0010_refunds.sql"),
    ),
    (
        11,
        "overpayment",
        include_str!("../../../migrations/sqlite/0011_overpayment.sql"),
    ),
    (
        12,
        "renewal_metrics",
        include_str!("../../../migrations/sqlite/0012_renewal_metrics.sql"),
    ),
    (
        13,
        "day_two",
        include_str!("../../../migrations/sqlite/0013_day_two.sql"),
    ),
];

/// `(version, name, PostgreSQL statements)`, in order: the same versions as
/// [`MIGRATIONS`], applied by the schema owner (they create the roles, the
/// row-level-security policies and the grants the application runs under).
pub const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "orders",
        include_str!("../../../migrations/postgres/0001_orders.sql"),
    ),
    (2, "saga", include_str!("../../../migrations/postgres/0002_saga.sql")),
    (
        3,
        "capacity",
        include_str!("../../../migrations/postgres/0003_capacity.sql"),
    ),
    (
        4,
        "saga_lookups",
        include_str!("../../../migrations/postgres/0004_saga_lookups.sql"),
    ),
    (
        5,
        "subscriptions",
        include_str!("../../../migrations/postgres/0005_subscriptions.sql"),
    ),
    (
        6,
        "spin_types",
        include_str!("../../../migrations/postgres/0006_spin_types.sql"),
    ),
    (
        7,
        "metrics",
        include_str!("../../../migrations/postgres/0007_metrics.sql"),
    ),
    (
        8,
        "hardening",
        include_str!("../../../migrations/postgres/0008_hardening.sql"),
    ),
    (
        9,
        "delivery",
        include_str!("../../../migrations/postgres/0009_delivery.sql"),
    ),
    (
        10,
        "refunds",
        include_str!("../../../migrations/postgres/0010_refunds.sql"),
    ),
    (
        11,
        "overpayment",
        include_str!("../../../migrations/postgres/0011_overpayment.sql"),
    ),
    (
        12,
        "renewal_metrics",
        include_str!("../../../migrations/postgres/0012_renewal_metrics.sql"),
    ),
    (
        13,
        "day_two",
        include_str!("../../../migrations/postgres/0013_day_two.sql"),
    ),
];

/// The migrations of a dialect.
pub fn migrations(dialect: Dialect) -> &'static [(i64, &'static str, &'static str)] {
    match dialect {
        Dialect::Sqlite => MIGRATIONS,
        Dialect::Postgres => POSTGRES_MIGRATIONS,
    }
}

/// An arbitrary constant naming the PostgreSQL advisory lock that serializes
/// concurrent migrators (SQLite's write lock does that by itself).
const MIGRATION_LOCK: i64 = 0x6f72_6465_7266_6c6f;

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

impl<D: Db> Store<D> {
    /// Brings the schema up to date, under the write lock (PostgreSQL: an
    /// advisory lock) so concurrent first requests apply each migration once.
    /// Cheap when it already is: one query. On PostgreSQL this needs the
    /// schema owner's connection; the application role only passes the check.
    pub fn migrate(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        if current(self.db()).ok() == Some(latest()) {
            return Ok(());
        }
        let dialect = self.db().dialect();
        self.write(|s| {
            if dialect == Dialect::Postgres {
                s.run("SELECT 1 AS locked FROM pg_advisory_xact_lock($1)", &[Param::Int(MIGRATION_LOCK)])?;
            }
            // PostgreSQL: bigint, the only integer type Spin binds an i64 to
            // (a database from before 0006 has INTEGER until 0006 changes it).
            let version_type = match dialect {
                Dialect::Sqlite => "INTEGER",
                Dialect::Postgres => "BIGINT",
            };
            s.run(
                &format!(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version {version_type} PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                ),
                &[],
            )?;
            let have = current(s.db())?;
            for (version, name, sql) in migrations(dialect).iter().filter(|m| m.0 > have) {
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
/// a line, outside a `$$`-quoted body (PostgreSQL's `DO $$ … $$`); `--`
/// comment lines are dropped.
pub(crate) fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_dollar_quote = false;
    for line in sql.lines() {
        let trimmed = line.trim();
        if (trimmed.starts_with("--") && !in_dollar_quote) || trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.matches("$$").count() % 2 == 1 {
            in_dollar_quote = !in_dollar_quote;
        }
        if trimmed.ends_with(';') && !in_dollar_quote {
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
        assert_eq!(
            statements(sql),
            vec![
                "CREATE TABLE a (\n  x TEXT CHECK (x IN ('a;b'))\n)",
                "CREATE INDEX i ON a (x)"
            ]
        );
    }

    #[test]
    fn a_dollar_quoted_body_is_one_statement() {
        let sql = "DO $$\nBEGIN\n    CREATE ROLE r;\nEXCEPTION WHEN duplicate_object THEN NULL;\nEND\n$$;\nCREATE TABLE t (x INT);\n";
        let got = statements(sql);
        assert_eq!(got.len(), 2);
        assert!(got[0].starts_with("DO $$") && got[0].ends_with("$$"));
        assert_eq!(got[1], "CREATE TABLE t (x INT)");
    }

    #[test]
    fn both_dialects_have_the_same_migration_versions_and_names() {
        let key = |m: &[(i64, &str, &str)]| m.iter().map(|(v, n, _)| (*v, n.to_string())).collect::<Vec<_>>();
        assert_eq!(key(MIGRATIONS), key(POSTGRES_MIGRATIONS));
    }

    #[test]
    fn migration_versions_are_strictly_increasing() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(MIGRATIONS[0].0, 1);
    }
}
