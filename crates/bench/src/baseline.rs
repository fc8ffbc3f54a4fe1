//! The limit beside our figures: each database's raw commit rate on this
//! machine, with the durability settings the app runs with, measured in the
//! same run.
//!
//! - SQLite: one connection in a tight loop of small write transactions
//!   (`BEGIN IMMEDIATE; INSERT; COMMIT`) on a file in the same temporary
//!   directory tree as the runner's state, in WAL mode with
//!   `synchronous = FULL` — what the store sets (WAL) and keeps (SQLite's
//!   default `FULL`) on every connection it opens through Spin's interface
//!   (`crates/store/src/spin_sqlite.rs`). SQLite has one writer at a time,
//!   so one connection is its ceiling.
//! - PostgreSQL: `pgbench` with a one-insert transaction script, against
//!   the throwaway cluster the app then runs on (same server, same settings),
//!   with as many clients as the load.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The synchronous setting of the runner's SQLite connections
/// (`crates/runner/src/database.rs`).
pub const RUNNER_SQLITE_SYNCHRONOUS: &str = "FULL";

/// A measured commit rate.
#[derive(Debug, Clone)]
pub struct CommitRate {
    /// How it was measured, for the report.
    pub how: String,
    /// Commits made.
    pub commits: u64,
    /// Over how long, seconds.
    pub seconds: f64,
}

impl CommitRate {
    /// Commits per second.
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            u64_f64(self.commits) / self.seconds
        } else {
            0.0
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({ "how": self.how, "commits": self.commits, "seconds": self.seconds, "commits_per_s": self.per_second() })
    }
}

/// `n` as a float (counts here stay far below 2^52).
pub fn u64_f64(n: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    f
}

/// SQLite's commit rate: a tight loop for `limit` or `max_commits`.
///
/// # Panics
/// If SQLite cannot be opened or written in a temporary directory.
pub fn sqlite_commit_rate(limit: Duration, max_commits: u64) -> CommitRate {
    let dir = tempfile::Builder::new()
        .prefix("orderflow-bench-sqlite-")
        .tempdir()
        .unwrap_or_else(|e| panic!("temp dir: {e}"));
    let conn = rusqlite::Connection::open(dir.path().join("commit-rate.db")).unwrap_or_else(|e| panic!("sqlite: {e}"));
    conn.pragma_update(None, "journal_mode", "WAL").expect("WAL");
    conn.pragma_update(None, "synchronous", RUNNER_SQLITE_SYNCHRONOUS)
        .expect("synchronous");
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT NOT NULL, payload TEXT NOT NULL)")
        .expect("table");
    let started = Instant::now();
    let mut commits = 0;
    while commits < max_commits && started.elapsed() < limit {
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        conn.execute(
            "INSERT INTO t (at, payload) VALUES (?1, ?2)",
            (chrono::Utc::now().to_rfc3339(), "a small row, as an audit record is"),
        )
        .expect("insert");
        conn.execute_batch("COMMIT").expect("commit");
        commits += 1;
    }
    CommitRate {
        how: format!(
            "one connection, BEGIN IMMEDIATE; INSERT; COMMIT in a loop (WAL, synchronous={RUNNER_SQLITE_SYNCHRONOUS})"
        ),
        commits,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// PostgreSQL's commit rate: `pgbench` with `clients` clients for `seconds`
/// against database `db` on `host:port` as `user`.
///
/// # Panics
/// If `pgbench` is missing or fails, or its output has no rate.
pub fn pgbench_commit_rate(host_port: &str, user: &str, db: &str, clients: usize, seconds: u64) -> CommitRate {
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "5432"));
    let script = tempfile::Builder::new()
        .prefix("orderflow-pgbench-")
        .suffix(".sql")
        .tempfile()
        .unwrap_or_else(|e| panic!("temp file: {e}"));
    std::fs::write(
        script.path(),
        "BEGIN;\nINSERT INTO bench_commit (at, payload) VALUES (now(), 'a small row, as an audit record is');\nCOMMIT;\n",
    )
    .expect("pgbench script");
    let jobs = clients.clamp(1, 2).to_string();
    let out = Command::new(pgbench())
        .args(["-n", "-h", host, "-p", port, "-U", user])
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &jobs,
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(script.path())
        .arg(db)
        .output()
        .unwrap_or_else(|e| panic!("cannot run pgbench ({:?}): {e}", pgbench()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |prefix: &str| -> Option<f64> {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.split('/').next())
            .and_then(|n| n.parse().ok())
    };
    let tps = field("tps = ").unwrap_or_else(|| panic!("no tps in pgbench's output:\n{stdout}"));
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let commits = field("number of transactions actually processed: ")
        .map_or_else(|| (tps * u64_f64(seconds)) as u64, |n| n as u64);
    #[allow(clippy::cast_precision_loss)]
    let secs = if tps > 0.0 {
        commits as f64 / tps
    } else {
        u64_f64(seconds)
    };
    CommitRate {
        how: format!(
            "pgbench -c {clients} -j {jobs} -T {seconds}, BEGIN; INSERT; COMMIT (same cluster and settings as the app)"
        ),
        commits,
        seconds: secs,
    }
}

/// `pgbench` beside the cluster's binaries (`PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`), else from `PATH`.
fn pgbench() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir).join("pgbench");
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin/pgbench"))))
                .filter(|(_, p): &(u32, PathBuf)| p.exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().map_or_else(|| PathBuf::from("pgbench"), |(_, p)| p)
}
