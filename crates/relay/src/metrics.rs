//! The relay's counters, printed as one line per interval:
//! `metrics published=<total> errors=<total> backlog=<rows> lag_ms=<age of the oldest unpublished event>`.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use orderflow_store::Backlog;

/// Counters since start.
#[derive(Debug, Default)]
pub struct Metrics {
    published: AtomicU64,
    errors: AtomicU64,
}

impl Metrics {
    /// Counts `n` acknowledged and marked events.
    pub fn published(&self, n: usize) {
        self.published
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts one error (a failed delivery or a failed round).
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Events published so far.
    pub fn published_total(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Errors so far.
    pub fn errors_total(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The metrics line for `backlog` at `now`.
    pub fn line(&self, backlog: &Backlog, now: DateTime<Utc>) -> String {
        let lag_ms = backlog.oldest.map_or(0, |t| (now - t).num_milliseconds().max(0));
        format!(
            "metrics published={} errors={} backlog={} lag_ms={lag_ms}",
            self.published_total(),
            self.errors_total(),
            backlog.rows
        )
    }
}
