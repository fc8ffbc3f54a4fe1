//! One SQLite database file, and a pool of idle host connections to it for
//! the runner's own use: the key-value stores (whose SQL is the host's, not a
//! guest's) and the benchmark's native baseline.
//!
//! Guest SQLite connections do not come from here: they are opened per guest
//! `open` with Spin's defaults (see [`crate::host::sqlite`]). The host's own
//! connections use WAL journaling, `synchronous = FULL` and a 5 s busy wait
//! (retried every 250 µs), and are rolled back before going back to the pool.
//!
//! All methods here block; callers run them on `spawn_blocking` threads.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How many idle connections a database keeps open.
const MAX_IDLE: usize = 16;

/// How long a statement waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a waiting statement tries the lock again.
const BUSY_POLL: Duration = Duration::from_micros(250);

/// A SQLite database file shared by all requests.
#[derive(Debug)]
pub struct Database {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl Database {
    /// A database at `path`; the file is created on first use.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes an idle connection or opens a new one.
    pub fn checkout(&self) -> rusqlite::Result<rusqlite::Connection> {
        if let Some(conn) = self.lock_idle().pop() {
            return Ok(conn);
        }
        self.open()
    }

    /// Returns a connection to the pool, rolling back any open transaction.
    pub fn checkin(&self, conn: rusqlite::Connection) {
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            // A connection we cannot bring back to a clean state is dropped.
            return;
        }
        let mut idle = self.lock_idle();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<rusqlite::Connection>> {
        // The pool holds no invariant a panic could break: recover from poison.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        if let Some(parent) = self.path.parent() {
            // An error here resurfaces as the open error below.
            let _ = std::fs::create_dir_all(parent);
        }
        let conn = rusqlite::Connection::open(&self.path)?;
        // Not `busy_timeout`: SQLite's own handler sleeps 50-100 ms between
        // tries once a wait gets long, so under write contention a waiter
        // sleeps on long after the lock is free (seconds of p99 with 16
        // clients). Trying every 250 µs hands the lock on within a commit's time.
        conn.busy_handler(Some(retry_while_busy))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(conn)
    }
}

/// SQLite's busy handler: `true` asks SQLite to try again. Sleeps
/// [`BUSY_POLL`] per try, for up to [`BUSY_TIMEOUT`] in all.
fn retry_while_busy(tries: i32) -> bool {
    let waited = BUSY_POLL * u32::try_from(tries).unwrap_or(u32::MAX);
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(BUSY_POLL);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_returned_inside_a_transaction_is_rolled_back() {
        let dir = std::env::temp_dir().join(format!("db-test-{}", std::process::id()));
        let db = Database::new(&dir.join("t.db"));
        let conn = db.checkout().expect("open");
        conn.execute_batch("CREATE TABLE t(x); BEGIN; INSERT INTO t VALUES (1);")
            .expect("statements");
        db.checkin(conn);
        let conn = db.checkout().expect("reuse");
        assert!(conn.is_autocommit());
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 0);
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("mode");
        assert_eq!(mode, "wal");
        std::fs::remove_dir_all(&dir).ok();
    }
}
