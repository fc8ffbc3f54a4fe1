//! Deterministic crash injection for crash-recovery tests.
//!
//! With `SPIN_LOCAL_CRASH_AFTER_COMMITS=N`, the process aborts (no unwinding,
//! no destructors, no flushing of anything but the one stderr line) right
//! after the N-th successful `COMMIT`, counted across all SQLite connections
//! and PostgreSQL connections. A SQLite commit is a statement that ends an
//! explicit transaction successfully (`COMMIT`, `END`, or `RELEASE` of the
//! outermost savepoint); statements in autocommit mode do not count.
//!
//! Commits are counted whether or not a crash is armed; `spin-local up`
//! prints the running total on `SIGUSR1` (`spin-local: stats commits=N`).

use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms the crash.
pub const CRASH_AFTER_COMMITS_ENV: &str = "SPIN_LOCAL_CRASH_AFTER_COMMITS";

/// Errors reading the crash switch.
#[derive(Debug, thiserror::Error)]
pub enum CrashConfigError {
    /// The value is not a positive integer.
    #[error("{CRASH_AFTER_COMMITS_ENV} must be a positive integer, got '{0}'")]
    Invalid(String),
}

/// Counts commits and aborts the process at the configured one.
#[derive(Debug, Default)]
pub struct CommitCounter {
    crash_after: Option<u64>,
    commits: AtomicU64,
}

impl CommitCounter {
    /// Reads [`CRASH_AFTER_COMMITS_ENV`]; unset means never crash.
    pub fn from_env() -> Result<Self, CrashConfigError> {
        let crash_after = match std::env::var(CRASH_AFTER_COMMITS_ENV) {
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(CrashConfigError::Invalid(v)),
            },
            Err(_) => None,
        };
        Ok(Self {
            crash_after,
            commits: AtomicU64::new(0),
        })
    }

    /// Records one successful commit; aborts if it is the configured one.
    pub fn record(&self, backend: &str) {
        // Always counted: `spin-local up` reports the total on SIGUSR1
        // (benchmarks divide it by the orders they drove).
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(n) == self.crash_after {
            eprintln!(
                "spin-local: crash injection: aborting after commit #{n} ({backend}) because {CRASH_AFTER_COMMITS_ENV}={n}"
            );
            std::process::abort();
        }
    }

    /// Commits recorded since start, across all databases.
    pub fn total(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }
}

/// Whether a statement's text is a `COMMIT`/`END` (used for PostgreSQL,
/// where the transaction state is not visible to the client library).
pub fn is_commit_statement(statement: &str) -> bool {
    let s = statement.trim().trim_end_matches(';').trim();
    let first = s.split_whitespace().next().unwrap_or("");
    first.eq_ignore_ascii_case("commit") || first.eq_ignore_ascii_case("end")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_statements_are_recognised() {
        assert!(is_commit_statement("COMMIT"));
        assert!(is_commit_statement("  commit transaction; "));
        assert!(is_commit_statement("END"));
        assert!(!is_commit_statement("ROLLBACK"));
        assert!(!is_commit_statement("SELECT 'COMMIT'"));
    }

    #[test]
    fn an_unarmed_counter_never_aborts_and_still_counts() {
        let c = CommitCounter::default();
        for _ in 0..10 {
            c.record("sqlite");
        }
        assert_eq!(c.total(), 10);
    }
}
