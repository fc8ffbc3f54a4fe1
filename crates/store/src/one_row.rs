//! Statements shaped so that PostgreSQL always returns at least one row.
//!
//! Spin 4.0.0–4.0.2 never return from a synchronous `query` whose result has
//! no rows (spinframework/spin issue 3671). The store's PostgreSQL backend on
//! Spin therefore sends statements without results through `execute` (see
//! [`returns_rows`]) and wraps every statement with a result ([`wrap`]): the
//! original statement becomes a materialized common table expression, each of
//! its rows numbered in its own order, left-joined to one constant row. A
//! statement with rows yields exactly those rows (in order, behind a marker
//! column); one without yields a single row whose marker is NULL, which
//! [`unwrap`] turns back into an empty result. Writes with `RETURNING` work
//! the same way: a data-modifying statement may stand in a top-level `WITH`.

use crate::db::{Cell, Rows};

/// The marker column's name: the row's number, NULL on the stand-in row.
pub const MARKER: &str = "orderflow_row";

/// Whether `sql` produces a result set: a query (`SELECT`, `WITH`, `VALUES`,
/// `TABLE`, `SHOW`) or a write with `RETURNING`. Everything else (transaction
/// control, writes without `RETURNING`, DDL) goes through `execute`.
pub fn returns_rows(sql: &str) -> bool {
    let first = sql
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    matches!(first.as_str(), "SELECT" | "WITH" | "VALUES" | "TABLE" | "SHOW")
        || sql.to_ascii_uppercase().contains("RETURNING")
}

/// `sql` wrapped to return at least one row (see the module documentation).
/// `sql` must not itself start with `WITH` (a data-modifying `WITH` may not
/// be nested); the store has no such statement, and a debug build checks it.
pub fn wrap(sql: &str) -> String {
    debug_assert!(
        !sql.trim_start().to_ascii_uppercase().starts_with("WITH"),
        "statements with their own WITH cannot be wrapped: {sql}"
    );
    format!(
        "WITH orderflow_result AS MATERIALIZED ({sql}) \
         SELECT orderflow_numbered.* FROM (VALUES (0)) AS orderflow_one (n) \
         LEFT JOIN (SELECT row_number() OVER () AS {MARKER}, orderflow_result.* FROM orderflow_result) \
         AS orderflow_numbered ON true \
         ORDER BY orderflow_numbered.{MARKER}"
    )
}

/// The result of the wrapped statement, without the marker column and
/// without the stand-in row.
pub fn unwrap(mut rows: Rows) -> Rows {
    if rows.columns.first().map(String::as_str) != Some(MARKER) {
        return rows;
    }
    rows.columns.remove(0);
    rows.rows.retain(|r| !matches!(r.first(), Some(Cell::Null) | None));
    for r in &mut rows.rows {
        r.remove(0);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_without_results_go_through_execute() {
        for sql in [
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
            "UPDATE orders SET x = 1 WHERE id = $1",
            "INSERT INTO t VALUES ($1)",
        ] {
            assert!(!returns_rows(sql), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "  select x from t",
            "SELECT(1)",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "INSERT INTO t VALUES ($1) ON CONFLICT DO NOTHING RETURNING id",
            "UPDATE t SET v = v + 1 RETURNING v",
        ] {
            assert!(returns_rows(sql), "{sql}");
        }
    }

    #[test]
    fn the_stand_in_row_and_the_marker_column_are_removed() {
        let empty = Rows {
            columns: vec![MARKER.into(), "id".into()],
            rows: vec![vec![Cell::Null, Cell::Null]],
        };
        assert_eq!(
            unwrap(empty),
            Rows {
                columns: vec!["id".into()],
                rows: vec![]
            }
        );
        let two = Rows {
            columns: vec![MARKER.into(), "id".into()],
            rows: vec![
                vec![Cell::Int(1), Cell::Text("a".into())],
                vec![Cell::Int(2), Cell::Null],
            ],
        };
        assert_eq!(
            unwrap(two),
            Rows {
                columns: vec!["id".into()],
                rows: vec![vec![Cell::Text("a".into())], vec![Cell::Null]],
            }
        );
    }
}
